//! `registrar import`: read a platform in bulk, write the config that declares what it holds
//! ([`crate::import`]), check it as `validate` would (leaving out, and listing, any resource
//! the check refuses), store every key's secret in the target's secrets store (apply's own
//! path for keys the store lacks), and print a summary. Secrets go to the store only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::target::{self, open_secrets};
use crate::backend::{AnyBackend, Backend};
use crate::cli::{ConfigArgs, ImportArgs, ImportLayout, PlanFormat, PlanOptions};
use crate::config::load::{Desired, Part, Sourced};
use crate::config::model::{BackendConfig, SecretsConfig};
use crate::config::validate::Known;
use crate::config::yaml;
use crate::config::{self, Diagnostic};
use crate::error::{HintExt, hinted};
use crate::escape::Escaped;
use crate::import::emit::{self, File, Layout, MARK, SCHEMA_FILE};
use crate::import::{self as imp, Import, Remark};
use crate::model::{Actual, Address, Key, ReadScope};
use crate::secrets::store::StoredCredential;
use crate::target::{BackendKind, Target};

/// Keys stored at once.
const STORE_WORKERS: usize = 8;

/// Rounds of "check, leave out what the check refused, write again" before giving up.
const CHECK_ROUNDS: usize = 8;

/// Where the config goes.
struct Out {
    layout: Layout,
    /// The directory of the config (secrets and `.registrar/` are resolved against it).
    dir: PathBuf,
    /// The one file's name (single layout).
    single: String,
}

impl Out {
    fn of(args: &ImportArgs) -> anyhow::Result<Out> {
        let layout = match args.layout {
            ImportLayout::Single => Layout::Single,
            ImportLayout::ByKind => Layout::ByKind,
            ImportLayout::ByDeveloper => Layout::ByDeveloper,
        };
        let out = &args.out;
        let yamlish = matches!(
            out.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml")
        );
        match layout {
            Layout::Single => {
                if out.is_dir() || !yamlish {
                    return Err(hinted(
                        format!(
                            "`--out {}` is not a `.yaml` file, which `--layout single` writes",
                            out.display()
                        ),
                        "name a file such as `--out registry.yaml`, or write a directory with `--layout by-kind` or `--layout by-developer`",
                    ));
                }
                Ok(Out {
                    layout,
                    dir: out.parent().map(Path::to_path_buf).unwrap_or_default(),
                    single: out
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                })
            }
            _ => {
                if yamlish || out.is_file() {
                    return Err(hinted(
                        format!(
                            "`--out {}` is a file, and this layout writes a directory",
                            out.display()
                        ),
                        "name a directory such as `--out registrar/`, or write one file with `--layout single`",
                    ));
                }
                Ok(Out {
                    layout,
                    dir: out.clone(),
                    single: String::new(),
                })
            }
        }
    }

    /// The first file of the config: the one target resolution and secrets are relative to.
    fn first(&self) -> PathBuf {
        match self.layout {
            Layout::Single => self.dir.join(&self.single),
            _ => self.dir.join("registrar.yaml"),
        }
    }

    /// What `-f` names to read the config back.
    fn config_arg(&self) -> PathBuf {
        match self.layout {
            Layout::Single => self.first(),
            _ => self.dir.clone(),
        }
    }
}

/// A config of no files but the settings import writes: for resolving the target (where
/// the secrets go) before anything is written.
fn skeleton(out: &Out, recipients: &[String]) -> Desired {
    let mut d = Desired::default();
    d.parts.push(Part::empty(out.first()));
    if !recipients.is_empty() {
        d.secrets = Some(Sourced {
            value: SecretsConfig {
                dir: None,
                recipients: recipients.to_vec(),
            },
            part: 0,
            index: 0,
        });
    }
    d
}

/// The `backend:` section the config gets: the target read, unless it is the default.
fn backend_section(target: &Target) -> Option<BackendConfig> {
    let p = &target.platform;
    let default_local = p.backend == BackendKind::Local && p.org == target::LOCAL_ORG;
    (!default_local).then(|| BackendConfig {
        kind: p.backend,
        url: p.url.clone(),
        org: Some(p.org.clone()),
        account: None,
    })
}

