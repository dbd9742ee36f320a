//! Apply: executes a [`Plan`] through a [`Backend`]. Developers and products first, then apps,
//! then keys; deletes in reverse. Within a level, resources run concurrently (at most
//! `parallelism` at once) and each resource's changes run in plan order. A resource whose
//! dependency failed is skipped; other resources go on. Every minted credential is handed to
//! the [`SecretSink`] before the resource's next change runs; if that fails, apply stops.
//! An [`Interrupt`] (the command sets it on SIGINT/SIGTERM) stops it too: no new change
//! starts, the changes in flight finish and store what they minted.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use crate::backend::Backend;
use crate::escape::{Escaped, escape};
use crate::feedback::Counted;
use crate::model::{Address, KIND_LEVELS, Key};
use crate::op::{Op, OpOutcome};
use crate::plan::{Action, Change, Plan};
pub use crate::secrets::SecretSink;

/// How apply runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Resources in flight at once.
    pub parallelism: usize,
    /// Show a progress bar (a terminal) instead of plain lines.
    pub progress_bar: bool,
    /// Set from outside to stop scheduling changes (see [`Interrupt`]).
    pub interrupt: Interrupt,
    /// Notified once the last change has started (its result still to come): the run lock
    /// checks it is still held then, so that releasing it at the end takes one request
    /// (`Lock::check_soon`).
    pub last_started: Option<Arc<tokio::sync::Notify>>,
}

/// A request to stop, shared with whoever watches for signals: once set, no change
/// starts; the ones in flight run to their end, minted keys included.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    set: Arc<AtomicBool>,
    in_flight: Arc<AtomicUsize>,
}

impl Interrupt {
    /// Stops scheduling.
    pub fn interrupt(&self) {
        self.set.store(true, Ordering::SeqCst);
    }

    /// Whether [`Interrupt::interrupt`] was called.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Changes running right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }
}

/// Why a change that was never started is skipped after an interrupt.
pub const NOT_ATTEMPTED: &str = "not attempted: apply was interrupted";

/// What happened to one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Done,
    /// Failed with this message.
    Failed(String),
    /// Not attempted, for this reason.
    Skipped(String),
}

/// What running one change took.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ChangeStats {
    /// Wall time of the change (zero when it was not attempted).
    pub duration: Duration,
    /// Its HTTP requests, retries and 429s (all zero for the local backend).
    pub requests: Counted,
}

/// The result of an apply.
#[derive(Debug, Default)]
pub struct Report {
    /// Each change's outcome, in plan order.
    pub outcomes: Vec<(Address, Action, Outcome)>,
    /// What each change took, in plan order (beside [`Report::outcomes`]).
    pub stats: Vec<ChangeStats>,
    /// Credentials minted and stored.
    pub minted: usize,
    /// The keys minted: each credential's address and its consumer key's fingerprint.
    pub minted_keys: Vec<(Address, String)>,
    /// Wall time.
    pub elapsed: Duration,
    /// Set when apply stopped early because a secret could not be stored.
    pub stopped: Option<String>,
    /// Whether apply stopped early because it was interrupted.
    pub interrupted: bool,
}

impl Report {
    /// Whether every change was done.
    pub fn success(&self) -> bool {
        self.stopped.is_none()
            && !self.interrupted
            && self.outcomes.iter().all(|(_, _, o)| *o == Outcome::Done)
    }

    /// Requests, retries and 429s of every change.
    pub fn requests(&self) -> Counted {
        let mut c = Counted::default();
        for s in &self.stats {
            c.attempts += s.requests.attempts;
            c.retries += s.requests.retries;
            c.rate_limited += s.requests.rate_limited;
        }
        c
    }

    /// Counts of done, failed and skipped changes.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for (_, _, o) in &self.outcomes {
            match o {
                Outcome::Done => c.0 += 1,
                Outcome::Failed(_) => c.1 += 1,
                Outcome::Skipped(_) => c.2 += 1,
            }
        }
        c
    }
}

/// The step a change runs at: creates and updates level by level of [`KIND_LEVELS`],
/// then deletes in reverse.
fn level(c: &Change) -> usize {
    let level = c.address.kind().level();
    if c.action == Action::Delete {
        2 * KIND_LEVELS.len() - 1 - level
    } else {
        level
    }
}

