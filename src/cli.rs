//! Command-line definitions (clap derive) and nothing else: parsing checks what was typed;
//! files, network and decryption come later, in the commands.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use crate::output::ColorChoice;
pub use crate::target::{BackendKind, Flavor};

/// Manage OAuth client registrations (developers, API products, apps and their keys) as code.
///
/// Declare the desired state in YAML, `validate` it, `plan` the difference against a platform,
/// and `apply` it. Issued keys and secrets are stored age-encrypted and never printed.
#[derive(Debug, Parser)]
#[command(
    name = "registrar",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub struct Cli {
    /// When to colour output: auto (a terminal without NO_COLOR), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, env = "REGISTRAR_COLOR")]
    pub color: ColorChoice,

    /// Log level for diagnostics on stderr (error, warn, info, debug, trace), or a filter
    /// such as `registrar=debug`. Logs never contain secret values.
    #[arg(long, global = true, env = "REGISTRAR_LOG", default_value = "warn")]
    pub log: String,

    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// registrar's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check config files: YAML, schema, references, names, scopes, attributes.
    Validate(ValidateArgs),
    /// Print the JSON Schema of the config files.
    Schema,
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Apply the changes (a saved plan, or a fresh plan after confirmation).
    Apply(ApplyArgs),
    /// Report what differs and why (config, platform, conflict, secret, unmanaged, removed),
    /// changing nothing.
    ///
    /// Exit codes: 0 in sync, 1 error, 2 only config changes are pending, 3 anything else
    /// drifted.
    Drift(DriftArgs),
    /// Serve the Apigee management API over a local registry (a sandbox, and for tests).
    Serve(ServeArgs),
    /// Work with the encrypted store of issued keys and secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Schedule the rotation of an app's key: the next apply mints a new key and retires the old.
    Rotate(RotateArgs),
    /// Remove a stale apply lock by its id (from the error that named its holder).
    ForceUnlock(ForceUnlockArgs),
    /// Write a starter config: registry.yaml, its schema, and a .gitignore.
    Init(InitArgs),
    /// Print the completion script of a shell (bash, zsh, fish, powershell, elvish).
    ///
    /// For example `registrar completions bash > ~/.local/share/bash-completion/completions/registrar`,
    /// or `registrar completions zsh > "${fpath[1]}/_registrar"`.
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with `--out-dir`.
    Man(ManArgs),
    /// Write the config of an existing org, and store its keys' secrets encrypted.
    ///
    /// Reads the platform in bulk (as `plan` does), writes a config that declares what it
    /// holds (developers, products, apps, keys) so that the next plan shows only `adopt` (the
    /// owner stamp), and stores every key's consumer key and secret in the secrets store of
    /// the target. What the config cannot express is listed, never dropped silently.
    Import(ImportArgs),
}

/// Arguments of `init`.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// The directory to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub dir: PathBuf,
    /// A public key the secrets are encrypted to (`age1…` or `ssh-ed25519 …`; repeatable).
    /// Default: yours, from ~/.ssh/id_ed25519.pub or an age identity file.
    #[arg(long = "recipient", value_name = "PUBLIC_KEY")]
    pub recipients: Vec<String>,
    /// The config's `owner`, stamped on everything it creates (default: the directory's name).
    #[arg(long)]
    pub owner: Option<String>,
}

/// Arguments of `completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `man`.
#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write `registrar.1` and `registrar-COMMAND.1` for every command into this directory
    /// instead of printing `registrar.1`.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

/// Where the config comes from.
#[derive(Debug, Clone, Args)]
pub struct ConfigArgs {
    /// Config file or directory (every *.yaml / *.yml in it); repeat to merge several.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE|DIR",
        default_value = "registry.yaml"
    )]
    pub files: Vec<PathBuf>,
}

/// Which secrets store the `secrets` commands and `rotate` use.
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Config files.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// The org whose secrets store to use (default: `backend.org` of the config, or the
    /// only store in `secrets.dir`).
    #[arg(long, value_name = "ORG")]
    pub org: Option<String>,
}

