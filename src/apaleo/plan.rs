//! The apaleo plan: the config's clients × what a person confirmed as applied (the record)
//! × what the token endpoint proved of the stored secrets → per client an action, a report
//! per field (verified on the platform, or declared-only), and the dashboard steps.
//! Pure: no I/O.

use std::collections::BTreeSet;

use serde::Serialize;

use super::model::{Client, ClientKind, Field, Rotation, SecretCheck, StoredSecret};
use super::steps::{Step, StepAction};

/// Version of the JSON plan.
pub const PLAN_VERSION: u32 = 1;

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
    /// Not recorded yet, but verification proves it: the next apply records it.
    Confirm,
    /// Nothing to do.
    InSync,
}

impl Action {
    /// Whether the action asks anything of a person.
    pub fn is_change(self) -> bool {
        !matches!(self, Action::Confirm | Action::InSync)
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
    pub problems: Vec<String>,
    /// The dashboard steps.
    pub steps: Vec<Step>,
    /// The client as it will be recorded once its steps are done (absent for deletes).
    #[serde(skip)]
    pub desired: Option<Client>,
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
    /// Clients proven but not recorded yet.
    pub confirm: usize,
    /// Clients in sync.
    pub in_sync: usize,
    /// Manual steps.
    pub steps: usize,
}

impl Plan {
    /// Whether anything needs a person (`--detailed-exitcode` exits 2).
    pub fn has_changes(&self) -> bool {
        self.clients.iter().any(|c| c.action.is_change())
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
            });
        } else {
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

fn plan_client(input: &Input<'_>, d: &Client, r: Option<&Client>) -> ClientPlan {
    let secrets = secrets_of(input, &d.code);
    let active: Vec<&StoredSecret> = secrets.iter().filter(|s| !s.retiring).collect();
    let works_any = secrets
        .iter()
        .any(|s| s.check.as_ref().is_some_and(SecretCheck::works));
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
    for s in &active {
        if let Some(SecretCheck::Unexpected { detail }) = &s.check {
            problems.push(format!(
                "secret `{}`: the token endpoint answered {detail}",
                s.id
            ));
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
            problems.push(format!(
                "stored secret `{}` is refused (invalid_client): no client `{}` has it",
                s.id, d.code
            ));
        }
        add(&mut steps, StepAction::create(d, false));
        for s in &d.secrets {
            add(
                &mut steps,
                StepAction::AddSecret {
                    code: d.code.clone(),
                    secret_id: s.id.clone(),
                    description: s.description.clone(),
                    replaces: active.iter().any(|a| a.id == s.id),
                    rotation: false,
                },
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
                add(
                    &mut steps,
                    StepAction::AddSecret {
                        code: d.code.clone(),
                        secret_id: s.id.clone(),
                        description: s.description.clone(),
                        replaces: true,
                        rotation: false,
                    },
                );
            }
        } else {
            let all_refused = !works_any && !refused.is_empty();
            if all_refused {
                let problem = format!(
                    "every stored secret of `{}` is refused (invalid_client): the stored secret is wrong, or it was deleted in the dashboard, or the client was",
                    d.code
                );
                problems.push(problem.clone());
                add(
                    &mut steps,
                    StepAction::CheckClient {
                        code: d.code.clone(),
                        problem,
                    },
                );
                add(&mut steps, StepAction::create(d, true));
            }
            let changed = |a: bool| a;
            let name = changed(base.name != d.name).then(|| d.name.clone());
            let logo_url = changed(base.logo_url != d.logo_url)
                .then(|| d.logo_url.clone().unwrap_or_default());
            let redirect_uris =
                changed(base.redirect_uris != d.redirect_uris).then(|| d.redirect_uris.clone());
            let pii = changed(base.pii != d.pii).then_some(d.pii.unwrap_or(false));
            let mut tick: Vec<String> = d
                .scopes
                .iter()
                .filter(|s| !base.scopes.contains(s) || missing_scopes.contains(*s))
                .cloned()
                .collect();
            tick.dedup();
            let untick: Vec<String> = base
                .scopes
                .iter()
                .filter(|s| !d.scopes.contains(s))
                .cloned()
                .collect();
            for m in &missing_scopes {
                problems.push(format!(
                    "scope `{m}` is not granted to `{}` (invalid_scope)",
                    d.code
                ));
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
                        problems.push(format!(
                            "secret `{}` of `{}` is refused (invalid_client): it was deleted in the dashboard (rotated away?) or the stored value is wrong",
                            s.id, d.code
                        ));
                    }
                    add(
                        &mut steps,
                        StepAction::AddSecret {
                            code: d.code.clone(),
                            secret_id: s.id.clone(),
                            description: s.description.clone(),
                            replaces: true,
                            rotation: false,
                        },
                    );
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
                        add(
                            &mut steps,
                            StepAction::AddSecret {
                                code: d.code.clone(),
                                secret_id: s.id.clone(),
                                description: s.description.clone(),
                                replaces: false,
                                rotation: false,
                            },
                        );
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
                let due = old.revoke_after.is_none_or(|t| t <= input.now_ms);
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
                    problems.push(format!(
                        "the old secret `{}` of `{}` is refused before its overlap ended: it was deleted early; clients still using it fail",
                        old.id, d.code
                    ));
                }
            }
        }
    }
    if let Some((_, Some(account))) = granted
        && account != input.account
    {
        problems.push(format!(
            "`{}` belongs to account `{account}`, not `{}`",
            d.code, input.account
        ));
    }
    let fields = super::fields::report(input, d, r, &secrets, &missing_scopes, granted);
    let action = if !exists {
        Action::Create
    } else if !problems.is_empty() {
        Action::Drift
    } else if !steps.is_empty() {
        Action::Update
    } else if r.is_none() && works_any {
        Action::Confirm
    } else {
        Action::InSync
    };
    ClientPlan {
        code: d.code.clone(),
        kind,
        action,
        fields,
        secrets,
        problems,
        steps,
        desired: Some(d.clone()),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
