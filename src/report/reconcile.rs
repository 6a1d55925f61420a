//! Reconciliation: what the partner's own records (an expectation column in
//! the input, e.g. `Expected Qualification` exported from the CRM) say,
//! against what Microsoft answered. Every row of a customer gets one
//! `reconciliation` value; the rule is [`classify`].

use std::collections::{BTreeMap, HashMap, HashSet};

use super::row::{Reconciliation, ReportRow};
use super::screen::printable;
use crate::input::{Cells, InputFile, RowKind, normalise_header};
use crate::model::{LookupStatus, VettingStatus};

/// The expectation column's header, normalised (any case, spaces and
/// punctuation: `Expected Qualification`, `expected-qualification`, …).
const EXPECT_HEADER: &str = "expectedqualification";

/// Qualification names Partner Center documents; any name the run itself
/// returned is recognised too.
pub const KNOWN_QUALIFICATIONS: [&str; 4] = [
    "Education",
    "Nonprofit",
    "GovernmentCommunityCloud",
    "StateOwnedEntity",
];

/// The expectation that says "no qualification at all".
const NONE: &str = "none";

/// The expectation column, as an index into `input.extra_headers`:
/// `--expect-column NAME` (resolved like `--column`: exact header, 1-based
/// number, or header ignoring case and punctuation), else a header that
/// reads `expected_qualification` ignoring case, spaces and punctuation,
/// else none. A named column that is not there (or is the id column) is an
/// error for the user.
pub fn find_column(input: &InputFile, named: Option<&str>) -> Result<Option<usize>, String> {
    let Some(wanted) = named else {
        return Ok(input
            .extra_headers
            .iter()
            .position(|h| normalise_header(h) == EXPECT_HEADER));
    };
    match input.column_index(wanted) {
        Some(c) if c == input.id_column => Err(format!(
            "--expect-column `{wanted}` is the column holding the customer ids; name the column with the expected qualification"
        )),
        Some(c) => Ok(Some(if c > input.id_column { c - 1 } else { c })),
        None => Err(format!(
            "--expect-column `{wanted}`: the input has no such column (its other columns: {})",
            if input.extra_headers.is_empty() {
                "none".to_string()
            } else {
                input.extra_headers.join(", ")
            }
        )),
    }
}

/// What a person should hear about expectation column `column` of
/// `input` before the run (`named`: it came from `--expect-column`): other
/// columns that would also have been taken for it, and customers listed
/// again with another expectation than on their first row (only the first
/// row is reported, so only its expectation counts).
pub fn doubts(input: &InputFile, column: usize, named: bool) -> Vec<String> {
    let mut doubts = Vec::new();
    if !named {
        let others: Vec<&str> = input
            .extra_headers
            .iter()
            .enumerate()
            .filter(|(i, h)| *i != column && normalise_header(h) == EXPECT_HEADER)
            .map(|(_, h)| h.as_str())
            .collect();
        if !others.is_empty() {
            doubts.push(format!(
                "expectations are read from the column `{}`; `{}` would match too and is not used (choose with --expect-column)",
                printable(&input.extra_headers[column]),
                printable(&others.join("`, `"))
            ));
        }
    }
    // The expectation of row `i` (a large input's cells are read back; one
    // that cannot be is taken as blank: this is only a warning).
    let cell = |i: usize| -> String {
        input
            .cells(i)
            .ok()
            .and_then(|cells| cells.get(column).map(|c| c.trim().to_owned()))
            .unwrap_or_default()
    };
    let repeated: HashSet<u64> = input
        .rows
        .iter()
        .filter_map(|r| match r.kind {
            RowKind::Duplicate { first_line, .. } => Some(first_line),
            _ => None,
        })
        .collect();
    if repeated.is_empty() {
        return doubts;
    }
    let first: HashMap<u64, String> = input
        .rows
        .iter()
        .enumerate()
        .filter(|(_, r)| repeated.contains(&r.line))
        .map(|(i, r)| (r.line, cell(i)))
        .collect();
    let conflicts: Vec<(u64, String, u64, String)> = input
        .rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| match r.kind {
            RowKind::Duplicate { first_line, .. } => {
                let was = first.get(&first_line).cloned().unwrap_or_default();
                let now = cell(i);
                (!was.eq_ignore_ascii_case(&now)).then_some((first_line, was, r.line, now))
            }
            _ => None,
        })
        .collect();
    if let Some((first_line, was, line, now)) = conflicts.first() {
        doubts.push(format!(
            "{} repeated row(s) give another expectation than their customer's first row, whose expectation is the one reconciled (e.g. line {first_line}: `{}`, line {line}: `{}`)",
            conflicts.len(),
            printable(was),
            printable(now)
        ));
    }
    doubts
}

