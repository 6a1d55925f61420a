//! `--all-customers`: the customer list as input, paged through
//! `GET /v1/customers` (black box: the binary against the in-process sandbox,
//! asserted from the sandbox's request journal and the report files).

mod common;

use std::collections::HashSet;

use common::hostile::{self, Hostile};
use common::{Env, TestSandbox, by_customer};
use qualrecon::sandbox::{
    Answer, JournalEntry, ListFault, STATIC_TOKEN, SandboxConfig, TokenCheck, answer_for,
    listed_customer,
};
use uuid::Uuid;

/// A sandbox listing `customers` customers.
fn listing(customers: u64) -> SandboxConfig {
    SandboxConfig {
        customers,
        ..SandboxConfig::default()
    }
}

/// `qualrecon run --all-customers` against `sb` with the static token, fast.
fn run_all(env: &Env, sb: &TestSandbox, extra: &[&str]) -> assert_cmd::Command {
    let mut c = env.cmd();
    c.env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
        .args(["run", "--all-customers", "--out"])
        .arg(env.out())
        .args(["--base-url", &sb.url()])
        .args(["--rate", "5000", "--concurrency", "32", "--quiet"])
        .args(extra);
    c
}

/// [`run_all`] that must end with exit 1 before any customer is looked
/// up and with no report written: its stderr.
fn refused_before_any_lookup(env: &Env, sb: &TestSandbox, extra: &[&str]) -> String {
    let out = run_all(env, sb, extra)
        .assert()
        .code(1)
        .get_output()
        .clone();
    assert!(
        sb.customer_requests().is_empty(),
        "a customer was looked up"
    );
    assert!(!env.out().join("summary.json").exists());
    assert!(!env.out().join("qualifications.csv").exists());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The list requests the sandbox saw, in arrival order.
fn list_requests(sb: &TestSandbox) -> Vec<JournalEntry> {
    sb.journal()
        .into_iter()
        .filter(|e| e.path == "/v1/customers")
        .collect()
}

/// The sandbox's id for list position `p`.
fn listed_id(p: u64) -> Uuid {
    Uuid::parse_str(&listed_customer(p).id).expect("sandbox ids are GUIDs")
}

/// The exit code a run over the first `n` listed customers must end with:
/// 3 when some sandbox answer is a failure (or a row is invalid), else 0.
fn expected_exit(n: u64, invalid_at: Option<u64>) -> i32 {
    let failing = (1..=n).filter(|p| Some(*p) != invalid_at).any(|p| {
        matches!(
            answer_for(&listed_id(p)),
            Answer::NotFound | Answer::Forbidden | Answer::BrokenJson | Answer::Html
        )
    });
    if failing || invalid_at.is_some() {
        3
    } else {
        0
    }
}

/// The report holds the listed customers 1..=n in list order, each with
/// its company name and domain; the one at `invalid_at` is `invalid_input`.
fn assert_report_lists(env: &Env, n: u64, invalid_at: Option<u64>) {
    let text = std::fs::read_to_string(env.out().join("qualifications.csv")).unwrap();
    let header = text.lines().next().unwrap();
    assert!(
        header.ends_with(",error,company_name,domain"),
        "company_name and domain follow the fixed columns: {header}"
    );
    let mut positions: Vec<u64> = Vec::new();
    for row in env.rows() {
        let p: u64 = row["input_line"].parse().unwrap();
        let c = listed_customer(p);
        assert_eq!(row["company_name"], c.company_profile.company_name, "{p}");
        assert_eq!(row["domain"], c.company_profile.domain, "{p}");
        if Some(p) == invalid_at {
            assert_eq!(row["lookup_status"], "invalid_input");
            assert_eq!(row["customer_tenant_id"], c.id[..c.id.len() - 6]);
            assert!(row["error"].contains("not a GUID"), "{}", row["error"]);
        } else {
            assert_eq!(row["customer_tenant_id"], c.id, "{p}");
            assert_ne!(row["lookup_status"], "invalid_input");
        }
        if positions.last() != Some(&p) {
            positions.push(p);
        }
    }
    assert_eq!(
        positions,
        (1..=n).collect::<Vec<_>>(),
        "every customer, in list order"
    );
}

/// Every valid listed customer was looked up exactly once, after the list
/// was read, and nothing else was.
fn assert_each_looked_up_once(sb: &TestSandbox, n: u64, invalid_at: Option<u64>) {
    let journal = sb.journal();
    let customers = by_customer(&journal);
    let want: HashSet<Uuid> = (1..=n)
        .filter(|p| Some(*p) != invalid_at)
        .map(listed_id)
        .collect();
    assert_eq!(customers.keys().copied().collect::<HashSet<_>>(), want);
    assert!(customers.values().all(|requests| requests.len() == 1));
    let last_list = journal
        .iter()
        .rposition(|e| e.path == "/v1/customers")
        .expect("the list was requested");
    assert!(
        journal[..last_list].iter().all(|e| e.customer.is_none()),
        "no lookup before the whole list was read"
    );
}

#[test]
fn one_page() {
    let sb = TestSandbox::start(listing(3));
    let env = Env::new();
    run_all(&env, &sb, &[])
        .assert()
        .code(expected_exit(3, None));

    let list = list_requests(&sb);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].query.as_deref(), Some("size=500"));
    assert_eq!(list[0].continuation_token, None);
    assert_eq!((list[0].status, list[0].token), (200, TokenCheck::Static));
    // The same headers as every lookup: one correlation id for the run.
    let lookups = sb.customer_requests();
    assert_eq!(list[0].correlation_id, lookups[0].correlation_id);
    assert_eq!(list[0].application, lookups[0].application);
    assert_eq!(list[0].accept.as_deref(), Some("application/json"));
    assert!(Uuid::parse_str(list[0].request_id.as_deref().unwrap()).is_ok());
    assert_each_looked_up_once(&sb, 3, None);
    assert_report_lists(&env, 3, None);

    let s = env.summary();
    assert_eq!(s["input"]["source"], "partner_center");
    assert_eq!(s["input"]["pages"], 1);
    assert_eq!(s["input"]["rows"], 3);
    assert_eq!(s["input"]["customers"], 3);
    assert_eq!(s["input"]["path"], format!("{}/v1/customers", sb.url()));
    assert!(s["input"].get("delimiter").is_none(), "{}", s["input"]);
    // The list request is one of the run's requests.
    assert_eq!(s["lookups"]["requests"], 4);
}

