//! What the handlers share: the configuration, the request journal, the
//! token store, the throttle's bucket and the counters the scenarios need.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, HeaderName, header};
use axum::response::Response;
use uuid::Uuid;

use super::config::{RetryAfterStyle, SandboxConfig};
use super::journal::{Journal, JournalEntry, TokenCheck};
use super::throttle::{TokenBucket, service_unavailable, too_many_requests};
use super::tokens::TokenStore;

pub(super) const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
pub(super) const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
pub(super) const MS_APPLICATION: HeaderName =
    HeaderName::from_static("ms-partnercenter-application");

/// Everything the handlers share.
#[derive(Debug)]
pub(crate) struct AppState {
    pub(crate) cfg: SandboxConfig,
    pub(crate) journal: Journal,
    pub(crate) tokens: TokenStore,
    bucket: Option<Mutex<TokenBucket>>,
    /// Authenticated attempts per tenant, for "fails its first n attempts".
    attempts: Mutex<HashMap<Uuid, u32>>,
    /// Authenticated customer requests overall, for `drop_every`.
    requests: AtomicU64,
    /// Customer requests overall, authenticated or not, for
    /// `revoke_tokens_after`.
    pub(super) arrivals: AtomicU64,
    /// Authenticated customer-list requests per page offset, for `list_faults`.
    pub(super) list_attempts: Mutex<HashMap<u64, u32>>,
    latency: Mutex<fastrand::Rng>,
}

impl AppState {
    pub(crate) fn new(cfg: SandboxConfig, journal: Journal) -> AppState {
        AppState {
            bucket: cfg
                .throttle
                .as_ref()
                .map(|t| Mutex::new(TokenBucket::new(t))),
            latency: Mutex::new(fastrand::Rng::with_seed(cfg.seed)),
            tokens: TokenStore::new(&cfg),
            cfg,
            journal,
            attempts: Mutex::default(),
            requests: AtomicU64::new(0),
            arrivals: AtomicU64::new(0),
            list_attempts: Mutex::default(),
        }
    }

    /// A journal entry for a request arriving now, outcome still open.
    pub(crate) fn entry(
        &self,
        method: &str,
        path: String,
        headers: &HeaderMap,
        token: TokenCheck,
    ) -> JournalEntry {
        let text = |name: &HeaderName| {
            headers
                .get(name)
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        };
        JournalEntry {
            at: self.journal.elapsed(),
            method: method.to_string(),
            path,
            query: None,
            continuation_token: None,
            customer: None,
            request_id: text(&MS_REQUEST_ID),
            correlation_id: text(&MS_CORRELATION_ID),
            application: text(&MS_APPLICATION),
            accept: text(&header::ACCEPT),
            token,
            status: 0,
            outcome: String::new(),
            retry_after_until: None,
            form_keys: Vec::new(),
            grant_type: None,
            assertion: None,
        }
    }

    /// A seeded draw from the configured latency range.
    pub(super) fn latency(&self) -> Duration {
        let (lo, hi) = (self.cfg.latency_min, self.cfg.latency_max);
        if hi <= lo {
            return lo;
        }
        let mut rng = self.latency.lock().unwrap_or_else(PoisonError::into_inner);
        let nanos = rng.u64(lo.as_nanos() as u64..=hi.as_nanos() as u64);
        Duration::from_nanos(nanos)
    }

    /// Take a token from the bucket; `Some(style)` means "refused, answer
    /// 429 announcing the wait this way".
    fn refuse(&self) -> Option<RetryAfterStyle> {
        let (bucket, throttle) = self.bucket.as_ref().zip(self.cfg.throttle.as_ref())?;
        let admitted = bucket
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .try_take(Instant::now());
        (!admitted).then_some(throttle.retry_after)
    }

    /// The gateway throttles before anything else and answers at once:
    /// the 429 (with `entry` completed and journaled), or `None` to go on.
    pub(super) fn refused(&self, entry: &mut JournalEntry) -> Option<Response> {
        let ((response, until), outcome) = match (self.refuse(), self.cfg.maintenance) {
            (Some(style), _) => (too_many_requests(style, entry.at), "throttled"),
            (None, Some(seconds)) => (service_unavailable(seconds, entry.at), "maintenance"),
            (None, None) => return None,
        };
        entry.status = response.status().as_u16();
        entry.outcome = outcome.to_string();
        entry.retry_after_until = until;
        self.journal.push(entry.clone());
        Some(response)
    }

    /// Count an authenticated attempt at `id`; returns (this tenant's
    /// attempt number, the request's number overall), both from 1. Tenants
    /// are only told apart when an answer depends on the attempt (flaky,
    /// slow): otherwise a map entry per tenant would cost a hash per
    /// request and memory that grows with the ids seen.
    pub(super) fn count_attempt(&self, id: Uuid) -> (u32, u64) {
        let nth = self.requests.fetch_add(1, Ordering::SeqCst) + 1;
        if !(self.cfg.flaky || self.cfg.slow) {
            return (1, nth);
        }
        let mut attempts = self.attempts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = attempts.entry(id).or_default();
        *n += 1;
        (*n, nth)
    }
}
