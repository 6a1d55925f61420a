//! `changes.csv`: what differs between an earlier run's report and this one,
//! per customer and qualification. [`compare`] is pure; [`render`] writes
//! the same CSV dialect as `qualifications.csv`.

use std::collections::{BTreeMap, HashMap};

use super::ReportRow;
use super::csv::neutralise;
use crate::lookup::LookupStatus;

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

/// One report row as the comparison sees it (the columns of
/// `qualifications.csv` that can change between runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Canonical lower-case GUID (raw text for invalid input).
    pub customer_tenant_id: String,
    /// Empty for "no qualification" and failed-lookup rows.
    pub qualification: String,
    /// As in `qualifications.csv`.
    pub vetting_status: String,
    /// As in `qualifications.csv`.
    pub vetting_reason: String,
    /// As in `qualifications.csv`.
    pub vetting_created_date: String,
    /// `ok`, `not_found`, `failed`, … as in `qualifications.csv`.
    pub lookup_status: String,
}

impl From<&ReportRow> for Entry {
    fn from(r: &ReportRow) -> Entry {
        Entry {
            customer_tenant_id: r.customer_tenant_id.clone(),
            qualification: r.qualification.clone(),
            vetting_status: r.vetting_status.clone(),
            vetting_reason: r.vetting_reason.clone(),
            vetting_created_date: r.vetting_created_date.clone(),
            lookup_status: r.lookup_status.as_str().to_string(),
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
}

impl ChangeKind {
    /// Every kind, in the order the summary lists them.
    pub const ALL: [ChangeKind; 7] = [
        ChangeKind::NewCustomer,
        ChangeKind::RemovedCustomer,
        ChangeKind::NewQualification,
        ChangeKind::RemovedQualification,
        ChangeKind::StatusChanged,
        ChangeKind::ReasonChanged,
        ChangeKind::LookupStatusChanged,
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
    pub previous_vetting_status: String,
    /// `vetting_status` now.
    pub vetting_status: String,
    /// `vetting_reason` in the earlier run.
    pub previous_vetting_reason: String,
    /// `vetting_reason` now.
    pub vetting_reason: String,
    /// The customer's `lookup_status` in the earlier run.
    pub previous_lookup_status: String,
    /// The customer's `lookup_status` now.
    pub lookup_status: String,
    /// This run's `vetting_created_date`, or the earlier one for entries
    /// that are gone.
    pub vetting_created_date: String,
}

/// Customers in first-seen order, each with its entries.
fn group(entries: &[Entry]) -> Vec<(&str, Vec<&Entry>)> {
    let mut order: Vec<(&str, Vec<&Entry>)> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    let invalid = LookupStatus::InvalidInput.as_str();
    for e in entries.iter().filter(|e| e.lookup_status != invalid) {
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
    lookups: (&str, &str),
) -> Change {
    let field = |e: Option<&Entry>, f: fn(&Entry) -> &String| e.map(f).cloned().unwrap_or_default();
    Change {
        customer_tenant_id: id.to_string(),
        qualification: qualification.to_string(),
        change,
        previous_vetting_status: field(prev, |e| &e.vetting_status),
        vetting_status: field(cur, |e| &e.vetting_status),
        previous_vetting_reason: field(prev, |e| &e.vetting_reason),
        vetting_reason: field(cur, |e| &e.vetting_reason),
        previous_lookup_status: lookups.0.to_string(),
        lookup_status: lookups.1.to_string(),
        vetting_created_date: field(cur.or(prev), |e| &e.vetting_created_date),
    }
}

/// Everything that changed from `previous` to `current`: customers in
/// `current`'s order, then customers only in `previous` in its order.
/// Unchanged entries are not listed; rows with `lookup_status =
/// invalid_input` are not customers and are ignored on both sides; a change
/// of `vetting_created_date` or `error` alone is not a change.
pub fn compare(previous: &[Entry], current: &[Entry]) -> Vec<Change> {
    let prev = group(previous);
    let prev_index: HashMap<&str, usize> = prev
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (*id, i))
        .collect();
    let mut matched = vec![false; prev.len()];
    let mut out = Vec::new();
    for (id, cur_entries) in group(current) {
        let cur_lookup = cur_entries[0].lookup_status.as_str();
        let Some(&pi) = prev_index.get(id) else {
            for c in &cur_entries {
                out.push(make(
                    ChangeKind::NewCustomer,
                    id,
                    &c.qualification,
                    None,
                    Some(c),
                    ("", cur_lookup),
                ));
            }
            continue;
        };
        matched[pi] = true;
        let prev_entries = &prev[pi].1;
        let prev_lookup = prev_entries[0].lookup_status.as_str();
        let lookups = (prev_lookup, cur_lookup);
        let cur_q = keyed(&cur_entries);
        let prev_q = keyed(prev_entries);
        let prev_map: HashMap<(&str, usize), &Entry> = prev_q.iter().copied().collect();
        let cur_map: HashMap<(&str, usize), &Entry> = cur_q.iter().copied().collect();
        if prev_lookup != cur_lookup {
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
                    lookups,
                ));
            }
            for k in keys {
                out.push(make(
                    ChangeKind::LookupStatusChanged,
                    id,
                    k.0,
                    prev_map.get(&k).copied(),
                    cur_map.get(&k).copied(),
                    lookups,
                ));
            }
            continue;
        }
        if cur_lookup != LookupStatus::Ok.as_str() {
            continue; // failed the same way both times: nothing to compare
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
                    lookups,
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
                lookups,
            ));
        }
    }
    for ((id, entries), _) in prev.iter().zip(&matched).filter(|(_, m)| !**m) {
        let prev_lookup = entries[0].lookup_status.as_str();
        for p in entries {
            out.push(make(
                ChangeKind::RemovedCustomer,
                id,
                &p.qualification,
                Some(p),
                None,
                (prev_lookup, ""),
            ));
        }
    }
    out
}

