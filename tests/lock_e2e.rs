//! Apply locks end to end: the real binary, two applies started at the same moment against
//! the embedded registry and against `registrar serve` (X); stale Apigee locks, `force-unlock`,
//! `--lock=false`, and plans, which never lock and never show a lock product.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::{Value, json};

/// A config of `apps` apps, each with one declared credential: enough work that two applies
/// started together overlap.
fn config(apps: usize) -> String {
    let mut s = String::from(
        "version: 1\nowner: lock-test\nsecrets:\n  dir: secrets\n  recipients: []\n\
         developers:\n  - {email: ada@example.com, firstName: Ada, lastName: L, userName: ada}\n\
         products:\n  - {name: orders, displayName: Orders, approvalType: auto, access: public, scopes: [orders.read]}\n\
         apps:\n",
    );
    for i in 0..apps {
        s.push_str(&format!(
            "  - {{name: app-{i:03}, developer: ada@example.com, apiProducts: [orders], credentials: [{{id: main}}]}}\n"
        ));
    }
    s
}

struct Work {
    dir: tempfile::TempDir,
    backend: Vec<String>,
}

impl Work {
    fn new(apps: usize, backend: &[&str]) -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.yaml"), config(apps)).unwrap();
        Work {
            dir,
            backend: backend.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn local(apps: usize) -> Work {
        Work::new(apps, &["--backend", "local"])
    }

    fn x(apps: usize, server: &Server) -> Work {
        Work::new(
            apps,
            &[
                "--backend",
                "apigee",
                "--url",
                &server.url,
                "--org",
                "local",
            ],
        )
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .args(&self.backend)
            .env("NO_COLOR", "1")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_LOG")
            .env_remove("CI")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args).spawn().expect("registrar starts")
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("registrar runs")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?} failed:\n{}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The plan's changes as JSON.
    fn changes(&self, extra: &[&str]) -> Vec<Value> {
        let mut args = vec!["plan", "--format", "json"];
        args.extend(extra);
        let v: Value = serde_json::from_str(&self.ok(&args)).unwrap();
        v["changes"].as_array().unwrap().clone()
    }
}

fn text(out: &Output) -> String {
    format!(
        "rc {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Starts two applies at the same moment; returns both outputs and how long each took.
fn race(w: &Work, args: &[&str]) -> Vec<(Output, Duration)> {
    let started = Instant::now();
    let children = [w.spawn(args), w.spawn(args)];
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            (out, started.elapsed())
        })
        .collect()
}

/// Exactly one of two applies proceeded; the other failed at once naming the holder.
fn one_proceeds(results: &[(Output, Duration)]) {
    let (ok, failed): (Vec<_>, Vec<_>) = results.iter().partition(|(o, _)| o.status.success());
    assert_eq!(
        (ok.len(), failed.len()),
        (1, 1),
        "{}\n---\n{}",
        text(&results[0].0),
        text(&results[1].0)
    );
    let (out, took) = failed[0];
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for part in [
        "is locked by another apply",
        "held by: ",
        "where:   pid ",
        "since:   ",
        "lock id: ",
    ] {
        assert!(err.contains(part), "{part:?} missing:\n{err}");
    }
    assert!(!String::from_utf8_lossy(&out.stdout).contains("Apply complete"));
    assert!(*took < Duration::from_secs(10), "failed after {took:?}");
}

/// Keys per app on `registrar serve`, by credential id.
async fn keys_on_server(server: &Server) -> BTreeMap<String, Vec<String>> {
    let apps = server
        .get("apps?expand=true&includeCred=true&rows=1000")
        .await;
    let mut out = BTreeMap::new();
    for app in apps.body["app"].as_array().unwrap() {
        let ids = app["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["attributes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|a| a["name"] == "registrar-credential")
                    .map(|a| a["value"].as_str().unwrap().to_string())
                    .unwrap_or_else(|| "(untagged)".into())
            })
            .collect();
        out.insert(app["name"].as_str().unwrap().to_string(), ids);
    }
    out
}

