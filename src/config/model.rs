//! The config file as users write it. These types are the one source of the JSON Schema
//! (`registrar schema`, schema/registry.schema.json): doc comments become descriptions.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{
    ApprovalType, DeveloperStatus, GraphqlOperationGroup, OperationGroup, TimeUnit,
};
use crate::target::BackendKind;

/// One registrar config file. Several files merge into one desired state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "registrar config")]
pub struct ConfigFile {
    /// Config format version. Always 1.
    #[schemars(range(min = 1, max = 1))]
    pub version: u32,
    /// Who manages these resources: stamped as the `registrar-owner` attribute on everything this
    /// config creates. `--prune` deletes only resources carrying this owner. At most one file may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Where issued keys and secrets are stored, and who can read them. At most one file may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<SecretsConfig>,
    /// Which platform to manage. Command-line flags win. At most one file may set it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<BackendConfig>,
    /// Developers: the owners of apps.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub developers: Vec<DeveloperConfig>,
    /// API products: bundles of API resources that keys are granted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductConfig>,
    /// Developer apps: OAuth clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppConfig>,
    /// apaleo OAuth clients (`backend.kind: apaleo`): connect and simple clients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clients: Vec<super::clients::ClientConfig>,
    /// Changes to resources declared in an earlier file (an overlay over a base): each patch
    /// names its resource and sets only the fields it lists; `attributes` are merged by name,
    /// every other field is replaced. Files apply in the order given.
    #[serde(default, skip_serializing_if = "Patches::is_empty")]
    pub patches: Patches,
}

/// Patches of resources declared in earlier files, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patches {
    /// Patches of developers, by email.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub developers: Vec<DeveloperPatch>,
    /// Patches of API products, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductPatch>,
    /// Patches of apps, by developer and name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppPatch>,
}

impl Patches {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.developers.is_empty() && self.products.is_empty() && self.apps.is_empty()
    }
}

/// Changes to a developer declared in an earlier file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeveloperPatch {
    /// Email of the developer to change (as declared).
    pub email: String,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// User name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `active` or `inactive`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeveloperStatus>,
    /// Attributes to set (merged by name into the declared ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
}

/// Changes to an API product declared in an earlier file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductPatch {
    /// Name of the product to change (as declared).
    pub name: String,
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `auto` or `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_type: Option<ApprovalType>,
    /// `public`, `private` or `internal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// Environments (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environments: Option<Vec<String>>,
    /// API proxies (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxies: Option<Vec<String>>,
    /// Resource paths (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_resources: Option<Vec<String>>,
    /// OAuth scopes (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Request quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaConfig>,
    /// Attributes to set (merged by name into the declared ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// Apigee X only: the REST operation group (replaces the declared one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_group: Option<OperationGroup>,
    /// Apigee X only: the GraphQL operation group (replaces the declared one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_operation_group: Option<GraphqlOperationGroup>,
}

/// Changes to an app declared in an earlier file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppPatch {
    /// Email of the app's developer (as declared).
    pub developer: String,
    /// Name of the app to change (as declared).
    pub name: String,
    /// Name shown to people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Notes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// OAuth redirect URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Products of the app's keys (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_products: Option<Vec<String>>,
    /// Scopes of the app's keys (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Lifetime of newly minted keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expires_in: Option<String>,
    /// `approved` or `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClientStatus>,
    /// Attributes to set (merged by name into the declared ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<BTreeMap<String, String>>,
    /// The app's keys (replaces the declared list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<CredentialConfig>>,
}

/// The encrypted store of issued keys and secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsConfig {
    /// Directory of the armored age files, relative to the config file. Default `secrets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dir: Option<String>,
    /// age recipients that can decrypt the store: `age1…` X25519 keys or `ssh-ed25519 …` keys.
    /// Empty: a local identity `.registrar/identity.txt` is generated and used.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
}

/// Platform selection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackendConfig {
    /// `local` (embedded registry, default), `apigee` (X/hybrid), `apigee-edge` or `apaleo`.
    #[serde(default)]
    pub kind: BackendKind,
    /// Management API base URL; default per platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub org: Option<String>,
    /// apaleo account code (`backend.kind: apaleo`), e.g. `DEMO`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// A developer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeveloperConfig {
    /// Email: the developer's identity. Lowercase (Apigee X rejects uppercase).
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// User name; default: the part of the email before `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// `active` (default) or `inactive` (every key of the developer is refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DeveloperStatus>,
    /// Custom attributes (at most 16: registrar adds its owner and applied stamps).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
}

/// Who may see a product in a developer portal (stored as the `access` attribute).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Listed for everyone.
    Public,
    /// Hidden, grantable on request.
    Private,
    /// Hidden, internal only.
    Internal,
}

