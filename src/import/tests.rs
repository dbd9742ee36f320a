//! The translation over small hand-made orgs.

use std::collections::BTreeMap;

use super::*;
use crate::model::{Grant, Observed, Secret};

fn observed<T>(value: T) -> Observed<T> {
    Observed {
        value,
        last_modified_at: None,
    }
}

fn key(app: &str, ck: &str, issued_at: i64, products: &[&str]) -> Key {
    Key {
        developer: "ann@example.com".into(),
        app: app.into(),
        id: None,
        consumer_key: Secret::new(ck),
        consumer_secret: Secret::new(format!("{ck}-secret")),
        grants: products
            .iter()
            .map(|p| Grant {
                product: p.to_string(),
                status: Status::Approved,
            })
            .collect(),
        scopes: vec![],
        status: Status::Approved,
        attributes: Attributes::new(),
        issued_at,
        expires_at: None,
    }
}

fn org() -> Actual {
    let mut app_attrs = Attributes::new();
    app_attrs.insert("DisplayName".into(), "Web".into());
    app_attrs.insert("team".into(), "pay".into());
    app_attrs.insert(OWNER_ATTRIBUTE.into(), "me".into());
    Actual {
        developers: vec![observed(Developer {
            email: "ann@example.com".into(),
            first_name: "Ann".into(),
            last_name: "Lee".into(),
            user_name: "ann".into(),
            status: DeveloperStatus::Active,
            attributes: Attributes::new(),
        })],
        products: vec![observed(Product {
            name: "pay".into(),
            display_name: "pay".into(),
            description: String::new(),
            approval_type: crate::model::ApprovalType::Auto,
            environments: vec!["prod".into(), "dev".into()],
            proxies: vec![],
            api_resources: vec![],
            scopes: vec!["read".into()],
            quota: None,
            attributes: [("access".to_string(), "private".to_string())].into(),
            operation_group: None,
            graphql_operation_group: None,
        })],
        apps: vec![
            observed(App {
                developer: "ann@example.com".into(),
                name: "web".into(),
                callback_url: Some("https://web.example.com/cb".into()),
                status: Status::Approved,
                scopes: vec![],
                key_expires_in_ms: None,
                attributes: app_attrs,
            }),
            observed(App {
                developer: "ann@example.com".into(),
                name: "two keys".into(),
                callback_url: None,
                status: Status::Revoked,
                scopes: vec![],
                key_expires_in_ms: None,
                attributes: Attributes::new(),
            }),
        ],
        keys: vec![
            key("web", "ck-web-000001", 5, &["pay"]),
            key("two keys", "ck-two-000002", 20, &[]),
            key("two keys", "ck-two-000001", 10, &["pay"]),
        ],
        group_apps: vec![crate::model::GroupApp {
            group: "partners".into(),
            name: "shared".into(),
            products: vec!["pay".into()],
        }],
        requests: 0,
    }
}

fn build_all(actual: &Actual) -> Import<'_> {
    build(
        actual,
        Options {
            owner: "me",
            select: &[],
            stored: &[],
            exclude: &BTreeMap::new(),
        },
    )
}

#[test]
fn own_attributes_become_fields_and_keys_credentials() {
    let actual = org();
    let i = build_all(&actual);
    let p = &i.products[0].value;
    assert_eq!(p.access, Some(Access::Private));
    assert!(p.attributes.is_empty());
    assert_eq!(p.environments, ["dev", "prod"]);
    let apps: Vec<&AppConfig> = i.apps.iter().map(|a| &a.value).collect();
    // Sorted by name: "two keys" < "web".
    assert_eq!(apps[0].name, "two keys");
    let creds = apps[0].credentials.as_ref().unwrap();
    let ids: Vec<&str> = creds.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["default", "key-2"]);
    assert_eq!(
        creds[0].api_products.as_deref(),
        Some(&["pay".to_string()][..])
    );
    assert_eq!(apps[0].status, Some(ClientStatus::Revoked));
    let web = apps[1];
    assert_eq!(web.display_name.as_deref(), Some("Web"));
    assert_eq!(
        web.attributes.len(),
        1,
        "owner stamp and DisplayName removed"
    );
    assert!(web.credentials.is_none(), "one default key: implicit");
    assert_eq!(web.api_products, ["pay"]);
    assert_eq!(i.keys.len(), 3);
    assert_eq!(i.left_out.len(), 1, "the AppGroup app is listed");
}

#[test]
fn another_owners_resources_are_left_out_and_said() {
    let mut actual = org();
    actual.apps[0]
        .value
        .attributes
        .insert(OWNER_ATTRIBUTE.into(), "them".into());
    let i = build_all(&actual);
    assert_eq!(i.apps.len(), 1);
    assert!(
        i.left_out
            .iter()
            .any(|r| r.message.contains("owned by `them`")),
        "{:?}",
        i.left_out
    );
}

#[test]
fn select_keeps_matching_apps_with_their_keys() {
    let actual = org();
    let select = vec!["app ann@example.com/web".to_string()];
    let i = build(
        &actual,
        Options {
            owner: "me",
            select: &select,
            stored: &[],
            exclude: &BTreeMap::new(),
        },
    );
    assert!(i.developers.is_empty() && i.products.is_empty());
    assert_eq!(i.apps.len(), 1);
    assert_eq!(i.keys.len(), 1);
}

#[test]
fn emitted_yaml_is_deterministic_and_secret_free() {
    let actual = org();
    let i = build_all(&actual);
    let settings = emit::Settings {
        owner: "me".into(),
        backend: None,
        secrets: None,
        source: "the local registry".into(),
    };
    let a = emit::emit(&i, &settings, emit::Layout::Single, "registry.yaml");
    let mut shuffled = org();
    shuffled.keys.reverse();
    shuffled.apps.reverse();
    let j = build_all(&shuffled);
    let b = emit::emit(&j, &settings, emit::Layout::Single, "registry.yaml");
    assert_eq!(a, b);
    let text = &a[0].text;
    assert!(!text.contains("ck-"), "{text}");
    assert!(
        text.starts_with("# yaml-language-server: $schema="),
        "{text}"
    );
    assert!(text.contains("app group partners/shared"), "{text}");
}

#[test]
fn a_key_without_secret_is_declared_and_reported() {
    let mut actual = org();
    actual.keys[0].consumer_secret = Secret::new("");
    let i = build_all(&actual);
    let missing = i.without_secret();
    assert_eq!(missing.len(), 1);
    assert_eq!(
        missing[0].address.to_string(),
        "key ann@example.com/web/default"
    );
}
