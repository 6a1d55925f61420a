//! `changes.csv`: what differs between an earlier run's report and this one,
//! per customer and qualification. [`compare`] is pure; [`render`] writes
//! the same CSV dialect as `qualifications.csv`.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use super::row::{Cell, RECONCILIATION_COLUMN, ReportRow};
use super::sink::RowSink;
use crate::model::{LookupStatus, VettingDate, VettingStatus};

/// Columns of `changes.csv`, in order.
pub const COLUMNS: [&str; 10] = [
    "customer_tenant_id",
    "qualification",
    "change",
    "previous_vetting_status",
    "vetting_status",
    "previous_vetting_reason",
    "vetting_reason",
    "previous_lookup_status",
    "lookup_status",
    "vetting_created_date",
];

/// Added after [`COLUMNS`] when this run has a `reconciliation` column.
pub const RECONCILIATION_COLUMNS: [&str; 2] = ["previous_reconciliation", RECONCILIATION_COLUMN];

/// The columns of `changes.csv`; `reconciliation`: this run has that
/// column (the input has an expectation column).
pub fn column_names(reconciliation: bool) -> Vec<&'static str> {
    let mut names = COLUMNS.to_vec();
    if reconciliation {
        names.extend(RECONCILIATION_COLUMNS);
    }
    names
}

/// One report row as the comparison sees it (the columns of
/// `qualifications.csv` that can change between runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Canonical lower-case GUID (raw text for invalid input).
    pub customer_tenant_id: String,
    /// Empty for "no qualification" and failed-lookup rows.
    pub qualification: String,
    /// As in `qualifications.csv`.
    pub vetting_status: VettingStatus,
    /// As in `qualifications.csv`.
    pub vetting_reason: String,
    /// As in `qualifications.csv`.
    pub vetting_created_date: Option<VettingDate>,
    /// As in `qualifications.csv`.
    pub lookup_status: LookupStatus,
    /// As in `qualifications.csv`; `None` when that report has no
    /// `reconciliation` column (no expectation column in its input, or
    /// written before qualrecon had one).
    pub reconciliation: Option<String>,
}

impl From<&ReportRow> for Entry {
    fn from(r: &ReportRow) -> Entry {
        Entry {
            customer_tenant_id: r.customer_tenant_id.clone(),
            qualification: r.qualification.clone(),
            vetting_status: r.vetting_status.clone(),
            vetting_reason: r.vetting_reason.clone(),
            vetting_created_date: r.vetting_created_date.clone(),
            lookup_status: r.lookup_status,
            reconciliation: r.reconciliation.map(|v| v.as_str().to_string()),
        }
    }
}

/// What happened to a customer or one of its qualifications.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// The customer is in this report, not in the previous one (one row per
    /// current row of the customer).
    NewCustomer,
    /// The customer was in the previous report, not in this one (one row per
    /// previous row).
    RemovedCustomer,
    /// Looked up fine both times; this qualification is new.
    NewQualification,
    /// Looked up fine both times; this qualification is gone.
    RemovedQualification,
    /// Looked up fine both times; `vetting_status` differs.
    StatusChanged,
    /// Looked up fine both times, same status; `vetting_reason` differs.
    ReasonChanged,
    /// `lookup_status` differs (e.g. `failed` → `ok`): one row per
    /// qualification seen on either side (one row with an empty
    /// qualification when neither side has any).
    LookupStatusChanged,
    /// Both reports have a `reconciliation` column and the customer's value
    /// differs (e.g. `pending` → `match`): one row per customer, empty
    /// qualification.
    ReconciliationChanged,
}

impl ChangeKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [ChangeKind; 8] = [
        ChangeKind::NewCustomer,
        ChangeKind::RemovedCustomer,
        ChangeKind::NewQualification,
        ChangeKind::RemovedQualification,
        ChangeKind::StatusChanged,
        ChangeKind::ReasonChanged,
        ChangeKind::LookupStatusChanged,
        ChangeKind::ReconciliationChanged,
    ];

    /// The value of the `change` column.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::NewCustomer => "new_customer",
            ChangeKind::RemovedCustomer => "removed_customer",
            ChangeKind::NewQualification => "new_qualification",
            ChangeKind::RemovedQualification => "removed_qualification",
            ChangeKind::StatusChanged => "status_changed",
            ChangeKind::ReasonChanged => "reason_changed",
            ChangeKind::LookupStatusChanged => "lookup_status_changed",
            ChangeKind::ReconciliationChanged => "reconciliation_changed",
        }
    }
}