impl Access {
    /// The attribute value.
    pub fn as_str(self) -> &'static str {
        match self {
            Access::Public => "public",
            Access::Private => "private",
            Access::Internal => "internal",
        }
    }
}

/// An API product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductConfig {
    /// Internal name: letters, digits, space and `_ - . # $ %`, at most 100 characters. Immutable.
    pub name: String,
    /// Name shown to people; default: `name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `auto` (default: grants start approved) or `manual` (grants start pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_type: Option<ApprovalType>,
    /// `public`, `private` or `internal` (the `access` attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<Access>,
    /// Environments the product is available in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    /// API proxies the product bundles.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub proxies: Vec<String>,
    /// Resource paths the product bundles, e.g. `/payments/**`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_resources: Vec<String>,
    /// OAuth scopes the product offers; apps and keys may ask only for these.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Request quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaConfig>,
    /// Custom attributes (at most 18 counting `access` and registrar's owner and applied stamps).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// Apigee X only: the REST operations the product grants, per API source (proxy or remote
    /// service), with a quota per source. Left out: registrar leaves the platform's as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_group: Option<OperationGroup>,
    /// Apigee X only: the GraphQL operations the product grants, per API source. Left out:
    /// registrar leaves the platform's as it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_operation_group: Option<GraphqlOperationGroup>,
}

/// A quota: `limit` requests per `interval` `timeUnit`s.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct QuotaConfig {
    /// Requests allowed per interval.
    #[schemars(range(min = 1))]
    pub limit: u64,
    /// Length of the interval, in `timeUnit`s. Default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 1))]
    pub interval: u64,
    /// `minute`, `hour`, `day` or `month`.
    pub time_unit: TimeUnit,
}

fn one() -> u64 {
    1
}

/// Status of an app or of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientStatus {
    /// Usable.
    Approved,
    /// Refused at runtime (the registration stays).
    Revoked,
}

/// A developer app: an OAuth client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppConfig {
    /// App name, unique per developer: letters, digits, space and `_ - . # $ %`, beginning with a
    /// letter or digit. Immutable.
    pub name: String,
    /// Email of the developer that owns the app.
    pub developer: String,
    /// Name shown to people (the `DisplayName` attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// Notes (the `Notes` attribute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notes: Option<String>,
    /// OAuth redirect URI: absolute https (http only for localhost).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    /// Products granted to the app's keys (unless a credential lists its own).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_products: Vec<String>,
    /// OAuth scopes of the app's keys; each must be offered by one of the products.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Lifetime of newly minted keys: a duration such as `90d`, `12h`, `1d12h`, or `never`
    /// (default). Keys already issued keep their expiry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_expires_in: Option<String>,
    /// `approved` (default) or `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClientStatus>,
    /// Custom attributes (at most 18 counting DisplayName, Notes and registrar's owner and applied stamps).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, String>,
    /// The app's keys. Default: one key `default` with the app's apiProducts and scopes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<Vec<CredentialConfig>>,
}

/// A key (client_id/client_secret pair) of an app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CredentialConfig {
    /// Credential id, unique in the app: lowercase letters, digits, `-` and `_`. Stored as the
    /// key's `registrar-credential` attribute and names its secrets file.
    pub id: String,
    /// Products granted to this key; default: the app's `apiProducts`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_products: Option<Vec<String>>,
    /// Scopes of this key; default: the app's `scopes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// Lifetime of this key when minted; default: the app's `keyExpiresIn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<String>,
    /// `approved` (default) or `revoked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<ClientStatus>,
}

/// The JSON Schema of a config file, pretty-printed, with a final newline.
pub fn schema_json() -> String {
    let mut schema =
        serde_json::to_value(schemars::schema_for!(ConfigFile)).expect("a schema serializes");
    strip_null(&mut schema);
    let mut out = serde_json::to_string_pretty(&schema).expect("a schema serializes");
    out.push('\n');
    out
}

/// Optional fields are simply not required: `null` is not a value users should write, so the
/// `null` alternatives schemars adds for `Option` are removed (`type: [T, null]` → `T`,
/// `anyOf: [{$ref}, {type: null}]` → the `$ref`).
fn strip_null(v: &mut serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    map.insert("type".into(), only);
                }
            }
            if let Some(Value::Array(any)) = map.get("anyOf") {
                let rest: Vec<Value> = any
                    .iter()
                    .filter(|s| s.get("type").and_then(Value::as_str) != Some("null"))
                    .cloned()
                    .collect();
                if rest.len() == 1 && any.len() == 2 {
                    map.remove("anyOf");
                    if let Value::Object(inner) = &rest[0] {
                        for (k, val) in inner {
                            map.insert(k.clone(), val.clone());
                        }
                    }
                }
            }
            map.values_mut().for_each(strip_null);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_null),
        _ => {}
    }
}
