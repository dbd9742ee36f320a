//! Google credentials end to end: `registrar apply` against `registrar serve --token` with a
//! service-account key file whose `token_uri` is a stand-in token endpoint on 127.0.0.1. The
//! stand-in verifies each JWT assertion (RS256 signature with the key's public half, issuer,
//! audience, scope, times) before it issues a token, as Google's does. Its first token is
//! short-lived (10 s, inside every refresh margin), so the run must replace it once: exactly
//! two grants, the second in the middle of the apply.
//!
//! The key (tests/fixtures/google-test-service-account.pem) was generated for this test and
//! is used nowhere else.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePrivateKey;
use rsa::signature::Verifier;
use serde_json::{Value, json};

use canary::Canary;
use common::Server;

/// What serve accepts, and what the stand-in hands out.
const TOKEN: &str = "ya29.stand-in-access-token";
const CLIENT_EMAIL: &str = "registrar-test@registrar-test.iam.gserviceaccount.com";

/// The stand-in's record: grants made (with the lifetime given), assertions refused.
#[derive(Default)]
struct Record {
    grants: Vec<u64>,
    refused: Vec<String>,
}

struct StandIn {
    key: VerifyingKey<sha2::Sha256>,
    token_uri: String,
    record: Mutex<Record>,
}

/// base64url, padded or not (gcp_auth pads; Google's endpoint takes both).
fn b64(part: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| format!("bad base64url: {e}"))
}

impl StandIn {
    /// Checks an assertion as Google's token endpoint does.
    fn verify(&self, form: &std::collections::HashMap<String, String>) -> Result<(), String> {
        if form.get("grant_type").map(String::as_str)
            != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
        {
            return Err(format!("grant_type {:?}", form.get("grant_type")));
        }
        let jwt = form.get("assertion").ok_or("no assertion")?;
        let parts: Vec<&str> = jwt.split('.').collect();
        let [header, claims, signature] = parts[..] else {
            return Err("not a JWT".into());
        };
        let header: Value = serde_json::from_slice(&b64(header)?).map_err(|e| e.to_string())?;
        if header["alg"] != "RS256" {
            return Err(format!("alg {}", header["alg"]));
        }
        let signature =
            Signature::try_from(b64(signature)?.as_slice()).map_err(|e| e.to_string())?;
        self.key
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .map_err(|_| "bad signature".to_string())?;
        let claims: Value = serde_json::from_slice(&b64(claims)?).map_err(|e| e.to_string())?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let (iat, exp) = (
            claims["iat"].as_i64().unwrap_or(0),
            claims["exp"].as_i64().unwrap_or(0),
        );
        let checks = [
            (claims["iss"] == CLIENT_EMAIL, "iss"),
            (claims["aud"] == self.token_uri.as_str(), "aud"),
            (
                claims["scope"].as_str().is_some_and(|s| {
                    s.split(' ')
                        .any(|s| s == "https://www.googleapis.com/auth/cloud-platform")
                }),
                "scope",
            ),
            (
                (iat - now).abs() <= 300 && exp > iat && exp - iat <= 3600,
                "iat/exp",
            ),
        ];
        match checks.iter().find(|(ok, _)| !ok) {
            Some((_, claim)) => Err(format!("claim {claim}: {claims}")),
            None => Ok(()),
        }
    }
}

async fn token(State(st): State<Arc<StandIn>>, body: String) -> (StatusCode, Json<Value>) {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let mut record = st.record.lock().unwrap();
    if let Err(why) = st.verify(&form) {
        record.refused.push(why);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant", "error_description": "Invalid JWT."})),
        );
    }
    // The first token lives 10 s: stale at once by any client's margin.
    let lifetime = if record.grants.is_empty() { 10 } else { 3600 };
    record.grants.push(lifetime);
    (
        StatusCode::OK,
        Json(json!({"access_token": TOKEN, "expires_in": lifetime, "token_type": "Bearer"})),
    )
}

/// Starts the stand-in on an ephemeral port; returns its state and the token URI.
fn start_stand_in(pem: &str) -> (Arc<StandIn>, common::StandIn) {
    let http = common::StandIn::bind();
    let token_uri = format!("{}/token", http.url);
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
    let st = Arc::new(StandIn {
        key: VerifyingKey::new(private.to_public_key()),
        token_uri,
        record: Mutex::default(),
    });
    let app = Router::new()
        .route("/token", post(token))
        .with_state(st.clone());
    (st, http.serve(app))
}

