//! Credential ids for the keys of one app being imported, chosen so that
//! [`crate::plan::matching`] lines each key up with its credential on the next plan: a key's
//! own tag first, then the id the secrets index already gives it (a re-import keeps ids), then,
//! for untagged keys by age, `default` for the oldest (the key an app was created with, which
//! matching takes for `default`) and `key-2`, `key-3`, … for the others (their secrets are
//! stored under these ids, which matching finds through the index).

use std::collections::{BTreeSet, HashMap};

use crate::model::{DEFAULT_CREDENTIAL_ID, Key};
use crate::names::check_credential_id;
use crate::secrets::index::IndexEntry;

/// What became of one key of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assigned {
    /// Declared under this credential id.
    Id(String),
    /// Not declared, for this reason (for people).
    Skipped(String),
}

/// Assigns ids to the keys of one app (all of `keys` belong to it). `stored` are the index
/// entries of this app. Returns one [`Assigned`] per key, in the order of `keys`.
pub fn assign(keys: &[&Key], stored: &[&IndexEntry]) -> Vec<Assigned> {
    let by_fp: HashMap<&str, &IndexEntry> = stored
        .iter()
        .map(|e| (e.consumer_key_fingerprint.as_str(), *e))
        .collect();
    let mut out: Vec<Option<Assigned>> = vec![None; keys.len()];
    let mut used: BTreeSet<String> = BTreeSet::new();
    // Oldest first; equal times by fingerprint, so the order never depends on the platform's.
    let mut order: Vec<usize> = (0..keys.len()).collect();
    let fps: Vec<String> = keys.iter().map(|k| k.consumer_key.fingerprint()).collect();
    order.sort_by(|a, b| (keys[*a].issued_at, &fps[*a]).cmp(&(keys[*b].issued_at, &fps[*b])));
    // 1. Tags.
    for &i in &order {
        let Some(tag) = &keys[i].id else { continue };
        out[i] = Some(if check_credential_id(tag).is_err() {
            Assigned::Skipped(format!(
                "tagged `{tag}`, which is not a valid credential id: not declared (the plan notes it as a key the config does not declare)"
            ))
        } else if !used.insert(tag.clone()) {
            Assigned::Skipped(format!(
                "tagged `{tag}` like another key of the app: not declared (the plan notes it as a key the config does not declare)"
            ))
        } else {
            Assigned::Id(tag.clone())
        });
    }
    // 2. The secrets index (a key imported before, or minted by apply).
    for &i in &order {
        if out[i].is_some() {
            continue;
        }
        let Some(e) = by_fp.get(fps[i].as_str()) else {
            continue;
        };
        if e.revoke_after.is_some() {
            out[i] = Some(Assigned::Skipped(format!(
                "being retired after a rotation of credential `{}`: left to the rotation",
                e.id
            )));
        } else if used.insert(e.id.clone()) {
            out[i] = Some(Assigned::Id(e.id.clone()));
        }
    }
    // 3. The rest, by age: `default` for the oldest, then `key-N` (N its place by age).
    for (place, &i) in order.iter().enumerate() {
        if out[i].is_some() {
            continue;
        }
        let id = if used.contains(DEFAULT_CREDENTIAL_ID) {
            let mut n = place + 1;
            loop {
                let id = format!("key-{n}");
                if !used.contains(&id) {
                    break id;
                }
                n += 1;
            }
        } else {
            DEFAULT_CREDENTIAL_ID.to_string()
        };
        used.insert(id.clone());
        out[i] = Some(Assigned::Id(id));
    }
    out.into_iter()
        .map(|a| a.expect("every key is assigned"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Attributes, Secret, Status};
    use crate::secrets::index::KeyState;

    fn key(ck: &str, issued_at: i64, tag: Option<&str>) -> Key {
        Key {
            developer: "a@example.com".into(),
            app: "web".into(),
            id: tag.map(str::to_string),
            consumer_key: Secret::new(ck),
            consumer_secret: Secret::new(format!("{ck}-secret")),
            grants: vec![],
            scopes: vec![],
            status: Status::Approved,
            attributes: Attributes::new(),
            issued_at,
            expires_at: None,
        }
    }

    fn entry(ck: &str, id: &str) -> IndexEntry {
        IndexEntry {
            developer: "a@example.com".into(),
            app: "web".into(),
            id: id.into(),
            state: KeyState::Active,
            consumer_key_fingerprint: Secret::new(ck).fingerprint(),
            consumer_secret_fingerprint: Secret::new(format!("{ck}-secret")).fingerprint(),
            issued_at: 0,
            expires_at: None,
            revoke_after: None,
            file: format!("a@example.com/web/{id}.age"),
        }
    }

    fn ids(a: &[Assigned]) -> Vec<String> {
        a.iter()
            .map(|a| match a {
                Assigned::Id(i) => i.clone(),
                Assigned::Skipped(_) => "-".into(),
            })
            .collect()
    }

    #[test]
    fn oldest_untagged_is_default_others_by_age() {
        let (a, b, c) = (
            key("k-aaaaaaaa", 30, None),
            key("k-bbbbbbbb", 10, None),
            key("k-cccccccc", 20, None),
        );
        assert_eq!(
            ids(&assign(&[&a, &b, &c], &[])),
            ["key-3", "default", "key-2"]
        );
    }

    #[test]
    fn tags_and_index_win_and_are_stable() {
        let (a, b, c) = (
            key("k-aaaaaaaa", 10, Some("primary")),
            key("k-bbbbbbbb", 20, None),
            key("k-cccccccc", 30, None),
        );
        let e = entry("k-cccccccc", "backup");
        assert_eq!(
            ids(&assign(&[&a, &b, &c], &[&e])),
            ["primary", "default", "backup"]
        );
        // The same keys in another order: the same ids.
        assert_eq!(
            ids(&assign(&[&c, &a, &b], &[&e])),
            ["backup", "primary", "default"]
        );
    }

    #[test]
    fn default_taken_by_a_tag_moves_the_untagged_on() {
        let (a, b) = (
            key("k-aaaaaaaa", 10, None),
            key("k-bbbbbbbb", 20, Some("default")),
        );
        assert_eq!(ids(&assign(&[&a, &b], &[])), ["key-1", "default"]);
    }

    #[test]
    fn bad_and_duplicate_tags_are_skipped() {
        let (a, b, c) = (
            key("k-aaaaaaaa", 10, Some("Not Valid")),
            key("k-bbbbbbbb", 20, Some("x")),
            key("k-cccccccc", 30, Some("x")),
        );
        assert_eq!(ids(&assign(&[&a, &b, &c], &[])), ["-", "x", "-"]);
    }
}
