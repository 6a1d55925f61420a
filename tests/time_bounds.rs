//! Time bounds and output hygiene: a Retry-After beyond
//! `--max-wait` stops the run instead of stalling it, signals and the
//! deadline act at once even while the run waits on a hanging token
//! endpoint or sits out a Retry-After, and what lands in logs and errors is
//! fit for cron mail. Assertions come from the files, the sandbox's request
//! journal and exit codes; times only as generous upper bounds.

mod common;

use chrono::DateTime;
use common::{Env, TestSandbox, id_csv};
use qualrecon::sandbox::{Answer, STATIC_TOKEN, SandboxConfig, ids_for};
use uuid::Uuid;

fn approved(n: usize) -> Vec<Uuid> {
    ids_for(Answer::Approved, n)
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
