//! registrar: OAuth client registrations (developers, API products, developer apps and their
//! keys) as code. `validate` → `plan` → `apply`, against Apigee X/hybrid, Apigee Edge, or the
//! embedded registry; issued secrets are stored age-encrypted and never printed.

pub mod apaleo;
pub mod apply;
pub mod backend;
pub mod cli;
pub mod commands;
pub mod config;
pub mod error;
pub mod escape;
pub mod feedback;
pub mod import;
pub mod json;
pub mod lock;
pub mod model;
pub mod names;
pub mod op;
pub mod output;
pub mod owner_only;
pub mod plan;
pub mod registry;
pub mod secrets;
pub mod server;
pub mod target;
pub mod units;

use std::process::ExitCode;

use cli::{Cli, Command};

/// Runs a parsed command line; returns the process exit code.
pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    output::init(cli.color, &cli.log);
    match cli.command {
        Command::Validate(args) => commands::validate::cmd_validate(&args),
        Command::Schema => commands::validate::cmd_schema(),
        Command::Plan(args) => commands::plan::cmd_plan(&args),
        Command::Apply(args) => commands::apply::cmd_apply(&args),
        Command::Drift(args) => commands::drift::cmd_drift(&args),
        Command::Serve(args) => commands::serve::cmd_serve(args),
        Command::Secrets(cmd) => commands::secrets::cmd_secrets(&cmd),
        Command::Rotate(args) => commands::secrets::cmd_rotate(&args),
        Command::ForceUnlock(args) => commands::lock::cmd_force_unlock(&args),
        Command::Init(args) => commands::init::cmd_init(&args),
        Command::Completions(args) => commands::completions::cmd_completions(&args),
        Command::Man(args) => commands::completions::cmd_man(&args),
        Command::Import(args) => commands::import::cmd_import(&args),
    }
}
