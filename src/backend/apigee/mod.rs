//! The Apigee management API backend: Apigee X/hybrid and Apigee Edge through one reqwest
//! client, with the flavour differences (int64 spelling, empty fields, error bodies, default
//! URL, quota) kept in [`Flavor`] and the private `wire`, `encode` and `errors` modules.
//!
//! Build it from flags and the environment:
//! ```no_run
//! # async fn demo() -> Result<(), registrar::backend::BackendError> {
//! use registrar::backend::apigee::{ApigeeBackend, ApigeeConfig, Auth, Flavor};
//! let config = ApigeeConfig::new(Flavor::X, "my-org", Auth::from_env()?)
//!     .with_base_url(Some("http://127.0.0.1:8080"));
//! let backend = ApigeeBackend::new(config)?;
//! # Ok(()) }
//! ```
//! Reads are bulk (`?expand=true`, pages of 1000, kinds read concurrently); writes follow
//! spec/apigee-api.md §5; every request passes a shared rate limiter and is retried on 429,
//! 5xx and transport failures. Consumer keys and secrets never reach a log or an error.

#![warn(missing_docs)]

mod client;
mod decode;
mod encode;
mod errors;
mod lock;
mod mint;
mod ops;
mod page;
mod ratelimit;
mod read;
mod redact;
pub(super) mod retry;
mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::backend::{Backend, BackendError, Lock, LockRequest};
use crate::error::Hinted;
use crate::model::{Actual, Key, ReadScope, Secret};
use crate::op::{Op, OpOutcome};
use crate::target::BackendKind;
pub use crate::target::Flavor;

use client::Client;

/// Credentials for the management API. Taken from the environment only, never from config
/// files; `Debug` shows the scheme, never the values.
#[derive(Clone)]
pub enum Auth {
    /// `Authorization: Bearer …` (X: a Google OAuth token; Edge: a token from login.apigee.com).
    Bearer(Secret),
    /// HTTP Basic (Edge).
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
}

impl Auth {
    /// From the environment: `APIGEE_TOKEN` (bearer) if set, else `APIGEE_USERNAME` with
    /// `APIGEE_PASSWORD` (basic). An error with a hint when neither is usable.
    pub fn from_env() -> Result<Auth, BackendError> {
        Auth::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Auth::from_env`] over any variable lookup (for tests and embedding).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Auth, BackendError> {
        let set = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if let Some(token) = set("APIGEE_TOKEN") {
            return Ok(Auth::Bearer(Secret::new(token.trim())));
        }
        match (set("APIGEE_USERNAME"), set("APIGEE_PASSWORD")) {
            (Some(username), Some(password)) => Ok(Auth::Basic {
                username,
                password: Secret::new(password),
            }),
            (Some(_), None) => Err(BackendError::Auth(Hinted::new(
                "APIGEE_USERNAME is set but APIGEE_PASSWORD is not",
                "set both, or APIGEE_TOKEN",
            ))),
            _ => Err(client::missing_credentials()),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Bearer(_) => f.write_str("Auth::Bearer(<redacted>)"),
            Auth::Basic { .. } => f.write_str("Auth::Basic(<redacted>)"),
        }
    }
}

/// A URL as shown in plans and debug output: without any user name or password in it.
fn display_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string().trim_end_matches('/').to_string()
        }
        Ok(_) => raw.to_string(),
        Err(_) => "(invalid URL)".to_string(),
    }
}

/// How long one request may take by default: a management API answers in well under a
/// second, and a server that accepts but never answers should be found out in a minute, not
/// in three (6 attempts).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach one Apigee organization.
#[derive(Clone)]
pub struct ApigeeConfig {
    /// X or Edge.
    pub flavor: Flavor,
    /// API root without the `/v1/organizations/{org}` path.
    pub base_url: String,
    /// Organization.
    pub org: String,
    /// Credentials.
    pub auth: Auth,
    /// Request budget per second; `None` is 80% of the platform's quota; a non-positive or
    /// infinite value disables the limiter.
    pub rate_limit_per_sec: Option<f64>,
    /// Per-request timeout (connect, send, reply).
    pub timeout: Duration,
    /// Attempts per request, the first included, for transient failures.
    pub max_attempts: u32,
}

impl ApigeeConfig {
    /// The defaults for `flavor`: public URL, 80% of the quota, [`DEFAULT_TIMEOUT`], 6
    /// attempts.
    pub fn new(flavor: Flavor, org: impl Into<String>, auth: Auth) -> ApigeeConfig {
        ApigeeConfig {
            flavor,
            base_url: flavor.default_base_url().to_string(),
            org: org.into(),
            auth,
            rate_limit_per_sec: None,
            timeout: DEFAULT_TIMEOUT,
            max_attempts: 6,
        }
    }

    /// From `--backend`, `--url` and `--org` (after merging with `backend:` in the config)
    /// and the credential environment. Errors name the missing piece.
    pub fn from_args(
        kind: BackendKind,
        url: Option<&str>,
        org: Option<&str>,
    ) -> Result<ApigeeConfig, BackendError> {
        let flavor = kind.flavor().ok_or_else(|| {
            BackendError::Other("the local backend is not an Apigee backend".into())
        })?;
        let org = org.filter(|o| !o.is_empty()).ok_or_else(|| {
            BackendError::Setup(Hinted::new(
                format!("{} needs an organization", flavor.name()),
                "pass `--org NAME`",
            ))
        })?;
        Ok(ApigeeConfig::new(flavor, org, Auth::from_env()?).with_base_url(url))
    }

    /// Overrides the API root (e.g. `http://127.0.0.1:8080` for `registrar serve`).
    pub fn with_base_url(mut self, url: Option<&str>) -> ApigeeConfig {
        if let Some(url) = url.filter(|u| !u.is_empty()) {
            self.base_url = url.trim_end_matches('/').to_string();
        }
        self
    }

    /// Sets the request budget (see [`ApigeeConfig::rate_limit_per_sec`]).
    pub fn with_rate_limit(mut self, per_sec: Option<f64>) -> ApigeeConfig {
        self.rate_limit_per_sec = per_sec;
        self
    }

    /// With a per-request timeout (`None`: keep [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> ApigeeConfig {
        if let Some(t) = timeout {
            self.timeout = t;
        }
        self
    }

