//! Time bounds and output hygiene: a Retry-After beyond
//! `--max-wait` stops the run instead of stalling it, signals and the
//! deadline act at once even while the run waits on a hanging token
//! endpoint or sits out a Retry-After, and what lands in logs and errors is
//! fit for cron mail. Assertions come from the files, the sandbox's request
//! journal and exit codes; times only as generous upper bounds.

mod common;

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::{Env, TestSandbox, id_csv, inside_retry_after};
use predicates::prelude::*;
use qualrecon::sandbox::{
    Answer, JournalEntry, RetryAfterStyle, STATIC_TOKEN, SandboxConfig, Throttle, ids_for,
};
use uuid::Uuid;

fn approved(n: usize) -> Vec<Uuid> {
    ids_for(Answer::Approved, n)
}

/// A gateway that admits `burst` requests, then (practically) nothing,
/// answering `Retry-After: 3600` to everything beyond.
fn hour_long_throttle(burst: f64) -> SandboxConfig {
    SandboxConfig {
        throttle: Some(Throttle {
            rate: 1e-6,
            burst,
            retry_after: RetryAfterStyle::Seconds(3600),
        }),
        ..SandboxConfig::default()
    }
}

/// Every id has exactly one row; returns the rows' `lookup_status` values.
fn one_row_each(env: &Env, ids: &[Uuid]) -> Vec<(Uuid, String, String)> {
    let rows = env.rows();
    assert_eq!(rows.len(), ids.len(), "one row per customer");
    let mut seen: Vec<Uuid> = rows
        .iter()
        .map(|r| Uuid::parse_str(&r["customer_tenant_id"]).expect("a GUID"))
        .collect();
    seen.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(seen, want, "every customer has a row");
    rows.iter()
        .map(|r| {
            (
                Uuid::parse_str(&r["customer_tenant_id"]).unwrap(),
                r["lookup_status"].clone(),
                r["error"].clone(),
            )
        })
        .collect()
}

fn not_reached(rows: &[(Uuid, String, String)]) -> usize {
    rows.iter()
        .filter(|(_, status, error)| status == "failed" && error.starts_with("not looked up"))
        .count()
}

fn retry_after_until(env: &Env) -> DateTime<Utc> {
    env.summary()["run"]["retry_after_until"]
        .as_str()
        .expect("run.retry_after_until")
        .parse()
        .expect("RFC 3339")
}

#[test]
fn an_hour_long_retry_after_on_every_answer_stops_the_run_with_exit_3() {
    let env = Env::new();
    let sb = TestSandbox::start(hour_long_throttle(0.0));
    let ids = approved(30);
    let input = env.write("in.csv", id_csv(&ids));
    let started = Utc::now();
    let clock = Instant::now();
    let out = env
        .run_against(&sb, &input, &["--rate", "5", "--concurrency", "4"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert!(clock.elapsed() < Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    let s = env.summary();
    assert_eq!(s["run"]["status"], "throttled");
    // When Partner Center asked to be called again: an hour after the 429.
    let until = retry_after_until(&env);
    assert!(
        until >= started + chrono::Duration::seconds(3600),
        "{until}"
    );
    assert!(
        until <= Utc::now() + chrono::Duration::seconds(3601),
        "{until}"
    );

    let rows = one_row_each(&env, &ids);
    let throttled: Vec<_> = rows.iter().filter(|r| r.1 == "throttled").collect();
    assert!(!throttled.is_empty());
    for (_, _, error) in &throttled {
        assert!(error.contains("--max-wait"), "{error}");
    }
    assert_eq!(throttled.len() + not_reached(&rows), ids.len(), "{rows:?}");
    assert_eq!(s["lookups"]["not_reached"], not_reached(&rows) as u64);

    // Every request got the 429, and none went out inside its window.
    let journal = sb.customer_requests();
    assert!(journal.iter().all(|e| e.status == 429));
    assert_eq!(
        journal.len() as u64,
        s["lookups"]["requests"].as_u64().unwrap()
    );
    let inside = inside_retry_after(&journal, Duration::from_millis(100));
    assert!(
        inside.is_empty(),
        "sent inside the Retry-After window: {inside:?}"
    );

    // The closing screen and the log say who was not reached and when to
    // come back.
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let when = until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(
        stdout.contains(&format!("not reached: {} customers", not_reached(&rows))),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "{} of 30 customers looked up",
            30 - not_reached(&rows)
        )),
        "{stdout}"
    );
    for text in [&stdout, &stderr] {
        assert!(text.contains(&when) && text.contains("--resume"), "{text}");
    }
}

#[test]
fn max_wait_decides_between_sitting_out_a_retry_after_and_stopping() {
    // Bursts of 10, 50 a second, `Retry-After: 2` beyond that.
    let sb = TestSandbox::start(SandboxConfig {
        throttle: Some(Throttle {
            rate: 50.0,
            burst: 10.0,
            retry_after: RetryAfterStyle::Seconds(2),
        }),
        ..SandboxConfig::default()
    });
    let ids = approved(60);

    // `max-wait = "1s"` in the config file: the first 429 stops the run.
    let env = Env::new();
    let input = env.write("in.csv", id_csv(&ids));
    let config = env.write("q.toml", "max-wait = \"1s\"\n");
    env.run_against(&sb, &input, &["--rate", "200", "--config"])
        .arg(&config)
        .assert()
        .code(3);
    assert_eq!(env.summary()["run"]["status"], "throttled");
    let first = one_row_each(&env, &ids);
    let ok_first: Vec<Uuid> = first.iter().filter(|r| r.1 == "ok").map(|r| r.0).collect();
    assert!(!ok_first.is_empty() && ok_first.len() < ids.len());
    assert!(not_reached(&first) > 0);

    // --resume with the default --max-wait (10m) sits the 2 s windows out
    // and finishes; nobody answered before is asked again.
    let before = sb.customer_requests().len();
    env.run_against(&sb, &input, &["--rate", "200", "--resume"])
        .assert()
        .success();
    assert_eq!(env.summary()["run"]["status"], "complete");
    assert!(one_row_each(&env, &ids).iter().all(|r| r.1 == "ok"));
    let second = &sb.customer_requests()[before..];
    assert!(
        second
            .iter()
            .all(|e| !ok_first.contains(&e.customer.unwrap())),
        "a customer answered in the first run was asked again"
    );
    let inside = inside_retry_after(second, Duration::from_millis(100));
    assert!(inside.is_empty(), "{inside:?}");
}

#[test]
fn a_maintenance_503_beyond_max_wait_stops_the_run_too() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        maintenance: Some(7200),
        ..SandboxConfig::default()
    });
    let ids = approved(20);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &["--rate", "5", "--max-wait", "30m"])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(3)
        .stdout(predicate::str::contains("--resume"));
    let s = env.summary();
    assert_eq!(s["run"]["status"], "throttled");
    assert!(retry_after_until(&env) > Utc::now() + chrono::Duration::seconds(7000));
    let rows = one_row_each(&env, &ids);
    assert!(
        rows.iter()
            .any(|r| r.1 == "failed" && r.2.contains("HTTP 503") && r.2.contains("--max-wait")),
        "{rows:?}"
    );
    let journal = sb.customer_requests();
    assert!(inside_retry_after(&journal, Duration::from_millis(100)).is_empty());
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
    use qualrecon::sandbox::{CLIENT_ID, CLIENT_SECRET, TENANT};
    let sign_in = ["--tenant", TENANT, "--client-id", CLIENT_ID];
    common::oauth_run(&env, &earlier, &input, CLIENT_SECRET, &sign_in)
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

