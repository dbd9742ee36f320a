//! Locks from the command line: who this process is ([`here`]), taking and giving back the
//! locks of an apply (the target's, through the backend, and the secrets store's), and
//! `registrar force-unlock`.

use std::process::ExitCode;
use std::time::Duration;

use crate::backend::{AnyBackend, Backend, BackendError, Lock, LockRequest};
use crate::cli::{ForceUnlockArgs, PlanFormat, PlanOptions};
use crate::error::hinted;
use crate::lock::Holder;
use crate::secrets::store::SecretStore;
use crate::units::now_ms;

/// How long a remote lock lives unless renewed; it is renewed every third of that while held.
pub const LOCK_TTL: Duration = Duration::from_secs(300);

/// This process as a lock holder: `user@host`, the CI job or pid and command, now, a new id.
pub fn here() -> Holder {
    Holder {
        id: uuid::Uuid::new_v4().to_string(),
        who: format!("{}@{}", user(), host()),
        place: place(&|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty())),
        since_ms: now_ms(),
        expires_ms: None,
    }
}

fn user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| "unknown".into())
}

fn host() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Where: the CI job the environment names, else the process id and command.
fn place(var: &dyn Fn(&str) -> Option<String>) -> String {
    let pid = std::process::id();
    if let Some(run) = var("GITHUB_RUN_ID") {
        let mut s = format!("GitHub Actions run {run}");
        if let Some(job) = var("GITHUB_JOB") {
            s.push_str(&format!(", job {job}"));
        }
        if let (Some(server), Some(repo)) = (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY")) {
            s.push_str(&format!(" ({server}/{repo}/actions/runs/{run})"));
        }
        return format!("{s}, pid {pid}");
    }
    if let Some(job) = var("CI_JOB_ID") {
        let url = var("CI_JOB_URL")
            .map(|u| format!(" ({u})"))
            .unwrap_or_default();
        return format!("CI job {job}{url}, pid {pid}");
    }
    let mut args = std::env::args();
    let program = args
        .next()
        .map(|p| {
            std::path::Path::new(&p)
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or(p)
        })
        .unwrap_or_else(|| "registrar".into());
    let mut command = std::iter::once(program)
        .chain(args)
        .collect::<Vec<_>>()
        .join(" ");
    if command.chars().count() > 120 {
        command = format!("{}…", command.chars().take(120).collect::<String>());
    }
    let ci = if var("CI").is_some() { "CI, " } else { "" };
    format!("{ci}pid {pid}: {command}")
}

/// `--lock-timeout`: `0` or a duration.
pub fn parse_timeout(s: &str) -> anyhow::Result<Duration> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    crate::units::parse_duration(s).map_err(|why| {
        hinted(
            why,
            "write how long to wait for another run's lock, e.g. `--lock-timeout 30s` or `5m`",
        )
    })
}

/// The error for a lock another run holds.
fn locked(holder: &Holder, backend: &AnyBackend, waited: Duration) -> anyhow::Error {
    let waited = if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {})", humantime::format_duration(waited))
    };
    let message = format!(
        "{} is locked by another apply{waited}:\n{}",
        backend.describe(),
        holder.describe(now_ms())
    );
    let hint = match backend {
        AnyBackend::Local(_) => {
            "wait for it with `--lock-timeout DURATION`; a local lock is released when the process holding it ends"
                .to_string()
        }
        AnyBackend::Apigee(_) => format!(
            "wait for it with `--lock-timeout DURATION`; if that run is gone, the lock expires \
             by itself, or remove it now with `registrar force-unlock {}`",
            holder.id
        ),
    };
    hinted(message, hint)
}

/// Takes the target's lock for `owner`, saying so when it has to wait.
pub async fn take(backend: &AnyBackend, owner: &str, timeout: Duration) -> anyhow::Result<Lock> {
    let mut req = LockRequest {
        owner: owner.to_string(),
        holder: here(),
        timeout: Duration::ZERO,
        ttl: LOCK_TTL,
    };
    match backend.lock(&req).await {
        Ok(lock) => return Ok(lock),
        Err(BackendError::Locked(h)) if !timeout.is_zero() => {
            eprintln!(
                "Waiting up to {} for the lock held by {} ({}, lock id {})…",
                humantime::format_duration(timeout),
                h.who,
                h.place,
                h.id
            );
        }
        Err(BackendError::Locked(h)) => return Err(locked(&h, backend, Duration::ZERO)),
        Err(e) => return Err(lock_failed(e, backend)),
    }
    req.timeout = timeout;
    match backend.lock(&req).await {
        Ok(lock) => Ok(lock),
        Err(BackendError::Locked(h)) => Err(locked(&h, backend, timeout)),
        Err(e) => Err(lock_failed(e, backend)),
    }
}

