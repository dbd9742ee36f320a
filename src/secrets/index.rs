//! `index.yaml`: the plaintext index of the store. One entry per stored key (and so per
//! `.age` file) with fingerprints but no secret material, plus the pending rotation
//! requests. Plans read it to detect drift without decrypting anything.
//!
//! ```yaml
//! version: 1
//! keys:
//! - developer: alice@example.com
//!   app: checkout-web
//!   id: primary
//!   state: active                  # or `retiring` during a rotation's overlap
//!   consumerKeyFingerprint: sha256:0123456789abcdef
//!   consumerSecretFingerprint: sha256:fedcba9876543210
//!   issuedAt: 1767225600000        # milliseconds since the epoch, as Apigee reports them
//!   expiresAt: null                # null: never expires
//!   file: alice@example.com/checkout-web/primary.age
//! rotations:
//! - developer: alice@example.com
//!   app: checkout-web
//!   id: primary
//!   overlap: 7days
//!   requestedAt: 1767312000000
//! ```

use std::collections::HashSet;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::error::{Error, Result};
use super::fsutil;
use crate::error::Hinted;

/// File name of the index inside the secrets dir.
pub const INDEX_FILE: &str = "index.yaml";

/// The first words of every index file registrar writes: how config loading tells the
/// secrets index from a config file.
pub const INDEX_MARK: &str = "# registrar secrets index";

/// Whether `path` is a secrets index registrar wrote (by its first line; reads a few bytes).
pub fn is_index_file(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; INDEX_MARK.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok_and(|()| head == INDEX_MARK.as_bytes())
}
/// The index format version this build reads and writes.
pub const INDEX_VERSION: u32 = 1;

/// Where a stored key is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// The app's current key for this credential id.
    Active,
    /// A key being replaced by a rotation: still valid remotely until `revokeAfter`.
    Retiring,
}

/// One stored key: what `index.yaml` says about one `.age` file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IndexEntry {
    /// Developer email.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id from the config (`default`, `primary`, …).
    pub id: String,
    /// Active or retiring.
    pub state: KeyState,
    /// Fingerprint of the consumer key (`sha256:` + 16 hex digits).
    pub consumer_key_fingerprint: String,
    /// Fingerprint of the consumer secret.
    pub consumer_secret_fingerprint: String,
    /// Issue time, milliseconds since the epoch.
    pub issued_at: i64,
    /// Expiry, milliseconds since the epoch; `None` (null) for never.
    pub expires_at: Option<i64>,
    /// Retiring keys only: when the apply engine may revoke (then delete) the key remotely,
    /// milliseconds since the epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_after: Option<i64>,
    /// Path of the `.age` file, relative to the secrets dir, with `/` separators.
    pub file: String,
}

impl IndexEntry {
    /// `developer/app/id`, the key's address in messages.
    pub fn address(&self) -> String {
        format!("{}/{}/{}", self.developer, self.app, self.id)
    }

    fn sort_key(&self) -> (&str, &str, &str, KeyState, i64) {
        (
            &self.developer,
            &self.app,
            &self.id,
            self.state,
            self.issued_at,
        )
    }
}

/// A request, made by `registrar rotate`, to replace a key on the next apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RotationRequest {
    /// Developer email.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id.
    pub id: String,
    /// How long the old key keeps working after the new one is minted (`7d`).
    pub overlap: String,
    /// When the rotation was requested, milliseconds since the epoch.
    pub requested_at: i64,
}

