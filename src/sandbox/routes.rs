//! The HTTP surface: routing, shared state and the customer endpoint, which
//! runs a request through the gateway (throttle), authentication, id
//! validation and the tenant's scenario faults before answering.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::answers::{JSON, Reply, answer_for, reply_for, to_json};
use super::faults::{Fault, Malformation, tenant_faults_with};
use super::journal::TokenCheck;
use super::state::{AppState, MS_CORRELATION_ID, MS_REQUEST_ID};
use super::transport::{ConnSwitch, truncated};
use crate::model::GatewayError;

/// What the customer endpoint does with an authenticated request for a
/// valid id.
#[derive(Debug)]
enum Action {
    /// Send a complete response.
    Reply(Reply, &'static str),
    /// Close the connection without a response.
    Reset,
    /// Send the headers of this reply and about half its body.
    Truncate(Reply),
}

impl Action {
    fn status(&self) -> u16 {
        match self {
            Action::Reply(r, _) | Action::Truncate(r) => r.status.as_u16(),
            Action::Reset => 0,
        }
    }

    fn outcome(&self) -> &'static str {
        match self {
            Action::Reply(_, outcome) => outcome,
            Action::Reset => Fault::Reset.as_str(),
            Action::Truncate(_) => Fault::Truncated.as_str(),
        }
    }
}

/// The tenant's answer for this attempt, after the scenario's faults, and
/// how long to wait before giving it.
fn decide(st: &AppState, id: Uuid) -> (Action, Duration) {
    let (attempt, nth) = st.count_attempt(id);
    let faults = tenant_faults_with(st.cfg.seed, &id, &st.cfg.faults);
    let mut delay = st.latency();
    if st.cfg.slow && faults.slow && attempt == 1 {
        delay += st.cfg.slow_delay;
    }
    let flaky = st
        .cfg
        .flaky
        .then(|| faults.flaky.get(attempt as usize - 1).copied())
        .flatten();
    let action = if st.cfg.drop_every.is_some_and(|n| n > 0 && nth % n == 0) {
        Action::Reset
    } else if let Some(fault) = flaky {
        match fault {
            Fault::Unavailable => {
                Action::Reply(gateway(StatusCode::SERVICE_UNAVAILABLE), fault.as_str())
            }
            Fault::InternalError => Action::Reply(
                Reply::fault(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    None,
                    "An unexpected error occurred while processing the request.",
                ),
                fault.as_str(),
            ),
            Fault::Reset => Action::Reset,
            Fault::Truncated => Action::Truncate(reply_for(&id)),
        }
    } else if faults.broken {
        Action::Reply(
            Reply::fault(
                StatusCode::INTERNAL_SERVER_ERROR,
                None,
                "An unexpected error occurred while processing the request.",
            ),
            "broken",
        )
    } else if let Some(m) = faults.malformed.filter(|_| st.cfg.malformed) {
        malformed(m, &id)
    } else {
        Action::Reply(reply_for(&id), answer_for(&id).as_str())
    };
    (action, delay)
}

/// A 200 that is broken in the way `m` says.
fn malformed(m: Malformation, id: &Uuid) -> Action {
    let ok_json = |body| Reply {
        status: StatusCode::OK,
        content_type: JSON,
        body,
    };
    match m {
        Malformation::TruncatedJson => Action::Reply(ok_json(reply_for(id).body).cut(), m.as_str()),
        Malformation::Html => Action::Reply(Reply::html(), m.as_str()),
        Malformation::EmptyBody => Action::Reply(ok_json(Vec::new()), m.as_str()),
        // Partner Center's collection envelope: valid JSON, wrong resource.
        Malformation::WrongShape => Action::Reply(
            ok_json(to_json(&serde_json::json!({
                "totalCount": 0,
                "items": [],
                "links": {},
                "attributes": {"objectType": "Collection"}
            }))),
            m.as_str(),
        ),
        Malformation::TruncatedForGood => Action::Truncate(ok_json(reply_for(id).body)),
    }
}

/// A gateway-style error body for `status`.
pub(super) fn gateway(status: StatusCode) -> Reply {
    let body = GatewayError {
        status_code: status.as_u16(),
        message: status.canonical_reason().unwrap_or("Error").to_string(),
    };
    Reply {
        status,
        content_type: JSON,
        body: to_json(&body),
    }
}

