//! `registrar import` end to end, against a real `registrar serve` populated over raw HTTP
//! as curl would: import → validate → plan shows only `adopt` → apply → plan is empty, no
//! key minted, revoked or changed; the stored files decrypt with the `age` CLI to the
//! platform's keys; no key or secret appears in any output or in the config. On Apigee X and
//! Edge (`serve` in both flavours) and on the local backend (the same registry file), over
//! the scenario and over generated orgs.

#[path = "common/canary.rs"]
mod canary;
mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use canary::Canary;
use common::Server;
use serde_json::{Value, json};

/// Where registrar runs: a temporary directory, the target's flags, and every output.
struct Run {
    dir: tempfile::TempDir,
    flags: Vec<String>,
    canary: Canary,
    outputs: Vec<(String, Output)>,
}

impl Run {
    fn new(flags: Vec<String>) -> Run {
        Run {
            dir: tempfile::tempdir().unwrap(),
            flags,
            canary: Canary::new(),
            outputs: Vec::new(),
        }
    }

    fn for_serve(server: &Server, flavor: &str) -> Run {
        let backend = if flavor == "edge" {
            "apigee-edge"
        } else {
            "apigee"
        };
        Run::new(vec![
            "--backend".into(),
            backend.into(),
            "--url".into(),
            server.url.clone(),
            "--org".into(),
            "local".into(),
        ])
    }

    fn for_local(db: &Path) -> Run {
        Run::new(vec![
            "--backend".into(),
            "local".into(),
            "--db".into(),
            db.display().to_string(),
        ])
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// Runs registrar with `args` (and the target flags when `target`).
    fn run(&mut self, label: &str, args: &[&str], target: bool) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_registrar"));
        cmd.current_dir(self.dir.path())
            .args(["--log", "trace"])
            .args(args)
            .env("NO_COLOR", "1")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_LOG")
            .env_remove("REGISTRAR_IDENTITY")
            .env_remove("CI");
        if target {
            cmd.args(&self.flags);
        }
        let out = cmd.output().expect("registrar runs");
        self.outputs.push((label.to_string(), out.clone()));
        out
    }

