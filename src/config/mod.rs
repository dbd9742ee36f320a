//! Desired state as users write it: model, loading, validation.

use std::process::ExitCode;

use crate::cli::ValidateArgs;

/// Runs `registrar validate`.
pub fn cmd_validate(_args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}

/// Runs `registrar schema`.
pub fn cmd_schema() -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
