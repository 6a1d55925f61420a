//! Signals and the deadline: SIGINT and SIGTERM write a partial report and
//! exit 130 / 143, `--deadline` exits 3, and both act at once even while
//! the run waits on a hanging token endpoint or sits out a Retry-After;
//! requests in flight get a short drain, and a second SIGINT quits without
//! a report. Assertions come from the files, the sandbox's request journal
//! and exit codes; times only as generous upper bounds.

mod common;

use std::time::{Duration, Instant};

use common::{
    Env, TestSandbox, approved, hour_long_throttle, id_csv, inside_retry_after, not_reached,
    one_row_each,
};
use predicates::prelude::*;
use qualrecon::pacer::max_in_one_second;
use qualrecon::sandbox::{Answer, JournalEntry, SandboxConfig, answer_for};
use uuid::Uuid;

/// Start a long run, signal it, and check the partial report.
fn interrupt(signal: &str, want: i32) {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(400);
    let input = env.write("in.csv", id_csv(&ids));
    let status = common::signal_under_way(&env, &sb, &input, signal);
    assert_eq!(status.code(), Some(want));
    let s = env.summary();
    assert_eq!(s["run"]["status"], "interrupted");
    let rows = env.rows();
    assert_eq!(rows.len(), 400, "every customer has a row");
    let done = rows.iter().filter(|r| r["lookup_status"] == "ok").count();
    assert!((40..400).contains(&done), "{done}");
    for r in &rows {
        let id = Uuid::parse_str(&r["customer_tenant_id"]).unwrap();
        assert_eq!(answer_for(&id), Answer::Approved);
        match r["lookup_status"].as_str() {
            "ok" => assert_eq!(r["vetting_status"], "Approved"),
            "failed" => assert!(r["error"].contains("not looked up"), "{r:?}"),
            other => panic!("unexpected status {other}"),
        }
    }
    // Nothing was requested after the report says it stopped.
    assert_eq!(
        sb.customer_requests().len() as u64,
        s["lookups"]["requests"].as_u64().unwrap()
    );
}

#[test]
fn sigterm_writes_a_partial_report_and_exits_143() {
    interrupt("-TERM", 143);
}

#[test]
fn sigint_writes_a_partial_report_and_exits_130() {
    interrupt("-INT", 130);
}

#[test]
fn a_deadline_stops_dispatching_and_exits_3() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(200);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &["--rate", "40", "--deadline", "1s"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("deadline"));
    let s = env.summary();
    assert_eq!(s["run"]["status"], "deadline");
    let rows = env.rows();
    assert_eq!(rows.len(), 200);
    let requested = sb.customer_requests().len();
    assert!(
        requested < 100,
        "{requested} requests after a 1 s deadline at 40/s"
    );
    assert_eq!(
        rows.iter().filter(|r| r["lookup_status"] == "ok").count(),
        requested
    );
    let times: Vec<Duration> = sb.customer_requests().iter().map(|e| e.at).collect();
    assert!(max_in_one_second(&times) <= 40);
}

/// A deadline that passes after every customer was asked, with every
/// answer in within the drain, cut nothing short: the report is complete.
#[test]
fn a_deadline_that_cut_nothing_short_leaves_a_complete_report() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        latency_min: Duration::from_millis(3000),
        latency_max: Duration::from_millis(3000),
        ..SandboxConfig::default()
    });
    let ids = approved(10);
    let input = env.write("in.csv", id_csv(&ids));
    // Ten requests in the first 0.1 s, the deadline at 1.5 s (room for a
    // slow start on a loaded machine), the answers at about 3 s: within
    // the 5 s drain.
    let args = [
        "--rate",
        "100",
        "--concurrency",
        "16",
        "--deadline",
        "1500ms",
    ];
    env.run_against(&sb, &input, &args).assert().code(0);
    let s = env.summary();
    assert_eq!(s["run"]["status"], "complete");
    assert_eq!(s["lookups"]["not_reached"], 0);
    assert_eq!(s["lookups"]["ok"], 10);
}

