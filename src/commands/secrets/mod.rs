//! The `secrets list`, `secrets rekey` and `rotate` commands, and what every `secrets`
//! command shares: opening the store from the config, finding an app, loading an identity.
//! `secrets show` and `secrets set`, which handle values, live in `values`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

mod values;

use crate::cli::{
    DiagnosticFormat, RotateArgs, SecretsCommand, SecretsListArgs, SecretsRekeyArgs, StoreArgs,
};
use crate::config::Settings;
use crate::error::hinted;
use crate::secrets::index::{IndexEntry, KeyState, RotationRequest};
use crate::secrets::{Identity, LOCAL_IDENTITY, SecretStore};
use crate::units::now_ms;

/// The config's secrets settings and the store they describe.
struct Context {
    pub settings: Settings,
    pub store: SecretStore,
}

impl Context {
    /// Loads the config and opens its store (reads only `index.yaml`).
    pub fn open(args: &StoreArgs) -> anyhow::Result<Context> {
        let (config, org) = (&args.config, args.org.as_deref());
        let desired =
            crate::config::load_valid(&config.files, &crate::config::validate::Known::default())?;
        let settings = desired.settings();
        let backend = desired.backend.as_ref().map(|b| &b.value);
        let root = &settings.secrets_dir;
        let org = match (org, backend) {
            (Some(org), _) => org.to_string(),
            (None, Some(b))
                if b.kind == crate::target::BackendKind::Apaleo && b.account.is_some() =>
            {
                b.account.clone().unwrap_or_default()
            }
            (None, Some(b)) if b.org.is_some() => b.org.clone().unwrap_or_default(),
            (None, Some(b)) if b.kind != crate::target::BackendKind::Local => only_store(root)?,
            (None, _) => super::target::LOCAL_ORG.to_string(),
        };
        let dir = crate::secrets::target::store_dir(root, &org);
        super::target::announce(crate::secrets::target::migrate_shared(root, &dir)?);
        let store = SecretStore::open(&dir, &settings.recipients)?
            .with_local_identity(settings.registrar_dir.join("identity.txt"));
        Ok(Context { settings, store })
    }

    /// Finds an app by name (and developer): in the config, or else among stored keys.
    /// Returns the developer and the app's credential ids. Errors list what exists.
    pub fn resolve_app(
        &self,
        app: &str,
        developer: Option<&str>,
    ) -> anyhow::Result<(String, Vec<String>)> {
        let mut found: Vec<(String, Vec<String>)> = self
            .settings
            .apps
            .iter()
            .filter(|(d, a, _)| a == app && developer.is_none_or(|want| want == d))
            .map(|(d, _, ids)| (d.clone(), ids.clone()))
            .collect();
        if found.is_empty() {
            for e in self.store.entries() {
                if e.app == app && developer.is_none_or(|want| want == e.developer) {
                    match found.iter_mut().find(|(d, _)| *d == e.developer) {
                        Some((_, ids)) if !ids.contains(&e.id) => ids.push(e.id),
                        Some(_) => {}
                        None => found.push((e.developer, vec![e.id])),
                    }
                }
            }
        }
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => {
                let mut known: Vec<String> = self
                    .settings
                    .apps
                    .iter()
                    .map(|(d, a, _)| format!("{a} ({d})"))
                    .collect();
                known.sort();
                let whose = developer.map(|d| format!(" of `{d}`")).unwrap_or_default();
                let names: Vec<String> = self
                    .settings
                    .apps
                    .iter()
                    .map(|(_, a, _)| a.clone())
                    .collect();
                let hint = match crate::config::load::suggest(app, &names) {
                    _ if known.is_empty() => "the config declares no apps".to_string(),
                    Some(close) => format!("did you mean `{close}`?"),
                    None if known.len() <= 10 => {
                        format!("apps in the config: {}", known.join(", "))
                    }
                    None => format!(
                        "the config declares {} apps; `registrar secrets list` shows the stored ones",
                        known.len()
                    ),
                };
                Err(hinted(format!("app `{app}`{whose} not found"), hint))
            }
            _ => {
                let devs: Vec<&str> = found.iter().map(|(d, _)| d.as_str()).collect();
                Err(hinted(
                    format!(
                        "app `{app}` exists for several developers: {}",
                        devs.join(", ")
                    ),
                    "pick one with `--developer EMAIL`",
                ))
            }
        }
    }
}

