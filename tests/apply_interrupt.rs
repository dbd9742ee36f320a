//! An apply interrupted against `registrar serve`, by SIGINT (graceful: exit 130 and a
//! summary) and by `kill -9` at seeded random moments: each followed by a second apply, which
//! must converge with exactly one stored file per key on the platform, every file readable by
//! the `age` CLI, no temp files and no journal left.
//!
//! Figures (runs, times) are printed: `cargo test --test apply_interrupt -- --nocapture`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::Server;
use rand::{Rng, SeedableRng};
use serde_json::Value;

const DEVELOPER: &str = "load@example.com";

/// A config with `apps` apps of one developer, each with its one default key.
fn config(apps: usize) -> String {
    let mut s = String::from(
        "version: 1\nowner: interrupt-test\nsecrets:\n  dir: secrets\n  recipients: []\n\
         developers:\n  - email: load@example.com\n    firstName: Load\n    lastName: Test\n    userName: load\n\
         products:\n  - name: p\n    displayName: P\n    approvalType: auto\n    scopes: [read]\n\
         apps:\n",
    );
    for i in 0..apps {
        s.push_str(&format!(
            "  - name: app-{i:04}\n    developer: {DEVELOPER}\n    apiProducts: [p]\n"
        ));
    }
    s
}

/// A work directory pointed at a server.
struct Work {
    dir: tempfile::TempDir,
    url: String,
}

impl Work {
    fn new(server: &Server, apps: usize) -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.yaml"), config(apps)).unwrap();
        Work {
            dir,
            url: server.url.clone(),
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .args(["--backend", "apigee", "--url", &self.url, "--org", "local"])
            .env("NO_COLOR", "1")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_LOG")
            .env_remove("REGISTRAR_IDENTITY")
            .env_remove("CI");
        cmd
    }

