//! Log lines on stderr: text or JSON, with colour only where a person is
//! watching, and never tearing the progress bar ([`crate::progress`]).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;

use indicatif::ProgressBar;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

/// The bar, once there is one: the log writer suspends it around each line.
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// Hide `bar` while each log line is written (the first bar registered
/// counts; a run has one).
pub(crate) fn suspend_around_logs(bar: &ProgressBar) {
    let _ = BAR.set(bar.clone());
}

/// How log lines are written on stderr: `--log-format`, config key
/// `log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Logs on stderr, text or JSON; `--quiet` keeps errors only. `RUST_LOG`
/// overrides the level.
///
/// Colour only on a terminal without `NO_COLOR`: escape codes in cron mail
/// and log files are noise. Text lines carry an RFC 3339 UTC timestamp
/// when stderr is not a terminal (a log file needs one; a person watching
/// does not); JSON lines always do.
pub(crate) fn init_logging(format: LogFormat, quiet: bool) {
    let default = if quiet { "error" } else { "info" };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(StderrAroundBar)
        .with_target(false)
        .with_ansi(use_colour(
            terminal,
            std::env::var_os("NO_COLOR").as_deref(),
        ));
    let _ = match format {
        LogFormat::Text if terminal => builder.without_time().try_init(),
        // The default timer prints RFC 3339 in UTC (`2026-11-25T02:15:00.123456Z`).
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Colour on stderr: a terminal, and `NO_COLOR` unset or empty
/// (<https://no-color.org>).
fn use_colour(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// A `MakeWriter` for stderr that hides the bar while a line is written.
#[derive(Clone, Copy)]
struct StderrAroundBar;

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = StderrAroundBar;
    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BAR.get() {
            Some(bar) if !bar.is_hidden() => bar.suspend(|| std::io::stderr().write(buf)),
            _ => std::io::stderr().write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
