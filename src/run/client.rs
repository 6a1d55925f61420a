//! The client side of a run: the sandbox when asked for, the HTTP client,
//! the credentials, and the token preflight, all behind one [`Client`].

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use uuid::Uuid;

use crate::api::{APPLICATION, ApiClient};
use crate::auth::{ClientCredential, ClientCredentials, Credentials, RefreshToken, TokenProvider};
use crate::config::{self, Auth, Config};
use crate::customers::{self, Listing};
use crate::lookup::{Lookup, LookupSettings, Stop};
use crate::pacer::Pacer;
use crate::sandbox::{self, Sandbox, SandboxConfig};

/// What talks to Partner Center: the sandbox (kept alive until the end of
/// the command), the API root, and the lookup machinery that every request
/// goes through.
pub(super) struct Client {
    sandbox: Option<Sandbox>,
    /// The API root (the sandbox's with `--sandbox`).
    pub(super) base_url: String,
    /// Sent as `MS-CorrelationId` on every request.
    pub(super) correlation_id: Uuid,
    /// Shared by every request of the run.
    pub(super) lookup: Arc<Lookup>,
    /// Whether a token was fetched (see [`Client::prove`]).
    proved: bool,
}

impl Client {
    /// Start the sandbox if asked and build the client side. No request yet.
    pub(super) async fn connect(cfg: &Config, stop: Stop) -> anyhow::Result<Client> {
        let sandbox = if cfg.sandbox {
            Some(start_sandbox(&cfg.auth).await?)
        } else {
            None
        };
        let base_url = sandbox
            .as_ref()
            .map_or_else(|| cfg.base_url.clone(), Sandbox::base_url);

        let http = http_client(cfg, &base_url)?;

        log_sign_in(&cfg.auth);
        let credentials = credentials(&cfg.auth, &base_url);
        let auth = TokenProvider::new(http.clone(), credentials);

        let correlation_id = Uuid::new_v4();
        let api = ApiClient::new(http, &base_url, correlation_id, cfg.request_timeout);
        // For an unknown number of customers: `for_customers` sets the
        // settings again once they are known (the retry budget grows with
        // the customers).
        let mut settings = LookupSettings::new(cfg.concurrency as usize, 0);
        // The list of `--all-customers` keeps to `--max-wait` too.
        settings.max_wait = cfg.max_wait;
        let lookup = Lookup::new(api, auth, Pacer::new(cfg.rate), settings, stop);
        Ok(Client {
            sandbox,
            base_url,
            correlation_id,
            lookup: Arc::new(lookup),
            proved: false,
        })
    }

    /// Fetch the first token before any customer request, so wrong
    /// credentials fail the run before it changes anything. Raced against
    /// the stop switch: a hanging token endpoint must not keep a signal or
    /// the deadline from acting. `false`: the run was stopped first (the
    /// credentials are not proved, and the earlier journal must stay).
    /// Once proved, they stay proved.
    pub(super) async fn prove(&mut self) -> anyhow::Result<bool> {
        if self.proved {
            return Ok(true);
        }
        let lookup = &self.lookup;
        if lookup.stop.reason().is_some() {
            return Ok(false);
        }
        self.proved = tokio::select! {
            biased;
            () = lookup.stop.wait() => false,
            token = lookup.auth.token() => {
                token.context("authentication failed")?;
                true
            }
        };
        Ok(self.proved)
    }

    /// `--all-customers`: every page of the customer list (a run proves
    /// the credentials first).
    pub(super) async fn list_customers(&self, limit: Option<u64>) -> anyhow::Result<Listing> {
        let listing = customers::list_customers(&self.lookup, limit).await?;
        // As with an empty input file: far more likely a wrong tenant or
        // app than a partner without customers, and an empty "complete"
        // report would tell `--previous` that every customer went away.
        anyhow::ensure!(
            !listing.input.rows.is_empty(),
            "Partner Center listed no customers at all; nothing to look up, nothing written: check that --tenant and the app registration are the partner's"
        );
        Ok(listing)
    }

    /// The retry policy for looking up `customers` customers (before the
    /// first lookup).
    pub(super) fn for_customers(&mut self, cfg: &Config, customers: usize) {
        let lookup =
            Arc::get_mut(&mut self.lookup).expect("settings are set before any lookup starts");
        lookup.settings = LookupSettings::new(cfg.concurrency as usize, customers);
        lookup.settings.max_wait = cfg.max_wait;
    }

    /// The end of the command: stop the sandbox, if any.
    pub(super) async fn close(self) {
        if let Some(sb) = self.sandbox {
            sb.shutdown().await;
        }
    }
}

fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| crate::transport::is_loopback(&u))
}