pub(super) fn into_response(reply: Reply) -> Response {
    let mut response = (
        reply.status,
        [(header::CONTENT_TYPE, reply.content_type)],
        reply.body,
    )
        .into_response();
    // HTTP requires a challenge on every 401 (RFC 9110 §15.5.2).
    if reply.status == StatusCode::UNAUTHORIZED {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// `GET /v1/customers/{id}/qualifications`.
pub(super) async fn qualifications(
    State(st): State<Arc<AppState>>,
    ConnectInfo(conn): ConnectInfo<ConnSwitch>,
    Path(raw_id): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let arrival = st.arrivals.fetch_add(1, Ordering::SeqCst) + 1;
    if st.cfg.revoke_tokens_after == Some(arrival) {
        st.tokens.revoke_all();
    }
    let token = st.tokens.check(&headers, st.cfg.static_token.as_deref());
    let mut entry = st.entry("GET", uri.path().to_string(), &headers, token);
    let id = Uuid::try_parse(raw_id.trim()).ok();
    entry.customer = id;
    let echo = EchoIds::from(&headers);

    // The gateway throttles (or is down) before anything else and answers
    // at once.
    if let Some(response) = st.refused(&mut entry) {
        return echo.apply(response);
    }

    let (action, delay) = if !token.is_accepted() {
        (unauthorized(token), st.latency())
    } else if let Some(id) = id {
        decide(&st, id)
    } else {
        let reply = Reply::fault(StatusCode::BAD_REQUEST, Some(900118), "Invalid Customer Id");
        (Action::Reply(reply, "invalid-customer-id"), st.latency())
    };
    // Journal before waiting: a client that times out and hangs up still
    // leaves its request on record.
    entry.status = action.status();
    entry.outcome = action.outcome().to_string();
    st.journal.push(entry);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }

    match action {
        Action::Reply(reply, _) => echo.apply(into_response(reply)),
        Action::Reset => {
            conn.reset();
            // The body is never written: the flipped switch fails the write.
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
        Action::Truncate(reply) => {
            let body = reply.body.clone();
            echo.apply(truncated(into_response(reply), body))
        }
    }
}

/// 401 as Partner Center sends it: an `ApiFault` and `WWW-Authenticate`.
fn unauthorized(token: TokenCheck) -> Action {
    Action::Reply(unauthorized_reply(token), "unauthorized")
}

/// The body and status of [`unauthorized`].
pub(super) fn unauthorized_reply(token: TokenCheck) -> Reply {
    let (code, description) = match token {
        TokenCheck::Missing => (800001, "Partner Token missing in request context"),
        _ => (400, "Access denied"),
    };
    Reply::fault(StatusCode::UNAUTHORIZED, Some(code), description)
}

/// The request and correlation ids to echo: the caller's, or new ones, as
/// the real API generates any that are missing.
pub(super) struct EchoIds {
    request_id: HeaderValue,
    correlation_id: HeaderValue,
}

impl EchoIds {
    pub(super) fn from(headers: &HeaderMap) -> EchoIds {
        let or_new = |name: &HeaderName| {
            headers.get(name).cloned().unwrap_or_else(|| {
                HeaderValue::from_str(&Uuid::new_v4().to_string())
                    .expect("a GUID is a valid header value")
            })
        };
        EchoIds {
            request_id: or_new(&MS_REQUEST_ID),
            correlation_id: or_new(&MS_CORRELATION_ID),
        }
    }

    pub(super) fn apply(self, mut response: Response) -> Response {
        let h = response.headers_mut();
        h.insert(MS_REQUEST_ID, self.request_id);
        h.insert(MS_CORRELATION_ID, self.correlation_id);
        response
    }
}

/// Any other path: the gateway's 404.
pub(super) async fn unknown_path(
    State(st): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut entry = st.entry(
        method.as_str(),
        uri.path().to_string(),
        &headers,
        TokenCheck::NotApplicable,
    );
    entry.status = 404;
    entry.outcome = "unknown-path".to_string();
    st.journal.push(entry);
    let body = GatewayError {
        status_code: 404,
        message: "Resource not found".to_string(),
    };
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, JSON)],
        to_json(&body),
    )
        .into_response()
}
