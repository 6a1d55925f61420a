//! `qualifications.xlsx`: the campaign view. Sheets, in order: `Summary`
//! (run facts, counts and a chart), `Needs attention` (what to act on, most
//! urgent first), `Customers` (every row of `qualifications.csv`, typed:
//! numbers, real datetimes, coloured statuses) and, with `--previous`,
//! `Changes` (the rows of `changes.csv`). Built in memory; the caller writes
//! the bytes atomically.
//!
//! xlsx string cells are never evaluated, so no `'` prefix here (that is a
//! CSV concern). Excel's cell limit of 32,767 characters is met by
//! truncating with a visible marker, and its sheet limits (rows, columns)
//! by leaving out what does not fit, with a note ([`Fit`]), instead of
//! failing the run: the CSV keeps everything.

mod summary_sheet;

use anyhow::Context;
use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Workbook, Worksheet, XlsxError};

use super::attention::{self, Item};
use super::changes::{self, Change};
use super::summary::Summary;
use super::{Cell, FIXED_COLUMNS, NO_STATUS, ReportRow};
use crate::model::{VettingDate, VettingStatus};

/// Sheet names, in workbook order.
pub const SUMMARY_SHEET: &str = "Summary";
pub const ATTENTION_SHEET: &str = "Needs attention";
pub const CUSTOMERS_SHEET: &str = "Customers";
pub const CHANGES_SHEET: &str = "Changes";

/// Excel's limits.
const MAX_CELL_UTF16: usize = 32_767;
pub const MAX_ROWS: usize = 1_048_576;
pub const MAX_COLUMNS: usize = 16_384;

/// How much of the report the Customers sheet holds: the first rows
/// and columns up to Excel's limits; the rest is left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fit {
    /// Report rows on the sheet (below its header).
    pub rows: usize,
    /// Input columns on the sheet (after the fixed ones).
    pub extra_columns: usize,
    /// Report rows left out (the last ones).
    pub rows_left_out: usize,
    /// Input columns left out (the last ones).
    pub columns_left_out: usize,
}

impl Fit {
    /// For a report of `rows` rows and `extra_columns` input columns, with
    /// or without the `reconciliation` column.
    pub fn of(rows: usize, extra_columns: usize, reconciliation: bool) -> Fit {
        let fixed = FIXED_COLUMNS.len() + usize::from(reconciliation);
        Fit::within(rows, extra_columns, MAX_ROWS, MAX_COLUMNS - fixed)
    }

    /// `room_columns`: how many input columns the sheet has room for.
    fn within(rows: usize, extra_columns: usize, max_rows: usize, room_columns: usize) -> Fit {
        let room_rows = max_rows - 1;
        Fit {
            rows: rows.min(room_rows),
            extra_columns: extra_columns.min(room_columns),
            rows_left_out: rows.saturating_sub(room_rows),
            columns_left_out: extra_columns.saturating_sub(room_columns),
        }
    }

    /// What is left out and why, for the warning and the Summary sheet;
    /// `None` when everything fits.
    pub fn note(&self) -> Option<String> {
        let last =
            |n: usize, what: &str| format!("the last {n} {what}{}", if n == 1 { "" } else { "s" });
        let mut parts = Vec::new();
        if self.rows_left_out > 0 {
            parts.push(last(self.rows_left_out, "row"));
        }
        if self.columns_left_out > 0 {
            parts.push(last(self.columns_left_out, "input column"));
        }
        if parts.is_empty() {
            return None;
        }
        Some(format!(
            "{} of the report are left out of qualifications.xlsx: an Excel sheet holds at most {MAX_ROWS} rows and {MAX_COLUMNS} columns; qualifications.csv (--format csv) keeps every row and column",
            parts.join(" and ")
        ))
    }
}

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

