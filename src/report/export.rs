//! Writing the report files: one [`Exporter`] per file, fed the report in
//! order — each customer's rows, the rows of `changes.csv`, then the
//! summary — and a [`ReportWriter`] that drives them and puts the files in
//! place, `summary.json` last. A new output format is one more exporter
//! (and a name in `--format`): a [`RowSink`] when the file is written row
//! by row, else an `impl Exporter` here.
//!
//! Every file is written into a temp file beside its target and renamed
//! over it only when all of them are complete ([`AtomicFile`]): a failed
//! write changes none of the report files.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::changes::{Change, ChangesRows};
use super::csv::CsvRows;
use super::formats::Formats;
use super::jsonl::JsonlRows;
use super::row::ReportRow;
pub use super::sink::Layout;
use super::sink::{RowFile, RowSink};
use super::summary::{Summary, SummaryExporter};
use super::xlsx::XlsxExporter;
use crate::fsutil::AtomicFile;

/// Report file names.
pub(crate) const CSV_FILE: &str = "qualifications.csv";
pub(crate) const XLSX_FILE: &str = "qualifications.xlsx";
pub(crate) const JSONL_FILE: &str = "qualifications.jsonl";
pub(crate) const CHANGES_FILE: &str = "changes.csv";
pub(crate) const SUMMARY_FILE: &str = "summary.json";

/// One report file.
pub trait Exporter {
    /// One customer's rows (or one invalid input row), in report order.
    fn customer(&mut self, _rows: &[ReportRow]) -> anyhow::Result<()> {
        Ok(())
    }

    /// Rows of `changes.csv`, in order (only with `--previous`).
    fn changes(&mut self, _changes: &[Change]) -> anyhow::Result<()> {
        Ok(())
    }

    /// Everything is counted: complete the file, not yet in place.
    fn finish(self: Box<Self>, summary: &Summary) -> anyhow::Result<AtomicFile>;
}

/// Which part of the report a row-by-row file is made of: report rows or
/// changes.
pub trait Feed: Sized {
    /// Its rows among one customer's report rows.
    fn of_customer(_rows: &[ReportRow]) -> &[Self] {
        &[]
    }

    /// Its rows among the changes.
    fn of_changes(_changes: &[Change]) -> &[Self] {
        &[]
    }
}

impl Feed for ReportRow {
    fn of_customer(rows: &[ReportRow]) -> &[ReportRow] {
        rows
    }
}

impl Feed for Change {
    fn of_changes(changes: &[Change]) -> &[Change] {
        changes
    }
}

impl<S> Exporter for RowFile<S>
where
    S: RowSink<Out = AtomicFile>,
    S::Row: Feed,
{
    fn customer(&mut self, rows: &[ReportRow]) -> anyhow::Result<()> {
        self.rows(S::Row::of_customer(rows))
    }

    fn changes(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        self.rows(S::Row::of_changes(changes))
    }

    fn finish(self: Box<Self>, _: &Summary) -> anyhow::Result<AtomicFile> {
        RowFile::finish(*self)
    }
}

impl Exporter for XlsxExporter {
    fn customer(&mut self, rows: &[ReportRow]) -> anyhow::Result<()> {
        XlsxExporter::customer(self, rows)
    }

    fn changes(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        XlsxExporter::changes(self, changes)
    }

    fn finish(self: Box<Self>, summary: &Summary) -> anyhow::Result<AtomicFile> {
        XlsxExporter::finish(*self, summary)
    }
}

impl Exporter for SummaryExporter {
    fn finish(self: Box<Self>, summary: &Summary) -> anyhow::Result<AtomicFile> {
        SummaryExporter::finish(*self, summary)
    }
}

/// The report files of one run, being written.
pub struct ReportWriter {
    exporters: Vec<Box<dyn Exporter>>,
}

