//! Lossless writes (issue 9, parts 2 and 3): resources made by another tool carry fields
//! registrar does not model; they survive registrar's adopt, its updates and its status
//! changes, on both flavours of `registrar serve` (which keeps such fields as the platform
//! does). Operation groups declared in the config are applied and diffed; one made by
//! another tool is kept while the config does not declare one; Edge refuses them at plan
//! time, at their place in the config.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::Server;
use serde_json::{Value, json};

const EMAIL: &str = "ann@example.com";

fn config(last_name: &str, description: &str, callback: &str, more: &str) -> String {
    format!(
        "version: 1
owner: lossless
developers:
  - email: {EMAIL}
    firstName: Ann
    lastName: {last_name}
    userName: ann
products:
  - name: orders
    displayName: Orders
    description: {description}
    approvalType: auto
    scopes: [orders.read]
{more}apps:
  - name: web
    developer: {EMAIL}
    callbackUrl: {callback}
    apiProducts: [orders]
    scopes: [orders.read]
"
    )
}

fn registrar(dir: &Path, args: &[&str], backend: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_registrar"))
        .current_dir(dir)
        .args(args)
        .args(backend)
        .env("NO_COLOR", "1")
        .env("APIGEE_TOKEN", "test-token")
        .env_remove("REGISTRAR_LOG")
        .env_remove("REGISTRAR_IDENTITY")
        .env_remove("CI")
        .output()
        .unwrap()
}

fn ok(dir: &Path, args: &[&str], backend: &[&str]) -> String {
    let out = registrar(dir, args, backend);
    assert!(
        out.status.success(),
        "{args:?} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The (action, address) pairs of a plan.
fn plan(dir: &Path, backend: &[&str]) -> Vec<(String, String)> {
    let out = ok(dir, &["plan", "--format", "json"], backend);
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

fn apply(dir: &Path, backend: &[&str]) {
    ok(dir, &["apply", "--auto-approve"], backend);
}

/// Fields another tool set that registrar does not model, per kind and flavour.
fn foreign(flavor: &str) -> (Value, Value, Value) {
    let developer = json!({"accessType": "internal", "appFamily": "legacy"});
    let product = if flavor == "x" {
        json!({
            "operationGroup": {
                "operationConfigType": "proxy",
                "operationConfigs": [{
                    "apiSource": "orders-proxy",
                    "operations": [{"resource": "/orders", "methods": ["GET"]}],
                    "quota": {"limit": "10", "interval": "1", "timeUnit": "minute"}
                }]
            },
            "quotaCounterScope": "OPERATION",
            "space": "team-a"
        })
    } else {
        json!({"apiProductTier": "gold"})
    };
    // Every documented app field is modelled or output only: a field a newer platform (or a
    // proxy in between) adds stands for them.
    let app = json!({"clientTier": "gold"});
    (developer, product, app)
}

fn merged(base: Value, more: &Value) -> Value {
    let mut b = base;
    for (k, v) in more.as_object().unwrap() {
        b[k] = v.clone();
    }
    b
}

async fn assert_kept(s: &Server, flavor: &str, when: &str) {
    let (developer, product, app) = foreign(flavor);
    let d = s.call("GET", &format!("developers/{EMAIL}"), None).await;
    let p = s.call("GET", "apiproducts/orders", None).await;
    let a = s
        .call("GET", &format!("developers/{EMAIL}/apps/web"), None)
        .await;
    for (what, body, fields) in [
        ("developer", &d.body, &developer),
        ("product", &p.body, &product),
        ("app", &a.body, &app),
    ] {
        let mut shown = body.clone();
        shown.as_object_mut().unwrap().remove("credentials");
        for (k, v) in fields.as_object().unwrap() {
            assert_eq!(&body[k], v, "{flavor}, {when}: {what} lost `{k}`: {shown}");
        }
    }
}

async fn lossless(flavor: &str) {
    let s = Server::start(flavor, &[]);
    let (developer, product, app) = foreign(flavor);
    // Made by another tool, without registrar's owner stamp.
    let made = [
        (
            "developers".to_string(),
            merged(
                json!({"email": EMAIL, "firstName": "Ann", "lastName": "Old", "userName": "ann"}),
                &developer,
            ),
        ),
        (
            "apiproducts".to_string(),
            merged(
                json!({"name": "orders", "displayName": "Orders", "approvalType": "auto",
                       "scopes": ["orders.read"], "description": "old"}),
                &product,
            ),
        ),
        (
            format!("developers/{EMAIL}/apps"),
            merged(
                json!({"name": "web", "apiProducts": ["orders"], "scopes": ["orders.read"],
                       "callbackUrl": "https://old.example.com/cb"}),
                &app,
            ),
        ),
    ];
    for (path, body) in made {
        let r = s.call("POST", &path, Some(body)).await;
        assert!(r.status.is_success(), "{path}: {}", r.text);
    }
    let dir = tempfile::tempdir().unwrap();
    let kind = if flavor == "x" {
        "apigee"
    } else {
        "apigee-edge"
    };
    let backend = ["--backend", kind, "--url", &s.url, "--org", "local"];
    let cfg = dir.path().join("registry.yaml");

    // Adopt, with an update of each resource.
    std::fs::write(&cfg, config("New", "new", "https://new.example.com/cb", "")).unwrap();
    let adopted = plan(dir.path(), &backend);
    for address in ["ann@example.com", "orders", "ann@example.com/web"] {
        assert!(
            adopted
                .iter()
                .any(|(a, addr)| a == "adopt" && addr == address),
            "{flavor}: {address} is adopted: {adopted:?}"
        );
    }
    apply(dir.path(), &backend);
    assert_kept(&s, flavor, "after adopt").await;

    // Updates of every kind.
    std::fs::write(
        &cfg,
        config("Newer", "newer", "https://newer.example.com/cb", ""),
    )
    .unwrap();
    apply(dir.path(), &backend);
    assert_kept(&s, flavor, "after update").await;
    let d = s.call("GET", &format!("developers/{EMAIL}"), None).await;
    assert_eq!(d.body["lastName"], json!("Newer"));

    // Status changes.
    let text = config("Newer", "newer", "https://newer.example.com/cb", "")
        .replace(
            "    userName: ann\n",
            "    userName: ann\n    status: inactive\n",
        )
        .replace(
            "    callbackUrl: https://newer.example.com/cb\n",
            "    callbackUrl: https://newer.example.com/cb\n    status: revoked\n",
        );
    std::fs::write(&cfg, text).unwrap();
    apply(dir.path(), &backend);
    assert_kept(&s, flavor, "after status changes").await;
    let a = s
        .call("GET", &format!("developers/{EMAIL}/apps/web"), None)
        .await;
    assert_eq!(a.body["status"], json!("revoked"));
    assert!(
        plan(dir.path(), &backend).is_empty(),
        "{flavor}: applied twice changes nothing"
    );
}

#[tokio::test]
async fn fields_registrar_does_not_model_survive_on_x() {
    lossless("x").await;
}

#[tokio::test]
async fn fields_registrar_does_not_model_survive_on_edge() {
    lossless("edge").await;
}

const GROUP: &str = "    operationGroup:
      operationConfigs:
        - apiSource: orders-proxy
          operations:
            - {resource: /orders, methods: [GET, POST]}
          quota: {limit: 100, interval: 1, timeUnit: minute}
          attributes: {tier: gold}
";

/// Declared operation groups are applied, diffed and converge, on X and on the local
/// backend (whose registry keeps them as X does).
#[tokio::test]
async fn declared_operation_groups_apply_and_converge() {
    let s = Server::start("x", &[]);
    let x = [
        "--backend",
        "apigee",
        "--url",
        s.url.as_str(),
        "--org",
        "local",
    ];
    let local = ["--backend", "local"];
    for backend in [&x[..], &local[..]] {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("registry.yaml");
        std::fs::write(&cfg, config("A", "d", "https://a.example.com/cb", GROUP)).unwrap();
        apply(dir.path(), backend);
        assert!(
            plan(dir.path(), backend).is_empty(),
            "{backend:?} converges"
        );
        // A change inside the group is an update of the product, field by field.
        std::fs::write(
            &cfg,
            config(
                "A",
                "d",
                "https://a.example.com/cb",
                &GROUP.replace("limit: 100", "limit: 200"),
            ),
        )
        .unwrap();
        let out = ok(dir.path(), &["plan"], backend);
        assert!(
            out.contains("operationGroup[orders-proxy].quota"),
            "{backend:?}: {out}"
        );
        apply(dir.path(), backend);
        assert!(
            plan(dir.path(), backend).is_empty(),
            "{backend:?} converges"
        );
        // Removed from the config: the platform's stays as it is.
        std::fs::write(&cfg, config("A", "d", "https://a.example.com/cb", "")).unwrap();
        assert!(plan(dir.path(), backend).is_empty(), "{backend:?}");
    }
    let p = s.call("GET", "apiproducts/orders", None).await;
    let quota = &p.body["operationGroup"]["operationConfigs"][0]["quota"];
    assert_eq!(quota["limit"], json!("200"), "{}", p.body);
}

#[test]
fn edge_refuses_operation_groups_at_their_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("registry.yaml"),
        config("A", "d", "https://a.example.com/cb", GROUP),
    )
    .unwrap();
    let backend = [
        "--backend",
        "apigee-edge",
        "--url",
        "http://127.0.0.1:9",
        "--org",
        "o",
    ];
    let out = registrar(dir.path(), &["plan"], &backend);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("registry.yaml:14:5:")
            && stderr.contains("`operationGroup`, which Apigee Edge does not have"),
        "{stderr}"
    );
}

