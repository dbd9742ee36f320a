//! Plans: what apply would change. [`diff`] builds a [`Plan`] from desired and actual state
//! (pure: no I/O, no platform knowledge); [`render`] shows it as text, JSON or markdown;
//! [`planfile`] saves it with preconditions.
//!
//! A plan is plain serde data. Keys appear only by credential id and fingerprint.

pub mod diff;
pub mod drift;
pub mod matching;
pub mod planfile;
pub mod render;
pub mod select;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::model::{Address, Kind};
use crate::op::Op;
pub use drift::DriftClass;

/// Version of the plan's JSON format (`plan --format json`, `plan --out`). Bumped on any
/// incompatible change. 2: addresses and key references carry typed parts (`developer`,
/// `app`, `credential`, `fingerprint`) beside the `path`; operations carry whole credentials;
/// every field is camelCase. Fields added since without a bump (older readers ignore them,
/// older plans read without them): drift `class` on fields and changes, `removed`, `secrets`,
/// `restamp`, `keyStamps`, and the `drift` list of `plan --format json`.
pub const PLAN_FORMAT_VERSION: u32 = 2;

/// What a change does. A closed set; each maps to one backend [`Op`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Create a resource (for an app: the platform mints its first key).
    Create,
    /// Change fields of a resource this config owns.
    Update,
    /// Take over a resource that exists without an owner stamp (stamp it, and fix its fields).
    Adopt,
    /// Delete a resource (only owned ones, only with `--prune`, or a retired key).
    Delete,
    /// Activate/deactivate a developer, approve an app or key again.
    SetStatus,
    /// Mint a new key (credential) for an existing app.
    Mint,
    /// Grant a product to a key.
    AttachProduct,
    /// Remove a product from a key.
    DetachProduct,
    /// Replace a key's scopes.
    SetScopes,
    /// Revoke an app or a key.
    Revoke,
}

impl Action {
    /// The word shown in plans.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Adopt => "adopt",
            Action::Delete => "delete",
            Action::SetStatus => "set-status",
            Action::Mint => "mint",
            Action::AttachProduct => "attach-product",
            Action::DetachProduct => "detach-product",
            Action::SetScopes => "set-scopes",
            Action::Revoke => "revoke",
        }
    }
}

/// One field's before and after (`None`: absent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Field name as in the config (`callbackUrl`, `attributes.tier`, `status`).
    pub field: String,
    /// Value before.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub before: Option<Value>,
    /// Value after.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub after: Option<Value>,
    /// How the difference came about, where the resource's `registrar-applied` stamp tells
    /// ([`drift`]); absent: `config`, or the change's own class.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub class: Option<DriftClass>,
}

/// What must still hold when a saved plan is applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "expect",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Precondition {
    /// The resource must not exist.
    Absent,
    /// The resource must be as it was read: same last-modified time where the platform gives
    /// one, else the same fingerprint of its fields.
    Unchanged {
        /// Last-modified time (ms), if known.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        last_modified_at: Option<i64>,
        /// Truncated SHA-256 of the resource's fields.
        fingerprint: String,
    },
}

/// What a change does to live credentials, flagged loudly in every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "flag", rename_all = "kebab-case")]
pub enum Flag {
    /// Revokes a credential that works now (a key, or an app with live keys).
    RevokesLive {
        /// Live keys that stop working.
        keys: usize,
    },
    /// Deletes live credentials (a key, or an app or developer and their keys).
    DeletesLive {
        /// Live keys deleted.
        keys: usize,
    },
    /// Re-enables a credential someone revoked (an incident's revocation, say).
    ReEnables,
}

impl Flag {
    /// The words shown in plans.
    pub fn describe(self) -> String {
        let keys = |n: usize| format!("{n} live credential{}", if n == 1 { "" } else { "s" });
        match self {
            Flag::RevokesLive { keys: n } => format!("revokes {}", keys(n)),
            Flag::DeletesLive { keys: n } => format!("deletes {}", keys(n)),
            Flag::ReEnables => "re-enables a revoked credential".to_string(),
        }
    }
}

/// One change of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    /// The resource.
    pub address: Address,
    /// What happens to it.
    pub action: Action,
    /// Field-level before/after, for people.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub fields: Vec<FieldChange>,
    /// Whether this change mints a credential (a new client secret to distribute).
    #[serde(skip_serializing_if = "std::ops::Not::not", default)]
    pub mints: bool,
    /// What a reviewer must not miss about live credentials: revoked, deleted, re-enabled.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub flags: Vec<Flag>,
    /// Why, for people (never read by apply).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// The drift class of the whole change where it has one (`removed` for a pruned
    /// resource, `unmanaged` for an undeclared key's removal); fields carry their own.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub class: Option<DriftClass>,
    /// The operation apply executes. Boxed, as is `restamp`: a plan holds one change per
    /// resource (60,000 at 50,000 apps), and an operation inline would make each ~800 bytes
    /// whatever it does.
    pub op: Box<Op>,
    /// An update apply sends after `op` succeeds only to record what was applied in the
    /// `registrar-applied` stamp ([`drift::stamp`]): a status change is its own call, which
    /// does not write the stamp. It changes no field (the resource is written as it stands)
    /// and is not shown; if it fails, apply warns and the stamp stays as it was.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub restamp: Option<Box<Op>>,
    /// What apply of a saved plan re-checks first.
    pub precondition: Precondition,
}

