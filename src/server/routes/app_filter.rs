//! Filters of the org-wide app list: `filter=field=value` (X: developerEmail, apiProduct,
//! consumerKey, status, appId, appName, appType, appGroup) and the `status`, `apiProduct`
//! and `keyStatus` parameters. Only filters that are given apply (the discovery document
//! says `status` and `keyStatus` default to `approved`; the emulator does not assume that).

use crate::registry::AppRecord;
use crate::server::encode::status;
use crate::server::errors::ApiError;
use crate::server::input::ListQuery;

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
    /// Some key has this status.
    KeyStatus(String),
    /// App id.
    AppId(String),
    /// App name.
    AppName(String),
    /// `appType`: developer apps match `Developer`, nothing matches `AppGroup`.
    AppType(String),
    /// `appGroup`: developer apps belong to none.
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
    if let Some(s) = q.status.clone().filter(|s| !s.is_empty()) {
        out.push(Cond::Status(s));
    }
    if let Some(p) = q.api_product.clone().filter(|s| !s.is_empty()) {
        out.push(Cond::ApiProduct(p));
    }
    if let Some(s) = q.key_status.clone().filter(|s| !s.is_empty()) {
        out.push(Cond::KeyStatus(s));
    }
    Ok(out)
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
        Cond::DeveloperEmail(e) => app.developer_email.eq_ignore_ascii_case(e),
        Cond::ApiProduct(p) => app
            .credentials
            .iter()
            .any(|k| k.api_products.iter().any(|g| &g.product == p)),
        Cond::ConsumerKey(key) => app
            .credentials
            .iter()
            .any(|k| k.consumer_key.expose() == key),
        Cond::Status(s) => status(app.status) == s,
        Cond::KeyStatus(s) => app.credentials.iter().any(|k| status(k.status) == s),
        Cond::AppId(id) => &app.app_id == id,
        Cond::AppName(n) => &app.name == n,
        Cond::AppType(t) => t.eq_ignore_ascii_case("developer"),
        Cond::AppGroup(_) => false,
    })
}
