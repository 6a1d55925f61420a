//! Bearer tokens: a static one, or OAuth2 tokens from AAD (v2 `scope` or v1
//! `resource`), cached, refreshed ahead of expiry, shared by all requests
//! (one refresh at a time, no stampede on the endpoint). AAD is asked with
//! the client-credentials grant, or with the refresh-token grant when a
//! refresh token is configured (Secure Application Model); either way the
//! app proves itself with its secret or a certificate-signed assertion.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::certificate::ClientCertificate;
use crate::model::{AadError, CLIENT_ASSERTION_TYPE, NumberOrString, TokenResponse, snippet};
use crate::transport::{
    MAX_TOKEN_BODY, ReadError, describe_transport, read_body, refused_redirect, status_line,
};

/// The audience every Partner Center token must have.
pub const PARTNER_CENTER_RESOURCE: &str = "https://api.partnercenter.microsoft.com";

/// Refresh when this share of the lifetime is left, so the margin scales
/// down for the few-second tokens of tests and up for hour-long real ones.
const REFRESH_SHARE: f64 = 0.2;
/// …but never earlier than this before expiry.
const MAX_REFRESH_MARGIN: Duration = Duration::from_secs(300);
/// Attempts at the token endpoint for transport errors and 5xx.
const TOKEN_ATTEMPTS: u32 = 3;
/// Wait before the second attempt; it doubles before each later one.
const TOKEN_RETRY_WAIT: Duration = Duration::from_millis(500);
/// A token endpoint that asks (Retry-After on a 429 or 503) to be called
/// again within this long is waited for; one that asks for longer is not
/// called again at all: a sign-in does not sit out an outage, and calling
/// early would send the credential into the window it announced.
const TOKEN_LONGEST_RETRY_AFTER: Duration = Duration::from_secs(60);
/// The shortest lifetime a token is taken to have, in seconds: a nonsense
/// `expires_in` (0, negative) must not make every request fetch a token.
const SHORTEST_TOKEN_LIFETIME_S: f64 = 1.0;
/// The longest, a day: a nonsense `expires_in` must neither overflow a
/// `Duration` nor pin a token for ever.
const LONGEST_TOKEN_LIFETIME_S: f64 = 86_400.0;
/// The lifetime assumed when the answer states none: an hour, AAD's usual
/// (a 401 still triggers a refresh if the guess is wrong).
const ASSUMED_TOKEN_LIFETIME_S: f64 = 3600.0;

/// Where tokens come from.
pub enum Credentials {
    /// `PARTNER_CENTER_TOKEN`: used as is, never refreshed.
    Static(SecretString),
    /// OAuth2 client credentials.
    Client(ClientCredentials),
}

/// What a token request needs.
pub struct ClientCredentials {
    /// The full token endpoint URL.
    pub token_url: String,
    /// The app registration (client) id.
    pub client_id: String,
    /// How the app proves who it is.
    pub credential: ClientCredential,
    /// v1 or v2: decides between `resource` and `scope` in the request.
    pub endpoint: TokenEndpoint,
    /// `Some`: the refresh-token grant with this token, else client credentials.
    pub refresh_token: Option<RefreshToken>,
}

/// Which AAD token endpoint (and so which request shape) the client uses:
/// `--token-endpoint`, config key `token-endpoint`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TokenEndpoint {
    /// `{authority}/{tenant}/oauth2/v2.0/token` with a `scope`.
    #[default]
    V2,
    /// `{authority}/{tenant}/oauth2/token` with a `resource`.
    V1,
}

/// How the app proves who it is to AAD. Debug output redacts the secret
/// and the key.
#[derive(Clone)]
pub enum ClientCredential {
    /// `client_secret`.
    Secret(SecretString),
    /// `client_assertion`: a fresh RS256 JWT signed with the certificate's key.
    Certificate(Arc<ClientCertificate>),
}

impl std::fmt::Debug for ClientCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientCredential::Secret(_) => f.write_str("Secret([REDACTED])"),
            ClientCredential::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
        }
    }
}