#[test]
fn a_broken_config_line_is_named_by_place_never_quoted() {
    const SECRET: &str = "Wx8Q~fake.SECRET-value_123";
    let env = Env::new();
    let input = env.write("in.csv", id_csv(&approved(1)));
    let cases = [
        // An unquoted value for a known option: the key is named.
        (
            format!("rate = 5\ntenant = {SECRET}\n"),
            "line 2, column 10",
            Some("tenant"),
        ),
        // A pasted secret on a line of its own.
        (
            format!("# settings\nrate = 5\n\n{SECRET}\n"),
            "line 4",
            None,
        ),
        // A value of the wrong type: named, its text left out.
        (
            format!("rate = \"{SECRET}\"\n"),
            "line 1, column 8",
            Some("rate"),
        ),
    ];
    for (text, place, key) in cases {
        let config = env.write("q.toml", &text);
        let out = env
            .cmd()
            .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
            .args(["run", "--out", "out", "--config"])
            .arg(&config)
            .arg("--input")
            .arg(&input)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{text}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("q.toml") && stderr.contains(place),
            "{text}\n{stderr}"
        );
        if let Some(key) = key {
            assert!(stderr.contains(&format!("key `{key}`")), "{stderr}");
        }
        assert!(!stderr.contains("Wx8Q"), "the secret leaked: {stderr}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Wx8Q"));
    }
}

#[test]
fn logs_off_a_terminal_are_plain_and_timestamped() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(5);
    let input = env.write("in.csv", id_csv(&ids));
    for no_color in [None, Some("1")] {
        let mut cmd = env.run_against(&sb, &input, &["--rate", "50"]);
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        } else {
            cmd.env_remove("NO_COLOR");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains('\u{1b}'), "escape codes in {stderr:?}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert!(!lines.is_empty(), "no log lines at all");
        for line in lines {
            let stamp = line.split_whitespace().next().unwrap_or_default();
            assert!(
                DateTime::parse_from_rfc3339(stamp).is_ok() && stamp.ends_with('Z'),
                "no RFC 3339 UTC timestamp: {line}"
            );
        }
    }
}

#[test]
fn a_guid_wrapped_twice_is_invalid_input_and_never_sent() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(3);
    let input = env.write(
        "in.csv",
        format!(
            "customer_tenant_id\n{{{{{}}}}}\n({{{}}})\n{{{}}}\n",
            ids[0], ids[1], ids[2]
        ),
    );
    env.run_against(&sb, &input, &[]).assert().code(3);
    let rows = env.rows();
    assert_eq!(rows.len(), 3);
    for r in &rows[..2] {
        assert_eq!(r["lookup_status"], "invalid_input", "{r:?}");
        assert!(r["error"].contains("wrapped twice"), "{r:?}");
    }
    assert_eq!(rows[2]["lookup_status"], "ok");
    let asked: Vec<Uuid> = sb
        .customer_requests()
        .iter()
        .filter_map(|e| e.customer)
        .collect();
    assert_eq!(asked, [ids[2]]);
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
