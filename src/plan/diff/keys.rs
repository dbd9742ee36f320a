//! Keys: matching an app's keys to its declared credentials, and the key changes (mint,
//! products, scopes, status, rotation, undeclared keys).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;

use super::*;

impl Differ<'_> {
    pub(super) fn keys(&mut self) {
        let input = self.input;
        let now = input.options.now_ms;
        let mut actual_by_app: BTreeMap<(&str, &str), Vec<&Key>> = BTreeMap::new();
        for k in &input.actual.keys {
            actual_by_app
                .entry((k.developer.as_str(), k.app.as_str()))
                .or_default()
                .push(k);
        }
        let mut desired_by_app: BTreeMap<(&str, &str), Vec<&DesiredKey>> = BTreeMap::new();
        for k in &input.desired.keys {
            desired_by_app
                .entry((k.developer.as_str(), k.app.as_str()))
                .or_default()
                .push(k);
        }
        let stored: HashMap<&str, &StoredKey> = input
            .stored
            .iter()
            .map(|s| (s.consumer_key_fingerprint.as_str(), s))
            .collect();
        let apps: HashMap<(&str, &str), &App> = input
            .desired
            .apps
            .iter()
            .map(|a| ((a.developer.as_str(), a.name.as_str()), a))
            .collect();
        let actual_apps: HashMap<(&str, &str), &Observed<App>> = input
            .actual
            .apps
            .iter()
            .map(|o| ((o.value.developer.as_str(), o.value.name.as_str()), o))
            .collect();
        let products: HashMap<&str, &Product> = input
            .desired
            .products
            .iter()
            .map(|p| (p.name.as_str(), p))
            .collect();

        for (&(dev, app_name), wants) in &desired_by_app {
            let Some(app) = apps.get(&(dev, app_name)) else {
                continue;
            };
            let existing_app = actual_apps.get(&(dev, app_name));
            let keys = actual_by_app
                .get(&(dev, app_name))
                .cloned()
                .unwrap_or_default();
            if existing_app.is_none() {
                // New app: its first credential comes with CreateApp; the rest are minted.
                for (i, want) in wants.iter().enumerate() {
                    if i > 0 {
                        self.mint(app, want, "declared in the config".into());
                    }
                    if want.status == Status::Revoked {
                        self.key_status(want, Status::Approved);
                    }
                }
                continue;
            }
            let ids: Vec<&str> = wants.iter().map(|w| w.id.as_str()).collect();
            let matched = match_keys(&ids, &keys, &stored);
            for (want, have) in wants.iter().zip(&matched.current) {
                match have {
                    None => self.mint(
                        app,
                        want,
                        "declared in the config, not on the platform".into(),
                    ),
                    Some(k) => {
                        self.reconcile_key(want, k, &products);
                        if let Some(rot) = input
                            .rotations
                            .iter()
                            .find(|r| r.developer == dev && r.app == app_name && r.id == want.id)
                            && k.issued_at < rot.requested_at
                        {
                            let reason = format!(
                                "rotation requested: the current key ({}) keeps working for {} after this key is minted, then is revoked and deleted",
                                k.consumer_key.fingerprint(),
                                crate::config::duration::show_ms(rot.overlap_ms)
                            );
                            self.mint(app, want, reason);
                        }
                    }
                }
            }
            for (k, revoke_after) in &matched.retiring {
                let address = retiring_address(k, &stored);
                if *revoke_after > now {
                    let when = humantime::format_rfc3339_seconds(
                        std::time::UNIX_EPOCH
                            + std::time::Duration::from_millis(*revoke_after as u64),
                    );
                    self.note(
                        address,
                        format!("retiring after rotation: revoked and deleted from {when}"),
                    );
                    continue;
                }
                let key = ref_at(&address);
                if k.status == Status::Approved {
                    self.changes.push(Change {
                        address: address.clone(),
                        action: Action::Revoke,
                        fields: vec![field(
                            "status",
                            Some(json!(Status::Approved)),
                            Some(json!(Status::Revoked)),
                        )],
                        mints: false,
                        reason: Some("rotated out: its overlap has passed".into()),
                        op: Op::SetKeyStatus {
                            key: key.clone(),
                            status: Status::Revoked,
                        },
                        precondition: Precondition::Absent,
                    });
                }
                self.deletes.push(Change {
                    address,
                    action: Action::Delete,
                    fields: vec![],
                    mints: false,
                    reason: Some("rotated out: its overlap has passed".into()),
                    op: Op::DeleteKey { key },
                    precondition: Precondition::Absent,
                });
            }
            let owned = existing_app.is_some_and(|a| {
                matches!(
                    ownership(&a.value.attributes, &input.desired.owner),
                    Ownership::Owned
                )
            });
            for k in &matched.undeclared {
                let address = Address::key(dev, app_name, &k.consumer_key.fingerprint());
                if input.options.prune && owned {
                    self.deletes.push(Change {
                        op: Op::DeleteKey {
                            key: ref_at(&address),
                        },
                        address,
                        action: Action::Delete,
                        fields: vec![],
                        mints: false,
                        reason: Some("not declared in the config (--prune)".into()),
                        precondition: Precondition::Absent,
                    });
                } else {
                    let label =
                        k.id.as_deref()
                            .map(|i| format!("tagged `{i}`, "))
                            .unwrap_or_default();
                    self.note(
                        address,
                        format!(
                            "key ({label}not declared in the config) left alone{}",
                            if owned { "; --prune deletes it" } else { "" }
                        ),
                    );
                }
            }
        }
    }

    fn mint(&mut self, app: &App, want: &DesiredKey, reason: String) {
        self.changes.push(Change {
            address: Address::key(&want.developer, &want.app, &want.id),
            action: Action::Mint,
            fields: vec![
                field(
                    "apiProducts",
                    None,
                    (!want.products.is_empty()).then(|| json!(want.products)),
                ),
                field(
                    "scopes",
                    None,
                    (!want.scopes.is_empty()).then(|| json!(want.scopes)),
                ),
                field(
                    "expiresIn",
                    None,
                    Some(want.expires_in_ms.map_or(json!("never"), |ms| {
                        json!(crate::config::duration::show_ms(ms).to_string())
                    })),
                ),
            ]
            .into_iter()
            .filter(|f| f.after.is_some())
            .collect(),
            mints: true,
            reason: Some(reason),
            op: Op::MintKey {
                app: app.clone(),
                credential: want.id.clone(),
                products: want.products.clone(),
                scopes: want.scopes.clone(),
                expires_in_ms: want.expires_in_ms,
            },
            precondition: Precondition::Absent,
        });
        if want.status == Status::Revoked {
            self.key_status(want, Status::Approved);
        }
    }

    fn key_status(&mut self, want: &DesiredKey, current: Status) {
        let action = if want.status == Status::Revoked {
            Action::Revoke
        } else {
            Action::SetStatus
        };
        self.changes.push(Change {
            address: Address::key(&want.developer, &want.app, &want.id),
            action,
            fields: vec![field(
                "status",
                Some(json!(current)),
                Some(json!(want.status)),
            )],
            mints: false,
            reason: None,
            op: Op::SetKeyStatus {
                key: desired_ref(want),
                status: want.status,
            },
            precondition: Precondition::Absent,
        });
    }

    fn reconcile_key(&mut self, want: &DesiredKey, have: &Key, products: &HashMap<&str, &Product>) {
        let address = Address::key(&want.developer, &want.app, &want.id);
        let granted: HashSet<&str> = have.grants.iter().map(|g| g.product.as_str()).collect();
        let wanted: HashSet<&str> = want.products.iter().map(String::as_str).collect();
        let mut attributes = have.attributes.clone();
        if want.id != crate::model::DEFAULT_CREDENTIAL_ID || have.id.is_some() {
            attributes.insert(crate::model::CREDENTIAL_ATTRIBUTE.into(), want.id.clone());
        }
        for p in &want.products {
            if !granted.contains(p.as_str()) {
                let manual = products
                    .get(p.as_str())
                    .is_some_and(|p| p.approval_type == crate::model::ApprovalType::Manual);
                self.changes.push(Change {
                    address: address.clone(),
                    action: Action::AttachProduct,
                    fields: vec![field("apiProducts", None, Some(json!(p)))],
                    mints: false,
                    reason: manual.then(|| "manual approval: the grant starts pending".to_string()),
                    op: Op::AttachProduct {
                        key: desired_ref(want),
                        product: p.clone(),
                        attributes: attributes.clone(),
                    },
                    precondition: Precondition::Absent,
                });
            }
        }
        if sorted(&have.scopes) != sorted(&want.scopes) {
            self.changes.push(Change {
                address: address.clone(),
                action: Action::SetScopes,
                fields: vec![field(
                    "scopes",
                    Some(json!(sorted(&have.scopes))),
                    Some(json!(sorted(&want.scopes))),
                )],
                mints: false,
                reason: None,
                op: Op::SetScopes {
                    key: desired_ref(want),
                    scopes: want.scopes.clone(),
                },
                precondition: Precondition::Absent,
            });
        }
        let mut detach: Vec<&str> = granted.difference(&wanted).copied().collect();
        detach.sort();
        for p in detach {
            self.changes.push(Change {
                address: address.clone(),
                action: Action::DetachProduct,
                fields: vec![field("apiProducts", Some(json!(p)), None)],
                mints: false,
                reason: None,
                op: Op::DetachProduct {
                    key: desired_ref(want),
                    product: p.to_string(),
                },
                precondition: Precondition::Absent,
            });
        }
        if have.status != want.status {
            self.key_status(want, have.status);
        }
        let actual_life = have.expires_at.map(|e| e - have.issued_at);
        let wanted_life = want.expires_in_ms.map(|ms| ms as i64);
        let differs = match (actual_life, wanted_life) {
            (Some(a), Some(w)) => (a - w).abs() > 60_000,
            (None, None) => false,
            _ => true,
        };
        if differs {
            let show = |l: Option<i64>| {
                l.map_or("never".to_string(), |ms| {
                    crate::config::duration::show_ms(ms.max(0) as u64).to_string()
                })
            };
            self.note(address, format!(
                "expiry of an issued key cannot change (issued for {}, config says {}): `registrar rotate` mints a key with the new lifetime",
                show(actual_life),
                show(wanted_life)
            ));
        }
    }
}

