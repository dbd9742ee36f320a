//! AppGroups and their apps (Apigee X only; Edge has none and answers 404):
//! `organizations.appgroups` create/list/get/update/delete and `organizations.appgroups.apps`
//! create/list/get/update/delete with their keys, as [DISC] defines them
//! (GoogleCloudApigeeV1AppGroup, GoogleCloudApigeeV1AppGroupApp, …AppGroupAppKey,
//! …UpdateAppGroupAppKeyRequest).
//!
//! A group's apps are registry apps under the group's internal owner
//! ([`crate::registry::Registry::app_group_owner`]), so the handlers resolve the owner and
//! hand over to the developer-app and key handlers; the app shapes carry `appGroup` instead
//! of a developer ([`crate::server::encode::app`]), and the org-wide `/apps` list holds them.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::apps::page_token;
use super::{St, action, apps, created, keys, ok};
use crate::model::{DeveloperStatus, Status};
use crate::registry::{AppGroupInput, AppGroupRecord, Attribute};
use crate::server::ServerState;
use crate::server::encode;
use crate::server::errors::ApiError;
use crate::server::extract::{Modelled, P, Q, RawBody, WithExtra, count};
use crate::server::input::{AttrBody, ListQuery, attrs};

/// Most AppGroups or AppGroup apps per page ([DISC]: "at most 1000 … coerced to 1000").
const PAGE_LIMIT: usize = 1000;

/// AppGroup create/replace body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AppGroupBody {
    name: Option<String>,
    display_name: Option<String>,
    status: Option<String>,
    channel_id: Option<String>,
    channel_uri: Option<String>,
    attributes: Option<Vec<AttrBody>>,
}

impl Modelled for AppGroupBody {
    const FIELDS: &'static [&'static str] = &[
        "name",
        "displayName",
        "status",
        "channelId",
        "channelUri",
        "attributes",
        "appGroupId",
        "organization",
        "createdAt",
        "lastModifiedAt",
    ];
}

impl AppGroupBody {
    fn into_input(self, extra: crate::registry::Extra) -> Result<AppGroupInput, ApiError> {
        let status = match self.status.as_deref() {
            None | Some("") => None,
            Some("active") => Some(DeveloperStatus::Active),
            Some("inactive") => Some(DeveloperStatus::Inactive),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "AppGroup status must be active or inactive, not `{other}`"
                )));
            }
        };
        Ok(AppGroupInput {
            name: self.name.unwrap_or_default(),
            display_name: self.display_name.unwrap_or_default(),
            status,
            channel_id: self.channel_id.unwrap_or_default(),
            channel_uri: self.channel_uri.unwrap_or_default(),
            attributes: attrs(self.attributes),
            extra: Some(extra),
        })
    }
}

/// An AppGroup as X shows it (proto3 JSON: empty fields omitted, int64 as strings).
fn group(g: &AppGroupRecord) -> Value {
    let mut o = serde_json::Map::new();
    let mut put = |k: &str, v: &str| {
        if !v.is_empty() {
            o.insert(k.into(), v.into());
        }
    };
    put("name", &g.name);
    put("appGroupId", &g.app_group_id);
    put("organization", &g.organization);
    put("displayName", &g.display_name);
    put("channelId", &g.channel_id);
    put("channelUri", &g.channel_uri);
    put("status", g.status.as_str());
    put("createdAt", &g.created_at.to_string());
    put("lastModifiedAt", &g.last_modified_at.to_string());
    if !g.attributes.is_empty() {
        let list: Vec<Value> = g
            .attributes
            .iter()
            .map(|a: &Attribute| json!({"name": a.name, "value": a.value}))
            .collect();
        o.insert("attributes".into(), list.into());
    }
    for (k, v) in &g.extra {
        o.entry(k.clone()).or_insert_with(|| v.clone());
    }
    Value::Object(o)
}

/// One page of `items` by `key` after the `pageToken`'s position: the page and the next
/// token, if more remain.
fn page<T>(
    items: Vec<T>,
    key: impl Fn(&T) -> &str,
    q: &ListQuery,
) -> Result<(Vec<T>, Option<String>), ApiError> {
    let size = match count("pageSize", q.page_size.as_deref(), PAGE_LIMIT)? {
        0 => PAGE_LIMIT,
        n => n,
    };
    let after = q
        .page_token
        .as_deref()
        .map(page_token::decode)
        .transpose()?;
    let mut page: Vec<T> = items
        .into_iter()
        .filter(|i| after.as_deref().is_none_or(|a| key(i) > a))
        .take(size.saturating_add(1))
        .collect();
    let more = page.len() > size;
    page.truncate(size);
    let next = more
        .then(|| page.last().map(|i| page_token::encode(key(i))))
        .flatten();
    Ok((page, next))
}

