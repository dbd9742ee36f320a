//! `GET /v1/organizations/{org}`: the organization profile. Clients that use basic auth
//! read it first to check their credentials (apigee-edge-js `connect`, spec §4 [EDGEJS-conn]).
//!
//! Edge ([EOAS] getOrganization): `name`, `displayName`, `type`, `environments`,
//! `properties.property[]`, audit fields; the properties say the org is CPS-enabled
//! (`features.isCpsEnabled`), i.e. lists page with `count`/`startKey`, as `serve` does.
//! X ([DISC] GoogleCloudApigeeV1Organization): `name`, `displayName`, `projectId`,
//! `environments`, `runtimeType`, `state`, `billingType`, `subscriptionType`, `createdAt`,
//! `lastModifiedAt` (int64 strings), `properties`.

use axum::response::Response;
use serde_json::json;

use super::{St, ok};
use crate::server::encode::EDGE_ADMIN;
use crate::server::errors::ApiError;
use crate::server::extract::P;
use crate::target::Flavor;

/// The environments the sandbox reports (it has no runtime; products may name any).
pub const ENVIRONMENTS: [&str; 2] = ["prod", "test"];

/// GET /v1/organizations/{org} (and `/v1/o/{org}` on Edge).
pub async fn get(st: St, P(org): P<String>) -> Result<Response, ApiError> {
    let o = org.clone();
    let created = st.db(&org, move |s| s.org_created_at(&o)).await?;
    let body = match st.flavor {
        Flavor::Edge => json!({
            "name": org,
            "displayName": org,
            "type": "paid",
            "environments": ENVIRONMENTS,
            "properties": {"property": [
                {"name": "features.isCpsEnabled", "value": "true"},
                {"name": "features.hybrid.enabled", "value": "false"}
            ]},
            "createdAt": created,
            "createdBy": EDGE_ADMIN,
            "lastModifiedAt": created,
            "lastModifiedBy": EDGE_ADMIN,
        }),
        Flavor::X => json!({
            "name": org,
            "displayName": org,
            "projectId": org,
            "apigeeProjectId": org,
            "environments": ENVIRONMENTS,
            "runtimeType": "CLOUD",
            "state": "ACTIVE",
            "billingType": "PAYG",
            "subscriptionType": "PAID",
            "createdAt": created.to_string(),
            "lastModifiedAt": created.to_string(),
            "properties": {"property": [
                {"name": "features.hybrid.enabled", "value": "false"}
            ]},
        }),
    };
    Ok(ok(body))
}
