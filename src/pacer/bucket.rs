//! What the server admits, estimated from how it answered this run's own
//! requests: the rate and burst of a token bucket.
//!
//! Partner Center publishes no limits; its
//! gateway only says "429, come back in n seconds". A token bucket that
//! refills at `rate` up to `burst` explains those answers: when the first
//! request of an overload episode is refused, the bucket is empty, so over
//! the span since it was last full the server admitted about
//! `burst + rate × span` requests. Each episode gives one such equation;
//! two episodes of different lengths give the rate, and the longer they
//! are, the tighter it is.
//!
//! For a candidate rate `R`, the *drain* of an episode is the most the run
//! took beyond `R`'s refill over any span that ends at its first 429:
//! `max over dispatches s in the episode of admitted(s..end) − R × (end − s)`.
//! For the true rate every episode drains the whole burst (less the part of
//! a token left at the 429, between 0 and 1), so their drains agree within
//! one request. [`BucketFit::estimate`] scans `R` for the range where they
//! do: its middle is the estimate, its half-width the uncertainty.
//!
//! Limiters that are no token bucket (a sliding window, a limit that
//! changed) show up as drains that agree nowhere, or as a bucket that the
//! run's own history contradicts; then there is no estimate and the pacer
//! falls back to plain cuts.

use std::collections::VecDeque;

use tokio::time::Instant;

/// Dispatches remembered: enough for minutes of history at the rates
/// where throttling happens, bounded at any rate.
const MAX_LOG: usize = 8192;
/// Episodes the fit uses; older ones may describe a limit that changed.
const KEEP: usize = 4;
/// The drains of the true rate agree within this many requests (the part
/// of a token left at a 429 is somewhere in [0, 1)).
const AGREE: f64 = 1.0;
/// The fit searches rates from this share of the lowest rate that
/// overflowed up to that rate.
const LOWEST_SHARE: f64 = 0.02;
/// Grid points of the coarse scan (geometric): steps of about 2 %.
const GRID: usize = 200;
/// A bucket fitted to the episodes must also explain every longer span of
/// the history within this many requests, or it is no bucket at all.
const SLACK: f64 = 1.5;
/// The span of a window limiter's count (Azure API Management's
/// `rate-limit`, which fronts Partner Center, counts calls over a renewal
/// period; one second is the span the pacer's own cap keeps).
const WINDOW: std::time::Duration = std::time::Duration::from_secs(1);
/// Fewer requests than this in the second before a refusal say nothing of
/// a window: a short episode after a pause.
const MIN_WINDOW_LIMIT: usize = 2;

/// The fitted bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Estimate {
    /// Requests per second the server admits in the long run.
    pub rate: f64,
    /// Requests it admits at once after a quiet spell.
    pub burst: f64,
    /// Half the width of the rates that explain every episode.
    pub sigma: f64,
}

#[derive(Debug, Clone, Copy)]
struct Dispatch {
    at: Instant,
    /// Not answered with a 429 (yet): requests still in flight count as
    /// admitted, as nearly all of them are.
    admitted: bool,
}

/// From the end of the previous episode (or the start of the history) to
/// the dispatch of the first request refused.
#[derive(Debug, Clone, Copy)]
struct Episode {
    start: Option<Instant>,
    end: Instant,
    /// The target rate when it ended: the server admits less than this.
    rate: f64,
}

/// The dispatch history and the episodes that ended in a 429.
#[derive(Debug, Default)]
pub(super) struct BucketFit {
    log: VecDeque<Dispatch>,
    episodes: VecDeque<Episode>,
}

impl BucketFit {
    /// A request went out at `at` (never earlier than the last one).
    pub(super) fn dispatched(&mut self, at: Instant) {
        if self.log.len() == MAX_LOG {
            self.log.pop_front();
        }
        self.log.push_back(Dispatch { at, admitted: true });
    }

    /// The request dispatched at `sent_at` was answered 429.
    pub(super) fn refused(&mut self, sent_at: Instant) {
        let upto = self.log.partition_point(|d| d.at <= sent_at);
        if let Some(d) = self
            .log
            .range_mut(..upto)
            .rev()
            .take_while(|d| d.at == sent_at)
            .find(|d| d.admitted)
        {
            d.admitted = false;
        }
    }

    /// The first 429 of a new episode: its request went out at `sent_at`,
    /// while the pacer aimed at `rate`.
    pub(super) fn episode_ended(&mut self, sent_at: Instant, rate: f64) {
        let start = self.episodes.back().map(|e| e.end);
        self.episodes.push_back(Episode {
            start,
            end: sent_at,
            rate,
        });
        while self.episodes.len() > KEEP {
            self.episodes.pop_front();
        }
        if let Some(oldest) = self.episodes.front().and_then(|e| e.start) {
            while self.log.front().is_some_and(|d| d.at < oldest) {
                self.log.pop_front();
            }
        }
    }

