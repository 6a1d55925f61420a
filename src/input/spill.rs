//! The passthrough cells of a large input, kept in a temp file instead of
//! memory. A partner's export with a few wide columns (names, addresses,
//! notes) is mostly those cells; the report needs each row's cells once,
//! when its row is written, so they wait on disk until then and are read
//! back row by row ([`Spill::cells`]).

use std::fs::File;
use std::io::{self, BufWriter, Write as _};
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use super::cells::Cells;

/// Inputs larger than this (in bytes) whose rows have passthrough cells
/// keep those cells in a temp file: 8 MiB is about 100,000 rows with a
/// name column, which memory holds easily.
pub const SPILL_OVER: usize = 8 << 20;

/// The cells of every data row, in row order, in an unnamed temp file
/// (in `TMPDIR`; the system removes it when the process ends).
#[derive(Debug, Clone)]
pub struct Spill {
    file: Arc<File>,
    /// Where row `i`'s cells end; they start where row `i - 1`'s end.
    ends: Vec<u64>,
}

impl Spill {
    /// Row `i`'s cells, read back.
    pub(super) fn cells(&self, i: usize) -> io::Result<Cells> {
        let end = self.ends[i];
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        let len = usize::try_from(end - start).map_err(io::Error::other)?;
        let mut bytes = vec![0; len];
        self.file.read_exact_at(&mut bytes, start)?;
        let text = String::from_utf8(bytes).map_err(io::Error::other)?;
        Ok(Cells::from_text(text))
    }
}

/// A [`Spill`] being written, row by row.
pub(super) struct SpillWriter {
    out: BufWriter<File>,
    written: u64,
    ends: Vec<u64>,
}

impl SpillWriter {
    /// For `rows` rows.
    pub(super) fn new(rows: usize) -> io::Result<SpillWriter> {
        Ok(SpillWriter {
            out: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            written: 0,
            ends: Vec::with_capacity(rows),
        })
    }

    /// The next row's cells.
    pub(super) fn push(&mut self, cells: &Cells) -> io::Result<()> {
        let text = cells.as_text();
        self.out.write_all(text.as_bytes())?;
        self.written += text.len() as u64;
        self.ends.push(self.written);
        Ok(())
    }

    /// Every row is in: ready to be read.
    pub(super) fn finish(self) -> io::Result<Spill> {
        let file = self
            .out
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        Ok(Spill {
            file: Arc::new(file),
            ends: self.ends,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_come_back_by_row() {
        let rows = [
            Cells::new(["Skolan i Örebro, AB", "SE"]),
            Cells::new(["", ""]),
            Cells::new(["line\nbreak", "😀"]),
        ];
        let mut writer = SpillWriter::new(rows.len()).unwrap();
        for cells in &rows {
            writer.push(cells).unwrap();
        }
        let spill = writer.finish().unwrap();
        for i in [2, 0, 1, 2] {
            assert_eq!(spill.cells(i).unwrap(), rows[i]);
        }
    }
}
