//! The HTTP read against `registrar serve` (issues 9 and 16): every app is read exactly once
//! whatever its status or its keys' (the org-wide list filters `status` and `keyStatus`,
//! each "default approved"), over several pages, with more than 1,000 developers; under
//! `--strict-paging` (the worst reading of the docs: `count`/`startKey` ignored next to
//! `expand`, capped at 1,000) the plan is still exact, completing what the expanded list left
//! out by `ids=` batches, and, through a counting proxy that drops `ids` (a platform without
//! that filter), one developer at a time. A plan of the same config proposes no change:
//! nothing that exists is created.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use registrar::config::{load_and_check, validate::Known, yaml::ProcessEnv};
use registrar::model::{self as m, DEFAULT_CREDENTIAL_ID};
use registrar::registry::{AppInput, Registry};

mod common;
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
        let made = store
            .create_app("local", &a.developer, &AppInput::new(a, key))
            .unwrap();
        if a.status == m::Status::Revoked {
            store
                .set_app_status("local", &a.developer, &a.name, m::Status::Revoked)
                .unwrap();
        }
        if key.status == m::Status::Revoked {
            let k = made.credentials[0].consumer_key.expose().to_string();
            store
                .set_key_status("local", &a.developer, &a.name, &k, m::Status::Revoked)
                .unwrap();
        }
    }
    state.apps.len()
}

/// The generated config with every 10th app revoked and every 7th app's key revoked.
fn config_with_statuses(devs: usize, products: usize, apps: usize) -> String {
    let base = generate::config(devs, products, apps);
    let mut out = String::with_capacity(base.len() + apps * 40);
    let mut app = None;
    for line in base.split_inclusive('\n') {
        out.push_str(line);
        if let Some(n) = line.strip_prefix("  - name: app-") {
            app = n.trim().parse::<usize>().ok();
            if let Some(a) = app
                && a % 10 == 0
            {
                out.push_str("    status: revoked\n");
            }
        }
        if line.starts_with("    attributes: {tier: gold}")
            && let Some(a) = app.take()
            && a % 7 == 0
        {
            out.push_str("    credentials: [{id: default, status: revoked}]\n");
        }
    }
    out
}

/// A counting HTTP proxy in front of `serve` that drops the query parameters `drop`.
struct Proxy {
    requests: Arc<AtomicUsize>,
    http: common::StandIn,
}

fn proxy(upstream: &str, drop: &'static [&'static str]) -> Proxy {
    let requests = Arc::new(AtomicUsize::new(0));
    let (count, upstream) = (requests.clone(), upstream.to_string());
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (count, upstream, client) = (count.clone(), upstream.clone(), client.clone());
        async move {
            count.fetch_add(1, Ordering::Relaxed);
            let (parts, body) = req.into_parts();
            let kept: Vec<(String, String)> =
                url::form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .filter(|(k, _)| !drop.contains(&k.as_ref()))
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
            let query = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(kept)
                .finish();
            let target = format!("{upstream}{}?{query}", parts.uri.path());
            let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let mut forward = client.request(parts.method, target).body(body);
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let reply = forward.send().await.unwrap();
            let status = reply.status();
            let content_type = reply.headers().get("content-type").cloned();
            let bytes = reply.bytes().await.unwrap();
            let mut response = axum::response::Response::new(axum::body::Body::from(bytes));
            *response.status_mut() = status;
            if let Some(ct) = content_type {
                response.headers_mut().insert("content-type", ct);
            }
            response
        }
    });
    Proxy {
        requests,
        http: common::StandIn::bind().serve(app),
    }
}

/// What one plan against `serve` cost.
struct Read {
    /// All requests the server saw.
    requests: usize,
    /// Requests for one resource (a developer, product or app by name).
    singles: usize,
    /// Whether the plan failed because a list could not be shown complete.
    failed: bool,
}

