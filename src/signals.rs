//! Signals and the deadline, turned into a [`Stop`] request: the first
//! SIGINT/SIGTERM (or the deadline) stops dispatching so a partial report
//! can be written; a second signal quits at once.

use std::time::Duration;

use anyhow::Context;

use crate::exit::Exit;
use crate::lookup::{Stop, StopReason};

/// Install the handlers and the deadline timer for this run.
pub fn watch(stop: &Stop, deadline: Option<Duration>) -> anyhow::Result<()> {
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
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt()).context("installing the SIGINT handler")?;
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::spawn(async move {
        let mut seen = 0;
        loop {
            let (reason, name, code) = tokio::select! {
                _ = int.recv() => (StopReason::Interrupt, "SIGINT", Exit::Interrupted),
                _ = term.recv() => (StopReason::Terminate, "SIGTERM", Exit::Terminated),
            };
            seen += 1;
            if seen == 1 {
                tracing::warn!(
                    "{name}: no new requests; letting those in flight finish, then writing a partial report (send it again to quit at once)"
                );
                stop.request(reason);
            } else {
                eprintln!("qualrecon: {name} again: quitting at once without a report");
                std::process::exit(i32::from(code.code()));
            }
        }
    });
    Ok(())
}