fn lock_failed(e: BackendError, backend: &AnyBackend) -> anyhow::Error {
    let hint = super::plan::silent_server_hint(&e, &format!("the server ({})", backend.describe()));
    let err = anyhow::Error::new(e).context(format!("failed to lock {}", backend.describe()));
    match hint {
        Some(h) => {
            let message = err.to_string();
            err.context(crate::error::Hinted::new(message, h))
        }
        None => err,
    }
}

/// Holds the secrets store for the run (after the target's lock).
pub fn hold_store(store: &SecretStore, timeout: Duration) -> anyhow::Result<()> {
    if store.hold(timeout)? {
        return Ok(());
    }
    Err(hinted(
        format!(
            "the secrets store `{}` is in use by another registrar process (an apply to another \
             target sharing this store, or a `secrets` command)",
            store.dir().display()
        ),
        "wait for it to finish, or pass `--lock-timeout DURATION` to wait",
    ))
}

/// Gives the target's lock back; a failure is a warning (a remote lock then expires).
pub async fn give_back(backend: &AnyBackend, lock: Lock) {
    let id = lock.holder.id.clone();
    if lock.lost() {
        eprintln!(
            "warning: the apply lock {id} was removed or taken over by another run while this apply held it"
        );
    }
    if let Err(e) = backend.unlock(lock).await {
        eprintln!(
            "warning: failed to release the apply lock {id}: {e}; it expires by itself, or remove it with `registrar force-unlock {id}`"
        );
    }
}

/// Runs `registrar force-unlock ID`.
pub fn cmd_force_unlock(args: &ForceUnlockArgs) -> anyhow::Result<ExitCode> {
    let opts = PlanOptions {
        config: args.config.clone(),
        backend: args.backend.clone(),
        select: Vec::new(),
        prune: false,
        max_deletes: None,
        format: PlanFormat::Text,
        read_all: false,
    };
    let (desired, diags) = crate::config::load_and_check(
        &opts.config.files,
        &crate::config::yaml::ProcessEnv,
        &crate::config::validate::Known::default(),
    );
    let Some(owner) = desired.owner.as_ref().map(|o| o.value.clone()) else {
        if !diags.is_empty() {
            // Shows what is wrong with the config.
            crate::config::load_valid(
                &opts.config.files,
                &crate::config::validate::Known::default(),
            )?;
        }
        return Err(hinted(
            "the config sets no `owner`",
            "a lock belongs to the owner of a config: run force-unlock with that config (`-f`)",
        ));
    };
    let target = super::target::resolve(&opts, &desired)?;
    let backend = AnyBackend::for_platform(&target.platform, None)?;
    let rt = super::runtime()?;
    let holder = rt
        .block_on(backend.force_unlock(&owner, &args.id))
        .map_err(anyhow::Error::new)?;
    println!(
        "Removed the apply lock of owner `{owner}` on {}:\n{}",
        backend.describe(),
        holder.describe(now_ms())
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_names_the_ci_job() {
        let gh = |n: &str| match n {
            "GITHUB_RUN_ID" => Some("42".to_string()),
            "GITHUB_JOB" => Some("deploy".to_string()),
            "GITHUB_SERVER_URL" => Some("https://github.com".to_string()),
            "GITHUB_REPOSITORY" => Some("acme/apis".to_string()),
            _ => None,
        };
        let p = place(&gh);
        assert!(
            p.starts_with(
                "GitHub Actions run 42, job deploy (https://github.com/acme/apis/actions/runs/42), pid "
            ),
            "{p}"
        );
        let gl = |n: &str| (n == "CI_JOB_ID").then(|| "7".to_string());
        assert!(place(&gl).starts_with("CI job 7, pid "));
        let none = |_: &str| None;
        assert!(place(&none).starts_with("pid "));
        assert_eq!(parse_timeout("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_timeout("30s").unwrap(), Duration::from_secs(30));
        assert!(parse_timeout("soon").is_err());
    }
}