/// The refresh token of the refresh-token grant. AAD may answer a new one
/// with each access token; it replaces the old one here and, when the token
/// came from a file, in that file (so the next run starts from the newest).
pub struct RefreshToken {
    value: std::sync::Mutex<SecretString>,
    /// `--refresh-token-file`; `None` when it came from
    /// `PARTNER_CENTER_REFRESH_TOKEN`, which cannot be written back.
    file: Option<PathBuf>,
    /// Whether the file ended with a line break (kept when rewriting it).
    trailing_newline: bool,
    /// The "cannot write back" warning was given.
    warned: AtomicBool,
}

impl RefreshToken {
    /// `value` as read from `file` (`None`: from the environment).
    pub fn new(value: SecretString, file: Option<PathBuf>, trailing_newline: bool) -> RefreshToken {
        RefreshToken {
            value: std::sync::Mutex::new(value),
            file,
            trailing_newline,
            warned: AtomicBool::new(false),
        }
    }

    fn current(&self) -> SecretString {
        self.value
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// AAD answered `new`: use it from now on and store it. A failed write
    /// is logged, not fatal: this run has its access token, and AAD keeps
    /// accepting the older refresh token until it expires.
    fn rotated(&self, new: &str) {
        {
            let mut value = self.value.lock().unwrap_or_else(PoisonError::into_inner);
            if value.expose_secret() == new {
                return;
            }
            *value = crate::redact::secret(new);
        }
        match &self.file {
            Some(path) => {
                let text = if self.trailing_newline {
                    format!("{new}\n")
                } else {
                    new.to_string()
                };
                match crate::fsutil::replace_keeping_permissions(path, text.as_bytes()) {
                    Ok(()) => tracing::info!(
                        "AAD renewed the refresh token; stored it in {}",
                        path.display()
                    ),
                    Err(e) => tracing::error!(
                        "AAD renewed the refresh token, but it could not be stored in {}: {e:#}. The next run uses the older token, which works only until it expires: make the file and its folder writable for this user",
                        path.display()
                    ),
                }
            }
            None => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "AAD renewed the refresh token, but PARTNER_CENTER_REFRESH_TOKEN cannot be updated: the token set there works only until it expires (by default 90 days after it was issued). Use --refresh-token-file so qualrecon can keep it current"
                    );
                }
            }
        }
    }
}

impl ClientCredentials {
    /// The token URL for `authority`, `tenant` and the endpoint version.
    pub fn token_url(authority: &str, tenant: &str, endpoint: TokenEndpoint) -> String {
        let authority = authority.trim_end_matches('/');
        match endpoint {
            TokenEndpoint::V2 => format!("{authority}/{tenant}/oauth2/v2.0/token"),
            TokenEndpoint::V1 => format!("{authority}/{tenant}/oauth2/token"),
        }
    }
}

/// A token handed to a request. `generation` tells [`TokenProvider::invalidate`]
/// whether the token a 401 complained about is still the cached one.
#[derive(Clone)]
pub struct Token {
    value: Arc<SecretString>,
    /// `Bearer …`, built once per token rather than per request (marked
    /// sensitive); `None` when the token is no valid header value.
    authorization: Option<reqwest::header::HeaderValue>,
    generation: u64,
}

impl Token {
    fn new(value: SecretString, generation: u64) -> Token {
        let authorization =
            reqwest::header::HeaderValue::try_from(format!("Bearer {}", value.expose_secret()))
                .ok()
                .map(|mut v| {
                    v.set_sensitive(true);
                    v
                });
        Token {
            value: Arc::new(value),
            authorization,
            generation,
        }
    }

    /// The bearer value, for the Authorization header only.
    pub fn bearer(&self) -> &str {
        self.value.expose_secret()
    }

    /// The whole `Authorization` header value, if the token makes one.
    pub fn authorization(&self) -> Option<&reqwest::header::HeaderValue> {
        self.authorization.as_ref()
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(generation {}, [REDACTED])", self.generation)
    }
}

