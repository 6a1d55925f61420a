//! `run --resume`: an interrupted run continues from its journal, asks
//! Partner Center only about customers without a final answer, and writes a
//! report covering every customer as if one run had done it.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;

use common::{Env, TestSandbox, id_csv};
use predicates::prelude::*;
use qualrecon::journal::JOURNAL_FILE;
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};
use uuid::Uuid;

fn journal_path(env: &Env) -> PathBuf {
    env.out().join(JOURNAL_FILE)
}

/// Requests per customer in the sandbox's journal.
fn requests_per_customer(sb: &TestSandbox) -> BTreeMap<Uuid, usize> {
    let mut m = BTreeMap::new();
    for e in sb.customer_requests() {
        *m.entry(e.customer.expect("customer request")).or_default() += 1;
    }
    m
}

#[test]
fn an_interrupted_run_resumes_without_asking_anyone_twice() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = ids_for(Answer::Approved, 300);
    let input = env.write("in.csv", id_csv(&ids));

    assert_eq!(
        common::signal_under_way(&env, &sb, &input, "-TERM").code(),
        Some(143)
    );
    let first = env.summary();
    assert_eq!(first["run"]["status"], "interrupted");
    let first_ok = first["lookups"]["ok"].as_u64().unwrap();
    assert!((40..300).contains(&first_ok), "{first_ok}");
    let first_requests = sb.customer_requests().len();

    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .code(0)
        .stdout(predicate::str::contains("resumed run"));

    let s = env.summary();
    assert_eq!(s["run"]["status"], "complete");
    assert_eq!(s["run"]["resumed_from"], first["run"]["id"]);
    assert_ne!(s["run"]["id"], first["run"]["id"]);
    assert_eq!(s["lookups"]["resumed"], first_ok);
    assert_eq!(s["lookups"]["ok"], 300);
    assert_eq!(s["input"]["customers"], 300);
    // This run's requests only.
    assert_eq!(
        s["lookups"]["requests"].as_u64().unwrap() as usize,
        sb.customer_requests().len() - first_requests
    );

    // Every customer exactly once, ok, in input order.
    let rows = env.rows();
    let row_ids: Vec<Uuid> = rows
        .iter()
        .map(|r| Uuid::parse_str(&r["customer_tenant_id"]).unwrap())
        .collect();
    assert_eq!(row_ids, ids);
    assert!(
        rows.iter()
            .all(|r| r["lookup_status"] == "ok" && r["vetting_status"] == "Approved")
    );

    // Nothing asked twice across both runs.
    let per = requests_per_customer(&sb);
    assert_eq!(per.len(), 300);
    let twice: Vec<_> = per.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "requested more than once: {twice:?}");
}

#[test]
fn resuming_with_a_changed_input_is_refused_before_any_request() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = ids_for(Answer::Approved, 5);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[]).assert().code(0);
    let before = sb.journal().len();
    let journal_before = std::fs::read(journal_path(&env)).unwrap();

    let changed = env.write("in.csv", id_csv(&ids[..4]));
    env.run_against(&sb, &changed, &["--resume"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("input changed")
                .and(predicate::str::contains("without --resume")),
        );
    assert_eq!(sb.journal().len(), before, "nothing was requested");
    assert_eq!(std::fs::read(journal_path(&env)).unwrap(), journal_before);
}

#[test]
fn resuming_without_a_journal_is_a_usage_error() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 3)));
    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to resume"));
    assert!(!env.out().exists(), "no output folder made for nothing");
    // An output folder without a journal is no better.
    std::fs::create_dir(env.out()).unwrap();
    env.write("out/qualifications.csv", "customer_tenant_id\n");
    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to resume"));
    assert!(sb.journal().is_empty());
}

#[test]
fn resume_from_the_config_file() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 3)));
    let cfg = env.write("q.toml", "resume = true\n");
    env.run_against(&sb, &input, &["--config", cfg.to_str().unwrap()])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nothing to resume"));
    env.run_against(&sb, &input, &[]).assert().code(0);
    env.run_against(&sb, &input, &["--config", cfg.to_str().unwrap()])
        .assert()
        .code(0);
    assert_eq!(
        sb.customer_requests().len(),
        3,
        "the resumed run asked nobody"
    );
    assert_eq!(env.summary()["lookups"]["resumed"], 3);
}

/// Every answer the sandbox gives, a few customers each.
fn mixed_ids() -> Vec<Uuid> {
    let answers = Answer::ALL;
    let mut ids: Vec<Uuid> = answers.iter().flat_map(|a| ids_for(*a, 3)).collect();
    // Interleave, so the journal's order differs from the answers' order.
    fastrand::Rng::with_seed(7).shuffle(&mut ids);
    ids
}

