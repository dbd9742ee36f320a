//! `plan` and `apply` on apaleo, which has no client API: the plan compares the config with
//! what a person confirmed as applied (the record in the registry beside the config) and
//! with what the token endpoint proves of the stored secrets; apply is a guided checklist
//! ([`walk`] on a terminal; without one, the checklist and [`EXIT_PENDING`]).

mod walk;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;

use crate::apaleo::STORE_DEVELOPER;
use crate::apaleo::model::{Client, Rotation, SecretCheck, StoredSecret};
use crate::apaleo::plan::{self as aplan, Action, Plan};
use crate::apaleo::render;
use crate::backend::apaleo::{Endpoints, Verifier};
use crate::cli::{ApplyArgs, PlanArgs, PlanFormat, PlanOptions};
use crate::config::Desired;
use crate::error::{EXIT_CHANGES, EXIT_PENDING, hinted};
use crate::registry::Registry;
use crate::secrets::Identity;
use crate::secrets::index::KeyState;
use crate::secrets::store::SecretStore;
use crate::target::Target;

/// What a plan or apply on apaleo works with.
pub(crate) struct Session {
    /// The account code.
    pub account: String,
    /// The verifier.
    pub verifier: Verifier,
    /// The secrets store of the account.
    pub store: SecretStore,
    /// The registry file holding the record.
    pub registry: PathBuf,
    /// The identity that decrypts stored secrets, if one is at hand.
    pub identity: Option<Identity>,
    /// Why there is none.
    pub no_identity: Option<String>,
}

/// Refuses apaleo clients in a config planned against another platform, which would
/// silently ignore them.
pub fn refuse_clients_elsewhere(desired: &Desired, target: &Target) -> anyhow::Result<()> {
    if !desired.clients.is_empty() {
        return Err(hinted(
            format!(
                "the config declares apaleo clients (`clients:`), but the backend is `{}`",
                target.platform.backend.as_str()
            ),
            "set `backend: {kind: apaleo, account: CODE}` in the config, or pass `--backend apaleo --org CODE`",
        ));
    }
    Ok(())
}

/// Refuses Apigee resources in a config planned against apaleo.
fn check_config(desired: &Desired) -> anyhow::Result<()> {
    if !desired.developers.is_empty() || !desired.products.is_empty() || !desired.apps.is_empty() {
        return Err(hinted(
            "the config declares Apigee resources (developers, products or apps), but the backend is `apaleo`",
            "declare apaleo clients under `clients:`, or plan the Apigee resources with another `--backend`",
        ));
    }
    Ok(())
}

impl Session {
    /// Opens the store, finds an identity and builds the verifier.
    pub fn open(opts: &PlanOptions, desired: &Desired, target: &Target) -> anyhow::Result<Session> {
        check_config(desired)?;
        let store = super::target::open_secrets(&target.secrets, false)?;
        let verifier = Verifier::new(Endpoints::new(target.platform.url.as_deref()))?;
        let registry = opts
            .backend
            .db
            .clone()
            .unwrap_or_else(|| desired.registrar_dir().join("registry.db"));
        let from_env = std::env::var_os("REGISTRAR_IDENTITY").map(PathBuf::from);
        let local = target.secrets.local_identity.clone();
        let (identity, no_identity) = match from_env {
            Some(p) => (Some(Identity::from_file(&p)?), None),
            None if target.secrets.recipients.is_empty() && local.is_file() => {
                (Some(Identity::from_file(&local)?), None)
            }
            None => (
                None,
                Some(
                    "no identity to decrypt the stored secrets: set REGISTRAR_IDENTITY to an age identity of `secrets.recipients`"
                        .to_string(),
                ),
            ),
        };
        Ok(Session {
            account: target.platform.org.clone(),
            verifier,
            store,
            registry,
            identity,
            no_identity,
        })
    }

    /// The clients recorded as applied (none when the registry does not exist yet).
    pub fn recorded(&self) -> anyhow::Result<Vec<Client>> {
        if !self.registry.exists() {
            return Ok(vec![]);
        }
        let r = self.open_registry()?;
        Ok(r.apaleo_records(&self.account)?
            .into_iter()
            .map(|r| r.client)
            .collect())
    }

