//! `registrar completions SHELL` and `registrar man`: generated from the clap definitions
//! ([`crate::cli::Cli`]), so they never drift from the flags.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

/// Prints the completion script of a shell on stdout.
pub fn cmd_completions(args: &CompletionsArgs) -> anyhow::Result<ExitCode> {
    let mut cmd = Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "registrar", &mut std::io::stdout());
    Ok(ExitCode::SUCCESS)
}

/// Prints the man page (roff) on stdout, or writes one page per command into a directory.
pub fn cmd_man(args: &ManArgs) -> anyhow::Result<ExitCode> {
    let cmd = Cli::command();
    match &args.out_dir {
        None => {
            clap_mangen::Man::new(cmd)
                .render(&mut std::io::stdout())
                .context("failed to write the man page")?;
        }
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("failed to create `{}`", dir.display()))?;
            let mut written = 0;
            write_pages(cmd, "registrar".into(), dir, &mut written)?;
            println!("Wrote {written} man pages to `{}`.", dir.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `registrar.1`, then `registrar-<command>.1` for every command, recursively.
fn write_pages(
    cmd: clap::Command,
    name: String,
    dir: &Path,
    written: &mut usize,
) -> anyhow::Result<()> {
    let cmd = cmd.display_name(name.clone());
    let path = dir.join(format!("{name}.1"));
    let mut out = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut out)
        .context("failed to render a man page")?;
    std::fs::write(&path, out).with_context(|| format!("failed to write `{}`", path.display()))?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        write_pages(
            sub.clone(),
            format!("{name}-{}", sub.get_name()),
            dir,
            written,
        )?;
    }
    Ok(())
}
