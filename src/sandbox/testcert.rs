//! Self-signed test certificates for trying certificate sign-in without an
//! account (`qualrecon sandbox --make-test-certificate DIR`) and for tests,
//! which also need expired ones. A 2048-bit RSA key from aws-lc and a
//! minimal v3 certificate (no extensions) laid out with `der`: nothing in
//! the sandbox needs more, and AAD itself ignores extensions on uploaded keys.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use der::asn1::BitString;
use der::pem::LineEnding;
use der::{Decode, Encode, Sequence};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

/// `sha256WithRSAEncryption`.
const SHA256_WITH_RSA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");

/// File `--make-test-certificate` writes with the certificate and its key
/// (for `run --client-certificate`).
pub const TEST_CERTIFICATE_PEM: &str = "qualrecon-test.pem";
/// File `--make-test-certificate` writes with the certificate alone (for
/// `sandbox --client-certificate-public`).
pub const TEST_CERTIFICATE_PUBLIC: &str = "qualrecon-test.crt";

/// RFC 5280 `TBSCertificate`, only the fields a v3 certificate must have.
#[derive(Sequence)]
struct TbsCertificate {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
    version: u8,
    serial_number: SerialNumber,
    signature: AlgorithmIdentifierOwned,
    issuer: Name,
    validity: Validity,
    subject: Name,
    subject_public_key_info: SubjectPublicKeyInfoOwned,
}

/// RFC 5280 `Certificate`.
#[derive(Sequence)]
struct Certificate {
    tbs_certificate: TbsCertificate,
    signature_algorithm: AlgorithmIdentifierOwned,
    signature: BitString,
}

/// A generated certificate and its key, both PEM.
pub struct TestCertificate {
    /// `-----BEGIN CERTIFICATE-----`: the public part (what an app
    /// registration, or `sandbox --client-certificate-public`, is given).
    pub certificate_pem: String,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8, unencrypted).
    pub key_pem: String,
    /// The certificate's DER.
    pub certificate_der: Vec<u8>,
    /// The key's PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl std::fmt::Debug for TestCertificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCertificate")
            .field("certificate_pem", &self.certificate_pem)
            .field("key_pem", &"[REDACTED]")
            .finish()
    }
}

impl TestCertificate {
    /// A new key and a self-signed certificate for `CN=common_name`, valid
    /// from `not_before` to `not_after` (either may be in the past).
    pub fn generate(
        common_name: &str,
        not_before: SystemTime,
        not_after: SystemTime,
    ) -> anyhow::Result<TestCertificate> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|_| anyhow::anyhow!("cannot encode the public key"))?;
        let algorithm = AlgorithmIdentifierOwned {
            oid: SHA256_WITH_RSA,
            parameters: Some(der::Any::null()),
        };
        let name = Name::from_str(&format!("CN={common_name}")).context("certificate name")?;
        let mut serial = [0u8; 16];
        aws_lc_rs::rand::fill(&mut serial).map_err(|_| anyhow::anyhow!("no randomness"))?;
        // Positive, and never a leading zero byte (DER INTEGER rules).
        serial[0] = (serial[0] & 0x7f) | 0x40;
        let tbs = TbsCertificate {
            version: 2, // v3
            serial_number: SerialNumber::new(&serial)?,
            signature: algorithm.clone(),
            issuer: name.clone(),
            validity: Validity::new(Time::try_from(not_before)?, Time::try_from(not_after)?),
            subject: name,
            subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki.as_ref())?,
        };
        let tbs_der = tbs.to_der()?;
        let mut signature = vec![0; key.public_modulus_len()];
        key.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            &tbs_der,
            &mut signature,
        )
        .map_err(|_| anyhow::anyhow!("signing the certificate failed"))?;
        let certificate_der = Certificate {
            tbs_certificate: tbs,
            signature_algorithm: algorithm,
            signature: BitString::from_bytes(&signature)?,
        }
        .to_der()?;
        let key_der = key
            .as_der()
            .map_err(|_| anyhow::anyhow!("cannot encode the private key"))?
            .as_ref()
            .to_vec();
        Ok(TestCertificate {
            certificate_pem: der::pem::encode_string(
                "CERTIFICATE",
                LineEnding::LF,
                &certificate_der,
            )?,
            key_pem: der::pem::encode_string("PRIVATE KEY", LineEnding::LF, &key_der)?,
            certificate_der,
            key_der,
        })
    }

    /// Valid from an hour ago for a year.
    pub fn generate_valid(common_name: &str) -> anyhow::Result<TestCertificate> {
        let now = SystemTime::now();
        TestCertificate::generate(
            common_name,
            now - Duration::from_secs(3600),
            now + Duration::from_secs(365 * 86_400),
        )
    }

    /// Certificate then key, the PEM layout `--client-certificate` reads.
    pub fn combined_pem(&self) -> String {
        format!("{}{}", self.certificate_pem, self.key_pem)
    }

    /// Write [`TEST_CERTIFICATE_PEM`] (certificate and key, mode 0600) and
    /// [`TEST_CERTIFICATE_PUBLIC`] (certificate only) into `dir`, creating it.
    pub fn write_to(&self, dir: &Path) -> anyhow::Result<(PathBuf, PathBuf)> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let private = dir.join(TEST_CERTIFICATE_PEM);
        let public = dir.join(TEST_CERTIFICATE_PUBLIC);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(&private)
            .with_context(|| format!("creating {}", private.display()))?;
        std::io::Write::write_all(&mut file, self.combined_pem().as_bytes())
            .with_context(|| format!("writing {}", private.display()))?;
        std::fs::write(&public, &self.certificate_pem)
            .with_context(|| format!("writing {}", public.display()))?;
        Ok((private, public))
    }
}

/// The certificates (DER) of a PEM file, e.g. `--client-certificate-public`;
/// any private key in it is ignored.
pub fn read_certificates(path: &Path) -> anyhow::Result<Vec<Vec<u8>>> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let certs = CertificateDer::pem_slice_iter(&text)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM file", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{} holds no -----BEGIN CERTIFICATE----- block",
        path.display()
    );
    Ok(certs)
}
