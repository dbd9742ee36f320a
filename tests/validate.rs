//! `registrar validate` end to end: the real binary over the files in examples/.

use std::path::Path;
use std::process::{Command, Output};

fn registrar(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("REGISTRAR_EXAMPLE_UNSET")
        .env_remove("APIGEE_ORG")
        .env_remove("APIGEE_ENV")
        .env_remove("STAGING_HOST")
        .env("NO_COLOR", "1")
        .output()
        .expect("the binary runs")
}

/// Exit code, stdout and stderr as one text, for snapshots.
fn transcript(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn registry_yaml_is_valid() {
    let out = registrar(&["validate"]);
    insta::assert_snapshot!(transcript(&out), @r"
    exit: 0
    --- stdout
    registry.yaml: valid (2 developers, 3 products, 4 apps, 5 keys)
    --- stderr
    ");
}

#[test]
fn valid_examples_are_valid() {
    let out = registrar(&["validate", "-f", "examples/minimal.yaml"]);
    assert!(out.status.success(), "{}", transcript(&out));
    let out = registrar(&[
        "validate",
        "-f",
        "examples/multi-file/base",
        "-f",
        "examples/multi-file/env/staging.yaml",
    ]);
    insta::assert_snapshot!(transcript(&out), @r"
    exit: 0
    --- stdout
    5 files: valid (2 developers, 1 product, 2 apps, 2 keys)
    --- stderr
    ");
}

#[test]
fn valid_files_carry_the_schema_modeline() {
    let mut files = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml")];
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    collect(&examples, &mut files);
    for f in files {
        if f.components().any(|c| c.as_os_str() == "invalid") {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("# yaml-language-server: $schema=")
                && first.ends_with("schema/registry.schema.json"),
            "{} lacks the modeline: {first}",
            f.display()
        );
        let target = first.split("$schema=").nth(1).unwrap();
        assert!(
            f.parent().unwrap().join(target).exists(),
            "{}: modeline points at a missing file",
            f.display()
        );
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().is_some_and(|x| x == "yaml") {
            out.push(p);
        }
    }
}

#[test]
fn every_invalid_example_gives_its_diagnostics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid");
    let mut entries: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 20, "one invalid example per check");
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.bind(|| {
        for path in entries {
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let rel = format!(
                "examples/invalid/{}",
                path.file_name().unwrap().to_string_lossy()
            );
            let out = registrar(&["validate", "-f", &rel]);
            assert_eq!(
                out.status.code(),
                Some(1),
                "{rel} must fail: {}",
                transcript(&out)
            );
            insta::assert_snapshot!(format!("invalid-{name}"), transcript(&out));
        }
    });
}

#[test]
fn json_format_is_machine_readable() {
    let out = registrar(&[
        "validate",
        "--format",
        "json",
        "-f",
        "examples/invalid/unknown-developer.yaml",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(v["valid"], false);
    assert_eq!(
        v["diagnostics"][0]["file"],
        "examples/invalid/unknown-developer.yaml"
    );
    assert_eq!(v["diagnostics"][0]["line"], 13);
    assert_eq!(v["diagnostics"][0]["column"], 16);
    assert_eq!(v["diagnostics"][0]["code"], "reference");
    let out = registrar(&["validate", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["summary"]["apps"], 4);
}

#[test]
fn unreadable_input_is_a_clear_error() {
    // One missing file: where registrar looked and what to do, with no made-up position.
    let out = registrar(&["validate", "-f", "does-not-exist.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: no config file `does-not-exist.yaml` (looked in `")
            && err.contains("hint: pass the config with `-f FILE`"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let out = registrar(&["validate", "-f", "src"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("no `*.yaml` or `*.yml` files in directory `src`")
    );
}

#[test]
fn schema_file_is_fresh() {
    let out = registrar(&["schema"]);
    assert!(out.status.success());
    let committed = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("schema/registry.schema.json"),
    )
    .unwrap();
    assert!(
        committed == String::from_utf8_lossy(&out.stdout),
        "schema/registry.schema.json is stale: run `cargo run -- schema > schema/registry.schema.json`"
    );
}

#[test]
fn remote_refs_turns_references_into_warnings() {
    let file = "examples/invalid/unknown-developer.yaml";
    assert_eq!(registrar(&["validate", "-f", file]).status.code(), Some(1));
    let out = registrar(&["validate", "-f", file, "--remote-refs"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(": warning: unknown developer"), "{text}");
    assert!(text.contains("valid ("), "{text}");
    let out = registrar(&["validate", "-f", file, "--remote-refs", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["warnings"][0]["code"], "reference");
    // Other problems stay errors.
    let out = registrar(&[
        "validate",
        "-f",
        "examples/invalid/app-name.yaml",
        "--remote-refs",
    ]);
    assert_eq!(out.status.code(), Some(1));
}
