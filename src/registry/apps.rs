//! Developer apps: create (minting one key), read, list per developer and org-wide, update
//! (a PUT with products mints a key, as on Apigee), generate a key, set status, delete.
//!
//! Reads load apps, their attributes, keys, key attributes and grants with one query each
//! for a whole page, never one query per app.

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::schema::{AttrTable, ExtraTable};
use super::{
    AppInput, AppRecord, AppTypes, AppUpdate, Error, Kind, Page, Registry, Result, expiry,
    from_json, is_unique_violation, now_ms, read_attributes, read_extra, to_json, write_attributes,
    write_extra,
};
use crate::model::Status;

const APP_COLUMNS: &str = "a.id, a.app_id, a.name, d.developer_id, d.email, a.callback_url, \
     a.status, a.scopes, a.key_expires_in, a.created_at, a.last_modified_at, a.extra, \
     (SELECT g.name FROM app_groups g WHERE g.id = d.app_group)";
const APP_FROM: &str = "apps a JOIN developers d ON d.id = a.developer_id";

fn app_row(r: &Row<'_>) -> rusqlite::Result<(i64, AppRecord)> {
    Ok((
        r.get(0)?,
        AppRecord {
            app_id: r.get(1)?,
            name: r.get(2)?,
            developer_id: r.get(3)?,
            developer_email: r.get(4)?,
            callback_url: r.get(5)?,
            status: r.get(6)?,
            scopes: from_json(&r.get::<_, String>(7)?),
            key_expires_in: r.get(8)?,
            attributes: Vec::new(),
            credentials: Vec::new(),
            extra: read_extra(&r.get::<_, String>(11)?),
            app_group: r.get(12)?,
            created_at: r.get(9)?,
            last_modified_at: r.get(10)?,
        },
    ))
}

/// Checks a name by the platform's rules ([`crate::names::check_app_name`]).
pub fn check_app_name(name: &str) -> Result<()> {
    crate::names::check_app_name(name).map_err(Error::Invalid)
}

