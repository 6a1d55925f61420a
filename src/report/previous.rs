//! `--previous DIR`: read an earlier run's `qualifications.csv` (and, when
//! readable, its `summary.json` for the run id) to compare against.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::changes::Entry;
use super::csv::FORMULA_TRIGGERS;
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
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Entry>, String> {
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
        .filter(|&i| headers.get(i).map(str::trim) == Some(super::row::RECONCILIATION_COLUMN));
    let mut entries = Vec::new();
    for (n, rec) in (1u64..).zip(r.records()) {
        let rec = rec.map_err(|e| e.to_string())?;
        let cell = |i: Option<usize>| {
            i.and_then(|i| rec.get(i))
                .map(|c| unneutralise(c).to_string())
                .unwrap_or_default()
        };
        let raw_id = cell(Some(id));
        let customer_tenant_id = uuid::Uuid::parse_str(raw_id.trim())
            .map(|u| u.to_string())
            .unwrap_or(raw_id);
        let lookup_status = cell(Some(lookup));
        let lookup_status = LookupStatus::parse(&lookup_status).ok_or_else(|| {
            format!(
                "not a qualrecon report: its row {n} has lookup_status `{}`",
                printable(&lookup_status)
            )
        })?;
        entries.push(Entry {
            customer_tenant_id,
            qualification: cell(Some(q)),
            vetting_status: VettingStatus::from_report(&cell(Some(status))),
            vetting_reason: cell(Some(reason)),
            vetting_created_date: Some(cell(date))
                .filter(|d| !d.is_empty())
                .map(|d| VettingDate::parse(&d)),
            lookup_status,
            reconciliation: reconciliation.map(|c| cell(Some(c))),
        });
    }
    Ok(entries)
}

/// Read `DIR/qualifications.csv` (required) and `DIR/summary.json`
/// (optional, for the run id).
pub fn read(dir: &Path, csv_name: &str, summary_name: &str) -> anyhow::Result<PreviousRun> {
    let csv_path = dir.join(csv_name);
    let bytes = std::fs::read(&csv_path).with_context(|| {
        format!(
            "cannot read the previous run's report {} (--previous takes the --out folder of an earlier run that wrote {csv_name})",
            csv_path.display()
        )
    })?;
    let entries = parse_csv(&bytes)
        .map_err(|e| anyhow::anyhow!("the previous run's report {}: {e}", csv_path.display()))?;
    // A `running` summary belongs to a run that has not (yet) written the
    // report read above: its id would name the wrong run.
    let summary: Option<serde_json::Value> = std::fs::read(dir.join(summary_name))
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .filter(|s| s["run"]["status"] != super::summary::RUNNING);
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
        let entries = parse_csv(csv.as_bytes()).unwrap();
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
        assert_eq!(parse_csv(csv.as_bytes()).unwrap()[0].reconciliation, None);
    }

    #[test]
    fn a_lookup_status_qualrecon_never_writes_is_not_a_report() {
        let csv = "customer_tenant_id,qualification,vetting_status,vetting_reason,lookup_status\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b,,,,ok\r\n\
            6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c,,,,fine\r\n";
        let e = parse_csv(csv.as_bytes()).unwrap_err();
        assert!(e.contains("row 2 has lookup_status `fine`"), "{e}");
    }

    #[test]
    fn a_file_that_is_not_a_report_names_the_missing_columns() {
        let e = parse_csv(b"customer_tenant_id,name\r\nx,y\r\n").unwrap_err();
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
            read(dir.path(), "q.csv", "s.json").unwrap()
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
        let entries = parse_csv(&bytes).unwrap();
        assert_eq!(entries, [Entry::from(&row)]);
        assert_eq!(entries[0].reconciliation, None);
        let row = ReportRow {
            reconciliation: Some(crate::report::row::Reconciliation::NotApproved),
            ..row
        };
        let bytes =
            crate::report::csv::render(std::slice::from_ref(&row), &["n".into()], true, false);
        let entries = parse_csv(&bytes).unwrap();
        assert_eq!(entries, [Entry::from(&row)]);
        assert_eq!(entries[0].reconciliation.as_deref(), Some("not_approved"));
    }
}
