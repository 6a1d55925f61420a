//! The commands, end to end: the only place that knows every module.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use uuid::Uuid;

use crate::api::{APPLICATION, ApiClient};
use crate::auth::{ClientCredential, ClientCredentials, Credentials, RefreshToken, TokenProvider};
use crate::cli::{CheckArgs, RunArgs, SandboxArgs};
use crate::config::{self, Auth, Config, InputSource};
use crate::customers::{self, Listing};
use crate::exit::Exit;
use crate::fsutil::{lock_folder, write_atomic};
use crate::input::{InputOptions, read_input};
use crate::journal::{self, Header, JournalError, JournalWriter};
use crate::lookup::{Lookup, LookupSettings, Outcome, Stop, StopReason, look_up_all};
use crate::pacer::Pacer;
use crate::progress::{Progress, init_logging};
use crate::report::changes::{self, Entry};
use crate::report::previous::{self, PreviousRun};
use crate::report::reconcile;
use crate::report::summary::{self, ChangesInfo, PreviousRunInfo, RunMeta, Summary};
use crate::report::{
    ReportRow, build_rows, csv as report_csv, jsonl as report_jsonl, screen, xlsx as report_xlsx,
};
use crate::sandbox::{self, Sandbox, SandboxConfig};
use crate::signals;

/// Report file names (SPEC §3).
pub const CSV_FILE: &str = "qualifications.csv";
pub const XLSX_FILE: &str = "qualifications.xlsx";
pub const JSONL_FILE: &str = "qualifications.jsonl";
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
    println!("{}", input.describe(&path.display().to_string()));
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
        // `check` writes nothing, but the run settings want a folder.
        out: Some(PathBuf::from(".")),
        ..RunArgs::default()
    };
    let cfg = config::resolve(&run_args, &|k| std::env::var(k).ok()).map_err(|e| {
        if e.downcast_ref::<config::UsageError>().is_some() {
            // `check` has no credential flags of its own.
            e.context("qualrecon check --all-customers takes the connection settings and credentials from the environment or --config FILE")
        } else {
            e
        }
    })?;
    init_logging(cfg.log_format, cfg.quiet);
    runtime()?.block_on(async {
        let stop = Stop::default();
        signals::watch(&stop, None)?;
        let conn = connect(&cfg, stop).await?;
        let listing = list_all_customers(&conn.lookup, cfg.limit).await?;
        let source = format!(
            "Partner Center customer list ({})",
            customers::list_url(&conn.base_url)
        );
        println!("{}", customers::describe(&listing, &source));
        if let Some(sb) = conn.sandbox {
            sb.shutdown().await;
        }
        Ok(if listing.input.invalid_rows() > 0 {
            Exit::Partial
        } else {
            Exit::Success
        })
    })
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
    }
}

fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| crate::transport::is_loopback(&u))
}

/// What `--resume` takes over from the earlier run's journal.
struct Earlier {
    /// The run that wrote the journal last.
    run_id: Uuid,
    /// Each customer's latest journaled outcome, final or not.
    outcomes: HashMap<Uuid, Outcome>,
    /// Where this run continues the journal.
    tail: journal::Tail,
}

fn nothing_to_resume(out: &Path) -> anyhow::Error {
    config::UsageError(format!(
        "--resume: nothing to resume in {}: it holds no journal ({}) of an earlier run; start a fresh run without --resume",
        out.display(),
        journal::JOURNAL_FILE
    ))
    .into()
}

