//! Reading the customer list.
//!
//! Partners export their customer lists from whatever they have at hand:
//! Partner Center's own CSV, Excel in a Swedish locale (`;`, BOM, CRLF), a TSV
//! from a script, or ids pasted into a text file. All of these must work
//! without options; `--column` and `--delimiter` only override the guesses.
//!
//! Parsing is pure ([`parse_input`]) and runs in steps over the decoded text:
//! decode ([`decode`]), sniff the delimiter, split records with the `csv`
//! crate, work out the header and id column, then classify each row.
//!
//! Line numbers are computed here rather than taken from `csv`: a record's
//! `position().line()` is where the parser *started* looking for it, which is
//! before any blank lines it skipped, so every row after a blank line would
//! point one or more lines too early.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
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
    /// The CSV structure itself is broken.
    #[error("line {line}: malformed CSV: {message}")]
    Malformed {
        /// 1-based physical line where the problem starts.
        line: u64,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// Delimiters the sniffer considers, in order of preference on a tie.
const CANDIDATE_DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Non-blank records the sniffer looks at (the header plus this many).
const SNIFF_RECORDS: usize = 20;

/// Longest list printed in messages and in `describe` before "… and N more".
const LIST_CAP: usize = 20;

/// Normalised header names (see [`normalise_header`]) of the id column, most
/// specific first: if a file has both `id` and `tenant id`, the latter wins.
const ID_ALIASES: &[&str] = &[
    "customertenantid",
    "customertenantguid",
    "customeraadtenantid",
    "customerdirectoryid",
    "customermicrosoftid",
    "tenantid",
    "tenantguid",
    "aadtenantid",
    "azureadtenantid",
    "azuretenantid",
    "entratenantid",
    "entraidtenantid",
    "directoryid",
    "microsoftid",
    "customerid",
    "customerguid",
    "kundid",
    "kundenid",
    "mandantid",
    "tenant",
    "guid",
    "id",
];

/// Aliases so generic that the column may well hold something else (an
/// internal number, a tenant *name*); a clear GUID column elsewhere beats them.
const WEAK_ALIASES: &[&str] = &["tenant", "guid", "id"];

/// Read the customer list from `path` (`-` = stdin) and parse it.
pub fn read_input(path: &Path, opts: &InputOptions) -> anyhow::Result<InputFile> {
    if path == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut bytes)
            .context("cannot read the input from stdin")?;
        return parse_input(&bytes, opts, None).context("cannot use the input read from stdin");
    }
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read input file {}", path.display()))?;
    parse_input(&bytes, opts, Some(path))
        .with_context(|| format!("cannot use input file {}", path.display()))
}

/// Parse a whole input file. Pure: `path_hint` is only used for its extension
/// (`.tsv`/`.tab` mean tab when no delimiter is given).
pub fn parse_input(
    bytes: &[u8],
    opts: &InputOptions,
    path_hint: Option<&Path>,
) -> Result<InputFile, InputError> {
    let (text, encoding) = decode(bytes);
    let delimiter = choose_delimiter(&text, opts, path_hint);
    let (mut records, blank_rows) = read_records(&text, delimiter)?;
    if records.is_empty() {
        return Err(InputError::Empty);
    }
    let width = records.iter().map(|r| r.cells.len()).max().unwrap_or(1);
    let layout = choose_layout(&records, width, opts)?;
    let names = column_names(&records[0].cells, layout.has_header, width);
    if layout.has_header && records.len() == 1 {
        return Err(InputError::NoDataRows { headers: names });
    }

    let id_column = layout.id_column;
    let data = &mut records[usize::from(layout.has_header)..];
    let mut first_seen: HashMap<Uuid, u64> = HashMap::with_capacity(data.len());
    let rows = data
        .iter_mut()
        .map(|record| {
            let mut take = |col: usize| {
                record
                    .cells
                    .get_mut(col)
                    .map(std::mem::take)
                    .unwrap_or_default()
            };
            let raw_id = take(id_column);
            let extra = (0..width)
                .filter(|&c| c != id_column)
                .map(&mut take)
                .collect();
            let kind = match parse_guid(&raw_id) {
                Err(reason) => RowKind::Invalid { reason },
                Ok(id) => match first_seen.entry(id) {
                    Entry::Vacant(slot) => {
                        slot.insert(record.line);
                        RowKind::Customer(id)
                    }
                    Entry::Occupied(first) => RowKind::Duplicate {
                        id,
                        first_line: *first.get(),
                    },
                },
            };
            InputRow {
                line: record.line,
                raw_id,
                extra,
                kind,
            }
        })
        .collect();

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
        encoding,
    })
}

/// Parse one customer id in any common GUID form and return it, or a reason
/// fit for the report's `error` column.
///
/// Accepted: any case, hyphenated or 32-hex simple form, `{braced}`,
/// `(parenthesised)`, `urn:uuid:`, with surrounding whitespace (including the
/// non-breaking and zero-width spaces spreadsheets leave behind). Exactly
/// one wrapping: `{{…}}`, `({…})` or `urn:uuid:{…}` is no form anyone
/// exports, more likely a mangled cell than an id.
pub fn parse_guid(text: &str) -> Result<Uuid, String> {
    let trimmed = trim_cell(text);
    if trimmed.is_empty() {
        return Err("empty customer id".to_owned());
    }
    let core = strip_guid_wrapping(trimmed);
    match bare_guid(core) {
        Some(id) if id.is_nil() => Err("nil GUID is not a customer id".to_owned()),
        Some(id) => Ok(id),
        None if bare_guid(strip_guid_wrapping(core)).is_some() => Err(format!(
            "not a GUID: `{}` (wrapped twice; one of {{…}}, (…) or urn:uuid: is accepted)",
            shorten(trimmed)
        )),
        None => Err(format!(
            "not a GUID: `{}` ({})",
            shorten(trimmed),
            guid_problem(core)
        )),
    }
}

