//! Table-driven tests of the diff: each case starts from a world where the platform matches the
//! config, changes one thing, and lists the (action, address) pairs the plan must contain.

use super::*;
use crate::model::{
    App, ApprovalType, CREDENTIAL_ATTRIBUTE, DEFAULT_CREDENTIAL_ID, DesiredKey, Developer,
    DeveloperStatus, Grant, Product, Secret, Status,
};
use crate::plan::Flag;
use crate::secrets::index::{IndexEntry, KeyState};

const OWNER: &str = "team";

fn attrs(pairs: &[(&str, &str)]) -> Attributes {
    let mut a: Attributes = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    a.insert(OWNER_ATTRIBUTE.into(), OWNER.into());
    a
}

pub(crate) fn desired() -> DesiredState {
    let dev = Developer {
        email: "a@x.com".into(),
        first_name: "A".into(),
        last_name: "B".into(),
        user_name: "a".into(),
        status: DeveloperStatus::Active,
        attributes: attrs(&[]),
    };
    let product = |name: &str, scopes: &[&str]| Product {
        name: name.into(),
        display_name: name.into(),
        description: String::new(),
        approval_type: ApprovalType::Auto,
        environments: vec!["prod".into()],
        proxies: vec![],
        api_resources: vec![],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        quota: None,
        attributes: attrs(&[]),
        operation_group: None,
        graphql_operation_group: None,
    };
    let app = App {
        developer: "a@x.com".into(),
        name: "web".into(),
        callback_url: Some("https://x.com/cb".into()),
        status: Status::Approved,
        scopes: vec!["r".into()],
        key_expires_in_ms: None,
        attributes: attrs(&[("tier", "gold")]),
    };
    let key = |id: &str| DesiredKey {
        developer: "a@x.com".into(),
        app: "web".into(),
        id: id.into(),
        products: vec!["p1".into()],
        scopes: vec!["r".into()],
        status: Status::Approved,
        expires_in_ms: None,
    };
    DesiredState {
        owner: OWNER.into(),
        developers: vec![dev],
        products: vec![product("p1", &["r"]), product("p2", &["r", "w"])],
        apps: vec![app],
        keys: vec![key(DEFAULT_CREDENTIAL_ID), key("second")],
    }
}

fn obs<T>(value: T) -> Observed<T> {
    Observed {
        value,
        last_modified_at: Some(1),
    }
}

/// The platform as it looks right after applying `d`.
pub(crate) fn mirror(d: &DesiredState) -> Actual {
    let keys = d
        .keys
        .iter()
        .map(|k| {
            let mut attributes = Attributes::new();
            if k.id != DEFAULT_CREDENTIAL_ID {
                attributes.insert(CREDENTIAL_ATTRIBUTE.into(), k.id.clone());
            }
            Key {
                developer: k.developer.clone(),
                app: k.app.clone(),
                id: (k.id != DEFAULT_CREDENTIAL_ID).then(|| k.id.clone()),
                consumer_key: Secret::new(format!("ck-{}", k.id)),
                consumer_secret: Secret::new(format!("cs-{}", k.id)),
                grants: k
                    .products
                    .iter()
                    .map(|p| Grant {
                        product: p.clone(),
                        status: Status::Approved,
                    })
                    .collect(),
                scopes: k.scopes.clone(),
                status: k.status,
                attributes,
                issued_at: 1_000,
                expires_at: None,
            }
        })
        .collect();
    Actual {
        developers: d.developers.iter().cloned().map(obs).collect(),
        products: d.products.iter().cloned().map(obs).collect(),
        apps: d.apps.iter().cloned().map(obs).collect(),
        keys,
        requests: 0,
        group_apps: Vec::new(),
    }
}

pub(crate) fn run(
    d: &DesiredState,
    a: &Actual,
    stored: &[IndexEntry],
    rotations: &[RotationRequest],
    opts: Options,
) -> Result<Plan, DiffError> {
    let declared = declared(d);
    diff(Input {
        desired: d,
        actual: a,
        keys: &KeyMatch::new(a, stored, &declared),
        rotations,
        backend: "test",
        applied_keys: &Default::default(),
        options: &opts,
    })
}

