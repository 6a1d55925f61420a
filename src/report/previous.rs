//! `--previous DIR`: read an earlier run's `qualifications.csv` (and, when
//! readable, its `summary.json` for the run id) to compare against.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::changes::Entry;
use super::csv::FORMULA_TRIGGERS;
use super::row::Reconciliation;
use super::screen::printable;
use crate::model::{LookupStatus, VettingDate, VettingStatus};

/// The earlier run, as far as the comparison needs it.
#[derive(Debug)]
pub struct PreviousRun {
    /// The folder given to `--previous`.
    pub dir: PathBuf,
    /// Its `qualifications.csv`, row by row.
    pub entries: Vec<Entry>,
    /// `run.id` from its `summary.json`, when that file is readable.
    pub run_id: Option<String>,
    /// `run.started_at` from its `summary.json`, when readable.
    pub started_at: Option<String>,
}

/// [`parse_csv`] or [`parse_jsonl`].
type Parser = fn(&[u8], Option<bool>) -> Result<Vec<Entry>, String>;

/// The file names of a report folder that `--previous` reads.
#[derive(Debug, Clone, Copy)]
pub struct ReportNames<'a> {
    /// `qualifications.csv`.
    pub csv: &'a str,
    /// `qualifications.jsonl`, read when there is no CSV.
    pub jsonl: &'a str,
    /// `summary.json`.
    pub summary: &'a str,
}

/// Undo the CSV-injection prefix: `'` followed by a trigger character was
/// added by the writer (see [`super::csv::neutralise`]); anything else is
/// verbatim.
pub fn unneutralise(cell: &str) -> &str {
    match cell.as_bytes() {
        [b'\'', b, ..] if FORMULA_TRIGGERS.contains(b) => &cell[1..],
        _ => cell,
    }
}

/// The columns the comparison needs; `vetting_created_date` may be missing.
const REQUIRED: [&str; 5] = [
    "customer_tenant_id",
    "qualification",
    "vetting_status",
    "vetting_reason",
    "lookup_status",
];

/// Parse a `qualifications.csv` (with or without BOM, `'`-neutralised
/// cells, extra columns in any order, with or without `reconciliation`).
/// Ids are canonicalised; a `lookup_status` qualrecon never writes makes
/// it not a report.
///
/// `reconciled`: whether the run that wrote it had an expectation column,
/// as its `summary.json` says; `None` when that is not known. A report
/// without one carries the input's own columns right after `error`, and one
/// of them may be called `reconciliation` too: unless the summary says the
/// column is ours, it is taken for ours only when every cell holds a value
/// qualrecon writes there.
pub fn parse_csv(bytes: &[u8], reconciled: Option<bool>) -> Result<Vec<Entry>, String> {
    let bytes = crate::model::strip_bom(bytes);
    let mut r = csv::ReaderBuilder::new().flexible(true).from_reader(bytes);
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h.trim() == name);
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "not a qualrecon report: no column {}",
            missing.join(", ")
        ));
    }
    let [id, q, status, reason, lookup] = REQUIRED.map(|c| col(c).expect("checked above"));
    let date = col("vetting_created_date");
    // Right after `error` when the report has it; absent in reports without
    // an expectation column (and in older ones), where an input column of
    // that name may sit among the carried-over columns instead.
    let reconciliation = col("error")
        .map(|e| e + 1)
        .filter(|&i| headers.get(i).map(str::trim) == Some(super::row::RECONCILIATION_COLUMN))
        .filter(|_| reconciled != Some(false));
    let mut entries = Vec::new();
    for (n, rec) in (1u64..).zip(r.records()) {
        let rec = rec.map_err(|e| e.to_string())?;
        let cell = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(|c| unneutralise(c).to_string())
                .unwrap_or_default()
        };
        let texts = [id, q, status, reason, lookup].map(|i| cell(Some(i)));
        let reconciliation = reconciliation.map(|c| cell(Some(c)));
        entries.push(entry(n, texts, cell(date), reconciliation)?);
    }
    Ok(keep_reconciliation_if_ours(entries, reconciled))
}

