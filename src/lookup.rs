//! Looking up every customer: bounded concurrency, paced dispatch, retries
//! with jittered exponential backoff and a per-run budget, token refresh on
//! 401, and a clean stop (signal, deadline, or a Retry-After beyond
//! `--max-wait`) that lets in-flight requests finish for a moment.
//!
//! Every wait here (a request slot, the pacer, a backoff, a token fetch)
//! is raced against the [`Stop`] switch, so a stop acts at once even while
//! the run sits out an announced Retry-After window.

mod window;

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

use crate::api::{ApiClient, LookupError};
use crate::auth::{AuthError, Token, TokenProvider};
use crate::model::{Qualification, VettingDate, VettingStatus};
use crate::pacer::Pacer;
pub use window::REORDER_WINDOW;
use window::Window;

/// Moved to [`crate::model`], which owns the report's values; named here
/// too for the callers of [`look_up_all`].
pub use crate::model::LookupStatus;

/// How one customer ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The report's `status` column: `ok`, or which way it failed.
    pub status: LookupStatus,
    /// Empty unless `status` is `Ok` (and then possibly empty too).
    pub qualifications: Vec<Qualification>,
    /// Why it is not `Ok`.
    pub error: Option<String>,
    /// HTTP requests sent for this customer.
    pub attempts: u32,
}

impl Outcome {
    /// A failure: `error` may quote what the server sent, so any credential
    /// in it is scrubbed before it reaches the journal and the report.
    fn failed(status: LookupStatus, error: String, attempts: u32) -> Outcome {
        Outcome {
            status,
            qualifications: Vec::new(),
            error: Some(crate::redact::scrub(&error).into_owned()),
            attempts,
        }
    }
}

/// `qualifications` without any credential a server quoted in their text.
fn scrubbed(mut qualifications: Vec<Qualification>) -> Vec<Qualification> {
    fn clean(text: &mut String) {
        let scrubbed = match crate::redact::scrub(text) {
            std::borrow::Cow::Owned(s) => Some(s),
            std::borrow::Cow::Borrowed(_) => None,
        };
        if let Some(s) = scrubbed {
            *text = s;
        }
    }
    for q in &mut qualifications {
        clean(&mut q.qualification);
        if let Some(reason) = &mut q.vetting_reason {
            clean(reason);
        }
        if let VettingStatus::Other(text) = &mut q.vetting_status {
            clean(text);
        }
        if let Some(VettingDate::Raw(text)) = &mut q.vetting_created_date {
            clean(text);
        }
    }
    qualifications
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM (cron, systemd).
    Terminate,
    /// `--deadline` passed.
    Deadline,
    /// The API refused the token for [`UNAUTHORIZED_STREAK`] customers in a
    /// row: every further request would be refused too.
    Unauthorized,
    /// A retryable answer (429, 503, …) carried a `Retry-After` longer than
    /// `--max-wait`: sitting it out would stall the run, and asking earlier
    /// would break the server's request.
    Throttled {
        /// When the server asked to be called again (UTC).
        until: DateTime<Utc>,
    },
}

/// How many customers in a row may end `unauthorized` before the run stops
/// asking: an expired static token (or an app without Partner Center access)
/// would otherwise cost one refused request per remaining customer.
pub const UNAUTHORIZED_STREAK: u64 = 10;

/// A one-shot stop switch shared by the run; the first reason wins.
#[derive(Debug, Clone)]
pub struct Stop {
    tx: Arc<watch::Sender<Option<StopReason>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            tx: Arc::new(watch::channel(None).0),
        }
    }
}

impl Stop {
    /// Ask everything to stop; later reasons do not overwrite the first.
    /// Returns whether this call was the first (its reason stands).
    pub fn request(&self, reason: StopReason) -> bool {
        self.tx.send_if_modified(|r| {
            if r.is_none() {
                *r = Some(reason);
                true
            } else {
                false
            }
        })
    }

    pub(crate) fn reason(&self) -> Option<StopReason> {
        *self.tx.borrow()
    }

    /// Resolves once a stop is requested.
    pub async fn wait(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(Option::is_some).await;
    }
}

/// Longest a 5xx's Retry-After (within `--max-wait`) may hold one
/// customer's retry; one beyond `--max-wait` stops the run instead.
const MAX_SERVER_RETRY_AFTER: Duration = Duration::from_secs(120);

