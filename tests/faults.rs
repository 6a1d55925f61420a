//! The harder fault paths: a 401 mid-run, the issue-3 acceptance mix of
//! flaky, slow, malformed and dropped answers, a second Ctrl-C, the run's
//! retry budget and the concurrency cap. Assertions come from the sandbox's
//! request journal and the report; times only as generous upper bounds.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::{Env, TestSandbox, by_customer, id_csv, max_in_one_second, oauth_run};
use qualrecon::api::ApiClient;
use qualrecon::auth::{Credentials, TokenProvider};
use qualrecon::lookup::{Lookup, LookupSettings, LookupStatus, Lookups, Stop, look_up_all};
use qualrecon::pacer::Pacer;
use qualrecon::sandbox::{
    Answer, CLIENT_ID, CLIENT_SECRET, JournalEntry, Malformation, STATIC_TOKEN, Sandbox,
    SandboxConfig, TENANT, TokenCheck, ids_for, tenant_faults,
};
use uuid::Uuid;

fn approved(n: usize) -> Vec<Uuid> {
    ids_for(Answer::Approved, n)
}

/// The report's rows by customer id; panics on a missing or repeated id.
fn rows_by_id(env: &Env, ids: &[Uuid]) -> HashMap<Uuid, HashMap<String, String>> {
    let rows = env.rows();
    assert_eq!(rows.len(), ids.len(), "one row per input id");
    let mut m = HashMap::new();
    for r in rows {
        let id = Uuid::parse_str(&r["customer_tenant_id"]).expect("a GUID");
        assert!(m.insert(id, r).is_none(), "{id} has two rows");
    }
    for id in ids {
        assert!(m.contains_key(id), "{id} has no row");
    }
    m
}

/// The summary's lookup counts agree with the rows.
fn assert_counts_match(env: &Env, rows: &HashMap<Uuid, HashMap<String, String>>) {
    let s = env.summary();
    let l = &s["lookups"];
    let ok = rows.values().filter(|r| r["lookup_status"] == "ok").count() as u64;
    assert_eq!(l["ok"], ok);
    assert_eq!(l["failed_lookups"], rows.len() as u64 - ok);
    let mut by_status: BTreeMap<String, u64> = BTreeMap::new();
    for r in rows.values().filter(|r| r["lookup_status"] != "ok") {
        *by_status.entry(r["lookup_status"].clone()).or_default() += 1;
    }
    let reported: BTreeMap<String, u64> = l["by_status"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .filter(|(_, v)| *v > 0)
        .collect();
    assert_eq!(reported, by_status);
    assert_eq!(s["input"]["customers"], rows.len() as u64);
}

/// A 200 whose whole body was sent (a transport-truncated one is not).
fn complete_200(e: &JournalEntry) -> bool {
    e.status == 200 && e.outcome != "truncated"
}

#[test]
fn a_401_refreshes_the_token_once_and_retries_the_customer() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        revoke_tokens_after: Some(30),
        ..SandboxConfig::default()
    });
    let ids = approved(120);
    let input = env.write("in.csv", id_csv(&ids));
    oauth_run(
        &env,
        &sb,
        &input,
        CLIENT_SECRET,
        &["--tenant", TENANT, "--client-id", CLIENT_ID],
    )
    .assert()
    .success();

    let journal = sb.journal();
    let issued: Vec<&JournalEntry> = journal
        .iter()
        .filter(|e| e.customer.is_none() && e.outcome == "token-issued")
        .collect();
    // The first token before any customer, one refresh after the
    // revocation: every customer that got a 401 shares it (no stampede).
    assert_eq!(
        issued.len(),
        2,
        "token requests: {:?}",
        journal
            .iter()
            .filter(|e| e.customer.is_none())
            .collect::<Vec<_>>()
    );
    let refreshed_at = issued[1].at;

    let customers: Vec<&JournalEntry> = journal.iter().filter(|e| e.customer.is_some()).collect();
    let revoked: Vec<&&JournalEntry> = customers
        .iter()
        .filter(|e| e.token == TokenCheck::Revoked)
        .collect();
    assert!(!revoked.is_empty(), "the revocation hit no request");
    assert!(revoked.iter().all(|e| e.status == 401));
    assert!(
        customers
            .iter()
            .all(|e| matches!(e.token, TokenCheck::Valid | TokenCheck::Revoked)),
        "{customers:?}"
    );

    let per = by_customer(&sb.customer_requests());
    let mut retried = 0;
    for (id, reqs) in &per {
        let unauthorized = reqs.iter().filter(|e| e.status == 401).count();
        let oks = reqs.iter().filter(|e| e.status == 200).count();
        assert_eq!(oks, 1, "{id}: {reqs:?}");
        assert_eq!(reqs.last().unwrap().status, 200, "{id}: {reqs:?}");
        assert!(unauthorized <= 1, "{id} got 401 twice: {reqs:?}");
        if unauthorized == 1 {
            retried += 1;
            assert_eq!(reqs.len(), 2, "{id}: {reqs:?}");
            assert_eq!(reqs[0].status, 401);
            assert_eq!(reqs[1].token, TokenCheck::Valid);
            assert_eq!(
                reqs[0].request_id, reqs[1].request_id,
                "MS-RequestId changed across the retry"
            );
        } else {
            assert_eq!(reqs.len(), 1, "{id}: {reqs:?}");
        }
    }
    assert_eq!(retried, revoked.len());

    // Once a refreshed token has worked, nobody uses a revoked one again.
    let first_fresh_ok = customers
        .iter()
        .filter(|e| e.status == 200 && e.token == TokenCheck::Valid && e.at > refreshed_at)
        .map(|e| e.at)
        .min()
        .expect("a 200 after the refresh");
    let late: Vec<_> = revoked.iter().filter(|e| e.at > first_fresh_ok).collect();
    assert!(
        late.is_empty(),
        "revoked tokens after the refresh: {late:?}"
    );

    let rows = rows_by_id(&env, &ids);
    assert!(rows.values().all(|r| r["lookup_status"] == "ok"));
    let s = env.summary();
    assert_eq!(s["lookups"]["requests"], customers.len() as u64);
    assert_eq!(s["lookups"]["retries"], retried as u64);
}