/// In CI without recipients, the secrets would be encrypted to an identity generated on the
/// runner, which nobody can use once it is gone: refused before anything is read, as apply
/// refuses (the local registry is itself a file on the runner: nothing is lost there).
fn refuse_throwaway_identity(target: &Target, allowed: bool) -> anyhow::Result<()> {
    let at = &target.secrets;
    let in_ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty());
    if allowed
        || !in_ci
        || target.platform.backend == BackendKind::Local
        || !at.recipients.is_empty()
        || at.local_identity.exists()
    {
        return Ok(());
    }
    Err(hinted(
        "import would store the org's keys, and no `--recipient` is given: in CI they would be \
         encrypted to an identity generated on the runner, which nobody could use afterwards",
        "pass the public keys of the people or systems that must decrypt them with `--recipient` \
         (`age1…` or `ssh-ed25519 …`), or `--allow-local-identity` to accept a throwaway identity",
    ))
}

/// Refuses to overwrite what import did not write, or anything without `--force` (before
/// the platform is read); returns the files an earlier import wrote there.
fn check_out(out: &Out, force: bool) -> anyhow::Result<Vec<PathBuf>> {
    let existing: Vec<PathBuf> = match out.layout {
        Layout::Single => vec![out.first()]
            .into_iter()
            .filter(|p| p.exists())
            .collect(),
        _ => match std::fs::read_dir(&out.dir) {
            Ok(entries) => {
                let mut found: Vec<PathBuf> = entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.is_file()
                            && matches!(
                                p.extension().and_then(|e| e.to_str()),
                                Some("yaml" | "yml")
                            )
                    })
                    .collect();
                found.sort();
                found
            }
            Err(_) => Vec::new(),
        },
    };
    if existing.is_empty() {
        return Ok(existing);
    }
    let ours = |p: &Path| {
        std::fs::read_to_string(p)
            .is_ok_and(|t| t.lines().nth(1).is_some_and(|l| l.starts_with(MARK)))
    };
    if let Some(foreign) = existing.iter().find(|p| !ours(p)) {
        return Err(hinted(
            format!(
                "`{}` exists and was not written by `registrar import`: refusing to overwrite it",
                foreign.display()
            ),
            "write the import elsewhere (`--out`), or move the file away",
        ));
    }
    if !force {
        return Err(hinted(
            format!("`{}` exists (an earlier import)", existing[0].display()),
            "pass `--force` to write the import again (files of the earlier import are replaced)",
        ));
    }
    Ok(existing)
}

/// Of the files an earlier import wrote, those this one does not write (removed).
fn stale(out: &Out, mut earlier: Vec<PathBuf>, files: &[File]) -> Vec<PathBuf> {
    let names: Vec<PathBuf> = files.iter().map(|f| out.dir.join(&f.name)).collect();
    earlier.retain(|p| !names.contains(p));
    earlier
}

/// Checks the files as `validate` would (in a scratch directory); returns the resources the
/// check refused, with its messages.
fn check(files: &[File], out: &Out, known: &Known) -> anyhow::Result<BTreeMap<Address, String>> {
    let scratch = tempfile::tempdir().context("failed to make a scratch directory")?;
    for f in files {
        std::fs::write(scratch.path().join(&f.name), &f.text)?;
    }
    let arg = match out.layout {
        Layout::Single => scratch.path().join(&out.single),
        _ => scratch.path().to_path_buf(),
    };
    let (_, diags) = config::load_and_check(&[arg], &yaml::ProcessEnv, known);
    let diags: Vec<Diagnostic> = diags.into_iter().filter(|d| !d.code.is_warning()).collect();
    let mut refused: BTreeMap<Address, String> = BTreeMap::new();
    let mut stray = Vec::new();
    for d in &diags {
        let name = Path::new(&d.file)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hit = files.iter().filter(|f| f.name == name).find_map(|f| {
            f.spans
                .iter()
                .find(|(_, from, to)| (*from..=*to).contains(&d.line))
                .map(|(a, _, _)| a.clone())
        });
        match hit {
            Some(a) => {
                let entry = refused.entry(a).or_default();
                if !entry.is_empty() {
                    entry.push_str("; ");
                }
                entry.push_str(&d.message);
            }
            None => stray.push(d.clone()),
        }
    }
    if !stray.is_empty() {
        return Err(config::invalid(&stray)).hint(
            "the settings come from the flags: fix `--owner` or `--recipient`; anything else is a bug of `registrar import` (please report it with the diagnostics above)",
        );
    }
    Ok(refused
        .into_iter()
        .map(|(a, m)| {
            (
                a,
                format!("the config check refuses it ({m}): left out; fix it on the platform and import again"),
            )
        })
        .collect())
}

