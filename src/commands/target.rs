//! Target resolution: which platform a command acts on and where its secrets are, from the
//! flags (which win) and the config's `backend:` and `secrets:`.

use std::path::Path;

use crate::cli::{BackendArgs, PlanOptions};
use crate::config::Desired;
use crate::error::hinted;
use crate::secrets::index::INDEX_FILE;
use crate::secrets::store::SecretStore;
use crate::secrets::target::{Claim, check, claim, store_dir};
use crate::target::{BackendKind, Platform, SecretsAt, Target, TargetRecord};

/// The org of the local backend when none is given.
pub const LOCAL_ORG: &str = "local";

/// Decides the target from flags (which win) and the config's `backend:`.
pub fn resolve(opts: &PlanOptions, desired: &Desired) -> anyhow::Result<Target> {
    let cfg = desired.backend.as_ref().map(|b| &b.value);
    let flags = &opts.backend;
    let kind = flags
        .backend
        .or(cfg.map(|c| c.kind))
        .unwrap_or(BackendKind::Local);
    if kind == BackendKind::Local && (flags.url.is_some() || flags.org.is_some()) {
        // `--url`/`--org` name a remote platform: without `--backend`, the config's (or the
        // default) local backend would silently ignore them and apply to a SQLite file.
        let given = if flags.url.is_some() {
            "--url"
        } else {
            "--org"
        };
        if flags.url.is_some() || flags.backend.is_none() {
            return Err(hinted(
                format!("`{given}` was given, but the backend is `local` (the embedded registry)"),
                "add `--backend apigee` or `--backend apigee-edge` (or set `backend.kind` in the config); \
                 for an org of the local registry, pass `--backend local --org ORG`",
            ));
        }
    }
    let org = flags.org.clone().or_else(|| {
        cfg.and_then(|c| match kind {
            BackendKind::Apaleo => c.account.clone().or_else(|| c.org.clone()),
            _ => c.org.clone(),
        })
    });
    let url = flags
        .url
        .clone()
        .or_else(|| cfg.and_then(|c| c.url.clone()));
    let org = match (kind, org) {
        (_, Some(o)) => o,
        (BackendKind::Local, None) => LOCAL_ORG.to_string(),
        (BackendKind::Apaleo, None) => {
            return Err(hinted(
                "no apaleo account given",
                "set `backend: {kind: apaleo, account: CODE}` in the config, or pass `--org CODE`",
            ));
        }
        (_, None) => {
            return Err(hinted(
                "no Apigee organization given",
                "pass `--org NAME`, or set `backend.org` in the config",
            ));
        }
    };
    let db = (kind == BackendKind::Local).then(|| {
        flags
            .db
            .clone()
            .unwrap_or_else(|| desired.registrar_dir().join("registry.db"))
    });
    let platform = Platform {
        backend: kind,
        url,
        org,
        db,
        timeout: request_timeout(flags)?,
    };
    let store_of = record(&platform, &desired.base_dir());
    Ok(Target {
        secrets: SecretsAt {
            local_identity: desired.registrar_dir().join("identity.txt"),
            secrets_dir: store_dir(&desired.secrets_dir(), &platform.org),
            recipients: desired
                .secrets
                .as_ref()
                .map(|s| s.value.recipients.clone())
                .unwrap_or_default(),
            store_of,
        },
        platform,
    })
}

/// `--timeout`: how long one request to an HTTP backend may take.
pub(super) fn request_timeout(flags: &BackendArgs) -> anyhow::Result<Option<std::time::Duration>> {
    flags
        .timeout
        .as_deref()
        .map(|t| {
            crate::units::parse_duration(t)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    hinted(
                        format!("`--timeout {t}` is not a duration"),
                        "write how long one request may take, e.g. `--timeout 10s` or `2m`",
                    )
                })
        })
        .transpose()
}

/// What a secrets store records of its target: the backend, where it is (a URL, or the local
/// registry's file relative to the config) and the org.
fn record(p: &Platform, base: &Path) -> TargetRecord {
    let location = match (&p.db, p.backend.flavor()) {
        (Some(db), _) => db.strip_prefix(base).unwrap_or(db).display().to_string(),
        (None, Some(flavor)) => p
            .url
            .clone()
            .unwrap_or_else(|| flavor.default_base_url().to_string()),
        (None, None) if p.backend == BackendKind::Apaleo => p
            .url
            .clone()
            .unwrap_or_else(|| crate::backend::apaleo::IDENTITY_URL.to_string()),
        (None, None) => String::new(),
    };
    TargetRecord {
        backend: p.backend.as_str().to_string(),
        location: location.trim_end_matches('/').to_string(),
        org: p.org.clone(),
    }
}

/// Says that a store of the shared layout moved into its target's directory.
pub fn announce(claim: Claim) {
    if let Claim::Migrated { from, to } = claim {
        eprintln!(
            "Moved the secrets store from `{}` to `{}`: each target keeps its own store.",
            from.display(),
            to.display()
        );
    }
}

/// Opens the secrets store of a target: its own directory below `secrets.dir`. Another
/// target's store is refused. To write (`apply`), the store is claimed for the target: a
/// store of the shared layout moves there, with a message. To read (`plan`), nothing is
/// written: a store of the shared layout is read where it is.
pub fn open_secrets(at: &SecretsAt, write: bool) -> anyhow::Result<SecretStore> {
    let mut dir = at.secrets_dir.as_path();
    let root = dir.parent().unwrap_or(Path::new(""));
    if write {
        announce(claim(root, dir, &at.store_of)?);
    } else if root.join(INDEX_FILE).is_file() && !dir.join(INDEX_FILE).exists() {
        dir = root;
    } else {
        check(dir, &at.store_of)?;
    }
    Ok(SecretStore::open(dir, &at.recipients)?.with_local_identity(&at.local_identity))
}