/// The earlier run's journal (checked against the input) that a resumed
/// run continues; `None` for a fresh run, which only checks here that it
/// may replace the journal. Neither writes it yet (see [`start_writing`]).
fn open_journal(cfg: &Config, input_sha256: &str) -> anyhow::Result<Option<Earlier>> {
    if !cfg.resume {
        journal::check_replaceable(&cfg.out).context("cannot start the journal")?;
        return Ok(None);
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
    Ok(Some(Earlier {
        run_id: earlier.last_run_id,
        tail: earlier.tail(),
        outcomes: earlier.outcomes,
    }))
}

/// What talks to Partner Center: the sandbox (kept alive until the end of
/// the command), the API root, and the lookup machinery that every request
/// goes through.
struct Connection {
    sandbox: Option<Sandbox>,
    base_url: String,
    correlation_id: Uuid,
    lookup: Lookup,
}

/// Start the sandbox if asked and build the client side. No request yet.
async fn connect(cfg: &Config, stop: Stop) -> anyhow::Result<Connection> {
    let sandbox = if cfg.sandbox {
        Some(start_sandbox(&cfg.auth).await?)
    } else {
        None
    };
    let base_url = sandbox
        .as_ref()
        .map_or_else(|| cfg.base_url.clone(), Sandbox::base_url);

    let http = http_client(cfg, &base_url)?;

    log_sign_in(&cfg.auth);
    let credentials = credentials(&cfg.auth, &base_url);
    let auth = TokenProvider::new(http.clone(), credentials);

    let correlation_id = Uuid::new_v4();
    let api = ApiClient::new(http, &base_url, correlation_id, cfg.request_timeout);
    // For an unknown number of customers: `execute` sets the settings again
    // once it knows them (the retry budget grows with the customers).
    let settings = LookupSettings::new(cfg.concurrency as usize, 0);
    let lookup = Lookup::new(api, auth, Pacer::new(cfg.rate), settings, stop);
    Ok(Connection {
        sandbox,
        base_url,
        correlation_id,
        lookup,
    })
}

/// `--all-customers`: every page of the customer list (the credentials
/// are proved first, by [`prove_credentials`]).
async fn list_all_customers(lookup: &Lookup, limit: Option<u64>) -> anyhow::Result<Listing> {
    let listing = customers::list_customers(lookup, limit).await?;
    if listing.input.rows.is_empty() {
        tracing::warn!(
            "Partner Center listed no customers at all: check that --tenant and the app registration are the partner's"
        );
    }
    Ok(listing)
}

/// Fetch the first token before any customer request, so wrong credentials
/// fail the run before it changes anything. Raced against the stop switch:
/// a hanging token endpoint must not keep a signal or the deadline from
/// acting. `false`: the run was stopped first (the credentials are not
/// proved, and the earlier journal must stay).
async fn prove_credentials(lookup: &Lookup) -> anyhow::Result<bool> {
    if lookup.stop.reason().is_some() {
        return Ok(false);
    }
    tokio::select! {
        biased;
        () = lookup.stop.wait() => Ok(false),
        token = lookup.auth.token() => {
            token.context("authentication failed")?;
            Ok(true)
        }
    }
}

/// The batch job.
pub async fn execute(cfg: Config) -> anyhow::Result<Exit> {
    let started_at = Utc::now();
    let run_id = Uuid::new_v4();
    let file_input = match &cfg.input {
        InputSource::File(path) => {
            let input = read_input(
                path,
                &input_options(cfg.column.clone(), cfg.delimiter, cfg.encoding),
            )
            .context("cannot read the input")?;
            // A wrong --expect-column is a usage error before anything else.
            reconcile::find_column(&input, cfg.expect_column.as_deref())
                .map_err(config::UsageError)?;
            Some(input)
        }
        InputSource::AllCustomers => None,
    };
    if cfg.resume && std::fs::symlink_metadata(journal::path_in(&cfg.out)).is_err() {
        // Checked again under the lock; this only avoids creating the folder.
        // (A link at the name is refused there, dangling or not.)
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

    let stop = Stop::default();
    signals::watch(&stop, cfg.deadline)?;
    let mut conn = connect(&cfg, stop.clone()).await?;
    let mut proved = false;
    let (input, pages) = match file_input {
        Some(input) => (input, None),
        None => {
            proved = prove_credentials(&conn.lookup).await?;
            let listing = list_all_customers(&conn.lookup, cfg.limit).await?;
            (listing.input, Some(listing.pages))
        }
    };
    let expect_column =
        reconcile::find_column(&input, cfg.expect_column.as_deref()).map_err(config::UsageError)?;
    if cfg.formats.xlsx {
        warn_about_excel_limits(&input, cfg.limit, expect_column.is_some());
    }
    let earlier = open_journal(&cfg, &input.sha256)?;

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

    conn.lookup.settings = LookupSettings::new(cfg.concurrency as usize, pending.len());
    conn.lookup.settings.max_wait = cfg.max_wait;
    if pending.is_empty() {
        proved = true;
    } else if !proved {
        // The stopped run then writes its (empty) partial report like any
        // other, but leaves the earlier journal alone.
        proved = prove_credentials(&conn.lookup).await?;
    }
    let input_path = match &cfg.input {
        InputSource::File(path) => path.display().to_string(),
        InputSource::AllCustomers => customers::list_url(&conn.base_url),
    };
    let mut journal = start_writing(
        &cfg,
        proved,
        earlier.as_ref().map(|e| e.tail),
        &summary::Running {
            id: run_id,
            started_at,
            base_url: &conn.base_url,
            input_path: &input_path,
            input_sha256: &input.sha256,
            resumed_from: earlier.as_ref().map(|e| e.run_id),
        },
    )?;
    let Connection {
        sandbox,
        base_url,
        correlation_id,
        lookup,
    } = conn;
    let lookup = Arc::new(lookup);
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
    let mut rows = build_rows(&input, &outcomes, started_at);
    if let Some(col) = expect_column {
        reconcile::reconcile(&mut rows, col, &input.extra_headers[col]);
    }
    let counters = &result.counters;
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let meta = RunMeta {
        id: run_id,
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
        finished_at,
        base_url,
        rate: cfg.rate,
        final_rate: lookup.pacer.rate(),
        concurrency: cfg.concurrency,
        correlation_id,
        limit: cfg.limit,
        input_path,
        stale_after_days: cfg.stale_after_days,
        requests: load(&counters.requests),
        retries: load(&counters.retries),
        throttled_responses: load(&counters.throttled_responses),
        resumed_from: earlier.as_ref().map(|e| e.run_id),
        resumed,
    };
    let mut summary = summary::build(&meta, &input, &rows);
    summary.reconciliation = expect_column.map(|_| reconcile::counts(&rows));
    if let Some(pages) = pages {
        summary.input.listed_from_partner_center(pages);
    }
    let changes = previous.map(|p| compare_with(&p, &rows, &mut summary));

    let written = write_reports(
        &cfg,
        &input.extra_headers,
        &rows,
        &summary,
        changes.as_deref(),
        expect_column,
    )?;
    warn_about_stale_files(&cfg.out, &written);
    if let Some(sb) = sandbox {
        sb.shutdown().await;
    }

    let exit = match result.stopped {
        Some(StopReason::Interrupt) => Exit::Interrupted,
        Some(StopReason::Terminate) => Exit::Terminated,
        Some(StopReason::Deadline | StopReason::Throttled { .. }) => Exit::Partial,
        Some(StopReason::Unauthorized) => Exit::Fatal,
        None if summary.lookups.failed_lookups > 0 || summary.input.invalid_input_rows > 0 => {
            Exit::Partial
        }
        None => Exit::Success,
    };
    if result.stopped.is_some() {
        // The closing line for logs and cron mail (stdout may be silenced).
        let resumable = journal::path_in(&cfg.out).exists();
        tracing::warn!("{}", screen::stopped_early(&summary, resumable));
    }
    if !cfg.quiet {
        println!("{}", screen::closing_summary(&summary, &written, exit));
    }
    Ok(exit)
}

/// The built-in fake Partner Center for `--sandbox`; it also accepts a
/// static token the user set, and trusts the certificate and the refresh
/// token the run signs in with (no account needed to try them).
async fn start_sandbox(auth: &Auth) -> anyhow::Result<Sandbox> {
    let mut sc = SandboxConfig::default();
    match auth {
        Auth::Static(token) => {
            sc.static_token = Some(secrecy::ExposeSecret::expose_secret(token).to_string());
        }
        Auth::Sandbox {
            certificate,
            refresh_token,
            ..
        } => {
            sc.client_certificates = certificate
                .iter()
                .map(|c| c.certificate_der().to_vec())
                .collect();
            sc.refresh_token = refresh_token
                .as_ref()
                .map(|r| secrecy::ExposeSecret::expose_secret(&r.token).to_string());
        }
        Auth::Client { .. } => {}
    }
    let sb = Sandbox::start(sc)
        .await
        .context("starting the built-in sandbox")?;
    tracing::info!(
        "sandbox: fake Partner Center listening on {}",
        sb.base_url()
    );
    Ok(sb)
}

/// One client for the whole run (token and API requests share its pool).
fn http_client(cfg: &Config, base_url: &str) -> anyhow::Result<reqwest::Client> {
    let mut http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10).min(cfg.request_timeout))
        // The default for every request, token requests included.
        .timeout(cfg.request_timeout)
        .pool_max_idle_per_host(cfg.concurrency as usize)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_keepalive(Duration::from_secs(60))
        // A redirect would carry the bearer token or the client secret to
        // wherever it points: a 3xx is an answer (a failed row, or a fatal
        // auth error), never followed.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(APPLICATION);
    if is_loopback(base_url) {
        // A corporate HTTP(S)_PROXY must not capture the local sandbox.
        http = http.no_proxy();
    }
    http.build().context("building the HTTP client")
}

