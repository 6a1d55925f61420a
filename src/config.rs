//! The settings of a run, merged CLI > environment > config file > default
//! and validated once, so the rest of the program never sees a half-valid
//! option.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrecy::SecretString;
use serde::Deserialize;

use crate::auth::{ClientCredential, TokenEndpoint};
use crate::certificate::{CertificateError, ClientCertificate};
use crate::cli::RunArgs;
use crate::logging::LogFormat;
use crate::lookup::DEFAULT_MAX_WAIT;
use crate::report::formats::Formats;

mod values;

pub(crate) use values::{Delimiter, HumanDuration, Rate};

pub(crate) const DEFAULT_BASE_URL: &str = "https://api.partnercenter.microsoft.com";
pub(crate) const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";
pub(crate) const DEFAULT_RATE: f64 = 5.0;
pub(crate) const DEFAULT_CONCURRENCY: u32 = 8;
pub(crate) const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const DEFAULT_STALE_AFTER_DAYS: u32 = 30;

/// A bad or missing option: exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct UsageError(pub String);

fn usage(msg: impl Into<String>) -> anyhow::Error {
    UsageError(msg.into()).into()
}

/// How the run authenticates. Debug output redacts the secrets.
#[derive(Debug)]
pub enum Auth {
    /// `PARTNER_CENTER_TOKEN`.
    Static(SecretString),
    /// OAuth2 against AAD: client credentials, or the refresh-token grant.
    Client {
        tenant: String,
        client_id: String,
        /// The app's secret or certificate.
        credential: ClientCredential,
        /// `Some`: sign in with this refresh token (the grant still carries
        /// the credential).
        refresh_token: Option<RefreshTokenSetting>,
        authority: String,
        endpoint: TokenEndpoint,
    },
    /// The built-in sandbox's own app registration (`--sandbox` without a
    /// token), signing in with the sandbox's secret unless a certificate or
    /// refresh token is given: the sandbox then trusts that certificate and
    /// accepts that refresh token.
    Sandbox {
        endpoint: TokenEndpoint,
        certificate: Option<Arc<ClientCertificate>>,
        refresh_token: Option<RefreshTokenSetting>,
    },
}

/// `--refresh-token-file` or `PARTNER_CENTER_REFRESH_TOKEN` (the token
/// itself). Debug output redacts the token.
#[derive(Debug, Clone)]
pub struct RefreshTokenSetting {
    pub token: SecretString,
    /// The file a renewed token is written back to; `None` for the
    /// environment variable.
    pub file: Option<PathBuf>,
    /// Whether the file ended with a line break.
    pub trailing_newline: bool,
}

/// Where the customers to look up come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSource {
    /// `--input FILE` (`-` = stdin).
    File(PathBuf),
    /// `--all-customers`: Partner Center's customer list.
    AllCustomers,
}

/// Every setting of a run, validated.
#[derive(Debug)]
pub struct Config {
    pub input: InputSource,
    pub out: PathBuf,
    pub column: Option<String>,
    pub delimiter: Option<u8>,
    /// `--encoding`: decode the input with this; `None` = detect.
    pub encoding: Option<&'static encoding_rs::Encoding>,
    pub base_url: String,
    pub rate: f64,
    pub concurrency: u32,
    pub auth: Auth,
    pub sandbox: bool,
    pub limit: Option<u64>,
    pub deadline: Option<Duration>,
    /// `--max-wait`: a Retry-After longer than this stops the run
    /// (`run.status = "throttled"`) instead of being slept through.
    pub max_wait: Duration,
    /// `--resume`: continue the run journaled in `out`.
    pub resume: bool,
    pub request_timeout: Duration,
    pub stale_after_days: u32,
    pub csv_bom: bool,
    /// Which report files to write.
    pub formats: Formats,
    /// `--previous DIR`: compare with that run and write `changes.csv`.
    pub previous: Option<PathBuf>,
    /// `--expect-column NAME`: the input column with the expected
    /// qualification (else one headed `expected_qualification`).
    pub expect_column: Option<String>,
    pub log_format: LogFormat,
    pub quiet: bool,
}

/// A config value given as `"a,b"` or `["a", "b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(crate) enum StringOrList {
    One(String),
    List(Vec<String>),
}

/// The config file: every `run` option, all optional. Keys may use `-` or
/// `_`. Unknown keys are an error so a typo cannot silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub(crate) struct FileConfig {
    pub input: Option<PathBuf>,
    pub all_customers: Option<bool>,
    pub out: Option<PathBuf>,
    pub base_url: Option<String>,
    pub rate: Option<Rate>,
    pub concurrency: Option<u32>,
    pub tenant: Option<String>,
    pub client_id: Option<String>,
    pub client_secret_file: Option<PathBuf>,
    pub client_certificate: Option<PathBuf>,
    pub refresh_token_file: Option<PathBuf>,
    pub authority: Option<String>,
    pub token_endpoint: Option<TokenEndpoint>,
    pub column: Option<String>,
    pub delimiter: Option<Delimiter>,
    pub encoding: Option<String>,
    pub sandbox: Option<bool>,
    pub limit: Option<u64>,
    pub deadline: Option<HumanDuration>,
    pub max_wait: Option<HumanDuration>,
    pub resume: Option<bool>,
    pub request_timeout: Option<HumanDuration>,
    pub stale_after: Option<u32>,
    pub csv_bom: Option<bool>,
    pub format: Option<StringOrList>,
    pub previous: Option<PathBuf>,
    pub expect_column: Option<String>,
    pub log_format: Option<LogFormat>,
    pub quiet: Option<bool>,
}

