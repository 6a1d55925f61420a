//! How a sandbox behaves: scenario presets and the `qualrecon sandbox`
//! flags, turned into one plain [`SandboxConfig`] that tests may also build
//! field by field (the knobs combine freely).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};

use super::faults::FaultShares;
use super::identity::STATIC_TOKEN;

/// Customers the sandbox lists unless told otherwise.
pub const DEFAULT_CUSTOMERS: u64 = 250;

/// Canned behaviours of the sandbox, for demos, tests and benchmarks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ScenarioName {
    /// Every answer derived from the id; no faults beyond those answers.
    #[default]
    Default,
    /// A token bucket over all customer requests: 429 + Retry-After beyond it.
    Throttle,
    /// Some tenants fail 1–3 times (503, 500, reset, truncated body) before answering.
    Flaky,
    /// Some tenants answer only after a long delay (beyond a short request timeout).
    Slow,
    /// Some tenants always get a broken body (truncated JSON, HTML, empty).
    Malformed,
    /// Tokens live only a few seconds.
    TokenExpiry,
}

/// The flags of `qualrecon sandbox`; [`SandboxConfig::from_args`] turns
/// them into a configuration.
#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    pub port: u16,

    /// Which canned behaviour to serve.
    #[arg(long, value_enum, default_value_t = ScenarioName::Default)]
    pub scenario: ScenarioName,

    /// Added latency per customer request in ms: `N` or a range `MIN..MAX`.
    #[arg(long, value_name = "MS", default_value = "0")]
    pub latency_ms: String,

    /// Seed for every random choice the sandbox makes.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Requests per second the throttle scenario admits.
    #[arg(long, default_value_t = 50.0)]
    pub throttle_rate: f64,

    /// Burst the throttle scenario admits.
    #[arg(long, default_value_t = 10.0)]
    pub throttle_burst: f64,

    /// The throttle scenario counts requests in a sliding one-second
    /// window (at most --throttle-rate of them, no burst), as Azure API
    /// Management's rate-limit does, instead of a token bucket.
    #[arg(long)]
    pub throttle_window: bool,

    /// Lifetime of issued tokens in seconds [default: 3600, 5 in token-expiry].
    #[arg(long)]
    pub token_lifetime: Option<u64>,

    /// How many customers GET /v1/customers lists (ids, names and domains
    /// generated, the same on every start).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_CUSTOMERS)]
    pub customers: u64,

    /// A PEM certificate registered on the sandbox's app: client assertions
    /// signed by its key are accepted (repeatable; a key in the file is ignored).
    #[arg(long, value_name = "FILE")]
    pub client_certificate_public: Vec<PathBuf>,

    /// A refresh token the sandbox's AAD accepts; every redemption answers a
    /// new one, and only the newest is accepted after that.
    #[arg(long, value_name = "TOKEN")]
    pub refresh_token: Option<String>,

    /// Write a self-signed test certificate into DIR and exit:
    /// qualrecon-test.pem (certificate and key, for --client-certificate) and
    /// qualrecon-test.crt (certificate only, for --client-certificate-public).
    #[arg(long, value_name = "DIR")]
    pub make_test_certificate: Option<PathBuf>,

    /// Make this many tenants per thousand flaky (any scenario) [default in
    /// flaky: 100].
    #[arg(long, value_name = "N")]
    pub flaky_per_mille: Option<u64>,

    /// A flaky tenant fails its first 1 to N attempts [default: 3].
    #[arg(long, value_name = "N")]
    pub flaky_failures: Option<u64>,

    /// Tenants per thousand that answer every attempt with the same 500.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub broken_per_mille: u64,

    /// On shutdown, write every request received as JSON lines to FILE
    /// (arrival in seconds, customer, status, outcome), for benches.
    #[arg(long, value_name = "FILE")]
    pub journal: Option<PathBuf>,
}

