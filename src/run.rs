//! The commands, end to end: the only place that knows every module.

mod client;
mod resume;

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::cli::{CheckArgs, RunArgs};
use crate::config::{self, Config, InputSource};
use crate::customers;
use crate::exit::Exit;
use crate::fsutil::{FolderLock, lock_folder, write_atomic};
use crate::input::{InputFile, InputOptions, read_input};
use crate::journal::{self, Header, JournalWriter};
use crate::logging::init_logging;
use crate::lookup::{Finished, Landed, Stop, StopReason, look_up_each};
use crate::progress::Progress;
use crate::report::export::{CHANGES_FILE, CSV_FILE, JSONL_FILE, SUMMARY_FILE, XLSX_FILE};
use crate::report::outcomes::Outcomes;
use crate::report::previous::{self, PreviousRun};
use crate::report::summary::{self, RunMeta, Summary};
use crate::report::{self, ReportStream, reconcile, screen, xlsx as report_xlsx};
use crate::sandbox::{self, SandboxArgs};
use crate::signals;
use client::Client;
use resume::Resume;

/// One thread: the work between two requests is small, and a
/// multi-threaded runtime spent a fifth of its time waking its threads and
/// handing sockets between them (100,000 lookups: 76 → 37 µs of CPU each).
fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
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

/// The command failed with `e`: say so once, with the whole error chain,
/// the way the logs go (`--log-format`), and give the exit code.
pub fn fail(e: &anyhow::Error) -> Exit {
    let exit = Exit::for_error(e);
    let help = (exit == Exit::Usage).then_some("For more information, try '--help'.");
    crate::logging::print_fatal(&format!("{e:#}"), help);
    exit
}

/// The command line did not parse. A person at a terminal gets clap's own
/// message; off a terminal, or when the command line asks for JSON logs,
/// it is written the way the logs go (a JSON object, or timestamped
/// lines), so cron mail and journald hold nothing else. Help and version
/// requests print as clap prints them.
pub fn command_line_error(e: clap::Error, args: &[String]) -> std::process::ExitCode {
    use std::io::IsTerminal;
    let json = args
        .windows(2)
        .any(|w| w[0] == "--log-format" && w[1] == "json")
        || args.iter().any(|a| a == "--log-format=json");
    let help_asked = e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand;
    if !e.use_stderr() || help_asked || (!json && std::io::stderr().is_terminal()) {
        e.exit();
    }
    if json {
        crate::logging::use_format(crate::logging::LogFormat::Json);
    }
    let rendered = e.render().to_string();
    let text = rendered.trim_end();
    let text = text.strip_prefix("error: ").unwrap_or(text);
    let (message, help) = match text.rsplit_once("\n\n") {
        Some((message, help)) if help.starts_with("For more information") => (message, Some(help)),
        _ => (text, None),
    };
    crate::logging::print_fatal(message, help);
    Exit::Usage.into()
}

/// `qualrecon sandbox`.
pub fn sandbox_main(args: &SandboxArgs) -> anyhow::Result<Exit> {
    init_logging(crate::logging::LogFormat::Text, false);
    // A flag value out of range is a usage error (exit 2), as for `run`.
    sandbox::SandboxConfig::from_args(args).map_err(|e| config::UsageError(format!("{e:#}")))?;
    // One thread: it serves over 20,000 requests/s on its own, and leaves
    // the other cores to the client under test (a multi-threaded runtime
    // spent its time waking threads).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(sandbox::command::serve_command(
        args,
        crate::signals::first_signal(),
    ))?;
    Ok(Exit::Success)
}

/// `qualrecon check`: what the input holds, no network; with
/// `--all-customers`, Partner Center's customer list, no lookups.
pub fn check_main(args: &CheckArgs) -> anyhow::Result<Exit> {
    if args.input.all_customers {
        return check_customer_list(args);
    }
    if args.sandbox || args.config.is_some() {
        return Err(config::UsageError(
            "--sandbox and --config only go with --all-customers: checking a file uses no network and no settings"
                .into(),
        )
        .into());
    }
    let path = args
        .input
        .input
        .clone()
        .ok_or_else(|| config::UsageError("missing --input FILE".into()))?;
    let input = read_input(
        &path,
        &input_options(
            args.input.column.clone(),
            args.input.delimiter.map(crate::config::Delimiter::byte),
            args.input.encoding,
        ),
    )?;
    print_out(&input.describe(&path.display().to_string()));
    Ok(if input.invalid_rows() > 0 {
        Exit::Partial
    } else {
        Exit::Success
    })
}

