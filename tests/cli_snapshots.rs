//! Snapshots of the CLI's human-readable outputs: `--help` of every command, plans in every
//! format, apply summaries (embedded registry and `registrar serve`), `secrets list`, and the
//! common errors. Each snapshot holds the exit code, stdout and stderr of one run, so a
//! refactor that changes what users see shows up as a snapshot diff.
//!
//! Every run happens in its own temporary directory (the working directory of the process),
//! from a frozen copy of the example config ([`REGISTRY_YAML`]), with a cleared environment:
//! nothing depends on the user's HOME, REGISTRAR_* variables, terminal or colours. What varies
//! between runs (ports, temporary paths, durations, timestamps, fingerprints of random keys,
//! the generated age recipient) is replaced by placeholders; apply's progress lines, which
//! finish in any order, are sorted.
//!
//! Update with `INSTA_UPDATE=always cargo test --test cli_snapshots`, then review the
//! `tests/snapshots/cli_snapshots__*.snap` files.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::cell::RefCell;
use std::path::PathBuf;
use std::process::{Command, Output};

use canary::Canary;
use common::Server;

/// The example `registry.yaml` as of this test's writing, frozen so that editing the repo's
/// copy does not change these snapshots (2 developers, 3 products, 4 apps, 5 keys).
const REGISTRY_YAML: &str = r#"# yaml-language-server: $schema=schema/registry.schema.json
#
# The registrations of the payments platform team: who may call which APIs, as code.
# `registrar validate` checks this file; `registrar plan` / `apply` sync it to the registry.
version: 1
owner: payments-platform

secrets:
  dir: secrets
  # No recipients: registrar generates .registrar/identity.txt and encrypts to it.
  # Add teammates' `age1…` or `ssh-ed25519 …` public keys here to share the store.
  recipients: []

backend:
  kind: local

developers:
  - email: alice@example.com
    firstName: Alice
    lastName: Doe
    userName: alice
    attributes:
      team: checkout
  - email: bob@example.com
    firstName: Bob
    lastName: Martin
    status: active
    attributes:
      team: partner-integrations

products:
  - name: payments-read
    displayName: Payments (read)
    description: Read payments and their status.
    approvalType: auto
    access: public
    environments: [prod, test]
    proxies: [payments-v1]
    apiResources: ["/payments/**"]
    scopes: [payments.read]
    quota: {limit: 1000, interval: 1, timeUnit: minute}
  - name: payments-write
    displayName: Payments (write)
    description: Create and capture payments.
    approvalType: manual
    access: private
    environments: [prod, test]
    proxies: [payments-v1]
    apiResources: ["/payments/**"]
    scopes: [payments.read, payments.write]
    quota: {limit: 200, interval: 1, timeUnit: minute}
  - name: refunds
    displayName: Refunds
    description: Issue refunds.
    approvalType: auto
    access: internal
    environments: [prod]
    proxies: [refunds-v1]
    apiResources: ["/refunds", "/refunds/**"]
    scopes: [refunds.create]

apps:
  - name: checkout-web
    developer: alice@example.com
    displayName: Checkout Web
    notes: Browser checkout; public client with PKCE.
    callbackUrl: https://checkout.example.com/oauth/callback
    apiProducts: [payments-read]
    scopes: [payments.read]
    keyExpiresIn: 90d
    attributes:
      tier: gold
  - name: checkout-backend
    developer: alice@example.com
    displayName: Checkout Backend
    callbackUrl: https://checkout.example.com/oauth/server-callback
    apiProducts: [payments-read, payments-write]
    scopes: [payments.read, payments.write]
    # Two keys: a long-lived one for the batch jobs, a short-lived one for the API servers.
    credentials:
      - id: batch
        apiProducts: [payments-read]
        scopes: [payments.read]
      - id: api
        expiresIn: 30d
  - name: refund-desk
    developer: alice@example.com
    displayName: Refund Desk
    callbackUrl: http://localhost:8400/callback
    apiProducts: [refunds, payments-read]
    scopes: [refunds.create, payments.read]
  - name: partner-portal
    developer: bob@example.com
    displayName: Partner Portal
    callbackUrl: https://partners.example.com/auth/callback
    apiProducts: [payments-read]
    status: approved
    attributes:
      partner-id: "4711"