/// Runs `registrar import`.
pub fn cmd_import(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    if args.owner.trim().is_empty() {
        return Err(hinted(
            "`--owner` must not be empty",
            "name the team or system that will own these resources, e.g. `--owner payments-platform`",
        ));
    }
    let out = Out::of(args)?;
    let opts = PlanOptions {
        config: ConfigArgs { files: vec![] },
        backend: args.backend.clone(),
        select: args.select.clone(),
        prune: false,
        max_deletes: None,
        format: PlanFormat::Text,
        read_all: true,
    };
    let target = target::resolve(&opts, &skeleton(&out, &args.recipients))?;
    if target.platform.backend == BackendKind::Apaleo {
        return Err(hinted(
            "apaleo has no client API to read, so there is nothing to import",
            "declare the clients under `clients:` and run `registrar plan`, which checks each stored secret at the token endpoint",
        ));
    }
    refuse_throwaway_identity(&target, args.allow_local_identity)?;
    let earlier = check_out(&out, args.force)?;
    let rt = super::runtime()?;
    let backend = AnyBackend::for_platform(&target.platform, None)?;
    let started = std::time::Instant::now();
    let actual: Actual = rt
        .block_on(backend.read(ReadScope::ALL))
        .map_err(anyhow::Error::new)
        .with_context(|| format!("failed to read {}", backend.describe()))?;
    tracing::info!(
        "read {} developers, {} products, {} apps, {} keys with {} requests in {} ms",
        actual.developers.len(),
        actual.products.len(),
        actual.apps.len(),
        actual.keys.len(),
        actual.requests,
        started.elapsed().as_millis()
    );
    let stored = open_secrets(&target.secrets, false)?.entries();
    let settings = emit::Settings {
        owner: args.owner.clone(),
        backend: backend_section(&target),
        secrets: (!args.recipients.is_empty()).then(|| SecretsConfig {
            dir: None,
            recipients: args.recipients.clone(),
        }),
        source: backend.describe(),
    };
    // Without --select the config is complete: it must pass `validate` as it is. With it,
    // references to what was not selected are the platform's (`validate --remote-refs`).
    let known = if args.select.is_empty() {
        Known::default()
    } else {
        Known {
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
        }
    };
    let phase = std::time::Instant::now();
    let mut exclude: BTreeMap<Address, String> = BTreeMap::new();
    let mut rounds = 0;
    let build = |exclude: &BTreeMap<Address, String>| {
        imp::build(
            &actual,
            imp::Options {
                owner: &args.owner,
                select: &args.select,
                stored: &stored,
                exclude,
            },
        )
    };
    let (import, files) = loop {
        let files = emit::emit(&build(&exclude), &settings, out.layout, &out.single);
        // The translation is not held while the files are checked (the check's copy of the
        // config is the larger part of an import's memory); it is made again, the same.
        let refused = check(&files, &out, &known)?;
        if refused.is_empty() {
            break (build(&exclude), files);
        }
        rounds += 1;
        if rounds >= CHECK_ROUNDS {
            return Err(hinted(
                "the imported config does not pass the config check",
                "this is a bug of `registrar import`: please report it",
            ));
        }
        exclude.extend(refused);
    };
    tracing::info!(
        "import: config made and checked in {} ms ({} round(s))",
        phase.elapsed().as_millis(),
        rounds + 1
    );
    write_files(&out, &files, &stale(&out, earlier, &files))?;
    let phase = std::time::Instant::now();
    let secrets = store_secrets(&target, &import)?;
    tracing::info!(
        "import: {} secret(s) stored in {} ms",
        secrets.now,
        phase.elapsed().as_millis()
    );
    print_summary(&import, &out, &files, &target, &actual, secrets);
    Ok(ExitCode::SUCCESS)
}

fn write_files(out: &Out, files: &[File], stale: &[PathBuf]) -> anyhow::Result<()> {
    if !out.dir.as_os_str().is_empty() {
        std::fs::create_dir_all(&out.dir)
            .with_context(|| format!("failed to create `{}`", out.dir.display()))?;
    }
    for p in stale {
        std::fs::remove_file(p).with_context(|| format!("failed to remove `{}`", p.display()))?;
    }
    for f in files {
        let path = out.dir.join(&f.name);
        std::fs::write(&path, &f.text)
            .with_context(|| format!("failed to write `{}`", path.display()))?;
    }
    let schema = out.dir.join(SCHEMA_FILE);
    std::fs::write(&schema, config::model::schema_json())
        .with_context(|| format!("failed to write `{}`", schema.display()))?;
    Ok(())
}

/// What went into the store.
struct Stored {
    /// Keys stored now.
    now: usize,
    /// Keys the store already held with the same secret.
    already: usize,
    /// Where.
    dir: PathBuf,
}

