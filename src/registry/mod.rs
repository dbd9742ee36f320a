//! The registry store: organizations, developers, API products, developer apps, keys,
//! key↔product grants and attributes in one SQLite file (default `.registrar/registry.db`).
//!
//! It is the platform itself for `registrar serve` and for the `local` backend, so it keeps
//! consumer keys and secrets in plaintext, as a platform does (they only leave it inside
//! [`Secret`]s); the file and its `-wal`/`-shm` are readable by their owner only (see
//! [`Registry::open`] and the README's "The local registry").
//! The API is typed and flavour-neutral (timestamps in ms as `i64`, `Option`, `Vec`); the
//! server renders it as Apigee X or Edge JSON.
//!
//! Constraints enforced here: developer emails unique per org (case-insensitive; lowercase
//! required when [`RegistryOptions::lowercase_emails`] is set, as on Apigee X), app names unique
//! per developer, consumer keys unique per org, product names unique per org. Every write
//! runs in one IMMEDIATE transaction that also holds the lookups of the rows it writes under,
//! so a write racing a delete of its parent answers `NotFound`, never a constraint failure;
//! deletes cascade synchronously. Every statement uses bound parameters.
//!
//! Lists are sorted by their natural key (developer email, product name, app name; org-wide
//! apps by appId) and paginated with an inclusive `start_key` cursor, as Apigee does.

pub mod apaleo;
mod app_groups;
mod apps;
mod attributes;
mod developers;
mod keys;
pub mod model;
mod products;
mod schema;
mod types;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};

use crate::model::{ApprovalType, DeveloperStatus, Secret, Status};
use crate::owner_only;

pub use app_groups::OWNER_DOMAIN as APP_GROUP_OWNER_DOMAIN;
pub use apps::AppCursor;
pub use attributes::AttrOwner;
pub use schema::SCHEMA_VERSION;
pub use types::*;

/// Default location of the registry database, relative to the working directory.
pub const DEFAULT_PATH: &str = ".registrar/registry.db";

/// The kind of entity an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An organization.
    Org,
    /// A developer.
    Developer,
    /// An API product.
    Product,
    /// A developer app.
    App,
    /// A key (credential).
    Key,
    /// An attribute of a developer, app or product.
    Attribute,
    /// An AppGroup (Apigee X).
    AppGroup,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Org => "organization",
            Kind::Developer => "developer",
            Kind::Product => "API product",
            Kind::App => "app",
            Kind::Key => "key",
            Kind::Attribute => "attribute",
            Kind::AppGroup => "AppGroup",
        })
    }
}

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The entity does not exist. For keys, `name` is the key's fingerprint, never the key.
    #[error("{kind} `{}{name}` does not exist", parent.as_deref().map(|p| format!("{p}/")).unwrap_or_default())]
    NotFound {
        /// What was looked for.
        kind: Kind,
        /// Its name (email, product name, app name, appId; a fingerprint for keys).
        name: String,
        /// The developer (email) of an app looked up by name.
        parent: Option<String>,
    },
    /// An entity with the same natural key exists. For keys, `name` is a fingerprint.
    #[error("{kind} `{name}` already exists")]
    AlreadyExists {
        /// What was created.
        kind: Kind,
        /// Its name (a fingerprint for keys).
        name: String,
    },
    /// The request is not valid; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// The scopes asked for are not offered by the key's products.
    #[error("invalid scopes: scopes must be contained in [{}]", allowed.join(", "))]
    InvalidScopes {
        /// Scopes the key's products offer.
        allowed: Vec<String>,
    },
    /// A product was removed from a key that does not have it.
    #[error("API product `{product}` is not associated with the consumer key")]
    ProductNotOnKey {
        /// The product name.
        product: String,
    },
    /// The database directory could not be created.
    #[error("cannot create the directory of the registry database `{path}`")]
    Io {
        /// The directory.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A database file could not be created or made readable by its owner only.
    #[error("cannot make the registry database file `{path}` readable by its owner only")]
    Private {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("registry database error")]
    Sqlite(#[from] rusqlite::Error),
}

/// Result of store operations.
pub type Result<T> = std::result::Result<T, Error>;

/// Length of generated consumer keys and secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyShape {
    /// Characters in a generated consumer key.
    pub key_len: usize,
    /// Characters in a generated consumer secret.
    pub secret_len: usize,
}

impl KeyShape {
    /// Apigee Edge: 32-character keys, 16-character secrets.
    pub const EDGE: KeyShape = KeyShape {
        key_len: 32,
        secret_len: 16,
    };
    /// Recent Apigee X: 48-character keys, 64-character secrets.
    pub const X: KeyShape = KeyShape {
        key_len: 48,
        secret_len: 64,
    };
}

/// Behaviour that differs between platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryOptions {
    /// Refuse developer emails with uppercase letters (Apigee X).
    pub lowercase_emails: bool,
    /// Shape of generated keys.
    pub key_shape: KeyShape,
}