/// Knobs of the retry policy.
///
/// How long a customer waits between attempts depends on the run: while
/// failures are isolated (most recent answers are not), the steps start at
/// `isolated_backoff_base`, and a customer that failed the same way
/// `same_way_attempts` times in a row is given up, as it will most likely
/// fail the same way again; when failures are widespread (an outage), the
/// steps start at `backoff_base` and every customer gets `max_attempts`.
#[derive(Debug, Clone)]
pub struct LookupSettings {
    pub(crate) concurrency: usize,
    /// Attempts per customer for errors other than 429.
    pub max_attempts: u32,
    /// While failures are isolated: attempts after which a customer that
    /// failed the same way every time is given up.
    pub same_way_attempts: u32,
    /// Attempts per customer that may end in 429 before it counts as `throttled`.
    pub max_throttled_attempts: u32,
    /// Retries the whole run may spend; when gone, failures are final.
    pub retry_budget: u64,
    /// First backoff step while failures are widespread (or the run is too
    /// young to tell).
    pub backoff_base: Duration,
    /// First backoff step while failures are isolated.
    pub isolated_backoff_base: Duration,
    /// Longest single backoff step, however many failures came before.
    pub backoff_cap: Duration,
    /// Pause after a 429 that came without Retry-After.
    pub default_throttle_pause: Duration,
    /// How long in-flight requests may finish after a stop.
    pub drain_grace: Duration,
    /// `--max-wait`: the longest `Retry-After` the run sits out; a longer
    /// one stops the run ([`StopReason::Throttled`]).
    pub max_wait: Duration,
    /// Customers that may be started beyond the earliest one not yet
    /// answered ([`REORDER_WINDOW`]).
    pub reorder_window: usize,
}

/// `--max-wait` unless set: ten minutes covers the Retry-After of a
/// throttled partner and short maintenance, while a longer one (an hourly
/// or daily quota) is better met with `--resume` later than by a job that
/// sits idle.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(600);

/// Attempts per customer for errors other than 429: with the outage steps
/// (0.25 → 4 s) they span up to 7.75 s, long enough to ride out a brief
/// gateway hiccup.
const MAX_ATTEMPTS: u32 = 6;
/// Four, not three: a tenant that fails its first three attempts the same
/// way (a 503 three times) and answers the fourth must still end `ok`.
const SAME_WAY_ATTEMPTS: u32 = 4;
/// 429s one customer may meet before it counts as `throttled`: the pacer
/// pauses everyone after each, so twelve means the server kept refusing
/// for well over ten Retry-After windows.
const MAX_THROTTLED_ATTEMPTS: u32 = 12;
/// The run-wide retry budget is one retry per customer, but never fewer
/// than this, so a small run still rides out an outage.
const MIN_RETRY_BUDGET: u64 = 100;
/// First backoff step in an outage (or before the run can tell).
const BACKOFF_BASE: Duration = Duration::from_millis(250);
/// First backoff step while failures are isolated: one bad customer gets
/// its attempts within a tenth of a second, not seconds (the last of them
/// often sets the end of the run).
const ISOLATED_BACKOFF_BASE: Duration = Duration::from_millis(10);
/// Longest backoff step.
const BACKOFF_CAP: Duration = Duration::from_secs(20);
/// Backoff after a 429 that carried no Retry-After (the gateway always
/// sends one; this is for proxies that do not).
const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(2);
/// How long in-flight requests may finish after a stop: a request's answer
/// is usually milliseconds away, and a stop must still feel prompt.
const DRAIN_GRACE: Duration = Duration::from_secs(5);

impl LookupSettings {
    /// Defaults for `customers` customers at `concurrency`.
    pub fn new(concurrency: usize, customers: usize) -> LookupSettings {
        LookupSettings {
            concurrency,
            max_attempts: MAX_ATTEMPTS,
            same_way_attempts: SAME_WAY_ATTEMPTS,
            max_throttled_attempts: MAX_THROTTLED_ATTEMPTS,
            retry_budget: (customers as u64).max(MIN_RETRY_BUDGET),
            backoff_base: BACKOFF_BASE,
            isolated_backoff_base: ISOLATED_BACKOFF_BASE,
            backoff_cap: BACKOFF_CAP,
            default_throttle_pause: DEFAULT_THROTTLE_PAUSE,
            drain_grace: DRAIN_GRACE,
            max_wait: DEFAULT_MAX_WAIT,
            reorder_window: REORDER_WINDOW,
        }
    }
}

/// Request counters for the summary.
#[derive(Debug, Default)]
pub struct Counters {
    pub(crate) requests: AtomicU64,
    /// Requests beyond each customer's (or page's) first: `summary.json`'s
    /// `lookups.retries`.
    pub retries: AtomicU64,
    pub(crate) throttled_responses: AtomicU64,
    budget_used: AtomicU64,
    /// Lookups a stop ended before their answer (never sent, or not
    /// retried): a stop that cut none short changed nothing.
    cut_short: AtomicU64,
    /// Customers in a row that ended `unauthorized`.
    unauthorized_streak: AtomicU64,
}

/// The result of [`look_up_all`]: one slot per id (`None` = never requested
/// because the run stopped first).
#[derive(Debug)]
pub struct Lookups {
    /// In the order of the ids given.
    pub outcomes: Vec<Option<Outcome>>,
    /// What all the lookups sent, retried and were throttled.
    pub counters: Arc<Counters>,
    /// Why the run stopped before every id had its outcome; `None` when
    /// it did not.
    pub stopped: Option<StopReason>,
}

/// How [`look_up_each`] ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) counters: Arc<Counters>,
    pub(crate) stopped: Option<StopReason>,
}