/// Everything that makes one sandbox behave differently from another.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Shortest added delay before a customer answer.
    pub latency_min: Duration,
    /// Longest added delay before a customer answer (uniform in between).
    pub latency_max: Duration,
    /// Seed for every random choice: latency draws and which tenants are
    /// flaky, slow or malformed.
    pub seed: u64,
    /// A token bucket over all customer requests; `None` admits everything.
    pub throttle: Option<Throttle>,
    /// Down for maintenance: every customer request gets `503 Service
    /// Unavailable` with `Retry-After: n` (seconds). `None`: never.
    pub maintenance: Option<u64>,
    /// About 10 % of tenants fail their first 1–3 attempts (`faults` sets
    /// how many and how often).
    pub flaky: bool,
    /// The shares of flaky tenants (when `flaky` is on) and of tenants
    /// broken for good.
    pub faults: FaultShares,
    /// About 5 % of tenants answer their first attempt only after `slow_delay`.
    pub slow: bool,
    /// How long a slow tenant's first attempt takes.
    pub slow_delay: Duration,
    /// About 5 % of tenants always get a broken answer.
    pub malformed: bool,
    /// Every n-th customer request overall (counted after auth) is reset.
    pub drop_every: Option<u64>,
    /// Lifetime of tokens issued by the AAD endpoints.
    pub token_lifetime: Duration,
    /// How long the AAD endpoints take to answer (a hanging identity
    /// provider). The request is journaled on arrival, before the wait.
    pub token_delay: Duration,
    /// A bearer token accepted without OAuth; `None` accepts issued tokens only.
    pub static_token: Option<String>,
    /// When the n-th customer request arrives (counted before auth, from 1),
    /// every token issued so far is revoked: it and later requests carrying
    /// one get 401. Tokens issued afterwards work; the static token is not
    /// affected. `None` never revokes.
    pub revoke_tokens_after: Option<u64>,
    /// How many customers `GET /v1/customers` lists (see
    /// [`listed_customer`](super::listed_customer)).
    pub customers: u64,
    /// The customer at this 1-based list position is listed with an id that
    /// is not a GUID (a cut-off one), as a damaged record would be.
    pub list_invalid_id_at: Option<u64>,
    /// Faults of the customer list, each answered once, in order, instead
    /// of the page it names.
    pub list_faults: Vec<ListFault>,
    /// Certificates (DER) registered on the app: client assertions signed by
    /// their keys are accepted, like the client secret.
    pub client_certificates: Vec<Vec<u8>>,
    /// The refresh token the refresh grant accepts. Each redemption rotates
    /// it: the answer carries a new one, and only the newest is accepted.
    /// `None` refuses every refresh grant.
    pub refresh_token: Option<String>,
    /// Keep a [`JournalEntry`](super::JournalEntry) per request (tests
    /// read them); off, `journal()` is empty and memory stays flat.
    pub record_journal: bool,
}

/// One failed answer of the customer list: the `n`-th fault naming a page
/// answers that page's `n`-th request; later requests get the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListFault {
    /// 1-based page number (by offset and the requested size).
    pub page: u64,
    /// 429 (with `Retry-After: 1`), 5xx (gateway body) or any 4xx (`ApiFault`).
    pub status: u16,
}

/// A token bucket shared by all customer requests, like the per-partner
/// limit of the real API gateway.
#[derive(Debug, Clone, PartialEq)]
pub struct Throttle {
    /// Tokens added per second.
    pub rate: f64,
    /// Bucket size: how many requests may arrive at once after a quiet spell.
    pub burst: f64,
    /// How a 429 announces when to come back.
    pub retry_after: RetryAfterStyle,
    /// Count requests in a sliding one-second window (at most `rate` of
    /// them; `burst` unused) instead of a token bucket.
    pub window: bool,
}

/// The `Retry-After` header on a 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfterStyle {
    /// `Retry-After: n` (what Partner Center documents).
    Seconds(u64),
    /// An IMF-fixdate `n` seconds ahead.
    HttpDate(u64),
    /// No header at all; the client must back off on its own.
    Missing,
}

impl RetryAfterStyle {
    /// The announced wait in whole seconds, if any.
    pub fn seconds(self) -> Option<u64> {
        match self {
            RetryAfterStyle::Seconds(n) | RetryAfterStyle::HttpDate(n) => Some(n),
            RetryAfterStyle::Missing => None,
        }
    }
}

