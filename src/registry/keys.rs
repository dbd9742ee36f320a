//! Keys (credentials) of developer apps and their product grants: import, read, add
//! products, replace scopes, set status (of the key or of one grant), remove a product,
//! delete. Keys are addressed by consumer key within their app; errors name them only by
//! fingerprint.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension, params};

use super::apps::touch_app;
use super::schema::AttrTable;
use super::{
    Attribute, Error, GrantRecord, KeyImport, KeyRecord, Kind, Registry, Result, expiry, from_json,
    ids_json, is_unique_violation, now_ms, read_attributes, to_json, write_attributes,
};
use crate::model::{ApprovalType, Secret, Status, fingerprint};

/// Longest consumer key or secret accepted (2 KB, as Apigee documents).
pub const MAX_KEY_LEN: usize = 2048;

/// Checks a caller-chosen consumer key or secret: letters, digits, `_` and `-`, 1 to 2048.
fn check_key_chars(what: &str, value: &str) -> Result<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_KEY_LEN
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "`{what}` must be 1 to {MAX_KEY_LEN} letters, digits, `_` or `-`"
        )))
    }
}

fn key_not_found(key: &str) -> Error {
    Error::NotFound {
        kind: Kind::Key,
        name: fingerprint(key.as_bytes()),
        parent: None,
    }
}

/// Inserts a key row; a taken consumer key is `AlreadyExists` (named by fingerprint).
pub(super) fn insert_key(
    conn: &Connection,
    org_id: i64,
    app_row: i64,
    (key, secret): (&str, &str),
    scopes: &[String],
    issued_at: i64,
    expires_at: Option<i64>,
) -> Result<i64> {
    let inserted = conn
        .prepare_cached(
            "INSERT INTO keys (org_id, app_id, consumer_key, consumer_secret, status, scopes, \
             issued_at, expires_at) VALUES (?1, ?2, ?3, ?4, 'approved', ?5, ?6, ?7)",
        )?
        .execute(params![
            org_id,
            app_row,
            key,
            secret,
            to_json(scopes),
            issued_at,
            expires_at
        ]);
    match inserted {
        Err(e) if is_unique_violation(&e) => Err(Error::AlreadyExists {
            kind: Kind::Key,
            name: fingerprint(key.as_bytes()),
        }),
        other => {
            other?;
            Ok(conn.last_insert_rowid())
        }
    }
}

/// Grants products to a key: appended after its current grants, duplicates ignored, status
/// `approved` or `pending` per the product's approvalType. Unknown products are `NotFound`.
pub(super) fn grant_products(
    conn: &Connection,
    org_id: i64,
    key_row: i64,
    products: &[String],
) -> Result<()> {
    let mut find = conn
        .prepare_cached("SELECT id, approval_type FROM products WHERE org_id = ?1 AND name = ?2")?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO key_products (key_id, product_id, status, position) \
         VALUES (?1, ?2, ?3, (SELECT COALESCE(MAX(position), -1) + 1 FROM key_products \
         WHERE key_id = ?1)) ON CONFLICT (key_id, product_id) DO NOTHING",
    )?;
    for name in products {
        let found: Option<(i64, ApprovalType)> = find
            .query_row(params![org_id, name], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let (product_id, approval) = found.ok_or_else(|| Error::NotFound {
            kind: Kind::Product,
            name: name.clone(),
            parent: None,
        })?;
        let status = match approval {
            ApprovalType::Auto => Status::Approved,
            ApprovalType::Manual => Status::Pending,
        };
        insert.execute(params![key_row, product_id, status])?;
    }
    Ok(())
}

