//! apaleo in the registry, in tables of their own (created on first use, apart from the
//! Apigee schema's migrations):
//!
//! - `apaleo_records`: what a person confirmed as applied on apaleo, per account and client
//!   (the config side: the plan compares against it). No secret material.
//! - `apaleo_clients` and `apaleo_client_secrets`: the clients of `registrar serve --flavor
//!   apaleo`, which plays apaleo's identity server; it keeps secrets in plaintext as the
//!   platform does, like the Apigee keys of the registry.

use rusqlite::{OptionalExtension, params};

use super::{Error, Kind, Registry, Result, now_ms, random_alnum};
use crate::model::Secret;
use crate::model::apaleo::Client;

const TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS apaleo_records (
    account TEXT NOT NULL,
    code TEXT NOT NULL,
    client TEXT NOT NULL,
    confirmed_at INTEGER NOT NULL,
    PRIMARY KEY (account, code)
);
CREATE TABLE IF NOT EXISTS apaleo_clients (
    code TEXT PRIMARY KEY COLLATE NOCASE,
    account TEXT NOT NULL,
    client TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS apaleo_client_secrets (
    id TEXT PRIMARY KEY,
    code TEXT NOT NULL COLLATE NOCASE REFERENCES apaleo_clients(code) ON DELETE CASCADE,
    description TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
"#;

/// A client as a person confirmed it applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// The client as confirmed (secrets by id and description).
    pub client: Client,
    /// When, in milliseconds since the epoch.
    pub confirmed_at: i64,
}

/// A client of the stand-in, as its dashboard shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInClient {
    /// The hotel account it belongs to.
    pub account: String,
    /// Its fields (`secrets` empty: see [`StandInSecret`]).
    pub client: Client,
}

/// A secret of a stand-in client, as its dashboard lists it (no value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandInSecret {
    /// The platform's id of the secret.
    pub id: String,
    /// Its description.
    pub description: String,
    /// When it was added.
    pub created_at: i64,
}

fn decode(json: &str) -> Result<Client> {
    serde_json::from_str(json)
        .map_err(|e| Error::Invalid(format!("a stored apaleo client does not parse: {e}")))
}

fn encode(client: &Client) -> String {
    serde_json::to_string(client).expect("a client serializes")
}

impl Registry {
    fn apaleo_tables(&self) -> Result<()> {
        self.conn.execute_batch(TABLES)?;
        Ok(())
    }

    /// The clients recorded as applied on `account`, by code.
    pub fn apaleo_records(&self, account: &str) -> Result<Vec<Recorded>> {
        self.apaleo_tables()?;
        let mut stmt = self.conn.prepare(
            "SELECT client, confirmed_at FROM apaleo_records WHERE account = ?1 ORDER BY code",
        )?;
        let rows = stmt.query_map(params![account], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (json, confirmed_at) = row?;
            out.push(Recorded {
                client: decode(&json)?,
                confirmed_at,
            });
        }
        Ok(out)
    }

    /// Records `client` as applied on `account` (replacing an earlier record).
    pub fn apaleo_record(&self, account: &str, client: &Client) -> Result<()> {
        self.apaleo_tables()?;
        self.conn.execute(
            "INSERT INTO apaleo_records (account, code, client, confirmed_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (account, code) DO UPDATE SET client = excluded.client, confirmed_at = excluded.confirmed_at",
            params![account, client.code, encode(client), now_ms()],
        )?;
        Ok(())
    }

    /// Forgets the record of client `code` on `account` (deleted in the dashboard).
    pub fn apaleo_forget(&self, account: &str, code: &str) -> Result<bool> {
        self.apaleo_tables()?;
        let n = self.conn.execute(
            "DELETE FROM apaleo_records WHERE account = ?1 AND code = ?2",
            params![account, code],
        )?;
        Ok(n > 0)
    }

