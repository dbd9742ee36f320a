//! The management API's JSON shapes as both flavours send them, deserialized leniently.
//!
//! Apigee X speaks proto3 JSON: int64 values are strings (`"createdAt": "1591645866735"`),
//! empty fields are omitted and an empty list may be `{}`. Apigee Edge sends numbers and
//! always emits `[]`. These types accept either, through the shared lenient scalars of
//! [`crate::json`], so one decoder serves both flavours.
//!
//! The emulator's response shapes (`server/encode.rs`) are written independently of these
//! types on purpose: the emulator is this client's test oracle, so neither side may reuse the
//! other's structs.

use serde::Deserialize;

use crate::json;

/// `{name, value}` pair of an entity's custom attributes.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct WireAttribute {
    /// Attribute name.
    #[serde(default)]
    pub name: String,
    /// Attribute value (a number or boolean is taken as its JSON text).
    #[serde(default, deserialize_with = "json::text")]
    pub value: String,
}

/// A developer (`GET /developers?expand=true`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireDeveloper {
    pub email: String,
    pub developer_id: String,
    pub first_name: String,
    pub last_name: String,
    pub user_name: String,
    pub status: String,
    #[serde(deserialize_with = "json::list")]
    pub attributes: Vec<WireAttribute>,
    /// Names of the developer's apps (the platform lists at most the first 100).
    #[serde(deserialize_with = "json::list")]
    pub apps: Vec<String>,
    #[serde(deserialize_with = "json::int64")]
    pub last_modified_at: Option<i64>,
}

/// An API product (`GET /apiproducts?expand=true`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireProduct {
    pub name: String,
    pub display_name: String,
    pub description: String,
    pub approval_type: String,
    #[serde(deserialize_with = "json::list")]
    pub environments: Vec<String>,
    #[serde(deserialize_with = "json::list")]
    pub proxies: Vec<String>,
    #[serde(deserialize_with = "json::list")]
    pub api_resources: Vec<String>,
    #[serde(deserialize_with = "json::list")]
    pub scopes: Vec<String>,
    #[serde(deserialize_with = "json::text")]
    pub quota: String,
    #[serde(deserialize_with = "json::text")]
    pub quota_interval: String,
    #[serde(deserialize_with = "json::text")]
    pub quota_time_unit: String,
    #[serde(deserialize_with = "json::list")]
    pub attributes: Vec<WireAttribute>,
    /// X's operation groups, as sent (read leniently by the model).
    pub operation_group: Option<serde_json::Value>,
    pub graphql_operation_group: Option<serde_json::Value>,
    #[serde(deserialize_with = "json::int64")]
    pub last_modified_at: Option<i64>,
}

/// A product granted to a key: `{apiproduct, status}` in responses, a bare name in requests.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub(crate) enum WireProductRef {
    /// `{"apiproduct": "p", "status": "approved"}`.
    Object {
        /// Product name.
        apiproduct: String,
        /// Grant status.
        #[serde(default)]
        status: String,
    },
    /// `"p"`.
    Name(String),
}

