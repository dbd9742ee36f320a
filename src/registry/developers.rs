//! Developers: create, read, list, replace, set status, delete (cascading to apps and keys).
//!
//! A developer is addressed by email (case-insensitively) or by developerId.

use std::collections::HashMap;

use rusqlite::{OptionalExtension, Row, params};

use super::schema::{AttrTable, ExtraTable};
use super::{
    DEVELOPER_APPS_SHOWN, DeveloperInput, DeveloperRecord, Error, Kind, Page, Registry, Result,
    ids_json, is_unique_violation, now_ms, read_attributes, read_extra, write_attributes,
    write_extra,
};
use crate::model::DeveloperStatus;

const DEV_COLUMNS: &str = "d.id, d.developer_id, o.name, d.email, d.first_name, d.last_name, \
     d.user_name, d.status, d.created_at, d.last_modified_at, d.extra";

/// A developer row and its row id.
struct DevRow {
    id: i64,
    record: DeveloperRecord,
}

fn dev_row(r: &Row<'_>) -> rusqlite::Result<DevRow> {
    Ok(DevRow {
        id: r.get(0)?,
        record: DeveloperRecord {
            developer_id: r.get(1)?,
            organization: r.get(2)?,
            email: r.get(3)?,
            first_name: r.get(4)?,
            last_name: r.get(5)?,
            user_name: r.get(6)?,
            status: r.get(7)?,
            attributes: Vec::new(),
            apps: Vec::new(),
            extra: read_extra(&r.get::<_, String>(10)?),
            created_at: r.get(8)?,
            last_modified_at: r.get(9)?,
        },
    })
}

