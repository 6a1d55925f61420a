//! `summary.json`: counted from the report rows themselves, so every number
//! in it agrees with `qualifications.csv` by construction.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::row::{NOT_LOOKED_UP, ReportRow, customer_spans};
use crate::fsutil::AtomicFile;
use crate::input::{InputFile, RowKind, delimiter_name};
use crate::model::{LookupStatus, VettingDate, VettingStatus, format_utc};

/// The whole document, as the README's `summary.json` section lists it.
/// Keys beyond that list are additions, never renames.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// `tool`: which program wrote the file.
    pub tool: Tool,
    /// `run`: what ran, when, how it ended.
    pub run: RunInfo,
    /// `input`: what was read.
    pub input: InputInfo,
    /// `lookups`: outcome and request counts.
    pub lookups: LookupCounts,
    /// Customers looked up fine that hold no qualification at all.
    pub customers_without_qualification: u64,
    /// Customers per qualification and vetting status.
    pub qualifications: BTreeMap<String, StatusCounts>,
    /// Denied entries (all qualifications) per verbatim reason.
    pub denial_reasons: BTreeMap<String, u64>,
    /// `in_review`: the open reviews and how old they are.
    pub in_review: InReview,
    /// Only when the input has an expectation column: customers per
    /// non-empty `reconciliation` value (every value listed, zeros included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reconciliation: Option<BTreeMap<&'static str, u64>>,
    /// With `--previous`: what `changes.csv` holds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<ChangesInfo>,
}

/// The comparison with an earlier run (`--previous`).
#[derive(Debug, Serialize)]
pub struct ChangesInfo {
    /// The earlier run compared against.
    pub previous_run: PreviousRunInfo,
    /// Rows of `changes.csv` per `change` value (every kind, zeros included).
    pub by_kind: BTreeMap<&'static str, u64>,
    /// Rows of `changes.csv`.
    pub total: u64,
}

/// Which run this one was compared with.
#[derive(Debug, Serialize)]
pub struct PreviousRunInfo {
    /// The folder given to `--previous`.
    pub path: String,
    /// Its `run.id`, when its `summary.json` was readable.
    pub id: Option<String>,
    /// Its `run.started_at`, when its `summary.json` was readable.
    pub started_at: Option<String>,
}

/// `tool`: which program wrote the file, so a reader can tell versions
/// apart.
#[derive(Debug, Serialize)]
pub struct Tool {
    /// Always `qualrecon`.
    pub name: &'static str,
    /// The crate version that wrote the file.
    pub version: &'static str,
}

impl Tool {
    /// This build of qualrecon.
    fn this() -> Tool {
        Tool {
            name: "qualrecon",
            version: env!("CARGO_PKG_VERSION"),
        }
    }
}

/// An instant as `summary.json` writes it: UTC, RFC 3339 with
/// milliseconds. What is kept is what is written (the rest of the
/// millisecond is cut), so the workbook shows the same instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Millis(DateTime<Utc>);

impl Millis {
    /// `at`, cut to whole milliseconds.
    pub fn new(at: DateTime<Utc>) -> Millis {
        Millis(chrono::SubsecRound::trunc_subsecs(at, 3))
    }

    /// The instant.
    pub fn at(self) -> DateTime<Utc> {
        self.0
    }
}

impl Serialize for Millis {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_utc(self.0, 3))
    }
}

/// What ran, when, and how it ended.
#[derive(Debug, Serialize)]
pub struct RunInfo {
    /// A fresh UUID per run.
    pub id: Uuid,
    /// `complete`, `interrupted`, `deadline` or `throttled` (a Retry-After
    /// beyond `--max-wait` stopped the run); a [`Running`] document says
    /// `running`.
    pub status: &'static str,
    /// UTC, RFC 3339 with milliseconds.
    pub started_at: Millis,
    /// UTC, RFC 3339 with milliseconds; just before the files were written.
    pub finished_at: Millis,
    /// Seconds from start to finish.
    pub duration_s: f64,
    /// The API root the run used (the sandbox's address with `--sandbox`).
    pub base_url: String,
    /// `--rate` as configured.
    pub rate: f64,
    /// `--concurrency` as configured.
    pub concurrency: u32,
    /// Sent as `MS-CorrelationId` on every request: quote it to Microsoft support.
    pub correlation_id: Uuid,
    /// The pacer's rate at the end (lower than `rate` after throttling).
    pub final_rate: f64,
    /// `--limit`, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u64>,
    /// `--resume`: the id of the run whose journal this run continued.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_from: Option<Uuid>,
    /// With status `throttled` only: when Partner Center asked to be called
    /// again (UTC, RFC 3339, whole seconds rounded up); run again with
    /// `--resume` after it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_until: Option<String>,
}