"#;

/// A temporary working directory holding `registry.yaml`, and the platform to use.
struct Work {
    dir: tempfile::TempDir,
    /// Backend flags appended to `plan` and `apply`.
    backend: Vec<String>,
    /// The server's base URL, replaced by `http://127.0.0.1:[PORT]`.
    server_url: Option<String>,
    /// Every run's output, unfiltered, for the secrets canary.
    outputs: RefCell<Vec<(String, Output)>>,
}

impl Work {
    /// The embedded local registry (the config's `backend: {kind: local}`).
    fn local() -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.yaml"), REGISTRY_YAML).unwrap();
        std::fs::create_dir(dir.path().join("home")).unwrap();
        Work {
            dir,
            backend: Vec::new(),
            server_url: None,
            outputs: RefCell::new(Vec::new()),
        }
    }

    /// `registrar serve` of the given flavour, through the `apigee` / `apigee-edge` backend.
    fn http(server: &Server, flavor: &str) -> Work {
        let mut w = Work::local();
        let kind = if flavor == "edge" {
            "apigee-edge"
        } else {
            "apigee"
        };
        w.backend = ["--backend", kind, "--url", &server.url, "--org", "local"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        w.server_url = Some(server.url.clone());
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Replaces `from` (which must be there) by `to` in registry.yaml.
    fn edit(&self, from: &str, to: &str) {
        let p = self.path("registry.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains(from), "registry.yaml lacks {from:?}");
        std::fs::write(&p, text.replacen(from, to, 1)).unwrap();
    }

    /// The binary with a cleared, fixed environment, in the work directory.
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.current_dir(self.dir.path())
            .args(args)
            .env_clear()
            .env("HOME", self.path("home"))
            .env("NO_COLOR", "1")
            .env("COLUMNS", "100")
            .env("LINES", "50")
            .env("LANG", "C")
            .env("TZ", "UTC");
        cmd
    }

    /// Runs `registrar ARGS` as is.
    fn run(&self, args: &[&str]) -> Output {
        let out = self.command(args).output().expect("registrar runs");
        self.record(args, &out);
        out
    }

    /// Runs `registrar ARGS BACKEND-FLAGS` (for `plan` and `apply`), with an Apigee token
    /// in the environment.
    fn run_on_backend(&self, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.backend.iter().map(String::as_str));
        let out = self
            .command(&all)
            .env("APIGEE_TOKEN", "test-token")
            .output()
            .expect("registrar runs");
        self.record(&all, &out);
        out
    }

    fn record(&self, args: &[&str], out: &Output) {
        self.outputs
            .borrow_mut()
            .push((format!("registrar {}", args.join(" ")), out.clone()));
    }

    /// Fails if any issued consumer key or secret (decrypted from the store with the
    /// generated local identity) appears in any output of this work directory.
    fn canary(&self) {
        let mut c = Canary::new();
        c.collect_store(
            &self.path("secrets/local"),
            &self.path(".registrar/identity.txt"),
        );
        assert!(!c.is_empty(), "the store holds the issued keys");
        for (label, out) in self.outputs.borrow().iter() {
            c.check_output(label, out);
        }
    }

    /// Runs a command that must succeed (set-up steps that are not snapshotted).
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.run_on_backend(args);
        assert!(
            out.status.success(),
            "{args:?} failed:\n{}",
            transcript(&out)
        );
        out
    }

    /// The regex filters for this work directory, most specific first.
    fn filters(&self) -> Vec<(String, String)> {
        let mut f = Vec::new();
        if let Some(url) = &self.server_url {
            f.push((escape(url), "http://127.0.0.1:[PORT]".to_string()));
            let authority = url.trim_start_matches("http://");
            f.push((escape(authority), "127.0.0.1:[PORT]".to_string()));
        }
        let dir = self.dir.path();
        let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        for p in [canonical, dir.to_path_buf()] {
            f.push((escape(&p.to_string_lossy()), "[TEMP]".to_string()));
        }
        f.extend(common_filters());
        f
    }

    /// Asserts the snapshot `name` of a run, described by the command line that made it.
    #[track_caller]
    fn snapshot(&self, name: &str, args: &[&str], out: &Output) {
        let mut line = std::iter::once("registrar")
            .chain(args.iter().copied())
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(url) = &self.server_url {
            line = line.replace(url.as_str(), "http://127.0.0.1:[PORT]");
        }
        let filters = self.filters();
        let filters: Vec<(&str, &str)> = filters
            .iter()
            .map(|(a, b)| (a.as_str(), b.as_str()))
            .collect();
        insta::with_settings!({
            filters => filters,
            description => line,
            omit_expression => true,
        }, {
            insta::assert_snapshot!(name, transcript(out));
        });
    }

    /// Runs `registrar ARGS` and snapshots it; returns the output.
    #[track_caller]
    fn snap(&self, name: &str, args: &[&str]) -> Output {
        let out = self.run(args);
        self.snapshot(name, args, &out);
        out
    }

    /// Runs `registrar ARGS BACKEND-FLAGS` and snapshots it; returns the output.
    #[track_caller]
    fn snap_on_backend(&self, name: &str, args: &[&str]) -> Output {
        let out = self.run_on_backend(args);
        let mut all: Vec<&str> = args.to_vec();
        all.extend(self.backend.iter().map(String::as_str));
        self.snapshot(name, &all, &out);
        out
    }
}

