//! The commands, end to end: the only place that knows every module.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use uuid::Uuid;

use crate::api::{APPLICATION, ApiClient};
use crate::auth::{ClientCredentials, Credentials, TokenProvider};
use crate::cli::{CheckArgs, RunArgs, SandboxArgs};
use crate::config::{self, Auth, Config};
use crate::exit::Exit;
use crate::fsutil::{lock_folder, write_atomic};
use crate::input::{InputOptions, read_input};
use crate::journal::{self, Header, JournalError, JournalWriter};
use crate::lookup::{Lookup, LookupSettings, Outcome, Stop, StopReason, look_up_all};
use crate::pacer::Pacer;
use crate::progress::{Progress, init_logging};
use crate::report::changes::{self, Entry};
use crate::report::previous::{self, PreviousRun};
use crate::report::summary::{self, ChangesInfo, PreviousRunInfo, RunMeta, Summary};
use crate::report::{build_rows, csv as report_csv, xlsx as report_xlsx};
use crate::sandbox::{self, Sandbox, SandboxConfig};

/// Report file names (SPEC §3).
pub const CSV_FILE: &str = "qualifications.csv";
pub const XLSX_FILE: &str = "qualifications.xlsx";
pub const CHANGES_FILE: &str = "changes.csv";
pub const SUMMARY_FILE: &str = "summary.json";

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// `qualrecon run`.
pub fn main(args: RunArgs) -> anyhow::Result<Exit> {
    let config = config::resolve(&args, &|k| std::env::var(k).ok())?;
    init_logging(config.log_format, config.quiet);
    runtime()?.block_on(execute(config))
}

/// `qualrecon sandbox`.
pub fn sandbox_main(args: &SandboxArgs) -> anyhow::Result<Exit> {
    init_logging(crate::cli::LogFormat::Text, false);
    runtime()?.block_on(sandbox::serve_command(args))?;
    Ok(Exit::Success)
}

/// `qualrecon check`: what the input holds, no network.
pub fn check_main(args: &CheckArgs) -> anyhow::Result<Exit> {
    let path = args
        .input
        .input
        .clone()
        .ok_or_else(|| config::UsageError("missing --input FILE".into()))?;
    let input = read_input(
        &path,
        &input_options(args.input.column.clone(), args.input.delimiter),
    )?;
    println!("{}", input.describe(&path.display().to_string()));
    Ok(if input.invalid_rows() > 0 {
        Exit::Partial
    } else {
        Exit::Success
    })
}

fn input_options(column: Option<String>, delimiter: Option<u8>) -> InputOptions {
    InputOptions { column, delimiter }
}

fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|h| {
            h == "localhost"
                || h.parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
                || h == "[::1]"
        })
}

/// What `--resume` takes over from the earlier run's journal.
struct Earlier {
    /// The run that wrote the journal last.
    run_id: Uuid,
    /// Each customer's latest journaled outcome, final or not.
    outcomes: HashMap<Uuid, Outcome>,
}

fn nothing_to_resume(out: &Path) -> anyhow::Error {
    config::UsageError(format!(
        "--resume: nothing to resume in {}: it holds no journal ({}) of an earlier run; start a fresh run without --resume",
        out.display(),
        journal::JOURNAL_FILE
    ))
    .into()
}