/// One row of `changes.csv`. `previous_*` come from the earlier run and
/// are empty where it had no such entry; the others come from this run and
/// are empty where it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Canonical lower-case GUID.
    pub customer_tenant_id: String,
    /// The qualification concerned; empty for a customer without any.
    pub qualification: String,
    /// What happened.
    pub change: ChangeKind,
    /// `vetting_status` in the earlier run.
    pub previous_vetting_status: VettingStatus,
    /// `vetting_status` now.
    pub vetting_status: VettingStatus,
    /// `vetting_reason` in the earlier run.
    pub previous_vetting_reason: String,
    /// `vetting_reason` now.
    pub vetting_reason: String,
    /// The customer's `lookup_status` in the earlier run; `None` for a
    /// new customer.
    pub previous_lookup_status: Option<LookupStatus>,
    /// The customer's `lookup_status` now; `None` for a removed customer.
    pub lookup_status: Option<LookupStatus>,
    /// This run's `vetting_created_date`, or the earlier one for entries
    /// that are gone.
    pub vetting_created_date: Option<VettingDate>,
    /// The customer's `reconciliation` in the earlier run (empty when that
    /// report had none).
    pub previous_reconciliation: String,
    /// The customer's `reconciliation` now.
    pub reconciliation: String,
}

impl Change {
    /// The row's cells, aligned with [`column_names`] (same `reconciliation`).
    pub fn cells(&self, reconciliation: bool) -> Vec<Cell<'_>> {
        let mut cells = vec![
            Cell::Text(&self.customer_tenant_id),
            Cell::Text(&self.qualification),
            Cell::Text(self.change.as_str()),
            Cell::Status(&self.previous_vetting_status),
            Cell::Status(&self.vetting_status),
            Cell::Text(&self.previous_vetting_reason),
            Cell::Text(&self.vetting_reason),
            Cell::Text(self.previous_lookup_status.map_or("", LookupStatus::as_str)),
            Cell::Text(self.lookup_status.map_or("", LookupStatus::as_str)),
            Cell::Date(self.vetting_created_date.as_ref()),
        ];
        if reconciliation {
            cells.push(Cell::Text(&self.previous_reconciliation));
            cells.push(Cell::Text(&self.reconciliation));
        }
        cells
    }
}

/// What a change row says about the customer as a whole, on one side.
#[derive(Debug, Clone, Copy, Default)]
struct Side<'a> {
    /// The customer's `lookup_status`; `None` when absent on this side.
    lookup: Option<LookupStatus>,
    /// The customer's `reconciliation`, if that report has the column.
    reconciliation: Option<&'a str>,
}

