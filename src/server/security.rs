//! Access control and the request log: the token check (Bearer, or Basic with the token as
//! password), the loopback rule for `--listen`, and one debug line per request that never
//! shows bodies, tokens or consumer keys.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::ServerState;
use super::errors::ApiError;
use crate::model::Secret;
use crate::target::Flavor;

/// Refuses to listen off loopback without a token.
pub fn check_listen(addr: SocketAddr, token: Option<&Secret>) -> anyhow::Result<()> {
    if !addr.ip().is_loopback() && token.is_none() {
        return Err(crate::error::hinted(
            format!(
                "refusing to listen on `{addr}` without `--token`: anyone who can reach it \
                 could read every consumer key and secret"
            ),
            "pass `--token T` (or set REGISTRAR_SERVE_TOKEN) and send `Authorization: Bearer T`, \
             or listen on 127.0.0.1",
        ));
    }
    Ok(())
}

/// Whether an `Authorization` header carries the token.
fn authorized(value: Option<&str>, token: &Secret) -> bool {
    let Some(value) = value else { return false };
    let Some((scheme, rest)) = value.trim().split_once(' ') else {
        return false;
    };
    let given = if scheme.eq_ignore_ascii_case("bearer") {
        rest.trim().to_string()
    } else if scheme.eq_ignore_ascii_case("basic") {
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return false;
        };
        let Ok(text) = String::from_utf8(decoded) else {
            return false;
        };
        match text.split_once(':') {
            Some((_, password)) => password.to_string(),
            None => return false,
        }
    } else {
        return false;
    };
    Secret::new(given) == *token
}

/// The `WWW-Authenticate` challenges of a 401: both schemes are accepted, the flavour's own
/// first (X clients send Google bearer tokens, Edge clients Basic auth).
pub fn challenges(flavor: Flavor) -> [HeaderValue; 2] {
    let bearer = HeaderValue::from_static("Bearer realm=\"registrar\"");
    let basic = HeaderValue::from_static("Basic realm=\"registrar\", charset=\"UTF-8\"");
    match flavor {
        Flavor::X => [bearer, basic],
        Flavor::Edge => [basic, bearer],
    }
}

/// Adds the challenges to a 401 that has none.
pub fn add_challenges(response: &mut Response, flavor: Flavor) {
    if response.status() == StatusCode::UNAUTHORIZED
        && !response.headers().contains_key(header::WWW_AUTHENTICATE)
    {
        for value in challenges(flavor) {
            response
                .headers_mut()
                .append(header::WWW_AUTHENTICATE, value);
        }
    }
}

/// Middleware: 401 unless the request carries the token (when one is configured).
pub async fn auth(State(state): State<Arc<ServerState>>, req: Request, next: Next) -> Response {
    if let Some(token) = &state.token {
        let value = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !authorized(value, token) {
            let mut response = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "registrar.Unauthorized",
                "missing or wrong credentials: send `Authorization: Bearer <token>` (or Basic \
                 with the token as password)",
            )
            .into_response();
            add_challenges(&mut response, state.flavor);
            return response;
        }
    }
    next.run(req).await
}

/// The path as logged: the segment after `keys/` (a consumer key) is masked.
pub fn redact_path(path: &str) -> String {
    let mut out = Vec::new();
    let mut after_keys = false;
    for seg in path.split('/') {
        if after_keys && seg != "create" {
            out.push("***");
        } else {
            out.push(seg);
        }
        after_keys = seg == "keys";
    }
    out.join("/")
}

/// Middleware: one debug line per request (method, path without keys, status, ms).
pub async fn log(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = redact_path(req.uri().path());
    let response = next.run(req).await;
    tracing::debug!(
        "{method} {path} {} {}ms",
        response.status().as_u16(),
        start.elapsed().as_millis()
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_and_basic_password_are_accepted() {
        let token = Secret::new("s3cret");
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:s3cret");
        assert!(authorized(Some("Bearer s3cret"), &token));
        assert!(authorized(Some("bearer  s3cret "), &token));
        assert!(authorized(Some(&format!("Basic {basic}")), &token));
        let wrong = base64::engine::general_purpose::STANDARD.encode("s3cret:nope");
        for bad in [
            None,
            Some("Bearer nope"),
            Some("s3cret"),
            Some("Token s3cret"),
            Some("Basic !!!"),
        ] {
            assert!(!authorized(bad, &token), "{bad:?}");
        }
        assert!(!authorized(Some(&format!("Basic {wrong}")), &token));
    }

    #[test]
    fn consumer_keys_are_masked_in_logged_paths() {
        assert_eq!(
            redact_path("/v1/organizations/o/developers/a@x/apps/w/keys/abc/apiproducts/p"),
            "/v1/organizations/o/developers/a@x/apps/w/keys/***/apiproducts/p"
        );
        assert_eq!(
            redact_path("/v1/o/o/developers/a/apps/w/keys/create"),
            "/v1/o/o/developers/a/apps/w/keys/create"
        );
    }

    #[test]
    fn off_loopback_needs_a_token() {
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        assert!(check_listen(public, None).is_err());
        assert!(check_listen(public, Some(&Secret::new("t"))).is_ok());
        assert!(check_listen(local, None).is_ok());
        assert!(check_listen("[::1]:0".parse().unwrap(), None).is_ok());
    }
}
