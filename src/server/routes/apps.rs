//! Developer apps (`/developers/{developer}/apps[/{app}]`) and the org-wide read-only view
//! (`/apps`, `/apps/{appId}`).

use axum::response::Response;

use super::{St, action, app_filter, created, cursor, missing_start_key, no_content, ok};
use crate::model::Status;
use crate::registry::{AppCursor, AppTypes, Kind, Page};
use crate::server::encode::{self, AppView};
use crate::server::errors::ApiError;
use crate::server::extract::{P, Q, RawBody, WithExtra, count, flag};
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
///
/// Under `--strict-paging`, `expand=true` drops `count` and `startKey` and answers the
/// first [`developer_list_limit`] apps: [DISC] developers.apps.list says `expand` "is not
/// valid if you use the `count` or `startKey` query parameters", and Edge's expanded
/// developer-app listing is not paginated (max 100) [PHP-commit a3e2adc].
pub async fn list_for_developer(
    st: St,
    P((org, dev)): P<(String, String)>,
    Q(mut q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    if expand && st.strict_paging {
        q.count = None;
        q.start_key = None;
    }
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
    WithExtra(body, extra): WithExtra<AppBody>,
) -> Result<Response, ApiError> {
    let mut input = body.into_create()?;
    input.extra = Some(extra);
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
    WithExtra(body, extra): WithExtra<AppBody>,
) -> Result<Response, ApiError> {
    let mut update = body.into_update(&app)?;
    // A full replace: unmodelled fields absent from the body are gone.
    update.extra = Some(extra);
    let o = org.clone();
    let a = st
        .db(&org, move |s| s.update_app(&o, &dev, &app, &update))
        .await?;
    Ok(ok(encode::app(st.flavor, &a, AppView::Full)))
}

/// POST /developers/{developer}/apps/{app}: `?action=approve|revoke` → 204; otherwise a
/// JSON body generates a new key pair (attributes and callbackUrl replaced) → the app.
///
/// Edge also documents a body `{"status": "approve"|"revoke"}` on this call ([EOAS]
/// approveRevokeGenerateAPIKey): it sets the status (200 with the app), mints no key and
/// leaves attributes and callback URL alone.
pub async fn action_or_generate(
    st: St,
    P((org, dev, app)): P<(String, String, String)>,
    Q(q): Q<ListQuery>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let f = st.flavor;
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
    if f == Flavor::Edge
        && let Some(status) = status_body(&body)?
    {
        let (d, n) = (dev.clone(), app.clone());
        let a = st
            .db(&org, move |s| {
                s.set_app_status(&o, &d, &n, status)?;
                s.get_app(&o, &d, &n)
            })
            .await?;
        return Ok(ok(encode::app(f, &a, AppView::Full)));
    }
    let update = body.json::<AppBody>()?.into_update(&app)?;
    let a = st
        .db(&org, move |s| s.generate_key(&o, &dev, &app, &update))
        .await?;
    Ok(ok(encode::app(st.flavor, &a, AppView::Full)))
}

/// The status an Edge app POST body asks for: `Some` when the body is an object with a
/// `status` and none of the members of a key generation.
fn status_body(body: &RawBody) -> Result<Option<Status>, ApiError> {
    let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(&body.0)
    else {
        return Ok(None);
    };
    let generating = [
        "apiProducts",
        "attributes",
        "callbackUrl",
        "keyExpiresIn",
        "scopes",
    ];
    if generating.iter().any(|k| map.contains_key(*k)) {
        return Ok(None);
    }
    match map.get("status").and_then(|s| s.as_str()) {
        None => Ok(None),
        Some("approve" | "approved") => Ok(Some(Status::Approved)),
        Some("revoke" | "revoked") => Ok(Some(Status::Revoked)),
        Some(other) => Err(ApiError::bad_request(format!(
            "app status `{other}` is not one of approve or revoke; send \
             {{\"status\": \"approve\"}} or {{\"status\": \"revoke\"}}"
        ))),
    }
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

/// GET /apps: `expand`, `includeCred`, `status`/`keyStatus` (X defaults: `approved`; see
/// [`app_filter`]), `ids` (appIds), the filters of [`app_filter`], and two ways to page,
/// both in appId order: `rows` with an inclusive `startKey` (an appId), and on X `pageSize`
/// with the opaque `pageToken` of the previous page's `nextPageToken` ([DISC]
/// organizations.apps.list; the answer then carries `totalSize`, the count of every
/// matching app).
pub async fn list_for_org(
    st: St,
    P(org): P<String>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let f = st.flavor;
    let expand = flag("expand", q.expand.as_deref())?;
    let credentials =
        q.include_cred.as_deref().map(str::to_ascii_lowercase) != Some("false".to_string());
    let tokens = f == Flavor::X && (q.page_size.is_some() || q.page_token.is_some());
    let size = if tokens {
        // "If unspecified, at most 1000 apps will be returned. The maximum value is 1000;
        // values above 1000 will be coerced to 1000." [DISC]; 0 reads as unspecified.
        match count("pageSize", q.page_size.as_deref(), ORG_LIST_LIMIT)? {
            0 => ORG_LIST_LIMIT,
            n => n,
        }
    } else {
        count(
            "rows",
            q.rows.as_deref().or(q.page_size.as_deref()),
            ORG_LIST_LIMIT,
        )?
    };
    let after = match q.page_token.as_deref().filter(|_| tokens) {
        Some(t) => Some(page_token::decode(t)?),
        None => None,
    };
    let listing = app_filter::listing(f, &q)?;
    let mut conds = app_filter::conditions(&q)?;
    let types = app_filter::take_app_types(&mut conds);
    let ids: Option<Vec<String>> = q.ids.filter(|i| !i.is_empty()).map(|ids| {
        ids.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let start = q.start_key;
    let o = org.clone();
    let status = listing.status;
    let found = st
        .db(&org, move |s| {
            let from = match (&after, &start) {
                (Some(a), _) => AppCursor::After(a),
                (None, Some(k)) => {
                    if let Err(crate::registry::Error::NotFound { .. }) = s.get_app_by_id(&o, k) {
                        return Ok(None);
                    }
                    AppCursor::From(k)
                }
                (None, None) => AppCursor::Top,
            };
            if ids.is_none() && conds.is_empty() {
                let mut page =
                    s.list_org_apps_where(&o, types, status, from, size.saturating_add(1))?;
                let more = page.len() > size;
                page.truncate(size);
                let total = if tokens {
                    s.count_org_apps(&o, types, status)?
                } else {
                    0
                };
                return Ok(Some((page, total, more)));
            }
            let candidates = if let Some(ids) = &ids {
                let mut out = Vec::new();
                for id in ids {
                    match s.get_app_by_id(&o, id) {
                        Ok(a) => out.push(a),
                        Err(crate::registry::Error::NotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                }
                out
            } else if let Some(key) = app_filter::consumer_key(&conds) {
                match s.find_app_by_consumer_key(&o, key) {
                    Ok(app) => vec![app],
                    Err(crate::registry::Error::NotFound { .. }) => Vec::new(),
                    Err(e) => return Err(e),
                }
            } else {
                s.list_org_apps_where(&o, types, status, AppCursor::Top, usize::MAX)?
            };
            let mut all: Vec<_> = candidates
                .into_iter()
                .filter(|a| status.is_none_or(|st| a.status == st))
                .filter(|a| match types {
                    AppTypes::All => true,
                    AppTypes::Developer => a.app_group.is_none(),
                    AppTypes::AppGroup => a.app_group.is_some(),
                })
                .filter(|a| app_filter::matches(a, &conds))
                .collect();
            all.sort_by(|a, b| a.app_id.cmp(&b.app_id));
            all.dedup_by(|a, b| a.app_id == b.app_id);
            let total = all.len();
            let mut page: Vec<_> = all
                .into_iter()
                .filter(|a| match from {
                    AppCursor::Top => true,
                    AppCursor::From(k) => a.app_id.as_str() >= k,
                    AppCursor::After(k) => a.app_id.as_str() > k,
                })
                .take(size.saturating_add(1))
                .collect();
            let more = page.len() > size;
            page.truncate(size);
            Ok(Some((page, total, more)))
        })
        .await?;
    let Some((mut apps, total, more)) = found else {
        return missing_start_key(f, "app");
    };
    let next = (tokens && more)
        .then(|| apps.last().map(|a| page_token::encode(&a.app_id)))
        .flatten();
    for a in &mut apps {
        app_filter::filter_keys(a, listing.key_status);
    }
    let mut body = if expand {
        let view = AppView::Org { credentials };
        let full = apps.iter().map(|a| encode::app(f, a, view)).collect();
        encode::list(f, "app", true, full, Vec::new())
    } else {
        let names = apps.into_iter().map(|a| ("appId", a.app_id)).collect();
        encode::list(f, "app", false, Vec::new(), names)
    };
    if tokens && let Some(obj) = body.as_object_mut() {
        if let Some(t) = next {
            obj.insert("nextPageToken".into(), t.into());
        }
        if total > 0 {
            // int32: a JSON number in proto3 JSON.
            obj.insert("totalSize".into(), total.into());
        }
    }
    Ok(ok(body))
}

/// The opaque `pageToken` of the X org-wide app list: the position after the last appId
/// of a page, hex-encoded behind a version tag, so clients cannot take it for an appId.
pub(super) mod page_token {
    use crate::server::errors::ApiError;

    const TAG: &str = "a1:";

    /// The token that continues after `app_id`.
    pub fn encode(app_id: &str) -> String {
        TAG.bytes()
            .chain(app_id.bytes())
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// The appId a token continues after.
    pub fn decode(token: &str) -> Result<String, ApiError> {
        let bad = || {
            ApiError::bad_request(format!(
                "`pageToken={token}` is not a page token of this list; pass the \
                 `nextPageToken` of the previous page as it was given, or leave pageToken \
                 out to start at the top"
            ))
        };
        if !token.len().is_multiple_of(2) || !token.is_ascii() {
            return Err(bad());
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&token[i..i + 2], 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| bad())?;
        let text = String::from_utf8(bytes).map_err(|_| bad())?;
        text.strip_prefix(TAG).map(str::to_string).ok_or_else(bad)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn round_trips_and_refuses_foreign_tokens() {
            let t = encode("0b1c-app");
            assert_eq!(decode(&t).unwrap(), "0b1c-app");
            assert!(!t.contains("0b1c-app"));
            assert!(decode("0b1c-app").is_err());
            assert!(decode("zz").is_err());
            assert!(decode(&t[..t.len() - 1]).is_err());
            assert!(decode("6131").is_err());
        }
    }
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