#[test]
fn two_pages() {
    let sb = TestSandbox::start(listing(501));
    let env = Env::new();
    run_all(&env, &sb, &[])
        .assert()
        .code(expected_exit(501, None));
    let list = list_requests(&sb);
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].continuation_token, None);
    assert!(list[1].continuation_token.is_some());
    // The next link's uri, relative to /v1, was followed as given.
    assert_eq!(
        list[1].query.as_deref(),
        Some("size=500&seekOperation=Next")
    );
    assert_ne!(
        list[0].request_id, list[1].request_id,
        "a new MS-RequestId per page"
    );
    assert_each_looked_up_once(&sb, 501, None);
    assert_report_lists(&env, 501, None);
    assert_eq!(env.summary()["input"]["pages"], 2);
}

#[test]
fn many_pages_1234_customers_in_pages_of_500() {
    let sb = TestSandbox::start(listing(1234));
    let env = Env::new();
    run_all(&env, &sb, &[])
        .assert()
        .code(expected_exit(1234, None));
    let list = list_requests(&sb);
    assert_eq!(list.len(), 3, "three list requests");
    assert_eq!(list[0].continuation_token, None);
    let (t2, t3) = (&list[1].continuation_token, &list[2].continuation_token);
    assert!(t2.is_some() && t3.is_some() && t2 != t3, "{t2:?} {t3:?}");
    assert!(list.iter().all(|e| e.status == 200));
    assert_each_looked_up_once(&sb, 1234, None);
    assert_report_lists(&env, 1234, None);
    let s = env.summary();
    assert_eq!(
        (
            s["input"]["pages"].as_u64(),
            s["input"]["customers"].as_u64()
        ),
        (Some(3), Some(1234))
    );
}