/// Output format of diagnostics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiagnosticFormat {
    /// `file:line:col: message` lines.
    Text,
    /// A JSON document.
    Json,
}

/// Arguments of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config files.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
    pub format: DiagnosticFormat,
    /// References to developers and products the config does not declare (which may exist
    /// only on the platform; `plan` checks them there) are warnings, not errors.
    #[arg(long)]
    pub remote_refs: bool,
}

/// Backend selection; flags win over `backend:` in the config.
#[derive(Debug, Clone, Args)]
pub struct BackendArgs {
    /// Platform: local, apigee (X/hybrid), apigee-edge or apaleo.
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,
    /// Management API base URL (default per platform). For apaleo: the identity server and
    /// API both (default `https://identity.apaleo.com` and `https://api.apaleo.com`).
    #[arg(long)]
    pub url: Option<String>,
    /// Organization (for apaleo: the account code).
    #[arg(long)]
    pub org: Option<String>,
    /// SQLite file of the local backend (default: `.registrar/registry.db` beside the config).
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// How long one request to an Apigee backend (or apaleo's token endpoint) may take before
    /// it is retried, e.g. `10s` (default 10s for Apigee, 30s for apaleo; 6 attempts).
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<String>,
}

/// How `import` splits the config into files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportLayout {
    /// One file (`--out FILE`).
    Single,
    /// A directory (`--out DIR`): settings, developers, products and apps each in a file.
    ByKind,
    /// A directory (`--out DIR`): settings, products, and one file per developer with its apps.
    ByDeveloper,
}

/// Arguments of `import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Backend to read.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// The owner the config stamps on what it manages (its `owner:`).
    #[arg(long, value_name = "NAME")]
    pub owner: String,
    /// Import only resources whose address matches (repeatable), e.g. `app alice@example.com/*`;
    /// an app's keys come with it.
    #[arg(long, value_name = "ADDRESS")]
    pub select: Vec<String>,
    /// Where to write the config: a file (`--layout single`) or a directory.
    #[arg(long, value_name = "FILE|DIR", default_value = "registry.yaml")]
    pub out: PathBuf,
    /// How to split the config into files.
    #[arg(long, value_enum, default_value_t = ImportLayout::Single)]
    pub layout: ImportLayout,
    /// age recipient that can decrypt the stored secrets (repeatable; written to
    /// `secrets.recipients`). None: a local identity `.registrar/identity.txt` beside the config.
    #[arg(long = "recipient", value_name = "RECIPIENT")]
    pub recipients: Vec<String>,
    /// Replace files an earlier import wrote.
    #[arg(long)]
    pub force: bool,
    /// In CI (`CI` set), encrypt to a generated local identity when no `--recipient` is given
    /// (refused by default: nobody could decrypt it after the runner is gone).
    #[arg(long)]
    pub allow_local_identity: bool,
}

/// Output format of plans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Human-readable text, coloured on a terminal.
    Text,
    /// Versioned JSON.
    Json,
    /// Markdown sized for a pull-request comment.
    Markdown,
}

/// What to plan.
#[derive(Debug, Clone, Args)]
pub struct PlanOptions {
    /// Config files.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Limit the plan to resources whose whole address matches (repeatable): `KIND PATH`, a bare
    /// path, or a kind alone; `*`/`?` are wildcards where written, e.g. `app */checkout-*`.
    #[arg(long, value_name = "ADDRESS")]
    pub select: Vec<String>,
    /// Delete resources this config owns that it no longer declares.
    #[arg(long)]
    pub prune: bool,
    /// Refuse a plan that deletes more than N resources.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Read every kind even when the config declares none of it (`drift`: an owned product
    /// or app is `removed` even when the config no longer declares any). Not a flag.
    #[arg(skip)]
    pub read_all: bool,
}

/// Arguments of `plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// What to plan.
    #[command(flatten)]
    pub options: PlanOptions,
    /// Save the plan (with preconditions) for `apply FILE`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 when there are no changes, 2 when there are, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
}

