//! Drift classes from the diff: each case starts from a platform as the last apply left it
//! (stamped), changes one thing on one side or both, and checks the report's classes.

use super::*;
use crate::model::{APPLIED_ATTRIBUTE, Secret, Status};
use crate::plan::SecretToStore;
use crate::plan::diff::Options;
use crate::plan::diff::tests::{desired, mirror, run};

/// The platform right after an apply of `d`: every resource carries its stamp.
fn applied(d: &DesiredState) -> Actual {
    let mut a = mirror(d);
    for x in &mut a.developers {
        stamp::stamp_developer(&mut x.value);
    }
    for x in &mut a.products {
        stamp::stamp_product(&mut x.value);
    }
    for x in &mut a.apps {
        stamp::stamp_app(&mut x.value);
    }
    a
}

fn plan_of(d: &DesiredState, a: &Actual, prune: bool) -> Plan {
    let opts = Options {
        prune,
        ..Options::default()
    };
    run(d, a, &[], &[], opts).expect("plan")
}

fn classes(p: &Plan) -> Vec<(String, DriftClass)> {
    report(p)
        .entries
        .iter()
        .map(|e| (e.address.to_string(), e.class))
        .collect()
}

fn one(address: &str, class: DriftClass) -> Vec<(String, DriftClass)> {
    vec![(address.to_string(), class)]
}

#[test]
fn an_applied_platform_is_in_sync_and_the_stamp_is_no_difference() {
    let d = desired();
    let p = plan_of(&d, &applied(&d), false);
    assert!(!p.differs(), "{p:?}");
    let r = report(&p);
    assert!(r.entries.is_empty());
    assert_eq!(r.exit_code(), 0);
}

#[test]
fn each_side_of_a_field_is_classified() {
    let d = desired();
    let url = |s: &str| Some(format!("https://x.com/{s}"));
    // The config moved.
    let mut c = d.clone();
    c.apps[0].callback_url = url("config");
    let p = plan_of(&c, &applied(&d), false);
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Config));
    assert_eq!(report(&p).exit_code(), 2);
    // The platform moved.
    let mut a = applied(&d);
    a.apps[0].value.callback_url = url("portal");
    let p = plan_of(&d, &a, false);
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Platform));
    assert_eq!(report(&p).exit_code(), 3);
    // Both, differently.
    let p = plan_of(&c, &a, false);
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Conflict));
    // An attribute added in the portal, a developer renamed there.
    let mut a = applied(&d);
    a.apps[0]
        .value
        .attributes
        .insert("by-hand".into(), "1".into());
    a.developers[0].value.first_name = "Zed".into();
    let p = plan_of(&d, &a, false);
    assert_eq!(
        classes(&p),
        vec![
            ("app a@x.com/web".to_string(), DriftClass::Platform),
            ("developer a@x.com".to_string(), DriftClass::Platform)
        ]
    );
}

#[test]
fn fields_of_one_resource_are_classified_apart() {
    let d = desired();
    let mut c = d.clone();
    c.apps[0].attributes.insert("tier".into(), "silver".into());
    let mut a = applied(&d);
    a.apps[0].value.callback_url = Some("https://x.com/portal".into());
    let r = report(&plan_of(&c, &a, false));
    let got: Vec<(DriftClass, Vec<&str>)> = r
        .entries
        .iter()
        .map(|e| (e.class, e.fields.iter().map(|f| f.field.as_str()).collect()))
        .collect();
    assert_eq!(
        got,
        vec![
            (DriftClass::Config, vec!["attributes.tier"]),
            (DriftClass::Platform, vec!["callbackUrl"]),
        ]
    );
}

#[test]
fn resources_without_a_stamp_fall_back_to_config() {
    let d = desired();
    let mut a = mirror(&d);
    a.apps[0].value.callback_url = Some("https://x.com/portal".into());
    let p = plan_of(&d, &a, false);
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Config));
}

