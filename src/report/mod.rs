//! The report: rows of `qualifications.csv` and the `summary.json` document,
//! built purely from the input and the lookup outcomes. [`write()`] makes
//! the rows customer by customer and hands them to one exporter per file
//! ([`export`]), the values typed until a writer renders them.

pub mod attention;
pub mod changes;
pub mod csv;
pub mod export;
pub mod formats;
pub mod jsonl;
pub mod outcomes;
pub mod previous;
pub mod reconcile;
pub mod row;
pub mod screen;
pub mod sink;
pub mod summary;
pub mod xlsx;

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::input::{InputFile, InputRow, RowKind};
use crate::lookup::Outcome;
use crate::model::{LookupStatus, VettingDate, VettingStatus};
use changes::{Comparison, Entry};
use export::{Layout, ReportWriter};
use formats::Formats;
use outcomes::Outcomes;
use previous::PreviousRun;
use reconcile::Reconciler;
use row::{NOT_LOOKED_UP, ReportRow, whole_days};
use summary::{ChangesInfo, PreviousRunInfo, RunMeta, Summary, Tally};

/// The report's rows in input order, a customer at a time (all rows of a
/// customer, or one invalid input row). `outcomes` holds the customers
/// looked up (the first ones, within `--limit`), by position; one without
/// an outcome was never requested. Duplicate rows are not repeated (the
/// summary lists them); customers beyond `--limit` are left out on
/// purpose. `now` is when the run started (days in review count to it).
pub fn customers<'a>(
    input: &'a InputFile,
    outcomes: &'a Outcomes,
    now: DateTime<Utc>,
) -> impl Iterator<Item = Vec<ReportRow>> + 'a {
    let mut position = 0;
    input.rows.iter().filter_map(move |row| match &row.kind {
        RowKind::Invalid { reason } => Some(vec![ReportRow {
            customer_tenant_id: row.raw_id.clone(),
            lookup_status: LookupStatus::InvalidInput,
            error: reason.clone(),
            ..ReportRow::blank(row)
        }]),
        RowKind::Duplicate { .. } => None,
        RowKind::Customer(_) if position >= outcomes.len() => None,
        RowKind::Customer(id) => {
            position += 1;
            Some(customer_rows(
                *id,
                row,
                outcomes.get(position - 1).as_ref(),
                now,
            ))
        }
    })
}

/// Every row of [`customers`].
pub fn build_rows(input: &InputFile, outcomes: &Outcomes, now: DateTime<Utc>) -> Vec<ReportRow> {
    customers(input, outcomes, now).flatten().collect()
}

impl ReportRow {
    /// The row of input row `row` before anything is known about it.
    fn blank(row: &InputRow) -> ReportRow {
        ReportRow {
            customer_tenant_id: String::new(),
            input_line: row.line,
            qualification: String::new(),
            vetting_status: VettingStatus::Absent,
            vetting_reason: String::new(),
            vetting_created_date: None,
            days_in_review: None,
            lookup_status: LookupStatus::Ok,
            error: String::new(),
            extra: row.extra.clone(),
            reconciliation: None,
        }
    }
}

/// The rows of customer `id` (input row `row`): one per qualification, or
/// one saying it has none, or why the lookup failed; `None`: never
/// requested.
fn customer_rows(
    id: Uuid,
    row: &InputRow,
    outcome: Option<&Outcome>,
    now: DateTime<Utc>,
) -> Vec<ReportRow> {
    let base = ReportRow {
        customer_tenant_id: id.to_string(),
        ..ReportRow::blank(row)
    };
    match outcome {
        None => vec![ReportRow {
            lookup_status: LookupStatus::Failed,
            error: NOT_LOOKED_UP.to_string(),
            ..base
        }],
        Some(o) if o.status != LookupStatus::Ok => vec![ReportRow {
            lookup_status: o.status,
            error: o.error.clone().unwrap_or_default(),
            ..base
        }],
        Some(o) if o.qualifications.is_empty() => vec![base],
        Some(o) => o
            .qualifications
            .iter()
            .map(|q| ReportRow {
                qualification: q.qualification.clone(),
                vetting_status: q.vetting_status.clone(),
                vetting_reason: q.vetting_reason.clone().unwrap_or_default(),
                vetting_created_date: q.vetting_created_date.clone(),
                days_in_review: q
                    .vetting_created_date
                    .as_ref()
                    .and_then(VettingDate::instant)
                    .filter(|_| q.vetting_status.is_in_review())
                    .map(|at| whole_days(at, now)),
                ..base.clone()
            })
            .collect(),
    }
}

