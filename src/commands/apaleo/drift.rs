//! `registrar drift` on apaleo: the apaleo plan ([`crate::apaleo::plan`]) reported by drift
//! class ([`crate::plan::drift`]), one entry per client and class:
//!
//! - a problem verification found: `secret` when a stored secret is refused or not the
//!   client's, `platform` when the client in apaleo differs from what was applied (a scope
//!   not granted, another account, another kind);
//! - a client whose stored secrets could not be checked (no identity): `secret` (nothing
//!   proves the store and apaleo still agree);
//! - steps from the config (create, update, rotation, confirming fields registrar cannot
//!   read back): `config`; a secret issued but not in the store: `secret`;
//! - recorded, no longer declared: `removed` (deleted with `--prune`).
//!
//! Lives here, at the top, because `plan/` knows nothing of apaleo and `apaleo/` nothing of
//! drift reports.

use std::collections::BTreeMap;

use crate::apaleo::plan::{Action, ClientPlan, Plan, ProblemKind};
use crate::apaleo::steps::StepAction;
use crate::model::Address;
use crate::plan::Action as PlanAction;
use crate::plan::drift::{DRIFT_FORMAT_VERSION, DriftClass, Entry, Report, Summary};

/// The drift report of an apaleo plan; `owner` is the config's (empty: none).
pub fn report(plan: &Plan, owner: &str) -> Report {
    let mut entries: Vec<Entry> = Vec::new();
    for c in &plan.clients {
        let mut by_class: BTreeMap<DriftClass, Vec<String>> = BTreeMap::new();
        let mut note = |class: DriftClass, message: String| {
            by_class.entry(class).or_default().push(message);
        };
        for p in &c.problems {
            let class = match p.kind {
                ProblemKind::Secret => DriftClass::Secret,
                ProblemKind::Platform => DriftClass::Platform,
            };
            note(class, p.message.clone());
        }
        match c.action {
            Action::Unverified => note(
                DriftClass::Secret,
                "not verified: no identity to read the stored secrets (set REGISTRAR_IDENTITY)"
                    .into(),
            ),
            Action::Delete => note(
                DriftClass::Removed,
                "recorded as applied, no longer declared: `apply --prune` asks to delete it in the dashboard".into(),
            ),
            // The steps of a drifted client repair what verification found.
            Action::Drift | Action::InSync => {}
            Action::Create | Action::Update | Action::Confirm => {
                for line in config_steps(c) {
                    note(line.0, line.1);
                }
            }
        }
        for (class, messages) in by_class {
            entries.push(Entry {
                address: Address::client(&c.code),
                class,
                actions: action(c.action).into_iter().collect(),
                fields: vec![],
                message: Some(messages.join("; ")),
            });
        }
    }
    for code in &plan.undeclared {
        entries.push(Entry {
            address: Address::client(code),
            class: DriftClass::Removed,
            actions: vec![],
            fields: vec![],
            message: Some(
                "recorded as applied, no longer declared: `--prune` plans deleting it".into(),
            ),
        });
    }
    entries.sort_by_cached_key(|e| (e.address.to_string(), e.class));
    let mut summary = Summary::default();
    for e in &entries {
        match e.class {
            DriftClass::Config => summary.config += 1,
            DriftClass::Platform => summary.platform += 1,
            DriftClass::Conflict => summary.conflict += 1,
            DriftClass::Secret => summary.secret += 1,
            DriftClass::Unmanaged => summary.unmanaged += 1,
            DriftClass::Removed => summary.removed += 1,
        }
    }
    Report {
        format_version: DRIFT_FORMAT_VERSION,
        registrar_version: env!("CARGO_PKG_VERSION").to_string(),
        backend: format!("apaleo account `{}`", plan.account),
        owner: owner.to_string(),
        entries,
        summary,
    }
}

/// What apply would do to the client, in the platform-neutral words of a report.
fn action(a: Action) -> Option<PlanAction> {
    match a {
        Action::Create => Some(PlanAction::Create),
        Action::Update | Action::Drift | Action::Confirm => Some(PlanAction::Update),
        Action::Delete => Some(PlanAction::Delete),
        Action::Unverified | Action::InSync => None,
    }
}