/// The identity file of `--identity` / `REGISTRAR_IDENTITY`; without one, an error that
/// names both. Checked before anything else; the file is loaded with [`Identity::from_file`]
/// once the command knows what to decrypt.
/// The org of the only store in `root`, when the config does not name one.
fn only_store(root: &Path) -> anyhow::Result<String> {
    let orgs: Vec<String> = std::fs::read_dir(root)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().join(crate::secrets::target::TARGET_FILE).is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    match orgs.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(hinted(
            format!("`{}` holds no secrets store yet", root.display()),
            "apply first, or pass `--org ORG`",
        )),
        many => Err(hinted(
            format!(
                "`{}` holds the stores of several orgs ({}), and the config names none",
                root.display(),
                many.join(", ")
            ),
            "pass `--org ORG`, or set `backend.org` in the config",
        )),
    }
}

fn require_identity<'a>(path: Option<&'a Path>, command: &str) -> anyhow::Result<&'a Path> {
    let Some(path) = path else {
        let hint = if Path::new(LOCAL_IDENTITY).exists() {
            format!(
                "this directory has a local identity: `--identity {LOCAL_IDENTITY}` (or `export REGISTRAR_IDENTITY={LOCAL_IDENTITY}`)"
            )
        } else {
            "use the age identity (private key) that matches one of `secrets.recipients`".into()
        };
        return Err(hinted(
            format!(
                "`{command}` needs an identity to decrypt: pass `--identity FILE` or set `REGISTRAR_IDENTITY`"
            ),
            hint,
        ));
    };
    Ok(path)
}

/// RFC 3339 (seconds) of a time in milliseconds since the epoch.
fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Runs `registrar secrets list`: the index, no decryption.
/// Runs a `registrar secrets` subcommand.
pub fn cmd_secrets(cmd: &SecretsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        SecretsCommand::List(args) => cmd_list(args),
        SecretsCommand::Show(args) => values::cmd_show(args),
        SecretsCommand::Set(args) => values::cmd_set(args),
        SecretsCommand::Rekey(args) => cmd_rekey(args),
    }
}

