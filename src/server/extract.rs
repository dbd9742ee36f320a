//! Request extractors whose rejections are [`ApiError`]s (so a malformed path, query or
//! body gets a 400 — or 413 for a body over the limit — in the flavour's error shape, never
//! a panic or a 500). The lenient JSON scalars of request bodies (int64 as number or
//! string) are the client's too: they live in [`crate::json`].

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::errors::ApiError;

/// Path parameters (percent-decoded by axum: `%40` → `@`).
pub struct P<T>(pub T);

impl<T, S> FromRequestParts<S> for P<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e| ApiError::bad_request(format!("malformed path: {}", e.body_text())))
    }
}

/// Query parameters.
pub struct Q<T>(pub T);

impl<T, S> FromRequestParts<S> for Q<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e| ApiError::bad_request(format!("malformed query: {}", e.body_text())))
    }
}

/// The raw body, within the body limit (413 beyond it).
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(RawBody(b)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "registrar.PayloadTooLarge",
                "request body is larger than 1 MiB; send a smaller body",
            )),
            Err(e) if super::conn::BodyTimeout::is_cause_of(&e) => Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "registrar.RequestTimeout",
                "the request body did not arrive in time; send it whole without pauses",
            )),
            Err(e) => Err(ApiError::bad_request(format!(
                "cannot read the request body: {}",
                e.body_text()
            ))),
        }
    }
}

impl RawBody {
    /// Parses the body as JSON; an empty body is an error.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        if self.0.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request(
                "a JSON request body is required; send one with Content-Type: application/json",
            ));
        }
        serde_json::from_slice(&self.0)
            .map_err(|e| ApiError::bad_request(format!("malformed JSON body: {e}")))
    }
}

/// A JSON body parsed into `T`.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let raw = RawBody::from_request(req, state).await?;
        raw.json().map(JsonBody)
    }
}

/// A request body type that knows the members it models (and the output-only ones clients
/// send back, like `createdAt` or `credentials`, which are not the client's to set).
pub trait Modelled {
    /// Top-level members the body type reads or the server owns; every other member is an
    /// unmodelled field, kept verbatim ([`crate::registry::Extra`]).
    const FIELDS: &'static [&'static str];
}

/// A JSON body parsed into `T`, and its members `T` does not model, as sent.
pub struct WithExtra<T>(pub T, pub crate::registry::Extra);

impl<T: DeserializeOwned + Modelled, S: Send + Sync> FromRequest<S> for WithExtra<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let raw = RawBody::from_request(req, state).await?;
        raw.json_with_extra()
    }
}

impl RawBody {
    /// Parses the body as JSON into `T`, and keeps its members `T` does not model.
    pub fn json_with_extra<T: DeserializeOwned + Modelled>(
        &self,
    ) -> Result<WithExtra<T>, ApiError> {
        let body: T = self.json()?;
        let mut all: crate::registry::Extra = self.json()?;
        all.retain(|k, _| !T::FIELDS.contains(&k.as_str()));
        Ok(WithExtra(body, all))
    }
}

/// Parses a boolean query flag (`true`/`false`, absent = false).
pub fn flag(name: &str, value: Option<&str>) -> Result<bool, ApiError> {
    match value {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v.is_empty() => Ok(false),
        Some(v) => Err(ApiError::bad_request(format!(
            "query parameter `{name}` must be true or false, not `{v}`"
        ))),
    }
}

/// Parses a count query parameter, clamped to `limit` (absent = `limit`).
pub fn count(name: &str, value: Option<&str>, limit: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(limit),
        Some(v) => v
            .trim()
            .parse::<u64>()
            .map(|n| (n as usize).min(limit))
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "query parameter `{name}` must be a non-negative integer, not `{v}`"
                ))
            }),
    }
}
