//! Overlays that override: the README's example (examples/overlays: a base with staging and
//! prod overlays that differ in callback URL, org and quota), copied into a temporary
//! directory, validated and planned against `registrar serve` holding both orgs; a patch
//! reported at both places; a duplicate without `patches:` still an error naming both.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Server;
use serde_json::Value;

fn copy_examples() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/overlays");
    for name in ["base.yaml", "staging.yaml", "prod.yaml"] {
        std::fs::copy(src.join(name), dir.path().join(name)).unwrap();
    }
    dir
}

fn registrar(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env("APIGEE_TOKEN", "test-token")
        .env_remove("REGISTRAR_LOG")
        .env_remove("CI")
        .output()
        .expect("registrar runs")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = registrar(dir, args);
    assert!(
        out.status.success(),
        "{args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The `after` of a field of the change at `address` in a JSON plan.
fn after<'a>(plan: &'a Value, address: &str, field: &str) -> &'a Value {
    let change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"]["path"] == address)
        .unwrap_or_else(|| panic!("no change of {address}: {plan:#}"));
    &change["fields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == field)
        .unwrap_or_else(|| panic!("no field {field} in {change:#}"))["after"]
}

#[test]
fn staging_and_prod_overlays_validate_and_plan_their_own_values() {
    let dir = copy_examples();
    let d = dir.path();
    for env in ["staging", "prod"] {
        let overlay = format!("{env}.yaml");
        let out = ok(d, &["validate", "-f", "base.yaml", "-f", &overlay]);
        assert!(out.contains("2 files: valid"), "{out}");
    }
    let server = Server::start("x", &["--org", "acme-staging", "--org", "acme-prod"]);
    let plan = |overlay: &str| -> Value {
        let out = ok(
            d,
            &[
                "plan",
                "-f",
                "base.yaml",
                "-f",
                overlay,
                "--url",
                &server.url,
                "--format",
                "json",
            ],
        );
        serde_json::from_str(&out).unwrap()
    };
    let staging = plan("staging.yaml");
    assert!(
        staging["backend"]
            .as_str()
            .unwrap()
            .contains("org `acme-staging`"),
        "{}",
        staging["backend"]
    );
    let app = "alice@example.com/checkout-web";
    assert_eq!(
        after(&staging, app, "callbackUrl"),
        "https://staging.checkout.example.com/oauth/callback"
    );
    assert_eq!(after(&staging, app, "attributes.tier"), "standard");
    assert_eq!(after(&staging, "payments", "quota")["limit"], 100);

    let prod = plan("prod.yaml");
    assert!(
        prod["backend"]
            .as_str()
            .unwrap()
            .contains("org `acme-prod`")
    );
    assert_eq!(
        after(&prod, app, "callbackUrl"),
        "https://checkout.example.com/oauth/callback"
    );
    assert_eq!(after(&prod, app, "attributes.tier"), "gold");
    assert_eq!(
        after(&prod, app, "attributes.registrar-owner"),
        "checkout-team"
    );
    assert_eq!(after(&prod, "payments", "quota")["limit"], 5000);
    assert_eq!(
        after(&prod, "payments", "environments"),
        &serde_json::json!(["prod"])
    );
}

#[test]
fn a_patch_is_reported_at_both_places() {
    let dir = copy_examples();
    let d = dir.path();
    let prod = std::fs::read_to_string(d.join("prod.yaml")).unwrap();
    std::fs::write(
        d.join("prod.yaml"),
        prod.replace(
            "https://checkout.example.com/oauth/callback",
            "http://checkout.example.com/cb",
        ),
    )
    .unwrap();
    let out = registrar(
        d,
        &[
            "validate",
            "-f",
            "base.yaml",
            "-f",
            "prod.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diag = &v["diagnostics"][0];
    assert_eq!(diag["file"], "prod.yaml");
    assert_eq!(diag["line"], 15);
    assert_eq!(diag["code"], "callback-url");
    assert_eq!(diag["related"][0]["file"], "base.yaml");
    assert_eq!(diag["related"][0]["line"], 20);
    let text = registrar(d, &["validate", "-f", "base.yaml", "-f", "prod.yaml"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.starts_with("prod.yaml:15:") && text.contains("declared at base.yaml:20:"),
        "{text}"
    );
}

#[test]
fn a_duplicate_without_patches_is_still_an_error_naming_both_places() {
    let dir = copy_examples();
    let d = dir.path();
    std::fs::write(
        d.join("dup.yaml"),
        "version: 1\napps:\n  - name: checkout-web\n    developer: alice@example.com\n    callbackUrl: https://x.example.com/cb\n",
    )
    .unwrap();
    let out = registrar(
        d,
        &[
            "validate",
            "-f",
            "base.yaml",
            "-f",
            "dup.yaml",
            "--format",
            "json",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let diag = &v["diagnostics"][0];
    assert_eq!(diag["code"], "duplicate");
    assert_eq!(
        (diag["file"].as_str(), diag["line"].as_u64()),
        (Some("dup.yaml"), Some(3))
    );
    assert_eq!(
        (
            diag["related"][0]["file"].as_str(),
            diag["related"][0]["line"].as_u64()
        ),
        (Some("base.yaml"), Some(20))
    );
    assert!(diag["message"].as_str().unwrap().contains("`patches:`"));
}
