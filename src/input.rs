//! Reading the customer list (stub: being written).

use uuid::Uuid;

/// Options that steer how the input is read.
#[derive(Debug, Clone, Default)]
pub struct InputOptions {
    /// `--column`: header name (matched like the aliases) or 1-based number.
    pub column: Option<String>,
    /// `--delimiter`; `None` = sniff (a `.tsv` path means tab).
    pub delimiter: Option<u8>,
}

/// A whole parsed input file.
#[derive(Debug, Clone)]
pub struct InputFile {
    /// The delimiter used.
    pub delimiter: u8,
    /// Whether line 1 is a header line.
    pub has_header: bool,
    /// Header of the id column (or `column N` for a headerless file).
    pub id_header: String,
    /// Headers of the other columns, in file order: carried into the report.
    pub extra_headers: Vec<String>,
    /// Every non-blank data row, in input order.
    pub rows: Vec<InputRow>,
    /// Blank lines and rows whose cells are all empty.
    pub blank_rows: usize,
    /// Lowercase hex SHA-256 of the raw input bytes.
    pub sha256: String,
    /// `utf-8`, `utf-16le`, `utf-16be` or `windows-1252`.
    pub encoding: &'static str,
}

/// One data row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// 1-based physical line where the record starts (line 1 = header).
    pub line: u64,
    /// The id cell exactly as written.
    pub raw_id: String,
    /// The other cells, aligned with `extra_headers` (missing cells are "").
    pub extra: Vec<String>,
    /// What this row is.
    pub kind: RowKind,
}

/// What a data row turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    /// First occurrence of a valid id: this one is looked up.
    Customer(Uuid),
    /// A valid id already seen on `first_line`: not looked up again.
    Duplicate { id: Uuid, first_line: u64 },
    /// Not a GUID: reported, never sent.
    Invalid { reason: String },
}
pub fn read_input(_p: &std::path::Path, _o: &InputOptions) -> anyhow::Result<InputFile> {
    todo!()
}
impl InputFile {
    pub fn customers(&self) -> impl Iterator<Item = (Uuid, &InputRow)> {
        self.rows.iter().filter_map(|r| match r.kind {
            RowKind::Customer(id) => Some((id, r)),
            _ => None,
        })
    }
    pub fn invalid_rows(&self) -> usize {
        0
    }
    pub fn describe(&self, _p: &str) -> String {
        todo!()
    }
}
