//! `registrar init`, `registrar completions` and `registrar man`, end to end with the real
//! binary: init in an empty directory, then the README's main command (`registrar apply
//! --auto-approve` on the embedded registry) works; init never overwrites.

use std::path::Path;
use std::process::{Command, Output};

fn registrar(dir: &Path, home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(dir)
        .args(args)
        // No public key of the user: the first apply generates a local identity.
        .env("HOME", home)
        .env("NO_COLOR", "1")
        .env_remove("REGISTRAR_LOG")
        .env_remove("REGISTRAR_IDENTITY")
        .env_remove("CI")
        .output()
        .expect("registrar runs")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn init_then_apply_works_and_init_never_overwrites() {
    let dir = tempfile::tempdir().unwrap();
    let home = tempfile::tempdir().unwrap();
    let init = registrar(dir.path(), home.path(), &["init"]);
    assert!(init.status.success(), "{}", text(&init));
    let config = std::fs::read_to_string(dir.path().join("registry.yaml")).unwrap();
    assert!(config.starts_with("# yaml-language-server: $schema=schema/registry.schema.json\n"));
    let schema = std::fs::read_to_string(dir.path().join("schema/registry.schema.json")).unwrap();
    assert_eq!(
        schema,
        registrar(dir.path(), home.path(), &["schema"]).stdout_str()
    );
    let gitignore = std::fs::read_to_string(dir.path().join(".gitignore")).unwrap();
    assert!(gitignore.lines().any(|l| l == ".registrar/"), "{gitignore}");

    let validate = registrar(dir.path(), home.path(), &["validate"]);
    assert!(validate.status.success(), "{}", text(&validate));
    let apply = registrar(dir.path(), home.path(), &["apply", "--auto-approve"]);
    assert!(apply.status.success(), "{}", text(&apply));
    assert!(
        String::from_utf8_lossy(&apply.stdout).contains("Apply complete"),
        "{}",
        text(&apply)
    );
    let again = registrar(dir.path(), home.path(), &["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));

    let twice = registrar(dir.path(), home.path(), &["init"]);
    assert_eq!(twice.status.code(), Some(1), "{}", text(&twice));
    let shown = String::from_utf8_lossy(&twice.stderr);
    assert!(
        shown.contains("never overwrites") && shown.contains("hint:"),
        "{shown}"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("registry.yaml")).unwrap(),
        config
    );
}

#[test]
fn init_takes_recipients_from_the_flag_or_the_users_key() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".ssh")).unwrap();
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBKvAjGiIWjfh+wd0K0aZaSMsZ6nvM5sq8GEYNM9Y5GK";
    std::fs::write(
        home.path().join(".ssh/id_ed25519.pub"),
        format!("{key} dana@laptop\n"),
    )
    .unwrap();
    let mine = tempfile::tempdir().unwrap();
    let out = registrar(mine.path(), home.path(), &["init", "--owner", "payments"]);
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(mine.path().join("registry.yaml")).unwrap();
    assert!(
        config.contains(&format!("    - {key}\n")) && !config.contains("dana@"),
        "{config}"
    );
    assert!(config.contains("owner: payments "), "{config}");

    let given = tempfile::tempdir().unwrap();
    let age = "age12m6efc3r47nn9lhrwe9ejj9zww3sjjmqscwassclckdkntsa64yszrt23m";
    let out = registrar(given.path(), home.path(), &["init", "--recipient", age]);
    assert!(out.status.success(), "{}", text(&out));
    let config = std::fs::read_to_string(given.path().join("registry.yaml")).unwrap();
    assert!(
        config.contains(age) && !config.contains("ssh-ed25519 AAAA"),
        "{config}"
    );

    let bad = tempfile::tempdir().unwrap();
    let out = registrar(
        bad.path(),
        home.path(),
        &["init", "--recipient", "age1nope"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(!bad.path().join("registry.yaml").exists());
}

#[test]
fn completions_and_man_pages_come_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "_registrar()"),
        ("zsh", "#compdef registrar"),
        ("fish", "complete -c registrar"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let out = registrar(dir.path(), dir.path(), &["completions", shell]);
        let script = out.stdout_str();
        assert!(
            out.status.success() && script.contains(marker),
            "{shell}: {}",
            text(&out)
        );
        for command in ["plan", "apply", "drift", "init", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    let man = registrar(dir.path(), dir.path(), &["man"]);
    let page = man.stdout_str();
    assert!(
        man.status.success() && page.starts_with(".ie"),
        "{}",
        text(&man)
    );
    assert!(
        page.contains(".TH registrar 1") && page.contains("force\\-unlock"),
        "{page}"
    );
    let out = registrar(dir.path(), dir.path(), &["man", "--out-dir", "man"]);
    assert!(out.status.success(), "{}", text(&out));
    for page in [
        "registrar.1",
        "registrar-apply.1",
        "registrar-secrets-show.1",
    ] {
        let text = std::fs::read_to_string(dir.path().join("man").join(page)).unwrap();
        assert!(text.contains(".TH"), "{page}");
    }
}

trait StdoutStr {
    fn stdout_str(&self) -> String;
}

impl StdoutStr for Output {
    fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}
