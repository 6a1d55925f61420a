//! The command line as a user meets it: usage errors, `check`, the lock,
//! and secrets kept out of help and errors.

mod common;

use common::Env;
use predicates::prelude::*;

const ONE_ID: &str = "customer_tenant_id\n6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b\n";

#[test]
fn bad_command_lines_exit_2_with_a_clear_message() {
    let env = Env::new();
    let input = env.write("in.csv", ONE_ID);
    let input = input.to_str().unwrap();
    let cases: [(&[&str], &str); 6] = [
        (
            &[
                "run",
                "--input",
                input,
                "--out",
                "o",
                "--sandbox",
                "--rate",
                "abc",
            ],
            "not a number",
        ),
        (
            &[
                "run",
                "--input",
                input,
                "--out",
                "o",
                "--sandbox",
                "--rate",
                "0",
            ],
            "greater than 0",
        ),
        (
            &[
                "run",
                "--input",
                input,
                "--out",
                "o",
                "--sandbox",
                "--concurrency",
                "-3",
            ],
            "--concurrency",
        ),
        (
            &[
                "run",
                "--input",
                input,
                "--out",
                "o",
                "--sandbox",
                "--frobnicate",
            ],
            "--frobnicate",
        ),
        (&["run", "--out", "o", "--sandbox"], "missing --input"),
        (&["run", "--input", input, "--out", "o"], "no credentials"),
    ];
    for (args, message) in cases {
        env.cmd()
            .args(args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(message));
    }
    env.cmd()
        .args([
            "run",
            "--input",
            input,
            "--out",
            "o",
            "--sandbox",
            "--deadline",
            "soon",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a duration"));
    // Nothing was looked up, nothing written.
    assert!(!env.path("o").exists());
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
fn an_unreadable_input_is_fatal_and_named() {
    let env = Env::new();
    env.cmd()
        .args(["run", "--sandbox", "--input", "nope.csv", "--out", "o"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope.csv"));
    let no_ids = env.write("names.csv", "name,country\nA,SE\n");
    env.cmd()
        .args(["run", "--sandbox", "--input"])
        .arg(&no_ids)
        .args(["--out", "o"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--column"));
}

#[test]
fn a_second_run_on_the_same_folder_exits_4_naming_the_folder() {
    let env = Env::new();
    let input = env.write("in.csv", ONE_ID);
    std::fs::create_dir_all(env.out()).unwrap();
    let _held = qualrecon::fsutil::lock_folder(&env.out()).unwrap();
    env.cmd()
        .args(["run", "--sandbox", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(env.out())
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
    let mut sandbox = std::process::Command::new(assert_cmd::cargo::cargo_bin("qualrecon"))
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
    let ids = qualrecon::sandbox::ids_for(qualrecon::sandbox::Answer::Approved, 3);
    let input = env.write("in.csv", common::id_csv(&ids));
    env.cmd()
        .env("PARTNER_CENTER_TOKEN", qualrecon::sandbox::STATIC_TOKEN)
        .args(["run", "--base-url", &url, "--input"])
        .arg(&input)
        .arg("--out")
        .arg(env.out())
        .assert()
        .success();
    assert_eq!(env.rows().len(), 3);
    common::send_signal(&sandbox, "-TERM");
    let status = common::exit_within(&mut sandbox, std::time::Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
}
