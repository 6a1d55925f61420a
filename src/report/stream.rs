//! The report written while the lookups run: each outcome is handed over
//! as it lands, and the rows go to the report files in input order as soon
//! as every customer before them is answered. The summary is counted, the
//! expectations reconciled and the changes found on the way, so a run
//! holds only the outcomes that landed ahead of an earlier customer still
//! being asked ([`InOrder`] is that reorder buffer), never the whole report.
//!
//! One case waits for the end: a customer whose CRM expectation is no
//! qualification name any answer has shown yet. Rule 4 of the
//! reconciliation looks at every name the run returned, so its value (and
//! the rows after it) can only be written when the lookups are over.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::changes::{self, Comparison, Entry};
use super::export::{Layout, ReportWriter};
use super::formats::Formats;
use super::outcomes::Outcomes;
use super::previous::PreviousRun;
use super::reconcile::Reconciler;
use super::row::{NOT_LOOKED_UP, ReportRow, whole_days};
use super::summary::{ChangesInfo, PreviousRunInfo, RunMeta, Summary, Tally};
use crate::input::{Cells, InputFile, InputRow, RowKind};
use crate::lookup::Outcome;
use crate::model::{LookupStatus, VettingDate, VettingStatus};

/// The report's row groups in input order (all rows of a customer, or one
/// invalid input row), each as soon as it can be written: the outcomes
/// that land out of order wait here. Duplicate rows are not repeated (the
/// summary lists them); customers beyond `--limit` are left out on
/// purpose; a customer never answered when the lookups are over gets a
/// "not looked up" row.
#[derive(Debug)]
pub struct InOrder<'a> {
    input: &'a InputFile,
    /// Days in review count to this instant (the run's start).
    now: DateTime<Utc>,
    /// Outcomes landed and not yet written, by position among the
    /// customers looked up.
    outcomes: Outcomes,
    /// The next input row to write.
    next_row: usize,
    /// Position of the next customer to write.
    next_customer: usize,
    /// No more outcomes will land.
    over: bool,
}

impl<'a> InOrder<'a> {
    /// For the customers of `input`, with the outcomes known before the
    /// lookups (a resumed run's); `outcomes.len()` customers are looked up.
    pub fn new(input: &'a InputFile, outcomes: Outcomes, now: DateTime<Utc>) -> InOrder<'a> {
        InOrder {
            input,
            now,
            outcomes,
            next_row: 0,
            next_customer: 0,
            over: false,
        }
    }

    /// The outcome of the customer at `position` landed.
    pub fn land(&mut self, position: usize, outcome: &Outcome) {
        self.outcomes.set(position, outcome);
    }

    /// The lookups are over: whatever is not answered now never will be.
    pub fn end(&mut self) {
        self.over = true;
    }

    /// How many outcomes wait for an earlier customer.
    pub fn waiting(&self) -> usize {
        self.outcomes.held()
    }

    /// The outcomes held, for what they say before the rows are written.
    pub fn outcomes(&self) -> &Outcomes {
        &self.outcomes
    }

    /// The next row group, if it can be written now. `hold` says whether
    /// a customer answered with a status must still wait for the end
    /// anyway, given its row's passthrough cells (it is asked only before
    /// then). An error: a large input's cells could not be read back.
    pub fn next(
        &mut self,
        hold: impl Fn(&Cells, LookupStatus) -> bool,
    ) -> std::io::Result<Option<Vec<ReportRow>>> {
        loop {
            let Some(row) = self.input.rows.get(self.next_row) else {
                return Ok(None);
            };
            let cells = || self.input.cells(self.next_row);
            let group = match &row.kind {
                RowKind::Invalid { reason } => Some(vec![invalid_row(row, &*cells()?, reason)]),
                RowKind::Duplicate { .. } => None,
                RowKind::Customer(_) if self.next_customer >= self.outcomes.len() => None,
                RowKind::Customer(id) => {
                    let position = self.next_customer;
                    if !self.over && !self.outcomes.is_answered(position) {
                        return Ok(None);
                    }
                    // Read only now: a large input's cells come from disk.
                    let cells = cells()?;
                    let status = self.outcomes.status(position);
                    if !self.over && status.is_some_and(|status| hold(&cells, status)) {
                        return Ok(None);
                    }
                    self.next_customer += 1;
                    let outcome = self.outcomes.take(position);
                    Some(customer_rows(*id, row, &cells, outcome.as_ref(), self.now))
                }
            };
            self.next_row += 1;
            if group.is_some() {
                return Ok(group);
            }
        }
    }
}

/// What the report is made of before any lookup.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    /// The customers, in input order.
    pub input: &'a InputFile,
    /// The input column with the CRM's expectation (an index into
    /// `input.extra_headers`).
    pub expect_column: Option<usize>,
    /// `--previous`: the earlier run to compare with.
    pub previous: Option<&'a PreviousRun>,
    /// When the run started: days in review count to it.
    pub started_at: DateTime<Utc>,
    /// `--stale-after-days`.
    pub stale_after_days: u32,
}

