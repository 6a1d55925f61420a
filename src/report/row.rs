//! One row of the report and its columns: what every writer (CSV, JSON
//! lines, workbook), the summary and the comparisons share. A leaf: it
//! imports nothing else from the report.

use chrono::{DateTime, Utc};

use crate::model::{LookupStatus, VettingDate, VettingStatus};

/// Fixed columns of `qualifications.csv`, in order (the README's table).
pub const FIXED_COLUMNS: [&str; 9] = [
    "customer_tenant_id",
    "input_line",
    "qualification",
    "vetting_status",
    "vetting_reason",
    "vetting_created_date",
    "days_in_review",
    "lookup_status",
    "error",
];

/// The column after the fixed ones when the input has an expectation
/// column (and only then).
pub const RECONCILIATION_COLUMN: &str = "reconciliation";

/// The error text of a customer the run never got to.
pub const NOT_LOOKED_UP: &str = "not looked up: the run stopped before this customer was requested";

/// One row of `qualifications.csv`: a customer × qualification, a customer
/// without qualifications, a failed lookup, or an invalid input row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// Canonical lower-case GUID, or the raw text of an invalid input cell.
    pub customer_tenant_id: String,
    /// Line in the input file where this customer's row starts (1 = header).
    pub input_line: u64,
    /// `Education`, `StateOwnedEntity`, …; empty when the customer has none
    /// or the lookup failed.
    pub qualification: String,
    /// `Approved`, `InReview`, `Denied`, or the API's own new value;
    /// absent when the API sent none (and on rows without a qualification).
    pub vetting_status: VettingStatus,
    /// The API's reason text, verbatim (denials).
    pub vetting_reason: String,
    /// When vetting started; written as RFC 3339 UTC with the API's
    /// precision (or the API's text when it is not a date).
    pub vetting_created_date: Option<VettingDate>,
    /// Whole days from `vetting_created_date` to the run's start, for
    /// `InReview` rows only.
    pub days_in_review: Option<i64>,
    /// `ok`, `invalid_input`, `not_found`, `forbidden`, `unauthorized`,
    /// `throttled`, `failed`.
    pub lookup_status: LookupStatus,
    /// For non-ok rows: HTTP status, API code and description, or the
    /// transport/decoding problem, with a hint.
    pub error: String,
    /// The input's other columns, aligned with `InputFile::extra_headers`.
    pub extra: Vec<String>,
    /// The customer's `reconciliation` value; `None` when the input has no
    /// expectation column.
    pub reconciliation: Option<Reconciliation>,
}

