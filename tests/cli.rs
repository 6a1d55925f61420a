//! The command line as a user meets it: usage errors (unsafe URLs and
//! tokens among them), broken config files, `check`, the lock, the
//! `sandbox` command, logs fit for cron mail, and secrets kept out of help
//! and errors.

mod common;

use chrono::DateTime;
use common::hostile::{Answer, Hostile, SECRET, STATIC, ids};
use common::{Env, TestSandbox, approved, folder_text, id_csv, lossy};
use predicates::prelude::*;
use qualrecon::sandbox::{STATIC_TOKEN, SandboxConfig};

const ONE_ID: &str = "customer_tenant_id\n6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b\n";
const PASSWORD: &str = "pw-that-must-never-print";

#[test]
fn bad_command_lines_exit_2_with_a_clear_message() {
    let env = Env::new();
    let input = env.write("in.csv", ONE_ID);
    let cases: [(&[&str], &str); 5] = [
        (&["--rate", "abc"], "not a number"),
        (&["--rate", "0"], "greater than 0"),
        (&["--concurrency", "-3"], "--concurrency"),
        (&["--frobnicate"], "--frobnicate"),
        (&["--deadline", "soon"], "not a duration"),
    ];
    for (args, message) in cases {
        env.sandbox_run(&input, args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    // No input; no credentials (no --sandbox either).
    env.cmd()
        .args(["run", "--sandbox", "--out"])
        .arg(env.out())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("missing --input"));
    env.run(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no credentials"));
    // Nothing was looked up, nothing written.
    assert!(!env.out().exists());
}

#[test]
fn help_never_shows_secret_values() {
    let env = Env::new();
    env.cmd()
        .args(["run", "--help"])
        .env("PARTNER_CENTER_CLIENT_SECRET", "hunter2-very-secret")
        .env("PARTNER_CENTER_TOKEN", "token-very-secret")
        .assert()
        .success()
        .stdout(predicate::str::contains("--client-secret-file"))
        .stdout(predicate::str::contains("very-secret").not());
}

#[test]
fn check_reports_rows_duplicates_and_invalid_lines_without_network() {
    let env = Env::new();
    let input = env.write(
        "in.csv",
        "name;Kund-ID\nA;6F1C2A3B-4D5E-4F60-8A7B-9C0D1E2F3A4B\n\nB;not-a-guid\nC;{6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b}\n",
    );
    env.cmd()
        .args(["check", "--input"])
        .arg(&input)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("Kund-ID"))
        .stdout(predicate::str::contains("line 4"))
        .stdout(predicate::str::contains("not-a-guid"))
        .stdout(predicate::str::contains("line 5"));
    let clean = env.write("clean.csv", ONE_ID);
    env.cmd()
        .args(["check", "--input"])
        .arg(&clean)
        .assert()
        .success();
}

#[test]
fn a_second_run_on_the_same_folder_exits_4_naming_the_folder() {
    let env = Env::new();
    let input = env.write("in.csv", ONE_ID);
    std::fs::create_dir_all(env.out()).unwrap();
    let _held = qualrecon::fsutil::lock_folder(&env.out()).unwrap();
    env.sandbox_run(&input, &[])
        .assert()
        .code(4)
        .stderr(predicate::str::contains(env.out().display().to_string()))
        .stderr(predicate::str::contains("another qualrecon run"));
    assert!(!env.out().join("summary.json").exists());
}

#[test]
fn the_sandbox_command_serves_until_terminated_and_prints_how_to_use_it() {
    use std::io::{BufRead, BufReader};
    let env = Env::new();
    let mut sandbox = env
        .std_cmd()
        .args([
            "sandbox",
            "--port",
            "0",
            "--scenario",
            "default",
            "--latency-ms",
            "1..5",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(sandbox.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    let input = env.write("in.csv", id_csv(&approved(3)));
    env.run(&input)
        .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
        .args(["--base-url", &url])
        .assert()
        .success();
    assert_eq!(env.rows().len(), 3);
    common::send_signal(&sandbox, "-TERM");
    let status = common::exit_within(&mut sandbox, std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
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
            .run(&input)
            .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
            .arg("--config")
            .arg(&config)
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

/// The error that ends a run goes out as the logs do: a JSON object with
/// `--log-format json` (so cron mail and journald hold JSON lines only),
/// stamped with the time in text off a terminal.
#[test]
fn the_fatal_error_is_logged_in_the_log_format() {
    let env = Env::new();
    let empty = env.write("empty.csv", "customer_tenant_id,name\n");
    let out = env
        .sandbox_run(&empty, &["--quiet", "--log-format", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.trim().is_empty());
    for line in stderr.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(v["level"], "ERROR", "{line}");
        assert!(v["timestamp"].is_string(), "{line}");
        assert!(
            v["message"].as_str().unwrap().contains("no data rows"),
            "{line}"
        );
    }
    let out = env.sandbox_run(&empty, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for line in stderr.lines() {
        let stamp = line.split_whitespace().next().unwrap_or_default();
        assert!(
            DateTime::parse_from_rfc3339(stamp).is_ok(),
            "no timestamp: {line}"
        );
    }
    assert!(stderr.contains(" error: cannot read the input"), "{stderr}");
    // Also when clap refuses the command line, before any logging is set up.
    let out = env
        .sandbox_run(&empty, &["--log-format", "json", "--rate", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let v: serde_json::Value = serde_json::from_str(stderr.trim()).expect("one JSON object");
    assert!(v["message"].as_str().unwrap().contains("--rate"), "{v}");
}

/// A run that must be refused: what it tries, its arguments after `--out`,
/// its environment, and the words the error must hold.
type Refusal<'a> = (&'a str, Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);

#[test]
fn unsafe_urls_and_tokens_are_usage_errors_before_any_request() {
    let server = Hostile::start(Answer::Open, Answer::Open);
    let url = server.url();
    let with_user = url.replace("http://", &format!("http://alice:{PASSWORD}@"));
    let user_only = url.replace("http://", "http://alice@");
    let remote_user = format!("https://alice:{PASSWORD}@example.invalid");
    let http_remote = "http://example.invalid";
    let cases: Vec<Refusal> = vec![
        (
            "http base url",
            vec!["--base-url", http_remote],
            vec![("PARTNER_CENTER_TOKEN", STATIC)],
            "--base-url must use https",
        ),
        (
            "http base url from the environment",
            vec![],
            vec![
                ("PARTNER_CENTER_TOKEN", STATIC),
                ("PARTNER_CENTER_BASE_URL", http_remote),
            ],
            "--base-url must use https",
        ),
        (
            "http authority",
            vec![
                "--base-url",
                &url,
                "--authority",
                http_remote,
                "--tenant",
                "t",
                "--client-id",
                "c",
            ],
            vec![("PARTNER_CENTER_CLIENT_SECRET", SECRET)],
            "--authority must use https",
        ),
        (
            "user and password in the base url",
            vec!["--base-url", &with_user],
            vec![("PARTNER_CENTER_TOKEN", STATIC)],
            "--base-url must not carry a user name or password",
        ),
        (
            "user only in the base url",
            vec!["--base-url", &user_only],
            vec![("PARTNER_CENTER_TOKEN", STATIC)],
            "--base-url must not carry a user name or password",
        ),
        (
            "user and password on a remote https base url",
            vec!["--base-url", &remote_user],
            vec![("PARTNER_CENTER_TOKEN", STATIC)],
            "--base-url must not carry a user name or password",
        ),
        (
            "user and password in the authority",
            vec![
                "--base-url",
                &url,
                "--authority",
                &with_user,
                "--tenant",
                "t",
                "--client-id",
                "c",
            ],
            vec![("PARTNER_CENTER_CLIENT_SECRET", SECRET)],
            "--authority must not carry a user name or password",
        ),
        (
            "a static token with a line break",
            vec!["--base-url", &url],
            vec![("PARTNER_CENTER_TOKEN", "abc\nX-Injected: yes")],
            "PARTNER_CENTER_TOKEN cannot be sent as an HTTP header",
        ),
        (
            "a static token with a control character",
            vec!["--base-url", &url],
            vec![("PARTNER_CENTER_TOKEN", "abc\u{1b}[31mX-Injected")],
            "PARTNER_CENTER_TOKEN cannot be sent as an HTTP header",
        ),
    ];
    for (what, args, vars, want) in cases {
        let env = Env::new();
        let input = env.write("in.csv", id_csv(&ids(2)));
        let mut c = env.run(&input);
        c.args(&args);
        for (k, v) in &vars {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = lossy(&out.stdout);
        let stderr = lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{what}: {stderr}");
        assert!(stderr.contains(want), "{what}: {stderr}");
        for secret in [PASSWORD, "X-Injected", SECRET] {
            assert!(
                !stdout.contains(secret) && !stderr.contains(secret),
                "{what}: {secret} printed: {stdout}{stderr}"
            );
            assert!(!folder_text(&env.out()).contains(secret), "{what}");
        }
        assert!(
            server.journal().is_empty(),
            "{what}: {:?}",
            server.journal()
        );
    }

    // The same rules for the config file's keys.
    let env = Env::new();
    let input = env.write("in.csv", id_csv(&ids(2)));
    let config = env.write(
        "q.toml",
        format!("base-url = \"{with_user}\"\nauthority = \"{http_remote}\"\n"),
    );
    let out = env
        .run(&input)
        .env("PARTNER_CENTER_TOKEN", STATIC)
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(server.journal().is_empty());
}
