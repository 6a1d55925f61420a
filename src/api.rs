//! One customer lookup over HTTP: headers, status classification, error
//! bodies, Retry-After. No retries or pacing here (`lookup.rs` owns those).

use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{IntoUrl, StatusCode, Url};
use uuid::Uuid;

use crate::auth::{AuthError, Token};
use crate::model::{
    ApiFault, BodyError, GatewayError, Qualification, parse_qualifications, snippet, strip_bom,
};
use crate::transport::{
    MAX_API_BODY, ReadError, describe_transport, read_body, refused_redirect, status_line,
};
pub use crate::transport::{MAX_RETRY_AFTER, parse_retry_after};

/// The `MS-PartnerCenter-Application` / `User-Agent` value.
pub const APPLICATION: &str = concat!("qualrecon/", env!("CARGO_PKG_VERSION"));

/// The run's own headers, named once (a name given as text is parsed and
/// allocated on every request). HTTP/1 sends them in lower case either way.
const MS_REQUEST_ID: HeaderName = HeaderName::from_static("ms-requestid");
const MS_CORRELATION_ID: HeaderName = HeaderName::from_static("ms-correlationid");
const MS_APPLICATION: HeaderName = HeaderName::from_static("ms-partnercenter-application");

/// Why one lookup attempt did not produce qualifications. `lookup.rs`
/// branches on the variant (retry or not), the report shows `Display`.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LookupError {
    /// A 404: the tenant is unknown or not this partner's customer. Holds
    /// the status line and the API's own code and message; not retried.
    #[error(
        "{0} (hint: the customer tenant does not exist or is not one of this partner's customers; check the id)"
    )]
    NotFound(String),
    /// A 403: no reseller relationship, or the app lacks rights for this
    /// customer (the hint tells which). Not retried.
    #[error("{0} (hint: {hint})", hint = forbidden_hint(.0))]
    Forbidden(String),
    /// A 401: the token was refused. `lookup.rs` refreshes an OAuth token
    /// and tries once more; a run of these stops the run.
    #[error(
        "{0} (hint: the token was refused; an OAuth token is refreshed and tried once more first, a PARTNER_CENTER_TOKEN is not; check PARTNER_CENTER_TOKEN, or that the app registration has Partner Center access)"
    )]
    Unauthorized(String),
    /// A 429: retried after the server's `Retry-After`, or a backoff of
    /// our own when it sent none.
    #[error("{detail}")]
    Throttled {
        /// The server's `Retry-After`, capped at [`MAX_RETRY_AFTER`];
        /// `None` when absent or unreadable.
        retry_after: Option<Duration>,
        /// The status line and the API's error code and message.
        detail: String,
    },
    /// Any other HTTP status; 408 and 5xx are retried, no sooner than a
    /// `Retry-After` the server sent with it.
    #[error("{detail}")]
    Http {
        /// The HTTP status code as received.
        status: u16,
        /// The status line and the API's error code and message.
        detail: String,
        /// The server's `Retry-After`, capped at [`MAX_RETRY_AFTER`].
        retry_after: Option<Duration>,
    },
    /// No complete answer within `--request-timeout` (the duration held);
    /// retried.
    #[error("no complete answer within {0:?} (--request-timeout)")]
    Timeout(Duration),
    /// Could not connect, connection reset, body cut short.
    #[error("{0}")]
    Transport(String),
    /// A complete 200 whose body is not qualifications: never retried, never guessed.
    #[error("HTTP 200 but {0}")]
    Body(BodyError),
    /// A 3xx. Never followed (it would carry the token to wherever it
    /// points) and never retried: the answer would be the same.
    #[error("{0}")]
    Redirect(String),
    /// A 200 whose body is over [`MAX_API_BODY`]: not read, not retried.
    #[error("{0}")]
    TooLarge(String),
    /// No token to send: getting or refreshing one failed before the
    /// request went out.
    #[error("{0}")]
    Auth(AuthError),
}

