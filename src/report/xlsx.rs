//! `qualifications.xlsx`: the rows of `qualifications.csv` on a sheet
//! "Qualifications" (typed cells: numbers, real datetimes) and the key
//! counts of `summary.json` on a sheet "Summary". Built in memory; the
//! caller writes the bytes atomically.
//!
//! xlsx string cells are never evaluated, so no `'` prefix here (that is a
//! CSV concern). Excel's cell limit of 32,767 characters is met by
//! truncating with a visible marker instead of failing the run.

use anyhow::Context;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use super::summary::Summary;
use super::{Cell, ReportRow};
use crate::model::VettingDate;

/// Sheet names.
pub const ROWS_SHEET: &str = "Qualifications";
pub const SUMMARY_SHEET: &str = "Summary";

/// Excel's limits.
const MAX_CELL_UTF16: usize = 32_767;
const MAX_ROWS: usize = 1_048_576;

const DATETIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// `text`, cut to fit one Excel cell (counted in UTF-16 units, as Excel
/// does), ending in a marker that says how long it was.
pub fn fit_cell(text: &str) -> std::borrow::Cow<'_, str> {
    let len: usize = text.encode_utf16().count();
    if len <= MAX_CELL_UTF16 {
        return text.into();
    }
    let marker = format!(" … [truncated by qualrecon: {len} UTF-16 characters in all]");
    let budget = MAX_CELL_UTF16 - marker.encode_utf16().count();
    let mut used = 0;
    let mut out = String::with_capacity(budget + marker.len());
    for c in text.chars() {
        used += c.len_utf16();
        if used > budget {
            break;
        }
        out.push(c);
    }
    out.push_str(&marker);
    out.into()
}

/// Cell formats shared by both sheets.
struct CellFormats {
    bold: Format,
    datetime: Format,
}

fn write_text(ws: &mut Worksheet, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
    if !text.is_empty() {
        ws.write_string(row, col, fit_cell(text))?;
    }
    Ok(())
}

/// A date the report prints as RFC 3339 becomes a real datetime (UTC) when
/// it parses and Excel can hold it; otherwise it stays text.
fn write_date(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    f: &CellFormats,
) -> Result<(), XlsxError> {
    if let VettingDate::Parsed { at, .. } = VettingDate::parse(text) {
        let naive = at.naive_utc();
        if (1900..=9999).contains(&chrono::Datelike::year(&naive)) {
            ws.write_datetime_with_format(row, col, naive, &f.datetime)?;
            return Ok(());
        }
    }
    write_text(ws, row, col, text)
}

fn rows_sheet(
    ws: &mut Worksheet,
    rows: &[ReportRow],
    extra_headers: &[String],
    reconciliation: bool,
    f: &CellFormats,
) -> Result<(), XlsxError> {
    ws.set_name(ROWS_SHEET)?;
    let headers = super::column_names(extra_headers, reconciliation);
    for (col, h) in (0u16..).zip(&headers) {
        ws.write_string_with_format(0, col, fit_cell(h), &f.bold)?;
    }
    for (row, r) in (1u32..).zip(rows) {
        for (col, cell) in (0u16..).zip(r.cells(reconciliation)) {
            match cell {
                Cell::Text(t) | Cell::Status(t) => write_text(ws, row, col, t)?,
                Cell::Date(t) => write_date(ws, row, col, t, f)?,
                Cell::Number(Some(n)) => {
                    ws.write_number(row, col, n as f64)?;
                }
                Cell::Number(None) => {}
            }
        }
    }
    let last_col = (headers.len() - 1) as u16;
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, rows.len() as u32, last_col)?;
    let widths = [38.0, 10.0, 20.0, 14.0, 40.0, 20.0, 14.0, 14.0, 60.0];
    for (col, w) in (0u16..).zip(widths) {
        ws.set_column_width(col, w)?;
    }
    for col in 9..=last_col {
        ws.set_column_width(col, 20)?;
    }
    Ok(())
}

/// Writes label/value lines down two or more columns.
struct Lines<'a> {
    ws: &'a mut Worksheet,
    row: u32,
    f: &'a CellFormats,
}

