//! `qualifications.csv`: RFC 4180, UTF-8 (optionally with a BOM), and safe
//! to open in a spreadsheet.

use std::io::Write;

use super::row::{Cell, ReportRow, column_names};
use super::sink::{FILE_BUFFER, RowSink};
use crate::model::UTF8_BOM;

/// First characters that make a spreadsheet read a cell as a formula, and
/// TAB and CR, which some importers strip before looking.
pub const FORMULA_TRIGGERS: [u8; 6] = *b"=+-@\t\r";

/// OWASP CSV-injection defence: a text cell that starts with one of the
/// [`FORMULA_TRIGGERS`] gets a leading `'`. Everything else is kept exactly.
/// Idempotent, because the result starts with `'`, which is not a trigger.
pub fn neutralise(cell: &str) -> std::borrow::Cow<'_, str> {
    match cell.as_bytes().first() {
        Some(b) if FORMULA_TRIGGERS.contains(b) => format!("'{cell}").into(),
        _ => cell.into(),
    }
}

/// A CSV writer with the report's conventions (`qualifications.csv`,
/// `changes.csv`): RFC 4180 quoting, CRLF line ends, and a UTF-8 BOM first
/// when `bom` (`--csv-bom`).
pub fn writer<W: Write>(mut out: W, bom: bool) -> std::io::Result<csv::Writer<W>> {
    if bom {
        out.write_all(UTF8_BOM)?;
    }
    Ok(csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .buffer_capacity(FILE_BUFFER)
        .from_writer(out))
}