/// Everything a lookup needs, shared by all of them.
pub struct Lookup {
    pub(crate) api: ApiClient,
    pub(crate) auth: TokenProvider,
    /// Shared with `api`, which pauses it the moment a 429 arrives.
    pub(crate) pacer: Arc<Pacer>,
    pub(crate) settings: LookupSettings,
    pub(crate) counters: Arc<Counters>,
    pub(crate) stop: Stop,
    in_flight: Semaphore,
    climate: Climate,
}

/// Whether failures are isolated or widespread: the last 32 answers of the
/// run (1 = a failure worth retrying; 429s are the pacer's business), and
/// how many were seen, packed in one atomic.
#[derive(Debug, Default)]
struct Climate(AtomicU64);

impl Climate {
    /// Answers needed before failures can be called isolated.
    const MIN_SEEN: u32 = 8;

    fn record(&self, failed: bool) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                let bits = ((v as u32) << 1) | u32::from(failed);
                let seen = ((v >> 32) + 1).min(32);
                Some((seen << 32) | u64::from(bits))
            });
    }

    /// Most recent answers were not failures: a failing customer is one bad
    /// customer, not an outage.
    fn isolated(&self) -> bool {
        let v = self.0.load(Ordering::Relaxed);
        let seen = (v >> 32) as u32;
        let recent = (v as u32) & u32::MAX.checked_shr(32 - seen).unwrap_or(0);
        seen >= Self::MIN_SEEN && recent.count_ones() * 2 < seen
    }
}

impl Lookup {
    /// Everything a run's lookups share, with fresh counters; `settings`'
    /// concurrency bounds the requests in flight.
    pub fn new(
        mut api: ApiClient,
        auth: TokenProvider,
        pacer: Pacer,
        settings: LookupSettings,
        stop: Stop,
    ) -> Lookup {
        let in_flight = Semaphore::new(settings.concurrency);
        let pacer = Arc::new(pacer);
        let paused = pacer.clone();
        api.on_throttled(Arc::new(move |after| paused.pause(after)));
        Lookup {
            api,
            auth,
            pacer,
            settings,
            counters: Arc::new(Counters::default()),
            stop,
            in_flight,
            climate: Climate::default(),
        }
    }
}

impl Lookup {
    /// Stop the run once [`UNAUTHORIZED_STREAK`] customers in a row ended
    /// `unauthorized`; any other answer from the API resets the count.
    fn watch_for_a_dead_token(&self, o: &Outcome) {
        let streak = &self.counters.unauthorized_streak;
        if o.status == LookupStatus::Unauthorized {
            if streak.fetch_add(1, Ordering::Relaxed) + 1 == UNAUTHORIZED_STREAK {
                tracing::error!(
                    "the API refused the token for {UNAUTHORIZED_STREAK} customers in a row: no new requests; writing a partial report (fix the token, then continue with --resume)"
                );
                self.stop.request(StopReason::Unauthorized);
            }
        } else if o.attempts > 0 {
            streak.store(0, Ordering::Relaxed);
        }
    }
}

/// Look up every id; `on_done` sees each customer's outcome as it lands
/// (progress, the resume journal).
pub async fn look_up_all(
    lookup: Arc<Lookup>,
    ids: &[Uuid],
    mut on_done: impl FnMut(Uuid, &Outcome),
) -> Lookups {
    let mut outcomes: Vec<Option<Outcome>> = vec![None; ids.len()];
    let finished = look_up_each(lookup, ids, |landed| {
        if let Landed::Outcome(i, outcome) = landed {
            on_done(ids[i], &outcome);
            outcomes[i] = Some(outcome);
        }
    })
    .await;
    Lookups {
        outcomes,
        counters: finished.counters,
        stopped: finished.stopped,
    }
}

/// More lookups than `concurrency` are live at once, so that customers
/// sleeping in backoff do not hold a request slot (the semaphore caps what
/// is actually in flight): this many per slot, and at least [`MIN_LIVE`].
/// Each live lookup is a small future; four per slot keeps the slots busy
/// through a wave of retries without holding many customers at once.
const LIVE_PER_SLOT: usize = 4;
/// Live lookups at the smallest concurrency.
const MIN_LIVE: usize = 16;

/// What [`look_up_each`] hands its caller.
#[derive(Debug)]
pub(crate) enum Landed {
    /// The customer at this index of `ids` finished.
    Outcome(usize, Outcome),
    /// Every outcome that has landed was handed over and the run is about
    /// to wait for the next answer: the moment to write out what the
    /// caller buffered (several outcomes often land in one wake-up).
    Idle,
}