    /// Stand-in: creates a client of `account`.
    pub fn apaleo_create_client(&self, account: &str, client: &Client) -> Result<()> {
        self.apaleo_tables()?;
        let mut c = client.clone();
        c.secrets.clear();
        let n = self.conn.execute(
            "INSERT INTO apaleo_clients (code, account, client, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (code) DO NOTHING",
            params![c.code, account, encode(&c), now_ms()],
        )?;
        if n == 0 {
            return Err(Error::AlreadyExists {
                kind: Kind::App,
                name: c.code,
            });
        }
        Ok(())
    }

    /// Stand-in: the client `code`, if it exists.
    pub fn apaleo_client(&self, code: &str) -> Result<Option<StandInClient>> {
        self.apaleo_tables()?;
        let row = self
            .conn
            .query_row(
                "SELECT account, client FROM apaleo_clients WHERE code = ?1",
                params![code],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        match row {
            Some((account, json)) => Ok(Some(StandInClient {
                account,
                client: decode(&json)?,
            })),
            None => Ok(None),
        }
    }

    /// Stand-in: every client, by code.
    pub fn apaleo_clients(&self) -> Result<Vec<StandInClient>> {
        self.apaleo_tables()?;
        let mut stmt = self
            .conn
            .prepare("SELECT account, client FROM apaleo_clients ORDER BY code")?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (account, json) = row?;
            out.push(StandInClient {
                account,
                client: decode(&json)?,
            });
        }
        Ok(out)
    }

    /// Stand-in: replaces the fields of client `code` (its code and kind stay).
    pub fn apaleo_update_client(&self, code: &str, client: &Client) -> Result<()> {
        self.apaleo_tables()?;
        let mut c = client.clone();
        c.secrets.clear();
        let n = self.conn.execute(
            "UPDATE apaleo_clients SET client = ?2 WHERE code = ?1",
            params![code, encode(&c)],
        )?;
        if n == 0 {
            return Err(not_found(code));
        }
        Ok(())
    }

    /// Stand-in: deletes client `code` and its secrets.
    pub fn apaleo_delete_client(&self, code: &str) -> Result<()> {
        self.apaleo_tables()?;
        let tx = self.conn.unchecked_transaction()?;
        tx.execute(
            "DELETE FROM apaleo_client_secrets WHERE code = ?1 COLLATE NOCASE",
            params![code],
        )?;
        let n = tx.execute("DELETE FROM apaleo_clients WHERE code = ?1", params![code])?;
        tx.commit()?;
        if n == 0 {
            return Err(not_found(code));
        }
        Ok(())
    }

    /// Stand-in: generates a secret for client `code`; returns its id and value (shown once).
    pub fn apaleo_add_secret(&self, code: &str, description: &str) -> Result<(String, Secret)> {
        // Filed under the client's own spelling of its code (codes compare without case).
        let Some(found) = self.apaleo_client(code)? else {
            return Err(not_found(code));
        };
        let code = found.client.code;
        let id = random_alnum(12).to_ascii_lowercase();
        let value = random_alnum(40);
        self.conn.execute(
            "INSERT INTO apaleo_client_secrets (id, code, description, secret, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, code, description, value, now_ms()],
        )?;
        Ok((id, Secret::new(value)))
    }

