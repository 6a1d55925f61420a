//! Splitting the text into records with the `csv` crate, each with the
//! physical line it starts on, and telling blank rows from data.
//!
//! Line numbers are computed here rather than taken from `csv`: a record's
//! `position().line()` is where the parser *started* looking for it, which is
//! before any blank lines it skipped, so every row after a blank line would
//! point one or more lines too early.

/// Characters that surround cell text without meaning anything: whitespace
/// (including U+00A0), and the invisible marks spreadsheets and copy-paste
/// from web pages leave behind.
fn is_padding(c: char) -> bool {
    c.is_whitespace() || matches!(c, '\u{200B}'..='\u{200F}' | '\u{2060}' | '\u{FEFF}')
}

/// Cell text without its padding: what decides whether a cell is empty, a
/// GUID or a header name.
pub(super) fn trim_cell(text: &str) -> &str {
    text.trim_matches(is_padding)
}

/// The one way the input is split: no header handling (the layout decides
/// that), and rows may be ragged.
pub(super) fn csv_reader(text: &str, delimiter: u8) -> csv::Reader<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .from_reader(text.as_bytes())
}

/// A record that is a blank row: no cell holds anything but padding.
pub(super) fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|cell| trim_cell(cell).is_empty())
}

/// One non-blank CSV record, kept (tests only: the reader hands records
/// over one at a time, [`for_each_record`]).
#[cfg(test)]
#[derive(Debug)]
pub(super) struct Record {
    /// Physical line where the record starts.
    pub(super) line: u64,
    /// The cells as written (quotes removed).
    pub(super) cells: Vec<String>,
}

/// Broken CSV structure; the pipeline reports it as
/// [`InputError::Malformed`](super::InputError::Malformed).
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed {
    /// 1-based physical line where the problem starts.
    pub(super) line: u64,
    /// What is wrong and how to fix it.
    pub(super) message: String,
}

/// Hand every non-blank record to `visit` with its start line, in order,
/// and count blank rows: both lines `csv` skips silently and records whose
/// cells are all empty. Nothing is kept: a large input is read twice (its
/// shape, then its rows) rather than held as records.
///
/// `csv` gives each record's byte offset as where its parse began, i.e. right
/// after the previous record's terminator and before any skipped blank lines;
/// so the true start is found by skipping line breaks from there, and blank
/// lines are the physical lines no record covers.
pub(super) fn for_each_record(
    text: &str,
    delimiter: u8,
    mut visit: impl FnMut(u64, &csv::StringRecord),
) -> Result<usize, Malformed> {
    let bytes = text.as_bytes();
    let lines = LineIndex::new(bytes);
    let mut reader = csv_reader(text, delimiter);
    let mut record = csv::StringRecord::new();
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
                return Err(Malformed {
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
            visit(first_line, &record);
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
        return Err(Malformed {
            line: lines.line_of(start + open),
            message: message.to_owned(),
        });
    }
    let blank_lines = lines.count() - covered_lines;
    let blank_rows = blank_records + usize::try_from(blank_lines).unwrap_or(usize::MAX);
    Ok(blank_rows)
}

/// Every non-blank record with its start line, and the blank rows.
#[cfg(test)]
pub(super) fn read_records(text: &str, delimiter: u8) -> Result<(Vec<Record>, usize), Malformed> {
    let mut records = Vec::new();
    let blank_rows = for_each_record(text, delimiter, |line, record| {
        records.push(Record {
            line,
            cells: record.iter().map(str::to_owned).collect(),
        });
    })?;
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
        // A line ends after byte `i`.
        let ends_at = |i: usize| match text[i] {
            b'\n' => true,
            b'\r' => text.get(i + 1) != Some(&b'\n'),
            _ => false,
        };
        // Counted first, so the index is one allocation of its final size.
        let mut starts = Vec::with_capacity((0..text.len()).filter(|&i| ends_at(i)).count() + 1);
        starts.push(0);
        starts.extend((0..text.len()).filter(|&i| ends_at(i)).map(|i| i + 1));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The start line of every record, and the blank rows.
    fn lines_and_blanks(text: &str, delimiter: u8) -> (Vec<u64>, usize) {
        let (records, blank) = read_records(text, delimiter).expect("records parse");
        (records.iter().map(|r| r.line).collect(), blank)
    }

    #[test]
    fn blank_lines_and_empty_rows_are_counted_not_returned() {
        let text = "id,name\n\n97ca2b55-839e-4579-98d4-39599a228c98,x\n,\n  ,\u{a0}\n\r\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,y\n\n";
        // Lines 2 and 8 are empty, 4 and 5 hold only delimiters and spaces, 6 is CRLF alone.
        assert_eq!(lines_and_blanks(text, b','), (vec![1, 3, 7], 5));

        let excel = "Kund-ID;Namn\r\n;\r\n;\r\n97ca2b55-839e-4579-98d4-39599a228c98;x\r\n;\r\n";
        assert_eq!(lines_and_blanks(excel, b';'), (vec![1, 4], 3));
    }

    #[test]
    fn line_numbers_survive_multiline_cells_and_blank_lines() {
        let text = "\n\nid,note\r\n97ca2b55-839e-4579-98d4-39599a228c98,\"a\r\nb\n\nc\"\r\n\r\n\r\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,x\n";
        assert_eq!(lines_and_blanks(text, b','), (vec![3, 4, 10], 4));
        let (records, _) = read_records(text, b',').unwrap();
        assert_eq!(records[1].cells[1], "a\r\nb\n\nc");

        // Old Mac line ends: csv splits records on a lone CR, so lines must too.
        let mac = "tenantId\r97ca2b55-839e-4579-98d4-39599a228c98\r\re083ac65-ff8b-4ba1-9541-05e7a2881ddc\r";
        assert_eq!(lines_and_blanks(mac, b','), (vec![1, 2, 4], 1));
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
    fn unclosed_quote_is_refused_with_its_line() {
        let text = "customer_tenant_id,note\n97ca2b55-839e-4579-98d4-39599a228c98,ok\ne083ac65-ff8b-4ba1-9541-05e7a2881ddc,\"oops\n4957e990-2e85-4204-83da-169df608d4ea,lost\n";
        let error = read_records(text, b',').unwrap_err();
        assert_eq!(error.line, 3, "{error:?}");
        assert!(error.message.contains("never closed"), "{error:?}");
        // A quote inside an unquoted cell is just text.
        let text = "customer_tenant_id,note\n97ca2b55-839e-4579-98d4-39599a228c98,5\" screen\n";
        let (records, _) = read_records(text, b',').unwrap();
        assert_eq!(
            records[1].cells,
            ["97ca2b55-839e-4579-98d4-39599a228c98", "5\" screen"]
        );
    }

    #[test]
    fn padding_and_blank_records() {
        assert_eq!(trim_cell("\u{feff} \u{a0}x y\u{200b}\t\u{2060}"), "x y");
        let blank = csv::StringRecord::from(vec!["", " ", "\u{a0}\u{200b}"]);
        assert!(is_blank(&blank));
        assert!(!is_blank(&csv::StringRecord::from(vec!["", "x"])));
    }
}
