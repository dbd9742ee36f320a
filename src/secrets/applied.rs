//! `applied.json`: what apply last set on each key it manages, for drift classes. One stamp
//! per key, by its consumer key's fingerprint: short hashes of the key's products, scopes and
//! status as applied (`crate::plan::drift::stamp`), never secret material. Developers,
//! products and apps carry their stamp on the platform (the `registrar-applied` attribute);
//! keys have no attribute registrar can write without side effects on Apigee, and the store
//! already tracks every key it holds, so theirs live here, beside the index.
//!
//! JSON rather than YAML so that a config directory that holds the store never reads it as
//! config. A missing file is an empty one; an unreadable one is ignored with a warning (the
//! classes fall back to `config`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::Result;
use super::fsutil;
use super::store::SecretStore;

/// File name inside the store's directory.
pub const APPLIED_FILE: &str = "applied.json";

/// The file's format version.
const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct Applied {
    version: u32,
    /// Stamp by consumer key fingerprint.
    keys: BTreeMap<String, String>,
}

impl SecretStore {
    /// The recorded key stamps, by consumer key fingerprint.
    pub fn applied_keys(&self) -> BTreeMap<String, String> {
        let path = self.dir().join(APPLIED_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeMap::new(),
            Err(e) => {
                tracing::warn!(
                    "cannot read `{}` ({e}): key drift is classified as config",
                    path.display()
                );
                return BTreeMap::new();
            }
        };
        match serde_json::from_str::<Applied>(&text) {
            Ok(a) if a.version == VERSION => a.keys,
            Ok(a) => {
                tracing::warn!(
                    "`{}` is version {}, this registrar reads {VERSION}: key drift is classified as config",
                    path.display(),
                    a.version
                );
                BTreeMap::new()
            }
            Err(e) => {
                tracing::warn!(
                    "`{}` is damaged ({e}): key drift is classified as config",
                    path.display()
                );
                BTreeMap::new()
            }
        }
    }

    /// Records the stamps of keys apply just wrote (by consumer key fingerprint), keeping
    /// the others. Written atomically; nothing is written when there is nothing new.
    pub fn record_applied(&self, stamps: impl IntoIterator<Item = (String, String)>) -> Result<()> {
        let mut keys = self.applied_keys();
        let before = keys.len();
        let mut changed = false;
        for (fp, stamp) in stamps {
            changed |= keys.get(&fp) != Some(&stamp);
            keys.insert(fp, stamp);
        }
        if !changed && keys.len() == before {
            return Ok(());
        }
        let doc = Applied {
            version: VERSION,
            keys,
        };
        let mut text = serde_json::to_string_pretty(&doc).expect("stamps serialize");
        text.push('\n');
        fsutil::write_bytes_atomic(&self.dir().join(APPLIED_FILE), text.as_bytes())
    }
}
