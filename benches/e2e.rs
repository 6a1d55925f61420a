//! End-to-end bench: the release binary against `qualrecon sandbox`, each
//! in its own process, one row per scenario of the README's Performance table.
//!
//!     cargo bench --bench e2e                    # every scenario
//!     cargo bench --bench e2e -- paced volume    # some of them, by name
//!     QUALRECON_BENCH_IDS=20000 cargo bench --bench e2e -- volume
//!
//! Scenarios: `volume` (100,000 ids, or `QUALRECON_BENCH_IDS`, at `--rate
//! 100000 --concurrency 64`, every report format, no latency),
//! `throttled-60`, `throttled-200`, `throttled-1000` (2,000 ids against a
//! server that admits 50/s, burst 10, `Retry-After: 1`, from three starting
//! rates), `throttled-window` (the same from 200/s against a sliding window
//! of 50 requests a second, as Azure API Management limits) and `paced` (1,000 ids at `--rate 200`, 2 % of tenants flaky for
//! one or two attempts, 0.8 % broken for good). Latency 5–40 ms except in
//! `volume`.
//!
//! Columns, from the sandbox's journal (what the server saw), the client's
//! summary.json and its rusage:
//! - **wall s**: the client process, start to exit.
//! - **pace**: (first request → the last customer's first attempt) ÷
//!   (requests in that span ÷ the rate that bounds it: `--rate` or what
//!   the server admits). 1.00 is perfect; the tail of retries for
//!   customers that keep failing is left out.
//! - **tail s**: last request − the last customer's first attempt.
//! - **requests, 429s, retries**: from summary.json.
//! - **peak RSS MB**: the client's `ru_maxrss` (wait4).
//! - **CPU µs/lookup**: the client's user + system time ÷ ids.
//! - **sandbox CPU %**: the sandbox's user + system time ÷ the client's
//!   wall time: far below 100 %, the sandbox was never the bottleneck.
//! - **max/s**: the most requests that arrived in any one second (never
//!   above `--rate`); **in RA**: requests that arrived inside a
//!   Retry-After window announced earlier, allowing 50 ms for requests
//!   already on the wire (always 0).
//!
//! The sandbox alone serves over 20,000 requests/s on one core; to measure
//! it, `qualrecon sandbox --port 0` and, with wrk from Debian,
//! `wrk -t1 -c32 -d8s -s benches/wrk_ids.lua http://127.0.0.1:PORT`.
//!
//! Nothing here asserts on speed: the figures go in the README.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use qualrecon::pacer::max_in_one_second;
use qualrecon::sandbox::{Answer, STATIC_TOKEN, ids_for};
use uuid::Uuid;

const BIN: &str = env!("CARGO_BIN_EXE_qualrecon");

/// One row of the table.
struct Scenario {
    name: &'static str,
    ids: usize,
    /// Every id answered with an approval (so failures are the scenario's),
    /// or the sandbox's whole answer mix.
    approved_only: bool,
    rate: f64,
    concurrency: u32,
    /// What the server admits per second, if it limits at all, and its
    /// burst (`None`: a sliding one-second window).
    limit: Option<(f64, Option<f64>)>,
    sandbox: Vec<&'static str>,
    /// Journal every request in the sandbox (needed for the pace).
    journal: bool,
}

fn scenarios() -> Vec<Scenario> {
    let volume_ids = std::env::var("QUALRECON_BENCH_IDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let latency = ["--latency-ms", "5..40"];
    let throttled = |name, rate| Scenario {
        name,
        ids: 2000,
        approved_only: true,
        rate,
        concurrency: 16,
        limit: Some((50.0, Some(10.0))),
        sandbox: [
            &latency[..],
            &[
                "--scenario",
                "throttle",
                "--throttle-rate",
                "50",
                "--throttle-burst",
                "10",
            ],
        ]
        .concat(),
        journal: true,
    };
    vec![
        Scenario {
            name: "volume",
            ids: volume_ids,
            approved_only: false,
            rate: 100_000.0,
            concurrency: 64,
            limit: None,
            sandbox: vec![],
            journal: false,
        },
        throttled("throttled-60", 60.0),
        throttled("throttled-200", 200.0),
        throttled("throttled-1000", 1000.0),
        Scenario {
            name: "throttled-window",
            limit: Some((50.0, None)),
            sandbox: [&throttled("", 200.0).sandbox[..], &["--throttle-window"]].concat(),
            ..throttled("throttled-window", 200.0)
        },
        Scenario {
            name: "paced",
            ids: 1000,
            approved_only: true,
            rate: 200.0,
            concurrency: 16,
            limit: None,
            sandbox: [
                &latency[..],
                &[
                    "--flaky-per-mille",
                    "20",
                    "--flaky-failures",
                    "2",
                    "--broken-per-mille",
                    "8",
                ],
            ]
            .concat(),
            journal: true,
        },
    ]
}

/// What one scenario came to.
struct Row {
    wall: Duration,
    exit: Option<i32>,
    pace: Option<f64>,
    tail: Option<f64>,
    max_per_second: Option<usize>,
    inside_retry_after: Option<usize>,
    requests: u64,
    throttled: u64,
    retries: u64,
    peak_rss_mb: f64,
    cpu_us_per_lookup: f64,
    sandbox_cpu_share: f64,
}

/// A customer request the sandbox journaled.
struct Arrival {
    /// Seconds since the sandbox started.
    at: f64,
    customer: String,
    /// The end of the Retry-After window this answer announced, if any.
    retry_after_until: Option<f64>,
}

fn read_journal(path: &Path) -> Vec<Arrival> {
    let text = std::fs::read_to_string(path).expect("sandbox journal");
    text.lines()
        .filter_map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("journal line");
            Some(Arrival {
                at: v["at"].as_f64()?,
                customer: v["customer"].as_str()?.to_string(),
                retry_after_until: v["retry_after_until"].as_f64(),
            })
        })
        .collect()
}