/// Fingerprint of a key's fields (the consumer key only by its own fingerprint).
pub fn key_fingerprint(k: &Key) -> String {
    let mut grants: Vec<(&str, Status)> = k
        .grants
        .iter()
        .map(|g| (g.product.as_str(), g.status))
        .collect();
    grants.sort();
    fingerprint_of(&json!({
        "key": k.consumer_key.fingerprint(),
        "grants": grants,
        "scopes": sorted(&k.scopes),
        "status": k.status,
        "attributes": k.attributes,
    }))
}

/// The key reference of a key address: apply resolves it through the same addresses
/// ([`key_addresses`]), so retiring (`id@fingerprint`) and undeclared (`fingerprint`) keys match.
fn ref_at(address: &Address) -> KeyRef {
    let mut parts = address.path.splitn(3, '/');
    let (developer, app, id) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
    );
    KeyRef {
        developer: developer.into(),
        app: app.into(),
        id: id.into(),
        consumer_key: None,
    }
}

fn desired_ref(k: &DesiredKey) -> KeyRef {
    KeyRef {
        developer: k.developer.clone(),
        app: k.app.clone(),
        id: k.id.clone(),
        consumer_key: None,
    }
}

pub(super) fn key_unchanged(k: &Key) -> Precondition {
    Precondition::Unchanged {
        last_modified_at: None,
        fingerprint: key_fingerprint(k),
    }
}

