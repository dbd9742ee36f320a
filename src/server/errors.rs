//! API errors and their flavour-true bodies.
//!
//! Handlers, extractors and middleware return [`ApiError`]; its `IntoResponse` only records
//! it in the response's extensions, and the [`render`] middleware (which knows the flavour)
//! writes the body: Apigee X → Google style `{"error":{code,message,status,details}}` with
//! the Edge code in `details[].violations[].type`; Edge → `{code,message,contexts}`.
//! Error responses that did not come from an `ApiError` (405 from the router, for example)
//! are given a body of the same shape, so clients always get JSON.
//!
//! Codes starting `registrar.` are this emulator's own, for cases where Apigee's code is not
//! known; the others are Apigee's (spec/apigee-api.md §3.7, §4.6).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::ServerState;
use crate::registry::{self, Kind};
use crate::target::Flavor;

/// An error answer: HTTP status, Apigee (Edge) error code and message.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Edge error code (X: the violation type).
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// X `status` string when it differs from the default for the HTTP status.
    pub grpc_status: Option<&'static str>,
    /// Seconds for a `Retry-After` header (429).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the default X status for `status`.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            grpc_status: None,
            retry_after: None,
        }
    }

    /// 400 with the emulator's generic code.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "registrar.InvalidArgument",
            message,
        )
    }

    /// 404 for a path that names no resource.
    pub fn no_route(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "registrar.NotFound",
            format!("no such resource: `{path}`; check the path against the Apigee management API"),
        )
    }

    /// Maps a store error, with the organization for messages.
    pub fn from_store(err: registry::Error, org: &str) -> Self {
        use registry::Error as E;
        match err {
            E::NotFound { kind, name, parent } => not_found(kind, &name, parent.as_deref(), org),
            E::AlreadyExists { kind, name } => already_exists(kind, &name),
            E::Invalid(message) => Self::bad_request(message),
            E::InvalidScopes { allowed } => Self::new(
                StatusCode::BAD_REQUEST,
                "keymanagement.service.InvalidScopes",
                format!(
                    "Invalid scopes. Scopes must be contained in [{}]",
                    allowed.join(", ")
                ),
            ),
            E::ProductNotOnKey { .. } => Self::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "registrar.ProductNotOnKey",
                "APIProduct is not associated with consumer key",
            ),
            other => {
                tracing::error!("registry store failed: {}", error_chain(&other));
                Self::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "registrar.InternalError",
                    "internal error in the registry store; see the server log",
                )
            }
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

fn not_found(kind: Kind, name: &str, parent: Option<&str>, org: &str) -> ApiError {
    let (code, message) = match kind {
        Kind::Org => (
            "organizations.OrganizationDoesNotExist",
            format!("Organization {name} does not exist"),
        ),
        Kind::Developer => (
            "developer.service.DeveloperIdDoesNotExist",
            format!("DeveloperId {name} does not exist in organization {org}"),
        ),
        Kind::App => match parent {
            // An AppGroup's apps live under an internal owner: never show its address.
            Some(email) if email.ends_with(crate::registry::APP_GROUP_OWNER_DOMAIN) => (
                "developer.service.AppDoesNotExist",
                format!("App named {name} does not exist in this AppGroup"),
            ),
            Some(email) => (
                "developer.service.AppDoesNotExist",
                format!("App named {name} does not exist under {email}"),
            ),
            None => (
                "keymanagement.service.app_doesnot_exist",
                format!("App with id {name} does not exist"),
            ),
        },
        Kind::Product => (
            "keymanagement.service.apiproduct_doesnot_exist",
            format!("API Product [{name}] does not exist for tenant [{org}]"),
        ),
        Kind::Key => (
            "keymanagement.service.InvalidClientIdForGivenApp",
            "Invalid consumer key for Given App".to_string(),
        ),
        Kind::Attribute => (
            "registrar.AttributeDoesNotExist",
            format!("Attribute {name} does not exist"),
        ),
        // ⚠ The platform's code for a missing AppGroup is not in the spec.
        Kind::AppGroup => (
            "registrar.AppGroupDoesNotExist",
            format!("AppGroup {name} does not exist in organization {org}"),
        ),
    };
    ApiError::new(StatusCode::NOT_FOUND, code, message)
}

fn already_exists(kind: Kind, name: &str) -> ApiError {
    let (code, message) = match kind {
        Kind::Developer => (
            "developer.service.DeveloperAlreadyExists",
            format!("Developer with email {name} already exists"),
        ),
        Kind::App => (
            "keymanagement.service.app_already_exists",
            format!("App with name {name} already exists"),
        ),
        Kind::Product => (
            "keymanagement.service.apiproduct_already_exists",
            format!("API Product [{name}] already exists"),
        ),
        Kind::Key => {
            let mut e = ApiError::new(
                StatusCode::CONFLICT,
                "keymanagement.service.ConsumerKeyAlreadyExists",
                "ConsumerKey already exists",
            );
            e.grpc_status = Some("ABORTED");
            return e;
        }
        Kind::Org | Kind::Attribute | Kind::AppGroup => (
            "registrar.AlreadyExists",
            format!("{kind} {name} already exists"),
        ),
    };
    ApiError::new(StatusCode::CONFLICT, code, message)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = self.status.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

/// The X `status` string for an HTTP status.
fn grpc_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 | 413 => "INVALID_ARGUMENT",
        401 => "UNAUTHENTICATED",
        403 => "PERMISSION_DENIED",
        404 => "NOT_FOUND",
        405 => "UNIMPLEMENTED",
        408 => "DEADLINE_EXCEEDED",
        409 => "ALREADY_EXISTS",
        429 => "RESOURCE_EXHAUSTED",
        503 => "UNAVAILABLE",
        _ => "INTERNAL",
    }
}

static REQUEST_IDS: AtomicU64 = AtomicU64::new(1);

/// The body of an error in a flavour.
pub fn body(flavor: Flavor, err: &ApiError) -> Value {
    match flavor {
        Flavor::Edge => json!({"code": err.code, "message": err.message, "contexts": []}),
        Flavor::X => {
            let request_id = format!("{:020}", REQUEST_IDS.fetch_add(1, Ordering::Relaxed));
            json!({"error": {
                "code": err.status.as_u16(),
                "message": err.message,
                "status": err.grpc_status.unwrap_or_else(|| grpc_status(err.status)),
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                     "violations": [{"type": err.code, "subject": "registrar", "description": err.message}]},
                    {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": request_id}
                ]
            }})
        }
    }
}

/// Middleware: writes the flavour's body for every error response.
pub async fn render(State(state): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let err = match response.extensions().get::<ApiError>() {
        Some(e) => e.clone(),
        None if is_json(&response) => return response,
        None => generic(status),
    };
    let mut out = (status, axum::Json(body(state.flavor, &err))).into_response();
    if let Some(secs) = err.retry_after {
        out.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    // The rebuilt response keeps the headers that belong to the error, not to its body.
    for name in [header::WWW_AUTHENTICATE, header::CONNECTION] {
        for value in response.headers().get_all(&name) {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    super::security::add_challenges(&mut out, state.flavor);
    out
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

fn generic(status: StatusCode) -> ApiError {
    let (code, message) = match status.as_u16() {
        404 => ("registrar.NotFound", "no such resource"),
        405 => (
            "registrar.MethodNotAllowed",
            "this method is not allowed on this resource",
        ),
        413 => (
            "registrar.PayloadTooLarge",
            "request body is larger than 1 MiB",
        ),
        _ => (
            "registrar.Error",
            status.canonical_reason().unwrap_or("error"),
        ),
    };
    ApiError::new(status, code, message)
}