/// Changes of one group run one after another. A key's group is its app: minting two keys
/// of one app at once could let each adopt the other's key from the platform's reply.
fn group(c: &Change) -> Address {
    match &c.address {
        Address::Key { app, .. } => Address::App { app: app.clone() },
        other => other.clone(),
    }
}

/// Addresses whose failure must stop this change (its developer, app and products).
fn dependencies(c: &Change) -> Vec<Address> {
    let mut deps = Vec::new();
    if c.action != Action::Delete {
        match &c.address {
            Address::App { app } => deps.push(Address::developer(&app.developer)),
            Address::Key { app, .. } => {
                deps.push(Address::developer(&app.developer));
                deps.push(Address::App { app: app.clone() });
            }
            _ => {}
        }
    }
    deps.extend(c.op.products().iter().map(|p| Address::product(p)));
    deps
}

struct Shared<B> {
    backend: Arc<B>,
    sink: Arc<dyn SecretSink>,
    keys: Mutex<HashMap<Address, Key>>,
    /// The key addresses some change of the plan operates on: only a minted key among them
    /// is kept for later changes (the others would only grow `keys` with the plan).
    wanted: HashSet<Address>,
    failed: Mutex<HashSet<Address>>,
    stop: Mutex<Option<String>>,
    progress: Progress,
    minted: Mutex<usize>,
    minted_keys: Mutex<Vec<(Address, String)>>,
    interrupt: Interrupt,
    /// Groups of changes not yet taken by a worker, over every level.
    unstarted: AtomicUsize,
    last_started: Option<Arc<tokio::sync::Notify>>,
}

/// Executes `plan`. `keys` maps key addresses to the keys read before apply.
pub async fn execute<B: Backend>(
    backend: Arc<B>,
    plan: &Plan,
    keys: HashMap<Address, Key>,
    sink: Arc<dyn SecretSink>,
    opts: &Options,
) -> Report {
    let start = Instant::now();
    let shared = Arc::new(Shared {
        backend,
        sink,
        keys: Mutex::new(keys),
        wanted: plan
            .changes
            .iter()
            .filter_map(|c| c.op.key().map(|r| r.address()))
            .collect(),
        failed: Mutex::new(HashSet::new()),
        stop: Mutex::new(None),
        progress: Progress::new(plan.changes.len(), opts.progress_bar),
        minted: Mutex::new(0),
        minted_keys: Mutex::new(Vec::new()),
        interrupt: opts.interrupt.clone(),
        unstarted: AtomicUsize::new(0),
        last_started: opts.last_started.clone(),
    });
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.changes.len()];
    let mut stats: Vec<ChangeStats> = vec![ChangeStats::default(); plan.changes.len()];
    let mut levels: BTreeMap<usize, BTreeMap<Address, Vec<usize>>> = BTreeMap::new();
    for (i, c) in plan.changes.iter().enumerate() {
        levels
            .entry(level(c))
            .or_default()
            .entry(group(c))
            .or_default()
            .push(i);
    }
    shared
        .unstarted
        .store(levels.values().map(BTreeMap::len).sum(), Ordering::SeqCst);
    // A bounded work queue per level: `parallelism` workers take one group at a time, so at
    // most `parallelism` groups (and their cloned changes) are alive at once, whatever the
    // size of the plan.
    let width = opts.parallelism.max(1);
    for (_, groups) in levels {
        let workers = width.min(groups.len());
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<(usize, Change)>>(workers.max(1));
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let mut set = JoinSet::new();
        for _ in 0..workers {
            let shared = shared.clone();
            let rx = rx.clone();
            set.spawn(async move {
                let mut results = Vec::new();
                loop {
                    // The lock is held only while waiting for the next group.
                    let next = rx.lock().await.recv().await;
                    let Some(group) = next else { break };
                    if shared.unstarted.fetch_sub(1, Ordering::SeqCst) == 1
                        && let Some(last) = &shared.last_started
                    {
                        last.notify_one();
                    }
                    results.extend(run_group(&shared, group).await);
                }
                results
            });
        }
        for (_, indexes) in groups {
            let group: Vec<(usize, Change)> = indexes
                .into_iter()
                .map(|i| (i, plan.changes[i].clone()))
                .collect();
            if tx.send(group).await.is_err() {
                // Every worker ended (a panic): what was not sent is reported as stopped.
                break;
            }
        }
        drop(tx);
        while let Some(done) = set.join_next().await {
            match done {
                Ok(results) => {
                    for (i, o, st) in results {
                        outcomes[i] = Some(o);
                        stats[i] = st;
                    }
                }
                Err(e) => tracing::error!("an apply task failed: {e}"),
            }
        }
    }
    shared.progress.finish();
    let stopped = shared.stop.lock().expect("lock").clone();
    let minted = *shared.minted.lock().expect("lock");
    let minted_keys = std::mem::take(&mut *shared.minted_keys.lock().expect("lock"));
    Report {
        outcomes: plan
            .changes
            .iter()
            .zip(outcomes)
            .map(|(c, o)| {
                (
                    c.address.clone(),
                    c.action,
                    o.unwrap_or_else(|| Outcome::Skipped("apply stopped".into())),
                )
            })
            .collect(),
        stats,
        minted,
        minted_keys,
        elapsed: start.elapsed(),
        stopped,
        interrupted: opts.interrupt.is_set(),
    }
}