/// Every key of `actual` with its address: declared credentials by id, retiring keys by
/// `id@fingerprint`, undeclared keys by fingerprint.
pub fn key_addresses<'a>(
    actual: &'a Actual,
    stored: &[StoredKey],
    credentials: &[(&str, &str, &str)],
) -> Vec<(Address, &'a Key)> {
    let stored_by_fp: HashMap<&str, &StoredKey> = stored
        .iter()
        .map(|s| (s.consumer_key_fingerprint.as_str(), s))
        .collect();
    let mut keys_by_app: BTreeMap<(&str, &str), Vec<&Key>> = BTreeMap::new();
    for k in &actual.keys {
        keys_by_app
            .entry((k.developer.as_str(), k.app.as_str()))
            .or_default()
            .push(k);
    }
    let mut ids_by_app: HashMap<(&str, &str), Vec<&str>> = HashMap::new();
    for (d, a, id) in credentials {
        ids_by_app.entry((*d, *a)).or_default().push(*id);
    }
    let mut out = Vec::with_capacity(actual.keys.len());
    for ((dev, app), keys) in keys_by_app {
        let ids = ids_by_app.get(&(dev, app)).cloned().unwrap_or_default();
        let m = match_keys(&ids, &keys, &stored_by_fp);
        for (id, k) in ids.iter().zip(&m.current) {
            if let Some(k) = k {
                out.push((Address::key(dev, app, id), *k));
            }
        }
        for (k, _) in &m.retiring {
            out.push((retiring_address(k, &stored_by_fp), *k));
        }
        for k in &m.undeclared {
            out.push((Address::key(dev, app, &k.consumer_key.fingerprint()), *k));
        }
    }
    out
}