#[test]
fn creates_and_updates_carry_the_stamp_of_what_they_write() {
    let d = desired();
    let mut c = d.clone();
    c.apps[0].callback_url = Some("https://x.com/new".into());
    let p = plan_of(&c, &applied(&d), false);
    let Op::UpdateApp { app } = &*p.changes[0].op else {
        panic!("{:?}", p.changes[0].op)
    };
    let mut want = c.apps[0].clone();
    stamp::stamp_app(&mut want);
    assert_eq!(
        app.attributes.get(APPLIED_ATTRIBUTE),
        want.attributes.get(APPLIED_ATTRIBUTE)
    );
    // Applied as planned, the next plan is empty.
    let mut after = applied(&d);
    after.apps[0].value = app.clone();
    assert!(!plan_of(&c, &after, false).differs());
}

#[test]
fn an_owned_app_dropped_from_the_config_is_removed() {
    let d = desired();
    let mut c = d.clone();
    c.apps.clear();
    c.keys.clear();
    let p = plan_of(&c, &applied(&d), false);
    assert!(p.changes.is_empty());
    assert_eq!(p.counts().removed, 1);
    assert!(p.differs());
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Removed));
    assert_eq!(report(&p).exit_code(), 3);
    // With --prune it is a delete, still `removed`.
    let p = plan_of(&c, &applied(&d), true);
    assert!(p.removed.is_empty());
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Removed));
}

#[test]
fn an_app_made_by_hand_under_a_managed_developer_is_unmanaged() {
    let d = desired();
    let mut a = applied(&d);
    let mut extra = a.apps[0].clone();
    extra.value.name = "by-hand".into();
    extra.value.attributes.clear();
    a.apps.push(extra);
    let p = plan_of(&d, &a, false);
    assert_eq!(p.counts().unmanaged_apps, 1);
    assert_eq!(
        classes(&p),
        one("app a@x.com/by-hand", DriftClass::Unmanaged)
    );
}

#[test]
fn a_live_key_added_by_hand_is_unmanaged_and_pruning_it_too() {
    let d = desired();
    let mut a = applied(&d);
    let mut extra = a.keys[0].clone();
    extra.consumer_key = Secret::new("ck-by-hand");
    extra.id = Some("by-hand".into());
    extra.status = Status::Approved;
    a.keys.push(extra);
    let p = plan_of(&d, &a, false);
    assert_eq!(p.counts().unmanaged, 1);
    let got = classes(&p);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].1, DriftClass::Unmanaged);
    let p = plan_of(&d, &a, true);
    assert!(
        classes(&p).iter().all(|(_, c)| *c == DriftClass::Unmanaged),
        "{:?}",
        classes(&p)
    );
}

#[test]
fn secrets_out_of_step_are_secret() {
    let d = desired();
    let mut p = plan_of(&d, &applied(&d), false);
    let address = Address::credential("a@x.com", "web", "default");
    p.stores.push(SecretToStore {
        address: address.clone(),
        consumer_key_fingerprint: "sha256:0123".into(),
    });
    p.secrets.push(Note {
        address: address.clone(),
        message: "the stored key sha256:abcd no longer exists on the platform".into(),
    });
    assert!(p.differs());
    let r = report(&p);
    assert_eq!(r.entries.len(), 1, "one entry per address and class");
    assert_eq!(r.entries[0].class, DriftClass::Secret);
    assert_eq!(r.summary.secret, 1);
    assert_eq!(r.exit_code(), 3);
}

#[test]
fn key_changes_without_a_recorded_stamp_are_config() {
    let d = desired();
    let mut c = d.clone();
    c.keys[0].scopes = vec![];
    let p = plan_of(&c, &applied(&d), false);
    assert_eq!(
        classes(&p),
        one("key a@x.com/web/default", DriftClass::Config)
    );
}

