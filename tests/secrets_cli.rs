//! `registrar secrets …` and `registrar rotate` end to end: the real binary in a temp dir
//! with a minimal registry.yaml, every run checked by the canary (trace logs included).

#[path = "common/canary.rs"]
mod canary;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use canary::Canary;

const KEY: &str = "cli-consumer-key-Qm4T";
const SECRET: &str = "cli-consumer-secret-Zx8/+=";

struct Work {
    dir: tempfile::TempDir,
    canary: Canary,
}

fn config(recipients: &[&str]) -> String {
    let recipients: Vec<String> = recipients.iter().map(|r| format!("\"{r}\"")).collect();
    format!(
        "version: 1
owner: test
secrets: {{dir: secrets, recipients: [{}]}}
developers:
  - {{email: alice@example.com, firstName: Alice, lastName: Doe}}
  - {{email: bob@example.com, firstName: Bob, lastName: Roe}}
products:
  - {{name: p, displayName: P, environments: [prod], apiResources: [/x]}}
apps:
  - {{name: web, developer: alice@example.com, apiProducts: [p]}}
  - name: shared
    developer: alice@example.com
    apiProducts: [p]
    credentials: [{{id: primary}}, {{id: backup}}]
  - {{name: shared, developer: bob@example.com, apiProducts: [p]}}
",
        recipients.join(", ")
    )
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.yaml"), config(&[])).unwrap();
        let mut canary = Canary::new();
        canary.add_pair(KEY, SECRET);
        Work { dir, canary }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_remove("REGISTRAR_IDENTITY")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs a command that must not print values anywhere.
    fn run(&self, args: &[&str]) -> Output {
        self.canary.run(&args.join(" "), &mut self.cmd(args))
    }

    /// Runs `secrets set` with `input` on stdin.
    fn set(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .cmd(args)
            .env("REGISTRAR_LOG", "trace")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        self.canary.check_output(&args.join(" "), &out);
        out
    }

    fn set_web(&self) {
        let out = self.set(
            &["secrets", "set", "web", "--key", "default"],
            &format!("{KEY}\n{SECRET}\n"),
        );
        assert_ok(&out);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(
        out.status.success(),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn assert_fails(out: &Output, expected: &[&str]) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
    for e in expected {
        assert!(
            stderr(out).contains(e),
            "missing `{e}` in:\n{}",
            stderr(out)
        );
    }
}

#[test]
fn list_works_without_identity_and_shows_fingerprints_only() {
    let w = Work::new();
    let out = w.run(&["secrets", "list"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("No stored keys."), "{}", stdout(&out));
    assert!(stdout(&out).contains("alice@example.com/web/default"));

    w.set_web();
    assert!(w.path(".registrar/identity.txt").exists());
    let out = w.run(&["secrets", "list"]);
    assert_ok(&out);
    let fp = registrar::model::fingerprint(KEY.as_bytes());
    assert!(stdout(&out).contains(&fp), "{}", stdout(&out));
    let out = w.run(&["secrets", "list", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["keys"][0]["consumerKeyFingerprint"], fp.as_str());
    assert_eq!(doc["keys"][0]["file"], "alice@example.com/web/default.age");
    w.canary.scan_dir(w.dir.path());
}

#[test]
fn set_warns_about_the_local_identity() {
    let w = Work::new();
    let out = w.set(
        &["secrets", "set", "web", "--key", "default"],
        &format!("{KEY}\n{SECRET}\n"),
    );
    assert_ok(&out);
    assert!(stderr(&out).contains("only"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(".registrar/identity.txt"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn show_needs_an_identity_and_prints_values_to_stdout_only() {
    let w = Work::new();
    w.set_web();
    let out = w.run(&["secrets", "show", "web"]);
    assert_fails(&out, &["--identity FILE", "REGISTRAR_IDENTITY", "hint:"]);

    let out = w.canary.run_stdout_allowed(
        "secrets show",
        w.cmd(&["secrets", "show", "web"])
            .env("REGISTRAR_IDENTITY", ".registrar/identity.txt"),
    );
    assert_ok(&out);
    assert_eq!(
        stdout(&out),
        format!("CONSUMER_KEY={KEY}\nCONSUMER_SECRET={SECRET}\n")
    );

    let out = w.canary.run_stdout_allowed(
        "secrets show json",
        &mut w.cmd(&[
            "secrets",
            "show",
            "web",
            "--format",
            "json",
            "--identity",
            ".registrar/identity.txt",
        ]),
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc[0]["consumerKey"], KEY);
    assert_eq!(doc[0]["consumerSecret"], SECRET);
}

#[test]
fn show_with_a_wrong_identity_or_a_corrupted_file_says_what_to_do() {
    let w = Work::new();
    w.set_web();
    let other = age::x25519::Identity::generate();
    use age::secrecy::ExposeSecret;
    std::fs::write(w.path("other.txt"), other.to_string().expose_secret()).unwrap();
    let out = w.run(&["secrets", "show", "web", "--identity", "other.txt"]);
    assert_fails(
        &out,
        &["identity `other.txt` cannot decrypt", "secrets rekey"],
    );

    std::fs::write(
        w.path("secrets/local/alice@example.com/web/default.age"),
        "garbage",
    )
    .unwrap();
    let out = w.run(&[
        "secrets",
        "show",
        "web",
        "--identity",
        ".registrar/identity.txt",
    ]);
    assert_fails(&out, &["is corrupted", "git checkout"]);

    let out = w.run(&["secrets", "show", "web", "--identity", "missing.txt"]);
    assert_fails(&out, &["cannot read identity file `missing.txt`"]);
}

#[test]
fn apps_are_resolved_with_errors_that_list_what_exists() {
    let w = Work::new();
    let id = ["--identity", ".registrar/identity.txt"];
    let out = w.run(&["secrets", "show", "nope", id[0], id[1]]);
    assert_fails(
        &out,
        &[
            "app `nope` not found",
            "shared (bob@example.com)",
            "web (alice@example.com)",
        ],
    );
    let out = w.run(&["rotate", "shared"]);
    assert_fails(&out, &["several developers", "--developer EMAIL"]);
    let out = w.set(&["secrets", "set", "web", "--key", "primary"], "a\nb\n");
    assert_fails(
        &out,
        &["no credential `primary`", "its credentials: default"],
    );
}

#[test]
fn set_refuses_empty_or_malformed_stdin_without_echoing_it() {
    let w = Work::new();
    let out = w.set(&["secrets", "set", "web", "--key", "default"], "");
    assert_fails(&out, &["stdin was empty"]);
    let out = w.set(
        &["secrets", "set", "web", "--key", "default"],
        &format!("{KEY}\n"),
    );
    assert_fails(&out, &["expected 2 lines"]);
    assert!(
        !w.path("secrets/local/index.yaml").exists(),
        "nothing stored"
    );
}

#[test]
fn set_accepts_the_env_format_that_show_prints() {
    let w = Work::new();
    let out = w.set(
        &[
            "secrets",
            "set",
            "shared",
            "--developer",
            "alice@example.com",
            "--key",
            "backup",
        ],
        &format!("CONSUMER_KEY={KEY}\nCONSUMER_SECRET='{SECRET}'\n"),
    );
    assert_ok(&out);
    assert!(
        stdout(&out).contains("alice@example.com/shared/backup"),
        "{}",
        stdout(&out)
    );
    let out = w.canary.run_stdout_allowed(
        "show",
        &mut w.cmd(&[
            "secrets",
            "show",
            "shared",
            "--developer",
            "alice@example.com",
            "--key",
            "backup",
            "--identity",
            ".registrar/identity.txt",
        ]),
    );
    assert_eq!(
        stdout(&out),
        format!("CONSUMER_KEY={KEY}\nCONSUMER_SECRET={SECRET}\n")
    );
}

#[test]
fn rekey_moves_the_store_to_new_recipients() {
    let w = Work::new();
    w.set_web();
    let bob = age::x25519::Identity::generate();
    use age::secrecy::ExposeSecret;
    std::fs::write(w.path("bob.txt"), bob.to_string().expose_secret()).unwrap();
    std::fs::write(
        w.path("registry.yaml"),
        config(&[&bob.to_public().to_string()]),
    )
    .unwrap();

    let out = w.run(&["secrets", "rekey"]);
    assert_fails(&out, &["--identity FILE", "REGISTRAR_IDENTITY"]);
    let out = w.run(&["secrets", "rekey", "--identity", ".registrar/identity.txt"]);
    assert_ok(&out);
    assert!(
        stdout(&out).contains("Re-encrypted 1 file"),
        "{}",
        stdout(&out)
    );

    let out = w.canary.run_stdout_allowed(
        "show as bob",
        &mut w.cmd(&["secrets", "show", "web", "--identity", "bob.txt"]),
    );
    assert_ok(&out);
    assert!(stdout(&out).contains(KEY));
    let out = w.run(&[
        "secrets",
        "show",
        "web",
        "--identity",
        ".registrar/identity.txt",
    ]);
    assert_fails(&out, &["cannot decrypt"]);
}

#[test]
fn a_recipient_of_an_unsupported_format_is_named() {
    let w = Work::new();
    let rsa = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 someone";
    std::fs::write(w.path("registry.yaml"), config(&[rsa])).unwrap();
    let out = w.run(&["secrets", "list"]);
    assert_fails(
        &out,
        &["recipient 1 is an `ssh-rsa` key", "age1", "ssh-ed25519"],
    );
}

#[test]
fn rotate_records_the_request_and_explains_the_next_apply() {
    let w = Work::new();
    w.set_web();
    let out = w.run(&["rotate", "web", "--overlap", "3d"]);
    assert_ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("Recorded rotation of `alice@example.com/web/default` (overlap 3d)"),
        "{text}"
    );
    assert!(text.contains("mint a new key"), "{text}");
    assert!(text.contains("default.retiring-"), "{text}");
    let index = std::fs::read_to_string(w.path("secrets/local/index.yaml")).unwrap();
    assert!(
        index.contains("rotations:") && index.contains("overlap: 3d"),
        "{index}"
    );

    let out = w.run(&["rotate", "shared", "--developer", "alice@example.com"]);
    assert_ok(&out);
    assert!(stdout(&out).contains("alice@example.com/shared/primary"));
    assert!(stdout(&out).contains("alice@example.com/shared/backup"));
    assert!(stdout(&out).contains("no key of this credential is stored yet"));

    let out = w.run(&["secrets", "list"]);
    assert!(
        stdout(&out).contains("Rotations the next apply will carry out:"),
        "{}",
        stdout(&out)
    );
    let out = w.run(&["rotate", "web", "--overlap", "soon"]);
    assert_fails(&out, &["invalid `--overlap`", "--overlap 7d"]);
    w.canary.scan_dir(w.dir.path());
}

/// The acceptance check of issue 4 for what this module controls: every stored key has one
/// file and one index entry, and `age -d` shows the stored values.
#[test]
fn files_decrypt_with_age_using_the_local_identity() {
    let w = Work::new();
    w.set_web();
    let mut collected = Canary::new();
    assert_eq!(
        collected.collect_store(&w.path("secrets/local"), &w.path(".registrar/identity.txt")),
        1
    );
    if Command::new("age").arg("--version").output().is_err() {
        panic!("the standard `age` CLI is required (`apt-get install age`)");
    }
    let out = Command::new("age")
        .args([
            "-d",
            "-i",
            ".registrar/identity.txt",
            "secrets/local/alice@example.com/web/default.age",
        ])
        .current_dir(w.dir.path())
        .output()
        .unwrap();
    assert_ok(&out);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["consumerKey"], KEY);
    assert_eq!(doc["consumerSecret"], SECRET);
    assert!(Path::new(&w.path("secrets/local/index.yaml")).exists());
}

#[test]
fn set_refuses_to_replace_a_stored_key_without_force() {
    let w = Work::new();
    w.set_web();
    let fp = registrar::model::fingerprint(KEY.as_bytes());
    // The same key again changes nothing.
    let out = w.set(
        &["secrets", "set", "web", "--key", "default"],
        &format!("{KEY}\n{SECRET}\n"),
    );
    assert_ok(&out);
    assert!(stdout(&out).contains("stored already"), "{}", stdout(&out));
    // Another key is refused, naming what is stored...
    let other = "other-consumer-key-0123456789abcdef";
    let out = w.set(
        &["secrets", "set", "web", "--key", "default"],
        &format!("{other}\nother-secret-0123456789\n"),
    );
    assert_fails(&out, &["refusing to replace it", &fp, "--force"]);
    let out = w.run(&["secrets", "list", "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["keys"][0]["consumerKeyFingerprint"], fp.as_str());
    // ...and replaced with --force, saying which key it replaced.
    let out = w.set(
        &["secrets", "set", "web", "--key", "default", "--force"],
        &format!("{other}\nother-secret-0123456789\n"),
    );
    assert_ok(&out);
    assert!(
        stdout(&out).contains(&format!("replacing consumer key {fp}")),
        "{}",
        stdout(&out)
    );
}