/// The built-in fake Partner Center for `--sandbox`; it also accepts a
/// static token the user set, and trusts the certificate and the refresh
/// token the run signs in with (no account needed to try them).
async fn start_sandbox(auth: &Auth) -> anyhow::Result<Sandbox> {
    // Nobody reads the request journal of the run's own sandbox: without
    // it, memory stays flat however many customers the run looks up.
    let mut sc = SandboxConfig {
        record_journal: false,
        ..SandboxConfig::default()
    };
    match auth {
        Auth::Static(token) => {
            sc.static_token = Some(secrecy::ExposeSecret::expose_secret(token).to_string());
        }
        Auth::Sandbox {
            certificate,
            refresh_token,
            ..
        } => {
            sc.client_certificates = certificate
                .iter()
                .map(|c| c.certificate_der().to_vec())
                .collect();
            sc.refresh_token = refresh_token
                .as_ref()
                .map(|r| secrecy::ExposeSecret::expose_secret(&r.token).to_string());
        }
        Auth::Client { .. } => {}
    }
    let sb = Sandbox::start(sc)
        .await
        .context("starting the built-in sandbox")?;
    tracing::info!(
        "sandbox: fake Partner Center listening on {}",
        sb.base_url()
    );
    Ok(sb)
}

/// Longest wait for a TCP and TLS connection (shorter when
/// `--request-timeout` is): a host that does not answer should fail fast
/// and be retried, not eat the whole request timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Idle pooled connections are closed after this (reqwest's default,
/// stated): long enough to carry over a Retry-After pause.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keepalive probes on idle connections, so a dead peer or a NAT that
/// dropped the flow is noticed before the next request uses the socket.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// One client for the whole run (token and API requests share its pool).
fn http_client(cfg: &Config, base_url: &str) -> anyhow::Result<reqwest::Client> {
    let mut http = reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT.min(cfg.request_timeout))
        // The default for every request, token requests included.
        .timeout(cfg.request_timeout)
        .pool_max_idle_per_host(cfg.concurrency as usize)
        .pool_idle_timeout(POOL_IDLE_TIMEOUT)
        .tcp_keepalive(TCP_KEEPALIVE)
        // A redirect would carry the bearer token or the client secret to
        // wherever it points: a 3xx is an answer (a failed row, or a fatal
        // auth error), never followed.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(APPLICATION);
    if is_loopback(base_url) {
        // A corporate HTTP(S)_PROXY must not capture the local sandbox.
        http = http.no_proxy();
    }
    http.build().context("building the HTTP client")
}

/// Where tokens come from; the sandbox has its own app registration.
fn credentials(auth: &Auth, base_url: &str) -> Credentials {
    let refresh = |r: &Option<config::RefreshTokenSetting>| {
        r.as_ref()
            .map(|r| RefreshToken::new(r.token.clone(), r.file.clone(), r.trailing_newline))
    };
    match auth {
        Auth::Static(token) => Credentials::Static(token.clone()),
        Auth::Client {
            tenant,
            client_id,
            credential,
            refresh_token,
            authority,
            endpoint,
        } => Credentials::Client(ClientCredentials {
            token_url: ClientCredentials::token_url(authority, tenant, *endpoint),
            client_id: client_id.clone(),
            credential: credential.clone(),
            endpoint: *endpoint,
            refresh_token: refresh(refresh_token),
        }),
        Auth::Sandbox {
            endpoint,
            certificate,
            refresh_token,
        } => Credentials::Client(ClientCredentials {
            token_url: ClientCredentials::token_url(base_url, sandbox::TENANT, *endpoint),
            client_id: sandbox::CLIENT_ID.to_string(),
            credential: match certificate {
                Some(c) => ClientCredential::Certificate(c.clone()),
                None => ClientCredential::Secret(crate::redact::secret(
                    sandbox::CLIENT_SECRET.to_string(),
                )),
            },
            endpoint: *endpoint,
            refresh_token: refresh(refresh_token),
        }),
    }
}

/// Say how the run signs in (never with the secret or token), and warn
/// while there is time to renew a certificate that expires soon.
fn log_sign_in(auth: &Auth) {
    let (certificate, refresh_token) = match auth {
        Auth::Static(_) => {
            tracing::info!(
                "signing in with the bearer token in PARTNER_CENTER_TOKEN (nothing to refresh: a 401 is final)"
            );
            return;
        }
        Auth::Client {
            credential,
            refresh_token,
            ..
        } => (
            match credential {
                ClientCredential::Certificate(c) => Some(c),
                ClientCredential::Secret(_) => None,
            },
            refresh_token,
        ),
        Auth::Sandbox {
            certificate,
            refresh_token,
            ..
        } => (certificate.as_ref(), refresh_token),
    };
    if let Some(r) = refresh_token {
        match &r.file {
            Some(path) => tracing::info!("signing in with the refresh token in {}", path.display()),
            None => {
                tracing::info!("signing in with the refresh token in PARTNER_CENTER_REFRESH_TOKEN")
            }
        }
    }
    if certificate.is_none() && refresh_token.is_none() {
        tracing::info!("signing in with the client secret (client credentials)");
    }
    if let Some(c) = certificate {
        tracing::info!("signing in with the certificate {}", c.describe());
        let left = c.not_after() - Utc::now();
        if left < chrono::Duration::days(30) {
            tracing::warn!(
                "the client certificate expires in {} days ({}): create a new one and register it on the app before then",
                left.num_days(),
                c.not_after().format("%Y-%m-%d")
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("http://127.0.0.1:8080"));
        assert!(is_loopback("http://localhost:1/x"));
        assert!(is_loopback("http://[::1]:1"));
        assert!(!is_loopback("https://api.partnercenter.microsoft.com"));
    }
}
