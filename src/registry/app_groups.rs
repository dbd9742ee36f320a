//! AppGroups (Apigee X): create, read, list, replace, set status, delete (cascading to the
//! group's apps and keys).
//!
//! A group's apps are ordinary rows of `apps` owned by a hidden developer row that points at
//! the group (`developers.app_group`); [`Registry::app_group_owner`] names that owner, and
//! every app and key method takes it where it takes a developer. Developer reads never show
//! those rows, and the owner is reachable only by its internal id (`appgroup:<uuid>`), which
//! no answer shows.

use rusqlite::{OptionalExtension, Row, params};

use super::{
    AppGroupInput, AppGroupRecord, Attribute, Error, Kind, Registry, Result, check_attributes,
    is_unique_violation, now_ms, read_extra,
};
use crate::model::DeveloperStatus;

const GROUP_COLUMNS: &str = "g.id, g.app_group_id, o.name, g.name, g.display_name, g.status, \
     g.channel_id, g.channel_uri, g.attributes, g.extra, g.created_at, g.last_modified_at";

/// The prefix of an AppGroup owner's internal developer id.
pub const OWNER_PREFIX: &str = "appgroup:";

/// The domain of an AppGroup owner's internal email (`<uuid>@…`), which no answer shows.
pub const OWNER_DOMAIN: &str = "@appgroups.registrar.invalid";

fn group_row(r: &Row<'_>) -> rusqlite::Result<(i64, AppGroupRecord)> {
    let attrs: Vec<(String, String)> =
        serde_json::from_str(&r.get::<_, String>(8)?).unwrap_or_default();
    Ok((
        r.get(0)?,
        AppGroupRecord {
            app_group_id: r.get(1)?,
            organization: r.get(2)?,
            name: r.get(3)?,
            display_name: r.get(4)?,
            status: r.get(5)?,
            channel_id: r.get(6)?,
            channel_uri: r.get(7)?,
            attributes: attrs
                .into_iter()
                .map(|(n, v)| Attribute::new(n, v))
                .collect(),
            extra: read_extra(&r.get::<_, String>(9)?),
            created_at: r.get(10)?,
            last_modified_at: r.get(11)?,
        },
    ))
}

fn attrs_json(attrs: &[Attribute]) -> String {
    let pairs: Vec<(&str, &str)> = attrs
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_str()))
        .collect();
    serde_json::to_string(&pairs).unwrap_or_else(|_| "[]".into())
}

fn extra_json(input: &AppGroupInput) -> Option<String> {
    input
        .extra
        .as_ref()
        .map(|e| serde_json::to_string(e).unwrap_or_else(|_| "{}".into()))
}