#[test]
fn apply_with_a_service_account_key_refreshes_its_token_once() {
    let pem = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/google-test-service-account.pem"),
    )
    .unwrap();
    let (stand_in, _rt) = start_stand_in(&pem);
    let server = Server::start("x", &["--token", TOKEN]);

    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("service-account.json");
    let key = json!({
        "type": "service_account",
        "project_id": "registrar-test",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": CLIENT_EMAIL,
        "client_id": "100000000000000000000",
        "token_uri": stand_in.token_uri,
    });
    std::fs::write(&key_file, serde_json::to_vec_pretty(&key).unwrap()).unwrap();
    let config =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml"))
            .unwrap();
    std::fs::write(dir.path().join("registry.yaml"), config).unwrap();

    let mut canary = Canary::new();
    canary.add(TOKEN);
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        canary.add(line);
    }
    let out = canary.run(
        "apply",
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(dir.path())
            .args(["--log", "trace", "apply", "--auto-approve"])
            .args([
                "--backend",
                "apigee",
                "--url",
                &server.url,
                "--org",
                "local",
            ])
            .env("GOOGLE_APPLICATION_CREDENTIALS", &key_file)
            // No gcloud credentials, no other kind of credential: the key file it is.
            .env("HOME", dir.path())
            .env_remove("CLOUDSDK_CONFIG")
            .env_remove("APIGEE_TOKEN")
            .env_remove("APIGEE_USERNAME")
            .env_remove("APIGEE_PASSWORD")
            .env_remove("REGISTRAR_LOG")
            .env_remove("REGISTRAR_IDENTITY")
            .env_remove("CI")
            .env("NO_COLOR", "1"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "apply failed (assertions refused: {:?}):\n{stdout}\n{}",
        stand_in.record.lock().unwrap().refused,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Apply complete"), "{stdout}");
    let record = stand_in.record.lock().unwrap();
    assert_eq!(record.refused, Vec::<String>::new(), "assertions refused");
    assert_eq!(record.grants, vec![10, 3600], "one token, then one refresh");
    // The refresh came mid-run: the apply sent many requests, every one accepted.
    let log = server.stderr();
    let requests = log
        .lines()
        .filter(|l| l.contains(" /v1/organizations/local"))
        .count();
    assert!(requests > 2, "{requests} requests:\n{log}");
    assert!(!log.contains(" 401 "), "a request was refused:\n{log}");
}

/// The external-account stand-ins' record: what each endpoint was asked.
#[derive(Default)]
struct Federation {
    sts: Vec<String>,
    impersonations: Vec<String>,
}

const SUBJECT: &str = "eyJ.ci-oidc-token.sig";
const STS_TOKEN: &str = "sts-federated-token";

async fn sts(State(st): State<Arc<Mutex<Federation>>>, body: String) -> (StatusCode, Json<Value>) {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    let get = |k: &str| form.get(k).map(String::as_str).unwrap_or_default();
    let ok = get("grant_type") == "urn:ietf:params:oauth:grant-type:token-exchange"
        && get("subject_token") == SUBJECT
        && get("subject_token_type") == "urn:ietf:params:oauth:token-type:jwt"
        && get("audience")
            == "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/providers/gh"
        && get("requested_token_type") == "urn:ietf:params:oauth:token-type:access_token"
        && get("scope") == "https://www.googleapis.com/auth/cloud-platform";
    st.lock().unwrap().sts.push(if ok {
        "ok".into()
    } else {
        format!("refused {body}")
    });
    match ok {
        true => (
            StatusCode::OK,
            Json(
                json!({"access_token": STS_TOKEN, "issued_token_type": "urn:ietf:params:oauth:token-type:access_token", "token_type": "Bearer", "expires_in": 3600}),
            ),
        ),
        false => (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_grant"})),
        ),
    }
}

async fn impersonate(
    State(st): State<Arc<Mutex<Federation>>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    let bearer = headers.get("authorization").and_then(|v| v.to_str().ok());
    let ok = bearer == Some(&format!("Bearer {STS_TOKEN}"))
        && body["scope"][0] == "https://www.googleapis.com/auth/cloud-platform";
    st.lock().unwrap().impersonations.push(if ok {
        "ok".into()
    } else {
        format!("refused {body}")
    });
    match ok {
        true => (
            StatusCode::OK,
            Json(json!({"accessToken": TOKEN, "expireTime": "2099-01-01T00:00:00Z"})),
        ),
        false => (StatusCode::FORBIDDEN, Json(json!({"error": {"code": 403}}))),
    }
}

#[test]
fn plan_with_workload_identity_federation_and_impersonation() {
    let record = Arc::new(Mutex::new(Federation::default()));
    let app = Router::new()
        .route("/v1/token", post(sts))
        .route("/v1/sa:generateAccessToken", post(impersonate))
        .with_state(record.clone());
    let _stand_in = common::StandIn::bind().serve(app);
    let base = _stand_in.url.clone();
    let server = Server::start("x", &["--token", TOKEN]);

    let dir = tempfile::tempdir().unwrap();
    let subject = dir.path().join("oidc-token");
    std::fs::write(&subject, SUBJECT).unwrap();
    let creds = dir.path().join("external-account.json");
    let file = json!({
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/ci/providers/gh",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": format!("{base}/v1/token"),
        "service_account_impersonation_url": format!("{base}/v1/sa:generateAccessToken"),
        "credential_source": {"file": subject},
    });
    std::fs::write(&creds, serde_json::to_vec(&file).unwrap()).unwrap();
    let mut canary = Canary::new();
    for s in [TOKEN, SUBJECT, STS_TOKEN] {
        canary.add(s);
    }
    let out = canary.run(
        "plan",
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(dir.path())
            .args(["--log", "trace", "plan", "-f"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/minimal.yaml"))
            .args([
                "--backend",
                "apigee",
                "--url",
                &server.url,
                "--org",
                "local",
            ])
            .env("GOOGLE_APPLICATION_CREDENTIALS", &creds)
            .env("HOME", dir.path())
            .env_remove("CLOUDSDK_CONFIG")
            .env_remove("APIGEE_TOKEN")
            .env_remove("APIGEE_USERNAME")
            .env_remove("APIGEE_PASSWORD")
            .env_remove("REGISTRAR_LOG")
            .env("NO_COLOR", "1"),
    );
    let record = record.lock().unwrap();
    assert!(
        out.status.success(),
        "plan failed ({:?} {:?}):\n{}",
        record.sts,
        record.impersonations,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("to create"));
    // One exchange for the whole run: the impersonated token lives until 2099.
    assert_eq!(record.sts, ["ok"]);
    assert_eq!(record.impersonations, ["ok"]);
}
