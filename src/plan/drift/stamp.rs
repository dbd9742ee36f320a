//! The `registrar-applied` stamp: what apply last wrote to a developer, product or app, as a
//! short hash per managed field. No secret material: developers, products and apps hold
//! none, and only field values are hashed.
//!
//! Format: `1:` then `NAME=VALUE` pairs joined by `,`, where `NAME` is 6 hex digits of the
//! SHA-256 of the field's name as plans show it (`callbackUrl`, `attributes.tier`, `status`)
//! and `VALUE` 8 hex digits of the SHA-256 of its value as plans show it (absent, empty text
//! and empty lists alike). A field the stamp does not name was absent when applied. One hash
//! per field (rather than one per resource) lets each field of a difference be classified on
//! its own: a callback edited in the portal and an attribute edited in the config are
//! `platform` and `config`, not one `conflict`.

use std::collections::HashMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::DriftClass;
use crate::model::{APPLIED_ATTRIBUTE, App, Attributes, DesiredKey, Developer, Key, Product};
use crate::plan::FieldChange;

/// Version prefix of the stamp.
const PREFIX: &str = "1:";

fn hex(bytes: &[u8], n: usize) -> String {
    let digest = Sha256::digest(bytes);
    digest[..n].iter().map(|b| format!("{b:02x}")).collect()
}

fn name_hash(field: &str) -> String {
    hex(field.as_bytes(), 3)
}

/// A value as plans show it, made canonical: lists as sorted sets, empty as absent.
fn canonical(v: Option<&Value>) -> Value {
    match v {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.is_empty() => Value::Null,
        Some(Value::Array(items)) => {
            let mut items: Vec<String> = items.iter().map(Value::to_string).collect();
            items.sort();
            items.dedup();
            if items.is_empty() {
                Value::Null
            } else {
                Value::Array(items.into_iter().map(Value::String).collect())
            }
        }
        Some(other) => other.clone(),
    }
}

fn value_hash(v: Option<&Value>) -> String {
    hex(canonical(v).to_string().as_bytes(), 4)
}

fn text(name: &str, s: &str) -> (String, Option<Value>) {
    (name.to_string(), (!s.is_empty()).then(|| json!(s)))
}

fn list(name: &str, l: &[String]) -> (String, Option<Value>) {
    (name.to_string(), (!l.is_empty()).then(|| json!(l)))
}

fn attributes(out: &mut Vec<(String, Option<Value>)>, attrs: &Attributes) {
    for (n, v) in attrs {
        if n != APPLIED_ATTRIBUTE {
            out.push((format!("attributes.{n}"), Some(json!(v))));
        }
    }
}

/// The managed fields of a developer, as its plan fields name them.
pub fn developer_fields(d: &Developer) -> Vec<(String, Option<Value>)> {
    let mut out = vec![
        text("firstName", &d.first_name),
        text("lastName", &d.last_name),
        text("userName", &d.user_name),
        ("status".into(), Some(json!(d.status))),
    ];
    attributes(&mut out, &d.attributes);
    out
}

/// The managed fields of a product, as its plan fields name them.
pub fn product_fields(p: &Product) -> Vec<(String, Option<Value>)> {
    let mut out = vec![
        text("displayName", &p.display_name),
        text("description", &p.description),
        ("approvalType".into(), Some(json!(p.approval_type))),
        list("environments", &p.environments),
        list("proxies", &p.proxies),
        list("apiResources", &p.api_resources),
        list("scopes", &p.scopes),
        ("quota".into(), p.quota.as_ref().map(|q| json!(q))),
    ];
    attributes(&mut out, &p.attributes);
    out
}

/// The managed fields of an app, as its plan fields name them.
pub fn app_fields(a: &App) -> Vec<(String, Option<Value>)> {
    let mut out = vec![
        text("callbackUrl", a.callback_url.as_deref().unwrap_or_default()),
        ("status".into(), Some(json!(a.status))),
    ];
    attributes(&mut out, &a.attributes);
    out
}

/// Fields the stamps cover (every field [`developer_fields`], [`product_fields`] and
/// [`app_fields`] name). A field the stamp does not name was absent when applied; a field
/// outside this list may not have been stamped at all.
const COVERED: &[&str] = &[
    "firstName",
    "lastName",
    "userName",
    "status",
    "displayName",
    "description",
    "approvalType",
    "environments",
    "proxies",
    "apiResources",
    "scopes",
    "quota",
    "callbackUrl",
];

/// Whether the stamps cover field `name` (as plans name it).
pub fn covered(name: &str) -> bool {
    name.starts_with("attributes.") || COVERED.contains(&name)
}

/// The managed fields of a declared credential's key, as its plan fields name them.
pub fn desired_key_fields(k: &DesiredKey) -> Vec<(String, Option<Value>)> {
    vec![
        list("apiProducts", &k.products),
        list("scopes", &k.scopes),
        ("status".into(), Some(json!(k.status))),
    ]
}

/// The managed fields of a key read from the platform, as [`desired_key_fields`] names them.
pub fn key_fields(k: &Key) -> Vec<(String, Option<Value>)> {
    let products: Vec<String> = k.grants.iter().map(|g| g.product.clone()).collect();
    vec![
        list("apiProducts", &products),
        list("scopes", &k.scopes),
        ("status".into(), Some(json!(k.status))),
    ]
}

/// The stamp of these fields.
pub fn stamp(fields: &[(String, Option<Value>)]) -> String {
    let mut parts: Vec<String> = fields
        .iter()
        .filter(|(_, v)| !canonical(v.as_ref()).is_null())
        .map(|(n, v)| format!("{}={}", name_hash(n), value_hash(v.as_ref())))
        .collect();
    parts.sort();
    format!("{PREFIX}{}", parts.join(","))
}

