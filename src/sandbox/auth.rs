//! The fake AAD: token endpoints (v1 and v2) for the client-credentials and
//! refresh-token grants, authenticating the app by secret or by certificate
//! assertion ([`super::assertion`]), with AAD's real error bodies. The
//! tokens it issues and the refresh token it rotates are kept in
//! [`super::tokens`].
//!
//! The received client secret and refresh token are compared and then
//! forgotten: they never reach a response body, a log line or the journal.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use uuid::Uuid;

use super::aad_answer::{AadFailure, json_response};
use super::identity::{CLIENT_ID, CLIENT_SECRET, TENANT, TENANT_ID};
use super::journal::{JournalEntry, TokenCheck};
use super::state::AppState;
use super::tokens::TokenStore;
use crate::model::{AssertionClaims, CLIENT_ASSERTION_TYPE, NumberOrString, TokenResponse};

/// The Partner Center resource (v1 `resource`).
pub(crate) const RESOURCE: &str = "https://api.partnercenter.microsoft.com";
/// The Partner Center scope (v2 `scope`).
pub(crate) const SCOPE: &str = "https://api.partnercenter.microsoft.com/.default";

/// Which AAD endpoint a token request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `/{tenant}/oauth2/token`, with `resource`; string-typed numbers.
    V1,
    /// `/{tenant}/oauth2/v2.0/token`, with `scope`; numbers.
    V2,
}

/// `POST /{tenant}/oauth2/v2.0/token`.
pub(crate) async fn token_v2(
    State(st): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let response = token_request(&st, Endpoint::V2, &tenant, &headers, form);
    tokio::time::sleep(st.cfg.token_delay).await;
    response
}

/// `POST /{tenant}/oauth2/token`.
pub(crate) async fn token_v1(
    State(st): State<Arc<AppState>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let response = token_request(&st, Endpoint::V1, &tenant, &headers, form);
    tokio::time::sleep(st.cfg.token_delay).await;
    response
}

fn token_request(
    st: &AppState,
    endpoint: Endpoint,
    tenant: &str,
    headers: &HeaderMap,
    form: Result<Form<Vec<(String, String)>>, FormRejection>,
) -> Response {
    let fields = form.map(|Form(f)| f).unwrap_or_default();
    let path = match endpoint {
        Endpoint::V1 => format!("/{tenant}/oauth2/token"),
        Endpoint::V2 => format!("/{tenant}/oauth2/v2.0/token"),
    };
    // The URL the client posted to: what a client assertion's `aud` must be.
    let audience = format!(
        "http://{}{path}",
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
    );
    let mut entry = JournalEntry {
        form_keys: fields.iter().map(|(k, _)| k.clone()).collect(),
        grant_type: fields
            .iter()
            .find(|(k, _)| k == "grant_type")
            .map(|(_, v)| v.clone()),
        ..st.entry("POST", path, headers, TokenCheck::NotApplicable)
    };
    // AAD takes the caller's `client-request-id` as the correlation id.
    let correlation_id = headers
        .get("client-request-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| Uuid::try_parse(v).ok())
        .unwrap_or_else(Uuid::new_v4);
    let request = TokenRequest {
        endpoint,
        tenant,
        audience: &audience,
        fields: &fields,
    };
    let response = match validate(&st.tokens, &request, &mut entry.assertion) {
        Ok(refresh_token) => {
            entry.outcome = "token-issued".to_string();
            let token = st.tokens.issue(st.cfg.token_lifetime);
            json_response(
                StatusCode::OK,
                &token_body(endpoint, token, st.cfg.token_lifetime, refresh_token),
            )
        }
        Err(failure) => {
            entry.outcome = failure.error.to_string();
            failure.into_response(correlation_id)
        }
    };
    entry.status = response.status().as_u16();
    st.journal.push(entry);
    response
}

/// One token request as received.
struct TokenRequest<'a> {
    endpoint: Endpoint,
    tenant: &'a str,
    /// The URL it was posted to.
    audience: &'a str,
    fields: &'a [(String, String)],
}