/// [`look_up_all`], keeping nothing: `on_done` gets each outcome, with its
/// index in `ids`, and keeps what it needs (a run of many customers keeps
/// a compact form); and [`Landed::Idle`] before each wait that follows an
/// outcome, and once at the end.
pub(crate) async fn look_up_each(
    lookup: Arc<Lookup>,
    ids: &[Uuid],
    mut on_done: impl FnMut(Landed),
) -> Finished {
    let mut answered = vec![false; ids.len()];
    let live = (lookup.settings.concurrency * LIVE_PER_SLOT).max(MIN_LIVE);
    // Requests sent per customer so far, so a lookup abandoned in flight
    // after a stop is not reported as never requested.
    let sent: Arc<Vec<AtomicU32>> = Arc::new(ids.iter().map(|_| AtomicU32::new(0)).collect());
    let window = Arc::new(Window::new(lookup.settings.reorder_window));
    let admitted = window.clone();
    // Boxed to pin it, and still drop it (and the lookups in it) below.
    let mut stream = Box::pin(
        futures::stream::iter(ids.iter().copied().enumerate())
            .then(move |(i, id)| {
                let window = admitted.clone();
                async move {
                    window.admit(i).await;
                    (i, id)
                }
            })
            .map(|(i, id)| {
                let lookup = lookup.clone();
                let sent = sent.clone();
                async move {
                    let outcome = look_up_one(&lookup, id, &sent[i]).await;
                    if let Some(o) = &outcome {
                        lookup.watch_for_a_dead_token(o);
                    }
                    (i, outcome)
                }
            })
            .buffer_unordered(live),
    );

    let stop = lookup.stop.clone();
    let stopped = stop.wait();
    tokio::pin!(stopped);
    let mut grace: Option<std::pin::Pin<Box<tokio::time::Sleep>>> = None;
    // Outcomes handed over since the last `Idle`.
    let mut unsettled = false;
    loop {
        tokio::select! {
            // In order: the last branch is reached only when nothing else
            // is ready, i.e. just before the loop would wait.
            biased;
            next = stream.next() => match next {
                Some((i, Some(outcome))) => {
                    answered[i] = true;
                    window.advance(&answered);
                    unsettled = true;
                    on_done(Landed::Outcome(i, outcome));
                }
                Some((_, None)) => {}
                None => break,
            },
            () = &mut stopped, if grace.is_none() => {
                window.open();
                grace = Some(Box::pin(tokio::time::sleep(lookup.settings.drain_grace)));
            }
            () = async { grace.as_mut().expect("guarded").await }, if grace.is_some() => {
                tracing::warn!("in-flight requests did not finish within {:?}; abandoning them", lookup.settings.drain_grace);
                break;
            }
            () = std::future::ready(()), if unsettled => {
                unsettled = false;
                on_done(Landed::Idle);
            }
        }
    }
    drop(stream);
    let answered_all = answered.iter().all(|a| *a);
    for (i, answered) in answered.into_iter().enumerate() {
        let attempts = sent[i].load(Ordering::Relaxed);
        if !answered && attempts > 0 {
            let o = Outcome::failed(
                LookupStatus::Failed,
                format!(
                    "no answer: the run stopped while this request was in flight and gave up on it {:?} later",
                    lookup.settings.drain_grace
                ),
                attempts,
            );
            on_done(Landed::Outcome(i, o));
        }
    }
    on_done(Landed::Idle);
    // A deadline that passed once every customer had been asked, and whose
    // drain saw every answer in, cut nothing short: the report is complete,
    // and saying "deadline" would keep a weekly job from taking it as the
    // next --previous. (A signal still says it was stopped: someone asked.)
    let all_answered = answered_all && lookup.counters.cut_short.load(Ordering::Relaxed) == 0;
    let stopped = stop
        .reason()
        .filter(|r| !(*r == StopReason::Deadline && all_answered));
    Finished {
        counters: lookup.counters.clone(),
        stopped,
    }
}

/// Race `fut` against the stop switch: `None` once a stop is requested.
///
/// Most of what is raced is ready at once (a free request slot, a pacer
/// slot already due, a cached token): that costs one look at the switch,
/// not a subscription to it (three per request, about a microsecond).
pub(crate) async fn unless_stopped<T>(stop: &Stop, fut: impl Future<Output = T>) -> Option<T> {
    if stop.reason().is_some() {
        return None;
    }
    let mut fut = std::pin::pin!(fut);
    if let std::task::Poll::Ready(v) = futures::poll!(fut.as_mut()) {
        return Some(v);
    }
    tokio::select! {
        biased;
        () = stop.wait() => None,
        v = fut => Some(v),
    }
}

/// One customer, with retries. `None` when the run stopped before its first
/// request. `sent` follows the requests sent, for [`look_up_all`] to tell
/// a lookup abandoned in flight from one never started.
async fn look_up_one(l: &Lookup, id: Uuid, sent: &AtomicU32) -> Option<Outcome> {
    let request_id = request_id();
    let ended = with_retries(l, &id, Some(sent), |token| async move {
        l.api.get_qualifications(&id, &request_id, &token).await
    })
    .await;
    match ended {
        Ended::Answered {
            answer: qualifications,
            attempts,
        } => Some(Outcome {
            status: LookupStatus::Ok,
            qualifications: scrubbed(qualifications),
            error: None,
            attempts,
        }),
        Ended::Failed {
            error,
            attempts,
            gave_up: None,
        } => Some(final_outcome(error, attempts)),
        Ended::Failed {
            error,
            attempts,
            gave_up: Some(why),
        } => Some(give_up(error, attempts, &why)),
        Ended::NotSent => None,
    }
}