/// The rule, in this order, for one customer whose expectation is
/// `expectation`, whose lookup ended `lookup`, and who holds `entries`
/// (qualification name, vetting status):
///
/// 1. blank expectation, or an `invalid_input` row → empty;
/// 2. lookup not `ok` → `unknown`;
/// 3. expectation `None` (any case) → `unexpected` if any entry is
///    `Approved`, else `match`;
/// 4. expectation not a known qualification name (`is_known`, any case)
///    → `unknown_expectation`;
/// 5. the entry for the expected qualification (any case) is `Approved` →
///    `match`; else `InReview` → `pending`; else (denied, another status,
///    no such entry) → `not_approved`.
pub fn classify(
    expectation: &str,
    lookup: LookupStatus,
    entries: &[(&str, &VettingStatus)],
    is_known: impl Fn(&str) -> bool,
) -> Reconciliation {
    let expected = expectation.trim();
    if expected.is_empty() || lookup == LookupStatus::InvalidInput {
        return Reconciliation::Blank;
    }
    if lookup != LookupStatus::Ok {
        return Reconciliation::Unknown;
    }
    let has = |status: VettingStatus, name: Option<&str>| {
        entries
            .iter()
            .any(|(q, s)| **s == status && name.is_none_or(|n| same_name(q, n)))
    };
    if same_name(expected, NONE) {
        return if has(VettingStatus::Approved, None) {
            Reconciliation::Unexpected
        } else {
            Reconciliation::Match
        };
    }
    if !is_known(expected) {
        return Reconciliation::UnknownExpectation;
    }
    if has(VettingStatus::Approved, Some(expected)) {
        Reconciliation::Match
    } else if has(VettingStatus::InReview, Some(expected)) {
        Reconciliation::Pending
    } else {
        Reconciliation::NotApproved
    }
}

/// Qualification names compared in any case.
fn same_name(a: &str, b: &str) -> bool {
    a.to_lowercase() == b.to_lowercase()
}

/// Reconciliation as the report is written, customer by customer: sets
/// each customer's value, counts the values, and gathers the expectations
/// that are not qualification names.
#[derive(Debug)]
pub struct Reconciler {
    /// The expectation column, an index into the rows' `extra`.
    column: usize,
    /// Qualification names in lower case: the documented ones and every
    /// one the run returned.
    known: HashSet<String>,
    /// The names [`Reconciler::learn`] saw, as spelled.
    spellings: HashSet<String>,
    /// Expectations that are not qualification names, in first-seen order.
    unrecognised: Vec<String>,
    /// Customers per non-empty value, every value listed.
    counts: BTreeMap<&'static str, u64>,
}

impl Reconciler {
    /// For the expectations in input column `column`, with `returned`:
    /// the qualification names the run returned.
    pub fn new<'a>(column: usize, returned: impl IntoIterator<Item = &'a str>) -> Reconciler {
        let known = KNOWN_QUALIFICATIONS
            .iter()
            .copied()
            .chain(returned)
            .filter(|q| !q.is_empty())
            .map(str::to_lowercase)
            .collect();
        Reconciler {
            column,
            known,
            spellings: HashSet::new(),
            unrecognised: Vec::new(),
            counts: Reconciliation::LABELLED
                .iter()
                .map(|r| (r.as_str(), 0))
                .collect(),
        }
    }

    /// The run returned these qualification names: expectations naming
    /// them are qualification names from now on.
    pub fn learn<'a>(&mut self, returned: impl IntoIterator<Item = &'a str>) {
        for name in returned.into_iter().filter(|q| !q.is_empty()) {
            // Most answers repeat a spelling already learned: no allocation.
            if !self.spellings.contains(name) {
                self.spellings.insert(name.to_owned());
                self.known.insert(name.to_lowercase());
            }
        }
    }

    /// Whether the value of an input row with passthrough `cells`,
    /// answered `status`, is only
    /// known when the run is over: its expectation is no qualification
    /// name seen so far, and a later answer may still show it is one
    /// (rule 4 looks at every name the run returned).
    pub fn must_wait(&self, cells: &Cells, status: LookupStatus) -> bool {
        let expectation = cells.get(self.column).map_or("", |e| e.trim());
        status == LookupStatus::Ok
            && !expectation.is_empty()
            && !same_name(expectation, NONE)
            && !self.known.contains(&expectation.to_lowercase())
    }

    /// Set `reconciliation` on every row of one customer (its rows, or one
    /// invalid input row).
    pub fn apply(&mut self, group: &mut [ReportRow]) {
        let Some(first) = group.first() else { return };
        let expectation = first
            .extra
            .get(self.column)
            .map_or("", |e| e.trim())
            .to_string();
        let entries: Vec<(&str, &VettingStatus)> = group
            .iter()
            .filter(|r| !r.qualification.is_empty())
            .map(|r| (r.qualification.as_str(), &r.vetting_status))
            .collect();
        let is_known = |name: &str| self.known.contains(&name.to_lowercase());
        let value = classify(&expectation, first.lookup_status, &entries, is_known);
        if value == Reconciliation::UnknownExpectation && !self.unrecognised.contains(&expectation)
        {
            self.unrecognised.push(expectation);
        }
        if value != Reconciliation::Blank {
            *self.counts.entry(value.as_str()).or_default() += 1;
        }
        for r in group {
            r.reconciliation = Some(value);
        }
    }

    /// The counts; one warning, under the column's `header`, naming every
    /// expectation that is not a qualification name.
    pub fn finish(self, header: &str) -> BTreeMap<&'static str, u64> {
        if !self.unrecognised.is_empty() {
            let values: Vec<String> = self
                .unrecognised
                .iter()
                .map(|v| format!("`{}`", printable(v)))
                .collect();
            tracing::warn!(
                "column `{}`: not a qualification name: {} (expected {}, None, or a name this run returned); those customers are marked {}",
                printable(header),
                values.join(", "),
                KNOWN_QUALIFICATIONS.join(", "),
                Reconciliation::UnknownExpectation.as_str()
            );
        }
        self.counts
    }
}

