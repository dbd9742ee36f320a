//! Plan and apply at scale, on the release binary (issues 5 and 16, DESIGN "Performance
//! budget").
//!
//! 1. Scale, side by side: for each size (default 1,000, 10,000 and 50,000 apps, with a fifth
//!    as many developers and up to 300 products), `registrar apply` from empty to the local
//!    backend and over HTTP to `registrar serve --flavor x` (no latency, `--rate-limit
//!    100000/s`), then `registrar plan` of the result on both; wall time and the client's peak
//!    RSS for each, in one table.
//! 2. A generated org of 10,000 apps, 2,000 developers and 300 products (one key per app,
//!    granted one product), written straight into a SQLite registry with the store API, and
//!    the matching config. `registrar plan` reads it over HTTP from `registrar serve --latency
//!    50ms` in each flavour, plain and with `--strict-paging` (figures: reading time, HTTP
//!    requests as the plan counts them and as the server logged them, wall time, peak
//!    memory) and from the local backend.
//!    `registrar import` of the same org, over HTTP (`serve --flavor x --latency 50ms`) and
//!    from the local backend: the read's requests (as import counts them and as the server
//!    logged them), wall time and peak memory of the whole import (config written and checked,
//!    10,000 secrets stored encrypted).
//! 3. `registrar apply` of 1,000 app creations (plus 1 developer and 1 product) to an empty
//!    `registrar serve --flavor x --latency 200ms` at `--parallelism 16`, compared with the
//!    bound 1,003 x 200 ms / 16.
//!
//! Run with `cargo bench --bench plan_apply`. It prints figures and asserts nothing about time.
//! Environment: `SIZES` (comma-separated app counts of part 1, default `1000,10000,50000`;
//! `SIZES=1000,10000` skips the longest; `SIZES=` skips part 1), `RUNS` (plans per backend in
//! part 2, default 3), `READS` (servers of part 2, default `x,edge,x-strict,edge-strict`),
//! `APPLY=0` (skips part 3).

use std::collections::HashMap;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use registrar::config::{load_and_check, validate::Known, yaml::ProcessEnv};
use registrar::model::{self as m, DEFAULT_CREDENTIAL_ID};
use registrar::registry::{AppInput, Registry};

#[path = "common/generate.rs"]
mod generate;

const BIN: &str = env!("CARGO_BIN_EXE_registrar");
const ORG: &str = "local";
const TIME: &str = "/usr/bin/time";

/// The apply config: 1 developer, 1 product, `apps` apps with the default credential.
fn generate_apply(apps: usize) -> String {
    let mut s = String::with_capacity(apps * 80);
    s.push_str(
        "version: 1\nowner: bench\ndevelopers:\n  - email: dev0@example.com\n    firstName: Dev\n    lastName: Zero\n\
         products:\n  - name: product-0\n    displayName: Product 0\n    approvalType: auto\n    environments: [prod]\n    apiResources: [\"/p0/**\"]\n\
         apps:\n",
    );
    for a in 0..apps {
        let _ = write!(
            s,
            "  - name: app-{a}\n    developer: dev0@example.com\n    apiProducts: [product-0]\n"
        );
    }
    s
}

/// Writes the desired state of `config` into a fresh registry at `db`, as an apply to the
/// local backend would have (through the registry's own conversions, as `local` does).
fn populate(config: &Path, db: &Path) -> (usize, usize, usize) {
    let (desired, diags) = load_and_check(&[config.to_path_buf()], &ProcessEnv, &Known::default());
    assert!(
        diags.is_empty(),
        "generated config must be valid: {:?}",
        &diags[..diags.len().min(3)]
    );
    let state = desired.state();
    let mut store = Registry::open(db).expect("open the registry");
    store.ensure_org(ORG).expect("org");
    for d in &state.developers {
        store
            .create_developer(ORG, &d.into())
            .expect("create developer");
    }
    for p in &state.products {
        store
            .create_product(ORG, &p.into())
            .expect("create product");
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
            .create_app(ORG, &a.developer, &AppInput::new(a, key))
            .expect("create app");
    }
    (
        state.developers.len(),
        state.products.len(),
        state.apps.len(),
    )
}

