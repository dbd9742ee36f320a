//! `registrar serve --flavor apaleo`: a stand-in for apaleo's identity server and API, over
//! clients kept in the registry (`registry::apaleo`).
//!
//! - `POST /connect/token`: RFC 6749 client-credentials grant; form body, HTTP Basic
//!   `client_id:client_secret` (form-urlencoded, §2.3.1); JSON errors `invalid_request`,
//!   `invalid_client` (401), `unsupported_grant_type`, `unauthorized_client` (connect clients
//!   are refused this grant), `invalid_scope` (naming the scope); tokens live 3600 s.
//! - `GET /account/v1/accounts/current`: the account of a client-credentials token.
//! - `/admin/clients…`: a small admin interface that plays the apaleo dashboard in tests:
//!   create a client, change its fields, add a secret (the value is in that one answer only),
//!   delete a secret or the client. With `--token`, admin requests must carry it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use base64::Engine;
use serde_json::json;

mod admin;

use super::{BODY_LIMIT, conn, security};
use crate::error::HintExt;
use crate::model::Secret;
use crate::model::apaleo::{ClientKind, is_identity_scope};
use crate::registry::{self, Registry};
use admin::{
    add_secret, admin_error, create_client, delete_client, delete_secret, get_client, list_clients,
    update_client,
};

/// Lifetime of issued tokens, seconds.
pub const TOKEN_LIFETIME_S: u64 = 3600;

/// What `serve --flavor apaleo` runs with.
#[derive(Debug)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// SQLite file of the registry.
    pub db: std::path::PathBuf,
    /// The hotel account new clients belong to.
    pub account: String,
    /// The token admin requests must carry, if any.
    pub token: Option<Secret>,
    /// Connection timeouts and limits.
    pub limits: conn::Limits,
}

/// An issued access token.
struct Issued {
    account: String,
    scopes: Vec<String>,
    expires_at: i64,
}

/// Shared state.
struct Stand {
    account: String,
    token: Option<Secret>,
    db: Mutex<Registry>,
    tokens: Mutex<HashMap<String, Issued>>,
}

type St = State<Arc<Stand>>;

impl Stand {
    async fn db<T: Send + 'static>(
        self: &Arc<Self>,
        work: impl FnOnce(&Registry) -> registry::Result<T> + Send + 'static,
    ) -> Result<T, Response> {
        let me = Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let guard = me.db.lock().unwrap_or_else(|p| p.into_inner());
            work(&guard)
        })
        .await
        .map_err(|_| admin_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error"))?
        .map_err(|e| match e {
            registry::Error::NotFound { .. } => admin_error(StatusCode::NOT_FOUND, &e.to_string()),
            registry::Error::AlreadyExists { .. } => {
                admin_error(StatusCode::CONFLICT, &e.to_string())
            }
            registry::Error::Invalid(m) => admin_error(StatusCode::BAD_REQUEST, &m),
            other => {
                tracing::error!("registry: {other}");
                admin_error(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        })
    }
}

/// Runs the stand-in until SIGINT or SIGTERM.
pub fn run(s: Settings) -> anyhow::Result<()> {
    security::check_listen(s.listen, s.token.as_ref())?;
    let db = Registry::open(&s.db)
        .with_context(|| format!("cannot open the registry `{}`", s.db.display()))
        .hint("check the --db path and its permissions")?;
    let state = Arc::new(Stand {
        account: s.account,
        token: s.token,
        db: Mutex::new(db),
        tokens: Mutex::new(HashMap::new()),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let listen = s.listen;
    let limits = s.limits;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("cannot listen on `{listen}`"))
            .hint("pick another address or port (`--listen 127.0.0.1:0` picks a free port)")?;
        let addr = listener.local_addr()?;
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            writeln!(out, "listening on http://{addr}")?;
            out.flush()?;
        }
        conn::serve(listener, router(state), limits, super::shutdown()).await;
        Ok(())
    })
}

/// The stand-in's routes over an open registry (tests run it in-process).
pub fn router_over(db: Registry, account: String, token: Option<Secret>) -> Router {
    router(Arc::new(Stand {
        account,
        token,
        db: Mutex::new(db),
        tokens: Mutex::new(HashMap::new()),
    }))
}

fn router(state: Arc<Stand>) -> Router {
    Router::new()
        .route("/connect/token", post(token))
        .route("/account/v1/accounts/current", get(current_account))
        .route("/admin/clients", get(list_clients).post(create_client))
        .route(
            "/admin/clients/{code}",
            get(get_client).patch(update_client).delete(delete_client),
        )
        .route("/admin/clients/{code}/secrets", post(add_secret))
        .route("/admin/clients/{code}/secrets/{id}", delete(delete_secret))
        .fallback(|| async { admin_error(StatusCode::NOT_FOUND, "no such route") })
        .layer(from_fn(security::log))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// An RFC 6749 §5.2 error.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        axum::Json(json!({"error": error, "error_description": description})),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"apaleo\""),
        );
    }
    r
}

