//! API products: create, read, list, replace, delete.
//!
//! Deleting a product also removes its grants from keys (neither Apigee flavour documents
//! what happens; dangling grants would be worse).

use rusqlite::{OptionalExtension, Row, params};

use super::schema::{AttrTable, ExtraTable};
use super::{
    Error, Kind, Page, ProductInput, ProductRecord, ProductUsage, Registry, Result, from_json,
    is_unique_violation, now_ms, read_attributes, read_extra, to_json, write_attributes,
    write_extra,
};

const PRODUCT_COLUMNS: &str = "id, name, display_name, description, approval_type, \
     api_resources, environments, proxies, scopes, quota, quota_interval, quota_time_unit, \
     created_at, last_modified_at";

/// What product reads select: the columns and the unmodelled fields.
const PRODUCT_SELECT: &str = "id, name, display_name, description, approval_type, \
     api_resources, environments, proxies, scopes, quota, quota_interval, quota_time_unit, \
     created_at, last_modified_at, extra";

fn product_row(r: &Row<'_>) -> rusqlite::Result<(i64, ProductRecord)> {
    Ok((
        r.get(0)?,
        ProductRecord {
            product: ProductInput {
                name: r.get(1)?,
                display_name: r.get(2)?,
                description: r.get(3)?,
                approval_type: r.get(4)?,
                attributes: Vec::new(),
                api_resources: from_json(&r.get::<_, String>(5)?),
                environments: from_json(&r.get::<_, String>(6)?),
                proxies: from_json(&r.get::<_, String>(7)?),
                scopes: from_json(&r.get::<_, String>(8)?),
                quota: r.get(9)?,
                quota_interval: r.get(10)?,
                quota_time_unit: r.get(11)?,
                extra: None,
            },
            extra: read_extra(&r.get::<_, String>(14)?),
            created_at: r.get(12)?,
            last_modified_at: r.get(13)?,
        },
    ))
}

/// Checks a name by the platform's rules ([`crate::names::check_product_name`]).
pub fn check_product_name(name: &str) -> Result<()> {
    crate::names::check_product_name(name).map_err(Error::Invalid)
}

impl Registry {
    /// Creates an API product. Errors: `AlreadyExists`, `Invalid` (name, display name).
    pub fn create_product(&mut self, org: &str, p: &ProductInput) -> Result<ProductRecord> {
        check_product_name(&p.name)?;
        if p.display_name.trim().is_empty() {
            return Err(Error::Invalid(
                "`displayName` is required: give the API product a display name".into(),
            ));
        }
        let now = now_ms();
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let inserted = tx.execute(
            &format!(
                "INSERT INTO products (org_id, {}) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
                &PRODUCT_COLUMNS["id, ".len()..]
            ),
            params![
                org_id,
                p.name,
                p.display_name,
                p.description,
                p.approval_type,
                to_json(&p.api_resources),
                to_json(&p.environments),
                to_json(&p.proxies),
                to_json(&p.scopes),
                p.quota,
                p.quota_interval,
                p.quota_time_unit,
                now
            ],
        );
        match inserted {
            Err(e) if is_unique_violation(&e) => {
                return Err(Error::AlreadyExists {
                    kind: Kind::Product,
                    name: p.name.clone(),
                });
            }
            other => other?,
        };
        let id = tx.last_insert_rowid();
        write_attributes(&tx, AttrTable::Product, id, &p.attributes)?;
        write_extra(&tx, ExtraTable::Product, id, p.extra.as_ref())?;
        let record = self.get_product(org, &p.name)?;
        tx.commit()?;
        Ok(record)
    }

    /// Reads an API product by name.
    pub fn get_product(&self, org: &str, name: &str) -> Result<ProductRecord> {
        let org_id = self.org_id(org)?;
        let row = self.find_product(org_id, name)?;
        Ok(self.complete_products(vec![row])?.remove(0))
    }

