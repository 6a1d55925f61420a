//! Reading the customer list.
//!
//! Partners export their customer lists from whatever they have at hand:
//! Partner Center's own CSV, Excel in a Swedish locale (`;`, BOM, CRLF), a TSV
//! from a script, or ids pasted into a text file. All of these must work
//! without options; `--column`, `--delimiter` and `--encoding` only
//! override the guesses.
//!
//! Parsing is pure ([`parse_input`]) and runs in steps, one module each:
//! [`decode`] the bytes, [`sniff`] the delimiter, split [`records`] with the
//! `csv` crate, work out the [`layout`] (header and id column), then classify
//! each row by its [`guid`]. [`describe`] words the result for `check`.
//!
//! Imports run one way: this module uses the steps; `sniff` uses `layout`,
//! `records` and `guid`; `layout` uses `records` and `guid`; `guid` uses
//! `records`; `decode` and `records` use no sibling. Only `describe` uses
//! this module (it adds [`InputFile::describe`]), and nothing uses it.

mod cells;
mod decode;
mod describe;
mod guid;
mod layout;
mod records;
mod sniff;
mod spill;

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

pub use cells::Cells;
pub use decode::parse_encoding;
pub use guid::parse_guid;
pub(crate) use sniff::delimiter_name;
pub use spill::{SPILL_OVER, Spill};

use guid::shorten;
pub(crate) use layout::normalise_header;
use layout::{LayoutProblem, NoLayout, Shape, column_names};

/// Options that steer how the input is read.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// `--column`: header name (matched like the aliases) or 1-based number.
    pub column: Option<String>,
    /// `--delimiter`; `None` = sniff (a `.tsv` path means tab).
    pub delimiter: Option<u8>,
    /// `--encoding`; `None` = detect (see [`decode`]). A BOM still wins.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    /// An input larger than this (in bytes) with passthrough columns keeps
    /// their cells in a temp file ([`Spill`]); `None`: in memory, always.
    /// [`read_input`] uses [`SPILL_OVER`] unless told otherwise.
    pub spill_over: Option<usize>,
}

/// A whole parsed input file.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The delimiter used.
    pub delimiter: u8,
    /// Whether line 1 is a header line.
    pub has_header: bool,
    /// Header of the id column (or `column_N` for a headerless file).
    pub id_header: String,
    /// 0-based position of the id column in the file.
    pub id_column: usize,
    /// Headers of the other columns, in file order: carried into the report.
    pub extra_headers: Vec<String>,
    /// Every non-blank data row, in input order.
    pub rows: Vec<InputRow>,
    /// Blank lines and rows whose cells are all empty.
    pub blank_rows: usize,
    /// Lowercase hex SHA-256 of the raw input bytes.
    pub sha256: String,
    /// The encoding the bytes were decoded from, by its WHATWG name
    /// in lower case (`utf-8`, `utf-16le`, `windows-1252`, `shift_jis`, …).
    pub encoding: &'static str,
    /// A large input's passthrough cells, when they are kept on disk (the
    /// rows' own `extra` is then empty): read them with
    /// [`InputFile::cells`].
    pub spill: Option<Spill>,
}

/// One data row: what the report needs of it, not the whole record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// 1-based physical line where the record starts (line 1 = header).
    pub line: u64,
    /// The id cell as written, unless it is its id's canonical form
    /// (lower-case, hyphenated), as most are: see [`InputRow::raw_id`].
    raw: Option<Box<str>>,
    /// The other cells, aligned with `extra_headers` (missing cells are
    /// ""); none when a large input keeps them on disk, so read them with
    /// [`InputFile::cells`].
    pub extra: Cells,
    /// What this row is.
    pub kind: RowKind,
}

impl InputRow {
    /// The row on `line` whose id cell reads `raw_id`.
    pub fn new(line: u64, raw_id: &str, extra: Cells, kind: RowKind) -> InputRow {
        let canonical = match &kind {
            RowKind::Customer(id) | RowKind::Duplicate { id, .. } => {
                let mut buf = Uuid::encode_buffer();
                raw_id == id.hyphenated().encode_lower(&mut buf)
            }
            RowKind::Invalid { .. } => false,
        };
        InputRow {
            line,
            raw: (!canonical).then(|| raw_id.into()),
            extra,
            kind,
        }
    }

    /// The id cell exactly as written.
    pub fn raw_id(&self) -> std::borrow::Cow<'_, str> {
        match (&self.raw, &self.kind) {
            (Some(raw), _) => raw.as_ref().into(),
            (None, RowKind::Customer(id) | RowKind::Duplicate { id, .. }) => id.to_string().into(),
            (None, RowKind::Invalid { .. }) => "".into(),
        }
    }
}

/// What a data row turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    /// First occurrence of a valid id: this one is looked up.
    Customer(Uuid),
    /// A valid id already seen on `first_line`: not looked up again.
    Duplicate {
        /// The id, parsed (so `{ABC…}` and `abc…` are the same customer).
        id: Uuid,
        /// 1-based physical line of its first occurrence, where it is
        /// looked up.
        first_line: u64,
    },
    /// Not a GUID: reported, never sent.
    Invalid {
        /// Why the cell is not a GUID, as the report's `error` column shows
        /// it.
        reason: String,
    },
}

