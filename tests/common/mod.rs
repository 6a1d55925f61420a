//! Test harness: a temp folder per test, the binary, and the sandbox started
//! in this process on port 0 so tests can read its request journal.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the shared harness"
)]

pub(crate) mod hostile;
pub(crate) mod xlsx;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use qualrecon::api::ApiClient;
use qualrecon::auth::{Credentials, TokenProvider};
use qualrecon::lookup::{Lookup, LookupSettings, Stop};
use qualrecon::pacer::Pacer;
use qualrecon::sandbox::{
    Answer, CLIENT_ID, CLIENT_SECRET, JournalEntry, RetryAfterStyle, STATIC_TOKEN, Sandbox,
    SandboxConfig, TENANT, Throttle, ids_for,
};
use tempfile::TempDir;
use uuid::Uuid;

/// Environment variables a developer's shell might carry into a test.
const INHERITED: [&str; 12] = [
    "PARTNER_CENTER_TOKEN",
    "PARTNER_CENTER_BASE_URL",
    "PARTNER_CENTER_TENANT",
    "PARTNER_CENTER_CLIENT_ID",
    "PARTNER_CENTER_CLIENT_SECRET",
    "PARTNER_CENTER_CLIENT_CERTIFICATE",
    "PARTNER_CENTER_CERTIFICATE_PASSWORD",
    "PARTNER_CENTER_REFRESH_TOKEN",
    "PARTNER_CENTER_AUTHORITY",
    "QUALRECON_CONFIG",
    "RUST_LOG",
    "HTTP_PROXY",
];

/// A temp folder with an input and an output folder.
pub(crate) struct Env {
    pub dir: TempDir,
}

impl Env {
    pub(crate) fn new() -> Env {
        Env {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Write a file into the temp folder.
    pub(crate) fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, contents).expect("write test file");
        p
    }

    pub(crate) fn out(&self) -> PathBuf {
        self.path("out")
    }

    /// The binary as a plain child process (for tests that signal or
    /// measure it), with a clean environment, in the temp folder.
    pub(crate) fn std_cmd(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("qualrecon"));
        for k in INHERITED {
            c.env_remove(k);
        }
        c.env_remove("HTTPS_PROXY").env_remove("ALL_PROXY");
        c.current_dir(self.dir.path());
        c
    }

    /// [`Env::std_cmd`] for `qualrecon run` over `input`, writing to
    /// `out()`: the test adds the server and the credentials.
    pub(crate) fn std_run(&self, input: &Path) -> std::process::Command {
        let mut c = self.std_cmd();
        c.arg("run")
            .arg("--input")
            .arg(input)
            .arg("--out")
            .arg(self.out());
        c
    }

    /// The binary with a clean environment.
    pub(crate) fn cmd(&self) -> assert_cmd::Command {
        asserted(self.std_cmd())
    }

    /// [`Env::std_run`], to assert on.
    pub(crate) fn run(&self, input: &Path) -> assert_cmd::Command {
        asserted(self.std_run(input))
    }

    /// `qualrecon run` against `sb` with the static token, writing to `out()`.
    pub(crate) fn run_against(
        &self,
        sb: &TestSandbox,
        input: &Path,
        extra: &[&str],
    ) -> assert_cmd::Command {
        let mut c = self.run(input);
        c.env("PARTNER_CENTER_TOKEN", STATIC_TOKEN)
            .arg("--base-url")
            .arg(sb.url())
            .args(["--rate", "200", "--concurrency", "8"])
            .args(extra);
        c
    }

    /// `qualrecon run --sandbox` (the built-in sandbox, no network) over
    /// `input`, writing to `out()`.
    pub(crate) fn sandbox_run(&self, input: &Path, extra: &[&str]) -> assert_cmd::Command {
        let mut c = self.run(input);
        c.arg("--sandbox").args(extra);
        c
    }

    pub(crate) fn rows(&self) -> Vec<HashMap<String, String>> {
        read_csv(&self.out().join("qualifications.csv"))
    }

    pub(crate) fn summary(&self) -> serde_json::Value {
        summary_of(&self.out())
    }
}

/// The `summary.json` in the folder `dir`.
pub(crate) fn summary_of(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary is JSON")
}

/// `cmd` to assert on, given up on after 4 minutes.
fn asserted(cmd: std::process::Command) -> assert_cmd::Command {
    let mut c = assert_cmd::Command::from_std(cmd);
    c.timeout(Duration::from_secs(240));
    c
}

/// Rows of a CSV as header → value maps.
pub(crate) fn read_csv(path: &Path) -> Vec<HashMap<String, String>> {
    let mut r = csv::Reader::from_path(path).expect("open csv");
    let headers = r.headers().expect("headers").clone();
    r.records()
        .map(|rec| {
            let rec = rec.expect("record");
            headers
                .iter()
                .map(str::to_string)
                .zip(rec.iter().map(str::to_string))
                .collect()
        })
        .collect()
}

