//! `registrar validate` and `registrar schema`: check configs, print the JSON Schema.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::cli::{DiagnosticFormat, ValidateArgs};
use crate::config::{self, Diagnostic, Summary};

/// Runs `registrar validate`.
pub fn cmd_validate(args: &ValidateArgs) -> anyhow::Result<ExitCode> {
    config::exists(&args.config.files)?;
    let (desired, mut diags) = config::load_and_check(
        &args.config.files,
        &config::yaml::ProcessEnv,
        &config::validate::Known::default(),
    );
    // What the config's own backend cannot hold (operation groups on Edge).
    if let Some(b) = &desired.backend {
        diags.extend(config::validate::check_platform(&desired, b.value.kind));
    }
    let summary = desired.summary();
    // With --remote-refs, references only the platform can answer are warnings.
    let (warnings, diags): (Vec<Diagnostic>, Vec<Diagnostic>) = diags
        .into_iter()
        .partition(|d| d.code.is_warning() || (args.remote_refs && d.code.is_remote_reference()));
    match args.format {
        DiagnosticFormat::Json => {
            #[derive(Serialize)]
            struct Report<'a> {
                version: u32,
                valid: bool,
                summary: Summary,
                diagnostics: &'a [Diagnostic],
                #[serde(skip_serializing_if = "<[Diagnostic]>::is_empty")]
                warnings: &'a [Diagnostic],
            }
            let report = Report {
                version: 1,
                valid: diags.is_empty(),
                summary,
                diagnostics: &diags,
                warnings: &warnings,
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        DiagnosticFormat::Text => {
            for d in &diags {
                println!("{d}");
            }
            for w in warnings.iter().filter(|w| w.code.is_warning()) {
                println!("{}", w.as_warning());
            }
            for w in warnings.iter().filter(|w| !w.code.is_warning()) {
                println!(
                    "{}:{}:{}: warning: {} (the platform may have it: `plan` checks)",
                    w.file,
                    w.line,
                    w.column,
                    crate::escape::Escaped(&w.message)
                );
            }
            if diags.is_empty() {
                println!("{}", describe_valid(&args.config.files, summary));
            } else {
                let n = diags.len();
                eprintln!("{n} problem{} found", if n == 1 { "" } else { "s" });
            }
        }
    }
    Ok(if diags.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(crate::error::EXIT_ERROR)
    })
}

fn describe_valid(inputs: &[PathBuf], s: Summary) -> String {
    let what = if inputs.len() == 1 && s.files == 1 {
        inputs[0].display().to_string()
    } else {
        format!("{} files", s.files)
    };
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    if s.clients > 0 && s.developers + s.products + s.apps == 0 {
        return format!(
            "{what}: valid ({})",
            plural(s.clients, "apaleo client", "apaleo clients")
        );
    }
    let clients = if s.clients > 0 {
        format!(", {}", plural(s.clients, "apaleo client", "apaleo clients"))
    } else {
        String::new()
    };
    format!(
        "{what}: valid ({}, {}, {}, {}{clients})",
        plural(s.developers, "developer", "developers"),
        plural(s.products, "product", "products"),
        plural(s.apps, "app", "apps"),
        plural(s.keys, "key", "keys")
    )
}

/// Runs `registrar schema`.
pub fn cmd_schema() -> anyhow::Result<ExitCode> {
    print!("{}", config::model::schema_json());
    Ok(ExitCode::SUCCESS)
}
