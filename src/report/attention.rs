//! The workbook's "Needs attention" list: one item per thing someone must
//! act on, with the action in plain words, most urgent first.

use std::cmp::Ordering;
use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::row::{Reconciliation, ReportRow};
use super::summary::is_stale;
use crate::model::{LookupStatus, VettingDate, VettingStatus};

/// What needs attention, most urgent first (the order of the list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Issue {
    /// The CRM's expectation and Microsoft's answer disagree: the campaign
    /// would sell on a wrong belief.
    Mismatch,
    /// Microsoft denied a qualification.
    Denied,
    /// A review open longer than `--stale-after` days.
    StaleReview,
    /// The lookup did not end `ok`: Microsoft's answer is not known.
    FailedLookup,
    /// An input row whose id is not a GUID (never looked up).
    InvalidId,
}

impl Issue {
    /// 1 = act first.
    pub fn priority(self) -> u8 {
        self as u8 + 1
    }

    /// Whether the item is about one qualification entry (denied, stale)
    /// rather than the customer as a whole.
    pub fn is_per_entry(self) -> bool {
        matches!(self, Issue::Denied | Issue::StaleReview)
    }

    /// The `issue` column.
    pub fn label(self) -> &'static str {
        match self {
            Issue::Mismatch => "CRM disagrees",
            Issue::Denied => "denied",
            Issue::StaleReview => "in review too long",
            Issue::FailedLookup => "lookup failed",
            Issue::InvalidId => "invalid id",
        }
    }
}

/// One row of "Needs attention": what the sheet shows of the report row
/// it is about (for a customer-wide issue, the customer's first row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What kind of thing it is (its priority).
    pub issue: Issue,
    /// As in the report row.
    pub customer_tenant_id: String,
    /// As in the report row.
    pub input_line: u64,
    /// The qualification entry, for an item about one ([`Issue::is_per_entry`]).
    pub entry: Option<ItemEntry>,
    /// The input's other columns, as in the report row.
    pub extra: Vec<String>,
    /// What to do, in plain words, with the reason or error.
    pub action: Arc<str>,
}

/// The qualification entry an item is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemEntry {
    pub(crate) qualification: Arc<str>,
    pub(crate) vetting_status: VettingStatus,
    pub(crate) vetting_created_date: Option<VettingDate>,
    pub(crate) days_in_review: Option<i64>,
}

/// The items found so far, customer by customer; `expect_column`: the
/// input column with the CRM's expectation, for the mismatch texts. A long
/// run can have tens of thousands, so each goes to a temp file as it is
/// found ([`spill`]); only what sorts them stays in memory.
#[derive(Debug)]
pub struct Items {
    stale_cutoff: DateTime<Utc>,
    expect_column: Option<usize>,
    keys: Vec<Key>,
    spill: BufWriter<File>,
    /// Bytes written to `spill`.
    written: u64,
}

/// What sorts an item, and where it is in the temp file.
#[derive(Debug)]
struct Key {
    issue: Issue,
    id: SortId,
    offset: u64,
    /// Its bytes in the file.
    len: u32,
}

/// A customer id as the list sorts it: as text. A canonical GUID (every
/// id but an invalid input row's) is kept as its 16 bytes, which sort as
/// its lower-case text does.
#[derive(Debug, PartialEq, Eq)]
enum SortId {
    Guid([u8; 16]),
    Raw(Box<str>),
}

impl SortId {
    fn new(id: &str) -> SortId {
        match uuid::Uuid::try_parse(id) {
            Ok(guid) if guid.to_string() == id => SortId::Guid(*guid.as_bytes()),
            _ => SortId::Raw(id.into()),
        }
    }

    fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            SortId::Guid(bytes) => uuid::Uuid::from_bytes(*bytes).to_string().into(),
            SortId::Raw(text) => (&**text).into(),
        }
    }
}

impl Ord for SortId {
    fn cmp(&self, other: &SortId) -> Ordering {
        match (self, other) {
            (SortId::Guid(a), SortId::Guid(b)) => a.cmp(b),
            _ => self.text().cmp(&other.text()),
        }
    }
}