impl TokenRequest<'_> {
    /// A form field's value; an empty one counts as absent.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The checks AAD makes, in roughly its order: tenant, request shape,
/// client, credential, the requested resource, then the refresh token.
/// A refresh grant that passes returns the rotated refresh token.
/// `assertion` receives the claims of a client assertion that could be read.
fn validate(
    tokens: &TokenStore,
    request: &TokenRequest,
    assertion: &mut Option<AssertionClaims>,
) -> Result<Option<String>, AadFailure> {
    let (endpoint, tenant) = (request.endpoint, request.tenant);
    let field = |name: &str| request.field(name);
    if !(tenant.eq_ignore_ascii_case(TENANT) || tenant.eq_ignore_ascii_case(TENANT_ID)) {
        return Err(AadFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            format!(
                "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID \
                 and are signing into the correct cloud. Check with your subscription \
                 administrator, this may happen if there are no active subscriptions for the tenant."
            ),
        ));
    }
    let refresh = match field("grant_type") {
        None => return Err(AadFailure::missing("grant_type")),
        Some("client_credentials") => false,
        Some("refresh_token") => true,
        Some(other) => {
            return Err(AadFailure::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                format!("The app requested an unsupported grant type '{other}'."),
            ));
        }
    };
    let client_id = match field("client_id") {
        None => return Err(AadFailure::missing("client_id")),
        Some(id) => id,
    };
    if !client_id.eq_ignore_ascii_case(CLIENT_ID) {
        return Err(AadFailure::new(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            format!(
                "Application with identifier '{client_id}' was not found in the directory \
                 '{tenant}'. This can happen if the application has not been installed by the \
                 administrator of the tenant or consented to by any user in the tenant. You may \
                 have sent your authentication request to the wrong tenant."
            ),
        ));
    }
    authenticate(tokens, request, refresh, assertion)?;
    match endpoint {
        Endpoint::V2 => check_scope(field("scope"))?,
        Endpoint::V1 => check_resource(tenant, field("resource"))?,
    }
    if !refresh {
        return Ok(None);
    }
    let presented = field("refresh_token").ok_or_else(|| AadFailure::missing("refresh_token"))?;
    tokens.rotate(presented).map(Some)
}

/// The app proves who it is with its secret or a client assertion signed
/// by a registered certificate, never both; the refresh grant needs it too
/// (the sandbox's app is a confidential client).
fn authenticate(
    tokens: &TokenStore,
    request: &TokenRequest,
    refresh: bool,
    assertion: &mut Option<AssertionClaims>,
) -> Result<(), AadFailure> {
    let invalid_client = |code: i64, message: String| {
        AadFailure::new(StatusCode::UNAUTHORIZED, "invalid_client", code, message)
    };
    match (
        request.field("client_secret"),
        request.field("client_assertion"),
    ) {
        (Some(_), Some(_)) => Err(invalid_client(
            7000216,
            "Only one of 'client_assertion' and 'client_secret' may be presented.".to_string(),
        )),
        (None, None) if refresh => Err(invalid_client(
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or \
             'client_secret'."
                .to_string(),
        )),
        (None, None) => Err(invalid_client(
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the \
             'client_credentials' grant type."
                .to_string(),
        )),
        (Some(secret), None) if secret != CLIENT_SECRET => Err(invalid_client(
            7000215,
            format!(
                "Invalid client secret provided. Ensure the secret being sent in the request \
                 is the client secret value, not the client secret ID, for a secret added to \
                 app '{CLIENT_ID}'."
            ),
        )),
        (Some(_), None) => Ok(()),
        (None, Some(jwt)) => {
            match request.field("client_assertion_type") {
                None => return Err(AadFailure::missing("client_assertion_type")),
                Some(CLIENT_ASSERTION_TYPE) => {}
                Some(other) => {
                    return Err(AadFailure::new(
                        StatusCode::BAD_REQUEST,
                        "invalid_request",
                        50027,
                        format!("Invalid JWT token. Unsupported client_assertion_type '{other}'."),
                    ));
                }
            }
            let (claims, verdict) = tokens.keys.verify(jwt, request.audience);
            *assertion = claims;
            verdict
        }
    }
}