/// Cell formats shared by the sheets.
struct CellFormats {
    bold: Format,
    /// A table's header row.
    header: Format,
    /// A table's header over a column of numbers or dates.
    header_right: Format,
    /// A section title on the Summary sheet.
    heading: Format,
    /// The Summary sheet's title.
    title: Format,
    datetime: Format,
    /// Long text in a column that wraps instead of running on.
    wrap: Format,
    /// For cells without a format of their own, when the sheet needs one
    /// (top alignment in rows that grow with wrapped text).
    plain: Option<Format>,
    approved: Format,
    in_review: Format,
    denied: Format,
}

/// Status colours (cell fill, text): Excel's own Good / Neutral / Bad cell
/// styles.
const APPROVED: (u32, u32) = (0xC6EFCE, 0x006100);
const IN_REVIEW: (u32, u32) = (0xFFEB9C, 0x9C5700);
const DENIED: (u32, u32) = (0xFFC7CE, 0x9C0006);

/// Points per line of text (the default row height).
const LINE_HEIGHT: f64 = 15.0;

impl CellFormats {
    /// `top`: every cell aligned to the top (for rows that grow).
    fn new(top: bool) -> CellFormats {
        let base = || {
            if top {
                Format::new().set_align(FormatAlign::Top)
            } else {
                Format::new()
            }
        };
        let status = |(fill, font): (u32, u32)| {
            base()
                .set_background_color(Color::RGB(fill))
                .set_font_color(Color::RGB(font))
        };
        let header = base()
            .set_bold()
            .set_background_color(Color::RGB(0xDDEBF7))
            .set_border_bottom(FormatBorder::Thin);
        CellFormats {
            bold: base().set_bold(),
            header_right: header.clone().set_align(FormatAlign::Right),
            header,
            heading: base()
                .set_bold()
                .set_font_size(12)
                .set_border_bottom(FormatBorder::Thin),
            title: base().set_bold().set_font_size(16),
            datetime: base().set_num_format(DATETIME_FORMAT),
            wrap: base().set_text_wrap(),
            plain: top.then(base),
            approved: status(APPROVED),
            in_review: status(IN_REVIEW),
            denied: status(DENIED),
        }
    }

    /// The colour of a vetting status, if it has one.
    fn status(&self, status: &VettingStatus) -> Option<&Format> {
        match status {
            VettingStatus::Approved => Some(&self.approved),
            VettingStatus::InReview => Some(&self.in_review),
            VettingStatus::Denied => Some(&self.denied),
            VettingStatus::Other(_) | VettingStatus::Absent => None,
        }
    }
}

fn write_text(ws: &mut Worksheet, row: u32, col: u16, text: &str) -> Result<(), XlsxError> {
    if !text.is_empty() {
        ws.write_string(row, col, fit_cell(text))?;
    }
    Ok(())
}

/// A date becomes a real datetime (UTC) when it was parsed and Excel can
/// hold it; otherwise it is the report's text of it.
fn write_date(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    date: &VettingDate,
    f: &CellFormats,
) -> Result<(), XlsxError> {
    if let Some(at) = date.instant() {
        let naive = at.naive_utc();
        if (1900..=9999).contains(&chrono::Datelike::year(&naive)) {
            ws.write_datetime_with_format(row, col, naive, &f.datetime)?;
            return Ok(());
        }
    }
    write_text(ws, row, col, &date.to_report_string())
}

/// Column widths (in characters) that fit what was written, capped.
struct Widths(Vec<usize>);

impl Widths {
    fn note(&mut self, col: u16, chars: usize) {
        let col = usize::from(col);
        if self.0.len() <= col {
            self.0.resize(col + 1, 0);
        }
        self.0[col] = self.0[col].max(chars);
    }

    /// Set the widths: at least `min`, at most `max` characters, plus room
    /// for the autofilter button.
    fn apply(&self, ws: &mut Worksheet, min: usize, max: usize) -> Result<(), XlsxError> {
        for (col, w) in (0u16..).zip(&self.0) {
            ws.set_column_width(col, ((*w).clamp(min, max) + 3) as f64)?;
        }
        Ok(())
    }
}