impl Default for RegistryOptions {
    /// Apigee X behaviour: lowercase emails, 48/64-character keys.
    fn default() -> Self {
        RegistryOptions {
            lowercase_emails: true,
            key_shape: KeyShape::X,
        }
    }
}

/// A connection to the registry database. Not `Sync`: share it behind a `Mutex`.
pub struct Registry {
    conn: Connection,
    opts: RegistryOptions,
    /// Org-wide app counts (`totalSize` of every page of an X listing), each with the
    /// database version it was counted at ([`Registry::version`]).
    app_counts: std::cell::RefCell<apps::Counts>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("opts", &self.opts)
            .finish()
    }
}

impl Registry {
    /// Opens (creating it and its parent directories if needed) the database at `path`,
    /// in WAL mode, migrated to the current schema.
    ///
    /// The database holds consumer keys and secrets, so it is readable by its owner only:
    /// created 0600 whatever the umask (SQLite gives its `-wal` and `-shm` the database's
    /// mode), and set to 0600 with a warning when found looser, as are its `-wal` and
    /// `-shm`. A `.registrar/` directory created on the way is private and git-ignored
    /// ([`crate::owner_only::create_dir_all`]).
    pub fn open(path: impl AsRef<Path>) -> Result<Registry> {
        let path = path.as_ref();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            owner_only::create_dir_all(dir).map_err(|source| Error::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let private = |p: &Path, result: std::io::Result<()>| {
            result.map_err(|source| Error::Private {
                path: p.display().to_string(),
                source,
            })
        };
        private(path, owner_only::create_file(path))?;
        let sidecars = owner_only::sqlite_sidecars(path);
        for p in &sidecars {
            private(p, owner_only::tighten(p).map(|_| ()))?;
        }
        let registry = Self::setup(Connection::open(path)?, true)?;
        // SQLite creates them with the database's mode; check what it made all the same.
        for p in &sidecars {
            private(p, owner_only::tighten(p).map(|_| ()))?;
        }
        Ok(registry)
    }

    /// Opens a private in-memory database (for tests).
    pub fn open_in_memory() -> Result<Registry> {
        Self::setup(Connection::open_in_memory()?, false)
    }

    fn setup(mut conn: Connection, file: bool) -> Result<Registry> {
        schema::configure(&conn, file)?;
        schema::migrate(&mut conn)?;
        Ok(Registry {
            app_counts: Default::default(),
            conn,
            opts: RegistryOptions::default(),
        })
    }

    /// Replaces the platform options (builder style).
    pub fn with_options(mut self, opts: RegistryOptions) -> Registry {
        self.opts = opts;
        self
    }

    /// Reads the database file through a memory map of up to `bytes` (SQLite's `mmap_size`)
    /// instead of a `pread` into each connection's page cache per page. For `serve`, whose
    /// connections answer listings of a whole org: at 50,000 apps a plan's reads cost the
    /// server more CPU in `pread` and B-tree re-reads than the client spent on the plan. The
    /// map is the OS's page cache, shared by every connection; registrar's own commands keep
    /// SQLite's default, so that their memory stays their own.
    pub fn with_mmap(self, bytes: i64) -> Result<Registry> {
        self.conn.pragma_update(None, "mmap_size", bytes)?;
        Ok(self)
    }

    /// The platform options in effect.
    pub fn options(&self) -> RegistryOptions {
        self.opts
    }

    /// Creates the organization if it does not exist.
    pub fn ensure_org(&self, org: &str) -> Result<()> {
        if org.is_empty() {
            return Err(Error::Invalid("organization name must not be empty".into()));
        }
        self.conn.execute(
            "INSERT INTO orgs (name, created_at) VALUES (?1, ?2) ON CONFLICT (name) DO NOTHING",
            params![org, now_ms()],
        )?;
        Ok(())
    }

    /// When the organization was created (ms); `NotFound` if it does not exist.
    pub fn org_created_at(&self, org: &str) -> Result<i64> {
        let id = self.org_id(org)?;
        Ok(self
            .conn
            .prepare_cached("SELECT created_at FROM orgs WHERE id = ?1")?
            .query_row([id], |r| r.get(0))?)
    }

    /// Whether the organization exists.
    pub fn org_exists(&self, org: &str) -> Result<bool> {
        Ok(self.org_id_opt(org)?.is_some())
    }

    fn org_id_opt(&self, org: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM orgs WHERE name = ?1")?
            .query_row([org], |r| r.get(0))
            .optional()?)
    }

    fn org_id(&self, org: &str) -> Result<i64> {
        self.org_id_opt(org)?.ok_or_else(|| Error::NotFound {
            kind: Kind::Org,
            name: org.to_string(),
            parent: None,
        })
    }

