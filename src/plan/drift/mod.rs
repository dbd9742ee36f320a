//! Drift: every difference between the config, the platform and the secrets store, with its
//! class (DESIGN.md "Drift"). Pure, like the diff: the classes follow from the plan and from
//! the `registrar-applied` stamp ([`stamp`]) apply writes on each developer, product and app.
//!
//! - `config`: the config changed since the last apply (the platform still holds what was
//!   applied), and every difference registrar cannot tell apart: creates, key changes, and
//!   resources without a stamp (applied before stamps existed, or adopted).
//! - `platform`: changed outside registrar (the config still says what was applied).
//! - `conflict`: both changed the field since the last apply, differently.
//! - `secret`: the store lacks a live key's secret, holds a key the platform no longer has,
//!   or holds another secret than the platform.
//! - `unmanaged`: a live key, or an app, under a managed parent that the config does not
//!   declare.
//! - `removed`: owned by this config, no longer declared (deleted only with `--prune`).
//!
//! [`report`] turns a plan into one [`Entry`] per address and class; `registrar drift`
//! prints it ([`render`]) and `registrar plan` shows its non-`config` entries in a section
//! of their own.

pub mod keys;
pub mod render;
pub mod stamp;

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Action, Address, Change, FieldChange, Note, Plan};
use crate::model::{
    Actual, App, Attributes, DesiredState, Developer, DeveloperStatus, Kind, OWNER_ATTRIBUTE,
    Status,
};
use crate::op::Op;
use stamp::Stamp;

/// Version of `registrar drift --format json`. Bumped on any incompatible change.
pub const DRIFT_FORMAT_VERSION: u32 = 1;

/// What kind of difference an entry is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[serde(rename_all = "kebab-case")]
pub enum DriftClass {
    /// The config changed since the last apply (the default where nothing says otherwise).
    #[default]
    Config,
    /// Changed on the platform, outside registrar.
    Platform,
    /// Changed in the config and, differently, on the platform.
    Conflict,
    /// A stored secret missing or no longer matching the platform.
    Secret,
    /// A live key or an app under a managed parent that the config does not declare.
    Unmanaged,
    /// Owned, no longer in the config.
    Removed,
}

impl DriftClass {
    /// Every class, in the order reports list them.
    pub const ALL: [DriftClass; 6] = [
        DriftClass::Config,
        DriftClass::Platform,
        DriftClass::Conflict,
        DriftClass::Secret,
        DriftClass::Unmanaged,
        DriftClass::Removed,
    ];

    /// The class's one spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftClass::Config => "config",
            DriftClass::Platform => "platform",
            DriftClass::Conflict => "conflict",
            DriftClass::Secret => "secret",
            DriftClass::Unmanaged => "unmanaged",
            DriftClass::Removed => "removed",
        }
    }

    /// What the class means, for people.
    pub fn meaning(self) -> &'static str {
        match self {
            DriftClass::Config => "the config changed since the last apply: apply makes it so",
            DriftClass::Platform => {
                "changed on the platform outside registrar: apply reverts it to the config"
            }
            DriftClass::Conflict => {
                "changed in the config and, differently, on the platform: apply writes the config's value"
            }
            DriftClass::Secret => {
                "the secrets store and the platform disagree about a key: apply stores what the platform holds"
            }
            DriftClass::Unmanaged => {
                "on the platform under a managed parent, not declared in the config: `--prune` removes keys; apps are left alone"
            }
            DriftClass::Removed => "owned by this config, no longer declared: `--prune` deletes it",
        }
    }
}

