//! `summary.json`: counted from the report rows themselves, so every number
//! in it agrees with `qualifications.csv` by construction.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::ReportRow;
use crate::input::{InputFile, RowKind};
use crate::lookup::LookupStatus;
use crate::model::{VettingDate, format_utc};

/// The whole document (SPEC §3.2). Keys beyond the spec are additions, never
/// renames.
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
    pub started_at: String,
    /// UTC, RFC 3339 with milliseconds; just before the files were written.
    pub finished_at: String,
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
    #[serde(rename = "Approved")]
    pub approved: u64,
    #[serde(rename = "InReview")]
    pub in_review: u64,
    #[serde(rename = "Denied")]
    pub denied: u64,
    /// Any other status verbatim; `""` for entries without a status.
    pub other: BTreeMap<String, u64>,
}

#[derive(Debug, Default, Serialize)]
pub struct DateRange {
    /// Earliest vetting date among these open reviews.
    pub oldest: Option<String>,
    /// Latest vetting date among these open reviews.
    pub newest: Option<String>,
}

/// How old the open reviews are.
#[derive(Debug, Serialize)]
pub struct InReview {
    /// Earliest vetting date of any open review (`null` when none).
    pub oldest: Option<String>,
    /// Latest vetting date of any open review (`null` when none).
    pub newest: Option<String>,
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
    row.vetting_status == "InReview"
        && matches!(VettingDate::parse(&row.vetting_created_date), VettingDate::Parsed { at, .. } if at < cutoff)
}

/// `run.status` of the small `summary.json` a run writes before it changes
/// any report file (SPEC §6).
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
    pub id: Uuid,
    pub status: &'static str,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub base_url: String,
    pub rate: f64,
    pub final_rate: f64,
    pub concurrency: u32,
    pub correlation_id: Uuid,
    pub limit: Option<u64>,
    pub input_path: String,
    pub stale_after_days: u32,
    pub requests: u64,
    pub retries: u64,
    pub throttled_responses: u64,
    /// `--resume`: the earlier run's id.
    pub resumed_from: Option<Uuid>,
    /// `--resume`: customers taken from the journal.
    pub resumed: Option<u64>,
    /// With status `throttled`: when the server asked to be called again.
    pub retry_after_until: Option<DateTime<Utc>>,
}

fn delimiter_name(d: u8) -> String {
    match d {
        b'\t' => "tab".into(),
        other => (other as char).to_string(),
    }
}

