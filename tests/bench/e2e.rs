//! End-to-end benchmark: the release binary against the in-process sandbox,
//! measured from the sandbox's request journal.
//!
//!     cargo bench --bench e2e               # every scenario
//!     cargo bench --bench e2e -- pacing     # one of: pacing throttle token flaky
//!
//! Prints wall time, requests, the most requests seen in any one-second
//! window, 429s, and the row/summary checks. Figures go in the README.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;
use std::time::{Duration, Instant};

use qualrecon::sandbox::{
    JournalEntry, RetryAfterStyle, STATIC_TOKEN, Sandbox, SandboxConfig, Throttle,
};
use uuid::Uuid;

/// Ids the sandbox answers with a plain approval, so every failure the
/// bench reports is the scenario's doing, not the answer mix.
fn ids(n: usize, skip: usize) -> Vec<Uuid> {
    qualrecon::sandbox::ids_for(qualrecon::sandbox::Answer::Approved, n + skip).split_off(skip)
}

fn max_in_one_second(times: &[Duration]) -> usize {
    let mut sorted = times.to_vec();
    sorted.sort();
    let (mut best, mut lo) = (0, 0);
    for hi in 0..sorted.len() {
        while sorted[hi] - sorted[lo] >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

struct Outcome {
    wall: Duration,
    exit: i32,
    journal: Vec<JournalEntry>,
    rows: Vec<HashMap<String, String>>,
    summary: serde_json::Value,
}

fn run(
    rt: &tokio::runtime::Runtime,
    cfg: SandboxConfig,
    ids: &[Uuid],
    args: &[&str],
    oauth: bool,
) -> Outcome {
    let sb = rt.block_on(Sandbox::start(cfg)).expect("sandbox");
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.csv");
    let mut text = String::from("customer_tenant_id\n");
    for id in ids {
        text.push_str(&format!("{id}\n"));
    }
    std::fs::write(&input, text).unwrap();
    let out = dir.path().join("out");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_qualrecon"));
    cmd.arg("run")
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .arg("--base-url")
        .arg(sb.base_url())
        .args(args)
        .arg("--quiet");
    if oauth {
        cmd.env(
            "PARTNER_CENTER_CLIENT_SECRET",
            qualrecon::sandbox::CLIENT_SECRET,
        )
        .args([
            "--authority",
            &sb.base_url(),
            "--tenant",
            qualrecon::sandbox::TENANT,
            "--client-id",
            qualrecon::sandbox::CLIENT_ID,
        ]);
    } else {
        cmd.env("PARTNER_CENTER_TOKEN", STATIC_TOKEN);
    }
    let start = Instant::now();
    let status = cmd.status().expect("run qualrecon");
    let wall = start.elapsed();
    let journal = sb.journal();
    rt.block_on(sb.shutdown());
    let mut r = csv::Reader::from_path(out.join("qualifications.csv")).unwrap();
    let headers = r.headers().unwrap().clone();
    let rows = r
        .records()
        .map(|rec| {
            headers
                .iter()
                .map(str::to_string)
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect();
    let summary =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    Outcome {
        wall,
        exit: status.code().unwrap_or(-1),
        journal,
        rows,
        summary,
    }
}

fn report(name: &str, o: &Outcome, ids: &[Uuid]) {
    let customer: Vec<&JournalEntry> = o.journal.iter().filter(|e| e.customer.is_some()).collect();
    let times: Vec<Duration> = customer.iter().map(|e| e.at).collect();
    let throttled = customer.iter().filter(|e| e.status == 429).count();
    let in_window = violations(&customer);
    let covered: BTreeSet<&str> = o
        .rows
        .iter()
        .map(|r| r["customer_tenant_id"].as_str())
        .collect();
    let mut statuses: HashMap<&str, usize> = HashMap::new();
    for r in &o.rows {
        *statuses.entry(r["lookup_status"].as_str()).or_default() += 1;
    }
    println!(
        "{name}: {} ids, wall {:.2} s, exit {}, {} customer requests, max {} in any 1 s window, {} × 429 ({:.1}%), {} requests inside an announced Retry-After window, every id in report: {}, row statuses {:?}, summary ok {} failed {}",
        ids.len(),
        o.wall.as_secs_f64(),
        o.exit,
        customer.len(),
        max_in_one_second(&times),
        throttled,
        100.0 * throttled as f64 / customer.len().max(1) as f64,
        in_window,
        ids.iter()
            .all(|id| covered.contains(id.to_string().as_str())),
        statuses,
        o.summary["lookups"]["ok"],
        o.summary["lookups"]["failed_lookups"],
    );
}

/// Requests that arrived inside a Retry-After window announced by an
/// earlier 429, allowing 50 ms for requests already on the wire.
fn violations(entries: &[&JournalEntry]) -> usize {
    let grace = Duration::from_millis(50);
    let windows: Vec<(Duration, Duration)> = entries
        .iter()
        .filter_map(|e| e.retry_after_until.map(|until| (e.at, until)))
        .collect();
    entries
        .iter()
        .filter(|e| {
            windows
                .iter()
                .any(|(from, until)| e.at > *from + grace && e.at < *until)
        })
        .count()
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wants = |n: &str| which.is_empty() || which.iter().any(|w| w == n);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let latency = SandboxConfig {
        latency_min: Duration::from_millis(5),
        latency_max: Duration::from_millis(40),
        ..SandboxConfig::default()
    };

    if wants("pacing") {
        let ids = ids(1000, 0);
        let o = run(
            &rt,
            SandboxConfig { ..latency.clone() },
            &ids,
            &["--rate", "200", "--concurrency", "16"],
            false,
        );
        report(
            "pacing (1000 ids, --rate 200, --concurrency 16, latency 5-40 ms; ideal 5.0 s)",
            &o,
            &ids,
        );
    }
    if wants("throttle") {
        let ids = ids(2000, 1000);
        let cfg = SandboxConfig {
            throttle: Some(Throttle {
                rate: 50.0,
                burst: 10.0,
                retry_after: RetryAfterStyle::Seconds(1),
            }),
            ..latency.clone()
        };
        let o = run(
            &rt,
            cfg,
            &ids,
            &["--rate", "200", "--concurrency", "16"],
            false,
        );
        report(
            "throttle (2000 ids, --rate 200, server admits 50/s burst 10, Retry-After 1; limit 50.0 s)",
            &o,
            &ids,
        );
    }
    if wants("token") {
        for endpoint in ["v2", "v1"] {
            let ids = ids(1500, 3000);
            let cfg = SandboxConfig {
                token_lifetime: Duration::from_secs(5),
                ..latency.clone()
            };
            let o = run(
                &rt,
                cfg,
                &ids,
                &[
                    "--rate",
                    "200",
                    "--concurrency",
                    "16",
                    "--token-endpoint",
                    endpoint,
                ],
                true,
            );
            let expired = o
                .journal
                .iter()
                .filter(|e| e.customer.is_some() && e.status == 401)
                .count();
            let tokens = o
                .journal
                .iter()
                .filter(|e| e.customer.is_none() && e.status == 200)
                .count();
            report(
                &format!("token-expiry {endpoint} (1500 ids, 5 s tokens)"),
                &o,
                &ids,
            );
            println!("  tokens issued {tokens}, customer requests answered 401: {expired}");
        }
    }
    if wants("flaky") {
        let ids = ids(500, 4500);
        let cfg = SandboxConfig {
            flaky: true,
            slow: true,
            malformed: true,
            drop_every: Some(50),
            ..latency.clone()
        };
        let o = run(
            &rt,
            cfg,
            &ids,
            &[
                "--rate",
                "100",
                "--concurrency",
                "16",
                "--request-timeout",
                "1s",
            ],
            false,
        );
        report(
            "flaky+slow+malformed (500 ids, drops every 50th request, --request-timeout 1s)",
            &o,
            &ids,
        );
    }
}