/// Where tokens come from; the sandbox has its own app registration.
fn credentials(auth: &Auth, base_url: &str) -> Credentials {
    let refresh = |r: &Option<config::RefreshTokenSetting>| {
        r.as_ref()
            .map(|r| RefreshToken::new(r.token.clone(), r.file.clone(), r.trailing_newline))
    };
    match auth {
        Auth::Static(token) => Credentials::Static(token.clone()),
        Auth::Client {
            tenant,
            client_id,
            credential,
            refresh_token,
            authority,
            endpoint,
        } => Credentials::Client(ClientCredentials {
            token_url: ClientCredentials::token_url(authority, tenant, *endpoint),
            client_id: client_id.clone(),
            credential: credential.clone(),
            endpoint: *endpoint,
            refresh_token: refresh(refresh_token),
        }),
        Auth::Sandbox {
            endpoint,
            certificate,
            refresh_token,
        } => Credentials::Client(ClientCredentials {
            token_url: ClientCredentials::token_url(base_url, sandbox::TENANT, *endpoint),
            client_id: sandbox::CLIENT_ID.to_string(),
            credential: match certificate {
                Some(c) => ClientCredential::Certificate(c.clone()),
                None => ClientCredential::Secret(secrecy::SecretString::from(
                    sandbox::CLIENT_SECRET.to_string(),
                )),
            },
            endpoint: *endpoint,
            refresh_token: refresh(refresh_token),
        }),
    }
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
            let header = Header::new(running.id, running.started_at, running.input_sha256);
            JournalWriter::create(&cfg.out, &header).context("cannot start the journal")
        }
    }
}