fn actions(p: &Plan) -> Vec<(String, String)> {
    p.changes
        .iter()
        .map(|c| (c.action.as_str().to_string(), c.address.to_string()))
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

fn group(resource: &str) -> crate::model::OperationGroup {
    crate::model::OperationGroup {
        operation_config_type: Default::default(),
        operation_configs: vec![crate::model::OperationConfig {
            api_source: "payments-v1".into(),
            operations: vec![crate::model::Operation {
                resource: resource.into(),
                methods: vec!["GET".into()],
            }],
            quota: None,
            attributes: Attributes::new(),
        }],
    }
}

#[test]
fn operation_groups_differ_field_by_field() {
    let mut d = desired();
    let mut a = mirror(&d);
    a.products[1].value.operation_group = Some(group("/a"));
    let mut want = group("/b");
    want.operation_configs[0]
        .attributes
        .insert("tier".into(), "gold".into());
    d.products[1].operation_group = Some(want);
    let plan = run(&d, &a, &[], &[], Options::default()).unwrap();
    let fields: Vec<&str> = plan.changes[0]
        .fields
        .iter()
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "operationGroup[payments-v1].operations",
            "operationGroup[payments-v1].attributes.tier"
        ]
    );
}

#[test]
fn appgroup_apps_are_noted_never_touched() {
    let d = desired();
    let mut a = mirror(&d);
    a.group_apps.push(crate::model::GroupApp {
        group: "partners".into(),
        name: "web".into(),
        products: vec!["p1".into(), "elsewhere".into()],
    });
    let plan = run(&d, &a, &[], &[], Options::default()).unwrap();
    assert!(plan.changes.is_empty(), "{:?}", actions(&plan));
    let notes: Vec<String> = plan.notes.iter().map(|n| n.address.to_string()).collect();
    assert_eq!(notes, ["app a@x.com/web", "product p1"]);
    assert!(
        plan.notes[0]
            .message
            .contains("AppGroup app `partners/web`")
    );
}

