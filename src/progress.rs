//! What the operator sees while the job runs: a progress bar on a terminal,
//! a one-line progress log every few seconds otherwise (cron mail,
//! journald). Log lines never tear the bar: [`crate::logging`] hides it
//! around each one.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::lookup::{LookupStatus, Outcome};

/// How often the progress line is logged when there is no bar.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Counts outcomes and shows them.
pub(crate) struct Progress {
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
    pub(crate) fn new(total: u64, quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} customers · {msg} · ETA {eta}",
                )
                .expect("valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            crate::logging::suspend_around_logs(&bar);
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
    pub(crate) fn record(&mut self, outcome: &Outcome) {
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
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
