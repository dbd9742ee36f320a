//! Attributes of developers, apps and products as their own resource: read all, replace
//! all, set one, delete one. (Keys' attributes change through [`Registry::add_key_products`].)

use rusqlite::{OptionalExtension, params};

use super::schema::AttrTable;
use super::{
    Attribute, Error, Kind, Registry, Result, check_attributes, now_ms, read_attributes,
    write_attributes,
};

/// Whose attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttrOwner {
    /// A developer, by email or developerId.
    Developer(String),
    /// A developer app.
    App {
        /// Developer email or id.
        developer: String,
        /// App name.
        app: String,
    },
    /// An API product, by name.
    Product(String),
}

impl Registry {
    /// The owner's attributes, in order.
    pub fn get_attributes(&self, org: &str, owner: &AttrOwner) -> Result<Vec<Attribute>> {
        let (table, row, _) = self.attr_owner(org, owner)?;
        Ok(read_attributes(&self.conn, table, &[row])?
            .remove(&row)
            .unwrap_or_default())
    }

    /// Replaces all of the owner's attributes; returns them.
    pub fn set_attributes(
        &mut self,
        org: &str,
        owner: &AttrOwner,
        attrs: &[Attribute],
    ) -> Result<Vec<Attribute>> {
        check_attributes(attrs)?;
        let tx = self.tx()?;
        let written = self.replace_attributes(org, owner, attrs)?;
        tx.commit()?;
        Ok(written)
    }

    /// Sets one attribute (added at the end when new); returns it.
    pub fn set_attribute(
        &mut self,
        org: &str,
        owner: &AttrOwner,
        attr: Attribute,
    ) -> Result<Attribute> {
        let tx = self.tx()?;
        let mut attrs = self.get_attributes(org, owner)?;
        match attrs.iter_mut().find(|a| a.name == attr.name) {
            Some(a) => a.value = attr.value.clone(),
            None => attrs.push(attr.clone()),
        }
        self.replace_attributes(org, owner, &attrs)?;
        tx.commit()?;
        Ok(attr)
    }

    /// Deletes one attribute; returns it. Unknown: `NotFound` of kind `Attribute`.
    pub fn delete_attribute(
        &mut self,
        org: &str,
        owner: &AttrOwner,
        name: &str,
    ) -> Result<Attribute> {
        let tx = self.tx()?;
        let mut attrs = self.get_attributes(org, owner)?;
        let pos = attrs
            .iter()
            .position(|a| a.name == name)
            .ok_or_else(|| Error::NotFound {
                kind: Kind::Attribute,
                name: name.to_string(),
                parent: None,
            })?;
        let gone = attrs.remove(pos);
        self.replace_attributes(org, owner, &attrs)?;
        tx.commit()?;
        Ok(gone)
    }

    /// Replaces the owner's attributes and bumps its lastModifiedAt; returns them. Runs
    /// inside the caller's transaction.
    fn replace_attributes(
        &self,
        org: &str,
        owner: &AttrOwner,
        attrs: &[Attribute],
    ) -> Result<Vec<Attribute>> {
        let (table, row, parent) = self.attr_owner(org, owner)?;
        write_attributes(&self.conn, table, row, attrs)?;
        self.conn.execute(
            &format!("UPDATE {parent} SET last_modified_at = ?1 WHERE id = ?2"),
            params![now_ms(), row],
        )?;
        self.get_attributes(org, owner)
    }

    /// Attribute table, owner row id and owner table of an owner.
    fn attr_owner(&self, org: &str, owner: &AttrOwner) -> Result<(AttrTable, i64, &'static str)> {
        let org_id = self.org_id(org)?;
        Ok(match owner {
            AttrOwner::Developer(dev) => (
                AttrTable::Developer,
                self.developer_row_id(org_id, dev)?.0,
                "developers",
            ),
            AttrOwner::App { developer, app } => (
                AttrTable::App,
                self.app_row_id(org, developer, app)?.1,
                "apps",
            ),
            AttrOwner::Product(name) => {
                let row: Option<i64> = self
                    .conn
                    .prepare_cached("SELECT id FROM products WHERE org_id = ?1 AND name = ?2")?
                    .query_row(params![org_id, name], |r| r.get(0))
                    .optional()?;
                let row = row.ok_or_else(|| Error::NotFound {
                    kind: Kind::Product,
                    name: name.clone(),
                    parent: None,
                })?;
                (AttrTable::Product, row, "products")
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{AppInput, DeveloperInput, ProductInput};

    fn seeded() -> Registry {
        let mut s = Registry::open_in_memory().unwrap();
        s.ensure_org("local").unwrap();
        let dev = DeveloperInput {
            email: "alice@example.com".into(),
            first_name: "A".into(),
            last_name: "B".into(),
            user_name: "ab".into(),
            attributes: vec![],
            extra: None,
        };
        s.create_developer("local", &dev).unwrap();
        let product = ProductInput {
            name: "auto".into(),
            display_name: "Auto".into(),
            ..Default::default()
        };
        s.create_product("local", &product).unwrap();
        s
    }

    fn app(name: &str) -> AppInput {
        AppInput {
            name: name.into(),
            ..Default::default()
        }
    }

    #[test]
    fn attributes_as_a_resource() {
        let mut s = seeded();
        s.create_app("local", "alice@example.com", &app("web"))
            .unwrap();
        let owners = [
            AttrOwner::Developer("alice@example.com".into()),
            AttrOwner::App {
                developer: "alice@example.com".into(),
                app: "web".into(),
            },
            AttrOwner::Product("auto".into()),
        ];
        for owner in &owners {
            let set = s
                .set_attributes("local", owner, &[Attribute::new("x", "1")])
                .unwrap();
            assert_eq!(set, [Attribute::new("x", "1")]);
            s.set_attribute("local", owner, Attribute::new("y", "2"))
                .unwrap();
            s.set_attribute("local", owner, Attribute::new("x", "3"))
                .unwrap();
            let gone = s.delete_attribute("local", owner, "y").unwrap();
            assert_eq!(gone, Attribute::new("y", "2"));
            assert_eq!(
                s.get_attributes("local", owner).unwrap(),
                [Attribute::new("x", "3")]
            );
            assert!(matches!(
                s.delete_attribute("local", owner, "y"),
                Err(Error::NotFound {
                    kind: Kind::Attribute,
                    ..
                })
            ));
        }
    }
}