/// The header row of a CSV.
pub(crate) fn csv_header(path: &Path) -> Vec<String> {
    csv::Reader::from_path(path)
        .expect("open csv")
        .headers()
        .expect("headers")
        .iter()
        .map(str::to_string)
        .collect()
}

/// The sandbox on its own runtime, so the test thread can block on the binary.
pub(crate) struct TestSandbox {
    rt: tokio::runtime::Runtime,
    sb: Option<Sandbox>,
}

impl TestSandbox {
    pub(crate) fn start(cfg: SandboxConfig) -> TestSandbox {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let sb = rt.block_on(Sandbox::start(cfg)).expect("sandbox starts");
        TestSandbox { rt, sb: Some(sb) }
    }

    pub(crate) fn url(&self) -> String {
        self.sb.as_ref().expect("running").base_url()
    }

    pub(crate) fn journal(&self) -> Vec<JournalEntry> {
        self.sb.as_ref().expect("running").journal()
    }

    /// The refresh token the sandbox accepts now (the newest it issued).
    pub(crate) fn refresh_token(&self) -> Option<String> {
        self.sb.as_ref().expect("running").refresh_token()
    }

    /// Journal entries of customer requests only.
    pub(crate) fn customer_requests(&self) -> Vec<JournalEntry> {
        self.journal()
            .into_iter()
            .filter(|e| e.customer.is_some())
            .collect()
    }
}

impl Drop for TestSandbox {
    fn drop(&mut self) {
        if let Some(sb) = self.sb.take() {
            self.rt.block_on(sb.shutdown());
        }
    }
}

/// A CSV with a `customer_tenant_id` header and the given ids.
pub(crate) fn id_csv(ids: &[uuid::Uuid]) -> String {
    let mut s = String::from("customer_tenant_id\n");
    for id in ids {
        s.push_str(&id.to_string());
        s.push('\n');
    }
    s
}

/// Requests that arrived inside a window announced earlier (a 429, or a
/// 503, with Retry-After), allowing `grace` for requests already on the wire.
pub(crate) fn inside_retry_after(
    journal: &[JournalEntry],
    grace: std::time::Duration,
) -> Vec<JournalEntry> {
    let windows: Vec<(std::time::Duration, std::time::Duration)> = journal
        .iter()
        .filter_map(|e| e.retry_after_until.map(|until| (e.at, until)))
        .collect();
    journal
        .iter()
        .filter(|e| {
            windows
                .iter()
                .any(|(from, until)| e.at > *from + grace && e.at < *until)
        })
        .cloned()
        .collect()
}

/// The journal's customer requests grouped by customer, in arrival order.
pub(crate) fn by_customer(journal: &[JournalEntry]) -> BTreeMap<uuid::Uuid, Vec<JournalEntry>> {
    let mut m: BTreeMap<uuid::Uuid, Vec<JournalEntry>> = BTreeMap::new();
    for e in journal {
        if let Some(c) = e.customer {
            m.entry(c).or_default().push(e.clone());
        }
    }
    m
}

/// `qualrecon run` against `sb` with OAuth2 client credentials (`secret` in
/// the environment, the sandbox as the authority) at `--rate 100`; add
/// `--tenant` and `--client-id` in `extra`.
pub(crate) fn oauth_run(
    env: &Env,
    sb: &TestSandbox,
    input: &Path,
    secret: &str,
    extra: &[&str],
) -> assert_cmd::Command {
    let mut c = env.run(input);
    c.env("PARTNER_CENTER_CLIENT_SECRET", secret)
        .args([
            "--base-url",
            &sb.url(),
            "--authority",
            &sb.url(),
            "--rate",
            "100",
        ])
        .args(extra);
    c
}

/// The sign-in flags of the sandbox's app: its tenant and client id.
pub(crate) const SIGN_IN: [&str; 4] = ["--tenant", TENANT, "--client-id", CLIENT_ID];

/// [`oauth_run`] as the sandbox's app ([`SIGN_IN`]) with its secret.
pub(crate) fn app_run(
    env: &Env,
    sb: &TestSandbox,
    input: &Path,
    extra: &[&str],
) -> assert_cmd::Command {
    oauth_run(
        env,
        sb,
        input,
        CLIENT_SECRET,
        &[&SIGN_IN[..], extra].concat(),
    )
}

/// `qualrecon run` as a child process against `sb` (static token, output
/// silenced), for tests that signal it.
pub(crate) fn spawn_run(
    env: &Env,
    sb: &TestSandbox,
    input: &Path,
    extra: &[&str],
) -> std::process::Child {
    spawn_with(
        env,
        sb,
        input,
        ("PARTNER_CENTER_TOKEN", STATIC_TOKEN),
        extra,
    )
}