/// Why no token could be had.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AuthError {
    /// AAD said no: wrong secret, certificate, refresh token, client id,
    /// tenant, scope. Fatal.
    #[error("{url} rejected the {what}: HTTP {status}, {error}: {description}\n  hint: {hint}")]
    Rejected {
        /// The token endpoint.
        url: String,
        /// Which sign-in: `client credentials`, `certificate sign-in`, …
        what: &'static str,
        /// The HTTP status of AAD's answer.
        status: u16,
        /// AAD's `error` (`invalid_client`, …).
        error: String,
        /// The first line of AAD's `error_description`.
        description: String,
        /// What to check, from the AADSTS code.
        hint: String,
    },
    /// The endpoint could not be reached or answered nonsense.
    #[error("could not get a token from {url}: {detail}")]
    Unavailable {
        /// The token endpoint.
        url: String,
        /// What went wrong, in words.
        detail: String,
        /// How long it asked to be left alone (`Retry-After`), if it did.
        retry_after: Option<Duration>,
    },
    /// The endpoint answered what qualrecon will not act on: a redirect
    /// (following it would send the client secret elsewhere) or a body over
    /// [`MAX_TOKEN_BODY`]. Fatal and not retried: it would answer the same.
    #[error("token endpoint {url}: {detail}")]
    Refused {
        /// The token endpoint.
        url: String,
        /// What was refused, in words.
        detail: String,
    },
}

struct Cached {
    token: Token,
    refresh_at: Instant,
}

/// Hands out bearer tokens.
pub struct TokenProvider {
    http: reqwest::Client,
    credentials: Credentials,
    cache: Mutex<Option<Cached>>,
    generation: AtomicU64,
    /// The newest generation the API answered 401 to (0: none).
    refused: AtomicU64,
    /// A generation fetched because the one before it was refused, and
    /// refused too: no request gets a fresh token for it (0: none).
    in_vain: AtomicU64,
    /// The token of [`Credentials::Static`], made once.
    fixed: Option<Token>,
}

impl TokenProvider {
    /// A provider that fetches (or hands out) tokens for `credentials`
    /// over `http`; nothing is fetched before the first [`Self::token`].
    pub fn new(http: reqwest::Client, credentials: Credentials) -> TokenProvider {
        let fixed = match &credentials {
            Credentials::Static(secret) => Some(Token::new(secret.clone(), 0)),
            Credentials::Client(_) => None,
        };
        TokenProvider {
            http,
            credentials,
            cache: Mutex::new(None),
            generation: AtomicU64::new(0),
            refused: AtomicU64::new(0),
            in_vain: AtomicU64::new(0),
            fixed,
        }
    }

