//! The wire model of the Partner Center API: the JSON the qualifications
//! endpoint, its error bodies and the AAD token endpoints send.
//!
//! Both sides use these types: the client (`api.rs`, `auth.rs`) to read
//! responses and the sandbox (`sandbox/`) to write them, so the fake and the
//! client cannot drift apart on field names. Only shapes live here, no
//! behaviour: tolerance rules (case-insensitive keys, BOM, two body shapes)
//! are in [`parse_qualifications`], which the sandbox never calls.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Wire name of the vetting date as the GET examples spell it.
pub const VETTING_CREATED_DATE: &str = "vettingCreatedDate";
/// Wire name of the vetting date as the SDK model and REST reference spell it.
pub const VETTING_CREATE_DATE: &str = "vettingCreateDate";

/// One qualification entry as it travels on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct WireQualification {
    /// `Education`, `StateOwnedEntity`, `GovernmentCommunityCloud`, …
    #[serde(default)]
    pub qualification: Option<String>,
    /// `Approved`, `InReview`, `Denied` or a value we have never seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vetting_status: Option<String>,
    /// Free text, present on denied entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vetting_reason: Option<String>,
    /// When vetting started, RFC 3339 text as the server wrote it.
    #[serde(
        default,
        rename = "vettingCreatedDate",
        alias = "vettingCreateDate",
        skip_serializing_if = "Option::is_none"
    )]
    pub vetting_created_date: Option<String>,
}

/// The wrapper form of the GET body (REST reference).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireQualifications {
    /// The entries; empty for a customer without qualifications.
    pub qualifications: Vec<WireQualification>,
}

/// A Partner Center error body (`ApiFault`). `code` is a number in real
/// captures and a string in the docs, so both are accepted.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct ApiFault {
    /// The Partner Center error code, e.g. `60003` (tenant not found).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<FaultCode>,
    /// What went wrong, in the API's words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Extra detail; shape undocumented, kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<Value>>,
    /// The service that answered, e.g. `PartnerFD`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// An error code that is sometimes a JSON number, sometimes a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum FaultCode {
    /// `"code": 60003`, as real captures have it.
    Number(i64),
    /// `"code": "60003"`, as the documentation's examples have it.
    Text(String),
}

impl std::fmt::Display for FaultCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultCode::Number(n) => write!(f, "{n}"),
            FaultCode::Text(s) => f.write_str(s),
        }
    }
}

/// The API-gateway error body, e.g. on 429:
/// `{"statusCode": 429, "message": "Rate limit is exceeded. Try again in 57 seconds."}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayError {
    /// The HTTP status again.
    pub status_code: u16,
    /// What went wrong; on a 429 it says how long to wait.
    pub message: String,
}

/// A successful AAD token response (v1 sends `expires_in` as a string, v2 as
/// a number).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenResponse {
    /// `Bearer`; the client does not check it.
    #[serde(default)]
    pub token_type: String,
    /// Seconds the token lives; AAD always sends it, a minimal token
    /// service might not (then `expires_on` or a one-hour default is used).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_in: Option<NumberOrString>,
    /// The token itself: sent as `Authorization: Bearer …`.
    pub access_token: String,
    /// Seconds the token stays usable during an AAD outage; the client ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ext_expires_in: Option<NumberOrString>,
    /// v1: expiry as seconds since the Unix epoch; used when
    /// `expires_in` is missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_on: Option<NumberOrString>,
    /// v1: seconds since the Unix epoch before which the token is not
    /// valid; the client ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<NumberOrString>,
    /// v1: the resource the token is for; the client ignores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<String>,
    /// Refresh-token grant only: the rotated refresh token, which replaces
    /// the one sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// `client_assertion_type` of a token request signed with a certificate.
pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The JOSE header of a client assertion (RFC 7515): which certificate
/// signed it, by thumbprint, as AAD looks the key up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionHeader {
    /// `RS256`.
    pub alg: String,
    /// `JWT`.
    #[serde(default)]
    pub typ: Option<String>,
    /// Base64url SHA-1 of the certificate's DER.
    #[serde(default)]
    pub x5t: Option<String>,
    /// Base64url SHA-256 of the certificate's DER.
    #[serde(rename = "x5t#S256", default, skip_serializing_if = "Option::is_none")]
    pub x5t_s256: Option<String>,
}

/// The claims of a client assertion, as AAD's certificate-credentials
/// documentation lists them. Times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AssertionClaims {
    /// The exact token endpoint URL the assertion is sent to.
    pub aud: String,
    /// The client id.
    pub iss: String,
    /// The client id again.
    pub sub: String,
    /// Unique per assertion.
    pub jti: String,
    /// Not valid before: when the assertion was made.
    pub nbf: i64,
    /// Issued at: the same instant as `nbf` (optional on the wire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    /// Expiry: AAD accepts at most 10 minutes after `nbf`.
    pub exp: i64,
}

/// A count of seconds that AAD writes either as `3599` or as `"3599"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NumberOrString {
    /// `3599` (the v2 endpoint).
    Number(f64),
    /// `"3599"` (the v1 endpoint).
    Text(String),
}

impl NumberOrString {
    /// The value in seconds, if it is a finite, non-negative number.
    pub fn seconds(&self) -> Option<f64> {
        let v = match self {
            NumberOrString::Number(n) => *n,
            NumberOrString::Text(s) => s.trim().parse::<f64>().ok()?,
        };
        (v.is_finite() && v >= 0.0).then_some(v)
    }
}

/// AAD's error body for a failed token request.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct AadError {
    /// The OAuth error, e.g. `invalid_client`.
    pub error: String,
    /// AAD's explanation, starting with its `AADSTS` code.
    #[serde(default)]
    pub error_description: Option<String>,
    /// The `AADSTS` codes as numbers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub error_codes: Vec<i64>,
    /// When AAD answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// AAD's trace id, for a support case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// AAD's correlation id, for a support case.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// A page about the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_uri: Option<String>,
}

/// Header that carries a collection's continuation token to its next page.
pub const CONTINUATION_HEADER: &str = "MS-ContinuationToken";

/// One page of `GET /v1/customers?size=N`: a Partner Center collection.
/// The sandbox writes this shape; the client reads it tolerantly
/// (`customers::parse_page`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireCustomerList {
    /// Items on this page.
    pub total_count: u64,
    /// The customers on this page.
    pub items: Vec<WireCustomer>,
    /// Where the next page is.
    pub links: WireLinks,
    /// The next page's token again, as some collections also send it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// `objectType`: `Collection`.
    pub attributes: WireAttributes,
}

/// A customer in the list (only what qualrecon reads, plus the usual noise).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireCustomer {
    /// The customer's tenant id: what the qualifications endpoint takes.
    pub id: String,
    /// Name and domain: the report's `company_name` and `domain` columns
    /// for `--all-customers`.
    pub company_profile: WireCompanyProfile,
    /// `reseller`, `advisor`, …
    #[serde(default)]
    pub relationship_to_partner: String,
    /// `objectType`: `Customer`.
    pub attributes: WireAttributes,
}

/// `companyProfile` of a listed customer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireCompanyProfile {
    /// The tenant id again.
    pub tenant_id: String,
    /// The customer's default domain, e.g. `contoso.onmicrosoft.com`.
    pub domain: String,
    /// The customer's name as registered with the partner.
    pub company_name: String,
    /// `objectType`: `CustomerCompanyProfile`.
    pub attributes: WireAttributes,
}

/// `links` of a collection: `next` is present while more pages follow.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLinks {
    /// This page.
    #[serde(rename = "self", default, skip_serializing_if = "Option::is_none")]
    pub self_link: Option<WireLink>,
    /// The next page; absent on the last one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<WireLink>,
}

