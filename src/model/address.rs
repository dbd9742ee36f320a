//! Typed addresses: where a resource stands, with typed parts (developer email, product name,
//! app name, key id). Plans, apply, notes and the secrets store name resources with these; no
//! one joins or splits them as strings.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A developer.
    Developer,
    /// An API product.
    Product,
    /// A developer app.
    App,
    /// A key (credential) of an app.
    Key,
    /// An apaleo OAuth client (apaleo has no developers, products or apps).
    Client,
}

impl Kind {
    /// The word shown in addresses.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Developer => "developer",
            Kind::Product => "product",
            Kind::App => "app",
            Kind::Key => "key",
            Kind::Client => "client",
        }
    }
}

/// Dependency levels of the kinds: creates and updates run level by level from the first,
/// deletes from the last. The diff orders a plan by it and apply runs it so.
pub const KIND_LEVELS: [&[Kind]; 3] = [
    &[Kind::Developer, Kind::Product],
    &[Kind::App],
    &[Kind::Key],
];

impl Kind {
    /// This kind's index in [`KIND_LEVELS`].
    pub fn level(self) -> usize {
        KIND_LEVELS
            .iter()
            .position(|l| l.contains(&self))
            .unwrap_or(KIND_LEVELS.len())
    }
}

/// An app's identity: its developer's email and its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AppId {
    /// Developer email.
    pub developer: String,
    /// App name.
    pub app: String,
}

impl AppId {
    /// An app of a developer.
    pub fn new(developer: impl Into<String>, app: impl Into<String>) -> Self {
        AppId {
            developer: developer.into(),
            app: app.into(),
        }
    }
}

impl fmt::Display for AppId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.developer, self.app)
    }
}

/// Which key of an app: a declared credential by id, a key the config does not declare by
/// the fingerprint of its consumer key, a key being retired after a rotation by both.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyId {
    /// Credential id, when the key is (or was) a declared credential.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
    /// Fingerprint of the consumer key, when the credential id alone does not say which key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub fingerprint: Option<String>,
}

impl KeyId {
    /// The current key of a declared credential.
    pub fn credential(id: impl Into<String>) -> Self {
        KeyId {
            credential: Some(id.into()),
            fingerprint: None,
        }
    }

    /// A key the config does not declare, by its consumer key's fingerprint.
    pub fn undeclared(fingerprint: impl Into<String>) -> Self {
        KeyId {
            credential: None,
            fingerprint: Some(fingerprint.into()),
        }
    }

    /// A key being retired after a rotation of credential `id`.
    pub fn retiring(id: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        KeyId {
            credential: Some(id.into()),
            fingerprint: Some(fingerprint.into()),
        }
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.credential, &self.fingerprint) {
            (Some(id), None) => f.write_str(id),
            (None, Some(fp)) => f.write_str(fp),
            (Some(id), Some(fp)) => write!(f, "{id}@{fp}"),
            (None, None) => f.write_str("key"),
        }
    }
}

/// Where a resource stands: `developer alice@example.com`, `product payments-read`,
/// `app alice@example.com/checkout-web`, `key alice@example.com/checkout-web/primary`.
/// Serialized with its kind and typed parts, which are what is read back, and its `path` for
/// people and scripts, which is never split again.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Address {
    /// A developer, by email.
    Developer {
        /// Email.
        email: String,
    },
    /// A product, by name.
    Product {
        /// Name.
        name: String,
    },
    /// An app.
    App {
        /// Which app.
        #[serde(flatten)]
        app: AppId,
    },
    /// A key of an app.
    Key {
        /// Its app.
        #[serde(flatten)]
        app: AppId,
        /// Which key.
        #[serde(flatten)]
        key: KeyId,
    },
    /// An apaleo client, by its client code.
    Client {
        /// The client code.
        code: String,
    },
}

impl Address {
    /// A developer's address.
    pub fn developer(email: &str) -> Self {
        Address::Developer {
            email: email.to_string(),
        }
    }

    /// A product's address.
    pub fn product(name: &str) -> Self {
        Address::Product {
            name: name.to_string(),
        }
    }

    /// An app's address.
    pub fn app(developer: &str, app: &str) -> Self {
        Address::App {
            app: AppId::new(developer, app),
        }
    }