/// What was read.
#[derive(Debug, Serialize)]
pub struct InputInfo {
    /// Where the customers came from: `file` (`--input`) or
    /// `partner_center` (`--all-customers`).
    pub source: &'static str,
    /// `--input` as given (`-` for stdin); the list's URL for `partner_center`.
    pub path: String,
    /// `partner_center` only: pages of the customer list read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pages: Option<u64>,
    /// Lowercase hex SHA-256 of the input's raw bytes: tells whether two
    /// runs read the same file (`--resume` refuses a different one).
    pub sha256: String,
    /// Data rows below the header, blank ones included, so that
    /// `rows = customers + duplicate_rows + invalid_input_rows + blank_rows`.
    pub rows: u64,
    /// Distinct valid customer ids.
    pub customers: u64,
    /// Rows repeating an id seen on an earlier line (not looked up again).
    pub duplicate_rows: u64,
    /// Blank lines and rows whose cells are all empty.
    pub blank_rows: u64,
    /// Rows whose id is not a GUID (`invalid_input` rows in the report).
    pub invalid_input_rows: u64,
    /// Each duplicated customer with the line looked up and the lines skipped.
    pub duplicates: Vec<Duplicate>,
    /// The delimiter used: `,`, `;`, `tab`, … (`file` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<String>,
    /// Header of the id column (or `column_N` for a headerless file);
    /// `id` for `partner_center`.
    pub id_column: String,
    /// The encoding the input was decoded from, by its WHATWG name in
    /// lower case: `utf-8`, `utf-16le`, `utf-16be`, `windows-1252`, or what
    /// `--encoding` named (`windows-1250`, `shift_jis`, …); `file` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<&'static str>,
    /// Valid customers not looked up because of `--limit`.
    pub skipped_by_limit: u64,
}

impl InputInfo {
    /// The input was Partner Center's customer list, read in `pages` pages:
    /// the file-only facts go.
    pub fn listed_from_partner_center(&mut self, pages: u64) {
        self.source = "partner_center";
        self.pages = Some(pages);
        self.delimiter = None;
        self.encoding = None;
    }
}

/// One entry of `input.duplicates`: a customer id that appears on more
/// than one line, looked up once.
#[derive(Debug, Serialize)]
pub struct Duplicate {
    /// The duplicated customer, canonical.
    pub customer_tenant_id: Uuid,
    /// The line that was looked up.
    pub first_line: u64,
    /// The lines that repeated it.
    pub duplicate_lines: Vec<u64>,
}

/// Outcome counts per customer (not per qualification).
#[derive(Debug, Serialize)]
pub struct LookupCounts {
    /// Customers looked up fine.
    pub ok: u64,
    /// Customers whose lookup did not end `ok` (invalid input excluded).
    pub failed_lookups: u64,
    /// Non-ok lookup statuses (invalid input excluded: it is never looked up).
    pub by_status: BTreeMap<&'static str, u64>,
    /// Customers the run stopped before requesting (signal, deadline,
    /// throttling): `failed` rows whose error says "not looked up"; counted
    /// in `failed_lookups` and `by_status.failed` too.
    pub not_reached: u64,
    /// HTTP requests sent to the qualifications endpoint (by this run only,
    /// also when it resumed an earlier one).
    pub requests: u64,
    /// Requests beyond each customer's first.
    pub retries: u64,
    /// 429 answers received.
    pub throttled_responses: u64,
    /// `--resume`: customers whose outcome came from the journal, not
    /// requested again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed: Option<u64>,
}

