//! Unit tests of the apaleo plan.

use super::*;
use crate::model::apaleo::SecretDecl;

fn bot() -> Client {
    Client {
        code: "bot".into(),
        kind: ClientKind::Simple,
        name: "Bot".into(),
        logo_url: None,
        redirect_uris: vec![],
        pii: Some(false),
        scopes: vec!["reports.read".into(), "setup.read".into()],
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
        issued_at: 1_000,
        revoke_after: None,
        check,
    }
}

fn granted() -> Option<SecretCheck> {
    Some(SecretCheck::Granted {
        scopes: vec!["reports.read".into(), "setup.read".into()],
        account: Some("DEMO".into()),
    })
}

fn run(desired: &[Client], recorded: &[Client], s: &[StoredSecret], r: &[Rotation]) -> Plan {
    plan(Input {
        account: "DEMO",
        token_endpoint: "https://identity.apaleo.com/connect/token",
        desired,
        recorded,
        stored: s,
        rotations: r,
        unverified: None,
        prune: false,
        now_ms: 10_000,
    })
}

fn actions(p: &Plan) -> Vec<&'static str> {
    p.steps()
        .map(|s| match s.action {
            StepAction::CreateClient { .. } => "create-client",
            StepAction::EditClient { .. } => "edit-client",
            StepAction::AddSecret { .. } => "add-secret",
            StepAction::StoreSecret { .. } => "store-secret",
            StepAction::DeleteSecret { .. } => "delete-secret",
            StepAction::DeleteClient { .. } => "delete-client",
            StepAction::CheckClient { .. } => "check-client",
            StepAction::ConfirmClient { .. } => "confirm-client",
        })
        .collect()
}

#[test]
fn a_new_client_is_created_then_given_its_secrets() {
    let p = run(&[bot()], &[], &[], &[]);
    assert_eq!(p.clients[0].action, Action::Create);
    assert_eq!(actions(&p), ["create-client", "add-secret"]);
    assert_eq!(p.steps().map(|s| s.number).collect::<Vec<_>>(), [1, 2]);
    assert!(p.has_changes());
    let name = p.clients[0]
        .fields
        .iter()
        .find(|f| f.field == Field::Name)
        .unwrap();
    assert_eq!(name.proof, Proof::DeclaredOnly);
}

#[test]
fn a_verified_unrecorded_client_records_only_what_verification_proved() {
    let p = run(&[bot()], &[], &[stored(granted())], &[]);
    let c = &p.clients[0];
    assert_eq!(c.action, Action::Confirm);
    // The fields a token cannot prove wait for a person: a confirm step, a change.
    assert_eq!(actions(&p), ["confirm-client"]);
    assert!(p.has_changes());
    match &c.steps[0].action {
        StepAction::ConfirmClient {
            name,
            pii,
            scopes,
            logo_url,
            ..
        } => {
            assert_eq!(name.as_deref(), Some("Bot"));
            assert_eq!(*pii, Some(false));
            assert_eq!(*scopes, None, "a simple client's scopes are verified");
            assert_eq!(*logo_url, None);
        }
        other => panic!("{other:?}"),
    }
    // What apply records at once: the client and its verified secret; name and pii are
    // unconfirmed.
    let record = c.record.as_ref().unwrap();
    assert_eq!(record.unconfirmed, [Field::Name, Field::Pii]);
    assert_eq!(record.secrets.len(), 1);
    // Recorded so, the next plan still asks the person, and compares nothing unconfirmed:
    // a new name in the config is shown in the confirm step, not as an edit.
    let mut want = bot();
    want.name = "Night bot".into();
    let p = run(
        &[want],
        std::slice::from_ref(record),
        &[stored(granted())],
        &[],
    );
    assert_eq!(p.clients[0].action, Action::Confirm);
    assert_eq!(actions(&p), ["confirm-client"]);
    assert!(p.clients[0].record.is_none(), "already recorded");
    // Once a person confirmed (the record has no unconfirmed field), in sync.
    let p = run(&[bot()], &[bot()], &[stored(granted())], &[]);
    assert!(!p.has_changes());
    let proofs: Vec<(Field, Proof)> = p.clients[0]
        .fields
        .iter()
        .map(|f| (f.field, f.proof))
        .collect();
    assert!(proofs.contains(&(Field::Scopes, Proof::Verified)));
    assert!(proofs.contains(&(Field::Account, Proof::Verified)));
    assert!(proofs.contains(&(Field::Pii, Proof::DeclaredOnly)));
}

