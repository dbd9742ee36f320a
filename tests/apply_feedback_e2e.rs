//! Feedback on long runs, end to end: `apply --format json` is one versioned document on
//! stdout (human text on stderr); retries and 429s are counted per change and in the summary;
//! a server that accepts connections and never answers fails the command after the bounded
//! `--timeout` × attempts, with a hint. Outputs go through the secrets canary.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::path::Path;
use std::process::{Command, Output};

use canary::Canary;
use common::Server;
use serde_json::Value;

fn registrar(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("APIGEE_TOKEN", "test-token")
        .env_remove("REGISTRAR_LOG")
        .env_remove("REGISTRAR_IDENTITY")
        .env_remove("CI")
        .output()
        .expect("registrar runs")
}

fn work() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml"),
        dir.path().join("registry.yaml"),
    )
    .unwrap();
    dir
}

fn canary(dir: &Path, outputs: &[(&str, &Output)]) {
    let mut c = Canary::new();
    c.collect_store(
        &dir.join("secrets/local"),
        &dir.join(".registrar/identity.txt"),
    );
    assert!(!c.is_empty(), "the store holds the issued keys");
    for (label, out) in outputs {
        c.check_output(label, out);
    }
}

fn apply_json(server: &Server, dir: &Path, extra: &[&str]) -> (Output, Value) {
    let mut args = vec![
        "apply",
        "--auto-approve",
        "--format",
        "json",
        "--backend",
        "apigee",
        "--url",
        &server.url,
        "--org",
        "local",
    ];
    args.extend_from_slice(extra);
    let out = registrar(dir, &args);
    let text = String::from_utf8_lossy(&out.stdout);
    let doc: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "stdout is one JSON document ({e}):\n{text}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, doc)
}

#[test]
fn apply_json_is_one_document_with_every_change() {
    let server = Server::start("x", &[]);
    let dir = work();
    let (out, doc) = apply_json(&server, dir.path(), &[]);
    assert!(out.status.success());
    assert_eq!(doc["formatVersion"], 1);
    let changes = doc["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2 + 3 + 4 + 1, "{doc:#}");
    for c in changes {
        assert_eq!(c["outcome"], "done", "{c}");
        assert!(c["attempts"].as_u64().unwrap() >= 1, "{c}");
        assert!(c["address"]["path"].is_string() && c["action"].is_string());
        assert!(c["durationMs"].is_u64() && c.get("error").is_none());
    }
    let s = &doc["summary"];
    assert_eq!(s["result"], "complete");
    assert_eq!(s["done"], 10);
    assert_eq!(s["keysStored"], 5);
    assert!(s["requests"].as_u64().unwrap() >= 10, "{s}");
    // People read the plan and the summary on stderr.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("registrar plan for") && err.contains("Apply complete: 10 done"));
    // Again: one document with no changes.
    let (again, doc) = apply_json(&server, dir.path(), &[]);
    assert!(again.status.success());
    assert_eq!(doc["changes"].as_array().unwrap().len(), 0);
    assert_eq!(doc["summary"]["result"], "complete");
    canary(dir.path(), &[("apply", &out), ("again", &again)]);
}

/// A server that allows 2 requests a second, and an apply that sends far more at once: the
/// 429s are retried (honouring Retry-After) and counted, per change and in the summary.
#[test]
fn retries_and_429s_are_counted() {
    let server = Server::start("x", &["--rate-limit", "2/s"]);
    let dir = work();
    let (out, doc) = apply_json(&server, dir.path(), &["--rate-limit", "1000/s"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = &doc["summary"];
    assert_eq!(s["result"], "complete", "{s}");
    assert!(s["rateLimited"].as_u64().unwrap() > 0, "{s}");
    assert!(s["retries"].as_u64().unwrap() > 0, "{s}");
    let per_change: u64 = doc["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["rateLimited"].as_u64().unwrap())
        .sum();
    assert_eq!(per_change, s["rateLimited"].as_u64().unwrap());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rate-limited (429)"), "{err}");
    canary(dir.path(), &[("apply", &out)]);
}

/// A TCP listener that accepts connections and never answers: plan fails once every attempt
/// has timed out (`--timeout 200ms`), with a hint naming the situation.
#[test]
fn a_server_that_never_answers_fails_with_a_hint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    // Accept and hold every connection, answering nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let dir = work();
    let out = registrar(
        dir.path(),
        &[
            "plan",
            "--backend",
            "apigee",
            "--url",
            &url,
            "--org",
            "local",
            "--timeout",
            "200ms",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("timed out after 200ms"), "{err}");
    assert!(err.contains("no answer from the server in 200ms"), "{err}");
    assert!(
        err.contains("hint:") && err.contains("accepts connections but does not answer"),
        "{err}"
    );
    let bad = registrar(dir.path(), &["plan", "--timeout", "soon"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`--timeout soon` is not a duration"));
}