    /// Starts an IMMEDIATE transaction: it takes the write lock up front (waiting up to the
    /// busy timeout), so concurrent connections never fail half-way with SQLITE_BUSY.
    ///
    /// Every write opens it **before** looking up the rows it writes under (org, developer,
    /// app, key, product) and reads its answer before committing: lookups through `self`
    /// run on the same connection, so inside the transaction, and a delete on another
    /// connection cannot slip between the lookup and the write (which would otherwise fail
    /// with `FOREIGN KEY constraint failed`, or change nothing and still answer success).
    /// Dropping the transaction without committing rolls it back. Not re-entrant: a write
    /// never calls another public write.
    fn tx(&self) -> Result<rusqlite::Transaction<'_>> {
        Ok(rusqlite::Transaction::new_unchecked(
            &self.conn,
            rusqlite::TransactionBehavior::Immediate,
        )?)
    }

    /// A new consumer key and secret in the configured shape (alphanumeric).
    fn generate_pair(&self) -> (Secret, Secret) {
        (
            Secret::new(random_alnum(self.opts.key_shape.key_len)),
            Secret::new(random_alnum(self.opts.key_shape.secret_len)),
        )
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn random_alnum(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Expiry for a lifetime in ms: `None` (never) when absent or negative.
fn expiry(issued_at: i64, lifetime_ms: Option<i64>) -> Option<i64> {
    lifetime_ms
        .filter(|ms| *ms >= 0)
        .map(|ms| issued_at.saturating_add(ms))
}

/// Stores the unmodelled fields of one row of `table` when given (`None` keeps them).
fn write_extra(
    conn: &Connection,
    table: schema::ExtraTable,
    row: i64,
    extra: Option<&Extra>,
) -> Result<()> {
    if let Some(extra) = extra {
        let text = serde_json::to_string(extra)
            .map_err(|e| Error::Invalid(format!("cannot store the unmodelled fields: {e}")))?;
        conn.prepare_cached(&format!(
            "UPDATE {} SET extra = ?1 WHERE id = ?2",
            table.table()
        ))?
        .execute(params![text, row])?;
    }
    Ok(())
}

/// The stored unmodelled fields (an unreadable value reads as none).
fn read_extra(text: &str) -> Extra {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_json(list: &[String]) -> String {
    serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
}

fn from_json(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

/// The model's status-like enums in SQL: stored as their one spelling (`as_str`).
macro_rules! sql_spelled {
    ($($t:ty),+) => {$(
        impl rusqlite::ToSql for $t {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $t {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                value
                    .as_str()?
                    .parse()
                    .map_err(|e: String| rusqlite::types::FromSqlError::Other(e.into()))
            }
        }
    )+};
}

sql_spelled!(Status, DeveloperStatus, ApprovalType);

/// Whether an SQLite error is a UNIQUE constraint violation.
fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e,
        rusqlite::Error::SqliteFailure(err, _)
            if err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                || err.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Checks an attribute list: at most one value per name.
fn check_attributes(attrs: &[Attribute]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for a in attrs {
        if a.name.is_empty() {
            return Err(Error::Invalid("attribute names must not be empty".into()));
        }
        if !seen.insert(a.name.as_str()) {
            return Err(Error::Invalid(format!(
                "attribute `{}` is given twice; give each attribute once",
                a.name
            )));
        }
    }
    Ok(())
}

/// Replaces the attributes of one owner row.
fn write_attributes(
    conn: &Connection,
    table: schema::AttrTable,
    owner: i64,
    attrs: &[Attribute],
) -> Result<()> {
    check_attributes(attrs)?;
    let t = table.table();
    conn.prepare_cached(&format!("DELETE FROM {t} WHERE owner = ?1"))?
        .execute([owner])?;
    let mut insert = conn.prepare_cached(&format!(
        "INSERT INTO {t} (owner, position, name, value) VALUES (?1, ?2, ?3, ?4)"
    ))?;
    for (i, a) in attrs.iter().enumerate() {
        insert.execute(params![owner, i as i64, a.name, a.value])?;
    }
    Ok(())
}

/// Reads the attributes of the given owner rows in one query, grouped by owner.
fn read_attributes(
    conn: &Connection,
    table: schema::AttrTable,
    owners: &[i64],
) -> Result<HashMap<i64, Vec<Attribute>>> {
    let t = table.table();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT owner, name, value FROM {t} WHERE owner IN (SELECT value FROM json_each(?1)) \
         ORDER BY owner, position"
    ))?;
    let mut out: HashMap<i64, Vec<Attribute>> = HashMap::new();
    let mut rows = stmt.query([ids_json(owners)])?;
    while let Some(r) = rows.next()? {
        out.entry(r.get(0)?).or_default().push(Attribute::new(
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ));
    }
    Ok(out)
}

/// Row ids as a JSON array, bound as one parameter and expanded with `json_each` (bulk reads
/// without building SQL from values).
fn ids_json(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

#[cfg(test)]
mod tests;
