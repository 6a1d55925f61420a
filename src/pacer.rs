//! Request pacing for the whole run: a rate on absolute deadlines, a hard
//! one-second window cap, a global pause after a 429, and AIMD.
//!
//! Hand-rolled on `tokio::time` (rust-stack.md §A1): governor ignores tokio's
//! paused clock and no limiter crate lets the rate change at run time, while
//! we need both the Retry-After pause and AIMD, tested in virtual time.
//!
//! Partner Center throttles per partner, so one pacer serves every customer
//! of the run: a 429 on any customer pauses everyone.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::{Instant, sleep_until};

/// Multiplicative decrease while the rate is still far above what the server
/// admits (a second 429 soon after the last cut).
const FAST_DECREASE: f64 = 0.5;
/// Multiplicative decrease once the rate has settled near the server's limit:
/// gentle, because each cut costs a whole Retry-After pause anyway.
const SLOW_DECREASE: f64 = 0.85;
/// A 429 within this long after the last pause ended means "still too fast".
const SETTLED_AFTER: Duration = Duration::from_secs(2);
/// Additive increase per second, as a fraction of the current rate, by
/// where the rate stands against the rate of the last cut (the ceiling):
/// far below it, climb back quickly (a halving may have undershot); just
/// below it, creep, because that is where the server's limit was found and
/// every 429 costs a whole Retry-After pause; above it (never throttled
/// there, or the limit went up), probe at a moderate pace.
const INCREASE_FAR_BELOW: f64 = 0.10;
const INCREASE_NEAR_CEILING: f64 = 0.003;
const INCREASE_PROBING: f64 = 0.02;
/// "Near" the ceiling means at least this share of it.
const NEAR_CEILING: f64 = 0.9;
/// Dispatches stay this far beyond one second from the dispatch `cap` places
/// earlier, so latency jitter on the wire cannot squeeze `cap + 1` requests
/// into a one-second window at the server.
const WINDOW_MARGIN: Duration = Duration::from_millis(50);
/// Never pace slower than this, whatever the 429s say.
const MIN_RATE: f64 = 0.05;

/// A rate change, reported so the caller can log it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateChange {
    pub from: f64,
    pub to: f64,
    /// Until when every dispatch waits (the announced Retry-After window).
    pub paused_for: Duration,
}

/// The pacer. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Current target rate (requests per second).
    rate: f64,
    /// The user's `--rate`: AIMD never goes above it.
    max_rate: f64,
    /// Earliest time the next dispatch may go.
    next_slot: Instant,
    /// No dispatch before this instant (Retry-After).
    paused_until: Option<Instant>,
    /// Recent dispatch times, oldest first, at most `cap` of them.
    window: VecDeque<Instant>,
    /// When the rate was last cut: 429s for requests sent before it are
    /// echoes of the same overload and must not cut again.
    last_cut: Option<Instant>,
    /// The rate at the last cut: roughly where the server's limit is.
    ceiling: Option<f64>,
}

impl State {
    /// Most dispatches allowed in any one-second window at the current rate.
    fn cap(&self) -> usize {
        (self.rate.floor() as usize).max(1)
    }

    fn interval(&self) -> Duration {
        Duration::from_secs_f64(1.0 / self.rate)
    }

    fn paused_at(&self, now: Instant) -> Option<Instant> {
        self.paused_until.filter(|p| *p > now)
    }

    /// Earliest instant the one-second window cap allows a dispatch.
    fn window_allows_at(&self) -> Option<Instant> {
        let cap = self.cap();
        (self.window.len() >= cap)
            .then(|| self.window[self.window.len() - cap] + Duration::from_secs(1) + WINDOW_MARGIN)
    }

    /// Reserve the next evenly spaced slot at or after `not_before`.
    fn reserve(&mut self, not_before: Instant) -> Instant {
        let slot = not_before.max(self.next_slot);
        self.next_slot = slot + self.interval();
        slot
    }
}

impl Pacer {
    /// A pacer that starts at `rate` requests per second (also the ceiling).
    pub fn new(rate: f64) -> Pacer {
        assert!(rate > 0.0 && rate.is_finite(), "rate must be positive");
        Pacer {
            state: Mutex::new(State {
                rate,
                max_rate: rate,
                next_slot: Instant::now(),
                paused_until: None,
                window: VecDeque::new(),
                last_cut: None,
                ceiling: None,
            }),
        }
    }

