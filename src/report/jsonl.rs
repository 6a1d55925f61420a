//! `qualifications.jsonl`: the rows of `qualifications.csv` as JSON lines,
//! one object per row, keys = the CSV's column names in the same order,
//! typed values (numbers as numbers, absent values `null`, dates as
//! RFC 3339 strings).
//!
//! Text is written exactly as received: the CSV's `'` prefix against
//! formula injection is a spreadsheet concern, not a JSON one.

use std::io::{BufWriter, Write};

use serde_json::Value;

use super::row::{Cell, ReportRow, column_names};
use super::sink::{FILE_BUFFER, RowSink};

/// A cell as a JSON value: absent (empty text, no status, no date, no
/// number) is `null`.
fn value_of(cell: Cell<'_>) -> Value {
    let text = |t: &str| {
        if t.is_empty() {
            Value::Null
        } else {
            Value::String(t.to_string())
        }
    };
    match cell {
        Cell::Text(t) => text(t),
        Cell::Status(s) => text(s.as_str()),
        Cell::Date(d) => d.map_or(Value::Null, |d| text(&d.to_report_string())),
        Cell::Number(n) => n.map_or(Value::Null, Value::from),
    }
}

/// `qualifications.jsonl` being written, a line per row as they come:
/// UTF-8, each line ending in `\n`; `reconciliation`: the input has an
/// expectation column.
pub struct JsonlRows<W: Write> {
    out: BufWriter<W>,
    /// The line being built (kept to spare an allocation per row).
    line: Vec<u8>,
    /// The keys, JSON-quoted, in the CSV's column order.
    keys: Vec<String>,
    reconciliation: bool,
}

impl<W: Write> JsonlRows<W> {
    /// Start the file in `out`.
    pub fn new(out: W, extra_headers: &[String], reconciliation: bool) -> JsonlRows<W> {
        // Keys are written by hand so they keep the CSV's column order (a
        // serde_json map would sort them).
        let keys = column_names(extra_headers, reconciliation)
            .iter()
            .map(|k| Value::from(k.as_str()).to_string())
            .collect();
        JsonlRows {
            out: BufWriter::with_capacity(FILE_BUFFER, out),
            line: Vec::with_capacity(256),
            keys,
            reconciliation,
        }
    }
}

impl<W: Write> RowSink for JsonlRows<W> {
    type Row = ReportRow;
    type Out = W;

    fn row(&mut self, r: &ReportRow) -> anyhow::Result<()> {
        let line = &mut self.line;
        line.clear();
        line.push(b'{');
        for (i, (key, cell)) in self
            .keys
            .iter()
            .zip(r.cells(self.reconciliation))
            .enumerate()
        {
            if i > 0 {
                line.push(b',');
            }
            line.extend_from_slice(key.as_bytes());
            line.push(b':');
            serde_json::to_writer(&mut *line, &value_of(cell))?;
        }
        line.extend_from_slice(b"}\n");
        Ok(self.out.write_all(line)?)
    }

    fn finish(self) -> anyhow::Result<W> {
        self.out.into_inner().map_err(|e| e.into_error().into())
    }
}

/// The whole file as bytes; `reconciliation`: the input has an
/// expectation column.
pub fn render(rows: &[ReportRow], extra_headers: &[String], reconciliation: bool) -> Vec<u8> {
    let mut out = JsonlRows::new(
        Vec::with_capacity(rows.len() * 256),
        extra_headers,
        reconciliation,
    );
    for r in rows {
        out.row(r).expect("writing to memory");
    }
    out.finish().expect("flushing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{LookupStatus, VettingDate, VettingStatus};

    fn row() -> ReportRow {
        ReportRow {
            customer_tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            input_line: 7,
            qualification: "Education".into(),
            vetting_status: VettingStatus::InReview,
            vetting_reason: String::new(),
            vetting_created_date: Some(VettingDate::parse("2020-12-03T10:37:38.885Z")),
            days_in_review: Some(12),
            lookup_status: LookupStatus::Ok,
            error: String::new(),
            extra: vec!["=Fourth \"Coffee\"\nrad 2".into(), String::new()],
            reconciliation: None,
        }
    }

    #[test]
    fn one_typed_object_per_row_with_the_csv_columns_in_order() {
        let headers = ["customer_name".to_string(), "error".to_string()];
        let bytes = render(&[row(), row()], &headers, false);
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(text.ends_with("}\n"));
        let v: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["input_line"], 7);
        assert_eq!(v["days_in_review"], 12);
        assert_eq!(v["vetting_created_date"], "2020-12-03T10:37:38.885Z");
        assert_eq!(v["vetting_reason"], Value::Null);
        assert_eq!(v["error"], Value::Null);
        // Verbatim text (no CSV neutralisation); a clashing input header
        // keeps the CSV's de-clashed name; an empty input cell is null.
        assert_eq!(v["customer_name"], "=Fourth \"Coffee\"\nrad 2");
        assert_eq!(v["input_error"], Value::Null);
        // Keys in the CSV's column order, each once.
        let positions: Vec<usize> = column_names(&headers, false)
            .iter()
            .map(|k| {
                let key = format!("\"{k}\":");
                assert_eq!(lines[0].matches(&key).count(), 1, "{key} in {}", lines[0]);
                lines[0].find(&key).unwrap()
            })
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{}", lines[0]);
        assert_eq!(v.as_object().unwrap().len(), positions.len());
    }

    #[test]
    fn absent_numbers_and_dates_are_null() {
        let mut r = row();
        r.days_in_review = None;
        r.vetting_created_date = None;
        r.qualification = String::new();
        r.vetting_status = VettingStatus::Absent;
        let v: Value = serde_json::from_slice(&render(&[r], &[], false)).unwrap();
        assert_eq!(v["days_in_review"], Value::Null);
        assert_eq!(v["vetting_created_date"], Value::Null);
        assert_eq!(v["qualification"], Value::Null);
        assert_eq!(v["vetting_status"], Value::Null);
        assert_eq!(v["lookup_status"], "ok");
        assert!(v.get("reconciliation").is_none());
    }

    #[test]
    fn reconciliation_is_a_key_when_the_input_has_expectations() {
        let mut a = row();
        a.reconciliation = Some(crate::report::row::Reconciliation::Pending);
        let mut b = row();
        b.reconciliation = Some(crate::report::row::Reconciliation::Blank);
        let text = String::from_utf8(render(&[a, b], &[], true)).unwrap();
        let v: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(v[0]["reconciliation"], "pending");
        assert_eq!(v[1]["reconciliation"], Value::Null);
        assert!(
            text.contains(r#""error":null,"reconciliation":"pending"}"#),
            "{text}"
        );
    }
}