/// [`parse_guid`] without building an error message, for scanning whole
/// columns.
fn guid_of(text: &str) -> Option<Uuid> {
    bare_guid(strip_guid_wrapping(trim_cell(text))).filter(|id| !id.is_nil())
}

/// A GUID in hyphenated or simple form only: `uuid` would also take the
/// braced and `urn:uuid:` forms, which would let a second wrapping through
/// after [`strip_guid_wrapping`] removed the first.
fn bare_guid(core: &str) -> Option<Uuid> {
    if core.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Uuid::try_parse(core).ok()
    } else {
        None
    }
}

/// Remove one wrapping (`urn:uuid:`, `{…}` or `(…)`) and the padding inside it.
fn strip_guid_wrapping(text: &str) -> &str {
    const URN: &str = "urn:uuid:";
    if let Some(prefix) = text.get(..URN.len())
        && prefix.eq_ignore_ascii_case(URN)
    {
        return trim_cell(&text[URN.len()..]);
    }
    let unwrapped = [('{', '}'), ('(', ')')]
        .iter()
        .find_map(|&(open, close)| text.strip_prefix(open)?.strip_suffix(close));
    trim_cell(unwrapped.unwrap_or(text))
}

/// Say what is wrong with something that is not a GUID, so the user can find
/// the typo (a lost digit, an `O` for a `0`) without counting characters.
fn guid_problem(core: &str) -> String {
    const EXPECTED: &str = "expected 32 hex digits such as 8-4-4-4-12";
    if let Some(c) = core.chars().find(|c| !c.is_ascii_hexdigit() && *c != '-') {
        return format!("`{}` is not a hex digit; {EXPECTED}", c.escape_default());
    }
    match core.chars().filter(char::is_ascii_hexdigit).count() {
        32 => format!("hyphens in the wrong places; {EXPECTED}"),
        n => format!("{n} hex digits; {EXPECTED}"),
    }
}

/// Quote user text in a one-line message: long cells (a whole note pasted
/// into the id column) are cut, control characters are escaped.
fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Characters that surround cell text without meaning anything: whitespace
/// (including U+00A0), and the invisible marks spreadsheets and copy-paste
/// from web pages leave behind.
fn is_padding(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

fn trim_cell(text: &str) -> &str {
    text.trim_matches(is_padding)
}

/// Header names compared for the id column: lower case, letters and digits
/// only, so `Customer Tenant ID`, `customer_tenant_id` and `CustomerTenantId`
/// are the same.
fn normalise_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

impl InputFile {
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

    /// Rows whose id is not a usable GUID.
    pub fn invalid_rows(&self) -> usize {
        self.invalid().count()
    }

    /// The human summary `qualrecon check` prints; `path` names the file.
    pub fn describe(&self, path: &str) -> String {
        Description { file: self, path }.to_string()
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

/// [`InputFile::describe`] as `Display`, so writing can use `?`.
struct Description<'a> {
    file: &'a InputFile,
    path: &'a str,
}

impl fmt::Display for Description<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file;
        writeln!(f, "{}", self.path)?;
        writeln!(f, "  encoding       {}", file.encoding)?;
        writeln!(f, "  delimiter      {}", delimiter_name(file.delimiter))?;
        let header = if file.has_header {
            "yes"
        } else {
            "none (the first line is data)"
        };
        writeln!(f, "  header         {header}")?;
        writeln!(
            f,
            "  id column      `{}` (column {} of {})",
            file.id_header,
            file.id_column + 1,
            file.extra_headers.len() + 1
        )?;
        if !file.extra_headers.is_empty() {
            writeln!(f, "  other columns  {}", name_list(&file.extra_headers))?;
        }
        writeln!(f, "  data rows      {}", file.rows.len())?;
        writeln!(
            f,
            "  customers      {} (valid, distinct: these are looked up)",
            file.customer_count()
        )?;
        writeln!(f, "  duplicates     {}", file.duplicate_rows())?;
        write_capped(
            f,
            file.duplicates()
                .map(|(row, id, first)| format!("line {}: {id} (first on line {first})", row.line)),
        )?;
        writeln!(f, "  invalid        {}", file.invalid_rows())?;
        write_capped(
            f,
            file.invalid()
                .map(|(row, reason)| format!("line {}: {reason}", row.line)),
        )?;
        writeln!(f, "  blank rows     {} (skipped)", file.blank_rows)?;
        writeln!(f, "  sha256         {}", file.sha256)
    }
}

