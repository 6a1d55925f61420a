//! The certificate credential (`--client-certificate`): a certificate and
//! its RSA private key, read from a PEM file or a `.pfx`/`.p12`, checked once
//! before any request (valid now, key belongs to the certificate), and the
//! client assertions it signs for AAD: RS256 JWTs whose header names the
//! certificate by thumbprint (`x5t`), as AAD's certificate-credentials
//! documentation describes.
//!
//! The private key stays in a [`SecretSlice`] (zeroed on drop) and is never
//! formatted: [`ClientCertificate`]'s Debug shows the thumbprint only.

use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, PublicKey};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use der::Decode;
use rustls_pki_types::pem::{PemObject, SectionKind};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use uuid::Uuid;

use crate::model::{AssertionClaims, AssertionHeader};

/// How long an assertion is valid: AAD accepts up to 10 minutes ahead.
const ASSERTION_LIFETIME_S: i64 = 600;
/// `rsaEncryption`, the only key type RS256 can use.
const RSA_ENCRYPTION: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// Clock skew tolerated on a certificate's start date (a certificate made a
/// minute ago on another machine is fine).
const NOT_BEFORE_SKEW_S: i64 = 300;

/// Why a certificate cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertificateError {
    /// The file cannot be read at all: fatal (exit 1), like an unreadable
    /// secret file.
    #[error("cannot read the client certificate {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable certificate and key, or the certificate is
    /// not valid now: a usage error (exit 2).
    #[error("client certificate {path}: {detail}")]
    Unusable { path: String, detail: String },
}

/// A certificate with its private key, checked and ready to sign.
pub struct ClientCertificate {
    path: PathBuf,
    /// The certificate's DER, as registered on the app.
    der: Vec<u8>,
    /// PKCS#8 DER of the RSA key.
    key: SecretSlice<u8>,
    /// Base64url SHA-1 of `der`: how AAD finds the registered key.
    x5t: String,
    /// Base64url SHA-256 of `der`.
    x5t_s256: String,
    /// Upper-case hex SHA-1, as the Azure portal shows the thumbprint.
    thumbprint_hex: String,
    subject: String,
    not_after: DateTime<Utc>,
}

impl std::fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("path", &self.path)
            .field("subject", &self.subject)
            .field("thumbprint", &self.thumbprint_hex)
            .field("not_after", &self.not_after)
            .field("key", &"[REDACTED]")
            .finish()
    }
}

