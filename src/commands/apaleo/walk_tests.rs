//! The interactive walk against an in-process stand-in.

use std::collections::VecDeque;
use std::path::Path;

use super::*;
use crate::backend::apaleo::{Endpoints, Verifier};
use crate::model::apaleo::{Client, ClientKind};
use crate::registry::Registry;
use crate::secrets::{Identity, SecretStore};

/// Answers from a script; records what was said.
struct Script {
    answers: VecDeque<&'static str>,
    secrets: VecDeque<String>,
    said: String,
}

impl Prompt for Script {
    fn say(&mut self, text: &str) {
        self.said.push_str(text);
    }
    fn ask(&mut self, _: &str) -> anyhow::Result<Reply> {
        Ok(match self.answers.pop_front() {
            Some("y") => Reply::Done,
            Some("s") => Reply::Skip,
            _ => Reply::Quit,
        })
    }
    fn secret(&mut self, _: &str) -> anyhow::Result<Zeroizing<String>> {
        Ok(Zeroizing::new(self.secrets.pop_front().unwrap_or_default()))
    }
}

const CONFIG: &str = "version: 1
backend: {kind: apaleo, account: DEMO}
clients:
  - code: bot
    kind: simple
    name: Bot
    scopes: [reports.read]
    secrets: [{id: primary, description: ci}]
";

async fn session(dir: &Path, url: &str) -> Session {
    let id = age::x25519::Identity::generate();
    let path = dir.join("identity.txt");
    std::fs::write(
        &path,
        format!(
            "{}\n",
            age::secrecy::ExposeSecret::expose_secret(&id.to_string())
        ),
    )
    .unwrap();
    let store = SecretStore::open(dir.join("secrets"), &[id.to_public().to_string()]).unwrap();
    Session {
        account: "DEMO".into(),
        verifier: Verifier::new(Endpoints::new(Some(url)), None).unwrap(),
        store,
        registry: dir.join("records.db"),
        identity: Identity::from_file(&path).unwrap().into(),
        local_identity: None,
    }
}

/// The stand-in in-process, with client `bot` created and one secret added (as the
/// person does in the dashboard); returns its URL and the secret.
async fn stand_in(dir: &Path) -> (String, String) {
    stand_in_with(dir, &["reports.read"]).await
}

/// [`stand_in`] with client `bot` granted `scopes`.
async fn stand_in_with(dir: &Path, scopes: &[&str]) -> (String, String) {
    let db = Registry::open(dir.join("stand-in.db")).unwrap();
    let client = Client {
        code: "bot".into(),
        kind: ClientKind::Simple,
        name: "Bot".into(),
        logo_url: None,
        redirect_uris: vec![],
        pii: Some(false),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        secrets: vec![],
        unconfirmed: vec![],
    };
    db.apaleo_create_client("DEMO", &client).unwrap();
    let (_, secret) = db.apaleo_add_secret("bot", "ci").unwrap();
    let app = crate::server::apaleo::router_over(db, "DEMO".into(), None);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, secret.expose().to_string())
}

#[tokio::test]
async fn a_walk_stores_verifies_and_records() {
    let dir = tempfile::tempdir().unwrap();
    let (url, secret) = stand_in(dir.path()).await;
    let s = session(dir.path(), &url).await;
    std::fs::write(dir.path().join("registry.yaml"), CONFIG).unwrap();
    let desired =
        crate::config::load_valid(&[dir.path().join("registry.yaml")], &Default::default())
            .unwrap();
    let plan = s
        .plan(&desired, &super::super::Scope::default())
        .await
        .unwrap();
    assert_eq!(plan.summary.steps, 2);
    let mut script = Script {
        answers: VecDeque::from(["y"]),
        secrets: VecDeque::from([format!("CLIENT_SECRET={secret}")]),
        said: String::new(),
    };
    let outcome = walk(&s, &plan, &mut script).await.unwrap();
    assert_eq!(
        outcome,
        Outcome {
            done: 2,
            pending: 0
        },
        "{}",
        script.said
    );
    assert!(
        script.said.contains("Verified at the token endpoint."),
        "{}",
        script.said
    );
    assert!(
        script
            .said
            .contains("Recorded `bot` as applied (secrets: primary)."),
        "{}",
        script.said
    );
    assert!(!script.said.contains(&secret));
    assert_eq!(s.recorded().unwrap().len(), 1);
    assert!(
        !s.plan(&desired, &super::super::Scope::default())
            .await
            .unwrap()
            .has_changes()
    );
}

