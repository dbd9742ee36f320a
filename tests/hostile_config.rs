//! Hostile configs (issue 13): an alias bomb, deep block and flow nesting, an oversize file and
//! control characters each give one diagnostic at `file:line:col` and exit 1, quickly, from
//! `validate`, `plan` and `apply` alike (they used to exhaust memory or abort on a stack
//! overflow). Each file is written to a temporary directory and named relative to it, so the
//! snapshots hold no temporary path.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const LIMIT_VARS: [&str; 5] = [
    "REGISTRAR_MAX_CONFIG_BYTES",
    "REGISTRAR_MAX_YAML_NODES",
    "REGISTRAR_MAX_YAML_ALIASES",
    "REGISTRAR_MAX_YAML_DEPTH",
    "REGISTRAR_MAX_YAML_LOOKAHEAD",
];

/// Generous for a debug build on a busy machine; the release build takes milliseconds.
const QUICK: Duration = Duration::from_secs(10);

fn registrar(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (Output, Duration) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
    cmd.args(args).current_dir(dir).env("NO_COLOR", "1");
    for v in LIMIT_VARS {
        cmd.env_remove(v);
    }
    cmd.envs(env.iter().copied());
    let started = Instant::now();
    let out = cmd.output().expect("the binary runs");
    (out, started.elapsed())
}

fn transcript(out: &Output) -> String {
    format!(
        "exit: {}\n--- stdout\n{}--- stderr\n{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Writes `text` as `name` in a fresh directory, snapshots `validate`'s output, and checks
/// that `plan` and `apply` refuse the file with the same diagnostic, all quickly.
fn refused(snapshot: &str, name: &str, text: &[u8], env: &[(&str, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(name), text).unwrap();
    let (out, took) = registrar(dir.path(), &["validate", "-f", name], env);
    assert!(took < QUICK, "validate took {took:?}");
    assert_eq!(out.status.code(), Some(1), "{}", transcript(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let diagnostic = stdout.lines().next().unwrap_or_default().to_string();
    assert!(diagnostic.starts_with(&format!("{name}:")), "{stdout}");
    insta::assert_snapshot!(snapshot, transcript(&out));
    for args in [
        &["plan", "-f", name][..],
        &["apply", "--auto-approve", "-f", name][..],
    ] {
        let (out, took) = registrar(dir.path(), args, env);
        assert!(took < QUICK, "{args:?} took {took:?}");
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", transcript(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&diagnostic), "{args:?}: {stderr}");
    }
}

#[test]
fn alias_bomb() {
    let text = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/invalid/alias-bomb.yaml"),
    )
    .unwrap();
    refused("hostile-alias-bomb", "bomb.yaml", &text, &[]);
    // Many small aliases are counted too.
    let many = format!("a: &a x\nb: [{}]\n", vec!["*a"; 10_001].join(", "));
    refused("hostile-many-aliases", "aliases.yaml", many.as_bytes(), &[]);
}

#[test]
fn deep_block_sequence() {
    // 40 KB: `- ` 20,000 times.
    let text = "- ".repeat(20_000) + "x\n";
    refused(
        "hostile-deep-block-sequence",
        "deep.yaml",
        text.as_bytes(),
        &[],
    );
}

#[test]
fn deep_block_mapping() {
    let deep = |levels: usize| -> String {
        (0..levels)
            .map(|i| format!("{}k:\n", " ".repeat(i)))
            .collect()
    };
    refused(
        "hostile-deep-block-mapping",
        "deep.yaml",
        deep(1_000).as_bytes(),
        &[],
    );
    // 10,000 levels indented one space each is 50 MB: over the size limit before anything else.
    refused(
        "hostile-deep-block-mapping-10000",
        "deep.yaml",
        deep(10_000).as_bytes(),
        &[],
    );
}

#[test]
fn deep_flow() {
    let text = "[".repeat(20_000) + &"]".repeat(20_000) + "\n";
    refused("hostile-deep-flow", "deep.yaml", text.as_bytes(), &[]);
    let text = format!("a: {}{}\n", "[".repeat(100), "]".repeat(100));
    refused("hostile-deep-flow-100", "deep.yaml", text.as_bytes(), &[]);
}

#[test]
fn long_flow_list() {
    // A 6 MB flow list used to be scanned whole into ~635 MB of tokens.
    let text = format!("[{}x]\n", "x, ".repeat(2_000_000));
    refused("hostile-long-flow-list", "long.yaml", text.as_bytes(), &[]);
}

#[test]
fn oversize_file() {
    let mut text = b"version: 1\nowner: demo\n".to_vec();
    text.extend(std::iter::repeat_n(b'#', 9 * 1024 * 1024));
    text.push(b'\n');
    refused("hostile-oversize-file", "big.yaml", &text, &[]);
    // The limit can be raised (and lowered).
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("big.yaml"), &text).unwrap();
    let (out, _) = registrar(
        dir.path(),
        &["validate", "-f", "big.yaml"],
        &[("REGISTRAR_MAX_CONFIG_BYTES", "10000000")],
    );
    assert_eq!(out.status.code(), Some(0), "{}", transcript(&out));
    refused(
        "hostile-oversize-file-lowered",
        "small.yaml",
        b"version: 1\nowner: demo\n",
        &[("REGISTRAR_MAX_CONFIG_BYTES", "10")],
    );
}

#[test]
fn raised_limits_let_a_big_config_through() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "version: 1\nowner: demo\nproducts:\n  - name: p\n    scopes: &s [{}]\n    environments: *s\n",
        vec!["s"; 200_000].join(", ")
    );
    std::fs::write(dir.path().join("c.yaml"), &text).unwrap();
    let (out, _) = registrar(dir.path(), &["validate", "-f", "c.yaml"], &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("REGISTRAR_MAX_YAML_NODES"),
        "{}",
        transcript(&out)
    );
    let (out, _) = registrar(
        dir.path(),
        &["validate", "-f", "c.yaml"],
        &[
            ("REGISTRAR_MAX_YAML_NODES", "1000000"),
            ("REGISTRAR_MAX_YAML_LOOKAHEAD", "2000000"),
        ],
    );
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("REGISTRAR_MAX"),
        "{}",
        transcript(&out)
    );
}

#[test]
fn control_characters_in_values() {
    // YAML's double-quoted escapes put a newline, ESC and BEL into the value.
    let text = "version: 1\nowner: demo\ndevelopers:\n  \
                - email: \"a\\nbad.yaml:1:1: all good\\e[2J\\e]0;title\\a@example.com\"\n    \
                firstName: A\n    lastName: B\n";
    refused(
        "hostile-control-characters",
        "bad.yaml",
        text.as_bytes(),
        &[],
    );
}
