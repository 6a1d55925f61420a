//! What every report file writer shares, below the writers themselves:
//! the [`Layout`] they are told before the first row, how a file is
//! started ([`start`]), and the files written one row at a time
//! (`qualifications.csv`, `qualifications.jsonl`, `changes.csv`) as a
//! [`RowSink`] inside a [`RowFile`]. A leaf of `report/`: the writers
//! import it, `export.rs` drives them.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};

use crate::fsutil::AtomicFile;

/// Buffer of a report file being written: a 100,000-customer report is
/// tens of megabytes, and 8 KiB buffers made it thousands of `write`
/// calls per file.
pub(crate) const FILE_BUFFER: usize = 64 * 1024;

/// What the exporters need to know before the first row.
#[derive(Debug, Clone, Copy)]
pub struct Layout<'a> {
    /// The input's other columns, carried into the report.
    pub extra_headers: &'a [String],
    /// The input column with the CRM's expectation (an index into
    /// `extra_headers`); the report then has a `reconciliation` column.
    pub expect_column: Option<usize>,
    /// `--previous`: there is a `changes.csv` (and a Changes sheet).
    pub changes: bool,
    /// `--csv-bom`.
    pub csv_bom: bool,
    /// Open reviews vetted before this are stale (Needs attention).
    pub stale_cutoff: DateTime<Utc>,
}

impl Layout<'_> {
    /// Whether the report has a `reconciliation` column.
    pub fn reconciliation(&self) -> bool {
        self.expect_column.is_some()
    }
}

/// Start the file that will replace `path`.
pub fn start(path: &Path) -> anyhow::Result<AtomicFile> {
    AtomicFile::create(path).with_context(|| format!("cannot write {}", path.display()))
}

/// A file written one row at a time, into any output `W` (a file being
/// written, or memory).
pub trait RowSink {
    /// What one row of the file is made from.
    type Row;
    /// Where the bytes go.
    type Out;

    /// Write one row.
    fn row(&mut self, row: &Self::Row) -> anyhow::Result<()>;

    /// Everything written: flush, and hand back the output.
    fn finish(self) -> anyhow::Result<Self::Out>;
}

/// A [`RowSink`] writing into the report file at `path`: its errors name
/// the file.
pub struct RowFile<S> {
    sink: S,
    path: PathBuf,
}

impl<S: RowSink<Out = AtomicFile>> RowFile<S> {
    /// Start `path` and the sink on it (`new` writes what comes first, a
    /// header, a BOM).
    pub fn create<E>(
        path: &Path,
        new: impl FnOnce(AtomicFile) -> Result<S, E>,
    ) -> anyhow::Result<Self>
    where
        E: Into<anyhow::Error>,
    {
        let sink = new(start(path)?)
            .map_err(Into::into)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(RowFile {
            sink,
            path: path.to_path_buf(),
        })
    }

    /// Rows, in order.
    pub fn rows(&mut self, rows: &[S::Row]) -> anyhow::Result<()> {
        for r in rows {
            self.sink
                .row(r)
                .with_context(|| format!("cannot write {}", self.path.display()))?;
        }
        Ok(())
    }

    /// Complete the file (not yet in place).
    pub fn finish(self) -> anyhow::Result<AtomicFile> {
        let path = self.path;
        self.sink
            .finish()
            .with_context(|| format!("cannot write {}", path.display()))
    }
}