/// The report's rows by customer, without `days_in_review` (it counts from
/// each run's start, which may cross midnight between the two runs).
fn rows_by_customer(env: &Env) -> Vec<Vec<(String, String)>> {
    env.rows()
        .into_iter()
        .map(|r| {
            let mut v: Vec<(String, String)> = r
                .into_iter()
                .filter(|(k, _)| k != "days_in_review")
                .collect();
            v.sort();
            v
        })
        .collect()
}

#[test]
fn a_torn_last_journal_line_is_ignored_and_failed_customers_are_retried() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = mixed_ids();
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[]).assert().code(3);
    let full_rows = rows_by_customer(&env);
    let full_requests = sb.customer_requests().len();

    // Keep the header and half the outcomes, then half of the next line, as
    // a run killed while writing would leave it.
    let text = std::fs::read_to_string(journal_path(&env)).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1 + ids.len(),
        "a header and one line per customer"
    );
    let header: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(header["type"], "header");
    assert_eq!(header["run_id"], env.summary()["run"]["id"]);
    assert_eq!(header["input_sha256"], env.summary()["input"]["sha256"]);
    let keep = ids.len() / 2;
    let torn = lines[keep + 1];
    let mut cut = lines[..=keep].join("\n");
    cut.push('\n');
    cut.push_str(&torn[..torn.len() / 2]);
    std::fs::write(journal_path(&env), &cut).unwrap();

    let kept: Vec<serde_json::Value> = lines[1..=keep]
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let final_kept: BTreeSet<Uuid> = kept
        .iter()
        .filter(|l| ["ok", "not_found", "forbidden"].contains(&l["status"].as_str().unwrap()))
        .map(|l| Uuid::parse_str(l["customer"].as_str().unwrap()).unwrap())
        .collect();
    let retried_kept = kept.iter().filter(|l| l["status"] == "failed").count();
    assert!(retried_kept > 0, "the kept half holds a failed customer");

    env.run_against(&sb, &input, &["--resume"]).assert().code(3);

    let resumed: BTreeSet<Uuid> = sb.customer_requests()[full_requests..]
        .iter()
        .map(|e| e.customer.unwrap())
        .collect();
    let expected: BTreeSet<Uuid> = ids
        .iter()
        .copied()
        .filter(|id| !final_kept.contains(id))
        .collect();
    assert_eq!(
        resumed, expected,
        "exactly the customers without a final answer"
    );
    let s = env.summary();
    assert_eq!(s["lookups"]["resumed"], final_kept.len() as u64);
    assert_eq!(s["run"]["resumed_from"], header["run_id"]);
    assert_eq!(
        rows_by_customer(&env),
        full_rows,
        "the same report as one run"
    );

    // The torn fragment is gone; every line is whole JSON again.
    let text = std::fs::read_to_string(journal_path(&env)).unwrap();
    assert!(text.ends_with('\n'));
    let types: HashMap<String, usize> = text.lines().fold(HashMap::new(), |mut m, l| {
        let v: serde_json::Value = serde_json::from_str(l).expect("whole line");
        *m.entry(v["type"].as_str().unwrap().to_string())
            .or_default() += 1;
        m
    });
    assert_eq!(types["header"], 1);
    assert_eq!(types["resume"], 1);
    assert_eq!(types["outcome"], keep + expected.len());
}

/// A journal answered by one server is never continued against another:
/// the report would mix their answers (here the built-in sandbox's made-up
/// ones with a real-looking server's).
#[test]
fn resuming_against_another_server_is_refused_before_any_request() {
    let env = Env::new();
    let ids = ids_for(Answer::Approved, 5);
    let input = env.write("in.csv", id_csv(&ids));
    env.sandbox_run(&input, &[]).assert().code(0);
    let journal = std::fs::read(journal_path(&env)).unwrap();
    let sb = TestSandbox::start(SandboxConfig::default());
    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("was answered by sandbox"));
    assert!(sb.customer_requests().is_empty());
    assert_eq!(std::fs::read(journal_path(&env)).unwrap(), journal);
}

/// A run resumed before the time Partner Center asked the earlier one to
/// call again asks nobody: it stops at once, as throttled as before.
#[test]
fn resuming_inside_an_announced_retry_after_window_asks_nobody() {
    let env = Env::new();
    let sb = TestSandbox::start(common::hour_long_throttle(0.0));
    let ids = ids_for(Answer::Approved, 5);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[]).assert().code(3);
    assert_eq!(env.summary()["run"]["status"], "throttled");
    let until = env.summary()["run"]["retry_after_until"].clone();
    let asked = sb.customer_requests().len();
    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(
            "beyond --max-wait: nobody is asked now",
        ));
    assert_eq!(
        sb.customer_requests().len(),
        asked,
        "asked inside the window"
    );
    let s = env.summary();
    assert_eq!(s["run"]["status"], "throttled");
    assert_eq!(s["run"]["retry_after_until"], until);
}