/// The pending steps of a client that did not drift, by class: a secret issued but not in
/// the store is `secret`; everything else comes from the config (or from a rotation asked
/// for, or from fields nobody confirmed yet): `config`.
fn config_steps(c: &ClientPlan) -> Vec<(DriftClass, String)> {
    let mut out = Vec::new();
    for s in &c.steps {
        let (class, what) = match &s.action {
            StepAction::CreateClient { .. } => (DriftClass::Config, "create it".to_string()),
            StepAction::EditClient {
                name,
                logo_url,
                redirect_uris,
                pii,
                tick,
                untick,
                ..
            } => {
                let changed: Vec<&str> = [
                    (name.is_some(), "name"),
                    (logo_url.is_some(), "logoUrl"),
                    (redirect_uris.is_some(), "redirectUris"),
                    (pii.is_some(), "pii"),
                    (!tick.is_empty() || !untick.is_empty(), "scopes"),
                ]
                .into_iter()
                .filter_map(|(set, f)| set.then_some(f))
                .collect();
                (
                    DriftClass::Config,
                    format!("edit {} as the config says", changed.join(", ")),
                )
            }
            StepAction::AddSecret {
                secret_id,
                rotation: true,
                ..
            } => (
                DriftClass::Config,
                format!("add secret `{secret_id}` (rotation)"),
            ),
            StepAction::AddSecret { secret_id, .. } => {
                (DriftClass::Config, format!("add secret `{secret_id}`"))
            }
            StepAction::StoreSecret { secret_id, .. } => (
                DriftClass::Secret,
                format!("secret `{secret_id}` was issued but is not in the secrets store"),
            ),
            StepAction::DeleteSecret { secret_id, .. } => {
                (DriftClass::Config, format!("delete secret `{secret_id}`"))
            }
            StepAction::ConfirmClient { .. } => (
                DriftClass::Config,
                "confirm the fields registrar cannot read back (`registrar apply` on a terminal)"
                    .to_string(),
            ),
            StepAction::DeleteClient { .. } => (DriftClass::Config, "delete it".to_string()),
            StepAction::CheckClient { .. } => continue,
        };
        out.push((class, what));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apaleo::plan::{Input, plan};
    use crate::model::apaleo::{Client, ClientKind, SecretCheck, SecretDecl, StoredSecret};

    fn bot() -> Client {
        Client {
            code: "bot".into(),
            kind: ClientKind::Simple,
            name: "Bot".into(),
            logo_url: None,
            redirect_uris: vec![],
            pii: Some(false),
            scopes: vec!["reports.read".into()],
            secrets: vec![SecretDecl {
                id: "primary".into(),
                description: "ci".into(),
            }],
            unconfirmed: vec![],
        }
    }

    fn stored(check: Option<SecretCheck>) -> StoredSecret {
        StoredSecret {
            code: "bot".into(),
            id: "primary".into(),
            retiring: false,
            issued_at: 1,
            revoke_after: None,
            check,
        }
    }

    fn run(
        desired: &[Client],
        recorded: &[Client],
        s: &[StoredSecret],
        why: Option<&str>,
    ) -> Report {
        let p = plan(Input {
            account: "DEMO",
            token_endpoint: "t",
            desired,
            recorded,
            stored: s,
            rotations: &[],
            unverified: why,
            prune: false,
            now_ms: 10,
        });
        report(&p, "")
    }

    fn classes(r: &Report) -> Vec<(String, DriftClass)> {
        r.entries
            .iter()
            .map(|e| (e.address.to_string(), e.class))
            .collect()
    }

    fn granted() -> Option<SecretCheck> {
        Some(SecretCheck::Granted {
            scopes: vec!["reports.read".into()],
            account: Some("DEMO".into()),
        })
    }

    #[test]
    fn in_sync_is_exit_0() {
        let r = run(&[bot()], &[bot()], &[stored(granted())], None);
        assert!(r.entries.is_empty());
        assert_eq!(r.exit_code(), 0);
    }

    #[test]
    fn a_missing_scope_is_platform_drift() {
        let check = Some(SecretCheck::MissingScopes {
            scopes: vec!["reports.read".into()],
        });
        let r = run(&[bot()], &[bot()], &[stored(check)], None);
        assert_eq!(
            classes(&r),
            [("client bot".to_string(), DriftClass::Platform)]
        );
        assert_eq!(r.exit_code(), 3);
    }

    #[test]
    fn a_refused_secret_is_secret_drift() {
        let r = run(
            &[bot()],
            &[bot()],
            &[stored(Some(SecretCheck::Refused))],
            None,
        );
        assert_eq!(
            classes(&r),
            [("client bot".to_string(), DriftClass::Secret)]
        );
        assert_eq!(r.exit_code(), 3);
    }

    #[test]
    fn a_config_edit_is_config_exit_2() {
        let mut want = bot();
        want.name = "Night bot".into();
        let r = run(&[want], &[bot()], &[stored(granted())], None);
        assert_eq!(
            classes(&r),
            [("client bot".to_string(), DriftClass::Config)]
        );
        assert_eq!(r.exit_code(), 2);
    }

    #[test]
    fn unverified_is_secret_drift() {
        let r = run(&[bot()], &[bot()], &[stored(None)], Some("no identity"));
        assert_eq!(
            classes(&r),
            [("client bot".to_string(), DriftClass::Secret)]
        );
        assert_eq!(r.exit_code(), 3);
    }

    #[test]
    fn recorded_but_no_longer_declared_is_removed() {
        let r = run(&[], &[bot()], &[], None);
        assert_eq!(
            classes(&r),
            [("client bot".to_string(), DriftClass::Removed)]
        );
        assert_eq!(r.exit_code(), 3);
    }
}