impl PartialOrd for SortId {
    fn partial_cmp(&self, other: &SortId) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Items {
    /// Reviews vetted before `stale_cutoff` are stale.
    pub fn new(stale_cutoff: DateTime<Utc>, expect_column: Option<usize>) -> io::Result<Items> {
        Ok(Items {
            stale_cutoff,
            expect_column,
            keys: Vec::new(),
            spill: BufWriter::new(tempfile::tempfile()?),
            written: 0,
        })
    }

    fn push(&mut self, issue: Issue, row: &ReportRow, action: &str) -> io::Result<()> {
        let item = Item {
            issue,
            customer_tenant_id: row.customer_tenant_id.clone(),
            input_line: row.input_line,
            entry: issue.is_per_entry().then(|| ItemEntry {
                qualification: row.qualification.as_str().into(),
                vetting_status: row.vetting_status.clone(),
                vetting_created_date: row.vetting_created_date.clone(),
                days_in_review: row.days_in_review,
            }),
            extra: row.extra.clone(),
            action: action.into(),
        };
        let mut bytes = Vec::with_capacity(256);
        spill::put(&mut bytes, &item);
        self.spill.write_all(&bytes)?;
        self.keys.push(Key {
            issue,
            id: SortId::new(&row.customer_tenant_id),
            offset: self.written,
            len: u32::try_from(bytes.len())
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?,
        });
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// The items of one customer (its rows, or one invalid input row).
    pub fn add_customer(&mut self, customer: &[ReportRow]) -> io::Result<()> {
        let Some(first) = customer.first() else {
            return Ok(());
        };
        match first.lookup_status {
            LookupStatus::InvalidInput => self.push(
                Issue::InvalidId,
                first,
                &format!("fix the customer id in the input: {}", first.error),
            )?,
            LookupStatus::Ok => {}
            status => self.push(
                Issue::FailedLookup,
                first,
                &failed_action(status, &first.error),
            )?,
        }
        if let Some(r) = first.reconciliation.filter(|r| r.is_mismatch()) {
            let expected = self
                .expect_column
                .and_then(|c| first.extra.get(c))
                .map_or("", |e| e.trim());
            let action = mismatch_action(r, expected, customer);
            self.push(Issue::Mismatch, first, &action)?;
        }
        for row in customer
            .iter()
            .filter(|r| r.lookup_status == LookupStatus::Ok)
        {
            if row.vetting_status == VettingStatus::Denied {
                let reason = if row.vetting_reason.is_empty() {
                    "no reason given"
                } else {
                    &row.vetting_reason
                };
                let action = format!(
                    "{reason}: resubmit the verification or stop offering {}",
                    pricing(&row.qualification)
                );
                self.push(Issue::Denied, row, &action)?;
            } else if is_stale(row, self.stale_cutoff) {
                let action = format!(
                    "open a support request with Microsoft; in review {} days",
                    row.days_in_review.unwrap_or_default()
                );
                self.push(Issue::StaleReview, row, &action)?;
            }
        }
        Ok(())
    }

    /// Every item, sorted by urgency, then customer id (then report
    /// order), to be read back from the temp file.
    pub fn finish(mut self) -> io::Result<Sorted> {
        self.keys
            .sort_by(|a, b| (a.issue, &a.id).cmp(&(b.issue, &b.id)));
        let file = self.spill.into_inner().map_err(|e| e.into_error())?;
        Ok(Sorted {
            keys: self.keys,
            file,
            buffer: Vec::new(),
        })
    }
}

/// The items in their order, read from the temp file one at a time.
#[derive(Debug)]
pub struct Sorted {
    keys: Vec<Key>,
    file: File,
    /// The item being read.
    buffer: Vec<u8>,
}

impl Sorted {
    /// How many there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Each item in order (again from the first on every call).
    pub fn iter(&mut self) -> impl Iterator<Item = io::Result<Item>> + '_ {
        let Sorted { keys, file, buffer } = self;
        keys.iter().map(move |k| {
            // One positioned read of exactly the item: a buffered reader
            // would refill 8 KB after every seek.
            buffer.resize(k.len as usize, 0);
            file.read_exact_at(buffer, k.offset)?;
            spill::get(&mut buffer.as_slice())
        })
    }
}

/// How an item is written to the temp file and read back: its fields in
/// order, numbers little-endian, text as a length and UTF-8 bytes.
mod spill {
    use super::*;