/// Finishes the diff's changes: stamps the resources that creates and updates write, and
/// classifies each field against the stamp on the platform (fields of resources without
/// one stay `config`); deletes of resources no longer declared are `removed`, removals of
/// undeclared keys `unmanaged`.
///
/// A status change (its own call, which writes no attribute) gets a [`Change::restamp`], sent
/// once it succeeded, so that the stamp records the status applied; an update of the same
/// resource in the plan stamps the status it finds, so a failed status call is not recorded
/// as applied.
pub(super) fn classify(changes: &mut [Change], actual: &Actual, desired: &DesiredState) {
    let mut attrs: HashMap<Address, &Attributes> = HashMap::new();
    for d in &actual.developers {
        attrs.insert(Address::developer(&d.value.email), &d.value.attributes);
    }
    for p in &actual.products {
        attrs.insert(Address::product(&p.value.name), &p.value.attributes);
    }
    for a in &actual.apps {
        attrs.insert(
            Address::app(&a.value.developer, &a.value.name),
            &a.value.attributes,
        );
    }
    // Statuses as they stand, for resources whose status the plan changes: an update sent
    // before the status call stamps the status it finds, and the status call's restamp (sent
    // only once it succeeded) records the new one. A failed status call so leaves a stamp
    // that still tells the pending change as `config`.
    let developer_status: HashMap<&str, DeveloperStatus> = actual
        .developers
        .iter()
        .map(|d| (d.value.email.as_str(), d.value.status))
        .collect();
    let app_status: HashMap<(&str, &str), Status> = actual
        .apps
        .iter()
        .map(|a| {
            (
                (a.value.developer.as_str(), a.value.name.as_str()),
                a.value.status,
            )
        })
        .collect();
    let status_changed: HashSet<Address> = changes
        .iter()
        .filter(|c| {
            matches!(
                *c.op,
                Op::SetDeveloperStatus { .. } | Op::SetAppStatus { .. }
            )
        })
        .map(|c| c.address.clone())
        .collect();
    let declared = Declared::new(desired);
    for c in changes.iter_mut() {
        let pending_status = status_changed.contains(&c.address);
        c.restamp = restamp(&c.op, &declared).map(Box::new);
        match &mut *c.op {
            Op::CreateDeveloper { developer } => stamp::stamp_developer(developer),
            Op::UpdateDeveloper { developer } => {
                let now = developer_status.get(developer.email.as_str()).copied();
                match now.filter(|_| pending_status) {
                    Some(now) => {
                        let mut as_found = developer.clone();
                        as_found.status = now;
                        stamp::stamp_developer(&mut as_found);
                        developer.attributes = as_found.attributes;
                    }
                    None => stamp::stamp_developer(developer),
                }
            }
            Op::CreateProduct { product } | Op::UpdateProduct { product } => {
                stamp::stamp_product(product)
            }
            Op::CreateApp { app, .. } => stamp::stamp_app(app),
            Op::UpdateApp { app } => {
                let key = (app.developer.as_str(), app.name.as_str());
                match app_status.get(&key).copied().filter(|_| pending_status) {
                    Some(now) => {
                        let mut as_found = app.clone();
                        as_found.status = now;
                        stamp::stamp_app(&mut as_found);
                        app.attributes = as_found.attributes;
                    }
                    None => stamp::stamp_app(app),
                }
            }
            _ => {}
        }
        let undeclared_key = c.address.key_id().is_some_and(|k| k.credential.is_none());
        if undeclared_key && matches!(c.action, Action::Delete | Action::Revoke) {
            c.class = Some(DriftClass::Unmanaged);
        } else if c.action == Action::Delete && c.address.kind() != Kind::Key {
            c.class = Some(DriftClass::Removed);
        }
        if let Some(stamp) = attrs.get(&c.address).and_then(|a| Stamp::of(a)) {
            for f in &mut c.fields {
                f.class = Some(stamp.classify(f));
            }
        }
    }
}

/// The declared developers and apps by identity, for [`restamp`]: a plan may change the
/// status of every resource, so each lookup must not scan the config.
struct Declared<'a> {
    developers: HashMap<&'a str, &'a Developer>,
    apps: HashMap<(&'a str, &'a str), &'a App>,
}