    /// A token valid for a while yet. Concurrent callers wait for one
    /// refresh instead of each calling the endpoint.
    pub async fn token(&self) -> Result<Token, AuthError> {
        let client = match &self.credentials {
            Credentials::Static(_) => {
                return Ok(self.fixed.clone().expect("made with the provider"));
            }
            Credentials::Client(c) => c,
        };
        let mut cache = self.cache.lock().await;
        if let Some(c) = cache.as_ref().filter(|c| Instant::now() < c.refresh_at) {
            return Ok(c.token.clone());
        }
        let (value, lifetime) = self.fetch(client).await?;
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let margin = lifetime.mul_f64(REFRESH_SHARE).min(MAX_REFRESH_MARGIN);
        let token = Token::new(value, generation);
        tracing::debug!(
            lifetime_s = lifetime.as_secs_f64(),
            "got a new access token (refresh {:.1}s before expiry)",
            margin.as_secs_f64()
        );
        *cache = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + lifetime - margin,
        });
        Ok(token)
    }

    /// The API answered 401 to `used`: drop it so the next [`token`](Self::token)
    /// fetches a fresh one (unless another request already did). Returns
    /// whether trying again with a fresh token is worth it: not when
    /// `used` was itself fetched after the token before it was refused.
    /// The API then refuses this app's tokens, not one token, and the
    /// endpoint is not asked again for every customer on the way to the
    /// run's stop.
    pub async fn invalidate(&self, used: &Token) -> bool {
        let generation = used.generation;
        let before = self.refused.fetch_max(generation, Ordering::Relaxed);
        if self.in_vain.load(Ordering::Relaxed) == generation
            || (generation > 1 && before == generation - 1)
        {
            self.in_vain.store(generation, Ordering::Relaxed);
            return false;
        }
        let mut cache = self.cache.lock().await;
        if cache
            .as_ref()
            .is_some_and(|c| c.token.generation == used.generation)
        {
            *cache = None;
        }
        true
    }

    /// Whether a 401 can be cured by fetching a new token.
    pub fn can_refresh(&self) -> bool {
        matches!(self.credentials, Credentials::Client(_))
    }

    async fn fetch(&self, c: &ClientCredentials) -> Result<(SecretString, Duration), AuthError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.fetch_once(c).await {
                Err(AuthError::Unavailable {
                    url,
                    detail,
                    retry_after: Some(after),
                }) if after > TOKEN_LONGEST_RETRY_AFTER => {
                    return Err(AuthError::Unavailable {
                        url,
                        detail: format!(
                            "{detail}; it asked to be called again in {} s (Retry-After), longer than a sign-in waits ({} s): run again then",
                            after.as_secs(),
                            TOKEN_LONGEST_RETRY_AFTER.as_secs()
                        ),
                        retry_after: Some(after),
                    });
                }
                Err(AuthError::Unavailable {
                    detail,
                    retry_after,
                    ..
                }) if attempt < TOKEN_ATTEMPTS => {
                    let backoff = TOKEN_RETRY_WAIT * 2u32.pow(attempt - 1);
                    let wait = retry_after.map_or(backoff, |after| after.max(backoff));
                    tracing::warn!("token endpoint: {detail}; trying again in {wait:?}");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn fetch_once(
        &self,
        c: &ClientCredentials,
    ) -> Result<(SecretString, Duration), AuthError> {
        let unavailable = |detail: String| AuthError::Unavailable {
            url: c.token_url.clone(),
            detail,
            retry_after: None,
        };
        let mut form = Vec::with_capacity(6);
        match &c.refresh_token {
            Some(rt) => {
                form.push(("grant_type", "refresh_token".to_string()));
                form.push(("refresh_token", rt.current().expose_secret().to_string()));
            }
            None => form.push(("grant_type", "client_credentials".to_string())),
        }
        form.push(("client_id", c.client_id.clone()));
        match &c.credential {
            ClientCredential::Secret(secret) => {
                form.push(("client_secret", secret.expose_secret().to_string()));
            }
            ClientCredential::Certificate(cert) => {
                // A new assertion for every request, retries included: each
                // has its own jti and validity window, with `aud` the URL used.
                let jwt = cert.assertion(&c.client_id, &c.token_url, chrono::Utc::now());
                form.push(("client_assertion_type", CLIENT_ASSERTION_TYPE.to_string()));
                form.push(("client_assertion", jwt.expose_secret().to_string()));
            }
        }
        match c.endpoint {
            // `offline_access` asks the v2 endpoint for the renewed refresh
            // token, as MSAL does; client credentials never get one.
            TokenEndpoint::V2 if c.refresh_token.is_some() => form.push((
                "scope",
                format!("{PARTNER_CENTER_RESOURCE}/.default offline_access"),
            )),
            TokenEndpoint::V2 => {
                form.push(("scope", format!("{PARTNER_CENTER_RESOURCE}/.default")))
            }
            TokenEndpoint::V1 => form.push(("resource", PARTNER_CENTER_RESOURCE.to_string())),
        }
        let response = self
            .http
            .post(&c.token_url)
            .header(reqwest::header::ACCEPT, "application/json")
            .form(&form)
            .send()
            .await
            .map_err(|e| unavailable(describe_transport(&e)))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| crate::transport::parse_retry_after(v, std::time::SystemTime::now()));
        let refused = |detail: String| AuthError::Refused {
            url: c.token_url.clone(),
            detail,
        };
        if status.is_redirection() {
            return Err(refused(refused_redirect(
                status,
                response.headers(),
                response.url(),
            )));
        }
        let body = match read_body(response, MAX_TOKEN_BODY).await {
            Ok(body) => body,
            Err(ReadError::Source(e)) => {
                return Err(unavailable(describe_transport(&e)));
            }
            Err(ReadError::TooLarge(e)) => {
                return Err(refused(format!("{}: {e}", status_line(status))));
            }
        };
        if status.is_success() {
            let parsed: TokenResponse = serde_json::from_slice(crate::model::strip_bom(&body))
                .map_err(|e| {
                    unavailable(format!(
                        "HTTP {status} with a body that is not a token response ({e})"
                    ))
                })?;
            if parsed.access_token.trim().is_empty() {
                return Err(unavailable(format!(
                    "HTTP {status} with an empty access_token"
                )));
            }
            // Clamped: a nonsense lifetime must neither panic nor pin a token for ever.
            let lifetime = token_lifetime(&parsed, chrono::Utc::now().timestamp())
                .clamp(SHORTEST_TOKEN_LIFETIME_S, LONGEST_TOKEN_LIFETIME_S);
            if let (Some(rt), Some(new)) = (&c.refresh_token, parsed.refresh_token.as_deref())
                && !new.trim().is_empty()
            {
                rt.rotated(new.trim());
            }
            return Ok((
                crate::redact::secret(parsed.access_token),
                Duration::from_secs_f64(lifetime),
            ));
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408 {
            return Err(AuthError::Unavailable {
                url: c.token_url.clone(),
                detail: format!("HTTP {status}: {}", snippet(&body, 200)),
                retry_after,
            });
        }
        let aad: AadError =
            serde_json::from_slice(crate::model::strip_bom(&body)).unwrap_or_else(|_| AadError {
                error: format!("HTTP {}", status.as_u16()),
                error_description: Some(snippet(&body, 200)),
                ..AadError::default()
            });
        let description = aad
            .error_description
            .as_deref()
            .unwrap_or("")
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_string();
        let signin = SignIn::of(c);
        let hint = hint_for(&aad, &description, signin);
        // What AAD wrote, as plain text: no control characters (escape
        // codes would reach a terminal or cron mail), and no credential it
        // may have quoted from the form it refused.
        let plain = |text: &str| crate::redact::scrub(&snippet(text.as_bytes(), 400)).into_owned();
        Err(AuthError::Rejected {
            url: c.token_url.clone(),
            what: signin.describe(),
            status: status.as_u16(),
            error: plain(&aad.error),
            description: plain(&description),
            hint: hint.to_string(),
        })
    }
}

/// Seconds a fresh token lives: `expires_in`, else `expires_on` (epoch
/// seconds, v1), else [`ASSUMED_TOKEN_LIFETIME_S`].
fn token_lifetime(t: &TokenResponse, now_epoch: i64) -> f64 {
    if let Some(s) = t.expires_in.as_ref().and_then(NumberOrString::seconds) {
        return s;
    }
    if let Some(on) = t.expires_on.as_ref().and_then(NumberOrString::seconds) {
        return (on - now_epoch as f64).max(0.0);
    }
    tracing::warn!("the token response has no expires_in; assuming the token lives an hour");
    ASSUMED_TOKEN_LIFETIME_S
}

/// Which grant and credential a token request used, for errors and hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SignIn {
    refresh_token: bool,
    certificate: bool,
}