/// Why an input file cannot be used at all. Problems with single rows are not
/// errors: they become [`RowKind::Invalid`] rows so the run goes on.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// Nothing but blank lines.
    #[error(
        "the input holds no rows (it is empty or only blank lines); \
         put one customer tenant id per row, under a header such as `customer_tenant_id`"
    )]
    Empty,
    /// A header line and nothing under it.
    #[error(
        "the input has a header line ({}) but no data rows; \
         add one customer tenant id per row below it",
        name_list(.headers)
    )]
    NoDataRows {
        /// The headers seen.
        headers: Vec<String>,
    },
    /// No header names the id column and no column holds GUIDs.
    #[error(
        "no column of customer tenant ids found (headers seen: {}); \
         name the id column `customer_tenant_id`, or choose it with \
         `--column NAME` or `--column N` (N = column number, from 1)",
        name_list(.headers)
    )]
    NoIdColumn {
        /// The headers seen (or line 1's cells, if that was no header).
        headers: Vec<String>,
    },
    /// Several columns hold GUIDs and no header says which one is the customer.
    #[error(
        "several columns hold GUIDs ({}) and no header names the customer id column; \
         choose one with `--column NAME` or `--column N` (N = column number, from 1)",
        name_list(.columns)
    )]
    AmbiguousIdColumn {
        /// The candidate columns, by header (or `column_N`).
        columns: Vec<String>,
    },
    /// `--column` names no header and is no valid column number.
    #[error(
        "`--column {column}` matches no column (headers seen: {}); \
         give one of these names, or a column number from 1 to {}",
        name_list(.headers),
        .headers.len()
    )]
    ColumnNotFound {
        /// What the user asked for.
        column: String,
        /// The headers seen (`column_N` where the file has none).
        headers: Vec<String>,
    },
    /// Not text at all: a workbook, an archive, a PDF, a binary file.
    #[error(
        "the input is {what}, not a CSV text file; save the customer list as CSV \
         (in Excel: File → Save As → CSV UTF-8) and give that file"
    )]
    NotText {
        /// What it looks like instead.
        what: &'static str,
    },
    /// The temp file for a large input's passthrough cells failed.
    #[error(
        "cannot keep the input's other columns in a temporary file (in TMPDIR): {0}; \
         free some space there, or point TMPDIR at a folder with room"
    )]
    Spill(std::io::Error),
    /// The CSV structure itself is broken.
    #[error("line {line}: malformed CSV: {message}")]
    Malformed {
        /// 1-based physical line where the problem starts.
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Longest list printed in messages and in `describe` before "… and N more".
const LIST_CAP: usize = 20;

/// Read the customer list from `path` (`-` = stdin) and parse it.
pub fn read_input(path: &Path, opts: &InputOptions) -> anyhow::Result<InputFile> {
    let stdin = path == Path::new("-");
    let (bytes, what) = if stdin {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read the input from stdin")?;
        (bytes, "the input read from stdin".to_owned())
    } else {
        let bytes = std::fs::read(path)
            .with_context(|| format!("cannot read input file {}", path.display()))?;
        (bytes, format!("input file {}", path.display()))
    };
    let hint = (!stdin).then_some(path);
    let opts = InputOptions {
        spill_over: opts.spill_over.or(Some(SPILL_OVER)),
        ..opts.clone()
    };
    let mut file =
        parse_unmarked(&bytes, &opts, hint).with_context(|| format!("cannot use {what}"))?;
    // The bytes are let go before the duplicates are sorted out: the two
    // together would be the peak of a large input.
    drop(bytes);
    mark_duplicates(&mut file.rows);
    Ok(file)
}

/// Parse a whole input file. Pure: `path_hint` is only used for its extension
/// (`.tsv`/`.tab` mean tab when no delimiter is given).
pub fn parse_input(
    bytes: &[u8],
    opts: &InputOptions,
    path_hint: Option<&Path>,
) -> Result<InputFile, InputError> {
    let mut file = parse_unmarked(bytes, opts, path_hint)?;
    mark_duplicates(&mut file.rows);
    Ok(file)
}

/// [`parse_input`] but for the duplicates: every valid id is still a
/// [`RowKind::Customer`].
fn parse_unmarked(
    bytes: &[u8],
    opts: &InputOptions,
    path_hint: Option<&Path>,
) -> Result<InputFile, InputError> {
    if let Some(what) = not_text(bytes) {
        return Err(InputError::NotText { what });
    }
    let (text, encoding) = decode::decode(bytes, opts.encoding);
    // Decoded text has no NUL (UTF-16 is decoded above): one means a
    // binary file that happened to decode.
    if text.contains('\0') {
        return Err(InputError::NotText {
            what: "a binary file (it holds NUL bytes)",
        });
    }
    let delimiter = sniff::choose_delimiter(&text, opts.delimiter, path_hint);
    // Read twice, keeping no record: first the shape the layout is chosen
    // from, then the rows.
    let mut shape = Shape::default();
    let blank_rows = records::for_each_record(&text, delimiter, |_, record| shape.add(record))?;
    if shape.records() == 0 {
        return Err(InputError::Empty);
    }
    let width = shape.width();
    let layout = layout::choose_layout(&shape, opts.column.as_deref())
        .map_err(|refusal| layout_error(refusal, shape.first(), width, opts))?;
    let names = column_names(shape.first(), layout.has_header, width);
    if layout.has_header && shape.records() == 1 {
        return Err(InputError::NoDataRows { headers: names });
    }

    let id_column = layout.id_column;
    let mut rows: Vec<InputRow> =
        Vec::with_capacity(shape.records() - usize::from(layout.has_header));
    let mut header = layout.has_header;
    let mut spill = match opts.spill_over {
        Some(over) if width > 1 && text.len() > over => {
            Some(spill::SpillWriter::new(rows.capacity()).map_err(InputError::Spill)?)
        }
        _ => None,
    };
    let mut spill_failed = None;
    records::for_each_record(&text, delimiter, |line, record| {
        if std::mem::take(&mut header) {
            return;
        }
        let raw_id = record.get(id_column).unwrap_or_default();
        let mut extra = Cells::new(
            (0..width)
                .filter(|&col| col != id_column)
                .map(|col| record.get(col).unwrap_or_default()),
        );
        if let Some(spill) = &mut spill {
            if let Err(e) = spill.push(&extra) {
                spill_failed.get_or_insert(e);
            }
            extra = Cells::default();
        }
        let kind = match parse_guid(raw_id) {
            Ok(id) => RowKind::Customer(id),
            Err(reason) => RowKind::Invalid { reason },
        };
        rows.push(InputRow::new(line, raw_id, extra, kind));
    })?;
    if let Some(e) = spill_failed {
        return Err(InputError::Spill(e));
    }
    let spill = spill
        .map(spill::SpillWriter::finish)
        .transpose()
        .map_err(InputError::Spill)?;

    let mut extra_headers = names;
    let id_header = extra_headers.remove(id_column);
    Ok(InputFile {
        delimiter,
        has_header: layout.has_header,
        id_header,
        id_column,
        extra_headers,
        rows,
        blank_rows,
        sha256: hex_sha256(bytes),
        encoding: decode::encoding_name(encoding),
        spill,
    })
}

/// What `bytes` are by their first bytes, when that is a format no CSV
/// export starts with: an Excel workbook or another zip archive, an old
/// binary Excel file, a PDF, a gzip file.
fn not_text(bytes: &[u8]) -> Option<&'static str> {
    const KINDS: [(&[u8], &str); 4] = [
        (
            b"PK\x03\x04",
            "a zip archive (an Excel .xlsx workbook is one)",
        ),
        (
            b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1",
            "an Excel 97-2003 .xls workbook (or another Office file)",
        ),
        (b"%PDF-", "a PDF document"),
        (b"\x1F\x8B", "a gzip-compressed file"),
    ];
    KINDS
        .iter()
        .find(|(magic, _)| bytes.starts_with(magic))
        .map(|(_, what)| *what)
}