impl FileConfig {
    /// Parse TOML text; `source` names the file in errors.
    ///
    /// Errors name the file, line, column and key but never quote the file:
    /// a broken line may hold a secret, and the toml crate's own `Display`
    /// prints the offending line. So the message is built from the error's
    /// span and bare message only, with any quoted value taken out.
    pub(crate) fn parse(text: &str, source: &Path) -> anyhow::Result<FileConfig> {
        let doc = toml::de::DeTable::parse(text).map_err(|e| {
            let at = e.span().map(|s| s.start);
            let key = at.and_then(|at| option_key_on_line(text, at));
            config_error(source, text, at, key.as_deref(), e.message())
        })?;
        let span = doc.span();
        // Keys may use `-` or `_`; each keeps its span for the error.
        let mut keys = Vec::new();
        let table: toml::de::DeTable = doc
            .into_inner()
            .into_iter()
            .map(|(k, v)| {
                let name = k.get_ref().replace('-', "_");
                keys.push(SpannedKey {
                    text: k.get_ref().to_string(),
                    key: k.span(),
                    value: v.span(),
                    kind: v.get_ref().type_str(),
                });
                (toml::Spanned::new(k.span(), name.into()), v)
            })
            .collect();
        let de = toml::de::Deserializer::from(toml::Spanned::new(span, table));
        FileConfig::deserialize(de).map_err(|e| {
            let at = e.span().map(|s| s.start);
            let hit = at.and_then(|at| {
                keys.iter()
                    .find(|k| k.key.contains(&at) || k.value.contains(&at))
            });
            let message = without_values(e.message(), hit.map(|k| k.kind));
            let key = hit.map(|k| shown_key(&k.text));
            config_error(source, text, at, key.as_deref(), &message)
        })
    }
}

/// A top-level key of the config file and where it and its value are.
struct SpannedKey {
    text: String,
    key: std::ops::Range<usize>,
    value: std::ops::Range<usize>,
    kind: &'static str,
}

/// `config file F, line L, column C, key `K`: message` (1-based; line and
/// column only when the parser knows where, the key only when known).
fn config_error(
    source: &Path,
    text: &str,
    at: Option<usize>,
    key: Option<&str>,
    message: &str,
) -> anyhow::Error {
    let mut head = format!("config file {}", source.display());
    if let Some(at) = at {
        let (line, column) = line_and_column(text, at);
        head.push_str(&format!(", line {line}, column {column}"));
    }
    if let Some(key) = key {
        head.push_str(&format!(", key `{key}`"));
    }
    // The parser's message may span lines ("…\nexpected …"): keep one.
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    usage(format!("{head}: {message}"))
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_and_column(text: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    let before = &text[..at];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (
        before.matches('\n').count() + 1,
        before[line_start..].chars().count() + 1,
    )
}

/// The option a syntax error's line sets (`deadline = 5 minutes`), when the
/// line starts with a known option name and `=`. Only option names are
/// ever returned: the line itself may be a pasted secret.
fn option_key_on_line(text: &str, at: usize) -> Option<String> {
    let (line, _) = line_and_column(text, at);
    let content = text.lines().nth(line - 1)?.trim_start();
    let end = content
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .unwrap_or(content.len());
    let (key, rest) = content.split_at(end);
    (!key.is_empty() && rest.trim_start().starts_with('=') && is_option_name(key))
        .then(|| key.to_string())
}

/// Whether the config file accepts `key` (with `-` or `_`).
fn is_option_name(key: &str) -> bool {
    let mut probe = toml::Table::new();
    probe.insert(key.replace('-', "_"), toml::Value::Boolean(true));
    match FileConfig::deserialize(probe) {
        Ok(_) => true,
        Err(e) => !e.message().starts_with("unknown field"),
    }
}

/// A key as the message shows it: option-like names verbatim, anything
/// else (a quoted key with spaces, a very long one) described instead.
fn shown_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if plain {
        key.to_string()
    } else {
        "(a quoted key)".to_string()
    }
}

/// serde's messages quote the offending value (`invalid type: string
/// "s3cr3t", expected f64`): keep what was expected and the value's TOML
/// type, never the value.
fn without_values(message: &str, kind: Option<&str>) -> String {
    let quotes_a_value = [
        "invalid type",
        "invalid value",
        "invalid length",
        "unknown variant",
    ]
    .iter()
    .any(|p| message.starts_with(p));
    if message.starts_with("unknown field") {
        // The key is named separately; the list of keys is worth keeping,
        // spelled as the README and `--help` spell them.
        return match message.rfind(", expected ") {
            Some(i) => format!(
                "not an option; expected {}",
                message[i + 11..].replace('_', "-")
            ),
            None => "not an option".to_string(),
        };
    }
    if !quotes_a_value {
        return message.to_string();
    }
    let expected = message
        .rfind(", expected ")
        .map(|i| &message[i + 2..])
        .unwrap_or("expected a different value");
    match kind {
        Some(kind) if message.starts_with("invalid type") => {
            let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            format!("{expected}, got {article} {kind}")
        }
        _ => format!("invalid value, {expected}"),
    }
}