impl RotationRequest {
    /// The overlap as a duration in milliseconds.
    pub fn overlap_ms(&self) -> Result<i64> {
        // Earlier versions wrote the overlap in humantime's words (`7days`): still read.
        let d = crate::units::parse_duration(&self.overlap)
            .or_else(|_| humantime::parse_duration(&self.overlap))
            .map_err(|source| Error::InvalidOverlap {
                overlap: self.overlap.clone(),
                source,
            })?;
        Ok(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// `developer/app/id`.
    pub fn address(&self) -> String {
        format!("{}/{}/{}", self.developer, self.app, self.id)
    }
}

/// The files of an [`Index`] that have an active entry ([`Index::active_files`]).
#[derive(Debug, Clone, Default)]
pub struct ActiveFiles(HashSet<String>);

/// The whole index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Index {
    /// Format version ([`INDEX_VERSION`]).
    pub version: u32,
    /// Stored keys, sorted by developer, app, id, state, issuedAt.
    #[serde(default)]
    pub keys: Vec<IndexEntry>,
    /// Pending rotation requests, sorted by developer, app, id.
    #[serde(default)]
    pub rotations: Vec<RotationRequest>,
}

impl Default for Index {
    fn default() -> Self {
        Index {
            version: INDEX_VERSION,
            keys: Vec::new(),
            rotations: Vec::new(),
        }
    }
}

const HEADER: &str = "# registrar secrets index: one entry per encrypted key file in this directory.\n\
# No secret material; written by registrar, do not edit by hand.\n";

impl Index {
    /// Reads `<dir>/index.yaml`; a missing file is an empty index.
    pub fn load(dir: &Path) -> Result<Index> {
        let path = dir.join(INDEX_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Index::default()),
            Err(source) => return Err(Error::Read { path, source }),
        };
        let index: Index = match serde_yaml::from_str(&text) {
            Ok(index) => index,
            Err(e) => {
                let hinted = Hinted::new(
                    format!("`{}` is corrupted: {e}", path.display()),
                    "restore it from git (`git checkout -- FILE`); it holds no secrets, only fingerprints",
                );
                return Err(Error::IndexCorrupted { path, hinted });
            }
        };
        if index.version != INDEX_VERSION {
            let hinted = Hinted::new(
                format!(
                    "`{}` has version {}, this registrar reads version {INDEX_VERSION}",
                    path.display(),
                    index.version
                ),
                "use the registrar version that wrote it, or a newer one",
            );
            return Err(Error::IndexVersion {
                path,
                version: index.version,
                hinted,
            });
        }
        Ok(index)
    }

    /// Sorts deterministically and writes `<dir>/index.yaml` atomically and durably.
    ///
    /// The YAML is streamed to the file: at 50,000 keys a text of it in memory would be the
    /// largest allocation of an apply's end.
    pub fn save(&mut self, dir: &Path) -> Result<()> {
        use std::io::Write as _;
        self.sort();
        let mut failed = None;
        let written = fsutil::write_atomic(&dir.join(INDEX_FILE), |f| {
            let mut w = std::io::BufWriter::with_capacity(64 * 1024, f);
            w.write_all(HEADER.as_bytes())?;
            if let Err(e) = serde_yaml::to_writer(&mut w, &*self) {
                let io = std::io::Error::other("the index could not be serialized");
                failed = Some(e);
                return Err(io);
            }
            w.flush()
        });
        match failed {
            Some(e) => Err(Error::IndexSerialize(e)),
            None => written,
        }
    }

    /// Sorts keys and rotations into their canonical order.
    pub fn sort(&mut self) {
        self.keys.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
        self.rotations
            .sort_by(|a, b| (&a.developer, &a.app, &a.id).cmp(&(&b.developer, &b.app, &b.id)));
    }

    /// Makes `entry` the active entry of its file, replacing the one there was. O(keys): for
    /// many entries in a row, use [`Index::put_active_with`].
    pub fn put_active(&mut self, entry: &IndexEntry) {
        self.keys
            .retain(|e| !(e.state == KeyState::Active && e.file == entry.file));
        self.keys.push(entry.clone());
    }

    /// The files that have an active entry now, for [`Index::put_active_with`].
    pub fn active_files(&self) -> ActiveFiles {
        ActiveFiles(
            self.keys
                .iter()
                .filter(|e| e.state == KeyState::Active)
                .map(|e| e.file.clone())
                .collect(),
        )
    }

    /// [`Index::put_active`] in O(1) when `active` says the file has no active entry yet
    /// (a new key: every key of a first apply). `active` must have been made by
    /// [`Index::active_files`] from this index, and every entry made active since must have
    /// gone through here; an entry that stopped being active since only costs the scan.
    pub fn put_active_with(&mut self, entry: &IndexEntry, active: &mut ActiveFiles) {
        if active.0.contains(&entry.file) {
            self.put_active(entry);
        } else {
            active.0.insert(entry.file.clone());
            self.keys.push(entry.clone());
        }
    }

