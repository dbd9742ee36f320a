//! apaleo clients in the config (`clients:`): their serde + schemars types, the scope
//! catalogue of spec/apaleo.md, and the checks a schema cannot express (client codes,
//! redirect URIs, fields of the other kind, scopes). Kept apart from `model.rs`, which
//! holds the Apigee resources.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::load::Desired;
use super::{Code, Diagnostic};
use crate::model::apaleo::{Client, ClientKind, SecretDecl, is_identity_scope};
use crate::target::BackendKind;

/// An apaleo OAuth client, as registered in the apaleo dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientConfig {
    /// The client code, which becomes the `client_id`: letters, digits, `-` and `_`,
    /// beginning with a letter or digit, at most 64 characters. Immutable.
    pub code: String,
    /// `connect` (a store app: authorization-code grant) or `simple` (a custom app:
    /// client-credentials grant).
    pub kind: ClientKind,
    /// The client name shown in the dashboard and to hotels.
    pub name: String,
    /// Connect clients only: the logo URL (https).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Connect clients only: redirect URIs (https), matched exactly: a trailing `/` matters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    /// Simple clients only: whether the app handles personally identifiable information.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pii: Option<bool>,
    /// Scopes from apaleo's catalogue (`reservations.read`, `offline_access`, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
    /// Secrets: apaleo generates each value and shows it once; registrar stores it encrypted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<ClientSecretConfig>,
}

/// A secret of an apaleo client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ClientSecretConfig {
    /// Secret id, unique in the client: lowercase letters, digits, `-` and `_`. Names its
    /// file in the secrets store.
    pub id: String,
    /// The description typed beside the secret in the dashboard; default: the id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl ClientConfig {
    /// The normalized client.
    pub fn client(&self) -> Client {
        Client {
            code: self.code.clone(),
            kind: self.kind,
            name: self.name.clone(),
            logo_url: self.logo_url.clone(),
            redirect_uris: self.redirect_uris.clone(),
            pii: match self.kind {
                ClientKind::Simple => Some(self.pii.unwrap_or(false)),
                ClientKind::Connect => None,
            },
            scopes: self.scopes.clone(),
            secrets: self
                .secrets
                .iter()
                .map(|s| SecretDecl {
                    id: s.id.clone(),
                    description: s.description.clone().unwrap_or_else(|| s.id.clone()),
                })
                .collect(),
            unconfirmed: vec![],
        }
    }
}

/// The core API's scopes (spec/apaleo.md, from apaleo.dev/guides/api/scopes).
pub const SCOPES: &[&str] = &[
    "offline_access",
    "openid",
    "profile",
    "account.manage",
    "account.suspend",
    "accounting.read",
    "authorizations.manage",
    "authorizations.read",
    "availability.manage",
    "availability.read",
    "charges.delete",
    "companies.manage",
    "companies.read",
    "depositItems.manage",
    "deposits.manage",
    "deposits.read",
    "folios.manage",
    "folios.payment-with-charges",
    "folios.read",
    "identity:account-users.manage",
    "identity:account-users.read",
    "invoices.manage",
    "invoices.read",
    "logs.read",
    "maintenances.manage",
    "maintenances.read",
    "offer-index.read",
    "offers.read",
    "operations.change-room-state",
    "operations.trigger-night-audit",
    "payment-accounts.manage",
    "payment-accounts.read",
    "payments.manage",
    "payments.read",
    "prepayment-notices.read",
    "rateplans.read-corporate",
    "rateplans.read-negotiated",
    "rates.manage",
    "rates.read",
    "reports.read",
    "reservations.force-manage",
    "reservations.manage",
    "reservations.read",
    "routings.create",
    "routings.manage",
    "routings.read",
    "servicegroups.create",
    "servicegroups.manage",
    "servicegroups.read",
    "setup.manage",
    "setup.read",
    "transactional-data.delete",
];

/// Scope groups of other apaleo APIs, by prefix: accepted with a warning (not catalogued).
pub const SCOPE_GROUPS: &[&str] = &[
    "payment:",
    "distribution:",
    "fiscalization:",
    "profile:",
    "rendering:",
    "integration:",
];

/// How a scope stands against the catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeCheck {
    /// In the catalogue.
    Known,
    /// In a prefixed group registrar does not catalogue.
    Group(&'static str),
    /// Unknown; with the closest known scope, if one is close.
    Unknown(Option<String>),
}

/// Checks one scope against the catalogue.
pub fn check_scope(scope: &str) -> ScopeCheck {
    if SCOPES.contains(&scope) {
        return ScopeCheck::Known;
    }
    if let Some(g) = SCOPE_GROUPS
        .iter()
        .find(|g| scope.starts_with(**g) && scope.len() > g.len())
    {
        return ScopeCheck::Group(g);
    }
    let known: Vec<String> = SCOPES.iter().map(|s| s.to_string()).collect();
    ScopeCheck::Unknown(super::load::suggest(scope, &known))
}

