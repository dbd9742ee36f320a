//! Terminal output set-up: colour choice (NO_COLOR, `--color`) and the diagnostic log.

use std::io::IsTerminal;
use std::sync::OnceLock;

/// When to use colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    /// Colour on a terminal, unless NO_COLOR is set.
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

static COLOR: OnceLock<bool> = OnceLock::new();

/// Sets colour and logging up once per process.
pub fn init(choice: ColorChoice, log: &str) {
    let color = match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    };
    let _ = COLOR.set(color);
    let filter = tracing_subscriber::EnvFilter::try_new(log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Through the progress bar when one is on screen: log lines print above it.
        .with_writer(|| crate::feedback::LogWriter)
        .with_ansi(color && std::io::stderr().is_terminal())
        .with_target(false)
        .try_init();
}

/// Whether stdout output should be coloured.
pub fn color() -> bool {
    *COLOR.get().unwrap_or(&false)
}

/// Whether a person can answer a question: stdin is a terminal, outside CI.
pub fn can_ask() -> bool {
    std::io::stdin().is_terminal() && std::env::var_os("CI").is_none()
}

/// Whether stdout is an interactive terminal (progress bars, prompts).
pub fn interactive() -> bool {
    std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal()
        && std::env::var_os("CI").is_none()
}