/// `qualrecon check --all-customers`: list every customer and say what the
/// list holds; exit 3 when some listed id is not a GUID, like a file check.
fn check_customer_list(args: &CheckArgs) -> anyhow::Result<Exit> {
    let run_args = RunArgs {
        input: args.input.clone(),
        config: args.config.clone(),
        sandbox: args.sandbox,
        connection: args.connection.clone(),
        // `check` writes nothing, but the run settings want a folder.
        out: Some(PathBuf::from(".")),
        ..RunArgs::default()
    };
    let cfg = config::resolve(&run_args, &|k| std::env::var(k).ok()).map_err(|e| {
        if e.downcast_ref::<config::UsageError>().is_some() {
            e.context("qualrecon check --all-customers takes the connection settings and credentials as `run` does: flags, the environment or --config FILE")
        } else {
            e
        }
    })?;
    init_logging(cfg.log_format, cfg.quiet);
    runtime()?.block_on(async {
        let stop = Stop::default();
        signals::watch(&stop, None)?;
        let client = Client::connect(&cfg, stop).await?;
        let listing = client.list_customers(cfg.limit).await?;
        let source = format!(
            "Partner Center customer list ({})",
            customers::list_url(&client.base_url)
        );
        print_out(&customers::describe(&listing, &source));
        client.close().await;
        Ok(if listing.input.invalid_rows() > 0 {
            Exit::Partial
        } else {
            Exit::Success
        })
    })
}

/// `text` and a line break on stdout. A reader that went away (`check |
/// head`) is no error: what it did not read, it did not want.
fn print_out(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{text}").and_then(|()| out.flush());
}

fn input_options(
    column: Option<String>,
    delimiter: Option<u8>,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> InputOptions {
    InputOptions {
        column,
        delimiter,
        encoding,
        spill_over: None,
    }
}

/// The batch job.
pub async fn execute(cfg: Config) -> anyhow::Result<Exit> {
    let started_at = Utc::now();
    let run_id = Uuid::new_v4();
    let file_input = read_file_input(&cfg)?;
    let (_lock, previous) = take_folder(&cfg)?;
    let stop = Stop::default();
    signals::watch(&stop, cfg.deadline)?;
    let mut client = Client::connect(&cfg, stop).await?;
    let (input, pages) = customers_of(&cfg, file_input, &mut client).await?;
    let expect_column = expect_column(&cfg, &input)?;
    let ids = customers_to_look_up(&input, cfg.limit);
    let mut outcomes = Outcomes::new(ids.len());
    let resume = Resume::open(&cfg, &client.base_url, &input.sha256, &ids, &mut outcomes)?;
    resume.keep_the_servers_window(&cfg, &client);
    let pending = resume.pending(&outcomes);
    client.for_customers(&cfg, pending.len());
    // A run stopped before its token is proved writes its (empty) partial
    // report like any other, but leaves the earlier journal alone.
    let proved = pending.is_empty() || client.prove().await?;
    let input_path = match &cfg.input {
        InputSource::File(path) => path.display().to_string(),
        InputSource::AllCustomers => customers::list_url(&client.base_url),
    };
    let running = summary::Running {
        id: run_id,
        started_at,
        base_url: &client.base_url,
        input_path: &input_path,
        input_sha256: &input.sha256,
        resumed_from: resume.run_id(),
    };
    let journal = start_writing(&cfg, proved, resume.tail(), &running)?;
    for &position in &pending {
        outcomes.ask_again(position);
    }
    let plan = report::Plan {
        input: &input,
        expect_column,
        previous: previous.as_ref(),
        started_at,
        stale_after_days: cfg.stale_after_days,
    };
    let mut report = ReportStream::start(&destination(&cfg), plan, outcomes)?;
    let result = look_up(&cfg, &client, (&ids, &pending), journal, &mut report).await;
    let mut meta = run_meta(&cfg, &client, &result, started_at, run_id, input_path);
    (meta.resumed_from, meta.resumed) = (resume.run_id(), resume.resumed(&ids, &pending));
    let (summary, written) = report.finish(&meta, pages)?;
    warn_about_stale_files(&cfg.out, &written);
    client.close().await;
    Ok(say_how_it_ended(&cfg, result.stopped, &summary, &written))
}

/// Make the output folder and take it for this run; then read
/// `--previous`, before any request: a wrong one should not cost a whole
/// run (and is read before the journal or any report is replaced).
fn take_folder(cfg: &Config) -> anyhow::Result<(FolderLock, Option<PreviousRun>)> {
    Resume::check_folder(cfg)?;
    std::fs::create_dir_all(&cfg.out)
        .with_context(|| format!("cannot create the output folder {}", cfg.out.display()))?;
    let lock = lock_folder(&cfg.out)?;
    let names = [CSV_FILE, XLSX_FILE, JSONL_FILE, SUMMARY_FILE, CHANGES_FILE];
    for stale in crate::fsutil::remove_stale_temp_files(&cfg.out, &names) {
        tracing::info!(
            "removed {}, left by a run killed while writing its report",
            stale.display()
        );
    }
    let previous = cfg
        .previous
        .as_deref()
        .map(|dir| {
            let names = previous::ReportNames {
                csv: CSV_FILE,
                jsonl: JSONL_FILE,
                summary: SUMMARY_FILE,
            };
            previous::read(dir, &names)
        })
        .transpose()?;
    Ok((lock, previous))
}

/// The customers: the input file, or with `--all-customers` Partner
/// Center's list, read once the credentials are proved (with the number
/// of its pages).
async fn customers_of(
    cfg: &Config,
    file_input: Option<InputFile>,
    client: &mut Client,
) -> anyhow::Result<(InputFile, Option<u64>)> {
    if let Some(input) = file_input {
        return Ok((input, None));
    }
    client.prove().await?;
    let listing = client.list_customers(cfg.limit).await?;
    Ok((listing.input, Some(listing.pages)))
}

/// The expectation column, if any; says before any request when the
/// report will not fit on one Excel sheet.
fn expect_column(cfg: &Config, input: &InputFile) -> anyhow::Result<Option<usize>> {
    let expect_column =
        reconcile::find_column(input, cfg.expect_column.as_deref()).map_err(config::UsageError)?;
    if cfg.formats.xlsx {
        warn_about_excel_limits(input, cfg.limit, expect_column.is_some());
    }
    if let Some(column) = expect_column {
        for doubt in reconcile::doubts(input, column, cfg.expect_column.is_some()) {
            tracing::warn!("{doubt}");
        }
    }
    Ok(expect_column)
}

/// Where the report goes.
fn destination(cfg: &Config) -> report::Destination<'_> {
    report::Destination {
        out: &cfg.out,
        formats: cfg.formats,
        csv_bom: cfg.csv_bom,
    }
}