/// Checks a client code: letters, digits, `-` and `_`, beginning with a letter or digit,
/// 1 to 64 characters.
pub fn check_code(code: &str) -> Result<(), String> {
    let ok = !code.is_empty()
        && code.len() <= 64
        && code.starts_with(|c: char| c.is_ascii_alphanumeric())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "client code `{code}` must be 1 to 64 letters, digits, `-` or `_`, beginning with a letter or digit"
        ))
    }
}

/// The form two redirect URIs are compared in for near-duplicates: lowercase scheme and
/// host, no trailing `/`.
fn loose(uri: &str) -> String {
    match url::Url::parse(uri) {
        Ok(u) => {
            let mut s = u.to_string();
            while s.ends_with('/') {
                s.pop();
            }
            s
        }
        Err(_) => uri.trim_end_matches('/').to_ascii_lowercase(),
    }
}

/// Runs the client checks; appends to `diags`.
pub fn check(d: &Desired, diags: &mut Vec<Diagnostic>) {
    let backend = d.backend.as_ref();
    if let Some(b) = backend
        && b.value.kind == BackendKind::Apaleo
    {
        for (what, n) in [
            ("developers", d.developers.len()),
            ("products", d.products.len()),
            ("apps", d.apps.len()),
        ] {
            if n > 0 {
                let part = match what {
                    "developers" => d.developers[0].part,
                    "products" => d.products[0].part,
                    _ => d.apps[0].part,
                };
                diags.push(d.at(part, &[what], true, Code::Schema, format!(
                    "`{what}` are Apigee resources, but `backend.kind` is `apaleo`: declare apaleo clients under `clients:`"
                )));
            }
        }
        if let Some(account) = &b.value.account
            && (account.is_empty() || account.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            diags.push(
                d.at(
                    b.part,
                    &["backend", "account"],
                    false,
                    Code::Name,
                    "`backend.account` must be an apaleo account code without spaces, e.g. `DEMO`"
                        .into(),
                ),
            );
        }
    } else if let Some(b) = backend
        && !d.clients.is_empty()
    {
        let first = &d.clients[0];
        diags.push(d.at(first.part, &["clients"], true, Code::Schema, format!(
            "`clients` are apaleo clients, but `backend.kind` is `{}`: set `backend: {{kind: apaleo, account: CODE}}`",
            b.value.kind.as_str()
        )));
    }
    let mut codes: HashMap<String, String> = HashMap::new();
    for c in &d.clients {
        let at = |rest: &[&str]| {
            let mut p = vec!["clients".to_string(), c.index.to_string()];
            p.extend(rest.iter().map(|s| s.to_string()));
            p
        };
        let v = &c.value;
        let mut push = |path: Vec<String>, key: bool, code: Code, msg: String| {
            diags.push(d.at(c.part, &path, key, code, msg));
        };
        match check_code(&v.code) {
            Err(why) => push(at(&["code"]), false, Code::Name, why),
            Ok(()) => {
                let here = d.place(c.part, &at(&["code"]));
                if let Some(first) = codes.insert(v.code.to_ascii_lowercase(), here) {
                    push(
                        at(&["code"]),
                        false,
                        Code::Duplicate,
                        format!(
                            "client `{}` is declared twice (first at {first}): client codes are unique per account",
                            v.code
                        ),
                    );
                }
            }
        }
        if v.name.trim().is_empty() {
            push(
                at(&["name"]),
                false,
                Code::Name,
                format!("client `{}` needs a `name`", v.code),
            );
        }
        let other = |field: &str, kind: ClientKind| {
            format!(
                "`{field}` belongs to {} clients; client `{}` is `{}`: remove it{}",
                match kind {
                    ClientKind::Connect => "connect",
                    ClientKind::Simple => "simple",
                },
                v.code,
                v.kind.as_str(),
                match kind {
                    ClientKind::Connect => " (or make the client `kind: connect`)",
                    ClientKind::Simple => " (or make the client `kind: simple`)",
                }
            )
        };
        match v.kind {
            ClientKind::Simple => {
                if v.logo_url.is_some() {
                    push(
                        at(&["logoUrl"]),
                        true,
                        Code::Schema,
                        other("logoUrl", ClientKind::Connect),
                    );
                }
                if !v.redirect_uris.is_empty() {
                    push(
                        at(&["redirectUris"]),
                        true,
                        Code::Schema,
                        other("redirectUris", ClientKind::Connect),
                    );
                }
            }
            ClientKind::Connect => {
                if v.pii.is_some() {
                    push(
                        at(&["pii"]),
                        true,
                        Code::Schema,
                        other("pii", ClientKind::Simple),
                    );
                }
                if v.redirect_uris.is_empty() {
                    push(
                        at(&["kind"]),
                        false,
                        Code::CallbackUrl,
                        format!(
                            "connect client `{}` needs at least one `redirectUris` entry (the authorization-code grant redirects there)",
                            v.code
                        ),
                    );
                }
                if let Some(logo) = &v.logo_url
                    && !is_https(logo)
                {
                    push(
                        at(&["logoUrl"]),
                        false,
                        Code::Url,
                        format!("logo URL `{logo}` must be an absolute https URL"),
                    );
                }
            }
        }
        let mut seen: Vec<(String, usize)> = Vec::new();
        for (i, uri) in v.redirect_uris.iter().enumerate() {
            let idx = i.to_string();
            if !is_https(uri) {
                push(
                    at(&["redirectUris", &idx]),
                    false,
                    Code::CallbackUrl,
                    format!("redirect URI `{uri}` must be an absolute https URL"),
                );
                continue;
            }
            if v.redirect_uris[..i].contains(uri) {
                push(
                    at(&["redirectUris", &idx]),
                    false,
                    Code::Duplicate,
                    format!("redirect URI `{uri}` is listed twice"),
                );
                continue;
            }
            let l = loose(uri);
            if let Some((_, j)) = seen.iter().find(|(s, _)| *s == l) {
                push(
                    at(&["redirectUris", &idx]),
                    false,
                    Code::NearDuplicate,
                    format!(
                        "redirect URI `{uri}` differs from `{}` only in a trailing `/` or letter case: apaleo matches redirect URIs exactly, so both are registered; keep the one your app sends",
                        v.redirect_uris[*j]
                    ),
                );
            }
            seen.push((l, i));
        }
        for (i, scope) in v.scopes.iter().enumerate() {
            let idx = i.to_string();
            if v.scopes[..i].contains(scope) {
                push(
                    at(&["scopes", &idx]),
                    false,
                    Code::Duplicate,
                    format!("scope `{scope}` is listed twice"),
                );
                continue;
            }
            if v.kind == ClientKind::Simple && is_identity_scope(scope) {
                push(
                    at(&["scopes", &idx]),
                    false,
                    Code::IdentityScope,
                    format!(
                        "scope `{scope}` is for a person signing in (OpenID Connect / refresh tokens): a simple client (client-credentials grant) cannot use it; verification leaves it out (declared only)"
                    ),
                );
                continue;
            }
            match check_scope(scope) {
                ScopeCheck::Known => {}
                ScopeCheck::Group(g) => push(
                    at(&["scopes", &idx]),
                    false,
                    Code::ScopeGroup,
                    format!(
                        "scope `{scope}` is in apaleo's `{g}` group, which registrar does not catalogue: check its spelling in the dashboard"
                    ),
                ),
                ScopeCheck::Unknown(close) => push(
                    at(&["scopes", &idx]),
                    false,
                    Code::UnknownScope,
                    match close {
                        Some(c) => format!("unknown apaleo scope `{scope}`: did you mean `{c}`?"),
                        None => format!(
                            "unknown apaleo scope `{scope}`: see https://apaleo.dev/guides/api/scopes (groups with a prefix such as `payment:` are accepted)"
                        ),
                    },
                ),
            }
        }
        for (i, s) in v.secrets.iter().enumerate() {
            let idx = i.to_string();
            if let Err(why) = crate::names::check_credential_id(&s.id) {
                push(
                    at(&["secrets", &idx, "id"]),
                    false,
                    Code::Name,
                    why.replace("credential id", "secret id"),
                );
            } else if v.secrets[..i].iter().any(|o| o.id == s.id) {
                push(
                    at(&["secrets", &idx, "id"]),
                    false,
                    Code::Duplicate,
                    format!("secret `{}` of client `{}` is declared twice", s.id, v.code),
                );
            }
        }
    }
}

fn is_https(uri: &str) -> bool {
    url::Url::parse(uri).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_checked_against_the_catalogue() {
        assert_eq!(check_scope("reservations.read"), ScopeCheck::Known);
        assert_eq!(
            check_scope("payment:payments.read"),
            ScopeCheck::Group("payment:")
        );
        assert_eq!(
            check_scope("reservation.read"),
            ScopeCheck::Unknown(Some("reservations.read".into()))
        );
        assert_eq!(check_scope("payment:"), ScopeCheck::Unknown(None));
    }

    #[test]
    fn client_codes() {
        assert!(check_code("booking-engine").is_ok());
        assert!(check_code("NIGHT_AUDIT-2").is_ok());
        assert!(check_code("-x").is_err());
        assert!(check_code("a b").is_err());
        assert!(check_code(&"a".repeat(65)).is_err());
    }

    #[test]
    fn near_duplicates_compare_loosely() {
        assert_eq!(
            loose("https://Example.com/cb/"),
            loose("https://example.com/cb")
        );
        assert_ne!(
            loose("https://example.com/a"),
            loose("https://example.com/b")
        );
    }
}