/// The most arrivals in any window [t, t + 1 s).
fn most_in_one_second(requests: &[Arrival]) -> usize {
    let at: Vec<Duration> = requests
        .iter()
        .map(|r| Duration::from_secs_f64(r.at))
        .collect();
    max_in_one_second(&at)
}

/// Arrivals inside a Retry-After window announced earlier, allowing 50 ms
/// for requests already on the wire.
fn inside_retry_after(requests: &[Arrival]) -> usize {
    let windows: Vec<(f64, f64)> = requests
        .iter()
        .filter_map(|r| r.retry_after_until.map(|until| (r.at, until)))
        .collect();
    requests
        .iter()
        .filter(|r| {
            windows
                .iter()
                .any(|(from, until)| r.at > from + 0.05 && r.at < *until)
        })
        .count()
}

/// Pace and tail, as defined at the top, from the journal.
fn pace_and_tail(requests: &[Arrival], bound: f64) -> Option<(f64, f64)> {
    let mut first_attempt = std::collections::HashMap::new();
    for r in requests {
        first_attempt
            .entry(r.customer.as_str())
            .and_modify(|t: &mut f64| *t = t.min(r.at))
            .or_insert(r.at);
    }
    let start = requests.iter().map(|r| r.at).reduce(f64::min)?;
    let end = requests.iter().map(|r| r.at).reduce(f64::max)?;
    let last_first = first_attempt.values().copied().reduce(f64::max)?;
    let in_span = requests.iter().filter(|r| r.at <= last_first).count();
    let pace = (last_first - start) / (in_span as f64 / bound);
    Some((pace, end - last_first))
}

/// Start `qualrecon sandbox` and read its URL from the first line it prints.
fn start_sandbox(args: &[&str], journal: Option<&Path>) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(["sandbox", "--port", "0"]).args(args);
    if let Some(path) = journal {
        cmd.arg("--journal").arg(path);
    }
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start qualrecon sandbox");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("piped"))
        .read_line(&mut first)
        .expect("the sandbox's first line");
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first:?}"))
        .to_string();
    (child, url)
}

/// Stop the sandbox as Ctrl-C would, so it writes its journal; its CPU
/// time in seconds.
fn stop_sandbox(child: Child) -> f64 {
    let pid = child.id() as libc::pid_t;
    // SAFETY: the pid is our own child, not yet reaped.
    unsafe { libc::kill(pid, libc::SIGTERM) };
    let (_, usage) = reap(pid);
    cpu_seconds(&usage)
}

/// Run the client to its end; its exit code, wall time and rusage.
fn run_client(mut cmd: Command) -> (Option<i32>, Duration, libc::rusage) {
    let start = Instant::now();
    // Reaped by wait4, which std's `wait` cannot replace: it drops the
    // rusage.
    #[allow(clippy::zombie_processes, reason = "reaped by wait4 below, not by std")]
    let child = cmd.spawn().expect("start qualrecon run");
    let (status, usage) = reap(child.id() as libc::pid_t);
    let wall = start.elapsed();
    let exit = libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status));
    (exit, wall, usage)
}

/// Wait for our child `pid` to end: its wait status and its own rusage.
fn reap(pid: libc::pid_t) -> (i32, libc::rusage) {
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value; wait4 fills it in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; the pointers are to locals.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4 failed");
    (status, usage)
}

