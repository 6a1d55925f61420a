//! The built-in fake Partner Center: a real HTTP server on 127.0.0.1 that
//! answers `GET /v1/customers/{id}/qualifications` for any GUID (the answer
//! derived from the id, see [`answer_for`]), lists a configurable number of
//! generated customers at `GET /v1/customers`, and issues tokens from fake AAD
//! v1 and v2 endpoints on the same address, so `base_url()` is both the API
//! root and the authority. The fake AAD takes the app's secret or a client
//! assertion signed by a registered certificate, and redeems (and rotates) a
//! refresh token it was given.
//!
//! It exists for the quickstart (`qualrecon run --sandbox`), for
//! `qualrecon sandbox`, and as the test double of the client: scenarios add
//! throttling, transport faults, slow and malformed answers and short-lived
//! tokens, and a [`JournalEntry`] per request lets tests check what the
//! client sent and when.
//!
//! The sandbox shares only the wire model with the client: it serialises
//! `crate::model` types and never calls the client's parsing code.
//!
//! Files: `answers` (what each id gets), `faults` (which tenants misbehave),
//! `config` (scenarios and the `qualrecon sandbox` flags), `identity` (the
//! fake tenant, app and secret), `state` (what the handlers share),
//! `routes` (the customer endpoint), `customers` (the paged customer list),
//! `auth` (fake AAD token endpoints), `tokens` (issued, revoked and refresh
//! tokens), `aad_answer` (AAD's bodies and refusals), `assertion`
//! (certificate credentials), `testcert` (self-signed test certificates),
//! `throttle`, `transport` (resets and truncated bodies), `journal`,
//! `command` (`qualrecon sandbox`). Imports among them run one way (checked
//! by `tests/imports.rs`); this file holds the router and the running
//! server ([`Sandbox`]).

mod aad_answer;
mod answers;
mod assertion;
mod auth;
pub mod command;
mod config;
mod customers;
mod faults;
mod hash;
mod identity;
mod journal;
mod routes;
mod state;
pub mod testcert;
mod throttle;
mod tokens;
mod transport;

#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::Router;
use axum::routing::{get, post};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use answers::{Answer, answer_for, ids_for};
pub use config::{
    DEFAULT_CUSTOMERS, ListFault, RetryAfterStyle, SandboxArgs, SandboxConfig, ScenarioName,
    Throttle,
};
pub use customers::{MAX_PAGE_SIZE, listed_customer};
pub use faults::{
    Fault, FaultShares, Malformation, TenantFaults, tenant_faults, tenant_faults_with,
};
pub use identity::{CLIENT_ID, CLIENT_SECRET, STATIC_TOKEN, TENANT, TENANT_ID};
pub use journal::{JournalEntry, TokenCheck};
pub use testcert::TestCertificate;

use auth::{token_v1, token_v2};
use customers::customer_list;
use journal::Journal;
use routes::{qualifications, unknown_path};
use state::AppState;
use tokens::RefreshTokens;
use transport::{ConnSwitch, FaultListener};

/// How long [`Sandbox::shutdown`] lets in-flight requests finish.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The whole fake: Partner Center and AAD on one router.
fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/customers/{id}/qualifications", get(qualifications))
        .route("/v1/customers", get(customer_list))
        .route("/{tenant}/oauth2/v2.0/token", post(token_v2))
        .route("/{tenant}/oauth2/token", post(token_v1))
        .fallback(unknown_path)
        .with_state(state)
}

/// A running sandbox. Dropping it also stops the server (without waiting).
#[derive(Debug)]
pub struct Sandbox {
    addr: SocketAddr,
    journal: Journal,
    refresh_tokens: Arc<Mutex<RefreshTokens>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

impl Sandbox {
    /// Start on a free loopback port.
    pub async fn start(cfg: SandboxConfig) -> std::io::Result<Sandbox> {
        Sandbox::start_on(cfg, 0).await
    }

    /// Start on `127.0.0.1:port` (0 picks a free port).
    pub async fn start_on(cfg: SandboxConfig, port: u16) -> std::io::Result<Sandbox> {
        let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, port)).await?;
        let addr = listener.local_addr()?;
        let journal = Journal::new(cfg.record_journal);
        let state = Arc::new(AppState::new(cfg, journal.clone()));
        let refresh_tokens = state.tokens.refresh_tokens();
        let app = router(state).into_make_service_with_connect_info::<ConnSwitch>();
        let (stop, stopped) = oneshot::channel::<()>();
        let server = axum::serve(FaultListener::new(listener), app).with_graceful_shutdown(async {
            // A dropped sender counts as "stop" too.
            let _ = stopped.await;
        });
        let task = tokio::spawn(async move { server.await });
        Ok(Sandbox {
            addr,
            journal,
            refresh_tokens,
            stop,
            task,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`: the API root and the AAD authority.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The refresh token the fake AAD accepts now (the newest it issued, or
    /// the configured one before any redemption).
    pub fn refresh_token(&self) -> Option<String> {
        self.refresh_tokens
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .current
            .clone()
    }

    /// Every request so far, in arrival order.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.journal.snapshot()
    }

    /// Stop accepting, let in-flight requests finish (up to a few seconds),
    /// then stop.
    pub async fn shutdown(self) {
        let _ = self.stop.send(());
        let mut task = self.task;
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::warn!("sandbox server ended with an error: {e}"),
            Ok(Err(e)) => tracing::warn!("sandbox server task failed: {e}"),
            Err(_) => {
                tracing::warn!(
                    "sandbox: requests still running after {SHUTDOWN_GRACE:?}, aborting"
                );
                task.abort();
            }
        }
    }
}
