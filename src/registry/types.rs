//! Records the store reads and writes. They are flavour-neutral: timestamps are milliseconds
//! since the epoch as `i64`, absent values are `None`, lists are `Vec`s (possibly empty).
//! Renderers (`server/encode.rs`, the `local` backend) decide how each flavour shows them.

use crate::model::{ApprovalType, DeveloperStatus, Secret, Status};

/// Fields of an entity that registrar does not model (a product's `operationGroup`,
/// `quotaCounterScope`, `space`, …; a developer's or app's fields the registry lacks),
/// exactly as the client sent them: top-level JSON members by name, values untouched.
///
/// On inputs it is an `Option`: `Some` replaces what is stored (a create, or a full-replace
/// `PUT`, where an absent field is gone, as on the platform); `None` leaves it alone (partial
/// changes, and the `local` backend, which resends what it models only). On records it is
/// what is stored (empty when nothing was). `serve` returns it beside the modelled fields.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// One custom attribute. Order is kept as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute name.
    pub name: String,
    /// Attribute value.
    pub value: String,
}

impl Attribute {
    /// Builds an attribute.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Attribute {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// Fields of a developer as a client sends them (create or full replace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeveloperInput {
    /// Email: the natural key of the developer in its organization.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// User name.
    pub user_name: String,
    /// Custom attributes (replaced wholesale on update).
    pub attributes: Vec<Attribute>,
    /// Unmodelled fields: `Some` replaces the stored ones, `None` keeps them ([`Extra`]).
    pub extra: Option<Extra>,
}

/// A stored developer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeveloperRecord {
    /// Generated UUID.
    pub developer_id: String,
    /// Organization name.
    pub organization: String,
    /// Email.
    pub email: String,
    /// Given name.
    pub first_name: String,
    /// Family name.
    pub last_name: String,
    /// User name.
    pub user_name: String,
    /// `active` or `inactive`.
    pub status: DeveloperStatus,
    /// Custom attributes.
    pub attributes: Vec<Attribute>,
    /// Names of the developer's apps, sorted, at most [`DEVELOPER_APPS_SHOWN`].
    pub apps: Vec<String>,
    /// Unmodelled fields as stored ([`Extra`]).
    pub extra: Extra,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub last_modified_at: i64,
}

/// How many app names a developer record carries (the platform shows the first 100).
pub const DEVELOPER_APPS_SHOWN: usize = 100;

/// Fields of an API product as a client sends them (create or full replace).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductInput {
    /// Internal name (immutable).
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Description; empty when unset.
    pub description: String,
    /// How grants of this product to keys start out.
    pub approval_type: ApprovalType,
    /// Custom attributes.
    pub attributes: Vec<Attribute>,
    /// Resource paths.
    pub api_resources: Vec<String>,
    /// Environments.
    pub environments: Vec<String>,
    /// API proxies.
    pub proxies: Vec<String>,
    /// OAuth scopes offered.
    pub scopes: Vec<String>,
    /// Quota limit, as the platform spells it (a string).
    pub quota: Option<String>,
    /// Quota interval (a string).
    pub quota_interval: Option<String>,
    /// Quota time unit (`minute`, `hour`, `day`, `month`).
    pub quota_time_unit: Option<String>,
    /// Unmodelled fields: `Some` replaces the stored ones, `None` keeps them ([`Extra`]).
    /// Always `None` in a [`ProductRecord`], which holds them in its own `extra`.
    pub extra: Option<Extra>,
}

/// A stored API product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    /// The product's fields (`product.extra` is `None`: see `extra`).
    pub product: ProductInput,
    /// Unmodelled fields as stored (`operationGroup`, `graphqlOperationGroup`, … on X;
    /// [`Extra`]).
    pub extra: Extra,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub last_modified_at: i64,
}

/// Fields of an AppGroup as a client sends them (create or full replace; Apigee X).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppGroupInput {
    /// Name, unique in the organization (immutable).
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// `active` or `inactive`; `None` keeps it (`active` on create).
    pub status: Option<DeveloperStatus>,
    /// The owner maintaining the group.
    pub channel_id: String,
    /// The storefront or marketplace it belongs to.
    pub channel_uri: String,
    /// Custom attributes.
    pub attributes: Vec<Attribute>,
    /// Unmodelled fields ([`Extra`]; `None` keeps them).
    pub extra: Option<Extra>,
}

/// A stored AppGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppGroupRecord {
    /// Generated UUID.
    pub app_group_id: String,
    /// Organization name.
    pub organization: String,
    /// Name.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// `active` or `inactive`.
    pub status: DeveloperStatus,
    /// The owner maintaining the group.
    pub channel_id: String,
    /// The storefront or marketplace it belongs to.
    pub channel_uri: String,
    /// Custom attributes.
    pub attributes: Vec<Attribute>,
    /// Unmodelled fields as stored ([`Extra`]).
    pub extra: Extra,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub last_modified_at: i64,
}

/// Which apps an org-wide listing holds (`filter=appType=…` on X).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum AppTypes {
    /// Developer apps and AppGroup apps.
    #[default]
    All,
    /// Developer apps only.
    Developer,
    /// AppGroup apps only.
    AppGroup,
}