fn check_scope(scope: Option<&str>) -> Result<(), AadFailure> {
    // The OpenID scopes (`offline_access` asks for a refresh token) may
    // accompany the resource's `.default`.
    let resource_scopes: Vec<&str> = scope
        .unwrap_or_default()
        .split_whitespace()
        .filter(|s| !["offline_access", "openid", "profile"].contains(s))
        .collect();
    let scope = match resource_scopes.as_slice() {
        [] => return Err(AadFailure::missing("scope")),
        [one] => *one,
        _ => scope.unwrap_or_default().trim(),
    };
    if scope.eq_ignore_ascii_case(SCOPE) {
        return Ok(());
    }
    if !scope.ends_with("/.default") {
        return Err(AadFailure::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            format!(
                "The provided value for scope {scope} is not valid. Client credential flows must \
                 have a scope value with /.default suffixed to the resource identifier \
                 (application ID URI)."
            ),
        ));
    }
    Err(AadFailure::new(
        StatusCode::BAD_REQUEST,
        "invalid_scope",
        70011,
        format!(
            "The provided request must include a 'scope' input parameter. The provided value for \
             the input parameter 'scope' is not valid. The scope {scope} is not valid."
        ),
    ))
}

fn check_resource(tenant: &str, resource: Option<&str>) -> Result<(), AadFailure> {
    let resource = match resource.map(str::trim) {
        None | Some("") => return Err(AadFailure::missing("resource")),
        Some(r) => r,
    };
    if resource
        .trim_end_matches('/')
        .eq_ignore_ascii_case(RESOURCE)
    {
        return Ok(());
    }
    Err(AadFailure::new(
        StatusCode::BAD_REQUEST,
        "invalid_resource",
        500011,
        format!(
            "The resource principal named {resource} was not found in the tenant named {tenant}. \
             This can happen if the application has not been installed by the administrator of \
             the tenant or consented to by any user in the tenant. You might have sent your \
             authentication request to the wrong tenant."
        ),
    ))
}

/// A success body: v2 with JSON numbers, v1 with every number a string
/// plus `expires_on`, `not_before` and `resource`, as the two endpoints
/// really differ. A refresh grant's answer carries the rotated refresh token.
fn token_body(
    endpoint: Endpoint,
    access_token: String,
    lifetime: Duration,
    refresh_token: Option<String>,
) -> Value {
    let secs = lifetime.as_secs();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let text = |n: u64| Some(NumberOrString::Text(n.to_string()));
    let body = match endpoint {
        Endpoint::V2 => TokenResponse {
            token_type: "Bearer".to_string(),
            expires_in: Some(NumberOrString::Number(secs as f64)),
            ext_expires_in: Some(NumberOrString::Number(secs as f64)),
            access_token,
            expires_on: None,
            not_before: None,
            resource: None,
            refresh_token,
        },
        Endpoint::V1 => TokenResponse {
            token_type: "Bearer".to_string(),
            expires_in: Some(NumberOrString::Text(secs.to_string())),
            ext_expires_in: text(secs),
            expires_on: text(now + secs),
            not_before: text(now),
            resource: Some(RESOURCE.to_string()),
            access_token,
            refresh_token,
        },
    };
    let mut value = serde_json::to_value(&body).expect("wire model types always serialise");
    whole_numbers(&mut value);
    value
}

/// `NumberOrString::Number` holds an `f64`, which serde_json writes as
/// `3600.0`; AAD writes `3600`. Rewrite integral numbers as integers so the
/// wire looks like the real thing.
fn whole_numbers(value: &mut Value) {
    if let Value::Object(map) = value {
        for v in map.values_mut() {
            if let Some(f) = v.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0)
                && v.is_f64()
            {
                *v = Value::from(f as u64);
            }
        }
    }
}