/// Customers per status for one qualification.
#[derive(Debug, Default, Serialize)]
pub struct StatusCounts {
    /// `Approved`: customers whose vetting passed.
    #[serde(rename = "Approved")]
    pub approved: u64,
    /// `InReview`: customers with an open review.
    #[serde(rename = "InReview")]
    pub in_review: u64,
    /// `Denied`: customers whose vetting failed.
    #[serde(rename = "Denied")]
    pub denied: u64,
    /// Any other status verbatim; `""` for entries without a status.
    pub other: BTreeMap<String, u64>,
}

impl StatusCounts {
    /// Customers with `status`.
    pub fn count(&self, status: &VettingStatus) -> u64 {
        match status {
            VettingStatus::Approved => self.approved,
            VettingStatus::InReview => self.in_review,
            VettingStatus::Denied => self.denied,
            other => self.other.get(other.as_str()).copied().unwrap_or(0),
        }
    }
}

/// `in_review.by_qualification`'s values: the span of one qualification's
/// open reviews.
#[derive(Debug, Default, Serialize)]
pub struct DateRange {
    /// Earliest vetting date among these open reviews.
    pub oldest: Option<VettingDate>,
    /// Latest vetting date among these open reviews.
    pub newest: Option<VettingDate>,
}

/// How old the open reviews are.
#[derive(Debug, Serialize)]
pub struct InReview {
    /// Earliest vetting date of any open review (`null` when none).
    pub oldest: Option<VettingDate>,
    /// Latest vetting date of any open review (`null` when none).
    pub newest: Option<VettingDate>,
    /// The same per qualification.
    pub by_qualification: BTreeMap<String, DateRange>,
    /// In-review entries.
    pub count: u64,
    /// In-review entries older than `stale_after_days`.
    pub stale: u64,
    /// `--stale-after`.
    pub stale_after_days: u32,
    /// Open reviews vetted before this instant are stale (the run's start
    /// minus `stale_after_days`); not written, the workbook reuses it.
    #[serde(skip)]
    pub stale_cutoff: DateTime<Utc>,
}

/// Whether `row` is an open review vetted before `cutoff`.
pub fn is_stale(row: &ReportRow, cutoff: DateTime<Utc>) -> bool {
    row.vetting_status.is_in_review()
        && row
            .vetting_created_date
            .as_ref()
            .and_then(VettingDate::instant)
            .is_some_and(|at| at < cutoff)
}

/// The `summary.json` exporter: the document, pretty-printed.
pub struct SummaryExporter {
    file: AtomicFile,
}

impl SummaryExporter {
    /// Start `path`; the document is written when the report is complete.
    pub fn create(path: &Path) -> anyhow::Result<SummaryExporter> {
        Ok(SummaryExporter {
            file: super::sink::start(path)?,
        })
    }

    /// Write the document (the file is not yet in place).
    pub fn finish(self, summary: &Summary) -> anyhow::Result<AtomicFile> {
        let SummaryExporter { mut file } = self;
        let json = serde_json::to_vec_pretty(summary).context("serialising the summary")?;
        file.write_all(&json)
            .with_context(|| format!("cannot write {}", file.path().display()))?;
        Ok(file)
    }
}

/// `run.status` of the small `summary.json` a run writes before it changes
/// any report file (README: "What a folder can be found in").
pub const RUNNING: &str = "running";

/// The `summary.json` that stands in the folder while a run is changing it,
/// and stays there when the run dies before its last write: the report
/// files beside it are from an earlier run, or partly from this one, and
/// nothing counts them. It has `tool`, `run` and `input` like the full
/// document, with fewer keys.
#[derive(Debug)]
pub struct Running<'a> {
    /// `run.id`.
    pub id: Uuid,
    /// `run.started_at`.
    pub started_at: DateTime<Utc>,
    /// `run.base_url`.
    pub base_url: &'a str,
    /// `input.path`.
    pub input_path: &'a str,
    /// `input.sha256`.
    pub input_sha256: &'a str,
    /// `run.resumed_from`, with `--resume`.
    pub resumed_from: Option<Uuid>,
}

