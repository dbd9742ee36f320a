//! Keys: the key changes of each declared credential (mint, products, scopes, status,
//! rotation) and of the keys the config does not declare, over the matching of
//! [`crate::plan::matching`].

use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;

use super::{Differ, Ownership, field, fingerprint_of, ownership, sorted};
use crate::model::{
    Address, App, AppId, ApprovalType, DesiredKey, Key, KeyId, Observed, Product, Status,
};
use crate::op::{KeyRef, Op};
use crate::plan::{Action, Change, Flag};
use crate::units::show_ms;

impl Differ<'_> {
    pub(super) fn keys(&mut self) {
        let input = self.input;
        let mut desired_by_app: BTreeMap<AppId, Vec<&DesiredKey>> = BTreeMap::new();
        for k in &input.desired.keys {
            desired_by_app
                .entry(AppId::new(&k.developer, &k.app))
                .or_default()
                .push(k);
        }
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

        for (id, wants) in &desired_by_app {
            let at = (id.developer.as_str(), id.app.as_str());
            if !apps.contains_key(&at) {
                continue;
            }
            let Some(existing_app) = actual_apps.get(&at) else {
                // New app: its first credential comes with CreateApp; the rest are minted.
                for (i, want) in wants.iter().enumerate() {
                    if i > 0 {
                        self.mint(want, "declared in the config".into(), None);
                    } else if want.status == Status::Revoked {
                        self.key_status(want, Status::Approved);
                    }
                }
                continue;
            };
            let matched = input.keys.app(id).cloned().unwrap_or_default();
            for want in wants {
                match matched.current(&want.id) {
                    None => self.mint(
                        want,
                        "declared in the config, not on the platform".into(),
                        None,
                    ),
                    Some(k) => {
                        self.reconcile_key(want, k, &products);
                        self.rotation(want, k);
                    }
                }
            }
            for (k, credential, revoke_after) in &matched.retiring {
                self.retire(k, credential, *revoke_after);
            }
            let owned = matches!(
                ownership(&existing_app.value.attributes, &input.desired.owner),
                Ownership::Owned
            );
            for k in &matched.undeclared {
                self.undeclared(k, owned);
            }
        }
    }

    /// A rotation asked for with `registrar rotate`: mint a new key if the current one
    /// predates the request.
    fn rotation(&mut self, want: &DesiredKey, current: &Key) {
        let Some(rot) = self
            .input
            .rotations
            .iter()
            .find(|r| r.developer == want.developer && r.app == want.app && r.id == want.id)
        else {
            return;
        };
        let Ok(overlap) = rot.overlap_ms() else {
            return;
        };
        if current.issued_at < rot.requested_at {
            let reason = format!(
                "rotation requested: the current key ({}) keeps working for {} after this key is minted, then is revoked and deleted",
                current.consumer_key.fingerprint(),
                show_ms(overlap.max(0) as u64)
            );
            self.mint(want, reason, Some(current.consumer_key.fingerprint()));
        }
    }

    /// A key being retired after a rotation: noted until its overlap has passed, then
    /// revoked and deleted.
    fn retire(&mut self, k: &Key, credential: &str, revoke_after: i64) {
        let r = KeyRef {
            app: k.app_id(),
            key: KeyId::retiring(credential, k.consumer_key.fingerprint()),
        };
        if revoke_after > self.input.options.now_ms {
            let when = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(revoke_after as u64),
            );
            self.note(
                r.address(),
                format!("retiring after rotation: revoked and deleted from {when}"),
            );
            return;
        }
        self.revoke_and_delete(k, r, "rotated out: its overlap has passed");
    }

    /// Revokes a live key (with the changes), then deletes it (with the deletes).
    fn revoke_and_delete(&mut self, k: &Key, r: KeyRef, reason: &str) {
        if k.status == Status::Approved {
            let flag = Flag::RevokesLive { keys: 1 };
            self.changes.push(Change::new(
                r.address(),
                Action::Revoke,
                vec![field(
                    "status",
                    Some(json!(Status::Approved)),
                    Some(json!(Status::Revoked)),
                )],
                Some(reason.into()),
                Op::SetKeyStatus {
                    key: r.clone(),
                    status: Status::Revoked,
                },
            ));
            self.flag_last(flag);
        }
        self.prune(r.address(), reason, Op::DeleteKey { key: r });
    }

    /// A key the config does not declare: deleted with `--prune` under an owned app,
    /// otherwise noted.
    fn undeclared(&mut self, k: &Key, owned_app: bool) {
        let r = KeyRef {
            app: k.app_id(),
            key: KeyId::undeclared(k.consumer_key.fingerprint()),
        };
        if self.input.options.prune && owned_app {
            self.revoke_and_delete(k, r, "not declared in the config (--prune)");
            return;
        }
        let label =
            k.id.as_deref()
                .map(|i| format!("tagged `{i}`, "))
                .unwrap_or_default();
        if owned_app && k.status == Status::Approved {
            // A live key on an app this config owns: drift, counted (a duplicate minted by a
            // lost race, a key added by hand).
            self.unmanaged.push(crate::plan::Note {
                address: r.address(),
                message: format!(
                    "live key ({label}not declared in the config): `--prune` revokes and deletes it"
                ),
            });
            return;
        }
        self.note(
            r.address(),
            format!("key ({label}not declared in the config) left alone"),
        );
    }

    /// Mints credential `want`; `replaces` is the fingerprint of the key a rotation replaces.
    fn mint(&mut self, want: &DesiredKey, reason: String, replaces: Option<String>) {
        let fields = [
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
                Some(
                    want.expires_in_ms
                        .map_or(json!("never"), |ms| json!(show_ms(ms))),
                ),
            ),
        ]
        .into_iter()
        .filter(|f| f.after.is_some())
        .collect();
        self.changes.push(Change::new(
            Address::credential(&want.developer, &want.app, &want.id),
            Action::Mint,
            fields,
            Some(reason),
            Op::MintKey {
                credential: want.clone(),
                replaces,
            },
        ));
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
        self.changes.push(Change::new(
            Address::credential(&want.developer, &want.app, &want.id),
            action,
            vec![field(
                "status",
                Some(json!(current)),
                Some(json!(want.status)),
            )],
            None,
            Op::SetKeyStatus {
                key: desired_ref(want),
                status: want.status,
            },
        ));
    }

    fn reconcile_key(&mut self, want: &DesiredKey, have: &Key, products: &HashMap<&str, &Product>) {
        let address = Address::credential(&want.developer, &want.app, &want.id);
        let granted: HashSet<&str> = have.grants.iter().map(|g| g.product.as_str()).collect();
        let wanted: HashSet<&str> = want.products.iter().map(String::as_str).collect();
        for p in &want.products {
            if !granted.contains(p.as_str()) {
                let manual = products
                    .get(p.as_str())
                    .is_some_and(|p| p.approval_type == ApprovalType::Manual);
                self.changes.push(Change::new(
                    address.clone(),
                    Action::AttachProduct,
                    vec![field("apiProducts", None, Some(json!(p)))],
                    manual.then(|| "manual approval: the grant starts pending".to_string()),
                    Op::AttachProduct {
                        key: desired_ref(want),
                        product: p.clone(),
                    },
                ));
            }
        }
        if sorted(&have.scopes) != sorted(&want.scopes) {
            self.changes.push(Change::new(
                address.clone(),
                Action::SetScopes,
                vec![field(
                    "scopes",
                    Some(json!(sorted(&have.scopes))),
                    Some(json!(sorted(&want.scopes))),
                )],
                None,
                Op::SetScopes {
                    key: desired_ref(want),
                    scopes: want.scopes.clone(),
                },
            ));
        }
        let mut detach: Vec<&str> = granted.difference(&wanted).copied().collect();
        detach.sort();
        for p in detach {
            self.changes.push(Change::new(
                address.clone(),
                Action::DetachProduct,
                vec![field("apiProducts", Some(json!(p)), None)],
                None,
                Op::DetachProduct {
                    key: desired_ref(want),
                    product: p.to_string(),
                },
            ));
        }
        if have.status != want.status {
            self.key_status(want, have.status);
            match (have.status, want.status) {
                (Status::Approved, Status::Revoked) => {
                    self.flag_last(Flag::RevokesLive { keys: 1 })
                }
                (Status::Revoked, Status::Approved) => self.flag_last(Flag::ReEnables),
                _ => {}
            }
        }
        let actual_life = have.expires_at.map(|e| e - have.issued_at);
        let wanted_life = want.expires_in_ms.map(|ms| ms as i64);
        let differs = match (actual_life, wanted_life) {
            (Some(a), Some(w)) => (a - w).abs() > 60_000,
            (None, None) => false,
            _ => true,
        };
        if differs {
            let show =
                |l: Option<i64>| l.map_or("never".to_string(), |ms| show_ms(ms.max(0) as u64));
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

/// The reference to a declared credential's current key.
fn desired_ref(k: &DesiredKey) -> KeyRef {
    KeyRef {
        app: AppId::new(&k.developer, &k.app),
        key: KeyId::credential(&k.id),
    }
}