/// Write one indented line per item, at most [`LIST_CAP`] of them.
fn write_capped(
    f: &mut fmt::Formatter<'_>,
    mut items: impl Iterator<Item = String>,
) -> fmt::Result {
    for item in items.by_ref().take(LIST_CAP) {
        writeln!(f, "    {item}")?;
    }
    match items.count() {
        0 => Ok(()),
        rest => writeln!(f, "    … and {rest} more"),
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

fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b',' => "`,` (comma)".to_owned(),
        b';' => "`;` (semicolon)".to_owned(),
        b'\t' => "tab".to_owned(),
        b' ' => "space".to_owned(),
        other => format!("`{}`", other.escape_ascii()),
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

// ---------------------------------------------------------------------------
// Decoding

/// Decode the raw bytes to text and name the encoding found.
///
/// UTF-16 needs its BOM (Excel's "Unicode text" export always writes one).
/// Anything else that is not valid UTF-8 is taken as Windows-1252, the
/// encoding of Excel's plain "CSV" export on Western-European Windows: every
/// byte decodes, so a legacy file still works instead of failing outright.
fn decode(bytes: &[u8]) -> (String, &'static str) {
    let (text, encoding) = if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        (decode_utf16(rest, u16::from_le_bytes), "utf-16le")
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        (decode_utf16(rest, u16::from_be_bytes), "utf-16be")
    } else {
        let rest = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        match std::str::from_utf8(rest) {
            Ok(text) => (text.to_owned(), "utf-8"),
            Err(_) => (decode_windows_1252(rest), "windows-1252"),
        }
    };
    // A BOM left at the start (a file re-saved with a second one) would be
    // swallowed by `csv` and shift the byte offsets the line numbers rely on.
    match text.strip_prefix('\u{FEFF}') {
        Some(_) => (text.trim_start_matches('\u{FEFF}').to_owned(), encoding),
        None => (text, encoding),
    }
}

fn decode_utf16(bytes: &[u8], unit: fn([u8; 2]) -> u16) -> String {
    let units = bytes.chunks(2).map(|pair| match *pair {
        [a, b] => unit([a, b]),
        // A dangling odd byte: show it as broken rather than drop it.
        _ => u16::from(b'?'),
    });
    char::decode_utf16(units)
        .map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect()
}

/// Windows-1252 differs from Latin-1 only in 0x80–0x9F; the five bytes it
/// leaves undefined map to the C1 control of the same value, as browsers do.
const CP1252_80_9F: [char; 32] = [
    '\u{20AC}', '\u{81}', '\u{201A}', '\u{192}', '\u{201E}', '\u{2026}', '\u{2020}', '\u{2021}',
    '\u{2C6}', '\u{2030}', '\u{160}', '\u{2039}', '\u{152}', '\u{8D}', '\u{17D}', '\u{8F}',
    '\u{90}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}', '\u{2022}', '\u{2013}', '\u{2014}',
    '\u{2DC}', '\u{2122}', '\u{161}', '\u{203A}', '\u{153}', '\u{9D}', '\u{17E}', '\u{178}',
];

fn decode_windows_1252(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x80..=0x9F => CP1252_80_9F[usize::from(b - 0x80)],
            _ => char::from(b),
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Delimiter

fn choose_delimiter(text: &str, opts: &InputOptions, path_hint: Option<&Path>) -> u8 {
    if let Some(delimiter) = opts.delimiter {
        return delimiter;
    }
    let tab_by_name = path_hint
        .and_then(Path::extension)
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("tsv") || ext.eq_ignore_ascii_case("tab"));
    if tab_by_name {
        return b'\t';
    }
    sniff_delimiter(text)
}

/// Guess the delimiter from the first records, parsed with each candidate.
///
/// A candidate must split the header line at all. Among those, the strongest
/// evidence is that the split yields an id column (an id header or a GUID
/// cell free of other candidates): a `;` file whose customer names all contain
/// commas splits just as regularly on `,`, but only `;` isolates the ids. Then regular field counts
/// over the following lines, then the number of fields. A file no candidate
/// splits is a single column.
fn sniff_delimiter(text: &str) -> u8 {
    CANDIDATE_DELIMITERS
        .iter()
        .enumerate()
        .filter_map(|(preference, &delimiter)| {
            let sample = sample_records(text, delimiter);
            let (head, rest) = sample.split_first()?;
            let separators = head.len() - 1;
            if separators == 0 {
                return None;
            }
            // A cell still holding another candidate counts for nothing: the
            // tab that `guid_of` trims off `<id>\t;` shows `;` split wrongly.
            let split_clean = |cell: &str| {
                !cell
                    .bytes()
                    .any(|b| b != delimiter && CANDIDATE_DELIMITERS.contains(&b))
            };
            let finds_id = sample
                .iter()
                .any(|record| find_alias(record).is_some_and(|(col, _)| split_clean(&record[col])))
                || sample
                    .iter()
                    .flatten()
                    .any(|cell| split_clean(cell) && guid_of(cell).is_some());
            let regular = rest.iter().filter(|r| r.len() == head.len()).count();
            Some((
                (finds_id, regular, separators, Reverse(preference)),
                delimiter,
            ))
        })
        .max()
        .map_or(b',', |(_, delimiter)| delimiter)
}

/// The first non-blank records of `text` split on `delimiter`.
fn sample_records(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    csv_reader(text, delimiter)
        .into_records()
        .map_while(Result::ok)
        // Blank lines say nothing, but Excel's `;;;` rows do show the delimiter.
        .filter(|record| record.len() > 1 || !is_blank(record))
        .take(SNIFF_RECORDS + 1)
        .map(|record| record.iter().map(str::to_owned).collect())
        .collect()
}

fn csv_reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes())
}

fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|cell| trim_cell(cell).is_empty())
}

// ---------------------------------------------------------------------------
// Records and line numbers

/// One non-blank CSV record.
#[derive(Debug)]
struct Record {
    /// Physical line where the record starts.
    line: u64,
    cells: Vec<String>,
}

