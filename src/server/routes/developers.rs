//! `/developers` and `/developers/{developer}`: list, create, get, replace, set status,
//! delete. `{developer}` is an email or a developerId.

use axum::http::StatusCode;
use axum::response::Response;

use super::{St, action, created, cursor, missing_start_key, no_content, ok};
use crate::model::DeveloperStatus;
use crate::registry::{Kind, Page};
use crate::server::encode;
use crate::server::errors::ApiError;
use crate::server::extract::{P, Q, WithExtra, count, flag};
use crate::server::input::{DeveloperBody, ListQuery};
use crate::target::Flavor;

/// Most developers per list call (both flavours).
const LIST_LIMIT: usize = 1000;

/// GET /developers: `expand`, `count`, `startKey` (inclusive), `ids`, `app`.
///
/// Under `--strict-paging`, `expand=true` drops `count` and `startKey`: [DISC]
/// developers.list says `expand` "is not valid if you use the `count` or `startKey` query
/// parameters"; the strictest reading is a platform that ignores them and answers the first
/// [`LIST_LIMIT`] developers. By default the combination pages, as published clients expect.
pub async fn list(st: St, P(org): P<String>, Q(mut q): Q<ListQuery>) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    if expand && st.strict_paging {
        q.count = None;
        q.start_key = None;
    }
    let n = count("count", q.count.as_deref(), LIST_LIMIT)?;
    let o = org.clone();
    let devs = if let Some(app) = q.app.filter(|a| !a.is_empty()) {
        let devs = st
            .db(&org, move |s| s.developers_with_app(&o, &app))
            .await?;
        if f == Flavor::Edge {
            // Edge answers `?app=` with full developers in the wrapper, expand or not:
            // apigee-client-php reads `{"developer":[…]}` and gets 200 with an empty array
            // when nothing matches [PHP-devctl] (spec §4.3).
            let full: Vec<_> = devs.iter().map(|d| encode::developer(f, d)).collect();
            return Ok(ok(serde_json::json!({ "developer": full })));
        }
        devs
    } else if let Some(ids) = q.ids.filter(|i| !i.is_empty()) {
        let ids: Vec<String> = ids.split(',').map(|s| s.trim().to_string()).collect();
        let mut devs = st
            .db(&org, move |s| {
                let mut out = Vec::new();
                for id in ids.iter().filter(|i| !i.is_empty()) {
                    match s.get_developer(&o, id) {
                        Ok(d) => out.push(d),
                        Err(crate::registry::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .await?;
        devs.sort_by_key(|d| d.email.to_lowercase());
        devs.dedup_by(|a, b| a.developer_id == b.developer_id);
        devs
    } else {
        let has_start = q.start_key.is_some();
        let page = Page {
            start_key: q.start_key,
            count: n,
        };
        let found = st
            .db(&org, move |s| {
                cursor(s.list_developers(&o, &page), Kind::Developer, has_start)
            })
            .await?;
        match found {
            Some(d) => d,
            None => return missing_start_key(f, "developer"),
        }
    };
    let body = if expand {
        let full = devs.iter().map(|d| encode::developer(f, d)).collect();
        encode::list(f, "developer", true, full, Vec::new())
    } else {
        let names = devs.into_iter().map(|d| ("email", d.email)).collect();
        encode::list(f, "developer", false, Vec::new(), names)
    };
    Ok(ok(body))
}

/// POST /developers.
pub async fn create(
    st: St,
    P(org): P<String>,
    WithExtra(body, extra): WithExtra<DeveloperBody>,
) -> Result<Response, ApiError> {
    let mut input = body.into_input(None);
    input.extra = Some(extra);
    let o = org.clone();
    let d = st.db(&org, move |s| s.create_developer(&o, &input)).await?;
    Ok(created(st.flavor, encode::developer(st.flavor, &d)))
}

/// GET /developers/{developer}.
pub async fn get(st: St, P((org, dev)): P<(String, String)>) -> Result<Response, ApiError> {
    let o = org.clone();
    let d = st.db(&org, move |s| s.get_developer(&o, &dev)).await?;
    Ok(ok(encode::developer(st.flavor, &d)))
}

/// PUT /developers/{developer}: full replace. X refuses a different email
/// (`rest.interceptor.name_mismatch`); Edge changes it.
pub async fn update(
    st: St,
    P((org, dev)): P<(String, String)>,
    WithExtra(body, extra): WithExtra<DeveloperBody>,
) -> Result<Response, ApiError> {
    let f = st.flavor;
    let o = org.clone();
    let result = st
        .db(&org, move |s| {
            let current = s.get_developer(&o, &dev)?;
            let new_email = body.email.clone();
            if f == Flavor::X
                && new_email
                    .as_deref()
                    .is_some_and(|e| !e.eq_ignore_ascii_case(&current.email))
            {
                return Ok(Err(current.email));
            }
            let mut input = body.into_input(Some(&current.email));
            // A full replace: unmodelled fields absent from the body are gone.
            input.extra = Some(extra);
            s.update_developer(&o, &current.developer_id, &input)
                .map(Ok)
        })
        .await?;
    match result {
        Ok(d) => Ok(ok(encode::developer(f, &d))),
        Err(email) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "rest.interceptor.name_mismatch",
            format!(
                "the email in the body does not match the developer `{email}`; a developer's \
                 email cannot change on Apigee X: create a new developer instead"
            ),
        )),
    }
}

/// POST /developers/{developer}?action=active|inactive → 204.
pub async fn set_status(
    st: St,
    P((org, dev)): P<(String, String)>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let Some(a) = q.action else {
        return Err(ApiError::bad_request(
            "`action` is required: POST with ?action=active or ?action=inactive",
        ));
    };
    let status = match action(&a, &["active", "inactive"])? {
        "active" => DeveloperStatus::Active,
        _ => DeveloperStatus::Inactive,
    };
    let o = org.clone();
    st.db(&org, move |s| s.set_developer_status(&o, &dev, status))
        .await?;
    Ok(no_content())
}

/// DELETE /developers/{developer}: deletes its apps and keys too; answers the developer.
pub async fn delete(st: St, P((org, dev)): P<(String, String)>) -> Result<Response, ApiError> {
    let o = org.clone();
    let d = st.db(&org, move |s| s.delete_developer(&o, &dev)).await?;
    Ok(ok(encode::developer(st.flavor, &d)))
}
