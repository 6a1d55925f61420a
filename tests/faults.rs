//! Faults of the API and of the world between: flaky, slow, malformed,
//! truncated and dropped answers are retried by the rules (the same
//! MS-RequestId, a per-customer attempt limit, one retry budget for the
//! whole run) and end as clear `failed` rows; redirects are never followed
//! and answers of hundreds of megabytes are cut at the cap without the
//! memory to hold them. Assertions come from the report, the servers'
//! request journals and the child's own peak RSS; times only as generous
//! upper bounds.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use common::hostile::{
    self, Hostile, MIB, Measured, RSS_LIMIT, SECRET, STATIC, run_command, run_measured,
};
use common::{
    Env, TestSandbox, approved, assert_counts_match, by_customer, id_csv, in_process_lookup, lossy,
    rows_by_id,
};
use qualrecon::auth::Credentials;
use qualrecon::lookup::{LookupSettings, LookupStatus, Lookups, look_up_all};
use qualrecon::pacer::max_in_one_second;
use qualrecon::sandbox::{
    Answer, JournalEntry, Malformation, STATIC_TOKEN, Sandbox, SandboxConfig, ids_for,
    tenant_faults,
};
use uuid::Uuid;

/// A 200 whose whole body was sent (a transport-truncated one is not).
fn complete_200(e: &JournalEntry) -> bool {
    e.status == 200 && e.outcome != "truncated"
}

