//! The diff: desired × actual × options → [`Plan`]. Pure: no I/O, no platform knowledge. One
//! file per kind (`developers`, `products`, `apps`, `keys`); each emits
//! platform-neutral [`Op`]s through [`Change::new`].
//!
//! Order of the changes is the order apply runs them in: [`KIND_LEVELS`] from the first
//! level, then deletes from the last level back.

mod apps;
mod developers;
mod groups;
mod keys;
mod products;

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use serde_json::{Value, json};

use super::matching::{Declared, KeyMatch};
use super::select::Selector;
use super::{
    Action, Address, Change, FieldChange, Flag, Note, PLAN_FORMAT_VERSION, Plan, Precondition,
};
use crate::model::{
    APPLIED_ATTRIBUTE, Actual, Attributes, DesiredState, KIND_LEVELS, Key, OWNER_ATTRIBUTE,
    Observed, fingerprint,
};
use crate::op::Op;
use crate::secrets::index::RotationRequest;

pub use keys::key_fingerprint;

/// Options of a plan.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Delete owned resources the config no longer declares.
    pub prune: bool,
    /// Refuse a plan with more deletes than this.
    pub max_deletes: Option<usize>,
    /// Keep only changes whose address one of these patterns matches ([`super::select`]).
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
    /// How the actual keys line up with the declared credentials.
    pub keys: &'a KeyMatch<'a>,
    /// Pending rotations.
    pub rotations: &'a [RotationRequest],
    /// The backend's description, for the plan header.
    pub backend: &'a str,
    /// The stamps of keys recorded by earlier applies, by consumer key fingerprint
    /// ([`crate::secrets::applied`]).
    pub applied_keys: &'a std::collections::BTreeMap<String, String>,
    /// Options.
    pub options: &'a Options,
}

/// Why no plan could be made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    /// Resources the config declares belong to another owner.
    #[error("{} resource(s) this config declares are owned by someone else:\n{}", .0.len(), .0.join("\n"))]
    Conflicts(Vec<String>),
    /// `--select` patterns that match no resource of the config or the platform.
    #[error("`--select` matches nothing: {}", .0.iter().map(|p| format!("`{p}`")).collect::<Vec<_>>().join(", "))]
    SelectsNothing(Vec<String>),
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

/// The declared credentials of a desired state, for [`KeyMatch::new`].
pub fn declared(desired: &DesiredState) -> Vec<Declared> {
    desired
        .keys
        .iter()
        .map(|k| Declared {
            app: crate::model::AppId::new(&k.developer, &k.app),
            id: k.id.clone(),
        })
        .collect()
}

/// Builds the plan.
pub fn diff(input: Input<'_>) -> Result<Plan, DiffError> {
    // Room for a change per declared resource (a first apply), so that the list of a large
    // plan is not copied as it grows.
    let declared =
        input.desired.developers.len() + input.desired.products.len() + input.desired.apps.len();
    let mut d = Differ {
        input,
        changes: Vec::with_capacity(declared),
        deletes: Vec::new(),
        notes: Vec::new(),
        unmanaged: Vec::new(),
        conflicts: Vec::new(),
    };
    d.developers();
    d.products();
    d.apps();
    d.keys();
    d.group_apps();
    let Differ {
        mut changes,
        mut deletes,
        mut notes,
        mut unmanaged,
        conflicts,
        ..
    } = d;
    if !conflicts.is_empty() {
        return Err(DiffError::Conflicts(conflicts));
    }
    super::drift::classify(&mut changes, input.actual, input.desired);
    super::drift::classify(&mut deletes, input.actual, input.desired);
    let key_stamps = super::drift::keys::classify_keys(
        &mut changes,
        &input.desired.keys,
        input.keys,
        input.applied_keys,
    );
    let (mut removed, apps_unmanaged) =
        super::drift::undeclared(input.desired, input.actual, &deletes);
    unmanaged.extend(apps_unmanaged);
    let observed = observe(input.actual, input.keys);
    for c in changes.iter_mut().chain(deletes.iter_mut()) {
        c.precondition = observed
            .get(&c.address)
            .cloned()
            .unwrap_or(Precondition::Absent);
    }
    // Creates and updates run level by level; deletes last, most dependent first. The kinds
    // are diffed in level order, so this is mostly sorted already: a stable sort would still
    // allocate scratch for half the changes (24 MB at 60,000), so it only runs when needed.
    let level = |c: &Change| c.address.kind().level();
    if !changes.is_sorted_by_key(level) {
        changes.sort_by_key(level);
    }
    let reverse = |c: &Change| KIND_LEVELS.len() - c.address.kind().level();
    if !deletes.is_sorted_by_key(reverse) {
        deletes.sort_by_key(reverse);
    }
    changes.extend(deletes);
    let opts = input.options;
    if !opts.select.is_empty() {
        let selectors: Vec<Selector> = opts.select.iter().map(|s| Selector::parse(s)).collect();
        let known = known_addresses(input, &observed);
        let unmatched: Vec<String> = selectors
            .iter()
            .filter(|s| !known.iter().any(|a| s.matches(a)))
            .map(|s| s.pattern.clone())
            .collect();
        if !unmatched.is_empty() {
            return Err(DiffError::SelectsNothing(unmatched));
        }
        let keep = |a: &Address| selectors.iter().any(|s| s.matches(a));
        changes.retain(|c| keep(&c.address));
        notes.retain(|n| keep(&n.address));
        unmanaged.retain(|n| keep(&n.address));
        removed.retain(|n| keep(&n.address));
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
        stores: Vec::new(),
        unmanaged,
        removed,
        secrets: Vec::new(),
        notes,
        key_stamps,
    })
}