/// GET /appgroups: `pageSize`, `pageToken`, `filter` (`status=`, `channelId=`,
/// `channelUri=`) → `{"appGroups": […], "totalSize": N, "nextPageToken"?}`.
pub async fn list(st: St, P(org): P<String>, Q(q): Q<ListQuery>) -> Result<Response, ApiError> {
    let o = org.clone();
    let mut groups = st.db(&org, move |s| s.list_app_groups(&o)).await?;
    if let Some(f) = q.filter.as_deref().filter(|f| !f.is_empty()) {
        let (field, value) = f.split_once('=').ok_or_else(|| {
            ApiError::bad_request(format!(
                "`filter={f}` is not a filter: write it as field=value, e.g. status=active"
            ))
        })?;
        let value = value.trim_matches('"');
        groups.retain(|g| match field.trim() {
            "status" => g.status.as_str() == value,
            "channelId" => g.channel_id == value,
            "channelUri" => g.channel_uri == value,
            _ => false,
        });
        if !matches!(field.trim(), "status" | "channelId" | "channelUri") {
            return Err(ApiError::bad_request(format!(
                "cannot filter AppGroups on `{field}`: use status, channelId or channelUri"
            )));
        }
    }
    let total = groups.len();
    let (groups, next) = page(groups, |g| g.name.as_str(), &q)?;
    let mut body = serde_json::Map::new();
    if !groups.is_empty() {
        body.insert(
            "appGroups".into(),
            groups.iter().map(group).collect::<Vec<_>>().into(),
        );
        body.insert("totalSize".into(), total.into());
    }
    if let Some(t) = next {
        body.insert("nextPageToken".into(), t.into());
    }
    Ok(ok(Value::Object(body)))
}

/// POST /appgroups.
pub async fn create(
    st: St,
    P(org): P<String>,
    WithExtra(body, extra): WithExtra<AppGroupBody>,
) -> Result<Response, ApiError> {
    let input = body.into_input(extra)?;
    let o = org.clone();
    let g = st.db(&org, move |s| s.create_app_group(&o, &input)).await?;
    Ok(created(st.flavor, group(&g)))
}

/// GET /appgroups/{group}.
pub async fn get(st: St, P((org, name)): P<(String, String)>) -> Result<Response, ApiError> {
    let o = org.clone();
    let g = st.db(&org, move |s| s.get_app_group(&o, &name)).await?;
    Ok(ok(group(&g)))
}

/// PUT /appgroups/{group}: `?action=active|inactive` sets the status (the body is empty);
/// otherwise a full replace.
pub async fn update(
    st: St,
    P((org, name)): P<(String, String)>,
    Q(q): Q<ListQuery>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let o = org.clone();
    if let Some(a) = q.action {
        let status = match action(&a, &["active", "inactive"])? {
            "active" => DeveloperStatus::Active,
            _ => DeveloperStatus::Inactive,
        };
        let g = st
            .db(&org, move |s| s.set_app_group_status(&o, &name, status))
            .await?;
        return Ok(ok(group(&g)));
    }
    let WithExtra(body, extra) = body.json_with_extra::<AppGroupBody>()?;
    let input = body.into_input(extra)?;
    let g = st
        .db(&org, move |s| s.update_app_group(&o, &name, &input))
        .await?;
    Ok(ok(group(&g)))
}

/// DELETE /appgroups/{group}: deletes its apps and keys too; answers the group.
pub async fn delete(st: St, P((org, name)): P<(String, String)>) -> Result<Response, ApiError> {
    let o = org.clone();
    let g = st.db(&org, move |s| s.delete_app_group(&o, &name)).await?;
    Ok(ok(group(&g)))
}

/// The internal owner of a group's apps (404 naming the group when it does not exist).
async fn owner(st: &Arc<ServerState>, org: &str, name: String) -> Result<String, ApiError> {
    let o = org.to_string();
    st.db(org, move |s| s.app_group_owner(&o, &name)).await
}

/// GET /appgroups/{group}/apps: `pageSize`, `pageToken` → `{"appGroupApps": […]}` with
/// credentials, sorted by name.
pub async fn list_apps(
    st: St,
    P((org, name)): P<(String, String)>,
    Q(q): Q<ListQuery>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    let o = org.clone();
    let all = st
        .db(&org, move |s| {
            s.list_developer_apps(&o, &dev, &crate::registry::Page::first(usize::MAX))
        })
        .await?;
    let (apps, next) = page(all, |a| a.name.as_str(), &q)?;
    let mut body = serde_json::Map::new();
    if !apps.is_empty() {
        let full: Vec<Value> = apps
            .iter()
            .map(|a| encode::app(st.flavor, a, encode::AppView::Full))
            .collect();
        body.insert("appGroupApps".into(), full.into());
    }
    if let Some(t) = next {
        body.insert("nextPageToken".into(), t.into());
    }
    Ok(ok(Value::Object(body)))
}