/// Merge and validate. `env` looks up an environment variable (a closure so
/// tests need not touch the process environment); empty values count as unset.
pub(crate) fn resolve(
    args: &RunArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Config> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let file = match args
        .config
        .clone()
        .or_else(|| env("QUALRECON_CONFIG").map(PathBuf::from))
    {
        Some(path) => {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading config file {}", path.display()))?;
            FileConfig::parse(&text, &path)?
        }
        None => FileConfig::default(),
    };

    let sandbox = args.sandbox || file.sandbox.unwrap_or(false);
    let input = input_source(
        (args.input.input.clone(), args.input.all_customers),
        (file.input, file.all_customers.unwrap_or(false)),
    )?;
    let out = args
        .out
        .clone()
        .or(file.out)
        .ok_or_else(|| usage("missing --out DIR (the folder the report is written to)"))?;
    let encoding = match (args.input.encoding, file.encoding) {
        (Some(e), _) => Some(e),
        (None, Some(label)) => Some(
            crate::input::parse_encoding(&label)
                .map_err(|e| usage(format!("config encoding: {e}")))?,
        ),
        (None, None) => None,
    };
    let concurrency = args
        .concurrency
        .or(file.concurrency)
        .unwrap_or(DEFAULT_CONCURRENCY);
    if concurrency == 0 {
        return Err(usage("concurrency must be at least 1"));
    }
    let formats = match (args.format, &file.format) {
        (Some(f), _) => Ok(f),
        (None, Some(StringOrList::One(s))) => Formats::parse([s.as_str()]),
        (None, Some(StringOrList::List(l))) => Formats::parse(l.iter().map(String::as_str)),
        (None, None) => Ok(Formats::default()),
    }
    .map_err(|e| usage(format!("config format: {e}")))?;

    let base_url = args
        .connection
        .base_url
        .clone()
        .or_else(|| env("PARTNER_CENTER_BASE_URL"))
        .or(file.base_url)
        .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    check_url(&base_url, "--base-url")?;
    let authority = args
        .connection
        .authority
        .clone()
        .or_else(|| env("PARTNER_CENTER_AUTHORITY"))
        .or(file.authority)
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
    check_url(&authority, "--authority")?;
    let endpoint = args
        .connection
        .token_endpoint
        .or(file.token_endpoint)
        .unwrap_or_default();

    let token = env("PARTNER_CENTER_TOKEN");
    // Each sign-in setting with the name of where it came from, so a
    // conflict names both sides exactly as the user set them.
    let refresh_token = first_set([
        (
            args.connection
                .refresh_token_file
                .clone()
                .map(RefreshTokenFrom::File),
            "--refresh-token-file",
        ),
        (
            env("PARTNER_CENTER_REFRESH_TOKEN").map(RefreshTokenFrom::Env),
            "PARTNER_CENTER_REFRESH_TOKEN",
        ),
        (
            file.refresh_token_file.clone().map(RefreshTokenFrom::File),
            "refresh-token-file (config file)",
        ),
    ]);
    let certificate = first_set([
        (
            args.connection.client_certificate.clone(),
            "--client-certificate",
        ),
        (
            env("PARTNER_CENTER_CLIENT_CERTIFICATE").map(PathBuf::from),
            "PARTNER_CENTER_CLIENT_CERTIFICATE",
        ),
        (
            file.client_certificate.clone(),
            "client-certificate (config file)",
        ),
    ]);
    let secret_from = first_set([
        (
            args.connection.client_secret_file.as_ref().map(|_| ()),
            "--client-secret-file",
        ),
        (
            file.client_secret_file.as_ref().map(|_| ()),
            "client-secret-file (config file)",
        ),
        (
            env("PARTNER_CENTER_CLIENT_SECRET").map(|_| ()),
            "PARTNER_CENTER_CLIENT_SECRET",
        ),
    ])
    .map(|((), from)| from);
    let password = env("PARTNER_CENTER_CERTIFICATE_PASSWORD").map(crate::redact::secret);
    let load_certificate = |path: &Path| load_certificate(path, password.as_ref());
    check_credential_conflicts(
        token.is_some(),
        refresh_token.as_ref().map(|(_, from)| *from),
        certificate.as_ref().map(|(_, from)| *from),
        secret_from,
    )?;
    let auth = if let Some(token) = token {
        // Refused here rather than by the first request, which would fail
        // with a vaguer error for every customer.
        crate::transport::check_header_token(token.trim(), "PARTNER_CENTER_TOKEN")
            .map_err(usage)?;
        Auth::Static(crate::redact::secret(token.trim()))
    } else if sandbox {
        Auth::Sandbox {
            endpoint,
            certificate: certificate.map(|(p, _)| load_certificate(&p)).transpose()?,
            refresh_token: refresh_token.map(|(r, _)| r.read()).transpose()?,
        }
    } else {
        let tenant = args
            .connection
            .tenant
            .clone()
            .or_else(|| env("PARTNER_CENTER_TENANT"))
            .or(file.tenant);
        if let Some(tenant) = &tenant {
            check_tenant(tenant)?;
        }
        let client_id = args
            .connection
            .client_id
            .clone()
            .or_else(|| env("PARTNER_CENTER_CLIENT_ID"))
            .or(file.client_id);
        let credential = match certificate {
            Some((path, _)) => Some(ClientCredential::Certificate(load_certificate(&path)?)),
            None => match args
                .connection
                .client_secret_file
                .clone()
                .or(file.client_secret_file)
            {
                Some(path) => Some(read_secret_file(&path)?),
                None => {
                    env("PARTNER_CENTER_CLIENT_SECRET").map(|s| crate::redact::secret(s.trim()))
                }
            }
            .map(ClientCredential::Secret),
        };
        let refresh_token = refresh_token.map(|(r, _)| r.read()).transpose()?;
        match (tenant, client_id, credential) {
            (Some(tenant), Some(client_id), Some(credential)) => Auth::Client {
                tenant,
                client_id,
                credential,
                refresh_token,
                authority: authority.clone(),
                endpoint,
            },
            (tenant, client_id, credential) => {
                let mut missing = Vec::new();
                if tenant.is_none() {
                    missing.push("--tenant (or PARTNER_CENTER_TENANT)");
                }
                if client_id.is_none() {
                    missing.push("--client-id (or PARTNER_CENTER_CLIENT_ID)");
                }
                if credential.is_none() {
                    missing.push(
                        "the client secret (PARTNER_CENTER_CLIENT_SECRET or --client-secret-file) or certificate (--client-certificate)",
                    );
                }
                return Err(usage(format!(
                    "no credentials: set PARTNER_CENTER_TOKEN to a bearer token, or give OAuth2 client credentials (missing: {}); or try --sandbox to run against the built-in fake Partner Center",
                    missing.join(", ")
                )));
            }
        }
    };

    Ok(Config {
        input,
        out,
        column: args.input.column.clone().or(file.column),
        delimiter: args.input.delimiter.or(file.delimiter).map(Delimiter::byte),
        encoding,
        base_url,
        rate: args.rate.or(file.rate).map_or(DEFAULT_RATE, Rate::get),
        concurrency,
        auth,
        sandbox,
        limit: args.limit.or(file.limit),
        deadline: args.deadline.or(file.deadline).map(Duration::from),
        max_wait: args
            .max_wait
            .or(file.max_wait)
            .map_or(DEFAULT_MAX_WAIT, Duration::from),
        resume: args.resume || file.resume.unwrap_or(false),
        request_timeout: args
            .request_timeout
            .or(file.request_timeout)
            .map_or(DEFAULT_REQUEST_TIMEOUT, Duration::from),
        stale_after_days: args
            .stale_after
            .or(file.stale_after)
            .unwrap_or(DEFAULT_STALE_AFTER_DAYS),
        csv_bom: args.csv_bom || file.csv_bom.unwrap_or(false),
        formats,
        previous: args.previous.clone().or(file.previous),
        expect_column: args.expect_column.clone().or(file.expect_column),
        log_format: args.log_format.or(file.log_format).unwrap_or_default(),
        quiet: args.quiet || file.quiet.unwrap_or(false),
    })
}