/// Stores every declared key's secret that the store lacks, as apply stores the keys it
/// finds unstored: under the credential's address, journaled, indexed at the end.
fn store_secrets(target: &Target, import: &Import<'_>) -> anyhow::Result<Stored> {
    let keys: Vec<(Address, Key)> = import
        .keys
        .iter()
        .filter(|k| !k.key.consumer_secret.expose().is_empty())
        .map(|k| (k.address.clone(), k.key.clone()))
        .collect();
    let store = open_secrets(&target.secrets, true)?;
    let dir = store.dir().to_path_buf();
    if keys.is_empty() {
        return Ok(Stored {
            now: 0,
            already: 0,
            dir,
        });
    }
    store
        .begin_batch()
        .context("failed to open the secrets store for writing")?;
    let unstored = store.unstored(keys.iter().map(|(a, k)| (a, k)));
    let now = unstored.len();
    // Several at once, as apply's workers store: each key's file is encrypted and synced
    // outside the store's lock, so the syncs overlap; journal and rename stay serialized.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let failed: std::sync::Mutex<Option<anyhow::Error>> = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..STORE_WORKERS.min(now) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some((credential, key)) = unstored.get(i) else {
                        break;
                    };
                    let stored = store.store(
                        &key.developer,
                        &key.app,
                        credential,
                        &StoredCredential::of(key),
                    );
                    if let Err(e) = stored {
                        let address = Address::credential(&key.developer, &key.app, credential);
                        let e = anyhow::Error::new(e)
                            .context(format!("failed to store the secret of {address}"));
                        failed
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .get_or_insert(e);
                        // The others stop at their next key.
                        next.store(usize::MAX / 2, std::sync::atomic::Ordering::Relaxed);
                        break;
                    }
                }
            });
        }
    });
    let failed = failed.into_inner().unwrap_or_else(|p| p.into_inner());
    store
        .end_batch()
        .context("failed to write the secrets index")?;
    if let Some(e) = failed {
        return Err(e).hint(
            "fix the secrets directory (permissions, disk), then import again: the keys stored so far are indexed",
        );
    }
    Ok(Stored {
        now,
        already: keys.len() - now,
        dir,
    })
}

fn list(title: &str, items: &[Remark]) {
    if items.is_empty() {
        return;
    }
    println!("\n{title} ({}):", items.len());
    for r in items {
        println!("  {}: {}", Escaped(&r.address), Escaped(&r.message));
    }
}

fn print_summary(
    import: &Import<'_>,
    out: &Out,
    files: &[File],
    target: &Target,
    actual: &Actual,
    stored: Stored,
) {
    let how = if actual.requests == 0 {
        "in-process".to_string()
    } else {
        format!("with {} requests", actual.requests)
    };
    println!(
        "Imported {} developer(s), {} product(s), {} app(s) and {} key(s) from {} org `{}` (read {how}).",
        import.developers.len(),
        import.products.len(),
        import.apps.len(),
        import.keys.len(),
        target.platform.backend.as_str(),
        Escaped(&target.platform.org),
    );
    let written: Vec<String> = files
        .iter()
        .map(|f| format!("`{}`", out.dir.join(&f.name).display()))
        .collect();
    println!("Config: {}", written.join(", "));
    let to = if target.secrets.recipients.is_empty() {
        format!(
            "the local identity `{}`",
            target.secrets.local_identity.display()
        )
    } else {
        format!("{} recipient(s)", target.secrets.recipients.len())
    };
    println!(
        "Secrets: {} key(s) stored encrypted to {to} in `{}`{}.",
        stored.now,
        stored.dir.display(),
        if stored.already > 0 {
            format!(" ({} already stored)", stored.already)
        } else {
            String::new()
        }
    );
    list("Not imported", &import.left_out);
    list(
        "Not expressed (kept on the platform as it is unless said otherwise)",
        &import.not_expressed(),
    );
    let missing: Vec<Remark> = import
        .without_secret()
        .iter()
        .map(|k| Remark {
            address: k.address.to_string(),
            message: "the platform returned no consumer secret: nothing stored (store it with `registrar secrets set`)".into(),
        })
        .collect();
    list("No secret returned", &missing);
    let f = out.config_arg();
    println!(
        "\nNext: `registrar validate -f {0}`{1}, then `registrar plan -f {0}`: it shows only `adopt` (the owner stamp).",
        f.display(),
        if import.left_out.is_empty() {
            ""
        } else {
            " (what was not imported stays as it is)"
        },
    );
}
