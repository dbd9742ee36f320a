//! `apply --format json`: one versioned document on stdout when apply has run (per change:
//! outcome, attempts, duration, error; the summary). Human text goes to stderr meanwhile.

use serde::Serialize;

use crate::apply::{self, Outcome};
use crate::model::Address;
use crate::plan::{Action, Plan};

/// Version of `apply --format json`. Bumped on any incompatible change.
pub const APPLY_FORMAT_VERSION: u32 = 1;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Doc<'a> {
    format_version: u32,
    registrar_version: &'static str,
    backend: &'a str,
    owner: &'a str,
    changes: Vec<ChangeDoc<'a>>,
    summary: Summary<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ChangeDoc<'a> {
    address: &'a Address,
    action: Action,
    outcome: &'static str,
    attempts: usize,
    retries: usize,
    rate_limited: usize,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary<'a> {
    result: &'static str,
    done: usize,
    failed: usize,
    skipped: usize,
    not_attempted: usize,
    keys_stored: usize,
    requests: usize,
    retries: usize,
    rate_limited: usize,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    stopped: Option<&'a str>,
}

/// The document of an apply of `plan` that ended with `report`; `stored` keys went to the
/// secrets store (minted, and recovered before the changes).
pub fn render(plan: &Plan, report: &apply::Report, stored: usize) -> String {
    let mut not_attempted = 0;
    let changes = report
        .outcomes
        .iter()
        .zip(&report.stats)
        .map(|((address, action, outcome), stats)| {
            let (word, error) = match outcome {
                Outcome::Done => ("done", None),
                Outcome::Failed(e) => ("failed", Some(e.as_str())),
                Outcome::Skipped(e) if e == apply::NOT_ATTEMPTED => {
                    not_attempted += 1;
                    ("not-attempted", None)
                }
                Outcome::Skipped(e) => ("skipped", Some(e.as_str())),
            };
            let ran = matches!(outcome, Outcome::Done | Outcome::Failed(_));
            ChangeDoc {
                address,
                action: *action,
                outcome: word,
                // The local backend sends no requests: a change it ran took one attempt.
                attempts: if ran {
                    stats.requests.attempts.max(1)
                } else {
                    0
                },
                retries: stats.requests.retries,
                rate_limited: stats.requests.rate_limited,
                duration_ms: stats.duration.as_millis() as u64,
                error,
            }
        })
        .collect();
    let (done, failed, skipped) = report.counts();
    let requests = report.requests();
    let doc = Doc {
        format_version: APPLY_FORMAT_VERSION,
        registrar_version: env!("CARGO_PKG_VERSION"),
        backend: &plan.backend,
        owner: &plan.owner,
        changes,
        summary: Summary {
            result: if report.interrupted {
                "interrupted"
            } else if report.success() {
                "complete"
            } else {
                "incomplete"
            },
            done,
            failed,
            skipped: skipped - not_attempted,
            not_attempted,
            keys_stored: stored,
            requests: requests.attempts,
            retries: requests.retries,
            rate_limited: requests.rate_limited,
            duration_ms: report.elapsed.as_millis() as u64,
            stopped: report.stopped.as_deref(),
        },
    };
    let mut s = serde_json::to_string_pretty(&doc).expect("apply reports serialize");
    s.push('\n');
    s
}