/// Parse a `qualifications.jsonl`: the same rows as the CSV, one JSON object
/// each, keyed by the CSV's column names (`reconciliation` as for
/// [`parse_csv`]).
pub fn parse_jsonl(bytes: &[u8], reconciled: Option<bool>) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    let lines = bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.trim_ascii().is_empty());
    for (n, line) in (1u64..).zip(lines) {
        let row: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(line)
            .map_err(|e| format!("not a qualrecon report: its line {n} is no JSON object ({e})"))?;
        let text = |key: &str| match row.get(key) {
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(serde_json::Value::Null) => Some(String::new()),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        let missing: Vec<&str> = REQUIRED.into_iter().filter(|k| text(k).is_none()).collect();
        if !missing.is_empty() {
            return Err(format!(
                "not a qualrecon report: its line {n} has no {}",
                missing.join(", ")
            ));
        }
        let texts = REQUIRED.map(|k| text(k).unwrap_or_default());
        let date = text("vetting_created_date").unwrap_or_default();
        let reconciliation =
            text(super::row::RECONCILIATION_COLUMN).filter(|_| reconciled != Some(false));
        entries.push(entry(n, texts, date, reconciliation)?);
    }
    Ok(keep_reconciliation_if_ours(entries, reconciled))
}

/// Row `n` of an earlier report from the texts of its [`REQUIRED`]
/// columns (in that order), its date and its `reconciliation`.
fn entry(
    n: u64,
    [raw_id, qualification, status, reason, lookup]: [String; 5],
    date: String,
    reconciliation: Option<String>,
) -> Result<Entry, String> {
    let customer_tenant_id = uuid::Uuid::parse_str(raw_id.trim())
        .map(|u| u.to_string())
        .unwrap_or(raw_id);
    let lookup_status = LookupStatus::parse(&lookup).ok_or_else(|| {
        format!(
            "not a qualrecon report: its row {n} has lookup_status `{}`",
            printable(&lookup)
        )
    })?;
    Ok(Entry {
        customer_tenant_id,
        qualification,
        vetting_status: VettingStatus::from_report(&status),
        vetting_reason: reason,
        vetting_created_date: Some(date)
            .filter(|d| !d.is_empty())
            .map(|d| VettingDate::parse(&d)),
        lookup_status,
        reconciliation,
    })
}

/// `entries` as read, without their `reconciliation` when nothing says the
/// column is ours and some value in it is not one qualrecon writes.
fn keep_reconciliation_if_ours(mut entries: Vec<Entry>, reconciled: Option<bool>) -> Vec<Entry> {
    let ours = |value: &str| {
        value.is_empty() || Reconciliation::LABELLED.iter().any(|r| r.as_str() == value)
    };
    if reconciled.is_none()
        && entries
            .iter()
            .any(|e| e.reconciliation.as_deref().is_some_and(|v| !ours(v)))
    {
        for e in &mut entries {
            e.reconciliation = None;
        }
    }
    entries
}

