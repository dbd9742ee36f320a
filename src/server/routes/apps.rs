//! Developer apps (`/developers/{developer}/apps[/{app}]`) and the org-wide read-only view
//! (`/apps`, `/apps/{appId}`).

use axum::response::Response;

use super::{St, action, app_filter, created, cursor, missing_start_key, no_content, ok};
use crate::model::Status;
use crate::registry::{Kind, Page};
use crate::server::encode::{self, AppView};
use crate::server::errors::ApiError;
use crate::server::extract::{JsonBody, P, Q, RawBody, count, flag};
use crate::server::input::{AppBody, ListQuery};
use crate::target::Flavor;

/// Most apps per org-wide list call (`rows`, both flavours).
const ORG_LIST_LIMIT: usize = 1000;

/// Most apps per developer-apps list call: X documents 1000 for `count`, Edge 100.
fn developer_list_limit(f: Flavor) -> usize {
    match f {
        Flavor::X => 1000,
        Flavor::Edge => 100,
    }
}

/// GET /developers/{developer}/apps: `expand`, `shallowExpand`, `count`, `startKey` (an
/// app name, inclusive). Without either expansion, X answers `{"app":[{"appId"}]}` (⚠ the
/// stub shape is inferred) and Edge an array of names.
pub async fn list_for_developer(
    st: St,
    P((org, dev)): P<(String, String)>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    let shallow = flag("shallowExpand", q.shallow_expand.as_deref())?;
    let has_start = q.start_key.is_some();
    let page = Page {
        start_key: q.start_key,
        count: count("count", q.count.as_deref(), developer_list_limit(f))?,
    };
    let o = org.clone();
    let found = st
        .db(&org, move |s| {
            cursor(s.list_developer_apps(&o, &dev, &page), Kind::App, has_start)
        })
        .await?;
    let Some(apps) = found else {
        return missing_start_key(f, "app");
    };
    let body = if expand || shallow {
        let view = if expand {
            AppView::Full
        } else {
            AppView::Shallow
        };
        let full = apps.iter().map(|a| encode::app(f, a, view)).collect();
        encode::list(f, "app", true, full, Vec::new())
    } else {
        let names = apps
            .into_iter()
            .map(|a| match f {
                Flavor::X => ("appId", a.app_id),
                Flavor::Edge => ("name", a.name),
            })
            .collect();
        encode::list(f, "app", false, Vec::new(), names)
    };
    Ok(ok(body))
}

/// POST /developers/{developer}/apps: creates the app and its first key.
pub async fn create(
    st: St,
    P((org, dev)): P<(String, String)>,
    JsonBody(body): JsonBody<AppBody>,
) -> Result<Response, ApiError> {
    let input = body.into_create()?;
    let o = org.clone();
    let a = st.db(&org, move |s| s.create_app(&o, &dev, &input)).await?;
    Ok(created(
        st.flavor,
        encode::app(st.flavor, &a, AppView::Full),
    ))
}

/// GET /developers/{developer}/apps/{app}.
pub async fn get(
    st: St,
    P((org, dev, app)): P<(String, String, String)>,
) -> Result<Response, ApiError> {
    let o = org.clone();
    let a = st.db(&org, move |s| s.get_app(&o, &dev, &app)).await?;
    Ok(ok(encode::app(st.flavor, &a, AppView::Full)))
}

/// PUT /developers/{developer}/apps/{app}: replaces attributes and callbackUrl; with
/// `apiProducts`, also mints a new key (Apigee's behaviour, kept on purpose).
pub async fn update(
    st: St,
    P((org, dev, app)): P<(String, String, String)>,
    JsonBody(body): JsonBody<AppBody>,
) -> Result<Response, ApiError> {
    let update = body.into_update(&app)?;
    let o = org.clone();
    let a = st
        .db(&org, move |s| s.update_app(&o, &dev, &app, &update))
        .await?;
    Ok(ok(encode::app(st.flavor, &a, AppView::Full)))
}