    /// Starts `apply --auto-approve` in the background, output to files.
    fn spawn_apply(&self, label: &str) -> Child {
        let out = std::fs::File::create(self.path(&format!("{label}.out"))).unwrap();
        let err = std::fs::File::create(self.path(&format!("{label}.err"))).unwrap();
        self.command(&["apply", "--auto-approve"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("registrar runs")
    }

    fn output(&self, label: &str) -> (String, String) {
        let read = |ext: &str| {
            std::fs::read_to_string(self.path(&format!("{label}.{ext}"))).unwrap_or_default()
        };
        (read("out"), read("err"))
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("registrar runs")
    }

    /// Applies to completion; returns its stderr.
    fn apply_ok(&self, what: &str) -> String {
        let out = self.run(&["apply", "--auto-approve"]);
        assert!(
            out.status.success(),
            "{what}: apply failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            tail(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `plan --detailed-exitcode` says there is nothing to do.
    fn assert_converged(&self, what: &str) {
        let out = self.run(&["plan", "--detailed-exitcode"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{what}: the plan after the second apply is not empty:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            tail(&out.stderr)
        );
    }

    /// Journal lines written so far (keys stored by the running apply).
    fn journal_lines(&self) -> usize {
        std::fs::read_to_string(self.path("secrets/local/index.journal"))
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// Every file under the secrets dir, relative: (`.age` files, everything else that is not
/// `index.yaml`, `target.yaml` or `applied.json`).
fn store_files(dir: &Path) -> (BTreeSet<String>, Vec<String>) {
    fn walk(dir: &Path, rel: &str, age: &mut BTreeSet<String>, other: &mut Vec<String>) {
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let path = if rel.is_empty() {
                name.clone()
            } else {
                format!("{rel}/{name}")
            };
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &path, age, other);
            } else if name.ends_with(".age") {
                age.insert(path);
            } else if !["index.yaml", "target.yaml", "applied.json"].contains(&path.as_str()) {
                other.push(path);
            }
        }
    }
    let mut age = BTreeSet::new();
    let mut other = Vec::new();
    walk(dir, "", &mut age, &mut other);
    (age, other)
}

/// The platform's keys: consumer key → (app, consumer secret).
fn platform_keys(
    server: &Server,
    rt: &tokio::runtime::Runtime,
) -> BTreeMap<String, (String, String)> {
    let apps = rt
        .block_on(server.get("developers/load%40example.com/apps?expand=true"))
        .expect(200)
        .body;
    let mut keys = BTreeMap::new();
    for app in apps["app"].as_array().cloned().unwrap_or_default() {
        let name = app["name"].as_str().unwrap().to_string();
        for c in app["credentials"].as_array().cloned().unwrap_or_default() {
            let key = c["consumerKey"].as_str().unwrap().to_string();
            let secret = c["consumerSecret"].as_str().unwrap().to_string();
            let dup = keys.insert(key, (name.clone(), secret));
            assert!(dup.is_none(), "a consumer key twice on the platform");
        }
    }
    keys
}

/// Decrypts `file` with the `age` CLI and the local identity; returns (key, secret).
fn age_decrypt(work: &Work, file: &str) -> (String, String) {
    let out = Command::new("age")
        .args(["-d", "-i"])
        .arg(work.path(".registrar/identity.txt"))
        .arg(work.path("secrets/local").join(file))
        .output()
        .expect("the `age` CLI is installed (tests/run installs it)");
    assert!(
        out.status.success(),
        "age -d {file}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        doc["consumerKey"].as_str().unwrap().to_string(),
        doc["consumerSecret"].as_str().unwrap().to_string(),
    )
}

/// The store after a completed apply: index.yaml names every `.age` file exactly once and
/// nothing else; no journal, no temp files; one file per platform key and one key per app.
/// Files in `decrypt` (all when `None`) are decrypted with the `age` CLI and compared with
/// the platform. Returns the number of files.
fn assert_store_matches_platform(
    what: &str,
    work: &Work,
    server: &Server,
    rt: &tokio::runtime::Runtime,
    apps: usize,
    decrypt: Option<&BTreeSet<String>>,
) -> usize {
    let dir = work.path("secrets/local");
    let (files, other) = store_files(&dir);
    assert!(other.is_empty(), "{what}: left in the store: {other:?}");
    let index: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("index.yaml")).unwrap()).unwrap();
    let entries = index["keys"].as_array().cloned().unwrap_or_default();
    let mut named = BTreeMap::new();
    for e in &entries {
        let file = e["file"].as_str().unwrap().to_string();
        *named.entry(file).or_insert(0) += 1;
    }
    assert!(
        named.values().all(|n| *n == 1),
        "{what}: a file named twice in index.yaml"
    );
    let named: BTreeSet<String> = named.into_keys().collect();
    assert_eq!(named, files, "{what}: index.yaml and the key files differ");

    let platform = platform_keys(server, rt);
    assert_eq!(
        platform.len(),
        apps,
        "{what}: one key per app on the platform"
    );
    let per_app: BTreeSet<&String> = platform.values().map(|(app, _)| app).collect();
    assert_eq!(per_app.len(), apps, "{what}: an app holds two keys");
    assert_eq!(
        files.len(),
        apps,
        "{what}: one stored file per platform key"
    );
    // Fingerprints in the index match the platform's keys, one for one.
    let fingerprints: BTreeSet<String> = platform
        .keys()
        .map(|k| registrar::model::fingerprint(k.as_bytes()))
        .collect();
    let indexed: BTreeSet<String> = entries
        .iter()
        .map(|e| e["consumerKeyFingerprint"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        indexed, fingerprints,
        "{what}: the index and the platform disagree"
    );
    for file in files
        .iter()
        .filter(|f| decrypt.is_none_or(|d| d.contains(*f)))
    {
        let (key, secret) = age_decrypt(work, file);
        let (app, platform_secret) = platform
            .get(&key)
            .unwrap_or_else(|| panic!("{what}: {file} holds a key the platform lacks"));
        assert!(
            file.contains(&format!("/{app}/")),
            "{what}: {file} holds {app}'s key"
        );
        assert_eq!(
            &secret, platform_secret,
            "{what}: {file} holds another secret"
        );
    }
    files.len()
}

/// `secrets list` has no complaint about the store.
fn assert_no_store_warnings(what: &str, work: &Work) {
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(work.dir.path())
        .args(["secrets", "list"])
        .env_remove("REGISTRAR_LOG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{what}: secrets list failed");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains("not in index.yaml")
            && !err.contains("interrupted write")
            && !err.contains("missing"),
        "{what}: secrets list warns:\n{err}"
    );
}

/// Files written (or rewritten) since `since`.
fn files_since(work: &Work, since: std::time::SystemTime) -> BTreeSet<String> {
    let dir = work.path("secrets/local");
    store_files(&dir)
        .0
        .into_iter()
        .filter(|f| {
            std::fs::metadata(dir.join(f))
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since)
        })
        .collect()
}

#[test]
fn sigint_stops_gracefully_and_the_next_apply_converges() {
    const APPS: usize = 300;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = Server::start("x", &["--latency", "20ms"]);
    let work = Work::new(&server, APPS);
    let started = Instant::now();
    let mut child = work.spawn_apply("interrupted");
    // Interrupt once a few dozen keys are stored: in the middle of the work.
    while work.journal_lines() < 30 {
        assert!(
            child.try_wait().unwrap().is_none(),
            "apply ended before it was interrupted"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "apply never stored a key"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let signalled = Instant::now();
    let stored_at_signal = work.journal_lines();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    let drained = signalled.elapsed();
    let (stdout, stderr) = work.output("interrupted");
    assert_eq!(
        status.code(),
        Some(130),
        "exit 130 on SIGINT\nstdout:\n{stdout}\nstderr:\n{}",
        tail(stderr.as_bytes())
    );
    assert!(stderr.contains("SIGINT: stopping"), "{stderr}");
    assert!(stdout.contains("Apply interrupted: "), "{stdout}");
    assert!(stderr.contains("not attempted: create app "), "{stderr}");
    assert!(
        drained < Duration::from_secs(30),
        "in-flight changes drain in time"
    );

    // The store is consistent at once: index.yaml written, journal folded, no temp files,
    // and every file's key is indexed.
    let dir = work.path("secrets/local");
    let (files, other) = store_files(&dir);
    assert!(other.is_empty(), "left in the store: {other:?}");
    let index: Value =
        serde_yaml::from_str(&std::fs::read_to_string(dir.join("index.yaml")).unwrap()).unwrap();
    let named: BTreeSet<String> = index["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(named, files, "index.yaml names exactly the key files");
    let stored = files.len();
    assert!(stored >= stored_at_signal && stored < APPS, "{stored}");
    // The summary says how many keys were stored.
    assert!(
        stdout.contains(&format!("{stored} key(s) stored encrypted")),
        "{stdout}"
    );
    let created_apps = platform_keys(&server, &rt).len();
    assert_eq!(
        created_apps, stored,
        "every app created before the interrupt has its key stored"
    );
    let plan = work.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(plan.status.code(), Some(2), "work is left");

    let second = Instant::now();
    work.apply_ok("second apply");
    let second = second.elapsed();
    work.assert_converged("after SIGINT");
    let n = assert_store_matches_platform("after SIGINT", &work, &server, &rt, APPS, None);
    assert_no_store_warnings("after SIGINT", &work);
    eprintln!(
        "figures: SIGINT after {stored_at_signal} of {APPS} keys stored ({:.2}s into the apply): exit 130 {} ms after the signal, {stored} keys stored by then; second apply {:.2}s; {n} files decrypted with age",
        (signalled - started).as_secs_f64(),
        drained.as_millis(),
        second.as_secs_f64()
    );
}

#[test]
fn kill_9_at_random_moments_then_apply_converges() {
    const APPS: usize = 120;
    const RUNS: usize = 20;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(10);
    let total = Instant::now();

    // One clean apply, to know how long a whole one takes.
    let server = Server::start("x", &["--latency", "10ms"]);
    let work = Work::new(&server, APPS);
    let t = Instant::now();
    work.apply_ok("calibration");
    let full = t.elapsed();
    assert_store_matches_platform("calibration", &work, &server, &rt, APPS, None);
    drop(work);
    drop(server);

    let mut killed_with = Vec::new();
    for run in 0..RUNS {
        let what = format!("run {run}");
        let server = Server::start("x", &["--latency", "10ms"]);
        let work = Work::new(&server, APPS);
        let delay = Duration::from_millis(rng.random_range(0..full.as_millis() as u64 + 100));
        let mut child = work.spawn_apply("killed");
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        let stored = work.journal_lines();
        killed_with.push((delay.as_millis(), stored, status.code().is_none()));

        let since = std::time::SystemTime::now() - Duration::from_secs(1);
        let stderr = work.apply_ok(&what);
        assert!(
            !stderr.contains("in no index"),
            "{what}: unindexed files reported:\n{stderr}"
        );
        work.assert_converged(&what);
        let written = files_since(&work, since);
        let mut check: BTreeSet<String> = written;
        // Also the files the killed apply wrote: a sample, to keep the run short.
        check.extend(
            store_files(&work.path("secrets/local"))
                .0
                .into_iter()
                .step_by(10),
        );
        assert_store_matches_platform(&what, &work, &server, &rt, APPS, Some(&check));
        assert_no_store_warnings(&what, &work);
    }
    let killed = killed_with.iter().filter(|k| k.2).count();
    eprintln!(
        "figures: {RUNS} kill -9 runs of {APPS} apps at serve --latency 10ms (a whole apply {:.2}s), {killed} killed mid-run, all converged; total {:.1}s; (delay ms, journal lines at kill, killed): {killed_with:?}",
        full.as_secs_f64(),
        total.elapsed().as_secs_f64()
    );
}

#[test]
fn a_second_sigint_exits_at_once_and_the_next_apply_converges() {
    const APPS: usize = 40;
    let rt = tokio::runtime::Runtime::new().unwrap();
    // Slow replies: the changes in flight are still waiting when the second signal comes.
    let server = Server::start("x", &["--latency", "300ms"]);
    let work = Work::new(&server, APPS);
    let started = Instant::now();
    let mut child = work.spawn_apply("forced");
    while work.journal_lines() < 8 {
        assert!(child.try_wait().unwrap().is_none(), "apply ended too soon");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "apply never stored a key"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let pid = child.id().to_string();
    let signalled = Instant::now();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let status = child.wait().unwrap();
    let took = signalled.elapsed();
    let (_, stderr) = work.output("forced");
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("SIGINT: stopping"), "{stderr}");
    assert!(
        stderr.contains("SIGTERM again: exiting at once"),
        "{stderr}"
    );
    assert!(
        took < Duration::from_millis(300 + 100),
        "did not wait: {took:?}"
    );
    work.apply_ok("after a forced exit");
    work.assert_converged("after a forced exit");
    assert_store_matches_platform("after a forced exit", &work, &server, &rt, APPS, None);
    assert_no_store_warnings("after a forced exit", &work);
    eprintln!(
        "figures: second signal 100 ms after the first: exit 130 {} ms after the first",
        took.as_millis()
    );
}