fn forbidden_hint(detail: &str) -> &'static str {
    if detail.contains("20002") {
        "no reseller relationship with this customer; it may have ended the relationship or removed delegated admin"
    } else {
        "the app lacks rights for this customer: check the relationship, GDAP roles and app-only access"
    }
}

impl LookupError {
    /// The server's `Retry-After` on an answer worth retrying (429, 408, 5xx);
    /// `None` when it sent none, or when the answer is final anyway.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            LookupError::Throttled { retry_after, .. } => *retry_after,
            LookupError::Http { retry_after, .. } if self.is_retryable() => *retry_after,
            _ => None,
        }
    }

    /// The status, API code and description (or the fault) without the
    /// per-customer hint, for requests that are not about one customer.
    pub fn detail(&self) -> String {
        match self {
            LookupError::NotFound(d) | LookupError::Forbidden(d) | LookupError::Unauthorized(d) => {
                d.clone()
            }
            other => other.to_string(),
        }
    }

    /// Worth another attempt: 408, 429, 5xx, transport faults and timeouts.
    pub fn is_retryable(&self) -> bool {
        match self {
            LookupError::Throttled { .. } | LookupError::Timeout(_) | LookupError::Transport(_) => {
                true
            }
            LookupError::Http { status, .. } => *status == 408 || *status >= 500,
            LookupError::Auth(AuthError::Unavailable { .. }) => true,
            _ => false,
        }
    }
}

/// The Partner Center client. Cheap to share behind an `Arc`.
///
/// What every request repeats is built once here: the parsed API root,
/// the path prefix of a customer and the correlation header.
pub struct ApiClient {
    http: reqwest::Client,
    base_url: String,
    /// `base_url` parsed: a customer's URL is a copy with its path set,
    /// instead of parsing scheme and host again per request. `None` for a
    /// root that does not parse (refused by `config` already), whose
    /// requests then fail as reqwest reports it.
    base: Option<Url>,
    /// The root's path and `/v1/customers/`.
    customers_path: String,
    correlation: HeaderValue,
    timeout: Duration,
    /// Told of a 429's `Retry-After` as soon as its status and headers are
    /// in, before its body is read (see [`ThrottleHook`]).
    on_throttled: Option<ThrottleHook>,
}

/// Called with a 429's `Retry-After` the moment its headers arrive. The
/// whole run's pause must start then: a server that sends the body later
/// (a separate write, a slow proxy) would otherwise see requests inside
/// the window it just announced.
pub type ThrottleHook = std::sync::Arc<dyn Fn(Duration) + Send + Sync>;

impl ApiClient {
    /// `correlation_id` is sent on every call of the run, so one id finds the
    /// whole run in Microsoft's logs.
    pub fn new(
        http: reqwest::Client,
        base_url: &str,
        correlation_id: Uuid,
        timeout: Duration,
    ) -> ApiClient {
        let base = Url::parse(base_url).ok();
        let customers_path = format!(
            "{}/v1/customers/",
            base.as_ref().map_or("", |b| b.path().trim_end_matches('/'))
        );
        ApiClient {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            base,
            customers_path,
            correlation: header_value(&correlation_id),
            timeout,
            on_throttled: None,
        }
    }

    /// Call `hook` with the `Retry-After` of every 429, before its body is
    /// read.
    pub fn on_throttled(&mut self, hook: ThrottleHook) {
        self.on_throttled = Some(hook);
    }

    /// The URL for one customer.
    pub fn url(&self, customer: &Uuid) -> String {
        format!("{}/v1/customers/{customer}/qualifications", self.base_url)
    }

    /// [`ApiClient::url`], parsed: the API root's copy with the path set.
    fn customer_url(&self, base: &Url, customer: &Uuid) -> Url {
        let mut path = String::with_capacity(self.customers_path.len() + 64);
        path.push_str(&self.customers_path);
        path.push_str(
            customer
                .hyphenated()
                .encode_lower(&mut Uuid::encode_buffer()),
        );
        path.push_str("/qualifications");
        let mut url = base.clone();
        url.set_path(&path);
        url
    }