impl Default for Throttle {
    /// The `throttle` scenario: 50 requests per second, bursts of 10,
    /// `Retry-After: 1`.
    fn default() -> Self {
        Throttle {
            rate: 50.0,
            burst: 10.0,
            retry_after: RetryAfterStyle::Seconds(1),
            window: false,
        }
    }
}

impl Default for SandboxConfig {
    /// The `default` scenario: no faults, no latency, hour-long tokens, the
    /// static token accepted.
    fn default() -> Self {
        SandboxConfig {
            latency_min: Duration::ZERO,
            latency_max: Duration::ZERO,
            seed: 1,
            throttle: None,
            maintenance: None,
            flaky: false,
            faults: FaultShares::default(),
            slow: false,
            slow_delay: Duration::from_secs(3),
            malformed: false,
            drop_every: None,
            token_lifetime: Duration::from_secs(3600),
            token_delay: Duration::ZERO,
            static_token: Some(STATIC_TOKEN.to_string()),
            revoke_tokens_after: None,
            customers: DEFAULT_CUSTOMERS,
            list_invalid_id_at: None,
            list_faults: Vec::new(),
            client_certificates: Vec::new(),
            refresh_token: None,
            record_journal: true,
        }
    }
}

impl SandboxConfig {
    /// The preset of a named scenario.
    pub fn for_scenario(s: ScenarioName) -> Self {
        let base = SandboxConfig::default();
        match s {
            ScenarioName::Default => base,
            ScenarioName::Throttle => SandboxConfig {
                throttle: Some(Throttle::default()),
                ..base
            },
            ScenarioName::Flaky => SandboxConfig {
                flaky: true,
                drop_every: Some(50),
                ..base
            },
            ScenarioName::Slow => SandboxConfig { slow: true, ..base },
            ScenarioName::Malformed => SandboxConfig {
                malformed: true,
                ..base
            },
            ScenarioName::TokenExpiry => SandboxConfig {
                token_lifetime: Duration::from_secs(5),
                ..base
            },
        }
    }

    /// The scenario preset with the command's flags applied.
    pub fn from_args(a: &SandboxArgs) -> anyhow::Result<Self> {
        let mut cfg = SandboxConfig::for_scenario(a.scenario);
        (cfg.latency_min, cfg.latency_max) =
            parse_latency(&a.latency_ms).context("invalid --latency-ms")?;
        cfg.seed = a.seed;
        cfg.customers = a.customers;
        if let Some(throttle) = &mut cfg.throttle {
            if !(a.throttle_rate.is_finite() && a.throttle_rate > 0.0) {
                bail!(
                    "--throttle-rate must be a number > 0, got {}",
                    a.throttle_rate
                );
            }
            if !(a.throttle_burst.is_finite() && a.throttle_burst >= 1.0) {
                bail!(
                    "--throttle-burst must be a number >= 1, got {}",
                    a.throttle_burst
                );
            }
            throttle.rate = a.throttle_rate;
            throttle.burst = a.throttle_burst;
            throttle.window = a.throttle_window;
        }
        if let Some(per_mille) = a.flaky_per_mille {
            if per_mille > 1000 {
                bail!("--flaky-per-mille must be at most 1000, got {per_mille}");
            }
            cfg.flaky = true;
            cfg.faults.flaky_per_mille = per_mille;
        }
        if let Some(n) = a.flaky_failures {
            if !(1..=8).contains(&n) {
                bail!("--flaky-failures must be between 1 and 8, got {n}");
            }
            cfg.faults.flaky_failures = n;
        }
        if a.broken_per_mille > 1000 {
            bail!(
                "--broken-per-mille must be at most 1000, got {}",
                a.broken_per_mille
            );
        }
        cfg.faults.broken_per_mille = a.broken_per_mille;
        if let Some(secs) = a.token_lifetime {
            if secs == 0 {
                bail!("--token-lifetime must be at least 1 second");
            }
            cfg.token_lifetime = Duration::from_secs(secs);
        }
        for path in &a.client_certificate_public {
            cfg.client_certificates.extend(
                super::testcert::read_certificates(path)
                    .context("invalid --client-certificate-public")?,
            );
        }
        if let Some(token) = &a.refresh_token {
            if token.trim().is_empty() {
                bail!("--refresh-token must not be empty");
            }
            cfg.refresh_token = Some(token.trim().to_string());
        }
        Ok(cfg)
    }
}

