//! The report: rows of `qualifications.csv` and the `summary.json` document,
//! built purely from the input and the lookup outcomes. [`ReportStream`]
//! makes the rows customer by customer as the outcomes land, in input
//! order, and hands them to one exporter per file ([`export`]), the values
//! typed until a writer renders them.

pub mod attention;
pub mod changes;
pub mod csv;
pub mod export;
pub mod formats;
pub mod jsonl;
pub mod outcomes;
pub mod previous;
pub mod reconcile;
pub mod row;
pub mod screen;
pub mod sink;
pub mod stream;
pub mod summary;
pub mod xlsx;

use std::path::PathBuf;

use crate::input::InputFile;
use outcomes::Outcomes;
use previous::PreviousRun;
pub use stream::{Destination, Plan, ReportStream};
use summary::{RunMeta, Summary};

/// What the report is made of.
#[derive(Debug, Clone, Copy)]
pub struct Sources<'a> {
    /// The customers, in input order.
    pub input: &'a InputFile,
    /// The run's facts.
    pub meta: &'a RunMeta,
    /// The input column with the CRM's expectation (an index into
    /// `input.extra_headers`).
    pub expect_column: Option<usize>,
    /// `--previous`: the earlier run to compare with.
    pub previous: Option<&'a PreviousRun>,
    /// `--all-customers`: pages of Partner Center's customer list read.
    pub pages: Option<u64>,
}

/// Make the whole report at once, from `outcomes` (of the customers meant
/// to be looked up, by position) all known: what a run does with
/// [`ReportStream`] as they land. Returns the summary and the paths
/// written.
pub fn write(
    dest: &Destination<'_>,
    src: &Sources<'_>,
    outcomes: Outcomes,
) -> anyhow::Result<(Summary, Vec<PathBuf>)> {
    let plan = Plan {
        input: src.input,
        expect_column: src.expect_column,
        previous: src.previous,
        started_at: src.meta.started_at,
        stale_after_days: src.meta.stale_after_days,
    };
    ReportStream::start(dest, plan, outcomes)?.finish(src.meta, src.pages)
}
