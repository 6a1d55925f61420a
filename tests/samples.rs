//! `samples/expected/` is what the README's first command produces from
//! `samples/tenants.csv`: the run reproduces it, apart from what belongs to
//! one run (ids, times, the sandbox's port, days counted up to today).

mod common;

use std::path::Path;

use common::Env;
use common::xlsx::Workbook;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `qualifications.csv` with every `days_in_review` cell blanked (it counts
/// up to the day of the run).
fn without_days(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    let days = rows[0].iter().position(|h| h == "days_in_review").unwrap();
    for row in rows.iter_mut().skip(1) {
        row[days].clear();
    }
    rows
}

/// `summary.json` without the fields of one run.
fn without_run_facts(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for key in [
        "id",
        "started_at",
        "finished_at",
        "duration_s",
        "base_url",
        "correlation_id",
    ] {
        assert!(run.remove(key).is_some(), "run.{key} missing");
    }
    v
}

#[test]
fn the_sample_run_reproduces_samples_expected() {
    let env = Env::new();
    // As samples/expected was made: from the repository root, the sample
    // input by its relative path, --rate 50.
    env.cmd()
        .current_dir(manifest())
        .args(["run", "--sandbox", "--rate", "50", "--quiet"])
        .args(["--input", "samples/tenants.csv", "--out"])
        .arg(env.out())
        .assert()
        .code(3);
    let expected = manifest().join("samples/expected");
    let read = |dir: &Path, name: &str| std::fs::read(dir.join(name)).unwrap();
    assert_eq!(
        without_days(&read(&env.out(), "qualifications.csv")),
        without_days(&read(&expected, "qualifications.csv"))
    );
    assert_eq!(
        without_run_facts(&read(&env.out(), "summary.json")),
        without_run_facts(&read(&expected, "summary.json"))
    );
    let sheets = |dir: &Path| Workbook::open(&dir.join("qualifications.xlsx")).sheet_names();
    assert_eq!(sheets(&env.out()), sheets(&expected));
}