/// `N` or `MIN..MAX` milliseconds.
pub(crate) fn parse_latency(text: &str) -> anyhow::Result<(Duration, Duration)> {
    let ms = |s: &str| -> anyhow::Result<Duration> {
        let n: u64 = s
            .trim()
            .parse()
            .with_context(|| format!("`{s}` is not a whole number of milliseconds"))?;
        Ok(Duration::from_millis(n))
    };
    match text.split_once("..") {
        None => {
            let d = ms(text)?;
            Ok((d, d))
        }
        Some((lo, hi)) => {
            let (lo, hi) = (ms(lo)?, ms(hi)?);
            if lo > hi {
                bail!("`{text}`: the minimum is larger than the maximum");
            }
            Ok((lo, hi))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn args(extra: &[&str]) -> SandboxArgs {
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            a: SandboxArgs,
        }
        let argv = std::iter::once("sandbox").chain(extra.iter().copied());
        Wrap::try_parse_from(argv).unwrap().a
    }

    #[test]
    fn latency_forms() {
        let ms = Duration::from_millis;
        assert_eq!(parse_latency("0").unwrap(), (ms(0), ms(0)));
        assert_eq!(parse_latency("25").unwrap(), (ms(25), ms(25)));
        assert_eq!(parse_latency("10..200").unwrap(), (ms(10), ms(200)));
        for bad in ["", "x", "5..", "..5", "200..10", "-1", "1.5"] {
            assert!(parse_latency(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scenarios_and_flags() {
        let cfg = SandboxConfig::from_args(&args(&[
            "--scenario",
            "throttle",
            "--throttle-rate",
            "5",
            "--latency-ms",
            "1..3",
        ]))
        .unwrap();
        let t = cfg.throttle.unwrap();
        assert_eq!((t.rate, t.burst), (5.0, 10.0));
        assert_eq!(t.retry_after, RetryAfterStyle::Seconds(1));
        assert_eq!(cfg.latency_max, Duration::from_millis(3));

        let cfg = SandboxConfig::from_args(&args(&["--scenario", "token-expiry"])).unwrap();
        assert_eq!(cfg.token_lifetime, Duration::from_secs(5));
        let cfg = SandboxConfig::from_args(&args(&["--token-lifetime", "9"])).unwrap();
        assert_eq!(cfg.token_lifetime, Duration::from_secs(9));
        assert_eq!(cfg.customers, DEFAULT_CUSTOMERS);
        let cfg = SandboxConfig::from_args(&args(&["--customers", "1234"])).unwrap();
        assert_eq!(cfg.customers, 1234);

        let cfg = SandboxConfig::from_args(&args(&[
            "--latency-ms",
            "5..40",
            "--flaky-per-mille",
            "20",
            "--flaky-failures",
            "2",
            "--broken-per-mille",
            "8",
        ]))
        .unwrap();
        assert!(cfg.flaky && cfg.drop_every.is_none());
        assert_eq!(
            cfg.faults,
            FaultShares {
                flaky_per_mille: 20,
                flaky_failures: 2,
                broken_per_mille: 8
            }
        );

        let flaky = SandboxConfig::for_scenario(ScenarioName::Flaky);
        assert!(flaky.flaky && flaky.drop_every == Some(50));
        assert!(SandboxConfig::for_scenario(ScenarioName::Slow).slow);
        assert!(SandboxConfig::for_scenario(ScenarioName::Malformed).malformed);

        for bad in [
            &["--scenario", "throttle", "--throttle-rate", "0"][..],
            &["--scenario", "throttle", "--throttle-burst", "0.5"],
            &["--token-lifetime", "0"],
            &["--latency-ms", "abc"],
            &["--flaky-per-mille", "1001"],
            &["--flaky-failures", "0"],
            &["--broken-per-mille", "2000"],
        ] {
            assert!(SandboxConfig::from_args(&args(bad)).is_err(), "{bad:?}");
        }
    }
}