    /// The API root, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// One attempt. `request_id` stays the same across a lookup's retries.
    pub async fn get_qualifications(
        &self,
        customer: &Uuid,
        request_id: &Uuid,
        token: &Token,
    ) -> Result<Vec<Qualification>, LookupError> {
        let body = match &self.base {
            Some(base) => {
                let url = self.customer_url(base, customer);
                self.get(url, None, request_id, token).await?
            }
            None => {
                self.get(self.url(customer), None, request_id, token)
                    .await?
            }
        };
        parse_qualifications(&body).map_err(LookupError::Body)
    }

    /// One GET of `url` with the run's headers (and `extra`, e.g. a
    /// continuation token): the body of a 200, read under
    /// [`MAX_API_BODY`], or the classified failure.
    pub async fn get(
        &self,
        url: impl IntoUrl,
        extra: Option<(&str, &str)>,
        request_id: &Uuid,
        token: &Token,
    ) -> Result<Vec<u8>, LookupError> {
        let request = self.http.get(url);
        let request = match token.authorization() {
            Some(value) => request.header(AUTHORIZATION, value.clone()),
            // Not a valid header value: reqwest says why when it sends.
            None => request.bearer_auth(token.bearer()),
        };
        let mut request = request
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .header(MS_REQUEST_ID, header_value(request_id))
            .header(MS_CORRELATION_ID, self.correlation.clone())
            .header(MS_APPLICATION, HeaderValue::from_static(APPLICATION))
            .timeout(self.timeout);
        if let Some((name, value)) = extra {
            request = request.header(name, value);
        }
        let response = request.send().await.map_err(|e| self.transport(&e))?;
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS
            && let Some(hook) = &self.on_throttled
            && let Some(after) = retry_after_of(response.headers(), SystemTime::now())
        {
            hook(after);
        }
        if status.is_redirection() {
            let why = refused_redirect(status, response.headers(), response.url());
            return Err(LookupError::Redirect(why));
        }
        // A 200's headers are not needed: kept (copied) for errors only.
        let headers = (status != StatusCode::OK).then(|| response.headers().clone());
        let body = match read_body(response, MAX_API_BODY).await {
            Ok(body) => body,
            Err(ReadError::Source(e)) => return Err(self.transport(&e)),
            Err(ReadError::TooLarge(e)) => {
                let detail = format!("{}: {e}", status_line(status));
                // An error status still says what it says (a 503 is worth
                // a retry, a 404 is not); only its body goes unread.
                return Err(match &headers {
                    None => LookupError::TooLarge(detail),
                    Some(headers) => classify_detail(status, headers, detail, SystemTime::now()),
                });
            }
        };
        match &headers {
            None => Ok(body),
            Some(headers) => Err(classify(status, headers, &body, SystemTime::now())),
        }
    }

    fn transport(&self, e: &reqwest::Error) -> LookupError {
        if e.is_timeout() {
            LookupError::Timeout(self.timeout)
        } else {
            LookupError::Transport(describe_transport(e))
        }
    }
}

/// An id as a header value, formatted on the stack.
fn header_value(id: &Uuid) -> HeaderValue {
    let mut buffer = Uuid::encode_buffer();
    HeaderValue::from_str(id.hyphenated().encode_lower(&mut buffer))
        .expect("a hyphenated UUID is a valid header value")
}

/// The `Retry-After` of an answer, if it has a readable one.
fn retry_after_of(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now))
}

/// A non-200 answer → the error the report and the retry policy need.
pub fn classify(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> LookupError {
    let detail = describe_status(status, body);
    // 400 with 900118 "Invalid Customer Id": Partner Center's way of
    // saying there is no such customer, like 404 with 60003.
    if status == StatusCode::BAD_REQUEST && fault_code(body).as_deref() == Some(INVALID_CUSTOMER_ID)
    {
        return LookupError::NotFound(detail);
    }
    classify_detail(status, headers, detail, now)
}

/// The API's error code for "Invalid Customer Id" (on a 400).
const INVALID_CUSTOMER_ID: &str = "900118";

/// The `code` of an ApiFault body (any key case), as text.
fn fault_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(strip_bom(body)).ok()?;
    let (_, code) = value
        .as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("code"))?;
    match code {
        serde_json::Value::Number(n) => Some(n.to_string()),
        serde_json::Value::String(s) => Some(s.trim().to_string()),
        _ => None,
    }
}

