//! Surviving the real API: throttling, flaky and slow tenants, broken bodies,
//! token expiry, rejected credentials, signals and deadlines. Assertions come
//! from the sandbox's request journal, not from timing.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Env, TestSandbox, by_customer, id_csv, oauth_run};
use qualrecon::sandbox::{
    Answer, CLIENT_ID, CLIENT_SECRET, SandboxConfig, TENANT, TokenCheck, ids_for,
};
use uuid::Uuid;

/// Ids whose default answer is a plain success, so every failure seen is
/// the scenario's doing.
fn approved(n: usize) -> Vec<Uuid> {
    ids_for(Answer::Approved, n)
}

#[test]
fn flaky_tenants_recover_with_the_same_request_id_on_every_retry() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        flaky: true,
        drop_every: Some(50),
        ..SandboxConfig::default()
    });
    let ids = approved(200);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &["--rate", "200", "--concurrency", "16"])
        .assert()
        .success();
    let journal = sb.customer_requests();
    let per = by_customer(&journal);
    let retried: Vec<_> = per.values().filter(|r| r.len() > 1).collect();
    assert!(
        retried.len() >= 10,
        "only {} customers were retried",
        retried.len()
    );
    for reqs in per.values() {
        let request_ids: BTreeSet<_> = reqs.iter().map(|e| e.request_id.clone()).collect();
        assert_eq!(
            request_ids.len(),
            1,
            "MS-RequestId changed across retries: {reqs:?}"
        );
    }
    assert!(env.rows().iter().all(|r| r["lookup_status"] == "ok"));
    let s = env.summary();
    assert_eq!(s["lookups"]["retries"], (journal.len() - 200) as u64);
}

#[test]
fn slow_tenants_time_out_and_are_retried() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        slow: true,
        slow_delay: Duration::from_secs(3),
        ..SandboxConfig::default()
    });
    let ids = approved(120);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(
        &sb,
        &input,
        &["--request-timeout", "1s", "--concurrency", "16"],
    )
    .assert()
    .success();
    let retried = by_customer(&sb.customer_requests())
        .values()
        .filter(|r| r.len() > 1)
        .count();
    assert!(retried >= 1, "no slow tenant among 120 ids");
    assert!(env.rows().iter().all(|r| r["lookup_status"] == "ok"));
}

#[test]
fn broken_bodies_fail_clearly_and_the_run_goes_on() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        malformed: true,
        ..SandboxConfig::default()
    });
    let ids = approved(200);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &["--concurrency", "16"])
        .assert()
        .code(3);
    let rows = env.rows();
    assert_eq!(rows.len(), 200);
    let failed: Vec<_> = rows.iter().filter(|r| r["lookup_status"] != "ok").collect();
    assert!(!failed.is_empty(), "no malformed tenant among 200 ids");
    for r in &failed {
        assert_eq!(r["lookup_status"], "failed");
        assert!(!r["error"].is_empty());
        assert_eq!(r["qualification"], "");
    }
    let s = env.summary();
    assert_eq!(s["lookups"]["failed_lookups"], failed.len() as u64);
}

#[test]
fn short_lived_tokens_are_refreshed_before_they_expire_v2_and_v1() {
    for endpoint in ["v2", "v1"] {
        let env = Env::new();
        let sb = TestSandbox::start(SandboxConfig {
            token_lifetime: Duration::from_secs(2),
            ..SandboxConfig::default()
        });
        let ids = approved(250);
        let input = env.write("in.csv", id_csv(&ids));
        oauth_run(
            &env,
            &sb,
            &input,
            CLIENT_SECRET,
            &[
                "--tenant",
                TENANT,
                "--client-id",
                CLIENT_ID,
                "--token-endpoint",
                endpoint,
                "--rate",
                "80",
            ],
        )
        .assert()
        .success();
        let journal = sb.journal();
        let issued = journal
            .iter()
            .filter(|e| e.customer.is_none() && e.status == 200)
            .count();
        assert!(
            issued >= 2,
            "{endpoint}: only {issued} tokens for a 3 s run with 2 s tokens"
        );
        let expired: Vec<_> = journal
            .iter()
            .filter(|e| e.token == TokenCheck::Expired)
            .collect();
        assert!(
            expired.is_empty(),
            "{endpoint}: requests with an expired token: {expired:?}"
        );
        assert!(env.rows().iter().all(|r| r["lookup_status"] == "ok"));
    }
}

#[test]
fn rejected_credentials_are_fatal_before_any_customer_request() {
    let cases = [
        (TENANT, CLIENT_ID, "wrong-secret-d3adb33f", "AADSTS7000215"),
        (
            TENANT,
            "11111111-2222-3333-4444-555555555555",
            CLIENT_SECRET,
            "AADSTS700016",
        ),
        (
            "nosuchtenant.onmicrosoft.com",
            CLIENT_ID,
            CLIENT_SECRET,
            "AADSTS90002",
        ),
    ];
    for (tenant, client, secret, code) in cases {
        let env = Env::new();
        let sb = TestSandbox::start(SandboxConfig::default());
        let input = env.write("in.csv", id_csv(&approved(3)));
        let out = oauth_run(
            &env,
            &sb,
            &input,
            secret,
            &["--tenant", tenant, "--client-id", client],
        )
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{code}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(code), "{stderr}");
        assert!(stderr.contains("hint:"), "{stderr}");
        assert!(!stderr.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));
        assert!(
            sb.customer_requests().is_empty(),
            "{code}: a customer was requested"
        );
        assert!(!env.out().join("summary.json").exists());
    }
}

#[test]
fn the_secret_appears_in_no_output_file_or_stream() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Forbidden, 2)));
    let out = oauth_run(
        &env,
        &sb,
        &input,
        CLIENT_SECRET,
        &[
            "--tenant",
            TENANT,
            "--client-id",
            CLIENT_ID,
            "--log-format",
            "json",
        ],
    )
    .env("RUST_LOG", "trace")
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    for stream in [&out.stdout, &out.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(CLIENT_SECRET));
    }
    for f in std::fs::read_dir(env.out()).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap_or_default();
        assert!(!text.contains(CLIENT_SECRET));
    }
}
