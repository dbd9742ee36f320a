//! Load benchmark of `registrar serve` (release build): creates 1,000 apps over HTTP
//! (measuring app creations per second), then measures GETs per second of the expanded
//! org-wide list of those 1,000 apps (`/apps?expand=true&rows=1000`).
//!
//! Run with `benches/serve.sh` or `cargo bench --bench serve`. Environment: `FLAVOR`
//! (x|edge, default x), `CONCURRENCY` (default 8), `SECONDS` (list phase, default 5).

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

const APPS: usize = 1000;
const DEVELOPERS: usize = 10;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    let flavor = std::env::var("FLAVOR").unwrap_or_else(|_| "x".into());
    let concurrency: usize = env_or("CONCURRENCY", 8);
    let seconds: u64 = env_or("SECONDS", 5);
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--flavor",
            &flavor,
            "--db",
        ])
        .arg(dir.path().join("bench.db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start registrar serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line.trim().trim_start_matches("listening on ").to_string();
    let base = format!("{url}/v1/organizations/local");
    let client = reqwest::Client::new();

    for d in 0..DEVELOPERS {
        let r = client
            .post(format!("{base}/developers"))
            .json(
                &json!({"email": format!("dev{d}@example.com"), "firstName": "B",
                          "lastName": "M", "userName": format!("dev{d}")}),
            )
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
    }
    let r = client
        .post(format!("{base}/apiproducts"))
        .json(&json!({"name": "bench", "displayName": "Bench", "approvalType": "auto"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());

    // Phase 1: 1,000 app creations (each mints a key with a product grant).
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, next) = (client.clone(), base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= APPS {
                    break;
                }
                let dev = format!("dev{}%40example.com", i % DEVELOPERS);
                let r = client
                    .post(format!("{base}/developers/{dev}/apps"))
                    .json(
                        &json!({"name": format!("app-{i:04}"), "apiProducts": ["bench"],
                                  "attributes": [{"name": "DisplayName", "value": "Bench app"}]}),
                    )
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 201);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let create_secs = start.elapsed().as_secs_f64();

    // Phase 2: expanded list of the 1,000 apps, for `seconds`.
    let probe = client
        .get(format!("{base}/apps?expand=true&rows=1000"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&probe).unwrap();
    assert_eq!(listed["app"].as_array().unwrap().len(), APPS);
    let done = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, done) = (client.clone(), base.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let r = client
                    .get(format!("{base}/apps?expand=true&rows=1000"))
                    .send()
                    .await
                    .unwrap();
                assert!(r.status().is_success());
                r.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let list_secs = start.elapsed().as_secs_f64();
    let lists = done.load(Ordering::Relaxed);

    println!(
        "registrar serve --flavor {flavor}, {concurrency} concurrent clients, {} cores",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    );
    println!(
        "app creation:              {:>8.1} req/s ({APPS} apps in {create_secs:.2} s)",
        APPS as f64 / create_secs
    );
    println!(
        "GET /apps?expand=true (1,000 apps, {} KiB): {:>8.1} req/s ({lists} in {list_secs:.2} s, {:.1} ms mean)",
        probe.len() / 1024,
        lists as f64 / list_secs,
        list_secs * 1000.0 / lists as f64 * concurrency as f64
    );
    let _ = child.kill();
    let _ = child.wait();
}
