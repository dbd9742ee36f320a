//! `registrar plan`: load the config, resolve the target, read actual state, diff, render,
//! and (`--out`) save the plan. `make_plan` is shared with `apply`.

use std::process::ExitCode;

use anyhow::Context;

use super::target::{self, open_secrets};
use crate::backend::{self, Backend, BackendError};
use crate::cli::{PlanArgs, PlanFormat, PlanOptions};
use crate::config::{self, Desired, validate::Known};
use crate::error::{EXIT_CHANGES, Hinted};
use crate::model::{Actual, Address, DesiredState, Key, Kind, ReadScope};
use crate::plan::matching::{Declared, KeyMatch};
use crate::plan::planfile::{PLAN_KIND, SavedPlan};
use crate::plan::select::Selector;
use crate::plan::{Note, Plan, SecretToStore, diff, render};
use crate::secrets::index::IndexEntry;
use crate::secrets::store::SecretStore;
use crate::target::Target;

/// What to read: what the config declares (and, with `--prune`, what it might delete), and of
/// that only the kinds `--select` can match.
fn read_scope(state: &DesiredState, opts: &PlanOptions) -> ReadScope {
    let mut scope = ReadScope {
        developers: true,
        products: !state.products.is_empty() || opts.prune || opts.read_all,
        apps: !state.apps.is_empty() || opts.prune || opts.read_all,
    };
    if !opts.select.is_empty() {
        // A select without a kind (`alice@example.com`) can match any kind.
        let selectors: Vec<Selector> = opts.select.iter().map(|s| Selector::parse(s)).collect();
        let wants = |kind: Kind| selectors.iter().any(|s| s.may_match(kind));
        scope.products &= wants(Kind::Product);
        scope.apps &= wants(Kind::App) || wants(Kind::Key);
        scope.developers = wants(Kind::Developer) || scope.apps;
    }
    scope
}

/// The advice for requests that timed out every attempt: the server accepted the connection
/// and never answered.
pub(super) fn silent_server_hint(err: &BackendError, place: &str) -> Option<String> {
    let BackendError::Transient { message, .. } = err else {
        return None;
    };
    message.starts_with("timed out").then(|| {
        format!(
            "{place} accepts connections but does not answer: is this the management API (not a proxy, a tunnel or another service on that port)? A slow one needs a longer `--timeout`"
        )
    })
}

/// Adds advice to a failed read: an unreachable URL, an unknown organization, a server that
/// never answers.
pub(super) fn with_read_hint(err: anyhow::Error, target: &Target) -> anyhow::Error {
    let silent = err.downcast_ref::<BackendError>().and_then(|e| {
        let place = match &target.platform.url {
            Some(url) => format!("the server at `{url}`"),
            None => "the management API".to_string(),
        };
        silent_server_hint(e, &place)
    });
    let hint = match err.downcast_ref::<BackendError>() {
        _ if silent.is_some() => silent,
        Some(BackendError::Unreachable { .. }) => Some(match &target.platform.url {
            Some(url) => format!(
                "is the management API reachable at `{url}`? Check `--url` (a local sandbox: `registrar serve`)"
            ),
            None => {
                "is the management API reachable? Check the network, or pass `--url`".to_string()
            }
        }),
        Some(BackendError::NotFound(_)) => Some(format!(
            "check the organization `{}` (`--org`, or `backend.org` in the config)",
            target.platform.org
        )),
        _ => None,
    };
    match hint {
        Some(h) => {
            let message = err.to_string();
            err.context(Hinted::new(message, h))
        }
        None => err,
    }
}

/// Everything a plan was made from, and what apply needs of it.
pub(super) struct Planned {
    /// The plan.
    pub plan: Plan,
    /// Where it applies.
    pub target: Target,
    /// The declared credentials.
    pub credentials: Vec<Declared>,
    /// Every key read, by address: what key operations are handed at apply time.
    pub keys: Vec<(Address, Key)>,
}

/// Reads the platform and makes the plan of `state` (the config's [`Desired::state`]: the
/// callers drop the config itself first, so that it is not held through the read).
pub(super) async fn make_plan<B: Backend>(
    backend: &B,
    opts: &PlanOptions,
    state: DesiredState,
    target: Target,
    store: &SecretStore,
) -> anyhow::Result<Planned> {
    let scope = read_scope(&state, opts);
    let started = std::time::Instant::now();
    let actual = backend
        .read(scope)
        .await
        .map_err(anyhow::Error::new)
        .with_context(|| format!("failed to read {}", backend.describe()))
        .map_err(|e| with_read_hint(e, &target))?;
    tracing::info!(
        "read {} developers, {} products, {} apps, {} keys {} in {} ms",
        actual.developers.len(),
        actual.products.len(),
        actual.apps.len(),
        actual.keys.len(),
        if actual.requests == 0 {
            "in-process".to_string()
        } else {
            format!("with {} HTTP requests", actual.requests)
        },
        started.elapsed().as_millis()
    );
    let stored: Vec<IndexEntry> = store.entries();
    let rotations = store.rotations();
    let credentials = diff::declared(&state);
    let keys = KeyMatch::new(&actual, &stored, &credentials);
    // A copy of the whole index: not needed past the matching.
    drop(stored);
    let options = diff::Options {
        prune: opts.prune,
        max_deletes: opts.max_deletes,
        select: opts.select.clone(),
        now_ms: crate::units::now_ms(),
    };
    let describe = backend.describe();
    let applied_keys = store.applied_keys();
    let mut plan = diff::diff(diff::Input {
        desired: &state,
        actual: &actual,
        keys: &keys,
        rotations: &rotations,
        backend: &describe,
        applied_keys: &applied_keys,
        options: &options,
    })
    .map_err(|e| match e {
        diff::DiffError::SelectsNothing(_) => anyhow::Error::new(Hinted::new(
            e.to_string(),
            "a pattern matches whole addresses (`app alice@example.com/checkout-web`, or a kind \
             alone: `product`); `*` stands for any run of characters (`app */checkout-*`)",
        )),
        other => anyhow::Error::new(other),
    })?;
    let addresses = keys.addresses();
    if scope.apps {
        plan.secrets
            .extend(store.discrepancies(&actual).into_iter().map(|d| Note {
                address: d.address,
                message: d.message,
            }));
    }
    // Keys whose secret the store lacks: apply stores them, so they are changes.
    plan.stores = store
        .unstored(addresses.iter().map(|(a, k)| (a, *k)))
        .into_iter()
        .map(|(id, key)| SecretToStore {
            address: Address::credential(&key.developer, &key.app, &id),
            consumer_key_fingerprint: key.consumer_key.fingerprint(),
        })
        .collect();
    plan.stores.sort_by_cached_key(|s| s.address.to_string());
    Ok(Planned {
        plan,
        target,
        credentials,
        keys: owned(addresses),
    })
}

