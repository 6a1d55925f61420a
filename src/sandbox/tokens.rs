//! The fake AAD's memory: the access tokens it issued (and whether they
//! expired or were revoked), the certificates registered on the app, and
//! the one refresh token it accepts. The token endpoints ([`super::auth`])
//! issue and rotate through it; the customer endpoints check bearer tokens
//! against it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode, header};
use uuid::Uuid;

use super::aad_answer::AadFailure;
use super::assertion::RegisteredKeys;
use super::config::SandboxConfig;
use super::journal::TokenCheck;

/// One issued token: when it expires and whether it was revoked.
#[derive(Debug, Clone, Copy)]
struct Issued {
    expiry: Instant,
    revoked: bool,
}

/// The fake AAD's state: issued access tokens and their expiry, the
/// certificates registered on the app, and the refresh token.
#[derive(Debug, Default)]
pub(crate) struct TokenStore {
    issued: Mutex<HashMap<String, Issued>>,
    pub(super) keys: RegisteredKeys,
    refresh: Arc<Mutex<RefreshTokens>>,
}

/// The one refresh token the sandbox accepts, and those it replaced.
#[derive(Debug, Default)]
pub(crate) struct RefreshTokens {
    /// The newest refresh token; `None` refuses every refresh grant.
    pub(crate) current: Option<String>,
    /// Tokens rotated out: refused, with AAD's "revoked" error.
    superseded: HashSet<String>,
}

impl TokenStore {
    /// The state `cfg` asks for: its registered certificates and refresh token.
    pub(crate) fn new(cfg: &SandboxConfig) -> TokenStore {
        TokenStore {
            keys: RegisteredKeys::new(&cfg.client_certificates),
            refresh: Arc::new(Mutex::new(RefreshTokens {
                current: cfg.refresh_token.clone(),
                superseded: HashSet::new(),
            })),
            ..TokenStore::default()
        }
    }

    /// The refresh-token state, shared with [`super::Sandbox`] for tests.
    pub(crate) fn refresh_tokens(&self) -> Arc<Mutex<RefreshTokens>> {
        self.refresh.clone()
    }

    /// Redeem `presented`: the current refresh token is replaced by a new
    /// one, which is returned; any other token is refused.
    pub(super) fn rotate(&self, presented: &str) -> Result<String, AadFailure> {
        let mut r = self.refresh.lock().unwrap_or_else(PoisonError::into_inner);
        if r.current.as_deref() == Some(presented) {
            let next = format!(
                "sbx-rt.{}{}",
                Uuid::new_v4().simple(),
                Uuid::new_v4().simple()
            );
            r.superseded.insert(presented.to_string());
            r.current = Some(next.clone());
            return Ok(next);
        }
        if r.superseded.contains(presented) {
            return Err(AadFailure::new(
                StatusCode::BAD_REQUEST,
                "invalid_grant",
                50173,
                "The provided grant has expired due to it being revoked, a fresh auth token is \
                 needed. The user might have changed or reset their password."
                    .to_string(),
            ));
        }
        Err(AadFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_grant",
            9002313,
            "Invalid request. Request is malformed or invalid.".to_string(),
        ))
    }

    /// A new random opaque token valid for `lifetime`.
    pub(super) fn issue(&self, lifetime: Duration) -> String {
        let token = format!("sbx.{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        self.issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(
                token.clone(),
                Issued {
                    expiry: Instant::now() + lifetime,
                    revoked: false,
                },
            );
        token
    }

    /// Invalidate every token issued so far (as when an admin revokes the
    /// app's sessions); tokens issued afterwards work. The static token is
    /// not affected.
    pub(crate) fn revoke_all(&self) {
        for t in self
            .issued
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values_mut()
        {
            t.revoked = true;
        }
    }

    /// The verdict on the `Authorization` header of a customer request.
    pub(crate) fn check(&self, headers: &HeaderMap, static_token: Option<&str>) -> TokenCheck {
        let Some(token) = bearer(headers) else {
            return TokenCheck::Missing;
        };
        if static_token == Some(token) {
            return TokenCheck::Static;
        }
        let issued = self.issued.lock().unwrap_or_else(PoisonError::into_inner);
        match issued.get(token) {
            Some(t) if t.revoked => TokenCheck::Revoked,
            Some(t) if Instant::now() < t.expiry => TokenCheck::Valid,
            Some(_) => TokenCheck::Expired,
            None => TokenCheck::Unknown,
        }
    }
}

/// The token of an `Authorization: Bearer …` header (scheme in any case).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}
