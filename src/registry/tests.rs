//! Unit tests of the store, on in-memory databases (and one file for WAL and migrations).

use super::*;
use crate::model::{ApprovalType, DeveloperStatus, Status};

fn store() -> Registry {
    let s = Registry::open_in_memory().unwrap();
    s.ensure_org("local").unwrap();
    s
}

fn dev(email: &str) -> DeveloperInput {
    DeveloperInput {
        email: email.into(),
        first_name: "A".into(),
        last_name: "B".into(),
        user_name: "ab".into(),
        attributes: vec![Attribute::new("team", "payments")],
        extra: None,
    }
}

fn product(name: &str, approval: ApprovalType, scopes: &[&str]) -> ProductInput {
    ProductInput {
        name: name.into(),
        display_name: name.to_uppercase(),
        approval_type: approval,
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn app(name: &str, products: &[&str]) -> AppInput {
    AppInput {
        name: name.into(),
        api_products: products.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn seeded() -> Registry {
    let mut s = store();
    s.create_developer("local", &dev("alice@example.com"))
        .unwrap();
    s.create_product(
        "local",
        &product("auto", ApprovalType::Auto, &["read", "write"]),
    )
    .unwrap();
    s.create_product(
        "local",
        &product("manual", ApprovalType::Manual, &["admin"]),
    )
    .unwrap();
    s
}

#[test]
fn developers_round_trip_and_constraints() {
    let mut s = store();
    let d = s
        .create_developer("local", &dev("alice@example.com"))
        .unwrap();
    assert_eq!(d.status, DeveloperStatus::Active);
    assert_eq!(d.attributes, vec![Attribute::new("team", "payments")]);
    assert_eq!(d.organization, "local");
    let by_id = s.get_developer("local", &d.developer_id).unwrap();
    assert_eq!(by_id, d);
    assert!(matches!(
        s.create_developer("local", &dev("alice@example.com")),
        Err(Error::AlreadyExists {
            kind: Kind::Developer,
            ..
        })
    ));
    // X: uppercase refused; Edge: accepted, and unique case-insensitively.
    let err = s
        .create_developer("local", &dev("Bob@example.com"))
        .unwrap_err();
    assert_eq!(err.to_string(), "email address has to be lowercase");
    let mut s = s.with_options(RegistryOptions {
        lowercase_emails: false,
        key_shape: KeyShape::EDGE,
    });
    s.create_developer("local", &dev("Bob@example.com"))
        .unwrap();
    assert!(matches!(
        s.create_developer("local", &dev("bob@example.com")),
        Err(Error::AlreadyExists { .. })
    ));
    assert!(matches!(
        s.create_developer("local", &dev("not-an-email")),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.get_developer("nope", "alice@example.com"),
        Err(Error::NotFound {
            kind: Kind::Org,
            ..
        })
    ));
}

#[test]
fn developer_list_is_paginated_with_an_inclusive_start_key() {
    let mut s = store();
    for i in 0..5 {
        s.create_developer("local", &dev(&format!("d{i}@x.com")))
            .unwrap();
    }
    let first = s.list_developers("local", &Page::first(2)).unwrap();
    let emails: Vec<_> = first.iter().map(|d| d.email.as_str()).collect();
    assert_eq!(emails, ["d0@x.com", "d1@x.com"]);
    let next = s
        .list_developers("local", &Page::from("d1@x.com", 3))
        .unwrap();
    let emails: Vec<_> = next.iter().map(|d| d.email.as_str()).collect();
    assert_eq!(emails, ["d1@x.com", "d2@x.com", "d3@x.com"]);
    assert!(matches!(
        s.list_developers("local", &Page::from("zz@x.com", 3)),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn developer_update_status_and_cascading_delete() {
    let mut s = seeded();
    let mut input = dev("alice@example.com");
    input.first_name = "Alicia".into();
    input.attributes = vec![];
    let d = s
        .update_developer("local", "alice@example.com", &input)
        .unwrap();
    assert_eq!(d.first_name, "Alicia");
    assert!(d.attributes.is_empty());
    s.set_developer_status("local", "alice@example.com", DeveloperStatus::Inactive)
        .unwrap();
    assert_eq!(
        s.get_developer("local", "alice@example.com")
            .unwrap()
            .status,
        DeveloperStatus::Inactive
    );
    let a = s
        .create_app("local", "alice@example.com", &app("web", &["auto"]))
        .unwrap();
    assert_eq!(
        s.get_developer("local", "alice@example.com").unwrap().apps,
        ["web"]
    );
    let gone = s.delete_developer("local", "alice@example.com").unwrap();
    assert_eq!(gone.apps, ["web"]);
    assert!(matches!(
        s.get_app_by_id("local", &a.app_id),
        Err(Error::NotFound {
            kind: Kind::App,
            ..
        })
    ));
    let keys: i64 = s
        .conn
        .query_row("SELECT COUNT(*) FROM keys", [], |r| r.get(0))
        .unwrap();
    assert_eq!(keys, 0);
}

#[test]
fn app_create_mints_one_key_with_grant_status_from_approval_type() {
    let mut s = seeded();
    let mut input = app("web", &["auto", "manual"]);
    input.key_expires_in = Some(3_600_000);
    let a = s.create_app("local", "alice@example.com", &input).unwrap();
    assert_eq!(a.credentials.len(), 1);
    let k = &a.credentials[0];
    assert_eq!(k.consumer_key.expose().len(), 48);
    assert_eq!(k.consumer_secret.expose().len(), 64);
    assert!(
        k.consumer_key
            .expose()
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    );
    assert_eq!(k.expires_at, Some(k.issued_at + 3_600_000));
    let grants: Vec<_> = k
        .api_products
        .iter()
        .map(|g| (g.product.as_str(), g.status))
        .collect();
    assert_eq!(
        grants,
        [("auto", Status::Approved), ("manual", Status::Pending)]
    );
    assert!(matches!(
        s.create_app("local", "alice@example.com", &app("web", &[])),
        Err(Error::AlreadyExists {
            kind: Kind::App,
            ..
        })
    ));
    assert!(matches!(
        s.create_app("local", "alice@example.com", &app("other", &["missing"])),
        Err(Error::NotFound {
            kind: Kind::Product,
            ..
        })
    ));
    // The failed create left nothing behind (one transaction).
    assert!(s.get_app("local", "alice@example.com", "other").is_err());
    let never = s
        .create_app("local", "alice@example.com", &app("never", &[]))
        .unwrap();
    assert_eq!(never.credentials[0].expires_at, None);
}

#[test]
fn update_app_with_products_appends_a_key_and_replaces_attributes() {
    let mut s = seeded();
    s.create_app("local", "alice@example.com", &app("web", &["auto"]))
        .unwrap();
    let plain = AppUpdate {
        attributes: Some(vec![Attribute::new("DisplayName", "Web")]),
        callback_url: Some("https://web/cb".into()),
        ..Default::default()
    };
    let a = s
        .update_app("local", "alice@example.com", "web", &plain)
        .unwrap();
    assert_eq!(a.credentials.len(), 1);
    assert_eq!(a.callback_url.as_deref(), Some("https://web/cb"));
    assert_eq!(a.attributes, vec![Attribute::new("DisplayName", "Web")]);
    let with_products = AppUpdate {
        api_products: Some(vec!["manual".into()]),
        ..Default::default()
    };
    let a = s
        .update_app("local", "alice@example.com", "web", &with_products)
        .unwrap();
    assert_eq!(a.credentials.len(), 2);
    assert_eq!(a.credentials[1].api_products[0].product, "manual");
    let a = s
        .generate_key("local", "alice@example.com", "web", &AppUpdate::default())
        .unwrap();
    assert_eq!(a.credentials.len(), 3);
    assert!(a.credentials[2].api_products.is_empty());
    s.set_app_status("local", "alice@example.com", "web", Status::Revoked)
        .unwrap();
    assert_eq!(
        s.get_app("local", "alice@example.com", "web")
            .unwrap()
            .status,
        Status::Revoked
    );
}

#[test]
fn keys_import_grants_scopes_status_and_delete() {
    let mut s = seeded();
    let a = s
        .create_app("local", "alice@example.com", &app("web", &[]))
        .unwrap();
    let import = KeyImport {
        consumer_key: Secret::new("my-key_1"),
        consumer_secret: Secret::new("my-secret"),
        attributes: vec![],
        scopes: vec![],
        expires_in_ms: None,
        extra: None,
    };
    let k = s
        .import_key("local", "alice@example.com", "web", &import)
        .unwrap();
    assert_eq!(k.status, Status::Approved);
    assert!(k.api_products.is_empty());
    // Consumer keys are unique per org, also across apps.
    s.create_app("local", "alice@example.com", &app("two", &[]))
        .unwrap();
    let dup = s
        .import_key("local", "alice@example.com", "two", &import)
        .unwrap_err();
    assert!(matches!(
        dup,
        Error::AlreadyExists {
            kind: Kind::Key,
            ..
        }
    ));
    assert!(!dup.to_string().contains("my-key_1"), "{dup}");
    let bad = KeyImport {
        consumer_key: Secret::new("bad key!"),
        ..import.clone()
    };
    assert!(matches!(
        s.import_key("local", "alice@example.com", "web", &bad),
        Err(Error::Invalid(_))
    ));

    let (o, d, ap) = ("local", "alice@example.com", "web");
    let products = vec!["auto".to_string(), "auto".to_string()];
    let attrs = [Attribute::new("registrar-credential", "primary")];
    let k = s
        .add_key_products(o, d, ap, "my-key_1", &products, Some(&attrs))
        .unwrap();
    assert_eq!(k.api_products.len(), 1, "duplicates are ignored");
    assert_eq!(k.attributes, attrs);
    let k = s
        .add_key_products(o, d, ap, "my-key_1", &["manual".into()], None)
        .unwrap();
    assert_eq!(k.api_products.len(), 2);
    assert_eq!(k.attributes, attrs, "attributes kept when not given");

    let k = s
        .set_key_scopes(o, d, ap, "my-key_1", &["read".into(), "admin".into()])
        .unwrap();
    assert_eq!(k.scopes, ["read", "admin"]);
    assert!(matches!(
        s.set_key_scopes(o, d, ap, "my-key_1", &["nope".into()]),
        Err(Error::InvalidScopes { .. })
    ));

    s.set_key_status(o, d, ap, "my-key_1", Status::Revoked)
        .unwrap();
    s.set_key_product_status(o, d, ap, "my-key_1", "manual", Status::Approved)
        .unwrap();
    let k = s.get_key(o, d, ap, "my-key_1").unwrap();
    assert_eq!(k.status, Status::Revoked);
    assert_eq!(k.api_products[1].status, Status::Approved);

    let k = s.remove_key_product(o, d, ap, "my-key_1", "auto").unwrap();
    assert_eq!(k.api_products.len(), 1);
    assert!(matches!(
        s.remove_key_product(o, d, ap, "my-key_1", "auto"),
        Err(Error::ProductNotOnKey { .. })
    ));
    s.delete_key(o, d, ap, "my-key_1").unwrap();
    let err = s.get_key(o, d, ap, "my-key_1").unwrap_err();
    assert!(matches!(
        err,
        Error::NotFound {
            kind: Kind::Key,
            ..
        }
    ));
    assert!(!err.to_string().contains("my-key_1"));
    assert_eq!(s.get_app_by_id(o, &a.app_id).unwrap().credentials.len(), 1);
}

#[test]
fn key_records_do_not_print_secrets() {
    let mut s = seeded();
    let a = s
        .create_app("local", "alice@example.com", &app("web", &[]))
        .unwrap();
    let k = &a.credentials[0];
    let shown = format!("{a:?}");
    assert!(!shown.contains(k.consumer_key.expose()));
    assert!(!shown.contains(k.consumer_secret.expose()));
}

#[test]
fn org_apps_are_listed_by_app_id_with_keys_in_bulk() {
    let mut s = seeded();
    for i in 0..7 {
        s.create_app(
            "local",
            "alice@example.com",
            &app(&format!("a{i}"), &["auto"]),
        )
        .unwrap();
    }
    let all = s.list_org_apps("local", &Page::first(100)).unwrap();
    assert_eq!(all.len(), 7);
    let ids: Vec<_> = all.iter().map(|a| a.app_id.clone()).collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    assert!(
        all.iter()
            .all(|a| a.credentials.len() == 1 && a.developer_email == "alice@example.com")
    );
    let page = s
        .list_org_apps("local", &Page::from(ids[3].clone(), 2))
        .unwrap();
    assert_eq!(page[0].app_id, ids[3]);
    assert_eq!(page[1].app_id, ids[4]);
    let dev_apps = s
        .list_developer_apps("local", "alice@example.com", &Page::from("a5", 10))
        .unwrap();
    let names: Vec<_> = dev_apps.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["a5", "a6"]);
}

#[test]
fn products_update_delete_and_grants_follow() {
    let mut s = seeded();
    let mut p = product("auto", ApprovalType::Manual, &["read"]);
    p.description = "changed".into();
    let r = s.update_product("local", "auto", &p).unwrap();
    assert_eq!(r.product.description, "changed");
    assert_eq!(r.product.approval_type, ApprovalType::Manual);
    p.name = "renamed".into();
    assert!(matches!(
        s.update_product("local", "auto", &p),
        Err(Error::Invalid(_))
    ));
    assert!(matches!(
        s.create_product("local", &product("auto", ApprovalType::Auto, &[])),
        Err(Error::AlreadyExists { .. })
    ));
    let a = s
        .create_app("local", "alice@example.com", &app("web", &["auto"]))
        .unwrap();
    s.delete_product("local", "auto").unwrap();
    let a = s.get_app_by_id("local", &a.app_id).unwrap();
    assert!(a.credentials[0].api_products.is_empty());
    let names: Vec<_> = s
        .list_products("local", &Page::first(10))
        .unwrap()
        .into_iter()
        .map(|p| p.product.name)
        .collect();
    assert_eq!(names, ["manual"]);
}

#[test]
fn file_database_uses_wal_and_reopens_at_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dir/r.db");
    {
        let mut s = Registry::open(&path).unwrap();
        s.ensure_org("local").unwrap();
        s.create_developer("local", &dev("a@x.com")).unwrap();
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
    let s = Registry::open(&path).unwrap();
    let v: i64 = s
        .conn
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    assert_eq!(
        s.get_developer("local", "A@X.com").unwrap().email,
        "a@x.com"
    );
    s.conn
        .execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(s);
    let err = Registry::open(&path).unwrap_err();
    assert!(err.to_string().contains("upgrade registrar"), "{err}");
}

#[test]
fn put_key_grants_and_scopes_in_one_transaction() {
    let mut s = seeded();
    let a = s
        .create_app("local", "alice@example.com", &app("web", &[]))
        .unwrap();
    let key = a.credentials[0].consumer_key.expose().to_string();
    let (o, d) = ("local", "alice@example.com");
    let bad = s.replace_key(o, d, "web", &key, &["auto".into()], Some(&["admin".into()]));
    assert!(matches!(bad, Err(Error::InvalidScopes { .. })));
    let k = s.get_key(o, d, "web", &key).unwrap();
    assert!(k.api_products.is_empty(), "the failed PUT granted nothing");
    let k = s
        .replace_key(o, d, "web", &key, &["auto".into()], Some(&["write".into()]))
        .unwrap();
    assert_eq!(k.api_products[0].product, "auto");
    assert_eq!(k.scopes, ["write"]);
}

fn extra(v: serde_json::Value) -> super::Extra {
    v.as_object().unwrap().clone()
}

#[test]
fn unmodelled_fields_are_kept_replaced_by_some_and_left_alone_by_none() {
    let mut s = seeded();
    let og = serde_json::json!({
        "operationGroup": {"operationConfigs": [{"apiSource": "p", "operations": [{"resource": "/a", "methods": ["GET"]}]}]},
        "quotaCounterScope": "OPERATION"
    });
    let mut p = product("og", ApprovalType::Auto, &[]);
    p.extra = Some(extra(og.clone()));
    let rec = s.create_product("local", &p).unwrap();
    assert_eq!(rec.extra, extra(og.clone()));
    assert_eq!(rec.product.extra, None);
    // None keeps (the local backend's writes), Some replaces (a PUT).
    p.extra = None;
    p.description = "changed".into();
    assert_eq!(
        s.update_product("local", "og", &p).unwrap().extra,
        extra(og.clone())
    );
    p.extra = Some(extra(serde_json::json!({"space": "team-a"})));
    let rec = s.update_product("local", "og", &p).unwrap();
    assert_eq!(rec.extra, extra(serde_json::json!({"space": "team-a"})));
    let listed = s.list_products("local", &Page::first(10)).unwrap();
    let og_listed = listed.iter().find(|p| p.product.name == "og").unwrap();
    assert_eq!(og_listed.extra, rec.extra);

    let mut d = dev("bob@example.com");
    d.extra = Some(extra(serde_json::json!({"accessType": "x"})));
    s.create_developer("local", &d).unwrap();
    d.extra = None;
    let got = s.update_developer("local", "bob@example.com", &d).unwrap();
    assert_eq!(got.extra, extra(serde_json::json!({"accessType": "x"})));

    let mut a = app("web", &["auto"]);
    a.extra = Some(extra(serde_json::json!({"appFamily2": [1, 2]})));
    s.create_app("local", "bob@example.com", &a).unwrap();
    let keep = AppUpdate::default();
    let got = s
        .generate_key("local", "bob@example.com", "web", &keep)
        .unwrap();
    assert_eq!(got.extra, extra(serde_json::json!({"appFamily2": [1, 2]})));
    let wipe = AppUpdate {
        extra: Some(super::Extra::new()),
        ..Default::default()
    };
    let got = s
        .update_app("local", "bob@example.com", "web", &wipe)
        .unwrap();
    assert!(got.extra.is_empty());
}

#[test]
fn app_groups_own_apps_that_developers_never_show() {
    let mut s = seeded();
    let g = super::AppGroupInput {
        name: "team".into(),
        display_name: "Team".into(),
        ..Default::default()
    };
    s.create_app_group("local", &g).unwrap();
    let owner = s.app_group_owner("local", "team").unwrap();
    let a = s
        .create_app("local", &owner, &app("svc", &["auto"]))
        .unwrap();
    assert_eq!(a.app_group.as_deref(), Some("team"));
    assert_eq!(a.credentials.len(), 1);
    // Developer reads skip the owner; the developer-app listing (local backend) skips the app.
    assert_eq!(
        s.list_developers("local", &Page::first(100)).unwrap().len(),
        1
    );
    assert!(
        s.list_org_apps("local", &Page::first(100))
            .unwrap()
            .is_empty()
    );
    let all = s
        .list_org_apps_where(
            "local",
            super::AppTypes::All,
            None,
            super::AppCursor::Top,
            10,
        )
        .unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        s.count_org_apps("local", super::AppTypes::AppGroup, None)
            .unwrap(),
        1
    );
    assert_eq!(
        s.count_org_apps("local", super::AppTypes::Developer, None)
            .unwrap(),
        0
    );
    // Deleting the group deletes its apps and keys.
    s.delete_app_group("local", "team").unwrap();
    assert_eq!(
        s.count_org_apps("local", super::AppTypes::All, None)
            .unwrap(),
        0
    );
    assert!(matches!(
        s.app_group_owner("local", "team"),
        Err(Error::NotFound {
            kind: Kind::AppGroup,
            ..
        })
    ));
}

#[test]
fn app_counts_follow_changes_of_this_connection_and_of_others() {
    // `count_org_apps` is kept per connection until the database changes (every page of an
    // X listing carries it): a create here or through another connection must show.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.db");
    let mut a = Registry::open(&path).unwrap();
    a.ensure_org("local").unwrap();
    a.create_developer("local", &dev("alice@example.com"))
        .unwrap();
    a.create_product("local", &product("auto", ApprovalType::Auto, &[]))
        .unwrap();
    let mut b = Registry::open(&path).unwrap();
    let count = |r: &Registry, status| {
        r.count_org_apps("local", super::AppTypes::All, status)
            .unwrap()
    };
    assert_eq!(count(&a, None), 0);
    a.create_app("local", "alice@example.com", &app("one", &["auto"]))
        .unwrap();
    assert_eq!(count(&a, None), 1, "a change of this connection");
    assert_eq!(count(&b, None), 1);
    b.create_app("local", "alice@example.com", &app("two", &["auto"]))
        .unwrap();
    assert_eq!(count(&a, None), 2, "a commit of another connection");
    assert_eq!(count(&a, None), 2, "and again, from what was kept");
    assert_eq!(count(&a, Some(Status::Revoked)), 0);
    b.delete_app("local", "alice@example.com", "one").unwrap();
    assert_eq!(count(&a, None), 1);
}