/// The report files being written as the outcomes land.
pub struct ReportStream<'a> {
    plan: Plan<'a>,
    rows: InOrder<'a>,
    tally: Tally,
    reconciler: Option<Reconciler>,
    changes: Option<ChangeLog<'a>>,
    writer: ReportWriter,
    /// The first write that failed; the run's end reports it.
    failed: Option<anyhow::Error>,
}

impl<'a> ReportStream<'a> {
    /// Start the files in `dest` for `plan`, with the outcomes known before
    /// the lookups (a resumed run's, those asked again marked so); writes
    /// the rows those already settle.
    pub fn start(
        dest: &Destination<'_>,
        plan: Plan<'a>,
        outcomes: Outcomes,
    ) -> anyhow::Result<ReportStream<'a>> {
        let tally = Tally::new(plan.started_at, plan.stale_after_days);
        let reconciler = plan
            .expect_column
            .map(|c| Reconciler::new(c, outcomes.qualification_names()));
        let changes = plan
            .previous
            .map(|p| ChangeLog::new(p, plan.expect_column.is_some()));
        let layout = Layout {
            extra_headers: &plan.input.extra_headers,
            expect_column: plan.expect_column,
            changes: plan.previous.is_some(),
            csv_bom: dest.csv_bom,
            stale_cutoff: tally.stale_cutoff(),
        };
        let writer = ReportWriter::create(dest.out, dest.formats, &layout)?;
        let mut stream = ReportStream {
            plan,
            rows: InOrder::new(plan.input, outcomes, plan.started_at),
            tally,
            reconciler,
            changes,
            writer,
            failed: None,
        };
        stream.write_ready();
        Ok(stream)
    }

    /// The outcome of the customer at `position` (among those looked up)
    /// landed: write every row it settles.
    pub fn land(&mut self, position: usize, outcome: &Outcome) {
        if let Some(r) = &mut self.reconciler {
            r.learn(
                outcome
                    .qualifications
                    .iter()
                    .map(|q| q.qualification.as_str()),
            );
        }
        self.rows.land(position, outcome);
        self.write_ready();
    }

    /// How many outcomes wait for an earlier customer.
    pub fn waiting(&self) -> usize {
        self.rows.waiting()
    }

    /// The lookups are over: write the remaining rows (a customer never
    /// answered gets a "not looked up" row), count, compare, and put the
    /// files in place, `summary.json` last. Returns the summary and the
    /// paths written. `pages`: `--all-customers`' pages of the customer list.
    pub fn finish(
        mut self,
        meta: &RunMeta,
        pages: Option<u64>,
    ) -> anyhow::Result<(Summary, Vec<PathBuf>)> {
        self.rows.end();
        self.write_ready();
        if let Some(e) = self.failed {
            return Err(e);
        }
        let input = self.plan.input;
        let mut summary = self.tally.finish(meta, input);
        if let (Some(r), Some(c)) = (self.reconciler, self.plan.expect_column) {
            summary.reconciliation = Some(r.finish(&input.extra_headers[c]));
        }
        if let Some(pages) = pages {
            summary.input.listed_from_partner_center(pages);
        }
        if let Some(log) = self.changes {
            let (removed, info) = log.finish();
            self.writer.changes(&removed)?;
            summary.changes = Some(info);
        }
        let written = self.writer.finish(&summary)?;
        Ok((summary, written))
    }

    /// Write every row group that can be written now. After a failed
    /// write nothing more is written: the run's end reports the failure.
    fn write_ready(&mut self) {
        while self.failed.is_none() {
            let reconciler = self.reconciler.as_ref();
            let hold =
                |cells: &Cells, status| reconciler.is_some_and(|r| r.must_wait(cells, status));
            let next = self
                .rows
                .next(hold)
                .context("reading the input's other columns back");
            let written = match next {
                Ok(None) => return,
                Ok(Some(mut group)) => self.write(&mut group),
                Err(e) => Err(e),
            };
            if let Err(e) = written {
                tracing::error!(
                    "cannot write the report: {e:#}; the lookups go on into the journal (run again with --resume once it is fixed)"
                );
                self.failed = Some(e);
            }
        }
    }

    /// One customer's rows (or one invalid input row): reconciled,
    /// counted, written, compared with the earlier run.
    fn write(&mut self, group: &mut [ReportRow]) -> anyhow::Result<()> {
        if let Some(r) = &mut self.reconciler {
            r.apply(group);
        }
        self.tally.add_customer(group);
        self.writer.customer(group)?;
        if let Some(log) = &mut self.changes {
            self.writer.changes(&log.customer(group))?;
        }
        Ok(())
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

/// The row of invalid input row `row` (passthrough `cells`), unusable for
/// `reason`.
fn invalid_row(row: &InputRow, cells: &Cells, reason: &str) -> ReportRow {
    ReportRow {
        customer_tenant_id: row.raw_id().into_owned(),
        lookup_status: LookupStatus::InvalidInput,
        error: reason.to_owned(),
        ..ReportRow::blank(row, cells)
    }
}

impl ReportRow {
    /// The row of input row `row` (passthrough `cells`) before anything
    /// is known about it.
    fn blank(row: &InputRow, cells: &Cells) -> ReportRow {
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
            extra: cells.to_vec(),
            reconciliation: None,
        }
    }
}