type Edit = fn(&mut DesiredState, &mut Actual);
type Case = (&'static str, Edit, Vec<(&'static str, &'static str)>);

#[test]
fn one_change_gives_exactly_that_change() {
    let cases: Vec<Case> = vec![
        ("in sync", |_, _| {}, vec![]),
        (
            "callback URL",
            |d, _| d.apps[0].callback_url = Some("https://x.com/new".into()),
            vec![("update", "app a@x.com/web")],
        ),
        (
            "app attribute",
            |d, _| {
                d.apps[0].attributes.insert("tier".into(), "silver".into());
            },
            vec![("update", "app a@x.com/web")],
        ),
        (
            "app status",
            |d, _| d.apps[0].status = Status::Revoked,
            vec![("revoke", "app a@x.com/web")],
        ),
        (
            "developer status",
            |d, _| d.developers[0].status = DeveloperStatus::Inactive,
            vec![("set-status", "developer a@x.com")],
        ),
        (
            "developer name",
            |d, _| d.developers[0].first_name = "Z".into(),
            vec![("update", "developer a@x.com")],
        ),
        (
            "product scopes",
            |d, _| d.products[1].scopes.push("x".into()),
            vec![("update", "product p2")],
        ),
        (
            "operation group declared",
            |d, _| d.products[1].operation_group = Some(group("/a")),
            vec![("update", "product p2")],
        ),
        (
            "operation group only on the platform: left alone",
            |_, a| a.products[1].value.operation_group = Some(group("/a")),
            vec![],
        ),
        (
            "operation group the same, operations in another order",
            |d, a| {
                let mut g = group("/a");
                g.operation_configs[0]
                    .operations
                    .push(crate::model::Operation {
                        resource: "/b".into(),
                        methods: vec!["POST".into(), "GET".into()],
                    });
                a.products[1].value.operation_group = Some(g.clone());
                g.operation_configs[0].operations.reverse();
                g.operation_configs[0].operations[0].methods.reverse();
                d.products[1].operation_group = Some(g);
            },
            vec![],
        ),
        (
            "key scope",
            |d, _| d.keys[0].scopes = vec![],
            vec![("set-scopes", "key a@x.com/web/default")],
        ),
        (
            "key product",
            |d, _| d.keys[1].products = vec!["p2".into()],
            vec![
                ("attach-product", "key a@x.com/web/second"),
                ("detach-product", "key a@x.com/web/second"),
            ],
        ),
        (
            "key status",
            |d, _| d.keys[1].status = Status::Revoked,
            vec![("revoke", "key a@x.com/web/second")],
        ),
        (
            "missing key",
            |_, a| {
                a.keys.pop();
            },
            vec![("mint", "key a@x.com/web/second")],
        ),
        (
            "unowned developer",
            |_, a| {
                a.developers[0].value.attributes.remove(OWNER_ATTRIBUTE);
            },
            vec![("adopt", "developer a@x.com")],
        ),
        (
            "new product",
            |d, a| {
                a.products.pop();
                let _ = d;
            },
            vec![("create", "product p2")],
        ),
    ];
    for (name, edit, want) in cases {
        let mut d = desired();
        let mut a = mirror(&d);
        edit(&mut d, &mut a);
        let plan =
            run(&d, &a, &[], &[], Options::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(actions(&plan), pairs(&want), "{name}");
    }
}

#[test]
fn from_nothing_creates_in_order_and_flags_mints() {
    let d = desired();
    let plan = run(&d, &Actual::default(), &[], &[], Options::default()).unwrap();
    assert_eq!(
        actions(&plan),
        pairs(&[
            ("create", "developer a@x.com"),
            ("create", "product p1"),
            ("create", "product p2"),
            ("create", "app a@x.com/web"),
            ("mint", "key a@x.com/web/second"),
        ])
    );
    assert!(plan.changes[3].mints && plan.changes[4].mints);
    assert!(
        plan.changes
            .iter()
            .all(|c| c.precondition == Precondition::Absent)
    );
    match &*plan.changes[3].op {
        Op::CreateApp { credential, .. } => {
            assert_eq!(credential.id, DEFAULT_CREDENTIAL_ID);
            assert_eq!(credential.products, vec!["p1".to_string()]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn app_updates_never_carry_products() {
    // The app op has no products field at all: the type rules out the key-minting PUT.
    let mut d = desired();
    let a = mirror(&d);
    d.apps[0].callback_url = Some("https://x.com/other".into());
    let plan = run(&d, &a, &[], &[], Options::default()).unwrap();
    let json = serde_json::to_value(&plan.changes[0].op).unwrap();
    assert_eq!(json["op"], "update-app");
    assert!(json.get("products").is_none() && json["app"].get("apiProducts").is_none());
}

#[test]
fn prune_deletes_only_owned_resources_in_reverse_order() {
    let d = desired();
    let mut a = mirror(&d);
    let mut extra = a.apps[0].clone();
    extra.value.name = "old".into();
    a.apps.push(extra.clone());
    let mut foreign = extra.clone();
    foreign.value.name = "theirs".into();
    foreign.value.attributes.remove(OWNER_ATTRIBUTE);
    a.apps.push(foreign);
    let mut p3 = a.products[0].clone();
    p3.value.name = "p3".into();
    a.products.push(p3);
    let none = run(&d, &a, &[], &[], Options::default()).unwrap();
    assert!(
        none.changes.is_empty(),
        "no prune, no deletes: {:?}",
        actions(&none)
    );
    let plan = run(
        &d,
        &a,
        &[],
        &[],
        Options {
            prune: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        actions(&plan),
        pairs(&[("delete", "app a@x.com/old"), ("delete", "product p3")])
    );
    let err = run(
        &d,
        &a,
        &[],
        &[],
        Options {
            prune: true,
            max_deletes: Some(1),
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(matches!(
        err,
        DiffError::TooManyDeletes {
            count: 2,
            max: 1,
            ..
        }
    ));
}

#[test]
fn resources_of_another_owner_are_conflicts() {
    let d = desired();
    let mut a = mirror(&d);
    a.products[0]
        .value
        .attributes
        .insert(OWNER_ATTRIBUTE.into(), "other".into());
    let err = run(&d, &a, &[], &[], Options::default()).unwrap_err();
    assert!(
        err.to_string().contains("product p1 is owned by `other`"),
        "{err}"
    );
}

#[test]
fn undeclared_keys_are_noted_or_pruned() {
    let d = desired();
    let mut a = mirror(&d);
    let mut stray = a.keys[1].clone();
    stray.id = None;
    stray.attributes.clear();
    stray.consumer_key = Secret::new("stray");
    stray.issued_at = 2_000;
    a.keys.push(stray);
    let plan = run(&d, &a, &[], &[], Options::default()).unwrap();
    assert!(plan.changes.is_empty());
    // A live key on an owned app is drift, counted (exit 2 with --detailed-exitcode).
    assert!(plan.notes.is_empty());
    assert_eq!(plan.unmanaged.len(), 1);
    assert!(!plan.has_changes() && plan.differs());
    assert_eq!(plan.counts().unmanaged, 1);
    let fp = Secret::new("stray").fingerprint();
    assert!(plan.unmanaged[0].address.to_string().ends_with(&fp));
    let plan = run(
        &d,
        &a,
        &[],
        &[],
        Options {
            prune: true,
            ..Options::default()
        },
    )
    .unwrap();
    let at = format!("key a@x.com/web/{fp}");
    assert_eq!(
        actions(&plan),
        vec![
            ("revoke".to_string(), at.clone()),
            ("delete".to_string(), at)
        ]
    );
    assert!(
        !serde_json::to_string(&plan).unwrap().contains("\"stray\""),
        "plans never hold key values"
    );
}

#[test]
fn of_duplicate_keys_for_a_credential_the_stored_one_is_current() {
    let d = desired();
    let mut a = mirror(&d);
    // A lost race left a second, newer key tagged `second`; the store holds the older one.
    let stored_fp = a.keys[1].consumer_key.fingerprint();
    let mut dup = a.keys[1].clone();
    dup.consumer_key = Secret::new("ck-second-dup");
    dup.issued_at += 1_000;
    a.keys.push(dup);
    let stored = vec![IndexEntry {
        developer: "a@x.com".into(),
        app: "web".into(),
        id: "second".into(),
        state: KeyState::Active,
        consumer_key_fingerprint: stored_fp.clone(),
        consumer_secret_fingerprint: String::new(),
        issued_at: 0,
        expires_at: None,
        revoke_after: None,
        file: String::new(),
    }];
    let prune = Options {
        prune: true,
        ..Options::default()
    };
    let plan = run(&d, &a, &stored, &[], prune.clone()).unwrap();
    let extra = |fp: &str| {
        let at = format!("key a@x.com/web/{fp}");
        vec![
            ("revoke".to_string(), at.clone()),
            ("delete".to_string(), at),
        ]
    };
    let dup_fp = Secret::new("ck-second-dup").fingerprint();
    assert_eq!(actions(&plan), extra(&dup_fp));
    // Without the store's word, the newest is current and the older one is the extra.
    let plan = run(&d, &a, &[], &[], prune).unwrap();
    assert_eq!(actions(&plan), extra(&stored_fp));
}

#[test]
fn rotation_mints_then_retires_the_old_key() {
    let d = desired();
    let mut a = mirror(&d);
    let rot = RotationRequest {
        developer: "a@x.com".into(),
        app: "web".into(),
        id: "second".into(),
        requested_at: 5_000,
        overlap: "1s".into(),
    };
    let plan = run(
        &d,
        &a,
        &[],
        std::slice::from_ref(&rot),
        Options {
            now_ms: 6_000,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(actions(&plan), pairs(&[("mint", "key a@x.com/web/second")]));
    assert!(plan.changes[0].mints);
    // After the mint: the old key is retiring in the store, the new one is current.
    let old_fp = a.keys[1].consumer_key.fingerprint();
    let mut new = a.keys[1].clone();
    new.consumer_key = Secret::new("ck-second-2");
    new.issued_at = 6_000;
    a.keys.push(new);
    let stored = vec![IndexEntry {
        developer: "a@x.com".into(),
        app: "web".into(),
        id: "second".into(),
        state: KeyState::Retiring,
        consumer_key_fingerprint: old_fp.clone(),
        consumer_secret_fingerprint: String::new(),
        issued_at: 0,
        expires_at: None,
        revoke_after: Some(7_000),
        file: String::new(),
    }];
    let waiting = run(
        &d,
        &a,
        &stored,
        std::slice::from_ref(&rot),
        Options {
            now_ms: 6_500,
            ..Options::default()
        },
    )
    .unwrap();
    assert!(waiting.changes.is_empty(), "{:?}", actions(&waiting));
    assert!(waiting.notes[0].message.contains("retiring"));
    let due = run(
        &d,
        &a,
        &stored,
        &[rot],
        Options {
            now_ms: 7_000,
            ..Options::default()
        },
    )
    .unwrap();
    let addr = format!("key a@x.com/web/second@{old_fp}");
    assert_eq!(
        actions(&due),
        vec![
            ("revoke".to_string(), addr.clone()),
            ("delete".to_string(), addr)
        ]
    );
}

#[test]
fn preconditions_record_what_was_read() {
    let mut d = desired();
    let a = mirror(&d);
    d.apps[0].callback_url = Some("https://x.com/new".into());
    d.keys[0].scopes = vec![];
    let plan = run(&d, &a, &[], &[], Options::default()).unwrap();
    assert!(matches!(
        plan.changes[0].precondition,
        Precondition::Unchanged {
            last_modified_at: Some(1),
            ..
        }
    ));
    assert!(matches!(
        plan.changes[1].precondition,
        Precondition::Unchanged {
            last_modified_at: None,
            ..
        }
    ));
}

#[test]
fn select_limits_the_plan() {
    let d = desired();
    let plan = run(
        &d,
        &Actual::default(),
        &[],
        &[],
        Options {
            select: vec!["product".into()],
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(
        actions(&plan),
        pairs(&[("create", "product p1"), ("create", "product p2")])
    );
    // Whole addresses: `p` is no product; a pattern that names nothing is an error.
    let only = |select: &str| {
        run(
            &d,
            &Actual::default(),
            &[],
            &[],
            Options {
                select: vec![select.into()],
                ..Options::default()
            },
        )
    };
    assert_eq!(only("p"), Err(DiffError::SelectsNothing(vec!["p".into()])));
    assert_eq!(
        actions(&only("product p?").unwrap()),
        pairs(&[("create", "product p1"), ("create", "product p2")])
    );
    assert_eq!(
        actions(&only("a@x.com").unwrap()),
        pairs(&[("create", "developer a@x.com")])
    );
}

#[test]
fn expiry_changes_are_explained_not_applied() {
    let mut d = desired();
    let a = mirror(&d);
    d.keys[0].expires_in_ms = Some(86_400_000);
    let plan = run(&d, &a, &[], &[], Options::default()).unwrap();
    assert!(plan.changes.is_empty());
    assert!(
        plan.notes[0].message.contains("cannot change"),
        "{:?}",
        plan.notes
    );
}

#[test]
fn changes_to_live_credentials_are_flagged() {
    let flags = |edit: fn(&mut DesiredState, &mut Actual), prune: bool| {
        let mut d = desired();
        let mut a = mirror(&d);
        edit(&mut d, &mut a);
        let opts = Options {
            prune,
            ..Options::default()
        };
        let plan = run(&d, &a, &[], &[], opts).unwrap();
        let all: Vec<(String, Vec<Flag>)> = plan
            .changes
            .iter()
            .map(|c| (c.address.to_string(), c.flags.clone()))
            .collect();
        (all, plan.counts())
    };
    // Revoking an app stops its two live keys.
    let (f, c) = flags(|d, _| d.apps[0].status = Status::Revoked, false);
    assert_eq!(
        f,
        vec![(
            "app a@x.com/web".into(),
            vec![Flag::RevokesLive { keys: 2 }]
        )]
    );
    assert_eq!(c.revokes, 2);
    // Re-approving a key someone revoked.
    let (f, c) = flags(|_, a| a.keys[1].status = Status::Revoked, false);
    assert_eq!(
        f,
        vec![("key a@x.com/web/second".into(), vec![Flag::ReEnables])]
    );
    assert_eq!(c.re_enables, 1);
    // Pruning an app deletes its live keys.
    let (f, c) = flags(
        |d, _| {
            d.apps.clear();
            d.keys.clear();
        },
        true,
    );
    assert_eq!(
        f,
        vec![(
            "app a@x.com/web".into(),
            vec![Flag::DeletesLive { keys: 2 }]
        )]
    );
    assert_eq!(c.deletes_live, 2);
}
