//! `registrar serve`: the Apigee management API (X or Edge flavour) over the registry store.
//!
//! Layout: [`routes`] maps paths to handlers; [`input`] parses bodies and queries;
//! [`encode`] renders records per flavour; [`errors`] renders errors per flavour;
//! [`security`] checks tokens and logs requests; [`faults`] injects latency, failures and
//! rate limits; [`conn`] accepts connections under timeouts and limits. Database work is
//! synchronous rusqlite, run on the blocking thread pool over a small pool of connections
//! (SQLite in WAL mode lets readers run concurrently).

pub mod apaleo;
pub mod conn;
pub mod encode;
pub mod errors;
pub mod extract;
pub mod faults;
pub mod input;
pub mod routes;
pub mod security;

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use crate::error::HintExt;
use crate::model::Secret;
use crate::registry::{self, KeyShape, Registry, RegistryOptions};
pub use crate::target::Flavor;
use errors::ApiError;
use faults::Faults;

/// HTTP status of creates on Apigee X. Undocumented: clients were seen expecting 201
/// (spec/apigee-api.md §1, §6.2 ⚠); Edge documents 201.
pub const X_CREATE_STATUS: axum::http::StatusCode = axum::http::StatusCode::CREATED;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 1 << 20;

/// How much of the database file `serve` reads through a memory map (`Registry::with_mmap`).
const SERVE_MMAP: i64 = 1 << 30;

/// Connections to the database the server keeps.
const POOL_SIZE: usize = 4;

/// Shared state of the server.
pub struct ServerState {
    /// The flavour spoken.
    pub flavor: Flavor,
    /// Organizations served.
    pub orgs: Vec<String>,
    /// The token every request must carry, if any.
    pub token: Option<Secret>,
    /// Fault injection.
    pub faults: Faults,
    /// `--strict-paging`: `expand=true` ignores `count`/`startKey` on developer and
    /// developer-app lists (see [`routes`]).
    pub strict_paging: bool,
    pool: Vec<Mutex<Registry>>,
    next: AtomicUsize,
}

impl std::fmt::Debug for ServerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerState")
            .field("flavor", &self.flavor)
            .field("orgs", &self.orgs)
            .field("token", &self.token.as_ref().map(|_| "(set)"))
            .finish_non_exhaustive()
    }
}

impl ServerState {
    /// Runs `work` on a pooled store connection on the blocking pool, after checking that
    /// `org` is served. Registry errors become flavour errors.
    pub async fn db<T, F>(self: &Arc<Self>, org: &str, work: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Registry) -> registry::Result<T> + Send + 'static,
    {
        if !self.orgs.iter().any(|o| o == org) {
            return Err(ApiError::from_store(
                registry::Error::NotFound {
                    kind: registry::Kind::Org,
                    name: org.to_string(),
                    parent: None,
                },
                org,
            ));
        }
        let state = Arc::clone(self);
        let result = tokio::task::spawn_blocking(move || {
            let n = state.pool.len();
            let start = state.next.fetch_add(1, Ordering::Relaxed) % n;
            let guard = (0..n)
                .find_map(|i| state.pool[(start + i) % n].try_lock().ok())
                .unwrap_or_else(|| {
                    state.pool[start]
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                });
            let mut guard = guard;
            work(&mut guard)
        })
        .await;
        match result {
            Ok(r) => r.map_err(|e| ApiError::from_store(e, org)),
            Err(join) => {
                tracing::error!("a database task failed: {join}");
                Err(ApiError::new(
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                    "registrar.InternalError",
                    "internal error; see the server log",
                ))
            }
        }
    }
}

/// What `registrar serve` runs with, its flags checked by the command layer.
#[derive(Debug)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// SQLite file of the registry.
    pub db: std::path::PathBuf,
    /// The flavour spoken.
    pub flavor: Flavor,
    /// Organizations served (created if missing).
    pub orgs: Vec<String>,
    /// The token every request must carry, if any.
    pub token: Option<Secret>,
    /// Fault injection.
    pub faults: Faults,
    /// Connection timeouts and limits.
    pub limits: conn::Limits,
    /// Ignore paging next to `expand` on developer and developer-app lists.
    pub strict_paging: bool,
}

/// Opens the registry and builds the server's state.
fn state(s: Settings) -> anyhow::Result<ServerState> {
    security::check_listen(s.listen, s.token.as_ref())?;
    let opts = match s.flavor {
        Flavor::X => RegistryOptions {
            lowercase_emails: true,
            key_shape: KeyShape::X,
        },
        Flavor::Edge => RegistryOptions {
            lowercase_emails: false,
            key_shape: KeyShape::EDGE,
        },
    };
    let mut pool = Vec::with_capacity(POOL_SIZE);
    for _ in 0..POOL_SIZE {
        let store = Registry::open(&s.db)
            .with_context(|| format!("cannot open the registry `{}`", s.db.display()))
            .hint("check the --db path and its permissions")?
            .with_options(opts)
            .with_mmap(SERVE_MMAP)
            .context("cannot set up the registry's memory map")?;
        pool.push(Mutex::new(store));
    }
    for org in &s.orgs {
        pool[0]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .ensure_org(org)
            .with_context(|| format!("cannot create the organization `{org}`"))?;
    }
    Ok(ServerState {
        flavor: s.flavor,
        orgs: s.orgs,
        token: s.token,
        faults: s.faults,
        strict_paging: s.strict_paging,
        pool,
        next: AtomicUsize::new(0),
    })
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    let listen = settings.listen;
    let limits = settings.limits;
    let state = state(settings)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(listen, Arc::new(state), limits))
}

async fn serve(
    listen: SocketAddr,
    state: Arc<ServerState>,
    limits: conn::Limits,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on `{listen}`"))
        .hint("pick another address or port (`--listen 127.0.0.1:0` picks a free port)")?;
    let addr = listener.local_addr()?;
    if state.faults.any() {
        tracing::info!("fault injection is on");
    }
    let app = routes::router(Arc::clone(&state));
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on http://{addr}")?;
        out.flush()?;
    }
    conn::serve(listener, app, limits, shutdown()).await;
    Ok(())
}

/// Resolves on SIGINT or SIGTERM.
pub(crate) async fn shutdown() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
