//! `registrar plan` and `registrar apply`: load the config, pick the backend, read actual
//! state, diff, render, and (apply) execute with the secrets store as the sink for minted keys.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use crate::apply::{self, Outcome, SecretSink};
use crate::backend::{self, Actual, Backend, ReadScope};
use crate::cli::{ApplyArgs, BackendKind, PlanArgs, PlanFormat, PlanOptions};
use crate::config::{self, Desired, validate::Known};
use crate::error::{EXIT_CHANGES, EXIT_ERROR, HintExt, hinted};
use crate::model::{DEFAULT_CREDENTIAL_ID, Key};
use crate::plan::diff::{self, RotationRequest, StoredKey};
use crate::plan::planfile::{SavedPlan, Target};
use crate::plan::{Action, Address, Kind, Plan, render};
use crate::secrets::store::{SecretStore, StoredCredential};

/// The org of the local backend when none is given.
pub const LOCAL_ORG: &str = "local";

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// Decides the target from flags (which win) and the config's `backend:`.
fn target(opts: &PlanOptions, desired: &Desired) -> anyhow::Result<Target> {
    let cfg = desired.backend.as_ref().map(|b| &b.value);
    let kind = opts.backend.backend.unwrap_or(match cfg.map(|c| c.kind) {
        Some(config::model::BackendKindConfig::Apigee) => BackendKind::Apigee,
        Some(config::model::BackendKindConfig::ApigeeEdge) => BackendKind::ApigeeEdge,
        _ => BackendKind::Local,
    });
    let org = opts
        .backend
        .org
        .clone()
        .or_else(|| cfg.and_then(|c| c.org.clone()));
    let url = opts
        .backend
        .url
        .clone()
        .or_else(|| cfg.and_then(|c| c.url.clone()));
    let org = match (kind, org) {
        (_, Some(o)) => o,
        (BackendKind::Local, None) => LOCAL_ORG.to_string(),
        (_, None) => {
            return Err(hinted(
                "no Apigee organization given",
                "pass `--org NAME`, or set `backend.org` in the config",
            ));
        }
    };
    Ok(Target {
        backend: kind,
        url,
        org,
        db: (kind == BackendKind::Local).then(|| {
            opts.backend
                .db
                .clone()
                .unwrap_or_else(|| desired.registrar_dir().join("registry.db"))
        }),
        local_identity: desired.registrar_dir().join("identity.txt"),
        secrets_dir: desired.secrets_dir(),
        recipients: desired
            .secrets
            .as_ref()
            .map(|s| s.value.recipients.clone())
            .unwrap_or_default(),
    })
}

/// The secrets store's view for the diff.
fn stored_view(store: &SecretStore) -> (Vec<StoredKey>, Vec<RotationRequest>) {
    let stored = store
        .entries()
        .into_iter()
        .map(|e| StoredKey {
            developer: e.developer,
            app: e.app,
            id: e.id,
            consumer_key_fingerprint: e.consumer_key_fingerprint,
            revoke_after: e.revoke_after,
        })
        .collect();
    let rotations = store
        .rotations()
        .into_iter()
        .filter_map(|r| {
            let overlap = r.overlap_ms().ok()?;
            Some(RotationRequest {
                developer: r.developer,
                app: r.app,
                id: r.id,
                requested_at: r.requested_at,
                overlap_ms: overlap.max(0) as u64,
            })
        })
        .collect();
    (stored, rotations)
}

fn open_secrets(target: &Target) -> anyhow::Result<SecretStore> {
    Ok(SecretStore::open(&target.secrets_dir, &target.recipients)?
        .with_local_identity(&target.local_identity))
}

/// Keys the platform holds for declared credentials whose secret the store lacks: not stored
/// at all, or stored with another secret (changed out of band).
fn unstored<'a>(addresses: &[(Address, &'a Key)], store: &SecretStore) -> Vec<(Address, &'a Key)> {
    let stored: HashMap<String, String> = store
        .entries()
        .into_iter()
        .map(|e| (e.consumer_key_fingerprint, e.consumer_secret_fingerprint))
        .collect();
    addresses
        .iter()
        .filter(|(a, k)| {
            !a.path.contains("sha256:")
                && stored.get(&k.consumer_key.fingerprint())
                    != Some(&k.consumer_secret.fingerprint())
        })
        .map(|(a, k)| (a.clone(), *k))
        .collect()
}

