//! Validation speed on a large generated config: 10,000 apps, 2,000 developers, 300 products.
//! Run with `cargo bench --bench validate`; prints the timings (target: under 300 ms).

use std::time::{Duration, Instant};

#[path = "common/generate.rs"]
mod generate;

use registrar::config::{load_and_check, validate::Known, yaml::ProcessEnv};

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.yaml");
    let text = generate::config(2_000, 300, 10_000);
    std::fs::write(&path, &text).expect("write");
    let files = vec![path];
    let known = Known::default();
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..7 {
        let start = Instant::now();
        let (desired, diags) = load_and_check(&files, &ProcessEnv, &known);
        let elapsed = start.elapsed();
        assert!(
            diags.is_empty(),
            "generated config must be valid: {:?}",
            &diags[..diags.len().min(3)]
        );
        assert_eq!(desired.apps.len(), 10_000);
        times.push(elapsed);
    }
    times.sort();
    println!(
        "validate: 10,000 apps / 2,000 developers / 300 products ({:.1} MiB YAML): min {:.0} ms, median {:.0} ms, max {:.0} ms (target < 300 ms)",
        text.len() as f64 / 1_048_576.0,
        times[0].as_secs_f64() * 1e3,
        times[times.len() / 2].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3
    );
}
