//! Normalized resources shared by desired and actual state.
//!
//! Both the config loader (desired state) and every backend (actual state) produce these
//! types, so the diff compares like with like. Secret values (consumer keys and secrets)
//! are wrapped in [`Secret`], which cannot be printed, serialized or logged by accident.

mod actual;
mod address;
pub mod apaleo;
mod attributes;

pub use actual::{Actual, GroupApp, Observed, ReadScope};
pub use address::{Address, AppId, KIND_LEVELS, KeyId, Kind};
pub use attributes::Attributes;

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Attribute stamped on every resource registrar manages; its value is the config's `owner`.
pub const OWNER_ATTRIBUTE: &str = "registrar-owner";
/// Attribute stamped by apply on every developer, product and app it writes: short hashes of
/// the managed fields as applied (`crate::plan::drift::stamp`), no secret material. Plans
/// read it to tell config changes from changes made on the platform.
pub const APPLIED_ATTRIBUTE: &str = "registrar-applied";
/// Key attribute that carries the credential id of the config (`default` when none is given).
pub const CREDENTIAL_ATTRIBUTE: &str = "registrar-credential";
/// App attribute that holds the display name (the name Apigee's UIs use).
pub const DISPLAY_NAME_ATTRIBUTE: &str = "DisplayName";
/// App attribute that holds free-form notes (the name Apigee's UIs use).
pub const NOTES_ATTRIBUTE: &str = "Notes";
/// Product attribute that holds the access level (`public`, `private`, `internal`).
pub const ACCESS_ATTRIBUTE: &str = "access";
/// The most custom attributes the platform allows on one developer, app or product.
pub const MAX_ATTRIBUTES: usize = 18;
/// The credential id used when an app declares no `credentials`.
pub const DEFAULT_CREDENTIAL_ID: &str = "default";

/// Developer status.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum DeveloperStatus {
    /// The developer's keys work.
    #[default]
    Active,
    /// Every key of the developer is refused at runtime.
    Inactive,
}

/// Status of an app, of a key, or of a key's grant of a product.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Usable.
    #[default]
    Approved,
    /// Waiting for approval (key-product grants of `manual` products only).
    Pending,
    /// Refused at runtime.
    Revoked,
}

/// How a product's grants to keys start out.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalType {
    /// Grants start `approved`.
    #[default]
    Auto,
    /// Grants start `pending`.
    Manual,
}

/// Unit of a quota interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// Per minute.
    Minute,
    /// Per hour.
    Hour,
    /// Per day.
    Day,
    /// Per month.
    Month,
}

/// The one spelling of each variant of a status-like enum: `as_str`, `FromStr` and (by the
/// same words, checked in a test) serde. The registry stores these words in SQL, `serve` and
/// the Apigee client send and read them.
macro_rules! spelled {
    ($t:ident { $($v:ident => $s:literal),+ $(,)? }) => {
        impl $t {
            /// The platform's spelling.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($t::$v => $s),+
                }
            }

            /// Every variant.
            pub const ALL: &'static [$t] = &[$($t::$v),+];
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($s => Ok($t::$v),)+
                    _ => Err(format!(
                        "`{s}` is not one of {}",
                        [$($s),+].join(", ")
                    )),
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

spelled!(DeveloperStatus { Active => "active", Inactive => "inactive" });
spelled!(Status { Approved => "approved", Pending => "pending", Revoked => "revoked" });
spelled!(ApprovalType { Auto => "auto", Manual => "manual" });
spelled!(TimeUnit { Minute => "minute", Hour => "hour", Day => "day", Month => "month" });

// After `spelled!`, which it uses.
mod operations;
pub use operations::{
    GraphqlOperation, GraphqlOperationConfig, GraphqlOperationGroup, GraphqlOperationType,
    HTTP_METHODS, Operation, OperationConfig, OperationConfigType, OperationGroup, OperationQuota,
    SourceConfig,
};

/// A product quota: `limit` requests per `interval` `time_unit`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Requests allowed per interval.
    pub limit: u64,
    /// Length of the interval in `time_unit`s.
    pub interval: u64,
    /// Unit of the interval.
    pub time_unit: TimeUnit,
}

/// A developer: the owner of apps, identified by email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Developer {
    /// Natural key; lowercase on Apigee X.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// User name.
    pub user_name: String,
    /// Whether the developer's keys work.
    pub status: DeveloperStatus,
    /// Custom attributes, including registrar's own.
    pub attributes: Attributes,
}

/// An API product: a bundle of API resources that keys are granted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// Internal name (immutable).
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Description.
    pub description: String,
    /// How grants start out.
    pub approval_type: ApprovalType,
    /// Environments the product is available in.
    pub environments: Vec<String>,
    /// API proxies the product bundles.
    pub proxies: Vec<String>,
    /// Resource paths the product bundles.
    pub api_resources: Vec<String>,
    /// OAuth scopes the product offers.
    pub scopes: Vec<String>,
    /// Quota, if any.
    pub quota: Option<Quota>,
    /// Custom attributes, including `access` and registrar's own.
    pub attributes: Attributes,
    /// REST operation group (Apigee X). In a desired product, `None` leaves the platform's as
    /// it is (registrar manages it only where the config declares one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_group: Option<OperationGroup>,
    /// GraphQL operation group (Apigee X); `None` as for [`Product::operation_group`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql_operation_group: Option<GraphqlOperationGroup>,
}

