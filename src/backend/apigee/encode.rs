//! Request paths and bodies. Path segments are percent-encoded fully (X's discovery document
//! asks for `fullyEncodeReservedExpansion`); consumer keys in paths are kept apart so logs
//! can show their fingerprint instead. Bodies differ by flavour only in int64s: strings on
//! X, numbers on Edge.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Value, json};

use crate::model::{App, Attributes, Developer, Product, Secret};

use super::Flavor;

/// Everything but RFC 3986's unreserved characters is encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, percent-encoded (`@` → `%40`, space → `%20`, `/` → `%2F`).
pub(crate) fn segment(raw: &str) -> String {
    utf8_percent_encode(raw, SEGMENT).to_string()
}

/// One segment of a path: a plain name, or a consumer key (shown only as a fingerprint).
#[derive(Clone)]
enum Segment {
    Plain(String),
    Key(Secret),
}

/// A path below the organization (`/developers/a%40b.com/apps/x`).
#[derive(Clone, Default)]
pub(crate) struct Path(Vec<Segment>);

impl Path {
    /// `/developers`, `/apiproducts`, `/apps`: a collection at the organization's root.
    pub(crate) fn root(collection: &str) -> Path {
        Path(vec![Segment::Plain(collection.to_string())])
    }

    /// `/developers/{email}`.
    pub(crate) fn developer(email: &str) -> Path {
        Path::root("developers").seg(email)
    }

    /// `/apiproducts/{name}`.
    pub(crate) fn product(name: &str) -> Path {
        Path::root("apiproducts").seg(name)
    }

    /// `/developers/{email}/apps/{app}`.
    pub(crate) fn app(email: &str, app: &str) -> Path {
        Path::developer(email).seg("apps").seg(app)
    }

    /// `/developers/{email}/apps/{app}/keys/{key}`.
    pub(crate) fn key(email: &str, app: &str, key: &Secret) -> Path {
        let mut p = Path::app(email, app).seg("keys");
        p.0.push(Segment::Key(key.clone()));
        p
    }

    /// This path with one more plain segment.
    pub(crate) fn seg(mut self, raw: &str) -> Path {
        self.0.push(Segment::Plain(raw.to_string()));
        self
    }

    /// The encoded path, consumer keys included: for the request only.
    pub(crate) fn encoded(&self) -> String {
        self.render(|k| segment(k.expose()))
    }

    /// The encoded path with consumer keys replaced by their fingerprints: for logs.
    pub(crate) fn redacted(&self) -> String {
        self.render(Secret::fingerprint)
    }

    fn render(&self, key: impl Fn(&Secret) -> String) -> String {
        let mut out = String::new();
        for s in &self.0 {
            out.push('/');
            match s {
                Segment::Plain(raw) => out.push_str(&segment(raw)),
                Segment::Key(k) => out.push_str(&key(k)),
            }
        }
        out
    }
}

/// An int64 as the flavour writes it.
pub(crate) fn int64(flavor: Flavor, v: i64) -> Value {
    match flavor {
        Flavor::X => Value::String(v.to_string()),
        Flavor::Edge => Value::from(v),
    }
}

/// Attribute map → `[{name, value}]`.
pub(crate) fn attributes(attrs: &Attributes) -> Value {
    Value::Array(
        attrs
            .iter()
            .map(|(name, value)| json!({"name": name, "value": value}))
            .collect(),
    )
}

/// Body of `POST /developers` and `PUT /developers/{email}` (status is set by `?action=`).
pub(crate) fn developer(d: &Developer) -> Value {
    json!({
        "email": d.email,
        "firstName": d.first_name,
        "lastName": d.last_name,
        "userName": d.user_name,
        "attributes": attributes(&d.attributes),
    })
}

/// Body of `POST /apiproducts` and `PUT /apiproducts/{name}`: the whole product, quota
/// fields as strings (both flavours declare them strings).
pub(crate) fn product(p: &Product) -> Value {
    let mut body = json!({
        "name": p.name,
        "displayName": p.display_name,
        "description": p.description,
        "approvalType": match p.approval_type {
            crate::model::ApprovalType::Auto => "auto",
            crate::model::ApprovalType::Manual => "manual",
        },
        "environments": p.environments,
        "proxies": p.proxies,
        "apiResources": p.api_resources,
        "scopes": p.scopes,
        "attributes": attributes(&p.attributes),
    });
    if let Some(q) = &p.quota {
        body["quota"] = Value::String(q.limit.to_string());
        body["quotaInterval"] = Value::String(q.interval.to_string());
        body["quotaTimeUnit"] = Value::String(q.time_unit.as_str().to_string());
    }
    if let Some(g) = &p.operation_group {
        body["operationGroup"] = g.to_platform_json();
    }
    if let Some(g) = &p.graphql_operation_group {
        body["graphqlOperationGroup"] = g.to_platform_json();
    }
    body
}

/// The fields of a product registrar manages, for a replace laid over the product as the
/// platform holds it: [`product`], with `null` for an unset quota (removed). Operation groups
/// are sent only when the config declares them; otherwise the platform's stay as they are.
pub(crate) fn product_update(p: &Product) -> Value {
    let mut body = product(p);
    if p.quota.is_none() {
        for field in ["quota", "quotaInterval", "quotaTimeUnit"] {
            body[field] = Value::Null;
        }
    }
    body
}

/// `keyExpiresIn` for a key lifetime: omitted (never expires) for `None`.
fn key_expires_in(body: &mut Value, flavor: Flavor, ms: Option<u64>) {
    if let Some(ms) = ms {
        body["keyExpiresIn"] = int64(flavor, i64::try_from(ms).unwrap_or(i64::MAX));
    }
}