impl Lines<'_> {
    fn heading(&mut self, cells: &[&str]) -> Result<(), XlsxError> {
        for (col, c) in (0u16..).zip(cells) {
            self.ws
                .write_string_with_format(self.row, col, fit_cell(c), &self.f.bold)?;
        }
        self.row += 1;
        Ok(())
    }

    fn count(&mut self, label: &str, n: u64) -> Result<(), XlsxError> {
        write_text(self.ws, self.row, 0, label)?;
        self.ws.write_number(self.row, 1, n as f64)?;
        self.row += 1;
        Ok(())
    }

    fn text(&mut self, label: &str, value: &str) -> Result<(), XlsxError> {
        write_text(self.ws, self.row, 0, label)?;
        write_text(self.ws, self.row, 1, value)?;
        self.row += 1;
        Ok(())
    }

    fn date(&mut self, label: &str, value: Option<&str>) -> Result<(), XlsxError> {
        write_text(self.ws, self.row, 0, label)?;
        if let Some(v) = value {
            write_date(self.ws, self.row, 1, v, self.f)?;
        }
        self.row += 1;
        Ok(())
    }

    fn gap(&mut self) {
        self.row += 1;
    }
}

fn summary_sheet(ws: &mut Worksheet, s: &Summary, f: &CellFormats) -> Result<(), XlsxError> {
    ws.set_name(SUMMARY_SHEET)?;
    ws.set_column_width(0, 44)?;
    ws.set_column_width(1, 22)?;
    for col in 2..8 {
        ws.set_column_width(col, 12)?;
    }
    let mut l = Lines { ws, row: 0, f };
    l.heading(&["Run", ""])?;
    l.text("run id", &s.run.id.to_string())?;
    l.text("status", s.run.status)?;
    l.date("started (UTC)", Some(&s.run.started_at))?;
    l.date("finished (UTC)", Some(&s.run.finished_at))?;
    l.text("input file", &s.input.path)?;
    l.gap();

    l.heading(&["Customers", ""])?;
    l.count("customers (distinct valid ids)", s.input.customers)?;
    l.count("looked up ok", s.lookups.ok)?;
    l.count("failed lookups", s.lookups.failed_lookups)?;
    for (status, n) in &s.lookups.by_status {
        l.count(&format!("  failed: {status}"), *n)?;
    }
    l.count("invalid input rows", s.input.invalid_input_rows)?;
    l.count("duplicate rows", s.input.duplicate_rows)?;
    l.count(
        "customers without qualification",
        s.customers_without_qualification,
    )?;
    l.gap();

    let others: std::collections::BTreeSet<&str> = s
        .qualifications
        .values()
        .flat_map(|c| c.other.keys().map(String::as_str))
        .collect();
    let mut head = vec![
        "Qualification (customers)",
        "Approved",
        "InReview",
        "Denied",
    ];
    head.extend(
        others
            .iter()
            .map(|o| if o.is_empty() { "(no status)" } else { o }),
    );
    l.heading(&head)?;
    for (q, c) in &s.qualifications {
        write_text(l.ws, l.row, 0, q)?;
        let mut counts = vec![c.approved, c.in_review, c.denied];
        counts.extend(others.iter().map(|o| c.other.get(*o).copied().unwrap_or(0)));
        for (col, n) in (1u16..).zip(counts) {
            l.ws.write_number(l.row, col, n as f64)?;
        }
        l.row += 1;
    }
    l.gap();

    l.heading(&["Denial reason", "Denied entries"])?;
    for (reason, n) in &s.denial_reasons {
        l.count(
            if reason.is_empty() {
                "(no reason)"
            } else {
                reason
            },
            *n,
        )?;
    }
    l.gap();

    l.heading(&["In review", ""])?;
    l.count("in-review entries", s.in_review.count)?;
    l.date("oldest vetting date (UTC)", s.in_review.oldest.as_deref())?;
    l.date("newest vetting date (UTC)", s.in_review.newest.as_deref())?;
    l.count(
        &format!("older than {} days", s.in_review.stale_after_days),
        s.in_review.stale,
    )?;

    if let Some(counts) = &s.reconciliation {
        l.gap();
        l.heading(&["Reconciliation (customers)", ""])?;
        for (label, n) in counts {
            l.count(label, *n)?;
        }
    }

    if let Some(c) = &s.changes {
        l.gap();
        l.heading(&["Changes since the previous run", "rows"])?;
        l.text("previous run folder", &c.previous_run.path)?;
        l.text(
            "previous run id",
            c.previous_run.id.as_deref().unwrap_or(""),
        )?;
        for (kind, n) in &c.by_kind {
            l.count(kind, *n)?;
        }
        l.count("total", c.total)?;
    }
    Ok(())
}

