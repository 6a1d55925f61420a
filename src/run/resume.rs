//! `--resume`: what a run takes over from the journal of an earlier one:
//! its outcomes (this run asks again only the customers without a final
//! one, and keeps the others' as they were), and where the journal goes
//! on.

use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::client::Client;

use crate::config::{self, Config};
use crate::journal::{self, JournalError};
use crate::report::outcomes::Outcomes;

/// The earlier run a resumed run continues; nothing for a fresh run.
pub(super) struct Resume {
    earlier: Option<Earlier>,
    /// When the earlier run stopped for a Retry-After beyond `--max-wait`:
    /// when Partner Center asked to be called again (its `summary.json`'s
    /// `run.retry_after_until`).
    come_back_at: Option<DateTime<Utc>>,
}

/// Which server a run's answers come from, as the journal records it: the
/// built-in sandbox, or the API root.
pub(super) fn server_of(cfg: &Config, base_url: &str) -> String {
    if cfg.sandbox {
        SANDBOX.to_string()
    } else {
        base_url.trim_end_matches('/').to_string()
    }
}

/// [`server_of`] a `--sandbox` run.
const SANDBOX: &str = "sandbox";

/// Whether a journal written against `then` may go on against `now`: the
/// same server, or two test servers on this machine (`qualrecon sandbox`
/// on a new port each time).
fn same_server(then: &str, now: &str) -> bool {
    let loopback = |s: &str| {
        s != SANDBOX && reqwest::Url::parse(s).is_ok_and(|u| crate::transport::is_loopback(&u))
    };
    then == now || (loopback(then) && loopback(now))
}

/// What `--resume` takes over from the earlier run's journal, besides
/// its outcomes.
struct Earlier {
    /// The run that wrote the journal last.
    run_id: Uuid,
    /// Where this run continues the journal.
    tail: journal::Tail,
}

/// `run.retry_after_until` of the earlier run's `summary.json` in `out`,
/// when it stopped for one.
fn retry_after_until(out: &Path) -> Option<DateTime<Utc>> {
    let bytes = std::fs::read(out.join(crate::report::export::SUMMARY_FILE)).ok()?;
    let summary: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    summary["run"]["retry_after_until"].as_str()?.parse().ok()
}

fn nothing_to_resume(out: &Path) -> anyhow::Error {
    config::UsageError(format!(
        "--resume: nothing to resume in {}: it holds no journal ({}) of an earlier run; start a fresh run without --resume",
        out.display(),
        journal::JOURNAL_FILE
    ))
    .into()
}

impl Resume {
    /// With `--resume`, refuse a folder without a journal before creating
    /// it. Checked again under the lock ([`Resume::open`]); this only
    /// avoids creating the folder. (A link at the name is refused there,
    /// dangling or not.)
    pub(super) fn check_folder(cfg: &Config) -> anyhow::Result<()> {
        if cfg.resume && std::fs::symlink_metadata(journal::path_in(&cfg.out)).is_err() {
            return Err(nothing_to_resume(&cfg.out));
        }
        Ok(())
    }