/// Rows per change kind, every kind present (zero when none).
pub fn counts(changes: &[Change]) -> BTreeMap<&'static str, u64> {
    let mut m: BTreeMap<&'static str, u64> =
        ChangeKind::ALL.iter().map(|k| (k.as_str(), 0)).collect();
    for c in changes {
        *m.entry(c.change.as_str()).or_default() += 1;
    }
    m
}

/// The whole `changes.csv` as bytes: CRLF, RFC 4180 quoting, text cells
/// neutralised like `qualifications.csv`, optional BOM.
pub fn render(changes: &[Change], bom: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(changes.len() * 160 + 200);
    if bom {
        out.extend_from_slice(b"\xEF\xBB\xBF");
    }
    let mut w = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(out);
    w.write_record(COLUMNS).expect("writing to memory");
    for c in changes {
        let record = [
            neutralise(&c.customer_tenant_id),
            neutralise(&c.qualification),
            c.change.as_str().into(),
            neutralise(&c.previous_vetting_status),
            neutralise(&c.vetting_status),
            neutralise(&c.previous_vetting_reason),
            neutralise(&c.vetting_reason),
            neutralise(&c.previous_lookup_status),
            neutralise(&c.lookup_status),
            neutralise(&c.vetting_created_date),
        ];
        w.write_record(record.iter().map(|c| c.as_bytes()))
            .expect("writing to memory");
    }
    w.into_inner().expect("flushing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e(id: &str, q: &str, status: &str, reason: &str, lookup: &str) -> Entry {
        Entry {
            customer_tenant_id: id.into(),
            qualification: q.into(),
            vetting_status: status.into(),
            vetting_reason: reason.into(),
            vetting_created_date: if q.is_empty() {
                String::new()
            } else {
                "2024-01-02T03:04:05Z".into()
            },
            lookup_status: lookup.into(),
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
        assert_eq!(a.previous_lookup_status, "ok");
        let f = &changes[6];
        assert_eq!(
            (
                f.previous_vetting_status.as_str(),
                f.vetting_status.as_str()
            ),
            ("Approved", "")
        );
        assert_eq!(
            (f.previous_lookup_status.as_str(), f.lookup_status.as_str()),
            ("ok", "forbidden")
        );
        assert_eq!(f.vetting_created_date, "2024-01-02T03:04:05Z");
        assert_eq!(changes[0].previous_lookup_status, "");
        assert_eq!(changes[7].lookup_status, "");
        let n = counts(&changes);
        assert_eq!(n.len(), 7);
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
        let text = String::from_utf8(render(&c, true)).unwrap();
        assert!(text.starts_with("\u{feff}customer_tenant_id,qualification,change,previous_vetting_status,vetting_status,previous_vetting_reason,vetting_reason,previous_lookup_status,lookup_status,vetting_created_date\r\n"), "{text}");
        assert!(
            text.ends_with("a,Education,new_customer,,Denied,,'=1+1,,ok,2024-01-02T03:04:05Z\r\n"),
            "{text}"
        );
        assert_eq!(
            render(&[], false),
            COLUMNS
                .join(",")
                .into_bytes()
                .into_iter()
                .chain(*b"\r\n")
                .collect::<Vec<u8>>()
        );
    }

    fn entries() -> impl Strategy<Value = Vec<Entry>> {
        let entry = (
            "[abc]",
            prop_oneof![Just(""), Just("Education"), Just("StateOwnedEntity")],
            prop_oneof![Just(""), Just("Approved"), Just("Denied"), Just("InReview")],
            prop_oneof![Just(""), Just("r1"), Just("r2")],
            prop_oneof![Just("ok"), Just("failed"), Just("invalid_input")],
        )
            .prop_map(|(id, q, s, r, l)| e(&id, q, s, r, l));
        proptest::collection::vec(entry, 0..12)
    }

    proptest! {
        #[test]
        fn a_report_compared_with_itself_has_no_changes(report in entries()) {
            prop_assert!(compare(&report, &report).is_empty());
        }

        #[test]
        fn swapping_the_runs_swaps_new_and_removed_customers(a in entries(), b in entries()) {
            let ab = counts(&compare(&a, &b));
            let ba = counts(&compare(&b, &a));
            prop_assert_eq!(ab["new_customer"], ba["removed_customer"]);
            prop_assert_eq!(ab["removed_customer"], ba["new_customer"]);
            prop_assert_eq!(ab["new_qualification"], ba["removed_qualification"]);
            prop_assert_eq!(ab["status_changed"], ba["status_changed"]);
            prop_assert_eq!(ab["lookup_status_changed"], ba["lookup_status_changed"]);
        }
    }
}