/// A link: `uri` relative to `/v1`, and headers to send with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireLink {
    /// Path and query relative to `/v1`.
    pub uri: String,
    /// `GET`.
    pub method: String,
    /// Headers the request must carry, e.g. the continuation token.
    pub headers: Vec<WireHeader>,
}

/// A header of a link, e.g. `{"key": "MS-ContinuationToken", "value": "…"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireHeader {
    /// The header name.
    pub key: String,
    /// The header value.
    pub value: String,
}

/// `attributes` on every Partner Center resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WireAttributes {
    /// The resource's type name.
    pub object_type: String,
}

/// A qualification as the rest of the program sees it: names canonical,
/// status and date parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Qualification {
    /// Canonical casing for known names (`education` → `Education`), else verbatim.
    pub qualification: String,
    /// The vetting status; [`VettingStatus::Absent`] when the API sent none.
    pub vetting_status: VettingStatus,
    /// Verbatim.
    pub vetting_reason: Option<String>,
    /// When vetting started; `None` when absent.
    pub vetting_created_date: Option<VettingDate>,
}

/// The `lookup_status` column: how a customer's lookup ended (or that its
/// input row was not a customer id at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LookupStatus {
    /// `ok`: a complete answer; the customer's qualifications (possibly
    /// none) are in the report.
    Ok,
    /// `invalid_input`: the input cell is not a customer id; never sent.
    InvalidInput,
    /// `not_found`: a 404, the tenant is unknown or not this partner's
    /// customer.
    NotFound,
    /// `forbidden`: a 403, no relationship or no rights for this customer.
    Forbidden,
    /// `unauthorized`: a 401 that a fresh token did not cure, or the
    /// token endpoint refused the credentials.
    Unauthorized,
    /// `throttled`: its last answer was a 429 (its throttled attempts ran
    /// out, or the wait asked for was too long).
    Throttled,
    /// `failed`: anything else (timeouts, 5xx, transport errors, a broken
    /// body), or the run stopped before the customer was looked up.
    Failed,
}

impl LookupStatus {
    /// Every status, in declaration order.
    pub const ALL: [LookupStatus; 7] = [
        LookupStatus::Ok,
        LookupStatus::InvalidInput,
        LookupStatus::NotFound,
        LookupStatus::Forbidden,
        LookupStatus::Unauthorized,
        LookupStatus::Throttled,
        LookupStatus::Failed,
    ];

    /// The exact text written to the report.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupStatus::Ok => "ok",
            LookupStatus::InvalidInput => "invalid_input",
            LookupStatus::NotFound => "not_found",
            LookupStatus::Forbidden => "forbidden",
            LookupStatus::Unauthorized => "unauthorized",
            LookupStatus::Throttled => "throttled",
            LookupStatus::Failed => "failed",
        }
    }

    /// The status whose [`as_str`](Self::as_str) is `text`.
    pub fn parse(text: &str) -> Option<LookupStatus> {
        LookupStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// A qualification's vetting status. The three statuses Partner Center
/// documents are variants of their own; anything else it may send one day
/// is kept verbatim, and an entry without a status is [`Absent`]
/// (not `Option`: the report treats "no status" as one more value, shown
/// as an empty cell).
///
/// [`Absent`]: VettingStatus::Absent
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum VettingStatus {
    /// `Approved`: the vetting passed.
    Approved,
    /// `InReview`: an open review; these go to the *Needs attention* sheet.
    InReview,
    /// `Denied`: the vetting failed.
    Denied,
    /// A status not documented (yet), verbatim; never empty.
    Other(String),
    /// The entry has no status.
    #[default]
    Absent,
}

impl VettingStatus {
    /// The documented statuses.
    const KNOWN: [VettingStatus; 3] = [
        VettingStatus::Approved,
        VettingStatus::InReview,
        VettingStatus::Denied,
    ];

    /// The API's text: surrounding white space trimmed, the documented
    /// statuses in any case (`inreview` → `InReview`), empty = absent.
    pub fn from_api(text: &str) -> VettingStatus {
        let text = text.trim();
        VettingStatus::KNOWN
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(text))
            .unwrap_or_else(|| VettingStatus::from_report(text))
    }

    /// The report's own text, exactly as [`as_str`](Self::as_str) writes
    /// it: other spellings stay [`Other`](VettingStatus::Other).
    pub fn from_report(text: &str) -> VettingStatus {
        match text {
            "" => VettingStatus::Absent,
            "Approved" => VettingStatus::Approved,
            "InReview" => VettingStatus::InReview,
            "Denied" => VettingStatus::Denied,
            other => VettingStatus::Other(other.to_string()),
        }
    }

    /// The text of the `vetting_status` column; empty when absent.
    pub fn as_str(&self) -> &str {
        match self {
            VettingStatus::Approved => "Approved",
            VettingStatus::InReview => "InReview",
            VettingStatus::Denied => "Denied",
            VettingStatus::Other(s) => s,
            VettingStatus::Absent => "",
        }
    }

    /// Whether the entry is an open review.
    pub fn is_in_review(&self) -> bool {
        *self == VettingStatus::InReview
    }
}