impl Change {
    /// A change to `address`. Its precondition is filled in by the diff once everything has
    /// been compared; whether it mints a credential follows from the operation.
    pub fn new(
        address: Address,
        action: Action,
        mut fields: Vec<FieldChange>,
        reason: Option<String>,
        op: Op,
    ) -> Change {
        // Kept for the whole run, one per change: no room to grow.
        fields.shrink_to_fit();
        Change {
            mints: matches!(op, Op::CreateApp { .. } | Op::MintKey { .. }),
            flags: Vec::new(),
            class: None,
            restamp: None,
            address,
            action,
            fields,
            reason,
            op: Box::new(op),
            precondition: Precondition::Absent,
        }
    }
}

/// Something the plan wants a person to know: immutable fields, undeclared keys, drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// The resource.
    pub address: Address,
    /// What.
    pub message: String,
}

/// A key on the platform whose secret the secrets store lacks (an interrupted apply, a key
/// made elsewhere, a secret changed out of band): apply stores it. Nothing changes on the
/// platform, but the store does, so it counts as a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretToStore {
    /// The key, by credential id.
    pub address: Address,
    /// Fingerprint of the key's consumer key.
    pub consumer_key_fingerprint: String,
}

/// A plan: ordered changes plus notes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// [`PLAN_FORMAT_VERSION`].
    pub format_version: u32,
    /// registrar's version.
    pub registrar_version: String,
    /// The platform, as the backend describes itself.
    pub backend: String,
    /// The owner stamp of the config.
    pub owner: String,
    /// Changes, in apply order.
    pub changes: Vec<Change>,
    /// Secrets apply stores without changing the platform.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub stores: Vec<SecretToStore>,
    /// Live keys on apps this config owns that it does not declare (without `--prune`):
    /// drift apply leaves alone, which `--prune` revokes and deletes; and apps nobody owns
    /// under developers this config declares.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub unmanaged: Vec<Note>,
    /// Resources this config owns and no longer declares, left alone without `--prune`.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub removed: Vec<Note>,
    /// Where the secrets store and the platform disagree: stored keys the platform no longer
    /// has, secrets changed on the platform.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub secrets: Vec<Note>,
    /// Notes.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<Note>,
    /// The stamps apply records for the credentials it changes (in the secrets store).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub key_stamps: Vec<drift::keys::KeyStamp>,
}

impl Plan {
    /// Whether the plan changes anything: the platform, or the secrets store.
    pub fn has_changes(&self) -> bool {
        !self.changes.is_empty() || !self.stores.is_empty()
    }

    /// Whether the platform and the store differ from the config in any way: changes,
    /// unmanaged keys or apps, removed resources, secrets out of step (what
    /// `plan --detailed-exitcode` reports with 2).
    pub fn differs(&self) -> bool {
        self.has_changes()
            || !self.unmanaged.is_empty()
            || !self.removed.is_empty()
            || !self.secrets.is_empty()
    }

    /// Counts per action group: (create/mint, update-like, delete).
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for ch in &self.changes {
            match ch.action {
                Action::Create | Action::Mint => c.create += 1,
                Action::Delete => c.delete += 1,
                _ => c.change += 1,
            }
            if ch.mints {
                c.mints += 1;
            }
            for f in &ch.flags {
                match *f {
                    Flag::RevokesLive { keys } => c.revokes += keys,
                    Flag::DeletesLive { keys } => c.deletes_live += keys,
                    Flag::ReEnables => c.re_enables += 1,
                }
            }
        }
        c.store = self.stores.len();
        c.unmanaged = self
            .unmanaged
            .iter()
            .filter(|n| n.address.kind() == Kind::Key)
            .count();
        c.unmanaged_apps = self.unmanaged.len() - c.unmanaged;
        c.removed = self.removed.len();
        c.secrets = self.secrets.len();
        c
    }
}

/// Change counts for summaries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Creates and mints.
    pub create: usize,
    /// Updates, adoptions, status and key changes.
    pub change: usize,
    /// Deletes.
    pub delete: usize,
    /// Changes that mint a credential.
    pub mints: usize,
    /// Live credentials revoked (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub revokes: usize,
    /// Live credentials deleted (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub deletes_live: usize,
    /// Revoked credentials re-enabled (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub re_enables: usize,
    /// Secrets to store (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub store: usize,
    /// Unmanaged live keys (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub unmanaged: usize,
    /// Unmanaged apps under managed developers (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub unmanaged_apps: usize,
    /// Owned resources no longer declared, kept without `--prune` (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub removed: usize,
    /// Keys the store and the platform disagree on (omitted from JSON when 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub secrets: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