/// Filters for what varies between any two runs.
fn common_filters() -> Vec<(String, String)> {
    [
        // The version, which releases bump.
        (
            r#""registrarVersion": "[^"]+""#,
            r#""registrarVersion": "[VERSION]""#,
        ),
        // Fingerprints of random keys and secrets.
        (r"sha256:[0-9a-f]{16}\b", "[FP]"),
        // The generated local identity's public key.
        (r"\bage1[02-9ac-hj-np-z]{58}\b", "[AGE-RECIPIENT]"),
        // Durations: apply's `in 0.1s` and `(12 ms)`.
        (r"\bin \d+\.\ds\b", "in [TIME]"),
        (r"\(\d+ ms\)", "([TIME])"),
        (r#""durationMs": \d+"#, r#""durationMs": [MS]"#),
        // Dates and times, and milliseconds since the epoch (also as JSON strings).
        (
            r"\b\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?\b",
            "[TIMESTAMP]",
        ),
        (r"\b1[5-9]\d{11}\b", "[TIMESTAMP]"),
        // How long ago a lock was taken, and how long it has left.
        (r"\(\d[^()]* ago\)", "([AGE] ago)"),
        (
            r"\(in [^(),]+, unless renewed\)",
            "(in [TTL], unless renewed)",
        ),
        // Generated ids (app ids on the platform).
        (
            r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b",
            "[UUID]",
        ),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect()
}

/// Escapes regex metacharacters (as `regex::escape` does).
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

/// Exit code, stdout and stderr as one text, in the style of uv's `uv_snapshot!`.
fn transcript(out: &Output) -> String {
    format!(
        "success: {}\nexit_code: {}\n----- stdout -----\n{}\n----- stderr -----\n{}\n",
        out.status.success(),
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        sort_progress(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// Apply prints a `[n/total] action address: ok (12 ms)` line as each change finishes;
/// independent changes run concurrently and finish in any order. Runs of such lines are
/// sorted, and `n` (the completion order) becomes `#`. Other lines keep their place: apply
/// runs developers and products, then apps, then keys, one level after the other, and stores
/// a minted key (the first store logs the generated-identity warnings) before that app's
/// line, so the warnings always come between the products' lines and the apps'.
fn sort_progress(stderr: &str) -> String {
    let progress = |line: &str| -> Option<String> {
        let rest = line.strip_prefix('[')?;
        let (n, rest) = rest.split_once('/')?;
        let (total, rest) = rest.split_once("] ")?;
        (n.parse::<u32>().is_ok() && total.parse::<u32>().is_ok())
            .then(|| format!("[#/{total}] {rest}"))
    };
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    for line in stderr.lines() {
        match progress(line) {
            Some(p) => run.push(p),
            None => {
                run.sort();
                out.append(&mut run);
                out.push(line.to_string());
            }
        }
    }
    run.sort();
    out.append(&mut run);
    let mut text = out.join("\n");
    if stderr.ends_with('\n') {
        text.push('\n');
    }
    text
}

// --- help ---------------------------------------------------------------------------------

#[test]
fn help_of_every_command() {
    let w = Work::local();
    let commands: &[&[&str]] = &[
        &[],
        &["validate"],
        &["schema"],
        &["plan"],
        &["apply"],
        &["drift"],
        &["serve"],
        &["secrets"],
        &["secrets", "list"],
        &["secrets", "show"],
        &["secrets", "set"],
        &["secrets", "rekey"],
        &["rotate"],
        &["force-unlock"],
        &["import"],
        &["init"],
        &["completions"],
        &["man"],
    ];
    for command in commands {
        let name = if command.is_empty() {
            "help".to_string()
        } else {
            format!("help_{}", command.join("_"))
        };
        let mut args = command.to_vec();
        args.push("--help");
        let out = w.snap(&name, &args);
        assert!(out.status.success(), "{name}");
    }
    // The short form of the top level (clap shows only the first paragraph of docs).
    w.snap("help_short", &["-h"]);
}

// --- plan ---------------------------------------------------------------------------------

#[test]
fn plan_from_empty_in_every_format() {
    let w = Work::local();
    w.snap("validate", &["validate"]);
    w.snap_on_backend("plan_create_text", &["plan"]);
    w.snap_on_backend("plan_create_markdown", &["plan", "--format", "markdown"]);
    w.snap_on_backend("plan_create_json", &["plan", "--format", "json"]);
    let out = w.snap_on_backend(
        "plan_create_detailed_exitcode",
        &["plan", "--detailed-exitcode", "--select", "developer "],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !w.path("secrets").exists(),
        "plan writes nothing to the secrets store"
    );
    assert!(
        !w.path(".registrar").exists(),
        "plan creates no local registry: an empty one reads as empty"
    );
}

#[test]
fn apply_then_update_then_secrets_list() {
    let w = Work::local();
    let out = w.snap_on_backend("apply_local_first", &["apply", "--auto-approve"]);
    assert!(out.status.success());
    let out = w.snap_on_backend("apply_local_nothing_to_do", &["apply", "--auto-approve"]);
    assert!(out.status.success());
    let out = w.snap_on_backend("plan_in_sync", &["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0));

    // A small edit: one app's callback URL and attribute.
    w.edit(
        "callbackUrl: https://checkout.example.com/oauth/callback",
        "callbackUrl: https://checkout.example.com/oauth/cb2",
    );
    w.edit("      tier: gold", "      tier: platinum");
    w.snap_on_backend("plan_update_text", &["plan"]);
    w.snap_on_backend("plan_update_markdown", &["plan", "--format", "markdown"]);
    w.snap_on_backend("plan_update_json", &["plan", "--format", "json"]);
    let out = w.snap_on_backend("apply_local_update", &["apply", "--auto-approve"]);
    assert!(out.status.success());

    w.snap("secrets_list", &["secrets", "list"]);
    w.snap(
        "secrets_list_json",
        &["secrets", "list", "--format", "json"],
    );

    // A rotation request shows in `rotate`, `secrets list` and the next plan.
    let out = w.snap(
        "rotate",
        &["rotate", "checkout-web", "--developer", "alice@example.com"],
    );
    assert!(out.status.success());
    w.snap("secrets_list_rotation_pending", &["secrets", "list"]);
    w.snap_on_backend("plan_rotation", &["plan"]);
    w.canary();
}

/// `apply --format json` (one document on stdout, people's text on stderr) and `drift` in
/// every format: in sync, with a config change pending, with an app removed from the config.
#[test]
fn apply_json_then_drift() {
    let w = Work::local();
    let out = w.snap_on_backend(
        "apply_local_json",
        &["apply", "--auto-approve", "--format", "json"],
    );
    assert!(out.status.success());
    let out = w.snap_on_backend("drift_in_sync", &["drift"]);
    assert_eq!(out.status.code(), Some(0));
    w.edit("      tier: gold", "      tier: platinum");
    let out = w.snap_on_backend("drift_config_text", &["drift"]);
    assert_eq!(out.status.code(), Some(2));
    w.snap_on_backend("drift_config_json", &["drift", "--format", "json"]);
    w.snap_on_backend("drift_config_markdown", &["drift", "--format", "markdown"]);
    w.edit("      tier: platinum", "      tier: gold");
    w.edit(
        "  - name: refund-desk
    developer: alice@example.com
    displayName: Refund Desk
    callbackUrl: http://localhost:8400/callback
    apiProducts: [refunds, payments-read]
    scopes: [refunds.create, payments.read]
",
        "",
    );
    let out = w.snap_on_backend("drift_removed_text", &["drift"]);
    assert_eq!(out.status.code(), Some(3));
    w.snap_on_backend("drift_removed_markdown", &["drift", "--format", "markdown"]);
}

#[test]
fn plan_prune_after_removing_an_app() {
    let w = Work::local();
    w.ok(&["apply", "--auto-approve"]);
    w.edit(
        "  - name: refund-desk
    developer: alice@example.com
    displayName: Refund Desk
    callbackUrl: http://localhost:8400/callback
    apiProducts: [refunds, payments-read]
    scopes: [refunds.create, payments.read]
",
        "",
    );
    w.snap_on_backend("plan_without_prune", &["plan"]);
    w.snap_on_backend("plan_prune_text", &["plan", "--prune"]);
    w.snap_on_backend(
        "plan_prune_markdown",
        &["plan", "--prune", "--format", "markdown"],
    );
    let out = w.snap_on_backend(
        "plan_prune_max_deletes",
        &["plan", "--prune", "--max-deletes", "0"],
    );
    assert_eq!(out.status.code(), Some(1));
    w.canary();
}

#[test]
fn plan_counts_secrets_the_store_lacks_as_changes() {
    let w = Work::local();
    w.ok(&["apply", "--auto-approve"]);
    // The store lost two keys (an apply killed before it stored them, say): the platform
    // matches the config, but apply has work to do.
    let index_path = w.path("secrets/local/index.yaml");
    let mut index: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&index_path).unwrap()).unwrap();
    let keys = index["keys"].as_sequence_mut().unwrap();
    for e in keys.drain(..2) {
        std::fs::remove_file(w.path("secrets/local").join(e["file"].as_str().unwrap())).unwrap();
    }
    std::fs::write(&index_path, serde_yaml::to_string(&index).unwrap()).unwrap();
    let out = w.snap_on_backend(
        "plan_secrets_to_store_text",
        &["plan", "--detailed-exitcode"],
    );
    assert_eq!(out.status.code(), Some(2), "storing a secret is a change");
    w.snap_on_backend(
        "plan_secrets_to_store_markdown",
        &["plan", "--format", "markdown"],
    );
    w.snap_on_backend("plan_secrets_to_store_json", &["plan", "--format", "json"]);
    let out = w.ok(&["apply", "--auto-approve"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("2 key(s) stored"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = w.run_on_backend(&["plan", "--detailed-exitcode"]);
    assert_eq!(out.status.code(), Some(0));
    w.canary();
}

// --- apply against `registrar serve` -------------------------------------------------------

fn apply_against_serve(flavor: &str) {
    let server = Server::start(flavor, &[]);
    let w = Work::http(&server, flavor);
    w.snap_on_backend(&format!("serve_{flavor}_plan"), &["plan"]);
    let out = w.snap_on_backend(
        &format!("serve_{flavor}_apply"),
        &["apply", "--auto-approve"],
    );
    assert!(out.status.success());
    let out = w.snap_on_backend(
        &format!("serve_{flavor}_apply_nothing_to_do"),
        &["apply", "--auto-approve"],
    );
    assert!(out.status.success());
    w.canary();
}

#[test]
fn apply_against_serve_x() {
    apply_against_serve("x");
}

#[test]
fn apply_against_serve_edge() {
    apply_against_serve("edge");
}

// --- import ---------------------------------------------------------------------------------

/// The example applied to `serve` by one team, then imported in another directory: the
/// summary (with what the config cannot say: the pending grants of a manual product), the
/// config written, the refusal to overwrite a config import did not write, and the plan of
/// the imported config (nothing: the owner stamps are already there).
#[test]
fn import_of_an_applied_org() {
    let server = Server::start("x", &[]);
    let first = Work::http(&server, "x");
    first.ok(&["apply", "--auto-approve"]);
    let w = Work::http(&server, "x");
    let out = w.snap_on_backend(
        "import_refuses_a_foreign_file",
        &[
            "import",
            "--owner",
            "payments-platform",
            "--out",
            "registry.yaml",
        ],
    );
    assert!(!out.status.success());
    let out = w.snap_on_backend(
        "import_summary",
        &[
            "import",
            "--owner",
            "payments-platform",
            "--out",
            "imported.yaml",
        ],
    );
    assert!(out.status.success());
    let config = std::fs::read_to_string(w.path("imported.yaml")).unwrap();
    let filters = w.filters();
    let filters: Vec<(&str, &str)> = filters
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    insta::with_settings!({filters => filters, omit_expression => true}, {
        insta::assert_snapshot!("import_config", config);
    });
    let out = w.snap_on_backend("import_then_plan", &["plan", "-f", "imported.yaml"]);
    assert!(out.status.success());
}

// --- saved plans ----------------------------------------------------------------------------

#[test]
fn saved_plan_applies_and_a_stale_one_is_refused() {
    let w = Work::local();
    w.ok(&["apply", "--auto-approve"]);
    w.edit("      tier: gold", "      tier: platinum");
    w.snap_on_backend("plan_out", &["plan", "--out", "plan.json"]);
    w.snap_on_backend("apply_saved_plan", &["apply", "plan.json"]);

    w.edit("      tier: platinum", "      tier: bronze");
    w.ok(&["plan", "--out", "stale.json"]);
    w.edit("      tier: bronze", "      tier: copper");
    w.ok(&["apply", "--auto-approve"]);
    let out = w.snap_on_backend("error_stale_plan", &["apply", "stale.json"]);
    assert_eq!(out.status.code(), Some(1));
    w.canary();
}

// --- errors -----------------------------------------------------------------------------------

#[test]
fn common_errors() {
    let w = Work::local();
    let cases: &[(&str, &[&str])] = &[
        ("error_no_command", &[]),
        ("error_unknown_command", &["deploy"]),
        ("error_unknown_flag", &["plan", "--dry-run"]),
        ("error_missing_config", &["plan", "-f", "missing.yaml"]),
        ("error_missing_config_dir", &["validate", "-f", "nope/"]),
        (
            "error_missing_org",
            &["plan", "--backend", "apigee", "--url", "http://127.0.0.1:1"],
        ),
        (
            "error_invalid_rate_limit",
            &["apply", "--auto-approve", "--rate-limit", "fast"],
        ),
        ("error_invalid_format", &["plan", "--format", "yaml"]),
        ("error_apply_needs_approval", &["apply"]),
        ("error_missing_plan_file", &["apply", "nope.json"]),
        (
            "error_saved_plan_with_plan_flags",
            &["apply", "nope.json", "--prune", "--select", "product"],
        ),
        (
            "error_select_matches_nothing",
            &["plan", "--select", "app-1"],
        ),
        (
            "error_url_with_local_backend",
            &["plan", "--url", "https://apigee.googleapis.com"],
        ),
    ];
    for (name, args) in cases {
        let out = w.run_on_backend(args);
        w.snapshot(name, args, &out);
        assert_eq!(out.status.code(), Some(1), "{name}");
    }
    assert!(
        !w.path("secrets").exists(),
        "no error case applied anything"
    );

    // No registry.yaml where registrar looks by default.
    let empty = Work::local();
    std::fs::remove_file(empty.path("registry.yaml")).unwrap();
    for (name, args) in [
        ("error_no_config_plan", &["plan"][..]),
        ("error_no_config_validate", &["validate"][..]),
        ("error_no_config_secrets_list", &["secrets", "list"][..]),
    ] {
        let out = empty.snap(name, args);
        assert_eq!(out.status.code(), Some(1), "{name}");
    }
}

#[test]
fn unreachable_server() {
    let w = Work::local();
    let args = [
        "plan",
        "--backend",
        "apigee",
        "--url",
        "http://127.0.0.1:1",
        "--org",
        "x",
    ];
    let out = w.run_on_backend(&args);
    w.snapshot("error_unreachable_server", &args, &out);
    assert_eq!(out.status.code(), Some(1));
}

// --- locks ------------------------------------------------------------------------------------

/// A lock another run holds: the attributes registrar's lock product carries.
const HOLDER: &str = r#"{"id":"0d5c9a7e-1b2f-4c3d-8e9f-a0b1c2d3e4f5","who":"ci@runner-7","where":"CI job 991, pid 12","since_ms":1735689600000}"#;

#[test]
fn lock_held_on_the_local_registry() {
    let w = Work::local();
    std::fs::create_dir_all(w.path(".registrar")).unwrap();
    // Another process's lock, as it writes it.
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(true)
        .write(true)
        .open(w.path(".registrar/registry.db.lock"))
        .unwrap();
    file.lock().unwrap();
    std::fs::write(w.path(".registrar/registry.db.lock"), HOLDER).unwrap();
    let out = w.snap_on_backend("error_lock_held_local", &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    let out = w.snap_on_backend(
        "error_force_unlock_local",
        &["force-unlock", "0d5c9a7e-1b2f-4c3d-8e9f-a0b1c2d3e4f5"],
    );
    assert_eq!(out.status.code(), Some(1));
    // A plan takes no lock.
    w.ok(&["plan"]);
    drop(file);
    w.ok(&["apply", "--auto-approve"]);
}

#[test]
fn lock_held_on_serve_and_force_unlock() {
    let server = Server::start("x", &[]);
    let w = Work::http(&server, "x");
    let rt = tokio::runtime::Runtime::new().unwrap();
    let holder: serde_json::Value = serde_json::from_str(HOLDER).unwrap();
    let attr = |n: &str, v: &str| serde_json::json!({"name": n, "value": v});
    let product = serde_json::json!({
        "name": "registrar-lock-payments-platform",
        "displayName": "registrar-lock-payments-platform",
        "approvalType": "manual",
        "attributes": [
            attr("access", "private"),
            attr("registrar-lock", "lock"),
            attr("registrar-lock-id", holder["id"].as_str().unwrap()),
            attr("registrar-lock-who", holder["who"].as_str().unwrap()),
            attr("registrar-lock-where", holder["where"].as_str().unwrap()),
            attr("registrar-lock-since", "2025-01-01T00:00:00Z"),
            attr("registrar-lock-expires", "2999-01-01T00:00:00Z"),
        ],
    });
    rt.block_on(server.post("apiproducts", product)).expect(201);
    let out = w.snap_on_backend("error_lock_held_serve", &["apply", "--auto-approve"]);
    assert_eq!(out.status.code(), Some(1));
    let out = w.snap_on_backend("error_force_unlock_wrong_id", &["force-unlock", "0000"]);
    assert_eq!(out.status.code(), Some(1));
    let out = w.snap_on_backend(
        "force_unlock",
        &["force-unlock", "0d5c9a7e-1b2f-4c3d-8e9f-a0b1c2d3e4f5"],
    );
    assert!(out.status.success());
    w.ok(&["apply", "--auto-approve"]);
}