#[test]
fn a_429_and_a_503_in_the_middle_of_the_list_are_retried() {
    let sb = TestSandbox::start(SandboxConfig {
        list_faults: vec![
            ListFault {
                page: 2,
                status: 429,
            },
            ListFault {
                page: 3,
                status: 503,
            },
        ],
        ..listing(1001)
    });
    let env = Env::new();
    run_all(&env, &sb, &[])
        .assert()
        .code(expected_exit(1001, None));
    let list = list_requests(&sb);
    let statuses: Vec<u16> = list.iter().map(|e| e.status).collect();
    assert_eq!(statuses, [200, 429, 200, 503, 200]);
    // A retry is the same logical request: same MS-RequestId, same token.
    for (failed, retry) in [(1, 2), (3, 4)] {
        assert_eq!(list[failed].request_id, list[retry].request_id);
        assert_eq!(
            list[failed].continuation_token,
            list[retry].continuation_token
        );
        assert!(list[failed].continuation_token.is_some());
    }
    assert_ne!(list[2].continuation_token, list[4].continuation_token);
    // Nothing at all inside the announced Retry-After window.
    let until = list[1].retry_after_until.expect("Retry-After announced");
    let journal = sb.journal();
    let throttled_at = journal.iter().position(|e| e.status == 429).unwrap();
    assert!(journal[throttled_at + 1..].iter().all(|e| e.at >= until));

    assert_each_looked_up_once(&sb, 1001, None);
    assert_report_lists(&env, 1001, None);
    let s = env.summary();
    assert_eq!(s["input"]["pages"], 3);
    assert_eq!(s["lookups"]["throttled_responses"], 1);
    assert_eq!(s["lookups"]["retries"], 2);
}

#[test]
fn a_listed_id_that_is_no_guid_is_invalid_input_and_never_sent() {
    let sb = TestSandbox::start(SandboxConfig {
        list_invalid_id_at: Some(3),
        ..listing(6)
    });
    let env = Env::new();
    run_all(&env, &sb, &[]).assert().code(3);
    assert_report_lists(&env, 6, Some(3));
    assert_each_looked_up_once(&sb, 6, Some(3));
    let damaged = &listed_customer(3).id[..30];
    assert!(
        sb.journal().iter().all(|e| !e.path.contains(damaged)),
        "the damaged id was sent"
    );
    let s = env.summary();
    assert_eq!(s["input"]["invalid_input_rows"], 1);
    assert_eq!(s["input"]["customers"], 5);
}

#[test]
fn a_list_page_that_fails_for_good_stops_the_run_before_any_lookup() {
    let sb = TestSandbox::start(SandboxConfig {
        list_faults: vec![ListFault {
            page: 2,
            status: 403,
        }],
        ..listing(1001)
    });
    let env = Env::new();
    let err = refused_before_any_lookup(&env, &sb, &[]);
    assert!(
        err.contains("listing the customers failed at page 2: HTTP 403 Forbidden"),
        "{err}"
    );
    assert_eq!(list_requests(&sb).len(), 2, "403 is not retried");
    assert!(sb.customer_requests().is_empty(), "nothing looked up");
    assert!(!env.out().join("summary.json").exists());
    assert!(!env.out().join("qualifications.csv").exists());
}

#[test]
fn a_refused_token_while_listing_is_fatal() {
    let sb = TestSandbox::start(listing(3));
    let env = Env::new();
    let out = run_all(&env, &sb, &[])
        .env("PARTNER_CENTER_TOKEN", "not-the-sandbox-token")
        .assert()
        .code(1)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("page 1: HTTP 401 Unauthorized"), "{err}");
    assert!(sb.customer_requests().is_empty());
}

#[test]
fn limit_stops_paging_once_enough_customers_are_listed() {
    let sb = TestSandbox::start(listing(1234));
    let env = Env::new();
    run_all(&env, &sb, &["--limit", "10"])
        .assert()
        .code(expected_exit(10, None));
    assert_eq!(list_requests(&sb).len(), 1, "later pages are not read");
    assert_eq!(sb.customer_requests().len(), 10);
    assert_report_lists(&env, 10, None);
    let s = env.summary();
    assert_eq!(s["input"]["pages"], 1);
    assert_eq!(s["input"]["rows"], 500);
    assert_eq!(s["input"]["skipped_by_limit"], 490);
}