    /// The active entry of a credential, if stored.
    pub fn active(&self, developer: &str, app: &str, id: &str) -> Option<&IndexEntry> {
        self.keys.iter().find(|e| {
            e.state == KeyState::Active && e.developer == developer && e.app == app && e.id == id
        })
    }

    /// The pending rotation request of a credential, if any.
    pub fn rotation(&self, developer: &str, app: &str, id: &str) -> Option<&RotationRequest> {
        self.rotations
            .iter()
            .find(|r| r.developer == developer && r.app == app && r.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_files_are_told_from_configs_by_their_first_line() {
        assert!(HEADER.starts_with(INDEX_MARK));
        let dir = tempfile::tempdir().unwrap();
        Index::default().save(dir.path()).unwrap();
        assert!(is_index_file(&dir.path().join(INDEX_FILE)));
        let config = dir.path().join("registry.yaml");
        std::fs::write(&config, "version: 1\n").unwrap();
        assert!(!is_index_file(&config));
        assert!(!is_index_file(&dir.path().join("missing.yaml")));
    }

    fn entry(dev: &str, app: &str, id: &str, state: KeyState, issued: i64) -> IndexEntry {
        IndexEntry {
            developer: dev.into(),
            app: app.into(),
            id: id.into(),
            state,
            consumer_key_fingerprint: "sha256:0000000000000000".into(),
            consumer_secret_fingerprint: "sha256:1111111111111111".into(),
            issued_at: issued,
            expires_at: None,
            revoke_after: None,
            file: format!("{dev}/{app}/{id}.age"),
        }
    }

    #[test]
    fn save_sorts_and_load_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let mut index = Index {
            keys: vec![
                entry("b@x", "app", "default", KeyState::Active, 1),
                entry("a@x", "zeta", "default", KeyState::Retiring, 1),
                entry("a@x", "zeta", "default", KeyState::Active, 2),
                entry("a@x", "alpha", "primary", KeyState::Active, 3),
            ],
            ..Index::default()
        };
        index.save(dir.path()).unwrap();
        let loaded = Index::load(dir.path()).unwrap();
        let order: Vec<_> = loaded.keys.iter().map(|e| (e.address(), e.state)).collect();
        assert_eq!(
            order,
            vec![
                ("a@x/alpha/primary".to_string(), KeyState::Active),
                ("a@x/zeta/default".to_string(), KeyState::Active),
                ("a@x/zeta/default".to_string(), KeyState::Retiring),
                ("b@x/app/default".to_string(), KeyState::Active),
            ]
        );
        assert_eq!(loaded, index);
        let text = std::fs::read_to_string(dir.path().join(INDEX_FILE)).unwrap();
        assert!(text.starts_with("# registrar secrets index"));
        assert!(text.contains("consumerKeyFingerprint: sha256:0000000000000000"));
        assert!(!text.contains("revokeAfter"), "omitted when unset");
    }

    #[test]
    fn missing_index_is_empty_and_garbage_is_a_hinted_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Index::load(dir.path()).unwrap(), Index::default());
        std::fs::write(dir.path().join(INDEX_FILE), "version: 1\nkeys: 12\n").unwrap();
        let err = Index::load(dir.path()).unwrap_err();
        assert!(matches!(err, Error::IndexCorrupted { .. }), "{err:?}");
        let text = crate::error::render(&err.into());
        assert!(text.contains("is corrupted"), "{text}");
        assert!(text.contains("hint:"), "{text}");
    }

    #[test]
    fn a_newer_index_is_refused_by_version() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(INDEX_FILE), "version: 2\n").unwrap();
        match Index::load(dir.path()) {
            Err(Error::IndexVersion {
                version: 2, path, ..
            }) => {
                assert_eq!(path, dir.path().join(INDEX_FILE));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn overlap_parses_humantime() {
        let r = RotationRequest {
            developer: "a".into(),
            app: "b".into(),
            id: "c".into(),
            overlap: "7d".into(),
            requested_at: 0,
        };
        assert_eq!(r.overlap_ms().unwrap(), 7 * 24 * 3600 * 1000);
    }
}