impl Registry {
    /// Creates an app under a developer and mints its first key: granted `input.api_products`
    /// (status per product approvalType), with the app's scopes, expiring after
    /// `input.key_expires_in` ms (never when `None` or negative).
    pub fn create_app(&mut self, org: &str, dev: &str, input: &AppInput) -> Result<AppRecord> {
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let (dev_row, _) = self.developer_row_id(org_id, dev)?;
        check_app_name(&input.name)?;
        let now = now_ms();
        let app_id = uuid::Uuid::new_v4().to_string();
        let (key, secret) = self.generate_pair();
        let inserted = tx.execute(
            "INSERT INTO apps (org_id, developer_id, app_id, name, callback_url, status, scopes, \
             key_expires_in, created_at, last_modified_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
            params![
                org_id,
                dev_row,
                app_id,
                input.name,
                input.callback_url,
                input.status.unwrap_or(Status::Approved),
                to_json(&input.scopes),
                input.key_expires_in.filter(|ms| *ms >= 0),
                now
            ],
        );
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::AlreadyExists {
                    kind: Kind::App,
                    name: input.name.clone(),
                });
            }
            other => other?,
        };
        let app_row = tx.last_insert_rowid();
        write_attributes(&tx, AttrTable::App, app_row, &input.attributes)?;
        write_extra(&tx, ExtraTable::App, app_row, input.extra.as_ref())?;
        let key_row = super::keys::insert_key(
            &tx,
            org_id,
            app_row,
            (key.expose(), secret.expose()),
            &input.scopes,
            now,
            expiry(now, input.key_expires_in),
        )?;
        super::keys::grant_products(&tx, org_id, key_row, &input.api_products)?;
        let record = self.app_by_row(app_row)?;
        tx.commit()?;
        Ok(record)
    }

    /// Reads an app by developer (email or id) and name.
    pub fn get_app(&self, org: &str, dev: &str, name: &str) -> Result<AppRecord> {
        let (_, app_row) = self.app_row_id(org, dev, name)?;
        self.app_by_row(app_row)
    }

    /// Reads an app by appId (org-wide).
    pub fn get_app_by_id(&self, org: &str, app_id: &str) -> Result<AppRecord> {
        let org_id = self.org_id(org)?;
        let apps = self.load_apps(
            "a.org_id = ?1 AND a.app_id = ?2",
            params![org_id, app_id],
            "a.app_id",
            1,
        )?;
        apps.into_iter().next().ok_or_else(|| Error::NotFound {
            kind: Kind::App,
            name: app_id.to_string(),
            parent: None,
        })
    }

    /// Reads the app that holds a consumer key (org-wide), as `/apps?filter=consumerKey=`
    /// does. Unknown keys are `NotFound` (named by fingerprint).
    pub fn find_app_by_consumer_key(&self, org: &str, key: &str) -> Result<AppRecord> {
        let org_id = self.org_id(org)?;
        let row: Option<i64> = self
            .conn
            .prepare_cached("SELECT app_id FROM keys WHERE org_id = ?1 AND consumer_key = ?2")?
            .query_row(params![org_id, key], |r| r.get(0))
            .optional()?;
        match row {
            Some(app_row) => self.app_by_row(app_row),
            None => Err(Error::NotFound {
                kind: Kind::Key,
                name: crate::model::fingerprint(key.as_bytes()),
                parent: None,
            }),
        }
    }

    /// Lists a developer's apps, with keys, sorted by name from `page.start_key` (an app
    /// name, inclusive; `NotFound` if the developer has no app of that name).
    pub fn list_developer_apps(&self, org: &str, dev: &str, page: &Page) -> Result<Vec<AppRecord>> {
        let org_id = self.org_id(org)?;
        let (dev_row, _) = self.developer_row_id(org_id, dev)?;
        let start = match &page.start_key {
            Some(k) => {
                self.app_row_id(org, dev, k)?;
                k.clone()
            }
            None => String::new(),
        };
        self.load_apps(
            "a.developer_id = ?1 AND a.name >= ?2",
            params![dev_row, start],
            "a.name",
            page.count,
        )
    }

    /// Lists every developer app of the organization (AppGroup apps are not in it) with its
    /// keys and grants, paginated by appId: sorted by appId, from `page.start_key` (an appId,
    /// inclusive; `NotFound` if unknown).
    pub fn list_org_apps(&self, org: &str, page: &Page) -> Result<Vec<AppRecord>> {
        let org_id = self.org_id(org)?;
        let start = match &page.start_key {
            Some(k) => self.get_app_by_id(org, k)?.app_id,
            None => String::new(),
        };
        self.load_apps(
            "a.org_id = ?1 AND a.app_id >= ?2 AND d.app_group IS NULL",
            params![org_id, start],
            "a.app_id",
            page.count,
        )
    }

    /// Lists org-wide apps of `types` sorted by appId from a cursor, only those of `status`
    /// when given (the filters run in SQL, so a page costs one page of rows whatever the org
    /// holds).
    pub fn list_org_apps_where(
        &self,
        org: &str,
        types: AppTypes,
        status: Option<Status>,
        from: AppCursor<'_>,
        limit: usize,
    ) -> Result<Vec<AppRecord>> {
        let org_id = self.org_id(org)?;
        let (op, key) = match from {
            AppCursor::Top => (">=", ""),
            AppCursor::From(k) => (">=", k),
            AppCursor::After(k) => (">", k),
        };
        let filter = format!(
            "a.org_id = ?1 AND a.app_id {op} ?2 AND (?3 IS NULL OR a.status = ?3) AND {}",
            types_sql(types)
        );
        self.load_apps(&filter, params![org_id, key, status], "a.app_id", limit)
    }

    /// How many apps of `types` the organization holds (of `status` when given).
    ///
    /// Every page of an X listing carries this count (`totalSize`), so it is kept until the
    /// database changes: counted afresh per page, it made listing 50,000 apps quadratic.
    pub fn count_org_apps(
        &self,
        org: &str,
        types: AppTypes,
        status: Option<Status>,
    ) -> Result<usize> {
        let org_id = self.org_id(org)?;
        let version = self.version()?;
        let key = (org_id, types, status);
        if let Some(&(at, n)) = self.app_counts.borrow().get(&key)
            && at == version
        {
            return Ok(n);
        }
        let n = self.count_org_apps_now(org_id, types, status)?;
        self.app_counts.borrow_mut().insert(key, (version, n));
        Ok(n)
    }

    /// The version of the database this connection sees: another connection's commit
    /// (`PRAGMA data_version`) or a change of its own (`total_changes`) moves it.
    fn version(&self) -> Result<(i64, u64)> {
        let data: i64 = self
            .conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))?;
        Ok((data, self.conn.total_changes()))
    }

    fn count_org_apps_now(
        &self,
        org_id: i64,
        types: AppTypes,
        status: Option<Status>,
    ) -> Result<usize> {
        let n: i64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT COUNT(*) FROM {APP_FROM} WHERE a.org_id = ?1 \
                 AND (?2 IS NULL OR a.status = ?2) AND {}",
                types_sql(types)
            ))?
            .query_row(params![org_id, status], |r| r.get(0))?;
        Ok(n as usize)
    }

    /// Updates an app (PUT): replaces attributes and callback URL when given; when
    /// `api_products` is given and non-empty, mints a **new** key with those products and
    /// `key_expires_in` (Apigee's documented behaviour). Existing keys are untouched.
    pub fn update_app(
        &mut self,
        org: &str,
        dev: &str,
        name: &str,
        update: &AppUpdate,
    ) -> Result<AppRecord> {
        let mint = update.api_products.as_ref().is_some_and(|p| !p.is_empty());
        self.change_app(org, dev, name, update, mint)
    }

    /// Generates a new key pair for an app (POST app with a body): like [`Registry::update_app`],
    /// but always mints a key, with `api_products` possibly empty.
    pub fn generate_key(
        &mut self,
        org: &str,
        dev: &str,
        name: &str,
        update: &AppUpdate,
    ) -> Result<AppRecord> {
        self.change_app(org, dev, name, update, true)
    }

    fn change_app(
        &mut self,
        org: &str,
        dev: &str,
        name: &str,
        update: &AppUpdate,
        mint: bool,
    ) -> Result<AppRecord> {
        let tx = self.tx()?;
        let (org_id, app_row) = self.app_row_id(org, dev, name)?;
        let now = now_ms();
        let pair = self.generate_pair();
        if let Some(url) = &update.callback_url {
            let url = Some(url.as_str()).filter(|u| !u.is_empty());
            tx.execute(
                "UPDATE apps SET callback_url = ?1 WHERE id = ?2",
                params![url, app_row],
            )?;
        }
        if let Some(attrs) = &update.attributes {
            write_attributes(&tx, AttrTable::App, app_row, attrs)?;
        }
        write_extra(&tx, ExtraTable::App, app_row, update.extra.as_ref())?;
        if mint {
            let scopes: String =
                tx.query_row("SELECT scopes FROM apps WHERE id = ?1", [app_row], |r| {
                    r.get(0)
                })?;
            let key_row = super::keys::insert_key(
                &tx,
                org_id,
                app_row,
                (pair.0.expose(), pair.1.expose()),
                &from_json(&scopes),
                now,
                expiry(now, update.key_expires_in),
            )?;
            let products = update.api_products.clone().unwrap_or_default();
            super::keys::grant_products(&tx, org_id, key_row, &products)?;
        }
        touch_app(&tx, app_row, now)?;
        let record = self.app_by_row(app_row)?;
        tx.commit()?;
        Ok(record)
    }

    /// Sets an app `approved` or `revoked`.
    pub fn set_app_status(&self, org: &str, dev: &str, name: &str, status: Status) -> Result<()> {
        if status == Status::Pending {
            return Err(Error::Invalid(
                "an app is either approved or revoked".into(),
            ));
        }
        let tx = self.tx()?;
        let (_, app_row) = self.app_row_id(org, dev, name)?;
        tx.execute(
            "UPDATE apps SET status = ?1, last_modified_at = ?2 WHERE id = ?3",
            params![status, now_ms(), app_row],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes an app with its keys; returns it as it was.
    pub fn delete_app(&mut self, org: &str, dev: &str, name: &str) -> Result<AppRecord> {
        let tx = self.tx()?;
        let (_, app_row) = self.app_row_id(org, dev, name)?;
        let record = self.app_by_row(app_row)?;
        tx.execute("DELETE FROM apps WHERE id = ?1", [app_row])?;
        tx.commit()?;
        Ok(record)
    }

    /// Org row id and app row id of an app.
    pub(super) fn app_row_id(&self, org: &str, dev: &str, name: &str) -> Result<(i64, i64)> {
        let org_id = self.org_id(org)?;
        let (dev_row, email) = self.developer_row_id(org_id, dev)?;
        let found: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM apps WHERE developer_id = ?1 AND name = ?2")?
            .query_row(params![dev_row, name], |r| r.get(0))
            .optional()?;
        let app_row = found.ok_or_else(|| Error::NotFound {
            kind: Kind::App,
            name: name.to_string(),
            parent: Some(email.clone()),
        })?;
        Ok((org_id, app_row))
    }

    /// Reads one app by row id.
    pub(super) fn app_by_row(&self, app_row: i64) -> Result<AppRecord> {
        let apps = self.load_apps("a.id = ?1", params![app_row], "a.id", 1)?;
        apps.into_iter().next().ok_or_else(|| Error::NotFound {
            kind: Kind::App,
            name: format!("#{app_row}"),
            parent: None,
        })
    }

    /// Loads apps matching `filter` (SQL over `apps a` / `developers d` with the bound
    /// parameters `args`), ordered by `order`, at most `limit`, with everything they hold.
    fn load_apps(
        &self,
        filter: &str,
        args: &[&dyn rusqlite::ToSql],
        order: &str,
        limit: usize,
    ) -> Result<Vec<AppRecord>> {
        let sql = format!(
            "SELECT {APP_COLUMNS} FROM {APP_FROM} WHERE {filter} ORDER BY {order} LIMIT {}",
            limit.min(i64::MAX as usize)
        );
        let rows = self
            .conn
            .prepare_cached(&sql)?
            .query_map(args, app_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let mut attrs = read_attributes(&self.conn, AttrTable::App, &ids)?;
        let mut keys = super::keys::load_keys(&self.conn, "k.app_id", &ids)?;
        Ok(rows
            .into_iter()
            .map(|(id, mut app)| {
                app.attributes = attrs.remove(&id).unwrap_or_default();
                app.credentials = keys
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(_, k)| k)
                    .collect();
                app
            })
            .collect())
    }
}

/// SQL over `developers d` for the app types of a listing (constant text, no input).
/// Cached org-wide app counts by org id, app types and status: the database version they
/// were counted at, and the count.
pub(super) type Counts =
    std::collections::HashMap<(i64, AppTypes, Option<Status>), ((i64, u64), usize)>;

fn types_sql(types: AppTypes) -> &'static str {
    match types {
        AppTypes::All => "1 = 1",
        AppTypes::Developer => "d.app_group IS NULL",
        AppTypes::AppGroup => "d.app_group IS NOT NULL",
    }
}

/// Where an org-wide app listing starts, in appId order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppCursor<'a> {
    /// From the first app.
    Top,
    /// From this appId on, inclusive (`startKey`); it need not exist.
    From(&'a str),
    /// After this appId, exclusive (a page token's position).
    After(&'a str),
}

/// Bumps an app's lastModifiedAt.
pub(super) fn touch_app(conn: &Connection, app_row: i64, now: i64) -> Result<()> {
    conn.execute(
        "UPDATE apps SET last_modified_at = ?1 WHERE id = ?2",
        params![now, app_row],
    )?;
    Ok(())
}
