//! The apaleo plan: the config's clients × what a person confirmed as applied (the record)
//! × what the token endpoint proved of the stored secrets → per client an action, a report
//! per field (verified on the platform, or declared-only), and the dashboard steps.
//! Pure: no I/O.

use std::collections::BTreeSet;

use serde::Serialize;

use super::steps::{Step, StepAction};
use crate::model::apaleo::{
    Client, ClientKind, Field, Rotation, SecretCheck, SecretDecl, StoredSecret,
};

/// Version of the JSON plan. 2: `problems` are objects (`kind`, `message`), the actions
/// `confirm` and `unverified`, the step `confirm-client`, `summary.unverified`.
pub const PLAN_VERSION: u32 = 2;

/// What the plan does to a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Register it: it is neither recorded nor does any stored secret work.
    Create,
    /// Change it: fields, scopes or secrets differ from the record.
    Update,
    /// Delete it (`--prune`): recorded, no longer declared.
    Delete,
    /// Verification failed: what exists is not what was confirmed.
    Drift,
    /// Verification proves it, but fields apaleo cannot read back (name, logo, redirect
    /// URIs, pii) were never confirmed by a person: a step asks for that. Apply records what
    /// verification proved at once, the rest once confirmed.
    Confirm,
    /// Secrets are stored but could not be checked (no identity to decrypt them): nothing
    /// is known of the client beyond the record.
    Unverified,
    /// Nothing to do.
    InSync,
}

impl Action {
    /// Whether the plan differs from a verified sync on this client (`--detailed-exitcode`
    /// exits 2): anything but [`Action::InSync`].
    pub fn is_change(self) -> bool {
        self != Action::InSync
    }
}

/// What a problem found by verification is about: the drift class it falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProblemKind {
    /// A stored secret is refused or not the client's: the store and apaleo disagree.
    Secret,
    /// The client in apaleo differs from what was applied (a scope, the account, the kind).
    Platform,
}

/// A problem verification found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What it is about.
    pub kind: ProblemKind,
    /// What, for people.
    pub message: String,
}

impl Problem {
    fn secret(message: String) -> Problem {
        Problem {
            kind: ProblemKind::Secret,
            message,
        }
    }

    fn platform(message: String) -> Problem {
        Problem {
            kind: ProblemKind::Platform,
            message,
        }
    }
}

/// How the plan knows a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Proof {
    /// A token request proved it.
    Verified,
    /// A token request disproved it.
    Failed,
    /// It could be verified, but was not (no stored secret, no identity).
    Unchecked,
    /// apaleo cannot read it back: the config and the record are all registrar knows.
    DeclaredOnly,
}

/// One field of a client, and how the plan knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldReport {
    /// The field.
    pub field: Field,
    /// How it is known.
    pub proof: Proof,
    /// What was found, for people.
    pub detail: String,
}

/// The plan of one client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientPlan {
    /// The client code.
    pub code: String,
    /// Connect or simple.
    pub kind: ClientKind,
    /// What happens to it.
    pub action: Action,
    /// Per field: verified or declared-only.
    pub fields: Vec<FieldReport>,
    /// The stored secrets and what verifying each found.
    pub secrets: Vec<StoredSecret>,
    /// What verification found wrong (drift).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
    /// The dashboard steps.
    pub steps: Vec<Step>,
    /// The client as it will be recorded once its steps are done (absent for deletes).
    #[serde(skip)]
    pub desired: Option<Client>,
    /// What apply records without asking anyone (an unrecorded client verification
    /// proves): only what verification proved; the fields it cannot see are listed as
    /// unconfirmed.
    #[serde(skip)]
    pub record: Option<Client>,
}

/// The whole apaleo plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// [`PLAN_VERSION`].
    pub version: u32,
    /// `apaleo`.
    pub backend: &'static str,
    /// The account code.
    pub account: String,
    /// The token endpoint verification used.
    pub token_endpoint: String,
    /// Why nothing could be verified, if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unverified: Option<String>,
    /// Per client, in config order (then recorded clients no longer declared).
    pub clients: Vec<ClientPlan>,
    /// Things people should know that change nothing.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Codes of recorded clients the config no longer declares that the plan does not
    /// delete (no `--prune`): each has a note.
    #[serde(skip)]
    pub undeclared: Vec<String>,
    /// Counts.
    pub summary: Summary,
}