fn credential_of(address: &Address) -> &str {
    address
        .path
        .rsplit('/')
        .next()
        .unwrap_or(DEFAULT_CREDENTIAL_ID)
}

/// What to read: what the config declares (and, with `--prune`, what it might delete), and of
/// that only the kinds `--select` can match.
fn read_scope(state: &crate::model::DesiredState, opts: &PlanOptions) -> ReadScope {
    let mut scope = ReadScope {
        developers: true,
        products: !state.products.is_empty() || opts.prune,
        apps: !state.apps.is_empty() || opts.prune,
    };
    if !opts.select.is_empty() {
        // A select without a kind (`alice@example.com`) can match any kind.
        let wants = |kind: &str| {
            opts.select.iter().any(|s| {
                s.starts_with(kind)
                    || !["developer ", "product ", "app ", "key "]
                        .iter()
                        .any(|k| s.starts_with(k))
            })
        };
        scope.products &= wants("product ");
        scope.apps &= wants("app ") || wants("key ");
        scope.developers = wants("developer ") || scope.apps;
    }
    scope
}

/// Notes where the secrets store and the platform disagree (from fingerprints only).
fn drift_notes(actual: &Actual, store: &SecretStore) -> Vec<crate::plan::Note> {
    use crate::secrets::drift::{RemoteKey, drift};
    let mut by_app: std::collections::BTreeMap<(String, String), (Vec<_>, Vec<RemoteKey>)> =
        std::collections::BTreeMap::new();
    for e in store.entries() {
        by_app
            .entry((e.developer.clone(), e.app.clone()))
            .or_default()
            .0
            .push(e);
    }
    for k in &actual.keys {
        if let Some(slot) = by_app.get_mut(&(k.developer.clone(), k.app.clone())) {
            slot.1.push(RemoteKey::from_key(k));
        }
    }
    let mut notes = Vec::new();
    for ((dev, app), (entries, remote)) in by_app {
        let d = drift(&entries, &remote);
        for e in d.missing_remotely {
            notes.push(crate::plan::Note {
                address: Address::key(&dev, &app, &e.id),
                message: format!(
                    "the stored key {} no longer exists on the platform (deleted out of band?)",
                    e.consumer_key_fingerprint
                ),
            });
        }
        for (e, r) in d.secret_mismatch {
            notes.push(crate::plan::Note {
                address: Address::key(&dev, &app, &e.id),
                message: format!("the secret of key {} changed on the platform ({} stored, {} now): apply stores the new one", e.consumer_key_fingerprint, e.consumer_secret_fingerprint, r.consumer_secret_fingerprint),
            });
        }
    }
    notes
}

/// Adds advice to a failed read: an unreachable URL, an unknown organization.
fn with_read_hint(err: anyhow::Error, target: &Target) -> anyhow::Error {
    let hint = match err.downcast_ref::<backend::BackendError>() {
        Some(backend::BackendError::Transient { message, .. }) if message.contains("connect") => {
            Some(match &target.url {
                Some(url) => format!(
                    "is the management API reachable at `{url}`? Check `--url` (a local sandbox: `registrar serve`)"
                ),
                None => "is the management API reachable? Check the network, or pass `--url`"
                    .to_string(),
            })
        }
        Some(backend::BackendError::NotFound(_)) => Some(format!(
            "check the organization `{}` (`--org`, or `backend.org` in the config)",
            target.org
        )),
        _ => None,
    };
    match hint {
        Some(h) => {
            let message = err.to_string();
            err.context(crate::error::Hinted::new(message, h))
        }
        None => err,
    }
}

/// Everything a plan was made from.
struct Planned {
    plan: Plan,
    target: Target,
    credentials: Vec<(String, String, String)>,
    actual: Actual,
    stored: Vec<StoredKey>,
}