    /// Opens the registry to record.
    pub fn open_registry(&self) -> anyhow::Result<Registry> {
        Registry::open(&self.registry)
            .with_context(|| format!("cannot open the registry `{}`", self.registry.display()))
    }

    /// Verifies one stored secret: decrypts it and asks the token endpoint.
    pub async fn check(
        &self,
        client: &Client,
        entry: &crate::secrets::index::IndexEntry,
    ) -> anyhow::Result<Option<SecretCheck>> {
        let Some(identity) = &self.identity else {
            return Ok(None);
        };
        let cred = self.store.read_entry(identity, entry)?;
        if cred.consumer_key.expose() != client.code {
            return Ok(Some(SecretCheck::Unexpected {
                detail: format!(
                    "nothing: the stored client id is not `{}` (stored with the wrong client?)",
                    client.code
                ),
            }));
        }
        let check = self
            .verifier
            .check(client.kind, &client.code, &cred.consumer_secret, &client.scopes)
            .await
            .map_err(anyhow::Error::new)
            .with_context(|| {
                format!(
                    "failed to verify `{}` at {}/connect/token",
                    client.code,
                    self.verifier.endpoints().identity
                )
            })
            .map_err(|e| {
                let msg = e.to_string();
                e.context(crate::error::Hinted::new(
                    msg,
                    "is the identity server reachable? Check `--url` (a local stand-in: `registrar serve --flavor apaleo`)",
                ))
            })?;
        Ok(Some(check))
    }

    /// Makes the plan: record, store and verification.
    pub async fn plan(&self, desired: &Desired, prune: bool) -> anyhow::Result<Plan> {
        let wanted: Vec<Client> = desired.clients.iter().map(|c| c.value.client()).collect();
        let recorded = self.recorded()?;
        let mut stored = Vec::new();
        let mut any_stored = false;
        for client in wanted.iter().chain(
            recorded
                .iter()
                .filter(|r| !wanted.iter().any(|w| w.code == r.code)),
        ) {
            for e in self.store.app_entries(STORE_DEVELOPER, &client.code) {
                any_stored = true;
                let check = self.check(client, &e).await?;
                stored.push(StoredSecret {
                    code: client.code.clone(),
                    id: e.id.clone(),
                    retiring: e.state == KeyState::Retiring,
                    issued_at: e.issued_at,
                    revoke_after: e.revoke_after,
                    check,
                });
            }
        }
        let rotations: Vec<Rotation> = self
            .store
            .rotations()
            .into_iter()
            .filter(|r| r.developer == STORE_DEVELOPER)
            .map(|r| Rotation {
                code: r.app,
                id: r.id,
                requested_at: r.requested_at,
            })
            .collect();
        let endpoint = format!("{}/connect/token", self.verifier.endpoints().identity);
        Ok(aplan::plan(aplan::Input {
            account: &self.account,
            token_endpoint: &endpoint,
            desired: &wanted,
            recorded: &recorded,
            stored: &stored,
            rotations: &rotations,
            unverified: if any_stored {
                self.no_identity.as_deref()
            } else {
                None
            },
            prune,
            now_ms: crate::units::now_ms(),
        }))
    }

    /// What needs no person: records clients that verification proves, forgets old
    /// secrets (after the overlap) that apaleo now refuses, as the checklist asked.
    /// Returns lines saying what it did.
    pub fn tidy(&self, plan: &Plan) -> anyhow::Result<Vec<String>> {
        let mut done = Vec::new();
        let mut registry = None;
        for c in &plan.clients {
            if c.action == Action::Confirm
                && let Some(d) = &c.desired
            {
                let r = match &registry {
                    Some(r) => r,
                    None => registry.insert(self.open_registry()?),
                };
                r.apaleo_record(&self.account, d)?;
                done.push(format!(
                    "Recorded `{}` as applied (verification proves it).",
                    c.code
                ));
            }
            for s in c.secrets.iter().filter(|s| s.retiring) {
                let due = s.revoke_after.is_none_or(|t| t <= crate::units::now_ms());
                if due && s.check == Some(SecretCheck::Refused) {
                    for e in self.store.retiring() {
                        if e.developer == STORE_DEVELOPER
                            && e.app == c.code
                            && e.id == s.id
                            && e.issued_at == s.issued_at
                        {
                            self.store.remove_retiring(&e)?;
                            done.push(format!(
                                "Forgot the old secret `{}` of `{}`: apaleo no longer accepts it, as the checklist asked.",
                                s.id, c.code
                            ));
                        }
                    }
                }
            }
        }
        Ok(done)
    }
}

