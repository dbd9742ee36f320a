//! Conformance: `registrar serve` driven by published Apigee clients that nobody here wrote
//! (issue 9, part 6), each through a scenario of developers, products, apps, keys, lists with
//! and without expand, status changes and deletes:
//!
//! - X: Google's google-api-python-client (pinned in `tests/conformance/requirements.txt`)
//!   with the apigee v1 discovery document it bundles — `tests/conformance/x_google_client.py`;
//! - Edge: the Node client apigee-edge-js (pinned in `tests/conformance/package-lock.json`),
//!   which connects with basic auth and reads the org first —
//!   `tests/conformance/edge_apigee_edge_js.js`.
//!
//! The tools live under `<target>/conformance/` (`venv/`, `node/node_modules/`), installed by
//! `tests/run` (which sets `REGISTRAR_CONFORMANCE_REQUIRED=1`, so a missing tool fails the
//! test with a hint). A plain `cargo test` without them skips these tests with a loud
//! message on stderr. `REGISTRAR_CONFORMANCE_DIR` overrides where the tools are looked for.
//!
//! The scripts print step names only; the canary checks their output and the server's log for
//! every key they imported or were issued.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::path::PathBuf;
use std::process::Command;

use canary::Canary;
use common::Server;

/// Where `tests/run` installs the published clients.
fn tools_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("REGISTRAR_CONFORMANCE_DIR") {
        return PathBuf::from(dir);
    }
    // <target>/debug/registrar → <target>/conformance
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_registrar"));
    exe.parent()
        .and_then(|p| p.parent())
        .map(|t| t.join("conformance"))
        .unwrap_or_else(|| PathBuf::from("target/conformance"))
}

/// `Some(path)` when `path` exists; otherwise fails (under `tests/run`) or skips loudly.
fn require(what: &str, path: PathBuf) -> Option<PathBuf> {
    if path.exists() {
        return Some(path);
    }
    let message = format!(
        "conformance: {what} is not installed (looked for `{}`)\n\
         hint: run `tests/run` (the README's test command), which installs the pinned \
         published clients under the target directory",
        path.display()
    );
    if std::env::var("REGISTRAR_CONFORMANCE_REQUIRED").as_deref() == Ok("1") {
        panic!("{message}");
    }
    // Straight to the process's stderr: libtest would swallow eprintln! in a passing test.
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "\n!!! SKIPPED {message}\n");
    None
}

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/conformance")
        .join(name)
}

/// Runs a scenario against `server`, then checks that no key it handled leaked.
fn run_scenario(server: &Server, label: &str, mut cmd: Command) {
    let dir = tempfile::tempdir().unwrap();
    let secrets_out = dir.path().join("minted.json");
    let (import_key, import_secret) = ("conformance-import-key-1", "conformance-import-secret-1");
    let out = cmd
        .env("REGISTRAR_URL", &server.url)
        .env("REGISTRAR_TOKEN", "conformance-token")
        .env("REGISTRAR_ORG", "local")
        .env("CONFORMANCE_IMPORT_KEY", import_key)
        .env("CONFORMANCE_IMPORT_SECRET", import_secret)
        .env("CONFORMANCE_SECRETS_OUT", &secrets_out)
        .output()
        .unwrap_or_else(|e| panic!("{label}: cannot start the client: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let mut canary = Canary::new();
    canary.add_pair(import_key, import_secret);
    if let Ok(text) = std::fs::read_to_string(&secrets_out) {
        let pairs: Vec<(String, String)> = serde_json::from_str(&text).unwrap();
        assert!(!pairs.is_empty(), "{label}: the scenario saw no issued key");
        for (k, s) in pairs {
            canary.add_pair(&k, &s);
        }
    }
    canary.assert_clean(&format!("{label} stdout"), stdout.as_bytes());
    canary.assert_clean(&format!("{label} stderr"), stderr.as_bytes());
    canary.assert_clean(&format!("{label}: serve's log"), server.stderr());
    assert!(
        out.status.success(),
        "{label} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("ok: "),
        "{label}: no closing line: {stdout}"
    );
    eprintln!("{label}: {last}");
}

#[test]
fn x_google_api_python_client_scenario() {
    let dir = tools_dir();
    let Some(python) = require(
        "google-api-python-client (a Python venv)",
        dir.join("venv/bin/python"),
    ) else {
        return;
    };
    if require(
        "google-api-python-client",
        dir.join("venv/requirements.txt"),
    )
    .is_none()
    {
        return;
    }
    let server = Server::start("x", &["--token", "conformance-token"]);
    let mut cmd = Command::new(python);
    cmd.arg(script("x_google_client.py"));
    run_scenario(&server, "google-api-python-client", cmd);
}

#[test]
fn edge_apigee_edge_js_scenario() {
    let dir = tools_dir();
    let Some(modules) = require(
        "apigee-edge-js (npm)",
        dir.join("node/node_modules/apigee-edge-js"),
    ) else {
        return;
    };
    let node_modules = modules.parent().unwrap().to_path_buf();
    let server = Server::start("edge", &["--token", "conformance-token"]);
    let mut cmd = Command::new("node");
    cmd.arg(script("edge_apigee_edge_js.js"))
        .env("NODE_PATH", node_modules);
    run_scenario(&server, "apigee-edge-js", cmd);
}