#[test]
fn a_second_sigint_quits_at_once_without_a_report() {
    let env = Env::new();
    // Every answer takes 4 s, so after the first SIGINT the run is still
    // waiting for its in-flight requests when the second one arrives.
    let sb = TestSandbox::start(SandboxConfig {
        latency_min: Duration::from_secs(4),
        latency_max: Duration::from_secs(4),
        ..SandboxConfig::default()
    });
    let ids = approved(200);
    let input = env.write("in.csv", id_csv(&ids));
    let mut child = common::spawn_run(&env, &sb, &input, &["--rate", "40", "--concurrency", "8"]);
    common::wait_for_requests(&sb, 8);
    common::send_signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(50));
    common::send_signal(&child, "-INT");
    let status = common::exit_within(&mut child, Duration::from_secs(3));
    assert_eq!(status.code(), Some(130));
    // The summary.json written before the first request still says so.
    assert!(
        !env.out().join("qualifications.csv").exists(),
        "the second signal must quit without a report"
    );
    assert_eq!(env.summary()["run"]["status"], "running");
    // The report's files, open since the first request, are not left
    // behind as temp files.
    let left: Vec<String> = std::fs::read_dir(env.out())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".tmp-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sigterm_while_every_answer_hangs_ends_the_run_after_the_drain() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        latency_min: Duration::from_secs(120),
        latency_max: Duration::from_secs(120),
        ..SandboxConfig::default()
    });
    let ids = approved(20);
    let input = env.write("in.csv", id_csv(&ids));
    let mut child = common::spawn_run(&env, &sb, &input, &["--rate", "50", "--concurrency", "4"]);
    common::wait_for_requests(&sb, 4);
    common::send_signal(&child, "-TERM");
    // The in-flight requests get the 5 s drain, then are given up on.
    let status = common::exit_within(&mut child, Duration::from_secs(15));
    assert_eq!(status.code(), Some(143));
    let s = env.summary();
    assert_eq!(s["run"]["status"], "interrupted");
    let rows = one_row_each(&env, &ids);
    // Those requested are told apart from those never reached.
    let asked: Vec<Uuid> = sb
        .customer_requests()
        .iter()
        .filter_map(|e| e.customer)
        .collect();
    assert_eq!(asked.len(), 4);
    for (id, status, error) in &rows {
        assert_eq!(status, "failed");
        if asked.contains(id) {
            assert!(error.contains("in flight"), "{error}");
        } else {
            assert!(error.starts_with("not looked up"), "{error}");
        }
    }
    assert_eq!(s["lookups"]["not_reached"], 16);
}

/// Block until the sandbox journal holds an entry `matching` (at most a minute).
fn wait_for(sb: &TestSandbox, what: &str, matching: impl Fn(&JournalEntry) -> bool) {
    let start = Instant::now();
    while !sb.journal().iter().any(&matching) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "never saw {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_during_a_hanging_first_token_fetch_exits_143_at_once() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        token_delay: Duration::from_secs(120),
        ..SandboxConfig::default()
    });
    let ids = approved(10);
    let input = env.write("in.csv", id_csv(&ids));
    // An earlier complete run leaves a journal that a stopped start must
    // not replace: its credentials were never proved.
    let earlier = TestSandbox::start(SandboxConfig::default());
    common::app_run(&env, &earlier, &input, &[])
        .assert()
        .code(0);
    let journal_path = env.out().join(qualrecon::journal::JOURNAL_FILE);
    let journal_before = std::fs::read(&journal_path).unwrap();
    let mut child = common::spawn_oauth_run(&env, &sb, &input, &[]);
    // Journaled on arrival; the signal handlers are in place before it goes out.
    wait_for(&sb, "the token request", |e| e.path.ends_with("/token"));
    common::send_signal(&child, "-TERM");
    let status = common::exit_within(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(143));
    assert_eq!(env.summary()["run"]["status"], "interrupted");
    let rows = one_row_each(&env, &ids);
    assert_eq!(not_reached(&rows), ids.len());
    assert!(sb.customer_requests().is_empty());
    assert_eq!(std::fs::read(&journal_path).unwrap(), journal_before);
}

#[test]
fn sigint_during_a_retry_after_pause_exits_130_at_once() {
    let env = Env::new();
    let sb = TestSandbox::start(hour_long_throttle(2.0));
    let ids = approved(10);
    let input = env.write("in.csv", id_csv(&ids));
    // --max-wait above the hour: the run sits the window out.
    let mut child = common::spawn_run(
        &env,
        &sb,
        &input,
        &["--rate", "5", "--concurrency", "2", "--max-wait", "2h"],
    );
    wait_for(&sb, "a 429", |e| e.status == 429);
    std::thread::sleep(Duration::from_millis(300));
    common::send_signal(&child, "-INT");
    let status = common::exit_within(&mut child, Duration::from_secs(5));
    assert_eq!(status.code(), Some(130));
    let s = env.summary();
    assert_eq!(s["run"]["status"], "interrupted");
    assert!(s["run"].get("retry_after_until").is_none());
    let rows = one_row_each(&env, &ids);
    assert_eq!(rows.iter().filter(|r| r.1 == "ok").count(), 2);
    let journal = sb.customer_requests();
    assert!(inside_retry_after(&journal, Duration::from_millis(100)).is_empty());
}

#[test]
fn a_deadline_during_a_retry_after_pause_ends_the_run_at_once() {
    let env = Env::new();
    let sb = TestSandbox::start(hour_long_throttle(1.0));
    let ids = approved(10);
    let input = env.write("in.csv", id_csv(&ids));
    let clock = Instant::now();
    env.run_against(
        &sb,
        &input,
        &["--rate", "5", "--max-wait", "2h", "--deadline", "2s"],
    )
    .timeout(Duration::from_secs(60))
    .assert()
    .code(3);
    assert!(
        clock.elapsed() < Duration::from_secs(30),
        "{:?}",
        clock.elapsed()
    );
    assert_eq!(env.summary()["run"]["status"], "deadline");
    one_row_each(&env, &ids);
}