    /// A 429 for a request sent before the current episode's first refusal
    /// was known: the bucket ran dry at its dispatch already, if that was
    /// earlier than the end recorded.
    pub(super) fn refused_earlier(&mut self, sent_at: Instant) {
        if let Some(last) = self.episodes.back_mut()
            && sent_at < last.end
            && last.start.is_none_or(|s| sent_at > s)
        {
            last.end = sent_at;
        }
    }

    /// The lowest rate that overflowed the server in the episodes kept.
    pub(super) fn lowest_overflow(&self) -> Option<f64> {
        self.episodes.iter().map(|e| e.rate).reduce(f64::min)
    }

    /// The bucket that explains the recent episodes, if one does: with all
    /// of them, else with fewer (the oldest may predate a change of limit).
    pub(super) fn estimate(&self) -> Option<Estimate> {
        let all: Vec<Episode> = self.episodes.iter().copied().collect();
        (0..all.len().saturating_sub(1)).find_map(|skip| self.fit(&all[skip..]))
    }

    /// Fit a bucket to `episodes` (at least two).
    fn fit(&self, episodes: &[Episode]) -> Option<Estimate> {
        if episodes.len() < 2 {
            return None;
        }
        let lowest = episodes.iter().map(|e| e.rate).reduce(f64::min)?;
        let spread = |rate: f64| {
            let (lo, hi) = episodes
                .iter()
                .map(|e| self.drain(e, rate).0)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), d| {
                    (lo.min(d), hi.max(d))
                });
            hi - lo
        };
        // Coarse geometric scan, then golden-section refinement around the
        // best point (the spread is piecewise linear in the rate).
        let at = |i: usize| lowest * LOWEST_SHARE.powf(1.0 - i as f64 / (GRID - 1) as f64);
        let best_i = (0..GRID)
            .map(|i| (i, spread(at(i))))
            .min_by(|a, b| a.1.total_cmp(&b.1))?
            .0;
        let (mut a, mut b) = (at(best_i.saturating_sub(1)), at((best_i + 1).min(GRID - 1)));
        let golden = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..40 {
            let (c, d) = (b - golden * (b - a), a + golden * (b - a));
            if spread(c) <= spread(d) {
                b = d;
            } else {
                a = c;
            }
        }
        let best = (a + b) / 2.0;
        if spread(best) >= AGREE {
            return None;
        }
        // The edges of the range of rates that explain every episode.
        let edge = |mut inside: f64, step: f64| {
            let mut outside = inside * step;
            while spread(outside) < AGREE && outside > lowest * LOWEST_SHARE && outside < lowest {
                inside = outside;
                outside *= step;
            }
            for _ in 0..30 {
                let mid = (inside + outside) / 2.0;
                if spread(mid) < AGREE {
                    inside = mid;
                } else {
                    outside = mid;
                }
            }
            inside
        };
        let (lo, hi) = (edge(best, 0.99), edge(best, 1.01));
        let rate = (lo + hi) / 2.0;
        if !(rate > 0.0 && rate < lowest) {
            return None;
        }
        let drains: Vec<f64> = episodes.iter().map(|e| self.drain(e, rate).0).collect();
        let burst = drains.iter().sum::<f64>() / drains.len() as f64 + AGREE / 2.0;
        // A bucket that started an episode full admitted at least its burst
        // in it.
        let most = episodes
            .iter()
            .map(|e| self.admitted(e.start, e.end))
            .max()
            .unwrap_or(0);
        if burst > most as f64 + 1.0 {
            return None;
        }
        // Over longer spans (across pauses and episodes) it must not have
        // admitted more than the bucket allows either.
        let since = episodes[0].start;
        if episodes
            .iter()
            .any(|e| self.drain_since(since, e.end, rate).0 > burst + SLACK)
        {
            return None;
        }
        Some(Estimate {
            rate,
            burst,
            sigma: (hi - lo) / 2.0,
        })
    }

    /// The drain of `e` at `rate`, and the span it was drained over.
    fn drain(&self, e: &Episode, rate: f64) -> (f64, f64) {
        self.drain_since(e.start, e.end, rate)
    }

    /// `max over dispatches s in [since, end) of admitted(s..end) − rate × (end − s)`
    /// (at least 0), and the `end − s` where it is reached.
    fn drain_since(&self, since: Option<Instant>, end: Instant, rate: f64) -> (f64, f64) {
        let from = since.map_or(0, |s| self.log.partition_point(|d| d.at < s));
        let to = self.log.partition_point(|d| d.at < end);
        let (mut best, mut span, mut admitted) = (0.0, 0.0, 0u32);
        for d in self.log.range(from..to.max(from)).rev() {
            admitted += u32::from(d.admitted);
            let ago = end.duration_since(d.at).as_secs_f64();
            let v = f64::from(admitted) - rate * ago;
            if v > best {
                (best, span) = (v, ago);
            }
        }
        (best, span)
    }

    /// The limit of a sliding one-second window, if the last two episodes
    /// agree on one: each admitted the same number of requests (within one)
    /// in the second before its first refusal. A window limiter refuses
    /// exactly when that second holds its limit, however fast the run was
    /// going, while a bucket's count moves with the episode's length and
    /// rate (and a bucket is what [`BucketFit::estimate`] looks for first).
    pub(super) fn window_limit(&self) -> Option<usize> {
        let mut last = self
            .episodes
            .iter()
            .rev()
            .take(2)
            .map(|e| self.admitted(e.end.checked_sub(WINDOW), e.end));
        let (a, b) = (last.next()?, last.next()?);
        (a.abs_diff(b) <= 1 && a.min(b) >= MIN_WINDOW_LIMIT).then_some(a.min(b))
    }

    /// Requests admitted among those dispatched in [since, end).
    fn admitted(&self, since: Option<Instant>, end: Instant) -> usize {
        let from = since.map_or(0, |s| self.log.partition_point(|d| d.at < s));
        let to = self.log.partition_point(|d| d.at < end);
        self.log
            .range(from..to.max(from))
            .filter(|d| d.admitted)
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Dispatch evenly at `rate` from `from` against a bucket (`limit`,
    /// `burst`, full at `from`) until the first refusal; returns its time.
    fn episode(fit: &mut BucketFit, from: Instant, rate: f64, limit: f64, burst: f64) -> Instant {
        let mut tokens = burst;
        let mut last = from;
        for k in 0.. {
            let at = from + Duration::from_secs_f64(k as f64 / rate);
            tokens = (tokens + limit * (at - last).as_secs_f64()).min(burst);
            last = at;
            fit.dispatched(at);
            if tokens >= 1.0 {
                tokens -= 1.0;
            } else {
                fit.refused(at);
                fit.episode_ended(at, rate);
                return at;
            }
        }
        unreachable!()
    }

    #[test]
    fn two_episodes_pin_the_rate_and_burst() {
        let mut fit = BucketFit::default();
        let t0 = Instant::now();
        let end = episode(&mut fit, t0, 200.0, 50.0, 10.0);
        assert_eq!(fit.estimate(), None, "one episode says nothing");
        // After a one-second pause the bucket is full again.
        let end = episode(&mut fit, end + Duration::from_secs(1), 60.0, 50.0, 10.0);
        let e = fit.estimate().expect("two episodes of different lengths");
        assert!((e.rate - 50.0).abs() <= 2.0 * e.sigma + 0.5, "{e:?}");
        assert!((e.burst - 10.0).abs() < 1.5, "{e:?}");
        // A long third episode just above the limit tightens it.
        episode(&mut fit, end + Duration::from_secs(1), 51.0, 50.0, 10.0);
        let e = fit.estimate().unwrap();
        assert!((e.rate - 50.0).abs() < 0.5, "{e:?}");
        assert!(e.sigma < 0.01 * e.rate, "{e:?}");
        assert_eq!(fit.lowest_overflow(), Some(51.0));
    }

    #[test]
    fn a_limit_that_dropped_is_found_from_the_recent_episodes() {
        let mut fit = BucketFit::default();
        let mut end = Instant::now();
        for rate in [200.0, 60.0, 52.0] {
            end = episode(&mut fit, end + Duration::from_secs(1), rate, 50.0, 10.0);
        }
        for rate in [45.0, 35.0, 32.0] {
            end = episode(&mut fit, end + Duration::from_secs(1), rate, 30.0, 10.0);
        }
        let e = fit.estimate().expect("the three recent episodes agree");
        assert!((e.rate - 30.0).abs() < 1.0, "{e:?}");
    }

    #[test]
    fn a_sliding_window_is_no_bucket() {
        // 50 requests in any one second, whatever the send rate: episodes
        // all end after 50, and their drains agree only at a rate the
        // longer history contradicts.
        let mut fit = BucketFit::default();
        let mut start = Instant::now();
        for rate in [1000.0, 400.0, 150.0, 80.0] {
            for k in 0..=50 {
                let at = start + Duration::from_secs_f64(k as f64 / rate);
                fit.dispatched(at);
                if k == 50 {
                    fit.refused(at);
                    fit.episode_ended(at, rate);
                    start = at + Duration::from_secs(1);
                }
            }
        }
        assert_eq!(fit.estimate(), None);
    }

    #[test]
    fn later_429s_move_the_end_back_and_leave_the_history_bounded() {
        let mut fit = BucketFit::default();
        let t0 = Instant::now();
        for k in 0..(MAX_LOG as u64 + 10) {
            fit.dispatched(t0 + Duration::from_millis(k));
        }
        assert_eq!(fit.log.len(), MAX_LOG);
        let end = t0 + Duration::from_millis(MAX_LOG as u64 + 5);
        fit.refused(end);
        fit.episode_ended(end, 1000.0);
        let earlier = t0 + Duration::from_millis(MAX_LOG as u64);
        fit.refused(earlier);
        fit.refused_earlier(earlier);
        assert_eq!(fit.episodes.back().unwrap().end, earlier);
        assert_eq!(fit.log.iter().filter(|d| !d.admitted).count(), 2);
    }
}