/// Turn every repeat of a customer id into a [`RowKind::Duplicate`] of its
/// first row: the same as [`RowClassifier`] row by row, with one sorted list
/// of (id, row) instead of a hash map (a third of the memory for a large
/// input, and it is gone afterwards).
fn mark_duplicates(rows: &mut [InputRow]) {
    let mut ids: Vec<(Uuid, usize)> = rows
        .iter()
        .enumerate()
        .filter_map(|(i, row)| match row.kind {
            RowKind::Customer(id) => Some((id, i)),
            _ => None,
        })
        .collect();
    ids.sort_unstable();
    for same in ids.chunk_by(|a, b| a.0 == b.0) {
        let (id, first) = same[0];
        let first_line = rows[first].line;
        for &(_, i) in &same[1..] {
            rows[i].kind = RowKind::Duplicate { id, first_line };
        }
    }
}

/// Sorts ids, row by row in input order, into customers (first occurrence
/// of a valid id), duplicates and invalid ids. Shared by the file reader and
/// the Partner Center customer list.
#[derive(Debug, Default)]
pub struct RowClassifier {
    first_seen: HashMap<Uuid, u64>,
}

impl RowClassifier {
    /// What the row at `line` holding `raw_id` is.
    pub fn classify(&mut self, raw_id: &str, line: u64) -> RowKind {
        match parse_guid(raw_id) {
            Err(reason) => RowKind::Invalid { reason },
            Ok(id) => match self.first_seen.entry(id) {
                Entry::Vacant(slot) => {
                    slot.insert(line);
                    RowKind::Customer(id)
                }
                Entry::Occupied(first) => RowKind::Duplicate {
                    id,
                    first_line: *first.get(),
                },
            },
        }
    }

    /// Distinct valid ids so far.
    pub fn customers(&self) -> usize {
        self.first_seen.len()
    }
}

/// Word a layout refusal, naming the columns as the user sees them.
fn layout_error(
    refusal: NoLayout,
    first: &[String],
    width: usize,
    opts: &InputOptions,
) -> InputError {
    let headers = column_names(first, refusal.has_header, width);
    match refusal.problem {
        LayoutProblem::ColumnNotFound => InputError::ColumnNotFound {
            column: opts.column.clone().unwrap_or_default(),
            headers,
        },
        LayoutProblem::NoDataRows => InputError::NoDataRows { headers },
        LayoutProblem::NoIdColumn => InputError::NoIdColumn { headers },
        LayoutProblem::Ambiguous(columns) => InputError::AmbiguousIdColumn {
            columns: columns.iter().map(|&c| headers[c].clone()).collect(),
        },
    }
}

impl From<records::Malformed> for InputError {
    fn from(malformed: records::Malformed) -> Self {
        InputError::Malformed {
            line: malformed.line,
            message: malformed.message,
        }
    }
}