/// A vetting date: parsed when it is any RFC 3339 form (or an ISO date-time
/// without offset, taken as UTC), kept as raw text otherwise so nothing the
/// API said is lost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VettingDate {
    /// A parsed instant and how many fractional-second digits the API wrote,
    /// so the report repeats the API's precision without inventing any.
    Parsed {
        /// The instant, in UTC whatever offset the API wrote.
        at: DateTime<Utc>,
        /// Fractional-second digits as written (0–9).
        fraction_digits: u8,
    },
    /// Text that is not a date we understand, verbatim.
    Raw(String),
}

impl VettingDate {
    /// Parse the API's text.
    pub fn parse(text: &str) -> VettingDate {
        let t = text.trim();
        let fraction_digits = fraction_digits(t);
        if let Ok(d) = DateTime::parse_from_rfc3339(t) {
            return VettingDate::Parsed {
                at: d.with_timezone(&Utc),
                fraction_digits,
            };
        }
        for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
            if let Ok(n) = NaiveDateTime::parse_from_str(t.trim_end_matches('Z'), fmt) {
                return VettingDate::Parsed {
                    at: n.and_utc(),
                    fraction_digits,
                };
            }
        }
        VettingDate::Raw(text.to_string())
    }

    /// The instant, when parsed.
    pub fn instant(&self) -> Option<DateTime<Utc>> {
        match self {
            VettingDate::Parsed { at, .. } => Some(*at),
            VettingDate::Raw(_) => None,
        }
    }

    /// RFC 3339 in UTC with `Z`, with the API's own number of fractional digits.
    pub fn to_report_string(&self) -> String {
        match self {
            VettingDate::Parsed {
                at,
                fraction_digits,
            } => format_utc(*at, *fraction_digits),
            VettingDate::Raw(s) => s.clone(),
        }
    }
}

/// Written as the report writes it ([`VettingDate::to_report_string`]).
impl Serialize for VettingDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_report_string())
    }
}

/// `2020-12-03T10:37:38.885Z` style with exactly `digits` fractional digits (0–9).
pub fn format_utc(at: DateTime<Utc>, digits: u8) -> String {
    let base = at.to_rfc3339_opts(SecondsFormat::Secs, true);
    if digits == 0 {
        return base;
    }
    let nanos = format!("{:09}", at.timestamp_subsec_nanos() % 1_000_000_000);
    let digits = usize::from(digits.min(9));
    format!("{}.{}Z", base.trim_end_matches('Z'), &nanos[..digits])
}