impl ClientCertificate {
    /// Read `path`: a `.pfx`/`.p12` (by extension, or DER content) opened
    /// with `password`, else PEM holding the certificate and an unencrypted
    /// PKCS#8 or PKCS#1 RSA key. With several certificates (a chain), the
    /// one the key belongs to is used. `now` is the time validity is checked at.
    pub fn load(
        path: &Path,
        password: Option<&SecretString>,
        now: DateTime<Utc>,
    ) -> Result<ClientCertificate, CertificateError> {
        let unusable = |detail: String| CertificateError::Unusable {
            path: path.display().to_string(),
            detail,
        };
        let bytes = std::fs::read(path).map_err(|source| CertificateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let pkcs12 = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"))
            || bytes.first() == Some(&0x30);
        let (certs, keys) = if pkcs12 {
            read_pkcs12(&bytes, password).map_err(unusable)?
        } else {
            read_pem(&bytes).map_err(unusable)?
        };
        if keys.len() > 1 {
            return Err(unusable(format!(
                "holds {} private keys; keep only the one registered on the app",
                keys.len()
            )));
        }
        let Some(key) = keys.into_iter().next() else {
            return Err(unusable(if pkcs12 {
                "the .pfx holds no private key; export it again with the private key".to_string()
            } else {
                "holds no private key: append the unencrypted key (-----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----) to the certificate, or use a .pfx with PARTNER_CENTER_CERTIFICATE_PASSWORD".to_string()
            }));
        };
        if certs.is_empty() {
            return Err(unusable(
                "holds no certificate (-----BEGIN CERTIFICATE-----)".to_string(),
            ));
        }
        let key_public = key.public_key().as_ref().to_vec();
        let mut matching = None;
        for der in &certs {
            let parsed = Parsed::from_der(der).map_err(&unusable)?;
            if parsed.rsa_public_key.as_deref() == Some(key_public.as_slice()) {
                matching = Some((der.clone(), parsed));
                break;
            }
        }
        let Some((der, parsed)) = matching else {
            return Err(unusable(
                "the private key does not belong to the certificate (their public keys differ): put the certificate's own key in the file".to_string(),
            ));
        };
        if parsed.not_after <= now {
            return Err(unusable(format!(
                "the certificate ({}) expired on {}: create a new one, upload its public part to the app registration (Certificates & secrets) and point --client-certificate at it",
                parsed.subject,
                parsed.not_after.to_rfc3339()
            )));
        }
        if parsed.not_before > now + chrono::Duration::seconds(NOT_BEFORE_SKEW_S) {
            return Err(unusable(format!(
                "the certificate ({}) is not valid before {} (check this machine's clock)",
                parsed.subject,
                parsed.not_before.to_rfc3339()
            )));
        }
        let pkcs8 = key
            .as_der()
            .map_err(|_| unusable("cannot re-encode the private key".to_string()))?;
        let sha1 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY, &der);
        let sha256 = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &der);
        Ok(ClientCertificate {
            path: path.to_path_buf(),
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
            thumbprint_hex: sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect(),
            der,
            key: SecretSlice::from(pkcs8.as_ref().to_vec()),
            subject: parsed.subject,
            not_after: parsed.not_after,
        })
    }

    /// The certificate's DER (public; what the app registration holds).
    pub fn certificate_der(&self) -> &[u8] {
        &self.der
    }

    /// When the certificate expires.
    pub fn not_after(&self) -> DateTime<Utc> {
        self.not_after
    }

    /// Subject, thumbprint (as the Azure portal shows it) and expiry, for logs.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, thumbprint {}, valid until {})",
            self.path.display(),
            self.subject,
            self.thumbprint_hex,
            self.not_after.format("%Y-%m-%d")
        )
    }

    /// A fresh client assertion for one token request to `audience` (the
    /// exact token endpoint URL): new `jti`, valid from `now` for 10 minutes.
    pub fn assertion(&self, client_id: &str, audience: &str, now: DateTime<Utc>) -> SecretString {
        let header = AssertionHeader {
            alg: "RS256".to_string(),
            typ: Some("JWT".to_string()),
            x5t: Some(self.x5t.clone()),
            x5t_s256: Some(self.x5t_s256.clone()),
        };
        let now = now.timestamp();
        let claims = AssertionClaims {
            aud: audience.to_string(),
            iss: client_id.to_string(),
            sub: client_id.to_string(),
            jti: Uuid::new_v4().to_string(),
            nbf: now,
            iat: Some(now),
            exp: now + ASSERTION_LIFETIME_S,
        };
        let signing_input = format!("{}.{}", base64_json(&header), base64_json(&claims));
        // The key was parsed and checked against the certificate in `load`,
        // so neither parsing nor signing can fail here.
        let key = KeyPair::from_pkcs8(self.key.expose_secret()).expect("key checked in load");
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .expect("RSA signing with a checked key");
        crate::redact::secret(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }
}

/// One JWT part: base64url of its JSON.
fn base64_json<T: serde::Serialize>(part: &T) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(part).expect("JWT parts always serialise"))
}

/// What qualrecon needs from a certificate.
struct Parsed {
    subject: String,
    not_before: DateTime<Utc>,
    not_after: DateTime<Utc>,
    /// The PKCS#1 RSAPublicKey DER as aws-lc writes it; `None` for other key types.
    rsa_public_key: Option<Vec<u8>>,
}

impl Parsed {
    fn from_der(der: &[u8]) -> Result<Parsed, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("not an X.509 certificate ({e})"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let time = |t: x509_cert::time::Time| {
            DateTime::<Utc>::from_timestamp(t.to_unix_duration().as_secs() as i64, 0)
                .unwrap_or(DateTime::<Utc>::MAX_UTC)
        };
        let rsa_public_key = (spki.algorithm.oid == RSA_ENCRYPTION)
            .then(|| spki.subject_public_key.as_bytes())
            .flatten()
            // Re-encoded by aws-lc, so it compares equal to the key pair's.
            .and_then(|bytes| PublicKey::from_der(bytes).ok())
            .map(|k| k.as_ref().to_vec());
        Ok(Parsed {
            subject: tbs.subject().to_string(),
            not_before: time(tbs.validity().not_before),
            not_after: time(tbs.validity().not_after),
            rsa_public_key,
        })
    }
}