/// Split the text into non-blank records with their start lines, and count
/// blank rows: both lines `csv` skips silently and records whose cells are all
/// empty.
///
/// `csv` gives each record's byte offset as where its parse began, i.e. right
/// after the previous record's terminator and before any skipped blank lines;
/// so the true start is found by skipping line breaks from there, and blank
/// lines are the physical lines no record covers.
fn read_records(text: &str, delimiter: u8) -> Result<(Vec<Record>, usize), InputError> {
    let bytes = text.as_bytes();
    let lines = LineIndex::new(bytes);
    let mut reader = csv_reader(text, delimiter);
    let mut record = csv::StringRecord::new();
    let mut records = Vec::new();
    let mut blank_records = 0;
    let mut covered_lines = 0;
    let mut last_covered = 0;
    let mut last_span = None;
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(error) => {
                let offset = error.position().map_or(0, csv::Position::byte);
                let line = lines.line_of(byte_offset(offset, bytes));
                return Err(InputError::Malformed {
                    line,
                    message: error.to_string(),
                });
            }
        }
        let parse_start = byte_offset(record.position().map_or(0, csv::Position::byte), bytes);
        let parse_end = byte_offset(reader.position().byte(), bytes).max(parse_start);
        let span = &bytes[parse_start..parse_end];
        let is_break = |b: &u8| *b == b'\r' || *b == b'\n';
        let start = parse_start + span.iter().take_while(|b| is_break(b)).count();
        let content_end =
            parse_start + span.iter().rposition(|b| !is_break(b)).map_or(0, |i| i + 1);
        let first_line = lines.line_of(start);
        let last_line = lines.line_of(content_end.saturating_sub(1).max(start));
        if last_line > last_covered {
            covered_lines += last_line - first_line.max(last_covered + 1) + 1;
            last_covered = last_line;
        }
        last_span = Some((start, parse_end));
        if is_blank(&record) {
            blank_records += 1;
        } else {
            records.push(Record {
                line: first_line,
                cells: record.iter().map(str::to_owned).collect(),
            });
        }
    }
    // Without strict mode `csv` lets an unclosed quote swallow the rest of the
    // file into one cell; those ids would silently vanish, so refuse instead.
    if let Some((start, end)) = last_span
        && let Some(open) = unclosed_quote(&bytes[start..end], delimiter)
    {
        let message = "a quoted cell starts here and is never closed, so the rest of the file \
                       would be read as one cell; close the quote, or double it (`\"\"`) if it \
                       is part of the text";
        return Err(InputError::Malformed {
            line: lines.line_of(start + open),
            message: message.to_owned(),
        });
    }
    let blank_lines = lines.count() - covered_lines;
    let blank_rows = blank_records + usize::try_from(blank_lines).unwrap_or(usize::MAX);
    Ok((records, blank_rows))
}

/// A byte offset reported by `csv`, clamped into `bytes`.
fn byte_offset(offset: u64, bytes: &[u8]) -> usize {
    usize::try_from(offset).map_or(bytes.len(), |o| o.min(bytes.len()))
}

/// Offset of the quote that opens a quoted field still open at the end of
/// `record`, following `csv`'s rules: a quote is special only at the start of
/// a field, and `""` inside a quoted field is a literal quote.
fn unclosed_quote(record: &[u8], delimiter: u8) -> Option<usize> {
    let mut open = None;
    let mut at_field_start = true;
    let mut i = 0;
    while i < record.len() {
        let b = record[i];
        if open.is_some() {
            if b == b'"' {
                if record.get(i + 1) == Some(&b'"') {
                    i += 1;
                } else {
                    open = None;
                    at_field_start = false;
                }
            }
        } else if b == b'"' && at_field_start {
            open = Some(i);
        } else {
            at_field_start = b == delimiter || b == b'\n' || b == b'\r';
        }
        i += 1;
    }
    open
}

/// Byte offsets where physical lines start. A line ends at `\n`, `\r\n` or a
/// lone `\r` (classic Mac), the same breaks `csv` ends records on.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &[u8]) -> Self {
        let mut starts = vec![0];
        for (i, &b) in text.iter().enumerate() {
            let breaks = b == b'\n' || (b == b'\r' && text.get(i + 1) != Some(&b'\n'));
            if breaks {
                starts.push(i + 1);
            }
        }
        // A final line break ends the last line; it does not open another.
        if starts.last() == Some(&text.len()) {
            starts.pop();
        }
        Self { starts }
    }

    /// 1-based line holding byte `offset`.
    fn line_of(&self, offset: usize) -> u64 {
        self.starts.partition_point(|&start| start <= offset).max(1) as u64
    }

    fn count(&self) -> u64 {
        self.starts.len() as u64
    }
}

// ---------------------------------------------------------------------------
// Header and id column

/// Where the ids are.
struct Layout {
    has_header: bool,
    id_column: usize,
}