/// A `registrar serve` child, killed on drop; its stderr (the request log) goes to a file.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(db: &Path, log: &Path, extra: &[&str]) -> Server {
        Server::start_flavor(db, log, "x", extra)
    }

    fn start_flavor(db: &Path, log: &Path, flavor: &str, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .args([
                "--log",
                "registrar=debug",
                "--color",
                "never",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--flavor",
                flavor,
            ])
            .args(extra)
            .arg("--db")
            .arg(db)
            .stdout(Stdio::piped())
            .stderr(File::create(log).expect("server log"))
            .spawn()
            .expect("start registrar serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read the listening line");
        let url = line.trim().trim_start_matches("listening on ").to_string();
        assert!(
            url.starts_with("http://"),
            "unexpected first line: {line:?}"
        );
        Server {
            child,
            url,
            log: log.to_path_buf(),
        }
    }

    /// Requests logged so far (one debug line per request: `METHOD /path STATUS Nms`), by
    /// method.
    fn requests(&self) -> (usize, Vec<(String, usize)>) {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let mut by_method: HashMap<String, usize> = HashMap::new();
        for line in text.lines() {
            let Some((_, rest)) = line.split_once(" DEBUG ") else {
                continue;
            };
            let mut words = rest.split_whitespace();
            let (Some(method), Some(path)) = (words.next(), words.next()) else {
                continue;
            };
            if path.starts_with('/') && method.chars().all(|c| c.is_ascii_uppercase()) {
                *by_method.entry(method.to_string()).or_default() += 1;
            }
        }
        let mut v: Vec<(String, usize)> = by_method.into_iter().collect();
        v.sort();
        (v.iter().map(|(_, n)| n).sum(), v)
    }

    /// The log's lines that are not per-request lines (to explain surprises).
    fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One run of the registrar CLI in `cwd`: wall time, output, peak RSS (KiB) when measurable.
struct Run {
    wall: Duration,
    out: Output,
    peak_kib: Option<u64>,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.out.stdout).into_owned()
    }
    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.out.stderr).into_owned()
    }
}

