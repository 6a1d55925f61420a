//! How the fake AAD answers: JSON with AAD's caching headers, and its
//! refusals ([`AadFailure`]) with AAD's real error body.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::model::AadError;

/// Why AAD refuses a token request: its HTTP status, `error`, AADSTS code
/// and the first sentence(s) of `error_description`.
#[derive(Debug, thiserror::Error)]
#[error("AADSTS{code}: {message}")]
pub(crate) struct AadFailure {
    status: StatusCode,
    pub(super) error: &'static str,
    code: i64,
    message: String,
}

impl AadFailure {
    pub(crate) fn new(
        status: StatusCode,
        error: &'static str,
        code: i64,
        message: String,
    ) -> AadFailure {
        AadFailure {
            status,
            error,
            code,
            message,
        }
    }

    pub(super) fn missing(parameter: &str) -> AadFailure {
        AadFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            format!("The request body must contain the following parameter: '{parameter}'."),
        )
    }

    /// AAD's body: the description ends with trace and correlation ids and
    /// a timestamp on their own lines, as the real service writes it.
    pub(super) fn into_response(self, correlation_id: Uuid) -> Response {
        let trace_id = Uuid::new_v4();
        let timestamp = chrono::Utc::now().format("%Y-%m-%d %H:%M:%SZ").to_string();
        let body = AadError {
            error: self.error.to_string(),
            error_description: Some(format!(
                "{self}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            )),
            error_codes: vec![self.code],
            timestamp: Some(timestamp),
            trace_id: Some(trace_id.to_string()),
            correlation_id: Some(correlation_id.to_string()),
            error_uri: Some(format!(
                "https://login.microsoftonline.com/error?code={}",
                self.code
            )),
        };
        json_response(self.status, &body)
    }
}

pub(super) fn json_response<T: serde::Serialize>(status: StatusCode, body: &T) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store, no-cache"),
        ],
        serde_json::to_vec(body).expect("wire model types always serialise"),
    )
        .into_response()
}