/// The rows of customer `id` (input row `row`, passthrough `cells`): one
/// per qualification, or one saying it has none, or why the lookup failed;
/// `None`: never requested.
fn customer_rows(
    id: Uuid,
    row: &InputRow,
    cells: &Cells,
    outcome: Option<&Outcome>,
    now: DateTime<Utc>,
) -> Vec<ReportRow> {
    let base = ReportRow {
        customer_tenant_id: id.to_string(),
        ..ReportRow::blank(row, cells)
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
    use crate::input::{Cells, InputRow};
    use crate::model::Qualification;

    /// Every row, the lookups over.
    fn build_rows(input: &InputFile, outcomes: Outcomes, now: DateTime<Utc>) -> Vec<ReportRow> {
        let mut rows = InOrder::new(input, outcomes, now);
        rows.end();
        std::iter::from_fn(|| rows.next(|_, _| false).unwrap())
            .flatten()
            .collect()
    }

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
            spill: None,
        }
    }

    fn row(line: u64, raw: &str, kind: RowKind) -> InputRow {
        InputRow::new(
            line,
            raw,
            Cells::new([format!("name {line}").as_str()]),
            kind,
        )
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
        let rows = build_rows(&file, outcomes.clone(), now);
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
        let lines: Vec<u64> = build_rows(&file, first, now)
            .iter()
            .map(|r| r.input_line)
            .collect();
        assert_eq!(lines, [2, 3, 3]);
    }
}

#[cfg(test)]
mod streaming {
    use super::*;
    use crate::input::Cells;
    use crate::model::Qualification;