/// A fresh `MS-RequestId`: a random (v4) UUID from a fast generator. It
/// only has to be unique, not secret, and `Uuid::new_v4` costs a
/// `getrandom` system call per id.
pub fn request_id() -> Uuid {
    let mut bytes = [0u8; 16];
    fastrand::fill(&mut bytes);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// How one logical request (a customer's lookup, a page of the customer
/// list) ended after its retries.
#[derive(Debug)]
pub(crate) enum Ended<T> {
    /// A complete 200, after `attempts` requests.
    Answered { answer: T, attempts: u32 },
    /// No answer. `gave_up` says why retrying stopped; `None` when the
    /// error is final by nature (404, 403, a broken 200, a refused token).
    Failed {
        error: LookupError,
        attempts: u32,
        gave_up: Option<Cow<'static, str>>,
    },
    /// The run stopped before the first request.
    NotSent,
}

/// Send one logical request until it is answered or retrying ends: each
/// attempt takes a request slot and a pacer slot, gets a token and calls
/// `send` with it. Every request of the run, lookups and list pages alike,
/// goes through here, so pacing, 429 pauses, backoff, the retry budget and
/// the counters cover them all. `what` names the request in debug logs;
/// `sent`, if given, follows the requests sent (see [`look_up_one`]).
pub(crate) async fn with_retries<T, F, Fut>(
    l: &Lookup,
    what: &dyn std::fmt::Display,
    sent: Option<&AtomicU32>,
    mut send: F,
) -> Ended<T>
where
    F: FnMut(Token) -> Fut,
    Fut: Future<Output = Result<T, LookupError>>,
{
    const STOPPED: &str = "run stopped before the next retry";
    let mut attempts = 0u32;
    let mut throttled_attempts = 0u32;
    // Failures other than 429, including token-endpoint outages (which
    // send no API request, so `attempts` alone would never run out).
    let mut failures = 0u32;
    // API failures in a row with the same message.
    let mut same_way = 0u32;
    let mut refreshed_after_401 = false;
    let mut last_error: Option<LookupError> = None;
    let stopped = |last_error: Option<LookupError>, attempts| {
        l.counters.cut_short.fetch_add(1, Ordering::Relaxed);
        match last_error {
            Some(error) => Ended::Failed {
                error,
                attempts,
                gave_up: Some(Cow::Borrowed(STOPPED)),
            },
            None => Ended::NotSent,
        }
    };
    loop {
        if l.stop.reason().is_some() {
            return stopped(last_error, attempts);
        }
        let acquired = unless_stopped(&l.stop, l.in_flight.acquire()).await;
        let Some(Ok(permit)) = acquired else {
            return stopped(last_error, attempts);
        };
        let Some(sent_at) = unless_stopped(&l.stop, l.pacer.acquire()).await else {
            return stopped(last_error, attempts);
        };
        // Raced too: a hanging token endpoint must not hold up a stop, and
        // once the run is stopped nothing more goes out.
        let Some(token) = unless_stopped(&l.stop, l.auth.token()).await else {
            return stopped(last_error, attempts);
        };
        let result = match token {
            Ok(token) => {
                attempts += 1;
                if let Some(sent) = sent {
                    sent.store(attempts, Ordering::Relaxed);
                }
                l.counters.requests.fetch_add(1, Ordering::Relaxed);
                if attempts > 1 {
                    l.counters.retries.fetch_add(1, Ordering::Relaxed);
                }
                let r = send(token.clone()).await;
                if matches!(r, Err(LookupError::Unauthorized(_)))
                    && !refreshed_after_401
                    && l.auth.can_refresh()
                    && l.auth.invalidate(&token).await
                {
                    refreshed_after_401 = true;
                    tracing::debug!("{what}: 401: refreshing the token and trying once more");
                    last_error = r.err();
                    continue;
                }
                r
            }
            Err(e @ AuthError::Rejected { .. }) => {
                return Ended::Failed {
                    error: LookupError::Auth(e),
                    attempts,
                    gave_up: None,
                };
            }
            Err(e) => Err(LookupError::Auth(e)),
        };
        drop(permit);

        let error = match result {
            Ok(answer) => {
                l.pacer.on_success();
                l.climate.record(false);
                return Ended::Answered { answer, attempts };
            }
            Err(e) => e,
        };
        if matches!(error, LookupError::Throttled { .. }) {
            l.counters
                .throttled_responses
                .fetch_add(1, Ordering::Relaxed);
        }
        if let Some(after) = error.retry_after().filter(|a| *a > l.settings.max_wait) {
            // Not slept through, and not asked again early: the run stops
            // and a later --resume picks this customer up.
            stop_for_retry_after(l, &error, after);
            let why = format!(
                "Retry-After of {} is beyond --max-wait of {}; the run stopped",
                seconds(after),
                seconds(l.settings.max_wait)
            );
            return Ended::Failed {
                error,
                attempts,
                gave_up: Some(Cow::Owned(why)),
            };
        }
        let wait = match &error {
            LookupError::Throttled { retry_after, .. } => {
                throttled_attempts += 1;
                let pause = retry_after.unwrap_or_else(|| {
                    backoff(
                        l.settings.default_throttle_pause,
                        l.settings.backoff_cap,
                        throttled_attempts,
                    )
                });
                // Refused again, right after its pause: a limit of this
                // customer's own more than of the run's (Partner Center
                // limits some calls per partner and customer). The pause
                // holds for everyone all the same; the rate stays.
                let again = matches!(last_error, Some(LookupError::Throttled { .. }));
                if again {
                    l.pacer.on_throttled_again(sent_at, pause);
                } else if let Some(change) = l.pacer.on_throttled(sent_at, pause) {
                    let admitted = change
                        .admitted
                        .map(|a| format!(" (the server admits about {a:.1}/s)"))
                        .unwrap_or_default();
                    tracing::info!(
                        "throttled (429): pausing all requests for {:.1}s, rate {:.2} → {:.2} requests/s{admitted}",
                        change.paused_for.as_secs_f64(),
                        change.from,
                        change.to
                    );
                }
                // The pacer holds everyone until the window ends; a little
                // jitter keeps the retries from landing in one clump.
                THROTTLED_RETRY_JITTER.mul_f64(fastrand::f64())
            }
            // A failing server is no reason to speed up: the rate stays.
            // A Retry-After on a 503 is honoured for this request.
            e if e.is_retryable() => {
                failures += 1;
                l.climate.record(true);
                // A token endpoint that fails fails every customer: never
                // one customer's own failure.
                let api_failure = !matches!(e, LookupError::Auth(_));
                same_way = match &last_error {
                    Some(last) if api_failure && last.to_string() == e.to_string() => same_way + 1,
                    _ => u32::from(api_failure),
                };
                retry_wait(&l.settings, l.climate.isolated(), failures, e.retry_after())
            }
            _ => {
                // 404/403 and the like are normal, prompt answers.
                l.pacer.on_success();
                l.climate.record(false);
                return Ended::Failed {
                    error,
                    attempts,
                    gave_up: None,
                };
            }
        };
        let done = match &error {
            LookupError::Throttled { .. } => {
                (throttled_attempts >= l.settings.max_throttled_attempts).then_some(LAST_ATTEMPT)
            }
            _ => out_of_attempts(&l.settings, l.climate.isolated(), failures, same_way),
        };
        if let Some(why) = done {
            return Ended::Failed {
                error,
                attempts,
                gave_up: Some(Cow::Borrowed(why)),
            };
        }
        if l.counters.budget_used.fetch_add(1, Ordering::Relaxed) >= l.settings.retry_budget {
            return Ended::Failed {
                error,
                attempts,
                gave_up: Some(Cow::Borrowed("the run's retry budget is spent")),
            };
        }
        tracing::debug!("{what}: attempt {attempts}: retrying in {wait:?}: {error}");
        last_error = Some(error);
        if unless_stopped(&l.stop, tokio::time::sleep(wait))
            .await
            .is_none()
        {
            return stopped(last_error, attempts);
        }
    }
}

/// A customer refused with a 429 retries after up to this much (uniform):
/// the pacer already holds it until the Retry-After window ends, and the
/// spread keeps the customers that queued behind the pause from landing
/// on the pacer at one instant.
const THROTTLED_RETRY_JITTER: Duration = Duration::from_millis(100);

/// Backoff steps wait between this share of the full step and all of it
/// ("equal jitter"): spread enough that retries do not clump, while the
/// wait still grows with each attempt.
const BACKOFF_JITTER_FLOOR: f64 = 0.5;
/// Doublings of the backoff step counted at most: keeps `2^n` finite; the
/// cap is reached long before.
const BACKOFF_MAX_DOUBLINGS: u32 = 20;

/// Why a customer's last attempt was its last.
const LAST_ATTEMPT: &str = "gave up after the last attempt";

/// How long to wait after a customer's `failures`-th failure worth
/// retrying (not a 429): short steps while failures are `isolated`, long
/// ones in an outage, and never sooner than a `Retry-After` the server
/// sent with it (within reason).
fn retry_wait(
    settings: &LookupSettings,
    isolated: bool,
    failures: u32,
    server_retry_after: Option<Duration>,
) -> Duration {
    let base = if isolated {
        settings.isolated_backoff_base
    } else {
        settings.backoff_base
    };
    let wait = backoff(base, settings.backoff_cap, failures);
    server_retry_after.map_or(wait, |after| wait.max(after.min(MAX_SERVER_RETRY_AFTER)))
}

/// Why a customer with `failures` failures worth retrying, the last
/// `same_way` of them alike, gets no further attempt, if it does not.
fn out_of_attempts(
    settings: &LookupSettings,
    isolated: bool,
    failures: u32,
    same_way: u32,
) -> Option<&'static str> {
    if failures >= settings.max_attempts {
        Some(LAST_ATTEMPT)
    } else if isolated && same_way >= settings.same_way_attempts {
        Some("failed the same way every time while other customers got answers")
    } else {
        None
    }
}