impl Running<'_> {
    /// The document, pretty-printed like the full one.
    pub fn to_json(&self) -> Vec<u8> {
        let mut run = serde_json::json!({
            "id": self.id,
            "status": RUNNING,
            "started_at": format_utc(self.started_at, 3),
            "base_url": self.base_url,
        });
        if let Some(from) = self.resumed_from {
            run["resumed_from"] = serde_json::json!(from);
        }
        let doc = serde_json::json!({
            "tool": Tool::this(),
            "run": run,
            "input": {"path": self.input_path, "sha256": self.input_sha256},
        });
        serde_json::to_vec_pretty(&doc).expect("a JSON value always serialises")
    }
}

/// Run facts that are not in the rows; they become [`RunInfo`] and the
/// request counts of [`LookupCounts`] (same meanings).
#[derive(Debug)]
pub struct RunMeta {
    /// `run.id`.
    pub id: Uuid,
    /// `run.status`: `complete`, `interrupted`, `deadline` or `throttled`.
    pub status: &'static str,
    /// `run.started_at` (cut to milliseconds when written).
    pub started_at: DateTime<Utc>,
    /// `run.finished_at`; with `started_at` gives `run.duration_s`.
    pub finished_at: DateTime<Utc>,
    /// `run.base_url`.
    pub base_url: String,
    /// `run.rate`: `--rate` as configured.
    pub rate: f64,
    /// `run.final_rate`: the pacer's rate at the end.
    pub final_rate: f64,
    /// `run.concurrency`.
    pub concurrency: u32,
    /// `run.correlation_id`, sent on every request.
    pub correlation_id: Uuid,
    /// `run.limit`: `--limit`, when given.
    pub limit: Option<u64>,
    /// `input.path`: `--input` as given, or the customer list's URL.
    pub input_path: String,
    /// `in_review.stale_after_days`: `--stale-after`.
    pub stale_after_days: u32,
    /// `lookups.requests`.
    pub requests: u64,
    /// `lookups.retries`.
    pub retries: u64,
    /// `lookups.throttled_responses`.
    pub throttled_responses: u64,
    /// `--resume`: the earlier run's id.
    pub resumed_from: Option<Uuid>,
    /// `--resume`: customers taken from the journal.
    pub resumed: Option<u64>,
    /// With status `throttled`: when the server asked to be called again.
    pub retry_after_until: Option<DateTime<Utc>>,
}

#[cfg(test)]
impl RunMeta {
    /// A complete run started at `now` against a loopback server, for tests.
    pub fn for_tests(now: DateTime<Utc>) -> RunMeta {
        RunMeta {
            id: Uuid::nil(),
            status: "complete",
            started_at: now,
            finished_at: now,
            base_url: "http://127.0.0.1:1".into(),
            rate: 5.0,
            final_rate: 5.0,
            concurrency: 8,
            correlation_id: Uuid::nil(),
            limit: None,
            input_path: "in.csv".into(),
            stale_after_days: 30,
            requests: 1,
            retries: 0,
            throttled_responses: 0,
            resumed_from: None,
            resumed: None,
            retry_after_until: None,
        }
    }
}

/// Count everything: the input's rows, then the report's rows customer by
/// customer ([`Tally`]).
pub fn build(meta: &RunMeta, input: &InputFile, rows: &[ReportRow]) -> Summary {
    let mut tally = Tally::new(meta.started_at, meta.stale_after_days);
    for span in customer_spans(rows) {
        tally.add_customer(&rows[span]);
    }
    tally.finish(meta, input)
}

/// The counts of `summary.json` that come from the report's rows, taken
/// one customer at a time (all rows of a customer, or one invalid input
/// row), in report order.
#[derive(Debug)]
pub struct Tally {
    lookups: LookupTally,
    qualifications: QualificationTally,
    reviews: ReviewTally,
}

impl Tally {
    /// For a run that started at `started_at`, with `--stale-after`.
    pub fn new(started_at: DateTime<Utc>, stale_after_days: u32) -> Tally {
        Tally {
            lookups: LookupTally::default(),
            qualifications: QualificationTally::default(),
            reviews: ReviewTally {
                stale_after_days,
                stale_cutoff: started_at - chrono::Duration::days(i64::from(stale_after_days)),
                count: 0,
                stale: 0,
                all: DateRange::default(),
                by_qualification: BTreeMap::new(),
            },
        }
    }