/// POST /developers/{developer}/apps/{app}: `?action=approve|revoke` → 204; otherwise a
/// JSON body generates a new key pair (attributes and callbackUrl replaced) → the app.
pub async fn action_or_generate(
    st: St,
    P((org, dev, app)): P<(String, String, String)>,
    Q(q): Q<ListQuery>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let o = org.clone();
    if let Some(a) = q.action {
        let status = match action(&a, &["approve", "revoke"])? {
            "approve" => Status::Approved,
            _ => Status::Revoked,
        };
        st.db(&org, move |s| s.set_app_status(&o, &dev, &app, status))
            .await?;
        return Ok(no_content());
    }
    let update = body.json::<AppBody>()?.into_update(&app)?;
    let a = st
        .db(&org, move |s| s.generate_key(&o, &dev, &app, &update))
        .await?;
    Ok(ok(encode::app(st.flavor, &a, AppView::Full)))
}

/// DELETE /developers/{developer}/apps/{app}: deletes its keys too; answers the app.
pub async fn delete(
    st: St,
    P((org, dev, app)): P<(String, String, String)>,
) -> Result<Response, ApiError> {
    let o = org.clone();
    let a = st.db(&org, move |s| s.delete_app(&o, &dev, &app)).await?;
    Ok(ok(encode::app(st.flavor, &a, AppView::Full)))
}

/// GET /apps: `expand`, `rows` (or `pageSize`), `startKey` (an appId, inclusive), `ids`
/// (appIds), `includeCred`, and the filters of [`app_filter`]. Sorted by appId.
pub async fn list_for_org(
    st: St,
    P(org): P<String>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    let credentials =
        q.include_cred.as_deref().map(str::to_ascii_lowercase) != Some("false".to_string());
    let rows = count(
        "rows",
        q.rows.as_deref().or(q.page_size.as_deref()),
        ORG_LIST_LIMIT,
    )?;
    let conds = app_filter::conditions(&q)?;
    let o = org.clone();
    let apps = if let Some(ids) = q.ids.filter(|i| !i.is_empty()) {
        let ids: Vec<String> = ids.split(',').map(|s| s.trim().to_string()).collect();
        let mut apps = st
            .db(&org, move |s| {
                let mut out = Vec::new();
                for id in ids.iter().filter(|i| !i.is_empty()) {
                    match s.get_app_by_id(&o, id) {
                        Ok(a) => out.push(a),
                        Err(crate::registry::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(out)
            })
            .await?;
        apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        apps.dedup_by(|a, b| a.app_id == b.app_id);
        apps.retain(|a| app_filter::matches(a, &conds));
        apps
    } else if !conds.is_empty() {
        let start = q.start_key;
        st.db(&org, move |s| {
            let candidates = match app_filter::consumer_key(&conds) {
                Some(key) => match s.find_app_by_consumer_key(&o, key) {
                    Ok(app) => vec![app],
                    Err(crate::registry::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e),
                },
                None => s.list_org_apps(&o, &Page::first(usize::MAX))?,
            };
            Ok(candidates
                .into_iter()
                .filter(|a| app_filter::matches(a, &conds))
                .filter(|a| start.as_deref().is_none_or(|k| a.app_id.as_str() >= k))
                .take(rows)
                .collect())
        })
        .await?
    } else {
        let has_start = q.start_key.is_some();
        let page = Page {
            start_key: q.start_key,
            count: rows,
        };
        let found = st
            .db(&org, move |s| {
                cursor(s.list_org_apps(&o, &page), Kind::App, has_start)
            })
            .await?;
        match found {
            Some(a) => a,
            None => return missing_start_key(f, "app"),
        }
    };
    let body = if expand {
        let view = AppView::Org { credentials };
        let full = apps.iter().map(|a| encode::app(f, a, view)).collect();
        encode::list(f, "app", true, full, Vec::new())
    } else {
        let names = apps.into_iter().map(|a| ("appId", a.app_id)).collect();
        encode::list(f, "app", false, Vec::new(), names)
    };
    Ok(ok(body))
}

/// GET /apps/{appId}.
pub async fn get_by_id(
    st: St,
    P((org, app_id)): P<(String, String)>,
) -> Result<Response, ApiError> {
    let o = org.clone();
    let a = st.db(&org, move |s| s.get_app_by_id(&o, &app_id)).await?;
    let view = AppView::Org { credentials: true };
    Ok(ok(encode::app(st.flavor, &a, view)))
}