#[tokio::test]
async fn a_wrong_secret_is_stored_but_not_verified_nor_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let (url, _) = stand_in(dir.path()).await;
    let s = session(dir.path(), &url).await;
    std::fs::write(dir.path().join("registry.yaml"), CONFIG).unwrap();
    let desired =
        crate::config::load_valid(&[dir.path().join("registry.yaml")], &Default::default())
            .unwrap();
    let plan = s
        .plan(&desired, &super::super::Scope::default())
        .await
        .unwrap();
    let mut script = Script {
        answers: VecDeque::from(["y"]),
        secrets: VecDeque::from(["not-the-secret".to_string()]),
        said: String::new(),
    };
    let outcome = walk(&s, &plan, &mut script).await.unwrap();
    assert_eq!(
        outcome,
        Outcome {
            done: 1,
            pending: 1
        }
    );
    assert!(
        script
            .said
            .contains("Verification failed: apaleo refuses it"),
        "{}",
        script.said
    );
    // The app was confirmed created: it is recorded, without the secret that did not verify.
    let recorded = s.recorded().unwrap();
    assert_eq!(recorded.len(), 1);
    assert!(recorded[0].secrets.is_empty());
    assert!(
        script.said.contains("Secret `primary` is not recorded"),
        "{}",
        script.said
    );
    // A stop leaves the rest pending.
    let mut script = Script {
        answers: VecDeque::from(["q"]),
        secrets: VecDeque::new(),
        said: String::new(),
    };
    let outcome = walk(&s, &plan, &mut script).await.unwrap();
    assert_eq!(
        outcome,
        Outcome {
            done: 0,
            pending: 2
        }
    );
}

/// Without recipients, the first secret stored generates the local identity: the walk
/// loads it then, and verifies at once.
#[tokio::test]
async fn the_local_identity_made_by_the_first_secret_verifies_it() {
    let dir = tempfile::tempdir().unwrap();
    let (url, secret) = stand_in(dir.path()).await;
    let local = dir.path().join(".registrar/identity.txt");
    let s = Session {
        account: "DEMO".into(),
        verifier: Verifier::new(Endpoints::new(Some(&url)), None).unwrap(),
        store: SecretStore::open(dir.path().join("secrets"), &[])
            .unwrap()
            .with_local_identity(&local),
        registry: dir.path().join("records.db"),
        identity: std::cell::OnceCell::new(),
        local_identity: Some(local.clone()),
    };
    std::fs::write(dir.path().join("registry.yaml"), CONFIG).unwrap();
    let desired =
        crate::config::load_valid(&[dir.path().join("registry.yaml")], &Default::default())
            .unwrap();
    let plan = s
        .plan(&desired, &super::super::Scope::default())
        .await
        .unwrap();
    assert!(!local.exists());
    let mut script = Script {
        answers: VecDeque::from(["y"]),
        secrets: VecDeque::from([secret]),
        said: String::new(),
    };
    let outcome = walk(&s, &plan, &mut script).await.unwrap();
    assert_eq!(
        outcome,
        Outcome {
            done: 2,
            pending: 0
        },
        "{}",
        script.said
    );
    assert!(local.exists());
}

/// A simple client declaring a sign-in scope: verification leaves it out of the token
/// request (the identity server would refuse it), so the client verifies.
#[tokio::test]
async fn identity_scopes_are_left_out_of_the_token_request() {
    let dir = tempfile::tempdir().unwrap();
    let (url, secret) = stand_in_with(dir.path(), &["reports.read", "offline_access"]).await;
    let s = session(dir.path(), &url).await;
    std::fs::write(
        dir.path().join("registry.yaml"),
        CONFIG.replace("[reports.read]", "[reports.read, offline_access]"),
    )
    .unwrap();
    let desired =
        crate::config::load_valid(&[dir.path().join("registry.yaml")], &Default::default())
            .unwrap();
    let client = desired.clients[0].value.client();
    let entry = s
        .store
        .store(
            STORE_DEVELOPER,
            "bot",
            "primary",
            &StoredCredential {
                consumer_key: Secret::new("bot"),
                consumer_secret: Secret::new(secret),
                issued_at: 1,
                expires_at: None,
            },
        )
        .unwrap();
    let check = s.check(&client, &entry).await.unwrap();
    assert!(
        matches!(&check, Some(SecretCheck::Granted { scopes, .. }) if scopes == &["reports.read"]),
        "{check:?}"
    );
}