    /// When open reviews count as stale.
    pub fn stale_cutoff(&self) -> DateTime<Utc> {
        self.reviews.stale_cutoff
    }

    /// Count one customer's rows (adjacent rows of one customer, as
    /// [`customer_spans`] gives them).
    pub fn add_customer(&mut self, rows: &[ReportRow]) {
        let Some(first) = rows.first() else { return };
        if first.lookup_status == LookupStatus::InvalidInput {
            return; // counted from the input
        }
        self.lookups.add(first);
        if first.lookup_status != LookupStatus::Ok {
            return;
        }
        self.qualifications.add(rows);
        for row in rows.iter().filter(|r| !r.qualification.is_empty()) {
            self.reviews.add(row);
        }
    }

    /// The whole document.
    pub fn finish(self, meta: &RunMeta, input: &InputFile) -> Summary {
        let Tally {
            lookups,
            qualifications,
            reviews,
        } = self;
        Summary {
            tool: Tool::this(),
            run: run_info(meta),
            input: input_info(meta, input, lookups.customers),
            customers_without_qualification: qualifications.without,
            lookups: lookups.counts(meta),
            qualifications: qualifications.per_name,
            denial_reasons: qualifications.denial_reasons,
            in_review: reviews.finish(),
            reconciliation: None,
            changes: None,
        }
    }
}

/// Customers per lookup outcome.
#[derive(Debug, Default)]
struct LookupTally {
    /// Customers looked up (or meant to be: `not_reached` ones too).
    customers: u64,
    ok: u64,
    by_status: BTreeMap<&'static str, u64>,
    not_reached: u64,
}

impl LookupTally {
    /// A customer, by its first row (the lookup is the customer's).
    fn add(&mut self, first: &ReportRow) {
        self.customers += 1;
        match first.lookup_status {
            LookupStatus::Ok => self.ok += 1,
            status => {
                *self.by_status.entry(status.as_str()).or_default() += 1;
                if first.error == NOT_LOOKED_UP {
                    self.not_reached += 1;
                }
            }
        }
    }

    fn counts(self, meta: &RunMeta) -> LookupCounts {
        LookupCounts {
            ok: self.ok,
            failed_lookups: self.customers - self.ok,
            by_status: self.by_status,
            not_reached: self.not_reached,
            requests: meta.requests,
            retries: meta.retries,
            throttled_responses: meta.throttled_responses,
            resumed: meta.resumed,
        }
    }
}

/// Customers per qualification and status, customers without any, and
/// denials per reason, over customers looked up fine.
#[derive(Debug, Default)]
struct QualificationTally {
    per_name: BTreeMap<String, StatusCounts>,
    without: u64,
    denial_reasons: BTreeMap<String, u64>,
}

impl QualificationTally {
    /// One customer's rows. A customer counts once per qualification and
    /// status, however often the API repeats that pair; every denied entry
    /// counts for its reason.
    fn add(&mut self, rows: &[ReportRow]) {
        let mut counted: Vec<(&str, &VettingStatus)> = Vec::new();
        for r in rows {
            if r.qualification.is_empty() {
                self.without += 1;
                continue;
            }
            let pair = (r.qualification.as_str(), &r.vetting_status);
            if !counted.contains(&pair) {
                counted.push(pair);
                let c = self.per_name.entry(r.qualification.clone()).or_default();
                match &r.vetting_status {
                    VettingStatus::Approved => c.approved += 1,
                    VettingStatus::InReview => c.in_review += 1,
                    VettingStatus::Denied => c.denied += 1,
                    other => *c.other.entry(other.as_str().to_string()).or_default() += 1,
                }
            }
            if r.vetting_status == VettingStatus::Denied {
                *self
                    .denial_reasons
                    .entry(r.vetting_reason.clone())
                    .or_default() += 1;
            }
        }
    }
}

/// The open reviews: how many, how many stale, the oldest and newest dates.
#[derive(Debug)]
struct ReviewTally {
    stale_after_days: u32,
    stale_cutoff: DateTime<Utc>,
    count: u64,
    stale: u64,
    all: DateRange,
    by_qualification: BTreeMap<String, DateRange>,
}