/// [`classify`] with the words already chosen.
fn classify_detail(
    status: StatusCode,
    headers: &HeaderMap,
    detail: String,
    now: SystemTime,
) -> LookupError {
    let retry_after = retry_after_of(headers, now);
    match status.as_u16() {
        404 => LookupError::NotFound(detail),
        403 => LookupError::Forbidden(detail),
        401 => LookupError::Unauthorized(detail),
        429 => LookupError::Throttled {
            retry_after,
            detail,
        },
        code => LookupError::Http {
            status: code,
            detail,
            retry_after,
        },
    }
}

/// `HTTP 404 Not Found, code 60003: Tenant not found`, from whichever error
/// body shape the API used (ApiFault, gateway, bare string, empty, HTML),
/// without any credential the server may have quoted back.
pub fn describe_status(status: StatusCode, body: &[u8]) -> String {
    let text = describe_body(status, body);
    crate::redact::scrub(&text).into_owned()
}

fn describe_body(status: StatusCode, body: &[u8]) -> String {
    let head = status_line(status);
    let body = strip_bom(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return format!("{head} (empty body)");
    }
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        if let serde_json::Value::String(text) = &value {
            return format!("{head}: {text}");
        }
        if let Some(map) = value.as_object() {
            let lower: serde_json::Map<String, serde_json::Value> = map
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
                .collect();
            if lower.contains_key("statuscode") && lower.contains_key("message") {
                let mut fixed = serde_json::Map::new();
                fixed.insert("statusCode".into(), lower["statuscode"].clone());
                fixed.insert("message".into(), lower["message"].clone());
                if let Ok(g) = serde_json::from_value::<GatewayError>(fixed.into()) {
                    return format!("{head}: {}", g.message);
                }
            }
            if let Ok(f) = serde_json::from_value::<ApiFault>(lower.into())
                && (f.code.is_some() || f.description.is_some())
            {
                let code = f.code.map(|c| format!(", code {c}")).unwrap_or_default();
                let description = f.description.map(|d| format!(": {d}")).unwrap_or_default();
                return format!("{head}{code}{description}");
            }
        }
    }
    format!("{head}: {}", snippet(body, 160))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap()
    }

    #[test]
    fn error_bodies_of_every_shape_are_named() {
        let cases: [(u16, &str, &str); 7] = [
            (
                404,
                r#"{"code":60003,"description":"Tenant not found","data":[],"source":"PartnerFD"}"#,
                "HTTP 404 Not Found, code 60003: Tenant not found",
            ),
            (
                403,
                r#"{"code":"20002","description":"No relationship between caller and account."}"#,
                "HTTP 403 Forbidden, code 20002: No relationship between caller and account.",
            ),
            (
                429,
                r#"{ "statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds." }"#,
                "HTTP 429 Too Many Requests: Rate limit is exceeded. Try again in 57 seconds.",
            ),
            (
                400,
                r#""Customer tagging denied.""#,
                "HTTP 400 Bad Request: Customer tagging denied.",
            ),
            (403, "", "HTTP 403 Forbidden (empty body)"),
            (
                502,
                "<html><body>Bad Gateway</body></html>",
                "HTTP 502 Bad Gateway: <html><body>Bad Gateway</body></html>",
            ),
            (
                401,
                "\u{feff}{\"Code\":800001,\"Description\":\"Partner Token missing\"}",
                "HTTP 401 Unauthorized, code 800001: Partner Token missing",
            ),
        ];
        for (code, body, want) in cases {
            assert_eq!(describe_status(status(code), body.as_bytes()), want);
        }
    }

    #[test]
    fn classification_decides_retries() {
        let now = SystemTime::now();
        let h = HeaderMap::new();
        assert!(!classify(status(404), &h, b"", now).is_retryable());
        assert!(!classify(status(403), &h, b"", now).is_retryable());
        assert!(!classify(status(400), &h, b"", now).is_retryable());
        assert!(!classify(status(401), &h, b"", now).is_retryable());
        for code in [408, 429, 500, 502, 503, 504] {
            assert!(
                classify(status(code), &h, b"", now).is_retryable(),
                "{code}"
            );
        }
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "7".parse().unwrap());
        match classify(status(429), &h, b"", now) {
            LookupError::Throttled { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(7)));
            }
            other => panic!("{other:?}"),
        }
        // 400 with 900118 "Invalid Customer Id" (number or text code) says
        // there is no such customer; another 400 stays a failure.
        for body in [
            r#"{"code":900118,"description":"Invalid Customer Id"}"#,
            r#"{"Code":"900118","Description":"Invalid Customer Id"}"#,
        ] {
            let e = classify(status(400), &h, body.as_bytes(), now);
            assert!(matches!(e, LookupError::NotFound(_)), "{e:?}");
            assert!(
                e.to_string().contains("code 900118: Invalid Customer Id"),
                "{e}"
            );
        }
        let other = classify(status(400), &h, br#"{"code":1,"description":"x"}"#, now);
        assert!(
            matches!(other, LookupError::Http { status: 400, .. }),
            "{other:?}"
        );
        assert!(!LookupError::Body(BodyError::Empty).is_retryable());
        assert!(!LookupError::Redirect("HTTP 302 Found".into()).is_retryable());
        assert!(!LookupError::TooLarge("HTTP 200 OK".into()).is_retryable());
        // A Retry-After counts only on an answer worth retrying.
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3600".parse().unwrap());
        let hour = Some(Duration::from_secs(3600));
        assert_eq!(classify(status(429), &h, b"", now).retry_after(), hour);
        assert_eq!(classify(status(503), &h, b"", now).retry_after(), hour);
        assert_eq!(classify(status(400), &h, b"", now).retry_after(), None);
        assert_eq!(classify(status(404), &h, b"", now).retry_after(), None);
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, "3".parse().unwrap());
        match classify(status(503), &h, b"", now) {
            LookupError::Http { retry_after, .. } => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_both_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("1", now), Some(Duration::from_secs(1)));
        assert_eq!(
            parse_retry_after(" 57 ", now),
            Some(Duration::from_secs(57))
        );
        assert_eq!(
            parse_retry_after("0.5", now),
            Some(Duration::from_millis(500))
        );
        let date = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(parse_retry_after(&date, now), Some(Duration::from_secs(30)));
        let past = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        for bad in ["", "soon", "-1", "NaN", "inf"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
        // Long waits are real answers (they stop the run beyond --max-wait),
        // read up to the cap.
        assert_eq!(
            parse_retry_after("3600", now),
            Some(Duration::from_secs(3600))
        );
        for huge in ["99999999", "99999999999999999999999", "1e300"] {
            assert_eq!(
                parse_retry_after(huge, now),
                Some(MAX_RETRY_AFTER),
                "{huge}"
            );
        }
        let far = httpdate::fmt_http_date(now + Duration::from_secs(86_400 * 1000));
        assert_eq!(parse_retry_after(&far, now), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn forbidden_hint_names_the_relationship() {
        let e = LookupError::Forbidden("HTTP 403 Forbidden, code 20002: No relationship".into());
        assert!(e.to_string().contains("reseller relationship"));
    }

    proptest::proptest! {
        #[test]
        fn retry_after_never_panics_and_stays_bounded(s in ".{0,40}") {
            if let Some(d) = parse_retry_after(&s, SystemTime::now()) {
                proptest::prop_assert!(d <= MAX_RETRY_AFTER);
            }
        }
    }
}