#[test]
fn check_lists_the_customers_without_looking_anything_up() {
    let sb = TestSandbox::start(SandboxConfig {
        list_invalid_id_at: Some(2),
        ..listing(501)
    });
    let env = Env::new();
    let out = env
        .cmd()
        .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
        .env("PARTNER_CENTER_BASE_URL", sb.url())
        .args(["check", "--all-customers"])
        .assert()
        .code(3)
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    for want in [
        "pages          2",
        "listed         501",
        "customers      500",
        "invalid        1",
        "position 2: not a GUID",
        &listed_customer(1).company_profile.company_name,
        &listed_customer(1).id,
        "… and 481 more",
    ] {
        assert!(text.contains(want), "{want:?} missing from:\n{text}");
    }
    assert_eq!(list_requests(&sb).len(), 2);
    assert!(sb.customer_requests().is_empty(), "check looks nothing up");
    assert!(!env.out().exists());
}

#[test]
fn the_built_in_sandbox_lists_250_customers() {
    let env = Env::new();
    env.cmd()
        .args(["run", "--sandbox", "--all-customers", "--quiet", "--out"])
        .arg(env.out())
        .args(["--rate", "5000", "--concurrency", "32"])
        .assert()
        .code(expected_exit(250, None));
    assert_report_lists(&env, 250, None);
    assert_eq!(env.summary()["input"]["pages"], 1);
}

#[test]
fn input_and_all_customers_exclude_each_other() {
    let env = Env::new();
    let input = env.write("in.csv", "customer_tenant_id\n");
    env.cmd()
        .args([
            "run",
            "--sandbox",
            "--all-customers",
            "--out",
            "o",
            "--input",
        ])
        .arg(&input)
        .assert()
        .code(2);
    let cfg = env.write("q.toml", "all-customers = true\ninput = \"in.csv\"\n");
    let out = env
        .cmd()
        .args(["run", "--sandbox", "--out", "o", "--config"])
        .arg(&cfg)
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("all-customers"));
    assert!(!env.path("o").exists());
}

/// A server whose every API answer is this one page of customers.
fn page_with_next(next_uri: &str, token: &str) -> String {
    serde_json::json!({
        "totalCount": 1,
        "items": [{"id": listed_customer(1).id, "companyProfile": {"companyName": "Loop Ltd", "domain": "loop.example"}}],
        "links": {"next": {"uri": next_uri, "method": "GET",
                           "headers": [{"key": "MS-ContinuationToken", "value": token}]}},
        "attributes": {"objectType": "Collection"}
    })
    .to_string()
}

fn run_against_hostile(env: &Env, server: &Hostile) -> std::process::Output {
    env.cmd()
        .env("PARTNER_CENTER_TOKEN", "t")
        .args(["run", "--all-customers", "--quiet", "--out"])
        .arg(env.out())
        .args(["--base-url", &server.url(), "--rate", "1000"])
        .assert()
        .code(1)
        .get_output()
        .clone()
}

#[test]
fn a_server_that_pages_in_a_loop_is_stopped() {
    let server = Hostile::start(
        hostile::Answer::Open,
        hostile::Answer::Json(page_with_next(
            "/customers?size=500&seekOperation=Next",
            "same",
        )),
    );
    let env = Env::new();
    let out = run_against_hostile(&env, &server);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("same continuation token"), "{err}");
    let api = server.api_requests();
    assert_eq!(api.len(), 2, "the repeated page is read once");
    assert_eq!(api[1].path, "/v1/customers?size=500&seekOperation=Next");
    assert_eq!(api[1].header("ms-continuationtoken"), Some("same"));
    assert!(!env.out().join("summary.json").exists());
}

#[test]
fn a_next_link_to_another_host_is_not_followed() {
    let elsewhere = Hostile::start_second(hostile::Answer::Open, hostile::Answer::Open);
    let server = Hostile::start(
        hostile::Answer::Open,
        hostile::Answer::Json(page_with_next(
            &format!("{}/v1/customers", elsewhere.url()),
            "t2",
        )),
    );
    let env = Env::new();
    let out = run_against_hostile(&env, &server);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("next link of page 1 is unusable"), "{err}");
    assert!(elsewhere.journal().is_empty(), "the token went elsewhere");
    assert_eq!(server.api_requests().len(), 1);
}

