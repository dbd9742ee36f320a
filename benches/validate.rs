//! Validation speed on a large generated config: 10,000 apps, 2,000 developers, 300 products.
//! Run with `cargo bench --bench validate`; prints the timings (target: under 300 ms).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use registrar::config::{load_and_check, validate::Known, yaml::ProcessEnv};

/// Writes the generated config and returns its text.
fn generate(devs: usize, products: usize, apps: usize) -> String {
    let mut s = String::with_capacity(apps * 300);
    s.push_str("version: 1\nowner: bench\ndevelopers:\n");
    for d in 0..devs {
        let _ = write!(
            s,
            "  - email: dev{d}@example.com\n    firstName: Dev\n    lastName: Number{d}\n    attributes: {{team: t{}}}\n",
            d % 17
        );
    }
    s.push_str("products:\n");
    for p in 0..products {
        let _ = write!(
            s,
            "  - name: product-{p}\n    displayName: Product {p}\n    approvalType: auto\n    environments: [prod]\n    apiResources: [\"/p{p}/**\"]\n    scopes: [p{p}.read, p{p}.write]\n    quota: {{limit: 1000, interval: 1, timeUnit: minute}}\n"
        );
    }
    s.push_str("apps:\n");
    for a in 0..apps {
        let p = a % products;
        let _ = write!(
            s,
            "  - name: app-{a}\n    developer: dev{}@example.com\n    displayName: App {a}\n    callbackUrl: https://app{a}.example.com/callback\n    apiProducts: [product-{p}]\n    scopes: [p{p}.read]\n    keyExpiresIn: 90d\n    attributes: {{tier: gold}}\n",
            a % devs
        );
    }
    s
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.yaml");
    let text = generate(2_000, 300, 10_000);
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
