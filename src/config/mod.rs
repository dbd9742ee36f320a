//! Desired state as users write it: [`model`] (serde + schemars, the one source of the JSON
//! Schema), [`load`] (files, `${VAR}` interpolation, merge), [`validate`] (cross-checks), and
//! diagnostics with `file:line:col`.

pub mod clients;
pub mod load;
pub mod model;
pub mod validate;
pub mod yaml;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use crate::units::{parse_duration, parse_expiry};
pub use load::{Desired, Sourced};

use crate::escape::Escaped;
use crate::model::{
    self as m, ACCESS_ATTRIBUTE, DEFAULT_CREDENTIAL_ID, DISPLAY_NAME_ATTRIBUTE, NOTES_ATTRIBUTE,
    OWNER_ATTRIBUTE,
};
use model::ClientStatus;
use yaml::Pos;

/// What kind of problem a diagnostic reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// YAML that does not parse.
    Syntax,
    /// A file over a size, nesting, node or alias limit (each can be raised by a variable).
    Limit,
    /// A mapping key given twice.
    DuplicateKey,
    /// A field the schema does not know.
    UnknownField,
    /// A value the schema refuses.
    Schema,
    /// An unset `${VAR}` without a default.
    Variable,
    /// An invalid developer email.
    Email,
    /// An invalid name (app, product, credential id, owner).
    Name,
    /// A resource declared twice.
    Duplicate,
    /// A reference to a developer or product that exists nowhere.
    Reference,
    /// A scope the referenced products do not offer.
    Scope,
    /// A reserved or invalid attribute.
    Attribute,
    /// More custom attributes than the platform allows.
    AttributeLimit,
    /// A callback URL that is not https (or http on localhost).
    CallbackUrl,
    /// An invalid duration.
    Duration,
    /// An invalid age recipient.
    Recipient,
    /// An invalid URL.
    Url,
    /// A file or directory that cannot be read.
    Io,
    /// A directory without config files.
    NoFiles,
    /// An invalid operation group, or one the target platform does not support.
    Operation,
    /// An apaleo scope that is not in the catalogue.
    UnknownScope,
    /// A warning: an apaleo scope of a prefixed group registrar does not catalogue.
    ScopeGroup,
    /// A warning: two redirect URIs that differ only in a trailing `/` or letter case.
    NearDuplicate,
    /// A warning: an OpenID Connect or refresh-token scope on a simple (client-credentials)
    /// apaleo client, which cannot use it.
    IdentityScope,
    /// A patch of a resource that no earlier file declares.
    Patch,
}

impl Code {
    /// Whether the problem is a reference to what may exist on the platform only, which
    /// `plan` checks against it.
    pub fn is_remote_reference(self) -> bool {
        matches!(self, Code::Reference | Code::Scope)
    }

    /// Whether the problem is a warning: reported, but the config is valid.
    pub fn is_warning(self) -> bool {
        matches!(
            self,
            Code::ScopeGroup | Code::NearDuplicate | Code::IdentityScope
        )
    }
}

/// One problem in the config, at a place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// File, as named on the command line (or found in a named directory).
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// Short machine-readable kind (`--format json` shows it kebab-cased).
    pub code: Code,
    /// What is wrong and, where it helps, what to do.
    pub message: String,
    /// Other places the problem involves: the declaration a patch changes, the first of two
    /// declarations. Its message says what each is.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<Related>,
}

/// A second place a diagnostic involves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Related {
    /// File.
    pub file: String,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
    /// What is there, e.g. `app alice@example.com/web declared here`.
    pub message: String,
}

impl std::fmt::Display for Related {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", Escaped(&self.file), self.line, self.column)
    }
}

impl Diagnostic {
    /// A diagnostic at a position in a file.
    pub fn new(file: &Path, pos: Pos, code: Code, message: String) -> Self {
        Diagnostic {
            file: file.display().to_string(),
            line: pos.line,
            column: pos.col,
            code,
            message,
            related: Vec::new(),
        }
    }