/// Runs `registrar secrets list`.
pub fn cmd_list(args: &SecretsListArgs) -> anyhow::Result<ExitCode> {
    let ctx = Context::open(&args.store)?;
    let index = ctx.store.index();
    let not_stored: Vec<String> = ctx
        .settings
        .apps
        .iter()
        .flat_map(|(d, a, ids)| ids.iter().map(move |id| (d, a, id)))
        .filter(|(d, a, id)| index.active(d, a, id).is_none())
        .map(|(d, a, id)| format!("{d}/{a}/{id}"))
        .collect();
    let consistency = ctx.store.verify()?;
    let at = |f: &str| ctx.store.dir().join(f).display().to_string();
    for e in &consistency.missing_files {
        tracing::warn!("`{}` is in the index but missing", at(&e.file));
    }
    for f in &consistency.unindexed_files {
        tracing::warn!(
            "`{}` is not in index.yaml (left by an interrupted write?)",
            at(f)
        );
    }
    for k in &consistency.duplicate_active {
        tracing::warn!("`{k}` has more than one active entry in index.yaml");
    }
    for f in &consistency.temp_files {
        tracing::warn!(
            "`{}` is left from an interrupted write; it is safe to delete",
            at(f)
        );
    }
    let mut out = std::io::stdout().lock();
    match args.format {
        DiagnosticFormat::Json => {
            #[derive(Serialize)]
            #[serde(rename_all = "camelCase")]
            struct ListJson<'a> {
                secrets_dir: String,
                keys: &'a [IndexEntry],
                rotations: &'a [RotationRequest],
                not_stored: &'a [String],
            }
            let doc = ListJson {
                secrets_dir: ctx.store.dir().display().to_string(),
                keys: &index.keys,
                rotations: &index.rotations,
                not_stored: &not_stored,
            };
            serde_json::to_writer_pretty(&mut out, &doc)?;
            writeln!(out)?;
        }
        DiagnosticFormat::Text => {
            write!(
                out,
                "{}",
                render_list(&index.keys, &index.rotations, &not_stored)
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text table of `secrets list`.
fn render_list(
    keys: &[IndexEntry],
    rotations: &[RotationRequest],
    not_stored: &[String],
) -> String {
    let mut out = String::new();
    if keys.is_empty() {
        out.push_str("No stored keys.\n");
    } else {
        let mut rows = vec![[
            "DEVELOPER".to_string(),
            "APP".into(),
            "KEY".into(),
            "STATE".into(),
            "CONSUMER KEY".into(),
            "SECRET".into(),
            "ISSUED".into(),
            "EXPIRES".into(),
        ]];
        for e in keys {
            let state = match (e.state, e.revoke_after) {
                (KeyState::Active, _) => "active".to_string(),
                (KeyState::Retiring, Some(t)) => format!("retiring, revoke after {}", rfc3339(t)),
                (KeyState::Retiring, None) => "retiring".to_string(),
            };
            rows.push([
                e.developer.clone(),
                e.app.clone(),
                e.id.clone(),
                state,
                e.consumer_key_fingerprint.clone(),
                e.consumer_secret_fingerprint.clone(),
                rfc3339(e.issued_at),
                e.expires_at.map_or_else(|| "never".into(), rfc3339),
            ]);
        }
        let widths: Vec<usize> = (0..8)
            .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
            .collect();
        for row in rows {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
        }
    }
    if !rotations.is_empty() {
        out.push_str("\nRotations the next apply will carry out:\n");
        for r in rotations {
            out.push_str(&format!(
                "  {}  overlap {}  requested {}\n",
                r.address(),
                r.overlap,
                rfc3339(r.requested_at)
            ));
        }
    }
    if !not_stored.is_empty() {
        out.push_str("\nDeclared in the config but not stored (not applied yet?):\n");
        for k in not_stored {
            out.push_str(&format!("  {k}\n"));
        }
    }
    out
}

/// Runs `registrar secrets rekey`.
pub fn cmd_rekey(args: &SecretsRekeyArgs) -> anyhow::Result<ExitCode> {
    let identity = require_identity(args.identity.as_deref(), "secrets rekey")?;
    let ctx = Context::open(&args.store)?;
    let identity = Identity::from_file(identity)?;
    let recipients = ctx.store.recipients_for_writing()?;
    let n = ctx.store.rekey(&identity)?;
    let names: Vec<String> = recipients
        .iter()
        .map(|r| abbreviate(&r.to_string()))
        .collect();
    println!(
        "Re-encrypted {n} file{} in `{}` to {} recipient{}: {}",
        if n == 1 { "" } else { "s" },
        ctx.store.dir().display(),
        recipients.len(),
        if recipients.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    Ok(ExitCode::SUCCESS)
}

fn abbreviate(public: &str) -> String {
    if public.chars().count() > 30 {
        let head: String = public.chars().take(20).collect();
        let tail: String = public.chars().skip(public.chars().count() - 6).collect();
        format!("{head}…{tail}")
    } else {
        public.to_string()
    }
}

/// Runs `registrar rotate`: records rotation requests and says what apply will do.
pub fn cmd_rotate(args: &RotateArgs) -> anyhow::Result<ExitCode> {
    let overlap = crate::config::parse_duration(&args.overlap).map_err(|why| {
        hinted(
            format!("invalid `--overlap`: {why}"),
            "give how long the old key keeps working, e.g. `--overlap 7d` (`0s` revokes on the next apply)",
        )
    })?;
    let ctx = Context::open(&args.store)?;
    let (developer, ids) = ctx.resolve_app(&args.app, args.developer.as_deref())?;
    let ids = match &args.key {
        Some(k) if ids.contains(k) => vec![k.clone()],
        Some(k) => {
            return Err(hinted(
                format!("app `{}` has no credential `{k}`", args.app),
                format!("its credentials: {}", ids.join(", ")),
            ));
        }
        None => ids,
    };
    let now = now_ms();
    let mut out = String::new();
    for id in &ids {
        let replaced = ctx
            .store
            .index()
            .rotation(&developer, &args.app, id)
            .is_some();
        let req = ctx
            .store
            .request_rotation(&developer, &args.app, id, overlap, now)?;
        let verb = if replaced { "Updated" } else { "Recorded" };
        if developer == crate::model::apaleo::STORE_DEVELOPER {
            out.push_str(&crate::commands::apaleo::rotation_message(
                verb,
                &req,
                ctx.store
                    .index()
                    .active(&developer, &args.app, id)
                    .is_some(),
            ));
            continue;
        }
        out.push_str(&format!(
            "{verb} rotation of `{}` (overlap {}).\n",
            req.address(),
            req.overlap
        ));
        out.push_str("The next `registrar apply` will:\n");
        out.push_str(&format!(
            "  + mint a new key for credential `{id}` and store it as `{developer}/{}/{id}.age`\n",
            args.app
        ));
        match ctx.store.index().active(&developer, &args.app, id) {
            Some(e) => {
                out.push_str(&format!(
                    "  ~ keep the current key (consumer key {}) as `{id}.retiring-{}.age`, working for {} more\n",
                    e.consumer_key_fingerprint, e.issued_at, req.overlap
                ));
                out.push_str("  - revoke, then delete it, at the first apply after the overlap\n");
            }
            None => out.push_str(
                "  (no key of this credential is stored yet: nothing is kept as retiring)\n",
            ),
        }
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_table_shows_fingerprints_states_and_pending_work() {
        let e = IndexEntry {
            developer: "alice@example.com".into(),
            app: "checkout-web".into(),
            id: "primary".into(),
            state: KeyState::Retiring,
            consumer_key_fingerprint: "sha256:0123456789abcdef".into(),
            consumer_secret_fingerprint: "sha256:fedcba9876543210".into(),
            issued_at: 0,
            expires_at: None,
            revoke_after: Some(86_400_000),
            file: "x".into(),
        };
        let r = RotationRequest {
            developer: "alice@example.com".into(),
            app: "checkout-web".into(),
            id: "primary".into(),
            overlap: "7days".into(),
            requested_at: 0,
        };
        let text = render_list(&[e], &[r], &["bob@x/app/default".into()]);
        assert!(text.starts_with("DEVELOPER"), "{text}");
        assert!(
            text.contains("retiring, revoke after 1970-01-02T00:00:00Z"),
            "{text}"
        );
        assert!(
            text.contains("sha256:0123456789abcdef  sha256:fedcba9876543210"),
            "{text}"
        );
        assert!(text.contains("never"), "{text}");
        assert!(
            text.contains("alice@example.com/checkout-web/primary  overlap 7days"),
            "{text}"
        );
        assert!(text.contains("  bob@x/app/default\n"), "{text}");
        assert_eq!(render_list(&[], &[], &[]), "No stored keys.\n");
    }

    #[test]
    fn missing_identity_names_flag_and_variable() {
        let err = require_identity(None, "secrets show").err().unwrap();
        let text = crate::error::render(&err);
        assert!(text.contains("--identity FILE"), "{text}");
        assert!(text.contains("REGISTRAR_IDENTITY"), "{text}");
    }
}