/// Body of `POST /developers/{email}/apps`: the app and the seed of its first key.
pub(crate) fn app_create(
    flavor: Flavor,
    app: &App,
    products: &[String],
    scopes: &[String],
    key_expires_in_ms: Option<u64>,
) -> Value {
    let mut body = json!({
        "name": app.name,
        "apiProducts": products,
        "scopes": scopes,
        "callbackUrl": app.callback_url.as_deref().unwrap_or_default(),
        "attributes": attributes(&app.attributes),
    });
    key_expires_in(&mut body, flavor, key_expires_in_ms);
    body
}

/// Body of `PUT /developers/{email}/apps/{app}`: name, callback URL and attributes only.
/// Never `apiProducts` (the platform would mint a key), nor status or `keyExpiresIn`.
pub(crate) fn app_update(app: &App) -> Value {
    json!({
        "name": app.name,
        "callbackUrl": app.callback_url.as_deref().unwrap_or_default(),
        "attributes": attributes(&app.attributes),
    })
}

/// Body of `POST /developers/{email}/apps/{app}` without `action`: mints a key. The platform
/// replaces the app's attributes and callback URL with the request's, so they are resent.
pub(crate) fn mint_key(
    flavor: Flavor,
    app: &App,
    products: &[String],
    scopes: &[String],
    expires_in_ms: Option<u64>,
) -> Value {
    let mut body = json!({
        "apiProducts": products,
        "scopes": scopes,
        "callbackUrl": app.callback_url.as_deref().unwrap_or_default(),
        "attributes": attributes(&app.attributes),
    });
    key_expires_in(&mut body, flavor, expires_in_ms);
    body
}

/// Body of `POST …/keys/{key}`: adds `products` and replaces the key's attributes.
pub(crate) fn key_update(products: &[String], attrs: &Attributes) -> Value {
    json!({"apiProducts": products, "attributes": attributes(attrs)})
}

/// Body of `PUT …/keys/{key}`: replaces the key's scopes.
pub(crate) fn key_scopes(scopes: &[String]) -> Value {
    json!({"scopes": scopes})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Quota, Status, TimeUnit};

    fn app() -> App {
        App {
            developer: "alice@example.com".into(),
            name: "checkout web".into(),
            callback_url: Some("https://c/cb".into()),
            status: Status::Approved,
            scopes: vec![],
            key_expires_in_ms: Some(86_400_000),
            attributes: Attributes::from([("DisplayName".into(), "Checkout".into())]),
        }
    }

    #[test]
    fn segments_are_fully_encoded() {
        assert_eq!(segment("keith+1@example.com"), "keith%2B1%40example.com");
        assert_eq!(segment("my app/v1#x$%"), "my%20app%2Fv1%23x%24%25");
        assert_eq!(segment("a-b_c.d~e"), "a-b_c.d~e");
    }

    #[test]
    fn key_paths_are_redacted_for_logs() {
        let k = Secret::new("F91jQrfX6CKhyEheXFBL3g");
        let p = Path::key("a@x.com", "my app", &k)
            .seg("apiproducts")
            .seg("p 1");
        assert_eq!(
            p.encoded(),
            "/developers/a%40x.com/apps/my%20app/keys/F91jQrfX6CKhyEheXFBL3g/apiproducts/p%201"
        );
        let shown = p.redacted();
        assert!(!shown.contains("F91jQ"), "{shown}");
        assert!(shown.contains(&k.fingerprint()), "{shown}");
    }

    #[test]
    fn int64s_per_flavour() {
        let x = app_create(Flavor::X, &app(), &["p".into()], &[], Some(86_400_000));
        assert_eq!(x["keyExpiresIn"], json!("86400000"));
        let e = app_create(Flavor::Edge, &app(), &["p".into()], &[], Some(86_400_000));
        assert_eq!(e["keyExpiresIn"], json!(86400000));
        let never = app_create(Flavor::X, &app(), &[], &[], None);
        assert!(never.get("keyExpiresIn").is_none());
        assert_eq!(
            never["attributes"],
            json!([{"name": "DisplayName", "value": "Checkout"}])
        );
    }

    #[test]
    fn app_update_never_carries_products() {
        let body = app_update(&app());
        assert!(body.get("apiProducts").is_none());
        assert!(body.get("keyExpiresIn").is_none() && body.get("status").is_none());
        assert_eq!(body["callbackUrl"], json!("https://c/cb"));
    }

    #[test]
    fn mint_resends_attributes_and_callback() {
        let body = mint_key(Flavor::Edge, &app(), &["p".into()], &["s".into()], None);
        assert_eq!(body["callbackUrl"], json!("https://c/cb"));
        assert_eq!(body["attributes"][0]["value"], json!("Checkout"));
        assert_eq!(body["apiProducts"], json!(["p"]));
    }

    #[test]
    fn product_quota_as_strings() {
        let p = Product {
            name: "p".into(),
            display_name: "P".into(),
            description: String::new(),
            approval_type: crate::model::ApprovalType::Manual,
            environments: vec!["prod".into()],
            proxies: vec![],
            api_resources: vec![],
            scopes: vec![],
            quota: Some(Quota {
                limit: 1000,
                interval: 1,
                time_unit: TimeUnit::Hour,
            }),
            attributes: Attributes::new(),
            operation_group: None,
            graphql_operation_group: None,
        };
        let body = product(&p);
        assert_eq!(body["quota"], json!("1000"));
        assert_eq!(body["quotaInterval"], json!("1"));
        assert_eq!(body["quotaTimeUnit"], json!("hour"));
        assert_eq!(body["approvalType"], json!("manual"));
    }
}