    pub(super) fn put(out: &mut Vec<u8>, item: &Item) {
        out.push(item.issue as u8);
        out.extend_from_slice(&item.input_line.to_le_bytes());
        put_str(out, &item.customer_tenant_id);
        match &item.entry {
            None => out.push(0),
            Some(e) => {
                out.push(1);
                put_str(out, &e.qualification);
                put_str(out, e.vetting_status.as_str());
                match &e.vetting_created_date {
                    None => out.push(0),
                    Some(VettingDate::Parsed {
                        at,
                        fraction_digits,
                    }) => {
                        out.push(1);
                        out.extend_from_slice(&at.timestamp().to_le_bytes());
                        out.extend_from_slice(&at.timestamp_subsec_nanos().to_le_bytes());
                        out.push(*fraction_digits);
                    }
                    Some(VettingDate::Raw(text)) => {
                        out.push(2);
                        put_str(out, text);
                    }
                }
                match e.days_in_review {
                    None => out.push(0),
                    Some(days) => {
                        out.push(1);
                        out.extend_from_slice(&days.to_le_bytes());
                    }
                }
            }
        }
        out.extend_from_slice(&(item.extra.len() as u64).to_le_bytes());
        for cell in &item.extra {
            put_str(out, cell);
        }
        put_str(out, &item.action);
    }

    fn put_str(out: &mut Vec<u8>, text: &str) {
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }

    pub(super) fn get(r: &mut impl Read) -> io::Result<Item> {
        let issue = match byte(r)? {
            0 => Issue::Mismatch,
            1 => Issue::Denied,
            2 => Issue::StaleReview,
            3 => Issue::FailedLookup,
            _ => Issue::InvalidId,
        };
        let input_line = u64::from_le_bytes(array(r)?);
        let customer_tenant_id = get_str(r)?;
        let entry = match byte(r)? {
            0 => None,
            _ => Some(ItemEntry {
                qualification: get_str(r)?.into(),
                vetting_status: VettingStatus::from_report(&get_str(r)?),
                vetting_created_date: match byte(r)? {
                    0 => None,
                    1 => {
                        let secs = i64::from_le_bytes(array(r)?);
                        let nanos = u32::from_le_bytes(array(r)?);
                        let at = DateTime::from_timestamp(secs, nanos).ok_or_else(|| {
                            io::Error::new(io::ErrorKind::InvalidData, "a date out of range")
                        })?;
                        Some(VettingDate::Parsed {
                            at,
                            fraction_digits: byte(r)?,
                        })
                    }
                    _ => Some(VettingDate::Raw(get_str(r)?)),
                },
                days_in_review: match byte(r)? {
                    0 => None,
                    _ => Some(i64::from_le_bytes(array(r)?)),
                },
            }),
        };
        let cells = u64::from_le_bytes(array(r)?);
        let extra = (0..cells).map(|_| get_str(r)).collect::<io::Result<_>>()?;
        let action = get_str(r)?.into();
        Ok(Item {
            issue,
            customer_tenant_id,
            input_line,
            entry,
            extra,
            action,
        })
    }

    fn byte(r: &mut impl Read) -> io::Result<u8> {
        Ok(array::<1>(r)?[0])
    }

    fn array<const N: usize>(r: &mut impl Read) -> io::Result<[u8; N]> {
        let mut bytes = [0; N];
        r.read_exact(&mut bytes)?;
        Ok(bytes)
    }

