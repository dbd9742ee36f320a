//! The apaleo vocabulary: clients as declared and as recorded, and what a verification at
//! the token endpoint found. Plain data: no I/O, no secret values.

use serde::{Deserialize, Serialize};

/// The "developer" apaleo secrets are filed under in the secrets store
/// (`<secrets.dir>/<account>/apaleo/<client code>/<secret id>.age`).
pub const STORE_DEVELOPER: &str = "apaleo";

/// The two kinds of apaleo OAuth client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientKind {
    /// A store app: authorization-code grant; serves every hotel account that consents.
    Connect,
    /// A custom app: client-credentials grant; belongs to one hotel account.
    Simple,
}

impl ClientKind {
    /// The spelling in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Connect => "connect",
            ClientKind::Simple => "simple",
        }
    }

    /// What the apaleo dashboard calls it.
    pub fn dashboard_name(self) -> &'static str {
        match self {
            ClientKind::Connect => "connected app",
            ClientKind::Simple => "custom app",
        }
    }
}

/// A secret of a client: apaleo generates the value; registrar knows its id and description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretDecl {
    /// registrar's id of the secret (names its file in the secrets store).
    pub id: String,
    /// The description typed in the dashboard beside the secret.
    pub description: String,
}

/// A client: as the config declares it, or as a person confirmed it applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Client {
    /// The client code (becomes the `client_id`).
    pub code: String,
    /// Connect or simple.
    pub kind: ClientKind,
    /// The client name.
    pub name: String,
    /// Connect only: the logo URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Connect only: redirect URIs, exact strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// Simple only: whether the app handles personally identifiable information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<bool>,
    /// Scopes, in config order.
    pub scopes: Vec<String>,
    /// Secrets by id and description.
    pub secrets: Vec<SecretDecl>,
    /// In a record only: the fields taken from the config that no person confirmed in the
    /// dashboard (a client verification proved but nobody walked through). The plan asks a
    /// person to confirm them; their values are not compared until then.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unconfirmed: Vec<Field>,
}

/// OpenID Connect and refresh-token scopes: they belong to the authorization-code flow (a
/// person signs in), not to apaleo's API. A client-credentials token request cannot ask for
/// them, so verification leaves them out and they are declared-only.
pub const IDENTITY_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "address",
    "phone",
    "offline_access",
];

/// Whether `scope` is an OpenID Connect / refresh-token scope ([`IDENTITY_SCOPES`]).
pub fn is_identity_scope(scope: &str) -> bool {
    IDENTITY_SCOPES.contains(&scope)
}

impl Client {
    /// The scopes a client-credentials token request can prove: the declared ones but the
    /// identity scopes.
    pub fn verifiable_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|s| !is_identity_scope(s))
            .cloned()
            .collect()
    }

    /// The declared identity scopes, which verification cannot prove.
    pub fn identity_scopes(&self) -> Vec<String> {
        self.scopes
            .iter()
            .filter(|s| is_identity_scope(s))
            .cloned()
            .collect()
    }

    /// The fields of this client that a token request cannot prove (declared-only).
    pub fn declared_only(&self) -> Vec<Field> {
        Field::of(self.kind)
            .iter()
            .copied()
            .filter(|f| !f.verifiable(self.kind) && *f != Field::Account)
            .collect()
    }
}

/// One field of a client, as the plan names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    /// The client's existence under its code.
    Code,
    /// The client name.
    Name,
    /// The logo URL.
    LogoUrl,
    /// The redirect URIs.
    RedirectUris,
    /// The PII flag.
    Pii,
    /// The scopes.
    Scopes,
    /// The secrets.
    Secrets,
    /// The hotel account a simple client belongs to.
    Account,
}

impl Field {
    /// The config's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::Code => "code",
            Field::Name => "name",
            Field::LogoUrl => "logoUrl",
            Field::RedirectUris => "redirectUris",
            Field::Pii => "pii",
            Field::Scopes => "scopes",
            Field::Secrets => "secrets",
            Field::Account => "account",
        }
    }

    /// The fields of a kind, in display order.
    pub fn of(kind: ClientKind) -> &'static [Field] {
        match kind {
            ClientKind::Connect => &[
                Field::Code,
                Field::Secrets,
                Field::Name,
                Field::LogoUrl,
                Field::RedirectUris,
                Field::Scopes,
            ],
            ClientKind::Simple => &[
                Field::Code,
                Field::Secrets,
                Field::Scopes,
                Field::Account,
                Field::Name,
                Field::Pii,
            ],
        }
    }

    /// Whether a token request can prove this field for a client of `kind`: the code and
    /// secrets always (a refused grant still accepts the credentials); scopes and account
    /// only for simple clients (client-credentials grant). Everything else is declared-only.
    pub fn verifiable(self, kind: ClientKind) -> bool {
        match self {
            Field::Code | Field::Secrets => true,
            Field::Scopes | Field::Account => kind == ClientKind::Simple,
            Field::Name | Field::LogoUrl | Field::RedirectUris | Field::Pii => false,
        }
    }
}