/// `--input FILE`, read before anything else; `None` for
/// `--all-customers`. A wrong `--expect-column` is a usage error then too.
fn read_file_input(cfg: &Config) -> anyhow::Result<Option<InputFile>> {
    let InputSource::File(path) = &cfg.input else {
        return Ok(None);
    };
    let input = read_input(
        path,
        &input_options(cfg.column.clone(), cfg.delimiter, cfg.encoding),
    )
    .context("cannot read the input")?;
    reconcile::find_column(&input, cfg.expect_column.as_deref()).map_err(config::UsageError)?;
    Ok(Some(input))
}

/// The valid customers of `input`, in input order, the first `limit` of
/// them.
fn customers_to_look_up(input: &InputFile, limit: Option<u64>) -> Vec<Uuid> {
    let mut ids: Vec<Uuid> = input.customers().map(|(id, _)| id).collect();
    if let Some(limit) = limit {
        ids.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    ids
}

/// Look up the customers of `ids` at the positions `pending`, with the
/// progress bar and the journal following; their outcomes go to the
/// `report` (by position in `ids`), in place of any journaled ones.
async fn look_up(
    cfg: &Config,
    client: &Client,
    (ids, pending): (&[Uuid], &[usize]),
    mut journal: JournalWriter,
    report: &mut ReportStream<'_>,
) -> Finished {
    // A fresh run asks everyone: no second list of a million ids.
    let pending_ids: std::borrow::Cow<'_, [Uuid]> = if pending.len() == ids.len() {
        ids.into()
    } else {
        pending.iter().map(|&i| ids[i]).collect::<Vec<_>>().into()
    };
    tracing::info!(
        "looking up {} customers at up to {} requests/s, {} in flight (MS-CorrelationId {})",
        pending.len(),
        cfg.rate,
        cfg.concurrency,
        client.correlation_id
    );
    let mut progress = Progress::new(pending.len() as u64, cfg.quiet);
    let result = look_up_each(client.lookup.clone(), &pending_ids, |landed| match landed {
        Landed::Outcome(i, o) => {
            progress.record(&o);
            journal.record(pending_ids[i], &o);
            report.land(pending[i], &o);
        }
        Landed::Idle => journal.flush(),
    })
    .await;
    progress.finish();
    journal.finish();
    result
}

