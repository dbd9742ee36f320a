//! Backends: the platforms registrar manages. Each reads actual state in bulk and executes
//! single operations ([`Op`]); they know nothing of plans beyond that.

pub mod apaleo;
pub mod apigee;
pub mod local;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::Hinted;
use crate::lock::{FileLock, Holder};
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
    /// Another run holds the lock on the target.
    #[error("the target is locked by another run (lock id {})", .0.id)]
    Locked(Box<Holder>),
    /// A lock cannot be taken or removed as asked (wrong id, not a lock), with what to do.
    #[error("{0}")]
    LockRefused(#[source] Hinted),
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

    /// Locks the target for one apply, waiting up to `req.timeout` for another run's lock;
    /// fails with [`BackendError::Locked`] naming the holder.
    fn lock(&self, req: &LockRequest) -> impl Future<Output = Result<Lock, BackendError>> + Send;

    /// Releases a lock this process holds.
    fn unlock(&self, lock: Lock) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Removes the lock of `owner` if its id is `id` (refusing otherwise); returns who held it.
    fn force_unlock(
        &self,
        owner: &str,
        id: &str,
    ) -> impl Future<Output = Result<Holder, BackendError>> + Send;
}

/// What an apply asks for when it locks its target.
#[derive(Debug, Clone)]
pub struct LockRequest {
    /// The config's `owner`: a remote lock covers what this owner manages.
    pub owner: String,
    /// Who asks (its id becomes the lock's id).
    pub holder: Holder,
    /// How long to wait for another run's lock (zero: fail at once).
    pub timeout: Duration,
    /// How long a remote lock lives unless renewed (it is renewed while held).
    pub ttl: Duration,
}

/// A lock held on a target; give it back with [`Backend::unlock`]. Dropping it releases a
/// file lock; a remote lock left behind expires.
#[derive(Debug)]
pub struct Lock {
    /// Who holds it (this process).
    pub holder: Holder,
    pub(crate) inner: LockInner,
}

#[derive(Debug)]
pub(crate) enum LockInner {
    /// No lock was taken.
    None,
    /// A file lock (released on drop).
    File { _held: FileLock },
    /// A lock product on a remote platform, renewed by a task until released.
    Remote {
        name: String,
        renewer: tokio::task::JoinHandle<()>,
        watch: LockWatch,
    },
}

/// What a remote lock's renewer shares with the [`Lock`] it keeps.
#[derive(Debug, Clone, Default)]
pub(crate) struct LockWatch {
    /// Set when the lock was found removed or taken over.
    pub(crate) lost: Arc<AtomicBool>,
    /// Asks the renewer to check the lock is still this run's now ([`Lock::check_soon`]).
    pub(crate) check_now: Arc<tokio::sync::Notify>,
    /// When a check last found the lock this run's.
    pub(crate) confirmed: Arc<std::sync::Mutex<Option<std::time::Instant>>>,
}

impl Lock {
    /// A lock that locks nothing (`--lock=false`, or a platform without locking).
    pub fn none(holder: Holder) -> Lock {
        Lock {
            holder,
            inner: LockInner::None,
        }
    }

    /// A handle that asks for the lock's release check ahead of time: apply notifies it once
    /// its last changes are in flight, so that the check runs while they do and release is
    /// one request instead of two at the end (`None` for locks released without a request).
    pub fn check_soon(&self) -> Option<Arc<tokio::sync::Notify>> {
        match &self.inner {
            LockInner::Remote { watch, .. } => Some(watch.check_now.clone()),
            _ => None,
        }
    }

    /// Whether a remote lock was found taken over or removed while held.
    pub fn lost(&self) -> bool {
        match &self.inner {
            LockInner::Remote { watch, .. } => watch.lost.load(Ordering::Relaxed),
            _ => false,
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let LockInner::Remote { renewer, .. } = &self.inner {
            renewer.abort();
        }
    }
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
        Self::build(target, rate_limit, false)
    }

    /// Builds the backend of a platform to read it only (`plan`): the local registry is not
    /// created when it does not exist yet; it reads as empty.
    pub fn for_reading(target: &Platform) -> anyhow::Result<AnyBackend> {
        Self::build(target, None, true)
    }

    fn build(
        target: &Platform,
        rate_limit: Option<f64>,
        read_only: bool,
    ) -> anyhow::Result<AnyBackend> {
        match target.backend {
            BackendKind::Local => {
                let db = target
                    .db
                    .clone()
                    .unwrap_or_else(|| crate::registry::DEFAULT_PATH.into());
                let org = &target.org;
                Ok(AnyBackend::Local(if read_only {
                    local::LocalBackend::open_to_read(&db, org)?
                } else {
                    local::LocalBackend::open(&db, org)?
                }))
            }
            BackendKind::Apaleo => Err(crate::error::hinted(
                "apaleo has no client API: registrar plans and applies it as a checklist",
                "run `registrar plan` or `registrar apply` with `--backend apaleo`",
            )),
            kind => {
                let config = apigee::ApigeeConfig::from_args(
                    kind,
                    target.url.as_deref(),
                    Some(&target.org),
                )?
                .with_rate_limit(rate_limit)
                .with_timeout(target.timeout);
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

    async fn lock(&self, req: &LockRequest) -> Result<Lock, BackendError> {
        match self {
            AnyBackend::Local(b) => b.lock(req).await,
            AnyBackend::Apigee(b) => b.lock(req).await,
        }
    }

    async fn unlock(&self, lock: Lock) -> Result<(), BackendError> {
        match self {
            AnyBackend::Local(b) => b.unlock(lock).await,
            AnyBackend::Apigee(b) => b.unlock(lock).await,
        }
    }

    async fn force_unlock(&self, owner: &str, id: &str) -> Result<Holder, BackendError> {
        match self {
            AnyBackend::Local(b) => b.force_unlock(owner, id).await,
            AnyBackend::Apigee(b) => b.force_unlock(owner, id).await,
        }
    }
}