/// A fresh journal for a new run, or the earlier run's journal (checked
/// against the input) continued by a resumed one.
fn open_journal(
    cfg: &Config,
    input_sha256: &str,
    run_id: Uuid,
    started_at: chrono::DateTime<Utc>,
) -> anyhow::Result<(JournalWriter, Option<Earlier>)> {
    if !cfg.resume {
        let header = Header::new(run_id, started_at, input_sha256);
        let writer =
            JournalWriter::create(&cfg.out, &header).context("cannot start the journal")?;
        return Ok((writer, None));
    }
    let earlier = match journal::read(&cfg.out) {
        Err(JournalError::Missing { .. }) => return Err(nothing_to_resume(&cfg.out)),
        other => {
            other.context("--resume: cannot use the journal; start a fresh run without --resume")?
        }
    };
    if earlier.header.input_sha256 != input_sha256 {
        return Err(config::UsageError(format!(
            "--resume: the input changed since run {} started (sha256 {} now, {} then); start a fresh run without --resume, or resume with the original input",
            earlier.header.run_id, input_sha256, earlier.header.input_sha256
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
    let writer = JournalWriter::resume(&cfg.out, &earlier, run_id, started_at)
        .context("cannot continue the journal")?;
    Ok((
        writer,
        Some(Earlier {
            run_id: earlier.last_run_id,
            outcomes: earlier.outcomes,
        }),
    ))
}

/// The batch job.
pub async fn execute(cfg: Config) -> anyhow::Result<Exit> {
    let started_at = Utc::now();
    let run_id = Uuid::new_v4();
    let input = read_input(
        &cfg.input,
        &input_options(cfg.column.clone(), cfg.delimiter),
    )
    .context("cannot read the input")?;
    if cfg.resume && !journal::path_in(&cfg.out).exists() {
        // Checked again under the lock; this only avoids creating the folder.
        return Err(nothing_to_resume(&cfg.out));
    }
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("cannot create the output folder {}", cfg.out.display()))?;
    let _lock = lock_folder(&cfg.out)?;
    // Before any request: a wrong --previous should not cost a whole run
    // (and is read before the journal or any report is replaced).
    let previous = cfg
        .previous
        .as_deref()
        .map(|dir| previous::read(dir, CSV_FILE, SUMMARY_FILE))
        .transpose()?;
    let (mut journal, earlier) = open_journal(&cfg, &input.sha256, run_id, started_at)?;

    let mut ids: Vec<Uuid> = input.customers().map(|(id, _)| id).collect();
    if let Some(limit) = cfg.limit {
        ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    // Customers the journal already answered for good are not asked again.
    let is_done = |id: &Uuid| {
        earlier
            .as_ref()
            .and_then(|e| e.outcomes.get(id))
            .is_some_and(|o| journal::is_final(o.status))
    };
    let pending: Vec<Uuid> = ids.iter().copied().filter(|id| !is_done(id)).collect();
    let resumed = earlier.as_ref().map(|_| (ids.len() - pending.len()) as u64);
    if let Some(e) = &earlier {
        tracing::info!(
            "resuming run {}: {} customers already answered in its journal, {} to look up",
            e.run_id,
            ids.len() - pending.len(),
            pending.len()
        );
    }

    let stop = Stop::default();
    listen_for_signals(stop.clone())?;
    if let Some(deadline) = cfg.deadline {
        let stop = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(deadline).await;
            tracing::warn!(
                "--deadline of {deadline:?} reached: no new requests; writing a partial report"
            );
            stop.request(StopReason::Deadline);
        });
    }

    // The sandbox lives until the end of this function.
    let sandbox = if cfg.sandbox {
        let mut sc = SandboxConfig::default();
        if let Auth::Static(token) = &cfg.auth {
            sc.static_token = Some(secrecy::ExposeSecret::expose_secret(token).to_string());
        }
        let sb = Sandbox::start(sc)
            .await
            .context("starting the built-in sandbox")?;
        tracing::info!(
            "sandbox: fake Partner Center listening on {}",
            sb.base_url()
        );
        Some(sb)
    } else {
        None
    };
    let base_url = sandbox
        .as_ref()
        .map_or_else(|| cfg.base_url.clone(), Sandbox::base_url);

    let mut http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(cfg.request_timeout))
        // The default for every request, token requests included.
        .timeout(cfg.request_timeout)
        .pool_max_idle_per_host(cfg.concurrency as usize)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(60))
        .user_agent(APPLICATION);
    if is_loopback(&base_url) {
        // A corporate HTTP(S)_PROXY must not capture the local sandbox.
        http = http.no_proxy();
    }
    let http = http.build().context("building the HTTP client")?;

    let credentials = match &cfg.auth {
        Auth::Static(token) => Credentials::Static(token.clone()),
        Auth::Client {
            tenant,
            client_id,
            secret,
            authority,
            endpoint,
        } => Credentials::Client(ClientCredentials {
            token_url: ClientCredentials::token_url(authority, tenant, *endpoint),
            client_id: client_id.clone(),
            secret: secret.clone(),
            endpoint: *endpoint,
        }),
        Auth::Sandbox { endpoint } => Credentials::Client(ClientCredentials {
            token_url: ClientCredentials::token_url(&base_url, sandbox::TENANT, *endpoint),
            client_id: sandbox::CLIENT_ID.to_string(),
            secret: secrecy::SecretString::from(sandbox::CLIENT_SECRET.to_string()),
            endpoint: *endpoint,
        }),
    };
    let auth = TokenProvider::new(http.clone(), credentials);
    if !pending.is_empty() && stop.reason().is_none() {
        // Fail before any customer request when the credentials are wrong.
        auth.token().await.context("authentication failed")?;
    }

    let correlation_id = Uuid::new_v4();
    let api = ApiClient::new(http, &base_url, correlation_id, cfg.request_timeout);
    let settings = LookupSettings::new(cfg.concurrency as usize, pending.len());
    let lookup = Arc::new(Lookup::new(
        api,
        auth,
        Pacer::new(cfg.rate),
        settings,
        stop.clone(),
    ));
    tracing::info!(
        "looking up {} customers at up to {} requests/s, {} in flight (MS-CorrelationId {correlation_id})",
        pending.len(),
        cfg.rate,
        cfg.concurrency
    );
    let mut progress = Progress::new(pending.len() as u64, cfg.quiet);
    let result = look_up_all(lookup.clone(), &pending, |id, o| {
        progress.record(o);
        journal.record(id, o);
    })
    .await;
    progress.finish();
    journal.finish();
    let finished_at = Utc::now();

    // The journal's outcomes first, then this run's: a customer this run
    // did not get to keeps its earlier (non-final) outcome.
    let mut outcomes: HashMap<Uuid, Option<Outcome>> = ids
        .iter()
        .map(|id| {
            let earlier = earlier.as_ref().and_then(|e| e.outcomes.get(id)).cloned();
            (*id, earlier)
        })
        .collect();
    for (id, outcome) in pending.iter().zip(result.outcomes) {
        if outcome.is_some() {
            outcomes.insert(*id, outcome);
        }
    }
    let rows = build_rows(&input, &outcomes, started_at);
    let counters = &result.counters;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let meta = RunMeta {
        id: run_id,
        status: match result.stopped {
            None => "complete",
            Some(StopReason::Deadline) => "deadline",
            Some(_) => "interrupted",
        },
        started_at,
        finished_at,
        base_url,
        rate: cfg.rate,
        final_rate: lookup.pacer.rate(),
        concurrency: cfg.concurrency,
        correlation_id,
        limit: cfg.limit,
        input_path: cfg.input.display().to_string(),
        stale_after_days: cfg.stale_after_days,
        requests: load(&counters.requests),
        retries: load(&counters.retries),
        throttled_responses: load(&counters.throttled_responses),
        resumed_from: earlier.as_ref().map(|e| e.run_id),
        resumed,
    };
    let mut summary = summary::build(&meta, &input, &rows);
    let changes = previous.map(|p| compare_with(&p, &rows, &mut summary));

    let mut written = Vec::new();
    let mut write = |name: &str, bytes: &[u8]| -> anyhow::Result<()> {
        let path = cfg.out.join(name);
        write_atomic(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
        Ok(())
    };
    if cfg.formats.csv {
        write(
            CSV_FILE,
            &report_csv::render(&rows, &input.extra_headers, cfg.csv_bom),
        )?;
    }
    if cfg.formats.xlsx {
        write(
            XLSX_FILE,
            &report_xlsx::render(&rows, &input.extra_headers, &summary)
                .context("cannot build the xlsx report")?,
        )?;
    }
    if let Some(changes) = &changes {
        write(CHANGES_FILE, &changes::render(changes, cfg.csv_bom))?;
    }
    // Last: its presence with status "complete" marks a finished run.
    let json = serde_json::to_vec_pretty(&summary).context("serialising the summary")?;
    write(SUMMARY_FILE, &json)?;
    warn_about_stale_files(&cfg.out, &written);
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }

    let exit = match result.stopped {
        Some(StopReason::Interrupt) => Exit::Interrupted,
        Some(StopReason::Terminate) => Exit::Terminated,
        Some(StopReason::Deadline) => Exit::Partial,
        None if summary.lookups.failed_lookups > 0 || summary.input.invalid_input_rows > 0 => {
            Exit::Partial
        }
        None => Exit::Success,
    };
    if !cfg.quiet {
        println!("{}", closing_summary(&summary, &written, exit));
    }
    Ok(exit)
}

