//! The observed state: what a backend read from a platform, and what to read.

use super::{App, Developer, Key, Product};

/// What to read: only the kinds the config and `--select` need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadScope {
    /// Read developers.
    pub developers: bool,
    /// Read API products.
    pub products: bool,
    /// Read apps and their keys.
    pub apps: bool,
}

impl ReadScope {
    /// Everything.
    pub const ALL: ReadScope = ReadScope {
        developers: true,
        products: true,
        apps: true,
    };
}

/// A resource as read, with what a saved plan's precondition checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed<T> {
    /// The resource, normalized.
    pub value: T,
    /// The platform's last-modified time (ms since the epoch), when it reports one.
    pub last_modified_at: Option<i64>,
}

/// Everything read from a platform.
#[derive(Debug, Clone, Default)]
pub struct Actual {
    /// Developers.
    pub developers: Vec<Observed<Developer>>,
    /// Products.
    pub products: Vec<Observed<Product>>,
    /// Apps.
    pub apps: Vec<Observed<App>>,
    /// Keys of the apps read.
    pub keys: Vec<Key>,
    /// Apps that belong to an AppGroup (Apigee X), not to a developer: read so that a plan
    /// can say they exist, never managed.
    pub group_apps: Vec<GroupApp>,
    /// HTTP requests the read took (0 for the local backend).
    pub requests: usize,
}

/// An app owned by an AppGroup rather than a developer (Apigee X). registrar does not manage
/// these; a plan mentions the ones that share a name or a product with the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupApp {
    /// The AppGroup's name.
    pub group: String,
    /// The app's name.
    pub name: String,
    /// Products its keys hold.
    pub products: Vec<String>,
}