#[test]
fn flaky_slow_malformed_and_dropped_answers_together_end_each_customer_by_the_retry_rules() {
    let env = Env::new();
    let cfg = SandboxConfig {
        flaky: true,
        slow: true,
        slow_delay: Duration::from_secs(3),
        malformed: true,
        drop_every: Some(50),
        ..SandboxConfig::default()
    };
    let seed = cfg.seed;
    let sb = TestSandbox::start(cfg);
    let ids = approved(300);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(
        &sb,
        &input,
        &[
            "--request-timeout",
            "1s",
            "--rate",
            "150",
            "--concurrency",
            "16",
        ],
    )
    .assert()
    .code(3);

    let journal = sb.customer_requests();
    let per = by_customer(&journal);
    let rows = rows_by_id(&env, &ids);
    // The default policy: `LookupSettings::new` decides how often a customer
    // is tried: a customer failing the same way while other customers get
    // answers is given up early, in an outage only after every attempt.
    let policy = qualrecon::lookup::LookupSettings::new(16, ids.len());
    let max_attempts = policy.max_attempts as usize;
    let same_way_attempts = policy.same_way_attempts as usize;
    let (mut flaky, mut slow, mut truncated_for_good, mut complete_malformed) = (0, 0, 0, 0);
    for id in &ids {
        let f = tenant_faults(seed, id);
        let row = &rows[id];
        let reqs = &per[id];
        // A slow tenant's first answer comes after the client gave up.
        let received = if f.slow { &reqs[1..] } else { &reqs[..] };
        let what = format!("{id} {f:?}: {row:?} {reqs:?}");
        match f.malformed {
            None => {
                flaky += usize::from(!f.flaky.is_empty());
                slow += usize::from(f.slow);
                assert_eq!(row["lookup_status"], "ok", "{what}");
                assert_eq!(row["vetting_status"], "Approved", "{what}");
            }
            Some(Malformation::TruncatedForGood) => {
                truncated_for_good += 1;
                assert_eq!(row["lookup_status"], "failed", "{what}");
                // Early once it failed the same way that many times in a
                // row (a dropped request in between breaks the row).
                let early = row["error"].contains("failed the same way every time");
                let tried = reqs.len();
                assert!(
                    row["error"].contains(&format!("{tried} attempts")),
                    "{what}"
                );
                if early {
                    assert!((same_way_attempts..max_attempts).contains(&tried), "{what}");
                } else {
                    assert_eq!(tried, max_attempts, "{what}");
                }
            }
            Some(_) => {
                complete_malformed += 1;
                assert_eq!(row["lookup_status"], "failed", "{what}");
                assert!(row["error"].contains("HTTP 200"), "{what}");
                assert_eq!(row["qualification"], "", "{what}");
            }
        }
        assert!(
            row["lookup_status"] == "ok" || !row["error"].is_empty(),
            "{what}"
        );
        // A complete 200 ends the customer: exactly one was received, and
        // nothing was sent after it.
        if f.malformed != Some(Malformation::TruncatedForGood) {
            let complete = received.iter().filter(|e| complete_200(e)).count();
            assert_eq!(complete, 1, "{what}");
            assert!(complete_200(reqs.last().unwrap()), "{what}");
            if f.flaky.is_empty() && !f.slow && reqs.iter().all(|e| e.outcome != "reset") {
                assert_eq!(reqs.len(), 1, "{what}");
            }
        } else {
            assert!(!received.iter().any(complete_200), "{what}");
        }
    }
    assert!(
        flaky >= 10 && slow >= 3 && truncated_for_good >= 1 && complete_malformed >= 3,
        "too few faulty tenants among 300 ids: flaky {flaky}, slow {slow}, \
         truncated-for-good {truncated_for_good}, other malformed {complete_malformed}"
    );
    assert!(journal.iter().any(|e| e.outcome == "reset"));

    assert_counts_match(&env, &rows);
    let s = env.summary();
    assert_eq!(s["run"]["status"], "complete");
    assert_eq!(s["lookups"]["requests"], journal.len() as u64);
    assert_eq!(s["lookups"]["retries"], (journal.len() - ids.len()) as u64);
    // Retries are paced like everything else.
    let times: Vec<Duration> = journal.iter().map(|e| e.at).collect();
    let busiest = max_in_one_second(&times);
    assert!(
        busiest <= 150,
        "{busiest} requests arrived within one second at --rate 150"
    );
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

/// Look up `ids` in this process against `sb` with the static token.
async fn look_up(sb: &Sandbox, ids: &[Uuid], retry_budget: u64) -> Lookups {
    let mut settings = LookupSettings::new(8, ids.len());
    settings.retry_budget = retry_budget;
    settings.backoff_base = Duration::from_millis(10);
    settings.backoff_cap = Duration::from_millis(100);
    let static_token = Credentials::Static(secrecy::SecretString::from(STATIC_TOKEN.to_string()));
    let lookup = in_process_lookup(sb, static_token, settings, 500.0);
    look_up_all(lookup, ids, |_, _| {}).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_retry_budget_caps_retries_for_the_whole_run() {
    let cfg = SandboxConfig {
        flaky: true,
        ..SandboxConfig::default()
    };
    let seed = cfg.seed;
    let pool = ids_for(Answer::Approved, 600);
    let is_flaky = |id: &Uuid| !tenant_faults(seed, id).flaky.is_empty();
    let flaky: Vec<Uuid> = pool.iter().copied().filter(is_flaky).take(20).collect();
    let steady: Vec<Uuid> = pool
        .iter()
        .copied()
        .filter(|id| !is_flaky(id))
        .take(20)
        .collect();
    assert_eq!(flaky.len(), 20);
    let ids: Vec<Uuid> = flaky.iter().chain(&steady).copied().collect();
    let failures: usize = flaky
        .iter()
        .map(|id| tenant_faults(seed, id).flaky.len())
        .sum();

    // A budget of 3: three retries in the whole run, then failures are final.
    let sb = Sandbox::start(cfg.clone()).await.unwrap();
    let got = look_up(&sb, &ids, 3).await;
    let retries = got
        .counters
        .retries
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(retries <= 3, "{retries} retries on a budget of 3");
    assert_eq!(sb.journal().len() as u64, ids.len() as u64 + retries);
    let outcomes: HashMap<Uuid, _> = ids
        .iter()
        .zip(&got.outcomes)
        .map(|(id, o)| (*id, o.clone().expect("every id looked up")))
        .collect();
    for id in &steady {
        assert_eq!(outcomes[id].status, LookupStatus::Ok, "{id}");
    }
    let flaky_ok = flaky
        .iter()
        .filter(|id| outcomes[*id].status == LookupStatus::Ok)
        .count();
    assert!(flaky_ok <= 3, "{flaky_ok} flaky tenants recovered");
    for id in flaky
        .iter()
        .filter(|id| outcomes[*id].status != LookupStatus::Ok)
    {
        let o = &outcomes[id];
        assert_eq!(o.status, LookupStatus::Failed, "{id}: {o:?}");
        let e = o.error.as_deref().unwrap_or_default();
        assert!(e.contains("retry budget is spent"), "{id}: {e}");
    }
    sb.shutdown().await;

    // A big budget: every flaky tenant comes through.
    let sb = Sandbox::start(cfg).await.unwrap();
    let got = look_up(&sb, &ids, 1000).await;
    assert!(
        got.outcomes
            .iter()
            .all(|o| o.as_ref().is_some_and(|o| o.status == LookupStatus::Ok)),
        "{:?}",
        got.outcomes
    );
    let retries = got
        .counters
        .retries
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(retries, failures as u64);
    assert_eq!(sb.journal().len(), ids.len() + failures);
    sb.shutdown().await;
}

/// The run's pause starts when a 429's headers arrive, not when its body
/// has been read: a server that writes the body apart (or a slow proxy)
/// must see no request inside the window it announced.
#[test]
fn a_429_pauses_the_run_before_its_body_arrives() {
    let api = Hostile::start(
        hostile::Answer::Open,
        hostile::Answer::ThrottleOnceSlowly {
            retry_after: 2,
            body_delay: Duration::from_secs(1),
        },
    );
    let env = Env::new();
    let out = hostile::oauth_run(&env, &api.url(), &api.url(), 4)
        .args(["--rate", "10", "--concurrency", "4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", lossy(&out.stderr));
    let requests = api.api_requests();
    let first = requests.first().expect("a request").at;
    // The 429's headers left at once; allow for the first request's own
    // round trip before the window counts.
    let window = first + Duration::from_millis(50)..first + Duration::from_secs(2);
    let inside: Vec<Duration> = requests
        .iter()
        .filter(|r| window.contains(&r.at))
        .map(|r| r.at - first)
        .collect();
    assert!(
        inside.is_empty(),
        "requests inside the announced window: {inside:?}"
    );
    assert_eq!(requests.len(), 5, "four customers, one asked twice");
}

#[test]
fn api_redirects_are_failed_rows_and_are_never_followed() {
    for status in [301, 302, 303, 307, 308] {
        let elsewhere = Hostile::start_second(hostile::Answer::Open, hostile::Answer::Open);
        let api = Hostile::start(
            hostile::Answer::Open,
            hostile::Answer::Redirect {
                status,
                to: elsewhere.url(),
            },
        );
        let env = Env::new();
        let out = hostile::oauth_run(&env, &api.url(), &api.url(), 3)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3), "{}", lossy(&out.stderr));

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

/// A static-token run against `api` at `--concurrency 2`, measured.
fn measured_run(api: &Hostile, env: &Env, customers: usize) -> Measured {
    let mut cmd = run_command(
        env,
        customers,
        &[
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
fn assert_capped(answer: hostile::Answer, status: &str, cap_words: &str) {
    let api = Hostile::start(hostile::Answer::Open, answer.clone());
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
        hostile::Answer::Huge {
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
        hostile::Answer::Chunked {
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
        hostile::Answer::Chunked {
            status: 404,
            length: None,
        },
        "not_found",
        "HTTP 404 Not Found: response body larger than the 4 MiB limit; reading stopped there",
    );
}

/// A customer slow to answer holds back the report's rows after it, so
/// the lookups start no customer more than the reorder window beyond it:
/// the outcomes waiting for it stay few, whatever it does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_customer_is_started_beyond_the_reorder_window_of_one_still_unanswered() {
    let cfg = SandboxConfig {
        slow: true,
        slow_delay: Duration::from_millis(700),
        ..SandboxConfig::default()
    };
    let seed = cfg.seed;
    let candidates = approved(2000);
    let slow = |id: &Uuid| tenant_faults(seed, id).slow;
    let first = *candidates
        .iter()
        .find(|id| slow(id))
        .expect("a slow tenant");
    let mut ids = vec![first];
    ids.extend(candidates.iter().filter(|id| !slow(id)).take(30));
    let sb = Sandbox::start(cfg).await.expect("sandbox");
    let mut settings = LookupSettings::new(8, ids.len());
    settings.reorder_window = 4;
    let static_token = Credentials::Static(secrecy::SecretString::from(STATIC_TOKEN.to_string()));
    let lookup = in_process_lookup(&sb, static_token, settings, 500.0);
    let mut landed = Vec::new();
    let result = look_up_all(lookup, &ids, |id, _| landed.push(id)).await;
    assert!(
        result
            .outcomes
            .iter()
            .all(|o| o.as_ref().is_some_and(|o| o.status == LookupStatus::Ok))
    );
    let position = |id: &Uuid| ids.iter().position(|x| x == id).unwrap();
    let before_first: Vec<usize> = landed
        .iter()
        .take_while(|id| **id != first)
        .map(position)
        .collect();
    assert_eq!(
        before_first,
        [1, 2, 3],
        "only the customers within the window answer before the slow one"
    );
    assert_eq!(landed.len(), ids.len());
}
