//! plan/apply end to end: the real binary against the local backend and against a real
//! `registrar serve` (X and Edge) on 127.0.0.1 with an ephemeral port. Every run's stdout,
//! stderr (at trace level), plan files and the work directory go through the secrets canary.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use canary::Canary;
use common::Server;
use serde_json::Value;

/// A work directory with a copy of registry.yaml, and how to reach the platform.
struct Work {
    dir: tempfile::TempDir,
    backend: Vec<String>,
    outputs: Vec<(String, Output)>,
}

impl Work {
    fn new(backend: &[&str]) -> Work {
        let dir = tempfile::tempdir().unwrap();
        let config =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("registry.yaml"))
                .unwrap();
        std::fs::write(dir.path().join("registry.yaml"), config).unwrap();
        Work {
            dir,
            backend: backend.iter().map(|s| s.to_string()).collect(),
            outputs: Vec::new(),
        }
    }

    fn local() -> Work {
        Work::new(&["--backend", "local"])
    }

    fn http(server: &Server, flavor: &str) -> Work {
        let kind = if flavor == "edge" {
            "apigee-edge"
        } else {
            "apigee"
        };
        Work::new(&["--backend", kind, "--url", &server.url, "--org", "local"])
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    fn edit(&self, from: &str, to: &str) {
        let p = self.path("registry.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "registry.yaml lacks {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    /// Runs registrar with the backend flags after the subcommand's own arguments.
    fn run(&mut self, label: &str, args: &[&str]) -> Output {
        let backend = self.backend.clone();
        self.run_with(label, args, &backend)
    }

    /// Runs a command that takes no backend flags (`rotate`, `secrets …`).
    fn local_cmd(&mut self, label: &str, args: &[&str]) -> Output {
        self.run_with(label, args, &[])
    }

    fn run_with(&mut self, label: &str, args: &[&str], backend: &[String]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.current_dir(self.dir.path())
            .args(["--log", "trace"])
            .args(args)
            .args(backend)
            .env("NO_COLOR", "1")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_LOG")
            .env_remove("REGISTRAR_IDENTITY")
            // The config names no recipients: a throwaway identity is what these tests want.
            .env_remove("CI");
        let out = cmd.output().expect("registrar runs");
        self.outputs.push((label.to_string(), out.clone()));
        out
    }

    fn ok(&mut self, label: &str, args: &[&str]) -> String {
        let out = self.run(label, args);
        assert!(
            out.status.success(),
            "{label} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            tail(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The plan as JSON: (action, address) pairs.
    fn plan(&mut self, label: &str) -> Vec<(String, String)> {
        let out = self.ok(label, &["plan", "--format", "json"]);
        let v: Value = serde_json::from_str(&out).unwrap();
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["action"].as_str().unwrap().to_string(),
                    c["address"]["path"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    fn index(&self) -> Value {
        let text =
            std::fs::read_to_string(self.path("secrets/local/index.yaml")).unwrap_or_default();
        serde_yaml::from_str(&text).unwrap_or(Value::Null)
    }

    /// Collects every issued secret from the store and checks every output and file.
    fn canary(&self) {
        let mut c = Canary::new();
        c.collect_store(
            &self.path("secrets/local"),
            &self.path(".registrar/identity.txt"),
        );
        assert!(!c.is_empty(), "the store holds the issued keys");
        for (label, out) in &self.outputs {
            c.check_output(label, out);
        }
        c.scan_work_dir(self.dir.path());
    }
}

fn tail(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

/// A config edit (from, to) and the (action, address) pairs the plan must then hold.
type Edit = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

/// The whole life of registry.yaml on one platform.
fn lifecycle(w: &mut Work) {
    // From nothing.
    let first = w.plan("plan-empty");
    assert_eq!(
        first.iter().filter(|(a, _)| a == "create").count(),
        2 + 3 + 4,
        "{first:?}"
    );
    w.ok("apply-1", &["apply", "--auto-approve"]);
    let index = w.index();
    assert_eq!(
        index["keys"].as_sequence_len(),
        5,
        "one stored secret per key: {index:?}"
    );

    // Again: nothing to do, nothing minted.
    let out = w.run("plan-again", &["plan", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = w.ok("apply-2", &["apply", "--auto-approve"]);
    assert!(out.contains("0 done, 0 failed, 0 skipped"), "{out}");
    assert_eq!(w.index(), index, "a second apply mints nothing");

    // One change at a time gives exactly that change.
    let cases: &[Edit] = &[
        (
            "callbackUrl: https://checkout.example.com/oauth/callback",
            "callbackUrl: https://checkout.example.com/oauth/cb2",
            &[("update", "alice@example.com/checkout-web")],
        ),
        (
            "      tier: gold",
            "      tier: platinum",
            &[("update", "alice@example.com/checkout-web")],
        ),
        (
            "    scopes: [refunds.create, payments.read]",
            "    scopes: [refunds.create]",
            &[("set-scopes", "alice@example.com/refund-desk/default")],
        ),
        (
            "        apiProducts: [payments-read]\n        scopes: [payments.read]",
            "        apiProducts: [payments-write]\n        scopes: [payments.read]",
            &[
                ("attach-product", "alice@example.com/checkout-backend/batch"),
                ("detach-product", "alice@example.com/checkout-backend/batch"),
            ],
        ),
        (
            "    status: approved\n",
            "    status: revoked\n",
            &[("revoke", "bob@example.com/partner-portal")],
        ),
    ];
    for (i, (from, to, want)) in cases.iter().enumerate() {
        w.edit(from, to);
        assert_eq!(
            w.plan(&format!("plan-case-{i}")),
            pairs(want),
            "after {to:?}"
        );
        w.ok(&format!("apply-case-{i}"), &["apply", "--auto-approve"]);
        assert!(
            w.plan(&format!("plan-after-case-{i}")).is_empty(),
            "converged after {to:?}"
        );
    }
    assert_eq!(
        w.index()["keys"].as_sequence_len(),
        5,
        "no key minted by any edit"
    );

    // A saved plan is refused once what it touches has changed.
    w.edit("      tier: platinum", "      tier: bronze");
    w.ok("plan-out", &["plan", "--out", "plan.json"]);
    w.edit("      tier: bronze", "      tier: copper");
    w.ok("apply-other", &["apply", "--auto-approve"]);
    let out = w.run("apply-stale", &["apply", "plan.json"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("the saved plan is stale")
            && err.contains("app alice@example.com/checkout-web changed since the plan was made"),
        "{err}"
    );

    // A fresh saved plan applies.
    w.edit("      tier: copper", "      tier: gold");
    w.ok("plan-out-2", &["plan", "--out", "plan2.json"]);
    let out = w.ok("apply-saved", &["apply", "plan2.json"]);
    assert!(out.contains("1 done"), "{out}");

    // Prune deletes only owned resources.
    let text = std::fs::read_to_string(w.path("registry.yaml")).unwrap();
    let other = text
        .replace("owner: payments-platform", "owner: someone-else")
        .replace("alice@example.com", "carol@example.com")
        .replace("bob@example.com", "dave@example.com");
    std::fs::write(
        w.path("other.yaml"),
        other
            .replace("name: payments-", "name: other-")
            .replace("[payments-", "[other-")
            .replace(", payments-", ", other-")
            .replace("name: refunds", "name: other-refunds")
            .replace("[refunds", "[other-refunds"),
    )
    .unwrap();
    w.ok(
        "apply-other-owner",
        &["apply", "--auto-approve", "-f", "other.yaml"],
    );
    w.edit(
        "  - name: partner-portal\n",
        "  - name: partner-portal-renamed\n",
    );
    let plan = w.plan("plan-prune-off");
    assert_eq!(
        plan,
        pairs(&[("create", "bob@example.com/partner-portal-renamed")])
    );
    let out = w.ok("plan-prune", &["plan", "--prune", "--format", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    let deletes: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["action"] == "delete")
        .map(|c| c["address"]["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        deletes,
        vec!["bob@example.com/partner-portal"],
        "only our own app: {out}"
    );
    let out = w.run("max-deletes", &["plan", "--prune", "--max-deletes", "0"]);
    assert_eq!(out.status.code(), Some(1));
    w.ok("apply-prune", &["apply", "--auto-approve", "--prune"]);
    let plan = w.plan("plan-other-untouched");
    assert!(plan.is_empty(), "{plan:?}");
    let out = w.run(
        "other-converged",
        &["plan", "--detailed-exitcode", "-f", "other.yaml"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "the other owner's resources were not touched"
    );

    // Rotation: the next apply mints and stores a new key; after the overlap, the old key is
    // revoked, deleted, and dropped from the store.
    let keys = |w: &Work| w.index()["keys"].as_array().cloned().unwrap_or_default();
    let ours = |w: &Work| {
        keys(w)
            .into_iter()
            .filter(|k| {
                k["developer"]
                    .as_str()
                    .is_some_and(|d| d == "alice@example.com" || d == "bob@example.com")
            })
            .count()
    };
    let active_web = |w: &Work| {
        keys(w)
            .into_iter()
            .filter(|k| {
                k["developer"] == "alice@example.com"
                    && k["app"] == "checkout-web"
                    && k["state"] == "active"
            })
            .map(|k| k["consumerKeyFingerprint"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ours(w), 5, "{:?}", w.index());
    let old = active_web(w);
    let out = w.local_cmd(
        "rotate",
        &[
            "rotate",
            "checkout-web",
            "--developer",
            "alice@example.com",
            "--overlap",
            "1s",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        w.plan("plan-rotate"),
        pairs(&[("mint", "alice@example.com/checkout-web/default")])
    );
    w.ok("apply-rotate", &["apply", "--auto-approve"]);
    let new = active_web(w);
    assert_eq!(new.len(), 1);
    assert_ne!(new, old, "a new active key");
    assert_eq!(
        ours(w),
        6,
        "the retiring key keeps its entry during the overlap: {:?}",
        w.index()
    );
    std::thread::sleep(std::time::Duration::from_millis(1_200));
    let retire = w.plan("plan-retire");
    assert_eq!(
        retire.iter().map(|(a, _)| a.as_str()).collect::<Vec<_>>(),
        vec!["revoke", "delete"],
        "{retire:?}"
    );
    w.ok("apply-retire", &["apply", "--auto-approve"]);
    assert_eq!(
        ours(w),
        5,
        "the retired key left the store: {:?}",
        w.index()
    );
    assert_eq!(active_web(w), new);
    assert!(w.plan("plan-after-rotation").is_empty());

    // Pruning a declared credential deletes the key and its stored secret.
    w.edit("      - id: api\n        expiresIn: 30d\n", "");
    let out = w.ok("plan-prune-key", &["plan", "--prune", "--format", "json"]);
    assert!(out.contains("\"delete\""), "{out}");
    w.ok("apply-prune-key", &["apply", "--auto-approve", "--prune"]);
    assert!(
        keys(w)
            .iter()
            .all(|k| k["id"] != "api" || k["developer"] != "alice@example.com"),
        "{:?}",
        w.index()
    );
    assert_eq!(ours(w), 4);
    assert!(w.plan("plan-after-prune-key").is_empty());
    w.canary();
}

trait SeqLen {
    fn as_sequence_len(&self) -> usize;
}

impl SeqLen for Value {
    fn as_sequence_len(&self) -> usize {
        self.as_array().map_or(0, Vec::len)
    }
}

#[test]
fn local_backend_lifecycle() {
    let mut w = Work::local();
    lifecycle(&mut w);
}

#[test]
fn apigee_x_lifecycle() {
    let server = Server::start("x", &[]);
    let mut w = Work::http(&server, "x");
    lifecycle(&mut w);
}

#[test]
fn apigee_edge_lifecycle() {
    let server = Server::start("edge", &[]);
    let mut w = Work::http(&server, "edge");
    lifecycle(&mut w);
}

#[test]
fn converges_under_faults_without_losing_a_secret() {
    let server = Server::start(
        "x",
        &["--fail-rate", "0.1", "--seed", "7", "--rate-limit", "200/s"],
    );
    let mut w = Work::http(&server, "x");
    let mut converged = false;
    for i in 0..5 {
        let out = w.run(&format!("faulty-apply-{i}"), &["apply", "--auto-approve"]);
        if out.status.success() {
            let check = w.run(
                &format!("faulty-check-{i}"),
                &["plan", "--detailed-exitcode"],
            );
            if check.status.code() == Some(0) {
                converged = true;
                break;
            }
        }
    }
    assert!(converged, "apply converges despite 10% failures");
    // Every key on the platform has its secret stored, and only once.
    let keys = w.index()["keys"].as_sequence_len();
    assert_eq!(keys, 5, "{:?}", w.index());
    w.canary();
}

#[test]
fn non_interactive_apply_needs_approval() {
    let mut w = Work::local();
    let out = w.run("apply-no-approve", &["apply"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--auto-approve"), "{err}");
    let out = w.run("plan-detailed", &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(2), "changes pending");
}

#[test]
fn errors_say_what_to_do() {
    let server = Server::start("x", &[]);
    let mut w = Work::new(&["--backend", "apigee", "--url", &server.url, "--org", "nope"]);
    let out = w.run("unknown-org", &["plan"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("hint: check the organization `nope`"), "{err}");
    let mut w = Work::new(&[
        "--backend",
        "apigee",
        "--url",
        "http://127.0.0.1:9",
        "--org",
        "local",
    ]);
    let out = w.run("unreachable", &["plan"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("hint: is the management API reachable at `http://127.0.0.1:9`?"),
        "{err}"
    );
    let out = w.run("no-config", &["plan", "-f", "missing.yaml"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no config file `missing.yaml`")
            && err.contains("hint: pass the config with `-f FILE`"),
        "{err}"
    );
}

#[test]
fn references_may_name_resources_that_exist_only_on_the_platform() {
    let mut w = Work::local();
    w.ok("apply", &["apply", "--auto-approve"]);
    let extra = "version: 1\nowner: extra-team\nsecrets: {dir: extra-secrets}\napps:\n  - name: extra-app\n    developer: alice@example.com\n    apiProducts: [payments-read]\n    scopes: [payments.read]\n";
    std::fs::write(w.path("extra.yaml"), extra).unwrap();
    // Offline, the developer and product are unknown...
    let out = w.local_cmd("validate-extra", &["validate", "-f", "extra.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("unknown developer `alice@example.com`"));
    // ...but a plan finds them on the platform, and a scope they do not offer is still wrong.
    let out = w.ok(
        "plan-extra",
        &["plan", "-f", "extra.yaml", "--format", "json"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        v["changes"][0]["address"]["path"],
        "alice@example.com/extra-app"
    );
    std::fs::write(
        w.path("extra.yaml"),
        extra.replace("scopes: [payments.read]", "scopes: [payments.admin]"),
    )
    .unwrap();
    let out = w.run("plan-extra-bad-scope", &["plan", "-f", "extra.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("scope `payments.admin` is not offered by `payments-read`")
    );
}

#[test]
fn lost_replies_are_confirmed_by_reading_not_repeated() {
    // A quarter of the writes are carried out but answered 503: creates must be confirmed
    // by reading, and a mint must adopt its key rather than mint another.
    for flavor in ["x", "edge"] {
        let server = Server::start(flavor, &["--drop-reply-rate", "0.25", "--seed", "3"]);
        let mut w = Work::http(&server, flavor);
        let mut converged = false;
        for i in 0..6 {
            let out = w.run(
                &format!("lossy-apply-{flavor}-{i}"),
                &["apply", "--auto-approve"],
            );
            if out.status.success()
                && w.run(
                    &format!("lossy-check-{flavor}-{i}"),
                    &["plan", "--detailed-exitcode"],
                )
                .status
                .code()
                    == Some(0)
            {
                converged = true;
                break;
            }
        }
        assert!(converged, "{flavor}: apply converges despite lost replies");
        // Exactly one key per declared credential on the platform, each stored once.
        let out = w.ok(
            &format!("lossy-plan-{flavor}"),
            &["plan", "--format", "json"],
        );
        let v: Value = serde_json::from_str(&out).unwrap();
        let extra: Vec<&Value> = v["notes"]
            .as_array()
            .map(|n| {
                n.iter()
                    .filter(|n| {
                        n["message"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("not declared")
                    })
                    .collect()
            })
            .unwrap_or_default();
        assert!(extra.is_empty(), "{flavor}: no key minted twice: {extra:?}");
        assert_eq!(
            w.index()["keys"].as_sequence_len(),
            5,
            "{flavor}: {:?}",
            w.index()
        );
        w.canary();
    }
}

/// A developer whose email holds characters email allows and paths do not (`+`, `/`, `'`,
/// `%`): validate, plan, apply and a second plan agree on one platform.
fn unusual_email(w: &mut Work) {
    let email = "o'neil+ops/team%1@example.com";
    let config = format!(
        r#"version: 1
owner: team
developers:
  - email: "{email}"
    firstName: O
    lastName: Neil
    userName: oneil
products:
  - name: p1
    displayName: P1
    environments: [prod]
    scopes: [read]
apps:
  - name: web
    developer: "{email}"
    callbackUrl: https://web.example.com/cb
    apiProducts: [p1]
    scopes: [read]
    credentials:
      - id: primary
      - id: backup
"#
    );
    std::fs::write(w.path("registry.yaml"), config).unwrap();
    let out = w.local_cmd("validate", &["validate"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        w.plan("plan"),
        pairs(&[
            ("create", &format!("developer {email}")),
            ("create", "product p1"),
            ("create", &format!("app {email}/web")),
            ("mint", &format!("key {email}/web/backup")),
        ])
        .into_iter()
        .map(|(a, p)| (a, p.split_once(' ').unwrap().1.to_string()))
        .collect::<Vec<_>>()
    );
    let out = w.ok("apply", &["apply", "--auto-approve"]);
    assert!(out.contains("4 done, 0 failed, 0 skipped"), "{out}");
    assert!(w.plan("plan-again").is_empty());
    let keys = w.index()["keys"].as_sequence_len();
    assert_eq!(keys, 2, "{:?}", w.index());
    assert!(
        w.path("secrets/local/o'neil+ops%2Fteam%251@example.com/web/primary.age")
            .is_file()
    );
    w.canary();
    // Deleting the app (pruned) tidies its keys out of the store.
    let text = std::fs::read_to_string(w.path("registry.yaml")).unwrap();
    let without_app = &text[..text.find("apps:").unwrap()];
    std::fs::write(w.path("registry.yaml"), without_app).unwrap();
    let out = w.ok("prune", &["apply", "--auto-approve", "--prune"]);
    assert!(out.contains("1 done, 0 failed"), "{out}");
    assert_eq!(w.index()["keys"].as_sequence_len(), 0);
}

#[test]
fn unusual_emails_work_on_the_local_backend() {
    unusual_email(&mut Work::local());
}

#[test]
fn unusual_emails_work_on_apigee_x() {
    let server = Server::start("x", &[]);
    unusual_email(&mut Work::http(&server, "x"));
}

#[test]
fn unusual_emails_work_on_apigee_edge() {
    let server = Server::start("edge", &[]);
    unusual_email(&mut Work::http(&server, "edge"));
}

/// In CI with no recipients, an apply to a real platform refuses to encrypt to an identity
/// generated on the runner, before changing anything; `--allow-local-identity` accepts it.
/// The local backend (itself a file on the runner) needs no flag.
#[test]
fn ci_without_recipients_refuses_a_throwaway_identity() {
    let server = Server::start("x", &[]);
    let w = Work::http(&server, "x");
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(w.dir.path())
            .args(["apply", "--auto-approve"])
            .args(&w.backend)
            .args(extra)
            .env("CI", "true")
            .env("NO_COLOR", "1")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_IDENTITY")
            .output()
            .unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("secrets.recipients") && err.contains("--allow-local-identity"),
        "{err}"
    );
    assert!(!w.path(".registrar/identity.txt").exists());
    assert!(
        !w.path("secrets/local/index.yaml").exists(),
        "nothing was stored"
    );
    let out = run(&["--allow-local-identity"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(w.path(".registrar/identity.txt").exists());
    // With the identity there, later applies in the same checkout need no flag.
    assert!(run(&[]).status.success());

    // The local backend: the README's main command works in CI as it is.
    let local = Work::local();
    let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(local.dir.path())
        .args(["apply", "--auto-approve"])
        .env("CI", "true")
        .env_remove("REGISTRAR_IDENTITY")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `-f DIR` never reads what registrar writes there: after an apply of the README's
/// multi-file layout (its secrets dir inside the config dir), plans read the same config.
#[test]
fn a_config_directory_holding_the_secrets_store_still_loads() {
    let mut w = Work::local();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-file/base");
    std::fs::create_dir(w.path("base")).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), w.path("base").join(entry.file_name())).unwrap();
    }
    w.ok("apply", &["apply", "-f", "base", "--auto-approve"]);
    let index = w.path("base/secrets/local/index.yaml");
    assert!(index.is_file(), "the store is inside the config directory");
    let out = w.run("plan", &["plan", "-f", "base", "--detailed-exitcode"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = w.run(
        "plan-index",
        &["plan", "-f", "base", "-f", index.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("is registrar's secrets index"), "{text}");
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A saved plan holds paths relative to its config: applied in another checkout, it changes
/// that checkout's registry and store, never the original's; against a config that uses
/// another store it is refused, naming both.
#[test]
fn saved_plans_apply_in_the_checkout_they_are_applied_in() {
    let mut a = Work::local();
    a.ok("apply", &["apply", "--auto-approve"]);
    a.edit(
        "https://checkout.example.com/oauth/callback",
        "https://checkout.example.com/oauth/v2",
    );
    a.ok("plan-out", &["plan", "--out", "plan.json"]);
    let plan = std::fs::read_to_string(a.path("plan.json")).unwrap();
    let root = a.dir.path().to_str().unwrap();
    assert!(!plan.contains(root), "the plan names the checkout's path");

    let b_dir = tempfile::tempdir().unwrap();
    copy_dir(a.dir.path(), b_dir.path());
    let mut b = Work {
        dir: b_dir,
        backend: a.backend.clone(),
        outputs: Vec::new(),
    };
    let out = b.run_with("apply-b", &["apply", "plan.json"], &[]);
    assert!(out.status.success(), "{}", tail(&out.stderr));
    assert!(b.plan("plan-b").is_empty(), "B applied the plan");
    assert_eq!(a.plan("plan-a").len(), 1, "A's registry is untouched");

    // A config that keeps its secrets elsewhere refuses the plan, naming both stores.
    a.edit("dir: secrets", "dir: other-secrets");
    let out = a.run_with("apply-a", &["apply", "plan.json"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("secrets store") && err.contains("other-secrets"),
        "{err}"
    );
}

/// The README's multi-environment layout: staging and prod overlays on one base, one
/// `secrets.dir`. Each org keeps its own store, so applying one never touches the other's.
#[test]
fn staging_and_prod_keep_their_own_stores() {
    let server = Server::start("x", &["--org", "acme-staging", "--org", "acme-prod"]);
    let mut w = Work::new(&["--url", &server.url]);
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/multi-file");
    copy_dir(&src, &w.path("multi-file"));
    let env = |name: &str| format!("multi-file/env/{name}.yaml");
    let (staging, prod) = (env("staging"), env("prod"));
    for f in [&staging, &prod] {
        w.ok(
            "apply",
            &["apply", "-f", "multi-file/base", "-f", f, "--auto-approve"],
        );
    }
    for f in [&staging, &prod] {
        let out = w.run(
            "plan",
            &[
                "plan",
                "-f",
                "multi-file/base",
                "-f",
                f,
                "--detailed-exitcode",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{}", tail(&out.stderr));
    }
    for (org, app) in [
        ("acme-staging", "accounts-web-staging"),
        ("acme-prod", "accounts-web"),
    ] {
        let store = w.path(&format!("multi-file/base/secrets/{org}"));
        let index = std::fs::read_to_string(store.join("index.yaml")).unwrap();
        assert!(index.contains(app), "{org}: {index}");
        let target = std::fs::read_to_string(store.join("target.yaml")).unwrap();
        assert!(target.contains(&format!("org: {org}")), "{target}");
    }
    // The secrets commands use the store of the config's org.
    let out = w.local_cmd(
        "secrets-list",
        &["secrets", "list", "-f", "multi-file/base", "-f", &staging],
    );
    assert!(out.status.success(), "{}", tail(&out.stderr));
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(
        listed.contains("accounts-web-staging") && !listed.contains("accounts-web "),
        "{listed}"
    );
    // A store used with another target is refused, naming both.
    let out = w.run_with(
        "plan-other-url",
        &["plan", "-f", "multi-file/base", "-f", &prod],
        &[
            "--url".to_string(),
            format!("{}/", server.url.replace("127.0.0.1", "localhost")),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("belongs to") && err.contains("org `acme-prod`"),
        "{err}"
    );
}

/// A key added by hand to a managed app is drift: `plan --detailed-exitcode` exits 2 and
/// names it in the "Drift" section as `unmanaged`; `apply --prune` revokes and deletes it; then the plan
/// is empty.
#[test]
fn a_key_added_by_hand_is_counted_and_pruned() {
    let server = Server::start("x", &[]);
    let mut w = Work::http(&server, "x");
    w.ok("apply", &["apply", "--auto-approve"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(server.post(
        "developers/alice%40example.com/apps/checkout-web/keys",
        serde_json::json!({"consumerKey": "hand-made-key-0123456789", "consumerSecret": "hand-made-secret-0123"}),
    ))
    .expect(201);
    let out = w.run("plan-drift", &["plan", "--detailed-exitcode"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("Drift (")
            && text.contains("! unmanaged")
            && text.contains("1 unmanaged key"),
        "{text}"
    );
    let out = w.ok("prune", &["apply", "--auto-approve", "--prune"]);
    assert!(out.contains("2 done, 0 failed"), "{out}");
    assert!(w.plan("after-prune").is_empty());
    let out = w.run("plan-clean", &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0));
}

/// `--url`/`--org` without `--backend` on a config whose backend is local is an error, not
/// an apply to the SQLite file; `--backend local --org ORG` names an org of the registry.
#[test]
fn remote_flags_with_the_local_backend_are_refused() {
    let mut w = Work::new(&[]);
    for flags in [
        &["--url", "https://apigee.googleapis.com"][..],
        &["--org", "acme-prod"][..],
        &["--backend", "local", "--url", "http://127.0.0.1:9"][..],
    ] {
        let out = w.run_with(
            "remote-flags",
            &["plan"],
            &flags.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {err}");
        assert!(
            err.contains("the backend is `local`") && err.contains("--backend apigee"),
            "{err}"
        );
    }
    assert!(!w.path(".registrar").exists(), "nothing was created");
    let out = w.run_with(
        "local-org",
        &["plan"],
        &[
            "--backend".into(),
            "local".into(),
            "--org".into(),
            "team-b".into(),
        ],
    );
    assert!(out.status.success(), "{}", tail(&out.stderr));
}
