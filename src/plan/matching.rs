//! Key matching: how the keys an org holds line up with the credentials a config declares.
//! A key is matched by its credential tag, then by the secrets index, then (the key an app
//! was created with carries no tag) a lone untagged key to a lone unmatched credential. Of
//! several keys for one credential, the newest is current; keys being retired after a
//! rotation and keys the config does not declare are set apart. Of several keys for one
//! credential (a duplicate minted by a lost race), the one whose secret is stored is current.
//!
//! The diff, apply and a saved plan's re-check all name keys through one [`KeyMatch`], made
//! once per run.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::model::{Actual, Address, AppId, DEFAULT_CREDENTIAL_ID, Key, KeyId};
use crate::secrets::index::IndexEntry;

/// A credential the config declares: its app and id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Declared {
    /// The app.
    #[serde(flatten)]
    pub app: AppId,
    /// Credential id.
    pub id: String,
}

/// How one app's keys line up with its declared credentials.
#[derive(Debug, Clone, Default)]
pub struct Matched<'k> {
    /// Per declared credential (in declaration order), its id and current key.
    pub current: Vec<(String, Option<&'k Key>)>,
    /// Keys being retired after a rotation: the key, its credential id, and when it may be
    /// revoked (ms).
    pub retiring: Vec<(&'k Key, String, i64)>,
    /// Keys the config does not declare.
    pub undeclared: Vec<&'k Key>,
}

impl Matched<'_> {
    /// The current key of credential `id`.
    pub fn current(&self, id: &str) -> Option<&Key> {
        self.current
            .iter()
            .find(|(i, _)| i == id)
            .and_then(|(_, k)| *k)
    }
}

/// Every app's matching.
#[derive(Debug, Clone, Default)]
pub struct KeyMatch<'k> {
    apps: BTreeMap<AppId, Matched<'k>>,
}

impl<'k> KeyMatch<'k> {
    /// Matches the keys of `actual` to `declared` credentials, with the secrets index.
    pub fn new(actual: &'k Actual, stored: &[IndexEntry], declared: &[Declared]) -> Self {
        let stored_by_fp: HashMap<&str, &IndexEntry> = stored
            .iter()
            .map(|s| (s.consumer_key_fingerprint.as_str(), s))
            .collect();
        let mut keys_by_app: BTreeMap<AppId, Vec<&Key>> = BTreeMap::new();
        for k in &actual.keys {
            keys_by_app.entry(k.app_id()).or_default().push(k);
        }
        let mut ids_by_app: BTreeMap<AppId, Vec<&str>> = BTreeMap::new();
        for d in declared {
            ids_by_app.entry(d.app.clone()).or_default().push(&d.id);
            keys_by_app.entry(d.app.clone()).or_default();
        }
        let apps = keys_by_app
            .into_iter()
            .map(|(app, keys)| {
                let ids = ids_by_app.get(&app).map(Vec::as_slice).unwrap_or_default();
                let m = match_app(ids, &keys, &stored_by_fp);
                (app, m)
            })
            .collect();
        KeyMatch { apps }
    }

    /// One app's matching (empty for an app with no keys and no declared credentials).
    pub fn app(&self, app: &AppId) -> Option<&Matched<'k>> {
        self.apps.get(app)
    }

    /// Every key with its address: declared credentials by id, retiring keys by
    /// `id@fingerprint`, undeclared keys by fingerprint.
    pub fn addresses(&self) -> Vec<(Address, &'k Key)> {
        let mut out = Vec::new();
        for (app, m) in &self.apps {
            let at = |key: KeyId| Address::Key {
                app: app.clone(),
                key,
            };
            for (id, k) in &m.current {
                if let Some(k) = k {
                    out.push((at(KeyId::credential(id)), *k));
                }
            }
            for (k, id, _) in &m.retiring {
                out.push((at(KeyId::retiring(id, k.consumer_key.fingerprint())), *k));
            }
            for k in &m.undeclared {
                out.push((at(KeyId::undeclared(k.consumer_key.fingerprint())), *k));
            }
        }
        out
    }
}

fn match_app<'k>(
    wants: &[&str],
    keys: &[&'k Key],
    stored: &HashMap<&str, &IndexEntry>,
) -> Matched<'k> {
    let mut current: Vec<Option<&'k Key>> = vec![None; wants.len()];
    let mut retiring = Vec::new();
    let mut undeclared = Vec::new();
    let mut unknown = Vec::new();
    // Of several keys for one credential, the one whose secret is stored is current, else
    // the newest.
    let stored_active = |k: &Key| {
        stored
            .get(k.consumer_key.fingerprint().as_str())
            .is_some_and(|s| {
                s.developer == k.developer && s.app == k.app && s.revoke_after.is_none()
            })
    };
    let mut ordered: Vec<&'k Key> = keys.to_vec();
    ordered.sort_by_key(|k| (!stored_active(k), std::cmp::Reverse(k.issued_at)));
    for k in ordered {
        let entry = stored
            .get(k.consumer_key.fingerprint().as_str())
            .filter(|s| s.developer == k.developer && s.app == k.app);
        if let Some((after, e)) = entry.and_then(|s| s.revoke_after.map(|a| (a, s))) {
            retiring.push((k, e.id.clone(), after));
            continue;
        }
        let id = k.id.as_deref().or(entry.map(|s| s.id.as_str()));
        match id.and_then(|id| wants.iter().position(|w| *w == id)) {
            Some(i) if current[i].is_none() => current[i] = Some(k),
            Some(_) => undeclared.push(k),
            None if id.is_some() => undeclared.push(k),
            None => unknown.push(k),
        }
    }
    // Untagged keys: the one an app was created with for its `default` credential (the
    // oldest), or the lone key of an app being adopted with one declared credential.
    let open: Vec<usize> = (0..wants.len()).filter(|i| current[*i].is_none()).collect();
    let default = open
        .iter()
        .copied()
        .find(|i| wants[*i] == DEFAULT_CREDENTIAL_ID);
    if let Some(i) = default.or((open.len() == 1 && unknown.len() == 1).then(|| open[0]))
        && let Some(oldest) = unknown.pop()
    {
        current[i] = Some(oldest);
    }
    undeclared.extend(unknown);
    Matched {
        current: wants.iter().map(|w| w.to_string()).zip(current).collect(),
        retiring,
        undeclared,
    }
}
