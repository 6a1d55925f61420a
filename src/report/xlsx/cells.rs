//! What every sheet of the workbook shares: the sheet names, the cell
//! formats, and how text and dates go into a cell within Excel's limits.

use rust_xlsxwriter::{Color, Format, FormatAlign, FormatBorder, Worksheet, XlsxError};

use crate::model::{VettingDate, VettingStatus};

/// Sheet names, in workbook order.
pub(crate) const SUMMARY_SHEET: &str = "Summary";
pub(crate) const ATTENTION_SHEET: &str = "Needs attention";
pub(crate) const CUSTOMERS_SHEET: &str = "Customers";
pub(crate) const CHANGES_SHEET: &str = "Changes";

/// Excel's limit on the characters of one cell (UTF-16 units).
pub(super) const MAX_CELL_UTF16: usize = 32_767;

pub(super) const DATETIME_FORMAT: &str = "yyyy-mm-dd hh:mm:ss";

/// `text`, cut to fit one Excel cell (counted in UTF-16 units, as Excel
/// does), ending in a marker that says how long it was.
pub(crate) fn fit_cell(text: &str) -> std::borrow::Cow<'_, str> {
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
pub(super) struct CellFormats {
    pub(super) bold: Format,
    /// A table's header row.
    pub(super) header: Format,
    /// A table's header over a column of numbers or dates.
    pub(super) header_right: Format,
    /// A section title on the Summary sheet.
    pub(super) heading: Format,
    /// The Summary sheet's title.
    pub(super) title: Format,
    pub(super) datetime: Format,
    /// Long text in a column that wraps instead of running on.
    pub(super) wrap: Format,
    /// For cells without a format of their own, when the sheet needs one
    /// (top alignment in rows that grow with wrapped text).
    pub(super) plain: Option<Format>,
    pub(super) approved: Format,
    pub(super) in_review: Format,
    pub(super) denied: Format,
}

/// Status colours (cell fill, text): Excel's own Good / Neutral / Bad cell
/// styles.
const APPROVED: (u32, u32) = (0xC6EFCE, 0x006100);
const IN_REVIEW: (u32, u32) = (0xFFEB9C, 0x9C5700);
const DENIED: (u32, u32) = (0xFFC7CE, 0x9C0006);

impl CellFormats {
    /// `top`: every cell aligned to the top (for rows that grow).
    pub(super) fn new(top: bool) -> CellFormats {
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
    pub(super) fn status(&self, status: &VettingStatus) -> Option<&Format> {
        match status {
            VettingStatus::Approved => Some(&self.approved),
            VettingStatus::InReview => Some(&self.in_review),
            VettingStatus::Denied => Some(&self.denied),
            VettingStatus::Other(_) | VettingStatus::Absent => None,
        }
    }
}

pub(super) fn write_text(
    ws: &mut Worksheet,
    row: u32,
    col: u16,
    text: &str,
) -> Result<(), XlsxError> {
    if !text.is_empty() {
        ws.write_string(row, col, fit_cell(text))?;
    }
    Ok(())
}

/// A date becomes a real datetime (UTC) when it was parsed and Excel can
/// hold it; otherwise it is the report's text of it.
pub(super) fn write_date(
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