/// Runs `registrar args…`; under `/usr/bin/time -v` when present (peak RSS from its report,
/// which it appends to stderr), else polling `VmHWM` in /proc.
fn run(cwd: &Path, args: &[&str]) -> Run {
    let timed = Path::new(TIME).exists();
    let mut cmd = if timed {
        let mut c = Command::new(TIME);
        c.arg("-v").arg(BIN);
        c
    } else {
        Command::new(BIN)
    };
    cmd.args(args)
        .current_dir(cwd)
        .env("APIGEE_TOKEN", "x")
        .env("NO_COLOR", "1")
        .env_remove("REGISTRAR_LOG")
        .env_remove("CI")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let child = cmd.spawn().expect("start registrar");
    let (out, peak_kib) = if timed {
        let out = child.wait_with_output().expect("wait for registrar");
        let peak = String::from_utf8_lossy(&out.stderr).lines().find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes):")
                .and_then(|v| v.trim().parse().ok())
        });
        (out, peak)
    } else {
        // Poll VmHWM while the child runs; pipes are drained by threads.
        let mut child = child;
        let pid = child.id();
        let mut so = child.stdout.take().expect("stdout");
        let mut se = child.stderr.take().expect("stderr");
        let t1 = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut so, &mut v);
            v
        });
        let t2 = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut se, &mut v);
            v
        });
        let mut peak: Option<u64> = None;
        let status = loop {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status"))
                && let Some(kib) = s.lines().find_map(|l| {
                    l.strip_prefix("VmHWM:")
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
            {
                peak = Some(peak.map_or(kib, |p| p.max(kib)));
            }
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let out = Output {
            status,
            stdout: t1.join().unwrap_or_default(),
            stderr: t2.join().unwrap_or_default(),
        };
        (out, peak)
    };
    Run {
        wall: start.elapsed(),
        out,
        peak_kib,
    }
}

/// `read N developers, … with R HTTP requests in T ms` from a plan's info log.
fn read_line(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .filter_map(|l| l.split_once(" INFO ").map(|(_, r)| r.trim().to_string()))
        .find(|l| l.starts_with("read "))
}

fn http_requests(read: &str) -> Option<usize> {
    let (_, after) = read.split_once(" with ")?;
    after.split_whitespace().next()?.parse().ok()
}

/// The `in T ms` at the end of the read line.
fn read_ms(read: &str) -> Option<u64> {
    read.rsplit_once(" in ")?
        .1
        .trim_end_matches("ms")
        .trim()
        .parse()
        .ok()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(kib: Option<u64>) -> String {
    kib.map_or("n/a".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0))
}

/// min / median / max of wall times, and the highest peak RSS.
fn summary(runs: &[Run]) -> String {
    let mut walls: Vec<Duration> = runs.iter().map(|r| r.wall).collect();
    walls.sort();
    format!(
        "wall min {:.0} ms, median {:.0} ms, max {:.0} ms over {} runs; peak RSS {}",
        ms(walls[0]),
        ms(walls[walls.len() / 2]),
        ms(walls[walls.len() - 1]),
        walls.len(),
        mib(runs.iter().filter_map(|r| r.peak_kib).max())
    )
}

/// What a plan said about changes (exit code of `--detailed-exitcode`, its summary line, and
/// how many notes it printed).
fn plan_outcome(r: &Run) -> String {
    let code = r.out.status.code();
    let stdout = r.stdout();
    let summary = stdout
        .lines()
        .find(|l| l.starts_with("Plan:") || l.starts_with("No changes"))
        .unwrap_or("")
        .trim()
        .to_string();
    let not_stored = stdout
        .lines()
        .filter(|l| l.contains("not in the secrets store"))
        .count();
    let notes = if not_stored > 0 {
        format!(", {not_stored} notes that a key's secret is not in the (empty) secrets store")
    } else {
        String::new()
    };
    match code {
        Some(0) => format!("exit 0, {summary}{notes}"),
        Some(2) => format!("exit 2 (CHANGES), {summary}{notes}"),
        _ => panic!("plan failed ({code:?}):\n{stdout}\n{}", r.stderr()),
    }
}

/// Seconds since midnight of a log line's RFC 3339 timestamp (`2026-01-01T12:34:56.789012Z`).
fn log_time(line: &str) -> Option<f64> {
    let t = line.get(11..26)?;
    let (h, rest) = t.split_once(':')?;
    let (m, s) = rest.split_once(':')?;
    Some(h.parse::<f64>().ok()? * 3600.0 + m.parse::<f64>().ok()? * 60.0 + s.parse::<f64>().ok()?)
}

/// Server side of the app level: `(span s, mean in-flight, median ms)` of the app-creation POSTs.
fn app_posts(log: &Path) -> Option<(f64, f64, u64)> {
    let text = std::fs::read_to_string(log).ok()?;
    let mut ends = Vec::new();
    let mut durations = Vec::new();
    for line in text.lines() {
        let Some((_, rest)) = line.split_once(" DEBUG POST ") else {
            continue;
        };
        let mut words = rest.split_whitespace();
        if !words.next()?.ends_with("/apps") {
            continue;
        }
        let ms: u64 = words.nth(1)?.trim_end_matches("ms").parse().ok()?;
        ends.push(log_time(line)?);
        durations.push(ms);
    }
    let first_start = ends.first()? - *durations.first()? as f64 / 1e3;
    let span = ends.last()? - first_start;
    let busy: u64 = durations.iter().sum();
    durations.sort();
    Some((
        span,
        busy as f64 / 1e3 / span,
        durations[durations.len() / 2],
    ))
}

/// Client side: mean ms between consecutive `stored key` log lines (the secrets store writes
/// one key at a time) over the first and the last 100 keys, and in all.
fn store_intervals(stderr: &str) -> Option<(f64, f64, f64, usize)> {
    let t: Vec<f64> = stderr
        .lines()
        .filter(|l| l.contains("stored key"))
        .filter_map(log_time)
        .collect();
    if t.len() < 201 {
        return None;
    }
    let n = t.len();
    Some((
        (t[100] - t[0]) * 10.0,
        (t[n - 1] - t[n - 101]) * 10.0,
        t[n - 1] - t[0],
        n,
    ))
}

/// The args of an apply from empty to `backend` (`local` with a database, or `serve`'s URL).
fn apply_args<'a>(cfg: &'a str, backend: &'a [&'a str]) -> Vec<&'a str> {
    let mut v = vec![
        "--log",
        "info",
        "--color",
        "never",
        "apply",
        "-f",
        cfg,
        "--auto-approve",
        "--parallelism",
        "16",
        "--rate-limit",
        "100000/s",
    ];
    v.extend_from_slice(backend);
    v
}