async fn run_group<B: Backend>(
    shared: &Shared<B>,
    group: Vec<(usize, Change)>,
) -> Vec<(usize, Outcome, ChangeStats)> {
    let mut out = Vec::with_capacity(group.len());
    // A resource whose change did not complete gets no further changes in this apply.
    let mut broken: HashMap<Address, String> = HashMap::new();
    for (i, change) in group {
        let mut stats = ChangeStats::default();
        let outcome = if shared.interrupt.is_set() {
            Outcome::Skipped(NOT_ATTEMPTED.into())
        } else if shared.stop.lock().expect("lock").is_some() {
            Outcome::Skipped("apply stopped".into())
        } else if let Some(why) = broken.get(&change.address) {
            Outcome::Skipped(why.clone())
        } else if let Some(dep) = dependencies(&change)
            .into_iter()
            .find(|d| shared.failed.lock().expect("lock").contains(d))
        {
            Outcome::Skipped(format!("{dep} failed"))
        } else {
            let started = Instant::now();
            shared.interrupt.in_flight.fetch_add(1, Ordering::SeqCst);
            let (o, requests) = crate::feedback::counted(run_change(shared, &change)).await;
            shared.interrupt.in_flight.fetch_sub(1, Ordering::SeqCst);
            stats = ChangeStats {
                duration: started.elapsed(),
                requests,
            };
            shared.progress.done(&change, &o, &stats);
            o
        };
        if !matches!(outcome, Outcome::Done) {
            shared
                .failed
                .lock()
                .expect("lock")
                .insert(change.address.clone());
            broken.entry(change.address.clone()).or_insert_with(|| {
                format!("an earlier change to {} did not complete", change.address)
            });
        }
        out.push((i, outcome, stats));
    }
    out
}

async fn run_change<B: Backend>(shared: &Shared<B>, change: &Change) -> Outcome {
    let op: &Op = &change.op;
    // The key a key operation is about rides beside it, as read; it is never in the plan.
    let key = match op.key() {
        Some(r) => {
            let address = r.address();
            match shared.keys.lock().expect("lock").get(&address) {
                Some(key) => Some(key.clone()),
                None => return Outcome::Failed(format!("{address} was not found on the platform")),
            }
        }
        None => None,
    };
    match shared.backend.execute(op, key.as_ref()).await {
        Ok(OpOutcome::Done) => {
            if let Some(restamp) = &change.restamp
                && let Err(e) = shared.backend.execute(restamp, None).await
            {
                // The change itself is done; only the record of it is stale (a later drift
                // report may call this status `config` or `conflict`).
                tracing::warn!(
                    "{} {}: done, but recording it in the `registrar-applied` stamp failed: {}",
                    change.action.as_str(),
                    Escaped(&change.address),
                    Escaped(&e.to_string())
                );
            }
            Outcome::Done
        }
        Ok(OpOutcome::Minted(key)) => {
            let credential = match op {
                Op::CreateApp { credential, .. } | Op::MintKey { credential, .. } => {
                    credential.id.clone()
                }
                _ => key.id.clone().unwrap_or_default(),
            };
            // Encrypting and fsyncing block: keep them off the async workers.
            let sink = shared.sink.clone();
            let (cred, stored_key) = (credential.clone(), key.clone());
            let stored = tokio::task::spawn_blocking(move || sink.store(&cred, &stored_key))
                .await
                .unwrap_or_else(|e| Err(anyhow::anyhow!("the secrets store task failed: {e}")));
            if let Err(e) = stored {
                let msg = format!(
                    "failed to store the secret of key {} ({}): {}. The key exists on the platform; fix the secrets store and run apply again: it stores keys it finds missing",
                    Address::credential(&key.developer, &key.app, &credential),
                    key.consumer_key.fingerprint(),
                    one_line(&e)
                );
                *shared.stop.lock().expect("lock") = Some(msg.clone());
                return Outcome::Failed(msg);
            }
            *shared.minted.lock().expect("lock") += 1;
            let address = Address::credential(&key.developer, &key.app, &credential);
            shared
                .minted_keys
                .lock()
                .expect("lock")
                .push((address.clone(), key.consumer_key.fingerprint()));
            if shared.wanted.contains(&address) {
                shared.keys.lock().expect("lock").insert(address, *key);
            }
            Outcome::Done
        }
        Err(e) => Outcome::Failed(e.to_string()),
    }
}