    fn get_str(r: &mut impl Read) -> io::Result<String> {
        let len = usize::try_from(u64::from_le_bytes(array(r)?))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        let mut bytes = vec![0; len];
        r.read_exact(&mut bytes)?;
        String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }
}

#[cfg(test)]
/// Every item of `rows`, sorted by urgency, then customer id (then report
/// order). `expect_column`: the input column with the CRM's expectation,
/// for the mismatch texts.
pub fn build(
    rows: &[ReportRow],
    stale_cutoff: DateTime<Utc>,
    expect_column: Option<usize>,
) -> Vec<Item> {
    let mut items = Items::new(stale_cutoff, expect_column).expect("a temp file");
    for span in super::row::customer_spans(rows) {
        items
            .add_customer(&rows[span])
            .expect("writing a temp file");
    }
    let mut sorted = items.finish().expect("reading a temp file");
    sorted
        .iter()
        .collect::<io::Result<_>>()
        .expect("reading a temp file")
}

/// What a campaign would sell on the strength of `qualification`.
fn pricing(qualification: &str) -> String {
    match qualification {
        "Education" => "education pricing".to_string(),
        "Nonprofit" => "nonprofit pricing".to_string(),
        other => format!("{other} offers"),
    }
}

fn failed_action(status: LookupStatus, error: &str) -> String {
    match status {
        // Final answers: --resume does not ask again, and asking again
        // would get the same answer.
        LookupStatus::NotFound | LookupStatus::Forbidden => format!(
            "{error}; fix it in your records or in Partner Center, then run again (without --resume)"
        ),
        _ => format!("{error}; run again with --resume"),
    }
}

/// Microsoft's side of a mismatch: the entries of the expected
/// qualification, or all of them.
fn microsoft_says(customer: &[ReportRow], only: Option<&str>) -> String {
    let entries: Vec<String> = customer
        .iter()
        .filter(|r| !r.qualification.is_empty())
        .filter(|r| only.is_none_or(|q| r.qualification.to_lowercase() == q.to_lowercase()))
        .map(|r| {
            let mut text = format!(
                "{} {}",
                r.qualification,
                match &r.vetting_status {
                    VettingStatus::Absent => "(no status)",
                    status => status.as_str(),
                }
            );
            if !r.vetting_reason.is_empty() {
                text.push_str(&format!(" ({})", r.vetting_reason));
            }
            if let Some(days) = r.days_in_review {
                text.push_str(&format!(" for {days} days"));
            }
            text
        })
        .collect();
    match (entries.is_empty(), only) {
        (false, _) => entries.join(", "),
        (true, Some(q)) => format!("no {q} qualification"),
        (true, None) => "no qualification".to_string(),
    }
}

fn mismatch_action(r: Reconciliation, expected: &str, customer: &[ReportRow]) -> String {
    match r {
        Reconciliation::NotApproved => format!(
            "CRM says {expected}, Microsoft says {}: do not offer {} until Microsoft approves it (resubmit the verification), or correct the CRM",
            microsoft_says(customer, Some(expected)),
            pricing(&canonical(expected, customer))
        ),
        Reconciliation::Pending => format!(
            "CRM says {expected}, Microsoft says {}: the review is still open; do not offer {} yet",
            microsoft_says(customer, Some(expected)),
            pricing(&canonical(expected, customer))
        ),
        Reconciliation::Unexpected => format!(
            "CRM says None, Microsoft says {}: update the CRM",
            microsoft_says(customer, None)
        ),
        _ => format!(
            "CRM says `{expected}`, which is not a qualification name; Microsoft says {}: correct the CRM value",
            microsoft_says(customer, None)
        ),
    }
}

/// The expected name as Microsoft spells it (the CRM may say `education`).
fn canonical(expected: &str, customer: &[ReportRow]) -> String {
    super::reconcile::KNOWN_QUALIFICATIONS
        .iter()
        .copied()
        .chain(customer.iter().map(|r| r.qualification.as_str()))
        .find(|q| q.to_lowercase() == expected.to_lowercase())
        .unwrap_or(expected)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_comes_back_from_the_temp_file_as_it_went_in() {
        let items = [
            Item {
                issue: Issue::StaleReview,
                customer_tenant_id: "97ca2b55-839e-4579-98d4-39599a228c98".into(),
                input_line: 7,
                entry: Some(ItemEntry {
                    qualification: "Education".into(),
                    vetting_status: VettingStatus::Other("UnderAppeal".into()),
                    vetting_created_date: Some(VettingDate::parse("2020-12-03T10:37:38.885Z")),
                    days_in_review: Some(-3),
                }),
                extra: vec!["Åre skola".into(), String::new()],
                action: "open a support request".into(),
            },
            Item {
                issue: Issue::InvalidId,
                customer_tenant_id: "not a guid".into(),
                input_line: 9,
                entry: Some(ItemEntry {
                    qualification: "".into(),
                    vetting_status: VettingStatus::Absent,
                    vetting_created_date: Some(VettingDate::Raw("soon".into())),
                    days_in_review: None,
                }),
                extra: Vec::new(),
                action: "fix it".into(),
            },
        ];
        for item in &items {
            let mut bytes = Vec::new();
            spill::put(&mut bytes, item);
            assert_eq!(&spill::get(&mut bytes.as_slice()).unwrap(), item);
        }
    }

    #[test]
    fn ids_sort_as_their_text() {
        let ids = [
            "00000000-0000-0000-0000-00000000000a",
            "97ca2b55-839e-4579-98d4-39599a228c98",
            "97CA2B55-839E-4579-98D4-39599A228C98",
            "a0000000-0000-0000-0000-000000000000",
            "f",
            " 97ca2b55",
        ];
        let mut by_key: Vec<&str> = ids.to_vec();
        by_key.sort_by(|a, b| SortId::new(a).cmp(&SortId::new(b)));
        let mut by_text = ids.to_vec();
        by_text.sort();
        assert_eq!(by_key, by_text);
        assert!(matches!(SortId::new(ids[1]), SortId::Guid(_)));
        assert!(matches!(SortId::new(ids[2]), SortId::Raw(_)));
    }

    fn row(id: u128, line: u64, q: &str, status: &str, lookup: LookupStatus) -> ReportRow {
        ReportRow {
            error: if lookup == LookupStatus::Ok {
                String::new()
            } else {
                format!("error of {id}")
            },
            extra: vec!["Education".into()],
            ..crate::report::row::test_row(id, line, q, status, lookup)
        }
    }

    fn in_review(id: u128, line: u64, date: &str, days: i64) -> ReportRow {
        ReportRow {
            vetting_created_date: Some(VettingDate::parse(date)),
            days_in_review: Some(days),
            ..row(id, line, "Education", "InReview", LookupStatus::Ok)
        }
    }

    #[test]
    fn every_kind_is_listed_by_urgency_then_customer() {
        use LookupStatus::*;
        let cutoff: DateTime<Utc> = "2026-06-01T00:00:00Z".parse().unwrap();
        let mut denied = row(9, 2, "Education", "Denied", Ok);
        denied.vetting_reason = "Not an Academic Domain".into();
        let mut mismatch = denied.clone();
        mismatch.reconciliation = Some(Reconciliation::NotApproved);
        let mut pending = in_review(4, 5, "2026-06-20T00:00:00Z", 10);
        pending.reconciliation = Some(Reconciliation::Pending);
        let rows = vec![
            mismatch,
            row(8, 3, "", "", NotFound),
            in_review(7, 4, "2026-01-01T00:00:00Z", 200),
            pending,
            row(1, 6, "", "", Failed),
            row(2, 7, "", "", InvalidInput),
            row(3, 8, "Education", "Approved", Ok),
            in_review(5, 9, "2026-06-01T00:00:00Z", 30),
            row(6, 10, "", "", Ok),
        ];
        let items = build(&rows, cutoff, Some(0));
        let got: Vec<(u8, &str, u64)> = items
            .iter()
            .map(|i| (i.issue.priority(), i.issue.label(), i.input_line))
            .collect();
        assert_eq!(
            got,
            [
                (1, "CRM disagrees", 5),
                (1, "CRM disagrees", 2),
                (2, "denied", 2),
                (3, "in review too long", 4),
                (4, "lookup failed", 6),
                (4, "lookup failed", 3),
                (5, "invalid id", 7),
            ]
        );
        let action = |line: u64, issue: Issue| {
            items
                .iter()
                .find(|i| i.input_line == line && i.issue == issue)
                .unwrap()
                .action
                .as_ref()
        };
        assert_eq!(
            action(2, Issue::Denied),
            "Not an Academic Domain: resubmit the verification or stop offering education pricing"
        );
        assert_eq!(
            action(4, Issue::StaleReview),
            "open a support request with Microsoft; in review 200 days"
        );
        assert_eq!(
            action(6, Issue::FailedLookup),
            format!("error of 1; run again with --resume")
        );
        assert!(action(3, Issue::FailedLookup).contains("without --resume"));
        assert!(
            action(2, Issue::Mismatch).starts_with(
                "CRM says Education, Microsoft says Education Denied (Not an Academic Domain)"
            ),
            "{}",
            action(2, Issue::Mismatch)
        );
        assert!(action(5, Issue::Mismatch).contains("Education InReview for 10 days"));
    }

    #[test]
    fn mismatch_texts_name_both_sides() {
        let mut approved = row(1, 2, "Education", "Approved", LookupStatus::Ok);
        approved.extra = vec!["none".into()];
        approved.reconciliation = Some(Reconciliation::Unexpected);
        let mut nothing = row(2, 3, "", "", LookupStatus::Ok);
        nothing.extra = vec!["nonprofit".into()];
        nothing.reconciliation = Some(Reconciliation::NotApproved);
        let mut typo = row(3, 4, "", "", LookupStatus::Ok);
        typo.extra = vec!["Educaton".into()];
        typo.reconciliation = Some(Reconciliation::UnknownExpectation);
        let rows = [approved, nothing, typo];
        let items = build(&rows, Utc::now(), Some(0));
        let actions: Vec<&str> = items.iter().map(|i| &*i.action).collect();
        assert_eq!(
            actions,
            [
                "CRM says None, Microsoft says Education Approved: update the CRM",
                "CRM says nonprofit, Microsoft says no nonprofit qualification: do not offer nonprofit pricing until Microsoft approves it (resubmit the verification), or correct the CRM",
                "CRM says `Educaton`, which is not a qualification name; Microsoft says no qualification: correct the CRM value",
            ]
        );
    }
}