/// Sets the stamp of a developer's fields on it.
pub fn stamp_developer(d: &mut Developer) {
    let s = stamp(&developer_fields(d));
    d.attributes.insert(APPLIED_ATTRIBUTE.into(), s);
}

/// Sets the stamp of a product's fields on it.
pub fn stamp_product(p: &mut Product) {
    let s = stamp(&product_fields(p));
    p.attributes.insert(APPLIED_ATTRIBUTE.into(), s);
}

/// Sets the stamp of an app's fields on it.
pub fn stamp_app(a: &mut App) {
    let s = stamp(&app_fields(a));
    a.attributes.insert(APPLIED_ATTRIBUTE.into(), s);
}

/// A stamp read back: value hash per field-name hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp(HashMap<String, String>);

impl Stamp {
    /// The stamp among a resource's attributes; `None` when it has none (applied before
    /// stamps existed, or made by hand) or one this build cannot read.
    pub fn of(attrs: &Attributes) -> Option<Stamp> {
        Stamp::parse(attrs.get(APPLIED_ATTRIBUTE)?)
    }

    /// A stamp from its text; `None` for one this build cannot read.
    pub fn parse(text: &str) -> Option<Stamp> {
        let body = text.strip_prefix(PREFIX)?;
        let mut map = HashMap::new();
        for part in body.split(',').filter(|p| !p.is_empty()) {
            let (n, v) = part.split_once('=')?;
            map.insert(n.to_string(), v.to_string());
        }
        Some(Stamp(map))
    }

    /// Classifies one field's difference (`before`: the platform, `after`: the config). A
    /// field the stamps do not cover (a product's operation groups) is `config`.
    pub fn classify(&self, f: &FieldChange) -> DriftClass {
        if !covered(&f.field) {
            return DriftClass::Config;
        }
        self.classify_values(&f.field, f.before.as_ref(), f.after.as_ref())
    }

    /// Classifies field `name`, `platform` on the platform and `config` in the config.
    pub fn classify_values(
        &self,
        name: &str,
        platform: Option<&Value>,
        config: Option<&Value>,
    ) -> DriftClass {
        let absent = value_hash(None);
        let applied = self.0.get(&name_hash(name)).unwrap_or(&absent);
        let config_moved = value_hash(config) != *applied;
        let platform_moved = value_hash(platform) != *applied;
        match (config_moved, platform_moved) {
            (true, true) => DriftClass::Conflict,
            (false, true) => DriftClass::Platform,
            _ => DriftClass::Config,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(url: &str) -> App {
        App {
            developer: "a@example.com".into(),
            name: "web".into(),
            callback_url: Some(url.into()),
            status: crate::model::Status::Approved,
            scopes: vec![],
            key_expires_in_ms: None,
            attributes: Attributes::from([("tier".to_string(), "gold".to_string())]),
        }
    }

    fn change(field: &str, before: &str, after: &str) -> FieldChange {
        FieldChange {
            field: field.into(),
            before: Some(json!(before)),
            after: Some(json!(after)),
            class: None,
        }
    }

    #[test]
    fn classifies_each_side() {
        let mut applied = app("https://a.example/cb");
        stamp_app(&mut applied);
        let s = Stamp::of(&applied.attributes).expect("stamped");
        let f = |b, a| s.classify(&change("callbackUrl", b, a));
        assert_eq!(
            f("https://a.example/cb", "https://b.example/cb"),
            DriftClass::Config
        );
        assert_eq!(
            f("https://p.example/cb", "https://a.example/cb"),
            DriftClass::Platform
        );
        assert_eq!(
            f("https://p.example/cb", "https://b.example/cb"),
            DriftClass::Conflict
        );
    }

    #[test]
    fn an_attribute_absent_when_applied_and_added_by_hand_is_platform() {
        let mut applied = app("https://a.example/cb");
        stamp_app(&mut applied);
        let s = Stamp::of(&applied.attributes).expect("stamped");
        let added = FieldChange {
            field: "attributes.extra".into(),
            before: Some(json!("x")),
            after: None,
            class: None,
        };
        assert_eq!(s.classify(&added), DriftClass::Platform);
    }

    #[test]
    fn lists_compare_as_sets_and_the_stamp_ignores_itself() {
        let a = stamp(&[list("scopes", &["b".into(), "a".into()])]);
        let b = stamp(&[list("scopes", &["a".into(), "b".into(), "a".into()])]);
        assert_eq!(a, b);
        let mut once = app("https://a.example/cb");
        stamp_app(&mut once);
        let mut twice = once.clone();
        stamp_app(&mut twice);
        assert_eq!(once, twice);
    }

    #[test]
    fn fields_outside_the_stamp_are_config() {
        let mut applied = app("https://a.example/cb");
        stamp_app(&mut applied);
        let s = Stamp::of(&applied.attributes).expect("stamped");
        let group = change(
            "operationGroup.operationConfigType",
            "proxy",
            "remoteservice",
        );
        assert_eq!(s.classify(&group), DriftClass::Config);
        for (name, _) in app_fields(&applied) {
            assert!(covered(&name), "{name}");
        }
    }

    #[test]
    fn no_stamp_or_a_foreign_one_reads_as_none() {
        assert_eq!(Stamp::of(&Attributes::new()), None);
        let odd = Attributes::from([(APPLIED_ATTRIBUTE.to_string(), "9:zz".to_string())]);
        assert_eq!(Stamp::of(&odd), None);
    }
}