    /// The request budget in force, per second.
    pub fn effective_rate_limit(&self) -> f64 {
        self.rate_limit_per_sec
            .unwrap_or_else(|| self.flavor.default_rate_limit())
    }
}

impl fmt::Debug for ApigeeConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApigeeConfig")
            .field("flavor", &self.flavor)
            .field("base_url", &display_url(&self.base_url))
            .field("org", &self.org)
            .field("auth", &self.auth)
            .field("rate_limit_per_sec", &self.rate_limit_per_sec)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish()
    }
}

/// The Apigee backend (X or Edge).
pub struct ApigeeBackend {
    client: Arc<Client>,
    flavor: Flavor,
    /// For display: without credentials.
    base_url: String,
    org: String,
}

impl ApigeeBackend {
    /// A backend for `config`; fails on an unusable URL or an empty org. No request is made.
    pub fn new(config: ApigeeConfig) -> Result<ApigeeBackend, BackendError> {
        Ok(ApigeeBackend {
            client: Arc::new(Client::new(&config)?),
            flavor: config.flavor,
            base_url: display_url(&config.base_url),
            org: config.org,
        })
    }

    /// HTTP requests sent so far, retries included.
    pub fn requests_made(&self) -> usize {
        self.client.requests_made()
    }

    /// The flavour spoken.
    pub fn flavor(&self) -> Flavor {
        self.flavor
    }
}

impl fmt::Debug for ApigeeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApigeeBackend")
            .field("flavor", &self.flavor)
            .field("base_url", &self.base_url)
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

impl Backend for ApigeeBackend {
    fn describe(&self) -> String {
        format!(
            "{} {} org `{}`",
            self.flavor.name(),
            self.base_url,
            self.org
        )
    }

    fn quota_per_minute(&self) -> Option<u32> {
        Some(self.flavor.quota_per_minute())
    }

    async fn read(&self, scope: ReadScope) -> Result<Actual, BackendError> {
        read::read(&self.client, scope).await
    }

    async fn execute(&self, op: &Op, key: Option<&Key>) -> Result<OpOutcome, BackendError> {
        ops::execute(&self.client, op, key).await
    }

