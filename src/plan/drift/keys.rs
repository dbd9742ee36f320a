//! Drift classes of key changes. A key's stamp lives in the secrets store (`applied.json`,
//! by consumer key fingerprint: see `crate::secrets::applied`), not on the platform; the
//! diff is handed the recorded stamps, and the plan lists the stamps apply records for the
//! credentials it changes ([`KeyStamp`]).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::stamp::{self, Stamp};
use crate::model::{Address, AppId, DesiredKey, Key};
use crate::op::Op;
use crate::plan::Change;
use crate::plan::matching::KeyMatch;

/// The stamp apply records for a declared credential once every change of it succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyStamp {
    /// The credential.
    pub address: Address,
    /// Its stamp ([`stamp::stamp`] of [`stamp::desired_key_fields`]).
    pub stamp: String,
}

/// Classifies the fields of changes to declared credentials' current keys against their
/// recorded stamps (`applied`, by consumer key fingerprint), and returns the stamps to record
/// for every credential the plan changes or mints.
pub(in crate::plan) fn classify_keys(
    changes: &mut [Change],
    desired: &[DesiredKey],
    keys: &KeyMatch<'_>,
    applied: &BTreeMap<String, String>,
) -> Vec<KeyStamp> {
    let by_address: HashMap<Address, &DesiredKey> = desired
        .iter()
        .map(|k| (Address::credential(&k.developer, &k.app, &k.id), k))
        .collect();
    let mut stamps: BTreeMap<Address, String> = BTreeMap::new();
    for c in changes.iter_mut() {
        let address = match &*c.op {
            // The first credential is issued with its app.
            Op::CreateApp { credential, .. } => {
                Address::credential(&credential.developer, &credential.app, &credential.id)
            }
            _ => c.address.clone(),
        };
        let Some(want) = by_address.get(&address) else {
            continue;
        };
        stamps
            .entry(address.clone())
            .or_insert_with(|| stamp::stamp(&stamp::desired_key_fields(want)));
        let Some(have) = current(keys, want) else {
            continue;
        };
        let Some(recorded) = applied
            .get(&have.consumer_key.fingerprint())
            .and_then(|s| Stamp::parse(s))
        else {
            continue;
        };
        let platform = stamp::key_fields(have);
        let config = stamp::desired_key_fields(want);
        for f in &mut c.fields {
            let value = |fields: &[(String, Option<serde_json::Value>)]| {
                fields
                    .iter()
                    .find(|(n, _)| *n == f.field)
                    .map(|(_, v)| v.clone())
            };
            if let (Some(p), Some(w)) = (value(&platform), value(&config)) {
                f.class = Some(recorded.classify_values(&f.field, p.as_ref(), w.as_ref()));
            }
        }
    }
    stamps
        .into_iter()
        .map(|(address, stamp)| KeyStamp { address, stamp })
        .collect()
}

/// The key that currently stands for a declared credential.
fn current<'k>(keys: &KeyMatch<'k>, want: &DesiredKey) -> Option<&'k Key> {
    keys.app(&AppId::new(&want.developer, &want.app))?
        .current
        .iter()
        .find(|(id, _)| *id == want.id)
        .and_then(|(_, k)| *k)
}
