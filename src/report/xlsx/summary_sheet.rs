//! The workbook's first sheet: run facts, customers per qualification ×
//! status with a column chart of it, denial reasons by count, the ten
//! oldest open reviews, reconciliation counts and, with `--previous`,
//! change counts. Every count is taken from `summary.json`'s document.

use rust_xlsxwriter::{
    Chart, ChartFont, ChartFormat, ChartLine, ChartSolidFill, ChartType, Color, Worksheet,
    XlsxError,
};

use super::cells::{CellFormats, SUMMARY_SHEET, fit_cell, write_date, write_text};
use crate::model::{VettingDate, VettingStatus};
use crate::report::row::ReportRow;
use crate::report::summary::{Millis, Summary};
use chrono::{DateTime, Utc};

/// How many open reviews the sheet lists.
pub(super) const OLDEST_REVIEWS: usize = 10;

/// Column widths: labels, values, then the status counts.
const WIDTHS: [f64; 6] = [46.0, 22.0, 21.0, 14.0, 12.0, 12.0];

/// Chart size in pixels, and the rows it covers (20 px each).
const CHART_WIDTH: u32 = 640;
const CHART_HEIGHT: u32 = 300;
const CHART_ROWS: u32 = CHART_HEIGHT / 20 + 1;

/// Chart colours of statuses other than Approved, InReview and Denied.
const OTHER_COLOURS: [u32; 4] = [0xA5A5A5, 0x5B9BD5, 0x8064A2, 0x4BACC6];

/// Writes sections of label / value lines down the sheet.
struct Lines<'a> {
    ws: &'a mut Worksheet,
    row: u32,
    f: &'a CellFormats,
}