/// Decide whether the first record is a header and which column holds the ids.
fn choose_layout(
    records: &[Record],
    width: usize,
    opts: &InputOptions,
) -> Result<Layout, InputError> {
    let first = &records[0].cells;
    let first_is_guid = |col: usize| first.get(col).is_some_and(|cell| guid_of(cell).is_some());

    if let Some(wanted) = &opts.column {
        return match pick_column(first, wanted, width) {
            Some(ColumnPick::Name(id_column)) => Ok(Layout {
                has_header: true,
                id_column,
            }),
            Some(ColumnPick::Number(id_column)) => Ok(Layout {
                has_header: !first_is_guid(id_column),
                id_column,
            }),
            None => Err(InputError::ColumnNotFound {
                column: wanted.clone(),
                headers: column_names(first, !(0..width).any(first_is_guid), width),
            }),
        };
    }

    // A GUID on line 1 makes it data, even if another of its cells happens to
    // read like a header (a note saying "id"): real headers never hold GUIDs.
    let guid_cells: Vec<usize> = (0..width).filter(|&col| first_is_guid(col)).collect();
    let (has_header, data) = match guid_cells[..] {
        [id_column] => {
            return Ok(Layout {
                has_header: false,
                id_column,
            });
        }
        [] => (true, &records[1..]),
        _ => (false, records),
    };
    if let (true, Some((column, alias))) = (has_header, find_alias(first)) {
        let id_column = match guid_columns(data, width)[..] {
            [other] if WEAK_ALIASES.contains(&alias) && !mostly_guids(data, column) => other,
            _ => column,
        };
        return Ok(Layout {
            has_header,
            id_column,
        });
    }
    if data.is_empty() {
        return Err(InputError::NoDataRows {
            headers: column_names(first, true, width),
        });
    }
    let names = || column_names(first, has_header, width);
    match guid_columns(data, width)[..] {
        [id_column] => Ok(Layout {
            has_header,
            id_column,
        }),
        [] => Err(InputError::NoIdColumn { headers: names() }),
        ref several => {
            let names = names();
            Err(InputError::AmbiguousIdColumn {
                columns: several.iter().map(|&c| names[c].clone()).collect(),
            })
        }
    }
}

/// How `--column` matched.
enum ColumnPick {
    /// By header name: the first record is a header.
    Name(usize),
    /// By number: the first record may be data.
    Number(usize),
}

/// Resolve `--column`: an exact header first (a header may be called `2`),
/// then a column number, then a header equal after normalising.
fn pick_column(first: &[String], wanted: &str, width: usize) -> Option<ColumnPick> {
    let wanted = trim_cell(wanted);
    if let Some(col) = first.iter().position(|h| trim_cell(h) == wanted) {
        return Some(ColumnPick::Name(col));
    }
    if let Ok(number) = wanted.parse::<usize>() {
        return (1..=width)
            .contains(&number)
            .then(|| ColumnPick::Number(number - 1));
    }
    let wanted = normalise_header(wanted);
    if wanted.is_empty() {
        return None;
    }
    first
        .iter()
        .position(|h| normalise_header(h) == wanted)
        .map(ColumnPick::Name)
}

/// The header matching the highest-priority alias, with that alias.
fn find_alias(headers: &[String]) -> Option<(usize, &'static str)> {
    let normalised: Vec<String> = headers.iter().map(|h| normalise_header(h)).collect();
    ID_ALIASES
        .iter()
        .find_map(|&alias| Some((normalised.iter().position(|h| h == alias)?, alias)))
}

/// Columns whose non-empty cells are mostly (at least half) GUIDs.
fn guid_columns(rows: &[Record], width: usize) -> Vec<usize> {
    (0..width).filter(|&col| mostly_guids(rows, col)).collect()
}

fn mostly_guids(rows: &[Record], col: usize) -> bool {
    let (mut filled, mut guids) = (0usize, 0usize);
    for cell in rows.iter().filter_map(|r| r.cells.get(col)) {
        if !trim_cell(cell).is_empty() {
            filled += 1;
            guids += usize::from(guid_of(cell).is_some());
        }
    }
    filled > 0 && guids * 2 >= filled
}

