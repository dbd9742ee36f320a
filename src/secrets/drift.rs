//! Drift between the store and the platform, from fingerprints only (nothing is decrypted).
//!
//! A stored key and a remote key are the same key when their consumer-key fingerprints are
//! equal (the consumer key identifies a key on Apigee).

use super::index::IndexEntry;
use super::store::SecretStore;
use crate::model::Key;

/// A remote key as drift detection sees it: fingerprints, and the credential id if the key
/// carries the `registrar-credential` attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteKey {
    /// Fingerprint of the consumer key (`crate::model::Secret::fingerprint`).
    pub consumer_key_fingerprint: String,
    /// Fingerprint of the consumer secret.
    pub consumer_secret_fingerprint: String,
    /// Credential id, if known.
    pub id: Option<String>,
}

impl RemoteKey {
    /// Fingerprints a key read from a platform.
    pub fn from_key(key: &Key) -> RemoteKey {
        RemoteKey {
            consumer_key_fingerprint: key.consumer_key.fingerprint(),
            consumer_secret_fingerprint: key.consumer_secret.fingerprint(),
            id: key.id.clone(),
        }
    }
}

/// Differences between the stored keys of an app and its remote keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Stored keys (active or retiring) whose consumer key no longer exists remotely.
    pub missing_remotely: Vec<IndexEntry>,
    /// Remote keys that are not in the store.
    pub not_stored: Vec<RemoteKey>,
    /// Stored keys whose consumer key exists remotely with a different secret (changed out
    /// of band), with the remote key.
    pub secret_mismatch: Vec<(IndexEntry, RemoteKey)>,
}

impl Drift {
    /// Whether store and platform agree.
    pub fn is_empty(&self) -> bool {
        self.missing_remotely.is_empty()
            && self.not_stored.is_empty()
            && self.secret_mismatch.is_empty()
    }
}

/// Compares stored entries with remote keys (of the same app).
pub fn drift(stored: &[IndexEntry], remote: &[RemoteKey]) -> Drift {
    let mut d = Drift::default();
    for entry in stored {
        match remote
            .iter()
            .find(|r| r.consumer_key_fingerprint == entry.consumer_key_fingerprint)
        {
            None => d.missing_remotely.push(entry.clone()),
            Some(r) if r.consumer_secret_fingerprint != entry.consumer_secret_fingerprint => {
                d.secret_mismatch.push((entry.clone(), r.clone()))
            }
            Some(_) => {}
        }
    }
    for r in remote {
        if !stored
            .iter()
            .any(|e| e.consumer_key_fingerprint == r.consumer_key_fingerprint)
        {
            d.not_stored.push(r.clone());
        }
    }
    d
}

impl SecretStore {
    /// Drift of one app: its stored keys against the keys the platform reports.
    pub fn drift(&self, developer: &str, app: &str, remote: &[RemoteKey]) -> Drift {
        drift(&self.app_entries(developer, app), remote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::fingerprint;
    use crate::secrets::index::KeyState;

    fn entry(id: &str, ck: &str, cs: &str) -> IndexEntry {
        IndexEntry {
            developer: "d@x".into(),
            app: "app".into(),
            id: id.into(),
            state: KeyState::Active,
            consumer_key_fingerprint: fingerprint(ck.as_bytes()),
            consumer_secret_fingerprint: fingerprint(cs.as_bytes()),
            issued_at: 1,
            expires_at: None,
            revoke_after: None,
            file: format!("d@x/app/{id}.age"),
        }
    }

    fn remote(ck: &str, cs: &str, id: Option<&str>) -> RemoteKey {
        RemoteKey {
            consumer_key_fingerprint: fingerprint(ck.as_bytes()),
            consumer_secret_fingerprint: fingerprint(cs.as_bytes()),
            id: id.map(String::from),
        }
    }

    #[test]
    fn agreeing_store_has_no_drift() {
        let d = drift(&[entry("a", "k1", "s1")], &[remote("k1", "s1", Some("a"))]);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn each_kind_of_drift_is_reported() {
        let stored = [
            entry("gone", "k1", "s1"),
            entry("changed", "k2", "s2"),
            entry("same", "k3", "s3"),
        ];
        let remote = [
            remote("k2", "s2-new", Some("changed")),
            remote("k3", "s3", Some("same")),
            remote("k4", "s4", None),
        ];
        let d = drift(&stored, &remote);
        assert_eq!(d.missing_remotely, vec![stored[0].clone()]);
        assert_eq!(
            d.secret_mismatch,
            vec![(stored[1].clone(), remote[0].clone())]
        );
        assert_eq!(d.not_stored, vec![remote[2].clone()]);
    }

    #[test]
    fn from_key_fingerprints_without_exposing() {
        let key = Key {
            developer: "d@x".into(),
            app: "app".into(),
            id: Some("default".into()),
            consumer_key: crate::model::Secret::new("ck"),
            consumer_secret: crate::model::Secret::new("cs"),
            grants: vec![],
            scopes: vec![],
            status: crate::model::Status::Approved,
            attributes: Default::default(),
            issued_at: 0,
            expires_at: None,
        };
        let r = RemoteKey::from_key(&key);
        assert_eq!(r.consumer_key_fingerprint, fingerprint(b"ck"));
        assert!(!format!("{r:?}").contains("\"ck\""));
    }
}