fn fraction_digits(t: &str) -> u8 {
    // Fraction follows the seconds: the first '.' after the 'T'/' ' separator.
    let Some(dot) = t.find('.') else { return 0 };
    let n = t[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
    n.min(9) as u8
}

/// Why a 200 body could not be read as qualifications.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    /// Nothing but whitespace (after a byte-order mark).
    #[error("empty response body")]
    Empty,
    /// The body does not parse as JSON at all.
    #[error("response is not JSON ({detail}); body starts: {snippet}")]
    NotJson {
        /// The JSON parser's message.
        detail: String,
        /// The start of the body, printable (see [`snippet`]).
        snippet: String,
    },
    /// JSON of another shape; says what was found where.
    #[error("unexpected JSON: {0}")]
    Shape(String),
}

const KNOWN_QUALIFICATIONS: [&str; 5] = [
    "None",
    "Education",
    "Nonprofit",
    "GovernmentCommunityCloud",
    "StateOwnedEntity",
];

fn canonical(value: &str, known: &[&str]) -> String {
    known
        .iter()
        .find(|k| k.eq_ignore_ascii_case(value))
        .map_or_else(|| value.to_string(), |k| (*k).to_string())
}

/// The UTF-8 byte-order mark: some Microsoft services start a JSON body with
/// it, and `--csv-bom` starts the report's CSVs with it (for Excel).
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

/// Strip a leading UTF-8 byte-order mark, which some Microsoft services emit.
pub fn strip_bom(body: &[u8]) -> &[u8] {
    body.strip_prefix(UTF8_BOM).unwrap_or(body)
}

/// A short, printable start of a body for error messages: control characters
/// replaced, at most `max` characters.
pub fn snippet(body: &[u8], max: usize) -> String {
    // Scrubbed before it is cut: a credential cut in two would leave half.
    let text = String::from_utf8_lossy(body);
    let text = crate::redact::scrub(&text);
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out.trim().to_string()
}

/// Read a 200 body of `GET /v1/customers/{id}/qualifications`.
///
/// Accepts the bare array (docs, SDK) and the `{"qualifications": [...]}`
/// wrapper (REST reference), keys in any case, both spellings of the date
/// field, a leading BOM and unknown fields. A `None` entry means "no
/// qualification" and is dropped. Anything else is a [`BodyError`]: we never
/// guess an answer from a body we do not understand.
pub fn parse_qualifications(body: &[u8]) -> Result<Vec<Qualification>, BodyError> {
    // Taken apart by value: the entries' strings move into the result
    // rather than being copied.
    let items = match json_body(body)? {
        Value::Array(items) => items,
        Value::Object(mut map) => {
            let mut lists = map
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("qualifications"));
            if let (Some((a, first)), Some((b, second))) = (lists.next(), lists.next())
                && first != second
            {
                return Err(BodyError::Shape(format!(
                    "\"{a}\" and \"{b}\" disagree: which list is meant would be a guess"
                )));
            }
            list_field(&map, "qualifications")?;
            match take_ci(&mut map, "qualifications") {
                Some(Value::Array(items)) => items,
                _ => Vec::new(),
            }
        }
        other => {
            return Err(BodyError::Shape(format!(
                "{} where a list of qualifications was expected",
                kind(&other)
            )));
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let wire = wire_entry(item).map_err(|e| BodyError::Shape(format!("entry {i}: {e}")))?;
        let name = wire
            .qualification
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| BodyError::Shape(format!("entry {i} has no \"qualification\" name")))?;
        let name = canonical(name, &KNOWN_QUALIFICATIONS);
        if name == "None" {
            continue;
        }
        out.push(Qualification {
            qualification: name,
            vetting_status: wire
                .vetting_status
                .map_or(VettingStatus::Absent, |s| VettingStatus::from_api(&s)),
            vetting_reason: wire.vetting_reason,
            vetting_created_date: wire
                .vetting_created_date
                .filter(|s| !s.trim().is_empty())
                .map(|s| VettingDate::parse(&s)),
        });
    }
    Ok(out)
}