/// Characters of the widest line of `text`.
fn shown_width(text: &str) -> usize {
    text.lines().map(|l| l.chars().count()).max().unwrap_or(0)
}

/// How a table sheet treats long text.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LongText {
    /// Runs into the next cell (or is cut at the column's edge).
    Clip,
    /// Wraps within the column (the row grows).
    Wrap,
}

/// Width at which text stops widening a column.
const MAX_WIDTH: usize = 60;

/// What a written cell takes up: characters across, lines down.
struct Shown {
    width: usize,
    lines: usize,
}

impl Shown {
    fn line(width: usize) -> Shown {
        Shown { width, lines: 1 }
    }
}

/// Write text in `format`, or without one.
fn write_text_in(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
    format: Option<&Format>,
) -> Result<(), XlsxError> {
    match format {
        Some(format) if !text.is_empty() => {
            ws.write_string_with_format(row, col, fit_cell(text), format)?;
        }
        _ => write_text(ws, row, col, text)?,
    }
    Ok(())
}

/// Write one typed cell; returns what it shows.
fn write_cell(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    cell: Cell<'_>,
    long: LongText,
    f: &CellFormats,
) -> Result<Shown, XlsxError> {
    Ok(match cell {
        Cell::Status(status) => {
            let t = status.as_str();
            write_text_in(ws, row, col, t, f.status(status).or(f.plain.as_ref()))?;
            Shown::line(shown_width(t))
        }
        Cell::Text(t) if long == LongText::Wrap && shown_width(t) > MAX_WIDTH => {
            write_text_in(ws, row, col, t, Some(&f.wrap))?;
            // About MAX_WIDTH characters a line (whole words wrap).
            let lines = t
                .lines()
                .map(|l| l.chars().count().div_ceil(MAX_WIDTH).max(1))
                .sum();
            Shown {
                width: MAX_WIDTH,
                lines,
            }
        }
        Cell::Text(t) => {
            write_text_in(ws, row, col, t, f.plain.as_ref())?;
            Shown::line(shown_width(t))
        }
        Cell::Date(None) => Shown::line(0),
        Cell::Date(Some(date)) => {
            write_date(ws, row, col, date, f)?;
            Shown::line(match date {
                VettingDate::Parsed { .. } => DATETIME_FORMAT.len(),
                VettingDate::Raw(t) => shown_width(t),
            })
        }
        Cell::Number(Some(n)) => {
            match &f.plain {
                Some(format) => ws.write_number_with_format(row, col, n as f64, format)?,
                None => ws.write_number(row, col, n as f64)?,
            };
            Shown::line(n.to_string().len())
        }
        Cell::Number(None) => Shown::line(0),
    })
}

/// A sheet that is one table: a bold header row, frozen, with an
/// autofilter; typed cells, coloured statuses, widths that fit; printed
/// landscape, one page wide, the header repeated on every page.
fn table_sheet<'c>(
    ws: &mut Worksheet,
    name: &str,
    headers: &[String],
    rows: impl Iterator<Item = Vec<Cell<'c>>>,
    long: LongText,
    f: &CellFormats,
) -> Result<(), XlsxError> {
    ws.set_name(name)?;
    let mut widths = Widths(Vec::new());
    for (col, h) in (0u16..).zip(headers) {
        ws.write_string_with_format(0, col, fit_cell(h), &f.header)?;
        widths.note(col, shown_width(h));
    }
    let mut last_row = 0;
    for (row, cells) in (1u32..).zip(rows) {
        let mut lines = 1;
        for (col, cell) in (0u16..).zip(cells) {
            let shown = write_cell(ws, row, col, cell, long, f)?;
            widths.note(col, shown.width);
            lines = lines.max(shown.lines);
        }
        if lines > 1 {
            // Spreadsheets do not grow a row for wrapped text on their own.
            ws.set_row_height(row, LINE_HEIGHT * lines as f64)?;
        }
        last_row = row;
    }
    let last_col = headers.len().saturating_sub(1) as u16;
    ws.set_freeze_panes(1, 0)?;
    ws.autofilter(0, 0, last_row, last_col)?;
    widths.apply(ws, 6, MAX_WIDTH)?;
    ws.set_landscape();
    ws.set_print_fit_to_pages(1, 0);
    ws.set_repeat_rows(0, 0)?;
    Ok(())
}