/// Arguments of `drift`.
#[derive(Debug, Args)]
pub struct DriftArgs {
    /// Config files.
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Limit the report to these addresses (repeatable; `*` globs where written).
    #[arg(long, value_name = "ADDRESS")]
    pub select: Vec<String>,
    /// Output format: text, versioned JSON, or markdown for an issue body.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
}

/// Arguments of `apply`.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A plan saved with `plan --out`; without it, apply plans first.
    #[arg(value_name = "PLANFILE")]
    pub plan_file: Option<PathBuf>,
    /// What to plan (ignored, but for the backend flags, with a saved plan).
    #[command(flatten)]
    pub options: PlanOptions,
    /// Apply without asking.
    #[arg(long)]
    pub auto_approve: bool,
    /// Operations in flight at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub parallelism: u16,
    /// Request budget, e.g. `100/s` or `4800/min` (default: 80% of the platform's quota).
    #[arg(long, value_name = "N/s|N/min")]
    pub rate_limit: Option<String>,
    /// In CI (`CI` set), encrypt to a generated local identity when the config names no
    /// recipients (refused by default: nobody could decrypt it after the runner is gone).
    #[arg(long)]
    pub allow_local_identity: bool,
    /// Lock the target (and the secrets store) for the run; `--lock=false` skips it.
    #[arg(long, value_name = "BOOL", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub lock: bool,
    /// How long to wait for another run's lock, e.g. `30s` or `5m` (0: fail at once).
    #[arg(long, value_name = "DURATION", default_value = "0")]
    pub lock_timeout: String,
}

/// Arguments of `force-unlock`.
#[derive(Debug, Args)]
pub struct ForceUnlockArgs {
    /// The lock id, as the error that named the holder shows it.
    pub id: String,
    /// Config files (for `owner` and `backend:`).
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Backend.
    #[command(flatten)]
    pub backend: BackendArgs,
}

/// Arguments of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port (printed on stdout).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// SQLite file of the registry.
    #[arg(long, value_name = "PATH", default_value = ".registrar/registry.db")]
    pub db: PathBuf,
    /// API flavour: `x` or `edge` (the Apigee management API), or `apaleo` (a stand-in for
    /// apaleo's token endpoint and account API, with an admin interface playing its dashboard).
    #[arg(long, value_enum, default_value_t = ServeFlavor::X)]
    pub flavor: ServeFlavor,
    /// Organization to serve (repeatable; created if missing). Default: `local`. With
    /// `--flavor apaleo`: the account new clients belong to (default `DEMO`).
    #[arg(long = "org", value_name = "NAME")]
    pub orgs: Vec<String>,
    /// Require this token (Bearer, or Basic password). Required off loopback.
    #[arg(long, env = "REGISTRAR_SERVE_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Delay every response, e.g. `50ms`.
    #[arg(long, value_name = "DURATION")]
    pub latency: Option<String>,
    /// Answer this fraction of requests with 503, e.g. `0.1`.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub fail_rate: f64,
    /// Carry out this fraction of writes but answer them 503, as if the reply were lost.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub drop_reply_rate: f64,
    /// Seed of the fault injection's random numbers.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Answer 429 beyond this many requests, e.g. `100/s`.
    #[arg(long, value_name = "N/s|N/min")]
    pub rate_limit: Option<String>,
    /// Close a connection whose request line and headers take longer than this.
    #[arg(long, value_name = "DURATION", default_value = "10s")]
    pub header_timeout: String,
    /// Answer 408 to a request whose body takes longer than this.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub body_timeout: String,
    /// Close a keep-alive connection idle for longer than this.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub idle_timeout: String,
    /// Answer 431 to a request whose request line and headers exceed this many bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 64 * 1024)]
    pub max_header_bytes: usize,
    /// Answer 431 to a request with more headers than this.
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub max_headers: usize,
    /// Connections open at once; further ones wait until one closes.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Read the Apigee docs at their strictest where `expand` meets paging: developer and
    /// developer-app lists with `expand=true` ignore `count` and `startKey` and stop at the
    /// list's limit (1,000; 100 for Edge developer apps).
    #[arg(long)]
    pub strict_paging: bool,
}

