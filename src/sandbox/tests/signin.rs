//! The fake AAD's certificate credentials and refresh tokens. Assertions are
//! built here by hand (aws-lc signing, serde_json claims), not by the
//! client's `certificate` module, so a mistake on either side shows.

use aws_lc_rs::rsa::KeyPair;
use aws_lc_rs::signature::RSA_PKCS1_SHA256;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::*;
use crate::model::{AadError, CLIENT_ASSERTION_TYPE, TokenResponse};
use crate::sandbox::{CLIENT_ID, CLIENT_SECRET, TENANT, TestCertificate};

const SCOPE: &str = "https://api.partnercenter.microsoft.com/.default";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// An RS256 JWT over `claims`, its header naming `x5t_of`'s thumbprint and
/// signed with `key`'s private key.
fn jwt(key: &TestCertificate, x5t_of: &TestCertificate, claims: &Value) -> String {
    let sha1 = aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        &x5t_of.certificate_der,
    );
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": URL_SAFE_NO_PAD.encode(sha1)});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let pair = KeyPair::from_pkcs8(&key.key_der).unwrap();
    let mut sig = vec![0; pair.public_modulus_len()];
    pair.sign(
        &RSA_PKCS1_SHA256,
        &aws_lc_rs::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .unwrap();
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

fn claims(aud: &str, nbf: i64, exp: i64) -> Value {
    json!({"aud": aud, "iss": CLIENT_ID, "sub": CLIENT_ID, "jti": uuid::Uuid::new_v4().to_string(),
           "nbf": nbf, "iat": nbf, "exp": exp})
}

fn token_url(sb: &Sandbox) -> String {
    format!("{}/{TENANT}/oauth2/v2.0/token", sb.base_url())
}

async fn post(sb: &Sandbox, form: &[(&str, String)]) -> (StatusCode, Value) {
    let r = client()
        .post(token_url(sb))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap())
}

fn assertion_form(assertion: String) -> Vec<(&'static str, String)> {
    vec![
        ("grant_type", "client_credentials".into()),
        ("client_id", CLIENT_ID.into()),
        ("client_assertion_type", CLIENT_ASSERTION_TYPE.into()),
        ("client_assertion", assertion),
        ("scope", SCOPE.into()),
    ]
}

fn aad_code(body: &Value) -> (String, i64, String) {
    let e: AadError = serde_json::from_value(body.clone()).unwrap();
    (
        e.error,
        e.error_codes[0],
        e.error_description.unwrap_or_default(),
    )
}

#[tokio::test]
async fn assertions_signed_by_a_registered_certificate_are_checked_like_aad() {
    let registered = TestCertificate::generate_valid("registered").unwrap();
    let stranger = TestCertificate::generate_valid("stranger").unwrap();
    let sb = start(SandboxConfig {
        client_certificates: vec![registered.certificate_der.clone()],
        ..SandboxConfig::default()
    })
    .await;
    let url = token_url(&sb);
    let t = now();

    let (status, body) = post(
        &sb,
        &assertion_form(jwt(&registered, &registered, &claims(&url, t, t + 600))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let ok: TokenResponse = serde_json::from_value(body).unwrap();
    assert!(
        ok.refresh_token.is_none(),
        "client credentials never get a refresh token"
    );

    let refused = [
        // A key AAD does not know.
        (
            jwt(&stranger, &stranger, &claims(&url, t, t + 600)),
            401,
            700027,
            "The key was not found",
        ),
        // The registered thumbprint, signed by another key.
        (
            jwt(&stranger, &registered, &claims(&url, t, t + 600)),
            401,
            700027,
            "did not match",
        ),
        // Expired, and not yet valid.
        (
            jwt(&registered, &registered, &claims(&url, t - 1200, t - 600)),
            401,
            700024,
            "valid time range",
        ),
        (
            jwt(&registered, &registered, &claims(&url, t + 1200, t + 1800)),
            401,
            700024,
            "valid time range",
        ),
        // Meant for another endpoint.
        (
            jwt(
                &registered,
                &registered,
                &claims("https://login.example/x/oauth2/token", t, t + 600),
            ),
            401,
            700023,
            "audience",
        ),
        ("not.a-jwt".to_string(), 400, 50027, "invalid or malformed"),
    ];
    for (assertion, status, code, text) in refused {
        let (got, body) = post(&sb, &assertion_form(assertion)).await;
        let (error, got_code, description) = aad_code(&body);
        assert_eq!((got.as_u16(), got_code), (status, code), "{body}");
        assert!(description.contains(text), "{description}");
        assert!(!error.is_empty());
    }
    // A secret and an assertion together are refused.
    let mut both = assertion_form(jwt(&registered, &registered, &claims(&url, t, t + 600)));
    both.push(("client_secret", CLIENT_SECRET.into()));
    assert_eq!(post(&sb, &both).await.0, StatusCode::UNAUTHORIZED);

    // The journal keeps the claims (aud, jti) but never the assertion.
    let j = sb.journal();
    let first = &j[0];
    assert_eq!(first.outcome, "token-issued");
    assert_eq!(first.grant_type.as_deref(), Some("client_credentials"));
    let seen = first.assertion.as_ref().expect("claims journaled");
    assert_eq!(seen.aud, url);
    assert!(first.form_keys.contains(&"client_assertion".to_string()));
    assert!(!first.form_keys.contains(&"client_secret".to_string()));
    let dump = format!("{j:?}");
    assert!(!dump.contains("eyJ"), "an assertion reached the journal");
}

#[tokio::test]
async fn a_refresh_token_is_rotated_and_only_the_newest_is_accepted() {
    let sb = start(SandboxConfig {
        refresh_token: Some("rt-0".to_string()),
        ..SandboxConfig::default()
    })
    .await;
    let form = |rt: &str| {
        vec![
            ("grant_type", "refresh_token".to_string()),
            ("client_id", CLIENT_ID.to_string()),
            ("client_secret", CLIENT_SECRET.to_string()),
            ("refresh_token", rt.to_string()),
            ("scope", SCOPE.to_string()),
        ]
    };
    let (status, body) = post(&sb, &form("rt-0")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let first: TokenResponse = serde_json::from_value(body).unwrap();
    let rt1 = first.refresh_token.expect("a rotated refresh token");
    assert_ne!(rt1, "rt-0");
    assert_eq!(sb.refresh_token().as_deref(), Some(rt1.as_str()));

    // The old one is revoked, an unknown one is malformed.
    let (status, body) = post(&sb, &form("rt-0")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(aad_code(&body).0, "invalid_grant");
    assert_eq!(aad_code(&body).1, 50173);
    assert_eq!(aad_code(&post(&sb, &form("made-up")).await.1).1, 9002313);

    // The refresh grant still needs the app's credential.
    let mut bare = form(&rt1);
    bare.retain(|(k, _)| *k != "client_secret");
    let (status, body) = post(&sb, &bare).await;
    assert_eq!(
        (status, aad_code(&body).1),
        (StatusCode::UNAUTHORIZED, 7000218)
    );
    // …and a failed request does not use the token up.
    let (status, body) = post(&sb, &form(&rt1)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rt2 = serde_json::from_value::<TokenResponse>(body)
        .unwrap()
        .refresh_token
        .unwrap();
    assert_ne!(rt2, rt1);

    let j = sb.journal();
    assert!(
        j.iter()
            .all(|e| e.grant_type.as_deref() == Some("refresh_token"))
    );
    let dump = format!("{j:?}");
    assert!(!dump.contains("rt-0") && !dump.contains(&rt1) && !dump.contains(&rt2));
}
