//! `registrar serve` behaviour shared by both flavours: auth, limits, malformed input,
//! fault injection, logging, concurrency, startup refusals and graceful shutdown.

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use base64::Engine;
use common::{Server, assert_edge_error, assert_x_error, send};
use serde_json::json;

#[tokio::test]
async fn token_is_required_when_set_in_both_flavours() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &["--token", "t0ken-value"]);
        let none = send(s.request("GET", "developers")).await;
        let wrong = send(s.request("GET", "developers").bearer_auth("nope")).await;
        for r in [&none, &wrong] {
            match flavor {
                "x" => assert_x_error(r, 401, "UNAUTHENTICATED", "registrar.Unauthorized"),
                _ => assert_edge_error(r, 401, "registrar.Unauthorized"),
            }
        }
        send(s.request("GET", "developers").bearer_auth("t0ken-value"))
            .await
            .expect(200);
        let basic = base64::engine::general_purpose::STANDARD.encode("admin:t0ken-value");
        send(
            s.request("GET", "developers")
                .header("authorization", format!("Basic {basic}")),
        )
        .await
        .expect(200);
        // Unknown routes are behind the token too.
        assert_eq!(send(s.request("GET", "/nothing")).await.status, 401);
        assert!(
            !s.stderr().contains("t0ken-value"),
            "the token is never logged"
        );
    }
}

#[tokio::test]
async fn malformed_input_gets_400_and_big_bodies_413() {
    let s = Server::start("x", &[]);
    let bad_json = send(
        s.request("POST", "developers")
            .header("content-type", "application/json")
            .body("{\"email\":"),
    )
    .await;
    assert_x_error(
        &bad_json,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );
    assert!(
        bad_json.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("malformed JSON")
    );
    let wrong_type = s.post("developers", json!({"email": 5})).await;
    assert_x_error(
        &wrong_type,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );
    let empty = send(s.request("POST", "developers")).await;
    assert_x_error(&empty, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");
    let bad_path = s.get("developers/%FF%FE").await;
    assert_x_error(
        &bad_path,
        400,
        "INVALID_ARGUMENT",
        "registrar.InvalidArgument",
    );
    let huge = "x".repeat(1024 * 1024 + 10);
    let too_big = send(
        s.request("POST", "developers")
            .header("content-type", "application/json")
            .body(huge),
    )
    .await;
    assert_x_error(
        &too_big,
        413,
        "INVALID_ARGUMENT",
        "registrar.PayloadTooLarge",
    );
    let method = send(s.request("PATCH", "developers")).await;
    assert_x_error(&method, 405, "UNIMPLEMENTED", "registrar.MethodNotAllowed");
    let bad_key_time = s
        .post(
            "developers",
            json!({"email": "a@x.com", "firstName": "a", "lastName": "b", "userName": "c"}),
        )
        .await;
    bad_key_time.expect(201);
    s.post("developers/a%40x.com/apps", json!({"name": "w"}))
        .await
        .expect(201);
    let r = s
        .post(
            "developers/a%40x.com/apps/w/keys/create",
            json!({"consumerKey": "k", "consumerSecret": "s", "expiresInSeconds": "soon"}),
        )
        .await;
    assert_x_error(&r, 400, "INVALID_ARGUMENT", "registrar.InvalidArgument");

    let edge = Server::start("edge", &[]);
    let r = send(
        edge.request("POST", "developers")
            .header("content-type", "application/json")
            .body("[1,"),
    )
    .await;
    assert_edge_error(&r, 400, "registrar.InvalidArgument");
    let r = send(
        edge.request("POST", "apiproducts")
            .header("content-type", "application/json")
            .body(vec![b' '; (1 << 20) + 1]),
    )
    .await;
    assert_edge_error(&r, 413, "registrar.PayloadTooLarge");
    let r = edge.get("/v1/organizations/nope/apiproducts").await;
    assert_edge_error(&r, 404, "organizations.OrganizationDoesNotExist");
}

#[tokio::test]
async fn several_orgs_can_be_served() {
    let s = Server::start("x", &["--org", "one", "--org", "two"]);
    s.get("/v1/organizations/one/developers").await.expect(200);
    s.get("/v1/organizations/two/developers").await.expect(200);
    assert_eq!(
        s.get("/v1/organizations/local/developers").await.status,
        404
    );
}

async fn statuses(s: &Server, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(s.get("apiproducts").await.status.as_u16());
    }
    out
}