/// Loads keys whose `column` (`k.app_id` or `k.id`, never user input) is in `ids`, with
/// attributes and grants, grouped by app row id; each key comes with its row id.
pub(super) fn load_keys(
    conn: &Connection,
    column: &str,
    ids: &[i64],
) -> Result<HashMap<i64, Vec<(i64, KeyRecord)>>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT k.id, k.app_id, k.consumer_key, k.consumer_secret, k.status, k.scopes, \
         k.issued_at, k.expires_at, k.extra FROM keys k WHERE {column} IN (SELECT value FROM json_each(?1)) \
         ORDER BY k.app_id, k.issued_at, k.id"
    ))?;
    let mut rows = Vec::new();
    let mut q = stmt.query([ids_json(ids)])?;
    while let Some(r) = q.next()? {
        let key: String = r.get(2)?;
        let secret: String = r.get(3)?;
        rows.push((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            KeyRecord {
                consumer_key: Secret::new(key),
                consumer_secret: Secret::new(secret),
                api_products: Vec::new(),
                attributes: Vec::new(),
                scopes: from_json(&r.get::<_, String>(5)?),
                status: r.get(4)?,
                issued_at: r.get(6)?,
                expires_at: r.get(7)?,
                extra: super::read_extra(&r.get::<_, String>(8)?),
            },
        ));
    }
    let key_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let mut attrs = read_attributes(conn, AttrTable::Key, &key_ids)?;
    let mut grants: HashMap<i64, Vec<GrantRecord>> = HashMap::new();
    let mut stmt = conn.prepare_cached(
        "SELECT kp.key_id, p.name, kp.status FROM key_products kp \
         JOIN products p ON p.id = kp.product_id \
         WHERE kp.key_id IN (SELECT value FROM json_each(?1)) ORDER BY kp.key_id, kp.position",
    )?;
    let mut q = stmt.query([ids_json(&key_ids)])?;
    while let Some(r) = q.next()? {
        grants.entry(r.get(0)?).or_default().push(GrantRecord {
            product: r.get(1)?,
            status: r.get(2)?,
        });
    }
    let mut out: HashMap<i64, Vec<(i64, KeyRecord)>> = HashMap::new();
    for (key_row, app_row, mut key) in rows {
        key.attributes = attrs.remove(&key_row).unwrap_or_default();
        key.api_products = grants.remove(&key_row).unwrap_or_default();
        out.entry(app_row).or_default().push((key_row, key));
    }
    Ok(out)
}

/// Scopes offered by the products granted to a key, in grant order, without duplicates.
fn allowed_scopes(conn: &Connection, key_row: i64) -> Result<Vec<String>> {
    let mut allowed: Vec<String> = Vec::new();
    let mut stmt = conn.prepare_cached(
        "SELECT p.scopes FROM key_products kp JOIN products p ON p.id = kp.product_id \
         WHERE kp.key_id = ?1 ORDER BY kp.position",
    )?;
    let mut q = stmt.query([key_row])?;
    while let Some(r) = q.next()? {
        for s in from_json(&r.get::<_, String>(0)?) {
            if !allowed.contains(&s) {
                allowed.push(s);
            }
        }
    }
    Ok(allowed)
}

/// Where a key lives: org row id, app row id, key row id.
struct KeyAt {
    org_id: i64,
    app_row: i64,
    key_row: i64,
}

impl Registry {
    /// Imports a caller-chosen key and secret into an app (status `approved`, no products:
    /// grant them with [`Registry::add_key_products`]). A consumer key already used in the org
    /// is `AlreadyExists`.
    pub fn import_key(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        import: &KeyImport,
    ) -> Result<KeyRecord> {
        let tx = self.tx()?;
        let (org_id, app_row) = self.app_row_id(org, dev, app)?;
        check_key_chars("consumerKey", import.consumer_key.expose())?;
        check_key_chars("consumerSecret", import.consumer_secret.expose())?;
        let now = now_ms();
        let key_row = insert_key(
            &tx,
            org_id,
            app_row,
            (
                import.consumer_key.expose(),
                import.consumer_secret.expose(),
            ),
            &import.scopes,
            now,
            expiry(now, import.expires_in_ms),
        )?;
        write_attributes(&tx, AttrTable::Key, key_row, &import.attributes)?;
        super::write_extra(
            &tx,
            super::schema::ExtraTable::Key,
            key_row,
            import.extra.as_ref(),
        )?;
        touch_app(&tx, app_row, now)?;
        let record = self.key_by_row(key_row)?;
        tx.commit()?;
        Ok(record)
    }

    /// Reads a key of an app.
    pub fn get_key(&self, org: &str, dev: &str, app: &str, key: &str) -> Result<KeyRecord> {
        let at = self.find_key(org, dev, app, key)?;
        self.key_by_row(at.key_row)
    }

    /// Grants products to a key (appended; duplicates ignored) and, when `attributes` is
    /// given, replaces the key's attributes.
    pub fn add_key_products(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        key: &str,
        products: &[String],
        attributes: Option<&[Attribute]>,
    ) -> Result<KeyRecord> {
        let tx = self.tx()?;
        let at = self.find_key(org, dev, app, key)?;
        grant_products(&tx, at.org_id, at.key_row, products)?;
        if let Some(attrs) = attributes {
            write_attributes(&tx, AttrTable::Key, at.key_row, attrs)?;
        }
        touch_app(&tx, at.app_row, now_ms())?;
        let record = self.key_by_row(at.key_row)?;
        tx.commit()?;
        Ok(record)
    }

    /// Replaces a key's scopes; each must be offered by one of the key's products, else
    /// `InvalidScopes`.
    pub fn set_key_scopes(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        key: &str,
        scopes: &[String],
    ) -> Result<KeyRecord> {
        self.replace_key(org, dev, app, key, &[], Some(scopes))
    }