/// A developer app: an OAuth client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// Email of the developer that owns the app.
    pub developer: String,
    /// App name, unique per developer (immutable).
    pub name: String,
    /// OAuth redirect URI, if any.
    pub callback_url: Option<String>,
    /// Whether the app's keys work.
    pub status: Status,
    /// Scopes of the app.
    pub scopes: Vec<String>,
    /// Lifetime of keys minted for the app, in milliseconds; `None` means never expire.
    pub key_expires_in_ms: Option<u64>,
    /// Custom attributes, including DisplayName, Notes and registrar's own.
    pub attributes: Attributes,
}

/// A product granted to a key, with the grant's status.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Grant {
    /// Product name.
    pub product: String,
    /// Grant status.
    pub status: Status,
}

/// A key (credential) of an app as the platform holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Email of the developer.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id (the `registrar-credential` attribute), if the key carries one.
    pub id: Option<String>,
    /// The consumer key (client_id): an API key, so secret too.
    pub consumer_key: Secret,
    /// The consumer secret (client_secret).
    pub consumer_secret: Secret,
    /// Products granted to the key.
    pub grants: Vec<Grant>,
    /// Scopes of the key.
    pub scopes: Vec<String>,
    /// Key status.
    pub status: Status,
    /// Key attributes.
    pub attributes: Attributes,
    /// Issue time, milliseconds since the epoch.
    pub issued_at: i64,
    /// Expiry time, milliseconds since the epoch; `None` means never.
    pub expires_at: Option<i64>,
}

impl Key {
    /// The app the key belongs to.
    pub fn app_id(&self) -> AppId {
        AppId::new(&self.developer, &self.app)
    }

    /// Whether this key stands for credential `id`: tagged with it, or (the key an app was
    /// created with for its `default` credential carries no tag) untagged for `default`.
    pub fn is_credential(&self, id: &str) -> bool {
        match &self.id {
            Some(tag) => tag == id,
            None => id == DEFAULT_CREDENTIAL_ID,
        }
    }

    /// The key's attributes with its credential id stamped: what a platform that replaces a
    /// key's attributes on update must be sent. The key an app was created with for the
    /// `default` credential stays untagged, as it was minted.
    pub fn attributes_tagged(&self, credential: &str) -> Attributes {
        let mut attributes = self.attributes.clone();
        if credential != DEFAULT_CREDENTIAL_ID || self.id.is_some() {
            attributes.insert(CREDENTIAL_ATTRIBUTE.into(), credential.to_string());
        }
        attributes
    }
}

/// A key as the config declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredKey {
    /// Email of the developer.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id.
    pub id: String,
    /// Products to grant.
    pub products: Vec<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Key status.
    pub status: Status,
    /// Lifetime when minted, in milliseconds; `None` means never expire.
    pub expires_in_ms: Option<u64>,
}

/// Everything a config declares, normalized, with registrar's own attributes added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DesiredState {
    /// The owner stamp.
    pub owner: String,
    /// Developers.
    pub developers: Vec<Developer>,
    /// Products.
    pub products: Vec<Product>,
    /// Apps.
    pub apps: Vec<App>,
    /// Keys.
    pub keys: Vec<DesiredKey>,
}

/// A secret value (consumer key or consumer secret).
///
/// It has no `Display` or `Serialize`, its `Debug` shows only a fingerprint, and its
/// memory is zeroized on drop. The bytes are reachable only through [`Secret::expose`],
/// which only `backend/`, `store/`, `server/` and `secrets/` call.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    /// The value itself. Call only where it must be sent or encrypted.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    /// Truncated SHA-256 of the value: `sha256:` and 16 hex digits. Safe to print.
    pub fn fingerprint(&self) -> String {
        fingerprint(self.expose().as_bytes())
    }
}

/// Truncated SHA-256 of some bytes, as printed for secrets: `sha256:` and 16 hex digits.
pub fn fingerprint(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(23);
    out.push_str("sha256:");
    for b in &digest[..8] {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.fingerprint())
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.expose().as_bytes(), other.expose().as_bytes());
        // Length is not secret; compare the bytes without an early exit.
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

impl Eq for Secret {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_fingerprint_not_value() {
        let s = Secret::new("hunter2-consumer-key");
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.starts_with("Secret(sha256:"), "{shown}");
        assert_eq!(s.fingerprint().len(), "sha256:".len() + 16);
    }

    #[test]
    fn serde_spells_every_variant_as_as_str_does() {
        fn check<T>(all: &[T])
        where
            T: Copy + Serialize + std::str::FromStr + PartialEq + fmt::Debug + fmt::Display,
        {
            for v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), v.to_string());
                assert_eq!(v.to_string().parse::<T>().ok(), Some(*v));
            }
        }
        check(DeveloperStatus::ALL);
        check(Status::ALL);
        check(ApprovalType::ALL);
        check(TimeUnit::ALL);
        assert!("Approved".parse::<Status>().is_err());
    }

    #[test]
    fn equality_compares_values() {
        assert_eq!(Secret::new("a"), Secret::new("a"));
        assert_ne!(Secret::new("a"), Secret::new("b"));
        assert_ne!(Secret::new("a"), Secret::new("ab"));
    }
}
