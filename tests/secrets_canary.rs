//! Self-test of the canary helper: it must catch planted secrets, and say where without
//! saying what.

#[path = "common/canary.rs"]
mod canary;

use std::panic::{AssertUnwindSafe, catch_unwind};

use canary::Canary;

const KEY: &str = "planted-consumer-key-4f8Q";
const SECRET: &str = "planted/secret+value=9x";

fn canary() -> Canary {
    let mut c = Canary::new();
    c.add_pair(KEY, SECRET);
    c
}

/// The panic message of `f`, which must panic.
fn failure(f: impl FnOnce()) -> String {
    let err = catch_unwind(AssertUnwindSafe(f)).expect_err("the canary must fail");
    err.downcast_ref::<String>()
        .cloned()
        .or_else(|| err.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

#[test]
fn catches_a_planted_secret_without_printing_it() {
    let c = canary();
    for text in [
        format!("log line: consumer_key={KEY} done"),
        format!("{{\"secret\":\"{SECRET}\"}}"),
        "Authorization: Basic cGxhbnRlZC1jb25zdW1lci1rZXktNGY4UTpwbGFudGVkL3NlY3JldCt2YWx1ZT05eA=="
            .to_string(),
        "redirect?client_secret=planted%2Fsecret%2Bvalue%3D9x".to_string(),
    ] {
        let msg = failure(|| c.assert_clean("stderr of apply", &text));
        assert!(msg.contains("stderr of apply"), "{msg}");
        assert!(msg.contains("sha256:"), "{msg}");
        assert!(!msg.contains(KEY) && !msg.contains(SECRET), "{msg}");
    }
}

#[test]
fn clean_text_passes() {
    let c = canary();
    let fp = registrar::model::fingerprint(KEY.as_bytes());
    c.assert_clean("plan", format!("key alice/app/default {fp} (secret)"));
}

#[test]
fn scan_dir_names_the_file() {
    let c = canary();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("plans/old")).unwrap();
    std::fs::write(dir.path().join("plans/ok.json"), "{}").unwrap();
    std::fs::write(
        dir.path().join("plans/old/plan.json"),
        format!("x{SECRET}x"),
    )
    .unwrap();
    let msg = failure(|| c.scan_dir(dir.path()));
    assert!(msg.contains("plans/old/plan.json"), "{msg}");
    assert!(!msg.contains(SECRET), "{msg}");
    c.scan_dir_excluding(dir.path(), &[&dir.path().join("plans/old")]);
}

#[test]
fn collects_every_key_of_a_store() {
    use registrar::model::Secret;
    use registrar::secrets::{SecretStore, StoredCredential};
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join("identity.txt");
    let store = SecretStore::open(dir.path().join("secrets"), &[])
        .unwrap()
        .with_local_identity(&identity);
    let cred = StoredCredential {
        consumer_key: Secret::new(KEY),
        consumer_secret: Secret::new(SECRET),
        issued_at: 0,
        expires_at: None,
    };
    store.store("d@x", "app", "default", &cred).unwrap();
    let mut c = Canary::new();
    assert_eq!(c.collect_store(&dir.path().join("secrets"), &identity), 1);
    let msg = failure(|| c.assert_clean("stdout", format!("..{SECRET}..")));
    assert!(msg.contains("stdout contains an issued secret"), "{msg}");
    // The store itself holds only ciphertext and fingerprints.
    c.scan_dir(dir.path());
}
