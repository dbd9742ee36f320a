//! apaleo end to end: the real binary against `registrar serve --flavor apaleo`. The test
//! plays the person: it follows `apply`'s JSON checklist against the stand-in's admin
//! interface (the dashboard), pastes each secret with `secrets set`, and ends with an empty
//! plan; then verification catches a scope removed in the dashboard, a wrong secret, a
//! rotated-away secret and a deleted client; a rotation runs through its overlap. Every
//! output people read is snapshotted; the secrets canary checks every output and file.
//!
//! Update with `INSTA_UPDATE=always cargo test --test apaleo_e2e`, then review
//! `tests/snapshots/apaleo_e2e__*.snap`.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use canary::Canary;
use common::Server;
use serde_json::{Value, json};

/// The config of the issue: a connect and a simple client.
pub const CONFIG: &str = "version: 1
backend: {kind: apaleo, account: DEMO}
clients:
  - code: booking-engine
    kind: connect
    name: Booking Engine
    logoUrl: https://booking.example.com/logo.png
    redirectUris: [https://booking.example.com/oauth/callback]
    scopes: [reservations.read, offline_access]
    secrets: [{id: primary, description: production}]
  - code: night-audit-bot
    kind: simple
    name: Night audit bot
    pii: false
    scopes: [reports.read]
    secrets: [{id: primary, description: ci}]
";

struct Person {
    dir: tempfile::TempDir,
    server: Server,
    outputs: Vec<(String, Output)>,
    /// Every secret the dashboard showed.
    shown: Vec<String>,
}

impl Person {
    fn new() -> Person {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.yaml"), CONFIG).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Person {
            dir,
            server: Server::start("apaleo", &[]),
            outputs: Vec::new(),
            shown: Vec::new(),
        }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .env("LANG", "C")
            .env("TZ", "UTC")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs `registrar ARGS`, adding `--url` of the stand-in to `plan` and `apply`.
    fn run(&mut self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        if matches!(
            args.first(),
            Some(&"plan") | Some(&"apply") | Some(&"drift")
        ) {
            all.extend(["--url".to_string(), self.server.url.clone()]);
        }
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = self.command(&all).output().unwrap();
        self.outputs.push((all.join(" "), out.clone()));
        out
    }

    /// `registrar ARGS --url STAND-IN` on a terminal ([`Pty`]).
    fn terminal(&self, args: &[&str]) -> Pty {
        let mut cmd = self.command(args);
        cmd.args(["--url", &self.server.url]);
        Pty::spawn(cmd)
    }

    /// `apply` on a terminal, confirming every step: the person checked the dashboard.
    /// Returns its exit code.
    fn confirm_all(&mut self, steps: usize) -> i32 {
        let mut t = self.terminal(&["apply"]);
        for _ in 0..steps {
            t.expect("Done? [y/s/q]");
            t.type_in("y\n");
        }
        let (code, shown) = t.finish();
        let out = Output {
            status: exit_status(code),
            stdout: shown.into_bytes(),
            stderr: vec![],
        };
        self.outputs.push(("apply (terminal)".into(), out));
        code
    }

    /// `registrar secrets set CODE --key ID [--force]` with the client id and secret on stdin.
    fn paste(&mut self, code: &str, id: &str, secret: &str, force: bool) -> Output {
        let mut args = vec!["secrets", "set", code, "--key", id];
        if force {
            args.push("--force");
        }
        let mut child = self
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        write!(child.stdin.take().unwrap(), "{code}\n{secret}\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", transcript(&out));
        self.outputs.push((args.join(" "), out.clone()));
        out
    }

    #[track_caller]
    fn snap(&mut self, name: &str, args: &[&str]) -> Output {
        let out = self.run(args);
        self.snapshot(name, &out);
        out
    }

    #[track_caller]
    fn snapshot(&self, name: &str, out: &Output) {
        let filters = self.filters();
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({filters => filters, omit_expression => true}, {
            insta::assert_snapshot!(name, transcript(out));
        });
    }

    fn filters(&self) -> Vec<(String, String)> {
        let dir = self.dir.path();
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut f = vec![(
            escape(&self.server.url),
            "http://127.0.0.1:[PORT]".to_string(),
        )];
        for p in [canonical, dir.to_path_buf()] {
            f.push((escape(&p.to_string_lossy()), "[TEMP]".to_string()));
        }
        f.push((r"sha256:[0-9a-f]{16}\b".into(), "[FP]".into()));
        f.push((
            r"\b\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}:\d{2}(\.\d+)?Z)?\b".into(),
            "[TIMESTAMP]".into(),
        ));
        f.push((r"\b1[5-9]\d{11}\b".into(), "[TIMESTAMP]".into()));
        f
    }

    async fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.server.call(method, path, body).await;
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        r.body
    }

    /// Adds a secret in the "dashboard"; returns its value (shown once).
    async fn add_secret(&mut self, code: &str, description: &str) -> String {
        let v = self
            .admin(
                "POST",
                &format!("/admin/clients/{code}/secrets"),
                Some(json!({"description": description})),
            )
            .await;
        let s = v["secret"].as_str().unwrap().to_string();
        self.shown.push(s.clone());
        s
    }

    /// Does what the JSON checklist says, as a person in the dashboard would; pastes each
    /// secret with `secrets set`.
    async fn follow(&mut self, checklist: &Value) {
        let mut present = false;
        for step in checklist["clients"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["steps"].as_array().unwrap().clone())
        {
            let code = step["code"].as_str().unwrap().to_string();
            match step["action"].as_str().unwrap() {
                // The person looks for the client; a create `onlyIfMissing` is skipped when
                // it is there.
                "check-client" => {
                    let r = self
                        .server
                        .call("GET", &format!("/admin/clients/{code}"), None)
                        .await;
                    present = r.status.is_success();
                }
                "create-client" if step["onlyIfMissing"] == json!(true) && present => {}
                "create-client" => {
                    let mut body = step.clone();
                    let o = body.as_object_mut().unwrap();
                    for k in [
                        "action",
                        "number",
                        "client",
                        "instructions",
                        "onlyIfMissing",
                    ] {
                        o.remove(k);
                    }
                    self.admin("POST", "/admin/clients", Some(body)).await;
                }
                "edit-client" => {
                    let mut body = json!({"scopes": step["scopes"]});
                    for k in ["name", "logoUrl", "redirectUris", "pii"] {
                        if let Some(v) = step.get(k) {
                            body[k] = v.clone();
                        }
                    }
                    self.admin("PATCH", &format!("/admin/clients/{code}"), Some(body))
                        .await;
                }
                "add-secret" => {
                    let description = step["description"].as_str().unwrap();
                    let secret = self.add_secret(&code, description).await;
                    let id = step["secretId"].as_str().unwrap();
                    let force = step["replaces"] == json!(true) && step["rotation"] != json!(true);
                    self.paste(&code, id, &secret, force);
                }
                "delete-secret" => {
                    let client = self
                        .admin("GET", &format!("/admin/clients/{code}"), None)
                        .await;
                    let secrets = client["secrets"].as_array().unwrap();
                    let newest = secrets
                        .iter()
                        .map(|s| s["createdAt"].as_i64().unwrap())
                        .max()
                        .unwrap();
                    for s in secrets {
                        if s["createdAt"].as_i64().unwrap() < newest {
                            let id = s["id"].as_str().unwrap();
                            self.admin(
                                "DELETE",
                                &format!("/admin/clients/{code}/secrets/{id}"),
                                None,
                            )
                            .await;
                        }
                    }
                }
                // Confirmed by a person on a terminal (`confirm_all`): nothing to do here.
                "confirm-client" => {}
                other => panic!("the test does not play `{other}`"),
            }
        }
    }

    fn canary(&self) {
        // The client id of an apaleo client is its code, which the config and every output
        // name: only the secrets are looked for (every one the dashboard showed, and every
        // one the store holds).
        let mut c = Canary::new();
        let store = registrar::secrets::SecretStore::open(self.path("secrets/DEMO"), &[]).unwrap();
        let identity =
            registrar::secrets::Identity::from_file(&self.path(".registrar/identity.txt")).unwrap();
        for e in store.entries() {
            c.add(
                store
                    .read_entry(&identity, &e)
                    .unwrap()
                    .consumer_secret
                    .expose(),
            );
        }
        for s in &self.shown {
            c.add(s);
        }
        assert!(!c.is_empty());
        for (label, out) in &self.outputs {
            c.check_output(label, out);
        }
        c.scan_dir(self.dir.path());
    }
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn transcript(out: &Output) -> String {
    format!(
        "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}\n",
        out.status.success(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    )
}

fn exit_status(code: i32) -> std::process::ExitStatus {
    use std::os::unix::process::ExitStatusExt;
    std::process::ExitStatus::from_raw((code & 0xff) << 8)
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", transcript(out)))
}

/// `registrar` on a pseudo-terminal that is its controlling terminal (`/dev/tty`), as a
/// person runs `apply`: the test types into it and reads what it shows.
struct Pty {
    child: std::process::Child,
    master: std::fs::File,
    /// A descriptor of the terminal's own side, kept to read its settings after the child.
    slave: Option<std::os::fd::OwnedFd>,
    seen: std::sync::mpsc::Receiver<Vec<u8>>,
    /// Everything shown so far.
    pub shown: String,
}

impl Pty {
    fn spawn(mut cmd: Command) -> Pty {
        use std::os::fd::FromRawFd;
        use std::os::unix::process::CommandExt;
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty writes two descriptors; the other arguments may be null.
        let rc = unsafe {
            libc::openpty(
                &mut m,
                &mut s,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
        // SAFETY: both descriptors were just opened and are owned here.
        let (master, slave) = unsafe {
            (
                std::os::fd::OwnedFd::from_raw_fd(m),
                std::os::fd::OwnedFd::from_raw_fd(s),
            )
        };
        cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
            .stdout(Stdio::from(slave.try_clone().unwrap()))
            .stderr(Stdio::from(slave.try_clone().unwrap()));
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        drop(cmd);
        let mut reader = std::fs::File::from(master.try_clone().unwrap());
        let (tx, seen) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        Pty {
            child,
            master: std::fs::File::from(master),
            slave: Some(slave),
            seen,
            shown: String::new(),
        }
    }

    /// Waits until the terminal shows `text` (after what was already awaited).
    #[track_caller]
    fn expect(&mut self, text: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let start = self.shown.len();
        while !self.shown[start..].contains(text) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.seen.recv_timeout(left) {
                Ok(chunk) => self.shown.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("the terminal never showed {text:?}:\n{}", self.shown),
            }
        }
    }

    /// Types `keys`.
    fn type_in(&mut self, keys: &str) {
        self.master.write_all(keys.as_bytes()).unwrap();
    }

    /// Whether the terminal echoes what is typed.
    fn echoes(&self) -> bool {
        use std::os::fd::AsRawFd;
        let fd = self.slave.as_ref().unwrap().as_raw_fd();
        // SAFETY: termios is plain data; fd is the open terminal.
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0);
        t.c_lflag & libc::ECHO != 0
    }

    /// Waits for the child; returns its exit code (-1 when a signal ended it) and everything
    /// it showed.
    fn finish(mut self) -> (i32, String) {
        let status = self.child.wait().unwrap();
        self.slave = None;
        while let Ok(chunk) = self.seen.recv_timeout(std::time::Duration::from_secs(5)) {
            self.shown.push_str(&String::from_utf8_lossy(&chunk));
        }
        (status.code().unwrap_or(-1), self.shown)
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_follows_the_checklist_and_verification_catches_drift() {
    let mut p = Person::new();
    p.snap("validate", &["validate"]);

    // The plan of a fresh config: two clients to create, per field how it is known.
    let out = p.snap("plan_create", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);
    p.snap("plan_create_markdown", &["plan", "--format", "markdown"]);

    // Without a terminal, apply prints the checklist and exits 3: manual steps pending.
    let out = p.snap("apply_checklist", &["apply"]);
    assert_eq!(code(&out), 3);
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let block = readme
        .split("<!-- apaleo-checklist:start -->\n```text\n")
        .nth(1)
        .and_then(|rest| rest.split("```\n<!-- apaleo-checklist:end -->").next())
        .expect("README.md has the apaleo checklist block");
    assert_eq!(
        block,
        String::from_utf8_lossy(&out.stdout),
        "README.md's apaleo checklist is not what apply prints: update it"
    );

    // The person follows the JSON checklist in the dashboard and pastes the secrets.
    let out = p.run(&["apply", "--format", "json"]);
    assert_eq!(code(&out), 3);
    let checklist = json_of(&out);
    assert_eq!(checklist["summary"]["steps"], 4);
    p.follow(&checklist).await;

    // Verified, but nobody confirmed what a token cannot show (name, logo, redirect URIs,
    // pii, a connect client's scopes): a confirm step per client, not yet in sync.
    let out = p.snap("plan_verified", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    // Without a terminal, apply records only what verification proved; the confirm steps
    // stay pending.
    let out = p.snap("apply_records", &["apply"]);
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    let plan = json_of(&p.run(&["plan", "--format", "json"]));
    let actions: Vec<&str> = plan["clients"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["steps"].as_array().unwrap())
        .map(|s| s["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["confirm-client", "confirm-client"]);
    assert_eq!(code(&p.run(&["apply"])), 3, "still nothing confirmed");
    // On a terminal, the person confirms them: recorded, in sync.
    assert_eq!(p.confirm_all(2), 0);
    let out = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("in sync\n"));
    let out = p.snap("drift_in_sync", &["drift"]);
    assert_eq!(code(&out), 0, "{}", transcript(&out));

    // Without an identity nothing is verified: not a sync.
    let identity = p.path(".registrar/identity.txt");
    let aside = p.path("identity.aside");
    std::fs::rename(&identity, &aside).unwrap();
    let out = p.snap("plan_unverified", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    let out = p.snap("drift_unverified", &["drift"]);
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    std::fs::rename(&aside, &identity).unwrap();

    // A scope removed in the dashboard: drift, naming the scope.
    p.admin(
        "PATCH",
        "/admin/clients/night-audit-bot",
        Some(json!({"scopes": []})),
    )
    .await;
    let out = p.snap("plan_scope_removed", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);
    let out = p.snap("drift_scope_removed", &["drift"]);
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("platform  client night-audit-bot"),
        "{}",
        transcript(&out)
    );
    let plan = json_of(&p.run(&["plan", "--format", "json"]));
    p.follow(&plan).await;
    assert_eq!(code(&p.run(&["plan", "--detailed-exitcode"])), 0);
    assert_eq!(code(&p.run(&["drift"])), 0);

    // A change in the config only: `config`, exit 2.
    std::fs::write(
        p.path("registry.yaml"),
        CONFIG.replace("name: Night audit bot", "name: Night audit"),
    )
    .unwrap();
    let out = p.snap("drift_config_edit", &["drift"]);
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("config    client night-audit-bot"),
        "{}",
        transcript(&out)
    );
    std::fs::write(p.path("registry.yaml"), CONFIG).unwrap();

    // A wrong secret in the store.
    p.paste("booking-engine", "primary", "not-the-secret-at-all", true);
    p.shown.push("not-the-secret-at-all".into());
    let out = p.snap("plan_wrong_secret", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);
    let plan = json_of(&p.run(&["plan", "--format", "json"]));
    p.follow(&plan).await;
    assert_eq!(code(&p.run(&["plan", "--detailed-exitcode"])), 0);

    // A rotation through registrar: both secrets work during the overlap, then a step
    // deletes the old one, and apply forgets it.
    p.snap(
        "rotate",
        &[
            "rotate",
            "night-audit-bot",
            "--key",
            "primary",
            "--overlap",
            "0s",
        ],
    );
    let plan = json_of(&p.run(&["plan", "--format", "json"]));
    assert_eq!(plan["clients"][1]["steps"][0]["rotation"], true);
    p.follow(&plan).await;
    let out = p.snap(
        "plan_rotation_overlap_over",
        &["plan", "--detailed-exitcode"],
    );
    assert_eq!(code(&out), 2);
    let plan = json_of(&p.run(&["plan", "--format", "json"]));
    p.follow(&plan).await;
    assert_eq!(code(&p.run(&["plan", "--detailed-exitcode"])), 0);
    let out = p.snap("apply_forgets_old_secret", &["apply"]);
    assert_eq!(code(&out), 0);

    // A secret rotated away in the dashboard, behind registrar's back.
    let stored_id =
        p.admin("GET", "/admin/clients/night-audit-bot", None).await["secrets"][0]["id"]
            .as_str()
            .unwrap()
            .to_string();
    p.add_secret("night-audit-bot", "ci, by hand").await;
    p.admin(
        "DELETE",
        &format!("/admin/clients/night-audit-bot/secrets/{stored_id}"),
        None,
    )
    .await;
    let out = p.snap("plan_rotated_away", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);

    // A client deleted in the dashboard.
    p.admin("DELETE", "/admin/clients/booking-engine", None)
        .await;
    let out = p.snap("plan_client_deleted", &["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 2);

    p.canary();
}

/// A rotation with an overlap: both secrets verify while it lasts, and nothing asks to delete
/// the old one yet.
#[tokio::test(flavor = "multi_thread")]
async fn both_secrets_verify_through_a_rotation_overlap() {
    let mut p = Person::new();
    let checklist = json_of(&p.run(&["apply", "--format", "json"]));
    p.follow(&checklist).await;
    assert_eq!(p.confirm_all(2), 0);
    let out = p.run(&[
        "rotate",
        "night-audit-bot",
        "--key",
        "primary",
        "--overlap",
        "1h",
    ]);
    assert!(out.status.success(), "{}", transcript(&out));
    let plan = json_of(&p.run(&["plan", "--format", "json"]));
    assert_eq!(plan["clients"][1]["steps"][0]["rotation"], true);
    p.follow(&plan).await;
    let out = p.run(&["plan", "--format", "json"]);
    let plan = json_of(&out);
    let bot = &plan["clients"][1];
    assert_eq!(bot["code"], "night-audit-bot");
    let secrets = bot["secrets"].as_array().unwrap();
    assert_eq!(secrets.len(), 2, "{bot:#}");
    assert_eq!(
        secrets.iter().filter(|s| s["retiring"] == true).count(),
        1,
        "{bot:#}"
    );
    for s in secrets {
        assert_eq!(s["check"]["outcome"], "granted", "{bot:#}");
    }
    assert_eq!(bot["action"], "in-sync", "{bot:#}");
    assert!(bot["steps"].as_array().unwrap().is_empty(), "{bot:#}");
    let out = p.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("primary (old, in overlap): works"),
        "{}",
        transcript(&out)
    );
    p.canary();
}

/// An outage of the token endpoint is not drift: retried, then an error (exit 1, a hint).
#[tokio::test(flavor = "multi_thread")]
async fn an_outage_at_the_token_endpoint_is_an_error_not_drift() {
    let mut p = Person::new();
    let checklist = json_of(&p.run(&["apply", "--format", "json"]));
    p.follow(&checklist).await;
    // A token endpoint that answers 503 (an HTML page) to everything, counting requests.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", listener.local_addr().unwrap());
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        use std::io::Read;
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 8192];
            let _ = conn.read(&mut buf);
            let body = "<html>maintenance</html>";
            let _ = write!(
                conn,
                "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\nretry-after: 0\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
                body.len()
            );
        }
    });
    for args in [
        &["plan", "--detailed-exitcode", "--url", &down][..],
        &["drift", "--url", &down][..],
    ] {
        let out = p.command(args).output().unwrap();
        assert_eq!(code(&out), 1, "{}", transcript(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("gave up after 6 attempts")
                && stderr.contains("hint: nothing was verified"),
            "{}",
            transcript(&out)
        );
        p.outputs.push((args.join(" "), out));
    }
    assert_eq!(
        count.load(std::sync::atomic::Ordering::SeqCst),
        12,
        "6 attempts each"
    );
    let out = p.command(&["plan", "--url", &down]).output().unwrap();
    let down_re = escape(&down);
    let filters = [(down_re.as_str(), "http://127.0.0.1:[PORT]")];
    insta::with_settings!({filters => filters, omit_expression => true}, {
        insta::assert_snapshot!("plan_token_endpoint_down", transcript(&out));
    });
    p.outputs.push(("plan (down)".into(), out));
    p.canary();
}

/// `--select`, `--max-deletes` and `--prune` shape an apaleo plan; apply refuses the flags
/// a checklist cannot honour.
#[test]
fn plan_flags_mean_what_they_say_on_apaleo() {
    let mut p = Person::new();
    let out = p.snap(
        "plan_select",
        &["plan", "--select", "client booking-engine"],
    );
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        text.contains("booking-engine") && !text.contains("night-audit-bot"),
        "{text}"
    );
    let out = p.run(&["plan", "--select", "client *-bot"]);
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        !text.contains("booking-engine") && text.contains("night-audit-bot"),
        "{text}"
    );
    // A whole address: `booking` is not `booking-engine`.
    let out = p.snap("plan_select_nothing", &["plan", "--select", "booking"]);
    assert_eq!(code(&out), 1);
    let out = p.snap(
        "apply_refuses_flags",
        &["apply", "--auto-approve", "--parallelism", "2"],
    );
    assert_eq!(code(&out), 1);
    // A recorded client the config no longer declares: `removed`; `--prune` deletes it,
    // within `--max-deletes`.
    let registry = registrar::registry::Registry::open(p.path(".registrar/registry.db")).unwrap();
    let old = registrar::model::apaleo::Client {
        code: "old-bot".into(),
        kind: registrar::model::apaleo::ClientKind::Simple,
        name: "Old".into(),
        logo_url: None,
        redirect_uris: vec![],
        pii: Some(false),
        scopes: vec![],
        secrets: vec![],
        unconfirmed: vec![],
    };
    registry.apaleo_record("DEMO", &old).unwrap();
    drop(registry);
    let out = p.run(&["drift", "--select", "client old-bot"]);
    assert_eq!(code(&out), 3, "{}", transcript(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("removed   client old-bot"),
        "{}",
        transcript(&out)
    );
    let out = p.snap(
        "plan_max_deletes",
        &["plan", "--prune", "--max-deletes", "0"],
    );
    assert_eq!(code(&out), 1);
    let out = p.run(&[
        "plan",
        "--prune",
        "--max-deletes",
        "1",
        "--select",
        "client old-bot",
    ]);
    assert_eq!(code(&out), 0, "{}", transcript(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("- old-bot"));
}

/// Ctrl-C while apply reads a secret with echo off: the terminal echoes again afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_walk_gives_the_terminal_its_echo_back() {
    let p = Person::new();
    let mut t = p.terminal(&["apply"]);
    t.expect("Done? [y/s/q]");
    t.type_in("y\n");
    t.expect("input hidden");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!t.echoes(), "echo is off while a secret is read");
    t.type_in("\u{3}");
    let status = t.child.wait().unwrap();
    assert!(!status.success());
    assert!(t.echoes(), "echo restored after Ctrl-C:\n{}", t.shown);
}

/// A pasted `CLIENT_ID=…` line, then the `CLIENT_SECRET=…` line: the secret is stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_two_line_paste_stores_the_secret() {
    let mut p = Person::new();
    let mut t = p.terminal(&["apply", "--select", "client night-audit-bot"]);
    t.expect("Done? [y/s/q]");
    // The person creates the client in the dashboard as step 1 says.
    p.admin(
        "POST",
        "/admin/clients",
        Some(json!({"code": "night-audit-bot", "kind": "simple", "name": "Night audit bot", "pii": false, "scopes": ["reports.read"]})),
    )
    .await;
    t.type_in("y\n");
    t.expect("input hidden");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let secret = p.add_secret("night-audit-bot", "ci").await;
    t.type_in(&format!(
        "CLIENT_ID=night-audit-bot\nCLIENT_SECRET={secret}\n"
    ));
    t.expect("Verified at the token endpoint.");
    let (code, shown) = t.finish();
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains(&secret));
    let out = Output {
        status: exit_status(code),
        stdout: shown.into_bytes(),
        stderr: vec![],
    };
    p.outputs.push(("apply (terminal)".into(), out));
    p.canary();
}

