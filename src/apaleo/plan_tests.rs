//! Unit tests of the apaleo plan.

use super::*;
use crate::apaleo::model::SecretDecl;

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
fn a_verified_unrecorded_client_is_in_sync_and_to_be_recorded() {
    let p = run(&[bot()], &[], &[stored(granted())], &[]);
    assert_eq!(p.clients[0].action, Action::Confirm);
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
    assert!(c.problems[0].contains("setup.read"));
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
    assert!(p.clients[0].problems[0].contains("OTHER"));
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
    assert_eq!(c.action, Action::InSync);
    assert!(c.steps.is_empty());
    let code = c.fields.iter().find(|f| f.field == Field::Code).unwrap();
    assert_eq!(code.proof, Proof::Unchecked);
    assert_eq!(code.detail, "no identity");
    assert_eq!(p.unverified.as_deref(), Some("no identity"));
}
