//! `qualifications.xlsx`: the campaign view. Sheets, in order: `Summary`
//! (run facts, counts and a chart), `Needs attention` (what to act on, most
//! urgent first), `Customers` (every row of `qualifications.csv`, typed:
//! numbers, real datetimes, coloured statuses) and, with `--previous`,
//! `Changes` (the rows of `changes.csv`). Built as the report is written
//! ([`XlsxReport`]): the Customers and Changes sheets row by row, the
//! Summary and Needs attention sheets at the end, from what was gathered
//! on the way.
//!
//! xlsx string cells are never evaluated, so no `'` prefix here (that is a
//! CSV concern). Excel's cell limit of 32,767 characters is met by
//! truncating with a visible marker, and its sheet limits (rows, columns)
//! by leaving out what does not fit, with a note ([`Fit`]), instead of
//! failing the run: the CSV keeps everything.

mod cells;
mod summary_sheet;

use anyhow::Context;
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};

use std::path::{Path, PathBuf};

use super::attention::{self, Item};
use super::changes::{self, Change};
use super::row::{
    Cell, FIXED_COLUMNS, NO_STATUS, ReportRow, column_names, customer_spans, declash,
};
use super::sink::Layout;
use super::summary::Summary;
use crate::fsutil::AtomicFile;
use crate::model::VettingDate;
pub(crate) use cells::{ATTENTION_SHEET, CHANGES_SHEET, CUSTOMERS_SHEET, fit_cell};
use cells::{CellFormats, DATETIME_FORMAT, write_date, write_text};

/// Excel's limits.
pub(crate) const MAX_ROWS: usize = 1_048_576;
pub(crate) const MAX_COLUMNS: usize = 16_384;

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

/// Whether text wraps within its column (else it is one line).
fn wraps(text: &str, long: LongText) -> bool {
    long == LongText::Wrap && shown_width(text) > MAX_WIDTH
}

/// What a typed cell shows once written.
fn shown(cell: Cell<'_>, long: LongText) -> Shown {
    match cell {
        Cell::Status(status) => Shown::line(shown_width(status.as_str())),
        Cell::Text(t) if wraps(t, long) => Shown {
            width: MAX_WIDTH,
            // About MAX_WIDTH characters a line (whole words wrap).
            lines: t
                .lines()
                .map(|l| l.chars().count().div_ceil(MAX_WIDTH).max(1))
                .sum(),
        },
        Cell::Text(t) => Shown::line(shown_width(t)),
        Cell::Date(None) | Cell::Number(None) => Shown::line(0),
        Cell::Date(Some(VettingDate::Parsed { .. })) => Shown::line(DATETIME_FORMAT.len()),
        Cell::Date(Some(VettingDate::Raw(t))) => Shown::line(shown_width(t)),
        Cell::Number(Some(n)) => Shown::line(n.to_string().len()),
    }
}