/// One array element → [`WireQualification`], with keys matched
/// case-insensitively. A bare string is the retired API's form
/// (`"education"`) and names a qualification without vetting data.
fn wire_entry(item: Value) -> Result<WireQualification, String> {
    match item {
        Value::String(name) => Ok(WireQualification {
            qualification: Some(name),
            ..Default::default()
        }),
        Value::Object(mut map) => {
            // Every spelling of the field, in any case: two that disagree
            // leave which one is meant a guess, and an answer is never
            // guessed.
            let mut text = |keys: &[&str]| -> Result<Option<String>, String> {
                let mut found: Option<(String, String)> = None;
                for key in keys {
                    while let Some((name, value)) = take_any_case(&mut map, key) {
                        let value = match value {
                            Value::Null => continue,
                            Value::String(s) => s,
                            other => {
                                return Err(format!("\"{name}\" is {}, not text", kind(&other)));
                            }
                        };
                        match &found {
                            Some((first, seen)) if *seen != value => {
                                return Err(format!(
                                    "\"{first}\" and \"{name}\" disagree (`{seen}`, `{value}`)"
                                ));
                            }
                            Some(_) => {}
                            None => found = Some((name, value)),
                        }
                    }
                }
                Ok(found.map(|(_, value)| value))
            };
            Ok(WireQualification {
                qualification: text(&["qualification"])?,
                vetting_status: text(&["vettingStatus"])?,
                vetting_reason: text(&["vettingReason"])?,
                vetting_created_date: text(&[VETTING_CREATED_DATE, VETTING_CREATE_DATE])?,
            })
        }
        other => Err(format!("{} instead of an object", kind(&other))),
    }
}

/// A 200 body as JSON, after a leading BOM; empty and non-JSON bodies are
/// [`BodyError`]s that show the start of the body.
pub fn json_body(body: &[u8]) -> Result<Value, BodyError> {
    let body = strip_bom(body);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(BodyError::Empty);
    }
    serde_json::from_slice(body).map_err(|e| BodyError::NotJson {
        detail: e.to_string(),
        snippet: snippet(body, 80),
    })
}

/// The list under `key` (any case) of a JSON object; `null` counts as
/// empty. Anything else is a [`BodyError::Shape`] naming what was there.
pub fn list_field<'a>(map: &'a Map<String, Value>, key: &str) -> Result<&'a [Value], BodyError> {
    match get_ci(map, key) {
        Some(Value::Array(items)) => Ok(items),
        Some(Value::Null) => Ok(&[]),
        Some(other) => Err(BodyError::Shape(format!(
            "\"{key}\" is {}, not a list",
            kind(other)
        ))),
        None => Err(BodyError::Shape(format!(
            "object without a \"{key}\" list (keys: {})",
            map.keys().cloned().collect::<Vec<_>>().join(", ")
        ))),
    }
}

/// Case-insensitive key lookup; an exact match wins.
pub fn get_ci<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

/// One entry whose key is `key` in any case, taken out of the map with its
/// key as written; `None` once there is none left.
fn take_any_case(map: &mut Map<String, Value>, key: &str) -> Option<(String, Value)> {
    let found = map.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    map.remove(&found).map(|v| (found, v))
}

/// [`get_ci`], taking the value out of the map.
fn take_ci(map: &mut Map<String, Value>, key: &str) -> Option<Value> {
    if let Some(v) = map.remove(key) {
        return Some(v);
    }
    let found = map.keys().find(|k| k.eq_ignore_ascii_case(key))?.clone();
    map.remove(&found)
}