impl ReviewTally {
    /// One qualification entry.
    fn add(&mut self, row: &ReportRow) {
        if !row.vetting_status.is_in_review() {
            return;
        }
        self.count += 1;
        if is_stale(row, self.stale_cutoff) {
            self.stale += 1;
        }
        if let Some(date) = &row.vetting_created_date
            && date.instant().is_some()
        {
            self.all.add(date);
            self.by_qualification
                .entry(row.qualification.clone())
                .or_default()
                .add(date);
        }
    }

    fn finish(self) -> InReview {
        InReview {
            oldest: self.all.oldest,
            newest: self.all.newest,
            by_qualification: self.by_qualification,
            count: self.count,
            stale: self.stale,
            stale_after_days: self.stale_after_days,
            stale_cutoff: self.stale_cutoff,
        }
    }
}

impl DateRange {
    /// Widen the range to `date` (a parsed one); on a tie the first seen
    /// stays.
    fn add(&mut self, date: &VettingDate) {
        let at = date.instant();
        if self.oldest.as_ref().is_none_or(|o| at < o.instant()) {
            self.oldest = Some(date.clone());
        }
        if self.newest.as_ref().is_none_or(|n| at > n.instant()) {
            self.newest = Some(date.clone());
        }
    }
}

/// `run`: the facts of the run.
fn run_info(meta: &RunMeta) -> RunInfo {
    RunInfo {
        id: meta.id,
        status: meta.status,
        started_at: Millis::new(meta.started_at),
        finished_at: Millis::new(meta.finished_at),
        duration_s: ((meta.finished_at - meta.started_at).num_milliseconds() as f64 / 1000.0),
        base_url: meta.base_url.clone(),
        rate: meta.rate,
        concurrency: meta.concurrency,
        correlation_id: meta.correlation_id,
        final_rate: (meta.final_rate * 100.0).round() / 100.0,
        limit: meta.limit,
        resumed_from: meta.resumed_from,
        retry_after_until: meta.retry_after_until.map(|t| format_utc(t, 0)),
    }
}