/// Columns of the Needs attention sheet before the input's own columns.
pub const ATTENTION_COLUMNS: [&str; 9] = [
    "priority",
    "issue",
    "customer_tenant_id",
    "qualification",
    "vetting_status",
    "action",
    "vetting_created_date",
    "days_in_review",
    "input_line",
];

/// One Needs attention row: the item, and the input's own columns (the
/// customer's name, …). Qualification, status and dates only for items
/// about one qualification entry.
fn attention_cells<'a>(item: &'a Item<'a>) -> Vec<Cell<'a>> {
    let r = item.row;
    let entry = item.issue.is_per_entry();
    let text = |t: &'a str| Cell::Text(if entry { t } else { "" });
    let mut cells = vec![
        Cell::Number(Some(i64::from(item.issue.priority()))),
        Cell::Text(item.issue.label()),
        Cell::Text(&r.customer_tenant_id),
        text(&r.qualification),
        Cell::Status(if entry { &r.vetting_status } else { &NO_STATUS }),
        Cell::Text(&item.action),
        Cell::Date(r.vetting_created_date.as_ref().filter(|_| entry)),
        Cell::Number(r.days_in_review.filter(|_| entry)),
        Cell::Number(i64::try_from(r.input_line).ok()),
    ];
    cells.extend(r.extra.iter().map(|c| Cell::Text(c)));
    cells
}

/// Everything the workbook shows.
pub struct Report<'a> {
    /// The rows of `qualifications.csv`.
    pub rows: &'a [ReportRow],
    /// The input's other columns.
    pub extra_headers: &'a [String],
    /// `summary.json`.
    pub summary: &'a Summary,
    /// With `--previous`: the rows of `changes.csv`.
    pub changes: Option<&'a [Change]>,
    /// The input column with the CRM's expectation, if any (an index into
    /// `extra_headers`).
    pub expect_column: Option<usize>,
}

/// The whole workbook as bytes. Rows and columns beyond Excel's limits are
/// left out with a warning and a note on the Summary sheet.
pub fn render(report: &Report<'_>) -> anyhow::Result<Vec<u8>> {
    let reconciliation = report.summary.reconciliation.is_some();
    let fit = Fit::of(
        report.rows.len(),
        report.extra_headers.len(),
        reconciliation,
    );
    render_fit(report, fit)
}