/// What `registrar rotate` says of an apaleo secret: the steps the rotation brings.
pub fn rotation_message(
    verb: &str,
    req: &crate::secrets::index::RotationRequest,
    stored: bool,
) -> String {
    let mut out = format!(
        "{verb} rotation of apaleo secret `{}` of `{}` (overlap {}).\n",
        req.id, req.app, req.overlap
    );
    out.push_str("`registrar plan` and `registrar apply` now show the steps:\n");
    out.push_str(&format!(
        "  + add a new secret to `{}` in the apaleo dashboard (its description ends in `{}`), and store it (apply asks for it, or `registrar secrets set {} --key {}`)\n",
        req.app,
        aplan::rotated_description("…", req.requested_at).trim_start_matches("… "),
        req.app,
        req.id
    ));
    if stored {
        out.push_str(&format!(
            "  ~ keep the current secret working and verified for {} after that\n  - then delete it in the dashboard (a later step)\n",
            req.overlap
        ));
    } else {
        out.push_str("  (no secret of it is stored yet: nothing is kept through an overlap)\n");
    }
    out
}

/// The plan in a format.
fn rendered(plan: &Plan, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => render::text(plan),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => render::markdown(plan),
    }
}

/// Runs `registrar plan` on apaleo.
pub fn cmd_plan(args: &PlanArgs, desired: &Desired, target: Target) -> anyhow::Result<ExitCode> {
    if args.out.is_some() {
        return Err(hinted(
            "`--out` saves Apigee plans; an apaleo plan is a checklist",
            "run `registrar apply --backend apaleo` to follow it",
        ));
    }
    let rt = super::runtime()?;
    let session = Session::open(&args.options, desired, &target)?;
    let plan = rt.block_on(session.plan(desired, args.options.prune))?;
    print!("{}", rendered(&plan, args.options.format));
    Ok(if args.detailed_exitcode && plan.has_changes() {
        ExitCode::from(EXIT_CHANGES)
    } else {
        ExitCode::SUCCESS
    })
}

/// Runs `registrar apply` on apaleo: on a terminal, step by step; otherwise the checklist
/// and [`EXIT_PENDING`].
pub fn cmd_apply(args: &ApplyArgs, desired: &Desired, target: Target) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let rt = super::runtime()?;
    let session = Session::open(&args.options, desired, &target)?;
    let plan = rt.block_on(session.plan(desired, args.options.prune))?;
    for line in session.tidy(&plan)? {
        eprintln!("{line}");
    }
    if !plan.has_changes() {
        if args.options.format == PlanFormat::Json {
            print!("{}", render::json(&plan));
        } else {
            println!("No changes: every declared apaleo client is in sync.");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let terminal = std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
    if !terminal || args.options.format != PlanFormat::Text {
        let text = match args.options.format {
            PlanFormat::Text => render::checklist(&plan),
            other => rendered(&plan, other),
        };
        print!("{text}");
        eprintln!(
            "{} manual step{} pending (exit code {EXIT_PENDING}): follow them in the apaleo dashboard, store each issued secret with `registrar secrets set CLIENT --key ID`, then run `registrar plan`.",
            plan.summary.steps,
            if plan.summary.steps == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::from(EXIT_PENDING));
    }
    let mut prompt = walk::Terminal::open()?;
    let outcome = rt.block_on(walk::walk(&session, &plan, &mut prompt))?;
    Ok(if outcome.pending == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_PENDING)
    })
}
