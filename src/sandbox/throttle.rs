//! The token bucket behind the `throttle` scenario, and the 429 it sends.

use std::collections::VecDeque;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::answers::{JSON, to_json};
use super::config::{RetryAfterStyle, Throttle};
use crate::model::GatewayError;

/// A classic token bucket: `rate` tokens a second up to `burst`; a request
/// takes one token or is refused. Or, for `--throttle-window`, a sliding
/// one-second window admitting `rate` requests.
#[derive(Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
    /// When the requests admitted in the last second arrived, for a window.
    window: Option<VecDeque<Instant>>,
}

impl TokenBucket {
    /// A full bucket (or an empty window).
    pub(crate) fn new(t: &Throttle) -> TokenBucket {
        TokenBucket {
            rate: t.rate,
            burst: t.burst,
            tokens: t.burst,
            last: Instant::now(),
            window: t.window.then(VecDeque::new),
        }
    }

    /// Take a token at `now`; `false` means "throttle this request".
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        if let Some(admitted) = &mut self.window {
            while admitted
                .front()
                .is_some_and(|t| now.saturating_duration_since(*t) >= Duration::from_secs(1))
            {
                admitted.pop_front();
            }
            let ok = (admitted.len() as f64) < self.rate;
            if ok {
                admitted.push_back(now);
            }
            return ok;
        }
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// A 429 as the API gateway sends it, and when its announced window ends
/// (relative to `now_since_start`), for the journal.
pub(crate) fn too_many_requests(
    style: RetryAfterStyle,
    now_since_start: Duration,
) -> (Response, Option<Duration>) {
    let wait = style.seconds().unwrap_or(1);
    come_back_later(
        StatusCode::TOO_MANY_REQUESTS,
        format!("Rate limit is exceeded. Try again in {wait} seconds."),
        style,
        now_since_start,
    )
}

/// A 503 announcing a maintenance window of `seconds` with `Retry-After`,
/// and when that window ends (relative to `now_since_start`).
pub(crate) fn service_unavailable(
    seconds: u64,
    now_since_start: Duration,
) -> (Response, Option<Duration>) {
    come_back_later(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("Service is down for maintenance. Try again in {seconds} seconds."),
        RetryAfterStyle::Seconds(seconds),
        now_since_start,
    )
}

/// A gateway error body with `status`, announcing when to come back as
/// `style` says; returns the end of the announced window, for the journal.
fn come_back_later(
    status: StatusCode,
    message: String,
    style: RetryAfterStyle,
    now_since_start: Duration,
) -> (Response, Option<Duration>) {
    let body = GatewayError {
        status_code: status.as_u16(),
        message,
    };
    let mut response = (status, [(header::CONTENT_TYPE, JSON)], to_json(&body)).into_response();
    let (value, until) = match style {
        RetryAfterStyle::Seconds(n) => (
            Some(HeaderValue::from(n)),
            Some(now_since_start + Duration::from_secs(n)),
        ),
        RetryAfterStyle::HttpDate(n) => {
            // An HTTP date has whole seconds: round up, so the window is at
            // least `n` seconds, and journal the instant actually announced.
            let now = SystemTime::now();
            let target = now + Duration::from_secs(n);
            let whole = target
                .duration_since(UNIX_EPOCH)
                .map(|d| UNIX_EPOCH + Duration::from_secs(d.as_secs() + 1))
                .unwrap_or(target);
            let ahead = whole.duration_since(now).unwrap_or_default();
            let value = HeaderValue::from_str(&httpdate::fmt_http_date(whole))
                .expect("an IMF-fixdate is a valid header value");
            (Some(value), Some(now_since_start + ahead))
        }
        RetryAfterStyle::Missing => (None, None),
    };
    if let Some(value) = value {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    (response, until)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_admits_the_burst_then_the_rate() {
        let t = Throttle {
            rate: 10.0,
            burst: 3.0,
            retry_after: RetryAfterStyle::Seconds(1),
            window: false,
        };
        let mut b = TokenBucket::new(&t);
        let t0 = Instant::now();
        assert!((0..3).all(|_| b.try_take(t0)));
        assert!(!b.try_take(t0));
        assert!(!b.try_take(t0 + Duration::from_millis(50)));
        assert!(b.try_take(t0 + Duration::from_millis(160)));
        // A long pause refills to the burst, no further.
        let later = t0 + Duration::from_secs(60);
        assert_eq!((0..10).filter(|_| b.try_take(later)).count(), 3);
    }

    #[test]
    fn window_admits_the_rate_in_any_one_second() {
        let t = Throttle {
            rate: 3.0,
            burst: 1.0,
            retry_after: RetryAfterStyle::Seconds(1),
            window: true,
        };
        let mut w = TokenBucket::new(&t);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        assert!(w.try_take(at(0)) && w.try_take(at(100)) && w.try_take(at(900)));
        assert!(!w.try_take(at(950)));
        // The first leaves the window at 1,000 ms, the second at 1,100.
        assert!(w.try_take(at(1000)));
        assert!(!w.try_take(at(1050)));
        assert!(w.try_take(at(1100)));
    }
}