/// An error and its causes on one line, `a: b: c` as `{:#}` prints them, except that a
/// cause repeating the text before it is left out: an error that carries a hint (a
/// [`crate::error::Hinted`] source) has the same text as its source.
fn one_line(err: &anyhow::Error) -> String {
    let mut out = String::new();
    let mut last: Option<String> = None;
    for cause in err.chain() {
        let text = cause.to_string();
        if last.as_ref() != Some(&text) {
            if last.is_some() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        last = Some(text);
    }
    out
}

/// Progress: a bar on a terminal (elapsed time, rate and ETA; log lines and failures print
/// above it), one plain line per change otherwise (CI logs).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    count: Mutex<usize>,
}

impl Progress {
    fn new(total: usize, bar: bool) -> Self {
        let bar = (bar && total > 0).then(|| {
            let pb = indicatif::ProgressBar::new(total as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} [{elapsed_precise}] {rate} eta {eta} {wide_msg}",
                )
                .expect("template")
                .with_key(
                    "rate",
                    |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{:.1}/s", state.per_sec());
                    },
                )
                .progress_chars("=> "),
            );
            crate::feedback::show_bar(&pb);
            pb
        });
        Progress {
            bar,
            total,
            count: Mutex::new(0),
        }
    }

    fn done(&self, change: &Change, outcome: &Outcome, stats: &ChangeStats) {
        let n = {
            let mut c = self.count.lock().expect("lock");
            *c += 1;
            *c
        };
        let status = match outcome {
            Outcome::Done => "ok".to_string(),
            Outcome::Failed(e) => format!("FAILED: {e}"),
            Outcome::Skipped(e) => format!("skipped: {e}"),
        };
        let retried = match (stats.requests.retries, stats.requests.rate_limited) {
            (0, _) => String::new(),
            (r, 0) => format!(", {r} retried"),
            (r, l) => format!(", {r} retried, {l} rate-limited"),
        };
        // The address and the platform's message are values from outside: escaped.
        let line = format!(
            "[{n}/{}] {} {}: {} ({} ms{retried})",
            self.total,
            change.action.as_str(),
            Escaped(&change.address),
            Escaped(&status),
            stats.duration.as_millis()
        );
        match &self.bar {
            Some(pb) => {
                pb.inc(1);
                if !matches!(outcome, Outcome::Done) {
                    pb.println(line);
                }
                pb.set_message(escape(&change.address.to_string()).into_owned());
            }
            None => eprintln!("{line}"),
        }
    }

    fn finish(&self) {
        if let Some(pb) = &self.bar {
            crate::feedback::hide_bar();
            pb.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Hinted;

    #[test]
    fn one_line_shows_a_hinted_message_once() {
        let err = anyhow::Error::from(crate::secrets::Error::KeyNotFound {
            address: "a/b/c".into(),
            hinted: Hinted::new("no stored key `a/b/c`", "list them"),
        });
        assert_eq!(one_line(&err), "no stored key `a/b/c`");
        let err = anyhow::Error::from(std::io::Error::other("disk full")).context("cannot write");
        assert_eq!(one_line(&err), format!("{err:#}"));
    }
}