/// Counts of a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    /// Clients to create.
    pub create: usize,
    /// Clients to update.
    pub update: usize,
    /// Clients to delete.
    pub delete: usize,
    /// Clients with failed verification.
    pub drift: usize,
    /// Clients proven, with fields awaiting a person's confirmation.
    pub confirm: usize,
    /// Clients whose stored secrets could not be checked (no identity).
    pub unverified: usize,
    /// Clients in sync.
    pub in_sync: usize,
    /// Manual steps.
    pub steps: usize,
}

impl Plan {
    /// Whether the plan differs from a verified sync (`--detailed-exitcode` exits 2):
    /// steps for a person, drift, or clients left unverified.
    pub fn has_changes(&self) -> bool {
        self.clients.iter().any(|c| c.action.is_change())
    }

    /// Whether a person has anything to do (apply's checklist is not empty).
    pub fn has_steps(&self) -> bool {
        self.summary.steps > 0
    }

    /// Every step, in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.clients.iter().flat_map(|c| c.steps.iter())
    }
}

/// What the plan is made from.
#[derive(Debug, Clone, Copy)]
pub struct Input<'a> {
    /// The account code.
    pub account: &'a str,
    /// The token endpoint, for the header.
    pub token_endpoint: &'a str,
    /// The config's clients.
    pub desired: &'a [Client],
    /// What a person confirmed as applied.
    pub recorded: &'a [Client],
    /// The stored secrets of this account, with their checks.
    pub stored: &'a [StoredSecret],
    /// Pending rotations.
    pub rotations: &'a [Rotation],
    /// Why secrets were not checked (no identity), if so.
    pub unverified: Option<&'a str>,
    /// Plan deleting recorded clients the config no longer declares.
    pub prune: bool,
    /// Now, milliseconds since the epoch.
    pub now_ms: i64,
}

/// Makes the plan.
pub fn plan(input: Input<'_>) -> Plan {
    let mut clients = Vec::new();
    let mut notes = Vec::new();
    let mut undeclared = Vec::new();
    for d in input.desired {
        let r = input.recorded.iter().find(|r| r.code == d.code);
        clients.push(plan_client(&input, d, r));
    }
    for r in input.recorded {
        if input.desired.iter().any(|d| d.code == r.code) {
            continue;
        }
        if input.prune {
            clients.push(ClientPlan {
                code: r.code.clone(),
                kind: r.kind,
                action: Action::Delete,
                fields: vec![],
                secrets: secrets_of(&input, &r.code),
                problems: vec![],
                steps: vec![step(
                    r.kind,
                    &r.code,
                    StepAction::DeleteClient {
                        code: r.code.clone(),
                    },
                )],
                desired: None,
                record: None,
            });
        } else {
            undeclared.push(r.code.clone());
            notes.push(format!(
                "client `{}` is recorded as applied but no longer declared: `--prune` plans deleting it",
                r.code
            ));
        }
    }
    let mut n = 0;
    let mut summary = Summary::default();
    for c in &mut clients {
        for s in &mut c.steps {
            n += 1;
            s.number = n;
        }
        match c.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Delete => summary.delete += 1,
            Action::Drift => summary.drift += 1,
            Action::Confirm => summary.confirm += 1,
            Action::Unverified => summary.unverified += 1,
            Action::InSync => summary.in_sync += 1,
        }
    }
    summary.steps = n;
    Plan {
        version: PLAN_VERSION,
        backend: "apaleo",
        account: input.account.to_string(),
        token_endpoint: input.token_endpoint.to_string(),
        unverified: input.unverified.map(str::to_string),
        clients,
        notes,
        undeclared,
        summary,
    }
}

fn step(kind: ClientKind, code: &str, action: StepAction) -> Step {
    Step {
        number: 0,
        client: code.to_string(),
        instructions: action.instructions(kind),
        action,
    }
}