    /// PUT of a key in one transaction: grants `products` (appended, duplicates ignored),
    /// then, when given, replaces the scopes (each must be offered by one of the key's
    /// products, else `InvalidScopes` and nothing changes).
    pub fn replace_key(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        key: &str,
        products: &[String],
        scopes: Option<&[String]>,
    ) -> Result<KeyRecord> {
        let tx = self.tx()?;
        let at = self.find_key(org, dev, app, key)?;
        grant_products(&tx, at.org_id, at.key_row, products)?;
        if let Some(scopes) = scopes {
            let allowed = allowed_scopes(&tx, at.key_row)?;
            if let Some(bad) = scopes.iter().find(|s| !allowed.contains(s)) {
                tracing::debug!("scope `{bad}` is not offered by the key's products");
                return Err(Error::InvalidScopes { allowed });
            }
            tx.execute(
                "UPDATE keys SET scopes = ?1 WHERE id = ?2",
                params![to_json(scopes), at.key_row],
            )?;
        }
        touch_app(&tx, at.app_row, now_ms())?;
        let record = self.key_by_row(at.key_row)?;
        tx.commit()?;
        Ok(record)
    }

    /// Sets a key `approved` or `revoked`.
    pub fn set_key_status(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        key: &str,
        status: Status,
    ) -> Result<()> {
        if status == Status::Pending {
            return Err(Error::Invalid("a key is either approved or revoked".into()));
        }
        let tx = self.tx()?;
        let at = self.find_key(org, dev, app, key)?;
        tx.execute(
            "UPDATE keys SET status = ?1 WHERE id = ?2",
            params![status, at.key_row],
        )?;
        touch_app(&tx, at.app_row, now_ms())?;
        tx.commit()?;
        Ok(())
    }

    /// Sets the status of one product grant of a key. A product that exists but is not on
    /// the key is `ProductNotOnKey`.
    #[allow(clippy::too_many_arguments)]
    pub fn set_key_product_status(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        key: &str,
        product: &str,
        status: Status,
    ) -> Result<()> {
        let tx = self.tx()?;
        let at = self.find_key(org, dev, app, key)?;
        let (product_id, _) = self.find_product(at.org_id, product)?;
        let n = tx.execute(
            "UPDATE key_products SET status = ?1 WHERE key_id = ?2 AND product_id = ?3",
            params![status, at.key_row, product_id],
        )?;
        if n == 0 {
            return Err(Error::ProductNotOnKey {
                product: product.to_string(),
            });
        }
        touch_app(&tx, at.app_row, now_ms())?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a product from a key (the key stays). Not on the key: `ProductNotOnKey`
    /// (Apigee answers 500 there).
    pub fn remove_key_product(
        &mut self,
        org: &str,
        dev: &str,
        app: &str,
        key: &str,
        product: &str,
    ) -> Result<KeyRecord> {
        let tx = self.tx()?;
        let at = self.find_key(org, dev, app, key)?;
        let (product_id, _) = self.find_product(at.org_id, product)?;
        let n = tx.execute(
            "DELETE FROM key_products WHERE key_id = ?1 AND product_id = ?2",
            params![at.key_row, product_id],
        )?;
        if n == 0 {
            return Err(Error::ProductNotOnKey {
                product: product.to_string(),
            });
        }
        touch_app(&tx, at.app_row, now_ms())?;
        let record = self.key_by_row(at.key_row)?;
        tx.commit()?;
        Ok(record)
    }

    /// Deletes a key with its grants; returns it as it was.
    pub fn delete_key(&mut self, org: &str, dev: &str, app: &str, key: &str) -> Result<KeyRecord> {
        let tx = self.tx()?;
        let at = self.find_key(org, dev, app, key)?;
        let record = self.key_by_row(at.key_row)?;
        tx.execute("DELETE FROM keys WHERE id = ?1", [at.key_row])?;
        touch_app(&tx, at.app_row, now_ms())?;
        tx.commit()?;
        Ok(record)
    }

    fn find_key(&self, org: &str, dev: &str, app: &str, key: &str) -> Result<KeyAt> {
        let (org_id, app_row) = self.app_row_id(org, dev, app)?;
        let key_row: Option<i64> = self
            .conn
            .prepare_cached("SELECT id FROM keys WHERE app_id = ?1 AND consumer_key = ?2")?
            .query_row(params![app_row, key], |r| r.get(0))
            .optional()?;
        Ok(KeyAt {
            org_id,
            app_row,
            key_row: key_row.ok_or_else(|| key_not_found(key))?,
        })
    }

    fn key_by_row(&self, key_row: i64) -> Result<KeyRecord> {
        load_keys(&self.conn, "k.id", &[key_row])?
            .into_values()
            .flatten()
            .map(|(_, k)| k)
            .next()
            .ok_or_else(|| Error::NotFound {
                kind: Kind::Key,
                name: format!("#{key_row}"),
                parent: None,
            })
    }
}
