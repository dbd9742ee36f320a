//! The command layer: turns parsed flags and the config into calls of the library, and its
//! results into output and exit codes. The only place below `main.rs` that knows `clap`'s
//! types ([`crate::cli`]). One file per command family.

pub mod apaleo;
pub mod apply;
mod apply_json;
pub mod completions;
pub mod drift;
pub mod import;
pub mod init;
pub mod lock;
pub mod plan;
pub mod secrets;
pub mod serve;
pub mod target;
pub mod validate;

use anyhow::Context;

/// The async runtime of a command.
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")
}

/// Refuses the flags of `given` that were set: "`--a`, `--b` {plural or singular verb}
/// {what}", with `hint`. Flags a context makes meaningless are refused, never ignored.
fn refuse_flags(
    given: &[(bool, &str)],
    (singular, plural): (&str, &str),
    what: &str,
    hint: &str,
) -> anyhow::Result<()> {
    let set: Vec<String> = given
        .iter()
        .filter(|(set, _)| *set)
        .map(|(_, flag)| format!("`{flag}`"))
        .collect();
    if set.is_empty() {
        return Ok(());
    }
    let verb = if set.len() == 1 { singular } else { plural };
    Err(crate::error::hinted(
        format!("{} {verb} {what}", set.join(", ")),
        hint,
    ))
}