/// A platform where every class of drift happened at once, after an apply of `desired()`:
/// the config changed an attribute (config), the portal renamed the developer (platform),
/// both changed the callback (conflict), the config dropped a product (removed), someone made
/// an app and added a live key by hand (unmanaged), and the store lost track of a key (secret).
fn everything(prune: bool) -> Plan {
    let d = desired();
    let mut a = applied(&d);
    let mut c = d.clone();
    c.apps[0].attributes.insert("tier".into(), "silver".into());
    a.developers[0].value.first_name = "Zed".into();
    c.apps[0].callback_url = Some("https://x.com/config".into());
    a.apps[0].value.callback_url = Some("https://x.com/portal".into());
    c.products.retain(|p| p.name != "p2");
    let mut app = a.apps[0].clone();
    app.value.name = "by-hand".into();
    app.value.attributes.clear();
    a.apps.push(app);
    let mut key = a.keys[0].clone();
    key.consumer_key = Secret::new("ck-by-hand");
    key.id = Some("by-hand".into());
    a.keys.push(key);
    let mut p = plan_of(&c, &a, prune);
    let address = Address::credential("a@x.com", "web", "second");
    p.stores.push(SecretToStore {
        address: address.clone(),
        consumer_key_fingerprint: "sha256:00112233deadbeef".into(),
    });
    p.secrets.push(Note {
        address,
        message: "the stored key sha256:8899aabbccddeeff no longer exists on the platform (deleted out of band?)".into(),
    });
    p
}

#[test]
fn snapshot_every_class_in_text_markdown_and_json() {
    let p = everything(false);
    let r = report(&p);
    for class in DriftClass::ALL {
        assert!(r.summary.get(class) > 0, "{class:?} in the snapshot");
    }
    assert_eq!(r.exit_code(), 3);
    insta::assert_snapshot!("drift_text", render::text(&r, false));
    insta::assert_snapshot!("drift_markdown", render::markdown(&r));
    insta::assert_snapshot!("drift_json", render::json(&r));
    insta::assert_snapshot!("drift_text_color", render::text(&r, true));
}

#[test]
fn snapshot_in_sync_and_config_only() {
    let d = desired();
    let r = report(&plan_of(&d, &applied(&d), false));
    insta::assert_snapshot!("drift_in_sync_text", render::text(&r, false));
    insta::assert_snapshot!("drift_in_sync_markdown", render::markdown(&r));
    let mut c = d.clone();
    c.apps[0].callback_url = Some("https://x.com/new".into());
    let r = report(&plan_of(&c, &applied(&d), false));
    assert_eq!(r.exit_code(), 2);
    insta::assert_snapshot!("drift_config_only_text", render::text(&r, false));
}

/// The plan with the same drift: its own section above the changes, the counts in the
/// summary line; with `--prune`, the loud flags of what pruning revokes and deletes.
#[test]
fn snapshot_plan_drift_section_and_flags() {
    let p = everything(false);
    insta::assert_snapshot!("plan_drift_text", crate::plan::render::text(&p, false));
    insta::assert_snapshot!("plan_drift_markdown", crate::plan::render::markdown(&p));
    let mut p = everything(true);
    // And a revoked app re-approved by the config: re-enables a credential.
    let d = desired();
    let mut a = applied(&d);
    a.apps[0].value.status = Status::Revoked;
    let reenable = plan_of(&d, &a, false);
    p.changes.extend(reenable.changes);
    insta::assert_snapshot!(
        "plan_prune_flags_text",
        crate::plan::render::text(&p, false)
    );
    insta::assert_snapshot!(
        "plan_prune_flags_color",
        crate::plan::render::text(&p, true)
    );
    insta::assert_snapshot!(
        "plan_prune_flags_markdown",
        crate::plan::render::markdown(&p)
    );
}

#[test]
fn a_status_change_alone_records_itself_in_the_stamp() {
    let d = desired();
    let mut c = d.clone();
    c.apps[0].status = Status::Revoked;
    let p = plan_of(&c, &applied(&d), false);
    assert_eq!(p.changes.len(), 1);
    let Some(Op::UpdateApp { app }) = p.changes[0].restamp.as_deref() else {
        panic!("{:?}", p.changes[0])
    };
    // Applied: revoked, and the stamp says so. The portal re-approves it: platform drift.
    let mut after = applied(&d);
    after.apps[0].value = app.clone();
    after.apps[0].value.status = Status::Revoked;
    assert!(!plan_of(&c, &after, false).differs());
    after.apps[0].value.status = Status::Approved;
    let p = plan_of(&c, &after, false);
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Platform));
    // With an update of the same app in the plan, the update stamps the status it finds and
    // the status change restamps once it is done: a status call that failed after the update
    // is still pending as `config`, not taken for a portal edit.
    c.apps[0].callback_url = Some("https://x.com/new".into());
    let p = plan_of(&c, &applied(&d), false);
    let update = p
        .changes
        .iter()
        .find_map(|ch| match &*ch.op {
            Op::UpdateApp { app } => Some(app.clone()),
            _ => None,
        })
        .expect("an update");
    assert!(
        p.changes
            .iter()
            .any(|ch| matches!(*ch.op, Op::SetAppStatus { .. }) && ch.restamp.is_some()),
        "{p:?}"
    );
    let mut after = applied(&d);
    after.apps[0].value = update;
    after.apps[0].value.status = Status::Approved;
    let p = plan_of(&c, &after, false);
    assert_eq!(classes(&p), one("app a@x.com/web", DriftClass::Config));
}