impl Registry {
    /// Creates a developer (status `active`). Errors: `AlreadyExists` for a taken email,
    /// `Invalid` for a missing field, a malformed email or (X) an uppercase one.
    pub fn create_developer(&mut self, org: &str, dev: &DeveloperInput) -> Result<DeveloperRecord> {
        self.check_developer(dev)?;
        let now = now_ms();
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let inserted = tx.execute(
            "INSERT INTO developers (org_id, developer_id, email, first_name, last_name, \
             user_name, status, created_at, last_modified_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?7)",
            params![
                org_id,
                uuid::Uuid::new_v4().to_string(),
                dev.email,
                dev.first_name,
                dev.last_name,
                dev.user_name,
                now
            ],
        );
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::AlreadyExists {
                    kind: Kind::Developer,
                    name: dev.email.clone(),
                });
            }
            other => other?,
        };
        let id = tx.last_insert_rowid();
        write_attributes(&tx, AttrTable::Developer, id, &dev.attributes)?;
        write_extra(&tx, ExtraTable::Developer, id, dev.extra.as_ref())?;
        let record = self.get_developer(org, &dev.email)?;
        tx.commit()?;
        Ok(record)
    }

    /// Reads a developer by email or developerId.
    pub fn get_developer(&self, org: &str, dev: &str) -> Result<DeveloperRecord> {
        let org_id = self.org_id(org)?;
        let row = self.find_developer(org_id, dev)?;
        Ok(self.complete(vec![row])?.remove(0))
    }

    /// Lists developers sorted by email (case-insensitively), from `page.start_key`
    /// (inclusive; `NotFound` if no developer has that email).
    pub fn list_developers(&self, org: &str, page: &Page) -> Result<Vec<DeveloperRecord>> {
        let org_id = self.org_id(org)?;
        let start = match &page.start_key {
            Some(k) => self.find_developer_by_email(org_id, k)?.record.email,
            None => String::new(),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DEV_COLUMNS} FROM developers d JOIN orgs o ON o.id = d.org_id \
             WHERE d.org_id = ?1 AND d.app_group IS NULL AND d.email >= ?2 \
             ORDER BY d.email LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![org_id, start, page.count as i64], dev_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        self.complete(rows)
    }

    /// Developers that own an app with this name, sorted by email.
    pub fn developers_with_app(&self, org: &str, app: &str) -> Result<Vec<DeveloperRecord>> {
        let org_id = self.org_id(org)?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {DEV_COLUMNS} FROM developers d JOIN orgs o ON o.id = d.org_id \
             WHERE d.org_id = ?1 AND d.app_group IS NULL AND EXISTS \
             (SELECT 1 FROM apps a WHERE a.developer_id = d.id AND a.name = ?2) ORDER BY d.email"
        ))?;
        let rows = stmt
            .query_map(params![org_id, app], dev_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        self.complete(rows)
    }

    /// Replaces a developer's fields and attributes. The email may change (Edge allows it);
    /// refusing that (X) is the caller's decision.
    pub fn update_developer(
        &mut self,
        org: &str,
        dev: &str,
        input: &DeveloperInput,
    ) -> Result<DeveloperRecord> {
        self.check_developer(input)?;
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let row = self.find_developer(org_id, dev)?;
        let updated = tx.execute(
            "UPDATE developers SET email = ?1, first_name = ?2, last_name = ?3, user_name = ?4, \
             last_modified_at = ?5 WHERE id = ?6",
            params![
                input.email,
                input.first_name,
                input.last_name,
                input.user_name,
                now_ms(),
                row.id
            ],
        );
        match updated {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::AlreadyExists {
                    kind: Kind::Developer,
                    name: input.email.clone(),
                });
            }
            other => other?,
        };
        write_attributes(&tx, AttrTable::Developer, row.id, &input.attributes)?;
        write_extra(&tx, ExtraTable::Developer, row.id, input.extra.as_ref())?;
        let record = self.get_developer(org, &row.record.developer_id)?;
        tx.commit()?;
        Ok(record)
    }

    /// Sets a developer `active` or `inactive`.
    pub fn set_developer_status(
        &self,
        org: &str,
        dev: &str,
        status: DeveloperStatus,
    ) -> Result<()> {
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let row = self.find_developer(org_id, dev)?;
        tx.execute(
            "UPDATE developers SET status = ?1, last_modified_at = ?2 WHERE id = ?3",
            params![status, now_ms(), row.id],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a developer with its apps and keys; returns it as it was.
    pub fn delete_developer(&mut self, org: &str, dev: &str) -> Result<DeveloperRecord> {
        let tx = self.tx()?;
        let record = self.get_developer(org, dev)?;
        tx.execute(
            "DELETE FROM developers WHERE developer_id = ?1",
            [&record.developer_id],
        )?;
        tx.commit()?;
        Ok(record)
    }

    /// Row id of a developer by email (case-insensitive) or developerId.
    pub(super) fn developer_row_id(&self, org_id: i64, dev: &str) -> Result<(i64, String)> {
        let row = self.find_developer(org_id, dev)?;
        Ok((row.id, row.record.email))
    }

    fn find_developer(&self, org_id: i64, dev: &str) -> Result<DevRow> {
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEV_COLUMNS} FROM developers d JOIN orgs o ON o.id = d.org_id \
                 WHERE d.org_id = ?1 AND (d.email = ?2 OR d.developer_id = ?2) \
                 AND (d.app_group IS NULL OR d.developer_id = ?2)"
            ))?
            .query_row(params![org_id, dev], dev_row)
            .optional()?;
        found.ok_or_else(|| Error::NotFound {
            kind: Kind::Developer,
            name: dev.to_string(),
            parent: None,
        })
    }

    fn find_developer_by_email(&self, org_id: i64, email: &str) -> Result<DevRow> {
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {DEV_COLUMNS} FROM developers d JOIN orgs o ON o.id = d.org_id \
                 WHERE d.org_id = ?1 AND d.email = ?2 AND d.app_group IS NULL"
            ))?
            .query_row(params![org_id, email], dev_row)
            .optional()?;
        found.ok_or_else(|| Error::NotFound {
            kind: Kind::Developer,
            name: email.to_string(),
            parent: None,
        })
    }

    /// Fills attributes and app names of developer rows with two bulk queries.
    fn complete(&self, rows: Vec<DevRow>) -> Result<Vec<DeveloperRecord>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut attrs = read_attributes(&self.conn, AttrTable::Developer, &ids)?;
        let mut apps: HashMap<i64, Vec<String>> = HashMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT developer_id, name FROM apps \
             WHERE developer_id IN (SELECT value FROM json_each(?1)) ORDER BY developer_id, name",
        )?;
        let mut q = stmt.query([ids_json(&ids)])?;
        while let Some(r) = q.next()? {
            let names = apps.entry(r.get(0)?).or_default();
            if names.len() < DEVELOPER_APPS_SHOWN {
                names.push(r.get(1)?);
            }
        }
        Ok(rows
            .into_iter()
            .map(|mut row| {
                row.record.attributes = attrs.remove(&row.id).unwrap_or_default();
                row.record.apps = apps.remove(&row.id).unwrap_or_default();
                row.record
            })
            .collect())
    }

    fn check_developer(&self, dev: &DeveloperInput) -> Result<()> {
        for (field, value) in [
            ("email", &dev.email),
            ("firstName", &dev.first_name),
            ("lastName", &dev.last_name),
            ("userName", &dev.user_name),
        ] {
            if value.trim().is_empty() {
                return Err(Error::Invalid(format!(
                    "`{field}` is required: give the developer's {field}"
                )));
            }
        }
        let email = dev.email.as_str();
        crate::names::check_email(email).map_err(Error::Invalid)?;
        if self.opts.lowercase_emails && email.chars().any(|c| c.is_uppercase()) {
            return Err(Error::Invalid("email address has to be lowercase".into()));
        }
        Ok(())
    }
}
