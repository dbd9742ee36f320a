//! The stand-in's admin interface, which plays the apaleo dashboard in tests: list, create,
//! show, change and delete clients; add a secret (its value is in that one answer only) and
//! delete one. With `--token`, every admin request must carry it as Bearer.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{St, Stand};
use crate::model::Secret;
use crate::model::apaleo::{Client, ClientKind};
use crate::registry;

pub(super) fn admin_error(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"message": message}))).into_response()
}

/// Checks the admin token, if the server has one: the refusal, if any.
fn admin(st: &Stand, headers: &HeaderMap) -> Option<Response> {
    let token = st.token.as_ref()?;
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().strip_prefix("Bearer "))
        .map(|t| Secret::new(t.trim()));
    (given.as_ref() != Some(token)).then(|| {
        admin_error(
            StatusCode::UNAUTHORIZED,
            "send the server's --token as Bearer",
        )
    })
}

/// A client as the admin interface shows it (secrets without values).
fn show(c: &registry::apaleo::StandInClient, secrets: &[registry::apaleo::StandInSecret]) -> Value {
    let mut v = serde_json::to_value(&c.client).expect("a client serializes");
    v["account"] = json!(c.account);
    v["secrets"] = secrets
        .iter()
        .map(|s| json!({"id": s.id, "description": s.description, "createdAt": s.created_at}))
        .collect();
    v
}

/// A new client or a change: the dashboard's fields.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ClientInput {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    kind: Option<ClientKind>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    logo_url: Option<String>,
    #[serde(default)]
    redirect_uris: Option<Vec<String>>,
    #[serde(default)]
    pii: Option<bool>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    account: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|e| format!("bad JSON body: {e}"))
}

pub(super) async fn list_clients(State(st): St, headers: HeaderMap) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    match st
        .db(|db| {
            let mut out = Vec::new();
            for c in db.apaleo_clients()? {
                let s = db.apaleo_secrets(&c.client.code)?;
                out.push(show(&c, &s));
            }
            Ok(out)
        })
        .await
    {
        Ok(v) => axum::Json(json!({"clients": v})).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn create_client(State(st): St, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    let input: ClientInput = match parse(&body) {
        Ok(i) => i,
        Err(m) => return admin_error(StatusCode::BAD_REQUEST, &m),
    };
    let (Some(code), Some(kind), Some(name)) = (input.code, input.kind, input.name) else {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "`code`, `kind` and `name` are required",
        );
    };
    if code.is_empty() {
        return admin_error(StatusCode::BAD_REQUEST, "`code` must not be empty");
    }
    let client = Client {
        code: code.clone(),
        kind,
        name,
        logo_url: input.logo_url,
        redirect_uris: input.redirect_uris.unwrap_or_default(),
        pii: match kind {
            ClientKind::Simple => Some(input.pii.unwrap_or(false)),
            ClientKind::Connect => None,
        },
        scopes: input.scopes.unwrap_or_default(),
        secrets: vec![],
        unconfirmed: vec![],
    };
    let account = input.account.unwrap_or_else(|| st.account.clone());
    match st
        .db(move |db| {
            db.apaleo_create_client(&account, &client)?;
            let c = db.apaleo_client(&client.code)?;
            Ok(c.map(|c| show(&c, &[])))
        })
        .await
    {
        Ok(v) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        Err(r) => r,
    }
}

pub(super) async fn get_client(
    State(st): St,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    match st
        .db(move |db| match db.apaleo_client(&code)? {
            Some(c) => Ok(Some(show(&c, &db.apaleo_secrets(&code)?))),
            None => Ok(None),
        })
        .await
    {
        Ok(Some(v)) => axum::Json(v).into_response(),
        Ok(None) => admin_error(StatusCode::NOT_FOUND, "no such client"),
        Err(r) => r,
    }
}

pub(super) async fn update_client(
    State(st): St,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    let input: ClientInput = match parse(&body) {
        Ok(i) => i,
        Err(m) => return admin_error(StatusCode::BAD_REQUEST, &m),
    };
    if input.code.is_some() || input.kind.is_some() || input.account.is_some() {
        return admin_error(
            StatusCode::BAD_REQUEST,
            "`code`, `kind` and `account` cannot change",
        );
    }
    match st
        .db(move |db| {
            let Some(mut c) = db.apaleo_client(&code)? else {
                return Ok(None);
            };
            if let Some(v) = input.name {
                c.client.name = v;
            }
            if input.logo_url.is_some() {
                c.client.logo_url = input.logo_url;
            }
            if let Some(v) = input.redirect_uris {
                c.client.redirect_uris = v;
            }
            if input.pii.is_some() && c.client.kind == ClientKind::Simple {
                c.client.pii = input.pii;
            }
            if let Some(v) = input.scopes {
                c.client.scopes = v;
            }
            db.apaleo_update_client(&code, &c.client)?;
            Ok(Some(show(&c, &db.apaleo_secrets(&code)?)))
        })
        .await
    {
        Ok(Some(v)) => axum::Json(v).into_response(),
        Ok(None) => admin_error(StatusCode::NOT_FOUND, "no such client"),
        Err(r) => r,
    }
}

pub(super) async fn delete_client(
    State(st): St,
    headers: HeaderMap,
    Path(code): Path<String>,
) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    match st.db(move |db| db.apaleo_delete_client(&code)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretInput {
    description: String,
}

pub(super) async fn add_secret(
    State(st): St,
    headers: HeaderMap,
    Path(code): Path<String>,
    body: Bytes,
) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    let input: SecretInput = match parse(&body) {
        Ok(i) => i,
        Err(m) => return admin_error(StatusCode::BAD_REQUEST, &m),
    };
    let description = input.description.clone();
    match st
        .db(move |db| db.apaleo_add_secret(&code, &input.description))
        .await
    {
        // The one answer that holds the value: the dashboard's popup.
        Ok((id, secret)) => {
            let mut r = (
                StatusCode::CREATED,
                axum::Json(
                    json!({"id": id, "description": description, "secret": secret.expose()}),
                ),
            )
                .into_response();
            r.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        Err(r) => r,
    }
}

pub(super) async fn delete_secret(
    State(st): St,
    headers: HeaderMap,
    Path((code, id)): Path<(String, String)>,
) -> Response {
    if let Some(r) = admin(&st, &headers) {
        return r;
    }
    match st.db(move |db| db.apaleo_delete_secret(&code, &id)).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r,
    }
}