/// Where the report goes.
#[derive(Debug, Clone, Copy)]
pub struct Destination<'a> {
    /// The output folder.
    pub out: &'a Path,
    /// `--format`.
    pub formats: Formats,
    /// `--csv-bom`.
    pub csv_bom: bool,
}

/// What the report is made of.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The customers, in input order.
    pub input: &'a InputFile,
    /// The outcomes of the customers meant to be looked up, by position.
    pub outcomes: &'a Outcomes,
    /// The run's facts.
    pub meta: &'a RunMeta,
    /// The input column with the CRM's expectation (an index into
    /// `input.extra_headers`).
    pub expect_column: Option<usize>,
    /// `--previous`: the earlier run to compare with.
    pub previous: Option<&'a PreviousRun>,
    /// `--all-customers`: pages of Partner Center's customer list read.
    pub pages: Option<u64>,
}

/// Make the report and write its files, `summary.json` last: the rows in
/// input order, customer by customer reconciled with the expectation
/// column, counted, compared with the earlier run, and handed to every
/// file's exporter. Returns the summary and the paths written.
pub fn write(dest: &Destination<'_>, src: &Sources<'_>) -> anyhow::Result<(Summary, Vec<PathBuf>)> {
    let mut tally = Tally::new(src.meta.started_at, src.meta.stale_after_days);
    let mut reconciler = src
        .expect_column
        .map(|c| Reconciler::new(c, src.outcomes.qualification_names()));
    let mut changes = src
        .previous
        .map(|p| ChangeLog::new(p, src.expect_column.is_some()));
    let layout = Layout {
        extra_headers: &src.input.extra_headers,
        expect_column: src.expect_column,
        changes: src.previous.is_some(),
        csv_bom: dest.csv_bom,
        stale_cutoff: tally.stale_cutoff(),
    };
    let mut writer = ReportWriter::create(dest.out, dest.formats, &layout)?;
    for mut customer in customers(src.input, src.outcomes, src.meta.started_at) {
        if let Some(r) = &mut reconciler {
            r.apply(&mut customer);
        }
        tally.add_customer(&customer);
        writer.customer(&customer)?;
        if let Some(log) = &mut changes {
            writer.changes(&log.customer(&customer))?;
        }
    }
    let mut summary = tally.finish(src.meta, src.input);
    if let (Some(r), Some(c)) = (reconciler, src.expect_column) {
        summary.reconciliation = Some(r.finish(&src.input.extra_headers[c]));
    }
    if let Some(pages) = src.pages {
        summary.input.listed_from_partner_center(pages);
    }
    if let Some(log) = changes {
        let (removed, info) = log.finish();
        writer.changes(&removed)?;
        summary.changes = Some(info);
    }
    let written = writer.finish(&summary)?;
    Ok((summary, written))
}

/// `changes.csv` as the report is written, and its counts for the summary.
struct ChangeLog<'p> {
    previous: &'p PreviousRun,
    comparison: Comparison<'p>,
    /// Rows per change kind.
    by_kind: std::collections::BTreeMap<&'static str, u64>,
    total: u64,
}