/// The whole workbook as bytes.
pub fn render(
    rows: &[ReportRow],
    extra_headers: &[String],
    summary: &Summary,
) -> anyhow::Result<Vec<u8>> {
    if rows.len() >= MAX_ROWS {
        anyhow::bail!(
            "{} rows do not fit on one Excel sheet (at most {}); use --format csv",
            rows.len(),
            MAX_ROWS - 1
        );
    }
    let f = CellFormats {
        bold: Format::new().set_bold(),
        datetime: Format::new().set_num_format(DATETIME_FORMAT),
    };
    let mut wb = Workbook::new();
    let reconciliation = summary.reconciliation.is_some();
    rows_sheet(wb.add_worksheet(), rows, extra_headers, reconciliation, &f)
        .context("building the Qualifications sheet")?;
    summary_sheet(wb.add_worksheet(), summary, &f).context("building the Summary sheet")?;
    wb.save_to_buffer().context("assembling the workbook")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lookup::LookupStatus;
    use std::io::Read;

    fn row(reason: &str, date: &str) -> ReportRow {
        ReportRow {
            customer_tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            input_line: 2,
            qualification: "Education".into(),
            vetting_status: "InReview".into(),
            vetting_reason: reason.into(),
            vetting_created_date: date.into(),
            days_in_review: Some(12),
            lookup_status: LookupStatus::Ok,
            error: String::new(),
            extra: vec!["=not a formula".into()],
            reconciliation: None,
        }
    }

    fn summary(rows: &[ReportRow]) -> Summary {
        let input = crate::input::InputFile {
            delimiter: b',',
            has_header: true,
            id_header: "customer_tenant_id".into(),
            id_column: 0,
            extra_headers: vec!["name".into()],
            rows: vec![],
            blank_rows: 0,
            sha256: String::new(),
            encoding: "utf-8",
        };
        let now = chrono::Utc::now();
        let meta = super::super::summary::RunMeta {
            id: uuid::Uuid::nil(),
            status: "complete",
            started_at: now,
            finished_at: now,
            base_url: "http://127.0.0.1:1".into(),
            rate: 5.0,
            final_rate: 5.0,
            concurrency: 8,
            correlation_id: uuid::Uuid::nil(),
            limit: None,
            input_path: "in.csv".into(),
            stale_after_days: 30,
            requests: 1,
            retries: 0,
            throttled_responses: 0,
            resumed_from: None,
            resumed: None,
        };
        super::super::summary::build(&meta, &input, rows)
    }

    /// The uncompressed text of one part of the workbook.
    fn part(bytes: &[u8], name: &str) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut text = String::new();
        zip.by_name(name)
            .unwrap()
            .read_to_string(&mut text)
            .unwrap();
        text
    }

    #[test]
    fn workbook_is_a_zip_with_both_sheets_and_typed_cells() {
        let rows = [
            row("", "2020-12-03T10:37:38.885Z"),
            row("-5 apples", "not a date"),
        ];
        let bytes = render(&rows, &["name".into()], &summary(&rows)).unwrap();
        assert!(bytes.starts_with(b"PK\x03\x04"));
        let workbook = part(&bytes, "xl/workbook.xml");
        assert!(workbook.contains(r#"name="Qualifications""#), "{workbook}");
        assert!(workbook.contains(r#"name="Summary""#), "{workbook}");
        let sheet = part(&bytes, "xl/worksheets/sheet1.xml");
        assert!(sheet.contains("<autoFilter ref=\"A1:J3\""), "{sheet}");
        assert!(sheet.contains("<pane ySplit=\"1\""), "{sheet}");
        // input_line and days_in_review are numbers; the parsed date is a
        // serial number (44168.44…), the unparsed one a string.
        assert!(sheet.contains("<c r=\"B2\" s=\"") || sheet.contains("<c r=\"B2\"><v>2</v>"));
        assert!(sheet.contains("<v>12</v>"), "{sheet}");
        assert!(sheet.contains("<v>44168.44"), "{sheet}");
        let strings = part(&bytes, "xl/sharedStrings.xml");
        assert!(strings.contains("not a date"));
        // No CSV-style neutralisation in xlsx.
        assert!(strings.contains(">=not a formula<"), "{strings}");
        assert!(strings.contains(">-5 apples<"), "{strings}");
        let styles = part(&bytes, "xl/styles.xml");
        assert!(styles.contains("yyyy-mm-dd hh:mm:ss"), "{styles}");
    }

    #[test]
    fn an_oversized_cell_is_truncated_with_a_marker_not_an_error() {
        let long = "é".repeat(40_000);
        let fitted = fit_cell(&long);
        assert!(fitted.encode_utf16().count() <= MAX_CELL_UTF16);
        assert!(fitted.ends_with("[truncated by qualrecon: 40000 UTF-16 characters in all]"));
        assert_eq!(fit_cell("short"), "short");
        // Astral characters count twice and are never split.
        let emoji = "😀".repeat(20_000);
        let fitted = fit_cell(&emoji);
        assert!(fitted.encode_utf16().count() <= MAX_CELL_UTF16);
        let rows = [row(&long, "")];
        assert!(render(&rows, &["name".into()], &summary(&rows)).is_ok());
    }
}