#[tokio::test]
async fn fail_rate_is_reproducible_with_a_seed() {
    let a = Server::start("x", &["--fail-rate", "0.5", "--seed", "42"]);
    let b = Server::start("x", &["--fail-rate", "0.5", "--seed", "42"]);
    let (sa, sb) = (statuses(&a, 30).await, statuses(&b, 30).await);
    assert_eq!(sa, sb);
    assert!(sa.contains(&503) && sa.contains(&200), "{sa:?}");
    let c = Server::start("x", &["--fail-rate", "0.5", "--seed", "43"]);
    assert_ne!(statuses(&c, 30).await, sa);
    let failed = loop {
        let r = a.get("apiproducts").await;
        if r.status == 503 {
            break r;
        }
    };
    assert_x_error(&failed, 503, "UNAVAILABLE", "registrar.ServiceUnavailable");
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    for flavor in ["x", "edge"] {
        let s = Server::start(flavor, &["--rate-limit", "5/s"]);
        let mut limited = None;
        for _ in 0..20 {
            let r = s.get("apiproducts").await;
            if r.status == 429 {
                limited = Some(r);
                break;
            }
        }
        let r = limited.expect("no 429 within 20 quick requests at 5/s");
        let retry: u64 = r.headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
        match flavor {
            "x" => assert_x_error(&r, 429, "RESOURCE_EXHAUSTED", "registrar.RateLimitExceeded"),
            _ => assert_edge_error(&r, 429, "registrar.RateLimitExceeded"),
        }
    }
}

#[tokio::test]
async fn latency_delays_every_answer() {
    let s = Server::start("edge", &["--latency", "150ms"]);
    let start = Instant::now();
    s.get("apiproducts").await.expect(200);
    assert!(start.elapsed() >= Duration::from_millis(150));
}

#[tokio::test]
async fn one_debug_line_per_request_without_keys_or_bodies() {
    let s = Server::start("x", &[]);
    let app = s.seed("log@example.com", "p", "w").await;
    let key = app["credentials"][0]["consumerKey"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = app["credentials"][0]["consumerSecret"]
        .as_str()
        .unwrap()
        .to_string();
    s.get(&format!("developers/log%40example.com/apps/w/keys/{key}"))
        .await
        .expect(200);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log = s.stderr();
    assert!(
        log.contains(
            "GET /v1/organizations/local/developers/log%40example.com/apps/w/keys/*** 200"
        ),
        "{log}"
    );
    assert!(
        log.contains("POST /v1/organizations/local/developers 201"),
        "{log}"
    );
    assert_eq!(
        log.lines().filter(|l| l.contains("DEBUG")).count(),
        4,
        "{log}"
    );
    assert!(!log.contains(&key) && !log.contains(&secret), "{log}");
    assert!(!log.contains("Lovelace"), "bodies are not logged");
}

#[tokio::test]
async fn concurrent_clients_are_served() {
    let s = std::sync::Arc::new(Server::start("x", &[]));
    s.seed("c@example.com", "p", "first").await;
    let mut tasks = Vec::new();
    for i in 0..24 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                s.post(
                    "developers/c%40example.com/apps",
                    json!({"name": format!("app{i}"), "apiProducts": ["p"]}),
                )
                .await
                .status
                .as_u16()
            } else {
                s.get("apps?expand=true").await.status.as_u16()
            }
        }));
    }
    for t in tasks {
        let status = t.await.unwrap();
        assert!(status == 201 || status == 200, "{status}");
    }
    let apps = s.get("developers/c%40example.com/apps").await.body;
    assert_eq!(apps["app"].as_array().unwrap().len(), 13);
}

#[test]
fn refuses_to_listen_off_loopback_without_a_token() {
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(["serve", "--listen", "0.0.0.0:0", "--db"])
        .arg(tempfile::tempdir().unwrap().path().join("r.db"))
        .env_remove("REGISTRAR_SERVE_TOKEN")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refusing to listen on `0.0.0.0:0` without `--token`"),
        "{err}"
    );
    assert!(err.contains("hint: pass `--token T`"), "{err}");
    assert!(out.stdout.is_empty());
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(["serve", "--listen", "127.0.0.1:0", "--rate-limit", "lots"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("100/s"));
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(["serve", "--listen", "127.0.0.1:0", "--latency", "soon"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hint: write it like `50ms`"), "{err}");
}

#[tokio::test]
async fn sigterm_shuts_down_gracefully_and_data_persists() {
    let mut s = Server::start("x", &[]);
    s.seed("p@example.com", "p", "w").await;
    let status = Command::new("kill")
        .args(["-TERM", &s.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(s.wait_exit(), "exit status 0 after SIGTERM");
    let store = registrar::registry::Registry::open(s.db()).unwrap();
    let app = store.get_app("local", "p@example.com", "w").unwrap();
    assert_eq!(app.credentials.len(), 1);
}