impl<'a> Declared<'a> {
    fn new(desired: &'a DesiredState) -> Declared<'a> {
        Declared {
            developers: desired
                .developers
                .iter()
                .map(|d| (d.email.as_str(), d))
                .collect(),
            apps: desired
                .apps
                .iter()
                .map(|a| ((a.developer.as_str(), a.name.as_str()), a))
                .collect(),
        }
    }
}

/// The stamped update that records a status change's result, for a status change.
fn restamp(op: &Op, declared: &Declared<'_>) -> Option<Op> {
    match op {
        Op::SetDeveloperStatus { email, .. } => {
            let mut developer = (*declared.developers.get(email.as_str())?).clone();
            stamp::stamp_developer(&mut developer);
            Some(Op::UpdateDeveloper { developer })
        }
        Op::SetAppStatus { developer, app, .. } => {
            let mut app = (*declared.apps.get(&(developer.as_str(), app.as_str()))?).clone();
            stamp::stamp_app(&mut app);
            Some(Op::UpdateApp { app })
        }
        _ => None,
    }
}

/// Resources owned by this config that it no longer declares and that the plan does not
/// delete (no `--prune`, or a developer whose apps are not all ours); and apps under a
/// declared developer that nobody owns (made by hand).
pub(super) fn undeclared(
    desired: &DesiredState,
    actual: &Actual,
    changes: &[Change],
) -> (Vec<Note>, Vec<Note>) {
    let deleted: HashSet<&Address> = changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| &c.address)
        .collect();
    let owner = desired.owner.as_str();
    let owned = |a: &Attributes| a.get(OWNER_ATTRIBUTE).is_some_and(|o| o == owner);
    let developers: HashSet<&str> = desired
        .developers
        .iter()
        .map(|d| d.email.as_str())
        .collect();
    let products: HashSet<&str> = desired.products.iter().map(|p| p.name.as_str()).collect();
    let apps: HashSet<(&str, &str)> = desired
        .apps
        .iter()
        .map(|a| (a.developer.as_str(), a.name.as_str()))
        .collect();
    let mut removed = Vec::new();
    let mut unmanaged = Vec::new();
    let why = "owned by this config and no longer declared: `--prune` deletes it";
    let mut gone = |address: Address| {
        if !deleted.contains(&address) {
            removed.push(Note {
                address,
                message: why.into(),
            });
        }
    };
    for d in &actual.developers {
        if owned(&d.value.attributes) && !developers.contains(d.value.email.as_str()) {
            gone(Address::developer(&d.value.email));
        }
    }
    for p in &actual.products {
        if owned(&p.value.attributes) && !products.contains(p.value.name.as_str()) {
            gone(Address::product(&p.value.name));
        }
    }
    for a in &actual.apps {
        let (dev, name) = (a.value.developer.as_str(), a.value.name.as_str());
        if apps.contains(&(dev, name)) {
            continue;
        }
        if owned(&a.value.attributes) {
            gone(Address::app(dev, name));
        } else if !a.value.attributes.contains_key(OWNER_ATTRIBUTE) && developers.contains(dev) {
            unmanaged.push(Note {
                address: Address::app(dev, name),
                message: "app (not declared in the config) under a developer this config manages: left alone".into(),
            });
        }
    }
    (removed, unmanaged)
}

/// One difference: a resource, its class, and what differs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    /// The resource.
    pub address: Address,
    /// Its class.
    pub class: DriftClass,
    /// What apply would do about it (none: apply leaves it, or only the store changes).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<Action>,
    /// Field-level before (the platform) and after (the config); never a secret.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldChange>,
    /// What, for people, where fields do not say it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// Counts per class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// `config` entries.
    pub config: usize,
    /// `platform` entries.
    pub platform: usize,
    /// `conflict` entries.
    pub conflict: usize,
    /// `secret` entries.
    pub secret: usize,
    /// `unmanaged` entries.
    pub unmanaged: usize,
    /// `removed` entries.
    pub removed: usize,
}

impl Summary {
    /// The count of one class.
    pub fn get(&self, class: DriftClass) -> usize {
        match class {
            DriftClass::Config => self.config,
            DriftClass::Platform => self.platform,
            DriftClass::Conflict => self.conflict,
            DriftClass::Secret => self.secret,
            DriftClass::Unmanaged => self.unmanaged,
            DriftClass::Removed => self.removed,
        }
    }

    fn add(&mut self, class: DriftClass) {
        *match class {
            DriftClass::Config => &mut self.config,
            DriftClass::Platform => &mut self.platform,
            DriftClass::Conflict => &mut self.conflict,
            DriftClass::Secret => &mut self.secret,
            DriftClass::Unmanaged => &mut self.unmanaged,
            DriftClass::Removed => &mut self.removed,
        } += 1;
    }