/// `client_id` and `client_secret` from HTTP Basic (each form-urlencoded).
fn basic_credentials(headers: &HeaderMap) -> Option<(String, Secret)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = zeroize::Zeroizing::new(
        base64::engine::general_purpose::STANDARD
            .decode(rest.trim())
            .ok()?,
    );
    let text = std::str::from_utf8(&raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    let dec = |s: &str| {
        url::form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((dec(id), Secret::new(dec(secret))))
}

async fn token(State(st): St, headers: HeaderMap, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let Some((code, secret)) = basic_credentials(&headers) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed: send HTTP Basic client_id:client_secret",
        );
    };
    let lookup = code.clone();
    let check = st
        .db(move |db| {
            let client = db.apaleo_client(&lookup)?;
            let ok = match &client {
                Some(_) => db.apaleo_secret_matches(&lookup, &secret)?,
                None => false,
            };
            Ok(client.filter(|_| ok))
        })
        .await;
    let found = match check {
        Ok(f) => f,
        Err(r) => return r,
    };
    let Some(found) = found else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "client authentication failed",
        );
    };
    match form.get("grant_type").map(String::as_str) {
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "`grant_type` is missing",
            );
        }
        Some("client_credentials") => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only `client_credentials` is served here",
            );
        }
    }
    if found.client.kind == ClientKind::Connect {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the client is not allowed the client_credentials grant",
        );
    }
    let asked: Vec<String> = form
        .get("scope")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    // As an identity server does: sign-in scopes are not for the client-credentials grant.
    if let Some(identity) = asked.iter().find(|s| is_identity_scope(s)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("scope `{identity}` is not allowed for the client_credentials grant"),
        );
    }
    if let Some(missing) = asked.iter().find(|s| !found.client.scopes.contains(s)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("scope `{missing}` is not allowed for this client"),
        );
    }
    let scopes = if asked.is_empty() {
        found.client.scopes.clone()
    } else {
        asked
    };
    let access = format!("ap-{}", uuid::Uuid::new_v4().simple());
    let now = crate::units::now_ms();
    remember(
        &mut st.tokens.lock().unwrap_or_else(|p| p.into_inner()),
        access.clone(),
        Issued {
            account: found.account,
            scopes: scopes.clone(),
            expires_at: now + (TOKEN_LIFETIME_S as i64) * 1000,
        },
        now,
    );
    let mut r = (
        StatusCode::OK,
        axum::Json(json!({
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME_S,
            "scope": scopes.join(" "),
        })),
    )
        .into_response();
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Keeps an issued token, forgetting the expired ones (a long-running stand-in would
/// otherwise hold every token it ever issued).
fn remember(tokens: &mut HashMap<String, Issued>, access: String, issued: Issued, now_ms: i64) {
    tokens.retain(|_, t| t.expires_at > now_ms);
    tokens.insert(access, issued);
}

async fn current_account(State(st): St, headers: HeaderMap) -> Response {
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(str::trim);
    let tokens = st.tokens.lock().unwrap_or_else(|p| p.into_inner());
    match bearer.and_then(|b| tokens.get(b)) {
        Some(t) if t.expires_at > crate::units::now_ms() => (
            StatusCode::OK,
            axum::Json(json!({"code": t.account, "name": t.account, "scopes": t.scopes})),
        )
            .into_response(),
        _ => {
            let mut r = StatusCode::UNAUTHORIZED.into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_decoded() {
        let mut h = HeaderMap::new();
        let v = base64::engine::general_purpose::STANDARD.encode("a+b:s%3A1");
        h.insert(
            header::AUTHORIZATION,
            HeaderValue::from_str(&format!("Basic {v}")).unwrap(),
        );
        let (id, secret) = basic_credentials(&h).unwrap();
        assert_eq!(id, "a b");
        assert_eq!(secret.expose(), "s:1");
    }

    #[test]
    fn expired_tokens_are_forgotten() {
        let issued = |expires_at| Issued {
            account: "DEMO".into(),
            scopes: vec![],
            expires_at,
        };
        let mut tokens = HashMap::new();
        remember(&mut tokens, "old".into(), issued(100), 50);
        remember(&mut tokens, "live".into(), issued(1_000), 60);
        assert_eq!(tokens.len(), 2);
        remember(&mut tokens, "new".into(), issued(2_000), 500);
        let mut left: Vec<&String> = tokens.keys().collect();
        left.sort();
        assert_eq!(left, ["live", "new"]);
    }
}
