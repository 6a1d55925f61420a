//! A record of every request the sandbox received, so tests can assert
//! pacing, retries, headers and Retry-After discipline without a mocking
//! crate. Secrets never enter it: only whether a bearer token was valid and
//! the *names* of token-request form fields.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// One request as the sandbox saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalEntry {
    /// Arrival time, since the sandbox started.
    pub at: Duration,
    /// `GET`, `POST`, …
    pub method: String,
    /// The request path, without the query.
    pub path: String,
    /// The query string of a customer-list request (`size=500`, …).
    pub query: Option<String>,
    /// The `MS-ContinuationToken` header of a customer-list request.
    pub continuation_token: Option<String>,
    /// The customer id of a qualifications request, when it is a GUID.
    pub customer: Option<Uuid>,
    /// The `MS-RequestId` header as received.
    pub request_id: Option<String>,
    /// The `MS-CorrelationId` header as received.
    pub correlation_id: Option<String>,
    /// The `MS-PartnerCenter-Application` header as received.
    pub application: Option<String>,
    /// The `Accept` header as received.
    pub accept: Option<String>,
    /// What the bearer token was (never the token itself).
    pub token: TokenCheck,
    /// The status sent, or 0 when the connection was reset with no response.
    pub status: u16,
    /// What happened, e.g. `approved`, `throttled`, `reset`, `truncated`,
    /// `token-issued`, `invalid_client`.
    pub outcome: String,
    /// On a 429 (or a maintenance 503) with `Retry-After`: the end of the
    /// announced window, since the sandbox started. A client must send
    /// nothing before it.
    pub retry_after_until: Option<Duration>,
    /// Token requests: the names of the form fields, never their values.
    pub form_keys: Vec<String>,
    /// Token requests: the `grant_type` sent (`client_credentials`,
    /// `refresh_token`); not a secret.
    pub grant_type: Option<String>,
    /// Token requests signed with a certificate: the client assertion's
    /// claims, when they could be read (never the signed assertion itself).
    pub assertion: Option<crate::model::AssertionClaims>,
}

/// The verdict on a request's bearer token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCheck {
    /// The endpoint takes no bearer token (token endpoints, unknown paths).
    NotApplicable,
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A token this sandbox issued, not yet expired.
    Valid,
    /// The configured static token.
    Static,
    /// A token this sandbox issued, past its expiry.
    Expired,
    /// A token this sandbox issued before `revoke_tokens_after` struck.
    Revoked,
    /// Anything else.
    Unknown,
}

impl TokenCheck {
    /// Whether the request may proceed.
    pub fn is_accepted(self) -> bool {
        matches!(self, TokenCheck::Valid | TokenCheck::Static)
    }
}

/// The shared, append-only list of entries and the clock they are timed by.
#[derive(Debug, Clone)]
pub(crate) struct Journal {
    started: Instant,
    /// Whether entries are kept at all (a long-running `qualrecon sandbox`
    /// would otherwise grow by every request).
    record: bool,
    entries: Arc<Mutex<Vec<JournalEntry>>>,
}

impl Journal {
    pub(crate) fn new(record: bool) -> Journal {
        Journal {
            started: Instant::now(),
            record,
            entries: Arc::default(),
        }
    }

    /// Time since the sandbox started.
    pub(crate) fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    pub(crate) fn push(&self, entry: JournalEntry) {
        if !self.record {
            return;
        }
        // A panic elsewhere while holding the lock cannot leave a Vec half
        // pushed, so a poisoned journal is still a good journal.
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(entry);
    }

    pub(crate) fn snapshot(&self) -> Vec<JournalEntry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}