/// Set `reconciliation` on every row from the expectation in input column
/// `column` (an index into the rows' `extra`). Returns the distinct
/// expectations that are not qualification names, in first-seen order.
#[cfg(test)]
pub fn apply(rows: &mut [ReportRow], column: usize) -> Vec<String> {
    let returned: Vec<String> = rows.iter().map(|r| r.qualification.clone()).collect();
    let mut reconciler = Reconciler::new(column, returned.iter().map(String::as_str));
    for span in super::row::customer_spans(rows) {
        reconciler.apply(&mut rows[span]);
    }
    reconciler.unrecognised
}

/// Customers per non-empty `reconciliation` value, every value listed
/// (zeros included).
#[cfg(test)]
pub fn counts(rows: &[ReportRow]) -> BTreeMap<&'static str, u64> {
    let mut m: BTreeMap<&'static str, u64> = Reconciliation::LABELLED
        .iter()
        .map(|r| (r.as_str(), 0))
        .collect();
    let mut seen: HashSet<(&str, u64)> = HashSet::new();
    for r in rows {
        if let Some(value) = r.reconciliation.filter(|v| *v != Reconciliation::Blank)
            && seen.insert((&r.customer_tenant_id, r.input_line))
        {
            *m.entry(value.as_str()).or_default() += 1;
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use Reconciliation::*;

    #[test]
    fn doubts_name_a_second_matching_column_and_repeats_that_disagree() {
        let text = "customer_tenant_id,Expected Qualification,expected_qualification\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b,Nonprofit,x\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c,Education,x\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b,Education,x\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c, education ,x\n";
        let input = crate::input::parse_input(text.as_bytes(), &Default::default(), None).unwrap();
        let column = find_column(&input, None).unwrap().unwrap();
        assert_eq!(column, 0);
        let doubts = doubts(&input, column, false);
        assert_eq!(doubts.len(), 2, "{doubts:?}");
        assert!(
            doubts[0].contains("`expected_qualification` would match too"),
            "{doubts:?}"
        );
        // Line 5 only differs in case and padding: no conflict.
        assert!(
            doubts[1].starts_with("1 repeated row(s)")
                && doubts[1].contains("line 2: `Nonprofit`, line 4: `Education`"),
            "{doubts:?}"
        );
        // Chosen by name: the other column is the user's choice to leave.
        assert_eq!(super::doubts(&input, column, true).len(), 1);
    }

    fn known(name: &str) -> bool {
        KNOWN_QUALIFICATIONS
            .iter()
            .chain(&["BrandNewProgram"])
            .any(|k| same_name(k, name))
    }

    /// Each branch of the rule, in its order.
    #[test]
    fn the_rule_on_crafted_cases() {
        use LookupStatus::{Failed, Forbidden, InvalidInput, NotFound, Ok as Fine};
        let edu_ok = [("Education", "Approved")];
        let edu_review = [("Education", "InReview")];
        let edu_denied = [("Education", "Denied")];
        let soe = [("StateOwnedEntity", "")];
        let mixed = [
            ("StateOwnedEntity", ""),
            ("Education", "Denied"),
            ("Education", "InReview"),
        ];
        // (expectation, lookup, entries (name, status), the rule's value)
        type Case<'a> = (
            &'a str,
            LookupStatus,
            &'a [(&'a str, &'a str)],
            Reconciliation,
        );
        let cases: &[Case] = &[
            // 1. blank expectation or invalid input
            ("", Fine, &edu_ok, Blank),
            ("   ", Fine, &edu_ok, Blank),
            ("", Failed, &[], Blank),
            ("Education", InvalidInput, &[], Blank),
            // 2. lookup not ok (before any look at the expectation)
            ("Education", Failed, &[], Unknown),
            ("Education", NotFound, &[], Unknown),
            ("Educaton", Forbidden, &[], Unknown),
            ("None", Failed, &[], Unknown),
            // 3. None
            ("None", Fine, &[], Match),
            ("none", Fine, &soe, Match),
            (" NONE ", Fine, &edu_denied, Match),
            ("None", Fine, &edu_review, Match),
            ("None", Fine, &edu_ok, Unexpected),
            (
                "nOnE",
                Fine,
                &[("Education", "Denied"), ("Nonprofit", "Approved")],
                Unexpected,
            ),
            // 4. not a known name (known: documented names or returned ones)
            ("Educaton", Fine, &edu_ok, UnknownExpectation),
            ("Approved", Fine, &edu_ok, UnknownExpectation),
            ("yes", Fine, &[], UnknownExpectation),
            ("brandnewprogram", Fine, &[], NotApproved),
            // 5. the expected qualification's status
            ("Education", Fine, &edu_ok, Match),
            ("education", Fine, &edu_ok, Match),
            (" EDUCATION ", Fine, &edu_ok, Match),
            ("Education", Fine, &edu_review, Pending),
            ("Education", Fine, &edu_denied, NotApproved),
            (
                "Education",
                Fine,
                &[("Education", "UnderAppeal")],
                NotApproved,
            ),
            ("Education", Fine, &[("Education", "")], NotApproved),
            ("Education", Fine, &[], NotApproved),
            ("Education", Fine, &soe, NotApproved),
            ("Nonprofit", Fine, &edu_ok, NotApproved),
            ("StateOwnedEntity", Fine, &soe, NotApproved),
            ("Education", Fine, &mixed, Pending),
            (
                "Education",
                Fine,
                &[("Education", "Denied"), ("Education", "Approved")],
                Match,
            ),
        ];
        for (expectation, lookup, entries, want) in cases {
            let statuses: Vec<VettingStatus> = entries
                .iter()
                .map(|(_, s)| VettingStatus::from_report(s))
                .collect();
            let typed: Vec<(&str, &VettingStatus)> =
                entries.iter().map(|(q, _)| *q).zip(&statuses).collect();
            assert_eq!(
                classify(expectation, *lookup, &typed, known),
                *want,
                "{expectation:?} {lookup:?} {entries:?}"
            );
        }
    }

    fn row(
        id: u128,
        line: u64,
        q: &str,
        status: &str,
        lookup: LookupStatus,
        expect: &str,
    ) -> ReportRow {
        ReportRow {
            extra: vec!["name".into(), expect.into()],
            ..crate::report::row::test_row(id, line, q, status, lookup)
        }
    }

    #[test]
    fn every_row_of_a_customer_gets_its_value_and_counts_are_per_customer() {
        use LookupStatus::{Failed, InvalidInput, Ok as Fine};
        let mut rows = vec![
            row(1, 2, "Education", "Approved", Fine, "Education"),
            row(1, 2, "StateOwnedEntity", "", Fine, "Education"),
            row(2, 3, "Education", "InReview", Fine, "education"),
            row(3, 4, "", "", Failed, "Education"),
            row(0, 5, "", "", InvalidInput, "Education"),
            row(4, 6, "BrandNewProgram", "Approved", Fine, "brandnewprogram"),
            row(5, 7, "", "", Fine, "Educaton"),
            row(6, 8, "", "", Fine, "Educaton "),
            row(7, 9, "", "", Fine, "Gov"),
            row(8, 10, "Education", "Approved", Fine, ""),
            row(9, 11, "Education", "Approved", Fine, "None"),
            row(9, 11, "Nonprofit", "Denied", Fine, "None"),
        ];
        let unrecognised = apply(&mut rows, 1);
        assert_eq!(unrecognised, ["Educaton", "Gov"]);
        let values: Vec<&str> = rows
            .iter()
            .map(|r| r.reconciliation.unwrap().as_str())
            .collect();
        assert_eq!(
            values,
            [
                "match",
                "match",
                "pending",
                "unknown",
                "",
                "match",
                "unknown_expectation",
                "unknown_expectation",
                "unknown_expectation",
                "",
                "unexpected",
                "unexpected"
            ]
        );
        let n = counts(&rows);
        assert_eq!(n.len(), 6);
        assert_eq!(n["match"], 2);
        assert_eq!(n["pending"], 1);
        assert_eq!(n["unknown"], 1);
        assert_eq!(n["unknown_expectation"], 3);
        assert_eq!(n["unexpected"], 1);
        assert_eq!(n["not_approved"], 0);
    }
}