fn read_all(
    flavor: &str,
    backend: &str,
    strict: bool,
    drop: Option<&'static [&'static str]>,
) -> Read {
    const APPS: usize = 2_500;
    const DEVS: usize = 1_200;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("registry.yaml");
    std::fs::write(&cfg, config_with_statuses(DEVS, 5, APPS)).unwrap();
    let db = dir.path().join("r.db");
    assert_eq!(populate(&cfg, &db), APPS);
    let log = dir.path().join("serve.log");
    let mut server = Command::new(BIN)
        .args(["--log", "registrar=debug", "--color", "never", "serve"])
        .args(["--listen", "127.0.0.1:0", "--flavor", flavor, "--db"])
        .arg(&db)
        .args(strict.then_some("--strict-paging"))
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
    let through = drop.map(|d| proxy(&url, d));
    let url = through.as_ref().map_or(url, |p| p.http.url.clone());
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
    if out.status.code() == Some(1) && drop.is_some_and(|d| d.contains(&"startKey")) {
        // A list whose completeness cannot be established: the plan fails, naming it.
        assert!(stderr.contains("cannot read every "), "{stderr}");
        assert!(stdout.is_empty(), "no partial plan: {stdout}");
        return Read {
            requests: 0,
            singles: 0,
            failed: true,
        };
    }
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
    assert!(read.contains(&format!("{DEVS} developers")), "{read}");
    let text = std::fs::read_to_string(&log).unwrap();
    let requests: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(" DEBUG GET /") || l.contains(" DEBUG POST /"))
        .collect();
    // A single resource: a path below a collection (`/developers/{email}`, …).
    let singles = requests
        .iter()
        .filter(|l| {
            let path = l.split_whitespace().nth(3).unwrap_or_default();
            path.trim_start_matches("/v1/organizations/local/")
                .contains('/')
        })
        .count();
    assert!(
        read.contains(&format!("with {} HTTP requests", requests.len())),
        "{read}"
    );
    if let Some(p) = &through {
        assert_eq!(
            p.requests.load(Ordering::Relaxed),
            requests.len(),
            "the proxy counts alike"
        );
    }
    eprintln!(
        "{flavor}{}: {} requests, {singles} of them for one resource",
        if strict { " --strict-paging" } else { "" },
        requests.len()
    );
    Read {
        requests: requests.len(),
        singles,
        failed: false,
    }
}

#[test]
fn every_app_once_in_x() {
    let r = read_all("x", "apigee", false, None);
    // Lists only: developers and products by name and expanded (2 + 2, 1 + 1), apps by
    // four status filters, paged by token.
    assert_eq!(r.singles, 0);
    assert!(r.requests <= 16, "{} requests", r.requests);
}

#[test]
fn every_app_once_in_edge() {
    let r = read_all("edge", "apigee-edge", false, None);
    assert_eq!(r.singles, 0);
    // Apps: per status filter an id chain and its expanded pages.
    assert!(r.requests <= 24, "{} requests", r.requests);
}

#[test]
fn strict_paging_is_completed_by_ids_in_x() {
    let r = read_all("x", "apigee", true, None);
    // The expanded developer list stops at 1,000: the other 200 come in two `ids=` batches.
    assert_eq!(r.singles, 0);
    assert!(r.requests <= 20, "{} requests", r.requests);
}

#[test]
fn strict_paging_is_completed_by_ids_in_edge() {
    let r = read_all("edge", "apigee-edge", true, None);
    assert_eq!(r.singles, 0);
    assert!(r.requests <= 28, "{} requests", r.requests);
}

#[test]
fn strict_paging_without_ids_is_completed_one_developer_at_a_time() {
    // Through a proxy that drops `ids`: the batch brings nothing, so it is not repeated, and
    // the 200 developers are read one by one.
    for (flavor, backend) in [("x", "apigee"), ("edge", "apigee-edge")] {
        let r = read_all(flavor, backend, true, Some(&["ids"]));
        assert_eq!(r.singles, 200, "{flavor}");
    }
}

#[test]
fn a_platform_that_ignores_paging_fails_the_plan_loudly() {
    // Through a proxy that drops every cursor: no list can be shown complete past its first
    // page, and the plan says so instead of proposing to create the rest.
    for (flavor, backend) in [("x", "apigee"), ("edge", "apigee-edge")] {
        let r = read_all(flavor, backend, false, Some(&["startKey", "pageToken"]));
        assert!(r.failed, "{flavor}: the plan failed");
    }
}
