//! The fake AAD's side of certificate credentials: the certificates
//! registered on the app, and the checks AAD makes on a client assertion
//! (format, algorithm, key by `x5t` thumbprint, RS256 signature, audience,
//! issuer and subject, validity window), each refused with AAD's code.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use der::Decode;

use super::aad_answer::AadFailure;
use super::identity::CLIENT_ID;
use crate::model::{AssertionClaims, AssertionHeader};

/// Clock skew AAD tolerates on `nbf` and `exp`.
const SKEW_S: i64 = 300;

/// One certificate registered on the sandbox's app.
#[derive(Debug, Clone)]
struct RegisteredKey {
    /// Base64url SHA-1 of the certificate's DER.
    x5t: String,
    /// Upper-case hex of the same, as AAD's messages print it.
    thumbprint_hex: String,
    /// The certificate's subjectPublicKey (PKCS#1 RSAPublicKey DER).
    public_key: Vec<u8>,
    /// `Start=…, End=…` as AAD describes a found key.
    validity: String,
}

/// The certificates whose assertions the sandbox accepts.
#[derive(Debug, Default)]
pub(crate) struct RegisteredKeys {
    keys: Vec<RegisteredKey>,
}

impl RegisteredKeys {
    /// From certificate DERs; one that is not an X.509 certificate is
    /// skipped with a warning (the sandbox command checks its file first).
    pub(crate) fn new(certificates: &[Vec<u8>]) -> RegisteredKeys {
        let keys = certificates
            .iter()
            .filter_map(|der| match registered(der) {
                Ok(k) => Some(k),
                Err(e) => {
                    tracing::warn!("sandbox: ignoring a client certificate: {e}");
                    None
                }
            })
            .collect();
        RegisteredKeys { keys }
    }

    /// Check `assertion` for a token request to `audience` (the URL it was
    /// posted to). The claims are returned when they could be decoded, for
    /// the journal, together with the verdict.
    pub(crate) fn verify(
        &self,
        assertion: &str,
        audience: &str,
    ) -> (Option<AssertionClaims>, Result<(), AadFailure>) {
        let mut parts = assertion.split('.');
        let (Some(header), Some(claims), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return (None, Err(malformed("JWT token is invalid or malformed.")));
        };
        let Some(claims_json) = decode_json::<AssertionClaims>(claims) else {
            return (
                None,
                Err(malformed(
                    "JWT token is invalid or malformed: unreadable claims.",
                )),
            );
        };
        let verdict = self.check(header, claims, signature, &claims_json, audience);
        (Some(claims_json), verdict)
    }

    fn check(
        &self,
        header: &str,
        claims: &str,
        signature: &str,
        claims_json: &AssertionClaims,
        audience: &str,
    ) -> Result<(), AadFailure> {
        let header_json = decode_json::<AssertionHeader>(header)
            .ok_or_else(|| malformed("JWT token is invalid or malformed: unreadable header."))?;
        if header_json.alg != "RS256" {
            return Err(AadFailure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                5002738,
                format!(
                    "Invalid JWT token. '{}' is not a supported signature algorithm. Supported \
                     signing algorithms are: 'RS256,RS384,RS512'",
                    header_json.alg
                ),
            ));
        }
        let Some(x5t) = header_json.x5t.as_deref() else {
            return Err(malformed(
                "Invalid JWT token. No certificate thumbprint specified in token header.",
            ));
        };
        let thumbprint_hex = URL_SAFE_NO_PAD
            .decode(x5t)
            .map(|b| hex_upper(&b))
            .unwrap_or_else(|_| x5t.to_string());
        let Some(key) = self.keys.iter().find(|k| k.x5t == x5t) else {
            return Err(invalid_signature(format!(
                "Reason - The key was not found., Thumbprint of key used by client: \
                 '{thumbprint_hex}', Please visit the Azure Portal, Graph Explorer or directly \
                 use MS Graph to see configured keys for app Id '{CLIENT_ID}'."
            )));
        };
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| malformed("JWT token is invalid or malformed: unreadable signature."))?;
        let signed = format!("{header}.{claims}");
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &key.public_key)
            .verify(signed.as_bytes(), &signature)
            .map_err(|_| {
                invalid_signature(format!(
                    "Reason - The provided signature value did not match the expected signature \
                     value., Thumbprint of key used by client: '{}', Found key '{}'",
                    key.thumbprint_hex, key.validity
                ))
            })?;
        if claims_json.aud != audience {
            return Err(AadFailure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700023,
                format!(
                    "Client assertion audience claim does not match Realm issuer. Expected \
                     '{audience}', got '{}'.",
                    claims_json.aud
                ),
            ));
        }
        if !(claims_json.iss.eq_ignore_ascii_case(CLIENT_ID)
            && claims_json.sub.eq_ignore_ascii_case(CLIENT_ID))
        {
            return Err(AadFailure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700021,
                "Client assertion application identifier doesn't match 'client_id' parameter."
                    .to_string(),
            ));
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs() as i64;
        if now + SKEW_S < claims_json.nbf || now - SKEW_S >= claims_json.exp {
            let at = |s: i64| {
                chrono::DateTime::from_timestamp(s, 0).map_or_else(
                    || s.to_string(),
                    |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
                )
            };
            return Err(AadFailure::new(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                700024,
                format!(
                    "Client assertion is not within its valid time range. Current time: {}, \
                     assertion valid from {}, expiry time of assertion {}.",
                    at(now),
                    at(claims_json.nbf),
                    at(claims_json.exp)
                ),
            ));
        }
        Ok(())
    }
}

fn registered(der: &[u8]) -> Result<RegisteredKey, String> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    let tbs = cert.tbs_certificate();
    let public_key = tbs
        .subject_public_key_info()
        .subject_public_key
        .as_bytes()
        .ok_or("the public key is not a whole number of bytes")?
        .to_vec();
    let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, der);
    Ok(RegisteredKey {
        x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
        thumbprint_hex: hex_upper(sha1.as_ref()),
        public_key,
        validity: format!(
            "Start={}, End={}",
            tbs.validity().not_before,
            tbs.validity().not_after
        ),
    })
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Option<T> {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn malformed(message: &str) -> AadFailure {
    AadFailure::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        50027,
        message.to_string(),
    )
}

fn invalid_signature(reason: String) -> AadFailure {
    AadFailure::new(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        700027,
        format!("Client assertion contains an invalid signature. [{reason}]"),
    )
}