    /// Wait for a dispatch slot and claim it; returns the dispatch instant.
    ///
    /// The slot is checked again after waking, because a 429 may have paused
    /// the run or cut the rate while this task slept; the returned instant
    /// satisfies every constraint at the moment it is claimed.
    pub async fn acquire(&self) -> Instant {
        let mut reserved = false;
        loop {
            let target = {
                let mut s = self.state.lock().expect("pacer lock");
                let now = Instant::now();
                if !reserved {
                    reserved = true;
                    let not_before = s.paused_at(now).unwrap_or(now);
                    s.reserve(not_before)
                } else if let Some(pause) = s.paused_at(now) {
                    // A 429 arrived while we slept: queue again behind it.
                    s.reserve(pause)
                } else if let Some(t) = s.window_allows_at().filter(|t| *t > now) {
                    t
                } else {
                    s.window.push_back(now);
                    while s.window.len() > s.cap() {
                        s.window.pop_front();
                    }
                    return now;
                }
            };
            sleep_until(target).await;
        }
    }

    /// A 429 came back for a request dispatched at `sent_at`. Pauses all
    /// dispatch for `retry_after` (from now) and cuts the rate once per
    /// overload episode.
    pub fn on_throttled(&self, sent_at: Instant, retry_after: Duration) -> Option<RateChange> {
        let mut s = self.state.lock().expect("pacer lock");
        let now = Instant::now();
        let until = now + retry_after;
        s.paused_until = Some(s.paused_until.map_or(until, |p| p.max(until)));
        if s.last_cut.is_some_and(|cut| sent_at < cut) {
            return None;
        }
        let settled = s
            .last_cut
            .is_none_or(|cut| now.saturating_duration_since(cut) > retry_after + SETTLED_AFTER);
        let factor = if settled && s.last_cut.is_some() {
            SLOW_DECREASE
        } else {
            FAST_DECREASE
        };
        let from = s.rate;
        s.ceiling = Some(from);
        // Never below the floor, never above the user's --rate.
        s.rate = (s.rate * factor).max(MIN_RATE.min(s.max_rate));
        s.last_cut = Some(now);
        // Whatever queues behind the pause restarts at the new spacing.
        s.next_slot = s.next_slot.max(until);
        Some(RateChange {
            from,
            to: s.rate,
            paused_for: retry_after,
        })
    }

    /// The server answered (not with a 429): grow the rate additively. At a
    /// steady `rate` this adds `share × rate` requests/s per second.
    pub fn on_success(&self) {
        let mut s = self.state.lock().expect("pacer lock");
        if s.rate < s.max_rate {
            let share = match s.ceiling {
                Some(c) if s.rate < NEAR_CEILING * c => INCREASE_FAR_BELOW,
                Some(c) if s.rate <= c => INCREASE_NEAR_CEILING,
                _ => INCREASE_PROBING,
            };
            // Per success: (share × rate per second) / (rate successes per second).
            let step = (share * s.rate).max(0.05) / s.rate;
            s.rate = (s.rate + step).min(s.max_rate);
        }
    }

    /// The current target rate.
    pub fn rate(&self) -> f64 {
        self.state.lock().expect("pacer lock").rate
    }

    /// Until when dispatch is paused, if it is.
    pub fn paused_until(&self) -> Option<Instant> {
        let s = self.state.lock().expect("pacer lock");
        s.paused_until.filter(|p| *p > Instant::now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Most dispatches in any window [t, t + 1 s).
    fn max_in_one_second(times: &[Instant]) -> usize {
        let mut sorted = times.to_vec();
        sorted.sort();
        let mut best = 0;
        let mut lo = 0;
        for hi in 0..sorted.len() {
            while sorted[hi] - sorted[lo] >= Duration::from_secs(1) {
                lo += 1;
            }
            best = best.max(hi - lo + 1);
        }
        best
    }

    async fn dispatch(pacer: Arc<Pacer>, n: usize, tasks: usize) -> Vec<Instant> {
        let mut handles = Vec::new();
        let per = n / tasks;
        for _ in 0..tasks {
            let p = pacer.clone();
            handles.push(tokio::spawn(async move {
                let mut v = Vec::new();
                for _ in 0..per {
                    v.push(p.acquire().await);
                }
                v
            }));
        }
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.await.unwrap());
        }
        all.sort();
        all
    }