    /// Lists API products sorted by name, from `page.start_key` (inclusive; `NotFound` if
    /// no product has that name).
    pub fn list_products(&self, org: &str, page: &Page) -> Result<Vec<ProductRecord>> {
        let org_id = self.org_id(org)?;
        let start = match &page.start_key {
            Some(k) => self.find_product(org_id, k)?.1.product.name,
            None => String::new(),
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {PRODUCT_SELECT} FROM products WHERE org_id = ?1 AND name >= ?2 \
             ORDER BY name LIMIT ?3"
        ))?;
        let rows = stmt
            .query_map(params![org_id, start, page.count as i64], product_row)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        self.complete_products(rows)
    }

    /// Replaces every field of a product but its name (immutable: a different `name` in
    /// `p` is `Invalid`; an empty one is taken as unchanged).
    pub fn update_product(
        &mut self,
        org: &str,
        name: &str,
        p: &ProductInput,
    ) -> Result<ProductRecord> {
        let tx = self.tx()?;
        let org_id = self.org_id(org)?;
        let (id, _) = self.find_product(org_id, name)?;
        if !p.name.is_empty() && p.name != name {
            return Err(Error::Invalid(format!(
                "an API product's name cannot change (`{name}` → `{}`); create a new product \
                 instead",
                p.name
            )));
        }
        if p.display_name.trim().is_empty() {
            return Err(Error::Invalid(
                "`displayName` is required: send the whole product, including displayName".into(),
            ));
        }
        tx.execute(
            "UPDATE products SET display_name = ?1, description = ?2, approval_type = ?3, \
             api_resources = ?4, environments = ?5, proxies = ?6, scopes = ?7, quota = ?8, \
             quota_interval = ?9, quota_time_unit = ?10, last_modified_at = ?11 WHERE id = ?12",
            params![
                p.display_name,
                p.description,
                p.approval_type,
                to_json(&p.api_resources),
                to_json(&p.environments),
                to_json(&p.proxies),
                to_json(&p.scopes),
                p.quota,
                p.quota_interval,
                p.quota_time_unit,
                now_ms(),
                id
            ],
        )?;
        write_attributes(&tx, AttrTable::Product, id, &p.attributes)?;
        write_extra(&tx, ExtraTable::Product, id, p.extra.as_ref())?;
        let record = self.get_product(org, name)?;
        tx.commit()?;
        Ok(record)
    }

    /// What uses a product: the consumer keys granted it, their apps (appIds) and those
    /// apps' developers (emails), each sorted and without repeats. `NotFound` for an
    /// unknown product.
    pub fn product_usage(&self, org: &str, name: &str) -> Result<ProductUsage> {
        let org_id = self.org_id(org)?;
        let (id, _) = self.find_product(org_id, name)?;
        let mut usage = ProductUsage::default();
        let mut stmt = self.conn.prepare_cached(
            "SELECT k.consumer_key, a.app_id, d.email FROM key_products kp \
             JOIN keys k ON k.id = kp.key_id JOIN apps a ON a.id = k.app_id \
             JOIN developers d ON d.id = a.developer_id WHERE kp.product_id = ?1",
        )?;
        let mut rows = stmt.query([id])?;
        while let Some(r) = rows.next()? {
            usage
                .keys
                .push(crate::model::Secret::new(r.get::<_, String>(0)?));
            usage.apps.push(r.get(1)?);
            usage.developers.push(r.get(2)?);
        }
        usage.keys.sort_by(|a, b| a.expose().cmp(b.expose()));
        usage.keys.dedup_by(|a, b| a.expose() == b.expose());
        usage.apps.sort();
        usage.apps.dedup();
        usage.developers.sort();
        usage.developers.dedup();
        Ok(usage)
    }

    /// Deletes an API product (and its grants on keys); returns it as it was.
    pub fn delete_product(&mut self, org: &str, name: &str) -> Result<ProductRecord> {
        let tx = self.tx()?;
        let record = self.get_product(org, name)?;
        let org_id = self.org_id(org)?;
        tx.execute(
            "DELETE FROM products WHERE org_id = ?1 AND name = ?2",
            params![org_id, name],
        )?;
        tx.commit()?;
        Ok(record)
    }

    /// Row id and record of a product by name.
    pub(super) fn find_product(&self, org_id: i64, name: &str) -> Result<(i64, ProductRecord)> {
        let found = self
            .conn
            .prepare_cached(&format!(
                "SELECT {PRODUCT_SELECT} FROM products WHERE org_id = ?1 AND name = ?2"
            ))?
            .query_row(params![org_id, name], product_row)
            .optional()?;
        found.ok_or_else(|| Error::NotFound {
            kind: Kind::Product,
            name: name.to_string(),
            parent: None,
        })
    }

    fn complete_products(&self, rows: Vec<(i64, ProductRecord)>) -> Result<Vec<ProductRecord>> {
        let ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
        let mut attrs = read_attributes(&self.conn, AttrTable::Product, &ids)?;
        Ok(rows
            .into_iter()
            .map(|(id, mut rec)| {
                rec.product.attributes = attrs.remove(&id).unwrap_or_default();
                rec
            })
            .collect())
    }
}