fn secrets_of(input: &Input<'_>, code: &str) -> Vec<StoredSecret> {
    input
        .stored
        .iter()
        .filter(|s| s.code == code)
        .cloned()
        .collect()
}

/// RFC 3339 (seconds) of a time in milliseconds since the epoch.
pub fn rfc3339(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// `<description> (rotated YYYY-MM-DD)`: how the new secret of a rotation is told apart.
pub fn rotated_description(description: &str, now_ms: i64) -> String {
    let base = match description.find(" (rotated ") {
        Some(i) => &description[..i],
        None => description,
    };
    let day: String = rfc3339(now_ms).chars().take(10).collect();
    format!("{base} (rotated {day})")
}

/// The `AddSecret` step of declared secret `s` of `d`.
fn add_secret(d: &Client, s: &SecretDecl, replaces: bool) -> StepAction {
    StepAction::AddSecret {
        code: d.code.clone(),
        secret_id: s.id.clone(),
        description: s.description.clone(),
        replaces,
        rotation: false,
    }
}

/// The declared values of `fields` of `d`, as a step asking a person to confirm them.
fn confirm_step(d: &Client, fields: &[Field]) -> StepAction {
    let has = |f: Field| fields.contains(&f);
    StepAction::ConfirmClient {
        code: d.code.clone(),
        name: has(Field::Name).then(|| d.name.clone()),
        logo_url: has(Field::LogoUrl).then(|| d.logo_url.clone().unwrap_or_default()),
        redirect_uris: has(Field::RedirectUris).then(|| d.redirect_uris.clone()),
        pii: has(Field::Pii).then_some(d.pii.unwrap_or(false)),
        scopes: has(Field::Scopes).then(|| d.scopes.clone()),
    }
}

/// Whether every stored secret of a client verifies (a retiring one that apaleo refuses
/// after its overlap, deleted as asked, aside): what "verification proves the client"
/// means for one nobody recorded.
pub fn all_verify(secrets: &[StoredSecret], now_ms: i64) -> bool {
    let counted: Vec<&StoredSecret> = secrets
        .iter()
        .filter(|s| !(s.overlap_over(now_ms) && s.check == Some(SecretCheck::Refused)))
        .collect();
    !counted.is_empty() && counted.iter().all(|s| s.works())
}

/// What verification proved of an unrecorded client `d`: the client, the secrets that
/// verify, and (simple clients) the scopes a token carried; every other field is taken
/// from the config but listed as unconfirmed.
fn proven_record(d: &Client, secrets: &[StoredSecret]) -> Client {
    let mut unconfirmed = d.declared_only();
    if d.kind == ClientKind::Simple && !d.identity_scopes().is_empty() {
        unconfirmed.push(Field::Scopes);
    }
    Client {
        secrets: d
            .secrets
            .iter()
            .filter(|s| {
                secrets
                    .iter()
                    .any(|x| !x.retiring && x.id == s.id && x.works())
            })
            .cloned()
            .collect(),
        unconfirmed,
        ..d.clone()
    }
}

fn plan_client(input: &Input<'_>, d: &Client, r: Option<&Client>) -> ClientPlan {
    let secrets = secrets_of(input, &d.code);
    let active: Vec<&StoredSecret> = secrets.iter().filter(|s| !s.retiring).collect();
    let works_any = secrets.iter().any(StoredSecret::works);
    let works_all = all_verify(&secrets, input.now_ms);
    let refused: Vec<&StoredSecret> = active
        .iter()
        .copied()
        .filter(|s| s.check == Some(SecretCheck::Refused))
        .collect();
    let mut missing_scopes: BTreeSet<String> = BTreeSet::new();
    let mut granted: Option<(&[String], Option<&str>)> = None;
    for s in &active {
        match &s.check {
            Some(SecretCheck::MissingScopes { scopes }) => {
                missing_scopes.extend(scopes.iter().cloned())
            }
            Some(SecretCheck::Granted { scopes, account }) => {
                granted = Some((scopes, account.as_deref()))
            }
            _ => {}
        }
    }
    let mut problems = Vec::new();
    for s in &secrets {
        let old = if s.retiring { " (old)" } else { "" };
        match &s.check {
            Some(SecretCheck::Unexpected { detail }) => {
                problems.push(Problem::platform(format!(
                    "secret `{}`{old}: the token endpoint answered {detail}",
                    s.id
                )))
            }
            Some(SecretCheck::StoredForAnother) => problems.push(Problem::secret(format!(
                "secret `{}`{old} is stored with another client id than `{}` (pasted for another client?): store the secret of `{}`",
                s.id, d.code, d.code
            ))),
            _ => {}
        }
    }
    let mut steps = Vec::new();
    let kind = d.kind;
    let add = |steps: &mut Vec<Step>, a: StepAction| steps.push(step(kind, &d.code, a));
    // A stored secret that could not be checked (no identity) was pasted after the checklist
    // was followed: the client is taken to exist, unverified.
    let unchecked = secrets.iter().any(|s| s.check.is_none());
    let exists = r.is_some() || works_any || unchecked;
    if !exists {
        for s in &refused {
            problems.push(Problem::secret(format!(
                "stored secret `{}` is refused (invalid_client): no client `{}` has it",
                s.id, d.code
            )));
        }
        add(&mut steps, StepAction::create(d, false));
        for s in &d.secrets {
            add(
                &mut steps,
                add_secret(d, s, active.iter().any(|a| a.id == s.id)),
            );
        }
    } else {
        let base = r.unwrap_or(d);
        if base.kind != d.kind {
            add(
                &mut steps,
                StepAction::DeleteClient {
                    code: d.code.clone(),
                },
            );
            add(&mut steps, StepAction::create(d, false));
            for s in &d.secrets {
                add(&mut steps, add_secret(d, s, true));
            }
        } else {
            let all_refused = !works_any && !refused.is_empty();
            if all_refused {
                let problem = format!(
                    "every stored secret of `{}` is refused (invalid_client): the stored secret is wrong, or it was deleted in the dashboard, or the client was",
                    d.code
                );
                problems.push(Problem::secret(problem.clone()));
                add(
                    &mut steps,
                    StepAction::CheckClient {
                        code: d.code.clone(),
                        problem,
                    },
                );
                add(&mut steps, StepAction::create(d, true));
            }
            // Fields nobody confirmed (taken from the config when verification proved the
            // client): a confirm step shows the declared values instead of an edit.
            let unconfirmed: Vec<Field> = match r {
                Some(r) => r.unconfirmed.clone(),
                None if works_all => proven_record(d, &secrets).unconfirmed,
                None => vec![],
            };
            let compare = |f: Field| !unconfirmed.contains(&f);
            let name = (compare(Field::Name) && base.name != d.name).then(|| d.name.clone());
            let logo_url = (compare(Field::LogoUrl) && base.logo_url != d.logo_url)
                .then(|| d.logo_url.clone().unwrap_or_default());
            let redirect_uris = (compare(Field::RedirectUris)
                && base.redirect_uris != d.redirect_uris)
                .then(|| d.redirect_uris.clone());
            let pii = (compare(Field::Pii) && base.pii != d.pii).then_some(d.pii.unwrap_or(false));
            let (mut tick, untick): (Vec<String>, Vec<String>) = if compare(Field::Scopes) {
                (
                    d.scopes
                        .iter()
                        .filter(|s| !base.scopes.contains(s) || missing_scopes.contains(*s))
                        .cloned()
                        .collect(),
                    base.scopes
                        .iter()
                        .filter(|s| !d.scopes.contains(s))
                        .cloned()
                        .collect(),
                )
            } else {
                (missing_scopes.iter().cloned().collect(), vec![])
            };
            tick.dedup();
            for m in &missing_scopes {
                problems.push(Problem::platform(format!(
                    "scope `{m}` is not granted to `{}` (invalid_scope)",
                    d.code
                )));
            }
            if !all_refused
                && (name.is_some()
                    || logo_url.is_some()
                    || redirect_uris.is_some()
                    || pii.is_some()
                    || !tick.is_empty()
                    || !untick.is_empty())
            {
                add(
                    &mut steps,
                    StepAction::EditClient {
                        code: d.code.clone(),
                        name,
                        logo_url,
                        redirect_uris,
                        pii,
                        tick,
                        untick,
                        scopes: d.scopes.clone(),
                    },
                );
            }
            for s in &d.secrets {
                let stored = active.iter().find(|a| a.id == s.id);
                let rotation = input
                    .rotations
                    .iter()
                    .find(|x| x.code == d.code && x.id == s.id);
                let recorded = base.secrets.iter().find(|b| b.id == s.id);
                let refused_now = stored.is_some_and(|a| a.check == Some(SecretCheck::Refused));
                if let Some(rotation) = rotation {
                    add(
                        &mut steps,
                        StepAction::AddSecret {
                            code: d.code.clone(),
                            secret_id: s.id.clone(),
                            description: rotated_description(
                                &recorded.unwrap_or(s).description,
                                rotation.requested_at,
                            ),
                            replaces: true,
                            rotation: true,
                        },
                    );
                } else if refused_now {
                    if !all_refused {
                        problems.push(Problem::secret(format!(
                            "secret `{}` of `{}` is refused (invalid_client): it was deleted in the dashboard (rotated away?) or the stored value is wrong",
                            s.id, d.code
                        )));
                    }
                    add(&mut steps, add_secret(d, s, true));
                } else if stored.is_none() {
                    if r.is_some() && recorded.is_some() {
                        add(
                            &mut steps,
                            StepAction::StoreSecret {
                                code: d.code.clone(),
                                secret_id: s.id.clone(),
                            },
                        );
                    } else {
                        add(&mut steps, add_secret(d, s, false));
                    }
                }
            }
            if let Some(r) = r {
                for old in &r.secrets {
                    if !d.secrets.iter().any(|s| s.id == old.id) {
                        add(
                            &mut steps,
                            StepAction::DeleteSecret {
                                code: d.code.clone(),
                                secret_id: old.id.clone(),
                                description: Some(old.description.clone()),
                                older_than: None,
                            },
                        );
                    }
                }
            }
            for old in secrets.iter().filter(|s| s.retiring) {
                let due = old.overlap_over(input.now_ms);
                let gone = old.check == Some(SecretCheck::Refused);
                if due && !gone {
                    let newer = secrets
                        .iter()
                        .filter(|a| !a.retiring && a.id == old.id)
                        .map(|a| a.issued_at)
                        .max();
                    add(
                        &mut steps,
                        StepAction::DeleteSecret {
                            code: d.code.clone(),
                            secret_id: old.id.clone(),
                            description: None,
                            older_than: Some(rfc3339(newer.unwrap_or(old.issued_at + 1))),
                        },
                    );
                } else if !due && gone {
                    problems.push(Problem::secret(format!(
                        "the old secret `{}` of `{}` is refused before its overlap ended: it was deleted early; clients still using it fail",
                        old.id, d.code
                    )));
                }
            }
            if !all_refused && !unconfirmed.is_empty() {
                add(&mut steps, confirm_step(d, &unconfirmed));
            }
        }
    }
    if let Some((_, Some(account))) = granted
        && account != input.account
    {
        problems.push(Problem::platform(format!(
            "`{}` belongs to account `{account}`, not `{}`",
            d.code, input.account
        )));
    }
    let fields = super::fields::report(input, d, r, &secrets, &missing_scopes, granted);
    let only_confirm = steps
        .iter()
        .all(|s| matches!(s.action, StepAction::ConfirmClient { .. }));
    let action = if !exists {
        Action::Create
    } else if !problems.is_empty() {
        Action::Drift
    } else if !only_confirm {
        Action::Update
    } else if !steps.is_empty() {
        Action::Confirm
    } else if unchecked {
        Action::Unverified
    } else {
        Action::InSync
    };
    let record = (r.is_none() && action == Action::Confirm).then(|| proven_record(d, &secrets));
    ClientPlan {
        code: d.code.clone(),
        kind,
        action,
        fields,
        secrets,
        problems,
        steps,
        desired: Some(d.clone()),
        record,
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
