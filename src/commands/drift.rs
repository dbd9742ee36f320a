//! `registrar drift`: read, classify, report; change nothing. No lock is taken and nothing is
//! created (not the local registry, not the secrets store): the same read and diff as
//! `plan`, reported by drift class ([`crate::plan::drift`]). On apaleo, the apaleo plan's
//! verification, reported the same way (`commands/apaleo/drift.rs`).

use std::process::ExitCode;

use super::plan::{load_config, make_plan};
use super::target::{self, open_secrets};
use crate::backend;
use crate::cli::{DriftArgs, PlanFormat, PlanOptions};
use crate::plan::drift::{self, render};

/// Runs `registrar drift`.
pub fn cmd_drift(args: &DriftArgs) -> anyhow::Result<ExitCode> {
    let options = PlanOptions {
        config: args.config.clone(),
        backend: args.backend.clone(),
        select: args.select.clone(),
        prune: false,
        max_deletes: None,
        format: args.format,
        read_all: true,
    };
    let rt = super::runtime()?;
    let desired = load_config(&options, &rt)?;
    let target = target::resolve(&options, &desired)?;
    if target.platform.backend == crate::target::BackendKind::Apaleo {
        drop(rt);
        return super::apaleo::cmd_drift(&options, &desired, target);
    }
    super::apaleo::refuse_clients_elsewhere(&desired, &target)?;
    let store = open_secrets(&target.secrets, false)?;
    let backend = backend::AnyBackend::for_reading(&target.platform)?;
    let state = desired.state();
    drop(desired);
    let planned = rt.block_on(make_plan(&backend, &options, state, target, &store))?;
    let report = drift::report(&planned.plan);
    let out = match args.format {
        PlanFormat::Text => render::text(&report, crate::output::color()),
        PlanFormat::Json => render::json(&report),
        PlanFormat::Markdown => render::markdown(&report),
    };
    print!("{out}");
    Ok(ExitCode::from(report.exit_code()))
}