/// Read `DIR/qualifications.csv`, or `DIR/qualifications.jsonl` when the
/// earlier run wrote no CSV (its `--format` left it out), and
/// `DIR/summary.json` (optional: the run id, and whether the report has our
/// `reconciliation` column).
pub fn read(dir: &Path, names: &ReportNames<'_>) -> anyhow::Result<PreviousRun> {
    let csv_path = dir.join(names.csv);
    let jsonl_path = dir.join(names.jsonl);
    let (path, bytes, parse): (_, _, Parser) = match std::fs::read(&csv_path) {
        Ok(bytes) => (csv_path, bytes, parse_csv),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && jsonl_path.exists() => {
            let bytes = std::fs::read(&jsonl_path).with_context(|| {
                format!(
                    "cannot read the previous run's report {}",
                    jsonl_path.display()
                )
            })?;
            (jsonl_path, bytes, parse_jsonl)
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                    "cannot read the previous run's report {} (--previous takes the --out folder of an earlier run whose --format included csv or jsonl)",
                    csv_path.display()
                )));
        }
    };
    // A `running` summary belongs to a run that has not (yet) written the
    // report read above: its id would name the wrong run.
    let summary: Option<serde_json::Value> = std::fs::read(dir.join(names.summary))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|s| s["run"]["status"] != super::summary::RUNNING);
    let reconciled = summary.as_ref().map(|s| s["reconciliation"].is_object());
    let entries = parse(&bytes, reconciled)
        .map_err(|e| anyhow::anyhow!("the previous run's report {}: {e}", path.display()))?;
    let run_field = |key: &str| {
        summary
            .as_ref()
            .and_then(|s| s["run"][key].as_str())
            .map(str::to_string)
    };
    Ok(PreviousRun {
        dir: dir.to_path_buf(),
        entries,
        run_id: run_field("id"),
        started_at: run_field("started_at"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralised_cells_come_back_and_others_stay_verbatim() {
        assert_eq!(unneutralise("'=1+1"), "=1+1");
        assert_eq!(unneutralise("'-5"), "-5");
        assert_eq!(unneutralise("'quoted'"), "'quoted'");
        assert_eq!(unneutralise("'"), "'");
        assert_eq!(unneutralise(""), "");
    }

    #[test]
    fn reads_a_report_with_bom_neutralised_cells_and_any_id_form() {
        let csv = "\u{feff}customer_tenant_id,input_line,qualification,vetting_status,vetting_reason,vetting_created_date,days_in_review,lookup_status,error,name\r\n\
            6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B,2,Education,Denied,'=bad,2020-12-03T10:37:38.885Z,,ok,,x\r\n\
            '-x,3,,,,,,invalid_input,not a GUID,y\r\n";
        let entries = parse_csv(csv.as_bytes(), None).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(
            entries[0].customer_tenant_id,
            "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
        );
        assert_eq!(entries[0].vetting_reason, "=bad");
        assert_eq!(
            entries[0].vetting_created_date,
            Some(VettingDate::parse("2020-12-03T10:37:38.885Z"))
        );
        assert_eq!(entries[1].customer_tenant_id, "-x");
        assert_eq!(entries[1].lookup_status, LookupStatus::InvalidInput);
    }

    #[test]
    fn an_input_column_called_reconciliation_is_not_the_report_column() {
        let csv = "customer_tenant_id,input_line,qualification,vetting_status,vetting_reason,vetting_created_date,days_in_review,lookup_status,error,name,reconciliation\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b,2,Education,Approved,,,,ok,,x,done\r\n";
        assert_eq!(
            parse_csv(csv.as_bytes(), None).unwrap()[0].reconciliation,
            None
        );
    }

    #[test]
    fn an_input_column_called_reconciliation_right_after_error_is_not_ours() {
        // A report without an expectation column whose input's first
        // column of its own is called `reconciliation`.
        let csv = "customer_tenant_id,input_line,qualification,vetting_status,vetting_reason,vetting_created_date,days_in_review,lookup_status,error,reconciliation\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b,2,Education,Approved,,,,ok,,done\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c,3,Education,Approved,,,,ok,,match\r\n";
        let reconciliation = |reconciled| {
            parse_csv(csv.as_bytes(), reconciled)
                .unwrap()
                .into_iter()
                .map(|e| e.reconciliation)
                .collect::<Vec<_>>()
        };
        // Its summary says so, or a value qualrecon never writes there does.
        assert_eq!(reconciliation(Some(false)), [None, None]);
        assert_eq!(reconciliation(None), [None, None]);
        // Only a summary that says it had an expectation column makes it ours.
        assert_eq!(
            reconciliation(Some(true)),
            [Some("done".to_string()), Some("match".to_string())]
        );
        let ours = csv.replace(",done", ",not_approved");
        let entries = parse_csv(ours.as_bytes(), None).unwrap();
        assert_eq!(entries[0].reconciliation.as_deref(), Some("not_approved"));
    }

    #[test]
    fn a_jsonl_report_reads_as_its_csv_does() {
        use crate::report::row::ReportRow;
        let row = ReportRow {
            customer_tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            input_line: 2,
            qualification: "Education".into(),
            vetting_status: VettingStatus::InReview,
            vetting_reason: "=odd, \"quoted\"\nreason".into(),
            vetting_created_date: Some(VettingDate::parse("2020-12-03T10:37:38.885Z")),
            days_in_review: Some(7),
            lookup_status: LookupStatus::Ok,
            error: String::new(),
            extra: vec!["@name".into()],
            reconciliation: Some(crate::report::row::Reconciliation::Pending),
        };
        let failed = ReportRow {
            qualification: String::new(),
            vetting_status: VettingStatus::Absent,
            vetting_reason: String::new(),
            vetting_created_date: None,
            days_in_review: None,
            lookup_status: LookupStatus::Failed,
            error: "HTTP 503".into(),
            reconciliation: Some(crate::report::row::Reconciliation::Unknown),
            ..row.clone()
        };
        let rows = [row, failed];
        let headers = ["name".to_string()];
        let bytes = crate::report::jsonl::render(&rows, &headers, true);
        let csv = crate::report::csv::render(&rows, &headers, true, false);
        let from_jsonl = parse_jsonl(&bytes, None).unwrap();
        assert_eq!(from_jsonl, parse_csv(&csv, None).unwrap());
        assert_eq!(from_jsonl, rows.iter().map(Entry::from).collect::<Vec<_>>());
        let e = parse_jsonl(b"{\"customer_tenant_id\": \"x\"}\n", None).unwrap_err();
        assert!(e.contains("line 1 has no qualification"), "{e}");
        assert!(parse_jsonl(b"not json\n", None).is_err());
    }

    #[test]
    fn a_lookup_status_qualrecon_never_writes_is_not_a_report() {
        let csv = "customer_tenant_id,qualification,vetting_status,vetting_reason,lookup_status\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b,,,,ok\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c,,,,fine\r\n";
        let e = parse_csv(csv.as_bytes(), None).unwrap_err();
        assert!(e.contains("row 2 has lookup_status `fine`"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_report_names_the_missing_columns() {
        let e = parse_csv(b"customer_tenant_id,name\r\nx,y\r\n", None).unwrap_err();
        assert!(
            e.contains("lookup_status") && e.contains("qualification"),
            "{e}"
        );
    }

    #[test]
    fn the_run_id_comes_from_a_finished_summary_only() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("q.csv"),
            "customer_tenant_id,qualification,vetting_status,vetting_reason,lookup_status\r\n",
        )
        .unwrap();
        let summary = |status: &str| {
            let doc = format!(r#"{{"run":{{"id":"r1","status":"{status}","started_at":"t"}}}}"#);
            std::fs::write(dir.path().join("s.json"), doc).unwrap();
            let names = ReportNames {
                csv: "q.csv",
                jsonl: "q.jsonl",
                summary: "s.json",
            };
            read(dir.path(), &names).unwrap()
        };
        assert_eq!(summary("complete").run_id.as_deref(), Some("r1"));
        assert_eq!(summary("interrupted").started_at.as_deref(), Some("t"));
        let running = summary("running");
        assert_eq!((running.run_id, running.started_at), (None, None));
    }

    #[test]
    fn a_report_written_by_this_crate_reads_back_unchanged() {
        use crate::report::row::ReportRow;
        let row = ReportRow {
            customer_tenant_id: "00000000-0000-0000-0000-000000000001".into(),
            input_line: 2,
            qualification: "Education".into(),
            vetting_status: VettingStatus::Denied,
            vetting_reason: "-odd, \"quoted\"\nreason".into(),
            vetting_created_date: Some(VettingDate::parse("2020-12-03T10:37:38.885Z")),
            days_in_review: None,
            lookup_status: LookupStatus::Ok,
            error: String::new(),
            extra: vec!["@name".into()],
            reconciliation: None,
        };
        let bytes =
            crate::report::csv::render(std::slice::from_ref(&row), &["n".into()], false, true);
        let entries = parse_csv(&bytes, None).unwrap();
        assert_eq!(entries, [Entry::from(&row)]);
        assert_eq!(entries[0].reconciliation, None);
        let row = ReportRow {
            reconciliation: Some(crate::report::row::Reconciliation::NotApproved),
            ..row
        };
        let bytes =
            crate::report::csv::render(std::slice::from_ref(&row), &["n".into()], true, false);
        let entries = parse_csv(&bytes, None).unwrap();
        assert_eq!(entries, [Entry::from(&row)]);
        assert_eq!(entries[0].reconciliation.as_deref(), Some("not_approved"));
    }
}
