//! `registrar drift` and `plan --detailed-exitcode` end to end (issue 15's acceptance): after
//! an apply against a real `registrar serve --flavor x`, each change alone (made in the config,
//! on the server, or both) must give the right class, address and exit code. Every run's
//! output and the work directory go through the secrets canary.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

use canary::Canary;
use common::Server;
use serde_json::{Value, json};

const CONFIG: &str = "\
version: 1
owner: drift-team
secrets:
  dir: secrets
  recipients: []
developers:
  - email: dana@example.com
    firstName: Dana
    lastName: Scully
apps:
  - name: web
    developer: dana@example.com
    callbackUrl: https://web.example.com/cb
    attributes:
      tier: gold
  - name: batch
    developer: dana@example.com
    callbackUrl: https://batch.example.com/cb
";

/// A work directory with the config, and how to reach the platform.
struct Work {
    dir: tempfile::TempDir,
    backend: Vec<String>,
    outputs: Vec<(String, Output)>,
}

impl Work {
    fn new(backend: &[&str]) -> Work {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("registry.yaml"), CONFIG).unwrap();
        Work {
            dir,
            backend: backend.iter().map(|s| s.to_string()).collect(),
            outputs: Vec::new(),
        }
    }

    fn x(server: &Server) -> Work {
        Work::new(&[
            "--backend",
            "apigee",
            "--url",
            &server.url,
            "--org",
            "local",
        ])
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

    fn run(&mut self, label: &str, args: &[&str]) -> Output {
        let out = Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(self.dir.path())
            .args(["--log", "trace"])
            .args(args)
            .args(&self.backend)
            .env("NO_COLOR", "1")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_LOG")
            .env_remove("REGISTRAR_IDENTITY")
            .env_remove("CI")
            .output()
            .expect("registrar runs");
        self.outputs.push((label.to_string(), out.clone()));
        out
    }

    fn apply(&mut self) {
        let out = self.run("apply", &["apply", "--auto-approve"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `drift --format json`: the exit code and the parsed document.
    fn drift(&mut self, label: &str) -> (i32, Value) {
        let out = self.run(label, &["drift", "--format", "json"]);
        let text = String::from_utf8_lossy(&out.stdout);
        let doc: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{label}: not JSON ({e}): {text}\n{}", tail(&out.stderr)));
        (out.status.code().unwrap(), doc)
    }

    /// `plan --detailed-exitcode`'s exit code.
    fn plan_code(&mut self, label: &str) -> i32 {
        self.run(label, &["plan", "--detailed-exitcode"])
            .status
            .code()
            .unwrap()
    }

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
    lines[lines.len().saturating_sub(30)..].join("\n")
}

/// The (path, class) pairs of a drift document.
fn classes(doc: &Value) -> Vec<(String, String)> {
    doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["address"]["path"].as_str().unwrap().to_string(),
                e["class"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const APP: &str = "developers/dana%40example.com/apps/web";

/// Sets the app's callback URL on the server, keeping its attributes.
async fn set_callback(server: &Server, url: &str) {
    let app = server.get(APP).await.expect(200).body;
    server
        .put(
            APP,
            json!({"name": "web", "callbackUrl": url, "attributes": app["attributes"]}),
        )
        .await
        .expect(200);
}

/// What a case leaves: the server (running while kept), the work directory, drift's exit
/// code and document, plan's exit code.
type Ran = (Server, Work, i32, Value, i32);

/// One case: a fresh server, an apply, `change`, then drift and plan's codes and the entries.
fn case(change: impl FnOnce(&Server, &Work, &tokio::runtime::Runtime)) -> Ran {
    let server = Server::start("x", &[]);
    let mut w = Work::x(&server);
    w.apply();
    let rt = tokio::runtime::Runtime::new().unwrap();
    change(&server, &w, &rt);
    let (code, doc) = w.drift("drift");
    let plan = w.plan_code("plan");
    (server, w, code, doc, plan)
}

/// After `apply ARGS`, drift and plan find nothing left.
fn converges(w: &mut Work, args: &[&str]) {
    let mut all = vec!["apply", "--auto-approve"];
    all.extend_from_slice(args);
    let out = w.run("converge", &all);
    assert!(out.status.success(), "{}", tail(&out.stderr));
    let (code, doc) = w.drift("drift-after");
    assert_eq!(code, 0, "nothing left after apply {args:?}: {doc:#}");
    assert_eq!(w.plan_code("plan-after"), 0);
}

fn assert_one(doc: &Value, path: &str, class: &str) {
    let got = classes(doc);
    assert!(
        got.contains(&(path.to_string(), class.to_string())),
        "expected {path} as {class}: {got:?}\n{doc:#}"
    );
    assert!(
        doc["summary"][class].as_u64().unwrap() >= 1,
        "{:#}",
        doc["summary"]
    );
}

#[test]
fn in_sync_after_apply_exits_0_everywhere() {
    let (_server, w, code, doc, plan) = case(|_, _, _| {});
    assert_eq!(code, 0, "{doc:#}");
    assert!(classes(&doc).is_empty());
    assert_eq!(doc["formatVersion"], 1);
    assert_eq!(plan, 0);
    w.canary();
}

#[test]
fn a_config_only_edit_is_config_and_exits_2() {
    let (_server, mut w, code, doc, plan) =
        case(|_, w, _| w.edit("https://web.example.com/cb", "https://web.example.com/cb2"));
    assert_eq!(code, 2, "{doc:#}");
    assert_eq!(
        classes(&doc),
        vec![("dana@example.com/web".to_string(), "config".to_string())]
    );
    let field = &doc["entries"][0]["fields"][0];
    assert_eq!(field["field"], "callbackUrl");
    assert_eq!(field["before"], "https://web.example.com/cb");
    assert_eq!(field["after"], "https://web.example.com/cb2");
    assert_eq!(plan, 2);
    converges(&mut w, &[]);
    w.canary();
}

#[test]
fn a_callback_edited_on_the_server_is_platform() {
    let (_server, mut w, code, doc, plan) =
        case(|server, _, rt| rt.block_on(set_callback(server, "https://portal.example.com/cb")));
    assert_eq!(code, 3, "{doc:#}");
    assert_one(&doc, "dana@example.com/web", "platform");
    assert_eq!(doc["summary"]["config"], 0);
    assert_eq!(plan, 2);
    converges(&mut w, &[]);
    w.canary();
}

#[test]
fn the_same_field_edited_on_both_sides_is_a_conflict() {
    let (_server, mut w, code, doc, plan) = case(|server, w, rt| {
        w.edit(
            "https://web.example.com/cb",
            "https://web.example.com/config",
        );
        rt.block_on(set_callback(server, "https://portal.example.com/cb"));
    });
    assert_eq!(code, 3, "{doc:#}");
    assert_one(&doc, "dana@example.com/web", "conflict");
    assert_eq!(plan, 2);
    converges(&mut w, &[]);
    w.canary();
}

#[test]
fn a_key_replaced_on_the_server_is_secret() {
    let (_server, mut w, code, doc, plan) = case(|server, _, rt| {
        rt.block_on(async {
            let app = server.get(APP).await.expect(200).body;
            let key = app["credentials"][0]["consumerKey"].as_str().unwrap();
            server
                .delete(&format!("{APP}/keys/{key}"))
                .await
                .expect(200);
            server
                .post(
                    &format!("{APP}/keys/create"),
                    json!({"consumerKey": "replaced-by-hand-key-0123456789",
                           "consumerSecret": "replaced-by-hand-secret-0123"}),
                )
                .await
                .expect(201);
        })
    });
    assert_eq!(code, 3, "{doc:#}");
    assert_one(&doc, "dana@example.com/web/default", "secret");
    assert_eq!(plan, 2);
    converges(&mut w, &[]);
    w.canary();
}

#[test]
fn a_secret_replaced_under_the_same_key_is_secret() {
    // The key is re-imported with the same consumer key and a new secret, its products,
    // attributes and scopes restored: only the secret differs from what the store holds.
    let (_server, mut w, code, doc, plan) = case(|server, _, rt| {
        rt.block_on(async {
            let app = server.get(APP).await.expect(200).body;
            let cred = app["credentials"][0].clone();
            let key = cred["consumerKey"].as_str().unwrap().to_string();
            let products: Vec<Value> = cred["apiProducts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .map(|p| p["apiproduct"].clone())
                .collect();
            server
                .delete(&format!("{APP}/keys/{key}"))
                .await
                .expect(200);
            server
                .post(
                    &format!("{APP}/keys/create"),
                    json!({"consumerKey": key, "consumerSecret": "a-new-secret-set-by-hand-0123"}),
                )
                .await
                .expect(201);
            server
                .post(
                    &format!("{APP}/keys/{key}"),
                    json!({"apiProducts": products, "attributes": cred["attributes"]}),
                )
                .await
                .expect(200);
            server
                .put(
                    &format!("{APP}/keys/{key}"),
                    json!({"scopes": cred.get("scopes").cloned().unwrap_or(json!([]))}),
                )
                .await
                .expect(200);
        })
    });
    assert_eq!(code, 3, "{doc:#}");
    assert_one(&doc, "dana@example.com/web/default", "secret");
    assert_eq!(plan, 2);
    converges(&mut w, &[]);
    w.canary();
}

#[test]
fn a_key_added_by_hand_is_unmanaged() {
    let (_server, mut w, code, doc, plan) = case(|server, _, rt| {
        rt.block_on(server.post(
            &format!("{APP}/keys/create"),
            json!({"consumerKey": "hand-made-key-0123456789", "consumerSecret": "hand-made-secret-0123"}),
        ))
        .expect(201);
    });
    assert_eq!(code, 3, "{doc:#}");
    let got = classes(&doc);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].0.starts_with("dana@example.com/web/sha256:"),
        "{got:?}"
    );
    assert_eq!(got[0].1, "unmanaged");
    assert_eq!(plan, 2);
    converges(&mut w, &["--prune"]);
    w.canary();
}

#[test]
fn an_app_removed_from_the_config_is_removed() {
    let (_server, mut w, code, doc, plan) = case(|_, w, _| {
        w.edit(
            "  - name: batch\n    developer: dana@example.com\n    callbackUrl: https://batch.example.com/cb\n",
            "",
        )
    });
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(
        classes(&doc),
        vec![("dana@example.com/batch".to_string(), "removed".to_string())]
    );
    assert_eq!(plan, 2);
    // The plan says so above its (empty) changes, and counts it.
    let out = w.run("plan-text", &["plan"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", tail(&out.stderr));
    assert!(
        text.contains("! removed   app dana@example.com/batch")
            && text.contains("1 removed from the config"),
        "{text}"
    );
    converges(&mut w, &["--prune"]);
    w.canary();
}

#[test]
fn text_and_markdown_name_the_address_and_class() {
    let (_server, mut w, _, _, _) =
        case(|server, _, rt| rt.block_on(set_callback(server, "https://portal.example.com/cb")));
    let out = w.run("drift-text", &["drift"]);
    assert_eq!(out.status.code(), Some(3), "{}", tail(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("platform  app dana@example.com/web"),
        "{text}"
    );
    assert!(text.contains("Drift: 1 platform (drifted)."), "{text}");
    let out = w.run("drift-md", &["drift", "--format", "markdown"]);
    assert_eq!(out.status.code(), Some(3));
    let md = String::from_utf8_lossy(&out.stdout);
    assert!(md.starts_with("### registrar drift: 1 platform"), "{md}");
    assert!(
        md.contains("| platform | `app dana@example.com/web` | callbackUrl |"),
        "{md}"
    );
    w.canary();
}

/// On the local backend too: a config-only edit exits 2; an app dropped from the config is
/// `removed` (3); and drift never creates the registry it reads.
#[test]
fn local_backend_config_and_removed() {
    let mut w = Work::new(&["--backend", "local"]);
    let (code, doc) = w.drift("drift-empty");
    assert_eq!(code, 2, "{doc:#}");
    assert!(
        !w.path(".registrar/registry.db").exists(),
        "drift creates no registry"
    );
    w.apply();
    assert_eq!(w.drift("drift-applied").0, 0);
    w.edit("tier: gold", "tier: silver");
    let (code, doc) = w.drift("drift-config");
    assert_eq!(code, 2, "{doc:#}");
    assert_eq!(
        classes(&doc),
        vec![("dana@example.com/web".to_string(), "config".to_string())]
    );
    w.edit(
        "  - name: batch\n    developer: dana@example.com\n    callbackUrl: https://batch.example.com/cb\n",
        "",
    );
    let (code, doc) = w.drift("drift-removed");
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["summary"]["removed"], 1);
    assert_eq!(doc["summary"]["config"], 1);
    assert_eq!(w.plan_code("plan"), 2);
    w.canary();
}

/// A status changed by the config alone is recorded too: applied, the app is in sync (and a
/// second apply changes nothing); re-approved in the portal afterwards, it is `platform`.
#[test]
fn a_revoked_app_re_approved_on_the_server_is_platform() {
    let (server, mut w, code, _, _) = case(|_, w, _| {
        w.edit(
            "    callbackUrl: https://web.example.com/cb\n",
            "    callbackUrl: https://web.example.com/cb\n    status: revoked\n",
        )
    });
    assert_eq!(code, 2);
    w.apply();
    let out = w.run("apply-again", &["apply", "--auto-approve"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 done, 0 failed, 0 skipped"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(w.drift("drift-revoked").0, 0);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(server.action(&format!("{APP}?action=approve")))
        .expect(204);
    let (code, doc) = w.drift("drift-re-approved");
    assert_eq!(code, 3, "{doc:#}");
    assert_one(&doc, "dana@example.com/web", "platform");
    assert_eq!(w.plan_code("plan"), 2);
    w.canary();
}

/// A config that no longer declares any app still finds its owned apps `removed`: drift
/// reads every kind, whatever the config declares.
#[test]
fn every_app_removed_from_the_config_is_removed() {
    let (_server, w, code, doc, _) = case(|_, w, _| {
        let p = w.path("registry.yaml");
        let text = std::fs::read_to_string(&p).unwrap();
        let cut = text.find("apps:").unwrap();
        std::fs::write(&p, &text[..cut]).unwrap();
    });
    assert_eq!(code, 3, "{doc:#}");
    assert_eq!(doc["summary"]["removed"], 2, "{doc:#}");
    w.canary();
}

/// A key revoked on the server (an incident) is `platform`: its stamp, recorded in the
/// secrets store by the apply that minted it, says it was applied approved. The plan
/// re-enables it, flagged; applied, all is in sync again.
#[test]
fn a_key_revoked_on_the_server_is_platform() {
    let (_server, mut w, code, doc, plan) = case(|server, w, rt| {
        assert!(w.path("secrets/local/applied.json").exists());
        rt.block_on(async {
            let app = server.get(APP).await.expect(200).body;
            let key = app["credentials"][0]["consumerKey"].as_str().unwrap();
            server
                .action(&format!("{APP}/keys/{key}?action=revoke"))
                .await
                .expect(204);
        })
    });
    assert_eq!(code, 3, "{doc:#}");
    assert_one(&doc, "dana@example.com/web/default", "platform");
    assert_eq!(doc["summary"]["config"], 0, "{doc:#}");
    assert_eq!(plan, 2);
    let out = w.run("plan-text", &["plan"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("[re-enables a revoked credential]"), "{text}");
    converges(&mut w, &[]);
    w.canary();
}