/// Column names: the header text (trimmed), or `column_N` (N = 1-based
/// column number) where there is no header, the header cell is empty, or a
/// ragged row runs past the header.
fn column_names(first: &[String], has_header: bool, width: usize) -> Vec<String> {
    (0..width)
        .map(|col| match first.get(col).map(|h| trim_cell(h)) {
            Some(header) if has_header && !header.is_empty() => header.to_owned(),
            _ => format!("column_{}", col + 1),
        })
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
            delimiter: None,
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
            bytes: include_bytes!("../tests/data/dialects/plain.csv"),
            delimiter: b',',
            id_header: "customer_tenant_id",
            extra_headers: &[],
            lines: [2, 3, 4, 5, 6, 7],
            blank_rows: 0,
        },
        Dialect {
            name: "excel-sv.csv",
            bytes: include_bytes!("../tests/data/dialects/excel-sv.csv"),
            delimiter: b';',
            id_header: "Kund-ID",
            extra_headers: &["Kundnamn", "Land"],
            lines: [2, 3, 4, 6, 7, 8],
            blank_rows: 1,
        },
        Dialect {
            name: "tabs.tsv",
            bytes: include_bytes!("../tests/data/dialects/tabs.tsv"),
            delimiter: b'\t',
            id_header: "tenantId",
            extra_headers: &["name", "country"],
            lines: [2, 3, 4, 5, 6, 7],
            blank_rows: 0,
        },
        Dialect {
            name: "partner-center-export.csv",
            bytes: include_bytes!("../tests/data/dialects/partner-center-export.csv"),
            delimiter: b',',
            id_header: "Microsoft ID",
            extra_headers: &["Company name", "Primary domain name", "Created date"],
            lines: [2, 3, 4, 5, 6, 7],
            blank_rows: 0,
        },
        Dialect {
            name: "notes.csv",
            bytes: include_bytes!("../tests/data/dialects/notes.csv"),
            delimiter: b',',
            id_header: "customer_tenant_id",
            extra_headers: &["customer", "notes"],
            lines: [2, 4, 5, 10, 11, 13],
            blank_rows: 1,
        },
        Dialect {
            name: "headerless.csv",
            bytes: include_bytes!("../tests/data/dialects/headerless.csv"),
            delimiter: b',',
            id_header: "column_1",
            extra_headers: &[],
            lines: [1, 2, 3, 4, 5, 6],
            blank_rows: 0,
        },
    ];

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
        assert_eq!(row_at(&sv, 3).extra[0], "Skolan i Örebro, AB");
        assert_eq!(
            row_at(&sv, 7).raw_id,
            " a5250fec-d0db-4f5f-86ad-1ad306756c65 "
        );
        assert_eq!(row_at(&sv, 8).extra[0], "Malmö \"Centrum\" skola");

        let pc = parse(DIALECTS[3].bytes);
        assert_eq!(pc.id_column, 1);
        assert_eq!(
            row_at(&pc, 3).extra,
            ["Fabrikam, Inc.", "fabrikam.onmicrosoft.com", "2020-11-30"]
        );
        assert_eq!(
            row_at(&pc, 3).raw_id,
            "{97CA2B55-839E-4579-98D4-39599A228C98}"
        );

        let notes = parse(DIALECTS[4].bytes);
        assert_eq!(
            row_at(&notes, 2).extra[1],
            "Renewal due in May.\nCall the principal first."
        );
        assert_eq!(
            row_at(&notes, 4).extra,
            ["=HYPERLINK(\"http://x\",\"y\")", "+46 8 123"]
        );
        // The empty line inside the quoted note is text, not a blank row.
        assert_eq!(
            row_at(&notes, 5).extra[1],
            "-5% discount agreed,\nsee mail from \"Anna\"\n\nend of note"
        );
        assert_eq!(row_at(&notes, 10).extra, ["@SUM(A1)", "-5%"]);
        assert_eq!(row_at(&notes, 13).extra, ["Woodgrove", "=1+1"]);
    }

    #[test]
    fn tsv_path_means_tab_and_an_explicit_delimiter_wins() {
        let text = b"name,city\ttenant_id\nContoso, AB\t97ca2b55-839e-4579-98d4-39599a228c98\n";
        let file =
            parse_input(text, &InputOptions::default(), Some(Path::new("list.TSV"))).unwrap();
        assert_eq!((file.delimiter, file.id_column), (b'\t', 1));
        assert_eq!(file.rows[0].extra, ["Contoso, AB"]);

        let semicolon = InputOptions {
            column: None,
            delimiter: Some(b';'),
        };
        let file = parse_input(
            b"a;tenant_id\nx, y;97ca2b55-839e-4579-98d4-39599a228c98\n",
            &semicolon,
            None,
        )
        .unwrap();
        assert_eq!((file.delimiter, file.id_column), (b';', 1));
    }

    #[test]
    fn sniffing_prefers_the_split_that_isolates_the_ids() {
        // Every name holds a comma, so `,` splits as regularly as `;` does.
        let file = parse(b"name, city;tenant\nContoso, AB;97ca2b55-839e-4579-98d4-39599a228c98\nFabrikam, AB;e083ac65-ff8b-4ba1-9541-05e7a2881ddc\n");
        assert_eq!(file.delimiter, b';');
        assert_eq!(file.customer_count(), 2);
        let file = parse(b"97ca2b55-839e-4579-98d4-39599a228c98;\"a,b\"\n");
        assert_eq!((file.delimiter, file.has_header), (b';', false));
        assert_eq!(file.rows[0].extra, ["a,b"]);
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
        let text = file.describe("in.csv");
        assert!(
            text.contains(&format!("line 6: {b} (first on line 2)")),
            "{text}"
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
            row_at(&file, 6).raw_id,
            "97ca2b55-839e-4579-98d4-39599a228c9"
        );
    }

    #[test]
    fn guid_forms() {
        let canonical = "97ca2b55-839e-4579-98d4-39599a228c98";
        for form in [
            "97ca2b55-839e-4579-98d4-39599a228c98",
            "97CA2B55-839E-4579-98D4-39599A228C98",
            "{97ca2b55-839e-4579-98d4-39599a228c98}",
            "(97CA2B55-839E-4579-98D4-39599A228C98)",
            "97ca2b55839e457998d439599a228c98",
            "urn:uuid:97ca2b55-839e-4579-98d4-39599a228c98",
            "URN:UUID:97CA2B55-839E-4579-98D4-39599A228C98",
            "  97ca2b55-839e-4579-98d4-39599a228c98\t",
            "\u{a0}{97ca2b55-839e-4579-98d4-39599a228c98}\u{200b}",
            "\u{feff}97ca2b55-839e-4579-98d4-39599a228c98\u{2060}",
            "{ 97ca2b55-839e-4579-98d4-39599a228c98 }",
        ] {
            assert_eq!(
                parse_guid(form).map(|id| id.to_string()),
                Ok(canonical.to_owned()),
                "{form:?}"
            );
        }
        for (bad, reason) in [
            ("", "empty customer id"),
            (" \u{a0} ", "empty customer id"),
            (
                "{00000000-0000-0000-0000-000000000000}",
                "nil GUID is not a customer id",
            ),
            (
                "abc",
                "not a GUID: `abc` (3 hex digits; expected 32 hex digits such as 8-4-4-4-12)",
            ),
            (
                "{97ca2b55-839e-4579-98d4-39599a228c98",
                "not a GUID: `{97ca2b55-839e-4579-98d4-39599a228c98` (`{` is not a hex digit; expected 32 hex digits such as 8-4-4-4-12)",
            ),
            (
                "a\nb",
                "not a GUID: `a\\nb` (`\\n` is not a hex digit; expected 32 hex digits such as 8-4-4-4-12)",
            ),
        ] {
            assert_eq!(parse_guid(bad), Err(reason.to_owned()), "{bad:?}");
        }
        let long = "x".repeat(500);
        assert!(parse_guid(&long).unwrap_err().chars().count() < 150);
        // Exactly one wrapping.
        for twice in [
            "{{97ca2b55-839e-4579-98d4-39599a228c98}}",
            "({97ca2b55-839e-4579-98d4-39599a228c98})",
            "{(97ca2b55-839e-4579-98d4-39599a228c98)}",
            "urn:uuid:{97ca2b55-839e-4579-98d4-39599a228c98}",
            "{urn:uuid:97ca2b55-839e-4579-98d4-39599a228c98}",
            "urn:uuid:urn:uuid:97ca2b55-839e-4579-98d4-39599a228c98",
            "{ {97ca2b55-839e-4579-98d4-39599a228c98} }",
        ] {
            let e = parse_guid(twice).unwrap_err();
            assert!(e.contains("wrapped twice"), "{twice}: {e}");
        }
        assert!(parse_guid("{{97ca2b55-839e-4579-98d4-39599a228c98}").is_err());
        assert_eq!(guid_of("{{97ca2b55-839e-4579-98d4-39599a228c98}}"), None);
    }

    #[test]
    fn blank_lines_and_empty_rows_are_counted_not_returned() {
        let text = b"id,name\n\n97ca2b55-839e-4579-98d4-39599a228c98,x\n,\n  ,\xc2\xa0\n\r\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,y\n\n";
        let file = parse(text);
        assert_eq!(lines(&file), [3, 7]);
        // Lines 2 and 8 are empty, 4 and 5 hold only delimiters and spaces, 6 is CRLF alone.
        assert_eq!(file.blank_rows, 5);

        let excel = parse(b"\xEF\xBB\xBFKund-ID;Namn\r\n;\r\n;\r\n97ca2b55-839e-4579-98d4-39599a228c98;x\r\n;\r\n");
        assert_eq!((lines(&excel), excel.blank_rows), (vec![4], 3));
    }

    #[test]
    fn line_numbers_survive_multiline_cells_and_blank_lines() {
        let text = "\n\nid,note\r\n97ca2b55-839e-4579-98d4-39599a228c98,\"a\r\nb\n\nc\"\r\n\r\n\r\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,x\n";
        let file = parse(text.as_bytes());
        assert_eq!(lines(&file), [4, 10]);
        assert_eq!(file.blank_rows, 4);
        assert_eq!(file.rows[0].extra, ["a\r\nb\n\nc"]);

        // Old Mac line ends: csv splits records on a lone CR, so lines must too.
        let file = parse(b"tenantId\r97ca2b55-839e-4579-98d4-39599a228c98\r\re083ac65-ff8b-4ba1-9541-05e7a2881ddc\r");
        assert_eq!((lines(&file), file.blank_rows), (vec![2, 4], 1));
    }

    /// Documents why `read_records` does not use `csv`'s line numbers.
    #[test]
    fn csv_record_line_is_before_the_blank_lines_it_skipped() {
        let mut reader = csv_reader("a\n\n\nb\n", b',');
        let starts: Vec<u64> = reader
            .records()
            .map(|r| r.unwrap().position().unwrap().line())
            .collect();
        assert_eq!(
            starts,
            [1, 2],
            "csv's own view; the physical line of `b` is 4"
        );
        let (records, blank) = read_records("a\n\n\nb\n", b',').unwrap();
        assert_eq!(records.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 4]);
        assert_eq!(blank, 2);
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
    fn headers_match_aliases_loosely_and_the_specific_one_wins() {
        for header in [
            "Customer Tenant ID",
            "CUSTOMER-TENANT-ID",
            "customerTenantId",
            " tenant_id ",
            "Kund-ID",
            "AAD tenant id",
            "Directory ID",
            "microsoftid",
        ] {
            let text = format!("name,{header}\nx,97ca2b55-839e-4579-98d4-39599a228c98\n");
            let file = parse(text.as_bytes());
            assert_eq!(
                (file.id_column, file.id_header.as_str()),
                (1, header.trim()),
                "{header}"
            );
        }
        let file = parse(b"id,customer_tenant_id\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,97ca2b55-839e-4579-98d4-39599a228c98\n");
        assert_eq!(customer_ids(&file), [IDS[1]]);
        // A generic `id` holding internal numbers loses to the one GUID column.
        let file = parse(b"id,directory\n17,97ca2b55-839e-4579-98d4-39599a228c98\n18,e083ac65-ff8b-4ba1-9541-05e7a2881ddc\n");
        assert_eq!(
            (file.id_header.as_str(), file.customer_count()),
            ("directory", 2)
        );
    }

    #[test]
    fn the_only_guid_column_is_found_without_a_known_header() {
        let file = parse(
            b"Kundnummer,Organisation\nacme,97ca2b55-839e-4579-98d4-39599a228c98\nbeta,oops\n",
        );
        assert_eq!(
            (file.id_column, file.customer_count(), file.invalid_rows()),
            (1, 1, 1)
        );
    }

    /// Both were found by `round_trip`.
    #[test]
    fn a_guid_on_line_1_makes_it_data() {
        // The note reads like an id header, but line 1 holds a GUID.
        let file = parse(b"97ca2b55-839e-4579-98d4-39599a228c98,id\n");
        assert_eq!((file.has_header, file.customer_count()), (false, 1));
        // Split on `;`, the id cell would be `<id>\t`: a GUID once trimmed.
        let file = parse(b"97ca2b55-839e-4579-98d4-39599a228c98\t;\n");
        assert_eq!(
            (file.delimiter, file.rows[0].extra.as_slice()),
            (b'\t', &[";".to_owned()][..])
        );
    }

    #[test]
    fn headerless_files_with_more_columns() {
        let file = parse(b"Contoso;97ca2b55-839e-4579-98d4-39599a228c98;SE\nFabrikam;e083ac65-ff8b-4ba1-9541-05e7a2881ddc;NO\n");
        assert!(!file.has_header);
        assert_eq!(file.id_header, "column_2");
        assert_eq!(file.extra_headers, ["column_1", "column_3"]);
        assert_eq!(lines(&file), [1, 2]);
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

    #[test]
    fn unclosed_quote_is_refused_with_its_line() {
        let text = b"customer_tenant_id,note\n97ca2b55-839e-4579-98d4-39599a228c98,ok\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,\"oops\n4957e990-2e85-4204-83da-169df608d4ea,lost\n";
        let error = parse_err(text, &InputOptions::default());
        assert!(
            matches!(error, InputError::Malformed { line: 3, .. }),
            "{error}"
        );
        // A quote inside an unquoted cell is just text.
        let file =
            parse(b"customer_tenant_id,note\n97ca2b55-839e-4579-98d4-39599a228c98,5\" screen\n");
        assert_eq!(file.rows[0].extra, ["5\" screen"]);
    }

    #[test]
    fn header_with_bom() {
        let file =
            parse(b"\xEF\xBB\xBFcustomer_tenant_id,name\n97ca2b55-839e-4579-98d4-39599a228c98,x\n");
        assert_eq!(
            (file.id_header.as_str(), file.encoding),
            ("customer_tenant_id", "utf-8")
        );
        let twice =
            parse(b"\xEF\xBB\xBF\xEF\xBB\xBFtenantId\n97ca2b55-839e-4579-98d4-39599a228c98\n");
        assert_eq!(
            (twice.id_header.as_str(), lines(&twice)),
            ("tenantId", vec![2])
        );
    }

    fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
        let bom: [u8; 2] = if big_endian {
            [0xFE, 0xFF]
        } else {
            [0xFF, 0xFE]
        };
        let units = text.encode_utf16().flat_map(|u| {
            if big_endian {
                u.to_be_bytes()
            } else {
                u.to_le_bytes()
            }
        });
        bom.into_iter().chain(units).collect()
    }

    #[test]
    fn utf16_unicode_text_exports() {
        let text = "Kundnamn\tMicrosoft ID\r\nSkola Å 😀\t97ca2b55-839e-4579-98d4-39599a228c98\r\n";
        for (big_endian, encoding) in [(false, "utf-16le"), (true, "utf-16be")] {
            let file = parse(&utf16(text, big_endian));
            assert_eq!((file.encoding, file.delimiter), (encoding, b'\t'));
            assert_eq!(customer_ids(&file), [IDS[1]]);
            assert_eq!(file.rows[0].extra, ["Skola Å 😀"]);
        }
    }

    #[test]
    fn windows_1252_exports() {
        let file = parse(b"Kundnamn;Kund-ID\r\nV\xe4xj\xf6 \x80 \x93AB\x94;97ca2b55-839e-4579-98d4-39599a228c98\r\n");
        assert_eq!(file.encoding, "windows-1252");
        assert_eq!(file.rows[0].extra, ["Växjö € \u{201C}AB\u{201D}"]);
        assert_eq!(decode_windows_1252(&[0x81, 0xFF, 0x41]), "\u{81}ÿA");
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
    fn describe_fits_one_screen() {
        let mut text = String::from("Kund-ID;Namn\n");
        for i in 0..30 {
            text.push_str(&format!("bad{i};x\n"));
        }
        text.push_str("97ca2b55-839e-4579-98d4-39599a228c98;y\n\n");
        let file = parse(text.as_bytes());
        let description = file.describe("kunder.csv");
        for expected in [
            "kunder.csv\n",
            "encoding       utf-8",
            "delimiter      `;` (semicolon)",
            "id column      `Kund-ID` (column 1 of 2)",
            "other columns  `Namn`",
            "data rows      31",
            "customers      1",
            "invalid        30",
            "line 2: not a GUID: `bad0`",
            "… and 10 more",
            "blank rows     1",
        ] {
            assert!(
                description.contains(expected),
                "{expected:?} missing in\n{description}"
            );
        }
        assert!(description.lines().count() < 40, "{description}");
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
            let notes: Vec<&str> = file.rows.iter().map(|r| r.extra[0].as_str()).collect();
            let written: Vec<&str> = generated.rows.iter().map(|r| r.note.as_str()).collect();
            prop_assert_eq!(notes, written);
        }

        #[test]
        fn one_wrapping_is_accepted_two_never(
            id in any::<u128>().prop_filter("not nil", |n| *n != 0),
            upper in any::<bool>(),
            simple in any::<bool>(),
            first in 0usize..4,
            second in 1usize..4,
        ) {
            let id = Uuid::from_u128(id);
            let text = if simple { id.simple().to_string() } else { id.to_string() };
            let text = if upper { text.to_uppercase() } else { text };
            let wrap = |kind: usize, t: &str| match kind {
                0 => t.to_string(),
                1 => format!("{{{t}}}"),
                2 => format!("({t})"),
                _ => format!("urn:uuid:{t}"),
            };
            let once = wrap(first, &text);
            prop_assert_eq!(parse_guid(&once), Ok(id));
            if first > 0 {
                let twice = wrap(second, &once);
                prop_assert!(parse_guid(&twice).is_err(), "{} accepted", twice);
                prop_assert_eq!(guid_of(&twice), None);
            }
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
            let opts = InputOptions { column, delimiter: None };
            let _ = parse_input(text.as_bytes(), &opts, None);
        }
    }
}
