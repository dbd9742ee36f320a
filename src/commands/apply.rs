//! `registrar apply`: make the plan (or load a saved one and re-check it), ask for approval,
//! execute it with the secrets store as the sink for minted keys, and report.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;

use super::plan::{Planned, load_config, make_plan, owned, print_plan};
use super::target::{self, open_secrets};
use crate::apply::{self, Outcome};
use crate::backend::{AnyBackend, Backend};
use crate::cli::{ApplyArgs, PlanFormat, PlanOptions};
use crate::error::{EXIT_ERROR, HintExt, hinted};
use crate::escape::Escaped;
use crate::model::{Address, ReadScope};
use crate::plan::matching::KeyMatch;
use crate::plan::planfile::SavedPlan;
use crate::plan::{Action, Plan};
use crate::secrets::store::{SecretStore, StoredCredential};
use crate::target::Target;

/// Asks for approval on the terminal. The question goes to stderr, so that `apply | tee log`
/// still asks (stdin is what must be a terminal, not stdout).
fn confirm(plan: &Plan) -> anyhow::Result<bool> {
    let c = plan.counts();
    let mints = match c.mints {
        0 => String::new(),
        1 => ", minting 1 credential".to_string(),
        n => format!(", minting {n} credentials"),
    };
    eprint!(
        "\nApply {} change(s) to {}{mints}{}? Only `yes` is accepted: ",
        plan.changes.len(),
        crate::escape::Escaped(&plan.backend),
        crate::plan::render::live_clause(c)
    );
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Loads a saved plan and checks it still holds against the platform.
async fn load_saved(
    saved: SavedPlan,
    store: &SecretStore,
    b: &AnyBackend,
) -> anyhow::Result<Planned> {
    let actual = b
        .read(ReadScope::ALL)
        .await
        .map_err(anyhow::Error::new)
        .with_context(|| format!("failed to read {}", b.describe()))?;
    let stored = store.entries();
    let keys = KeyMatch::new(&actual, &stored, &saved.credentials);
    let stale = saved.stale(&actual, &keys);
    if !stale.is_empty() {
        return Err(hinted(
            format!(
                "the saved plan is stale; refusing to apply it:\n  {}",
                stale.join("\n  ")
            ),
            "make a new plan with `registrar plan --out FILE` and review it",
        ));
    }
    let keys = owned(keys.addresses());
    Ok(Planned {
        plan: saved.plan,
        target: saved.target,
        credentials: saved.credentials,
        keys,
    })
}

/// Runs `registrar apply`.
pub fn cmd_apply(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let rate = args
        .rate_limit
        .as_deref()
        .map(crate::units::parse_rate)
        .transpose()
        .map_err(|why| {
            hinted(
                why,
                "write a number of requests per second or minute, e.g. `100/s` or `4800/min`",
            )
        })?;
    let lock_timeout = super::lock::parse_timeout(&args.lock_timeout)?;
    let rt = super::runtime()?;
    let (source, secrets, backend, owner) = match &args.plan_file {
        Some(path) => {
            refuse_plan_flags(&args.options)?;
            let mut saved = SavedPlan::load(path)?;
            check_flags_match(&args.options, &saved.target)?;
            saved.target = resolve_saved(saved.target, &args.options)?;
            saved.target.platform.timeout = target::request_timeout(&args.options.backend)?;
            let secrets = saved.target.secrets.clone();
            let b = AnyBackend::for_platform(&saved.target.platform, rate)?;
            let owner = saved.plan.owner.clone();
            (Source::Saved(Box::new(saved)), secrets, b, owner)
        }
        None => {
            let desired = load_config(&args.options, &rt)?;
            let target = target::resolve(&args.options, &desired)?;
            if target.platform.backend == crate::target::BackendKind::Apaleo {
                drop(rt);
                return super::apaleo::cmd_apply(args, &desired, target);
            }
            super::apaleo::refuse_clients_elsewhere(&desired, &target)?;
            let secrets = target.secrets.clone();
            let backend = AnyBackend::for_platform(&target.platform, rate)?;
            let owner = desired.settings().owner;
            // The plan needs the normalized state only: the config goes now.
            let state = desired.state();
            drop(desired);
            (
                Source::Fresh(Box::new((state, target))),
                secrets,
                backend,
                owner,
            )
        }
    };
    // The lock is taken before the platform is read, so that the plan applied is made from
    // what the previous holder left; it is held until the summary is written.
    let lock = if args.lock {
        Some(rt.block_on(super::lock::take(&backend, &owner, lock_timeout))?)
    } else {
        eprintln!(
            "warning: locking is off (`--lock=false`): another apply to this target may run at the same time and mint the same credentials again"
        );
        None
    };
    let backend = Arc::new(backend);
    let hold_store = args.lock.then_some(lock_timeout);
    // Read after the lock: what a previous holder stored is in the index.
    let check_lock = lock.as_ref().and_then(crate::backend::Lock::check_soon);
    let result = open_secrets(&secrets, false).and_then(|store| {
        let held = Held {
            store: hold_store,
            check_lock,
        };
        run_locked(args, &rt, source, store, backend.clone(), held)
    });
    if let Some(lock) = lock {
        rt.block_on(super::lock::give_back(&backend, lock));
    }
    result
}

/// Where the plan comes from.
enum Source {
    /// A saved plan (re-checked against the platform).
    Saved(Box<SavedPlan>),
    /// The config, planned now.
    Fresh(Box<(crate::model::DesiredState, Target)>),
}

/// What apply holds while it runs.
struct Held {
    /// How long to wait for the secrets store's lock (`None`: locking is off).
    store: Option<std::time::Duration>,
    /// Asks the run lock to check it is still held, once the last change has started.
    check_lock: Option<Arc<tokio::sync::Notify>>,
}

/// The part of apply that runs under the lock: plan (or re-check), approve, execute.
fn run_locked(
    args: &ApplyArgs,
    rt: &tokio::runtime::Runtime,
    source: Source,
    store: SecretStore,
    backend: Arc<AnyBackend>,
    held: Held,
) -> anyhow::Result<ExitCode> {
    let json = args.options.format == PlanFormat::Json;
    let planned = match source {
        Source::Saved(saved) => {
            let planned = rt.block_on(load_saved(*saved, &store, &backend))?;
            refuse_throwaway_identity(&planned, &store, args.allow_local_identity)?;
            planned
        }
        Source::Fresh(fresh) => {
            let (state, target) = *fresh;
            let planned =
                rt.block_on(make_plan(&*backend, &args.options, state, target, &store))?;
            if json {
                // stdout is for the one JSON document: the plan goes to stderr, for people.
                eprint!("{}", crate::plan::render::text(&planned.plan, false));
            } else {
                print_plan(&planned.plan, args.options.format);
            }
            refuse_throwaway_identity(&planned, &store, args.allow_local_identity)?;
            if planned.plan.has_changes() && !args.auto_approve {
                if !crate::output::can_ask() {
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
            planned
        }
    };
    // Approved: now the store is claimed for this target (and moved there from the shared
    // layout) before anything is written, and held from here to the summary.
    drop(store);
    release_freed_memory();
    let store = open_secrets(&planned.target.secrets, true)?;
    if let Some(timeout) = held.store {
        super::lock::hold_store(&store, timeout)?;
    }
    rt.block_on(execute(
        planned,
        store,
        backend,
        args.parallelism.into(),
        json,
        held.check_lock,
    ))
}

/// Hands the memory freed since the start (the config, the read, the diff's scratch space)
/// back to the OS before the long part of apply. glibc keeps what its main heap freed mapped,
/// and the executor's threads allocate from arenas of their own, so without this a large
/// apply's peak RSS is the plan's peak plus the run's growth. At 50,000 apps it returns
/// about 80 MiB.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: `malloc_trim` only releases free pages of glibc's own heaps; it touches no
    // memory in use and is safe to call from any thread at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// In CI with no recipients configured, a key would be encrypted to an identity generated on
/// the runner, which nobody can use once the runner is gone: refuse before changing anything.
fn refuse_throwaway_identity(
    planned: &Planned,
    store: &SecretStore,
    allowed: bool,
) -> anyhow::Result<()> {
    let at = &planned.target.secrets;
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    // The local registry is itself a file on the runner, beside the identity: nothing is
    // lost that the platform keeps.
    let local = planned.target.platform.backend == crate::target::BackendKind::Local;
    if allowed || !in_ci || local || !at.recipients.is_empty() || at.local_identity.exists() {
        return Ok(());
    }
    let stores = planned.plan.changes.iter().any(|c| c.mints)
        || !store
            .unstored(planned.keys.iter().map(|(a, k)| (a, k)))
            .is_empty();
    if !stores {
        return Ok(());
    }
    Err(hinted(
        "this apply would store keys, and the config names no `secrets.recipients`: in CI they \
         would be encrypted to an identity generated on the runner, which nobody could use afterwards",
        "add the public keys of the people or systems that must decrypt them to `secrets.recipients` \
         (`age1…` or `ssh-ed25519 …`), or pass `--allow-local-identity` to accept a throwaway identity",
    ))
}

/// A saved plan's paths are relative to the config it was made from: resolve them against
/// the config here (`-f`, default `registry.yaml`; the current directory without one), and
/// refuse if that config would use another registry or secrets store than the plan.
fn resolve_saved(saved: Target, opts: &PlanOptions) -> anyhow::Result<Target> {
    let files = &opts.config.files;
    if !files.iter().all(|f| f.exists()) {
        return Ok(saved.resolved(std::path::Path::new("")));
    }
    let (desired, _) = crate::config::load_and_check(
        files,
        &crate::config::yaml::ProcessEnv,
        &crate::config::validate::Known::default(),
    );
    let saved = saved.resolved(&desired.base_dir());
    let Ok(here) = target::resolve(opts, &desired) else {
        return Ok(saved);
    };
    let differences = saved.path_differences(&here);
    if differences.is_empty() {
        return Ok(saved);
    }
    let list: Vec<String> = differences
        .iter()
        .map(|(what, plan, config)| {
            format!(
                "{what}: the plan's `{}`, the config's `{}`",
                plan.display(),
                config.display()
            )
        })
        .collect();
    Err(hinted(
        format!(
            "the saved plan was made for another registry or secrets store than this config uses:\n  {}",
            list.join("\n  ")
        ),
        "apply it beside the config it was made from (`-f`), or make a new plan here",
    ))
}

/// Flags that shape a plan mean nothing with a saved one: refused, not ignored.
fn refuse_plan_flags(opts: &PlanOptions) -> anyhow::Result<()> {
    super::refuse_flags(
        &[
            (!opts.select.is_empty(), "--select"),
            (opts.prune, "--prune"),
            (opts.max_deletes.is_some(), "--max-deletes"),
        ],
        ("shapes", "shape"),
        "a plan, and a saved plan is applied as it was made",
        "pass them to `registrar plan --out FILE` instead, or apply without a plan file",
    )
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
    let p = &t.platform;
    differs(
        "backend",
        opts.backend.backend.map(|b| b.as_str().to_string()),
        Some(p.backend.as_str().to_string()),
    )?;
    differs("org", opts.backend.org.clone(), Some(p.org.clone()))?;
    differs("url", opts.backend.url.clone(), p.url.clone())
}

/// The key stamps to record: of each credential the plan stamps, once a key stands for it
/// (minted now, or read before) and every change of it is done.
fn applied_stamps(
    plan: &Plan,
    report: &apply::Report,
    read: &HashMap<Address, String>,
) -> Vec<(String, String)> {
    let minted: HashMap<&Address, &String> =
        report.minted_keys.iter().map(|(a, f)| (a, f)).collect();
    // Per address: whether any change of it ran, and whether every one is done. One pass,
    // not a scan of the outcomes per stamp (quadratic at 50,000 keys).
    let mut ran: HashMap<&Address, bool> = HashMap::new();
    for (a, _, o) in &report.outcomes {
        let done = ran.entry(a).or_insert(true);
        *done &= *o == Outcome::Done;
    }
    plan.key_stamps
        .iter()
        .filter_map(|s| {
            let all_done = ran.get(&s.address).copied();
            let touched = all_done.is_some() || minted.contains_key(&s.address);
            let fp = minted
                .get(&s.address)
                .map(|f| (*f).clone())
                .or_else(|| read.get(&s.address).cloned())?;
            (touched && all_done.unwrap_or(true)).then(|| (fp, s.stamp.clone()))
        })
        .collect()
}

/// Exit code of an interrupted apply: 128 + SIGINT, as shells report Ctrl-C.
pub const EXIT_INTERRUPTED: u8 = 130;

/// How long the changes in flight may take to finish after the first SIGINT/SIGTERM.
const DRAIN: std::time::Duration = std::time::Duration::from_secs(30);

/// Not-attempted changes listed one by one before the rest are counted.
const LIST_NOT_ATTEMPTED: usize = 20;

/// SIGINT and SIGTERM (Ctrl-C elsewhere).
struct Signals {
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    /// Catches the signals from now on (instead of dying at once).
    fn catch() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Signals {
                int: signal(SignalKind::interrupt())?,
                term: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Signals {})
    }

    /// The next signal's name.
    async fn recv(&mut self) -> &'static str {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = self.int.recv() => "SIGINT",
                _ = self.term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    }
}

/// On the first signal: stop scheduling and let the changes in flight finish (at most
/// [`DRAIN`]); on a second signal, or when they do not finish in time: exit at once. Every
/// key stored by then is in the journal, which the next run folds into the index.
async fn watch_signals(
    mut signals: Signals,
    interrupt: apply::Interrupt,
    drained: Arc<tokio::sync::Notify>,
) {
    let first = signals.recv().await;
    interrupt.interrupt();
    eprintln!(
        "\n{first}: stopping. No new change starts; waiting for the {} in flight (at most {} s) and storing their secrets. Interrupt again to exit at once.",
        interrupt.in_flight(),
        DRAIN.as_secs()
    );
    tokio::select! {
        again = signals.recv() => forced(&format!("{again} again: exiting at once")),
        () = tokio::time::sleep(DRAIN) => forced(&format!(
            "{} change(s) still in flight after {} s: exiting without them",
            interrupt.in_flight(),
            DRAIN.as_secs()
        )),
        () = drained.notified() => {}
    }
    let again = signals.recv().await;
    forced(&format!("{again} again: exiting at once"));
}

/// Exits now, with [`EXIT_INTERRUPTED`].
fn forced(why: &str) {
    eprintln!("{why}.");
    eprintln!(
        "hint: every secret stored so far is safe (`index.journal` indexes it); run `registrar plan` to see what is left, then apply again"
    );
    std::process::exit(EXIT_INTERRUPTED.into());
}

/// Runs the changes and reports: the summary on stdout, or with `json` the one JSON document
/// on stdout and the summary on stderr.
async fn execute(
    planned: Planned,
    store: SecretStore,
    backend: Arc<AnyBackend>,
    parallelism: usize,
    json: bool,
    check_lock: Option<Arc<tokio::sync::Notify>>,
) -> anyhow::Result<ExitCode> {
    // From here on, SIGINT/SIGTERM stop the apply gracefully instead of killing it.
    let interrupt = apply::Interrupt::default();
    let drained = Arc::new(tokio::sync::Notify::new());
    let watcher = Signals::catch()
        .map(|signals| tokio::spawn(watch_signals(signals, interrupt.clone(), drained.clone())))
        .map_err(|e| tracing::warn!("cannot catch SIGINT/SIGTERM: {e}"))
        .ok();
    let reconciled = store
        .begin_batch()
        .context("failed to open the secrets store for writing")?;
    if !reconciled.unindexed.is_empty() {
        tracing::warn!(
            "{} key file(s) in `{}` are in no index (left by an older registrar?): `registrar secrets list` names them",
            reconciled.unindexed.len(),
            store.dir().display()
        );
    }
    // First, secrets the store lacks (an earlier apply that could not store, keys made elsewhere).
    let unstored = store.unstored(planned.keys.iter().map(|(a, k)| (a, k)));
    let recovered = unstored.len();
    for (credential, key) in unstored {
        let address = Address::credential(&key.developer, &key.app, &credential);
        store
            .store(&key.developer, &key.app, &credential, &StoredCredential::of(key))
            .with_context(|| format!("failed to store the secret of {address}"))
            .hint("fix the secrets directory (permissions, disk), then run apply again; nothing on the platform was changed")?;
    }
    let keys: HashMap<_, _> = planned.keys.into_iter().collect();
    let planned_plan = planned.plan;
    // The keys the plan's key stamps are for, as read (a minted one replaces its entry).
    let read_fps: HashMap<Address, String> = planned_plan
        .key_stamps
        .iter()
        .filter_map(|s| {
            keys.get(&s.address)
                .map(|k| (s.address.clone(), k.consumer_key.fingerprint()))
        })
        .collect();
    let store = Arc::new(store);
    let opts = apply::Options {
        parallelism,
        progress_bar: crate::output::interactive(),
        interrupt: interrupt.clone(),
        last_started: check_lock,
    };
    let report = apply::execute(backend, &planned_plan, keys, store.clone(), &opts).await;
    drained.notify_one();
    store
        .end_batch()
        .context("failed to write the secrets index")
        .hint("the key files are written and journaled; the next apply indexes them")?;
    // Tidy the secrets store after deletes that succeeded.
    let deleted: Vec<Address> = report
        .outcomes
        .iter()
        .filter(|(_, action, outcome)| *outcome == Outcome::Done && *action == Action::Delete)
        .map(|(address, _, _)| address.clone())
        .collect();
    store.forget(&deleted)?;
    let stamps = applied_stamps(&planned_plan, &report, &read_fps);
    if let Err(e) = store.record_applied(stamps) {
        tracing::warn!(
            "cannot record what was applied to the keys ({e}): their drift classifies as config"
        );
    }
    let (done, failed, skipped) = report.counts();
    let mut not_attempted = 0;
    for (address, action, outcome) in &report.outcomes {
        match outcome {
            // Addresses and the platform's messages are values from outside: escaped.
            Outcome::Failed(e) => eprintln!(
                "failed: {} {}: {}",
                action.as_str(),
                Escaped(address),
                Escaped(e)
            ),
            Outcome::Skipped(e) if e == apply::NOT_ATTEMPTED => {
                not_attempted += 1;
                if not_attempted <= LIST_NOT_ATTEMPTED {
                    eprintln!("not attempted: {} {}", action.as_str(), Escaped(address));
                }
            }
            Outcome::Skipped(e) => eprintln!(
                "skipped: {} {}: {}",
                action.as_str(),
                Escaped(address),
                Escaped(e)
            ),
            Outcome::Done => {}
        }
    }
    if not_attempted > LIST_NOT_ATTEMPTED {
        eprintln!(
            "not attempted: … and {} more",
            not_attempted - LIST_NOT_ATTEMPTED
        );
    }
    if json {
        print!(
            "{}",
            super::apply_json::render(&planned_plan, &report, report.minted + recovered)
        );
    }
    let say = |line: String| {
        if json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let requests = report.requests();
    let retried = match (requests.retries, requests.rate_limited) {
        (0, 0) => String::new(),
        (r, 0) => format!(" {r} request(s) retried."),
        (r, l) => format!(" {r} request(s) retried, {l} rate-limited (429)."),
    };
    let secrets = if report.minted + recovered > 0 {
        format!(
            "; {} key(s) stored encrypted in `{}`",
            report.minted + recovered,
            store.dir().display()
        )
    } else {
        String::new()
    };
    if report.interrupted {
        say(format!(
            "Apply interrupted: {done} done, {failed} failed, {} skipped, {not_attempted} not attempted in {:.1}s{secrets}.{retried}",
            skipped - not_attempted,
            report.elapsed.as_secs_f64()
        ));
        eprintln!(
            "hint: run `registrar plan` to see what is left (it lists every secret still to store), then apply again"
        );
        if let Some(w) = watcher {
            w.abort();
        }
        return Ok(ExitCode::from(EXIT_INTERRUPTED));
    }
    if let Some(w) = watcher {
        w.abort();
    }
    say(format!(
        "Apply {}: {done} done, {failed} failed, {skipped} skipped in {:.1}s{secrets}.{retried}",
        if report.success() {
            "complete"
        } else {
            "incomplete"
        },
        report.elapsed.as_secs_f64()
    ));
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