/// Say how the run signs in (never with the secret or token), and warn
/// while there is time to renew a certificate that expires soon.
fn log_sign_in(auth: &Auth) {
    let (certificate, refresh_token) = match auth {
        Auth::Static(_) => return,
        Auth::Client {
            credential,
            refresh_token,
            ..
        } => (
            match credential {
                ClientCredential::Certificate(c) => Some(c),
                ClientCredential::Secret(_) => None,
            },
            refresh_token,
        ),
        Auth::Sandbox {
            certificate,
            refresh_token,
            ..
        } => (certificate.as_ref(), refresh_token),
    };
    if let Some(r) = refresh_token {
        match &r.file {
            Some(path) => tracing::info!("signing in with the refresh token in {}", path.display()),
            None => {
                tracing::info!("signing in with the refresh token in PARTNER_CENTER_REFRESH_TOKEN")
            }
        }
    }
    if let Some(c) = certificate {
        tracing::info!("signing in with the certificate {}", c.describe());
        let left = c.not_after() - Utc::now();
        if left < chrono::Duration::days(30) {
            tracing::warn!(
                "the client certificate expires in {} days ({}): create a new one and register it on the app before then",
                left.num_days(),
                c.not_after().format("%Y-%m-%d")
            );
        }
    }
}

/// Say before any request when the report will not fit on one Excel
/// sheet; the xlsx then leaves the excess out (see `xlsx::Fit`). Counts the
/// report rows the input gives at least: one per invalid row and per
/// customer looked up.
fn warn_about_excel_limits(
    input: &crate::input::InputFile,
    limit: Option<u64>,
    reconciliation: bool,
) {
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

/// Write the report files atomically, `summary.json` last; returns the
/// paths written.
fn write_reports(
    cfg: &Config,
    extra_headers: &[String],
    rows: &[ReportRow],
    summary: &Summary,
    changes: Option<&[changes::Change]>,
    expect_column: Option<usize>,
) -> anyhow::Result<Vec<PathBuf>> {
    let reconciliation = summary.reconciliation.is_some();
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
            &report_csv::render(rows, extra_headers, reconciliation, cfg.csv_bom),
        )?;
    }
    if cfg.formats.jsonl {
        write(
            JSONL_FILE,
            &report_jsonl::render(rows, extra_headers, reconciliation),
        )?;
    }
    if cfg.formats.xlsx {
        write(
            XLSX_FILE,
            &report_xlsx::render(&report_xlsx::Report {
                rows,
                extra_headers,
                summary,
                changes,
                expect_column,
            })
            .context("cannot build the xlsx report")?,
        )?;
    }
    if let Some(changes) = changes {
        write(
            CHANGES_FILE,
            &changes::render(changes, reconciliation, cfg.csv_bom),
        )?;
    }
    // Last: its presence with status "complete" marks a finished run.
    let json = serde_json::to_vec_pretty(summary).context("serialising the summary")?;
    write(SUMMARY_FILE, &json)?;
    Ok(written)
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
        by_kind: changes::counts(&found, summary.reconciliation.is_some()),
        total: found.len() as u64,
    });
    found
}

/// A report file this run did not write (another `--format`, no
/// `--previous`) may be left from an earlier run in the same folder: say so
/// rather than delete it.
fn warn_about_stale_files(out: &Path, written: &[std::path::PathBuf]) {
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