/// The args of a plan of `cfg` against `backend`.
fn plan_args<'a>(cfg: &'a str, backend: &'a [&'a str]) -> Vec<&'a str> {
    let mut v = vec!["--log", "info", "--color", "never", "plan", "-f", cfg];
    v.extend_from_slice(backend);
    v.push("--detailed-exitcode");
    v
}

/// One row of the scale table.
struct ScaleRow {
    apps: usize,
    apply_local: Run,
    apply_http: Run,
    plan_local: Run,
    plan_http: Run,
}

/// Apply from empty and plan of `apps` apps, local and over HTTP.
fn scale(root: &Path, apps: usize) -> ScaleRow {
    let dir = root.join(format!("scale-{apps}"));
    let (local_dir, http_dir) = (dir.join("local"), dir.join("http"));
    std::fs::create_dir_all(&local_dir).expect("mkdir");
    std::fs::create_dir_all(&http_dir).expect("mkdir");
    let devs = (apps / 5).max(1);
    let products = 300.min(apps / 3).max(1);
    // A directory of files: one file of 50,000 apps is over the reader's default limits.
    let (lc, hc) = (local_dir.join("config"), http_dir.join("config"));
    for d in [&lc, &hc] {
        std::fs::create_dir_all(d).expect("mkdir");
        for (name, text) in generate::config_files(devs, products, apps, 5_000) {
            std::fs::write(d.join(name), text).expect("write config");
        }
    }
    let (lc, hc) = (lc.to_str().expect("utf-8"), hc.to_str().expect("utf-8"));
    let db = local_dir.join("local.db");
    let db = db.to_str().expect("utf-8");
    let local = ["--backend", "local", "--db", db, "--org", ORG];
    let apply_local = run(&local_dir, &apply_args(lc, &local));
    check_apply(&format!("local apply of {apps}"), &apply_local);
    let server = Server::start(&dir.join("serve.db"), &dir.join("serve.log"), &[]);
    let http = ["--backend", "apigee", "--url", &server.url, "--org", ORG];
    let apply_http = run(&http_dir, &apply_args(hc, &http));
    check_apply(&format!("HTTP apply of {apps}"), &apply_http);
    let plan_local = run(&local_dir, &plan_args(lc, &local));
    plan_outcome(&plan_local);
    let plan_http = run(&http_dir, &plan_args(hc, &http));
    plan_outcome(&plan_http);
    drop(server);
    // The files stay until the bench ends (50k apps are ~1 GB of key files and databases):
    // on ext4 without a journal, as here, creating files within minutes of deleting many
    // skips every recently freed inode (`recently_deleted`), which made the 50k apply after
    // deleting the 10k files 20-40% slower here; that measured the file system, not registrar.
    ScaleRow {
        apps,
        apply_local,
        apply_http,
        plan_local,
        plan_http,
    }
}

