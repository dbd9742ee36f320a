//! `registrar serve`: check the flags, then run the Apigee-compatible server.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;

use crate::cli::{ServeArgs, ServeFlavor};
use crate::error::{HintExt, hinted};
use crate::model::Secret;
use crate::server::{self, conn::Limits, faults::Faults, faults::RateLimit};
use crate::target::Flavor;
use tokio::sync::Semaphore;

/// A fraction flag (`--fail-rate`, `--drop-reply-rate`) from 0 to 1.
fn fraction(flag: &str, value: f64, example: &str) -> anyhow::Result<f64> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(hinted(
            format!("`--{flag} {value}` is not a fraction"),
            format!("give a number from 0 to 1, e.g. `0.1` for 10% of {example}"),
        ))
    }
}

/// A timeout flag: a positive duration.
fn timeout(flag: &str, value: &str) -> anyhow::Result<Duration> {
    match crate::units::parse_duration(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        Ok(_) => Err(hinted(
            format!("`--{flag} {value}` is zero"),
            "give a positive duration like `10s`; a zero timeout would close every connection",
        )),
        Err(e) => Err(hinted(
            format!("`--{flag}` is not a duration: {e}"),
            "write it like `500ms`, `10s` or `2m`",
        )),
    }
}

/// A limit flag: at least `min`.
fn at_least(flag: &str, value: usize, min: usize) -> anyhow::Result<usize> {
    if value >= min {
        Ok(value)
    } else {
        Err(hinted(
            format!("`--{flag} {value}` is too small"),
            format!("give at least {min}"),
        ))
    }
}

/// The connection limits from the flags.
fn limits(args: &ServeArgs) -> anyhow::Result<Limits> {
    Ok(Limits {
        header_timeout: timeout("header-timeout", &args.header_timeout)?,
        body_timeout: timeout("body-timeout", &args.body_timeout)?,
        idle_timeout: timeout("idle-timeout", &args.idle_timeout)?,
        max_header_bytes: at_least("max-header-bytes", args.max_header_bytes, 1024)?,
        max_headers: at_least("max-headers", args.max_headers, 8)?,
        max_connections: at_least("max-connections", args.max_connections, 1)?
            .min(Semaphore::MAX_PERMITS),
    })
}

/// Runs `registrar serve` until SIGINT or SIGTERM.
pub fn cmd_serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let limits = limits(&args)?;
    let token = match args.token {
        Some(t) if t.trim().is_empty() => {
            return Err(hinted(
                "`--token` is empty",
                "give a non-empty token, or leave --token out on loopback",
            ));
        }
        t => t.map(Secret::new),
    };
    let latency = args
        .latency
        .as_deref()
        .map(crate::units::parse_duration)
        .transpose()
        .map_err(anyhow::Error::msg)
        .context("`--latency` is not a duration")
        .hint("write it like `50ms` or `1s`")?;
    let fail_rate = fraction("fail-rate", args.fail_rate, "requests")?;
    let drop_reply_rate = fraction("drop-reply-rate", args.drop_reply_rate, "replies to writes")?;
    let limit = args
        .rate_limit
        .as_deref()
        .map(RateLimit::parse)
        .transpose()
        .map_err(|e| hinted(e, "for example `--rate-limit 100/s`"))?;
    let flavor = match args.flavor {
        ServeFlavor::X => Flavor::X,
        ServeFlavor::Edge => Flavor::Edge,
        ServeFlavor::Apaleo => {
            if latency.is_some() || limit.is_some() || fail_rate > 0.0 || drop_reply_rate > 0.0 {
                return Err(hinted(
                    "fault injection is not available with `--flavor apaleo`",
                    "leave out `--latency`, `--fail-rate`, `--drop-reply-rate` and `--rate-limit`",
                ));
            }
            let account = match args.orgs.as_slice() {
                [] => "DEMO".to_string(),
                [one] => one.clone(),
                _ => {
                    return Err(hinted(
                        "`--flavor apaleo` serves one account",
                        "pass `--org` once (the account new clients belong to)",
                    ));
                }
            };
            server::apaleo::run(server::apaleo::Settings {
                listen: args.listen,
                db: args.db,
                account,
                token,
                limits,
            })?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let mut orgs = args.orgs;
    if orgs.is_empty() {
        orgs.push(super::target::LOCAL_ORG.to_string());
    }
    server::run(server::Settings {
        listen: args.listen,
        db: args.db,
        flavor,
        orgs,
        token,
        faults: Faults::new(latency, fail_rate, args.seed, limit)
            .with_drop_reply_rate(drop_reply_rate),
        limits,
        strict_paging: args.strict_paging,
    })?;
    Ok(ExitCode::SUCCESS)
}
