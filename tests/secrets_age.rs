//! Interop with the standard `age` CLI (Debian package `age`, installed by .ci/run): our
//! files decrypt with `age -d -i`, and files made by `age -r` / `age -a -r` decrypt with
//! registrar.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use registrar::model::Secret;
use registrar::secrets::{Identity, SecretStore, StoredCredential};

/// A throwaway OpenSSH ed25519 key pair, for tests only (never used anywhere else).
const SSH_PRIVATE: &str = "-----BEGIN OPENSSH PRIVATE KEY-----
b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW
QyNTUxOQAAACCu5LQcyOEs91kBmr7VNo1bSRqRxvC+x6vLELaNsRrIgQAAAJgbEo6gGxKO
oAAAAAtzc2gtZWQyNTUxOQAAACCu5LQcyOEs91kBmr7VNo1bSRqRxvC+x6vLELaNsRrIgQ
AAAEDsnhwsVfQS4ARQUMlIq1BEi/W56G71V0ngTG/WBYCl5q7ktBzI4Sz3WQGavtU2jVtJ
GpHG8L7Hq8sQto2xGsiBAAAADnJlZ2lzdHJhci10ZXN0AQIDBAUGBw==
-----END OPENSSH PRIVATE KEY-----
";
const SSH_PUBLIC: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK7ktBzI4Sz3WQGavtU2jVtJGpHG8L7Hq8sQto2xGsiB registrar-test";

fn age_cli(program: &str) -> Command {
    let probe = Command::new(program).arg("--version").output();
    assert!(
        probe.is_ok_and(|o| o.status.success()),
        "`{program}` is not installed: these tests need the standard age CLI (`apt-get install age`)"
    );
    Command::new(program)
}

/// `age-keygen -o FILE`; returns (identity file, recipient).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let path = dir.join(format!("{name}.txt"));
    let out = age_cli("age-keygen").arg("-o").arg(&path).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = age_cli("age-keygen").arg("-y").arg(&path).output().unwrap();
    (
        path,
        String::from_utf8(public.stdout).unwrap().trim().to_string(),
    )
}

fn cred() -> StoredCredential {
    StoredCredential {
        consumer_key: Secret::new("interop-key-7Hk2"),
        consumer_secret: Secret::new("interop-secret-Lp9+/="),
        issued_at: 1_767_225_600_000,
        expires_at: Some(1_774_915_200_000),
    }
}

fn age_decrypt(identity: &Path, file: &Path) -> serde_json::Value {
    let out = age_cli("age")
        .arg("-d")
        .arg("-i")
        .arg(identity)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the plaintext is a JSON document")
}

fn assert_same(doc: &serde_json::Value, c: &StoredCredential) {
    assert_eq!(doc["consumerKey"], c.consumer_key.expose());
    assert_eq!(doc["consumerSecret"], c.consumer_secret.expose());
    assert_eq!(doc["issuedAt"], c.issued_at);
    assert_eq!(doc["expiresAt"], c.expires_at.unwrap());
}

#[test]
fn our_files_decrypt_with_age_for_every_recipient() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = keygen(dir.path(), "alice");
    let ssh_key = dir.path().join("id_ed25519");
    std::fs::write(&ssh_key, SSH_PRIVATE).unwrap();
    let store =
        SecretStore::open(dir.path().join("secrets"), &[alice_pub, SSH_PUBLIC.into()]).unwrap();
    let entry = store
        .store("alice@example.com", "checkout-web", "primary", &cred())
        .unwrap();
    let file = dir.path().join("secrets").join(&entry.file);
    assert_same(&age_decrypt(&alice, &file), &cred());
    assert_same(&age_decrypt(&ssh_key, &file), &cred());
    // And registrar reads it back with the ssh key too.
    let id = Identity::from_file(&ssh_key).unwrap();
    assert_eq!(store.read_entry(&id, &entry).unwrap(), cred());
}

#[test]
fn the_local_identity_works_with_age() {
    let dir = tempfile::tempdir().unwrap();
    let identity = dir.path().join(".registrar/identity.txt");
    let store = SecretStore::open(dir.path().join("secrets"), &[])
        .unwrap()
        .with_local_identity(&identity);
    let entry = store.store("d@x", "app", "default", &cred()).unwrap();
    assert_same(
        &age_decrypt(&identity, &dir.path().join("secrets").join(&entry.file)),
        &cred(),
    );
}

/// Encrypts `plain` with `age [-a] -r RECIPIENT` into `out`.
fn age_encrypt(recipient: &str, armor: bool, plain: &[u8], out: &Path) {
    let mut cmd = age_cli("age");
    if armor {
        cmd.arg("-a");
    }
    let mut child = cmd
        .arg("-r")
        .arg(recipient)
        .arg("-o")
        .arg(out)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(plain).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn files_made_by_age_decrypt_with_registrar() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = keygen(dir.path(), "alice");
    let store =
        SecretStore::open(dir.path().join("secrets"), std::slice::from_ref(&alice_pub)).unwrap();
    let entry = store.store("d@x", "app", "default", &cred()).unwrap();
    let file = dir.path().join("secrets").join(&entry.file);
    let plain = br#"{"consumerKey": "interop-key-7Hk2", "consumerSecret": "interop-secret-Lp9+/=",
        "issuedAt": 1767225600000, "expiresAt": 1774915200000}"#;
    let id = Identity::from_file(&alice).unwrap();
    for armor in [true, false] {
        std::fs::remove_file(&file).unwrap();
        age_encrypt(&alice_pub, armor, plain, &file);
        let head = std::fs::read(&file).unwrap();
        assert_eq!(
            head.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----"),
            armor
        );
        assert_eq!(
            store.read_entry(&id, &entry).unwrap(),
            cred(),
            "armor: {armor}"
        );
    }
    // To an ssh recipient, read with the ssh key.
    let ssh_key = dir.path().join("id_ed25519");
    std::fs::write(&ssh_key, SSH_PRIVATE).unwrap();
    age_encrypt(SSH_PUBLIC, true, plain, &file);
    let id = Identity::from_file(&ssh_key).unwrap();
    assert_eq!(store.read_entry(&id, &entry).unwrap(), cred());
}

#[test]
fn rekey_output_decrypts_with_the_new_recipient_only() {
    let dir = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = keygen(dir.path(), "alice");
    let (bob, bob_pub) = keygen(dir.path(), "bob");
    let secrets = dir.path().join("secrets");
    let entry = SecretStore::open(&secrets, &[alice_pub])
        .unwrap()
        .store("d@x", "app", "default", &cred())
        .unwrap();
    let rekeyed = SecretStore::open(&secrets, &[bob_pub]).unwrap();
    assert_eq!(
        rekeyed
            .rekey(&Identity::from_file(&alice).unwrap())
            .unwrap(),
        1
    );
    let file = secrets.join(&entry.file);
    assert_same(&age_decrypt(&bob, &file), &cred());
    let out = age_cli("age")
        .arg("-d")
        .arg("-i")
        .arg(&alice)
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "alice was removed from the recipients"
    );
}