    fn ok(&mut self, label: &str, args: &[&str], target: bool) -> String {
        let out = self.run(label, args, target);
        assert!(
            out.status.success(),
            "{label} failed ({:?})\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The plan's (action, address) pairs.
    fn plan(&mut self, label: &str, config: &str) -> Vec<(String, String)> {
        let out = self.ok(label, &["plan", "-f", config, "--format", "json"], true);
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

    /// The whole round trip on the config at `config` (as written by the import already
    /// run), with `left_out_apps` apps the import left out; returns the plan before apply.
    fn round_trip(&mut self, config: &str, left_out_apps: usize) -> Vec<(String, String)> {
        self.ok("validate", &["validate", "-f", config], false);
        let plan = self.plan("plan after import", config);
        let not_adopt: Vec<_> = plan.iter().filter(|(a, _)| a != "adopt").collect();
        assert!(
            not_adopt.is_empty(),
            "plan has more than adopts: {not_adopt:?}"
        );
        self.ok(
            "apply",
            &[
                "apply",
                "-f",
                config,
                "--auto-approve",
                "--allow-local-identity",
            ],
            true,
        );
        let out = self.run(
            "plan after apply",
            &["plan", "-f", config, "--detailed-exitcode"],
            true,
        );
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Apps the import left out (and listed) are apps nobody owns under a developer the
        // config manages: drift of class `unmanaged`, which the plan counts (exit 2), and
        // nothing else.
        let unmanaged = stdout.matches("! unmanaged app ").count();
        assert_eq!(
            (out.status.code(), unmanaged),
            (Some(if left_out_apps == 0 { 0 } else { 2 }), left_out_apps),
            "plan after apply is not empty:\n{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if left_out_apps > 0 {
            assert!(
                stdout.contains("Nothing to change without `--prune`."),
                "{stdout}"
            );
            assert_eq!(stdout.matches("\n  ! ").count(), left_out_apps, "{stdout}");
        }
        plan
    }

    /// Collects the stored keys (of the config in `base`), then checks every output so far
    /// and every file.
    fn check_no_leak(&mut self, base: &str) {
        let base = self.path(base);
        let n = self.canary.collect_store(
            &base.join("secrets/local"),
            &base.join(".registrar/identity.txt"),
        );
        assert!(n > 0);
        for (label, out) in &self.outputs {
            self.canary.check_output(label, out);
        }
        self.canary.scan_dir(self.dir.path());
    }
}

/// The keys an org holds over HTTP: per (developer, app), sorted (consumer key, secret,
/// status, products with status, scopes).
async fn keys_of(server: &Server) -> BTreeMap<(String, String), Vec<Value>> {
    let mut out = BTreeMap::new();
    let devs = server.get("developers").await.expect(200).body;
    let emails: Vec<String> = match &devs {
        Value::Array(a) => a.iter().map(|e| e.as_str().unwrap().to_string()).collect(),
        v => v["developer"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["email"].as_str().unwrap().to_string())
            .collect(),
    };
    for email in emails {
        let apps = server
            .get(&format!("developers/{}/apps?expand=true", enc(&email)))
            .await
            .expect(200)
            .body;
        for app in apps["app"].as_array().cloned().unwrap_or_default() {
            let mut creds: Vec<Value> = app["credentials"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    let mut products: Vec<String> = c["apiProducts"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|p| format!("{}={}", p["apiproduct"], p["status"]))
                        .collect();
                    products.sort();
                    json!([
                        c["consumerKey"],
                        c["consumerSecret"],
                        c["status"],
                        products,
                        c["scopes"],
                        c["expiresAt"]
                    ])
                })
                .collect();
            creds.sort_by_key(|c| c.to_string());
            out.insert(
                (email.clone(), app["name"].as_str().unwrap().to_string()),
                creds,
            );
        }
    }
    out
}

/// Percent-encodes a path segment whole (names here hold `#`, `$`, `%`, `'`, spaces).
fn enc(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Adds a key with chosen values to an app, with products, scopes and a status.
async fn add_key(
    server: &Server,
    email: &str,
    app: &str,
    (ck, cs): (&str, &str),
    products: &[&str],
    scopes: &[&str],
    revoked: bool,
) {
    let base = format!("developers/{}/apps/{}/keys", enc(email), enc(app));
    server
        .post(
            &format!("{base}/create"),
            json!({"consumerKey": ck, "consumerSecret": cs}),
        )
        .await
        .expect(201);
    if !products.is_empty() {
        server
            .post(&format!("{base}/{ck}"), json!({"apiProducts": products}))
            .await
            .expect(200);
    }
    if !scopes.is_empty() {
        server
            .put(&format!("{base}/{ck}"), json!({"scopes": scopes}))
            .await
            .expect(200);
    }
    if revoked {
        server
            .action(&format!("{base}/{ck}?action=revoke"))
            .await
            .expect(204);
    }
}

/// The acceptance scenario: developers, products, apps with one and with two keys,
/// a revoked app and an app with attributes, made by hand over HTTP.
async fn populate_by_hand(server: &Server) {
    for (email, first) in [("ann@example.com", "Ann"), ("bob@example.com", "Bob")] {
        server
            .post(
                "developers",
                json!({"email": email, "firstName": first, "lastName": "Example", "userName": first.to_lowercase()}),
            )
            .await
            .expect(201);
    }
    server
        .post(
            "apiproducts",
            json!({"name": "payments", "displayName": "Payments", "approvalType": "auto",
                   "scopes": ["pay.read", "pay.write"], "environments": ["prod"],
                   "quota": "100", "quotaInterval": "1", "quotaTimeUnit": "minute"}),
        )
        .await
        .expect(201);
    server
        .post(
            "apiproducts",
            json!({"name": "maps", "displayName": "Maps", "approvalType": "auto", "scopes": ["geo"]}),
        )
        .await
        .expect(201);
    let app = |name: &str, body: Value| {
        let mut b = body;
        b["name"] = json!(name);
        b
    };
    server
        .post(
            "developers/ann@example.com/apps",
            app(
                "one-key",
                json!({"apiProducts": ["payments"], "scopes": ["pay.read"],
                                  "callbackUrl": "https://one.example.com/cb"}),
            ),
        )
        .await
        .expect(201);
    server
        .post(
            "developers/ann@example.com/apps",
            app("two-keys", json!({"apiProducts": ["payments"]})),
        )
        .await
        .expect(201);
    add_key(
        server,
        "ann@example.com",
        "two-keys",
        (
            "acceptance-second-key-0001",
            "acceptance-second-secret-0001",
        ),
        &["maps"],
        &["geo"],
        false,
    )
    .await;
    server
        .post(
            "developers/bob@example.com/apps",
            app("retired", json!({"apiProducts": ["maps"]})),
        )
        .await
        .expect(201);
    server
        .action("developers/bob@example.com/apps/retired?action=revoke")
        .await
        .expect(204);
    server
        .post(
            "developers/bob@example.com/apps",
            app(
                "with-attributes",
                json!({"apiProducts": ["maps"], "attributes": [
                    {"name": "DisplayName", "value": "With attributes"},
                    {"name": "Notes", "value": "line one\nline two"},
                    {"name": "cost-center", "value": "4711"},
                    {"name": "tier", "value": "gold $5"}
                ]}),
            ),
        )
        .await
        .expect(201);
}

/// An AppGroup with an app (Apigee X): not a developer app, so listed, never imported.
async fn add_app_group(server: &Server) {
    server
        .post("appgroups", json!({"name": "partners"}))
        .await
        .expect(201);
    server
        .post(
            "appgroups/partners/apps",
            json!({"name": "shared", "apiProducts": ["maps"]}),
        )
        .await
        .expect(201);
}

/// `age -d -i IDENTITY FILE` of every stored file gives a key and secret the platform holds.
fn age_decrypts_to_platform_keys(run: &Run, platform: &BTreeMap<(String, String), Vec<Value>>) {
    let index: Value = index_json(&run.path("secrets/local/index.yaml"));
    let entries = index["keys"].as_array().unwrap();
    assert!(!entries.is_empty());
    for e in entries {
        let file = run.path("secrets/local").join(e["file"].as_str().unwrap());
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(run.path(".registrar/identity.txt"))
            .arg(&file)
            .output()
            .expect("the `age` CLI is installed (tests/run installs it)");
        assert!(out.status.success(), "age -d {}", file.display());
        let cred: Value = serde_json::from_slice(&out.stdout).unwrap();
        let app = (
            e["developer"].as_str().unwrap().to_string(),
            e["app"].as_str().unwrap().to_string(),
        );
        let keys = &platform[&app];
        assert!(
            keys.iter()
                .any(|k| k[0] == cred["consumerKey"] && k[1] == cred["consumerSecret"]),
            "{} decrypts to a key the platform does not hold for {app:?}",
            file.display()
        );
    }
}

/// `index.yaml` (plain YAML, no secret material) as JSON.
fn index_json(path: &Path) -> Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn acceptance_import_then_adopt_only_on_serve_x() {
    let server = Server::start("x", &[]);
    populate_by_hand(&server).await;
    add_app_group(&server).await;
    let before = keys_of(&server).await;
    let mut run = Run::for_serve(&server, "x");
    let group_app = server
        .get("appgroups/partners/apps/shared")
        .await
        .expect(200)
        .body;
    for c in group_app["credentials"].as_array().unwrap() {
        run.canary.add_pair(
            c["consumerKey"].as_str().unwrap(),
            c["consumerSecret"].as_str().unwrap(),
        );
    }
    for keys in before.values() {
        for k in keys {
            run.canary
                .add_pair(k[0].as_str().unwrap(), k[1].as_str().unwrap());
        }
    }
    let summary = run.ok(
        "import",
        &["import", "--owner", "team-a", "--out", "registry.yaml"],
        true,
    );
    assert!(summary.contains("and 5 key(s)"), "{summary}");
    assert!(summary.contains("5 key(s) stored encrypted"), "{summary}");
    assert!(
        summary.contains("Not imported (1):\n  app group partners/shared: an AppGroup app"),
        "{summary}"
    );
    let yaml = std::fs::read_to_string(run.path("registry.yaml")).unwrap();
    assert!(
        yaml.contains("#   app group partners/shared: an AppGroup app"),
        "{yaml}"
    );
    assert!(yaml.contains("status: revoked"), "{yaml}");
    assert!(yaml.contains("id: key-2"), "{yaml}");
    assert!(yaml.contains("tier: gold $$5"), "{yaml}");
    // The same org split by kind: valid, and planned as adopts only.
    run.ok(
        "import by kind",
        &[
            "import", "--owner", "team-a", "--out", "by-kind", "--layout", "by-kind",
        ],
        true,
    );
    let mut names: Vec<String> = std::fs::read_dir(run.path("by-kind"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "apps.yaml",
            "developers.yaml",
            "products.yaml",
            "registrar.yaml",
            "registry.schema.json"
        ]
    );
    run.ok("validate by kind", &["validate", "-f", "by-kind"], false);
    let by_kind = run.plan("plan by kind", "by-kind");
    assert!(by_kind.iter().all(|(a, _)| a == "adopt"), "{by_kind:?}");
    assert_eq!(by_kind.len(), 8, "{by_kind:?}");
    let plan = run.round_trip("registry.yaml", 0);
    assert_eq!(plan.len(), 8, "{plan:?}");
    let after = keys_of(&server).await;
    assert_eq!(before, after, "a key was minted, revoked or changed");
    age_decrypts_to_platform_keys(&run, &after);
    // Re-importing the unchanged org writes the same bytes.
    run.ok(
        "re-import",
        &[
            "import",
            "--owner",
            "team-a",
            "--out",
            "registry.yaml",
            "--force",
        ],
        true,
    );
    assert_eq!(
        std::fs::read_to_string(run.path("registry.yaml")).unwrap(),
        yaml
    );
    run.check_no_leak("");
}

/// A small deterministic generator (xorshift): the same seed, the same org.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Unusual but legal names.
const PRODUCT_NAMES: &[&str] = &["Pay API v2", "maps.geo-1", "acme#ops$%_x", "7days", "z z.z"];
const APP_NAMES: &[&str] = &["Web App #1", "svc-2.v2", "a$b%c_3", "0day", "x y z"];
const EMAILS: &[&str] = &[
    "dev.one+qa@example.com",
    "o'neil@sub.example.io",
    "x_y-z@example.co.uk",
    "plain@example.org",
];

fn attrs(prefix: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| json!({"name": format!("{prefix}-{i:02}"), "value": format!("v {i}: ${{not-a-var}}")}))
        .collect()
}

/// Populates a generated org; returns how many apps are over the attribute limit (which the
/// import leaves out and lists).
async fn populate_generated(server: &Server, seed: u64) -> usize {
    let mut g = Gen(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let scopes_of = |i: usize| vec![format!("s{i}.read"), format!("s{i}.write")];
    for (i, name) in PRODUCT_NAMES.iter().enumerate() {
        let mut body = json!({"name": name, "displayName": format!("Product {i}"),
            "approvalType": "auto", "scopes": scopes_of(i),
            "attributes": attrs("p", if i == 0 { 15 } else { g.below(4) as usize })});
        if i == 0 {
            body["attributes"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "access", "value": "private"}));
        }
        if g.chance(50) {
            body["quota"] = json!("1000");
            body["quotaInterval"] = json!("1");
            body["quotaTimeUnit"] = json!("hour");
        }
        server.post("apiproducts", body).await.expect(201);
    }
    let mut over_limit = 0;
    let mut n = 0;
    for (d, email) in EMAILS.iter().enumerate() {
        server
            .post(
                "developers",
                json!({"email": email, "firstName": "Gen", "lastName": format!("Dev {d}"),
                       "userName": format!("gen{d}"),
                       "attributes": attrs("d", if d == 0 { 16 } else { g.below(3) as usize })}),
            )
            .await
            .expect(201);
        for app in APP_NAMES
            .iter()
            .take(1 + g.below(APP_NAMES.len() as u64) as usize)
        {
            n += 1;
            let p = g.below(PRODUCT_NAMES.len() as u64) as usize;
            let mut body = json!({"name": app, "apiProducts": [PRODUCT_NAMES[p]]});
            if g.chance(50) {
                body["scopes"] = json!([scopes_of(p)[0]]);
            }
            if g.chance(40) {
                body["callbackUrl"] = json!(format!("https://cb{n}.example.com/oauth"));
            }
            // Expired keys: a lifetime of one millisecond; else 90 days, or never.
            match g.below(4) {
                0 => body["keyExpiresIn"] = json!("1"),
                1 => body["keyExpiresIn"] = json!("7776000000"),
                _ => {}
            }
            let attr_count = match n % 7 {
                0 => 14, // with DisplayName and Notes 16: the owner and applied stamps make 18
                3 => 17, // no room for both stamps: left out, listed
                _ => g.below(3) as usize,
            };
            let mut a = attrs("a", attr_count);
            if attr_count == 14 {
                a.push(json!({"name": "DisplayName", "value": format!("App {n}")}));
                a.push(json!({"name": "Notes", "value": "multi\nline"}));
            }
            if attr_count == 17 {
                over_limit += 1;
            }
            body["attributes"] = json!(a);
            server
                .post(&format!("developers/{}/apps", enc(email)), body)
                .await
                .expect(201);
            // More keys, with their own products and scopes, some revoked.
            for k in 0..g.below(3) {
                let q = g.below(PRODUCT_NAMES.len() as u64) as usize;
                let scope = scopes_of(q)[1].clone();
                let ck = format!("gen-{seed}-{n}-{k}-consumer-key");
                let cs = format!("gen-{seed}-{n}-{k}-consumer-secret");
                let key_scopes: Vec<&str> = if g.chance(50) {
                    vec![scope.as_str()]
                } else {
                    vec![]
                };
                add_key(
                    server,
                    email,
                    app,
                    (&ck, &cs),
                    &[PRODUCT_NAMES[q]],
                    &key_scopes,
                    g.chance(30),
                )
                .await;
            }
            if g.chance(20) {
                server
                    .action(&format!(
                        "developers/{}/apps/{}?action=revoke",
                        enc(email),
                        enc(app)
                    ))
                    .await
                    .expect(204);
            }
        }
    }
    over_limit
}

/// Generated orgs on one target: import, the round trip, keys unchanged, re-import identical.
async fn generated_round_trip(flavor: &str, seeds: std::ops::Range<u64>) {
    for seed in seeds {
        let server = Server::start(if flavor == "local" { "x" } else { flavor }, &[]);
        let over_limit = populate_generated(&server, seed).await;
        let before = keys_of(&server).await;
        let db = server.db();
        let mut run = if flavor == "local" {
            Run::for_local(&db)
        } else {
            Run::for_serve(&server, flavor)
        };
        let summary = run.ok(
            "import",
            &[
                "import",
                "--owner",
                "gen",
                "--out",
                "cfg",
                "--layout",
                "by-developer",
            ],
            true,
        );
        assert_eq!(
            summary
                .matches("attributes, more than the platform's 18")
                .count(),
            over_limit,
            "seed {seed}: {summary}"
        );
        let files: Vec<(String, String)> = read_dir_texts(&run.path("cfg"));
        run.round_trip("cfg", over_limit);
        let after = keys_of(&server).await;
        assert_eq!(before, after, "seed {seed} on {flavor}: keys changed");
        run.ok(
            "re-import",
            &[
                "import",
                "--owner",
                "gen",
                "--out",
                "cfg",
                "--layout",
                "by-developer",
                "--force",
            ],
            true,
        );
        assert_eq!(
            files,
            read_dir_texts(&run.path("cfg")),
            "seed {seed}: re-import differs"
        );
        run.check_no_leak("cfg");
    }
}

fn read_dir_texts(dir: &Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().is_file())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_orgs_round_trip_on_serve_x() {
    generated_round_trip("x", 1..4).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_orgs_round_trip_on_serve_edge() {
    generated_round_trip("edge", 4..7).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_orgs_round_trip_on_the_local_backend() {
    generated_round_trip("local", 7..10).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn in_ci_without_recipients_import_refuses_a_throwaway_identity() {
    let server = Server::start("x", &[]);
    server
        .post(
            "developers",
            json!({"email": "ci@example.com", "firstName": "C", "lastName": "I", "userName": "ci"}),
        )
        .await
        .expect(201);
    let run = Run::for_serve(&server, "x");
    let import = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_registrar"))
            .current_dir(run.dir.path())
            .args(["import", "--owner", "ci", "--out", "registry.yaml"])
            .args(extra)
            .args(&run.flags)
            .env("CI", "true")
            .env("APIGEE_TOKEN", "test-token")
            .env_remove("REGISTRAR_LOG")
            .output()
            .unwrap()
    };
    let out = import(&[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no `--recipient` is given"), "{stderr}");
    assert!(stderr.contains("hint: pass the public keys"), "{stderr}");
    assert!(!run.path("registry.yaml").exists(), "nothing written");
    let out = import(&["--allow-local-identity"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
