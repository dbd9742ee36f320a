//! The diff: desired × actual × options → [`Plan`]. Pure: no I/O, no platform knowledge.
//!
//! Order of the changes is the order apply runs them in: developers and products, then apps,
//! then keys; deletes last, in reverse (keys, apps, then developers and products).

use std::collections::{HashMap, HashSet};

use serde::Serialize;
use serde_json::{Value, json};

use super::{Action, Address, Change, FieldChange, Note, PLAN_FORMAT_VERSION, Plan, Precondition};
use crate::backend::{Actual, KeyRef, Observed, Op};
use crate::model::{
    App, Attributes, DesiredKey, DesiredState, Developer, DeveloperStatus, Key, OWNER_ATTRIBUTE,
    Product, Status, fingerprint,
};

/// A key the secrets store holds (from its index; no secret material).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// Developer email.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id.
    pub id: String,
    /// Fingerprint of the consumer key.
    pub consumer_key_fingerprint: String,
    /// Set while the key is being retired after a rotation: when it may be revoked (ms).
    pub revoke_after: Option<i64>,
}

/// A rotation someone asked for with `registrar rotate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationRequest {
    /// Developer email.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id.
    pub id: String,
    /// When it was asked for (ms): a key issued before this is due for replacement.
    pub requested_at: i64,
    /// How long the old key keeps working after the new one is minted (ms).
    pub overlap_ms: u64,
}

/// Options of a plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Delete owned resources the config no longer declares.
    pub prune: bool,
    /// Refuse a plan with more deletes than this.
    pub max_deletes: Option<usize>,
    /// Keep only changes whose address contains one of these.
    pub select: Vec<String>,
    /// The current time (ms since the epoch).
    pub now_ms: i64,
}

/// Everything the diff looks at.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// Desired state.
    pub desired: &'a DesiredState,
    /// Actual state.
    pub actual: &'a Actual,
    /// The secrets store's index.
    pub stored: &'a [StoredKey],
    /// Pending rotations.
    pub rotations: &'a [RotationRequest],
    /// The backend's description, for the plan header.
    pub backend: &'a str,
    /// Options.
    pub options: &'a Options,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    /// Resources the config declares belong to another owner.
    #[error("{} resource(s) this config declares are owned by someone else:\n{}", .0.len(), .0.join("\n"))]
    Conflicts(Vec<String>),
    /// More deletes than `--max-deletes` allows.
    #[error("the plan deletes {count} resources, more than --max-deletes {max}:\n{}", .addresses.join("\n"))]
    TooManyDeletes {
        /// Deletes in the plan.
        count: usize,
        /// The limit.
        max: usize,
        /// What would be deleted.
        addresses: Vec<String>,
    },
}

/// Builds the plan.
pub fn diff(input: Input<'_>) -> Result<Plan, DiffError> {
    let mut d = Differ {
        input,
        changes: Vec::new(),
        deletes: Vec::new(),
        notes: Vec::new(),
        conflicts: Vec::new(),
    };
    d.developers();
    d.products();
    d.apps();
    d.keys();
    let Differ {
        mut changes,
        mut deletes,
        mut notes,
        conflicts,
        ..
    } = d;
    if !conflicts.is_empty() {
        return Err(DiffError::Conflicts(conflicts));
    }
    let ids: Vec<(&str, &str, &str)> = input
        .desired
        .keys
        .iter()
        .map(|k| (k.developer.as_str(), k.app.as_str(), k.id.as_str()))
        .collect();
    let observed = observe(input.actual, input.stored, &ids);
    for c in changes.iter_mut().chain(deletes.iter_mut()) {
        c.precondition = observed
            .get(&c.address)
            .cloned()
            .unwrap_or(Precondition::Absent);
    }
    // Deletes run last, most dependent first.
    deletes.sort_by_key(|c: &Change| match c.address.kind {
        super::Kind::Key => 0,
        super::Kind::App => 1,
        _ => 2,
    });
    changes.extend(deletes);
    let opts = input.options;
    if !opts.select.is_empty() {
        let keep = |a: &Address| {
            let text = a.to_string();
            opts.select.iter().any(|s| text.contains(s.as_str()))
        };
        changes.retain(|c| keep(&c.address));
        notes.retain(|n| keep(&n.address));
    }
    if let Some(max) = opts.max_deletes {
        let addresses: Vec<String> = changes
            .iter()
            .filter(|c| c.action == Action::Delete)
            .map(|c| c.address.to_string())
            .collect();
        if addresses.len() > max {
            return Err(DiffError::TooManyDeletes {
                count: addresses.len(),
                max,
                addresses,
            });
        }
    }
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        registrar_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: input.backend.to_string(),
        owner: input.desired.owner.clone(),
        changes,
        notes,
    })
}