    /// The earlier run's journal (checked against the input) that a resumed
    /// run continues, its outcomes of the customers `ids` put in
    /// `outcomes` (by position); nothing for a fresh run, which only checks
    /// here that it may replace the journal. Neither writes it yet (see
    /// `start_writing`).
    pub(super) fn open(
        cfg: &Config,
        base_url: &str,
        input_sha256: &str,
        ids: &[Uuid],
        outcomes: &mut Outcomes,
    ) -> anyhow::Result<Resume> {
        if !cfg.resume {
            journal::check_replaceable(&cfg.out).context("cannot start the journal")?;
            return Ok(Resume {
                earlier: None,
                come_back_at: None,
            });
        }
        let earlier = match journal::read(&cfg.out) {
            Err(JournalError::Missing { .. }) => return Err(nothing_to_resume(&cfg.out)),
            other => other
                .context("--resume: cannot use the journal; start a fresh run without --resume")?,
        };
        if earlier.header.input_sha256 != input_sha256 {
            return Err(config::UsageError(format!(
                "--resume: the input changed since run {} started (sha256 {} now, {} then); start a fresh run without --resume, or resume with the original input",
                earlier.header.run_id, input_sha256, earlier.header.input_sha256
            ))
            .into());
        }
        let server = server_of(cfg, base_url);
        if let Some(then) = &earlier.header.server
            && !same_server(then, &server)
        {
            return Err(config::UsageError(format!(
                "--resume: run {} was answered by {then}, this one would be by {server}; a report must not mix the answers of two servers: start a fresh run without --resume (or in another folder), or resume against {then}",
                earlier.header.run_id
            ))
            .into());
        }
        if earlier.torn_tail {
            tracing::warn!(
                "the journal's last line was cut off (the earlier run was killed while writing it); ignoring it"
            );
        }
        if earlier.header.tool_version != env!("CARGO_PKG_VERSION") {
            tracing::warn!(
                "resuming a run journaled by qualrecon {} with qualrecon {}",
                earlier.header.tool_version,
                env!("CARGO_PKG_VERSION")
            );
        }
        // Kept as compactly as this run's own, from here on.
        let tail = earlier.tail();
        let mut journaled = earlier.outcomes;
        for (i, id) in ids.iter().enumerate() {
            if let Some(outcome) = journaled.remove(id) {
                outcomes.set(i, &outcome);
            }
        }
        Ok(Resume {
            earlier: Some(Earlier {
                run_id: earlier.last_run_id,
                tail,
            }),
            come_back_at: retry_after_until(&cfg.out),
        })
    }

    /// A run resumed before the time Partner Center asked the earlier one
    /// to call again must not call earlier: it waits until then when that
    /// is within `--max-wait`, else it stops at once as the earlier run
    /// did (`throttled`, exit 3), asking nobody.
    pub(super) fn keep_the_servers_window(&self, cfg: &Config, client: &Client) {
        let Some(until) = self.come_back_at else {
            return;
        };
        let Ok(wait) = (until - Utc::now()).to_std() else {
            return;
        };
        let at = crate::model::format_utc(until, 0);
        if wait <= cfg.max_wait {
            tracing::warn!(
                "Partner Center asked the earlier run to call again at {at}: waiting until then"
            );
            client.lookup.pacer.pause(wait);
        } else {
            tracing::warn!(
                "Partner Center asked the earlier run to call again at {at}, beyond --max-wait: nobody is asked now"
            );
            client
                .lookup
                .stop
                .request(crate::lookup::StopReason::Throttled { until });
        }
    }

    /// The run whose journal this one continues.
    pub(super) fn run_id(&self) -> Option<Uuid> {
        self.earlier.as_ref().map(|e| e.run_id)
    }

    /// Where this run continues the journal; `None` for a fresh one.
    pub(super) fn tail(&self) -> Option<journal::Tail> {
        self.earlier.as_ref().map(|e| e.tail)
    }

    /// The customers to ask, by position in `outcomes`: all but those the
    /// journal already answered for good.
    pub(super) fn pending(&self, outcomes: &Outcomes) -> Vec<usize> {
        let all = 0..outcomes.len();
        let Some(earlier) = &self.earlier else {
            return all.collect();
        };
        let pending: Vec<usize> = all
            .filter(|&i| !outcomes.status(i).is_some_and(journal::is_final))
            .collect();
        tracing::info!(
            "resuming run {}: {} customers already answered in its journal, {} to look up",
            earlier.run_id,
            outcomes.len() - pending.len(),
            pending.len()
        );
        pending
    }

    /// `--resume`: how many customers of `ids` the journal answered (`pending`
    /// are the others).
    pub(super) fn resumed(&self, ids: &[Uuid], pending: &[usize]) -> Option<u64> {
        self.earlier
            .as_ref()
            .map(|_| (ids.len() - pending.len()) as u64)
    }
}
