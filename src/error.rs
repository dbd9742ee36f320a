//! Error helpers: hints that print on their own `hint:` line after the message, and the
//! exit codes registrar uses.

use std::fmt;

/// Exit code: success (for `plan --detailed-exitcode`: no changes).
pub const EXIT_OK: u8 = 0;
/// Exit code: an error, including invalid input and failed operations.
pub const EXIT_ERROR: u8 = 1;
/// Exit code of `plan --detailed-exitcode` when there are changes.
pub const EXIT_CHANGES: u8 = 2;
/// Exit code of `registrar drift` when anything but `config` changes differs (`platform`,
/// `conflict`, `secret`, `unmanaged`, `removed`).
pub const EXIT_DRIFT: u8 = 3;
/// Exit code of `apply` on a platform without a client API (apaleo) when manual steps are
/// pending: the checklist was printed (no terminal) or not every step was done.
pub const EXIT_PENDING: u8 = 3;

/// An error with a suggestion of what to do. `Display` shows only the message; the CLI
/// prints the hint after the error chain as `hint: …`.
#[derive(Debug)]
pub struct Hinted {
    message: String,
    hint: String,
}

impl Hinted {
    /// An error with a message and a hint.
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Hinted {
            message: message.into(),
            hint: hint.into(),
        }
    }

    /// The hint text.
    pub fn hint(&self) -> &str {
        &self.hint
    }
}

impl fmt::Display for Hinted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Hinted {}

/// An error with a message and a hint.
pub fn hinted(message: impl Into<String>, hint: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(Hinted {
        message: message.into(),
        hint: hint.into(),
    })
}

/// Adds a hint to errors: `result.hint("run `registrar validate`")`.
pub trait HintExt<T> {
    /// Wraps the error so that the CLI prints `hint` after it.
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> HintExt<T> for Result<T, E> {
    fn hint(self, hint: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| {
            let e: anyhow::Error = e.into();
            let message = e.to_string();
            e.context(Hinted {
                message,
                hint: hint.into(),
            })
        })
    }
}

/// Renders an error as the CLI prints it: `error: …`, then `Caused by:` lines, then hints.
pub fn render(err: &anyhow::Error) -> String {
    let top = err.to_string();
    let mut out = format!("error: {top}\n");
    let mut hints: Vec<String> = err
        .downcast_ref::<Hinted>()
        .map(|h| h.hint().to_string())
        .into_iter()
        .collect();
    let mut last = top.clone();
    let mut causes = Vec::new();
    for cause in err.chain() {
        if let Some(h) = cause.downcast_ref::<Hinted>()
            && !hints.iter().any(|x| x == h.hint())
        {
            hints.push(h.hint().to_string());
        }
        let text = cause.to_string();
        if text != last && !causes.contains(&text) {
            causes.push(text.clone());
        }
        last = text;
    }
    if !causes.is_empty() {
        out.push_str("\nCaused by:\n");
        for c in causes {
            out.push_str(&format!("  {c}\n"));
        }
    }
    for h in hints {
        out.push_str(&format!("hint: {h}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn render_prints_chain_and_hint() {
        let err: anyhow::Result<()> = Err(std::io::Error::other("permission denied").into());
        let err = err
            .context("failed to read `a.yaml`")
            .hint("check the file's permissions")
            .unwrap_err();
        assert_eq!(
            render(&err),
            "error: failed to read `a.yaml`\n\nCaused by:\n  permission denied\nhint: check the file's permissions\n"
        );
    }

    #[derive(Debug, thiserror::Error)]
    #[error("{0}")]
    struct Wrapper(#[source] Hinted);

    #[test]
    fn hints_inside_an_error_print_on_their_own_line() {
        let inner = Wrapper(Hinted::new("no credentials", "set APIGEE_TOKEN"));
        let err = anyhow::Error::new(inner).context("failed to read");
        assert_eq!(
            render(&err),
            "error: failed to read\n\nCaused by:\n  no credentials\nhint: set APIGEE_TOKEN\n"
        );
        let err = anyhow::Error::new(Wrapper(Hinted::new("no credentials", "set APIGEE_TOKEN")));
        assert_eq!(
            render(&err),
            "error: no credentials\nhint: set APIGEE_TOKEN\n"
        );
    }
}