impl Lines<'_> {
    /// A section title, after a blank line.
    fn section(&mut self, title: &str) -> Result<(), XlsxError> {
        self.row += 1;
        self.ws
            .write_string_with_format(self.row, 0, title, &self.f.heading)?;
        for col in 1..WIDTHS.len() as u16 {
            self.ws.write_blank(self.row, col, &self.f.heading)?;
        }
        self.row += 1;
        Ok(())
    }

    /// A table's header row: the first `text` columns hold text, the
    /// others numbers or dates (their headers align right, like them).
    fn header(&mut self, cells: &[&str], text: u16) -> Result<(), XlsxError> {
        for (col, c) in (0u16..).zip(cells) {
            let format = if col < text {
                &self.f.header
            } else {
                &self.f.header_right
            };
            self.ws
                .write_string_with_format(self.row, col, fit_cell(c), format)?;
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

    /// An instant of `summary.json`, with its milliseconds.
    fn date(&mut self, label: &str, value: Millis) -> Result<(), XlsxError> {
        write_text(self.ws, self.row, 0, label)?;
        let date = VettingDate::Parsed {
            at: value.at(),
            fraction_digits: 3,
        };
        write_date(self.ws, self.row, 1, &date, self.f)?;
        self.row += 1;
        Ok(())
    }
}

/// The Summary sheet; `oldest` are the oldest open reviews (with their
/// vetting dates), `attention` is the number of Needs attention rows,
/// `note` says what Excel's limits left out.
pub(super) fn write(
    ws: &mut Worksheet,
    s: &Summary,
    oldest: &[(DateTime<Utc>, ReportRow)],
    attention: usize,
    note: Option<&str>,
    f: &CellFormats,
) -> Result<(), XlsxError> {
    ws.set_name(SUMMARY_SHEET)?;
    for (col, w) in (0u16..).zip(WIDTHS) {
        ws.set_column_width(col, w)?;
    }
    ws.set_print_fit_to_pages(1, 0);
    ws.write_string_with_format(0, 0, "qualrecon: customer qualifications", &f.title)?;
    let mut l = Lines { ws, row: 1, f };

    l.section("Run")?;
    l.text("status", s.run.status)?;
    l.date("started (UTC)", s.run.started_at)?;
    l.date("finished (UTC)", s.run.finished_at)?;
    write_text(l.ws, l.row, 0, "duration (seconds)")?;
    l.ws.write_number(l.row, 1, s.run.duration_s)?;
    l.row += 1;
    l.text("input file", &s.input.path)?;
    if let Some(note) = note {
        l.text("left out of this workbook", note)?;
    }
    l.text("run id", &s.run.id.to_string())?;
    l.text(
        "correlation id (for Microsoft support)",
        &s.run.correlation_id.to_string(),
    )?;

    l.section("Customers")?;
    l.count("customers (distinct valid ids)", s.input.customers)?;
    l.count("looked up ok", s.lookups.ok)?;
    l.count("failed lookups", s.lookups.failed_lookups)?;
    for (status, n) in &s.lookups.by_status {
        l.count(&format!("   {status}"), *n)?;
    }
    l.count("invalid input rows", s.input.invalid_input_rows)?;
    l.count("duplicate rows", s.input.duplicate_rows)?;
    l.count(
        "customers without qualification",
        s.customers_without_qualification,
    )?;
    l.count("things to act on (sheet Needs attention)", attention as u64)?;

    qualification_table(&mut l, s)?;

    l.section("Denial reasons")?;
    l.header(&["reason", "denied entries"], 1)?;
    let mut reasons: Vec<(&String, &u64)> = s.denial_reasons.iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (reason, n) in reasons {
        l.count(
            if reason.is_empty() {
                "(no reason)"
            } else {
                reason
            },
            *n,
        )?;
    }

    l.section("Open reviews")?;
    l.count("in-review entries", s.in_review.count)?;
    l.count(
        &format!(
            "in review longer than {} days",
            s.in_review.stale_after_days
        ),
        s.in_review.stale,
    )?;
    l.row += 1;
    oldest_reviews(&mut l, oldest)?;

    if let Some(counts) = &s.reconciliation {
        l.section("Reconciliation with the input's expected qualification")?;
        l.header(&["reconciliation", "customers"], 1)?;
        for (label, n) in counts {
            l.count(label, *n)?;
        }
    }

    if let Some(c) = &s.changes {
        l.section("Changes since the previous run (sheet Changes)")?;
        l.text("previous run folder", &c.previous_run.path)?;
        l.text(
            "previous run id",
            c.previous_run.id.as_deref().unwrap_or(""),
        )?;
        l.header(&["change", "rows"], 1)?;
        for (kind, n) in &c.by_kind {
            l.count(kind, *n)?;
        }
        l.count("total", c.total)?;
    }
    Ok(())
}

/// Customers per qualification and status, and the column chart of it
/// (one series per status, coloured like the status cells).
fn qualification_table(l: &mut Lines<'_>, s: &Summary) -> Result<(), XlsxError> {
    l.section("Customers per qualification and vetting status")?;
    // The documented statuses, then any other the run met, in name order.
    let others: std::collections::BTreeSet<&str> = s
        .qualifications
        .values()
        .flat_map(|c| c.other.keys().map(String::as_str))
        .collect();
    let mut statuses = vec![
        VettingStatus::Approved,
        VettingStatus::InReview,
        VettingStatus::Denied,
    ];
    statuses.extend(others.into_iter().map(VettingStatus::from_report));
    let mut head = vec!["qualification"];
    head.extend(statuses.iter().map(|status| match status {
        VettingStatus::Absent => "(no status)",
        status => status.as_str(),
    }));
    let header_row = l.row;
    l.header(&head, 1)?;
    let first = l.row;
    for (q, c) in &s.qualifications {
        write_text(l.ws, l.row, 0, q)?;
        for (col, status) in (1u16..).zip(&statuses) {
            l.ws.write_number(l.row, col, c.count(status) as f64)?;
        }
        l.row += 1;
    }
    if l.row == first {
        write_text(l.ws, l.row, 0, "(no qualifications in this run)")?;
        l.row += 1;
        return Ok(());
    }
    let last = l.row - 1;
    let mut chart = Chart::new(ChartType::Column);
    chart
        .title()
        .set_name("Customers per qualification and vetting status")
        .set_font(ChartFont::new().set_bold().set_size(12));
    chart.y_axis().set_name("customers");
    for (col, status) in (1u16..).zip(&statuses) {
        // Stronger than the status cells' fills, same hues; other
        // statuses in colours of their own.
        let colour = match status {
            VettingStatus::Approved => 0x70AD47,
            VettingStatus::InReview => 0xFFC000,
            VettingStatus::Denied => 0xE05252,
            VettingStatus::Other(_) | VettingStatus::Absent => {
                OTHER_COLOURS[usize::from(col - 4) % OTHER_COLOURS.len()]
            }
        };
        chart
            .add_series()
            .set_name((SUMMARY_SHEET, header_row, col))
            .set_categories((SUMMARY_SHEET, first, 0, last, 0))
            .set_values((SUMMARY_SHEET, first, col, last, col))
            .set_format(
                ChartFormat::new()
                    .set_solid_fill(ChartSolidFill::new().set_color(Color::RGB(colour)))
                    .set_border(ChartLine::new().set_color(Color::RGB(0x7F7F7F))),
            );
    }
    chart.set_width(CHART_WIDTH).set_height(CHART_HEIGHT);
    l.row += 1;
    l.ws.insert_chart(l.row, 0, &chart)?;
    l.row += CHART_ROWS;
    Ok(())
}

/// The open reviews with the oldest vetting dates, oldest first.
fn oldest_reviews(l: &mut Lines<'_>, open: &[(DateTime<Utc>, ReportRow)]) -> Result<(), XlsxError> {
    l.ws.write_string_with_format(
        l.row,
        0,
        format!("The {OLDEST_REVIEWS} oldest open reviews"),
        &l.f.bold,
    )?;
    l.row += 1;
    l.header(
        &[
            "customer_tenant_id",
            "qualification",
            "in review since (UTC)",
            "days in review",
        ],
        2,
    )?;
    for (_, r) in open.iter().take(OLDEST_REVIEWS) {
        write_text(l.ws, l.row, 0, &r.customer_tenant_id)?;
        write_text(l.ws, l.row, 1, &r.qualification)?;
        if let Some(date) = &r.vetting_created_date {
            write_date(l.ws, l.row, 2, date, l.f)?;
        }
        if let Some(days) = r.days_in_review {
            l.ws.write_number(l.row, 3, days as f64)?;
        }
        l.row += 1;
    }
    if open.is_empty() {
        write_text(l.ws, l.row, 0, "(none)")?;
        l.row += 1;
    }
    Ok(())
}