    /// The address of a declared credential's current key.
    pub fn credential(developer: &str, app: &str, id: &str) -> Self {
        Address::key(developer, app, KeyId::credential(id))
    }

    /// A key's address.
    pub fn key(developer: &str, app: &str, key: KeyId) -> Self {
        Address::Key {
            app: AppId::new(developer, app),
            key,
        }
    }

    /// An apaleo client's address.
    pub fn client(code: &str) -> Self {
        Address::Client {
            code: code.to_string(),
        }
    }

    /// The kind of resource addressed.
    pub fn kind(&self) -> Kind {
        match self {
            Address::Developer { .. } => Kind::Developer,
            Address::Product { .. } => Kind::Product,
            Address::App { .. } => Kind::App,
            Address::Key { .. } => Kind::Key,
            Address::Client { .. } => Kind::Client,
        }
    }

    /// The developer an app or key belongs to, or the developer addressed.
    pub fn developer_email(&self) -> Option<&str> {
        match self {
            Address::Developer { email } => Some(email),
            Address::App { app } | Address::Key { app, .. } => Some(&app.developer),
            Address::Product { .. } | Address::Client { .. } => None,
        }
    }

    /// The app addressed, or the app a key belongs to.
    pub fn app_id(&self) -> Option<&AppId> {
        match self {
            Address::App { app } | Address::Key { app, .. } => Some(app),
            _ => None,
        }
    }

    /// The key addressed.
    pub fn key_id(&self) -> Option<&KeyId> {
        match self {
            Address::Key { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The path part of the address, as shown after the kind.
    pub fn path(&self) -> String {
        match self {
            Address::Developer { email } => email.clone(),
            Address::Product { name } => name.clone(),
            Address::App { app } => app.to_string(),
            Address::Key { app, key } => format!("{app}/{key}"),
            Address::Client { code } => code.clone(),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("kind", &self.kind())?;
        m.serialize_entry("path", &self.path())?;
        match self {
            Address::Developer { email } => m.serialize_entry("email", email)?,
            Address::Product { name } => m.serialize_entry("name", name)?,
            Address::Client { code } => m.serialize_entry("code", code)?,
            Address::App { app } | Address::Key { app, .. } => {
                m.serialize_entry("developer", &app.developer)?;
                m.serialize_entry("app", &app.app)?;
            }
        }
        if let Address::Key { key, .. } = self {
            if let Some(c) = &key.credential {
                m.serialize_entry("credential", c)?;
            }
            if let Some(f) = &key.fingerprint {
                m.serialize_entry("fingerprint", f)?;
            }
        }
        m.end()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind().as_str(), self.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_show_as_kind_and_path() {
        assert_eq!(
            Address::app("a/b@example.com", "web").to_string(),
            "app a/b@example.com/web"
        );
        let k = Address::key("d@x.io", "web", KeyId::retiring("primary", "sha256:ab"));
        assert_eq!(k.to_string(), "key d@x.io/web/primary@sha256:ab");
        assert_eq!(
            Address::key("d@x.io", "web", KeyId::undeclared("sha256:ab")).to_string(),
            "key d@x.io/web/sha256:ab"
        );
    }

    #[test]
    fn addresses_round_trip_with_typed_parts_even_with_slashes() {
        let k = Address::key("a/b@example.com", "w/x", KeyId::retiring("p", "sha256:01"));
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "key", "path": "a/b@example.com/w/x/p@sha256:01", "developer": "a/b@example.com", "app": "w/x", "credential": "p", "fingerprint": "sha256:01"})
        );
        assert_eq!(serde_json::from_value::<Address>(v).unwrap(), k);
        assert_eq!(k.app_id(), Some(&AppId::new("a/b@example.com", "w/x")));
    }

    #[test]
    fn kinds_have_levels() {
        assert_eq!(Kind::Developer.level(), 0);
        assert_eq!(Kind::Product.level(), 0);
        assert_eq!(Kind::App.level(), 1);
        assert_eq!(Kind::Key.level(), 2);
    }

    #[test]
    fn apaleo_clients_have_addresses() {
        let c = Address::client("booking-engine");
        assert_eq!(c.to_string(), "client booking-engine");
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "client", "path": "booking-engine", "code": "booking-engine"})
        );
        assert_eq!(serde_json::from_value::<Address>(v).unwrap(), c);
    }
}
