//! Surviving the real API: throttling, flaky and slow tenants, broken bodies,
//! token expiry, rejected credentials, signals and deadlines. Assertions come
//! from the sandbox's request journal, not from timing.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{Env, TestSandbox, by_customer, id_csv};
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};
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