    /// The diagnostic as a warning line: `file:line:col: warning: message`, escaped.
    pub fn as_warning(&self) -> String {
        format!(
            "{}:{}:{}: warning: {}",
            Escaped(&self.file),
            self.line,
            self.column,
            Escaped(&self.message)
        )
    }

    /// A diagnostic about a whole file (line 1, column 1).
    pub fn file(file: &Path, code: Code, message: String) -> Self {
        Self::new(file, Pos { line: 1, col: 1 }, code, message)
    }
}

/// One line, `file:line:col: message`: the file name and the message (which quotes values from
/// the config) are escaped, so neither can forge a line or reach the terminal.
impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            Escaped(&self.file),
            self.line,
            self.column,
            Escaped(&self.message)
        )
    }
}

/// Loads `files`, runs every check, and returns the desired state with its diagnostics
/// (sorted by file order, line, column). `known` names remote resources references may use.
pub fn load_and_check(
    files: &[PathBuf],
    env: &dyn yaml::Env,
    known: &validate::Known,
) -> (Desired, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    let desired = load::load(files, env, &mut diags);
    // A file that failed to parse or to match the schema declared nothing: references into it
    // would only report noise, so they are checked once the structure is right.
    let structural = !diags.is_empty();
    validate::check(&desired, known, !structural, &mut diags);
    clients::check(&desired, &mut diags);
    // apaleo clients carry no owner stamp: a config of clients only needs no `owner`.
    let stamps = !(desired.developers.is_empty()
        && desired.products.is_empty()
        && desired.apps.is_empty()
        && !desired.clients.is_empty());
    if desired.owner.is_none() && stamps && !structural && !desired.parts.is_empty() {
        diags.push(Diagnostic::file(&desired.parts[0].path, Code::Schema, "no file sets `owner`: add e.g. `owner: payments-platform` (registrar stamps it on everything it creates)".into()));
    }
    let order: Vec<String> = {
        let mut o: Vec<String> = Vec::new();
        for d in &diags {
            if !o.contains(&d.file) {
                o.push(d.file.clone());
            }
        }
        o
    };
    diags.sort_by_key(|d| (order.iter().position(|f| *f == d.file), d.line, d.column));
    diags.dedup();
    (desired, diags)
}

/// Counts of what a config declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Files read.
    pub files: usize,
    /// Developers.
    pub developers: usize,
    /// Products.
    pub products: usize,
    /// Apps.
    pub apps: usize,
    /// Keys (credentials, counting the implicit `default` ones).
    pub keys: usize,
    /// apaleo clients.
    #[serde(skip_serializing_if = "is_zero")]
    pub clients: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Desired {
    /// Counts of what this config declares.
    pub fn summary(&self) -> Summary {
        let mut files: Vec<&Path> = self.parts.iter().map(|p| p.path.as_path()).collect();
        files.dedup();
        Summary {
            files: files.len(),
            developers: self.developers.len(),
            products: self.products.len(),
            apps: self.apps.len(),
            keys: self
                .apps
                .iter()
                .map(|a| a.value.credentials.as_ref().map_or(1, Vec::len))
                .sum(),
            clients: self.clients.len(),
        }
    }
}

/// Loads a config and fails (listing the diagnostics) unless it is valid.
pub fn load_valid(files: &[PathBuf], known: &validate::Known) -> anyhow::Result<Desired> {
    exists(files)?;
    let (desired, diags) = load_and_check(files, &yaml::ProcessEnv, known);
    let (warnings, diags): (Vec<Diagnostic>, Vec<Diagnostic>) =
        diags.into_iter().partition(|d| d.code.is_warning());
    if diags.is_empty() {
        for w in &warnings {
            eprintln!("{}", w.as_warning());
        }
        return Ok(desired);
    }
    Err(invalid(&diags))
}

