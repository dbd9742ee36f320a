//! Store-level tests: files, index and rotation together.

use std::path::{Path, PathBuf};
use std::time::Duration;

use age::secrecy::ExposeSecret;

use super::*;
use crate::model::Secret;

/// What the CLI prints for an error of the store (it reaches `main` as an `anyhow::Error`).
fn render(err: Error) -> String {
    crate::error::render(&err.into())
}

/// A fresh age identity written to `<dir>/<name>.txt`; returns (identity file, recipient).
fn keypair(dir: &Path, name: &str) -> (PathBuf, String) {
    let id = age::x25519::Identity::generate();
    let path = dir.join(format!("{name}.txt"));
    std::fs::write(&path, format!("{}\n", id.to_string().expose_secret())).unwrap();
    (path, id.to_public().to_string())
}

fn cred(n: u32) -> StoredCredential {
    StoredCredential {
        consumer_key: Secret::new(format!("canary-key-{n}-Zq8")),
        consumer_secret: Secret::new(format!("canary-secret-{n}-Wv3")),
        issued_at: 1_767_225_600_000 + i64::from(n),
        expires_at: if n.is_multiple_of(2) {
            None
        } else {
            Some(1_800_000_000_000)
        },
    }
}

struct Fixture {
    tmp: tempfile::TempDir,
    identity: PathBuf,
    recipient: String,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let (identity, recipient) = keypair(tmp.path(), "alice");
        Fixture {
            tmp,
            identity,
            recipient,
        }
    }
    fn dir(&self) -> PathBuf {
        self.tmp.path().join("secrets")
    }
    fn open(&self) -> SecretStore {
        SecretStore::open(self.dir(), std::slice::from_ref(&self.recipient)).unwrap()
    }
    fn identity(&self) -> Identity {
        Identity::from_file(&self.identity).unwrap()
    }
}

