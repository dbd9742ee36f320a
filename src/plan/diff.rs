//! The diff: desired × actual × options → [`Plan`]. Pure: no I/O, no platform knowledge.
//!
//! Order of the changes is the order apply runs them in: developers and products, then apps,
//! then keys; deletes last, in reverse (keys, apps, then developers and products).

use std::collections::{BTreeMap, HashMap, HashSet};

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

    fn keys(&mut self) {
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
                                humantime::format_duration(std::time::Duration::from_millis(
                                    rot.overlap_ms
                                ))
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
                let key = key_ref(k, fp_id(k));
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
                        address,
                        action: Action::Delete,
                        fields: vec![],
                        mints: false,
                        reason: Some("not declared in the config (--prune)".into()),
                        op: Op::DeleteKey {
                            key: key_ref(k, fp_id(k)),
                        },
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
                        json!(
                            humantime::format_duration(std::time::Duration::from_millis(ms))
                                .to_string()
                        )
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
                    humantime::format_duration(std::time::Duration::from_millis(ms.max(0) as u64))
                        .to_string()
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

fn fp_id(k: &Key) -> String {
    k.consumer_key.fingerprint()
}

fn key_ref(k: &Key, id: String) -> KeyRef {
    KeyRef {
        developer: k.developer.clone(),
        app: k.app.clone(),
        id,
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

fn key_unchanged(k: &Key) -> Precondition {
    Precondition::Unchanged {
        last_modified_at: None,
        fingerprint: key_fingerprint(k),
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
    for ((dev, app), keys) in keys_by_app {
        let ids = ids_by_app.get(&(dev, app)).cloned().unwrap_or_default();
        let m = match_keys(&ids, &keys, &stored_by_fp);
        for (id, k) in ids.iter().zip(&m.current) {
            if let Some(k) = k {
                out.insert(Address::key(dev, app, id), key_unchanged(k));
            }
        }
        for (k, _) in &m.retiring {
            out.insert(retiring_address(k, &stored_by_fp), key_unchanged(k));
        }
        for k in &m.undeclared {
            out.insert(
                Address::key(dev, app, &k.consumer_key.fingerprint()),
                key_unchanged(k),
            );
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

#[cfg(test)]
#[path = "diff_tests.rs"]
mod tests;
