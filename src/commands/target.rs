//! Target resolution: which platform a command acts on and where its secrets are, from the
//! flags (which win) and the config's `backend:` and `secrets:`.

use crate::cli::PlanOptions;
use crate::config::Desired;
use crate::error::hinted;
use crate::secrets::store::SecretStore;
use crate::target::{BackendKind, Platform, SecretsAt, Target};

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
    let org = flags
        .org
        .clone()
        .or_else(|| cfg.and_then(|c| c.org.clone()));
    let url = flags
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
    let db = (kind == BackendKind::Local).then(|| {
        flags
            .db
            .clone()
            .unwrap_or_else(|| desired.registrar_dir().join("registry.db"))
    });
    Ok(Target {
        platform: Platform {
            backend: kind,
            url,
            org,
            db,
        },
        secrets: SecretsAt {
            local_identity: desired.registrar_dir().join("identity.txt"),
            secrets_dir: desired.secrets_dir(),
            recipients: desired
                .secrets
                .as_ref()
                .map(|s| s.value.recipients.clone())
                .unwrap_or_default(),
        },
    })
}

/// Opens the secrets store of a target.
pub fn open_secrets(at: &SecretsAt) -> anyhow::Result<SecretStore> {
    Ok(SecretStore::open(&at.secrets_dir, &at.recipients)?.with_local_identity(&at.local_identity))
}