/// Compare this run's rows with an earlier run's and record the counts in
/// the summary.
fn compare_with(
    previous: &PreviousRun,
    rows: &[crate::report::ReportRow],
    summary: &mut Summary,
) -> Vec<changes::Change> {
    let current: Vec<Entry> = rows.iter().map(Entry::from).collect();
    let found = changes::compare(&previous.entries, &current);
    summary.changes = Some(ChangesInfo {
        previous_run: PreviousRunInfo {
            path: previous.dir.display().to_string(),
            id: previous.run_id.clone(),
            started_at: previous.started_at.clone(),
        },
        by_kind: changes::counts(&found),
        total: found.len() as u64,
    });
    found
}

/// A report file this run did not write (another `--format`, no
/// `--previous`) may be left from an earlier run in the same folder: say so
/// rather than delete it.
fn warn_about_stale_files(out: &Path, written: &[std::path::PathBuf]) {
    for name in [CSV_FILE, XLSX_FILE, CHANGES_FILE] {
        let path = out.join(name);
        if path.exists() && !written.contains(&path) {
            tracing::warn!(
                "{} is from an earlier run (this run did not write it: see --format / --previous)",
                path.display()
            );
        }
    }
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

/// The one screen printed at the end.
fn closing_summary(s: &Summary, written: &[std::path::PathBuf], exit: Exit) -> String {
    let mut lines = Vec::new();
    let looked_up = s.lookups.ok + s.lookups.failed_lookups;
    lines.push(format!(
        "qualrecon: {} of {} customers looked up in {:.1} s ({} requests, {} retries, {} throttled) — run {}",
        looked_up, s.input.customers, s.run.duration_s, s.lookups.requests, s.lookups.retries, s.lookups.throttled_responses, s.run.status
    ));
    let mut outcome = vec![format!("ok {}", s.lookups.ok)];
    outcome.extend(s.lookups.by_status.iter().map(|(k, v)| format!("{k} {v}")));
    outcome.push(format!("invalid input rows {}", s.input.invalid_input_rows));
    outcome.push(format!("duplicate rows {}", s.input.duplicate_rows));
    outcome.push(format!("blank rows {}", s.input.blank_rows));
    lines.push(format!("  {}", outcome.join(" · ")));
    if let (Some(from), Some(n)) = (s.run.resumed_from, s.lookups.resumed) {
        lines.push(format!(
            "  resumed run {from}: {n} customers taken from its journal, the requests above are this run's"
        ));
    }
    lines.push(format!(
        "  customers without qualification: {}",
        s.customers_without_qualification
    ));
    for (q, c) in &s.qualifications {
        let mut parts = vec![
            format!("{} Approved", c.approved),
            format!("{} InReview", c.in_review),
            format!("{} Denied", c.denied),
        ];
        parts.extend(
            c.other
                .iter()
                .map(|(k, v)| format!("{v} {}", if k.is_empty() { "(no status)" } else { k })),
        );
        lines.push(format!("  {q}: {}", parts.join(", ")));
    }
    if let Some(oldest) = &s.in_review.oldest {
        lines.push(format!(
            "  in review: {} entries, oldest since {oldest}, {} older than {} days",
            s.in_review.count, s.in_review.stale, s.in_review.stale_after_days
        ));
    }
    for (reason, n) in s.denial_reasons.iter().take(5) {
        lines.push(format!("  denied {n}× \"{reason}\""));
    }
    if let Some(c) = &s.changes {
        let kinds: Vec<String> = c
            .by_kind
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        lines.push(format!(
            "  changes since {}: {}",
            c.previous_run.path,
            if kinds.is_empty() {
                "none".to_string()
            } else {
                kinds.join(" · ")
            }
        ));
    }
    for path in written {
        lines.push(format!("wrote:   {}", path.display()));
    }
    let why = match exit {
        Exit::Success => "exit 0: every customer looked up",
        Exit::Partial if s.run.status == "deadline" => {
            "exit 3: --deadline reached; the report is partial"
        }
        Exit::Partial => {
            "exit 3: some lookups failed or some input rows were invalid (see lookup_status and error)"
        }
        Exit::Interrupted => "exit 130: interrupted (SIGINT); the report is partial",
        Exit::Terminated => "exit 143: terminated (SIGTERM); the report is partial",
        _ => "",
    };
    lines.push(why.to_string());
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:1/x"));
        assert!(is_loopback("http://[::1]:1"));
        assert!(!is_loopback("https://api.partnercenter.microsoft.com"));
    }
}