/// `input`: what the input held; `looked_up` customers were meant to be
/// looked up (the others are beyond `--limit`).
fn input_info(meta: &RunMeta, input: &InputFile, looked_up: u64) -> InputInfo {
    let mut duplicates: BTreeMap<(u64, Uuid), Vec<u64>> = BTreeMap::new();
    let (mut invalid, mut customers) = (0u64, 0u64);
    for r in &input.rows {
        match &r.kind {
            RowKind::Customer(_) => customers += 1,
            RowKind::Duplicate { id, first_line } => {
                duplicates
                    .entry((*first_line, *id))
                    .or_default()
                    .push(r.line);
            }
            RowKind::Invalid { .. } => invalid += 1,
        }
    }
    InputInfo {
        source: "file",
        path: meta.input_path.clone(),
        pages: None,
        sha256: input.sha256.clone(),
        rows: (input.rows.len() + input.blank_rows) as u64,
        customers,
        duplicate_rows: duplicates.values().map(|v| v.len() as u64).sum(),
        blank_rows: input.blank_rows as u64,
        invalid_input_rows: invalid,
        duplicates: duplicates
            .into_iter()
            .map(|((first_line, id), lines)| Duplicate {
                customer_tenant_id: id,
                first_line,
                duplicate_lines: lines,
            })
            .collect(),
        delimiter: Some(delimiter_name(input.delimiter)),
        id_column: input.id_header.clone(),
        encoding: Some(input.encoding),
        skipped_by_limit: customers.saturating_sub(looked_up),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::row::test_row;

    fn reviewed(id: u128, line: u64, q: &str, date: &str) -> ReportRow {
        ReportRow {
            vetting_created_date: Some(VettingDate::parse(date)),
            ..test_row(id, line, q, "InReview", LookupStatus::Ok)
        }
    }

    #[test]
    fn the_tally_counts_customers_once_and_entries_each() {
        let started: DateTime<Utc> = "2026-01-31T00:00:00Z".parse().unwrap();
        let denied = |id, line, reason: &str| ReportRow {
            vetting_reason: reason.into(),
            ..test_row(id, line, "Education", "Denied", LookupStatus::Ok)
        };
        let failed = |id, line, error: &str| ReportRow {
            error: error.into(),
            ..test_row(id, line, "", "", LookupStatus::Failed)
        };
        let rows = [
            // Two entries of the same pair: one customer, two denials.
            denied(1, 2, "r1"),
            denied(1, 2, "r1"),
            test_row(1, 2, "StateOwnedEntity", "", LookupStatus::Ok),
            reviewed(2, 3, "Education", "2026-01-20T00:00:00.5Z"),
            reviewed(2, 3, "Nonprofit", "2025-12-01T00:00:00Z"),
            reviewed(3, 4, "Education", "2025-12-01T00:00:00.000Z"),
            test_row(4, 5, "", "", LookupStatus::Ok),
            failed(5, 6, crate::report::row::NOT_LOOKED_UP),
            failed(6, 7, "HTTP 503"),
            test_row(0, 8, "", "", LookupStatus::InvalidInput),
            test_row(7, 9, "Education", "UnderAppeal", LookupStatus::Ok),
        ];
        let mut tally = Tally::new(started, 30);
        for span in customer_spans(&rows) {
            tally.add_customer(&rows[span]);
        }
        assert_eq!(tally.lookups.customers, 7);
        assert_eq!(tally.lookups.ok, 5);
        assert_eq!(tally.lookups.by_status["failed"], 2);
        assert_eq!(tally.lookups.not_reached, 1);
        let q = &tally.qualifications;
        assert_eq!(q.without, 1);
        assert_eq!(q.per_name["Education"].denied, 1);
        assert_eq!(q.per_name["Education"].in_review, 2);
        assert_eq!(q.per_name["Education"].other["UnderAppeal"], 1);
        assert_eq!(q.per_name["StateOwnedEntity"].other[""], 1);
        assert_eq!(q.denial_reasons["r1"], 2);
        let reviews = tally.reviews.finish();
        assert_eq!((reviews.count, reviews.stale), (3, 2));
        // The oldest date first seen wins a tie, written as it was read.
        let text = |d: &Option<VettingDate>| d.as_ref().unwrap().to_report_string();
        assert_eq!(text(&reviews.oldest), "2025-12-01T00:00:00Z");
        assert_eq!(text(&reviews.newest), "2026-01-20T00:00:00.5Z");
        assert_eq!(
            text(&reviews.by_qualification["Education"].oldest),
            "2025-12-01T00:00:00.000Z"
        );
    }

    #[test]
    fn instants_are_kept_as_written() {
        let at: DateTime<Utc> = "2026-01-11T12:00:00.123456Z".parse().unwrap();
        let m = Millis::new(at);
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            "\"2026-01-11T12:00:00.123Z\""
        );
        assert_eq!(
            m.at(),
            "2026-01-11T12:00:00.123Z".parse::<DateTime<Utc>>().unwrap()
        );
    }

    #[test]
    fn the_running_document_names_the_run_and_counts_nothing() {
        let doc = Running {
            id: Uuid::from_u128(7),
            started_at: "2026-01-11T12:00:00Z".parse().unwrap(),
            base_url: "http://127.0.0.1:1",
            input_path: "in.csv",
            input_sha256: "abc",
            resumed_from: None,
        };
        let v: serde_json::Value = serde_json::from_slice(&doc.to_json()).unwrap();
        assert_eq!(v["run"]["status"], "running");
        assert_eq!(v["run"]["id"], Uuid::from_u128(7).to_string());
        assert_eq!(v["run"]["started_at"], "2026-01-11T12:00:00.000Z");
        assert_eq!(v["tool"]["name"], "qualrecon");
        assert_eq!(v["input"]["path"], "in.csv");
        assert!(v["run"].get("resumed_from").is_none());
        assert!(v.get("lookups").is_none());
        let resumed = Running {
            resumed_from: Some(Uuid::from_u128(6)),
            ..doc
        };
        let v: serde_json::Value = serde_json::from_slice(&resumed.to_json()).unwrap();
        assert_eq!(v["run"]["resumed_from"], Uuid::from_u128(6).to_string());
    }
}
