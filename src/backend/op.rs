//! The operations a backend executes. A plan stores them (they serialize without secrets);
//! apply fills in the consumer keys of [`KeyRef`]s just before execution.

use serde::{Deserialize, Serialize};

use crate::model::{App, Attributes, Developer, DeveloperStatus, Key, Product, Status};

/// Which key an operation is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyRef {
    /// Developer email.
    pub developer: String,
    /// App name.
    pub app: String,
    /// Credential id, or `sha256:…` (the consumer key's fingerprint) for a key the config does
    /// not declare.
    pub id: String,
    /// The consumer key itself: never serialized; apply resolves it before execution.
    #[serde(skip)]
    pub consumer_key: Option<crate::model::Secret>,
}

/// One change to make on a platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Op {
    /// Create a developer (status is set separately if not active).
    CreateDeveloper {
        /// The developer.
        developer: Developer,
    },
    /// Replace a developer's names and attributes.
    UpdateDeveloper {
        /// The developer as it should be.
        developer: Developer,
    },
    /// Activate or deactivate a developer.
    SetDeveloperStatus {
        /// Email.
        email: String,
        /// New status.
        status: DeveloperStatus,
    },
    /// Delete a developer (and, on the platform, its apps and keys).
    DeleteDeveloper {
        /// Email.
        email: String,
    },
    /// Create a product.
    CreateProduct {
        /// The product.
        product: Product,
    },
    /// Replace a product.
    UpdateProduct {
        /// The product as it should be.
        product: Product,
    },
    /// Delete a product.
    DeleteProduct {
        /// Name.
        name: String,
    },
    /// Create an app; the platform mints its first key with `products`, `scopes` and
    /// `key_expires_in_ms`, tagged `credential` (unless it is the default credential).
    CreateApp {
        /// The app.
        app: App,
        /// Credential id of the key the platform mints.
        credential: String,
        /// Products of that key.
        products: Vec<String>,
        /// Scopes of that key.
        scopes: Vec<String>,
        /// Lifetime of that key (ms), `None` for never.
        key_expires_in_ms: Option<u64>,
    },
    /// Replace an app's callback URL and attributes (never its products: that would mint a key).
    UpdateApp {
        /// The app as it should be.
        app: App,
    },
    /// Approve or revoke an app.
    SetAppStatus {
        /// Developer email.
        developer: String,
        /// App name.
        app: String,
        /// New status.
        status: Status,
    },
    /// Delete an app and its keys.
    DeleteApp {
        /// Developer email.
        developer: String,
        /// App name.
        app: String,
    },
    /// Mint a new key for an existing app and tag it with its credential id.
    MintKey {
        /// The app (its callback URL and attributes are resent: the platform replaces them).
        app: App,
        /// Credential id.
        credential: String,
        /// Products of the key.
        products: Vec<String>,
        /// Scopes of the key.
        scopes: Vec<String>,
        /// Lifetime (ms), `None` for never.
        expires_in_ms: Option<u64>,
    },
    /// Grant a product to a key.
    AttachProduct {
        /// The key.
        key: KeyRef,
        /// Product name.
        product: String,
        /// The key's attributes, resent because the platform replaces them on this call.
        attributes: Attributes,
    },
    /// Remove a product from a key.
    DetachProduct {
        /// The key.
        key: KeyRef,
        /// Product name.
        product: String,
    },
    /// Replace a key's scopes.
    SetScopes {
        /// The key.
        key: KeyRef,
        /// Scopes.
        scopes: Vec<String>,
    },
    /// Approve or revoke a key.
    SetKeyStatus {
        /// The key.
        key: KeyRef,
        /// New status.
        status: Status,
    },
    /// Delete a key.
    DeleteKey {
        /// The key.
        key: KeyRef,
    },
}

/// What an operation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutcome {
    /// Done; nothing to report.
    Done,
    /// A key was minted (CreateApp, MintKey): the caller stores its secret before moving on.
    Minted(Box<Key>),
}