/// How a resource stands toward this config's owner.
enum Ownership {
    Owned,
    Unowned,
    Other(String),
}

fn ownership(attrs: &Attributes, owner: &str) -> Ownership {
    match attrs.get(OWNER_ATTRIBUTE) {
        None => Ownership::Unowned,
        Some(o) if o == owner => Ownership::Owned,
        Some(o) => Ownership::Other(o.clone()),
    }
}

/// Truncated SHA-256 of a value's JSON form.
pub fn fingerprint_of<T: Serialize>(value: &T) -> String {
    fingerprint(&serde_json::to_vec(value).unwrap_or_default())
}

fn unchanged<T: Serialize>(o: &Observed<T>) -> Precondition {
    Precondition::Unchanged {
        last_modified_at: o.last_modified_at,
        fingerprint: fingerprint_of(&o.value),
    }
}

fn sorted(v: &[String]) -> Vec<String> {
    let mut v = v.to_vec();
    v.sort();
    v.dedup();
    v
}

fn field(name: &str, before: Option<Value>, after: Option<Value>) -> FieldChange {
    FieldChange {
        field: name.to_string(),
        before,
        after,
    }
}

fn str_field(fields: &mut Vec<FieldChange>, name: &str, before: &str, after: &str) {
    if before != after {
        let v = |s: &str| {
            if s.is_empty() {
                None
            } else {
                Some(Value::String(s.to_string()))
            }
        };
        fields.push(field(name, v(before), v(after)));
    }
}

fn list_field(fields: &mut Vec<FieldChange>, name: &str, before: &[String], after: &[String]) {
    if sorted(before) != sorted(after) {
        let v = |l: &[String]| if l.is_empty() { None } else { Some(json!(l)) };
        fields.push(field(name, v(before), v(after)));
    }
}

fn attr_fields(fields: &mut Vec<FieldChange>, before: &Attributes, after: &Attributes) {
    let names: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    for n in names {
        let (b, a) = (before.get(n), after.get(n));
        if b != a {
            fields.push(field(
                &format!("attributes.{n}"),
                b.map(|s| json!(s)),
                a.map(|s| json!(s)),
            ));
        }
    }
}

struct Differ<'a> {
    input: Input<'a>,
    changes: Vec<Change>,
    deletes: Vec<Change>,
    notes: Vec<Note>,
    conflicts: Vec<String>,
}