impl<'p> ChangeLog<'p> {
    /// `reconciliation`: this run has that column.
    fn new(previous: &'p PreviousRun, reconciliation: bool) -> ChangeLog<'p> {
        ChangeLog {
            previous,
            comparison: Comparison::new(&previous.entries),
            by_kind: changes::counts(&[], reconciliation),
            total: 0,
        }
    }

    fn count(&mut self, found: &[changes::Change]) {
        for c in found {
            *self.by_kind.entry(c.change.as_str()).or_default() += 1;
        }
        self.total += found.len() as u64;
    }

    /// The changes of one customer (its rows, or one invalid input row).
    fn customer(&mut self, rows: &[ReportRow]) -> Vec<changes::Change> {
        let entries: Vec<Entry> = rows
            .iter()
            .filter(|r| r.lookup_status != LookupStatus::InvalidInput)
            .map(Entry::from)
            .collect();
        let entries: Vec<&Entry> = entries.iter().collect();
        let found = self.comparison.customer(&entries);
        self.count(&found);
        found
    }

    /// The customers only the earlier run had, and what the summary says.
    fn finish(mut self) -> (Vec<changes::Change>, ChangesInfo) {
        let removed = self.comparison.removed();
        self.count(&removed);
        let info = ChangesInfo {
            previous_run: PreviousRunInfo {
                path: self.previous.dir.display().to_string(),
                id: self.previous.run_id.clone(),
                started_at: self.previous.started_at.clone(),
            },
            by_kind: self.by_kind,
            total: self.total,
        };
        (removed, info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::InputRow;
    use crate::model::Qualification;

    fn input(rows: Vec<InputRow>) -> InputFile {
        InputFile {
            delimiter: b',',
            has_header: true,
            id_header: "customer_tenant_id".into(),
            id_column: 0,
            extra_headers: vec!["name".into()],
            rows,
            blank_rows: 0,
            sha256: String::new(),
            encoding: "utf-8",
        }
    }

    fn row(line: u64, raw: &str, kind: RowKind) -> InputRow {
        InputRow {
            line,
            raw_id: raw.into(),
            extra: vec![format!("name {line}")],
            kind,
        }
    }

    #[test]
    fn rows_follow_input_order_with_one_row_per_qualification() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        let c = Uuid::from_u128(3);
        let file = input(vec![
            row(
                2,
                "x",
                RowKind::Invalid {
                    reason: "not a GUID".into(),
                },
            ),
            row(3, &a.to_string(), RowKind::Customer(a)),
            row(4, &b.to_string(), RowKind::Customer(b)),
            row(
                5,
                &a.to_string(),
                RowKind::Duplicate {
                    id: a,
                    first_line: 3,
                },
            ),
            row(6, &c.to_string(), RowKind::Customer(c)),
        ]);
        let now: DateTime<Utc> = "2026-01-11T12:00:00Z".parse().unwrap();
        // By position among the customers looked up: a, b (never
        // requested), c.
        let mut outcomes = Outcomes::new(3);
        outcomes.set(
            0,
            &Outcome {
                status: LookupStatus::Ok,
                qualifications: vec![
                    Qualification {
                        qualification: "Education".into(),
                        vetting_status: VettingStatus::InReview,
                        vetting_reason: None,
                        vetting_created_date: Some(VettingDate::parse("2026-01-01T13:00:00Z")),
                    },
                    Qualification {
                        qualification: "StateOwnedEntity".into(),
                        vetting_status: VettingStatus::Absent,
                        vetting_reason: None,
                        vetting_created_date: None,
                    },
                ],
                error: None,
                attempts: 1,
            },
        );
        outcomes.set(
            2,
            &Outcome {
                status: LookupStatus::Ok,
                qualifications: vec![],
                error: None,
                attempts: 1,
            },
        );
        let rows = build_rows(&file, &outcomes, now);
        let lines: Vec<u64> = rows.iter().map(|r| r.input_line).collect();
        assert_eq!(lines, [2, 3, 3, 4, 6]);
        assert_eq!(rows[0].lookup_status, LookupStatus::InvalidInput);
        assert_eq!(rows[0].customer_tenant_id, "x");
        assert_eq!(rows[1].days_in_review, Some(9));
        assert_eq!(rows[2].days_in_review, None);
        assert_eq!(rows[2].extra, ["name 3"]);
        assert_eq!(rows[3].error, NOT_LOOKED_UP);
        assert_eq!(rows[4].qualification, "");
        assert_eq!(rows[4].lookup_status, LookupStatus::Ok);
        // --limit 1: only a is in the report, with the invalid row.
        let mut first = Outcomes::new(1);
        first.set(0, &outcomes.get(0).unwrap());
        let lines: Vec<u64> = build_rows(&file, &first, now)
            .iter()
            .map(|r| r.input_line)
            .collect();
        assert_eq!(lines, [2, 3, 3]);
    }
}