#[test]
fn every_stamped_field_is_covered() {
    let d = desired();
    let names = stamp::developer_fields(&d.developers[0])
        .into_iter()
        .chain(stamp::product_fields(&d.products[0]))
        .chain(stamp::app_fields(&d.apps[0]));
    for (name, _) in names {
        assert!(stamp::covered(&name), "{name}");
    }
}

/// The plan with the key stamps an apply of `d` would have recorded.
fn plan_with_keys(d: &DesiredState, c: &DesiredState, a: &Actual) -> Plan {
    let applied: std::collections::BTreeMap<String, String> = d
        .keys
        .iter()
        .map(|k| {
            (
                Secret::new(format!("ck-{}", k.id)).fingerprint(),
                stamp::stamp(&stamp::desired_key_fields(k)),
            )
        })
        .collect();
    let declared = crate::plan::diff::declared(c);
    let keys = crate::plan::matching::KeyMatch::new(a, &[], &declared);
    crate::plan::diff::diff(crate::plan::diff::Input {
        desired: c,
        actual: a,
        keys: &keys,
        rotations: &[],
        backend: "test",
        applied_keys: &applied,
        options: &Options::default(),
    })
    .expect("plan")
}

#[test]
fn key_changes_are_classified_against_the_recorded_stamp() {
    let d = desired();
    let key = "key a@x.com/web/default";
    // Revoked on the platform (an incident): platform, and the plan re-enables it loudly.
    let mut a = applied(&d);
    a.keys[0].status = Status::Revoked;
    let p = plan_with_keys(&d, &d, &a);
    assert_eq!(classes(&p), one(key, DriftClass::Platform));
    // Revoked in the config: config.
    let mut c = d.clone();
    c.keys[0].status = Status::Revoked;
    let p = plan_with_keys(&d, &c, &applied(&d));
    assert_eq!(classes(&p), one(key, DriftClass::Config));
    // A product granted by hand and one dropped from the config: platform, config.
    let mut a = applied(&d);
    a.keys[0].grants.push(crate::model::Grant {
        product: "p2".into(),
        status: Status::Approved,
    });
    let p = plan_with_keys(&d, &d, &a);
    assert_eq!(classes(&p), one(key, DriftClass::Platform));
    // Scopes changed on both sides, differently: conflict.
    let mut c = d.clone();
    c.keys[0].scopes = vec!["w".into()];
    let mut a = applied(&d);
    a.keys[0].scopes = vec!["x".into()];
    let p = plan_with_keys(&d, &c, &a);
    assert_eq!(classes(&p), one(key, DriftClass::Conflict));
    // The plan lists the stamp apply records for the credential it changes.
    assert_eq!(p.key_stamps.len(), 1);
    assert_eq!(p.key_stamps[0].address.to_string(), key);
    assert_eq!(
        p.key_stamps[0].stamp,
        stamp::stamp(&stamp::desired_key_fields(&c.keys[0]))
    );
}

#[test]
fn a_report_of_some_classes_is_the_report_without_the_others() {
    for prune in [false, true] {
        let p = everything(prune);
        let mut all = report(&p).entries;
        all.retain(|e| e.class != DriftClass::Config);
        let some = report_of(&p, |c| c != DriftClass::Config).entries;
        assert!(!some.is_empty());
        assert_eq!(some, all);
    }
}
