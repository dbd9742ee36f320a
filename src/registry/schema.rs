//! The SQLite schema and its migrations.
//!
//! `schema_version` holds one row with the version the database is at. [`migrate`] applies
//! every migration after it, each in its own transaction, so a database created by an older
//! registrar is upgraded on open; a database from a newer registrar is refused.

use rusqlite::{Connection, OptionalExtension};

use super::{Error, Result};

/// Migrations in order; migration `i` brings the database from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE orgs (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    );
    CREATE TABLE developers (
        id INTEGER PRIMARY KEY,
        org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        developer_id TEXT NOT NULL UNIQUE,
        email TEXT NOT NULL COLLATE NOCASE,
        first_name TEXT NOT NULL,
        last_name TEXT NOT NULL,
        user_name TEXT NOT NULL,
        status TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL,
        UNIQUE (org_id, email)
    );
    CREATE TABLE products (
        id INTEGER PRIMARY KEY,
        org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        description TEXT NOT NULL,
        approval_type TEXT NOT NULL,
        api_resources TEXT NOT NULL,
        environments TEXT NOT NULL,
        proxies TEXT NOT NULL,
        scopes TEXT NOT NULL,
        quota TEXT,
        quota_interval TEXT,
        quota_time_unit TEXT,
        created_at INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL,
        UNIQUE (org_id, name)
    );
    CREATE TABLE apps (
        id INTEGER PRIMARY KEY,
        org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        developer_id INTEGER NOT NULL REFERENCES developers(id) ON DELETE CASCADE,
        app_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        callback_url TEXT,
        status TEXT NOT NULL,
        scopes TEXT NOT NULL,
        key_expires_in INTEGER,
        created_at INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL,
        UNIQUE (developer_id, name)
    );
    CREATE INDEX apps_org_app_id ON apps (org_id, app_id);
    CREATE TABLE keys (
        id INTEGER PRIMARY KEY,
        org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        app_id INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        consumer_key TEXT NOT NULL,
        consumer_secret TEXT NOT NULL,
        status TEXT NOT NULL,
        scopes TEXT NOT NULL,
        issued_at INTEGER NOT NULL,
        expires_at INTEGER,
        UNIQUE (org_id, consumer_key)
    );
    CREATE INDEX keys_app ON keys (app_id);
    CREATE TABLE key_products (
        key_id INTEGER NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
        product_id INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
        status TEXT NOT NULL,
        position INTEGER NOT NULL,
        PRIMARY KEY (key_id, product_id)
    );
    CREATE INDEX key_products_product ON key_products (product_id);
    CREATE TABLE developer_attributes (
        owner INTEGER NOT NULL REFERENCES developers(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (owner, name)
    );
    CREATE TABLE product_attributes (
        owner INTEGER NOT NULL REFERENCES products(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (owner, name)
    );
    CREATE TABLE app_attributes (
        owner INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (owner, name)
    );
    CREATE TABLE key_attributes (
        owner INTEGER NOT NULL REFERENCES keys(id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        name TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (owner, name)
    );
    "#,
    // 2: fields registrar does not model, kept verbatim as the JSON object a client sent
    // (issue 9: lossless writes; `serve` returns them on reads).
    r#"
    ALTER TABLE developers ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE products ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE apps ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE keys ADD COLUMN extra TEXT NOT NULL DEFAULT '{}';
    "#,
    // 3: AppGroups (Apigee X). A group's apps live in `apps` under a hidden developer row
    // that points at the group (`developers.app_group`), so keys, grants and the org-wide
    // app list work for them unchanged; developer reads skip those rows.
    r#"
    CREATE TABLE app_groups (
        id INTEGER PRIMARY KEY,
        org_id INTEGER NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
        app_group_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        display_name TEXT NOT NULL,
        status TEXT NOT NULL,
        channel_id TEXT NOT NULL,
        channel_uri TEXT NOT NULL,
        attributes TEXT NOT NULL,
        extra TEXT NOT NULL DEFAULT '{}',
        created_at INTEGER NOT NULL,
        last_modified_at INTEGER NOT NULL,
        UNIQUE (org_id, name)
    );
    ALTER TABLE developers ADD COLUMN app_group INTEGER REFERENCES app_groups(id) ON DELETE CASCADE;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets connection pragmas (foreign keys, WAL for files, busy timeout).
pub(super) fn configure(conn: &Connection, file: bool) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    if file {
        // Two processes opening a new file at once: switching to WAL may answer "busy" at
        // once, without the busy handler; retry for as long as the busy timeout.
        let started = std::time::Instant::now();
        let mode: String = loop {
            match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)) {
                Err(rusqlite::Error::SqliteFailure(e, _))
                    if e.code == rusqlite::ErrorCode::DatabaseBusy
                        && started.elapsed() < std::time::Duration::from_secs(5) =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break other?,
            }
        };
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!("SQLite refused WAL mode (journal_mode is {mode})");
        }
        conn.pragma_update(None, "synchronous", "NORMAL")?;
    }
    Ok(())
}

/// Brings the database to [`SCHEMA_VERSION`], in one write transaction: two processes
/// opening a new file at once take turns, and the second finds the work done.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let current: Option<i64> = tx
        .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
        .optional()?;
    let mut version = match current {
        Some(v) => v,
        None => {
            tx.execute("INSERT INTO schema_version (version) VALUES (0)", [])?;
            0
        }
    };
    if version > SCHEMA_VERSION {
        return Err(Error::Invalid(format!(
            "the registry database is at schema version {version}, newer than this registrar \
             understands ({SCHEMA_VERSION}); upgrade registrar"
        )));
    }
    while version < SCHEMA_VERSION {
        tx.execute_batch(MIGRATIONS[version as usize])?;
        version += 1;
        tx.execute("UPDATE schema_version SET version = ?1", [version])?;
    }
    tx.commit()?;
    Ok(())
}

/// The tables whose rows keep unmodelled fields in an `extra` column. Table names are never
/// user input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ExtraTable {
    Developer,
    Product,
    App,
    Key,
}

impl ExtraTable {
    pub(super) fn table(self) -> &'static str {
        match self {
            ExtraTable::Developer => "developers",
            ExtraTable::Product => "products",
            ExtraTable::App => "apps",
            ExtraTable::Key => "keys",
        }
    }
}

/// The tables that hold attributes, one per owner kind. Table names are never user input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum AttrTable {
    Developer,
    Product,
    App,
    Key,
}

impl AttrTable {
    pub(super) fn table(self) -> &'static str {
        match self {
            AttrTable::Developer => "developer_attributes",
            AttrTable::Product => "product_attributes",
            AttrTable::App => "app_attributes",
            AttrTable::Key => "key_attributes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_1_database_gains_empty_unmodelled_fields() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0]).unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_version (version INTEGER NOT NULL);
             INSERT INTO schema_version (version) VALUES (1);
             INSERT INTO orgs (name, created_at) VALUES ('local', 0);
             INSERT INTO developers (org_id, developer_id, email, first_name, last_name,
               user_name, status, created_at, last_modified_at)
               VALUES (1, 'id', 'a@example.com', 'A', 'B', 'ab', 'active', 0, 0);",
        )
        .unwrap();
        migrate(&mut conn).unwrap();
        let extra: String = conn
            .query_row("SELECT extra FROM developers", [], |r| r.get(0))
            .unwrap();
        assert_eq!(extra, "{}");
        let v: i64 = conn
            .query_row("SELECT version FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
    }
}
