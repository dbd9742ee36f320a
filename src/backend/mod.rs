//! Backends: the platforms registrar manages. Each reads actual state in bulk and executes
//! single operations ([`Op`]); they know nothing of plans beyond that.

pub mod apigee;
pub mod local;

use std::future::Future;

use crate::error::Hinted;
use crate::model::{Actual, Key, ReadScope};
use crate::op::{Op, OpOutcome};
use crate::target::{BackendKind, Platform};

/// Why a backend call failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The resource does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The resource exists already.
    #[error("{0} already exists")]
    Conflict(String),
    /// The platform refused the request; retrying will not help.
    #[error("{status}: {message}")]
    Rejected {
        /// HTTP status (or 400 for the local backend).
        status: u16,
        /// The platform's message.
        message: String,
    },
    /// Nothing answered: every attempt failed to connect.
    #[error("gave up after {attempts} attempts: {message}")]
    Unreachable {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// A transient failure (429, 5xx, timeout, broken reply) that outlived the retries.
    #[error("gave up after {attempts} attempts: {message}")]
    Transient {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        message: String,
    },
    /// Credentials missing or refused, with what to do.
    #[error("{0}")]
    Auth(#[source] Hinted),
    /// The backend cannot be set up as given (URL, organization), with what to do.
    #[error("{0}")]
    Setup(#[source] Hinted),
    /// Anything else (bad response, local store failure).
    #[error("{0}")]
    Other(String),
}

/// A platform registrar can read and change.
pub trait Backend: Send + Sync + 'static {
    /// One line naming the platform, URL/file and org, for plan headers (no credentials).
    fn describe(&self) -> String;

    /// The platform's management API quota in requests per minute (`None`: unlimited).
    fn quota_per_minute(&self) -> Option<u32>;

    /// Reads actual state with bulk list calls.
    fn read(&self, scope: ReadScope) -> impl Future<Output = Result<Actual, BackendError>> + Send;

    /// Executes one operation. Key operations receive the key as read (`key`, with its
    /// consumer key), which the operation's [`crate::op::KeyRef`] names.
    fn execute(
        &self,
        op: &Op,
        key: Option<&Key>,
    ) -> impl Future<Output = Result<OpOutcome, BackendError>> + Send;
}

/// The backend a target names, dispatched statically.
pub enum AnyBackend {
    /// The embedded registry.
    Local(local::LocalBackend),
    /// Apigee X/hybrid or Edge.
    Apigee(apigee::ApigeeBackend),
}

impl AnyBackend {
    /// Builds the backend of a platform. `rate_limit` (requests/second) overrides the
    /// default budget of HTTP backends.
    pub fn for_platform(target: &Platform, rate_limit: Option<f64>) -> anyhow::Result<AnyBackend> {
        match target.backend {
            BackendKind::Local => {
                let db = target
                    .db
                    .clone()
                    .unwrap_or_else(|| crate::registry::DEFAULT_PATH.into());
                Ok(AnyBackend::Local(local::LocalBackend::open(
                    &db,
                    &target.org,
                )?))
            }
            kind => {
                let config = apigee::ApigeeConfig::from_args(
                    kind,
                    target.url.as_deref(),
                    Some(&target.org),
                )?
                .with_rate_limit(rate_limit);
                Ok(AnyBackend::Apigee(apigee::ApigeeBackend::new(config)?))
            }
        }
    }
}

impl Backend for AnyBackend {
    fn describe(&self) -> String {
        match self {
            AnyBackend::Local(b) => b.describe(),
            AnyBackend::Apigee(b) => b.describe(),
        }
    }

    fn quota_per_minute(&self) -> Option<u32> {
        match self {
            AnyBackend::Local(b) => b.quota_per_minute(),
            AnyBackend::Apigee(b) => b.quota_per_minute(),
        }
    }

    async fn read(&self, scope: ReadScope) -> Result<Actual, BackendError> {
        match self {
            AnyBackend::Local(b) => b.read(scope).await,
            AnyBackend::Apigee(b) => b.read(scope).await,
        }
    }

    async fn execute(&self, op: &Op, key: Option<&Key>) -> Result<OpOutcome, BackendError> {
        match self {
            AnyBackend::Local(b) => b.execute(op, key).await,
            AnyBackend::Apigee(b) => b.execute(op, key).await,
        }
    }
}