/// User + system time.
fn cpu_seconds(usage: &libc::rusage) -> f64 {
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

fn seconds(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn ids(s: &Scenario) -> Vec<Uuid> {
    if s.approved_only {
        return ids_for(Answer::Approved, s.ids);
    }
    let mut rng = fastrand::Rng::with_seed(8);
    (0..s.ids)
        .map(|_| {
            let mut bytes = [0u8; 16];
            rng.fill(&mut bytes);
            uuid::Builder::from_random_bytes(bytes).into_uuid()
        })
        .collect()
}

fn run(s: &Scenario) -> Row {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.csv");
    let mut text = String::from("customer_tenant_id\n");
    for id in ids(s) {
        text.push_str(&id.to_string());
        text.push('\n');
    }
    std::fs::write(&input, text).expect("input");
    let journal = s.journal.then(|| dir.path().join("journal.jsonl"));
    let (sandbox, url) = start_sandbox(&s.sandbox, journal.as_deref());

    let out = dir.path().join("out");
    let mut cmd = Command::new(BIN);
    cmd.arg("run")
        .arg("--input")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .args(["--base-url", &url])
        .args(["--rate", &s.rate.to_string()])
        .args(["--concurrency", &s.concurrency.to_string()])
        // Every report file, as the volume row asks.
        .args(["--format", "csv,json,xlsx,jsonl"])
        .arg("--quiet")
        .env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
        .stdout(std::fs::File::create(dir.path().join("stdout")).expect("stdout file"))
        .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr file"));
    let (exit, wall, usage) = run_client(cmd);
    let sandbox_cpu = stop_sandbox(sandbox);

    let summary: serde_json::Value = std::fs::read_to_string(out.join("summary.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| {
            let err = std::fs::read_to_string(dir.path().join("stderr")).unwrap_or_default();
            panic!("{}: no summary.json (exit {exit:?}): {err}", s.name)
        });
    let lookups = &summary["lookups"];
    let bound = s.limit.map_or(s.rate, |(admits, _)| admits.min(s.rate));
    let arrivals = journal.map(|j| read_journal(&j));
    let timing = arrivals.as_deref().and_then(|a| pace_and_tail(a, bound));
    let cpu = cpu_seconds(&usage);
    Row {
        wall,
        exit,
        pace: timing.map(|t| t.0),
        tail: timing.map(|t| t.1),
        max_per_second: arrivals.as_deref().map(most_in_one_second),
        inside_retry_after: arrivals.as_deref().map(inside_retry_after),
        requests: lookups["requests"].as_u64().unwrap_or(0),
        throttled: lookups["throttled_responses"].as_u64().unwrap_or(0),
        retries: lookups["retries"].as_u64().unwrap_or(0),
        // Linux reports kilobytes.
        peak_rss_mb: usage.ru_maxrss as f64 / 1024.0,
        cpu_us_per_lookup: cpu * 1e6 / s.ids as f64,
        sandbox_cpu_share: sandbox_cpu / wall.as_secs_f64(),
    }
}

/// The machine, for the record.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn main() {
    let wanted: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = scenarios();
    let names: Vec<&str> = all.iter().map(|s| s.name).collect();
    if let Some(unknown) = wanted.iter().find(|w| !names.contains(&w.as_str())) {
        eprintln!("unknown scenario {unknown:?}; one of {names:?}");
        std::process::exit(2);
    }
    println!("qualrecon e2e bench on {}", machine());
    println!();
    println!(
        "| scenario | ids | rate | concurrency | server limit | wall s | pace | tail s | requests | 429s | retries | peak RSS MB | CPU µs/lookup | sandbox CPU % | max/s | in RA | exit |"
    );
    println!(
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    );
    let opt =
        |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    let count = |v: Option<usize>| v.map_or("–".to_string(), |v| v.to_string());
    for s in all
        .iter()
        .filter(|s| wanted.is_empty() || wanted.iter().any(|w| w == s.name))
    {
        let r = run(s);
        let limit = s
            .limit
            .map_or("none".to_string(), |(rate, burst)| match burst {
                Some(burst) => format!("{rate}/s, burst {burst}, Retry-After 1"),
                None => format!("{rate} in any second (sliding window), Retry-After 1"),
            });
        println!(
            "| {} | {} | {} | {} | {limit} | {:.2} | {} | {} | {} | {} | {} | {:.1} | {:.1} | {:.0} | {} | {} | {} |",
            s.name,
            s.ids,
            s.rate,
            s.concurrency,
            r.wall.as_secs_f64(),
            opt(r.pace, 3),
            opt(r.tail, 2),
            r.requests,
            r.throttled,
            r.retries,
            r.peak_rss_mb,
            r.cpu_us_per_lookup,
            100.0 * r.sandbox_cpu_share,
            count(r.max_per_second),
            count(r.inside_retry_after),
            r.exit.map_or("signal".to_string(), |c| c.to_string()),
        );
    }
}