async fn make_plan<B: Backend>(
    backend: &B,
    opts: &PlanOptions,
    desired: &Desired,
    target: Target,
    store: &SecretStore,
) -> anyhow::Result<Planned> {
    let state = desired.state();
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
    let (stored, rotations) = stored_view(store);
    let options = diff::Options {
        prune: opts.prune,
        max_deletes: opts.max_deletes,
        select: opts.select.clone(),
        now_ms: now_ms(),
    };
    let describe = backend.describe();
    let mut plan = diff::diff(diff::Input {
        desired: &state,
        actual: &actual,
        stored: &stored,
        rotations: &rotations,
        backend: &describe,
        options: &options,
    })?;
    let credentials: Vec<(String, String, String)> = state
        .keys
        .iter()
        .map(|k| (k.developer.clone(), k.app.clone(), k.id.clone()))
        .collect();
    let creds: Vec<(&str, &str, &str)> = credentials
        .iter()
        .map(|(d, a, i)| (d.as_str(), a.as_str(), i.as_str()))
        .collect();
    let addresses = diff::key_addresses(&actual, &stored, &creds);
    if scope.apps {
        plan.notes.extend(drift_notes(&actual, store));
    }
    for (address, _) in unstored(&addresses, store) {
        plan.notes.push(crate::plan::Note {
            address,
            message: "its secret is not in the secrets store: apply stores it".into(),
        });
    }
    Ok(Planned {
        plan,
        target,
        credentials,
        actual,
        stored,
    })
}

/// Loads the config. References to developers and products it does not declare are checked
/// against the platform: an app may belong to a developer that only exists there.
fn load_config(opts: &PlanOptions, rt: &tokio::runtime::Runtime) -> anyhow::Result<Desired> {
    let files = &opts.config.files;
    let (desired, diags) =
        config::load_and_check(files, &config::yaml::ProcessEnv, &Known::default());
    if diags.is_empty() {
        return Ok(desired);
    }
    if !diags
        .iter()
        .all(|d| matches!(d.code, "reference" | "scope"))
    {
        return config::load_valid(files, &Known::default());
    }
    let target = target(opts, &desired)?;
    let backend = backend::AnyBackend::for_target(&target, None)?;
    let actual = rt
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
    config::load_valid(files, &known)
}

fn render(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => render::text(plan, crate::output::color()),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => render::markdown(plan),
    }
}

