//! Signals and the deadline, turned into a [`Stop`] request: the first
//! SIGINT/SIGTERM (or the deadline) stops dispatching so a partial report
//! can be written; a second signal quits at once. `qualrecon sandbox` stops
//! on the first ([`first_signal`]).

use std::time::Duration;

use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::exit::Exit;
use crate::lookup::{Stop, StopReason};

/// Install the handlers and the deadline timer for this run.
pub(crate) fn watch(stop: &Stop, deadline: Option<Duration>) -> anyhow::Result<()> {
    listen_for_signals(stop.clone())?;
    if let Some(deadline) = deadline {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            tracing::warn!(
                "--deadline of {deadline:?} reached: no new requests; writing a partial report"
            );
            stop.request(StopReason::Deadline);
        });
    }
    Ok(())
}

/// First signal: stop dispatching and write a partial report. Second: quit.
fn listen_for_signals(stop: Stop) -> anyhow::Result<()> {
    let mut signals = Signals::install()?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let (reason, name, code) = match signals.next().await {
                Received::Interrupt => (StopReason::Interrupt, "SIGINT", Exit::Interrupted),
                Received::Terminate => (StopReason::Terminate, "SIGTERM", Exit::Terminated),
            };
            seen += 1;
            if seen == 1 {
                tracing::warn!(
                    "{name}: no new requests; letting those in flight finish, then writing a partial report (send it again to quit at once)"
                );
                stop.request(reason);
            } else {
                // The last line of the process: written as the logs are
                // (a JSON object with --log-format json, stamped off a
                // terminal).
                crate::logging::print_fatal(
                    &format!("{name} again: quitting at once without a report"),
                    None,
                );
                // The report being written goes too: no temp file is left.
                crate::fsutil::remove_live_temp_files();
                std::process::exit(i32::from(code.code()));
            }
        }
    });
    Ok(())
}

/// Resolves on the first SIGINT or SIGTERM: how `qualrecon sandbox` is
/// stopped.
pub(crate) async fn first_signal() -> anyhow::Result<()> {
    Signals::install()?.next().await;
    Ok(())
}

/// Which signal arrived.
enum Received {
    Interrupt,
    Terminate,
}

/// SIGINT and SIGTERM, listened for from [`Signals::install`] on (their
/// default action, ending the process, is replaced).
struct Signals {
    int: Signal,
    term: Signal,
}

impl Signals {
    fn install() -> anyhow::Result<Signals> {
        Ok(Signals {
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
        })
    }

    /// The next signal to arrive.
    async fn next(&mut self) -> Received {
        tokio::select! {
            _ = self.int.recv() => Received::Interrupt,
            _ = self.term.recv() => Received::Terminate,
        }
    }
}