    fn file(expectations: &[&str]) -> InputFile {
        let rows = expectations
            .iter()
            .enumerate()
            .map(|(i, expected)| {
                let line = i as u64 + 2;
                let id = Uuid::from_u128(line.into());
                InputRow::new(
                    line,
                    &id.to_string(),
                    Cells::new([*expected]),
                    RowKind::Customer(id),
                )
            })
            .collect();
        InputFile {
            delimiter: b',',
            has_header: true,
            id_header: "customer_tenant_id".into(),
            id_column: 0,
            extra_headers: vec!["expected_qualification".into()],
            rows,
            blank_rows: 0,
            sha256: String::new(),
            encoding: "utf-8",
            spill: None,
        }
    }

    fn holding(name: &str) -> Outcome {
        Outcome {
            status: LookupStatus::Ok,
            qualifications: vec![Qualification {
                qualification: name.into(),
                vetting_status: VettingStatus::Approved,
                vetting_reason: None,
                vetting_created_date: None,
            }],
            error: None,
            attempts: 1,
        }
    }

    fn failed() -> Outcome {
        Outcome {
            status: LookupStatus::Failed,
            qualifications: vec![],
            error: Some("HTTP 503".into()),
            attempts: 3,
        }
    }

    /// The lines of the row groups `rows` can write now.
    fn ready(rows: &mut InOrder<'_>) -> Vec<u64> {
        std::iter::from_fn(|| rows.next(|_, _| false).unwrap())
            .map(|group| group[0].input_line)
            .collect()
    }

    #[test]
    fn rows_leave_in_input_order_as_soon_as_every_earlier_customer_is_answered() {
        let input = file(&["", "", "", ""]);
        let now = Utc::now();
        let mut rows = InOrder::new(&input, Outcomes::new(4), now);
        assert!(ready(&mut rows).is_empty());
        rows.land(2, &holding("Education"));
        rows.land(1, &failed());
        assert!(ready(&mut rows).is_empty(), "customer 0 is still asked");
        assert_eq!(rows.waiting(), 2);
        rows.land(0, &holding("Education"));
        assert_eq!(ready(&mut rows), [2, 3, 4]);
        assert_eq!(rows.waiting(), 0, "written outcomes are let go");
        // The run stops before customer 3 is answered: it is "not looked up".
        rows.end();
        let last: Vec<ReportRow> = std::iter::from_fn(|| rows.next(|_, _| false).unwrap())
            .flatten()
            .collect();
        assert_eq!(last.len(), 1);
        assert_eq!(
            (last[0].input_line, last[0].error.as_str()),
            (5, NOT_LOOKED_UP)
        );
    }

    #[test]
    fn a_journaled_outcome_asked_again_waits_for_the_new_one_or_the_end() {
        let input = file(&["", ""]);
        let mut journaled = Outcomes::new(2);
        journaled.set(0, &failed());
        journaled.set(1, &failed());
        journaled.ask_again(0);
        journaled.ask_again(1);
        let mut rows = InOrder::new(&input, journaled, Utc::now());
        assert!(ready(&mut rows).is_empty());
        rows.land(0, &holding("Education"));
        let first = rows
            .next(|_, _| false)
            .unwrap()
            .expect("customer 0 is answered anew");
        assert_eq!(first[0].qualification, "Education");
        assert!(rows.next(|_, _| false).unwrap().is_none());
        // Never asked again before the end: the journal's outcome stands.
        rows.end();
        let second = rows
            .next(|_, _| false)
            .unwrap()
            .expect("customer 1 at the end");
        assert_eq!(second[0].lookup_status, LookupStatus::Failed);
        assert_eq!(second[0].error, "HTTP 503");
    }