/// Keys by address, owned.
pub(super) fn owned(addresses: Vec<(Address, &Key)>) -> Vec<(Address, Key)> {
    addresses.into_iter().map(|(a, k)| (a, k.clone())).collect()
}

/// Loads the config. References to developers and products it does not declare are checked
/// against the platform: an app may belong to a developer that only exists there.
pub(super) fn load_config(
    opts: &PlanOptions,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Desired> {
    let files = &opts.config.files;
    config::exists(files)?;
    let (mut desired, diags) =
        config::load_and_check(files, &config::yaml::ProcessEnv, &Known::default());
    let (warnings, diags): (Vec<_>, Vec<_>) = diags.into_iter().partition(|d| d.code.is_warning());
    if diags.is_empty() {
        for w in &warnings {
            eprintln!("{}", w.as_warning());
        }
        // What the target platform cannot hold, at its place in the config.
        let kind = target::resolve(opts, &desired)?.platform.backend;
        let refused = config::validate::check_platform(&desired, kind);
        if !refused.is_empty() {
            return Err(config::invalid(&refused));
        }
        // Valid: nothing after this point reports a position in the config.
        desired.release_positions();
        return Ok(desired);
    }
    if !diags.iter().all(|d| d.code.is_remote_reference()) {
        return Err(config::invalid(&diags));
    }
    let target = target::resolve(opts, &desired)?;
    let backend = backend::AnyBackend::for_reading(&target.platform)?;
    let actual: Actual = rt
        .block_on(backend.read(ReadScope {
            developers: true,
            products: true,
            apps: false,
        }))
        .map_err(anyhow::Error::new)
        .with_context(|| {
            format!(
                "failed to read {} to check the config's references",
                backend.describe()
            )
        })?;
    let known = Known {
        developers: actual
            .developers
            .iter()
            .map(|d| d.value.email.clone())
            .collect(),
        products: actual
            .products
            .iter()
            .map(|p| (p.value.name.clone(), p.value.scopes.clone()))
            .collect(),
    };
    let mut desired = config::load_valid(files, &known)?;
    let refused = config::validate::check_platform(&desired, target.platform.backend);
    if !refused.is_empty() {
        return Err(config::invalid(&refused));
    }
    desired.release_positions();
    Ok(desired)
}

/// A plan in the format asked for.
pub(super) fn render(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => render::text(plan, crate::output::color()),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => render::markdown(plan),
    }
}

/// Prints the plan in the format asked for; text is written as it is made, so a plan of
/// tens of thousands of changes is never one string in memory.
pub(super) fn print_plan(plan: &Plan, format: PlanFormat) {
    struct Out<W: std::io::Write>(W);
    impl<W: std::io::Write> std::fmt::Write for Out<W> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.0.write_all(s.as_bytes()).map_err(|_| std::fmt::Error)
        }
    }
    match format {
        PlanFormat::Text => {
            let mut out = Out(std::io::BufWriter::new(std::io::stdout().lock()));
            render::write_text(&mut out, plan, crate::output::color());
            let _ = std::io::Write::flush(&mut out.0);
        }
        other => print!("{}", render(plan, other)),
    }
}

/// Runs `registrar plan`.
pub fn cmd_plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let rt = super::runtime()?;
    let desired = load_config(&args.options, &rt)?;
    let target = target::resolve(&args.options, &desired)?;
    if target.platform.backend == crate::target::BackendKind::Apaleo {
        return super::apaleo::cmd_plan(args, &desired, target);
    }
    super::apaleo::refuse_clients_elsewhere(&desired, &target)?;
    let store = open_secrets(&target.secrets, false)?;
    let backend = backend::AnyBackend::for_reading(&target.platform)?;
    let base_dir = desired.base_dir();
    let state = desired.state();
    drop(desired);
    let planned = rt.block_on(make_plan(&backend, &args.options, state, target, &store))?;
    print_plan(&planned.plan, args.options.format);
    if let Some(out) = &args.out {
        SavedPlan {
            kind: PLAN_KIND.into(),
            target: planned.target.clone().relative_to(&base_dir),
            credentials: planned.credentials.clone(),
            plan: planned.plan.clone(),
        }
        .save(out)?;
        eprintln!(
            "Saved the plan to `{}`: apply it with `registrar apply {}`",
            out.display(),
            out.display()
        );
    }
    Ok(if args.detailed_exitcode && planned.plan.differs() {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}