/// Stop the run for a `Retry-After` of `after` that is beyond `--max-wait`,
/// and say (once) when the server wants to be called again.
fn stop_for_retry_after(l: &Lookup, error: &LookupError, after: Duration) {
    let until = come_back_at(Utc::now(), after);
    if l.stop.request(StopReason::Throttled { until }) {
        let status = match error {
            LookupError::Http { status, .. } => *status,
            _ => 429,
        };
        tracing::error!(
            "HTTP {status} with Retry-After {}, beyond --max-wait of {}: no new requests. Partner Center asked to be called again at {}",
            seconds(after),
            seconds(l.settings.max_wait),
            crate::model::format_utc(until, 0)
        );
    }
}

/// `now + after`, rounded up to a whole second (it is shown without a
/// fraction, and must never read earlier than the server asked); saturating,
/// though the parsed Retry-After is bounded anyway.
pub fn come_back_at(now: DateTime<Utc>, after: Duration) -> DateTime<Utc> {
    let exact = chrono::TimeDelta::from_std(after)
        .ok()
        .and_then(|d| now.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC);
    let fraction = exact.timestamp_subsec_nanos();
    if fraction == 0 || fraction >= 1_000_000_000 {
        return exact;
    }
    let up = chrono::TimeDelta::nanoseconds(1_000_000_000 - i64::from(fraction));
    exact.checked_add_signed(up).unwrap_or(exact)
}

