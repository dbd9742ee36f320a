//! The operations: the contract between plan, apply and backends, and nothing else. A plan
//! stores them; a backend executes them. They are platform-neutral (no platform's quirks
//! show here) and hold no secret: a key operation names its key by [`KeyRef`], and apply
//! hands the backend the key as read (with its consumer key) beside the operation.

use serde::{Deserialize, Serialize};

use crate::model::{
    Address, App, AppId, DesiredKey, Developer, DeveloperStatus, Key, KeyId, Product, Status,
};

/// Which key an operation is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KeyRef {
    /// The key's app.
    #[serde(flatten)]
    pub app: AppId,
    /// Which key of the app.
    #[serde(flatten)]
    pub key: KeyId,
}

impl KeyRef {
    /// The key's address.
    pub fn address(&self) -> Address {
        Address::Key {
            app: self.app.clone(),
            key: self.key.clone(),
        }
    }
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
    /// Create an app with its first credential (every platform issues one with the app).
    CreateApp {
        /// The app.
        app: App,
        /// The credential issued with it.
        credential: DesiredKey,
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
    /// Issue a new key for an existing app, carrying its credential id. A key that already
    /// stands for the credential (other than the one a rotation replaces) is adopted, never
    /// minted again.
    MintKey {
        /// The credential.
        credential: DesiredKey,
        /// For a rotation: the fingerprint of the consumer key being replaced.
        #[serde(skip_serializing_if = "Option::is_none", default)]
        replaces: Option<String>,
    },
    /// Grant a product to a key (and tag it with its credential id if it is untagged).
    AttachProduct {
        /// The key.
        key: KeyRef,
        /// Product name.
        product: String,
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

impl Op {
    /// The key this operation changes, which apply hands the backend as read.
    pub fn key(&self) -> Option<&KeyRef> {
        match self {
            Op::AttachProduct { key, .. }
            | Op::DetachProduct { key, .. }
            | Op::SetScopes { key, .. }
            | Op::SetKeyStatus { key, .. }
            | Op::DeleteKey { key } => Some(key),
            _ => None,
        }
    }

    /// Products this operation grants (apply waits for them to exist).
    pub fn products(&self) -> &[String] {
        match self {
            Op::CreateApp { credential, .. } | Op::MintKey { credential, .. } => {
                &credential.products
            }
            Op::AttachProduct { product, .. } => std::slice::from_ref(product),
            _ => &[],
        }
    }
}

/// What an operation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OpOutcome {
    /// Done; nothing to report.
    Done,
    /// A key was minted (CreateApp, MintKey): the caller stores its secret before moving on.
    Minted(Box<Key>),
}