impl<'a> Side<'a> {
    /// The customer of `entries` (all of one customer).
    fn of(entries: &[&'a Entry]) -> Side<'a> {
        Side {
            lookup: Some(entries[0].lookup_status),
            reconciliation: entries[0].reconciliation.as_deref(),
        }
    }
}

/// Customers in first-seen order, each with its entries.
fn group(entries: &[Entry]) -> Vec<(&str, Vec<&Entry>)> {
    let mut order: Vec<(&str, Vec<&Entry>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for e in entries
        .iter()
        .filter(|e| e.lookup_status != LookupStatus::InvalidInput)
    {
        let i = *index.entry(&e.customer_tenant_id).or_insert_with(|| {
            order.push((&e.customer_tenant_id, Vec::new()));
            order.len() - 1
        });
        order[i].1.push(e);
    }
    order
}

/// Named qualifications keyed by (name, occurrence), so a name the API
/// repeats is matched occurrence by occurrence.
fn keyed<'a>(entries: &[&'a Entry]) -> Vec<((&'a str, usize), &'a Entry)> {
    let mut seen: HashMap<&str, usize> = HashMap::new();
    entries
        .iter()
        .filter(|e| !e.qualification.is_empty())
        .map(|e| {
            let n = seen.entry(&e.qualification).or_default();
            *n += 1;
            ((e.qualification.as_str(), *n), *e)
        })
        .collect()
}

fn make(
    change: ChangeKind,
    id: &str,
    qualification: &str,
    prev: Option<&Entry>,
    cur: Option<&Entry>,
    sides: (Side<'_>, Side<'_>),
) -> Change {
    fn field<T: Clone + Default>(e: Option<&Entry>, f: fn(&Entry) -> &T) -> T {
        e.map(f).cloned().unwrap_or_default()
    }
    Change {
        customer_tenant_id: id.to_string(),
        qualification: qualification.to_string(),
        change,
        previous_vetting_status: field(prev, |e| &e.vetting_status),
        vetting_status: field(cur, |e| &e.vetting_status),
        previous_vetting_reason: field(prev, |e| &e.vetting_reason),
        vetting_reason: field(cur, |e| &e.vetting_reason),
        previous_lookup_status: sides.0.lookup,
        lookup_status: sides.1.lookup,
        vetting_created_date: field(cur.or(prev), |e| &e.vetting_created_date),
        previous_reconciliation: sides.0.reconciliation.unwrap_or_default().to_string(),
        reconciliation: sides.1.reconciliation.unwrap_or_default().to_string(),
    }
}

/// Everything that changed from `previous` to `current`: customers in
/// `current`'s order, then customers only in `previous` in its order.
/// Unchanged entries are not listed; rows with `lookup_status =
/// invalid_input` are not customers and are ignored on both sides; a change
/// of `vetting_created_date` or `error` alone is not a change; a
/// `reconciliation` value is compared only when both reports have one.
pub fn compare(previous: &[Entry], current: &[Entry]) -> Vec<Change> {
    let mut comparison = Comparison::new(previous);
    let mut out = Vec::new();
    for (_, entries) in group(current) {
        out.extend(comparison.customer(&entries));
    }
    out.extend(comparison.removed());
    out
}

/// [`compare`] as this run's report is written: customer by customer in
/// its order, then the customers only the earlier run had.
pub struct Comparison<'p> {
    /// The earlier run's customers, in its order.
    prev: Vec<(&'p str, Vec<&'p Entry>)>,
    prev_index: HashMap<&'p str, usize>,
    /// Which of `prev` this run had.
    matched: Vec<bool>,
}

impl<'p> Comparison<'p> {
    /// Against the earlier run's report.
    pub fn new(previous: &'p [Entry]) -> Comparison<'p> {
        let prev = group(previous);
        let prev_index = prev
            .iter()
            .enumerate()
            .map(|(i, (id, _))| (*id, i))
            .collect();
        Comparison {
            matched: vec![false; prev.len()],
            prev,
            prev_index,
        }
    }

    /// The changes of one customer of this run: its entries (none of them
    /// `invalid_input`), in report order.
    pub fn customer(&mut self, cur_entries: &[&Entry]) -> Vec<Change> {
        let mut out = Vec::new();
        let Some(first) = cur_entries.first() else {
            return out;
        };
        let id = first.customer_tenant_id.as_str();
        let cur = Side::of(cur_entries);
        let Some(&pi) = self.prev_index.get(id) else {
            for c in cur_entries {
                out.push(make(
                    ChangeKind::NewCustomer,
                    id,
                    &c.qualification,
                    None,
                    Some(c),
                    (Side::default(), cur),
                ));
            }
            return out;
        };
        self.matched[pi] = true;
        let prev_entries = &self.prev[pi].1;
        let sides = (Side::of(prev_entries), cur);
        customer_changes(id, prev_entries, cur_entries, sides, &mut out);
        if let (Some(before), Some(now)) = (sides.0.reconciliation, sides.1.reconciliation)
            && before != now
        {
            out.push(make(
                ChangeKind::ReconciliationChanged,
                id,
                "",
                None,
                None,
                sides,
            ));
        }
        out
    }

    /// The customers only the earlier run had, in its order (once this
    /// run's customers are all compared).
    pub fn removed(&self) -> Vec<Change> {
        let mut out = Vec::new();
        for ((id, entries), _) in self.prev.iter().zip(&self.matched).filter(|(_, m)| !**m) {
            let side = Side::of(entries);
            for p in entries {
                out.push(make(
                    ChangeKind::RemovedCustomer,
                    id,
                    &p.qualification,
                    Some(p),
                    None,
                    (side, Side::default()),
                ));
            }
        }
        out
    }
}

/// The changes of one customer present in both reports, its
/// `reconciliation` aside.
fn customer_changes(
    id: &str,
    prev_entries: &[&Entry],
    cur_entries: &[&Entry],
    sides: (Side<'_>, Side<'_>),
    out: &mut Vec<Change>,
) {
    let cur_q = keyed(cur_entries);
    let prev_q = keyed(prev_entries);
    let prev_map: HashMap<(&str, usize), &Entry> = prev_q.iter().copied().collect();
    let cur_map: HashMap<(&str, usize), &Entry> = cur_q.iter().copied().collect();
    if sides.0.lookup != sides.1.lookup {
        let mut keys: Vec<(&str, usize)> = cur_q.iter().map(|(k, _)| *k).collect();
        keys.extend(
            prev_q
                .iter()
                .map(|(k, _)| *k)
                .filter(|k| !cur_map.contains_key(k)),
        );
        if keys.is_empty() {
            out.push(make(
                ChangeKind::LookupStatusChanged,
                id,
                "",
                Some(prev_entries[0]),
                Some(cur_entries[0]),
                sides,
            ));
        }
        for k in keys {
            out.push(make(
                ChangeKind::LookupStatusChanged,
                id,
                k.0,
                prev_map.get(&k).copied(),
                cur_map.get(&k).copied(),
                sides,
            ));
        }
        return;
    }
    if sides.1.lookup != Some(LookupStatus::Ok) {
        return; // failed the same way both times: nothing to compare
    }
    for (k, c) in &cur_q {
        let kind = match prev_map.get(k) {
            None => Some(ChangeKind::NewQualification),
            Some(p) if p.vetting_status != c.vetting_status => Some(ChangeKind::StatusChanged),
            Some(p) if p.vetting_reason != c.vetting_reason => Some(ChangeKind::ReasonChanged),
            Some(_) => None,
        };
        if let Some(kind) = kind {
            out.push(make(
                kind,
                id,
                k.0,
                prev_map.get(k).copied(),
                Some(c),
                sides,
            ));
        }
    }
    for (k, p) in prev_q.iter().filter(|(k, _)| !cur_map.contains_key(k)) {
        out.push(make(
            ChangeKind::RemovedQualification,
            id,
            k.0,
            Some(p),
            None,
            sides,
        ));
    }
}

/// Rows per change kind, every kind present (zero when none);
/// `reconciliation_changed` only when this run has a `reconciliation`
/// column.
pub fn counts(changes: &[Change], reconciliation: bool) -> BTreeMap<&'static str, u64> {
    let mut m: BTreeMap<&'static str, u64> = ChangeKind::ALL
        .iter()
        .filter(|k| reconciliation || **k != ChangeKind::ReconciliationChanged)
        .map(|k| (k.as_str(), 0))
        .collect();
    for c in changes {
        *m.entry(c.change.as_str()).or_default() += 1;
    }
    m
}

/// `changes.csv` being written: CRLF, RFC 4180 quoting, text cells
/// neutralised like `qualifications.csv`, optional BOM; `reconciliation`:
/// this run has that column (then so does this file).
pub struct ChangesRows<W: Write> {
    w: csv::Writer<W>,
    reconciliation: bool,
}

impl<W: Write> ChangesRows<W> {
    /// Start the file in `out`: the BOM if asked for, then the header.
    pub fn new(out: W, reconciliation: bool, bom: bool) -> csv::Result<ChangesRows<W>> {
        let mut w = super::csv::writer(out, bom)?;
        w.write_record(column_names(reconciliation))?;
        Ok(ChangesRows { w, reconciliation })
    }
}

impl<W: Write> RowSink for ChangesRows<W> {
    type Row = Change;
    type Out = W;