/// What a JSON value is, for error messages: `a list`, `a string`, ….
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Vec<Qualification> {
        parse_qualifications(s.as_bytes()).unwrap()
    }

    #[test]
    fn bare_array_and_wrapper_agree() {
        let a = parse(r#"[{"qualification":"Education","vettingStatus":"Approved"}]"#);
        let b = parse(
            r#"{"Qualifications":[{"qualification":"Education","vettingStatus":"Approved"}]}"#,
        );
        assert_eq!(a, b);
        assert_eq!(a[0].qualification, "Education");
        assert_eq!(a[0].vetting_status, VettingStatus::Approved);
    }

    /// Two spellings of one field that disagree make the answer a guess:
    /// a `failed` row, never one of them picked. Two that agree are fine.
    #[test]
    fn spellings_that_disagree_are_refused_and_those_that_agree_are_not() {
        for (body, words) in [
            (
                r#"[{"qualification":"Education","VETTINGSTATUS":"Approved","vettingStatus":"Denied"}]"#,
                "disagree",
            ),
            (
                r#"[{"qualification":"Education","vettingStatus":"InReview","vettingCreatedDate":"2020-01-01T00:00:00Z","vettingCreateDate":"2021-01-01T00:00:00Z"}]"#,
                "\"vettingCreatedDate\" and \"vettingCreateDate\" disagree",
            ),
            (
                r#"{"Qualifications":[{"qualification":"Education","vettingStatus":"Denied"}],"qualifications":[{"qualification":"Education","vettingStatus":"Approved"}]}"#,
                "which list is meant",
            ),
        ] {
            let e = parse_qualifications(body.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(words), "{e}");
        }
        let same = parse(
            r#"[{"qualification":"Education","vettingStatus":"Approved","VettingStatus":"Approved","vettingReason":null,"VETTINGREASON":"r"}]"#,
        );
        assert_eq!(same[0].vetting_status, VettingStatus::Approved);
        assert_eq!(same[0].vetting_reason.as_deref(), Some("r"));
    }

    #[test]
    fn keys_any_case_both_date_spellings_bom_and_unknown_fields() {
        let body = "\u{feff}[{\"QUALIFICATION\":\"education\",\"VettingStatus\":\"inreview\",\
                    \"vettingCreateDate\":\"2021-05-06T19:59:56.6832021+00:00\",\"extra\":1},\
                    {\"qualification\":\"Education\",\"vettingStatus\":\"Denied\",\
                    \"vettingReason\":\"Not an Education Customer\",\
                    \"vettingCreatedDate\":\"2020-12-03T10:37:38.885Z\"}]";
        let q = parse(body);
        assert_eq!(q[0].qualification, "Education");
        assert_eq!(q[0].vetting_status, VettingStatus::InReview);
        assert_eq!(
            q[0].vetting_created_date
                .as_ref()
                .unwrap()
                .to_report_string(),
            "2021-05-06T19:59:56.6832021Z"
        );
        assert_eq!(
            q[1].vetting_created_date
                .as_ref()
                .unwrap()
                .to_report_string(),
            "2020-12-03T10:37:38.885Z"
        );
        assert_eq!(
            q[1].vetting_reason.as_deref(),
            Some("Not an Education Customer")
        );
    }

    #[test]
    fn offsets_are_converted_to_utc_and_whole_seconds_stay_whole() {
        let d = VettingDate::parse("2020-12-04T22:54:24+02:00");
        assert_eq!(d.to_report_string(), "2020-12-04T20:54:24Z");
        let d = VettingDate::parse("2020-12-04T20:54:24");
        assert_eq!(d.to_report_string(), "2020-12-04T20:54:24Z");
        assert_eq!(
            VettingDate::parse("07/09/2020: 00:00:00"),
            VettingDate::Raw("07/09/2020: 00:00:00".into())
        );
    }

    #[test]
    fn unknown_status_and_missing_status_are_kept() {
        let q = parse(
            r#"{"qualifications":[{"qualification":"StateOwnedEntity"},{"qualification":"Education","vettingStatus":"UnderAppeal"}]}"#,
        );
        assert_eq!(q[0].vetting_status, VettingStatus::Absent);
        assert_eq!(
            q[1].vetting_status,
            VettingStatus::Other("UnderAppeal".into())
        );
    }

    #[test]
    fn statuses_from_the_api_are_canonical_and_the_report_text_is_exact() {
        assert_eq!(
            VettingStatus::from_api(" inREVIEW "),
            VettingStatus::InReview
        );
        assert_eq!(VettingStatus::from_api("  "), VettingStatus::Absent);
        assert_eq!(
            VettingStatus::from_api(" UnderAppeal "),
            VettingStatus::Other("UnderAppeal".into())
        );
        for status in [
            VettingStatus::Approved,
            VettingStatus::InReview,
            VettingStatus::Denied,
            VettingStatus::Other("UnderAppeal".into()),
            VettingStatus::Absent,
        ] {
            assert_eq!(VettingStatus::from_report(status.as_str()), status);
        }
        // A report someone edited keeps its spelling.
        assert_eq!(
            VettingStatus::from_report("approved"),
            VettingStatus::Other("approved".into())
        );
        for status in LookupStatus::ALL {
            assert_eq!(LookupStatus::parse(status.as_str()), Some(status));
        }
    }

    #[test]
    fn empty_lists_and_none_entries_mean_no_qualification() {
        assert!(parse("[]").is_empty());
        assert!(parse(r#"{"qualifications":[]}"#).is_empty());
        assert!(parse(r#"[{"qualification":"None"}]"#).is_empty());
    }

    #[test]
    fn bodies_that_are_not_qualifications_are_errors_not_guesses() {
        for body in [
            "",
            "   ",
            "<html><body>Service Unavailable</body></html>",
            r#"[{"qualification":"Educ"#,
            r#"{"value":[]}"#,
            r#""Customer tagging denied.""#,
            "null",
            r#"[{"vettingStatus":"Approved"}]"#,
            r#"[{"qualification":5}]"#,
            "[1]",
        ] {
            assert!(
                parse_qualifications(body.as_bytes()).is_err(),
                "accepted {body:?}"
            );
        }
    }

    #[test]
    fn not_json_error_names_the_start_of_the_body() {
        let e = parse_qualifications(b"<html>\n<h1>Bad Gateway</h1>").unwrap_err();
        let text = e.to_string();
        assert!(text.contains("not JSON"), "{text}");
        assert!(text.contains("<html> <h1>Bad Gateway"), "{text}");
    }

    #[test]
    fn sandbox_serialization_round_trips_through_the_tolerant_parser() {
        let wire = WireQualifications {
            qualifications: vec![WireQualification {
                qualification: Some("Education".into()),
                vetting_status: Some("Denied".into()),
                vetting_reason: Some("Not an Academic Domain".into()),
                vetting_created_date: Some("2020-12-03T10:37:38.885Z".into()),
            }],
        };
        let body = serde_json::to_vec(&wire).unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains(VETTING_CREATED_DATE), "{text}");
        let q = parse_qualifications(&body).unwrap();
        assert_eq!(
            q[0].vetting_reason.as_deref(),
            Some("Not an Academic Domain")
        );
    }

    #[test]
    fn expires_in_as_number_or_string() {
        let t: TokenResponse = serde_json::from_str(
            r#"{"token_type":"Bearer","expires_in":"3599","access_token":"x"}"#,
        )
        .unwrap();
        assert_eq!(t.expires_in.unwrap().seconds(), Some(3599.0));
        let t: TokenResponse =
            serde_json::from_str(r#"{"token_type":"Bearer","expires_in":3599,"access_token":"x"}"#)
                .unwrap();
        assert_eq!(t.expires_in.unwrap().seconds(), Some(3599.0));
    }

    #[test]
    fn fault_code_number_or_text() {
        let f: ApiFault = serde_json::from_str(
            r#"{"code":20002,"description":"No relationship between caller and account.","data":[],"source":"PartnerFD"}"#,
        )
        .unwrap();
        assert_eq!(f.code.unwrap().to_string(), "20002");
        let f: ApiFault =
            serde_json::from_str(r#"{"code":"60003","description":"Tenant not found"}"#).unwrap();
        assert_eq!(f.code.unwrap().to_string(), "60003");
    }
}
