//! Routes of the management API under `/v1/organizations/{org}` (and `/v1/o/{org}` on
//! Edge), the middleware stack, and helpers shared by the handlers.

mod app_filter;
mod app_groups;
mod apps;
mod attributes;
mod developers;
mod keys;
mod org;
mod products;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{StatusCode, Uri};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::Value;

use super::errors::{self, ApiError};
use super::{BODY_LIMIT, ServerState, X_CREATE_STATUS, faults, security};
use crate::target::Flavor;

/// Shared state as handlers see it.
pub type St = axum::extract::State<Arc<ServerState>>;

/// The whole application: routes, fallback and middleware.
pub fn router(state: Arc<ServerState>) -> Router {
    let api = org_routes(state.flavor);
    // The org profile also under a trailing slash: apigee-edge-js reads `…/{org}/` (url-join
    // of the org base and "") when it connects.
    let mut app = Router::new()
        .route("/v1/organizations/{org}", get(org::get))
        .route("/v1/organizations/{org}/", get(org::get))
        .nest("/v1/organizations/{org}", api.clone());
    if state.flavor == Flavor::Edge {
        app = app
            .route("/v1/o/{org}", get(org::get))
            .route("/v1/o/{org}/", get(org::get))
            .nest("/v1/o/{org}", api);
    }
    app.fallback(fallback)
        .layer(from_fn_with_state(Arc::clone(&state), faults::inject))
        .layer(from_fn_with_state(Arc::clone(&state), security::auth))
        .layer(from_fn_with_state(Arc::clone(&state), errors::render))
        .layer(from_fn(security::log))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn org_routes(flavor: Flavor) -> Router<Arc<ServerState>> {
    const DEV: &str = "/developers/{developer}";
    const APP: &str = "/developers/{developer}/apps/{app}";
    let mut r = Router::new()
        .route(
            "/developers",
            get(developers::list).post(developers::create),
        )
        .route(
            DEV,
            get(developers::get)
                .put(developers::update)
                .post(developers::set_status)
                .delete(developers::delete),
        )
        .route(
            &format!("{DEV}/apps"),
            get(apps::list_for_developer).post(apps::create),
        )
        .route(
            APP,
            get(apps::get)
                .put(apps::update)
                .post(apps::action_or_generate)
                .delete(apps::delete),
        )
        .route(&format!("{APP}/keys/create"), post(keys::import))
        .route(
            &format!("{APP}/keys/{{key}}"),
            get(keys::get)
                .post(keys::action_or_add_products)
                .put(keys::replace)
                .delete(keys::delete),
        )
        .route(
            &format!("{APP}/keys/{{key}}/apiproducts/{{product}}"),
            post(keys::product_action).delete(keys::remove_product),
        )
        .route("/apiproducts", get(products::list).post(products::create))
        .route(
            "/apiproducts/{product}",
            match flavor {
                // Edge: POST is an update too (apigee-edge-js `apiproduct.update`).
                Flavor::Edge => get(products::get)
                    .put(products::update)
                    .post(products::update)
                    .delete(products::delete),
                Flavor::X => get(products::get)
                    .put(products::update)
                    .delete(products::delete),
            },
        )
        .route("/apps", get(apps::list_for_org))
        .route("/apps/{app_id}", get(apps::get_by_id));
    for owner in [DEV, APP, "/apiproducts/{product}"] {
        r = r
            .route(
                &format!("{owner}/attributes"),
                get(attributes::list).post(attributes::replace),
            )
            .route(
                &format!("{owner}/attributes/{{name}}"),
                get(attributes::get)
                    .post(attributes::set)
                    .delete(attributes::delete),
            );
    }
    if flavor == Flavor::X {
        r = r.route(&format!("{APP}/keys"), post(keys::import));
        // AppGroups: X only; Edge answers 404 (the fallback).
        const GROUP: &str = "/appgroups/{group}";
        const GROUP_APP: &str = "/appgroups/{group}/apps/{app}";
        r = r
            .route("/appgroups", get(app_groups::list).post(app_groups::create))
            .route(
                GROUP,
                get(app_groups::get)
                    .put(app_groups::update)
                    .delete(app_groups::delete),
            )
            .route(
                &format!("{GROUP}/apps"),
                get(app_groups::list_apps).post(app_groups::create_app),
            )
            .route(
                GROUP_APP,
                get(app_groups::get_app)
                    .put(app_groups::update_app)
                    .delete(app_groups::delete_app),
            )
            .route(&format!("{GROUP_APP}/keys"), post(app_groups::create_key))
            .route(
                &format!("{GROUP_APP}/keys/{{key}}"),
                get(app_groups::get_key)
                    .post(app_groups::update_key)
                    .delete(app_groups::delete_key),
            )
            .route(
                &format!("{GROUP_APP}/keys/{{key}}/apiproducts/{{product}}"),
                post(app_groups::product_action).delete(app_groups::remove_product),
            );
    }
    r
}

async fn fallback(uri: Uri) -> ApiError {
    ApiError::no_route(uri.path())
}

/// 200 with a JSON body.
pub fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

/// The create status of the flavour (201; see [`X_CREATE_STATUS`]) with a JSON body.
pub fn created(flavor: Flavor, body: Value) -> Response {
    let status = match flavor {
        Flavor::X => X_CREATE_STATUS,
        Flavor::Edge => StatusCode::CREATED,
    };
    (status, axum::Json(body)).into_response()
}

/// 204 for `?action=` calls.
pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Runs a list query; an unknown cursor (`NotFound` of the listed kind while a `startKey`
/// was given) becomes `None`.
pub fn cursor<T>(
    result: crate::registry::Result<T>,
    listed: crate::registry::Kind,
    has_start: bool,
) -> crate::registry::Result<Option<T>> {
    match result {
        Err(crate::registry::Error::NotFound { kind, .. }) if has_start && kind == listed => {
            Ok(None)
        }
        other => other.map(Some),
    }
}

/// Checks an `?action=` value against the allowed ones.
pub fn action<'a>(value: &'a str, allowed: &[&str]) -> Result<&'a str, ApiError> {
    if allowed.contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::bad_request(format!(
            "`action={value}` is not supported here; use {}",
            allowed
                .iter()
                .map(|a| format!("`action={a}`"))
                .collect::<Vec<_>>()
                .join(" or ")
        )))
    }
}

/// Edge answers 404 for a `startKey` that names nothing; X answers an empty list.
pub fn missing_start_key(flavor: Flavor, entity: &str) -> Result<Response, ApiError> {
    match flavor {
        Flavor::X => Ok(ok(serde_json::json!({}))),
        Flavor::Edge => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("keymanagement.service.{entity}_doesnot_exist"),
            format!("startKey does not name an existing {entity}; start from a listed one"),
        )),
    }
}
