//! Edge credentials end to end: `registrar apply` against `registrar serve --flavor edge
//! --token` with APIGEE_USERNAME / APIGEE_PASSWORD / APIGEE_MFA_TOKEN and APIGEE_SSO_URL
//! pointing at a stand-in of the Edge login service on 127.0.0.1. The stand-in checks the
//! client (`edgecli:edgeclisecret`), the password grant with the one-time MFA code, and the
//! refresh grant with the refresh token it issued. Its first token lives 10 s (stale at once),
//! so the run renews it once, with the refresh token.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use serde_json::{Value, json};

use canary::Canary;
use common::Server;

const TOKEN: &str = "edge-stand-in-access-token";
const REFRESH: &str = "edge-stand-in-refresh-token";
const PASSWORD: &str = "correct horse battery staple";

/// Grants made (`password+mfa`, `refresh`), and requests refused with why.
#[derive(Default)]
struct Record {
    grants: Vec<String>,
    refused: Vec<String>,
}

fn check(
    headers: &HeaderMap,
    query: &HashMap<String, String>,
    form: &HashMap<String, String>,
) -> Result<String, String> {
    let basic = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .ok_or("no Basic client authentication")?;
    if basic != b"edgecli:edgeclisecret" {
        return Err("wrong client".into());
    }
    match form.get("grant_type").map(String::as_str) {
        Some("password") => {
            if form.get("username").map(String::as_str) != Some("dana@example.com")
                || form.get("password").map(String::as_str) != Some(PASSWORD)
            {
                return Err("wrong user or password".into());
            }
            match query.get("mfa_token").map(String::as_str) {
                Some("123456") => Ok("password+mfa".into()),
                other => Err(format!("mfa_token {other:?}")),
            }
        }
        Some("refresh_token") if form.get("refresh_token").map(String::as_str) == Some(REFRESH) => {
            Ok("refresh".into())
        }
        other => Err(format!("grant {other:?}")),
    }
}

async fn token(
    State(record): State<Arc<Mutex<Record>>>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, Json<Value>) {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let mut record = record.lock().unwrap();
    match check(&headers, &query, &form) {
        Ok(grant) => {
            let lifetime = if record.grants.is_empty() { 10 } else { 1799 };
            record.grants.push(grant);
            (
                StatusCode::OK,
                Json(
                    json!({"access_token": TOKEN, "token_type": "bearer", "refresh_token": REFRESH,
                            "expires_in": lifetime, "scope": "scim.me openid", "jti": "x"}),
                ),
            )
        }
        Err(why) => {
            record.refused.push(why);
            (
                StatusCode::UNAUTHORIZED,
                Json(json!({"error": "unauthorized", "error_description": "Bad credentials"})),
            )
        }
    }
}

#[test]
fn apply_logs_in_at_the_edge_login_service_and_renews_once() {
    let record = Arc::new(Mutex::new(Record::default()));
    let app = Router::new()
        .route("/oauth/token", post(token))
        .with_state(record.clone());
    let login = common::StandIn::bind().serve(app);
    let sso = login.url.clone();
    let server = Server::start("edge", &["--token", TOKEN]);

    let dir = tempfile::tempdir().unwrap();
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml"))
            .unwrap();
    std::fs::write(dir.path().join("registry.yaml"), config).unwrap();
    let mut canary = Canary::new();
    for s in [TOKEN, REFRESH, PASSWORD] {
        canary.add(s);
    }
    let out = canary.run(
        "apply",
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(dir.path())
            .args(["--log", "trace", "apply", "--auto-approve"])
            .args([
                "--backend",
                "apigee-edge",
                "--url",
                &server.url,
                "--org",
                "local",
            ])
            .env("APIGEE_USERNAME", "dana@example.com")
            .env("APIGEE_PASSWORD", PASSWORD)
            .env("APIGEE_MFA_TOKEN", "123456")
            .env("APIGEE_SSO_URL", &sso)
            .env_remove("APIGEE_TOKEN")
            .env_remove("REGISTRAR_LOG")
            .env_remove("REGISTRAR_IDENTITY")
            .env_remove("CI")
            .env("NO_COLOR", "1"),
    );
    let record = record.lock().unwrap();
    assert!(
        out.status.success(),
        "apply failed (refused: {:?}):\n{}\n{}",
        record.refused,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(record.refused, Vec::<String>::new());
    assert_eq!(record.grants, ["password+mfa", "refresh"]);
    let log = server.stderr();
    assert!(
        log.lines()
            .filter(|l| l.contains(" /v1/organizations/local"))
            .count()
            > 2
    );
    assert!(!log.contains(" 401 "), "{log}");
}

#[test]
fn a_refused_login_is_an_error_with_a_hint_and_no_password() {
    let record = Arc::new(Mutex::new(Record::default()));
    let app = Router::new()
        .route("/oauth/token", post(token))
        .with_state(record.clone());
    let login = common::StandIn::bind().serve(app);
    let sso = login.url.clone();
    let dir = tempfile::tempdir().unwrap();
    let mut canary = Canary::new();
    canary.add("wrong-password-value");
    let out = canary.run(
        "plan",
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(dir.path())
            .args(["plan", "-f"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/minimal.yaml"))
            .args([
                "--backend",
                "apigee-edge",
                "--url",
                "http://127.0.0.1:9",
                "--org",
                "o",
            ])
            .env("APIGEE_USERNAME", "dana@example.com")
            .env("APIGEE_PASSWORD", "wrong-password-value")
            .env("APIGEE_SSO_URL", &sso)
            .env_remove("APIGEE_TOKEN")
            .env_remove("APIGEE_MFA_TOKEN")
            .env("NO_COLOR", "1"),
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("refused to log in `dana@example.com`")
            && stderr.contains("Bad credentials")
            && stderr.contains("hint:"),
        "{stderr}"
    );
}
