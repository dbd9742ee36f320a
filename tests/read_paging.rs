//! The HTTP read of a multi-page org against `registrar serve` (issue 16): every app is read
//! exactly once (a plan of the same config has no changes), and the requests stay those of
//! the paged list calls: per 1,000 apps one id page and one expanded page.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use registrar::config::{load_and_check, validate::Known, yaml::ProcessEnv};
use registrar::model::{self as m, DEFAULT_CREDENTIAL_ID};
use registrar::registry::{AppInput, Registry};

#[path = "../benches/common/generate.rs"]
mod generate;

const BIN: &str = env!("CARGO_BIN_EXE_registrar");

/// Writes the desired state of `config` into a fresh registry at `db` (as the bench does).
fn populate(config: &Path, db: &Path) -> usize {
    let (desired, diags) = load_and_check(&[config.to_path_buf()], &ProcessEnv, &Known::default());
    assert!(diags.is_empty(), "{:?}", &diags[..diags.len().min(3)]);
    let state = desired.state();
    let mut store = Registry::open(db).unwrap();
    store.ensure_org("local").unwrap();
    for d in &state.developers {
        store.create_developer("local", &d.into()).unwrap();
    }
    for p in &state.products {
        store.create_product("local", &p.into()).unwrap();
    }
    let keys: HashMap<(&str, &str), &m::DesiredKey> = state
        .keys
        .iter()
        .filter(|k| k.id == DEFAULT_CREDENTIAL_ID)
        .map(|k| ((k.developer.as_str(), k.app.as_str()), k))
        .collect();
    for a in &state.apps {
        let key = keys[&(a.developer.as_str(), a.name.as_str())];
        store
            .create_app("local", &a.developer, &AppInput::new(a, key))
            .unwrap();
    }
    state.apps.len()
}

fn read_all_pages(flavor: &str, backend: &str) {
    const APPS: usize = 2_500;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("registry.yaml");
    std::fs::write(&cfg, generate::config(50, 5, APPS)).unwrap();
    let db = dir.path().join("r.db");
    assert_eq!(populate(&cfg, &db), APPS);
    let log = dir.path().join("serve.log");
    let mut server = Command::new(BIN)
        .args(["--log", "registrar=debug", "--color", "never", "serve"])
        .args(["--listen", "127.0.0.1:0", "--flavor", flavor, "--db"])
        .arg(&db)
        .env_remove("REGISTRAR_SERVE_TOKEN")
        .env_remove("REGISTRAR_LOG")
        .stdout(Stdio::piped())
        .stderr(File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let out = Command::new(BIN)
        .args(["--log", "info", "--color", "never", "plan", "-f"])
        .arg(&cfg)
        .args(["--backend", backend, "--url", &url])
        .args(["--org", "local", "--detailed-exitcode"])
        .current_dir(dir.path())
        .env("APIGEE_TOKEN", "x")
        .env_remove("REGISTRAR_LOG")
        .output()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = server.kill();
    let _ = server.wait();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Exit 2 only for the notes that the (empty) secrets store lacks the keys' secrets:
    // no resource change, so every app was read and matched.
    assert!(
        matches!(out.status.code(), Some(0) | Some(2)),
        "{stdout}\n{stderr}"
    );
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Plan:") || l.starts_with("No changes"))
        .unwrap_or_else(|| panic!("no summary:\n{stdout}\n{stderr}"));
    assert!(
        summary.starts_with("No changes") || summary.starts_with("Plan: 0 to create"),
        "an app was not read, or read twice: {summary}"
    );
    let read = stderr
        .lines()
        .find(|l| l.contains(" read "))
        .unwrap_or_else(|| panic!("no read line:\n{stderr}"));
    assert!(read.contains(&format!("{APPS} apps")), "{read}");
    let text = std::fs::read_to_string(&log).unwrap();
    let app_gets = text
        .lines()
        .filter(|l| l.contains(" DEBUG GET /v1/organizations/local/apps "))
        .count();
    let all = text
        .lines()
        .filter(|l| l.contains(" DEBUG GET /") || l.contains(" DEBUG POST /"))
        .count();
    // 2,500 apps in pages of 1,000 with an inclusive startKey: 3 id pages, 3 expanded pages.
    assert_eq!(app_gets, 6, "{read}\n{text}");
    // One page of developers and one of products besides.
    assert_eq!(all, 8, "{read}");
    assert!(read.contains("with 8 HTTP requests"), "{read}");
}

#[test]
fn every_app_once_in_x() {
    read_all_pages("x", "apigee");
}

#[test]
fn every_app_once_in_edge() {
    read_all_pages("edge", "apigee-edge");
}