#[test]
fn store_then_read_round_trips_through_files() {
    let f = Fixture::new();
    let store = f.open();
    let entry = store
        .store("alice@example.com", "checkout-web", "primary", &cred(1))
        .unwrap();
    assert_eq!(entry.file, "alice@example.com/checkout-web/primary.age");
    let text = std::fs::read_to_string(f.dir().join(&entry.file)).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(!text.contains("canary"), "ciphertext holds no plaintext");

    // A second process sees the same thing.
    let reopened = f.open();
    assert_eq!(reopened.entries(), vec![entry.clone()]);
    let back = reopened
        .read(
            &f.identity(),
            "alice@example.com",
            "checkout-web",
            "primary",
        )
        .unwrap();
    assert_eq!(back, cred(1));
    assert_eq!(
        entry.consumer_key_fingerprint,
        cred(1).consumer_key.fingerprint()
    );
    assert_eq!(
        entry.consumer_secret_fingerprint,
        cred(1).consumer_secret.fingerprint()
    );
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn index_holds_fingerprints_only_and_is_sorted() {
    let f = Fixture::new();
    let store = f.open();
    store
        .store("bob@example.com", "b-app", "default", &cred(1))
        .unwrap();
    store
        .store("alice@example.com", "z-app", "default", &cred(2))
        .unwrap();
    store
        .store("alice@example.com", "a-app", "default", &cred(3))
        .unwrap();
    let index = std::fs::read_to_string(f.dir().join(index::INDEX_FILE)).unwrap();
    assert!(!index.contains("canary"), "{index}");
    let apps: Vec<_> = store.entries().into_iter().map(|e| e.app).collect();
    assert_eq!(apps, ["a-app", "z-app", "b-app"]);
    assert!(index.find("a-app").unwrap() < index.find("z-app").unwrap());
}

#[test]
fn storing_again_replaces_the_key() {
    let f = Fixture::new();
    let store = f.open();
    store.store("d@x", "app", "default", &cred(1)).unwrap();
    store.store("d@x", "app", "default", &cred(2)).unwrap();
    assert_eq!(store.entries().len(), 1);
    assert_eq!(
        store.read(&f.identity(), "d@x", "app", "default").unwrap(),
        cred(2)
    );
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn debris_of_an_interrupted_write_leaves_the_store_intact() {
    let f = Fixture::new();
    let store = f.open();
    let entry = store.store("d@x", "app", "default", &cred(1)).unwrap();
    // A process killed before its rename leaves a temp file beside the key file.
    let debris = f
        .dir()
        .join("d@x/app")
        .join(format!("{}abc.tmp", fsutil::TEMP_PREFIX));
    std::fs::write(&debris, b"-----BEGIN AGE ENCRYPTED FILE-----\ntrunc").unwrap();
    let c = store.verify().unwrap();
    assert!(c.is_clean(), "{c:?}");
    assert_eq!(
        c.temp_files,
        vec![format!("d@x/app/{}abc.tmp", fsutil::TEMP_PREFIX)]
    );
    assert_eq!(store.read_entry(&f.identity(), &entry).unwrap(), cred(1));
}

#[test]
fn rekey_keeps_every_secret_and_switches_recipients() {
    let f = Fixture::new();
    let store = f.open();
    for n in 0..4 {
        store
            .store("d@x", &format!("app{n}"), "default", &cred(n))
            .unwrap();
    }
    store.mark_retiring("d@x", "app0", "default", 5).unwrap();
    let (bob_file, bob) = keypair(f.tmp.path(), "bob");
    let rekeyed = SecretStore::open(f.dir(), &[bob]).unwrap();
    assert_eq!(rekeyed.rekey(&f.identity()).unwrap(), 4);
    let bob_id = Identity::from_file(&bob_file).unwrap();
    for e in rekeyed.entries() {
        let n: u32 = e.app.trim_start_matches("app").parse().unwrap();
        assert_eq!(rekeyed.read_entry(&bob_id, &e).unwrap(), cred(n));
        let err = rekeyed.read_entry(&f.identity(), &e).unwrap_err();
        assert!(matches!(err, Error::WrongIdentity { .. }), "{err:?}");
        let text = render(err);
        assert!(text.contains("cannot decrypt"), "{text}");
    }
    assert!(rekeyed.verify().unwrap().is_clean());
}

#[test]
fn rekey_rewrites_nothing_when_one_file_is_unreadable() {
    let f = Fixture::new();
    let store = f.open();
    store.store("d@x", "a", "default", &cred(1)).unwrap();
    store.store("d@x", "b", "default", &cred(2)).unwrap();
    let before_a = std::fs::read(f.dir().join("d@x/a/default.age")).unwrap();
    std::fs::write(f.dir().join("d@x/b/default.age"), "garbage").unwrap();
    let err = store.rekey(&f.identity()).unwrap_err();
    let text = render(err);
    assert!(text.contains("nothing was re-encrypted"), "{text}");
    assert!(text.contains("is corrupted"), "{text}");
    assert_eq!(
        std::fs::read(f.dir().join("d@x/a/default.age")).unwrap(),
        before_a
    );
}

#[test]
fn read_errors_say_what_to_do() {
    let f = Fixture::new();
    let store = f.open();
    let entry = store.store("d@x", "app", "default", &cred(1)).unwrap();
    let (other, _) = keypair(f.tmp.path(), "mallory");
    let err = store
        .read_entry(&Identity::from_file(&other).unwrap(), &entry)
        .unwrap_err();
    let text = render(err);
    assert!(
        text.contains("cannot decrypt") && text.contains("secrets rekey"),
        "{text}"
    );

    let path = f.dir().join(&entry.file);
    let mut armored = std::fs::read_to_string(&path).unwrap();
    armored.insert_str(40, "!!");
    std::fs::write(&path, armored).unwrap();
    let text = render(store.read_entry(&f.identity(), &entry).unwrap_err());
    assert!(
        text.contains("is corrupted") && text.contains("git checkout"),
        "{text}"
    );

    std::fs::remove_file(&path).unwrap();
    let text = render(store.read_entry(&f.identity(), &entry).unwrap_err());
    assert!(
        text.contains("missing") && text.contains("registrar rotate app"),
        "{text}"
    );
    assert_eq!(store.verify().unwrap().missing_files, vec![entry]);
}

#[test]
fn a_file_swapped_for_another_key_is_detected() {
    let f = Fixture::new();
    let store = f.open();
    let a = store.store("d@x", "a", "default", &cred(1)).unwrap();
    store.store("d@x", "b", "default", &cred(2)).unwrap();
    std::fs::copy(f.dir().join("d@x/b/default.age"), f.dir().join(&a.file)).unwrap();
    let text = render(store.read_entry(&f.identity(), &a).unwrap_err());
    assert!(text.contains("fingerprints differ"), "{text}");
}

#[test]
fn debug_never_shows_values() {
    let f = Fixture::new();
    let entry = f.open().store("d@x", "app", "default", &cred(7)).unwrap();
    let shown = format!("{:?} {entry:?} {:?}", cred(7), f.open().index());
    assert!(!shown.contains("canary"), "{shown}");
    assert!(
        shown.contains(&cred(7).consumer_secret.fingerprint()),
        "{shown}"
    );
}

#[test]
fn without_recipients_a_local_identity_is_generated_and_used() {
    let f = Fixture::new();
    let local = f.tmp.path().join(".registrar/identity.txt");
    let store = SecretStore::open(f.dir(), &[])
        .unwrap()
        .with_local_identity(&local);
    assert!(!local.exists(), "opening writes nothing");
    store.store("d@x", "app", "default", &cred(1)).unwrap();
    assert!(local.exists());
    let id = Identity::from_file(&local).unwrap();
    assert_eq!(store.read(&id, "d@x", "app", "default").unwrap(), cred(1));
    // Reused, not regenerated.
    let again = SecretStore::open(f.dir(), &[])
        .unwrap()
        .with_local_identity(&local);
    again.store("d@x", "app2", "default", &cred(2)).unwrap();
    assert_eq!(again.read(&id, "d@x", "app2", "default").unwrap(), cred(2));
}

#[test]
fn bad_recipients_and_names_are_refused() {
    let f = Fixture::new();
    let err = SecretStore::open(f.dir(), &[f.recipient.clone(), "gpg:1234".into()])
        .err()
        .unwrap();
    let text = render(err);
    assert!(text.contains("entry 2 (`gpg:1234`)"), "{text}");
    let store = f.open();
    for (d, a, i) in [("d", "a", ""), ("", "a", "i"), ("d", "a\nb", "i")] {
        assert!(store.store(d, a, i, &cred(1)).is_err(), "{d} {a} {i}");
    }
    assert!(store.entries().is_empty());
}

#[test]
fn every_name_is_one_file_name_in_the_store() {
    let f = Fixture::new();
    let store = f.open();
    for (d, a, i, file) in [
        ("a/b@x.io", "app", "i", "a%2Fb@x.io/app/i.age"),
        ("../x@x.io", "a", "i", "%2E.%2Fx@x.io/a/i.age"),
        ("o'n%20+1@x.io", "a.b", ".i", "o'n%2520+1@x.io/a.b/%2Ei.age"),
        ("a%2Fb@x.io", "app", "i", "a%252Fb@x.io/app/i.age"),
    ] {
        let e = store.store(d, a, i, &cred(1)).unwrap();
        assert_eq!(e.file, file);
        assert!(f.dir().join(file).is_file(), "{file}");
    }
    assert_eq!(store.entries().len(), 4);
}

#[test]
fn remove_deletes_file_and_entry() {
    let f = Fixture::new();
    let store = f.open();
    let e = store.store("d@x", "app", "default", &cred(1)).unwrap();
    assert_eq!(
        store.remove("d@x", "app", "default").unwrap(),
        Some(e.clone())
    );
    assert!(!f.dir().join(&e.file).exists());
    assert!(f.open().entries().is_empty());
    assert_eq!(store.remove("d@x", "app", "default").unwrap(), None);
}

#[test]
fn verify_reports_unindexed_files() {
    let f = Fixture::new();
    let store = f.open();
    store.store("d@x", "app", "default", &cred(1)).unwrap();
    std::fs::copy(
        f.dir().join("d@x/app/default.age"),
        f.dir().join("d@x/app/stray.age"),
    )
    .unwrap();
    let c = store.verify().unwrap();
    assert_eq!(c.unindexed_files, vec!["d@x/app/stray.age".to_string()]);
    assert!(!c.is_clean());
}

#[test]
fn rotation_lifecycle_keeps_one_file_per_key() {
    let f = Fixture::new();
    let store = f.open();
    store.store("d@x", "app", "primary", &cred(1)).unwrap();
    let req = store
        .request_rotation(
            "d@x",
            "app",
            "primary",
            Duration::from_secs(7 * 86_400),
            1000,
        )
        .unwrap();
    assert_eq!(req.overlap, "7d");
    assert_eq!(f.open().rotations(), vec![req]);

    let outcome = store
        .complete_rotation("d@x", "app", "primary", &cred(2), 2000)
        .unwrap();
    let retiring = outcome.retiring.unwrap();
    assert_eq!(retiring.state, KeyState::Retiring);
    assert_eq!(
        retiring.file,
        format!("d@x/app/primary.retiring-{}.age", cred(1).issued_at)
    );
    assert_eq!(retiring.revoke_after, Some(2000 + 7 * 86_400_000));
    assert_eq!(outcome.active.file, "d@x/app/primary.age");
    assert!(store.rotations().is_empty());
    assert!(
        store.verify().unwrap().is_clean(),
        "{:?}",
        store.verify().unwrap()
    );

    let id = f.identity();
    assert_eq!(store.read_entry(&id, &retiring).unwrap(), cred(1));
    assert_eq!(store.read(&id, "d@x", "app", "primary").unwrap(), cred(2));

    assert!(store.retiring_due(2000).is_empty());
    assert_eq!(
        store.retiring_due(2000 + 7 * 86_400_000),
        vec![retiring.clone()]
    );
    assert!(store.remove_retiring(&retiring).unwrap());
    assert!(!f.dir().join(&retiring.file).exists());
    assert_eq!(store.entries(), vec![outcome.active]);
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn completing_an_unrequested_rotation_fails_and_changes_nothing() {
    let f = Fixture::new();
    let store = f.open();
    let e = store.store("d@x", "app", "primary", &cred(1)).unwrap();
    assert!(
        store
            .complete_rotation("d@x", "app", "primary", &cred(2), 5)
            .is_err()
    );
    assert_eq!(store.entries(), vec![e]);
    assert!(
        store
            .cancel_rotation("d@x", "app", "primary")
            .is_ok_and(|had| !had)
    );
}

#[test]
fn a_rotation_of_an_unstored_key_just_stores_the_new_one() {
    let f = Fixture::new();
    let store = f.open();
    store
        .request_rotation("d@x", "app", "default", Duration::from_secs(60), 0)
        .unwrap();
    let outcome = store
        .complete_rotation("d@x", "app", "default", &cred(3), 10)
        .unwrap();
    assert_eq!(outcome.retiring, None);
    assert_eq!(store.entries(), vec![outcome.active]);
}

#[test]
fn drift_of_a_store_uses_the_index() {
    let f = Fixture::new();
    let store = f.open();
    let e = store.store("d@x", "app", "default", &cred(1)).unwrap();
    let remote = RemoteKey {
        consumer_key_fingerprint: e.consumer_key_fingerprint.clone(),
        consumer_secret_fingerprint: crate::model::fingerprint(b"rotated out of band"),
        id: Some("default".into()),
    };
    let d = store.drift("d@x", "app", std::slice::from_ref(&remote));
    assert_eq!(d.secret_mismatch, vec![(e, remote)]);
    assert!(store.drift("d@x", "other-app", &[]).is_empty());
}

#[test]
fn two_writers_do_not_undo_each_other() {
    let f = Fixture::new();
    // Both opened before either writes: each one's cached index is stale after the other's write.
    let a = f.open();
    let b = f.open();
    a.store("d@x", "app-a", "default", &cred(1)).unwrap();
    b.store("d@x", "app-b", "default", &cred(2)).unwrap();
    a.request_rotation("d@x", "app-b", "default", Duration::from_secs(1), 0)
        .unwrap();
    let index = f.open().index();
    assert_eq!(index.keys.len(), 2, "{index:?}");
    assert_eq!(index.rotations.len(), 1);
    assert!(f.open().verify().unwrap().is_clean());
}

#[test]
fn concurrent_stores_from_threads_all_land() {
    let f = Fixture::new();
    let store = f.open();
    std::thread::scope(|s| {
        for n in 0..8 {
            let store = &store;
            s.spawn(move || {
                store
                    .store("d@x", &format!("app{n}"), "default", &cred(n))
                    .unwrap()
            });
        }
    });
    assert_eq!(f.open().entries().len(), 8);
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn a_batch_journals_each_key_and_writes_the_index_at_its_end() {
    let f = Fixture::new();
    let store = f.open();
    store
        .store("a@x.com", "first", "default", &cred(9))
        .unwrap();
    store.begin_batch().unwrap();
    for n in 0..100 {
        store
            .store("a@x.com", &format!("app{n}"), "default", &cred(n))
            .unwrap();
        // The file is durable before store() returns, and so is its journal record.
        assert!(f.dir().join(format!("a@x.com/app{n}/default.age")).exists());
    }
    assert_eq!(
        store.entries().len(),
        101,
        "visible in this process at once"
    );
    assert_eq!(
        index::Index::load(&f.dir()).unwrap().keys.len(),
        1,
        "index.yaml is not rewritten while the batch runs"
    );
    let journal = std::fs::read_to_string(f.dir().join(journal::JOURNAL_FILE)).unwrap();
    assert_eq!(journal.lines().count(), 100);
    assert!(
        !journal.contains("canary-"),
        "no secret material in the journal"
    );
    // Another process reading now sees every key.
    assert_eq!(f.open().entries().len(), 101);
    store.end_batch().unwrap();
    assert_eq!(index::Index::load(&f.dir()).unwrap().keys.len(), 101);
    assert!(!f.dir().join(journal::JOURNAL_FILE).exists());
    let read = store
        .read(&f.identity(), "a@x.com", "app5", "default")
        .unwrap();
    assert_eq!(read, cred(5));
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn a_key_stored_again_in_a_batch_replaces_the_active_entry_of_its_file() {
    // The batch tracks which files have an active entry, so that a new key costs O(1): one
    // stored before the batch, and one stored twice in it, must still be replaced.
    let f = Fixture::new();
    let store = f.open();
    store.store("a@x.com", "old", "default", &cred(1)).unwrap();
    store.begin_batch().unwrap();
    store.store("a@x.com", "old", "default", &cred(2)).unwrap();
    store.store("a@x.com", "new", "default", &cred(3)).unwrap();
    store.store("a@x.com", "new", "default", &cred(4)).unwrap();
    let active = |app: &str| {
        store
            .entries()
            .into_iter()
            .filter(|e| e.app == app && e.state == index::KeyState::Active)
            .map(|e| e.consumer_secret_fingerprint)
            .collect::<Vec<_>>()
    };
    assert_eq!(active("old"), [cred(2).consumer_secret.fingerprint()]);
    assert_eq!(active("new"), [cred(4).consumer_secret.fingerprint()]);
    store.end_batch().unwrap();
    assert_eq!(index::Index::load(&f.dir()).unwrap().keys.len(), 2);
    assert!(store.verify().unwrap().is_clean());
}

#[test]
fn opening_for_writing_reconciles_what_a_killed_batch_left() {
    let f = Fixture::new();
    let store = f.open();
    store.begin_batch().unwrap();
    for n in 0..5 {
        store
            .store("a@x.com", &format!("app{n}"), "default", &cred(n))
            .unwrap();
    }
    // Killed here: no end_batch. Debris of a write cut short before its rename, and a
    // journal record whose rename never happened.
    drop(store);
    let debris = f
        .dir()
        .join("a@x.com/app1")
        .join(format!("{}x.tmp", fsutil::TEMP_PREFIX));
    std::fs::write(&debris, b"partial").unwrap();
    let ghost = journal::Record {
        sha256: journal::digest(b"never written"),
        entry: IndexEntry {
            app: "ghost".into(),
            file: "a@x.com/ghost/default.age".into(),
            ..f.open().entries()[0].clone()
        },
    };
    let mut line = serde_json::to_string(&ghost).unwrap();
    line.push('\n');
    line.push_str("{\"sha256\":\"cut sh");
    let mut j = std::fs::OpenOptions::new()
        .append(true)
        .open(f.dir().join(journal::JOURNAL_FILE))
        .unwrap();
    std::io::Write::write_all(&mut j, line.as_bytes()).unwrap();
    drop(j);
    assert_eq!(index::Index::load(&f.dir()).unwrap().keys.len(), 0);

    let store = f.open();
    assert_eq!(store.entries().len(), 5, "readers fold the journal");
    let c = store.verify().unwrap();
    assert!(c.is_clean(), "{c:?}");
    let r = store.begin_batch().unwrap();
    assert_eq!(r.folded.applied, 5);
    assert_eq!(
        r.folded.dropped,
        vec!["a@x.com/ghost/default.age".to_string()]
    );
    assert_eq!(r.folded.damaged, 1);
    assert_eq!(
        r.temps_removed,
        vec![format!("a@x.com/app1/{}x.tmp", fsutil::TEMP_PREFIX)]
    );
    assert!(r.unindexed.is_empty());
    assert!(!debris.exists());
    assert!(!f.dir().join(journal::JOURNAL_FILE).exists(), "folded");
    assert_eq!(index::Index::load(&f.dir()).unwrap().keys.len(), 5);
    store.end_batch().unwrap();
    let c = store.verify().unwrap();
    assert!(c.is_clean() && c.temp_files.is_empty(), "{c:?}");
    for e in store.entries() {
        store.read_entry(&f.identity(), &e).unwrap();
    }
}

#[test]
fn a_rotation_inside_a_batch_keeps_journal_and_index_consistent() {
    let f = Fixture::new();
    let store = f.open();
    store.store("d@x", "app", "default", &cred(1)).unwrap();
    store
        .request_rotation("d@x", "app", "default", Duration::from_secs(60), 0)
        .unwrap();
    store.begin_batch().unwrap();
    store.store("d@x", "other", "default", &cred(3)).unwrap();
    store
        .complete_rotation("d@x", "app", "default", &cred(2), 1_000)
        .unwrap();
    // Killed before end_batch: the next reader sees the same three keys.
    let again = f.open();
    assert_eq!(again.entries().len(), 3, "{:?}", again.entries());
    assert!(again.verify().unwrap().is_clean());
    store.end_batch().unwrap();
    assert_eq!(f.open().index(), store.index());
}

#[test]
fn a_missing_local_identity_is_not_replaced_while_keys_are_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("secrets");
    let identity = tmp.path().join("identity.txt");
    let store = SecretStore::open(&dir, &[])
        .unwrap()
        .with_local_identity(&identity);
    store.store("a@x.com", "app", "default", &cred(1)).unwrap();
    std::fs::remove_file(&identity).unwrap();
    let store = SecretStore::open(&dir, &[])
        .unwrap()
        .with_local_identity(&identity);
    let err = store
        .store("a@x.com", "app2", "default", &cred(2))
        .unwrap_err();
    assert!(
        matches!(&err, Error::LocalIdentityMissing { path, stored: 1, .. } if *path == identity),
        "{err:?}"
    );
    let text = render(err);
    assert!(
        text.contains("the local identity") && text.contains("is missing"),
        "{text}"
    );
    assert!(text.contains("hint: restore the identity file"), "{text}");
    assert!(!identity.exists(), "no new identity was generated");
}

#[test]
fn callers_can_match_on_what_went_wrong() {
    let f = Fixture::new();
    let store = f.open();
    let entry = store.store("d@x", "app", "default", &cred(1)).unwrap();

    let missing = f.tmp.path().join("nobody.txt");
    match Identity::from_file(&missing) {
        Err(Error::IdentityUnreadable { path, kind, .. }) => {
            assert_eq!((path, kind), (missing, std::io::ErrorKind::NotFound));
        }
        other => panic!("{:?}", other.err()),
    }
    assert!(matches!(
        store.read(&f.identity(), "d@x", "app", "other"),
        Err(Error::KeyNotFound { address, .. }) if address == "d@x/app/other"
    ));
    assert!(matches!(
        store.store("d@x", "app", "a.retiring-1", &cred(2)),
        Err(Error::ReservedName { .. })
    ));
    assert!(matches!(
        store.store("d@x", "", "default", &cred(2)),
        Err(Error::InvalidName { what: "app", .. })
    ));
    assert!(matches!(
        store.complete_rotation("d@x", "app", "default", &cred(2), 0),
        Err(Error::RotationNotRequested { .. })
    ));

    std::fs::write(f.dir().join(&entry.file), "garbage").unwrap();
    match store.rekey(&f.identity()) {
        Err(Error::RekeyAborted(cause)) => {
            assert!(matches!(*cause, Error::FileCorrupted { .. }), "{cause:?}");
        }
        other => panic!("{other:?}"),
    }

    std::fs::write(f.dir().join(index::INDEX_FILE), "keys: [").unwrap();
    let err = SecretStore::open(f.dir(), std::slice::from_ref(&f.recipient))
        .err()
        .unwrap();
    assert!(matches!(err, Error::IndexCorrupted { .. }), "{err:?}");
    // A caller holding an `anyhow::Error` still finds the variant.
    let err = anyhow::Error::from(err);
    assert!(matches!(
        err.downcast_ref::<Error>(),
        Some(Error::IndexCorrupted { .. })
    ));
}

#[test]
fn forget_removes_the_keys_of_every_deleted_resource_at_once() {
    use crate::model::Address;
    let f = Fixture::new();
    let store = f.open();
    store.store("a@x", "one", "default", &cred(1)).unwrap();
    store.store("a@x", "two", "default", &cred(2)).unwrap();
    store.store("b@x", "three", "default", &cred(3)).unwrap();
    store.store("c@x", "four", "default", &cred(4)).unwrap();
    let files: Vec<String> = store.entries().into_iter().map(|e| e.file).collect();
    store
        .forget(&[
            Address::app("a@x", "one"),
            Address::developer("b@x"),
            Address::product("p"),
        ])
        .unwrap();
    let left: Vec<(String, String)> = f
        .open()
        .entries()
        .into_iter()
        .map(|e| (e.developer, e.app))
        .collect();
    assert_eq!(
        left,
        vec![
            ("a@x".to_string(), "two".to_string()),
            ("c@x".to_string(), "four".to_string())
        ]
    );
    let exists: Vec<bool> = files.iter().map(|p| f.dir().join(p).exists()).collect();
    assert_eq!(exists, vec![false, true, false, true]);
    store.forget(&[]).unwrap();
}

#[test]
fn verify_names_each_credential_with_two_active_keys_once() {
    let f = Fixture::new();
    let store = f.open();
    store.store("a@x.com", "app", "default", &cred(1)).unwrap();
    store
        .store("a@x.com", "other", "default", &cred(2))
        .unwrap();
    let mut index = index::Index::load(&f.dir()).unwrap();
    let first = index.keys[0].clone();
    for n in 2..4 {
        index.keys.push(index::IndexEntry {
            file: format!("a@x.com/app/default-{n}.age"),
            ..first.clone()
        });
    }
    index.save(&f.dir()).unwrap();
    let c = f.open().verify().unwrap();
    assert_eq!(c.duplicate_active, ["a@x.com/app/default"]);
    assert_eq!(c.missing_files.len(), 2, "{c:?}");
    assert!(c.unindexed_files.is_empty(), "{c:?}");
}
