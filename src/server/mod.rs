//! `registrar serve`: the Apigee management API over the local registry store.

use std::process::ExitCode;

use crate::cli::ServeArgs;

/// Runs `registrar serve`.
pub fn cmd_serve(_args: ServeArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("`serve` is not available in this build yet")
}