#[test]
fn a_declared_only_change_is_an_edit_of_that_field_only() {
    let mut want = bot();
    want.name = "Night bot".into();
    let p = run(&[want], &[bot()], &[stored(granted())], &[]);
    assert_eq!(p.clients[0].action, Action::Update);
    match &p.clients[0].steps[0].action {
        StepAction::EditClient {
            name, tick, untick, ..
        } => {
            assert_eq!(name.as_deref(), Some("Night bot"));
            assert!(tick.is_empty() && untick.is_empty());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_missing_scope_is_drift_with_a_step_to_tick_it() {
    let check = Some(SecretCheck::MissingScopes {
        scopes: vec!["setup.read".into()],
    });
    let p = run(&[bot()], &[bot()], &[stored(check)], &[]);
    let c = &p.clients[0];
    assert_eq!(c.action, Action::Drift);
    assert!(c.problems[0].message.contains("setup.read"));
    assert_eq!(c.problems[0].kind, ProblemKind::Platform);
    match &c.steps[0].action {
        StepAction::EditClient { tick, .. } => assert_eq!(tick, &["setup.read".to_string()]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_rotation_adds_a_secret_then_the_old_one_is_deleted_after_the_overlap() {
    let rotation = Rotation {
        code: "bot".into(),
        id: "primary".into(),
        requested_at: 0,
    };
    let p = run(&[bot()], &[bot()], &[stored(granted())], &[rotation]);
    match &p.clients[0].steps[0].action {
        StepAction::AddSecret {
            description,
            rotation,
            ..
        } => {
            assert!(*rotation);
            assert_eq!(description, "ci (rotated 1970-01-01)");
        }
        other => panic!("{other:?}"),
    }
    let mut old = stored(granted());
    old.retiring = true;
    old.issued_at = 500;
    old.revoke_after = Some(9_000);
    let p = run(&[bot()], &[bot()], &[stored(granted()), old.clone()], &[]);
    assert_eq!(actions(&p), ["delete-secret"]);
    // Still in the overlap: nothing to do.
    old.revoke_after = Some(20_000);
    let p = run(&[bot()], &[bot()], &[stored(granted()), old.clone()], &[]);
    assert!(!p.has_changes());
    // Deleted as asked: nothing to do; apply forgets it.
    old.revoke_after = Some(9_000);
    old.check = Some(SecretCheck::Refused);
    let p = run(&[bot()], &[bot()], &[stored(granted()), old], &[]);
    assert!(!p.has_changes());
}

#[test]
fn recorded_clients_no_longer_declared_are_deleted_only_with_prune() {
    let p = run(&[], &[bot()], &[], &[]);
    assert!(p.clients.is_empty());
    assert!(p.notes[0].contains("--prune"));
    let p = plan(Input {
        prune: true,
        ..Input {
            account: "DEMO",
            token_endpoint: "t",
            desired: &[],
            recorded: &[bot()],
            stored: &[],
            rotations: &[],
            unverified: None,
            prune: false,
            now_ms: 0,
        }
    });
    assert_eq!(actions(&p), ["delete-client"]);
}

#[test]
fn a_wrong_account_is_drift() {
    let check = Some(SecretCheck::Granted {
        scopes: vec![],
        account: Some("OTHER".into()),
    });
    let p = run(&[bot()], &[bot()], &[stored(check)], &[]);
    assert_eq!(p.clients[0].action, Action::Drift);
    assert!(p.clients[0].problems[0].message.contains("OTHER"));
}

#[test]
fn without_an_identity_stored_secrets_are_unchecked_not_recreated() {
    let p = plan(Input {
        account: "DEMO",
        token_endpoint: "t",
        desired: &[bot()],
        recorded: &[],
        stored: &[stored(None)],
        rotations: &[],
        unverified: Some("no identity"),
        prune: false,
        now_ms: 0,
    });
    let c = &p.clients[0];
    // Not in sync: nothing was verified. No step either: nothing to do in the dashboard.
    assert_eq!(c.action, Action::Unverified);
    assert!(c.steps.is_empty());
    assert!(p.has_changes());
    assert!(!p.has_steps());
    assert_eq!(p.summary.unverified, 1);
    assert_eq!(p.summary.in_sync, 0);
    let code = c.fields.iter().find(|f| f.field == Field::Code).unwrap();
    assert_eq!(code.proof, Proof::Unchecked);
    assert_eq!(code.detail, "no identity");
    assert_eq!(p.unverified.as_deref(), Some("no identity"));
    let text = super::super::render::text(&p);
    assert!(
        text.ends_with(
            "\n1 client unverified (no identity to read the stored secrets: set REGISTRAR_IDENTITY).\n"
        ),
        "{text}"
    );
}

#[test]
fn an_unrecorded_client_counts_as_applied_only_when_all_its_secrets_verify() {
    let mut old = stored(Some(SecretCheck::Unexpected {
        detail: "`invalid_request`".into(),
    }));
    old.retiring = true;
    old.revoke_after = Some(20_000);
    assert!(!all_verify(&[stored(granted()), old.clone()], 10_000));
    let p = run(&[bot()], &[], &[stored(granted()), old.clone()], &[]);
    assert_ne!(p.clients[0].action, Action::Confirm);
    assert!(p.clients[0].record.is_none(), "nothing recorded");
    // A retiring secret refused after its overlap was deleted as asked: it does not count.
    old.check = Some(SecretCheck::Refused);
    old.revoke_after = Some(5_000);
    assert!(all_verify(&[stored(granted()), old], 10_000));
    assert!(!all_verify(&[], 10_000), "nothing stored proves nothing");
}

#[test]
fn identity_scopes_are_declared_only_for_a_simple_client() {
    let mut want = bot();
    want.scopes.push("offline_access".into());
    let p = run(&[want.clone()], &[want], &[stored(granted())], &[]);
    let scopes = p.clients[0]
        .fields
        .iter()
        .find(|f| f.field == Field::Scopes)
        .unwrap();
    assert_eq!(scopes.proof, Proof::Verified);
    assert_eq!(
        scopes.detail,
        "granted: reports.read, setup.read; declared only (not for client credentials): offline_access"
    );
    assert!(!p.has_changes());
}

#[test]
fn a_secret_stored_for_another_client_is_secret_drift() {
    let p = run(
        &[bot()],
        &[bot()],
        &[stored(Some(SecretCheck::StoredForAnother))],
        &[],
    );
    let c = &p.clients[0];
    assert_eq!(c.action, Action::Drift);
    assert_eq!(c.problems[0].kind, ProblemKind::Secret);
    assert!(c.problems[0].message.contains("another client id"));
}
