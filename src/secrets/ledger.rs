//! What plan and apply ask of the secrets store: the store as apply's sink for minted keys
//! (completing rotations), the notes where store and platform disagree, the declared keys
//! whose secret the store lacks, and tidying after deletes.

use std::collections::{BTreeMap, HashMap, HashSet};

use super::drift::{RemoteKey, drift};
use super::error::Result;
use super::index::{IndexEntry, KeyState};
use super::store::{SecretStore, StoredCredential};
use crate::model::{Actual, Address, AppId, Key, KeyId};

/// Where apply puts minted credentials: the secrets store.
pub trait SecretSink: Send + Sync {
    /// Stores a minted key's secret durably, under its credential id.
    fn store(&self, credential: &str, key: &Key) -> anyhow::Result<()>;
}

/// Something the store and the platform disagree on, for a plan's notes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discrepancy {
    /// The key.
    pub address: Address,
    /// What, for people.
    pub message: String,
}

impl StoredCredential {
    /// The credential of a key read from or minted on a platform.
    pub fn of(key: &Key) -> StoredCredential {
        StoredCredential {
            consumer_key: key.consumer_key.clone(),
            consumer_secret: key.consumer_secret.clone(),
            issued_at: key.issued_at,
            expires_at: key.expires_at,
        }
    }
}

impl SecretSink for SecretStore {
    fn store(&self, credential: &str, key: &Key) -> anyhow::Result<()> {
        let cred = StoredCredential::of(key);
        let (developer, app) = (&key.developer, &key.app);
        if self
            .rotations()
            .iter()
            .any(|r| r.developer == *developer && r.app == *app && r.id == credential)
        {
            let now = crate::units::now_ms();
            self.complete_rotation(developer, app, credential, &cred, now)?;
        } else {
            SecretStore::store(self, developer, app, credential, &cred)?;
        }
        Ok(())
    }
}

impl SecretStore {
    /// Where the store and the platform disagree, from fingerprints only: stored keys the
    /// platform no longer has, and secrets changed on the platform.
    pub fn discrepancies(&self, actual: &Actual) -> Vec<Discrepancy> {
        let mut by_app: BTreeMap<AppId, (Vec<_>, Vec<RemoteKey>)> = BTreeMap::new();
        for e in &self.lock().keys {
            let app = AppId::new(&e.developer, &e.app);
            by_app.entry(app).or_default().0.push(e.clone());
        }
        for k in &actual.keys {
            if let Some(slot) = by_app.get_mut(&k.app_id()) {
                slot.1.push(RemoteKey::from_key(k));
            }
        }
        let mut out = Vec::new();
        for (app, (entries, remote)) in by_app {
            let d = drift(&entries, &remote);
            let at = |id: &str| Address::Key {
                app: app.clone(),
                key: KeyId::credential(id),
            };
            for e in d.missing_remotely {
                out.push(Discrepancy {
                    address: at(&e.id),
                    message: format!(
                        "the stored key {} no longer exists on the platform (deleted out of band?)",
                        e.consumer_key_fingerprint
                    ),
                });
            }
            for (e, r) in d.secret_mismatch {
                out.push(Discrepancy {
                    address: at(&e.id),
                    message: format!(
                        "the secret of key {} changed on the platform ({} stored, {} now): apply stores the new one",
                        e.consumer_key_fingerprint,
                        e.consumer_secret_fingerprint,
                        r.consumer_secret_fingerprint
                    ),
                });
            }
        }
        out
    }

    /// Keys of declared credentials (by address) whose secret the store lacks: not stored at
    /// all, or stored with another secret (changed out of band).
    pub fn unstored<'k>(
        &self,
        keys: impl IntoIterator<Item = (&'k Address, &'k Key)>,
    ) -> Vec<(String, &'k Key)> {
        // Borrowed from the index under its lock: no copy of the whole index per call.
        let index = self.lock();
        let stored: HashMap<&str, &str> = index
            .keys
            .iter()
            .map(|e| {
                (
                    e.consumer_key_fingerprint.as_str(),
                    e.consumer_secret_fingerprint.as_str(),
                )
            })
            .collect();
        keys.into_iter()
            .filter_map(|(address, k)| {
                let id = address.key_id()?;
                // Only current keys of declared credentials: not retiring, not undeclared.
                let credential = id
                    .credential
                    .as_ref()
                    .filter(|_| id.fingerprint.is_none())?;
                let same = stored.get(k.consumer_key.fingerprint().as_str()).copied()
                    == Some(k.consumer_secret.fingerprint().as_str());
                (!same).then(|| (credential.clone(), k))
            })
            .collect()
    }

    /// Forgets the stored keys of the resources apply deleted: a key (by its consumer key's
    /// fingerprint), every key of an app, every key of a developer. One pass over the index
    /// and one rewrite of it, however many were deleted.
    pub fn forget(&self, deleted: &[Address]) -> Result<()> {
        let mut fingerprints: HashSet<&str> = HashSet::new();
        let mut apps: HashSet<(&str, &str)> = HashSet::new();
        let mut developers: HashSet<&str> = HashSet::new();
        for d in deleted {
            match d {
                Address::Key { key, .. } => {
                    if let Some(f) = key.fingerprint.as_deref() {
                        fingerprints.insert(f);
                    }
                }
                Address::App { app } => {
                    apps.insert((app.developer.as_str(), app.app.as_str()));
                }
                Address::Developer { email } => {
                    developers.insert(email.as_str());
                }
                // Products hold no keys; apaleo clients are forgotten by apaleo's apply.
                Address::Product { .. } | Address::Client { .. } => {}
            }
        }
        if fingerprints.is_empty() && apps.is_empty() && developers.is_empty() {
            return Ok(());
        }
        let mut index = self.write_lock()?;
        let active: HashMap<(&str, &str, &str), &IndexEntry> = index
            .keys
            .iter()
            .filter(|e| e.state == KeyState::Active)
            .map(|e| ((e.developer.as_str(), e.app.as_str(), e.id.as_str()), e))
            .collect();
        let mut gone: Vec<IndexEntry> = Vec::new();
        let mut files: HashSet<&str> = HashSet::new();
        for e in index.keys.iter().filter(|e| {
            fingerprints.contains(e.consumer_key_fingerprint.as_str())
                || apps.contains(&(e.developer.as_str(), e.app.as_str()))
                || developers.contains(e.developer.as_str())
        }) {
            // As the store's own removals: a key awaiting revocation by its file, any other
            // by the credential's active key.
            let target = if e.revoke_after.is_some() {
                (e.state == KeyState::Retiring).then_some(e)
            } else {
                active
                    .get(&(e.developer.as_str(), e.app.as_str(), e.id.as_str()))
                    .copied()
            };
            if let Some(t) = target
                && files.insert(t.file.as_str())
            {
                gone.push(t.clone());
            }
        }
        drop((active, files));
        self.remove_many_locked(&mut index, &gone)
    }
}