impl InputFile {
    /// The passthrough cells of row `i` (of `rows`), from memory or, for
    /// a large input, read back from its temp file.
    pub fn cells(&self, i: usize) -> std::io::Result<std::borrow::Cow<'_, Cells>> {
        match &self.spill {
            Some(spill) => spill.cells(i).map(std::borrow::Cow::Owned),
            None => Ok(std::borrow::Cow::Borrowed(&self.rows[i].extra)),
        }
    }

    /// The customers to look up: first occurrences of valid ids, in input order.
    pub fn customers(&self) -> impl Iterator<Item = (Uuid, &InputRow)> {
        self.rows.iter().filter_map(|row| match row.kind {
            RowKind::Customer(id) => Some((id, row)),
            _ => None,
        })
    }

    /// Number of distinct valid customer ids.
    pub fn customer_count(&self) -> usize {
        self.customers().count()
    }

    /// Rows repeating an id seen on an earlier row.
    pub fn duplicate_rows(&self) -> usize {
        self.duplicates().count()
    }

    /// The input column `wanted` names, resolved like `--column` (exact
    /// header, 1-based number, header ignoring case and punctuation), as a
    /// 0-based column of the file (the id column included).
    pub fn column_index(&self, wanted: &str) -> Option<usize> {
        let mut names = self.extra_headers.clone();
        names.insert(self.id_column.min(names.len()), self.id_header.clone());
        layout::column_index(&names, wanted)
    }

    /// Rows whose id is not a usable GUID.
    pub fn invalid_rows(&self) -> usize {
        self.invalid().count()
    }

    /// Rows repeating an earlier id, with that id and the line of its first
    /// occurrence (for the summary's duplicate list).
    pub fn duplicates(&self) -> impl Iterator<Item = (&InputRow, Uuid, u64)> {
        self.rows.iter().filter_map(|row| match row.kind {
            RowKind::Duplicate { id, first_line } => Some((row, id, first_line)),
            _ => None,
        })
    }

    /// Rows whose id is unusable, with the reason.
    pub fn invalid(&self) -> impl Iterator<Item = (&InputRow, &str)> {
        self.rows.iter().filter_map(|row| match &row.kind {
            RowKind::Invalid { reason } => Some((row, reason.as_str())),
            _ => None,
        })
    }
}

/// `` `a`, `b`, `c` `` for messages, at most [`LIST_CAP`] names.
fn name_list(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    let mut list = names
        .iter()
        .take(LIST_CAP)
        .map(|n| format!("`{}`", shorten(n)))
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > LIST_CAP {
        list.push_str(&format!(", … and {} more", names.len() - LIST_CAP));
    }
    list
}