/// A clear error, before anything is read, when the one config file named does not exist.
pub fn exists(files: &[PathBuf]) -> anyhow::Result<()> {
    if let [only] = files
        && !only.exists()
    {
        let here = std::env::current_dir()
            .map(|d| d.display().to_string())
            .unwrap_or_else(|_| ".".into());
        return Err(crate::error::hinted(
            format!("no config file `{}` (looked in `{here}`)", only.display()),
            "pass the config with `-f FILE` (or a directory), or write a starter one with `registrar init`",
        ));
    }
    Ok(())
}

/// The error of a config with these diagnostics: the first twenty, and how many more.
pub fn invalid(diags: &[Diagnostic]) -> anyhow::Error {
    let shown: Vec<String> = diags.iter().take(20).map(Diagnostic::to_string).collect();
    let more = if diags.len() > 20 {
        format!("\n… and {} more", diags.len() - 20)
    } else {
        String::new()
    };
    crate::error::hinted(
        format!("the config is not valid:\n{}{more}", shown.join("\n")),
        "fix these problems (`registrar validate` lists them all) and try again",
    )
}

/// What the secrets commands need from the config.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The owner stamp.
    pub owner: String,
    /// The secrets directory, resolved against the first config file's directory.
    pub secrets_dir: PathBuf,
    /// age recipients; empty means the local identity.
    pub recipients: Vec<String>,
    /// Every app: developer email, app name, credential ids; and every apaleo client as
    /// `apaleo`, client code, secret ids.
    pub apps: Vec<(String, String, Vec<String>)>,
    /// `.registrar/` beside the config (the local identity lives there).
    pub registrar_dir: PathBuf,
}

/// Loads a valid config and returns what the secrets commands need.
pub fn load_settings(files: &[PathBuf]) -> anyhow::Result<Settings> {
    let desired = load_valid(files, &validate::Known::default())?;
    Ok(desired.settings())
}

impl Desired {
    /// registrar's working directory, `.registrar/` beside the (first) config file: the local
    /// registry and the generated local identity live there.
    pub fn registrar_dir(&self) -> PathBuf {
        self.base_dir().join(".registrar")
    }

    /// The secrets directory, resolved against the first config file's directory.
    pub fn secrets_dir(&self) -> PathBuf {
        let dir = self
            .secrets
            .as_ref()
            .and_then(|s| s.value.dir.clone())
            .unwrap_or_else(|| "secrets".into());
        self.base_dir().join(dir)
    }

    /// What the secrets commands need.
    pub fn settings(&self) -> Settings {
        Settings {
            owner: self
                .owner
                .as_ref()
                .map(|o| o.value.clone())
                .unwrap_or_default(),
            secrets_dir: self.secrets_dir(),
            recipients: self
                .secrets
                .as_ref()
                .map(|s| s.value.recipients.clone())
                .unwrap_or_default(),
            apps: self
                .apps
                .iter()
                .map(|a| {
                    (
                        a.value.developer.clone(),
                        a.value.name.clone(),
                        credential_ids(&a.value),
                    )
                })
                .chain(self.clients.iter().map(|c| {
                    (
                        crate::model::apaleo::STORE_DEVELOPER.to_string(),
                        c.value.code.clone(),
                        c.value.secrets.iter().map(|s| s.id.clone()).collect(),
                    )
                }))
                .collect(),
            registrar_dir: self.registrar_dir(),
        }
    }