    /// Entries of every class but `config`.
    pub fn drifted(&self) -> usize {
        self.platform + self.conflict + self.secret + self.unmanaged + self.removed
    }
}

/// Every difference of a plan, classified.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// [`DRIFT_FORMAT_VERSION`].
    pub format_version: u32,
    /// registrar's version.
    pub registrar_version: String,
    /// The platform, as the backend describes itself.
    pub backend: String,
    /// The owner stamp of the config.
    pub owner: String,
    /// One entry per address and class, sorted by address, then class.
    pub entries: Vec<Entry>,
    /// Counts per class.
    pub summary: Summary,
}

impl Report {
    /// `registrar drift`'s exit code: 0 in sync, 2 when only `config` differences are
    /// pending, 3 when anything else drifted.
    pub fn exit_code(&self) -> u8 {
        if self.summary.drifted() > 0 {
            crate::error::EXIT_DRIFT
        } else if self.summary.config > 0 {
            crate::error::EXIT_CHANGES
        } else {
            crate::error::EXIT_OK
        }
    }
}

/// What one part of a plan adds to an entry (by index): an action, a field, a message.
type Touch = (usize, Option<Action>, Option<FieldChange>, Option<String>);

/// The classified differences of `plan`.
pub fn report(plan: &Plan) -> Report {
    report_of(plan, |_| true)
}

/// The classified differences of `plan` in the classes `keep` accepts: what is left out is
/// never built (a plan's text shows the drift of a large first apply, none of its `config`
/// entries, which would otherwise copy every change).
pub fn report_of(plan: &Plan, keep: impl Fn(DriftClass) -> bool) -> Report {
    let mut entries: Vec<Entry> = Vec::new();
    let mut at: HashMap<(Address, DriftClass), usize> = HashMap::new();
    let mut entry = |address: &Address, class: DriftClass| -> usize {
        *at.entry((address.clone(), class)).or_insert_with(|| {
            entries.push(Entry {
                address: address.clone(),
                class,
                actions: vec![],
                fields: vec![],
                message: None,
            });
            entries.len() - 1
        })
    };
    let mut touched: Vec<Touch> = Vec::new();
    for c in &plan.changes {
        let own = c.class.unwrap_or_default();
        if c.fields.is_empty() && keep(own) {
            touched.push((
                entry(&c.address, own),
                Some(c.action),
                None,
                c.reason.clone(),
            ));
        }
        for f in &c.fields {
            let class = f.class.unwrap_or(own);
            if !keep(class) {
                continue;
            }
            let field = FieldChange {
                class: None,
                ..f.clone()
            };
            touched.push((entry(&c.address, class), Some(c.action), Some(field), None));
        }
    }
    for s in plan.stores.iter().filter(|_| keep(DriftClass::Secret)) {
        let message = format!(
            "the platform's key {} is not in the secrets store: apply stores it",
            s.consumer_key_fingerprint
        );
        touched.push((
            entry(&s.address, DriftClass::Secret),
            None,
            None,
            Some(message),
        ));
    }
    let notes = [
        (&plan.secrets, DriftClass::Secret),
        (&plan.unmanaged, DriftClass::Unmanaged),
        (&plan.removed, DriftClass::Removed),
    ];
    for (list, class) in notes {
        if !keep(class) {
            continue;
        }
        for n in list {
            touched.push((
                entry(&n.address, class),
                None,
                None,
                Some(n.message.clone()),
            ));
        }
    }
    for (i, action, field, message) in touched {
        let e = &mut entries[i];
        if let Some(a) = action
            && !e.actions.contains(&a)
        {
            e.actions.push(a);
        }
        e.fields.extend(field);
        if let Some(m) = message {
            e.message = Some(match e.message.take() {
                Some(before) => format!("{before}; {m}"),
                None => m,
            });
        }
    }
    entries.sort_by_cached_key(|e| (e.address.to_string(), e.class));
    let mut summary = Summary::default();
    for e in &entries {
        summary.add(e.class);
    }
    Report {
        format_version: DRIFT_FORMAT_VERSION,
        registrar_version: plan.registrar_version.clone(),
        backend: plan.backend.clone(),
        owner: plan.owner.clone(),
        entries,
        summary,
    }
}

#[cfg(test)]
mod tests;