impl Registry {
    /// Creates an AppGroup (status `active` unless given) and its internal owner row.
    /// Errors: `AlreadyExists` for a taken name, `Invalid` for a bad name.
    pub fn create_app_group(&mut self, org: &str, g: &AppGroupInput) -> Result<AppGroupRecord> {
        crate::names::check_product_name(&g.name)
            .map_err(|e| Error::Invalid(e.replace("API product", "AppGroup")))?;
        check_attributes(&g.attributes)?;
        let now = now_ms();
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let id = uuid::Uuid::new_v4().to_string();
        let inserted = tx.execute(
            "INSERT INTO app_groups (org_id, app_group_id, name, display_name, status, \
             channel_id, channel_uri, attributes, extra, created_at, last_modified_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, coalesce(?9, '{}'), ?10, ?10)",
            params![
                org_id,
                id,
                g.name,
                g.display_name,
                g.status.unwrap_or(DeveloperStatus::Active),
                g.channel_id,
                g.channel_uri,
                attrs_json(&g.attributes),
                extra_json(g),
                now
            ],
        );
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::AlreadyExists {
                    kind: Kind::AppGroup,
                    name: g.name.clone(),
                });
            }
            other => other?,
        };
        let group_row = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO developers (org_id, developer_id, email, first_name, last_name, \
             user_name, status, created_at, last_modified_at, app_group) \
             VALUES (?1, ?2, ?3, ?4, ?4, ?4, 'active', ?5, ?5, ?6)",
            params![
                org_id,
                format!("{OWNER_PREFIX}{id}"),
                format!("{id}{OWNER_DOMAIN}"),
                g.name,
                now,
                group_row
            ],
        )?;
        let record = self.get_app_group(org, &g.name)?;
        tx.commit()?;
        Ok(record)
    }

    /// Reads an AppGroup by name.
    pub fn get_app_group(&self, org: &str, name: &str) -> Result<AppGroupRecord> {
        let org_id = self.org_id(org)?;
        Ok(self.find_app_group(org_id, name)?.1)
    }

    /// Lists the organization's AppGroups sorted by name.
    pub fn list_app_groups(&self, org: &str) -> Result<Vec<AppGroupRecord>> {
        let org_id = self.org_id(org)?;
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {GROUP_COLUMNS} FROM app_groups g JOIN orgs o ON o.id = g.org_id \
             WHERE g.org_id = ?1 ORDER BY g.name"
        ))?;
        let rows = stmt
            .query_map([org_id], group_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows.into_iter().map(|(_, g)| g).collect())
    }

    /// Replaces an AppGroup's fields (the name cannot change; status kept when `None`).
    pub fn update_app_group(
        &mut self,
        org: &str,
        name: &str,
        g: &AppGroupInput,
    ) -> Result<AppGroupRecord> {
        check_attributes(&g.attributes)?;
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let (id, _) = self.find_app_group(org_id, name)?;
        if !g.name.is_empty() && g.name != name {
            return Err(Error::Invalid(format!(
                "an AppGroup's name cannot change (`{name}` → `{}`); create a new AppGroup \
                 instead",
                g.name
            )));
        }
        tx.execute(
            "UPDATE app_groups SET display_name = ?1, status = coalesce(?2, status), \
             channel_id = ?3, channel_uri = ?4, attributes = ?5, extra = coalesce(?6, extra), \
             last_modified_at = ?7 WHERE id = ?8",
            params![
                g.display_name,
                g.status,
                g.channel_id,
                g.channel_uri,
                attrs_json(&g.attributes),
                extra_json(g),
                now_ms(),
                id
            ],
        )?;
        let record = self.get_app_group(org, name)?;
        tx.commit()?;
        Ok(record)
    }

    /// Sets an AppGroup `active` or `inactive`.
    pub fn set_app_group_status(
        &self,
        org: &str,
        name: &str,
        status: DeveloperStatus,
    ) -> Result<AppGroupRecord> {
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let (id, _) = self.find_app_group(org_id, name)?;
        tx.execute(
            "UPDATE app_groups SET status = ?1, last_modified_at = ?2 WHERE id = ?3",
            params![status, now_ms(), id],
        )?;
        let record = self.get_app_group(org, name)?;
        tx.commit()?;
        Ok(record)
    }

    /// Deletes an AppGroup with its apps and keys; returns it as it was.
    pub fn delete_app_group(&mut self, org: &str, name: &str) -> Result<AppGroupRecord> {
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let (id, record) = self.find_app_group(org_id, name)?;
        tx.execute("DELETE FROM app_groups WHERE id = ?1", [id])?;
        tx.commit()?;
        Ok(record)
    }

    /// The internal owner of an AppGroup's apps: pass it as the developer to the app and key
    /// methods (`create_app`, `get_app`, `import_key`, …). `NotFound` (an AppGroup) when the
    /// group does not exist.
    pub fn app_group_owner(&self, org: &str, name: &str) -> Result<String> {
        let org_id = self.org_id(org)?;
        let (_, g) = self.find_app_group(org_id, name)?;
        Ok(format!("{OWNER_PREFIX}{}", g.app_group_id))
    }

    fn find_app_group(&self, org_id: i64, name: &str) -> Result<(i64, AppGroupRecord)> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {GROUP_COLUMNS} FROM app_groups g JOIN orgs o ON o.id = g.org_id \
                 WHERE g.org_id = ?1 AND g.name = ?2"
            ))?
            .query_row(params![org_id, name], group_row)
            .optional()?
            .ok_or_else(|| Error::NotFound {
                kind: Kind::AppGroup,
                name: name.to_string(),
                parent: None,
            })
    }
}