/// What uses an API product ([`crate::registry::Registry::product_usage`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductUsage {
    /// Consumer keys granted the product, sorted.
    pub keys: Vec<Secret>,
    /// AppIds of the apps holding those keys, sorted.
    pub apps: Vec<String>,
    /// Emails of those apps' developers, sorted.
    pub developers: Vec<String>,
}

/// Fields of a new developer app.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppInput {
    /// App name, unique per developer (immutable).
    pub name: String,
    /// Products granted to the auto-generated key.
    pub api_products: Vec<String>,
    /// Custom attributes.
    pub attributes: Vec<Attribute>,
    /// OAuth redirect URI.
    pub callback_url: Option<String>,
    /// App scopes (also given to the generated key).
    pub scopes: Vec<String>,
    /// Lifetime of generated keys in ms; `None` (or a negative value) means never expire.
    pub key_expires_in: Option<i64>,
    /// Initial status; `approved` when `None`.
    pub status: Option<Status>,
    /// Unmodelled fields ([`Extra`]; `None` stores none).
    pub extra: Option<Extra>,
}

/// Changes to an app (PUT app, or POST app with a body = generate a key pair).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppUpdate {
    /// New attributes: replace all when `Some`.
    pub attributes: Option<Vec<Attribute>>,
    /// New callback URL when `Some`.
    pub callback_url: Option<String>,
    /// When `Some` and non-empty: a new key is generated with these products (the platform's
    /// documented quirk; existing keys are untouched).
    pub api_products: Option<Vec<String>>,
    /// Lifetime of the key generated by this call, in ms; `None`/negative = never.
    pub key_expires_in: Option<i64>,
    /// Unmodelled fields: `Some` replaces the stored ones (a PUT), `None` keeps them (key
    /// generation, the `local` backend) ([`Extra`]).
    pub extra: Option<Extra>,
}

/// A stored developer app with its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppRecord {
    /// Generated UUID.
    pub app_id: String,
    /// App name.
    pub name: String,
    /// UUID of the owning developer.
    pub developer_id: String,
    /// Email of the owning developer.
    pub developer_email: String,
    /// OAuth redirect URI.
    pub callback_url: Option<String>,
    /// `approved` or `revoked`.
    pub status: Status,
    /// App scopes.
    pub scopes: Vec<String>,
    /// Lifetime of keys generated at creation, ms; `None` = never.
    pub key_expires_in: Option<i64>,
    /// Custom attributes.
    pub attributes: Vec<Attribute>,
    /// Keys (credentials), oldest first.
    pub credentials: Vec<KeyRecord>,
    /// The AppGroup the app belongs to (Apigee X); `None` for a developer app. An AppGroup
    /// app's `developer_id`/`developer_email` name the group's internal owner row, which is
    /// no developer: show the group instead.
    pub app_group: Option<String>,
    /// Unmodelled fields as stored ([`Extra`]).
    pub extra: Extra,
    /// Creation time (ms).
    pub created_at: i64,
    /// Last change (ms).
    pub last_modified_at: i64,
}

/// A product granted to a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantRecord {
    /// Product name.
    pub product: String,
    /// `approved`, `pending` or `revoked`.
    pub status: Status,
}

/// A stored key (credential). Its `Debug` shows only fingerprints of the key and secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// The consumer key (client_id).
    pub consumer_key: Secret,
    /// The consumer secret (client_secret).
    pub consumer_secret: Secret,
    /// Products granted to the key, in grant order.
    pub api_products: Vec<GrantRecord>,
    /// Key attributes.
    pub attributes: Vec<Attribute>,
    /// Key scopes.
    pub scopes: Vec<String>,
    /// `approved` or `revoked`.
    pub status: Status,
    /// Issue time (ms).
    pub issued_at: i64,
    /// Expiry time (ms); `None` = never.
    pub expires_at: Option<i64>,
    /// Unmodelled fields of the key as imported ([`Extra`]).
    pub extra: Extra,
}

/// A key chosen by the caller (import).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyImport {
    /// The consumer key to store.
    pub consumer_key: Secret,
    /// The consumer secret to store.
    pub consumer_secret: Secret,
    /// Key attributes.
    pub attributes: Vec<Attribute>,
    /// Key scopes.
    pub scopes: Vec<String>,
    /// Lifetime in ms from now; `None`/negative = never.
    pub expires_in_ms: Option<i64>,
    /// Unmodelled fields of the key ([`Extra`]; `None` stores none).
    pub extra: Option<Extra>,
}

/// Page of a list: start at `start_key` (inclusive; it must exist) and return at most `count`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Page {
    /// First item's key (email, product name, app name or appId); `None` starts at the top.
    pub start_key: Option<String>,
    /// Most items to return.
    pub count: usize,
}

impl Page {
    /// The first `count` items.
    pub fn first(count: usize) -> Self {
        Page {
            start_key: None,
            count,
        }
    }

    /// `count` items from `start_key` on.
    pub fn from(start_key: impl Into<String>, count: usize) -> Self {
        Page {
            start_key: Some(start_key.into()),
            count,
        }
    }
}