/// Runs `registrar plan`.
pub fn cmd_plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let rt = runtime()?;
    let desired = load_config(&args.options, &rt)?;
    let target = target(&args.options, &desired)?;
    let store = open_secrets(&target)?;
    let backend = backend::AnyBackend::for_target(&target, None)?;
    let planned = rt.block_on(make_plan(&backend, &args.options, &desired, target, &store))?;
    print!("{}", render(&planned.plan, args.options.format));
    if let Some(out) = &args.out {
        SavedPlan {
            kind: crate::plan::planfile::PLAN_KIND.into(),
            target: planned.target.clone().absolute(),
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
    Ok(if args.detailed_exitcode && planned.plan.has_changes() {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// The secrets store as apply's sink: stores minted keys, completing rotations.
struct Sink {
    store: SecretStore,
}

impl SecretSink for Sink {
    fn store(&self, credential: &str, key: &Key) -> anyhow::Result<()> {
        let cred = StoredCredential {
            consumer_key: key.consumer_key.clone(),
            consumer_secret: key.consumer_secret.clone(),
            issued_at: key.issued_at,
            expires_at: key.expires_at,
        };
        if self
            .store
            .rotations()
            .iter()
            .any(|r| r.developer == key.developer && r.app == key.app && r.id == credential)
        {
            self.store
                .complete_rotation(&key.developer, &key.app, credential, &cred, now_ms())?;
        } else {
            self.store
                .store(&key.developer, &key.app, credential, &cred)?;
        }
        Ok(())
    }
}

/// Parses `100/s`, `4800/min` into requests per second.
pub fn parse_rate(s: &str) -> anyhow::Result<f64> {
    let bad = || {
        hinted(
            format!("invalid rate `{s}`"),
            "write a number of requests per second or minute, e.g. `100/s` or `4800/min`",
        )
    };
    let (n, unit) = s.split_once('/').ok_or_else(bad)?;
    let n: f64 = n.trim().parse().map_err(|_| bad())?;
    let per = match unit.trim() {
        "s" | "sec" | "second" => 1.0,
        "m" | "min" | "minute" => 60.0,
        _ => return Err(bad()),
    };
    if n <= 0.0 || !n.is_finite() {
        return Err(bad());
    }
    Ok(n / per)
}

fn confirm(plan: &Plan) -> anyhow::Result<bool> {
    print!(
        "\nApply {} change(s) to {}? Only `yes` is accepted: ",
        plan.changes.len(),
        plan.backend
    );
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Runs `registrar apply`.
pub fn cmd_apply(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let rate = args.rate_limit.as_deref().map(parse_rate).transpose()?;
    let rt = runtime()?;
    let (planned, store, backend, from_file) = match &args.plan_file {
        Some(path) => {
            let saved = SavedPlan::load(path)?;
            check_flags_match(&args.options, &saved.target)?;
            let store = open_secrets(&saved.target)?;
            let target = saved.target.clone();
            let b = backend::AnyBackend::for_target(&target, rate)?;
            let planned = rt.block_on(async {
                let actual = b
                    .read(ReadScope::ALL)
                    .await
                    .map_err(anyhow::Error::new)
                    .with_context(|| format!("failed to read {}", b.describe()))?;
                let (stored, _) = stored_view(&store);
                let stale = saved.stale(&actual, &stored);
                if !stale.is_empty() {
                    return Err(hinted(
                        format!(
                            "the saved plan is stale; refusing to apply it:\n  {}",
                            stale.join("\n  ")
                        ),
                        "make a new plan with `registrar plan --out FILE` and review it",
                    ));
                }
                Ok(Planned {
                    plan: saved.plan,
                    target: saved.target,
                    credentials: saved.credentials,
                    actual,
                    stored,
                })
            })?;
            (planned, store, b, true)
        }
        None => {
            let desired = load_config(&args.options, &rt)?;
            let target = target(&args.options, &desired)?;
            let store = open_secrets(&target)?;
            let backend = backend::AnyBackend::for_target(&target, rate)?;
            let planned =
                rt.block_on(make_plan(&backend, &args.options, &desired, target, &store))?;
            (planned, store, backend, false)
        }
    };
    if !from_file {
        print!("{}", render(&planned.plan, args.options.format));
        if planned.plan.has_changes() && !args.auto_approve {
            if !crate::output::interactive() {
                return Err(hinted(
                    "apply needs approval, and this is not an interactive terminal",
                    "pass `--auto-approve`, or apply a reviewed plan with `registrar apply FILE`",
                ));
            }
            if !confirm(&planned.plan)? {
                eprintln!("Apply cancelled: nothing was changed.");
                return Ok(ExitCode::from(EXIT_ERROR));
            }
        }
    }
    rt.block_on(execute(
        &planned,
        store,
        Arc::new(backend),
        args.parallelism.into(),
    ))
}

fn check_flags_match(opts: &PlanOptions, t: &Target) -> anyhow::Result<()> {
    let differs = |flag: &str,
                   given: Option<String>,
                   saved: Option<String>|
     -> anyhow::Result<()> {
        if given.is_some() && given != saved {
            return Err(hinted(
                format!(
                    "`--{flag} {}` differs from the saved plan's target ({})",
                    given.unwrap_or_default(),
                    saved.unwrap_or_else(|| "unset".into())
                ),
                "a saved plan applies to the target it was made for: drop the flag, or make a new plan",
            ));
        }
        Ok(())
    };
    differs(
        "backend",
        opts.backend.backend.map(|b| format!("{b:?}")),
        Some(format!("{:?}", t.backend)),
    )?;
    differs("org", opts.backend.org.clone(), Some(t.org.clone()))?;
    differs("url", opts.backend.url.clone(), t.url.clone())
}

async fn execute(
    planned: &Planned,
    store: SecretStore,
    backend: Arc<backend::AnyBackend>,
    parallelism: usize,
) -> anyhow::Result<ExitCode> {
    let creds: Vec<(&str, &str, &str)> = planned
        .credentials
        .iter()
        .map(|(d, a, i)| (d.as_str(), a.as_str(), i.as_str()))
        .collect();
    let addresses = diff::key_addresses(&planned.actual, &planned.stored, &creds);
    store.begin_batch();
    // First, secrets the store lacks (an earlier apply that could not store, keys made elsewhere).
    let mut recovered = 0;
    for (address, key) in unstored(&addresses, &store) {
        let cred = StoredCredential {
            consumer_key: key.consumer_key.clone(),
            consumer_secret: key.consumer_secret.clone(),
            issued_at: key.issued_at,
            expires_at: key.expires_at,
        };
        store
            .store(&key.developer, &key.app, credential_of(&address), &cred)
            .with_context(|| format!("failed to store the secret of {address}"))
            .hint("fix the secrets directory (permissions, disk), then run apply again; nothing on the platform was changed")?;
        recovered += 1;
    }
    let keys: HashMap<Address, crate::model::Secret> = addresses
        .iter()
        .map(|(a, k)| (a.clone(), k.consumer_key.clone()))
        .collect();
    let sink = Arc::new(Sink { store });
    let opts = apply::Options {
        parallelism,
        progress_bar: crate::output::interactive(),
    };
    let report = apply::execute(backend.clone(), &planned.plan, keys, sink.clone(), &opts).await;
    sink.store
        .end_batch()
        .context("failed to write the secrets index")
        .hint("the key files are written; run apply again to index them")?;
    // Tidy the secrets store after deletes that succeeded.
    for (address, action, outcome) in &report.outcomes {
        if *outcome != Outcome::Done || *action != Action::Delete {
            continue;
        }
        let parts: Vec<&str> = address.path.splitn(3, '/').collect();
        let entries = sink.store.entries();
        let gone: Vec<_> = match address.kind {
            Kind::Key => {
                // Deleted keys are addressed by `fingerprint` or `id@fingerprint`.
                let last = parts.get(2).copied().unwrap_or_default();
                let fp = last.rsplit('@').next().unwrap_or_default();
                entries
                    .into_iter()
                    .filter(|e| e.consumer_key_fingerprint == fp)
                    .collect()
            }
            Kind::App => entries
                .into_iter()
                .filter(|e| {
                    e.developer == parts[0] && e.app == parts.get(1).copied().unwrap_or_default()
                })
                .collect(),
            Kind::Developer => entries
                .into_iter()
                .filter(|e| e.developer == address.path)
                .collect(),
            _ => vec![],
        };
        for e in gone {
            if e.revoke_after.is_some() {
                sink.store.remove_retiring(&e)?;
            } else {
                sink.store.remove(&e.developer, &e.app, &e.id)?;
            }
        }
    }
    let (done, failed, skipped) = report.counts();
    for (address, action, outcome) in &report.outcomes {
        match outcome {
            Outcome::Failed(e) => eprintln!("failed: {} {address}: {e}", action.as_str()),
            Outcome::Skipped(e) => eprintln!("skipped: {} {address}: {e}", action.as_str()),
            Outcome::Done => {}
        }
    }
    let secrets = if report.minted + recovered > 0 {
        format!(
            "; {} key(s) stored encrypted in `{}`",
            report.minted + recovered,
            sink.store.dir().display()
        )
    } else {
        String::new()
    };
    println!(
        "Apply {}: {done} done, {failed} failed, {skipped} skipped in {:.1}s{secrets}.",
        if report.success() {
            "complete"
        } else {
            "incomplete"
        },
        report.elapsed.as_secs_f64()
    );
    if let Some(why) = &report.stopped {
        return Err(hinted(
            format!("apply stopped: {why}"),
            "nothing after that change was attempted; run `registrar plan` to see what is left",
        ));
    }
    Ok(if report.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    })
}
