//! The apaleo vocabulary: clients as declared and as recorded, and what a verification at
//! the token endpoint found. Plain data: no I/O, no secret values.

use serde::{Deserialize, Serialize};

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