/// [`render`] with the rows and input columns `fit` leaves on the sheets.
fn render_fit(report: &Report<'_>, fit: Fit) -> anyhow::Result<Vec<u8>> {
    let Report {
        rows,
        extra_headers,
        summary,
        changes,
        expect_column,
    } = *report;
    let note = fit.note();
    if let Some(note) = &note {
        tracing::warn!("{note}");
    }
    let f = CellFormats::new(false);
    let reconciliation = summary.reconciliation.is_some();
    let items = attention::build(rows, summary.in_review.stale_cutoff, expect_column);
    let mut wb = Workbook::new();
    summary_sheet::write(
        wb.add_worksheet(),
        summary,
        rows,
        items.len(),
        note.as_deref(),
        &f,
    )
    .context("building the Summary sheet")?;

    let mut attention_headers: Vec<String> =
        ATTENTION_COLUMNS.iter().map(|c| c.to_string()).collect();
    attention_headers.extend(super::csv::declash(
        &ATTENTION_COLUMNS,
        &extra_headers[..fit.extra_columns],
    ));
    // Up to two items per row: the most urgent fill the sheet if need be.
    if items.len() >= MAX_ROWS {
        tracing::warn!(
            "{} things need attention; sheet {ATTENTION_SHEET} lists the {} most urgent",
            items.len(),
            MAX_ROWS - 1
        );
    }
    table_sheet(
        wb.add_worksheet(),
        ATTENTION_SHEET,
        &attention_headers,
        items.iter().take(MAX_ROWS - 1).map(|item| {
            let mut cells = attention_cells(item);
            cells.truncate(ATTENTION_COLUMNS.len() + fit.extra_columns);
            cells
        }),
        LongText::Wrap,
        &CellFormats::new(true),
    )
    .context("building the Needs attention sheet")?;

    table_sheet(
        wb.add_worksheet(),
        CUSTOMERS_SHEET,
        &super::column_names(&extra_headers[..fit.extra_columns], reconciliation),
        rows[..fit.rows].iter().map(|r| {
            let mut cells = r.cells(reconciliation);
            cells.truncate(FIXED_COLUMNS.len() + usize::from(reconciliation) + fit.extra_columns);
            cells
        }),
        LongText::Clip,
        &f,
    )
    .context("building the Customers sheet")?;

    if let Some(found) = changes {
        let headers: Vec<String> = changes::column_names(reconciliation)
            .iter()
            .map(|c| c.to_string())
            .collect();
        table_sheet(
            wb.add_worksheet(),
            CHANGES_SHEET,
            &headers,
            found.iter().map(|c| c.cells(reconciliation)),
            LongText::Clip,
            &f,
        )
        .context("building the Changes sheet")?;
    }
    wb.save_to_buffer().context("assembling the workbook")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LookupStatus;
    use std::io::Read;

    fn row(reason: &str, date: &str) -> ReportRow {
        ReportRow {
            customer_tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            input_line: 2,
            qualification: "Education".into(),
            vetting_status: VettingStatus::InReview,
            vetting_reason: reason.into(),
            vetting_created_date: (!date.is_empty()).then(|| VettingDate::parse(date)),
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
            retry_after_until: None,
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

    fn report<'a>(
        rows: &'a [ReportRow],
        summary: &'a Summary,
        changes: Option<&'a [Change]>,
    ) -> Vec<u8> {
        render(&Report {
            rows,
            extra_headers: &["name".to_string()],
            summary,
            changes,
            expect_column: None,
        })
        .unwrap()
    }

    fn sheet_names(bytes: &[u8]) -> Vec<String> {
        part(bytes, "xl/workbook.xml")
            .split("<sheet ")
            .skip(1)
            .map(|s| {
                s.split("name=\"")
                    .nth(1)
                    .unwrap()
                    .split('"')
                    .next()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[test]
    fn workbook_has_the_sheets_in_order_a_chart_and_typed_cells() {
        let mut denied = row("Not an Academic Domain", "2020-12-03T10:37:38.885Z");
        denied.vetting_status = VettingStatus::Denied;
        denied.days_in_review = None;
        let rows = [
            row("", "2020-12-03T10:37:38.885Z"),
            row("-5 apples", "not a date"),
            denied,
        ];
        let s = summary(&rows);
        let bytes = report(&rows, &s, None);
        assert!(bytes.starts_with(b"PK\x03\x04"));
        assert_eq!(
            sheet_names(&bytes),
            ["Summary", "Needs attention", "Customers"]
        );
        let chart = part(&bytes, "xl/charts/chart1.xml");
        assert!(chart.contains("<c:barDir val=\"col\"/>"), "{chart}");
        assert!(chart.contains("Summary!$A$"), "{chart}");

        let sheet = part(&bytes, "xl/worksheets/sheet3.xml");
        assert!(sheet.contains("<autoFilter ref=\"A1:J4\""), "{sheet}");
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
        // Status cells are coloured: InReview amber, Denied red.
        assert!(
            styles.contains("FFFFEB9C") && styles.contains("FFFFC7CE"),
            "{styles}"
        );

        // Needs attention: the denial and the stale review (the other one
        // has no date to age).
        let attention = part(&bytes, "xl/worksheets/sheet2.xml");
        assert!(
            attention.contains("<autoFilter ref=\"A1:J3\""),
            "{attention}"
        );
        assert!(strings.contains("resubmit the verification or stop offering education pricing"));
        assert!(strings.contains("open a support request with Microsoft; in review 12 days"));
    }

    #[test]
    fn previous_adds_the_changes_sheet() {
        let rows = [row("", "2020-12-03T10:37:38.885Z")];
        let s = summary(&rows);
        let found = crate::report::changes::compare(&[], &[(&rows[0]).into()]);
        let bytes = report(&rows, &s, Some(&found));
        assert_eq!(
            sheet_names(&bytes),
            ["Summary", "Needs attention", "Customers", "Changes"]
        );
        let sheet = part(&bytes, "xl/worksheets/sheet4.xml");
        assert!(sheet.contains("<autoFilter ref=\"A1:J2\""), "{sheet}");
        assert!(part(&bytes, "xl/sharedStrings.xml").contains(">new_customer<"));
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
        let s = summary(&rows);
        assert!(
            render(&Report {
                rows: &rows,
                extra_headers: &["name".into()],
                summary: &s,
                changes: None,
                expect_column: None,
            })
            .is_ok()
        );
    }

    #[test]
    fn rows_and_columns_beyond_the_limits_are_left_out_with_a_note() {
        let all = Fit::of(10, 5, false);
        assert_eq!((all.rows, all.extra_columns), (10, 5));
        assert_eq!(all.note(), None);
        let wide = Fit::of(MAX_ROWS, 20_000, false);
        assert_eq!(wide.rows, MAX_ROWS - 1);
        assert_eq!(wide.rows_left_out, 1);
        assert_eq!(wide.extra_columns + FIXED_COLUMNS.len(), MAX_COLUMNS);
        assert_eq!(
            wide.columns_left_out,
            20_000 + FIXED_COLUMNS.len() - MAX_COLUMNS
        );
        let reconciled = Fit::of(10, 20_000, true);
        assert_eq!(
            reconciled.extra_columns + FIXED_COLUMNS.len() + 1,
            MAX_COLUMNS
        );

        // Small limits stand in for Excel's: 3 rows (2 below the header)
        // and room for 2 input columns, of 4 rows and 3 input columns.
        let mut rows: Vec<ReportRow> = (0..4).map(|_| row("", "")).collect();
        for (i, r) in rows.iter_mut().enumerate() {
            r.customer_tenant_id = format!("customer-{i}");
            r.extra = vec![format!("a{i}"), format!("b{i}"), format!("c{i}")];
        }
        let headers: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let fit = Fit::within(rows.len(), headers.len(), 3, 2);
        let note = fit.note().unwrap();
        assert!(
            note.contains("the last 2 rows and the last 1 input column of"),
            "{note}"
        );
        let summary = summary(&rows);
        let bytes = render_fit(
            &Report {
                rows: &rows,
                extra_headers: &headers,
                summary: &summary,
                changes: None,
                expect_column: None,
            },
            fit,
        )
        .unwrap();
        let strings = part(&bytes, "xl/sharedStrings.xml");
        assert!(strings.contains(">b1<"), "{strings}");
        assert!(!strings.contains(">c0<"), "{strings}");
        assert!(!strings.contains(">customer-2<"), "{strings}");
        assert!(!strings.contains(">a2<"), "{strings}");
        assert!(strings.contains("left out of this workbook"), "{strings}");
        assert!(
            strings.contains(&note.replace('\'', "&apos;")) || strings.contains(&note),
            "{strings}"
        );
    }
}