impl SignIn {
    fn of(c: &ClientCredentials) -> SignIn {
        SignIn {
            refresh_token: c.refresh_token.is_some(),
            certificate: matches!(c.credential, ClientCredential::Certificate(_)),
        }
    }

    fn describe(self) -> &'static str {
        match (self.refresh_token, self.certificate) {
            (true, _) => "refresh-token sign-in",
            (false, true) => "certificate sign-in",
            (false, false) => "client credentials",
        }
    }
}

/// What to check, in the words of the option that sets it.
fn hint_for(aad: &AadError, description: &str, signin: SignIn) -> &'static str {
    let code = aad.error_codes.first().copied().or_else(|| {
        let digits: String = description
            .strip_prefix("AADSTS")?
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().ok()
    });
    match (code, aad.error.as_str()) {
        (Some(700027), _) => {
            "AAD does not know the key that signed the assertion: upload the certificate's public part (the .crt/.cer, never the key) to the app registration named by --client-id, under Certificates & secrets, or point --client-certificate at the certificate registered there (compare the thumbprint qualrecon logs with the portal's)"
        }
        (Some(700024), _) => {
            "the client assertion was outside its validity window when AAD checked it: set this machine's clock right (NTP); qualrecon signs each assertion valid from now for 10 minutes"
        }
        (Some(700021 | 700023), _) => {
            "AAD refused the assertion's claims: check --client-id and that --authority/--tenant name the token endpoint AAD expects"
        }
        (Some(70000 | 70008 | 700082 | 50173 | 9002313 | 70043 | 700084 | 50076 | 50079), _)
        | (_, "invalid_grant") => {
            "the refresh token is no longer accepted (expired, revoked, or issued for another app): sign in again as a Partner Center admin of the partner tenant to get a new one (Secure Application Model consent) and write it into --refresh-token-file"
        }
        (_, "invalid_client") if signin.certificate => {
            "check the certificate (--client-certificate / PARTNER_CENTER_CLIENT_CERTIFICATE): it must be the one registered on the app registration, and not expired there"
        }
        (Some(7000222), _) => {
            "the client secret has expired: create a new one in the app registration and update PARTNER_CENTER_CLIENT_SECRET / --client-secret-file"
        }
        (Some(7000215), _) | (_, "invalid_client") => {
            "check the client secret (PARTNER_CENTER_CLIENT_SECRET or --client-secret-file): it must be the secret's Value, not its Secret ID, and must not have expired"
        }
        (Some(700016), _) | (_, "unauthorized_client") => {
            "check --client-id / PARTNER_CENTER_CLIENT_ID: the app registration must exist in the tenant given by --tenant"
        }
        (Some(90002), _) | (Some(900023), _) => {
            "check --tenant / PARTNER_CENTER_TENANT: the partner's own tenant id or primary domain (e.g. contoso.onmicrosoft.com)"
        }
        (Some(500011), _) | (Some(70011), _) | (_, "invalid_scope") | (_, "invalid_resource") => {
            "the app registration needs the Microsoft Partner Center API permission (and admin consent); also check --token-endpoint"
        }
        _ => {
            "check --tenant, --client-id, the client secret and --authority (PARTNER_CENTER_* variables)"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_urls() {
        assert_eq!(
            ClientCredentials::token_url(
                "https://login.microsoftonline.com/",
                "contoso.com",
                TokenEndpoint::V2
            ),
            "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
        );
        assert_eq!(
            ClientCredentials::token_url("http://127.0.0.1:9", "t", TokenEndpoint::V1),
            "http://127.0.0.1:9/t/oauth2/token"
        );
    }

    #[test]
    fn hints_follow_aad_codes() {
        let aad = |error: &str, code: i64| AadError {
            error: error.into(),
            error_codes: vec![code],
            ..AadError::default()
        };
        let secret = SignIn {
            refresh_token: false,
            certificate: false,
        };
        let certificate = SignIn {
            certificate: true,
            ..secret
        };
        let refresh = SignIn {
            refresh_token: true,
            ..secret
        };
        assert!(hint_for(&aad("invalid_client", 7000215), "", secret).contains("secret"));
        assert!(hint_for(&aad("unauthorized_client", 700016), "", secret).contains("--client-id"));
        assert!(hint_for(&aad("invalid_request", 90002), "", secret).contains("--tenant"));
        let h = hint_for(&aad("invalid_client", 700027), "", certificate);
        assert!(
            h.contains("upload the certificate") && h.contains("--client-id"),
            "{h}"
        );
        assert!(hint_for(&aad("invalid_client", 700024), "", certificate).contains("clock"));
        // Any other refusal of a certificate points at the certificate, not a secret.
        let h = hint_for(&aad("invalid_client", 7000274), "", certificate);
        assert!(h.contains("--client-certificate"), "{h}");
        let h = hint_for(&aad("invalid_grant", 700082), "", refresh);
        assert!(h.contains("--refresh-token-file"), "{h}");
        assert_eq!(certificate.describe(), "certificate sign-in");
        assert_eq!(refresh.describe(), "refresh-token sign-in");
        let no_codes = AadError {
            error: "invalid_request".into(),
            ..AadError::default()
        };
        assert!(
            hint_for(&no_codes, "AADSTS90002: Tenant 'x' not found.", secret).contains("--tenant")
        );
    }

    #[test]
    fn token_lifetime_from_expires_in_expires_on_or_a_default() {
        let parse = |s: &str| serde_json::from_str::<TokenResponse>(s).unwrap();
        assert_eq!(
            token_lifetime(&parse(r#"{"access_token":"x","expires_in":"5"}"#), 0),
            5.0
        );
        assert_eq!(
            token_lifetime(&parse(r#"{"access_token":"x","expires_on":"1000"}"#), 400),
            600.0
        );
        assert_eq!(token_lifetime(&parse(r#"{"access_token":"x"}"#), 0), 3600.0);
    }

    #[test]
    fn tokens_never_show_their_value() {
        let t = Token::new(SecretString::from("super-secret-token".to_string()), 3);
        assert!(!format!("{t:?}").contains("super-secret"));
    }
}
