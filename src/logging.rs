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
    let _ = FORMAT.set(format);
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

/// The format logging was set up with: the error that ends the process is
/// written the same way.
static FORMAT: OnceLock<LogFormat> = OnceLock::new();

/// Before logging is set up (a command line that does not parse): write
/// the error that ends the process in `format`.
pub(crate) fn use_format(format: LogFormat) {
    let _ = FORMAT.set(format);
}

/// Write `message`, the error that ends the process, on stderr the way the
/// logs go: one JSON object with `--log-format json` (cron mail and
/// journald then hold nothing else), each line stamped with the time off a
/// terminal, `error: …` as it is on one. `help` is a line for a person
/// reading a terminal or a log, left out of JSON.
pub(crate) fn print_fatal(message: &str, help: Option<&str>) {
    let format = FORMAT.get().copied().unwrap_or_default();
    let terminal = std::io::stderr().is_terminal();
    // The last line of defence: whatever the error quotes, no credential.
    let message = crate::redact::scrub(message);
    let text = fatal_text(&message, help, format, terminal, chrono::Utc::now());
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// What [`print_fatal`] writes.
fn fatal_text(
    message: &str,
    help: Option<&str>,
    format: LogFormat,
    terminal: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    // The same form as the logs' own timestamps.
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    match format {
        LogFormat::Json => {
            let line = serde_json::json!({
                "timestamp": stamp,
                "level": "ERROR",
                "message": message,
            });
            format!("{line}\n")
        }
        LogFormat::Text => {
            let mut text = format!("error: {message}\n");
            if let Some(help) = help {
                text.push_str(&format!("\n{help}\n"));
            }
            if terminal {
                return text;
            }
            text.lines()
                .filter(|line| !line.is_empty())
                .map(|line| format!("{stamp} {line}\n"))
                .collect()
        }
    }
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
    fn the_fatal_error_is_written_as_the_logs_are() {
        let now = "2026-11-27T07:30:00.123456Z".parse().unwrap();
        let message = "authentication failed: HTTP 401\n  hint: check the secret";
        let help_text = "For more information, try 'qualrecon run --help'.";
        let help = Some(help_text);
        let json = fatal_text(message, help, LogFormat::Json, false, now);
        assert_eq!(json.lines().count(), 1);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["message"], message);
        assert_eq!(v["level"], "ERROR");
        assert_eq!(v["timestamp"], "2026-11-27T07:30:00.123456Z");
        assert_eq!(
            fatal_text(message, help, LogFormat::Text, true, now),
            format!("error: {message}\n\n{help_text}\n")
        );
        let logged = fatal_text(message, help, LogFormat::Text, false, now);
        assert_eq!(logged.lines().count(), 3, "{logged}");
        for line in logged.lines() {
            assert!(line.starts_with("2026-11-27T07:30:00.123456Z "), "{line}");
        }
        assert!(logged.starts_with("2026-11-27T07:30:00.123456Z error: authentication failed"));
    }

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
    }
}