    /// Rule 4 looks at every name the run returned: a customer expecting
    /// a name only a later answer shows is reconciled as if that answer
    /// had come first.
    #[test]
    fn an_expectation_a_later_answer_names_is_reconciled_with_every_answer() {
        let dir = tempfile::tempdir().unwrap();
        let input = file(&["MilitaryBase", "MilitaryBase", "Typo", "Education"]);
        let dest = csv_only(dir.path());
        let plan = Plan {
            input: &input,
            expect_column: Some(0),
            previous: None,
            started_at: Utc::now(),
            stale_after_days: 30,
        };
        let mut report = ReportStream::start(&dest, plan, Outcomes::new(4)).unwrap();
        report.land(0, &holding("Education"));
        assert_eq!(report.waiting(), 1, "no answer named MilitaryBase yet");
        report.land(3, &holding("Education"));
        report.land(1, &holding("MilitaryBase"));
        assert_eq!(report.waiting(), 1, "customers 0 and 1 are written");
        report.land(2, &holding("Education"));
        assert_eq!(
            report.waiting(),
            2,
            "customer 2 expects a name no answer showed"
        );
        let meta = RunMeta::for_tests(plan.started_at);
        let (summary, _) = report.finish(&meta, None).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("qualifications.csv")).unwrap();
        let mut lines = csv.lines().map(|l| l.split(',').collect::<Vec<_>>());
        let header = lines.next().unwrap();
        let column = header.iter().position(|h| *h == "reconciliation").unwrap();
        let values: Vec<&str> = lines.map(|cells| cells[column]).collect();
        assert_eq!(
            values,
            ["not_approved", "match", "unknown_expectation", "match"]
        );
        let counts = summary.reconciliation.unwrap();
        assert_eq!(
            (
                counts["match"],
                counts["not_approved"],
                counts["unknown_expectation"]
            ),
            (2, 1, 1)
        );
        assert_eq!(summary.lookups.ok, 4);
    }

    /// Only `qualifications.csv` (and the summary), in `out`.
    fn csv_only(out: &Path) -> Destination<'_> {
        Destination {
            out,
            formats: Formats {
                csv: true,
                xlsx: false,
                jsonl: false,
            },
            csv_bom: false,
        }
    }

    /// The report of `input` with every customer approved for Education.
    fn report_of(input: &InputFile) -> (String, Summary) {
        let dir = tempfile::tempdir().unwrap();
        let dest = csv_only(dir.path());
        let customers = input.customer_count();
        let mut outcomes = Outcomes::new(customers);
        for i in 0..customers {
            outcomes.set(i, &holding("Education"));
        }
        let now = Utc::now();
        let plan = Plan {
            input,
            expect_column: Some(1),
            previous: None,
            started_at: now,
            stale_after_days: 30,
        };
        let report = ReportStream::start(&dest, plan, outcomes).unwrap();
        let (summary, _) = report.finish(&RunMeta::for_tests(now), None).unwrap();
        let csv = std::fs::read_to_string(dir.path().join("qualifications.csv")).unwrap();
        (csv, summary)
    }

    #[test]
    fn a_report_from_cells_kept_on_disk_is_the_same() {
        let text = "customer_tenant_id,name,expected_qualification\n\
            e083ac65-ff8b-4ba1-9541-05e7a2881ddc,\"Skolan, AB\",Education\n\
            not-a-guid,Bad,Education\n\
            97ca2b55-839e-4579-98d4-39599a228c98,\"two\nlines\",Eduction\n\
            E083AC65-FF8B-4BA1-9541-05E7A2881DDC,Again,none\n";
        use crate::input::{InputOptions, parse_input};
        let kept = parse_input(text.as_bytes(), &InputOptions::default(), None).unwrap();
        let spilling = InputOptions {
            spill_over: Some(0),
            ..InputOptions::default()
        };
        let spilled = parse_input(text.as_bytes(), &spilling, None).unwrap();
        assert!(spilled.spill.is_some());
        let (csv, summary) = report_of(&kept);
        assert!(
            csv.contains("\"Skolan, AB\"") && csv.contains("\"two\nlines\""),
            "{csv}"
        );
        let (from_disk, spilled_summary) = report_of(&spilled);
        assert_eq!(from_disk, csv);
        assert_eq!(spilled_summary.reconciliation, summary.reconciliation);
    }
}