/// Every address the config declares or the platform holds (what `--select` may name).
fn known_addresses(input: Input<'_>, observed: &HashMap<Address, Precondition>) -> Vec<Address> {
    let d = input.desired;
    let mut out: Vec<Address> = observed.keys().cloned().collect();
    out.extend(d.developers.iter().map(|x| Address::developer(&x.email)));
    out.extend(d.products.iter().map(|x| Address::product(&x.name)));
    out.extend(d.apps.iter().map(|x| Address::app(&x.developer, &x.name)));
    out.extend(
        d.keys
            .iter()
            .map(|k| Address::credential(&k.developer, &k.app, &k.id)),
    );
    out
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

fn key_unchanged(k: &Key) -> Precondition {
    Precondition::Unchanged {
        last_modified_at: None,
        fingerprint: key_fingerprint(k),
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
        class: None,
    }
}

/// A text field's change, if it changed; empty text counts as absent.
fn str_field(fields: &mut Vec<FieldChange>, name: &str, before: &str, after: &str) {
    if before != after {
        let v = |s: &str| (!s.is_empty()).then(|| Value::String(s.to_string()));
        fields.push(field(name, v(before), v(after)));
    }
}

/// A list field's change, if it changed as a set; an empty list counts as absent.
fn list_field(fields: &mut Vec<FieldChange>, name: &str, before: &[String], after: &[String]) {
    if sorted(before) != sorted(after) {
        let v = |l: &[String]| (!l.is_empty()).then(|| json!(l));
        fields.push(field(name, v(before), v(after)));
    }
}

/// One change per attribute that differs, as `attributes.NAME`.
fn attr_fields(fields: &mut Vec<FieldChange>, before: &Attributes, after: &Attributes) {
    // The applied stamp is registrar's record of the last apply, never a difference.
    let names: BTreeSet<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|n| *n != APPLIED_ATTRIBUTE)
        .collect();
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
    unmanaged: Vec<Note>,
    conflicts: Vec<String>,
}

impl Differ<'_> {
    fn owner(&self) -> &str {
        &self.input.desired.owner
    }

    fn note(&mut self, address: Address, message: String) {
        self.notes.push(Note { address, message });
    }

    /// Create/update/adopt for one resource; returns false on a conflict. `have` is the
    /// resource's attributes when it exists. (Preconditions of all changes are filled in at
    /// the end, from [`observe`].)
    fn upsert(
        &mut self,
        address: Address,
        have: Option<&Attributes>,
        fields: Vec<FieldChange>,
        create: Op,
        update: Op,
    ) -> bool {
        let Some(attrs) = have else {
            self.changes
                .push(Change::new(address, Action::Create, fields, None, create));
            return true;
        };
        let action = match ownership(attrs, self.owner()) {
            Ownership::Owned => Action::Update,
            Ownership::Unowned => Action::Adopt,
            Ownership::Other(o) => {
                self.conflicts.push(format!("  {address} is owned by `{o}` (attribute `{OWNER_ATTRIBUTE}`): remove it from this config, or change that attribute if this config should own it"));
                return false;
            }
        };
        if !fields.is_empty() {
            let reason = (action == Action::Adopt)
                .then(|| "exists without an owner stamp: registrar takes it over".to_string());
            self.changes
                .push(Change::new(address, action, fields, reason, update));
        }
        true
    }

    /// Whether `--prune` deletes a resource with these attributes (if undeclared).
    fn prune_candidate(&self, attrs: &Attributes) -> bool {
        self.input.options.prune && matches!(ownership(attrs, self.owner()), Ownership::Owned)
    }

    /// Queues the delete of an owned resource the config no longer declares.
    fn prune(&mut self, address: Address, reason: &str, op: Op) {
        let live = match &op {
            Op::DeleteApp { developer, app } => self.live_keys(developer, Some(app)),
            Op::DeleteDeveloper { email } => self.live_keys(email, None),
            _ => 0,
        };
        let mut change = Change::new(
            address,
            Action::Delete,
            vec![],
            Some(reason.to_string()),
            op,
        );
        if live > 0 {
            change.flags.push(Flag::DeletesLive { keys: live });
        }
        self.deletes.push(change);
    }

    /// Approved keys on the platform of a developer (of one of its apps).
    fn live_keys(&self, developer: &str, app: Option<&str>) -> usize {
        self.input
            .actual
            .keys
            .iter()
            .filter(|k| {
                k.developer == developer
                    && app.is_none_or(|a| k.app == a)
                    && k.status == crate::model::Status::Approved
            })
            .count()
    }

    /// Flags the change just queued.
    fn flag_last(&mut self, flag: Flag) {
        if let Some(c) = self.changes.last_mut() {
            c.flags.push(flag);
        }
    }
}

/// What stands at every address of `actual`: each resource's precondition as a saved plan
/// records it. Keys are addressed through `keys` (see [`KeyMatch::addresses`]).
pub fn observe(actual: &Actual, keys: &KeyMatch<'_>) -> HashMap<Address, Precondition> {
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
    for (address, k) in keys.addresses() {
        out.insert(address, key_unchanged(k));
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