/// Count everything.
pub fn build(meta: &RunMeta, input: &InputFile, rows: &[ReportRow]) -> Summary {
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
    let duplicate_rows = duplicates.values().map(|v| v.len() as u64).sum();

    let mut per_customer: BTreeMap<&str, LookupStatus> = BTreeMap::new();
    let mut without = 0;
    let mut qualifications: BTreeMap<String, StatusCounts> = BTreeMap::new();
    let mut counted: BTreeSet<(&str, &str, &str)> = BTreeSet::new();
    let mut denial_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut reviews: Vec<(&str, DateTime<Utc>, String)> = Vec::new();
    let stale_cutoff = meta.started_at - chrono::Duration::days(i64::from(meta.stale_after_days));
    let mut in_review_count = 0;
    let mut stale = 0;
    let mut not_reached = 0;
    for r in rows {
        if r.lookup_status == LookupStatus::InvalidInput {
            continue;
        }
        per_customer.insert(&r.customer_tenant_id, r.lookup_status);
        if r.lookup_status != LookupStatus::Ok {
            if r.error == super::NOT_LOOKED_UP {
                not_reached += 1;
            }
            continue;
        }
        if r.qualification.is_empty() {
            without += 1;
            continue;
        }
        if counted.insert((&r.customer_tenant_id, &r.qualification, &r.vetting_status)) {
            let c = qualifications.entry(r.qualification.clone()).or_default();
            match r.vetting_status.as_str() {
                "Approved" => c.approved += 1,
                "InReview" => c.in_review += 1,
                "Denied" => c.denied += 1,
                other => *c.other.entry(other.to_string()).or_default() += 1,
            }
        }
        match r.vetting_status.as_str() {
            "Denied" => *denial_reasons.entry(r.vetting_reason.clone()).or_default() += 1,
            "InReview" => {
                in_review_count += 1;
                if is_stale(r, stale_cutoff) {
                    stale += 1;
                }
                if let VettingDate::Parsed { at, .. } = VettingDate::parse(&r.vetting_created_date)
                {
                    reviews.push((&r.qualification, at, r.vetting_created_date.clone()));
                }
            }
            _ => {}
        }
    }
    let mut by_status: BTreeMap<&'static str, u64> = BTreeMap::new();
    for status in per_customer.values().filter(|s| **s != LookupStatus::Ok) {
        *by_status.entry(status.as_str()).or_default() += 1;
    }
    let ok = per_customer
        .values()
        .filter(|s| **s == LookupStatus::Ok)
        .count() as u64;
    let looked_up = per_customer.len() as u64;

    let range = |items: &mut dyn Iterator<Item = &(&str, DateTime<Utc>, String)>| {
        let mut r: Option<(DateTime<Utc>, String, DateTime<Utc>, String)> = None;
        for (_, at, text) in items {
            r = Some(match r {
                None => (*at, text.clone(), *at, text.clone()),
                Some((lo, lt, hi, ht)) => {
                    let (lo, lt) = if *at < lo {
                        (*at, text.clone())
                    } else {
                        (lo, lt)
                    };
                    let (hi, ht) = if *at > hi {
                        (*at, text.clone())
                    } else {
                        (hi, ht)
                    };
                    (lo, lt, hi, ht)
                }
            });
        }
        match r {
            Some((_, lt, _, ht)) => DateRange {
                oldest: Some(lt),
                newest: Some(ht),
            },
            None => DateRange::default(),
        }
    };
    let all = range(&mut reviews.iter());
    let names: BTreeSet<&str> = reviews.iter().map(|(q, _, _)| *q).collect();
    let by_qualification = names
        .into_iter()
        .map(|q| {
            (
                q.to_string(),
                range(&mut reviews.iter().filter(|r| r.0 == q)),
            )
        })
        .collect();

    Summary {
        tool: Tool::this(),
        run: RunInfo {
            id: meta.id,
            status: meta.status,
            started_at: format_utc(meta.started_at, 3),
            finished_at: format_utc(meta.finished_at, 3),
            duration_s: ((meta.finished_at - meta.started_at).num_milliseconds() as f64 / 1000.0),
            base_url: meta.base_url.clone(),
            rate: meta.rate,
            concurrency: meta.concurrency,
            correlation_id: meta.correlation_id,
            final_rate: (meta.final_rate * 100.0).round() / 100.0,
            limit: meta.limit,
            resumed_from: meta.resumed_from,
            retry_after_until: meta.retry_after_until.map(|t| format_utc(t, 0)),
        },
        input: InputInfo {
            source: "file",
            path: meta.input_path.clone(),
            pages: None,
            sha256: input.sha256.clone(),
            rows: (input.rows.len() + input.blank_rows) as u64,
            customers,
            duplicate_rows,
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
        },
        lookups: LookupCounts {
            ok,
            failed_lookups: looked_up - ok,
            by_status,
            not_reached,
            requests: meta.requests,
            retries: meta.retries,
            throttled_responses: meta.throttled_responses,
            resumed: meta.resumed,
        },
        customers_without_qualification: without,
        qualifications,
        denial_reasons,
        in_review: InReview {
            oldest: all.oldest,
            newest: all.newest,
            by_qualification,
            count: in_review_count,
            stale,
            stale_after_days: meta.stale_after_days,
            stale_cutoff,
        },
        reconciliation: None,
        changes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