#[test]
fn validation_points_at_each_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = "version: 1
backend: {kind: apaleo, account: DEMO}
clients:
  - code: booking engine
    kind: connect
    name: Booking Engine
    pii: true
    redirectUris: [https://b.example.com/cb, https://b.example.com/cb/, http://b.example.com/cb2]
    scopes: [reservation.read, payment:payments.read, offline_access, offline_access]
    secrets: [{id: Primary}]
  - code: bot
    kind: simple
    name: Bot
    logoUrl: https://b.example.com/logo.png
    scopes: [reports.read, zzz.yyy, openid]
  - code: BOT
    kind: simple
    name: ''
";
    std::fs::write(dir.path().join("bad.yaml"), config).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(dir.path())
        .args(["validate", "-f", "bad.yaml"])
        .env_clear()
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    insta::assert_snapshot!("validate_errors", transcript(&out));
}

#[test]
fn serve_apaleo_refuses_fault_injection() {
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .args(["serve", "--flavor", "apaleo", "--fail-rate", "0.5"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(code(&out), 1);
    insta::assert_snapshot!("serve_apaleo_faults", transcript(&out));
}

/// The stand-in's token endpoint speaks RFC 6749: form body, Basic auth, JSON errors.
#[tokio::test(flavor = "multi_thread")]
async fn the_stand_in_token_endpoint_follows_rfc_6749() {
    let server = Server::start("apaleo", &["--org", "HOTEL"]);
    let http = reqwest::Client::new();
    let admin = |method: &'static str, path: &'static str, body: Value| {
        let s = &server;
        async move {
            let r = s.call(method, path, Some(body)).await;
            assert!(r.status.is_success(), "{} {}", r.status, r.text);
            r.body
        }
    };
    admin(
        "POST",
        "/admin/clients",
        json!({"code": "bot", "kind": "simple", "name": "Bot", "scopes": ["reports.read", "setup.read"]}),
    )
    .await;
    admin(
        "POST",
        "/admin/clients",
        json!({"code": "store-app", "kind": "connect", "name": "App", "redirectUris": ["https://a.example.com/cb"]}),
    )
    .await;
    let bot = admin(
        "POST",
        "/admin/clients/bot/secrets",
        json!({"description": "ci"}),
    )
    .await;
    let app = admin(
        "POST",
        "/admin/clients/store-app/secrets",
        json!({"description": "p"}),
    )
    .await;
    let bot_secret = bot["secret"].as_str().unwrap().to_string();
    let app_secret = app["secret"].as_str().unwrap().to_string();
    // The secret is shown once: the client's page lists the description, not the value.
    let page = server.call("GET", "/admin/clients/bot", None).await;
    assert!(!page.text.contains(&bot_secret));
    assert_eq!(page.body["secrets"][0]["description"], "ci");

    let token = |id: &str, secret: &str, form: &str| {
        http.post(format!("{}/connect/token", server.url))
            .basic_auth(id, Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_string())
            .send()
    };
    let r = token(
        "bot",
        &bot_secret,
        "grant_type=client_credentials&scope=reports.read",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "reports.read");
    let access = body["access_token"].as_str().unwrap().to_string();
    let account: Value = http
        .get(format!("{}/account/v1/accounts/current", server.url))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(account["code"], "HOTEL");

    let error = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let www = r.headers().get("www-authenticate").is_some();
        let body: Value = r.json().await.unwrap();
        (status, body["error"].as_str().unwrap().to_string(), www)
    };
    let r = token("bot", "wrong", "grant_type=client_credentials")
        .await
        .unwrap();
    assert_eq!(error(r).await, (401, "invalid_client".into(), true));
    let r = token("nobody", &bot_secret, "grant_type=client_credentials")
        .await
        .unwrap();
    assert_eq!(error(r).await, (401, "invalid_client".into(), true));
    let r = token("bot", &bot_secret, "grant_type=password")
        .await
        .unwrap();
    assert_eq!(
        error(r).await,
        (400, "unsupported_grant_type".into(), false)
    );
    let r = token("bot", &bot_secret, "scope=reports.read")
        .await
        .unwrap();
    assert_eq!(error(r).await, (400, "invalid_request".into(), false));
    let r = token(
        "bot",
        &bot_secret,
        "grant_type=client_credentials&scope=reports.read%20logs.read",
    )
    .await
    .unwrap();
    let r: Value = r.json().await.unwrap();
    assert_eq!(r["error"], "invalid_scope");
    assert!(
        r["error_description"]
            .as_str()
            .unwrap()
            .contains("logs.read")
    );
    let r = token("store-app", &app_secret, "grant_type=client_credentials")
        .await
        .unwrap();
    assert_eq!(error(r).await, (400, "unauthorized_client".into(), false));
    let r = token("store-app", "wrong", "grant_type=client_credentials")
        .await
        .unwrap();
    assert_eq!(error(r).await, (401, "invalid_client".into(), true));
    let r = http
        .get(format!("{}/account/v1/accounts/current", server.url))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // Deleting the secret refuses it; deleting the client too.
    let page = server.call("GET", "/admin/clients/bot", None).await;
    let id = page.body["secrets"][0]["id"].as_str().unwrap().to_string();
    let r = server
        .call("DELETE", &format!("/admin/clients/bot/secrets/{id}"), None)
        .await;
    assert_eq!(r.status, 204);
    let r = token("bot", &bot_secret, "grant_type=client_credentials")
        .await
        .unwrap();
    assert_eq!(error(r).await.1, "invalid_client");
    assert!(!server.stderr().contains(&bot_secret));
    assert!(!server.stderr().contains(&app_secret));
}

/// Clients are apaleo's: another backend refuses them rather than ignore them; `--backend
/// apaleo --org CODE` selects apaleo without `backend:` in the config.
#[test]
fn clients_need_the_apaleo_backend() {
    let dir = tempfile::tempdir().unwrap();
    let config = CONFIG.replace("backend: {kind: apaleo, account: DEMO}\n", "");
    std::fs::write(dir.path().join("registry.yaml"), config).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(dir.path())
            .args(args)
            .env_clear()
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let out = run(&["plan"]);
    assert_eq!(code(&out), 1);
    insta::assert_snapshot!("clients_on_local", transcript(&out));
    // Nothing is stored, so nothing is sent: the URL is never asked.
    let out = run(&[
        "plan",
        "--backend",
        "apaleo",
        "--org",
        "DEMO",
        "--url",
        "http://127.0.0.1:9",
        "--detailed-exitcode",
    ]);
    assert_eq!(code(&out), 2, "{}", transcript(&out));
    let out = run(&["plan", "--backend", "apaleo"]);
    assert_eq!(code(&out), 1);
    insta::assert_snapshot!("apaleo_without_account", transcript(&out));
}