fn retiring_address(k: &Key, stored: &HashMap<&str, &StoredKey>) -> Address {
    let fp = k.consumer_key.fingerprint();
    let id = stored
        .get(fp.as_str())
        .map(|s| s.id.as_str())
        .unwrap_or("key");
    Address::key(&k.developer, &k.app, &format!("{id}@{fp}"))
}

/// How an app's actual keys line up with its declared credentials.
struct Matched<'k> {
    /// Per declared credential (same order), its current key.
    current: Vec<Option<&'k Key>>,
    /// Keys being retired after a rotation, with when they may be revoked.
    retiring: Vec<(&'k Key, i64)>,
    /// Keys the config does not declare.
    undeclared: Vec<&'k Key>,
}

/// Matches keys to credentials: by the key's credential tag, then by the secrets index, then
/// (the key an app was created with carries no tag) a lone untagged key to a lone unmatched
/// credential. Of several keys for one credential, the newest is current.
fn match_keys<'k>(
    wants: &[&str],
    keys: &[&'k Key],
    stored: &HashMap<&str, &StoredKey>,
) -> Matched<'k> {
    let mut current: Vec<Option<&'k Key>> = vec![None; wants.len()];
    let mut retiring = Vec::new();
    let mut undeclared = Vec::new();
    let mut unknown = Vec::new();
    let mut ordered: Vec<&'k Key> = keys.to_vec();
    ordered.sort_by_key(|k| std::cmp::Reverse(k.issued_at));
    for k in ordered {
        let entry = stored
            .get(k.consumer_key.fingerprint().as_str())
            .filter(|s| s.developer == k.developer && s.app == k.app);
        if let Some(after) = entry.and_then(|s| s.revoke_after) {
            retiring.push((k, after));
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
        .find(|i| wants[*i] == crate::model::DEFAULT_CREDENTIAL_ID);
    if let Some(i) = default.or((open.len() == 1 && unknown.len() == 1).then(|| open[0]))
        && let Some(oldest) = unknown.pop()
    {
        current[i] = Some(oldest);
    }
    undeclared.extend(unknown);
    Matched {
        current,
        retiring,
        undeclared,
    }
}