/// One cell of a report row, typed, so that every writer (CSV, JSON lines,
/// workbook) shows the same columns in the same order and renders the
/// values its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell<'a> {
    /// Text; empty means absent.
    Text(&'a str),
    /// A vetting status (the workbook colours it).
    Status(&'a VettingStatus),
    /// A date: text as RFC 3339 UTC (or the API's text verbatim when that
    /// is not a date), a real datetime in the workbook; `None` means absent.
    Date(Option<&'a VettingDate>),
    /// A whole number; `None` means absent.
    Number(Option<i64>),
}

/// The status of rows without one, for cells that borrow it.
pub static NO_STATUS: VettingStatus = VettingStatus::Absent;

/// Every column of `qualifications.csv` in order (the keys of
/// `qualifications.jsonl`): the fixed ones, `reconciliation` when the input
/// has an expectation column, then the input's other columns under their
/// own (de-clashed) names.
pub fn column_names(extra_headers: &[String], reconciliation: bool) -> Vec<String> {
    let mut names: Vec<String> = FIXED_COLUMNS.iter().map(|c| c.to_string()).collect();
    if reconciliation {
        names.push(RECONCILIATION_COLUMN.to_string());
    }
    names.extend(extra_column_names(extra_headers, reconciliation));
    names
}

impl ReportRow {
    /// The row's cells, aligned with [`column_names`] (same `reconciliation`).
    pub fn cells(&self, reconciliation: bool) -> Vec<Cell<'_>> {
        let mut cells = vec![
            Cell::Text(&self.customer_tenant_id),
            Cell::Number(i64::try_from(self.input_line).ok()),
            Cell::Text(&self.qualification),
            Cell::Status(&self.vetting_status),
            Cell::Text(&self.vetting_reason),
            Cell::Date(self.vetting_created_date.as_ref()),
            Cell::Number(self.days_in_review),
            Cell::Text(self.lookup_status.as_str()),
            Cell::Text(&self.error),
        ];
        if reconciliation {
            cells.push(Cell::Text(self.reconciliation.map_or("", |r| r.as_str())));
        }
        cells.extend(self.extra.iter().map(|c| Cell::Text(c)));
        cells
    }
}

/// The rows of each customer, in order: a customer's rows are adjacent
/// (same id, same input line); an invalid input row is one span of its own.
pub fn customer_spans(rows: &[ReportRow]) -> Vec<std::ops::Range<usize>> {
    let mut spans = Vec::new();
    let mut start = 0;
    while start < rows.len() {
        let first = &rows[start];
        let len = rows[start..]
            .iter()
            .take_while(|r| {
                r.customer_tenant_id == first.customer_tenant_id && r.input_line == first.input_line
            })
            .count();
        spans.push(start..start + len);
        start += len;
    }
    spans
}

/// Whole days between `since` and `now` (never negative).
pub fn whole_days(since: DateTime<Utc>, now: DateTime<Utc>) -> i64 {
    (now - since).num_days().max(0)
}

/// Header names for the carried-over input columns; a name that clashes with
/// a fixed column (`reconciliation` included when the report has it) or an
/// earlier name gets an `input_` prefix, so no column is ambiguous and none
/// is dropped.
pub fn extra_column_names(extra_headers: &[String], reconciliation: bool) -> Vec<String> {
    let mut fixed = FIXED_COLUMNS.to_vec();
    if reconciliation {
        fixed.push(RECONCILIATION_COLUMN);
    }
    declash(&fixed, extra_headers)
}

/// `headers` renamed where they clash with `fixed` or an earlier header:
/// `input_` is prefixed until the name is free.
pub fn declash(fixed: &[&str], headers: &[String]) -> Vec<String> {
    let mut taken: Vec<String> = fixed.iter().map(|c| c.to_string()).collect();
    headers
        .iter()
        .map(|h| {
            let mut name = h.clone();
            while taken.contains(&name) {
                name = format!("input_{name}");
            }
            taken.push(name.clone());
            name
        })
        .collect()
}

/// One `reconciliation` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reconciliation {
    /// No expectation given, or an `invalid_input` row: empty.
    Blank,
    /// Microsoft agrees with the expectation.
    Match,
    /// Expected a qualification the customer has, but it is not approved
    /// (denied, another status, or no such entry at all).
    NotApproved,
    /// Expected a qualification that is still in review.
    Pending,
    /// Expected none, but the customer holds an approved qualification.
    Unexpected,
    /// The lookup did not end `ok`: Microsoft's answer is not known.
    Unknown,
    /// The expectation is not a qualification name.
    UnknownExpectation,
}

impl Reconciliation {
    /// Every non-empty value, in the order the summary lists them.
    pub const LABELLED: [Reconciliation; 6] = [
        Reconciliation::Match,
        Reconciliation::NotApproved,
        Reconciliation::Pending,
        Reconciliation::Unexpected,
        Reconciliation::Unknown,
        Reconciliation::UnknownExpectation,
    ];

    /// The text of the `reconciliation` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Reconciliation::Blank => "",
            Reconciliation::Match => "match",
            Reconciliation::NotApproved => "not_approved",
            Reconciliation::Pending => "pending",
            Reconciliation::Unexpected => "unexpected",
            Reconciliation::Unknown => "unknown",
            Reconciliation::UnknownExpectation => "unknown_expectation",
        }
    }

    /// Whether the CRM and Microsoft disagree in a way someone must act on
    /// (`unknown` is not: the failed lookup is the thing to act on).
    pub fn is_mismatch(self) -> bool {
        matches!(
            self,
            Reconciliation::NotApproved
                | Reconciliation::Pending
                | Reconciliation::Unexpected
                | Reconciliation::UnknownExpectation
        )
    }
}

#[cfg(test)]
use uuid::Uuid;

/// A report row for unit tests: customer `id` (as a GUID) at `line`.
#[cfg(test)]
pub(crate) fn test_row(
    id: u128,
    line: u64,
    qualification: &str,
    status: &str,
    lookup: LookupStatus,
) -> ReportRow {
    ReportRow {
        customer_tenant_id: Uuid::from_u128(id).to_string(),
        input_line: line,
        qualification: qualification.into(),
        vetting_status: VettingStatus::from_report(status),
        vetting_reason: String::new(),
        vetting_created_date: None,
        days_in_review: None,
        lookup_status: lookup,
        error: String::new(),
        extra: Vec::new(),
        reconciliation: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clashing_input_headers_are_prefixed() {
        let headers = [
            "name".into(),
            "error".into(),
            "input_error".into(),
            "reconciliation".into(),
        ];
        let names = extra_column_names(&headers, false);
        assert_eq!(
            names,
            ["name", "input_error", "input_input_error", "reconciliation"]
        );
        let names = extra_column_names(&headers, true);
        assert_eq!(
            names,
            [
                "name",
                "input_error",
                "input_input_error",
                "input_reconciliation"
            ]
        );
    }
}