    fn row(&mut self, c: &Change) -> anyhow::Result<()> {
        Ok(super::csv::write_cells(
            &mut self.w,
            &c.cells(self.reconciliation),
        )?)
    }

    fn finish(self) -> anyhow::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error().into())
    }
}

/// The whole `changes.csv` as bytes (see [`ChangesRows`]).
pub fn render(changes: &[Change], reconciliation: bool, bom: bool) -> Vec<u8> {
    let out = Vec::with_capacity(changes.len() * 160 + 200);
    let mut rows = ChangesRows::new(out, reconciliation, bom).expect("writing to memory");
    for c in changes {
        rows.row(c).expect("writing to memory");
    }
    rows.finish().expect("flushing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(id: &str, q: &str, status: &str, reason: &str, lookup: &str) -> Entry {
        Entry {
            customer_tenant_id: id.into(),
            qualification: q.into(),
            vetting_status: VettingStatus::from_report(status),
            vetting_reason: reason.into(),
            vetting_created_date: (!q.is_empty())
                .then(|| VettingDate::parse("2024-01-02T03:04:05Z")),
            lookup_status: LookupStatus::parse(lookup).unwrap(),
            reconciliation: None,
        }
    }

    fn kinds(changes: &[Change]) -> Vec<(&str, &str, &'static str)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.customer_tenant_id.as_str(),
                    c.qualification.as_str(),
                    c.change.as_str(),
                )
            })
            .collect()
    }

    #[test]
    fn every_kind_of_change_is_found_in_order() {
        let prev = vec![
            e("a", "Education", "InReview", "", "ok"),
            e(
                "b",
                "Education",
                "Denied",
                "Not an Education Customer",
                "ok",
            ),
            e("c", "Education", "Approved", "", "ok"),
            e("c", "StateOwnedEntity", "", "", "ok"),
            e("d", "", "", "", "failed"),
            e("gone", "Education", "Approved", "", "ok"),
            e("f", "Education", "Approved", "", "ok"),
            e("same", "Education", "Approved", "", "ok"),
            e("x y", "", "", "not a GUID", "invalid_input"),
        ];
        let cur = vec![
            e("new", "", "", "", "ok"),
            e("same", "Education", "Approved", "", "ok"),
            e("a", "Education", "Approved", "", "ok"),
            e("b", "Education", "Denied", "Duplicate request", "ok"),
            e("c", "Education", "Approved", "", "ok"),
            e("c", "Nonprofit", "InReview", "", "ok"),
            e("d", "Education", "Approved", "", "ok"),
            e("f", "", "", "", "forbidden"),
        ];
        let changes = compare(&prev, &cur);
        assert_eq!(
            kinds(&changes),
            [
                ("new", "", "new_customer"),
                ("a", "Education", "status_changed"),
                ("b", "Education", "reason_changed"),
                ("c", "Nonprofit", "new_qualification"),
                ("c", "StateOwnedEntity", "removed_qualification"),
                ("d", "Education", "lookup_status_changed"),
                ("f", "Education", "lookup_status_changed"),
                ("gone", "Education", "removed_customer"),
            ]
        );
        let a = &changes[1];
        assert_eq!(
            (
                a.previous_vetting_status.as_str(),
                a.vetting_status.as_str()
            ),
            ("InReview", "Approved")
        );
        assert_eq!(a.previous_lookup_status, Some(LookupStatus::Ok));
        let f = &changes[6];
        assert_eq!(
            (
                f.previous_vetting_status.as_str(),
                f.vetting_status.as_str()
            ),
            ("Approved", "")
        );
        assert_eq!(
            (f.previous_lookup_status, f.lookup_status),
            (Some(LookupStatus::Ok), Some(LookupStatus::Forbidden))
        );
        assert_eq!(
            f.vetting_created_date.as_ref().unwrap().to_report_string(),
            "2024-01-02T03:04:05Z"
        );
        assert_eq!(changes[0].previous_lookup_status, None);
        assert_eq!(changes[7].lookup_status, None);
        let n = counts(&changes, false);
        assert_eq!(n.len(), 7);
        assert!(!n.contains_key("reconciliation_changed"));
        assert_eq!(counts(&changes, true)["reconciliation_changed"], 0);
        assert_eq!(n["lookup_status_changed"], 2);
        assert_eq!(n["removed_customer"], 1);
    }

    #[test]
    fn a_failure_that_persists_is_not_a_change_but_a_different_failure_is() {
        let prev = vec![e("a", "", "", "", "failed"), e("b", "", "", "", "failed")];
        let cur = vec![
            e("a", "", "", "", "failed"),
            e("b", "", "", "", "throttled"),
        ];
        assert_eq!(
            kinds(&compare(&prev, &cur)),
            [("b", "", "lookup_status_changed")]
        );
    }

    #[test]
    fn csv_has_the_columns_and_neutralised_cells() {
        let mut c = compare(&[], &[e("a", "Education", "Denied", "=1+1", "ok")]);
        c[0].customer_tenant_id = "a".into();
        let text = String::from_utf8(render(&c, false, true)).unwrap();
        assert!(text.starts_with("\u{feff}customer_tenant_id,qualification,change,previous_vetting_status,vetting_status,previous_vetting_reason,vetting_reason,previous_lookup_status,lookup_status,vetting_created_date\r\n"), "{text}");
        assert!(
            text.ends_with("a,Education,new_customer,,Denied,,'=1+1,,ok,2024-01-02T03:04:05Z\r\n"),
            "{text}"
        );
        assert_eq!(
            render(&[], false, false),
            COLUMNS
                .join(",")
                .into_bytes()
                .into_iter()
                .chain(*b"\r\n")
                .collect::<Vec<u8>>()
        );
    }

    fn with_rec(entry: Entry, rec: &str) -> Entry {
        Entry {
            reconciliation: Some(rec.into()),
            ..entry
        }
    }

    #[test]
    fn a_changed_reconciliation_is_its_own_row_once_per_customer() {
        let prev = vec![
            with_rec(e("a", "Education", "InReview", "", "ok"), "pending"),
            with_rec(e("a", "StateOwnedEntity", "", "", "ok"), "pending"),
            with_rec(e("b", "Education", "Approved", "", "ok"), "match"),
            with_rec(e("c", "", "", "", "failed"), "unknown"),
            with_rec(e("d", "", "", "", "ok"), ""),
        ];
        let cur = vec![
            with_rec(e("a", "Education", "Approved", "", "ok"), "match"),
            with_rec(e("a", "StateOwnedEntity", "", "", "ok"), "match"),
            with_rec(e("b", "Education", "Approved", "", "ok"), "match"),
            with_rec(e("c", "Education", "Denied", "x", "ok"), "not_approved"),
            with_rec(e("d", "", "", "", "ok"), "match"),
        ];
        let changes = compare(&prev, &cur);
        assert_eq!(
            kinds(&changes),
            [
                ("a", "Education", "status_changed"),
                ("a", "", "reconciliation_changed"),
                ("c", "Education", "lookup_status_changed"),
                ("c", "", "reconciliation_changed"),
                ("d", "", "reconciliation_changed"),
            ]
        );
        let a = &changes[1];
        assert_eq!(
            (
                a.previous_reconciliation.as_str(),
                a.reconciliation.as_str()
            ),
            ("pending", "match")
        );
        assert_eq!(changes[0].reconciliation, "match");
        assert_eq!(counts(&changes, true)["reconciliation_changed"], 3);
        let text = String::from_utf8(render(&changes[..2], true, false)).unwrap();
        assert!(
            text.starts_with(&format!(
                "{},previous_reconciliation,reconciliation\r\n",
                COLUMNS.join(",")
            )),
            "{text}"
        );
        assert!(
            text.contains("a,,reconciliation_changed,,,,,ok,ok,,pending,match\r\n"),
            "{text}"
        );
    }

    #[test]
    fn an_earlier_report_without_reconciliation_gives_no_reconciliation_changes() {
        let prev = vec![
            e("a", "Education", "InReview", "", "ok"),
            e("b", "", "", "", "failed"),
        ];
        let cur = vec![
            with_rec(e("a", "Education", "InReview", "", "ok"), "pending"),
            with_rec(e("b", "", "", "", "failed"), "unknown"),
        ];
        assert!(compare(&prev, &cur).is_empty());
        // Nor the other way round (this run without the column).
        assert!(compare(&cur, &prev).is_empty());
    }

    fn entries() -> impl Strategy<Value = Vec<Entry>> {
        let entry = (
            "[abc]",
            prop_oneof![Just(""), Just("Education"), Just("StateOwnedEntity")],
            prop_oneof![Just(""), Just("Approved"), Just("Denied"), Just("InReview")],
            prop_oneof![Just(""), Just("r1"), Just("r2")],
            prop_oneof![Just("ok"), Just("failed"), Just("invalid_input")],
            prop_oneof![Just(None), Just(Some("match")), Just(Some("pending"))],
        )
            .prop_map(|(id, q, s, r, l, rec)| Entry {
                reconciliation: rec.map(str::to_string),
                ..e(&id, q, s, r, l)
            });
        proptest::collection::vec(entry, 0..12)
    }

    proptest! {
        #[test]
        fn a_report_compared_with_itself_has_no_changes(report in entries()) {
            prop_assert!(compare(&report, &report).is_empty());
        }

        #[test]
        fn swapping_the_runs_swaps_new_and_removed_customers(a in entries(), b in entries()) {
            let ab = counts(&compare(&a, &b), true);
            let ba = counts(&compare(&b, &a), true);
            prop_assert_eq!(ab["new_customer"], ba["removed_customer"]);
            prop_assert_eq!(ab["removed_customer"], ba["new_customer"]);
            prop_assert_eq!(ab["new_qualification"], ba["removed_qualification"]);
            prop_assert_eq!(ab["status_changed"], ba["status_changed"]);
            prop_assert_eq!(ab["lookup_status_changed"], ba["lookup_status_changed"]);
            prop_assert_eq!(ab["reconciliation_changed"], ba["reconciliation_changed"]);
        }
    }
}