#[test]
fn resume_lists_again_and_refuses_a_list_that_changed() {
    let sb = TestSandbox::start(listing(40));
    let env = Env::new();
    let exit = expected_exit(40, None);
    run_all(&env, &sb, &[]).assert().code(exit);
    // `failed` rows are not final: a resumed run asks for them again.
    let failed = env
        .rows()
        .iter()
        .filter(|r| r["lookup_status"] == "failed")
        .count();
    let before = sb.customer_requests().len();
    run_all(&env, &sb, &["--resume"]).assert().code(exit);
    assert_eq!(list_requests(&sb).len(), 2, "the list is read again");
    assert_eq!(sb.customer_requests().len() - before, failed);
    assert_eq!(env.summary()["lookups"]["resumed"], 40 - failed as u64);
    assert_report_lists(&env, 40, None);

    // One more customer since: the list's sha256 differs from the journal's.
    let other = TestSandbox::start(listing(41));
    let out = run_all(&env, &other, &["--resume"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    assert!(String::from_utf8_lossy(&out.stderr).contains("the input changed"));
    assert!(other.customer_requests().is_empty(), "nothing looked up");
}

#[test]
fn check_takes_the_connection_flags_run_takes() {
    let sb = TestSandbox::start(listing(3));
    let env = Env::new();
    let out = env
        .cmd()
        .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
        .args(["check", "--all-customers", "--base-url", &sb.url()])
        .assert()
        .code(0)
        .get_output()
        .clone();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("listed         3"), "{text}");
    assert_eq!(list_requests(&sb).len(), 1);
    assert!(sb.customer_requests().is_empty(), "check looks nothing up");
}

/// A signal while a list page hangs acts at once (within a second, like
/// everywhere else), not when the request times out: nothing has been
/// looked up, so there is nothing to let finish.
#[test]
fn sigterm_while_a_list_page_hangs_exits_at_once() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        latency_min: std::time::Duration::from_secs(120),
        latency_max: std::time::Duration::from_secs(120),
        ..listing(10)
    });
    let mut child = env
        .std_cmd()
        .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
        .args(["run", "--all-customers", "--out"])
        .arg(env.out())
        .args(["--base-url", &sb.url(), "--request-timeout", "100s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn qualrecon");
    let start = std::time::Instant::now();
    while list_requests(&sb).is_empty() {
        assert!(
            start.elapsed().as_secs() < 60,
            "the list was never asked for"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    common::send_signal(&child, "-TERM");
    let status = common::exit_within(&mut child, std::time::Duration::from_secs(5));
    assert_eq!(status.code(), Some(143));
    assert!(sb.customer_requests().is_empty());
}

/// A Retry-After beyond `--max-wait` on a list page stops the run before
/// any lookup, and says when to run again; not `--resume`, since a run
/// stopped while listing leaves no journal to resume.
#[test]
fn a_retry_after_beyond_max_wait_while_listing_says_when_to_run_again() {
    let sb = TestSandbox::start(SandboxConfig {
        list_faults: vec![ListFault {
            page: 1,
            status: 429,
        }],
        ..listing(3)
    });
    let env = Env::new();
    let err = refused_before_any_lookup(&env, &sb, &["--max-wait", "500ms"]);
    assert!(
        err.contains("a Retry-After beyond --max-wait while listing the customers")
            && err.contains("asked to be called again at")
            && err.contains("run again then"),
        "{err}"
    );
    assert!(!err.contains("--resume"), "{err}");
    assert!(sb.customer_requests().is_empty());
}

/// An empty list is refused like an empty input file: nothing written, so
/// a weekly job's `last` report is not replaced by one without customers.
#[test]
fn an_empty_customer_list_is_refused_and_nothing_is_written() {
    let sb = TestSandbox::start(listing(0));
    let env = Env::new();
    let err = refused_before_any_lookup(&env, &sb, &[]);
    assert!(err.contains("listed no customers at all"), "{err}");
    assert!(sb.customer_requests().is_empty());
    assert!(!env.out().join("summary.json").exists());
    assert!(!env.out().join("qualifications.csv").exists());
}