/// `--input` or `--all-customers`, from the command line or else the config
/// file: one of them, never both at the same level (the command line
/// overrides either key of the file).
fn input_source(
    cli: (Option<PathBuf>, bool),
    file: (Option<PathBuf>, bool),
) -> anyhow::Result<InputSource> {
    let pick = |(path, all): (Option<PathBuf>, bool), both: &str| match (path, all) {
        (Some(_), true) => Err(usage(both)),
        (Some(path), false) => Ok(Some(InputSource::File(path))),
        (None, true) => Ok(Some(InputSource::AllCustomers)),
        (None, false) => Ok(None),
    };
    let cli = pick(
        cli,
        "--input and --all-customers exclude each other: read a file or list Partner Center's customers",
    )?;
    let file = pick(
        file,
        "the config file sets both `input` and `all-customers = true`: keep one",
    )?;
    cli.or(file).ok_or_else(|| {
        usage(
            "missing --input FILE (the CSV of customer tenant ids; `-` reads stdin) or --all-customers (every customer listed from Partner Center)",
        )
    })
}

/// The first of `candidates` that is set, with the name of its source.
fn first_set<T, const N: usize>(
    candidates: [(Option<T>, &'static str); N],
) -> Option<(T, &'static str)> {
    candidates
        .into_iter()
        .find_map(|(value, from)| value.map(|v| (v, from)))
}

/// The order of credentials is static token, refresh token, certificate,
/// secret. A static token replaces the sign-in, so a refresh token or a
/// certificate next to it would silently go unused: that is a conflict. The
/// app proves itself with one credential, so a certificate next to a secret
/// is one too. A refresh token needs a certificate or a secret (the grant
/// carries it), and a secret left in the environment under a static token is
/// simply not used, as it always was.
fn check_credential_conflicts(
    token: bool,
    refresh_token: Option<&str>,
    certificate: Option<&str>,
    secret: Option<&str>,
) -> anyhow::Result<()> {
    let clash = |a: &str, b: &str, why: &str| {
        Err(usage(format!(
            "{a} and {b} are both set, and {why}: remove one of them (the order of credentials is static token, refresh token, certificate, secret; see `qualrecon run --help`)"
        )))
    };
    let static_token = "PARTNER_CENTER_TOKEN";
    match (token, refresh_token, certificate, secret) {
        (true, Some(r), _, _) => clash(
            static_token,
            r,
            "a ready bearer token is used as is, so the refresh token would never be used",
        ),
        (true, None, Some(c), _) => clash(
            static_token,
            c,
            "a ready bearer token is used as is, so the certificate would never be used",
        ),
        (_, _, Some(c), Some(s)) => clash(
            c,
            s,
            "the app signs in with one credential, a certificate or a client secret",
        ),
        _ => Ok(()),
    }
}

/// Where the refresh token comes from.
enum RefreshTokenFrom {
    /// `--refresh-token-file` / config `refresh-token-file`.
    File(PathBuf),
    /// `PARTNER_CENTER_REFRESH_TOKEN`: the token itself.
    Env(String),
}

impl RefreshTokenFrom {
    fn read(self) -> anyhow::Result<RefreshTokenSetting> {
        match self {
            RefreshTokenFrom::Env(token) => Ok(RefreshTokenSetting {
                token: crate::redact::secret(token.trim()),
                file: None,
                trailing_newline: false,
            }),
            RefreshTokenFrom::File(path) => {
                let text = std::fs::read_to_string(&path).with_context(|| {
                    format!("reading the refresh token file {}", path.display())
                })?;
                let token = text.trim();
                if token.is_empty() {
                    return Err(usage(format!(
                        "the refresh token file {} is empty",
                        path.display()
                    )));
                }
                Ok(RefreshTokenSetting {
                    token: crate::redact::secret(token),
                    trailing_newline: text.ends_with('\n'),
                    file: Some(path),
                })
            }
        }
    }
}

/// Read and check the certificate now, so an expired one or a key that
/// does not match is a usage error before any request. The password of a
/// .pfx/.p12 comes only from the environment (PARTNER_CENTER_CERTIFICATE_PASSWORD),
/// like the secret.
fn load_certificate(
    path: &Path,
    password: Option<&SecretString>,
) -> anyhow::Result<Arc<ClientCertificate>> {
    match ClientCertificate::load(path, password, chrono::Utc::now()) {
        Ok(cert) => Ok(Arc::new(cert)),
        Err(e @ CertificateError::Unusable { .. }) => Err(usage(e.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// The URLs that receive credentials: https (http on loopback only), no
/// user info (see [`crate::transport::check_endpoint_url`]).
fn check_url(url: &str, option: &str) -> anyhow::Result<()> {
    crate::transport::check_endpoint_url(url, option).map_err(usage)
}

/// The tenant goes into the token URL's path: a GUID or a domain name,
/// nothing that could change the request (`/`, `?`, `#`, spaces).
fn check_tenant(tenant: &str) -> anyhow::Result<()> {
    let fine = !tenant.is_empty()
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !tenant.starts_with('.');
    if fine {
        Ok(())
    } else {
        Err(usage(format!(
            "--tenant must be the partner's tenant id (a GUID) or one of its domains (e.g. contoso.onmicrosoft.com), got `{}`",
            tenant.escape_debug()
        )))
    }
}

fn read_secret_file(path: &Path) -> anyhow::Result<SecretString> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the client secret file {}", path.display()))?;
    let secret = text.trim();
    if secret.is_empty() {
        return Err(usage(format!(
            "the client secret file {} is empty",
            path.display()
        )));
    }
    Ok(crate::redact::secret(secret))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;
    use std::collections::HashMap;

    fn args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["qualrecon", "run"];
        full.extend_from_slice(argv);
        match crate::cli::Cli::parse_from(full).command {
            crate::cli::Command::Run(a) => *a,
            _ => unreachable!(),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn cli_beats_env_beats_file_beats_default() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("q.toml");
        std::fs::write(&cfg, "rate = 2.5\nconcurrency = 3\nbase-url = \"https://file.example\"\nout = \"from-file\"\n").unwrap();
        let c = resolve(
            &args(&[
                "--input",
                "a.csv",
                "--config",
                cfg.to_str().unwrap(),
                "--concurrency",
                "4",
            ]),
            &env(&[
                ("PARTNER_CENTER_TOKEN", "t"),
                ("PARTNER_CENTER_BASE_URL", "https://env.example"),
            ]),
        )
        .unwrap();
        assert_eq!(c.rate, 2.5);
        assert_eq!(c.concurrency, 4);
        assert_eq!(c.base_url, "https://env.example");
        assert_eq!(c.out, PathBuf::from("from-file"));
        let c = resolve(
            &args(&["--input", "a", "--out", "o"]),
            &env(&[("PARTNER_CENTER_TOKEN", "t")]),
        )
        .unwrap();
        assert_eq!(c.rate, DEFAULT_RATE);
        assert_eq!(c.base_url, DEFAULT_BASE_URL);
        assert_eq!(c.request_timeout, DEFAULT_REQUEST_TIMEOUT);
        assert!(!c.resume);
    }

    #[test]
    fn resume_comes_from_the_flag_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("q.toml");
        std::fs::write(&cfg, "resume = true\n").unwrap();
        let token = env(&[("PARTNER_CENTER_TOKEN", "t")]);
        let file = args(&[
            "--input",
            "a",
            "--out",
            "o",
            "--config",
            cfg.to_str().unwrap(),
        ]);
        assert!(resolve(&file, &token).unwrap().resume);
        let flag = args(&["--input", "a", "--out", "o", "--resume"]);
        assert!(resolve(&flag, &token).unwrap().resume);
    }

    #[test]
    fn encoding_comes_from_the_flag_or_the_file_and_a_bad_label_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("q.toml");
        let token = env(&[("PARTNER_CENTER_TOKEN", "t")]);
        let with_file = |extra: &[&str]| {
            let mut argv = vec!["--input", "a", "--out", "o", "--config"];
            argv.push(cfg.to_str().unwrap());
            argv.extend_from_slice(extra);
            args(&argv)
        };
        std::fs::write(&cfg, "encoding = \"cp1250\"\n").unwrap();
        let encoding = |a: &RunArgs| resolve(a, &token).unwrap().encoding.map(|e| e.name());
        assert_eq!(encoding(&with_file(&[])), Some("windows-1250"));
        assert_eq!(
            encoding(&with_file(&["--encoding", "sjis"])),
            Some("Shift_JIS")
        );
        std::fs::write(&cfg, "encoding = \"klingon\"\n").unwrap();
        let e = resolve(&with_file(&[]), &token).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().contains("config encoding: `klingon`"), "{e}");
    }

    #[test]
    fn missing_credentials_is_a_usage_error_that_says_what_is_missing() {
        let e = resolve(
            &args(&["--input", "a", "--out", "o", "--tenant", "t"]),
            &env(&[]),
        )
        .unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        let text = e.to_string();
        assert!(
            text.contains("--client-id") && text.contains("PARTNER_CENTER_CLIENT_SECRET"),
            "{text}"
        );
        assert!(!text.contains("--tenant (or"), "{text}");
        // The sandbox needs no credentials.
        assert!(
            resolve(
                &args(&["--input", "a", "--out", "o", "--sandbox"]),
                &env(&[])
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_config_keys_and_bad_urls_are_usage_errors() {
        let e = FileConfig::parse("rat = 5", Path::new("q.toml")).unwrap_err();
        assert!(e.to_string().contains("rat"), "{e}");
        let e = resolve(
            &args(&["--input", "a", "--out", "o", "--base-url", "ftp://x"]),
            &env(&[("PARTNER_CENTER_TOKEN", "t")]),
        )
        .unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
    }

    #[test]
    fn credential_urls_and_tokens_follow_the_transport_rules_from_every_source() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("q.toml");
        std::fs::write(
            &cfg,
            "base-url = \"https://alice:hunter2@api.example.com\"\n",
        )
        .unwrap();
        let token = [("PARTNER_CENTER_TOKEN", "t")];
        let base = ["--input", "a", "--out", "o"];
        let refused = |argv: &[&str], vars: &[(&str, &str)]| {
            let e = resolve(&args(&[&base[..], argv].concat()), &env(vars)).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
            e.to_string()
        };
        let e = refused(&["--authority", "http://example.invalid"], &token);
        assert!(e.contains("--authority must use https"), "{e}");
        let e = refused(
            &[],
            &[
                ("PARTNER_CENTER_TOKEN", "t"),
                ("PARTNER_CENTER_BASE_URL", "http://example.invalid"),
            ],
        );
        assert!(e.contains("--base-url must use https"), "{e}");
        let e = refused(&["--config", cfg.to_str().unwrap()], &token);
        assert!(
            e.contains("user name or password") && !e.contains("hunter2"),
            "{e}"
        );
        let e = refused(&[], &[("PARTNER_CENTER_TOKEN", "eyJ.secret\nX-Evil: 1")]);
        assert!(
            e.contains("PARTNER_CENTER_TOKEN") && !e.contains("secret"),
            "{e}"
        );
        // Loopback may use plain http (the sandbox, tests).
        let c = resolve(
            &args(&[&base[..], &["--base-url", "http://127.0.0.1:9"]].concat()),
            &env(&token),
        )
        .unwrap();
        assert_eq!(c.base_url, "http://127.0.0.1:9");
        let e = refused(&["--base-url", "https://api.example.com/?x=1"], &token);
        assert!(e.contains("query or fragment"), "{e}");
        let secret = [("PARTNER_CENTER_CLIENT_SECRET", "s")];
        let e = refused(
            &["--tenant", "contoso.com/x?y", "--client-id", "c"],
            &secret,
        );
        assert!(e.contains("--tenant must be"), "{e}");
        let fine = ["--tenant", "contoso.onmicrosoft.com", "--client-id", "c"];
        resolve(&args(&[&base[..], &fine[..]].concat()), &env(&secret)).unwrap();
    }

    #[test]
    fn config_errors_name_the_place_and_key_but_never_quote_the_file() {
        let secret = "Wx8Q~fake.SECRET";
        let cases = [
            (
                format!("rate = 5\ntenant = {secret}\n"),
                "config file q.toml, line 2, column 10, key `tenant`: string values must be quoted",
            ),
            (
                format!("\n{secret}\n"),
                "config file q.toml, line 2, column 17: key with no value",
            ),
            (
                format!("rate = \"{secret}\""),
                "config file q.toml, line 1, column 8, key `rate`: expected f64, got a string",
            ),
            (
                format!("token-endpoint = \"{secret}\""),
                "key `token-endpoint`: invalid value, expected `v2` or `v1`",
            ),
            (
                "quiet = true\nrat = 5".to_string(),
                "line 2, column 1, key `rat`: not an option; expected one of `input`, `all-customers`, `out`, `base-url`",
            ),
            (
                "max-wait = 5".to_string(),
                "line 1, column 12, key `max-wait`: expected a string, got an integer",
            ),
            (
                format!("\"{secret} x\" = 1"),
                "line 1, column 1, key `(a quoted key)`: not an option",
            ),
        ];
        for (text, want) in cases {
            let e = FileConfig::parse(&text, Path::new("q.toml")).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some());
            let e = e.to_string();
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains("Wx8Q"), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{text:?}: {e}");
        }
        // Only option names are named on a broken line.
        assert!(is_option_name("max-wait") && is_option_name("max_wait"));
        assert!(!is_option_name("Wx8Q"));
    }

    #[test]
    fn max_wait_defaults_to_ten_minutes_and_comes_from_the_cli_or_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("q.toml");
        std::fs::write(&cfg, "max-wait = \"90s\"\n").unwrap();
        let token = env(&[("PARTNER_CENTER_TOKEN", "t")]);
        let plain = resolve(&args(&["--input", "a", "--out", "o"]), &token).unwrap();
        assert_eq!(plain.max_wait, Duration::from_secs(600));
        let with_file = [
            "--input",
            "a",
            "--out",
            "o",
            "--config",
            cfg.to_str().unwrap(),
        ];
        assert_eq!(
            resolve(&args(&with_file), &token).unwrap().max_wait,
            Duration::from_secs(90)
        );
        let mut both = with_file.to_vec();
        both.extend(["--max-wait", "2h"]);
        assert_eq!(
            resolve(&args(&both), &token).unwrap().max_wait,
            Duration::from_secs(7200)
        );
        assert!(
            crate::cli::Cli::try_parse_from(["qualrecon", "run", "--max-wait", "soon"]).is_err()
        );
    }

    #[test]
    fn format_comes_from_the_cli_or_the_file_as_text_or_array() {
        let dir = tempfile::tempdir().unwrap();
        let token = env(&[("PARTNER_CENTER_TOKEN", "t")]);
        let run = |toml: &str, extra: &[&str]| {
            let cfg = dir.path().join("q.toml");
            std::fs::write(&cfg, toml).unwrap();
            let mut argv = vec![
                "--input",
                "a",
                "--out",
                "o",
                "--config",
                cfg.to_str().unwrap(),
            ];
            argv.extend_from_slice(extra);
            resolve(&args(&argv), &token)
        };
        let csv_only = Formats {
            csv: true,
            xlsx: false,
            jsonl: false,
        };
        assert_eq!(run("", &[]).unwrap().formats, Formats::default());
        assert_eq!(run("format = \"CSV,json\"", &[]).unwrap().formats, csv_only);
        assert_eq!(run("format = [\"csv\"]", &[]).unwrap().formats, csv_only);
        let c = run(
            "format = \"csv\"\nprevious = \"last\"",
            &["--format", "xlsx"],
        )
        .unwrap();
        assert!(c.formats.xlsx && !c.formats.csv);
        assert_eq!(c.previous, Some(PathBuf::from("last")));
        assert_eq!(c.expect_column, None);
        let c = run("expect-column = \"CRM\"", &[]).unwrap();
        assert_eq!(c.expect_column.as_deref(), Some("CRM"));
        let c = run("expect-column = \"CRM\"", &["--expect-column", "Own"]).unwrap();
        assert_eq!(c.expect_column.as_deref(), Some("Own"));
        let e = run("format = \"pdf\"", &[]).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some());
        assert!(e.to_string().contains("csv, json, xlsx"), "{e}");
    }

    #[test]
    fn input_or_all_customers_from_the_cli_or_else_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let token = env(&[("PARTNER_CENTER_TOKEN", "t")]);
        let run = |toml: &str, argv: &[&str]| {
            let cfg = dir.path().join("q.toml");
            std::fs::write(&cfg, toml).unwrap();
            let mut full = vec!["--out", "o", "--config", cfg.to_str().unwrap()];
            full.extend_from_slice(argv);
            resolve(&args(&full), &token)
        };
        let file = |p: &str| InputSource::File(PathBuf::from(p));
        assert_eq!(
            run("all-customers = true", &[]).unwrap().input,
            InputSource::AllCustomers
        );
        assert_eq!(run("input = \"a.csv\"", &[]).unwrap().input, file("a.csv"));
        // The command line overrides either key of the file.
        assert_eq!(
            run("all-customers = true", &["--input", "b.csv"])
                .unwrap()
                .input,
            file("b.csv")
        );
        assert_eq!(
            run("input = \"a.csv\"", &["--all-customers"])
                .unwrap()
                .input,
            InputSource::AllCustomers
        );
        assert_eq!(
            run("all-customers = false\ninput = \"a.csv\"", &[])
                .unwrap()
                .input,
            file("a.csv")
        );
        for (toml, argv, says) in [
            (
                "all-customers = true\ninput = \"a.csv\"",
                &[][..],
                "keep one",
            ),
            ("", &[][..], "--all-customers"),
        ] {
            let e = run(toml, argv).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
            assert!(e.to_string().contains(says), "{e}");
        }
        // Both on the command line: clap refuses before `resolve`.
        assert!(
            crate::cli::Cli::try_parse_from([
                "qualrecon",
                "run",
                "--input",
                "a",
                "--all-customers"
            ])
            .is_err()
        );
    }

    #[test]
    fn secret_file_is_read_and_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("secret");
        std::fs::write(&f, "s3cr3t\n").unwrap();
        let c = resolve(
            &args(&[
                "--input",
                "a",
                "--out",
                "o",
                "--tenant",
                "t",
                "--client-id",
                "c",
                "--client-secret-file",
                f.to_str().unwrap(),
            ]),
            &env(&[]),
        )
        .unwrap();
        match c.auth {
            Auth::Client {
                credential: ClientCredential::Secret(secret),
                ..
            } => {
                assert_eq!(secrecy::ExposeSecret::expose_secret(&secret), "s3cr3t")
            }
            _ => panic!("expected client credentials"),
        }
    }

    fn resolve_with(argv: &[&str], vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        resolve(
            &args(&[&["--input", "a", "--out", "o"], argv].concat()),
            &env(vars),
        )
    }

    fn conflict(argv: &[&str], vars: &[(&str, &str)], both: [&str; 2]) {
        let e = resolve_with(argv, vars).unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
        let text = e.to_string();
        assert!(
            text.contains(both[0]) && text.contains(both[1]),
            "{both:?}: {text}"
        );
        // No value ever reaches the message.
        assert!(
            !text.contains("tok-value") && !text.contains("s3cr3t"),
            "{text}"
        );
    }

    #[test]
    fn conflicting_credentials_are_a_usage_error_naming_both_before_any_file_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("q.toml");
        std::fs::write(
            &cfg,
            "client-certificate = \"/nonexistent/app.pem\"\nclient-secret-file = \"/nonexistent/secret\"\n",
        )
        .unwrap();
        let token = ("PARTNER_CENTER_TOKEN", "tok-value");
        let id = ["--tenant", "t", "--client-id", "c"];
        conflict(
            &[&id[..], &["--client-certificate", "/nonexistent/app.pem"]].concat(),
            &[token],
            ["PARTNER_CENTER_TOKEN", "--client-certificate"],
        );
        conflict(
            &id,
            &[token, ("PARTNER_CENTER_REFRESH_TOKEN", "tok-value")],
            ["PARTNER_CENTER_TOKEN", "PARTNER_CENTER_REFRESH_TOKEN"],
        );
        conflict(
            &[&id[..], &["--client-certificate", "/nonexistent/app.pem"]].concat(),
            &[("PARTNER_CENTER_CLIENT_SECRET", "s3cr3t")],
            ["--client-certificate", "PARTNER_CENTER_CLIENT_SECRET"],
        );
        // With a refresh token too: still one credential too many.
        conflict(
            &[
                &id[..],
                &["--client-secret-file", "/nonexistent/secret"],
                &["--refresh-token-file", "/nonexistent/rt"],
            ]
            .concat(),
            &[("PARTNER_CENTER_CLIENT_CERTIFICATE", "/nonexistent/app.pem")],
            ["PARTNER_CENTER_CLIENT_CERTIFICATE", "--client-secret-file"],
        );
        conflict(
            &[&id[..], &["--config", cfg.to_str().unwrap()]].concat(),
            &[],
            [
                "client-certificate (config file)",
                "client-secret-file (config file)",
            ],
        );
        // --sandbox does not lift the rule.
        conflict(
            &["--sandbox", "--client-certificate", "/nonexistent/app.pem"],
            &[("PARTNER_CENTER_CLIENT_SECRET", "s3cr3t")],
            ["--client-certificate", "PARTNER_CENTER_CLIENT_SECRET"],
        );
    }

    #[test]
    fn refresh_tokens_combine_with_a_credential_and_a_static_token_outranks_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let rt = dir.path().join("rt");
        std::fs::write(&rt, "tok-value\n").unwrap();
        let id = ["--tenant", "t", "--client-id", "c"];
        let secret = ("PARTNER_CENTER_CLIENT_SECRET", "s3cr3t");
        let c = resolve_with(
            &[&id[..], &["--refresh-token-file", rt.to_str().unwrap()]].concat(),
            &[secret],
        )
        .unwrap();
        match c.auth {
            Auth::Client {
                credential: ClientCredential::Secret(_),
                refresh_token: Some(r),
                ..
            } => {
                assert_eq!(r.token.expose_secret(), "tok-value");
                assert_eq!(r.file.as_deref(), Some(rt.as_path()));
                assert!(r.trailing_newline);
            }
            other => panic!("{other:?}"),
        }
        // The environment variable holds the token itself: nothing to write back.
        let c = resolve_with(
            &id,
            &[secret, ("PARTNER_CENTER_REFRESH_TOKEN", "tok-value")],
        )
        .unwrap();
        match c.auth {
            Auth::Client {
                refresh_token: Some(r),
                ..
            } => assert!(r.token.expose_secret() == "tok-value" && r.file.is_none()),
            other => panic!("{other:?}"),
        }
        // The flag beats the environment, as for every option.
        let c = resolve_with(
            &[&id[..], &["--refresh-token-file", rt.to_str().unwrap()]].concat(),
            &[secret, ("PARTNER_CENTER_REFRESH_TOKEN", "from-env")],
        )
        .unwrap();
        assert!(
            matches!(c.auth, Auth::Client { refresh_token: Some(ref r), .. } if r.file.is_some())
        );
        // A refresh token alone cannot sign in: the grant needs the app's credential.
        let e = resolve_with(&id, &[("PARTNER_CENTER_REFRESH_TOKEN", "tok-value")]).unwrap_err();
        assert!(e.to_string().contains("--client-certificate"), "{e}");
        // As before: a static token wins over a secret left in the environment.
        let c = resolve_with(&id, &[secret, ("PARTNER_CENTER_TOKEN", "tok-value")]).unwrap();
        assert!(matches!(c.auth, Auth::Static(_)));
        // An empty refresh token file is a usage error.
        std::fs::write(&rt, "\n").unwrap();
        let e = resolve_with(
            &[&id[..], &["--refresh-token-file", rt.to_str().unwrap()]].concat(),
            &[secret],
        )
        .unwrap_err();
        assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
    }
}

#[cfg(test)]
mod sample_tests {
    use super::*;

    #[test]
    fn the_sample_config_file_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/config.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let file = FileConfig::parse(&text, &path).unwrap();
        assert_eq!(file.rate.map(Rate::get), Some(5.0));
        assert_eq!(file.token_endpoint, Some(TokenEndpoint::V2));
        assert_eq!(file.stale_after, Some(30));
        assert_eq!(
            file.max_wait.map(Duration::from),
            Some(Duration::from_secs(600))
        );
    }
}
