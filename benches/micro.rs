//! Micro-benches of the client's own work, without the network: reading an
//! input of 100,000 rows, parsing Partner Center's qualification answers,
//! and writing the report of 100,000 customers as each file format.
//!
//! ```sh
//! cargo bench --bench micro
//! ```
//!
//! The inputs are generated (fixed seed), so every run measures the same
//! bytes. `divan::AllocProfiler` counts allocations per iteration, which is
//! where most of the client's time per row goes.

use std::fmt::Write as _;

use chrono::{TimeZone, Utc};
use divan::{AllocProfiler, Bencher, black_box};
use qualrecon::input::{InputFile, InputOptions, parse_input};
use qualrecon::lookup::Outcome;
use qualrecon::model::{LookupStatus, parse_qualifications};
use qualrecon::report::formats::Formats;
use qualrecon::report::outcomes::Outcomes;
use qualrecon::report::summary::RunMeta;
use qualrecon::report::{Destination, Sources};

#[global_allocator]
static ALLOC: AllocProfiler = AllocProfiler::system();

fn main() {
    divan::main();
}

/// Rows of the inputs and customers of the reports.
const ROWS: usize = 100_000;

/// A fixed pseudo-random GUID for row `i`.
fn guid(i: usize) -> uuid::Uuid {
    let mut x = (i as u128 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835);
    x ^= x >> 61;
    uuid::Builder::from_random_bytes(x.to_le_bytes()).into_uuid()
}

/// An input of `ROWS` ids, with `wide` passthrough columns per row.
fn input_bytes(wide: bool) -> Vec<u8> {
    let mut text = String::with_capacity(ROWS * if wide { 200 } else { 40 });
    text.push_str("customer_tenant_id");
    if wide {
        text.push_str(",name,domain,notes");
    }
    text.push('\n');
    for i in 0..ROWS {
        write!(text, "{}", guid(i)).expect("writing to a String");
        if wide {
            write!(
                text,
                ",Customer school {i},school{i}.example.edu,\"opened 2019; contact the office, not the principal\""
            )
            .expect("writing to a String");
        }
        text.push('\n');
    }
    text.into_bytes()
}

mod input {
    use super::*;

    /// `parse_input` of 100,000 rows: ids only, and with three wide
    /// passthrough columns.
    #[divan::bench(args = [false, true])]
    fn parse(bencher: Bencher, wide: bool) {
        let bytes = input_bytes(wide);
        bencher
            .counter(divan::counter::ItemsCount::new(ROWS))
            .bench(|| {
                parse_input(black_box(&bytes), &InputOptions::default(), None)
                    .expect("a valid input")
            });
    }
}

mod body {
    use super::*;

    /// Answer bodies as Partner Center writes them: none, one approved,
    /// one in review with its date, a denial with a reason, in the
    /// wrapper object.
    pub(crate) const BODIES: [&str; 4] = [
        "[]",
        r#"[{"qualification":"Education","vettingStatus":"Approved"}]"#,
        r#"[{"qualification":"Education","vettingStatus":"InReview","vettingCreatedDate":"2024-02-12T09:31:12.0866667Z"}]"#,
        r#"{"qualifications":[{"qualification":"StateOwnedEntity","vettingStatus":"Denied","vettingReason":"Not an Education Customer","vettingCreatedDate":"2020-12-03T10:37:38.885Z"},{"qualification":"Education","vettingStatus":"Approved"}]}"#,
    ];

    /// `model::parse_qualifications` of one body of each kind.
    #[divan::bench(args = [0, 1, 2, 3])]
    fn qualifications(bencher: Bencher, kind: usize) {
        let body = BODIES[kind].as_bytes();
        bencher.bench(|| parse_qualifications(black_box(body)).expect("a valid body"));
    }
}

mod report {
    use super::*;

    /// The input, and an outcome for every customer in it: a mix of the
    /// answers above and failures.
    fn run() -> (InputFile, Outcomes) {
        let input = parse_input(&input_bytes(false), &InputOptions::default(), None)
            .expect("a valid input");
        let mut outcomes = Outcomes::new(ROWS);
        for i in 0..ROWS {
            let outcome = match i % 10 {
                0 => Outcome {
                    status: LookupStatus::NotFound,
                    qualifications: Vec::new(),
                    error: Some("HTTP 404: customer not found (code 600026)".into()),
                    attempts: 1,
                },
                k => Outcome {
                    status: LookupStatus::Ok,
                    qualifications: parse_qualifications(body::BODIES[k % 4].as_bytes())
                        .expect("a valid body"),
                    error: None,
                    attempts: 1,
                },
            };
            outcomes.set(i, &outcome);
        }
        (input, outcomes)
    }

    fn meta() -> RunMeta {
        let now = Utc
            .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a date");
        RunMeta {
            id: uuid::Uuid::nil(),
            status: "complete",
            started_at: now,
            finished_at: now,
            base_url: "http://127.0.0.1".into(),
            rate: 100.0,
            final_rate: 100.0,
            concurrency: 8,
            correlation_id: uuid::Uuid::nil(),
            limit: None,
            input_path: "big.csv".into(),
            stale_after_days: 30,
            requests: ROWS as u64,
            retries: 0,
            throttled_responses: 0,
            resumed_from: None,
            resumed: None,
            retry_after_until: None,
        }
    }

    /// `report::write` of 100,000 customers (with `summary.json`) as one
    /// format, every outcome known (a run writes them as they land).
    #[divan::bench(args = ["csv", "jsonl", "xlsx"], sample_count = 5, sample_size = 1)]
    fn write(bencher: Bencher, format: &str) {
        let (input, outcomes) = run();
        let meta = meta();
        let out = tempfile::tempdir().expect("a temp dir");
        let formats = Formats {
            csv: format == "csv",
            xlsx: format == "xlsx",
            jsonl: format == "jsonl",
        };
        bencher
            .counter(divan::counter::ItemsCount::new(ROWS))
            .with_inputs(|| outcomes.clone())
            .bench_values(|outcomes| {
                let dest = Destination {
                    out: out.path(),
                    formats,
                    csv_bom: false,
                };
                let src = Sources {
                    input: &input,
                    meta: &meta,
                    expect_column: None,
                    previous: None,
                    pages: None,
                };
                qualrecon::report::write(&dest, &src, outcomes).expect("the report is written")
            });
    }
}