/// Lowercase hex SHA-256, as `input.sha256` reports it.
pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The six customers every dialect fixture holds, in file order.
    const IDS: [&str; 6] = [
        "e083ac65-ff8b-4ba1-9541-05e7a2881ddc",
        "97ca2b55-839e-4579-98d4-39599a228c98",
        "4957e990-2e85-4204-83da-169df608d4ea",
        "9b6781f8-5edf-4ff7-9205-b5327a9fab0a",
        "a5250fec-d0db-4f5f-86ad-1ad306756c65",
        "d2681170-a97d-4585-a3b8-591d4c315d37",
    ];

    fn parse(bytes: &[u8]) -> InputFile {
        parse_input(bytes, &InputOptions::default(), None).expect("input parses")
    }

    fn parse_err(bytes: &[u8], opts: &InputOptions) -> InputError {
        parse_input(bytes, opts, None).expect_err("input is refused")
    }

    fn with_column(column: &str) -> InputOptions {
        InputOptions {
            column: Some(column.to_owned()),
            ..InputOptions::default()
        }
    }

    fn customer_ids(file: &InputFile) -> Vec<String> {
        file.customers().map(|(id, _)| id.to_string()).collect()
    }

    fn lines(file: &InputFile) -> Vec<u64> {
        file.rows.iter().map(|r| r.line).collect()
    }

    fn row_at(file: &InputFile, line: u64) -> &InputRow {
        file.rows
            .iter()
            .find(|r| r.line == line)
            .expect("a row on that line")
    }

    struct Dialect {
        name: &'static str,
        bytes: &'static [u8],
        delimiter: u8,
        id_header: &'static str,
        extra_headers: &'static [&'static str],
        lines: [u64; 6],
        blank_rows: usize,
    }

    const DIALECTS: &[Dialect] = &[
        Dialect {
            name: "plain.csv",
            bytes: include_bytes!("../../tests/data/dialects/plain.csv"),
            delimiter: b',',
            id_header: "customer_tenant_id",
            extra_headers: &[],
            lines: [2, 3, 4, 5, 6, 7],
            blank_rows: 0,
        },
        Dialect {
            name: "excel-sv.csv",
            bytes: include_bytes!("../../tests/data/dialects/excel-sv.csv"),
            delimiter: b';',
            id_header: "Kund-ID",
            extra_headers: &["Kundnamn", "Land"],
            lines: [2, 3, 4, 6, 7, 8],
            blank_rows: 1,
        },
        Dialect {
            name: "tabs.tsv",
            bytes: include_bytes!("../../tests/data/dialects/tabs.tsv"),
            delimiter: b'\t',
            id_header: "tenantId",
            extra_headers: &["name", "country"],
            lines: [2, 3, 4, 5, 6, 7],
            blank_rows: 0,
        },
        Dialect {
            name: "partner-center-export.csv",
            bytes: include_bytes!("../../tests/data/dialects/partner-center-export.csv"),
            delimiter: b',',
            id_header: "Microsoft ID",
            extra_headers: &["Company name", "Primary domain name", "Created date"],
            lines: [2, 3, 4, 5, 6, 7],
            blank_rows: 0,
        },
        Dialect {
            name: "notes.csv",
            bytes: include_bytes!("../../tests/data/dialects/notes.csv"),
            delimiter: b',',
            id_header: "customer_tenant_id",
            extra_headers: &["customer", "notes"],
            lines: [2, 4, 5, 10, 11, 13],
            blank_rows: 1,
        },
        Dialect {
            name: "headerless.csv",
            bytes: include_bytes!("../../tests/data/dialects/headerless.csv"),
            delimiter: b',',
            id_header: "column_1",
            extra_headers: &[],
            lines: [1, 2, 3, 4, 5, 6],
            blank_rows: 0,
        },
    ];

    #[test]
    fn workbooks_archives_and_binary_files_are_named_not_parsed() {
        let opts = InputOptions::default();
        // A zip that stores a CSV uncompressed would otherwise "parse".
        let mut zip = b"PK\x03\x04\x14\x00\x00\x00\x00\x00".to_vec();
        zip.extend_from_slice(b"one.csvcustomer_tenant_id\n6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b\n");
        let cases: [(&[u8], &str); 5] = [
            (&zip, "a zip archive (an Excel .xlsx workbook is one)"),
            (
                b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00",
                "an Excel 97-2003 .xls",
            ),
            (b"%PDF-1.7\n", "a PDF document"),
            (b"\x1F\x8B\x08\x00", "a gzip-compressed file"),
            (
                b"customer_tenant_id\n6f1c2a3b-\x004d5e\n",
                "a binary file (it holds NUL bytes)",
            ),
        ];
        for (bytes, what) in cases {
            let e = parse_err(bytes, &opts).to_string();
            assert!(e.contains(what) && e.contains("CSV UTF-8"), "{e}");
        }
        // UTF-16 is text: its NUL bytes are decoded away.
        let utf16: Vec<u8> = "customer_tenant_id\n6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b\n"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        assert_eq!(parse(&utf16).rows.len(), 1);
    }

    /// A large input keeps its passthrough cells on disk and gives the
    /// same cells back, row by row; one with no other column has nothing
    /// to keep there.
    #[test]
    fn a_large_inputs_cells_are_kept_on_disk_and_read_back_the_same() {
        let spilling = InputOptions {
            spill_over: Some(0),
            ..InputOptions::default()
        };
        for d in DIALECTS {
            let kept = parse(d.bytes);
            let spilled = parse_input(d.bytes, &spilling, None).expect("input parses");
            assert_eq!(
                spilled.spill.is_some(),
                !d.extra_headers.is_empty(),
                "{}",
                d.name
            );
            assert_eq!(spilled.rows.len(), kept.rows.len(), "{}", d.name);
            for (i, row) in kept.rows.iter().enumerate() {
                assert_eq!(*spilled.cells(i).unwrap(), row.extra, "{} row {i}", d.name);
                assert_eq!(spilled.rows[i].kind, row.kind, "{}", d.name);
                if spilled.spill.is_some() {
                    assert!(spilled.rows[i].extra.is_empty());
                }
            }
        }
        let small = InputOptions {
            spill_over: Some(1 << 20),
            ..InputOptions::default()
        };
        assert!(
            parse_input(DIALECTS[0].bytes, &small, None)
                .unwrap()
                .spill
                .is_none()
        );
    }

    #[test]
    fn every_dialect_yields_the_same_customers() {
        for d in DIALECTS {
            let file = parse(d.bytes);
            assert_eq!(customer_ids(&file), IDS, "{}", d.name);
            assert_eq!(file.delimiter, d.delimiter, "{}", d.name);
            assert_eq!(file.id_header, d.id_header, "{}", d.name);
            assert_eq!(file.extra_headers, d.extra_headers, "{}", d.name);
            assert_eq!(lines(&file), d.lines, "{}", d.name);
            assert_eq!(file.blank_rows, d.blank_rows, "{}", d.name);
            assert_eq!(file.has_header, d.name != "headerless.csv", "{}", d.name);
            assert_eq!(file.encoding, "utf-8", "{}", d.name);
            assert_eq!(
                (file.duplicate_rows(), file.invalid_rows()),
                (0, 0),
                "{}",
                d.name
            );
            assert!(
                file.rows
                    .iter()
                    .all(|r| r.extra.len() == d.extra_headers.len()),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn cells_are_kept_verbatim() {
        let sv = parse(DIALECTS[1].bytes);
        assert_eq!(row_at(&sv, 2).extra, ["Åkersberga gymnasium", "Sverige"]);
        assert_eq!(row_at(&sv, 3).extra.get(0).unwrap(), "Skolan i Örebro, AB");
        assert_eq!(
            row_at(&sv, 7).raw_id(),
            " a5250fec-d0db-4f5f-86ad-1ad306756c65 "
        );
        assert_eq!(
            row_at(&sv, 8).extra.get(0).unwrap(),
            "Malmö \"Centrum\" skola"
        );

        let pc = parse(DIALECTS[3].bytes);
        assert_eq!(pc.id_column, 1);
        assert_eq!(
            row_at(&pc, 3).extra,
            ["Fabrikam, Inc.", "fabrikam.onmicrosoft.com", "2020-11-30"]
        );
        assert_eq!(
            row_at(&pc, 3).raw_id(),
            "{97CA2B55-839E-4579-98D4-39599A228C98}"
        );

        let notes = parse(DIALECTS[4].bytes);
        assert_eq!(
            row_at(&notes, 2).extra.get(1).unwrap(),
            "Renewal due in May.\nCall the principal first."
        );
        assert_eq!(
            row_at(&notes, 4).extra,
            ["=HYPERLINK(\"http://x\",\"y\")", "+46 8 123"]
        );
        // The empty line inside the quoted note is text, not a blank row.
        assert_eq!(
            row_at(&notes, 5).extra.get(1).unwrap(),
            "-5% discount agreed,\nsee mail from \"Anna\"\n\nend of note"
        );
        assert_eq!(row_at(&notes, 10).extra, ["@SUM(A1)", "-5%"]);
        assert_eq!(row_at(&notes, 13).extra, ["Woodgrove", "=1+1"]);
    }

    #[test]
    fn duplicates_point_at_their_first_occurrence() {
        let file = parse(
            b"customer_tenant_id\n\
              97ca2b55-839e-4579-98d4-39599a228c98\n\
              e083ac65-ff8b-4ba1-9541-05e7a2881ddc\n\
              97CA2B55-839E-4579-98D4-39599A228C98\n\
              {e083ac65-ff8b-4ba1-9541-05e7a2881ddc}\n\
              97ca2b55839e457998d439599a228c98\n",
        );
        let b = Uuid::parse_str(IDS[1]).unwrap();
        let a = Uuid::parse_str(IDS[0]).unwrap();
        assert_eq!(customer_ids(&file), [IDS[1], IDS[0]]);
        assert_eq!(file.duplicate_rows(), 3);
        let kinds: Vec<&RowKind> = file.rows.iter().map(|r| &r.kind).collect();
        assert_eq!(
            kinds[2],
            &RowKind::Duplicate {
                id: b,
                first_line: 2
            }
        );
        assert_eq!(
            kinds[3],
            &RowKind::Duplicate {
                id: a,
                first_line: 3
            }
        );
        assert_eq!(
            kinds[4],
            &RowKind::Duplicate {
                id: b,
                first_line: 2
            }
        );
    }

    #[test]
    fn invalid_ids_get_reasons_and_never_stop_the_file() {
        let file = parse(
            b"customer_tenant_id,name\n\
              97ca2b55-839e-4579-98d4-39599a228c98,ok\n\
              abc,short\n\
              00000000-0000-0000-0000-000000000000,nil\n\
              ,no id\n\
              97ca2b55-839e-4579-98d4-39599a228c9,one digit short\n\
              97ca2b55-839e-4579-98d4-39599a228cXY,letters\n\
              97ca2b5-5839e-4579-98d4-39599a228c98,hyphen moved\n",
        );
        assert_eq!(file.customer_count(), 1);
        assert_eq!(file.invalid_rows(), 6);
        let reasons: Vec<&str> = file.invalid().map(|(_, reason)| reason).collect();
        assert_eq!(
            reasons[0],
            "not a GUID: `abc` (3 hex digits; expected 32 hex digits such as 8-4-4-4-12)"
        );
        assert_eq!(reasons[1], "nil GUID is not a customer id");
        assert_eq!(reasons[2], "empty customer id");
        assert!(reasons[3].contains("31 hex digits"), "{}", reasons[3]);
        assert!(
            reasons[4].contains("`X` is not a hex digit"),
            "{}",
            reasons[4]
        );
        assert!(
            reasons[5].contains("hyphens in the wrong places"),
            "{}",
            reasons[5]
        );
        assert_eq!(
            row_at(&file, 6).raw_id(),
            "97ca2b55-839e-4579-98d4-39599a228c9"
        );
    }

    #[test]
    fn ragged_rows_keep_every_cell() {
        let file = parse(b"customer_tenant_id,name\n97ca2b55-839e-4579-98d4-39599a228c98,x,more,most\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc\n");
        assert_eq!(file.extra_headers, ["name", "column_3", "column_4"]);
        assert_eq!(file.rows[0].extra, ["x", "more", "most"]);
        assert_eq!(file.rows[1].extra, ["", "", ""]);
        // An empty header cell also gets a usable name.
        let file = parse(b"tenant id,,notes\n97ca2b55-839e-4579-98d4-39599a228c98,a,b\n");
        assert_eq!(file.extra_headers, ["column_2", "notes"]);
    }

    #[test]
    fn ambiguous_guid_columns_need_column() {
        let text = b"partner,customer\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,97ca2b55-839e-4579-98d4-39599a228c98\n";
        let message = parse_err(text, &InputOptions::default()).to_string();
        assert!(
            message.contains("`partner`, `customer`") && message.contains("--column"),
            "{message}"
        );

        for column in ["customer", "CUSTOMER", "2"] {
            let file = parse_input(text, &with_column(column), None).unwrap();
            assert_eq!(
                (file.id_header.as_str(), customer_ids(&file)),
                ("customer", vec![IDS[1].to_owned()]),
                "{column}"
            );
        }
        let headerless =
            b"e083ac65-ff8b-4ba1-9541-05e7a2881ddc,97ca2b55-839e-4579-98d4-39599a228c98\n";
        assert!(matches!(
            parse_err(headerless, &InputOptions::default()),
            InputError::AmbiguousIdColumn { .. }
        ));
        let file = parse_input(headerless, &with_column("1"), None).unwrap();
        assert_eq!(
            (file.has_header, customer_ids(&file)),
            (false, vec![IDS[0].to_owned()])
        );
    }

    #[test]
    fn column_that_matches_nothing_lists_the_headers() {
        let text = b"name,tenant\nx,97ca2b55-839e-4579-98d4-39599a228c98\n";
        for column in ["kund", "3", "0"] {
            let message = parse_err(text, &with_column(column)).to_string();
            assert!(
                message.contains(&format!("`--column {column}`")),
                "{message}"
            );
            assert!(
                message.contains("`name`, `tenant`") && message.contains("from 1 to 2"),
                "{message}"
            );
        }
    }

    #[test]
    fn no_id_column_names_the_headers_seen() {
        let error = parse_err(b"name,country\nContoso,SE\n", &InputOptions::default());
        assert!(matches!(error, InputError::NoIdColumn { .. }));
        let message = error.to_string();
        assert!(
            message.contains("`name`, `country`") && message.contains("--column"),
            "{message}"
        );
    }

    #[test]
    fn empty_and_header_only_files() {
        for empty in [&b""[..], b"\n\n", b"\xEF\xBB\xBF", b"\r\n;;\r\n"] {
            assert!(
                matches!(
                    parse_err(empty, &InputOptions::default()),
                    InputError::Empty
                ),
                "{empty:?}"
            );
        }
        for header_only in [&b"customer_tenant_id\n"[..], b"name,country\n\n"] {
            let error = parse_err(header_only, &InputOptions::default());
            assert!(matches!(error, InputError::NoDataRows { .. }), "{error}");
        }
    }

    fn forced(encoding: &'static encoding_rs::Encoding) -> InputOptions {
        InputOptions {
            encoding: Some(encoding),
            ..InputOptions::default()
        }
    }

    #[test]
    fn code_pages_reach_the_cells_when_named() {
        use encoding_rs::{SHIFT_JIS, WINDOWS_1250};
        let polish = "Nazwa;Kund-ID\r\nSzkoła Łódzka;97ca2b55-839e-4579-98d4-39599a228c98\r\n";
        let bytes = WINDOWS_1250.encode(polish).0;
        let file = parse_input(&bytes, &forced(WINDOWS_1250), None).unwrap();
        assert_eq!(file.encoding, "windows-1250");
        assert_eq!(file.extra_headers, ["Nazwa"]);
        assert_eq!(file.rows[0].extra, ["Szkoła Łódzka"]);
        // Unnamed, the same bytes are read as Windows-1252, as always: every
        // row is still there, the names are not.
        let file = parse(&bytes);
        assert_eq!((file.encoding, file.customer_count()), ("windows-1252", 1));
        assert_eq!(file.rows[0].extra, ["Szko³a £ódzka"]);

        let japanese = "顧客名,テナントID,備考\r\n東京都立第一高等学校,97ca2b55-839e-4579-98d4-39599a228c98,ソ表\r\n";
        let bytes = SHIFT_JIS.encode(japanese).0;
        let file = parse_input(&bytes, &forced(SHIFT_JIS), None).unwrap();
        assert_eq!(file.encoding, "shift_jis");
        assert_eq!(
            (file.id_header.as_str(), file.extra_headers.as_slice()),
            ("テナントID", &["顧客名".to_owned(), "備考".to_owned()][..])
        );
        assert_eq!(file.rows[0].extra, ["東京都立第一高等学校", "ソ表"]);
    }

    #[test]
    fn unicode_files_need_no_name() {
        let text = "Kundnamn\tMicrosoft ID\r\nSkola Å 😀\t97ca2b55-839e-4579-98d4-39599a228c98\r\n";
        let utf16le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let file = parse(&utf16le);
        assert_eq!((file.encoding, file.delimiter), ("utf-16le", b'\t'));
        assert_eq!(customer_ids(&file), [IDS[1]]);
        assert_eq!(file.rows[0].extra, ["Skola Å 😀"]);

        let twice =
            parse(b"\xEF\xBB\xBF\xEF\xBB\xBFtenantId\n97ca2b55-839e-4579-98d4-39599a228c98\n");
        assert_eq!(
            (twice.encoding, twice.id_header.as_str(), lines(&twice)),
            ("utf-8", "tenantId", vec![2])
        );
    }

    #[test]
    fn sha256_is_of_the_raw_bytes() {
        let file = parse(b"\xEF\xBB\xBFtenantId\n97ca2b55-839e-4579-98d4-39599a228c98\n");
        assert_eq!(
            file.sha256,
            hex_sha256(b"\xEF\xBB\xBFtenantId\n97ca2b55-839e-4579-98d4-39599a228c98\n")
        );
        assert_eq!(
            hex_sha256(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn read_input_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.tab");
        std::fs::write(
            &path,
            "x\ttenant\n1\t97ca2b55-839e-4579-98d4-39599a228c98\n",
        )
        .unwrap();
        let file = read_input(&path, &InputOptions::default()).unwrap();
        assert_eq!((file.delimiter, file.customer_count()), (b'\t', 1));

        let missing = dir.path().join("missing.csv");
        let error = format!(
            "{:#}",
            read_input(&missing, &InputOptions::default()).unwrap_err()
        );
        assert!(error.contains("missing.csv"), "{error}");
        std::fs::write(&path, "name\tcountry\nx\ty\n").unwrap();
        let error = format!(
            "{:#}",
            read_input(&path, &InputOptions::default()).unwrap_err()
        );
        assert!(
            error.contains("list.tab") && error.contains("no column of customer tenant ids"),
            "{error}"
        );
    }

    // -----------------------------------------------------------------------
    // Properties

    /// One generated data row: which id, how it is written, the note beside it
    /// and what (if anything) precedes it.
    #[derive(Debug, Clone)]
    struct GenRow {
        pick: usize,
        form: u8,
        upper: bool,
        pad: &'static str,
        note: String,
        before: u8,
    }

    fn gen_row() -> impl Strategy<Value = GenRow> {
        (
            any::<usize>(),
            0u8..5,
            any::<bool>(),
            prop::sample::select(vec!["", " ", "  ", "\u{a0}", "\u{200b}"]),
            "[a-z ,;\t\"\n=+-]{0,12}",
            0u8..6,
        )
            .prop_map(|(pick, form, upper, pad, note, before)| GenRow {
                pick,
                form,
                upper,
                pad,
                note,
                before,
            })
    }

    fn render_id(id: Uuid, form: u8, upper: bool) -> String {
        let text = match form {
            0 => id.hyphenated().to_string(),
            1 => id.braced().to_string(),
            2 => id.simple().to_string(),
            3 => id.urn().to_string(),
            _ => format!("({id})"),
        };
        if upper { text.to_uppercase() } else { text }
    }

    fn quote_cell(text: &str, delimiter: char) -> String {
        if text.contains([delimiter, '"', '\n', '\r']) {
            format!("\"{}\"", text.replace('"', "\"\""))
        } else {
            text.to_owned()
        }
    }

    /// A generated file: the same customers written in one random dialect.
    #[derive(Debug, Clone)]
    struct GenFile {
        ids: Vec<Uuid>,
        rows: Vec<GenRow>,
        delimiter: char,
        header: Option<&'static str>,
        bom: bool,
        crlf: bool,
        final_break: bool,
    }

    fn gen_file() -> impl Strategy<Value = GenFile> {
        let headers = vec!["customer_tenant_id", "Kund-ID", "tenantId", "Microsoft ID"];
        (
            // `| 1` keeps the nil GUID out: it is rightly refused.
            prop::collection::vec(any::<u128>().prop_map(|s| Uuid::from_u128(s | 1)), 1..6),
            prop::collection::vec(gen_row(), 1..25),
            prop::sample::select(vec![',', ';', '\t']),
            prop::option::of(prop::sample::select(headers)),
            any::<(bool, bool, bool)>(),
        )
            .prop_map(
                |(ids, rows, delimiter, header, (bom, crlf, final_break))| GenFile {
                    ids,
                    rows,
                    delimiter,
                    header,
                    bom,
                    crlf,
                    final_break,
                },
            )
    }

    impl GenFile {
        fn id_of(&self, row: &GenRow) -> Uuid {
            self.ids[row.pick % self.ids.len()]
        }

        /// The file's bytes, the line each row starts on, and the blank rows.
        fn write(&self) -> (Vec<u8>, Vec<u64>, usize) {
            let (d, eol) = (self.delimiter, if self.crlf { "\r\n" } else { "\n" });
            let mut text = String::new();
            if let Some(header) = self.header {
                text.push_str(&format!("{header}{d}notes{eol}"));
            }
            let mut lines = Vec::new();
            let mut blank = 0;
            for (i, row) in self.rows.iter().enumerate() {
                match row.before {
                    1 => text.push_str(eol),
                    2 => text.push_str(&format!("{d}{eol}")),
                    _ => {}
                }
                blank += usize::from(matches!(row.before, 1 | 2));
                lines.push(1 + text.matches('\n').count() as u64);
                let id = render_id(self.id_of(row), row.form, row.upper);
                let note = quote_cell(&row.note, d);
                text.push_str(&format!("{pad}{id}{pad}{d}{note}", pad = row.pad));
                if self.final_break || i + 1 < self.rows.len() {
                    text.push_str(eol);
                }
            }
            let mut bytes = if self.bom {
                b"\xEF\xBB\xBF".to_vec()
            } else {
                Vec::new()
            };
            bytes.extend_from_slice(text.as_bytes());
            (bytes, lines, blank)
        }

        fn distinct_ids(&self) -> Vec<Uuid> {
            let mut distinct: Vec<Uuid> = Vec::new();
            for row in &self.rows {
                let id = self.id_of(row);
                if !distinct.contains(&id) {
                    distinct.push(id);
                }
            }
            distinct
        }
    }

    proptest! {
        /// The sorted marking of repeats agrees with the row-by-row
        /// classifier.
        #[test]
        fn duplicates_are_marked_as_the_classifier_marks_them(picks in prop::collection::vec(0u8..6, 0..60)) {
            let mut classifier = RowClassifier::default();
            let mut rows: Vec<InputRow> = Vec::new();
            let mut expected = Vec::new();
            for (n, pick) in picks.iter().enumerate() {
                let raw_id = match pick {
                    0 => "not a guid".to_string(),
                    k => Uuid::from_u128(u128::from(*k)).to_string(),
                };
                let line = n as u64 + 2;
                expected.push(classifier.classify(&raw_id, line));
                let kind = match parse_guid(&raw_id) {
                    Ok(id) => RowKind::Customer(id),
                    Err(reason) => RowKind::Invalid { reason },
                };
                rows.push(InputRow::new(line, &raw_id, Cells::default(), kind));
            }
            mark_duplicates(&mut rows);
            let got: Vec<RowKind> = rows.into_iter().map(|r| r.kind).collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn round_trip(generated in gen_file()) {
            let (bytes, expected_lines, blank) = generated.write();
            let file = parse_input(&bytes, &InputOptions::default(), None)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{:?}", String::from_utf8_lossy(&bytes))))?;
            let distinct = generated.distinct_ids();
            prop_assert_eq!(file.delimiter, generated.delimiter as u8);
            prop_assert_eq!(file.has_header, generated.header.is_some());
            prop_assert_eq!(file.customers().map(|(id, _)| id).collect::<Vec<_>>(), distinct.clone());
            prop_assert_eq!(file.duplicate_rows(), generated.rows.len() - distinct.len());
            prop_assert_eq!(file.invalid_rows(), 0);
            prop_assert_eq!(lines(&file), expected_lines);
            prop_assert_eq!(file.blank_rows, blank);
            let notes: Vec<&str> = file.rows.iter().map(|r| r.extra.get(0).unwrap()).collect();
            let written: Vec<&str> = generated.rows.iter().map(|r| r.note.as_str()).collect();
            prop_assert_eq!(notes, written);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_input(&bytes, &InputOptions::default(), None);
        }

        #[test]
        fn csv_like_noise_never_panics(
            text in "[\",;\t\r\n {}()a-f0-9x-]{0,200}",
            column in prop::option::of("[0-9a-z]{0,2}"),
        ) {
            let opts = InputOptions { column, ..InputOptions::default() };
            let _ = parse_input(text.as_bytes(), &opts, None);
        }
    }
}