    /// The normalized desired resources, with registrar's own attributes added.
    /// Call only on a valid config.
    pub fn state(&self) -> m::DesiredState {
        let owner = self
            .owner
            .as_ref()
            .map(|o| o.value.clone())
            .unwrap_or_default();
        let stamp = |attrs: &std::collections::BTreeMap<String, String>| {
            let mut a: m::Attributes = attrs.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            a.insert(OWNER_ATTRIBUTE.into(), owner.clone());
            a
        };
        let developers = self.developers.iter().map(|d| {
            let d = &d.value;
            m::Developer {
                email: d.email.clone(),
                first_name: d.first_name.clone(),
                last_name: d.last_name.clone(),
                user_name: d
                    .user_name
                    .clone()
                    .unwrap_or_else(|| d.email.split('@').next().unwrap_or_default().to_string()),
                status: d.status.unwrap_or_default(),
                attributes: stamp(&d.attributes),
            }
        });
        let products = self.products.iter().map(|p| {
            let p = &p.value;
            let mut attributes = stamp(&p.attributes);
            if let Some(access) = p.access {
                attributes.insert(ACCESS_ATTRIBUTE.into(), access.as_str().into());
            }
            m::Product {
                name: p.name.clone(),
                display_name: p.display_name.clone().unwrap_or_else(|| p.name.clone()),
                description: p.description.clone().unwrap_or_default(),
                approval_type: p.approval_type.unwrap_or_default(),
                environments: p.environments.clone(),
                proxies: p.proxies.clone(),
                api_resources: p.api_resources.clone(),
                scopes: p.scopes.clone(),
                quota: p.quota.as_ref().map(|q| m::Quota {
                    limit: q.limit,
                    interval: q.interval,
                    time_unit: q.time_unit,
                }),
                attributes,
                operation_group: p.operation_group.clone(),
                graphql_operation_group: p.graphql_operation_group.clone(),
            }
        });
        let mut apps = Vec::with_capacity(self.apps.len());
        let mut keys = Vec::with_capacity(self.apps.len());
        for a in &self.apps {
            let a = &a.value;
            let mut attributes = stamp(&a.attributes);
            if let Some(v) = &a.display_name {
                attributes.insert(DISPLAY_NAME_ATTRIBUTE.into(), v.clone());
            }
            if let Some(v) = &a.notes {
                attributes.insert(NOTES_ATTRIBUTE.into(), v.clone());
            }
            let expiry = |s: &Option<String>| {
                s.as_deref()
                    .and_then(|s| parse_expiry(s).ok().flatten())
                    .map(|d| d.as_millis() as u64)
            };
            let key_expires_in_ms = expiry(&a.key_expires_in);
            apps.push(m::App {
                developer: a.developer.clone(),
                name: a.name.clone(),
                callback_url: a.callback_url.clone().filter(|u| !u.is_empty()),
                status: status(a.status),
                scopes: a.scopes.clone(),
                key_expires_in_ms,
                attributes,
            });
            let creds = a.credentials.clone().unwrap_or_else(|| {
                vec![model::CredentialConfig {
                    id: DEFAULT_CREDENTIAL_ID.into(),
                    api_products: None,
                    scopes: None,
                    expires_in: None,
                    status: None,
                }]
            });
            for c in creds {
                keys.push(m::DesiredKey {
                    developer: a.developer.clone(),
                    app: a.name.clone(),
                    id: c.id,
                    products: c.api_products.unwrap_or_else(|| a.api_products.clone()),
                    scopes: c.scopes.unwrap_or_else(|| a.scopes.clone()),
                    status: status(c.status),
                    expires_in_ms: if c.expires_in.is_some() {
                        expiry(&c.expires_in)
                    } else {
                        key_expires_in_ms
                    },
                });
            }
        }
        let (developers, products) = (developers.collect(), products.collect());
        m::DesiredState {
            owner,
            developers,
            products,
            apps,
            keys,
        }
    }
}

fn status(s: Option<ClientStatus>) -> m::Status {
    match s {
        Some(ClientStatus::Revoked) => m::Status::Revoked,
        _ => m::Status::Approved,
    }
}

fn credential_ids(app: &model::AppConfig) -> Vec<String> {
    match &app.credentials {
        Some(c) => c.iter().map(|c| c.id.clone()).collect(),
        None => vec![DEFAULT_CREDENTIAL_ID.into()],
    }
}