    async fn lock(&self, req: &LockRequest) -> Result<Lock, BackendError> {
        lock::acquire(self.client.clone(), req).await
    }

    async fn unlock(&self, lock: Lock) -> Result<(), BackendError> {
        lock::release(&self.client, lock).await
    }

    async fn force_unlock(
        &self,
        owner: &str,
        id: &str,
    ) -> Result<crate::lock::Holder, BackendError> {
        lock::force_unlock(&self.client, owner, id).await
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
        let bearer = Auth::from_vars(vars(&[
            ("APIGEE_TOKEN", "ya29.tok"),
            ("APIGEE_USERNAME", "u"),
        ]));
        assert!(matches!(bearer, Ok(Auth::Bearer(t)) if t.expose() == "ya29.tok"));
        let basic = Auth::from_vars(vars(&[("APIGEE_USERNAME", "u"), ("APIGEE_PASSWORD", "p")]));
        assert!(matches!(basic, Ok(Auth::Basic { username, .. }) if username == "u"));
        let half = Auth::from_vars(vars(&[("APIGEE_USERNAME", "u")])).unwrap_err();
        assert!(half.to_string().contains("APIGEE_PASSWORD"), "{half}");
        let none = Auth::from_vars(vars(&[("APIGEE_TOKEN", " ")])).unwrap_err();
        assert!(
            matches!(none, BackendError::Auth(ref m) if m.hint().contains("APIGEE_TOKEN")),
            "{none}"
        );
    }

    #[test]
    fn debug_never_shows_credentials() {
        let config = ApigeeConfig::new(
            Flavor::Edge,
            "org",
            Auth::Basic {
                username: "admin@corp".into(),
                password: Secret::new("pa55word"),
            },
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("pa55word") && !shown.contains("admin@corp"),
            "{shown}"
        );
        let token = format!("{:?}", Auth::Bearer(Secret::new("ya29.secret-token")));
        assert!(!token.contains("ya29"), "{token}");
    }

    #[test]
    fn defaults_per_flavour() {
        let auth = Auth::Bearer(Secret::new("t"));
        let x = ApigeeConfig::new(Flavor::X, "o", auth.clone());
        assert_eq!(x.base_url, "https://apigee.googleapis.com");
        assert_eq!(x.effective_rate_limit(), 80.0);
        let e = ApigeeConfig::new(Flavor::Edge, "o", auth)
            .with_base_url(Some("http://127.0.0.1:8080/"));
        assert_eq!(e.base_url, "http://127.0.0.1:8080");
        assert!((e.effective_rate_limit() - 133.333).abs() < 0.01);
        assert_eq!(e.with_rate_limit(Some(5.0)).effective_rate_limit(), 5.0);
    }

    #[test]
    fn backend_describes_itself_without_secrets() {
        let config = ApigeeConfig::new(Flavor::X, "my org", Auth::Bearer(Secret::new("ya29.t")));
        let backend = ApigeeBackend::new(config).unwrap();
        assert_eq!(
            backend.describe(),
            "Apigee X https://apigee.googleapis.com org `my org`"
        );
        assert_eq!(backend.quota_per_minute(), Some(6000));
        assert_eq!(backend.requests_made(), 0);
        assert!(!format!("{backend:?}").contains("ya29"));
        let with_userinfo = ApigeeConfig::new(Flavor::Edge, "o", Auth::Bearer(Secret::new("t")))
            .with_base_url(Some("https://admin:hunter2@mgmt.example.com:8443"));
        assert!(!format!("{with_userinfo:?}").contains("hunter2"));
        let refused = anyhow::Error::new(ApigeeBackend::new(with_userinfo).unwrap_err());
        let shown = crate::error::render(&refused);
        assert!(
            !shown.contains("hunter2") && shown.contains("APIGEE_"),
            "{shown}"
        );
        let not_http = ApigeeConfig::new(Flavor::X, "o", Auth::Bearer(Secret::new("t")))
            .with_base_url(Some("ftp://example.com"));
        assert!(ApigeeBackend::new(not_http).is_err());
        let bad = ApigeeConfig::new(Flavor::X, "", Auth::Bearer(Secret::new("t")));
        assert!(ApigeeBackend::new(bad).is_err());
    }
}