fn every_app_holds_its_key(keys: &BTreeMap<String, Vec<String>>, apps: usize) {
    assert_eq!(keys.len(), apps);
    for (app, ids) in keys {
        assert_eq!(ids, &vec!["main".to_string()], "{app}");
    }
}

/// The index lists one stored key per app.
fn stored(w: &Work) -> usize {
    let text = std::fs::read_to_string(w.dir.path().join("secrets/local/index.yaml")).unwrap();
    text.matches("id: main").count()
}

/// Keys per app in the local registry, read through the library.
fn keys_in_registry(w: &Work) -> BTreeMap<String, Vec<String>> {
    use registrar::backend::Backend;
    let db = w.dir.path().join(".registrar/registry.db");
    let b = registrar::backend::local::LocalBackend::open(&db, "local").unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let actual = rt
        .block_on(b.read(registrar::model::ReadScope::ALL))
        .unwrap();
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in &actual.apps {
        out.entry(a.value.name.clone()).or_default();
    }
    for k in &actual.keys {
        out.entry(k.app.clone())
            .or_default()
            .push(k.id.clone().unwrap_or_else(|| "(untagged)".into()));
    }
    out
}

#[test]
fn two_local_applies_at_once_one_waits_or_fails() {
    const APPS: usize = 150;
    let w = Work::local(APPS);
    one_proceeds(&race(&w, &["apply", "--auto-approve"]));
    assert!(w.changes(&[]).is_empty());

    // With a timeout, the second waits for the first and then finds nothing left to do.
    let w = Work::local(APPS);
    let results = race(&w, &["apply", "--auto-approve", "--lock-timeout", "30s"]);
    for (out, _) in &results {
        assert!(out.status.success(), "{}", text(out));
    }
    let waited = results
        .iter()
        .filter(|(o, _)| String::from_utf8_lossy(&o.stderr).contains("Waiting up to 30s"))
        .count();
    assert_eq!(waited, 1, "exactly one apply waited");
    assert!(w.changes(&[]).is_empty());
    every_app_holds_its_key(&keys_in_registry(&w), APPS);
    assert_eq!(stored(&w), APPS);
    // Released with the process: nothing holds it now.
    w.ok(&["apply", "--auto-approve"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_applies_at_once_against_serve() {
    const APPS: usize = 40;
    let server = Server::start("x", &["--latency", "20ms"]);
    let w = Work::x(APPS, &server);
    let results = tokio::task::block_in_place(|| race(&w, &["apply", "--auto-approve"]));
    one_proceeds(&results);
    let lock = server.get("apiproducts/registrar-lock-lock-test").await;
    assert_eq!(lock.status, 404, "released: {}", lock.text);

    let server = Server::start("x", &["--latency", "20ms"]);
    let w = Work::x(APPS, &server);
    let results = tokio::task::block_in_place(|| {
        race(&w, &["apply", "--auto-approve", "--lock-timeout", "30s"])
    });
    for (out, _) in &results {
        assert!(out.status.success(), "{}", text(out));
    }
    every_app_holds_its_key(&keys_on_server(&server).await, APPS);
    assert_eq!(stored(&w), APPS);
    let w2 = w;
    let changes = tokio::task::block_in_place(|| w2.changes(&["--prune"]));
    assert!(changes.is_empty(), "{changes:?}");
    let products = server.get("apiproducts").await;
    assert!(
        !products.text.contains("registrar-lock"),
        "{}",
        products.text
    );
}

/// A lock product as another run would have created it.
fn lock_product(id: &str, expires: &str) -> Value {
    json!({
        "name": "registrar-lock-lock-test",
        "displayName": "registrar-lock-lock-test",
        "approvalType": "manual",
        "attributes": [
            {"name": "access", "value": "private"},
            {"name": "registrar-lock", "value": "lock"},
            {"name": "registrar-lock-id", "value": id},
            {"name": "registrar-lock-who", "value": "ci@runner-7"},
            {"name": "registrar-lock-where", "value": "CI job 991, pid 12"},
            {"name": "registrar-lock-since", "value": "2025-01-01T00:00:00Z"},
            {"name": "registrar-lock-expires", "value": expires},
        ],
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn locks_on_apigee_expire_are_forced_and_stay_out_of_plans() {
    let server = Server::start("x", &[]);
    let w = Work::x(3, &server);
    let id = "6b1d1d9e-0000-4000-8000-000000000001";
    server
        .post("apiproducts", lock_product(id, "2999-01-01T00:00:00Z"))
        .await
        .expect(201);

    // A plan takes no lock and never shows one, even with --prune.
    let run = |args: &[&str]| tokio::task::block_in_place(|| w.run(args));
    let plan = run(&["plan", "--prune"]);
    assert!(plan.status.success(), "{}", text(&plan));
    assert!(!text(&plan).contains("registrar-lock"), "{}", text(&plan));
    let changes = tokio::task::block_in_place(|| w.changes(&["--prune"]));
    assert_eq!(changes.len(), 5, "{changes:?}");

    // Apply fails at once, naming the holder.
    let out = run(&["apply", "--auto-approve"]);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        err.contains("ci@runner-7") && err.contains("CI job 991") && err.contains(id),
        "{err}"
    );
    assert!(
        err.contains(&format!("registrar force-unlock {id}")),
        "{err}"
    );

    // --lock=false goes ahead (with a warning) and leaves the other run's lock alone.
    let out = run(&["apply", "--auto-approve", "--lock=false"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("locking is off"));
    server
        .get("apiproducts/registrar-lock-lock-test")
        .await
        .expect(200);

    // force-unlock refuses a wrong id, removes with the right one.
    let out = run(&["force-unlock", "not-the-id"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not match"), "{}", text(&out));
    server
        .get("apiproducts/registrar-lock-lock-test")
        .await
        .expect(200);
    let out = run(&["force-unlock", id]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("ci@runner-7"));
    server
        .get("apiproducts/registrar-lock-lock-test")
        .await
        .expect(404);

    // An expired lock is taken over; this run's own lock is gone afterwards.
    server
        .post("apiproducts", lock_product(id, "2020-01-01T00:00:00Z"))
        .await
        .expect(201);
    let w2 = Work::x(4, &server);
    let out = tokio::task::block_in_place(|| w2.run(&["apply", "--auto-approve"]));
    assert!(out.status.success(), "{}", text(&out));
    server
        .get("apiproducts/registrar-lock-lock-test")
        .await
        .expect(404);
    let products = server.get("apiproducts").await;
    assert!(
        !products.text.contains("registrar-lock"),
        "{}",
        products.text
    );
}

#[test]
fn local_force_unlock_refuses() {
    let w = Work::local(1);
    w.ok(&["apply", "--auto-approve"]);
    let out = w.run(&["force-unlock", "whatever"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("no lock is held"), "{}", text(&out));
    assert!(Path::new(&w.dir.path().join(".registrar/registry.db.lock")).exists());
}

/// The lock of owner `lock-test` on `server`, taken through the library as apply takes it.
async fn take_lock(
    server: &Server,
) -> (
    registrar::backend::apigee::ApigeeBackend,
    registrar::backend::Lock,
) {
    use registrar::backend::Backend as _;
    use registrar::backend::apigee::{ApigeeBackend, ApigeeConfig, Auth, Flavor};
    let config = ApigeeConfig::new(
        Flavor::X,
        "local",
        Auth::Bearer(registrar::model::Secret::new("x")),
    )
    .with_base_url(Some(&server.url));
    let backend = ApigeeBackend::new(config).expect("backend");
    let req = registrar::backend::LockRequest {
        owner: "lock-test".into(),
        holder: registrar::lock::Holder {
            id: "4f0a9a52-5d0e-4c64-9d55-000000000001".into(),
            who: "test@host".into(),
            place: "lock_e2e".into(),
            since_ms: 0,
            expires_ms: None,
        },
        timeout: Duration::ZERO,
        ttl: Duration::from_secs(300),
    };
    let lock = backend.lock(&req).await.expect("lock");
    (backend, lock)
}

/// How many times the server has answered a GET of the lock product.
fn lock_reads(server: &Server) -> usize {
    server
        .stderr()
        .lines()
        .filter(|l| l.contains("GET /v1/organizations/local/apiproducts/registrar-lock-lock-test "))
        .count()
}

/// Waits until the server has answered `n` GETs of the lock product.
async fn until_lock_reads(server: &Server, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while lock_reads(server) < n {
        assert!(
            Instant::now() < deadline,
            "no lock check after 10 s:\n{}",
            server.stderr()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lock_checked_ahead_is_released_with_one_request_and_only_if_still_ours() {
    use registrar::backend::Backend as _;
    let server = Server::start("x", &[]);
    let name = "apiproducts/registrar-lock-lock-test";

    // Checked ahead (as apply asks once its last change has started): release deletes it
    // without reading it again.
    let (backend, lock) = take_lock(&server).await;
    lock.check_soon().expect("a remote lock").notify_one();
    until_lock_reads(&server, 1).await;
    backend.unlock(lock).await.expect("release");
    assert_eq!(
        lock_reads(&server),
        1,
        "one check, ahead of release:\n{}",
        server.stderr()
    );
    assert_eq!(server.get(name).await.status, 404);

    // Taken over between the lock and the check: the check finds it another run's, and
    // release leaves that run's lock in place.
    let (backend, lock) = take_lock(&server).await;
    let theirs = lock_product(
        "7d1c2b3a-0000-4000-8000-000000000002",
        "2999-01-01T00:00:00Z",
    );
    assert!(server.delete(name).await.status.is_success());
    assert_eq!(server.post("apiproducts", theirs).await.status, 201);
    let before = lock_reads(&server);
    lock.check_soon().expect("a remote lock").notify_one();
    until_lock_reads(&server, before + 1).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !lock.lost() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(lock.lost(), "the check ahead found the lock taken over");
    backend.unlock(lock).await.expect("release");
    let still = server.get(name).await;
    assert_eq!(still.status, 200, "{}", still.text);
    assert!(still.text.contains("7d1c2b3a"), "{}", still.text);
}

/// A request the server logged: method, path, when it started and ended.
fn logged(line: &str) -> Option<(String, String, std::time::SystemTime, std::time::SystemTime)> {
    // `2026-12-01T11:13:36.785150Z DEBUG POST /v1/... 201 202ms`
    let mut words = line.split_whitespace();
    let ended = humantime::parse_rfc3339(words.next()?).ok()?;
    let (_, method, path, _) = (words.next()?, words.next()?, words.next()?, words.next()?);
    let took: u64 = words.next()?.strip_suffix("ms")?.parse().ok()?;
    Some((
        method.into(),
        path.into(),
        ended - Duration::from_millis(took),
        ended,
    ))
}

#[test]
fn apply_checks_its_lock_while_the_last_change_runs() {
    // At 500 ms per request, the release check starts with the last change (not after it),
    // and release is then the DELETE alone.
    let server = Server::start("x", &["--latency", "500ms"]);
    let w = Work::x(1, &server);
    w.ok(&["apply", "--auto-approve"]);
    let log = server.stderr();
    let requests: Vec<_> = log.lines().filter_map(logged).collect();
    let lock = "/v1/organizations/local/apiproducts/registrar-lock-lock-test";
    let checks: Vec<_> = requests
        .iter()
        .filter(|(m, p, ..)| m == "GET" && p == lock)
        .collect();
    assert_eq!(checks.len(), 1, "one check of the lock:\n{log}");
    let app = requests
        .iter()
        .find(|(m, p, ..)| m == "POST" && p.ends_with("/apps"))
        .unwrap_or_else(|| panic!("the app's create:\n{log}"));
    assert!(
        checks[0].2 < app.3,
        "the check started before the app's create ended:\n{log}"
    );
    let delete = requests
        .iter()
        .find(|(m, p, ..)| m == "DELETE" && p == lock)
        .unwrap_or_else(|| panic!("the release:\n{log}"));
    assert!(delete.2 >= checks[0].3, "released after the check:\n{log}");
}