/// POST /appgroups/{group}/apps: creates the app and its first key.
pub async fn create_app(
    st: St,
    P((org, name)): P<(String, String)>,
    body: WithExtra<crate::server::input::AppBody>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    apps::create(State(st.0), P((org, dev)), body).await
}

/// GET /appgroups/{group}/apps/{app}.
pub async fn get_app(
    st: St,
    P((org, name, app)): P<(String, String, String)>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    apps::get(State(st.0), P((org, dev, app))).await
}

/// PUT /appgroups/{group}/apps/{app}: `?action=approve|revoke` sets the status (empty
/// body; answers the app); otherwise replaces attributes and callback URL, and with
/// `apiProducts` mints a key, as for developer apps.
pub async fn update_app(
    st: St,
    P((org, name, app)): P<(String, String, String)>,
    Q(q): Q<ListQuery>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    if let Some(a) = q.action {
        let status = match action(&a, &["approve", "revoke"])? {
            "approve" => Status::Approved,
            _ => Status::Revoked,
        };
        let o = org.clone();
        let a = st
            .db(&org, move |s| {
                s.set_app_status(&o, &dev, &app, status)?;
                s.get_app(&o, &dev, &app)
            })
            .await?;
        return Ok(ok(encode::app(st.flavor, &a, encode::AppView::Full)));
    }
    let body = body.json_with_extra()?;
    apps::update(State(st.0), P((org, dev, app)), body).await
}

/// DELETE /appgroups/{group}/apps/{app}.
pub async fn delete_app(
    st: St,
    P((org, name, app)): P<(String, String, String)>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    apps::delete(State(st.0), P((org, dev, app))).await
}

/// POST /appgroups/{group}/apps/{app}/keys: imports a key (no products, as for developers).
pub async fn create_key(
    st: St,
    P((org, name, app)): P<(String, String, String)>,
    body: WithExtra<crate::server::input::KeyBody>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    keys::import(State(st.0), P((org, dev, app)), body).await
}

/// GET /appgroups/{group}/apps/{app}/keys/{key}.
pub async fn get_key(
    st: St,
    P((org, name, app, key)): P<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    keys::get(State(st.0), P((org, dev, app, key))).await
}

/// POST /appgroups/{group}/apps/{app}/keys/{key} (UpdateAppGroupAppKeyRequest):
/// `{"action": "approve|revoke"}` (or `?action=`) sets the key's status (answers the key);
/// otherwise `apiProducts` are appended (duplicates ignored) and `appGroupAppKey.attributes`
/// replace the key's attributes.
pub async fn update_key(
    st: St,
    P((org, name, app, key)): P<(String, String, String, String)>,
    Q(q): Q<ListQuery>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    let req: Value = if body.0.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        body.json()?
    };
    let act = q
        .action
        .clone()
        .or_else(|| req["action"].as_str().map(str::to_string));
    let o = org.clone();
    if let Some(a) = act.filter(|a| !a.is_empty()) {
        let status = match action(&a, &["approve", "revoke"])? {
            "approve" => Status::Approved,
            _ => Status::Revoked,
        };
        let k = st
            .db(&org, move |s| {
                s.set_key_status(&o, &dev, &app, &key, status)?;
                s.get_key(&o, &dev, &app, &key)
            })
            .await?;
        return Ok(ok(encode::key(st.flavor, &k)));
    }
    let products: Vec<String> =
        serde_json::from_value(req["apiProducts"].clone()).unwrap_or_default();
    let attributes: Option<Vec<Attribute>> =
        req["appGroupAppKey"]["attributes"].as_array().map(|list| {
            list.iter()
                .map(|a| {
                    Attribute::new(
                        a["name"].as_str().unwrap_or_default(),
                        a["value"].as_str().unwrap_or_default(),
                    )
                })
                .collect()
        });
    let k = st
        .db(&org, move |s| {
            s.add_key_products(&o, &dev, &app, &key, &products, attributes.as_deref())
        })
        .await?;
    Ok(ok(encode::key(st.flavor, &k)))
}

/// DELETE /appgroups/{group}/apps/{app}/keys/{key}.
pub async fn delete_key(
    st: St,
    P((org, name, app, key)): P<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    keys::delete(State(st.0), P((org, dev, app, key))).await
}

/// POST /appgroups/{group}/apps/{app}/keys/{key}/apiproducts/{product}?action=approve|revoke.
pub async fn product_action(
    st: St,
    P((org, name, app, key, product)): P<(String, String, String, String, String)>,
    q: Q<ListQuery>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    keys::product_action(State(st.0), P((org, dev, app, key, product)), q).await
}

/// DELETE /appgroups/{group}/apps/{app}/keys/{key}/apiproducts/{product}.
pub async fn remove_product(
    st: St,
    P((org, name, app, key, product)): P<(String, String, String, String, String)>,
) -> Result<Response, ApiError> {
    let dev = owner(&st, &org, name).await?;
    keys::remove_product(State(st.0), P((org, dev, app, key, product))).await
}
