//! Feedback on long runs, shared by the layers without tying them together: what each
//! change cost in HTTP requests (a task-local [`Tally`] the Apigee client counts into and
//! apply reads per change), and the progress bar on screen (so that log lines are printed
//! above it rather than through it: [`LogWriter`] is the log's writer).
//!
//! A leaf like `units.rs`: it imports nothing of registrar's and does no I/O but writing to
//! stderr.

use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// HTTP requests made on behalf of one change, retries included.
#[derive(Debug, Default)]
pub struct Tally {
    attempts: AtomicUsize,
    retries: AtomicUsize,
    rate_limited: AtomicUsize,
}

/// What a [`Tally`] counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counted {
    /// HTTP requests sent (0 for the local backend, which makes none).
    pub attempts: usize,
    /// Requests sent again after a transient failure (429, 5xx, timeout, broken reply).
    pub retries: usize,
    /// Replies that were 429 Too Many Requests.
    pub rate_limited: usize,
}

tokio::task_local! {
    static TALLY: Arc<Tally>;
}

/// Runs `fut`, counting the requests it makes (in this task: not in tasks it spawns).
pub async fn counted<F: std::future::Future>(fut: F) -> (F::Output, Counted) {
    let tally = Arc::new(Tally::default());
    let out = TALLY.scope(tally.clone(), fut).await;
    let counted = Counted {
        attempts: tally.attempts.load(Ordering::Relaxed),
        retries: tally.retries.load(Ordering::Relaxed),
        rate_limited: tally.rate_limited.load(Ordering::Relaxed),
    };
    (out, counted)
}

fn add(field: fn(&Tally) -> &AtomicUsize) {
    let _ = TALLY.try_with(|t| field(t).fetch_add(1, Ordering::Relaxed));
}

/// Counts a request sent (outside [`counted`]: nothing).
pub fn attempt() {
    add(|t| &t.attempts);
}

/// Counts a request about to be sent again.
pub fn retry() {
    add(|t| &t.retries);
}

/// Counts a 429 reply.
pub fn rate_limited() {
    add(|t| &t.rate_limited);
}

static BAR: Mutex<Option<indicatif::ProgressBar>> = Mutex::new(None);

/// Makes `bar` the one on screen until [`hide_bar`]: log lines are printed above it.
pub fn show_bar(bar: &indicatif::ProgressBar) {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = Some(bar.clone());
}

/// No bar on screen any more.
pub fn hide_bar() {
    *BAR.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

/// Writes `bytes` to stderr, above the progress bar when one is on screen.
pub fn write_stderr(bytes: &[u8]) -> std::io::Result<()> {
    let bar = BAR.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match bar {
        Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write_all(bytes)),
        _ => std::io::stderr().write_all(bytes),
    }
}

/// The log's writer: stderr, above the progress bar when one is on screen. The log formats
/// each event whole and writes it in one call, so a line is never split by the bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stderr(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_only_inside_its_scope() {
        attempt();
        let ((), c) = counted(async {
            attempt();
            attempt();
            retry();
            rate_limited();
        })
        .await;
        assert_eq!(
            c,
            Counted {
                attempts: 2,
                retries: 1,
                rate_limited: 1
            }
        );
    }
}
