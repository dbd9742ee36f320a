//! Filters of the org-wide app list: `filter=field=value` (X: developerEmail, apiProduct,
//! consumerKey, status, appId, appName, appType, appGroup), the `apiProduct` parameter, and
//! the `status` and `keyStatus` parameters with their defaults ([`Listing`]).
//!
//! `status` and `keyStatus` on X: "Valid values are `approved` or `revoked`. Defaults to
//! `approved`." ([DISC] organizations.apps.list). So a revoked app is absent unless asked for
//! with `status=revoked`, and a revoked key is absent unless asked for with
//! `keyStatus=revoked`. `keyStatus` is "Key status of the app": it filters the keys shown in
//! `credentials`, not the apps (an app is listed by its own `status`; reading it as an app
//! filter would make an app without keys unlistable by any parameter).
//! On Edge the two are documented without a default ([EOAS] listApps: "Valid values include
//! `approved` or `revoked`"; `keyStatus` only seen in clients [PHP-appctl][PERL]), so there
//! they apply only when given and the list holds every app.

use crate::model::Status;
use crate::registry::{AppRecord, AppTypes};
use crate::server::encode::status;
use crate::server::errors::ApiError;
use crate::server::input::ListQuery;
use crate::target::Flavor;

/// The app-level and key-level status filters of one org-wide listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// Only apps of this status (`None`: every app).
    pub status: Option<Status>,
    /// Only keys of this status in `credentials` (`None`: every key).
    pub key_status: Option<Status>,
}

/// The `status` and `keyStatus` of a query, with the flavour's defaults (see the module).
pub fn listing(f: Flavor, q: &ListQuery) -> Result<Listing, ApiError> {
    let default = match f {
        Flavor::X => Some(Status::Approved),
        Flavor::Edge => None,
    };
    Ok(Listing {
        status: status_param("status", q.status.as_deref())?.or(default),
        key_status: status_param("keyStatus", q.key_status.as_deref())?.or(default),
    })
}

/// Reads `approved` or `revoked`; empty is absent.
fn status_param(name: &str, value: Option<&str>) -> Result<Option<Status>, ApiError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("approved") => Ok(Some(Status::Approved)),
        Some(v) if v.eq_ignore_ascii_case("revoked") => Ok(Some(Status::Revoked)),
        Some(v) => Err(ApiError::bad_request(format!(
            "`{name}={v}` is not a status; use `{name}=approved` or `{name}=revoked` (ask \
             twice for both)"
        ))),
    }
}

/// Keeps the keys of `key_status` only (all when `None`).
pub fn filter_keys(app: &mut AppRecord, key_status: Option<Status>) {
    if let Some(want) = key_status {
        app.credentials.retain(|k| k.status == want);
    }
}

/// One condition on an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// Owner's email (case-insensitive).
    DeveloperEmail(String),
    /// Some key is granted this product.
    ApiProduct(String),
    /// Some key has this consumer key.
    ConsumerKey(String),
    /// App status.
    Status(String),
    /// App id.
    AppId(String),
    /// App name.
    AppName(String),
    /// `appType`: developer apps match `Developer`, AppGroup apps `AppGroup`.
    AppType(String),
    /// `appGroup`: apps of this AppGroup (developer apps belong to none).
    AppGroup(String),
}

/// The conditions a query asks for.
pub fn conditions(q: &ListQuery) -> Result<Vec<Cond>, ApiError> {
    let mut out = Vec::new();
    if let Some(f) = q.filter.as_deref().filter(|f| !f.is_empty()) {
        let (field, value) = f.split_once('=').ok_or_else(|| {
            ApiError::bad_request(format!(
                "`filter={f}` is not a filter: write it as field=value, e.g. consumerKey=…"
            ))
        })?;
        let value = value.to_string();
        out.push(match field.trim() {
            "developerEmail" => Cond::DeveloperEmail(value),
            "apiProduct" => Cond::ApiProduct(value),
            "consumerKey" => Cond::ConsumerKey(value),
            "status" => Cond::Status(value),
            "appId" => Cond::AppId(value),
            "appName" => Cond::AppName(value),
            "appType" => Cond::AppType(value),
            "appGroup" => Cond::AppGroup(value),
            other => {
                return Err(ApiError::bad_request(format!(
                    "cannot filter apps on `{other}`: use developerEmail, apiProduct, \
                     consumerKey, status, appId, appName, appType or appGroup"
                )));
            }
        });
    }
    if let Some(p) = q.api_product.clone().filter(|s| !s.is_empty()) {
        out.push(Cond::ApiProduct(p));
    }
    Ok(out)
}

/// Takes the `appType` conditions out of `conds` as the app types of the listing (answered
/// in SQL). Two different ones, or an unknown one, match nothing: [`AppTypes`] cannot say
/// that, so they stay in `conds`.
pub fn take_app_types(conds: &mut Vec<Cond>) -> AppTypes {
    let types: Vec<AppTypes> = conds
        .iter()
        .filter_map(|c| match c {
            Cond::AppType(t) if t.eq_ignore_ascii_case("developer") => Some(AppTypes::Developer),
            Cond::AppType(t) if t.eq_ignore_ascii_case("appgroup") => Some(AppTypes::AppGroup),
            _ => None,
        })
        .collect();
    match types.as_slice() {
        [] => AppTypes::All,
        [one] => {
            conds.retain(|c| !matches!(c, Cond::AppType(_)));
            *one
        }
        _ => AppTypes::All,
    }
}

/// The consumer key a condition list looks for, if any (answered by an indexed lookup).
pub fn consumer_key(conds: &[Cond]) -> Option<&str> {
    conds.iter().find_map(|c| match c {
        Cond::ConsumerKey(k) => Some(k.as_str()),
        _ => None,
    })
}

/// Whether an app meets every condition.
pub fn matches(app: &AppRecord, conds: &[Cond]) -> bool {
    conds.iter().all(|c| match c {
        Cond::DeveloperEmail(e) => {
            app.app_group.is_none() && app.developer_email.eq_ignore_ascii_case(e)
        }
        Cond::ApiProduct(p) => app
            .credentials
            .iter()
            .any(|k| k.api_products.iter().any(|g| &g.product == p)),
        Cond::ConsumerKey(key) => app
            .credentials
            .iter()
            .any(|k| k.consumer_key.expose() == key),
        Cond::Status(s) => status(app.status) == s,
        Cond::AppId(id) => &app.app_id == id,
        Cond::AppName(n) => &app.name == n,
        Cond::AppType(t) => match app.app_group {
            None => t.eq_ignore_ascii_case("developer"),
            Some(_) => t.eq_ignore_ascii_case("appgroup"),
        },
        Cond::AppGroup(g) => app.app_group.as_deref() == Some(g.as_str()),
    })
}