/// What `registrar serve` plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ServeFlavor {
    /// Apigee X or hybrid (`apigee.googleapis.com`).
    X,
    /// Apigee Edge (`api.enterprise.apigee.com`).
    Edge,
    /// apaleo's identity server and account API (a stand-in for tests).
    Apaleo,
}

/// `secrets` subcommands.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// List stored keys from the index (no identity needed; prints no secret).
    List(SecretsListArgs),
    /// Print an app's consumer key and secret (the only command that does).
    Show(SecretsShowArgs),
    /// Store a consumer key and secret read from stdin (two lines, or KEY=VALUE lines).
    Set(SecretsSetArgs),
    /// Re-encrypt every stored secret to the configured recipients.
    Rekey(SecretsRekeyArgs),
}

/// Arguments shared by `secrets` commands: where the config is.
#[derive(Debug, Args)]
pub struct SecretsListArgs {
    /// Config files (for `secrets.dir` and `secrets.recipients`) and the store.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagnosticFormat::Text)]
    pub format: DiagnosticFormat,
}

/// Output format of `secrets show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecretFormat {
    /// `CONSUMER_KEY=…` lines for a shell or a .env file.
    Env,
    /// A JSON object.
    Json,
}

/// Arguments of `secrets show`.
#[derive(Debug, Args)]
pub struct SecretsShowArgs {
    /// App name.
    pub app: String,
    /// Developer email, when the app name is not unique.
    #[arg(long)]
    pub developer: Option<String>,
    /// Credential id (default: every key of the app).
    #[arg(long)]
    pub key: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = SecretFormat::Env)]
    pub format: SecretFormat,
    /// age identity file that can decrypt the store.
    #[arg(long, env = "REGISTRAR_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Config files and the store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `secrets set`.
#[derive(Debug, Args)]
pub struct SecretsSetArgs {
    /// App name.
    pub app: String,
    /// Developer email, when the app name is not unique.
    #[arg(long)]
    pub developer: Option<String>,
    /// Credential id.
    #[arg(long)]
    pub key: String,
    /// Replace a stored key of this credential with a different one.
    #[arg(long)]
    pub force: bool,
    /// Config files and the store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `secrets rekey`.
#[derive(Debug, Args)]
pub struct SecretsRekeyArgs {
    /// age identity file that can decrypt the store.
    #[arg(long, env = "REGISTRAR_IDENTITY", value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// Config files and the store.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Arguments of `rotate`.
#[derive(Debug, Args)]
pub struct RotateArgs {
    /// App name.
    pub app: String,
    /// Developer email, when the app name is not unique.
    #[arg(long)]
    pub developer: Option<String>,
    /// Credential id (default: every credential of the app).
    #[arg(long)]
    pub key: Option<String>,
    /// How long the old key keeps working after the new one is minted, e.g. `7d`.
    #[arg(long, default_value = "7d")]
    pub overlap: String,
    /// Config files and the store.
    #[command(flatten)]
    pub store: StoreArgs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn file_flag_repeats_and_defaults() {
        let cli = Cli::try_parse_from(["registrar", "validate"]).unwrap();
        let Command::Validate(v) = cli.command else {
            panic!()
        };
        assert_eq!(v.config.files, vec![PathBuf::from("registry.yaml")]);
        let cli = Cli::try_parse_from(["registrar", "validate", "-f", "a.yaml", "--file", "dir"])
            .unwrap();
        let Command::Validate(v) = cli.command else {
            panic!()
        };
        assert_eq!(
            v.config.files,
            vec![PathBuf::from("a.yaml"), PathBuf::from("dir")]
        );
    }

    #[test]
    fn parallelism_is_bounded() {
        assert!(Cli::try_parse_from(["registrar", "apply", "--parallelism", "0"]).is_err());
        assert!(Cli::try_parse_from(["registrar", "apply", "--parallelism", "16"]).is_ok());
    }
}