    #[tokio::test(start_paused = true)]
    async fn holds_the_rate_in_every_one_second_window() {
        let start = Instant::now();
        let times = dispatch(Arc::new(Pacer::new(200.0)), 1000, 16).await;
        assert_eq!(max_in_one_second(&times), 200);
        let took = times.last().unwrap().duration_since(start).as_secs_f64();
        // 1000 at 200/s: 5 s, less the first slot, plus 4 window margins.
        assert!((4.9..5.3).contains(&took), "took {took}");
    }

    #[tokio::test(start_paused = true)]
    async fn fractional_rates_round_the_window_cap_down() {
        let times = dispatch(Arc::new(Pacer::new(2.5)), 20, 4).await;
        assert!(max_in_one_second(&times) <= 2);
        let times = dispatch(Arc::new(Pacer::new(0.5)), 4, 2).await;
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_secs(2));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_429_pauses_every_dispatch_until_the_window_ends() {
        let pacer = Arc::new(Pacer::new(100.0));
        let sent = pacer.acquire().await;
        tokio::time::advance(Duration::from_millis(30)).await;
        let change = pacer.on_throttled(sent, Duration::from_secs(1)).unwrap();
        assert_eq!(change.from, 100.0);
        assert_eq!(change.to, 50.0);
        let announced_end = Instant::now() + Duration::from_secs(1);
        let times = dispatch(pacer.clone(), 40, 8).await;
        assert!(times.iter().all(|t| *t >= announced_end));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_announced_while_tasks_sleep_is_still_honoured() {
        let pacer = Arc::new(Pacer::new(1.0));
        let first = pacer.acquire().await;
        let p = pacer.clone();
        let waiter = tokio::spawn(async move { p.acquire().await });
        tokio::time::advance(Duration::from_millis(500)).await;
        pacer.on_throttled(first, Duration::from_secs(3));
        let end = Instant::now() + Duration::from_secs(3);
        let got = waiter.await.unwrap();
        assert!(got >= end, "dispatched inside the Retry-After window");
    }

    #[test]
    fn a_cut_never_raises_a_tiny_rate_above_the_users_rate() {
        let pacer = Pacer::new(0.01);
        pacer.on_throttled(Instant::now(), Duration::from_secs(1));
        assert!(pacer.rate() <= 0.01);
    }

    #[tokio::test(start_paused = true)]
    async fn echoes_of_one_overload_cut_the_rate_once() {
        let pacer = Pacer::new(80.0);
        let a = pacer.acquire().await;
        let b = pacer.acquire().await;
        tokio::time::advance(Duration::from_millis(10)).await;
        assert!(pacer.on_throttled(a, Duration::from_secs(1)).is_some());
        assert!(pacer.on_throttled(b, Duration::from_secs(1)).is_none());
        assert_eq!(pacer.rate(), 40.0);
    }

    #[test]
    fn recovery_is_quick_far_below_the_ceiling_and_slow_near_it() {
        let pacer = Pacer::new(100.0);
        let sent = Instant::now();
        pacer.on_throttled(sent, Duration::from_secs(1));
        assert_eq!(pacer.rate(), 50.0);
        // Far below the ceiling of 100: +0.1 per success.
        for _ in 0..100 {
            pacer.on_success();
        }
        assert!((pacer.rate() - 60.0).abs() < 1e-6, "{}", pacer.rate());
        for _ in 0..300 {
            pacer.on_success();
        }
        // Reached 90 % of the ceiling after 400 successes, then creeps.
        let near = pacer.rate();
        assert!((89.9..90.5).contains(&near), "{near}");
        for _ in 0..100 {
            pacer.on_success();
        }
        assert!(pacer.rate() - near < 0.45, "{}", pacer.rate());
    }

    #[tokio::test(start_paused = true)]
    async fn settled_cuts_are_gentle_and_successes_recover_the_rate() {
        let pacer = Pacer::new(100.0);
        let sent = pacer.acquire().await;
        pacer.on_throttled(sent, Duration::from_secs(1));
        assert_eq!(pacer.rate(), 50.0);
        tokio::time::advance(Duration::from_secs(10)).await;
        let sent = pacer.acquire().await;
        pacer.on_throttled(sent, Duration::from_secs(1));
        assert!((pacer.rate() - 42.5).abs() < 1e-9);
        for _ in 0..2000 {
            pacer.on_success();
        }
        assert!(pacer.rate() > 42.5);
        assert!(pacer.rate() <= 100.0);
        for _ in 0..100_000 {
            pacer.on_success();
        }
        assert_eq!(pacer.rate(), 100.0);
    }
}
