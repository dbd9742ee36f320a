//! The local registry and any `serve --db` file, with their `-wal` and `-shm`, are readable
//! by their owner only (0600), under umask 022 and under umask 000; a looser one is
//! tightened with a warning naming it; a `.registrar/` that registrar creates is 0700 and
//! git-ignores everything in it. Drives the real binary through `sh -c 'umask …; exec …'`.
#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn sidecars(db: &Path) -> Vec<PathBuf> {
    ["-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", db.display())))
        .filter(|p| p.exists())
        .collect()
}

/// registrar under `umask`, in `dir`.
fn registrar(dir: &Path, umask: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_registrar"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("REGISTRAR_LOG")
        .env_remove("REGISTRAR_IDENTITY");
    cmd
}

fn run_ok(dir: &Path, umask: &str, args: &[&str]) -> Output {
    let out = registrar(dir, umask, args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?} under umask {umask} failed\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A temp dir with a copy of the example registry.yaml.
fn work() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml"),
        dir.path().join("registry.yaml"),
    )
    .unwrap();
    dir
}

fn assert_private_registrar_dir(dir: &Path, umask: &str) {
    let reg = dir.join(".registrar");
    let db = reg.join("registry.db");
    assert_eq!(mode(&db), 0o600, "registry.db under umask {umask}");
    for p in sidecars(&db) {
        assert_eq!(mode(&p), 0o600, "{} under umask {umask}", p.display());
    }
    assert_eq!(
        mode(&reg.join("identity.txt")),
        0o600,
        "identity under umask {umask}"
    );
    assert_eq!(mode(&reg), 0o700, ".registrar/ under umask {umask}");
    assert_eq!(
        std::fs::read_to_string(reg.join(".gitignore"))
            .unwrap()
            .trim(),
        "*",
        ".registrar/.gitignore under umask {umask}"
    );
}

#[test]
fn apply_creates_a_private_ignored_registry_under_any_umask() {
    for umask in ["022", "000"] {
        let dir = work();
        run_ok(dir.path(), umask, &["apply", "--auto-approve"]);
        assert_private_registrar_dir(dir.path(), umask);
    }
}

#[test]
fn a_looser_registry_is_tightened_with_a_warning() {
    let dir = work();
    run_ok(dir.path(), "022", &["apply", "--auto-approve"]);
    let db = dir.path().join(".registrar/registry.db");
    // Looser files, and a -wal and -shm left behind the way a crashed writer would.
    let side = |s: &str| PathBuf::from(format!("{}{s}", db.display()));
    for (p, m) in [
        (db.clone(), 0o644),
        (side("-wal"), 0o644),
        (side("-shm"), 0o666),
    ] {
        if !p.exists() {
            std::fs::write(&p, b"").unwrap();
        }
        chmod(&p, m);
    }
    let out = run_ok(dir.path(), "022", &["plan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    for (p, was) in [("", "0644"), ("-wal", "0644"), ("-shm", "0666")] {
        let warning = format!(
            "`.registrar/registry.db{p}` was accessible to users other than its owner (mode {was})"
        );
        assert!(stderr.contains(&warning), "no {warning:?} in: {stderr}");
    }
    assert!(stderr.contains("WARN"), "{stderr}");
    assert_private_registrar_dir(dir.path(), "022");
    // Tight already: no warning.
    let out = run_ok(dir.path(), "022", &["plan"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("accessible to users"), "{stderr}");
}

/// Starts `registrar serve --db DB` under `umask`, waits for it to listen, stops it;
/// returns its stderr.
fn serve_once(dir: &Path, umask: &str, db: &Path) -> String {
    let log = dir.join(format!("serve-{umask}.log"));
    let mut child = registrar(dir, umask, &["serve", "--listen", "127.0.0.1:0", "--db"])
        .arg(db)
        .stdout(Stdio::piped())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        line.starts_with("listening on "),
        "serve did not start: {line:?}\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    std::fs::read_to_string(&log).unwrap()
}

#[test]
fn serve_db_files_are_private_under_any_umask() {
    for umask in ["022", "000"] {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("data/r.db");
        serve_once(dir.path(), umask, &db);
        assert_eq!(mode(&db), 0o600, "serve --db under umask {umask}");
        let side = sidecars(&db);
        assert!(!side.is_empty(), "serve keeps the db in WAL mode");
        for p in side {
            assert_eq!(mode(&p), 0o600, "{} under umask {umask}", p.display());
        }
        // Not `.registrar/`: no ignore file is planted in a directory the user named.
        assert!(!dir.path().join("data/.gitignore").exists());

        chmod(&db, 0o664);
        let stderr = serve_once(dir.path(), umask, &db);
        assert!(
            stderr.contains(&format!(
                "`{}` was accessible to users other than its owner (mode 0664)",
                db.display()
            )),
            "{stderr}"
        );
        assert_eq!(mode(&db), 0o600);
    }
}
