//! The age-encrypted store of issued keys and secrets.

use std::process::ExitCode;

use crate::cli::{RotateArgs, SecretsCommand};

/// Runs a `registrar secrets` subcommand.
pub fn cmd_secrets(_cmd: SecretsCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`secrets` is not available in this build yet")
}

/// Runs `registrar rotate`.
pub fn cmd_rotate(_args: RotateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`rotate` is not available in this build yet")
}