    /// Stand-in: the secrets of client `code` (no values), oldest first.
    pub fn apaleo_secrets(&self, code: &str) -> Result<Vec<StandInSecret>> {
        self.apaleo_tables()?;
        let mut stmt = self.conn.prepare(
            "SELECT id, description, created_at FROM apaleo_client_secrets WHERE code = ?1 COLLATE NOCASE ORDER BY created_at, id",
        )?;
        let rows = stmt.query_map(params![code], |r| {
            Ok(StandInSecret {
                id: r.get(0)?,
                description: r.get(1)?,
                created_at: r.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Stand-in: deletes secret `id` of client `code`.
    pub fn apaleo_delete_secret(&self, code: &str, id: &str) -> Result<()> {
        self.apaleo_tables()?;
        let n = self.conn.execute(
            "DELETE FROM apaleo_client_secrets WHERE code = ?1 COLLATE NOCASE AND id = ?2",
            params![code, id],
        )?;
        if n == 0 {
            return Err(Error::NotFound {
                kind: Kind::Key,
                name: id.to_string(),
                parent: Some(code.to_string()),
            });
        }
        Ok(())
    }

    /// Stand-in: whether `secret` is one of client `code`'s secrets.
    pub fn apaleo_secret_matches(&self, code: &str, secret: &Secret) -> Result<bool> {
        self.apaleo_tables()?;
        let mut stmt = self
            .conn
            .prepare("SELECT secret FROM apaleo_client_secrets WHERE code = ?1 COLLATE NOCASE")?;
        let values = stmt.query_map(params![code], |r| r.get::<_, String>(0))?;
        let mut found = false;
        for v in values {
            let v = zeroize::Zeroizing::new(v?);
            found |= constant_eq(v.as_bytes(), secret.expose().as_bytes());
        }
        Ok(found)
    }
}

fn not_found(code: &str) -> Error {
    Error::NotFound {
        kind: Kind::App,
        name: code.to_string(),
        parent: None,
    }
}

/// Compares without stopping at the first difference.
fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::apaleo::{ClientKind, SecretDecl};

    fn client(code: &str) -> Client {
        Client {
            code: code.into(),
            kind: ClientKind::Simple,
            name: "Bot".into(),
            logo_url: None,
            redirect_uris: vec![],
            pii: Some(false),
            scopes: vec!["reports.read".into()],
            secrets: vec![SecretDecl {
                id: "primary".into(),
                description: "ci".into(),
            }],
            unconfirmed: vec![],
        }
    }

    #[test]
    fn stand_in_secrets_follow_their_client_whatever_the_case() {
        let dir = tempfile::tempdir().unwrap();
        let db = Registry::open(dir.path().join("r.db")).unwrap();
        db.apaleo_create_client("DEMO", &client("bot")).unwrap();
        let (id, secret) = db.apaleo_add_secret("BOT", "ci").unwrap();
        // The client `bot` is found as `BOT`, and so are its secrets.
        assert!(db.apaleo_secret_matches("bot", &secret).unwrap());
        assert!(db.apaleo_secret_matches("Bot", &secret).unwrap());
        assert_eq!(db.apaleo_secrets("bot").unwrap().len(), 1);
        assert_eq!(db.apaleo_secrets("BOT").unwrap().len(), 1);
        db.apaleo_delete_secret("bOt", &id).unwrap();
        assert!(db.apaleo_secrets("bot").unwrap().is_empty());
    }

    #[test]
    fn records_round_trip_per_account() {
        let r = Registry::open_in_memory().unwrap();
        r.apaleo_record("DEMO", &client("bot")).unwrap();
        r.apaleo_record("OTHER", &client("x")).unwrap();
        let got = r.apaleo_records("DEMO").unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].client, client("bot"));
        assert!(r.apaleo_forget("DEMO", "bot").unwrap());
        assert!(r.apaleo_records("DEMO").unwrap().is_empty());
    }

    #[test]
    fn stand_in_secrets_match_until_deleted() {
        let r = Registry::open_in_memory().unwrap();
        r.apaleo_create_client("DEMO", &client("bot")).unwrap();
        assert!(matches!(
            r.apaleo_create_client("DEMO", &client("BOT")),
            Err(Error::AlreadyExists { .. })
        ));
        let (id, value) = r.apaleo_add_secret("bot", "ci").unwrap();
        assert!(r.apaleo_secret_matches("bot", &value).unwrap());
        assert!(
            !r.apaleo_secret_matches("bot", &Secret::new("nope"))
                .unwrap()
        );
        r.apaleo_delete_secret("bot", &id).unwrap();
        assert!(!r.apaleo_secret_matches("bot", &value).unwrap());
        r.apaleo_delete_client("bot").unwrap();
        assert!(r.apaleo_client("bot").unwrap().is_none());
    }
}
