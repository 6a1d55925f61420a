//! What the operator sees while the job runs: a progress bar on a terminal,
//! a one-line progress log every few seconds otherwise (cron mail,
//! journald), and log lines that never tear the bar.

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::lookup::{LookupStatus, Outcome};

/// The bar, once there is one: the log writer suspends it around each line.
static BAR: OnceLock<ProgressBar> = OnceLock::new();

/// How often the progress line is logged when there is no bar.
const LOG_EVERY: Duration = Duration::from_secs(10);

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
pub fn init_logging(format: LogFormat, quiet: bool) {
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

/// Counts outcomes and shows them.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: u64,
    done: u64,
    not_ok: u64,
    started: Instant,
    last_log: Instant,
    quiet: bool,
}

impl Progress {
    /// A bar when stderr is a terminal (and not `--quiet`), else periodic logs.
    pub fn new(total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} customers · {msg} · ETA {eta}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            let _ = BAR.set(bar.clone());
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            total,
            done: 0,
            not_ok: 0,
            started: now,
            last_log: now,
            quiet,
        }
    }

    /// One customer finished.
    pub fn record(&mut self, outcome: &Outcome) {
        self.done += 1;
        if outcome.status != LookupStatus::Ok {
            self.not_ok += 1;
        }
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.done);
                bar.set_message(format!("{} not ok · {rate:.1}/s", self.not_ok));
            }
            None if !self.quiet && self.last_log.elapsed() >= LOG_EVERY => {
                self.last_log = Instant::now();
                tracing::info!(
                    "progress: {}/{} customers looked up, {} not ok, {rate:.1}/s",
                    self.done,
                    self.total,
                    self.not_ok
                );
            }
            None => {}
        }
    }

    /// Remove the bar before the final summary is printed.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
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