/// The run's facts for the summary, as the lookups end.
fn run_meta(
    cfg: &Config,
    client: &Client,
    result: &Finished,
    started_at: DateTime<Utc>,
    id: Uuid,
    input_path: String,
) -> RunMeta {
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    RunMeta {
        id,
        status: match result.stopped {
            None => "complete",
            Some(StopReason::Deadline) => "deadline",
            Some(StopReason::Throttled { .. }) => "throttled",
            Some(_) => "interrupted",
        },
        retry_after_until: match result.stopped {
            Some(StopReason::Throttled { until }) => Some(until),
            _ => None,
        },
        started_at,
        finished_at: Utc::now(),
        base_url: client.base_url.clone(),
        rate: cfg.rate,
        final_rate: client.lookup.pacer.rate(),
        concurrency: cfg.concurrency,
        correlation_id: client.correlation_id,
        limit: cfg.limit,
        input_path,
        stale_after_days: cfg.stale_after_days,
        requests: load(&result.counters.requests),
        retries: load(&result.counters.retries),
        throttled_responses: load(&result.counters.throttled_responses),
        resumed_from: None,
        resumed: None,
    }
}

/// The exit code, and the closing words: a warning when the run stopped
/// early (for logs and cron mail: stdout may be silenced), the one-screen
/// summary unless `--quiet`.
fn say_how_it_ended(
    cfg: &Config,
    stopped: Option<StopReason>,
    summary: &Summary,
    written: &[PathBuf],
) -> Exit {
    let exit = match stopped {
        Some(StopReason::Interrupt) => Exit::Interrupted,
        Some(StopReason::Terminate) => Exit::Terminated,
        Some(StopReason::Deadline | StopReason::Throttled { .. }) => Exit::Partial,
        Some(StopReason::Unauthorized) => Exit::Fatal,
        None if summary.lookups.failed_lookups > 0 || summary.input.invalid_input_rows > 0 => {
            Exit::Partial
        }
        None => Exit::Success,
    };
    if stopped.is_some() {
        let resumable = journal::path_in(&cfg.out).exists();
        tracing::warn!("{}", screen::stopped_early(summary, resumable));
    }
    if !cfg.quiet {
        print_out(&screen::closing_summary(summary, written, exit));
    }
    exit
}

/// The run starts changing the folder. Only now, with its input read and
/// its credentials proved (`proved`), does a fresh run replace the earlier run's
/// journal, or a resumed one (`tail`) append to it: a failed start leaves
/// the journal as it was for `--resume`. And `summary.json` says `running`
/// until the final one is written last, so a `complete` summary never sits
/// beside report files of another run, however this run ends.
fn start_writing(
    cfg: &Config,
    proved: bool,
    tail: Option<journal::Tail>,
    running: &summary::Running<'_>,
) -> anyhow::Result<JournalWriter> {
    let path = cfg.out.join(SUMMARY_FILE);
    write_atomic(&path, &running.to_json())
        .with_context(|| format!("cannot write {}", path.display()))?;
    if !proved {
        return Ok(JournalWriter::none(&cfg.out));
    }
    match tail {
        Some(tail) => JournalWriter::resume(&cfg.out, tail, running.id, running.started_at)
            .context("cannot continue the journal"),
        None => {
            let header = Header::new(
                running.id,
                running.started_at,
                running.input_sha256,
                &resume::server_of(cfg, running.base_url),
            );
            JournalWriter::create(&cfg.out, &header).context("cannot start the journal")
        }
    }
}

/// Say before any request when the report will not fit on one Excel
/// sheet; the xlsx then leaves the excess out (see `xlsx::Fit`). Counts the
/// report rows the input gives at least: one per invalid row and per
/// customer looked up.
fn warn_about_excel_limits(input: &InputFile, limit: Option<u64>, reconciliation: bool) {
    use crate::input::RowKind;
    let (mut invalid, mut customers) = (0usize, 0usize);
    for row in &input.rows {
        match row.kind {
            RowKind::Invalid { .. } => invalid += 1,
            RowKind::Customer(_) => customers += 1,
            RowKind::Duplicate { .. } => {}
        }
    }
    if let Some(limit) = limit {
        customers = customers.min(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let fit = report_xlsx::Fit::of(
        invalid + customers,
        input.extra_headers.len(),
        reconciliation,
    );
    if let Some(note) = fit.note() {
        tracing::warn!("{note}");
    }
}

/// A report file this run did not write (another `--format`, no
/// `--previous`) may be left from an earlier run in the same folder: say so
/// rather than delete it.
fn warn_about_stale_files(out: &Path, written: &[PathBuf]) {
    for name in [CSV_FILE, JSONL_FILE, XLSX_FILE, CHANGES_FILE] {
        let path = out.join(name);
        if path.exists() && !written.contains(&path) {
            tracing::warn!(
                "{} is from an earlier run (this run did not write it: see --format / --previous)",
                path.display()
            );
        }
    }
}