/// Lines of the tallest of `cells` (see [`shown`]).
fn lines_of(cells: &[Cell<'_>], long: LongText) -> usize {
    cells
        .iter()
        .map(|c| shown(*c, long).lines)
        .max()
        .unwrap_or(1)
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
    match cell {
        Cell::Status(status) => {
            let t = status.as_str();
            write_text_in(ws, row, col, t, f.status(status).or(f.plain.as_ref()))?;
        }
        Cell::Text(t) if wraps(t, long) => write_text_in(ws, row, col, t, Some(&f.wrap))?,
        Cell::Text(t) => write_text_in(ws, row, col, t, f.plain.as_ref())?,
        Cell::Date(None) | Cell::Number(None) => {}
        Cell::Date(Some(date)) => write_date(ws, row, col, date, f)?,
        Cell::Number(Some(n)) => {
            match &f.plain {
                Some(format) => ws.write_number_with_format(row, col, n as f64, format)?,
                None => ws.write_number(row, col, n as f64)?,
            };
        }
    }
    Ok(shown(cell, long))
}

/// Points per line of text (the default row height).
const LINE_HEIGHT: f64 = 15.0;

/// Rows of a sheet given a height of their own, at most: rust_xlsxwriter
/// keeps each row's height in memory (about 600 bytes) until the workbook
/// is saved, which at 100,000 customers was 11 MB for Needs attention.
/// Past this many, rows are left to the spreadsheet's own fitting of
/// wrapped text, which Excel does when it opens a file.
const MAX_ROW_HEIGHTS: usize = 2_000;

/// A sheet that is one table: a bold header row, frozen, with an
/// autofilter; typed cells, coloured statuses, widths that fit; printed
/// landscape, one page wide, the header repeated on every page. Rows are
/// written as they come, at most `room` of them; the rest are counted.
struct TableSheet {
    /// The sheet's index in the workbook.
    index: usize,
    columns: usize,
    long: LongText,
    widths: Widths,
    last_row: u32,
    /// How many rows the sheet has room for (below its header).
    room: usize,
    /// Rows offered beyond `room`.
    left_out: usize,
    /// How many rows the sheet will have, when known before the first:
    /// its last row is then given no height (see [`TableSheet::row`]).
    rows_known: Option<usize>,
    /// The sheet's default row height, in lines: rows of another height
    /// get one of their own.
    row_lines: usize,
    /// Rows that may still be given a height of their own.
    heights_left: usize,
}

impl TableSheet {
    /// Name sheet `index` and write its header row.
    fn start(
        wb: &mut Workbook,
        index: usize,
        name: &str,
        headers: &[String],
        long: LongText,
        room: usize,
        f: &CellFormats,
    ) -> Result<TableSheet, XlsxError> {
        let ws = wb.worksheet_from_index(index)?;
        ws.set_name(name)?;
        let mut widths = Widths(Vec::new());
        for (col, h) in (0u16..).zip(headers) {
            ws.write_string_with_format(0, col, fit_cell(h), &f.header)?;
            widths.note(col, shown_width(h));
        }
        Ok(TableSheet {
            index,
            columns: headers.len(),
            long,
            widths,
            last_row: 0,
            room,
            left_out: 0,
            rows_known: None,
            row_lines: 1,
            heights_left: MAX_ROW_HEIGHTS,
        })
    }

    /// The next row, if there is room for it (cells beyond the header's
    /// columns are left out).
    fn row(
        &mut self,
        wb: &mut Workbook,
        cells: &[Cell<'_>],
        f: &CellFormats,
    ) -> Result<(), XlsxError> {
        if self.last_row as usize >= self.room {
            self.left_out += 1;
            return Ok(());
        }
        let ws = wb.worksheet_from_index(self.index)?;
        let row = self.last_row + 1;
        let mut lines = 1;
        for (col, cell) in (0u16..).zip(&cells[..cells.len().min(self.columns)]) {
            let shown = write_cell(ws, row, col, *cell, self.long, f)?;
            self.widths.note(col, shown.width);
            lines = lines.max(shown.lines);
        }
        // rust_xlsxwriter 0.102 writes the last row of a constant-memory
        // sheet twice when it has a height (the second time empty, which
        // Excel reports as a damaged file), so the last row keeps the
        // default height (Excel still fits it to the wrapped text when it
        // opens the file; some other spreadsheets show its first line).
        let last = self.rows_known == Some(row as usize);
        if lines != self.row_lines && !last && self.heights_left > 0 {
            // Not every spreadsheet grows a row for wrapped text on its own.
            ws.set_row_height(row, LINE_HEIGHT * lines as f64)?;
            self.heights_left -= 1;
        }
        self.last_row = row;
        Ok(())
    }

    /// Make rows `lines` lines high unless they say otherwise: the most
    /// common height of a sheet's rows, so that few need a height of their
    /// own (rust_xlsxwriter keeps every row height in memory until the
    /// workbook is saved). The header row stays one line.
    fn set_row_lines(&mut self, wb: &mut Workbook, lines: usize) -> Result<(), XlsxError> {
        self.row_lines = lines;
        if lines != 1 {
            let ws = wb.worksheet_from_index(self.index)?;
            ws.set_default_row_height(LINE_HEIGHT * lines as f64);
            ws.set_row_height(0, LINE_HEIGHT)?;
        }
        Ok(())
    }

    /// Freeze the header, filter, fit the widths, set up printing.
    fn finish(self, wb: &mut Workbook) -> Result<(), XlsxError> {
        let ws = wb.worksheet_from_index(self.index)?;
        let last_col = self.columns.saturating_sub(1) as u16;
        ws.set_freeze_panes(1, 0)?;
        ws.autofilter(0, 0, self.last_row, last_col)?;
        self.widths.apply(ws, 6, MAX_WIDTH)?;
        ws.set_landscape();
        ws.set_print_fit_to_pages(1, 0);
        ws.set_repeat_rows(0, 0)?;
        Ok(())
    }
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
fn attention_cells(item: &Item) -> Vec<Cell<'_>> {
    let entry = item.entry.as_ref();
    let mut cells = vec![
        Cell::Number(Some(i64::from(item.issue.priority()))),
        Cell::Text(item.issue.label()),
        Cell::Text(&item.customer_tenant_id),
        Cell::Text(entry.map_or("", |e| &e.qualification)),
        Cell::Status(entry.map_or(&NO_STATUS, |e| &e.vetting_status)),
        Cell::Text(&item.action),
        Cell::Date(entry.and_then(|e| e.vetting_created_date.as_ref())),
        Cell::Number(entry.and_then(|e| e.days_in_review)),
        Cell::Number(i64::try_from(item.input_line).ok()),
    ];
    cells.extend(item.extra.iter().map(|c| Cell::Text(c)));
    cells
}

/// The sheets' room: Excel's limits, smaller in tests.
#[derive(Debug, Clone, Copy)]
struct Room {
    /// Rows of a sheet, its header included.
    rows: usize,
    /// Input columns the Customers sheet has room for.
    columns: usize,
}

impl Room {
    /// Excel's own.
    fn excel(reconciliation: bool) -> Room {
        Room {
            rows: MAX_ROWS,
            columns: MAX_COLUMNS - FIXED_COLUMNS.len() - usize::from(reconciliation),
        }
    }
}

/// The workbook being written: the Customers (and Changes) sheet row by
/// row as the report comes, what the Summary and Needs attention sheets
/// need gathered on the way; those two are written at the end, when the
/// summary is counted.
pub struct XlsxReport {
    wb: Workbook,
    f: CellFormats,
    /// Input columns on the sheets.
    extra_columns: usize,
    /// Input columns left out.
    columns_left_out: usize,
    reconciliation: bool,
    customers: TableSheet,
    changes: Option<TableSheet>,
    attention: attention::Items,
    oldest: OldestReviews,
    extra_headers: Vec<String>,
}

/// Deflate level of the workbook's zip. Level 2 compresses 100,000
/// customers' workbook in 28 % less time than the default 6 for a file
/// 11 % larger (8.9 MB instead of 8.0); level 1 is no faster and 52 %
/// larger. Compressing is most of the xlsx report's CPU.
const ZIP_LEVEL: u8 = 2;

/// Sheet indexes, in workbook order.
const SUMMARY_INDEX: usize = 0;
const ATTENTION_INDEX: usize = 1;
const CUSTOMERS_INDEX: usize = 2;
const CHANGES_INDEX: usize = 3;

impl XlsxReport {
    /// A workbook for a report laid out as `layout`.
    pub fn new(layout: &Layout<'_>) -> anyhow::Result<XlsxReport> {
        XlsxReport::within(layout, Room::excel(layout.reconciliation()))
            .context("building the xlsx report")
    }

    fn within(layout: &Layout<'_>, room: Room) -> Result<XlsxReport, XlsxError> {
        let reconciliation = layout.reconciliation();
        let extra_columns = layout.extra_headers.len().min(room.columns);
        let f = CellFormats::new(false);
        // Summary is written at the end, in memory (random access); the
        // tables go to disk row by row, in constant memory: Customers and
        // Changes as the report comes, Needs attention at the end, most
        // urgent first. (Their text is stored in the cells then, not in
        // the shared string table: Excel reads both.)
        let mut wb = Workbook::new();
        wb.set_zip_compression_level(ZIP_LEVEL);
        wb.add_worksheet();
        wb.add_worksheet_with_constant_memory()?;
        wb.add_worksheet_with_constant_memory()?;
        let customers = TableSheet::start(
            &mut wb,
            CUSTOMERS_INDEX,
            CUSTOMERS_SHEET,
            &column_names(&layout.extra_headers[..extra_columns], reconciliation),
            LongText::Clip,
            room.rows - 1,
            &f,
        )?;
        let changes = if layout.changes {
            wb.add_worksheet_with_constant_memory()?;
            let headers: Vec<String> = changes::column_names(reconciliation)
                .iter()
                .map(|c| c.to_string())
                .collect();
            Some(TableSheet::start(
                &mut wb,
                CHANGES_INDEX,
                CHANGES_SHEET,
                &headers,
                LongText::Clip,
                usize::MAX,
                &f,
            )?)
        } else {
            None
        };
        Ok(XlsxReport {
            wb,
            f,
            extra_columns,
            columns_left_out: layout.extra_headers.len() - extra_columns,
            reconciliation,
            customers,
            changes,
            attention: attention::Items::new(layout.stale_cutoff, layout.expect_column)
                .map_err(XlsxError::IoError)?,
            oldest: OldestReviews::default(),
            extra_headers: layout.extra_headers[..extra_columns].to_vec(),
        })
    }

    /// One customer's rows (or one invalid input row).
    pub fn customer(&mut self, rows: &[ReportRow]) -> anyhow::Result<()> {
        self.attention
            .add_customer(rows)
            .context("writing the Needs attention list to a temp file")?;
        for r in rows {
            self.oldest.add(r);
            self.customers
                .row(&mut self.wb, &r.cells(self.reconciliation), &self.f)
                .context("building the Customers sheet")?;
        }
        Ok(())
    }

    /// Rows of the Changes sheet.
    pub fn changes(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        if let Some(sheet) = &mut self.changes {
            for c in changes {
                sheet
                    .row(&mut self.wb, &c.cells(self.reconciliation), &self.f)
                    .context("building the Changes sheet")?;
            }
        }
        Ok(())
    }

    /// What Excel's limits left out of the Customers sheet.
    fn fit(&self) -> Fit {
        Fit {
            rows: self.customers.last_row as usize,
            extra_columns: self.extra_columns,
            rows_left_out: self.customers.left_out,
            columns_left_out: self.columns_left_out,
        }
    }

    /// Write the Summary and Needs attention sheets and finish the others.
    /// Rows and columns beyond Excel's limits are left out with a warning
    /// and a note on the Summary sheet.
    pub fn finish(mut self, summary: &Summary) -> anyhow::Result<Workbook> {
        let note = self.fit().note();
        if let Some(note) = &note {
            tracing::warn!("{note}");
        }
        let mut items = self
            .attention
            .finish()
            .context("reading back the Needs attention list")?;
        summary_sheet::write(
            self.wb.worksheet_from_index(SUMMARY_INDEX)?,
            summary,
            &self.oldest.0,
            items.len(),
            note.as_deref(),
            &self.f,
        )
        .context("building the Summary sheet")?;

        let mut attention_headers: Vec<String> =
            ATTENTION_COLUMNS.iter().map(|c| c.to_string()).collect();
        attention_headers.extend(declash(&ATTENTION_COLUMNS, &self.extra_headers));
        // Up to two items per row: the most urgent fill the sheet if need be.
        if items.len() >= MAX_ROWS {
            tracing::warn!(
                "{} things need attention; sheet {ATTENTION_SHEET} lists the {} most urgent",
                items.len(),
                MAX_ROWS - 1
            );
        }
        let top = CellFormats::new(true);
        let mut sheet = TableSheet::start(
            &mut self.wb,
            ATTENTION_INDEX,
            ATTENTION_SHEET,
            &attention_headers,
            LongText::Wrap,
            MAX_ROWS - 1,
            &top,
        )
        .context("building the Needs attention sheet")?;
        sheet.rows_known = Some(items.len().min(sheet.room));
        let lines =
            most_common_lines(items.iter()).context("reading back the Needs attention list")?;
        sheet
            .set_row_lines(&mut self.wb, lines)
            .context("building the Needs attention sheet")?;
        for item in items.iter() {
            let item = item.context("reading back the Needs attention list")?;
            sheet
                .row(&mut self.wb, &attention_cells(&item), &top)
                .context("building the Needs attention sheet")?;
        }
        sheet
            .finish(&mut self.wb)
            .context("building the Needs attention sheet")?;
        self.customers
            .finish(&mut self.wb)
            .context("building the Customers sheet")?;
        if let Some(changes) = self.changes {
            changes
                .finish(&mut self.wb)
                .context("building the Changes sheet")?;
        }
        Ok(self.wb)
    }
}

/// The most common height (in lines) of the Needs attention rows.
fn most_common_lines(items: impl Iterator<Item = std::io::Result<Item>>) -> std::io::Result<usize> {
    let mut counts: Vec<usize> = Vec::new();
    for item in items {
        let lines = lines_of(&attention_cells(&item?), LongText::Wrap);
        if counts.len() <= lines {
            counts.resize(lines + 1, 0);
        }
        counts[lines] += 1;
    }
    // The first of equally common heights: the smallest.
    Ok((1..counts.len())
        .rev()
        .max_by_key(|&lines| counts[lines])
        .unwrap_or(1))
}

/// The open reviews with the oldest vetting dates, for the Summary sheet:
/// at most [`summary_sheet::OLDEST_REVIEWS`], oldest first (the first seen
/// first on a tie).
#[derive(Debug, Default)]
struct OldestReviews(Vec<(chrono::DateTime<chrono::Utc>, ReportRow)>);

impl OldestReviews {
    fn add(&mut self, row: &ReportRow) {
        if !row.vetting_status.is_in_review() {
            return;
        }
        let Some(at) = row
            .vetting_created_date
            .as_ref()
            .and_then(VettingDate::instant)
        else {
            return;
        };
        let at_or_before = self.0.partition_point(|(a, _)| *a <= at);
        if at_or_before < summary_sheet::OLDEST_REVIEWS {
            self.0.insert(at_or_before, (at, row.clone()));
            self.0.truncate(summary_sheet::OLDEST_REVIEWS);
        }
    }
}

/// The `qualifications.xlsx` exporter.
pub struct XlsxExporter {
    report: XlsxReport,
    path: PathBuf,
}

impl XlsxExporter {
    /// A workbook to be written to `path`.
    pub fn create(path: &Path, layout: &Layout<'_>) -> anyhow::Result<XlsxExporter> {
        Ok(XlsxExporter {
            report: XlsxReport::new(layout)?,
            path: path.to_path_buf(),
        })
    }

    /// One customer's rows (or one invalid input row).
    pub fn customer(&mut self, rows: &[ReportRow]) -> anyhow::Result<()> {
        self.report.customer(rows)
    }

    /// Rows of the Changes sheet.
    pub fn changes(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        self.report.changes(changes)
    }

    /// Complete the workbook (the file is not yet in place).
    pub fn finish(self, summary: &Summary) -> anyhow::Result<AtomicFile> {
        let XlsxExporter { report, path } = self;
        let mut wb = report.finish(summary)?;
        let mut file = std::io::BufWriter::new(super::sink::start(&path)?);
        wb.save_to_writer(&mut file)
            .context("assembling the workbook")?;
        file.into_inner()
            .map_err(|e| e.into_error())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Everything the workbook shows, at once (see [`XlsxReport`]).
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

/// The whole workbook as bytes.
pub fn render(report: &Report<'_>) -> anyhow::Result<Vec<u8>> {
    let reconciliation = report.summary.reconciliation.is_some();
    render_within(report, Room::excel(reconciliation))
}

/// [`render`] with the sheets' `room`.
fn render_within(report: &Report<'_>, room: Room) -> anyhow::Result<Vec<u8>> {
    let layout = Layout {
        extra_headers: report.extra_headers,
        expect_column: report.expect_column,
        changes: report.changes.is_some(),
        csv_bom: false,
        stale_cutoff: report.summary.in_review.stale_cutoff,
    };
    let mut xlsx = XlsxReport::within(&layout, room)?;
    for span in customer_spans(report.rows) {
        xlsx.customer(&report.rows[span])?;
    }
    if let Some(changes) = report.changes {
        xlsx.changes(changes)?;
    }
    let mut wb = xlsx.finish(report.summary)?;
    wb.save_to_buffer().context("assembling the workbook")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LookupStatus, VettingStatus};
    use cells::MAX_CELL_UTF16;
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
            spill: None,
        };
        let now = chrono::Utc::now();
        let meta = super::super::summary::RunMeta::for_tests(now);
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

    /// Every text the workbook holds: the shared strings and the sheets
    /// (whose cells hold their text in constant-memory mode).
    fn texts(bytes: &[u8]) -> String {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).unwrap().name().unwrap().to_string())
            .collect();
        names
            .iter()
            .filter(|n| *n == "xl/sharedStrings.xml" || n.starts_with("xl/worksheets/sheet"))
            .map(|n| part(bytes, n))
            .collect()
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
        let strings = texts(&bytes);
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
    fn needs_attention_rows_that_wrap_are_written_once_each_the_last_one_too() {
        let long = "the school's registration could not be matched to a public register of schools";
        let mut first = row(long, "2020-12-03T10:37:38.885Z");
        first.vetting_status = VettingStatus::Denied;
        let mut second = first.clone();
        second.customer_tenant_id = "ffffffff-0000-0000-0000-000000000002".into();
        second.input_line = 3;
        // Sorted last (a failed lookup comes after denials), one line.
        let mut failed = row("", "");
        failed.customer_tenant_id = "00000000-0000-0000-0000-000000000004".into();
        failed.input_line = 4;
        failed.lookup_status = LookupStatus::NotFound;
        failed.error = "HTTP 404".into();
        let rows = [first, second, failed];
        let s = summary(&rows);
        let sheet = part(&report(&rows, &s, None), "xl/worksheets/sheet2.xml");
        let starts: Vec<&str> = sheet
            .split("<row ")
            .skip(1)
            .map(|r| r.split('"').nth(1).unwrap())
            .collect();
        assert_eq!(starts, ["1", "2", "3", "4"], "{sheet}");
        // The denials wrap to three lines, the most common height: the
        // sheet's default; the header stays one line.
        let default = "<sheetFormatPr defaultRowHeight=\"45\" customHeight=\"1\"/>";
        assert!(sheet.contains(default), "{sheet}");
        assert!(
            sheet.contains("<row r=\"1\" ht=\"15\" customHeight=\"1\">"),
            "{sheet}"
        );
        assert!(
            sheet.contains("<row r=\"3\" ht=\"45\" customHeight=\"1\">"),
            "{sheet}"
        );
        assert!(sheet.contains(long), "{sheet}");
        assert!(sheet.contains("<autoFilter ref=\"A1:J4\""), "{sheet}");
    }

    #[test]
    fn only_the_first_rows_get_a_height_of_their_own() {
        let mut wb = Workbook::new();
        wb.add_worksheet_with_constant_memory().unwrap();
        let f = CellFormats::new(true);
        let headers = ["action".to_string()];
        let mut sheet =
            TableSheet::start(&mut wb, 0, "t", &headers, LongText::Wrap, 10, &f).unwrap();
        sheet.heights_left = 2;
        let long = "x".repeat(MAX_WIDTH * 2);
        for _ in 0..4 {
            sheet.row(&mut wb, &[Cell::Text(&long)], &f).unwrap();
        }
        sheet.finish(&mut wb).unwrap();
        let sheet = part(&wb.save_to_buffer().unwrap(), "xl/worksheets/sheet1.xml");
        assert_eq!(sheet.matches("<row ").count(), 5, "{sheet}");
        assert_eq!(sheet.matches("ht=\"30\"").count(), 2, "{sheet}");
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
        assert!(texts(&bytes).contains(">new_customer<"));
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
        let bytes = render_within(
            &Report {
                rows: &rows,
                extra_headers: &headers,
                summary: &summary,
                changes: None,
                expect_column: None,
            },
            Room {
                rows: 3,
                columns: 2,
            },
        )
        .unwrap();
        let strings = texts(&bytes);
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