#[test]
fn issue_3_acceptance_flaky_slow_malformed_and_dropped_connections() {
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
    assert!(max_in_one_second(&times) <= 150);
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

/// The library's lookup machinery against `sb`, without the binary.
fn in_process_lookup(
    sb: &Sandbox,
    credentials: Credentials,
    settings: LookupSettings,
    rate: f64,
) -> Arc<Lookup> {
    let http = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let api = ApiClient::new(
        http.clone(),
        &sb.base_url(),
        Uuid::new_v4(),
        Duration::from_secs(10),
    );
    let auth = TokenProvider::new(http, credentials);
    Arc::new(Lookup::new(
        api,
        auth,
        Pacer::new(rate),
        settings,
        Stop::default(),
    ))
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

#[test]
fn a_refused_static_token_is_not_retried_and_each_customer_is_unauthorized() {
    // A static token cannot be refreshed: a 401 is final at once, and the
    // hint must not claim a refresh happened.
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(5);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[])
        .env("PARTNER_CENTER_TOKEN", "not-the-sandbox-token")
        .assert()
        .code(3);
    let journal = sb.journal();
    assert!(journal.iter().all(|e| e.customer.is_some()), "{journal:?}");
    assert_eq!(journal.len(), ids.len(), "a 401 on a static token is final");
    assert!(journal.iter().all(|e| e.status == 401));
    let rows = rows_by_id(&env, &ids);
    for r in rows.values() {
        assert_eq!(r["lookup_status"], "unauthorized", "{r:?}");
        assert!(r["error"].contains("HTTP 401"), "{r:?}");
        assert!(r["error"].contains("PARTNER_CENTER_TOKEN"), "{r:?}");
        assert!(!r["error"].contains("even after a refresh"), "{r:?}");
    }
    assert_counts_match(&env, &rows);
}

#[test]
fn a_token_refused_customer_after_customer_stops_the_run_and_resume_finishes_it() {
    // An expired static token would otherwise cost one refused request per
    // remaining customer; after a streak of 401s the run stops (exit 1),
    // writes everything it knows, and --resume with a good token finishes.
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(60);
    let input = env.write("in.csv", id_csv(&ids));
    let out = env
        .run_against(&sb, &input, &["--concurrency", "4"])
        .env("PARTNER_CENTER_TOKEN", "expired-static-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));
    let refused = sb.customer_requests().len();
    let streak = qualrecon::lookup::UNAUTHORIZED_STREAK as usize;
    assert!(
        (streak..streak + 8).contains(&refused),
        "{refused} requests"
    );
    let s = env.summary();
    assert_eq!(s["run"]["status"], "interrupted");
    let rows = env.rows();
    assert_eq!(rows.len(), 60, "every customer has a row");
    assert!(
        rows.iter()
            .all(|r| ["unauthorized", "failed"].contains(&r["lookup_status"].as_str()))
    );

    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .success();
    let rows = env.rows();
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r["lookup_status"] == "ok"));
    assert_eq!(sb.customer_requests().len(), refused + 60);
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_outage_mid_run_ends_each_customer_after_its_attempts() {
    // No API request is sent while no token can be had, so the attempt
    // limit must count these failures too, or the lookups would spin until
    // the whole run's retry budget is gone.
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dead_token_endpoint = Credentials::Client(qualrecon::auth::ClientCredentials {
        token_url: format!("{dead_url}/t/oauth2/v2.0/token"),
        client_id: "c".into(),
        credential: qualrecon::auth::ClientCredential::Secret(secrecy::SecretString::from(
            "s".to_string(),
        )),
        endpoint: qualrecon::auth::TokenEndpoint::V2,
        refresh_token: None,
    });
    let ids = approved(3);
    let settings = LookupSettings::new(4, ids.len());
    let max_attempts = settings.max_attempts;
    let budget = settings.retry_budget;
    let lookup = in_process_lookup(&sb, dead_token_endpoint, settings, 100.0);
    let result = look_up_all(lookup, &ids, |_, _| {}).await;
    for o in result.outcomes {
        let o = o.expect("every customer ends");
        assert_eq!(o.status, LookupStatus::Failed);
        assert!(
            o.error
                .as_deref()
                .unwrap()
                .contains("could not get a token"),
            "{o:?}"
        );
        assert_eq!(o.attempts, 0, "no API request without a token");
        // Ended by its own attempt limit, not by draining the run's budget.
        assert!(
            o.error
                .as_deref()
                .unwrap()
                .contains("gave up after the last attempt"),
            "{o:?}"
        );
    }
    assert!(sb.journal().is_empty());
    assert!(
        u64::from(max_attempts) * 3 < budget,
        "the budget must not be what stops them"
    );
    sb.shutdown().await;
}