/// AppGroup apps (X) are read, noted where they share a name with a declared app or hold a
/// key on a declared product, and never touched, not even by `--prune`.
#[tokio::test]
async fn appgroup_apps_are_noted_and_left_alone() {
    let s = Server::start("x", &[]);
    let dir = tempfile::tempdir().unwrap();
    let backend = [
        "--backend",
        "apigee",
        "--url",
        s.url.as_str(),
        "--org",
        "local",
    ];
    std::fs::write(
        dir.path().join("registry.yaml"),
        config("A", "d", "https://a.example.com/cb", ""),
    )
    .unwrap();
    apply(dir.path(), &backend);
    let r = s
        .call("POST", "appgroups", Some(json!({"name": "partners"})))
        .await;
    assert!(r.status.is_success(), "{}", r.text);
    let r = s
        .call(
            "POST",
            "appgroups/partners/apps",
            Some(json!({"name": "web", "apiProducts": ["orders"]})),
        )
        .await;
    assert!(r.status.is_success(), "{}", r.text);

    let out = ok(
        dir.path(),
        &["plan", "--prune", "--format", "json"],
        &backend,
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v.get("changes").is_none() || v["changes"].as_array().unwrap().is_empty(),
        "{out}"
    );
    let notes: Vec<&str> = v["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["message"].as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .filter(|m| m.contains("AppGroup app `partners/web`"))
            .count()
            == 2,
        "{notes:?}"
    );
    apply(dir.path(), &backend);
    let a = s.call("GET", "appgroups/partners/apps/web", None).await;
    assert!(a.status.is_success(), "the AppGroup app is still there");
}