/// A key as an app's `credentials[]` (or a keys endpoint) carries it. Its `Debug` shows the
/// key and secret by fingerprint only.
#[derive(Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireCredential {
    pub consumer_key: String,
    pub consumer_secret: String,
    #[serde(deserialize_with = "json::list")]
    pub api_products: Vec<WireProductRef>,
    #[serde(deserialize_with = "json::list")]
    pub attributes: Vec<WireAttribute>,
    #[serde(deserialize_with = "json::list")]
    pub scopes: Vec<String>,
    pub status: String,
    #[serde(deserialize_with = "json::int64")]
    pub issued_at: Option<i64>,
    #[serde(deserialize_with = "json::int64")]
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for WireCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WireCredential")
            .field(
                "consumer_key",
                &crate::model::fingerprint(self.consumer_key.as_bytes()),
            )
            .field(
                "consumer_secret",
                &crate::model::fingerprint(self.consumer_secret.as_bytes()),
            )
            .field("api_products", &self.api_products)
            .field("scopes", &self.scopes)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// An app, from the org-wide `/apps` list or a developer-app call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct WireApp {
    pub app_id: String,
    pub name: String,
    pub developer_id: String,
    /// Present on X's org-wide list; absent on Edge.
    pub developer_email: String,
    /// Set for apps owned by a company (Edge) or an app group (X); registrar skips those.
    pub company_name: String,
    pub app_group: String,
    pub callback_url: String,
    pub status: String,
    #[serde(deserialize_with = "json::list")]
    pub scopes: Vec<String>,
    #[serde(deserialize_with = "json::list")]
    pub attributes: Vec<WireAttribute>,
    #[serde(deserialize_with = "json::list")]
    pub credentials: Vec<WireCredential>,
    #[serde(deserialize_with = "json::int64")]
    pub key_expires_in: Option<i64>,
    #[serde(deserialize_with = "json::int64")]
    pub last_modified_at: Option<i64>,
}

/// `{"developer": […]}` (an empty list may be `{}`).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DeveloperList {
    #[serde(deserialize_with = "json::list")]
    pub developer: Vec<WireDeveloper>,
}

/// `{"apiProduct": […]}`.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct ProductList {
    #[serde(deserialize_with = "json::list")]
    pub api_product: Vec<WireProduct>,
}

/// `{"app": […]}`, with X's page token and total where the platform pages by token.
#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub(crate) struct AppList {
    #[serde(deserialize_with = "json::list")]
    pub app: Vec<WireApp>,
    /// X: the token of the next page; absent or empty on the last.
    pub next_page_token: String,
    /// X: how many apps match the query in all pages.
    #[serde(deserialize_with = "json::int64")]
    pub total_size: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_accepts_strings_and_numbers() {
        let x: WireCredential =
            serde_json::from_str(r#"{"issuedAt":"1591645866735","expiresAt":"-1"}"#).unwrap();
        assert_eq!((x.issued_at, x.expires_at), (Some(1591645866735), Some(-1)));
        let e: WireCredential =
            serde_json::from_str(r#"{"issuedAt":1568312504682,"expiresAt":-1}"#).unwrap();
        assert_eq!((e.issued_at, e.expires_at), (Some(1568312504682), Some(-1)));
        assert!(serde_json::from_str::<WireCredential>(r#"{"issuedAt":"soon"}"#).is_err());
    }

    #[test]
    fn empty_lists_in_every_spelling() {
        for body in [
            r#"{}"#,
            r#"{"developer":[]}"#,
            r#"{"developer":{}}"#,
            r#"{"developer":null}"#,
        ] {
            let list: DeveloperList = serde_json::from_str(body).unwrap();
            assert!(list.developer.is_empty(), "{body}");
        }
        let d: WireDeveloper = serde_json::from_str(
            r#"{"email":"a@x","attributes":{"attribute":[{"name":"n","value":"v"}]}}"#,
        )
        .unwrap();
        assert_eq!(d.attributes[0].name, "n");
    }

    #[test]
    fn product_refs_as_objects_or_names() {
        let c: WireCredential = serde_json::from_str(
            r#"{"apiProducts":[{"apiproduct":"p1","status":"pending"},"p2"]}"#,
        )
        .unwrap();
        assert!(
            matches!(&c.api_products[0], WireProductRef::Object { apiproduct, status }
            if apiproduct == "p1" && status == "pending")
        );
        assert!(matches!(&c.api_products[1], WireProductRef::Name(n) if n == "p2"));
    }

    #[test]
    fn quota_fields_as_strings_or_numbers() {
        let p: WireProduct =
            serde_json::from_str(r#"{"name":"p","quota":1000,"quotaInterval":"1"}"#).unwrap();
        assert_eq!((p.quota.as_str(), p.quota_interval.as_str()), ("1000", "1"));
    }
}
