//! Bearer tokens on the customer endpoint and the fake AAD endpoints.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use super::*;
use crate::model::{AadError, ApiFault, FaultCode, TokenResponse};
use crate::sandbox::{CLIENT_ID, CLIENT_SECRET, TENANT, TENANT_ID, TokenCheck};

const SCOPE: &str = "https://api.partnercenter.microsoft.com/.default";
const RESOURCE: &str = "https://api.partnercenter.microsoft.com";

fn v2_url(sb: &Sandbox, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/v2.0/token", sb.base_url())
}

fn v1_url(sb: &Sandbox, tenant: &str) -> String {
    format!("{}/{tenant}/oauth2/token", sb.base_url())
}

fn v2_form(secret: &str) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", CLIENT_ID.into()),
        ("client_secret", secret.into()),
        ("scope", SCOPE.into()),
    ]
}

fn v1_form() -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", CLIENT_ID.into()),
        ("client_secret", CLIENT_SECRET.into()),
        ("resource", RESOURCE.into()),
    ]
}

async fn post(url: String, form: &[(&str, String)]) -> (StatusCode, Vec<u8>) {
    let r = client().post(url).form(form).send().await.unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

async fn get_with(sb: &Sandbox, token: Option<&str>) -> reqwest::Response {
    let id = ids_for(Answer::Approved, 1)[0];
    let mut req = client().get(qualifications_url(sb, &id.to_string()));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

async fn assert_401(r: reqwest::Response, code: i64) {
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let f: ApiFault = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(f.code, Some(FaultCode::Number(code)));
}

#[tokio::test]
async fn customer_requests_need_a_valid_token() {
    let sb = start(SandboxConfig::default()).await;
    assert_401(get_with(&sb, None).await, 800001).await;
    assert_401(get_with(&sb, Some("forged")).await, 400).await;
    assert_eq!(
        get_with(&sb, Some(STATIC_TOKEN)).await.status(),
        StatusCode::OK
    );
    let checks: Vec<TokenCheck> = sb.journal().iter().map(|e| e.token).collect();
    assert_eq!(
        checks,
        [TokenCheck::Missing, TokenCheck::Unknown, TokenCheck::Static]
    );
}

#[tokio::test]
async fn the_static_token_can_be_switched_off() {
    let sb = start(SandboxConfig {
        static_token: None,
        ..SandboxConfig::default()
    })
    .await;
    assert_401(get_with(&sb, Some(STATIC_TOKEN)).await, 400).await;
}

#[tokio::test]
async fn issued_tokens_work_until_they_expire() {
    let sb = start(SandboxConfig {
        token_lifetime: Duration::from_millis(400),
        ..SandboxConfig::default()
    })
    .await;
    let (status, body) = post(v2_url(&sb, TENANT), &v2_form(CLIENT_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let token: TokenResponse = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        get_with(&sb, Some(&token.access_token)).await.status(),
        StatusCode::OK
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_401(get_with(&sb, Some(&token.access_token)).await, 400).await;
    let checks: Vec<TokenCheck> = sb.journal().iter().map(|e| e.token).collect();
    assert_eq!(
        checks,
        [
            TokenCheck::NotApplicable,
            TokenCheck::Valid,
            TokenCheck::Expired
        ]
    );
}

#[tokio::test]
async fn revocation_strikes_at_the_nth_customer_request_and_spares_later_tokens() {
    let sb = start(SandboxConfig {
        revoke_tokens_after: Some(3),
        ..SandboxConfig::default()
    })
    .await;
    let issue = || async {
        let (status, body) = post(v2_url(&sb, TENANT), &v2_form(CLIENT_SECRET)).await;
        assert_eq!(status, StatusCode::OK);
        serde_json::from_slice::<TokenResponse>(&body)
            .unwrap()
            .access_token
    };
    let old = issue().await;
    let also_old = issue().await;
    // Requests 1 and 2: before the revocation.
    assert_eq!(get_with(&sb, Some(&old)).await.status(), StatusCode::OK);
    assert_eq!(
        get_with(&sb, Some(STATIC_TOKEN)).await.status(),
        StatusCode::OK
    );
    // Request 3 revokes every token issued so far, its own included.
    assert_401(get_with(&sb, Some(&old)).await, 400).await;
    assert_401(get_with(&sb, Some(&also_old)).await, 400).await;
    // Tokens issued afterwards work, and so does the static token.
    let new = issue().await;
    assert_eq!(get_with(&sb, Some(&new)).await.status(), StatusCode::OK);
    assert_eq!(
        get_with(&sb, Some(STATIC_TOKEN)).await.status(),
        StatusCode::OK
    );
    assert_401(get_with(&sb, Some(&old)).await, 400).await;
    // Only once: later requests do not revoke again.
    assert_eq!(get_with(&sb, Some(&new)).await.status(), StatusCode::OK);

    let checks: Vec<TokenCheck> = sb
        .journal()
        .iter()
        .filter(|e| e.customer.is_some())
        .map(|e| e.token)
        .collect();
    assert_eq!(
        checks,
        [
            TokenCheck::Valid,
            TokenCheck::Static,
            TokenCheck::Revoked,
            TokenCheck::Revoked,
            TokenCheck::Valid,
            TokenCheck::Static,
            TokenCheck::Revoked,
            TokenCheck::Valid,
        ]
    );
    assert!(!TokenCheck::Revoked.is_accepted());
}

#[tokio::test]
async fn unauthenticated_requests_count_towards_the_revocation() {
    let sb = start(SandboxConfig {
        revoke_tokens_after: Some(2),
        ..SandboxConfig::default()
    })
    .await;
    let (_, body) = post(v2_url(&sb, TENANT), &v2_form(CLIENT_SECRET)).await;
    let token = serde_json::from_slice::<TokenResponse>(&body)
        .unwrap()
        .access_token;
    assert_401(get_with(&sb, None).await, 800001).await;
    assert_401(get_with(&sb, Some(&token)).await, 400).await;
    let j = sb.journal();
    assert_eq!(j.last().unwrap().token, TokenCheck::Revoked);
    assert_eq!(j.last().unwrap().outcome, "unauthorized");
}

#[tokio::test]
async fn v2_success_has_numeric_lifetimes() {
    let sb = start(SandboxConfig::default()).await;
    for tenant in [TENANT, TENANT_ID, &TENANT.to_uppercase()] {
        let (status, body) = post(v2_url(&sb, tenant), &v2_form(CLIENT_SECRET)).await;
        assert_eq!(status, StatusCode::OK, "{tenant}");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"].as_u64(), Some(3600), "{v}");
        assert_eq!(v["ext_expires_in"].as_u64(), Some(3600), "{v}");
        assert!(v.get("resource").is_none() && v.get("expires_on").is_none());
        let t: TokenResponse = serde_json::from_value(v).unwrap();
        assert!(t.access_token.len() >= 32);
        assert_ne!(t.access_token, STATIC_TOKEN);
    }
}

#[tokio::test]
async fn v1_success_has_string_lifetimes_and_a_resource() {
    let sb = start(SandboxConfig::default()).await;
    let (status, body) = post(v1_url(&sb, TENANT), &v1_form()).await;
    assert_eq!(status, StatusCode::OK);
    let v: Value = serde_json::from_slice(&body).unwrap();
    for key in ["expires_in", "ext_expires_in", "expires_on", "not_before"] {
        let text = v[key].as_str().unwrap_or_else(|| panic!("{key}: {v}"));
        assert!(text.parse::<u64>().is_ok(), "{key}: {text}");
    }
    assert_eq!(v["expires_in"], "3600");
    assert_eq!(v["resource"], RESOURCE);
    let t: TokenResponse = serde_json::from_value(v).unwrap();
    assert_eq!(
        get_with(&sb, Some(&t.access_token)).await.status(),
        StatusCode::OK
    );
}

/// One bad token request and the AAD error it must get.
struct Case {
    v1: bool,
    tenant: &'static str,
    set: (&'static str, Option<&'static str>),
    status: StatusCode,
    error: &'static str,
    code: i64,
}

const fn case(
    v1: bool,
    tenant: &'static str,
    set: (&'static str, Option<&'static str>),
    status: u16,
    error: &'static str,
    code: i64,
) -> Case {
    let status = match StatusCode::from_u16(status) {
        Ok(s) => s,
        Err(_) => panic!("bad status"),
    };
    Case {
        v1,
        tenant,
        set,
        status,
        error,
        code,
    }
}

const WRONG_SECRET: &str = "Xy9~wrong-secret-never-echo";

#[tokio::test]
async fn aad_errors_look_like_aad() {
    let cases = [
        case(
            false,
            "contoso.onmicrosoft.com",
            ("scope", Some(SCOPE)),
            400,
            "invalid_request",
            90002,
        ),
        case(
            false,
            TENANT,
            ("client_id", Some("00000000-0000-4000-8000-000000000001")),
            400,
            "unauthorized_client",
            700016,
        ),
        case(
            false,
            TENANT,
            ("client_secret", Some(WRONG_SECRET)),
            401,
            "invalid_client",
            7000215,
        ),
        case(
            true,
            TENANT,
            ("client_secret", Some(WRONG_SECRET)),
            401,
            "invalid_client",
            7000215,
        ),
        case(
            false,
            TENANT,
            ("client_secret", None),
            401,
            "invalid_client",
            7000216,
        ),
        case(
            false,
            TENANT,
            ("grant_type", None),
            400,
            "invalid_request",
            900144,
        ),
        case(
            false,
            TENANT,
            ("grant_type", Some("password")),
            400,
            "unsupported_grant_type",
            70003,
        ),
        case(
            false,
            TENANT,
            (
                "scope",
                Some("https://api.partnercenter.microsoft.com/user_impersonation"),
            ),
            400,
            "invalid_scope",
            1002012,
        ),
        case(
            false,
            TENANT,
            ("scope", Some("https://graph.windows.net/.default")),
            400,
            "invalid_scope",
            70011,
        ),
        case(
            false,
            TENANT,
            ("scope", None),
            400,
            "invalid_request",
            900144,
        ),
        case(
            true,
            TENANT,
            ("resource", Some("https://graph.windows.net")),
            400,
            "invalid_resource",
            500011,
        ),
        case(
            true,
            TENANT,
            ("resource", None),
            400,
            "invalid_request",
            900144,
        ),
    ];
    let sb = start(SandboxConfig::default()).await;
    for c in &cases {
        let mut form = if c.v1 {
            v1_form()
        } else {
            v2_form(CLIENT_SECRET)
        };
        form.retain(|(k, _)| *k != c.set.0);
        if let Some(v) = c.set.1 {
            form.push((c.set.0, v.to_string()));
        }
        let url = if c.v1 {
            v1_url(&sb, c.tenant)
        } else {
            v2_url(&sb, c.tenant)
        };
        let (status, body) = post(url, &form).await;
        let text = String::from_utf8(body.clone()).unwrap();
        let what = format!("{} {:?}: {text}", c.error, c.set);
        assert_eq!(status, c.status, "{what}");
        assert!(
            !text.contains(WRONG_SECRET) && !text.contains(CLIENT_SECRET),
            "{what}"
        );
        let e: AadError = serde_json::from_slice(&body).unwrap();
        assert_eq!(e.error, c.error, "{what}");
        assert_eq!(e.error_codes, vec![c.code], "{what}");
        let d = e.error_description.unwrap();
        assert!(d.starts_with(&format!("AADSTS{}: ", c.code)), "{what}");
        let trace = e.trace_id.unwrap();
        let correlation = e.correlation_id.unwrap();
        assert!(
            d.contains(&format!(
                "\r\nTrace ID: {trace}\r\nCorrelation ID: {correlation}\r\nTimestamp: "
            )),
            "{what}"
        );
        assert!(e.timestamp.is_some());
        assert!(e.error_uri.unwrap().ends_with(&c.code.to_string()));
    }

    let journal = sb.journal();
    assert_eq!(journal.len(), cases.len());
    for (entry, c) in journal.iter().zip(&cases) {
        assert_eq!(entry.outcome, c.error);
        assert_eq!(entry.status, c.status.as_u16());
        assert_eq!(entry.method, "POST");
        assert!(entry.form_keys.contains(&"client_id".to_string()));
    }
    let dump = format!("{journal:?}");
    assert!(!dump.contains(WRONG_SECRET) && !dump.contains(CLIENT_SECRET));
}

#[tokio::test]
async fn token_requests_journal_field_names_not_values() {
    let sb = start(SandboxConfig::default()).await;
    let (status, body) = post(v2_url(&sb, TENANT), &v2_form(CLIENT_SECRET)).await;
    assert_eq!(status, StatusCode::OK);
    let token: TokenResponse = serde_json::from_slice(&body).unwrap();
    let j = sb.journal();
    assert_eq!(j[0].outcome, "token-issued");
    assert_eq!(j[0].path, format!("/{TENANT}/oauth2/v2.0/token"));
    assert_eq!(
        j[0].form_keys,
        ["grant_type", "client_id", "client_secret", "scope"]
    );
    let dump = format!("{j:?}");
    assert!(!dump.contains(CLIENT_SECRET) && !dump.contains(&token.access_token));
}

#[tokio::test]
async fn aad_uses_the_client_request_id_as_correlation_id() {
    let sb = start(SandboxConfig::default()).await;
    let r = client()
        .post(v2_url(&sb, TENANT))
        .header("client-request-id", "33333333-3333-4333-8333-333333333333")
        .form(&v2_form(WRONG_SECRET))
        .send()
        .await
        .unwrap();
    let e: AadError = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(
        e.correlation_id.as_deref(),
        Some("33333333-3333-4333-8333-333333333333")
    );
}

#[tokio::test]
async fn a_token_request_without_a_form_is_an_aad_error() {
    let sb = start(SandboxConfig::default()).await;
    let r = client().post(v2_url(&sb, TENANT)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let e: AadError = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(e.error_codes, [900144]);
}