/// Certificates (DER) and RSA keys of a PEM file.
fn read_pem(bytes: &[u8]) -> Result<(Vec<Vec<u8>>, Vec<KeyPair>), String> {
    let mut certs = Vec::new();
    let mut keys = Vec::new();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(bytes) {
        let (kind, der) = section.map_err(|e| format!("not a readable PEM file ({e})"))?;
        match kind {
            SectionKind::Certificate => certs.push(der),
            SectionKind::PrivateKey => keys.push(KeyPair::from_pkcs8(&der).map_err(|e| {
                format!("the private key is not an RSA key qualrecon can use for RS256 ({e})")
            })?),
            SectionKind::RsaPrivateKey => keys.push(
                KeyPair::from_der(&der)
                    .map_err(|e| format!("the RSA private key cannot be read ({e})"))?,
            ),
            SectionKind::EcPrivateKey => {
                return Err(
                    "holds an EC key; AAD client assertions here are RS256, which needs an RSA key"
                        .to_string(),
                );
            }
            _ => {}
        }
    }
    if keys.is_empty() && contains(bytes, b"ENCRYPTED PRIVATE KEY") {
        return Err("the private key is encrypted; qualrecon reads an unencrypted PEM key, or a password-protected .pfx/.p12 with PARTNER_CENTER_CERTIFICATE_PASSWORD (e.g. `openssl pkcs12 -export -in cert.pem -inkey key.pem -out cert.pfx`)".to_string());
    }
    Ok((certs, keys))
}