/// What one token request with one stored secret found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "outcome")]
pub enum SecretCheck {
    /// Simple client: a token was issued with every declared scope; the API named the account.
    Granted {
        /// The scopes the token carries.
        scopes: Vec<String>,
        /// The account code `GET /account/v1/accounts/current` answered, if it answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        account: Option<String>,
    },
    /// Simple client: the credentials work but these declared scopes are not granted.
    MissingScopes {
        /// The declared scopes the token endpoint refused.
        scopes: Vec<String>,
    },
    /// Connect client: `unauthorized_client`, the grant refused after the credentials were
    /// accepted: the client exists and the secret works.
    CredentialsAccepted,
    /// `invalid_client`: no such client, or the secret is not (or no longer) one of its secrets.
    Refused,
    /// Not asked: the secret in the store was filed with another client id (a paste for
    /// another client). The store is wrong, whatever apaleo holds.
    StoredForAnother,
    /// The endpoint answered something else (an unexpected error or status).
    Unexpected {
        /// What it answered, without secrets.
        detail: String,
    },
}

impl SecretCheck {
    /// Whether the check proves the secret works.
    pub fn works(&self) -> bool {
        matches!(
            self,
            SecretCheck::Granted { .. }
                | SecretCheck::MissingScopes { .. }
                | SecretCheck::CredentialsAccepted
        )
    }
}

/// A secret in the encrypted store (its index entry: no value), with what verifying it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredSecret {
    /// The client code.
    pub code: String,
    /// registrar's id of the secret.
    pub id: String,
    /// Kept through a rotation's overlap (the new one is active).
    pub retiring: bool,
    /// When it was stored, milliseconds since the epoch.
    pub issued_at: i64,
    /// Retiring only: when the overlap ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoke_after: Option<i64>,
    /// What the token endpoint said of it; `None` when it was not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<SecretCheck>,
}

impl StoredSecret {
    /// A retiring secret whose rotation overlap is over at `now_ms` (or had none).
    pub fn overlap_over(&self, now_ms: i64) -> bool {
        self.retiring && self.revoke_after.is_none_or(|t| t <= now_ms)
    }

    /// Whether verification proved it works.
    pub fn works(&self) -> bool {
        self.check.as_ref().is_some_and(SecretCheck::works)
    }
}

/// A rotation `registrar rotate` asked for: a new secret to add.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rotation {
    /// The client code.
    pub code: String,
    /// registrar's id of the secret.
    pub id: String,
    /// When it was asked for, milliseconds since the epoch.
    pub requested_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_token_provable_fields_are_verifiable() {
        assert!(Field::Scopes.verifiable(ClientKind::Simple));
        assert!(!Field::Scopes.verifiable(ClientKind::Connect));
        assert!(Field::Secrets.verifiable(ClientKind::Connect));
        assert!(!Field::Name.verifiable(ClientKind::Simple));
        assert!(!Field::RedirectUris.verifiable(ClientKind::Connect));
    }

    #[test]
    fn identity_scopes_are_left_out_of_verification() {
        let c = Client {
            code: "bot".into(),
            kind: ClientKind::Simple,
            name: "Bot".into(),
            logo_url: None,
            redirect_uris: vec![],
            pii: None,
            scopes: vec![
                "openid".into(),
                "reports.read".into(),
                "offline_access".into(),
            ],
            secrets: vec![],
            unconfirmed: vec![],
        };
        assert_eq!(c.verifiable_scopes(), ["reports.read"]);
        assert_eq!(c.identity_scopes(), ["openid", "offline_access"]);
        assert_eq!(c.declared_only(), [Field::Name, Field::Pii]);
    }

    #[test]
    fn the_overlap_is_over_once_its_time_has_come() {
        let mut s = StoredSecret {
            code: "bot".into(),
            id: "primary".into(),
            retiring: true,
            issued_at: 0,
            revoke_after: Some(10),
            check: None,
        };
        assert!(!s.overlap_over(9));
        assert!(s.overlap_over(10));
        s.revoke_after = None;
        assert!(s.overlap_over(0));
        s.retiring = false;
        assert!(!s.overlap_over(100), "an active secret has no overlap");
    }

    #[test]
    fn a_check_serializes_with_its_outcome() {
        let v = serde_json::to_value(SecretCheck::MissingScopes {
            scopes: vec!["reports.read".into()],
        })
        .unwrap();
        assert_eq!(
            v,
            serde_json::json!({"outcome": "missingScopes", "scopes": ["reports.read"]})
        );
    }
}