/// Write one record of typed cells, each as [`text_of`].
pub fn write_cells<W: Write>(w: &mut csv::Writer<W>, cells: &[Cell<'_>]) -> csv::Result<()> {
    for cell in cells {
        w.write_field(text_of(*cell).as_bytes())?;
    }
    w.write_record(None::<&[u8]>)
}

/// `qualifications.csv` being written: the header first, then rows as
/// they come; `reconciliation`: the input has an expectation column.
pub struct CsvRows<W: Write> {
    w: csv::Writer<W>,
    reconciliation: bool,
}

impl<W: Write> CsvRows<W> {
    /// Start the file in `out`: the BOM if asked for, then the header.
    pub fn new(
        out: W,
        extra_headers: &[String],
        reconciliation: bool,
        bom: bool,
    ) -> csv::Result<CsvRows<W>> {
        let mut w = writer(out, bom)?;
        let header = column_names(extra_headers, reconciliation);
        w.write_record(header.iter().map(|h| neutralise(h).into_owned()))?;
        Ok(CsvRows { w, reconciliation })
    }
}

impl<W: Write> RowSink for CsvRows<W> {
    type Row = ReportRow;
    type Out = W;

    fn row(&mut self, r: &ReportRow) -> anyhow::Result<()> {
        Ok(write_cells(&mut self.w, &r.cells(self.reconciliation))?)
    }

    fn finish(self) -> anyhow::Result<W> {
        self.w.into_inner().map_err(|e| e.into_error().into())
    }
}

/// The whole file as bytes; `reconciliation`: the input has an
/// expectation column.
pub fn render(
    rows: &[ReportRow],
    extra_headers: &[String],
    reconciliation: bool,
    bom: bool,
) -> Vec<u8> {
    let out = Vec::with_capacity(rows.len() * 128 + 256);
    let mut csv = CsvRows::new(out, extra_headers, reconciliation, bom).expect("writing to memory");
    for r in rows {
        csv.row(r).expect("writing to memory");
    }
    csv.finish().expect("flushing to memory")
}

/// A cell as CSV text: numbers in decimal, dates as RFC 3339, text
/// neutralised, absent empty.
pub fn text_of(cell: Cell<'_>) -> std::borrow::Cow<'_, str> {
    match cell {
        Cell::Text(t) => neutralise(t),
        Cell::Status(s) => neutralise(s.as_str()),
        // A date the API wrote as something else is kept verbatim, so it
        // may start with a trigger too.
        Cell::Date(d) => d.map_or("".into(), |d| {
            neutralise(&d.to_report_string()).into_owned().into()
        }),
        Cell::Number(n) => n.map(|n| n.to_string()).unwrap_or_default().into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LookupStatus, VettingDate, VettingStatus};
    use proptest::prelude::*;

    #[test]
    fn triggers_are_prefixed_and_everything_else_is_exact() {
        assert_eq!(neutralise("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise("+46 8 123"), "'+46 8 123");
        assert_eq!(neutralise("-5%"), "'-5%");
        assert_eq!(neutralise("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(neutralise("\tx"), "'\tx");
        assert_eq!(neutralise("\rx"), "'\rx");
        assert_eq!(
            neutralise("Skolverket, \"Göteborg\"\nrad 2"),
            "Skolverket, \"Göteborg\"\nrad 2"
        );
        assert_eq!(neutralise(""), "");
        assert_eq!(neutralise("'=already"), "'=already");
    }

    fn row(error: &str, extra: Vec<String>) -> ReportRow {
        ReportRow {
            customer_tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            input_line: 2,
            qualification: "Education".into(),
            vetting_status: VettingStatus::Denied,
            vetting_reason: "Not an Education Customer".into(),
            vetting_created_date: Some(VettingDate::parse("2020-12-03T10:37:38.885Z")),
            days_in_review: None,
            lookup_status: LookupStatus::Ok,
            error: error.into(),
            extra,
            reconciliation: None,
        }
    }

    #[test]
    fn output_has_the_fixed_columns_crlf_and_optional_bom() {
        let bytes = render(
            &[row("", vec!["Åre skola".into()])],
            &["Kundnamn".into()],
            false,
            true,
        );
        assert!(bytes.starts_with(b"\xEF\xBB\xBFcustomer_tenant_id,input_line,qualification,vetting_status,vetting_reason,vetting_created_date,days_in_review,lookup_status,error,Kundnamn\r\n"));
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with(",ok,,Åre skola\r\n"), "{text}");
    }

    #[test]
    fn reconciliation_follows_error_when_the_input_has_expectations() {
        let mut r = row("", vec!["Education".into()]);
        r.reconciliation = Some(crate::report::row::Reconciliation::Match);
        let text = String::from_utf8(render(&[r], &["Expected".into()], true, false)).unwrap();
        assert!(
            text.starts_with("customer_tenant_id,input_line,qualification,vetting_status,vetting_reason,vetting_created_date,days_in_review,lookup_status,error,reconciliation,Expected\r\n"),
            "{text}"
        );
        assert!(text.ends_with(",ok,,match,Education\r\n"), "{text}");
    }

    proptest! {
        #[test]
        fn neutralise_is_idempotent_and_never_leaves_a_trigger_first(s in ".*") {
            let once = neutralise(&s).into_owned();
            prop_assert_eq!(neutralise(&once).into_owned(), once.clone());
            let first = once.as_bytes().first().copied();
            prop_assert!(!matches!(first, Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')));
            // Nothing but the prefix is ever added.
            let prefixed = format!("'{}", s);
            prop_assert!(once == s || once == prefixed);
        }

        #[test]
        fn every_cell_survives_the_csv_round_trip(
            error in "[^\u{0}]{0,40}",
            extra in proptest::collection::vec("[^\u{0}]{0,30}", 0..4),
        ) {
            let headers: Vec<String> = (0..extra.len()).map(|i| format!("c{i}")).collect();
            let bytes = render(&[row(&error, extra.clone())], &headers, false, false);
            let mut r = ::csv::ReaderBuilder::new().from_reader(bytes.as_slice());
            let rec = r.records().next().unwrap().unwrap();
            prop_assert_eq!(rec.len(), 9 + extra.len());
            let want = neutralise(&error).into_owned();
            prop_assert_eq!(&rec[8], want.as_str());
            for (i, cell) in extra.iter().enumerate() {
                let want = neutralise(cell).into_owned();
                prop_assert_eq!(&rec[9 + i], want.as_str());
            }
        }
    }
}