/// A duration for a message: `3600 s`, `0.5 s`.
fn seconds(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Jittered exponential backoff: uniform in [d/2, d] (see
/// [`BACKOFF_JITTER_FLOOR`]) with d = min(cap, base · 2^(attempt−1)).
fn backoff(base: Duration, cap: Duration, attempt: u32) -> Duration {
    let doublings = attempt.saturating_sub(1).min(BACKOFF_MAX_DOUBLINGS);
    let d = base.saturating_mul(2u32.saturating_pow(doublings)).min(cap);
    d.mul_f64(BACKOFF_JITTER_FLOOR + fastrand::f64() * (1.0 - BACKOFF_JITTER_FLOOR))
}

/// A retryable error that stayed: `throttled` for 429, else `failed`.
fn give_up(error: LookupError, attempts: u32, why: &str) -> Outcome {
    let mut o = final_outcome(error, attempts);
    if let Some(e) = o.error.as_mut() {
        *e = format!(
            "{e} ({why}; {attempts} attempt{})",
            if attempts == 1 { "" } else { "s" }
        );
    }
    o
}

fn final_outcome(error: LookupError, attempts: u32) -> Outcome {
    let status = match &error {
        LookupError::Auth(AuthError::Rejected { .. }) => LookupStatus::Unauthorized,
        LookupError::NotFound(_) => LookupStatus::NotFound,
        LookupError::Forbidden(_) => LookupStatus::Forbidden,
        LookupError::Unauthorized(_) => LookupStatus::Unauthorized,
        LookupError::Throttled { .. } => LookupStatus::Throttled,
        _ => LookupStatus::Failed,
    };
    Outcome::failed(status, error.to_string(), attempts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let base = Duration::from_millis(250);
        let cap = Duration::from_secs(20);
        for attempt in 1..30 {
            let d = backoff(base, cap, attempt);
            let full = base
                .saturating_mul(2u32.saturating_pow(attempt - 1))
                .min(cap);
            assert!(d >= full / 2 && d <= full, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn statuses_follow_the_error() {
        let o = give_up(
            LookupError::Throttled {
                retry_after: None,
                detail: "HTTP 429 Too Many Requests".into(),
            },
            12,
            "gave up after the last attempt",
        );
        assert_eq!(o.status, LookupStatus::Throttled);
        assert!(o.error.unwrap().contains("12 attempts"));
        let o = final_outcome(LookupError::Timeout(Duration::from_secs(30)), 5);
        assert_eq!(o.status, LookupStatus::Failed);
    }

    /// One customer's retries under the policy, in virtual time: it fails
    /// `failures` times (`alike`: always the same way), then gets through.
    /// Returns the attempts made, whether it got through, and the time from
    /// its first failure to its last attempt.
    async fn tail(isolated: bool, failures: u32, alike: bool) -> (u32, bool, Duration) {
        let settings = LookupSettings::new(16, 1000);
        let start = tokio::time::Instant::now();
        let (mut attempts, mut failed, mut same_way) = (0, 0, 0);
        loop {
            attempts += 1;
            if attempts > failures {
                return (attempts, true, start.elapsed());
            }
            failed += 1;
            same_way = if alike || same_way == 0 {
                same_way + 1
            } else {
                1
            };
            if out_of_attempts(&settings, isolated, failed, same_way).is_some() {
                return (attempts, false, start.elapsed());
            }
            tokio::time::sleep(retry_wait(&settings, isolated, failed, None)).await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn isolated_failures_get_a_short_tail_and_keep_their_recoveries() {
        // Broken for good, failing the same way: four attempts within a
        // tenth of a second, not six over seconds.
        let (attempts, ok, took) = tail(true, u32::MAX, true).await;
        assert_eq!((attempts, ok), (4, false));
        assert!(took <= Duration::from_millis(100), "{took:?}");
        // Customers that get through on the second, third or fourth attempt
        // (a flaky tenant fails 1–3 times), whichever way they fail, still do.
        for failures in [1, 2, 3] {
            for alike in [true, false] {
                let (attempts, ok, _) = tail(true, failures, alike).await;
                assert_eq!((attempts, ok), (failures + 1, true));
            }
        }
        // Failing differently each time is no sign of a broken customer:
        // all six attempts, still within a third of a second.
        let (attempts, ok, took) = tail(true, 5, false).await;
        assert_eq!((attempts, ok), (6, true));
        assert!(took <= Duration::from_millis(310), "{took:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_gets_every_attempt_and_the_long_steps() {
        let (attempts, ok, took) = tail(false, u32::MAX, true).await;
        assert_eq!((attempts, ok), (6, false));
        // 0.25 + 0.5 + 1 + 2 + 4 s, each jittered down to no less than half.
        assert!(took >= Duration::from_millis(3875), "{took:?}");
        let (attempts, ok, _) = tail(false, 5, true).await;
        assert_eq!((attempts, ok), (6, true));
    }

    #[test]
    fn failures_are_isolated_only_among_answers_that_are_not() {
        let c = Climate::default();
        assert!(!c.isolated(), "nothing seen: assume the worst");
        c.record(true);
        for _ in 0..7 {
            c.record(false);
        }
        assert!(c.isolated());
        // An outage: failures take over the last 32 answers.
        for _ in 0..16 {
            c.record(true);
        }
        assert!(!c.isolated());
        for _ in 0..17 {
            c.record(false);
        }
        assert!(c.isolated());
        let starting = Climate::default();
        for _ in 0..4 {
            starting.record(false);
            starting.record(true);
        }
        assert!(!starting.isolated(), "half the answers failing is no blip");
    }

    #[test]
    fn a_server_retry_after_is_honoured_whatever_the_climate() {
        let settings = LookupSettings::new(16, 1000);
        let after = Some(Duration::from_secs(7));
        for isolated in [true, false] {
            let wait = retry_wait(&settings, isolated, 1, after);
            assert_eq!(wait, Duration::from_secs(7));
        }
        let long = Some(Duration::from_secs(600));
        assert_eq!(retry_wait(&settings, true, 1, long), MAX_SERVER_RETRY_AFTER);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_ends_a_retry_after_pause_at_once() {
        let pacer = Arc::new(Pacer::new(5.0));
        let sent = pacer.acquire().await;
        pacer.on_throttled(sent, Duration::from_secs(3600));
        let stop = Stop::default();
        let start = tokio::time::Instant::now();
        let waiter = {
            let (pacer, stop) = (pacer.clone(), stop.clone());
            tokio::spawn(async move { unless_stopped(&stop, pacer.acquire()).await })
        };
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!waiter.is_finished(), "the pause was not honoured");
        stop.request(StopReason::Interrupt);
        assert_eq!(waiter.await.unwrap(), None);
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_already_requested_wins_over_a_ready_future() {
        let stop = Stop::default();
        stop.request(StopReason::Deadline);
        // Nothing goes out once stopped, even when the token is at hand.
        assert_eq!(unless_stopped(&stop, async { 1 }).await, None);
        let other = Stop::default();
        assert_eq!(unless_stopped(&other, async { 1 }).await, Some(1));
    }

    #[test]
    fn the_come_back_time_never_reads_early() {
        let now: DateTime<Utc> = "2026-11-25T02:15:00.250Z".parse().unwrap();
        let at = come_back_at(now, Duration::from_secs(3600));
        assert_eq!(at.to_rfc3339(), "2026-11-25T03:15:01+00:00");
        let whole: DateTime<Utc> = "2026-11-25T02:15:00Z".parse().unwrap();
        assert_eq!(
            come_back_at(whole, Duration::from_secs(60)).to_rfc3339(),
            "2026-11-25T02:16:00+00:00"
        );
        assert!(come_back_at(now, crate::api::MAX_RETRY_AFTER) > now);
        assert_eq!(come_back_at(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }

    #[tokio::test]
    async fn stop_keeps_the_first_reason() {
        let stop = Stop::default();
        let waiter = {
            let s = stop.clone();
            tokio::spawn(async move { s.wait().await })
        };
        assert!(stop.request(StopReason::Terminate));
        assert!(!stop.request(StopReason::Deadline));
        waiter.await.unwrap();
        assert_eq!(stop.reason(), Some(StopReason::Terminate));
    }
}