/// [`spawn_run`] with OAuth2 client credentials, the sandbox as authority.
pub(crate) fn spawn_oauth_run(
    env: &Env,
    sb: &TestSandbox,
    input: &Path,
    extra: &[&str],
) -> std::process::Child {
    let url = sb.url();
    let args = [&["--authority", &url][..], &SIGN_IN, extra].concat();
    spawn_with(
        env,
        sb,
        input,
        ("PARTNER_CENTER_CLIENT_SECRET", CLIENT_SECRET),
        &args,
    )
}

fn spawn_with(
    env: &Env,
    sb: &TestSandbox,
    input: &Path,
    (key, value): (&str, &str),
    extra: &[&str],
) -> std::process::Child {
    env.std_run(input)
        .env(key, value)
        .args(["--base-url", &sb.url()])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn qualrecon")
}

/// Block until the sandbox has seen `n` customer requests (at most a minute).
pub(crate) fn wait_for_requests(sb: &TestSandbox, n: usize) {
    let start = std::time::Instant::now();
    while sb.customer_requests().len() < n {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(60),
            "run never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Start a run of `input` against `sb` at 40 requests/s and send it
/// `signal` once it is well under way (at least 40 customers requested);
/// its exit status, which must come within 10 s.
pub(crate) fn signal_under_way(
    env: &Env,
    sb: &TestSandbox,
    input: &Path,
    signal: &str,
) -> std::process::ExitStatus {
    let mut child = spawn_run(env, sb, input, &["--rate", "40"]);
    wait_for_requests(sb, 40);
    send_signal(&child, signal);
    exit_within(&mut child, Duration::from_secs(10))
}

/// Send a signal (`-TERM`, `-INT`) to a child.
pub(crate) fn send_signal(child: &std::process::Child, signal: &str) {
    // The shell's builtin `kill`: no dependency on a procps binary.
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill {signal} {}", child.id())])
        .status()
        .expect("run sh -c kill");
    assert!(status.success(), "kill {signal} failed");
}

/// The child's exit status, which must come within `limit`.
pub(crate) fn exit_within(
    child: &mut std::process::Child,
    limit: std::time::Duration,
) -> std::process::ExitStatus {
    let start = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for child") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running {limit:?} after the signal");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Ids whose default answer is a plain success, so every failure seen is
/// the scenario's doing.
pub(crate) fn approved(n: usize) -> Vec<Uuid> {
    ids_for(Answer::Approved, n)
}

/// The report's rows by customer id; panics on a missing or repeated id.
pub(crate) fn rows_by_id(env: &Env, ids: &[Uuid]) -> HashMap<Uuid, HashMap<String, String>> {
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
pub(crate) fn assert_counts_match(env: &Env, rows: &HashMap<Uuid, HashMap<String, String>>) {
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

/// Every id has exactly one row; returns the rows' `lookup_status` values.
pub(crate) fn one_row_each(env: &Env, ids: &[Uuid]) -> Vec<(Uuid, String, String)> {
    let rows = env.rows();
    assert_eq!(rows.len(), ids.len(), "one row per customer");
    let mut seen: Vec<Uuid> = rows
        .iter()
        .map(|r| Uuid::parse_str(&r["customer_tenant_id"]).expect("a GUID"))
        .collect();
    seen.sort();
    let mut want = ids.to_vec();
    want.sort();
    assert_eq!(seen, want, "every customer has a row");
    rows.iter()
        .map(|r| {
            (
                Uuid::parse_str(&r["customer_tenant_id"]).unwrap(),
                r["lookup_status"].clone(),
                r["error"].clone(),
            )
        })
        .collect()
}

/// How many of [`one_row_each`]'s rows are customers the run never reached.
pub(crate) fn not_reached(rows: &[(Uuid, String, String)]) -> usize {
    rows.iter()
        .filter(|(_, status, error)| status == "failed" && error.starts_with("not looked up"))
        .count()
}

/// A gateway that admits `burst` requests, then (practically) nothing,
/// answering `Retry-After: 3600` to everything beyond.
pub(crate) fn hour_long_throttle(burst: f64) -> SandboxConfig {
    SandboxConfig {
        throttle: Some(Throttle {
            rate: 1e-6,
            burst,
            retry_after: RetryAfterStyle::Seconds(3600),
            window: false,
        }),
        ..SandboxConfig::default()
    }
}

/// The library's lookup machinery against `sb`, without the binary.
pub(crate) fn in_process_lookup(
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

/// Bytes a child printed, as text.
pub(crate) fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Everything a child printed: stdout, then stderr.
pub(crate) fn text(out: &std::process::Output) -> String {
    format!("{}{}", lossy(&out.stdout), lossy(&out.stderr))
}

/// Every file in `dir`, read as text (lossy), joined (a missing folder
/// holds nothing).
pub(crate) fn folder_text(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if let Ok(bytes) = std::fs::read(entry.path()) {
            all.push_str(&lossy(&bytes));
        }
    }
    all
}