impl ReportWriter {
    /// Start the files `formats` asks for in `out` (`changes.csv` with
    /// `--previous`, `summary.json` always), in the order they are put in
    /// place.
    pub fn create(
        out: &Path,
        formats: Formats,
        layout: &Layout<'_>,
    ) -> anyhow::Result<ReportWriter> {
        let path = |name: &str| out.join(name);
        let reconciliation = layout.reconciliation();
        let mut exporters: Vec<Box<dyn Exporter>> = Vec::new();
        if formats.csv {
            exporters.push(Box::new(RowFile::create(&path(CSV_FILE), |file| {
                CsvRows::new(file, layout.extra_headers, reconciliation, layout.csv_bom)
            })?));
        }
        if formats.jsonl {
            exporters.push(Box::new(RowFile::create(&path(JSONL_FILE), |file| {
                anyhow::Ok(JsonlRows::new(file, layout.extra_headers, reconciliation))
            })?));
        }
        if formats.xlsx {
            exporters.push(Box::new(XlsxExporter::create(&path(XLSX_FILE), layout)?));
        }
        if layout.changes {
            exporters.push(Box::new(RowFile::create(&path(CHANGES_FILE), |file| {
                ChangesRows::new(file, reconciliation, layout.csv_bom)
            })?));
        }
        // Last: its presence with status "complete" marks a finished run.
        exporters.push(Box::new(SummaryExporter::create(&path(SUMMARY_FILE))?));
        Ok(ReportWriter { exporters })
    }

    /// One customer's rows (or one invalid input row), in report order.
    pub fn customer(&mut self, rows: &[ReportRow]) -> anyhow::Result<()> {
        self.exporters.iter_mut().try_for_each(|e| e.customer(rows))
    }

    /// Rows of `changes.csv`, in order.
    pub fn changes(&mut self, changes: &[Change]) -> anyhow::Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        self.exporters
            .iter_mut()
            .try_for_each(|e| e.changes(changes))
    }

    /// Complete every file, then put them in place in order; returns their
    /// paths.
    pub fn finish(self, summary: &Summary) -> anyhow::Result<Vec<PathBuf>> {
        let files = self
            .exporters
            .into_iter()
            .map(|e| e.finish(summary))
            .collect::<anyhow::Result<Vec<AtomicFile>>>()?;
        let mut written = Vec::with_capacity(files.len());
        for file in files {
            let path = file.path().to_path_buf();
            file.commit()
                .with_context(|| format!("cannot write {}", path.display()))?;
            written.push(path);
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::LookupStatus;
    use crate::report::row::test_row;
    use crate::report::summary::{RunMeta, Tally};
    use chrono::Utc;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn summary(rows: &[ReportRow]) -> Summary {
        let now = Utc::now();
        let input = crate::input::InputFile {
            delimiter: b',',
            has_header: true,
            id_header: "customer_tenant_id".into(),
            id_column: 0,
            extra_headers: vec![],
            rows: vec![],
            blank_rows: 0,
            sha256: String::new(),
            encoding: "utf-8",
            spill: None,
        };
        let meta = RunMeta::for_tests(now);
        let mut tally = Tally::new(now, 30);
        tally.add_customer(rows);
        tally.finish(&meta, &input)
    }

    #[test]
    fn the_files_appear_together_at_the_end_and_an_unfinished_writer_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CSV_FILE), "earlier").unwrap();
        let rows = [test_row(1, 2, "Education", "Approved", LookupStatus::Ok)];
        let layout = Layout {
            extra_headers: &[],
            expect_column: None,
            changes: false,
            csv_bom: false,
            stale_cutoff: Utc::now(),
        };
        let all = Formats {
            csv: true,
            xlsx: true,
            jsonl: true,
        };

        let mut unfinished = ReportWriter::create(dir.path(), all, &layout).unwrap();
        unfinished.customer(&rows).unwrap();
        drop(unfinished);
        assert_eq!(names(dir.path()), [CSV_FILE]);
        assert_eq!(
            std::fs::read(dir.path().join(CSV_FILE)).unwrap(),
            b"earlier"
        );

        let mut writer = ReportWriter::create(dir.path(), all, &layout).unwrap();
        writer.customer(&rows).unwrap();
        let written = writer.finish(&summary(&rows)).unwrap();
        let written: Vec<&str> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(written, [CSV_FILE, JSONL_FILE, XLSX_FILE, SUMMARY_FILE]);
        assert_eq!(
            names(dir.path()),
            [CSV_FILE, JSONL_FILE, XLSX_FILE, SUMMARY_FILE]
        );
        let read = |name| std::fs::read(dir.path().join(name)).unwrap();
        assert_eq!(
            read(CSV_FILE),
            crate::report::csv::render(&rows, &[], false, false)
        );
        assert_eq!(
            read(JSONL_FILE),
            crate::report::jsonl::render(&rows, &[], false)
        );
        let summary: serde_json::Value = serde_json::from_slice(&read(SUMMARY_FILE)).unwrap();
        assert_eq!(summary["lookups"]["ok"], 1);
    }
}