impl Differ<'_> {
    fn owner(&self) -> &str {
        &self.input.desired.owner
    }

    fn note(&mut self, address: Address, message: String) {
        self.notes.push(Note { address, message });
    }

    /// Create/update/adopt for one resource; returns false on a conflict. (Preconditions of
    /// all changes are filled in at the end, from [`observe`].)
    fn upsert<T: Serialize>(
        &mut self,
        address: Address,
        actual: Option<&Observed<T>>,
        attrs: Option<&Attributes>,
        fields: Vec<FieldChange>,
        create: Op,
        update: Op,
    ) -> bool {
        match (actual, attrs) {
            (None, _) | (_, None) => {
                self.changes.push(Change {
                    address,
                    action: Action::Create,
                    fields,
                    mints: false,
                    reason: None,
                    op: create,
                    precondition: Precondition::Absent,
                });
                true
            }
            (Some(_), Some(attrs)) => {
                let action = match ownership(attrs, self.owner()) {
                    Ownership::Owned => Action::Update,
                    Ownership::Unowned => Action::Adopt,
                    Ownership::Other(o) => {
                        self.conflicts.push(format!("  {address} is owned by `{o}` (attribute `{OWNER_ATTRIBUTE}`): remove it from this config, or change that attribute if this config should own it"));
                        return false;
                    }
                };
                if !fields.is_empty() {
                    let reason = (action == Action::Adopt).then(|| {
                        "exists without an owner stamp: registrar takes it over".to_string()
                    });
                    self.changes.push(Change {
                        address,
                        action,
                        fields,
                        mints: false,
                        reason,
                        op: update,
                        precondition: Precondition::Absent,
                    });
                }
                true
            }
        }
    }

    fn prune_candidate(&self, attrs: &Attributes) -> bool {
        self.input.options.prune && matches!(ownership(attrs, self.owner()), Ownership::Owned)
    }

    fn developers(&mut self) {
        let actual: HashMap<&str, &Observed<Developer>> = self
            .input
            .actual
            .developers
            .iter()
            .map(|o| (o.value.email.as_str(), o))
            .collect();
        for want in &self.input.desired.developers {
            let have = actual.get(want.email.as_str()).copied();
            let mut fields = Vec::new();
            let empty = Attributes::new();
            let (before, before_attrs) = match have {
                Some(h) => (&h.value, &h.value.attributes),
                None => (want, &empty),
            };
            if have.is_none() {
                str_field(&mut fields, "email", "", &want.email);
            }
            str_field(
                &mut fields,
                "firstName",
                if have.is_some() {
                    &before.first_name
                } else {
                    ""
                },
                &want.first_name,
            );
            str_field(
                &mut fields,
                "lastName",
                if have.is_some() {
                    &before.last_name
                } else {
                    ""
                },
                &want.last_name,
            );
            str_field(
                &mut fields,
                "userName",
                if have.is_some() {
                    &before.user_name
                } else {
                    ""
                },
                &want.user_name,
            );
            attr_fields(&mut fields, before_attrs, &want.attributes);
            let address = Address::developer(&want.email);
            let ok = self.upsert(
                address.clone(),
                have,
                have.map(|h| &h.value.attributes),
                fields,
                Op::CreateDeveloper {
                    developer: want.clone(),
                },
                Op::UpdateDeveloper {
                    developer: want.clone(),
                },
            );
            let current = have
                .map(|h| h.value.status)
                .unwrap_or(DeveloperStatus::Active);
            if ok && current != want.status {
                let status = want.status;
                self.changes.push(Change {
                    address,
                    action: Action::SetStatus,
                    fields: vec![field("status", Some(json!(current)), Some(json!(status)))],
                    mints: false,
                    reason: None,
                    op: Op::SetDeveloperStatus {
                        email: want.email.clone(),
                        status,
                    },
                    precondition: Precondition::Absent,
                });
            }
        }
        let wanted: HashSet<&str> = self
            .input
            .desired
            .developers
            .iter()
            .map(|d| d.email.as_str())
            .collect();
        for have in &self.input.actual.developers {
            if wanted.contains(have.value.email.as_str())
                || !self.prune_candidate(&have.value.attributes)
            {
                continue;
            }
            let email = &have.value.email;
            // Deleting a developer deletes all its apps on the platform: never when some of
            // them are not ours.
            let foreign: Vec<&str> = self
                .input
                .actual
                .apps
                .iter()
                .filter(|a| {
                    a.value.developer == *email
                        && !matches!(
                            ownership(&a.value.attributes, self.owner()),
                            Ownership::Owned
                        )
                })
                .map(|a| a.value.name.as_str())
                .collect();
            if !foreign.is_empty() {
                let list = foreign
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                self.note(Address::developer(email), format!("not deleted: the platform would delete its apps too, and {list} are not owned by `{}`", self.owner()));
                continue;
            }
            self.deletes.push(Change {
                address: Address::developer(email),
                action: Action::Delete,
                fields: vec![],
                mints: false,
                reason: Some("owned, and no longer in the config (--prune)".into()),
                op: Op::DeleteDeveloper {
                    email: email.clone(),
                },
                precondition: Precondition::Absent,
            });
        }
    }

    fn products(&mut self) {
        let actual: HashMap<&str, &Observed<Product>> = self
            .input
            .actual
            .products
            .iter()
            .map(|o| (o.value.name.as_str(), o))
            .collect();
        for want in &self.input.desired.products {
            let have = actual.get(want.name.as_str()).copied();
            let blank = Product {
                name: want.name.clone(),
                display_name: String::new(),
                description: String::new(),
                approval_type: want.approval_type,
                environments: vec![],
                proxies: vec![],
                api_resources: vec![],
                scopes: vec![],
                quota: None,
                attributes: Attributes::new(),
            };
            let before = have.map(|h| &h.value).unwrap_or(&blank);
            let mut fields = Vec::new();
            if have.is_none() {
                str_field(&mut fields, "name", "", &want.name);
            }
            str_field(
                &mut fields,
                "displayName",
                &before.display_name,
                &want.display_name,
            );
            str_field(
                &mut fields,
                "description",
                &before.description,
                &want.description,
            );
            if have.is_none() || before.approval_type != want.approval_type {
                fields.push(field(
                    "approvalType",
                    have.map(|_| json!(before.approval_type)),
                    Some(json!(want.approval_type)),
                ));
            }
            list_field(
                &mut fields,
                "environments",
                &before.environments,
                &want.environments,
            );
            list_field(&mut fields, "proxies", &before.proxies, &want.proxies);
            list_field(
                &mut fields,
                "apiResources",
                &before.api_resources,
                &want.api_resources,
            );
            list_field(&mut fields, "scopes", &before.scopes, &want.scopes);
            if before.quota != want.quota {
                fields.push(field(
                    "quota",
                    before.quota.as_ref().map(|q| json!(q)),
                    want.quota.as_ref().map(|q| json!(q)),
                ));
            }
            attr_fields(&mut fields, &before.attributes, &want.attributes);
            self.upsert(
                Address::product(&want.name),
                have,
                have.map(|h| &h.value.attributes),
                fields,
                Op::CreateProduct {
                    product: want.clone(),
                },
                Op::UpdateProduct {
                    product: want.clone(),
                },
            );
        }
        let wanted: HashSet<&str> = self
            .input
            .desired
            .products
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        for have in &self.input.actual.products {
            if !wanted.contains(have.value.name.as_str())
                && self.prune_candidate(&have.value.attributes)
            {
                self.deletes.push(Change {
                    address: Address::product(&have.value.name),
                    action: Action::Delete,
                    fields: vec![],
                    mints: false,
                    reason: Some("owned, and no longer in the config (--prune)".into()),
                    op: Op::DeleteProduct {
                        name: have.value.name.clone(),
                    },
                    precondition: Precondition::Absent,
                });
            }
        }
    }

    fn apps(&mut self) {
        let actual: HashMap<(&str, &str), &Observed<App>> = self
            .input
            .actual
            .apps
            .iter()
            .map(|o| ((o.value.developer.as_str(), o.value.name.as_str()), o))
            .collect();
        let first_key: HashMap<(&str, &str), &DesiredKey> = {
            let mut m = HashMap::new();
            for k in &self.input.desired.keys {
                m.entry((k.developer.as_str(), k.app.as_str())).or_insert(k);
            }
            m
        };
        for want in &self.input.desired.apps {
            let have = actual
                .get(&(want.developer.as_str(), want.name.as_str()))
                .copied();
            let address = Address::app(&want.developer, &want.name);
            match have {
                None => {
                    let key = first_key.get(&(want.developer.as_str(), want.name.as_str()));
                    let mut fields = Vec::new();
                    str_field(&mut fields, "name", "", &want.name);
                    str_field(&mut fields, "callbackUrl", "", &want.callback_url);
                    attr_fields(&mut fields, &Attributes::new(), &want.attributes);
                    if want.status == Status::Revoked {
                        fields.push(field("status", None, Some(json!(want.status))));
                    }
                    let (credential, products, scopes, expiry) = match key {
                        Some(k) => (
                            k.id.clone(),
                            k.products.clone(),
                            k.scopes.clone(),
                            k.expires_in_ms,
                        ),
                        None => (
                            crate::model::DEFAULT_CREDENTIAL_ID.to_string(),
                            vec![],
                            vec![],
                            want.key_expires_in_ms,
                        ),
                    };
                    self.changes.push(Change {
                        address,
                        action: Action::Create,
                        fields,
                        mints: true,
                        reason: Some(format!(
                            "the platform mints key `{credential}` with the app"
                        )),
                        op: Op::CreateApp {
                            app: want.clone(),
                            credential,
                            products,
                            scopes,
                            key_expires_in_ms: expiry,
                        },
                        precondition: Precondition::Absent,
                    });
                }
                Some(h) => {
                    let mut fields = Vec::new();
                    str_field(
                        &mut fields,
                        "callbackUrl",
                        &h.value.callback_url,
                        &want.callback_url,
                    );
                    attr_fields(&mut fields, &h.value.attributes, &want.attributes);
                    let ok = self.upsert(
                        address.clone(),
                        Some(h),
                        Some(&h.value.attributes),
                        fields,
                        Op::UpdateApp { app: want.clone() },
                        Op::UpdateApp { app: want.clone() },
                    );
                    if ok && h.value.status != want.status {
                        let action = if want.status == Status::Revoked {
                            Action::Revoke
                        } else {
                            Action::SetStatus
                        };
                        self.changes.push(Change {
                            address,
                            action,
                            fields: vec![field(
                                "status",
                                Some(json!(h.value.status)),
                                Some(json!(want.status)),
                            )],
                            mints: false,
                            reason: None,
                            op: Op::SetAppStatus {
                                developer: want.developer.clone(),
                                app: want.name.clone(),
                                status: want.status,
                            },
                            precondition: Precondition::Absent,
                        });
                    }
                }
            }
        }
        let wanted: HashSet<(&str, &str)> = self
            .input
            .desired
            .apps
            .iter()
            .map(|a| (a.developer.as_str(), a.name.as_str()))
            .collect();
        for have in &self.input.actual.apps {
            let id = (have.value.developer.as_str(), have.value.name.as_str());
            if !wanted.contains(&id) && self.prune_candidate(&have.value.attributes) {
                self.deletes.push(Change {
                    address: Address::app(id.0, id.1),
                    action: Action::Delete,
                    fields: vec![],
                    mints: false,
                    reason: Some(
                        "owned, and no longer in the config (--prune); its keys go with it".into(),
                    ),
                    op: Op::DeleteApp {
                        developer: id.0.to_string(),
                        app: id.1.to_string(),
                    },
                    precondition: Precondition::Absent,
                });
            }
        }
    }
}

/// What stands at every address of `actual`: each resource's precondition as a saved plan
/// records it. `credentials` lists the declared (developer, app, credential id)s, which key
/// matching needs. Keys are addressed by credential id, retiring keys by `id@fingerprint`,
/// undeclared keys by fingerprint.
pub fn observe(
    actual: &Actual,
    stored: &[StoredKey],
    credentials: &[(&str, &str, &str)],
) -> HashMap<Address, Precondition> {
    let mut out = HashMap::with_capacity(
        actual.developers.len() + actual.products.len() + actual.apps.len() + actual.keys.len(),
    );
    for d in &actual.developers {
        out.insert(Address::developer(&d.value.email), unchanged(d));
    }
    for p in &actual.products {
        out.insert(Address::product(&p.value.name), unchanged(p));
    }
    for a in &actual.apps {
        out.insert(
            Address::app(&a.value.developer, &a.value.name),
            unchanged(a),
        );
    }
    for (address, k) in key_addresses(actual, stored, credentials) {
        out.insert(address, key_unchanged(k));
    }
    out
}

mod keys;

use keys::key_unchanged;
pub use keys::{key_addresses, key_fingerprint};

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