/// Certificates (DER) and RSA keys of a PKCS#12 file.
fn read_pkcs12(
    bytes: &[u8],
    password: Option<&SecretString>,
) -> Result<(Vec<Vec<u8>>, Vec<KeyPair>), String> {
    let password = password.map_or("", |p| p.expose_secret());
    // A DER certificate alone (a `.cer`, as the Azure portal hands out) is
    // no PKCS#12 either: say what is missing, not that the password is wrong.
    if x509_cert::Certificate::from_der(bytes).is_ok() {
        return Err("holds a certificate alone (DER, like the .cer the Azure portal gives out), without its private key: use the .pfx/.p12 exported with the key, or a PEM file with the certificate and its unencrypted key".to_string());
    }
    let archive = p12_keystore::Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| {
        format!(
            "cannot open the .pfx/.p12 ({e}): check PARTNER_CENTER_CERTIFICATE_PASSWORD{}",
            if password.is_empty() {
                " (not set)"
            } else {
                ""
            }
        )
    })?;
    let certs = archive
        .certs
        .iter()
        .map(|c| c.cert.as_der().to_vec())
        .collect();
    let keys = archive
        .keys
        .iter()
        .map(|k| {
            KeyPair::from_pkcs8(k.key.as_der()).map_err(|e| {
                format!("the private key is not an RSA key qualrecon can use for RS256 ({e})")
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((certs, keys))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use aws_lc_rs::signature::{RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};

    use super::*;
    use crate::sandbox::TestCertificate;

    fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn unusable(r: Result<ClientCertificate, CertificateError>) -> String {
        match r {
            Err(e @ CertificateError::Unusable { .. }) => e.to_string(),
            other => panic!("expected an unusable certificate, got {other:?}"),
        }
    }

    fn part<T: serde::de::DeserializeOwned>(b64: &str) -> T {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(b64).unwrap()).unwrap()
    }

    #[test]
    fn a_pem_certificate_signs_assertions_its_public_key_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let t = TestCertificate::generate_valid("unit").unwrap();
        let path = write(dir.path(), "c.pem", t.combined_pem());
        let now = Utc::now();
        let cert = ClientCertificate::load(&path, None, now).unwrap();
        assert_eq!(cert.certificate_der(), t.certificate_der.as_slice());
        let debug = format!("{cert:?}");
        assert!(debug.contains("[REDACTED]"), "{debug}");
        let key_b64 = t.key_pem.lines().nth(3).unwrap();
        assert!(!debug.contains(key_b64) && !cert.describe().contains(key_b64));

        let url = "https://login.example/contoso/oauth2/v2.0/token";
        let jwt = cert.assertion("app-id", url, now);
        let jwt = jwt.expose_secret();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: AssertionHeader = part(parts[0]);
        assert_eq!(header.alg, "RS256");
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let sha1 = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &t.certificate_der,
        );
        assert_eq!(header.x5t, Some(URL_SAFE_NO_PAD.encode(sha1.as_ref())));
        let claims: AssertionClaims = part(parts[1]);
        assert_eq!(claims.aud, url);
        assert_eq!(
            (claims.iss.as_str(), claims.sub.as_str()),
            ("app-id", "app-id")
        );
        assert_eq!(claims.nbf, now.timestamp());
        assert_eq!(claims.exp - claims.nbf, 600);
        // Verified with the certificate's own public key, not this module's code.
        let x509 = x509_cert::Certificate::from_der(&t.certificate_der).unwrap();
        let public = x509
            .tbs_certificate()
            .subject_public_key_info()
            .subject_public_key
            .raw_bytes()
            .to_vec();
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &public)
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("a valid RS256 signature");
        // A fresh jti every time.
        let again: AssertionClaims = part(
            cert.assertion("app-id", url, now)
                .expose_secret()
                .split('.')
                .nth(1)
                .unwrap(),
        );
        assert_ne!(again.jti, claims.jti);
    }

    #[test]
    fn pkcs1_keys_chains_and_pfx_files_load() {
        let dir = tempfile::tempdir().unwrap();
        let t = TestCertificate::generate_valid("leaf").unwrap();
        let other = TestCertificate::generate_valid("some CA").unwrap();
        // PKCS#1: the privateKey inside the PKCS#8 structure.
        #[derive(der::Sequence)]
        struct Pkcs8 {
            version: u8,
            algorithm: x509_cert::spki::AlgorithmIdentifierOwned,
            private_key: der::asn1::OctetString,
        }
        let pkcs1 = Pkcs8::from_der(&t.key_der)
            .unwrap()
            .private_key
            .into_bytes();
        let pkcs1_pem =
            der::pem::encode_string("RSA PRIVATE KEY", der::pem::LineEnding::LF, &pkcs1).unwrap();
        // The CA first: the certificate the key belongs to is picked.
        let pem = format!("{}{}{pkcs1_pem}", other.certificate_pem, t.certificate_pem);
        let cert =
            ClientCertificate::load(&write(dir.path(), "p1.pem", pem), None, Utc::now()).unwrap();
        assert_eq!(cert.certificate_der(), t.certificate_der.as_slice());

        let mut store = p12_keystore::KeyStore::new();
        store.add_entry(
            "qualrecon",
            p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
                "1",
                p12_keystore::PrivateKey::from_der(&t.key_der).unwrap(),
                [p12_keystore::Certificate::from_der(&t.certificate_der).unwrap()],
            )),
        );
        let pfx = write(
            dir.path(),
            "c.pfx",
            store.writer("hunter2").write().unwrap(),
        );
        let password = SecretString::from("hunter2".to_string());
        let cert = ClientCertificate::load(&pfx, Some(&password), Utc::now()).unwrap();
        assert_eq!(cert.certificate_der(), t.certificate_der.as_slice());
        let wrong = SecretString::from("nope".to_string());
        let e = unusable(ClientCertificate::load(&pfx, Some(&wrong), Utc::now()));
        assert!(e.contains("PARTNER_CENTER_CERTIFICATE_PASSWORD"), "{e}");
        assert!(!e.contains("nope"), "{e}");
        // The certificate alone, as DER (the portal's .cer): the key is
        // what is missing, not a password.
        let cer = write(dir.path(), "c.cer", t.certificate_der.clone());
        let e = unusable(ClientCertificate::load(&cer, None, Utc::now()));
        assert!(e.contains("without its private key"), "{e}");
        assert!(!e.contains("PASSWORD"), "{e}");
    }

    #[test]
    fn expired_mismatched_and_keyless_certificates_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let expired = TestCertificate::generate("old", now - 30 * day, now - day).unwrap();
        let e = unusable(ClientCertificate::load(
            &write(dir.path(), "old.pem", expired.combined_pem()),
            None,
            Utc::now(),
        ));
        assert!(e.contains("expired on") && e.contains("old.pem"), "{e}");

        let future = TestCertificate::generate("new", now + day, now + 30 * day).unwrap();
        let e = unusable(ClientCertificate::load(
            &write(dir.path(), "future.pem", future.combined_pem()),
            None,
            Utc::now(),
        ));
        assert!(e.contains("not valid before"), "{e}");

        let a = TestCertificate::generate_valid("a").unwrap();
        let b = TestCertificate::generate_valid("b").unwrap();
        let e = unusable(ClientCertificate::load(
            &write(
                dir.path(),
                "mixed.pem",
                format!("{}{}", a.certificate_pem, b.key_pem),
            ),
            None,
            Utc::now(),
        ));
        assert!(e.contains("does not belong to the certificate"), "{e}");

        let e = unusable(ClientCertificate::load(
            &write(dir.path(), "public.crt", &a.certificate_pem),
            None,
            Utc::now(),
        ));
        assert!(e.contains("no private key"), "{e}");
        let e = unusable(ClientCertificate::load(
            &write(dir.path(), "key.pem", &a.key_pem),
            None,
            Utc::now(),
        ));
        assert!(e.contains("no certificate"), "{e}");

        assert!(matches!(
            ClientCertificate::load(&dir.path().join("missing.pem"), None, Utc::now()),
            Err(CertificateError::Read { .. })
        ));
    }
}