fn check_apply(what: &str, r: &Run) {
    let stdout = r.stdout();
    let complete = stdout.lines().any(|l| l.starts_with("Apply complete"));
    assert!(
        r.out.status.success() && complete,
        "{what} FAILED ({:?}):\n{}\n{}",
        r.out.status.code(),
        stdout.lines().rev().take(10).collect::<Vec<_>>().join("\n"),
        r.stderr()
            .lines()
            .rev()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// `1.23 s / 45.6 MiB`.
fn cell(r: &Run) -> String {
    format!("{:.2} s / {}", r.wall.as_secs_f64(), mib(r.peak_kib))
}

fn print_scale(rows: &[ScaleRow]) {
    println!(
        "scale: apply from empty (--parallelism 16) and plan of the result; wall / client peak RSS"
    );
    println!(
        "  | apps | apply, local | apply, HTTP | plan, local | plan, HTTP |\n  |---|---|---|---|---|"
    );
    for r in rows {
        println!(
            "  | {} | {} | {} | {} | {} |",
            r.apps,
            cell(&r.apply_local),
            cell(&r.apply_http),
            cell(&r.plan_local),
            cell(&r.plan_http)
        );
    }
    for w in rows.windows(2) {
        let (a, b) = (&w[0], &w[1]);
        let f = b.apps as f64 / a.apps as f64;
        println!(
            "  {} -> {} apps (x{f:.0}): apply local x{:.2}, HTTP x{:.2}; plan local x{:.2}, HTTP x{:.2}",
            a.apps,
            b.apps,
            b.apply_local.wall.as_secs_f64() / a.apply_local.wall.as_secs_f64(),
            b.apply_http.wall.as_secs_f64() / a.apply_http.wall.as_secs_f64(),
            b.plan_local.wall.as_secs_f64() / a.plan_local.wall.as_secs_f64(),
            b.plan_http.wall.as_secs_f64() / a.plan_http.wall.as_secs_f64(),
        );
    }
    if let Some(r) = rows.iter().find(|r| r.apps == 10_000) {
        println!(
            "  10k local apply {:.2} s (target < 8 s); apply 10k peak RSS local {} / HTTP {} (target <= 150 MiB)",
            r.apply_local.wall.as_secs_f64(),
            mib(r.apply_local.peak_kib),
            mib(r.apply_http.peak_kib)
        );
    }
    if let Some(r) = rows.iter().find(|r| r.apps == 50_000) {
        println!(
            "  50k peak RSS: apply local {} / HTTP {}, plan local {} / HTTP {} (targets <= 400 MiB)",
            mib(r.apply_local.peak_kib),
            mib(r.apply_http.peak_kib),
            mib(r.plan_local.peak_kib),
            mib(r.plan_http.peak_kib)
        );
    }
}

fn main() {
    let runs: usize = std::env::var("RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let dir = tempfile::tempdir().expect("temp dir");
    let cwd = dir.path();
    println!(
        "plan_apply: release binary, {} cores, load average {}",
        std::thread::available_parallelism().map_or(1, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "n/a".into())
    );

    // 1. Scale: apply from empty and plan, side by side.
    let sizes: Vec<usize> = std::env::var("SIZES")
        .unwrap_or_else(|_| "1000,10000,50000".into())
        .split(',')
        .filter_map(|v| v.trim().parse().ok())
        .collect();
    let mut rows = Vec::new();
    for &n in &sizes {
        let started = Instant::now();
        rows.push(scale(cwd, n));
        eprintln!(
            "scale {n}: measured in {:.0} s",
            started.elapsed().as_secs_f64()
        );
    }
    if !rows.is_empty() {
        print_scale(&rows);
    }

    // 2. Plan against a large org, the platform answering in 50 ms.
    let big = cwd.join("big.yaml");
    std::fs::write(&big, generate::config(2_000, 300, 10_000)).expect("write big.yaml");
    let db = cwd.join("big.db");
    let started = Instant::now();
    let (devs, products, apps) = populate(&big, &db);
    println!(
        "generated org: {apps} apps, {devs} developers, {products} products, {apps} keys in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let big_s = big.to_str().expect("utf-8 path");
    let db_s = db.to_str().expect("utf-8 path");

    // READS: which servers part 2 reads from (`x`, `edge`, and `-strict` for
    // `serve --strict-paging`, the docs' worst reading of `expand` next to paging).
    let reads = std::env::var("READS").unwrap_or_else(|_| "x,edge,x-strict,edge-strict".into());
    for read in reads.split(',').map(str::trim).filter(|r| !r.is_empty()) {
        let (flavor, strict) = match read.strip_suffix("-strict") {
            Some(f) => (f, true),
            None => (read, false),
        };
        let kind = if flavor == "edge" {
            "apigee-edge"
        } else {
            "apigee"
        };
        let mut extra = vec!["--latency", "50ms"];
        if strict {
            extra.push("--strict-paging");
        }
        let server = Server::start_flavor(
            &db,
            &cwd.join(format!("serve-big-{read}.log")),
            flavor,
            &extra,
        );
        let mut http_runs = Vec::new();
        let mut read_lines = Vec::new();
        let mut logged = Vec::new();
        for _ in 0..runs {
            let (before, _) = server.requests();
            let r = run(
                cwd,
                &[
                    "--log",
                    "info",
                    "--color",
                    "never",
                    "plan",
                    "-f",
                    big_s,
                    "--backend",
                    kind,
                    "--url",
                    &server.url,
                    "--org",
                    ORG,
                    "--detailed-exitcode",
                ],
            );
            let outcome = plan_outcome(&r);
            // The server logs after the response is written: give it a moment.
            std::thread::sleep(Duration::from_millis(200));
            let (after, methods) = server.requests();
            logged.push((after - before, methods));
            read_lines.push((read_line(&r.stderr()).unwrap_or_default(), outcome));
            http_runs.push(r);
        }
        drop(server);
        let (read, outcome) = &read_lines[0];
        println!(
            "plan over HTTP (serve --flavor {flavor}{} --latency 50ms): {outcome}",
            if strict { " --strict-paging" } else { "" }
        );
        println!("  plan's own count: {read}");
        let reading: Vec<String> = read_lines
            .iter()
            .map(|(l, _)| read_ms(l).map_or("?".into(), |n| n.to_string()))
            .collect();
        println!(
            "  reading: {} ms (target <= 1200 ms at 50 ms per request)",
            reading.join("/")
        );
        let counted: Vec<String> = read_lines
            .iter()
            .map(|(l, _)| http_requests(l).map_or("?".into(), |n| n.to_string()))
            .collect();
        println!(
            "  HTTP requests per plan: {} by the plan, {} logged by the server (last run: {:?}) (target <= 120)",
            counted.join("/"),
            logged
                .iter()
                .map(|(n, _)| n.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            logged.last().map(|(_, m)| m.clone()).unwrap_or_default()
        );
        println!("  {}", summary(&http_runs));
    }

    // 2b. `registrar import` of the same org: the same bulk read, then the config written,
    // checked, and every key's secret stored encrypted (to the generated local identity).
    let import_on = |what: &str, dir: &str, target: &[&str], server: Option<&Server>| {
        let out = cwd.join(dir);
        let _ = std::fs::remove_dir_all(&out);
        std::fs::create_dir_all(&out).expect("mkdir");
        let before = server.map_or(0, |s| s.requests().0);
        let mut args = vec![
            "--log",
            "info",
            "--color",
            "never",
            "import",
            "--owner",
            "bench",
            "--out",
            "imported.yaml",
        ];
        args.extend_from_slice(target);
        let r = run(&out, &args);
        std::thread::sleep(Duration::from_millis(200));
        let logged = server.map(|s| s.requests().0 - before);
        let read = read_line(&r.stderr()).unwrap_or_default();
        let phases: Vec<String> = r
            .stderr()
            .lines()
            .filter_map(|l| l.split_once(" INFO ").map(|(_, m)| m.trim().to_string()))
            .filter(|m| m.starts_with("import: "))
            .collect();
        println!(
            "import {what}: {}",
            if r.out.status.success() {
                r.stdout().lines().next().unwrap_or_default().to_string()
            } else {
                format!("FAILED: {}", r.stderr())
            }
        );
        println!(
            "  {read}{}",
            logged.map_or(String::new(), |n| format!(
                "; {n} requests logged by the server (target <= 120)"
            ))
        );
        for p in &phases {
            println!("  {p}");
        }
        let yaml = std::fs::metadata(out.join("imported.yaml")).map_or(0, |m| m.len());
        println!(
            "  {}; config {:.1} MB (the whole import: read, config written and checked, {apps} secrets stored)",
            summary(std::slice::from_ref(&r)),
            yaml as f64 / 1e6
        );
    };
    {
        let server = Server::start_flavor(
            &db,
            &cwd.join("serve-import-x.log"),
            "x",
            &["--latency", "50ms"],
        );
        let url = server.url.clone();
        import_on(
            "over HTTP (serve --flavor x --latency 50ms)",
            "import-x",
            &["--backend", "apigee", "--url", &url, "--org", ORG],
            Some(&server),
        );
    }
    import_on(
        "from the local backend",
        "import-local",
        &["--backend", "local", "--db", db_s, "--org", ORG],
        None,
    );

    let mut local_runs = Vec::new();
    for _ in 0..runs {
        local_runs.push(run(
            cwd,
            &[
                "--log",
                "info",
                "--color",
                "never",
                "plan",
                "-f",
                big_s,
                "--backend",
                "local",
                "--db",
                db_s,
                "--org",
                ORG,
                "--detailed-exitcode",
            ],
        ));
    }
    println!(
        "plan against the local backend: {}",
        plan_outcome(&local_runs[0])
    );
    println!(
        "  {}",
        read_line(&local_runs[0].stderr()).unwrap_or_default()
    );
    println!("  {} (targets: <= 1 s, <= 150 MB)", summary(&local_runs));

    if std::env::var("APPLY").is_ok_and(|v| v == "0") {
        return;
    }
    // 3. Apply of 1,000 app creations at 200 ms latency, parallelism 16.
    const APPS: usize = 1_000;
    const PARALLELISM: usize = 16;
    const LATENCY_MS: f64 = 200.0;
    let work = cwd.join("apply");
    std::fs::create_dir_all(&work).expect("mkdir");
    let cfg = work.join("registry.yaml");
    std::fs::write(&cfg, generate_apply(APPS)).expect("write apply config");
    let apply_log = cwd.join("serve-apply.log");
    let server = Server::start(&cwd.join("fresh.db"), &apply_log, &["--latency", "200ms"]);
    let r = run(
        &work,
        &[
            "--log",
            "info",
            "--color",
            "never",
            "apply",
            "-f",
            cfg.to_str().expect("utf-8 path"),
            "--auto-approve",
            "--parallelism",
            &PARALLELISM.to_string(),
            "--rate-limit",
            "100000/s",
            "--backend",
            "apigee",
            "--url",
            &server.url,
            "--org",
            ORG,
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let (seen, methods) = server.requests();
    let stdout = r.stdout();
    let complete = stdout
        .lines()
        .find(|l| l.starts_with("Apply "))
        .unwrap_or("")
        .to_string();
    if !r.out.status.success() || !complete.starts_with("Apply complete") {
        println!(
            "apply FAILED ({:?}):\n{}\n{}\nserver log tail:\n{}",
            r.out.status.code(),
            stdout.lines().rev().take(20).collect::<Vec<_>>().join("\n"),
            r.stderr()
                .lines()
                .rev()
                .take(20)
                .collect::<Vec<_>>()
                .join("\n"),
            server.log_tail(10)
        );
    }
    drop(server);
    let executor_secs: Option<f64> = complete
        .split_once(" skipped in ")
        .and_then(|(_, t)| t.split('s').next())
        .and_then(|t| t.trim().parse().ok());
    // The bound: every change (1,000 apps, 1 developer, 1 product, and the lock's
    // request) at the platform's latency, `PARALLELISM` at a time.
    let bound = (APPS + 3) as f64 * LATENCY_MS / 1e3 / PARALLELISM as f64;
    println!(
        "apply of {APPS} app creations (+1 developer, +1 product) to serve --flavor x --latency 200ms, --parallelism {PARALLELISM}, --rate-limit 100000/s:"
    );
    println!("  {complete}");
    println!(
        "  executor {}, whole command {:.2} s (lock and plan read included); bound {} x 200 ms / {PARALLELISM} = {bound:.2} s: executor ratio {}, command ratio {:.2}x (target <= 1.1x); peak RSS {}",
        executor_secs.map_or("?".into(), |s| format!("{s:.2} s")),
        r.wall.as_secs_f64(),
        APPS + 3,
        executor_secs.map_or("?".into(), |s| format!("{:.2}x", s / bound)),
        r.wall.as_secs_f64() / bound,
        mib(r.peak_kib)
    );
    println!(
        "  HTTP requests logged by the server: {seen} {methods:?} ({:.2} per app)",
        seen as f64 / APPS as f64
    );
    if let Some((span, in_flight, median)) = app_posts(&apply_log) {
        println!(
            "  server: the 1,000 app POSTs spanned {span:.2} s, median {median} ms each, {in_flight:.1} in flight on average (of {PARALLELISM} allowed)"
        );
    }
    if let Some((first, last, total, n)) = store_intervals(&r.stderr()) {
        println!(
            "  client: `stored key` every {first:.1} ms over the first 100 keys, every {last:.1} ms over the last 100 ({n} keys in {total:.2} s)"
        );
    }
}
