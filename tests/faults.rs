//! The harder fault paths: a 401 mid-run, the issue-3 acceptance mix of
//! flaky, slow, malformed and dropped answers, a second Ctrl-C, the run's
//! retry budget and the concurrency cap. Assertions come from the sandbox's
//! request journal and the report; times only as generous upper bounds.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use common::{Env, TestSandbox, by_customer, id_csv, max_in_one_second};
use qualrecon::api::ApiClient;
use qualrecon::auth::{Credentials, TokenProvider};
use qualrecon::lookup::{Lookup, LookupSettings, LookupStatus, Lookups, Stop, look_up_all};
use qualrecon::pacer::Pacer;
use qualrecon::sandbox::{
    Answer, JournalEntry, Malformation, STATIC_TOKEN, Sandbox, SandboxConfig, ids_for,
    tenant_faults,
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
