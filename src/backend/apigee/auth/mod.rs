//! Credentials for the management API, from the environment only (never from config files).
//!
//! Which one is used:
//! 1. `APIGEE_TOKEN`, when set: a bearer token, as is (both flavours).
//! 2. Apigee Edge: `APIGEE_USERNAME` and `APIGEE_PASSWORD`, as an OAuth token from the Edge
//!    login service when `APIGEE_SSO_URL` (an SSO zone) or `APIGEE_MFA_TOKEN` is set (MFA
//!    needs the login service), else as HTTP Basic (Edge for Private Cloud, and orgs that
//!    allow it).
//! 3. Apigee X: `APIGEE_USERNAME` and `APIGEE_PASSWORD` as HTTP Basic when both are set (a
//!    `registrar serve --token` sandbox accepts them), else Google Application Default
//!    Credentials ([`google`]).
//!
//! Tokens that expire are replaced before they do; `Debug` shows the kind, never a value.

mod edge;
mod google;
mod token;

use std::fmt;
use std::sync::Arc;

pub use edge::{DEFAULT_SSO_URL, EdgeLogin};
pub use google::GoogleCredentials;

use super::client::missing_credentials;
use crate::backend::BackendError;
use crate::error::Hinted;
use crate::model::Secret;
use crate::target::Flavor;

/// Credentials for the management API.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer …`, a fixed token (`APIGEE_TOKEN`).
    Bearer(Secret),
    /// HTTP Basic (Edge).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// Google Application Default Credentials (Apigee X), refreshed as they expire.
    Google(Arc<GoogleCredentials>),
    /// An OAuth token from the Edge login service, renewed as it expires.
    EdgeLogin(Arc<EdgeLogin>),
}

impl Auth {
    /// From the environment, for `flavor` (see the module documentation for the order).
    pub fn from_env(flavor: Flavor) -> Result<Auth, BackendError> {
        Auth::from_vars(flavor, |name| std::env::var(name).ok())
    }

    /// [`Auth::from_env`] over any variable lookup (for tests and embedding).
    pub fn from_vars(
        flavor: Flavor,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Auth, BackendError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(token) = set("APIGEE_TOKEN") {
            return Ok(Auth::Bearer(Secret::new(token.trim())));
        }
        let login = match (set("APIGEE_USERNAME"), set("APIGEE_PASSWORD")) {
            (Some(username), Some(password)) => Some((username, Secret::new(password))),
            (Some(_), None) => {
                return Err(BackendError::Auth(Hinted::new(
                    "APIGEE_USERNAME is set but APIGEE_PASSWORD is not",
                    "set both, or APIGEE_TOKEN",
                )));
            }
            _ => None,
        };
        match (flavor, login) {
            (Flavor::Edge, Some((username, password))) => {
                let sso = set("APIGEE_SSO_URL");
                let mfa = set("APIGEE_MFA_TOKEN").map(|m| Secret::new(m.trim()));
                if sso.is_none() && mfa.is_none() {
                    return Ok(Auth::Basic { username, password });
                }
                Ok(Auth::EdgeLogin(Arc::new(EdgeLogin::new(
                    sso, username, password, mfa,
                )?)))
            }
            (Flavor::Edge, None) => Err(missing_credentials()),
            (Flavor::X, Some((username, password))) => Ok(Auth::Basic { username, password }),
            (Flavor::X, None) => Ok(Auth::Google(Arc::new(GoogleCredentials::discover(&var)?))),
        }
    }

    /// Adds the `Authorization` header to a request, getting a fresh token first if the one
    /// held is about to expire.
    pub(crate) async fn authorize(
        &self,
        builder: reqwest::RequestBuilder,
    ) -> Result<reqwest::RequestBuilder, BackendError> {
        Ok(match self {
            Auth::Bearer(token) => builder.bearer_auth(token.expose()),
            Auth::Basic { username, password } => {
                builder.basic_auth(username, Some(password.expose()))
            }
            Auth::Google(google) => builder.bearer_auth(google.token().await?.expose()),
            Auth::EdgeLogin(edge) => builder.bearer_auth(edge.token().await?.expose()),
        })
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Auth::Bearer(<redacted>)"),
            Auth::Basic { .. } => f.write_str("Auth::Basic(<redacted>)"),
            Auth::Google(g) => write!(f, "Auth::Google({})", g.origin()),
            Auth::EdgeLogin(e) => write!(f, "Auth::EdgeLogin({})", e.sso_url()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn auth_from_environment() {
        let bearer = Auth::from_vars(
            Flavor::X,
            vars(&[("APIGEE_TOKEN", "ya29.tok"), ("APIGEE_USERNAME", "u")]),
        );
        assert!(matches!(bearer, Ok(Auth::Bearer(t)) if t.expose() == "ya29.tok"));
        let basic = Auth::from_vars(
            Flavor::Edge,
            vars(&[("APIGEE_USERNAME", "u"), ("APIGEE_PASSWORD", "p")]),
        );
        assert!(matches!(basic, Ok(Auth::Basic { username, .. }) if username == "u"));
        let half = Auth::from_vars(Flavor::Edge, vars(&[("APIGEE_USERNAME", "u")])).unwrap_err();
        assert!(half.to_string().contains("APIGEE_PASSWORD"), "{half}");
        let none = Auth::from_vars(Flavor::Edge, vars(&[("APIGEE_TOKEN", " ")])).unwrap_err();
        assert!(
            matches!(none, BackendError::Auth(ref m) if m.hint().contains("APIGEE_TOKEN")),
            "{none}"
        );
    }

    #[test]
    fn edge_logs_in_with_an_sso_zone_or_mfa_else_basic() {
        let login = [
            ("APIGEE_USERNAME", "u@x.com"),
            ("APIGEE_PASSWORD", "p"),
            ("APIGEE_SSO_URL", "https://acme.login.apigee.com/"),
        ];
        let Ok(Auth::EdgeLogin(sso)) = Auth::from_vars(Flavor::Edge, vars(&login)) else {
            panic!("an SSO zone logs in")
        };
        assert_eq!(sso.sso_url(), "https://acme.login.apigee.com");
        let mfa = [
            ("APIGEE_USERNAME", "u@x.com"),
            ("APIGEE_PASSWORD", "p"),
            ("APIGEE_MFA_TOKEN", "123456"),
        ];
        let Ok(Auth::EdgeLogin(mfa)) = Auth::from_vars(Flavor::Edge, vars(&mfa)) else {
            panic!("MFA logs in")
        };
        assert_eq!(mfa.sso_url(), DEFAULT_SSO_URL);
        let bad = [
            ("APIGEE_USERNAME", "u"),
            ("APIGEE_PASSWORD", "p"),
            ("APIGEE_SSO_URL", "login.apigee.com"),
        ];
        assert!(Auth::from_vars(Flavor::Edge, vars(&bad)).is_err());
    }

    #[test]
    fn x_uses_google_credentials_without_a_token() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().to_str().unwrap();
        let Ok(Auth::Google(g)) = Auth::from_vars(Flavor::X, vars(&[("HOME", home)])) else {
            panic!("X falls back to Google credentials")
        };
        assert_eq!(g.origin(), "the metadata server");
        assert_eq!(
            format!("{:?}", Auth::Google(g)),
            "Auth::Google(the metadata server)"
        );
    }
}
