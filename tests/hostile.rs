//! The transport policy, tried as a hostile or broken world would: redirects
//! to another host, plain http and user info in URLs, a static token that
//! is no header value, and answers of hundreds of megabytes. Everything is
//! asserted from exit codes, the report files, the hostile servers' request
//! journals and the child's own peak RSS.

mod common;

use std::time::Duration;

use common::hostile::{Answer, Hostile, Measured, run_command, run_measured};
use common::{Env, id_csv};
use uuid::Uuid;

const SECRET: &str = "hostile-client-secret-9f2c";
const STATIC: &str = "hostile-static-token-41d7";
const PASSWORD: &str = "pw-that-must-never-print";
const MIB: u64 = 1024 * 1024;
/// The bound on a run against 300 MB answers.
const RSS_LIMIT: u64 = 64 * MIB;

fn ids(n: usize) -> Vec<Uuid> {
    (0..n).map(|_| Uuid::new_v4()).collect()
}

/// `qualrecon run` with OAuth2 client credentials (the secret in the
/// environment) at `--concurrency 2`.
fn oauth_run(env: &Env, authority: &str, base_url: &str, n: usize) -> assert_cmd::Command {
    let input = env.write("in.csv", id_csv(&ids(n)));
    let mut c = env.cmd();
    c.env("PARTNER_CENTER_CLIENT_SECRET", SECRET)
        .args(["run", "--input"])
        .arg(input)
        .arg("--out")
        .arg(env.out())
        .args(["--base-url", base_url, "--authority", authority])
        .args(["--tenant", "contoso.onmicrosoft.com", "--client-id", "app"])
        .args(["--rate", "100", "--concurrency", "2"]);
    c
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn api_redirects_are_failed_rows_and_are_never_followed() {
    for status in [301, 302, 303, 307, 308] {
        let elsewhere = Hostile::start_second(Answer::Open, Answer::Open);
        let api = Hostile::start(
            Answer::Open,
            Answer::Redirect {
                status,
                to: elsewhere.url(),
            },
        );
        let env = Env::new();
        let out = oauth_run(&env, &api.url(), &api.url(), 3).output().unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));

        assert!(
            elsewhere.journal().is_empty(),
            "{status}: the other host got {:?}",
            elsewhere.journal()
        );
        let rows = env.rows();
        assert_eq!(rows.len(), 3);
        let want = format!("redirect to {} refused", elsewhere.host());
        for row in &rows {
            assert_eq!(row["lookup_status"], "failed", "{status}: {row:?}");
            assert!(
                row["error"].starts_with(&format!("HTTP {status} "))
                    && row["error"].contains(&want),
                "{row:?}"
            );
            // The Location's query is never echoed.
            assert!(!row["error"].contains("leak"), "{row:?}");
        }
        // Not retried: one request per customer.
        assert_eq!(api.api_requests().len(), 3, "{status}");
        // The secret went once, to the token endpoint it was meant for.
        let with_secret: Vec<_> = api
            .journal()
            .into_iter()
            .filter(|s| s.contains(SECRET))
            .collect();
        assert_eq!(with_secret.len(), 1, "{status}");
        assert!(with_secret[0].is_token());
        assert_eq!(env.summary()["lookups"]["ok"], 0);
    }
}

/// Every file under `dir`, as text (a missing folder holds nothing).
fn folder_text(dir: &std::path::Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            all.push_str(&text(&bytes));
        }
    }
    all
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
        let mut c = env.cmd();
        c.args(["run", "--input"])
            .arg(&input)
            .arg("--out")
            .arg(env.out())
            .args(&args);
        for (k, v) in &vars {
            c.env(k, v);
        }
        let out = c.output().unwrap();
        let stdout = text(&out.stdout);
        let stderr = text(&out.stderr);
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
        .cmd()
        .env("PARTNER_CENTER_TOKEN", STATIC)
        .args(["run", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(env.out())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(server.journal().is_empty());
}

/// A static-token run against `api` at `--concurrency 2`, measured.
fn measured_run(api: &Hostile, env: &Env, customers: usize) -> Measured {
    let input = env.write("in.csv", id_csv(&ids(customers)));
    let out = env.out();
    let mut cmd = run_command(
        env,
        &[
            "--input",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--base-url",
            &api.url(),
            "--rate",
            "100",
            "--concurrency",
            "2",
        ],
    );
    cmd.env("PARTNER_CENTER_TOKEN", STATIC);
    run_measured(cmd, env.dir.path(), Duration::from_secs(60))
}

/// Every customer got a row of `status` naming the 4 MiB cap (`cap_words`),
/// after one request each, and the child stayed under [`RSS_LIMIT`].
fn assert_capped(answer: Answer, status: &str, cap_words: &str) {
    let api = Hostile::start(Answer::Open, answer.clone());
    let env = Env::new();
    let run = measured_run(&api, &env, 4);
    assert!(
        run.peak_rss <= RSS_LIMIT,
        "{answer:?}: peak RSS {} MiB",
        run.peak_rss / MIB
    );
    assert_eq!(run.code, Some(3), "{answer:?}: {}", run.stderr);
    let rows = env.rows();
    assert_eq!(rows.len(), 4);
    for row in &rows {
        assert_eq!(row["lookup_status"], status, "{row:?}");
        assert!(row["error"].contains(cap_words), "{row:?}");
    }
    // Deterministic, so not retried.
    assert_eq!(api.api_requests().len(), 4, "{answer:?}");
}

#[test]
fn a_300_mb_answer_is_refused_unread() {
    assert_capped(
        Answer::Huge {
            status: 200,
            length: 300 * 1_000_000,
        },
        "failed",
        "HTTP 200 OK: response body larger than the 4 MiB limit (Content-Length 300000000); not read",
    );
}

#[test]
fn a_100_mb_chunked_answer_is_cut_at_the_cap() {
    assert_capped(
        Answer::Chunked {
            status: 200,
            length: Some(100 * 1_000_000),
        },
        "failed",
        "HTTP 200 OK: response body larger than the 4 MiB limit; reading stopped there",
    );
}

#[test]
fn an_endless_error_body_is_cut_at_the_cap_and_the_status_still_counts() {
    assert_capped(
        Answer::Chunked {
            status: 404,
            length: None,
        },
        "not_found",
        "HTTP 404 Not Found: response body larger than the 4 MiB limit; reading stopped there",
    );
}
