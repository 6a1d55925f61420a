//! What the fake Partner Center answers for a customer id: a pure function
//! of the id's bytes, so a user's own export gets the same answers on every
//! run and `samples/tenants.csv` can be generated with [`ids_for`].
//!
//! Bodies are built by serialising the shared wire model
//! ([`WireQualifications`], [`ApiFault`]), never by calling the client's
//! parser, so the two sides meet only at the JSON.

use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use super::hash::{id_hash, mix64, scramble62};
use crate::model::{
    ApiFault, FaultCode, VETTING_CREATE_DATE, VETTING_CREATED_DATE, WireQualification,
    WireQualifications,
};

/// `Content-Type` of every JSON answer, as Partner Center sends it.
pub(crate) const JSON: &str = "application/json; charset=utf-8";
/// `Content-Type` of the HTML answers.
pub(crate) const HTML: &str = "text/html; charset=utf-8";

/// Salts keep the hash that picks the answer independent of the hash that
/// picks its details (date, reason, variant).
const SALT_KIND: u64 = 0;
const SALT_DETAIL: u64 = 1;

/// The kind of answer a customer id gets; see [`answer_for`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Answer {
    /// 200, Education Approved (no date, like the docs example).
    Approved,
    /// 200, Education InReview with a vetting date.
    InReview,
    /// 200, Education Denied with a documented reason and a date.
    Denied,
    /// 200, `{"qualifications":[]}`.
    NoQualifications,
    /// 200, two entries: Education or GCC plus StateOwnedEntity.
    Several,
    /// 200, one StateOwnedEntity entry without any vetting fields.
    StateOwnedOnly,
    /// 200, Education with a status the client has never seen.
    UnknownStatus,
    /// 404 ApiFault 60003 "Tenant not found".
    NotFound,
    /// 403 ApiFault 20002 "No relationship between caller and account.".
    Forbidden,
    /// 200, a bare JSON array instead of the wrapper object.
    BareArray,
    /// 200, the date key spelled `vettingCreateDate`.
    CreateDateSpelling,
    /// 200, valid JSON behind a UTF-8 byte-order mark.
    Bom,
    /// 200, a complete HTTP message whose JSON is cut off.
    BrokenJson,
    /// 200, an HTML page instead of JSON.
    Html,
}

/// Upper bounds of each answer's bucket out of 1000, in order; the widths
/// give the mix (50 % approved, 12 % in review, …).
const BUCKETS: [(Answer, u64); 14] = [
    (Answer::Approved, 500),
    (Answer::InReview, 620),
    (Answer::Denied, 720),
    (Answer::NoQualifications, 800),
    (Answer::Several, 840),
    (Answer::StateOwnedOnly, 870),
    (Answer::UnknownStatus, 890),
    (Answer::NotFound, 910),
    (Answer::Forbidden, 930),
    (Answer::BareArray, 950),
    (Answer::CreateDateSpelling, 970),
    (Answer::Bom, 980),
    (Answer::BrokenJson, 990),
    (Answer::Html, 1000),
];

impl Answer {
    /// Every answer, in bucket order.
    pub const ALL: [Answer; 14] = {
        let mut all = [Answer::Approved; 14];
        let mut i = 0;
        while i < BUCKETS.len() {
            all[i] = BUCKETS[i].0;
            i += 1;
        }
        all
    };

    /// Kebab-case name, used as the journal's `outcome`.
    pub fn as_str(self) -> &'static str {
        match self {
            Answer::Approved => "approved",
            Answer::InReview => "in-review",
            Answer::Denied => "denied",
            Answer::NoQualifications => "no-qualifications",
            Answer::Several => "several",
            Answer::StateOwnedOnly => "state-owned-only",
            Answer::UnknownStatus => "unknown-status",
            Answer::NotFound => "not-found",
            Answer::Forbidden => "forbidden",
            Answer::BareArray => "bare-array",
            Answer::CreateDateSpelling => "create-date-spelling",
            Answer::Bom => "bom",
            Answer::BrokenJson => "broken-json",
            Answer::Html => "html",
        }
    }
}

impl std::fmt::Display for Answer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The answer for a customer id: pure and deterministic from the id's 16
/// bytes (so any case or brace style of the same GUID gets the same answer),
/// independent of the sandbox seed.
pub fn answer_for(id: &Uuid) -> Answer {
    let bucket = id_hash(id, SALT_KIND) % 1000;
    BUCKETS
        .iter()
        .find(|(_, upper)| bucket < *upper)
        .map_or(Answer::Html, |(a, _)| *a)
}

/// Starting points of [`candidate_id`]'s two halves, so the first ids do
/// not look like counters.
const IDS_HIGH_KEY: u64 = 0x5b1d_0c3a_e7f2_4a96;
const IDS_LOW_KEY: u64 = 0x2c6f_93d1_08be_47a5;

/// The `i`-th candidate id of [`ids_for`]'s search: a random-looking v4
/// GUID, distinct for every `i` below 2^62 because its low half alone is a
/// bijection of `i`.
pub(crate) fn candidate_id(i: u64) -> Uuid {
    let high = mix64(i ^ IDS_HIGH_KEY);
    let low = scramble62(i ^ IDS_LOW_KEY);
    uuid::Builder::from_u128((u128::from(high) << 64) | u128::from(low))
        .with_version(uuid::Version::Random)
        .with_variant(uuid::Variant::RFC4122)
        .into_uuid()
}

/// The first `n` ids (in a fixed, documented search order) whose answer is
/// `answer`. Deterministic, so samples and tests can name ids by kind; fast,
/// since the rarest kind is 1 in 100.
pub fn ids_for(answer: Answer, n: usize) -> Vec<Uuid> {
    (0..)
        .map(candidate_id)
        .filter(|id| answer_for(id) == answer)
        .take(n)
        .collect()
}

/// One complete HTTP answer to a customer request.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: StatusCode, body: Vec<u8>) -> Reply {
        Reply {
            status,
            content_type: JSON,
            body,
        }
    }

    /// A Partner Center `ApiFault` body, with the numeric code seen in real
    /// captures.
    pub(crate) fn fault(status: StatusCode, code: Option<i64>, description: &str) -> Reply {
        let fault = ApiFault {
            code: code.map(FaultCode::Number),
            description: Some(description.to_string()),
            data: Some(Vec::new()),
            source: Some("PartnerFD".to_string()),
        };
        Reply::json(status, to_json(&fault))
    }

    /// A 200 HTML page, as a misconfigured proxy or an outage page sends.
    pub(crate) fn html() -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: HTML,
            body: b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>\n\
<body><h1>Service Unavailable</h1><p>The service is temporarily unavailable. \
Please try again later.</p></body></html>\n"
                .to_vec(),
        }
    }

    /// The same answer with its JSON cut in the middle: a complete HTTP
    /// message (Content-Length matches) whose content is not valid JSON.
    pub(crate) fn cut(mut self) -> Reply {
        let keep = (self.body.len() / 2).max(1).min(self.body.len());
        self.body.truncate(keep);
        self
    }
}

/// Serialise one of the model types. They are plain data, so this cannot
/// fail; a failure would be a bug in the model, worth a loud panic in tests.
pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("wire model types always serialise")
}

/// The documented denial reasons (Partner Center docs, vetting page).
pub(crate) const DENIAL_REASONS: [&str; 7] = [
    "Not an Education Customer",
    "No longer an Education Customer",
    "Not an Education Customer - After Review",
    "Restricted being an Education Customer",
    "Not an Academic Domain",
    "Not an eligible Library",
    "Not an eligible Museum",
];

/// Statuses the client has never seen, to prove it keeps them verbatim.
const UNKNOWN_STATUSES: [&str; 2] = ["UnderAppeal", "Suspended"];

/// Everything about an answer that varies per id besides its kind, taken
/// from independent bit ranges of one hash.
struct Details {
    hash: u64,
}

impl Details {
    fn of(id: &Uuid) -> Details {
        Details {
            hash: id_hash(id, SALT_DETAIL),
        }
    }

    /// `n` choices from bits `shift..`.
    fn pick(&self, shift: u32, n: usize) -> usize {
        ((self.hash >> shift) % n as u64) as usize
    }

    /// A fixed vetting date between 2025-01-01 and 2026-10-31 (always in the
    /// past, so `days_in_review` is realistic), in one of the precisions Partner
    /// Center has been seen to use: milliseconds with `Z`, seven fractional
    /// digits with `+00:00`, or whole seconds.
    fn date(&self) -> String {
        const START: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
        const SPAN: u64 = 669 * 86_400; // up to 2026-10-31
        let secs = START + (self.hash % SPAN) as i64;
        let ticks = (self.hash >> 24) % 10_000_000; // 100 ns units
        let at = DateTime::<Utc>::from_timestamp(secs, 0).expect("2025-2026 is in range");
        let base = at.format("%Y-%m-%dT%H:%M:%S");
        match self.pick(56, 3) {
            0 => format!("{base}.{:03}Z", ticks / 10_000),
            1 => format!("{base}.{ticks:07}+00:00"),
            _ => format!("{base}Z"),
        }
    }

    fn reason(&self) -> &'static str {
        DENIAL_REASONS[self.pick(48, DENIAL_REASONS.len())]
    }
}

fn entry(qualification: &str, status: Option<&str>) -> WireQualification {
    WireQualification {
        qualification: Some(qualification.to_string()),
        vetting_status: status.map(str::to_string),
        ..Default::default()
    }
}

fn in_review(qualification: &str, d: &Details) -> WireQualification {
    WireQualification {
        vetting_created_date: Some(d.date()),
        ..entry(qualification, Some("InReview"))
    }
}

fn denied(d: &Details) -> WireQualification {
    WireQualification {
        vetting_reason: Some(d.reason().to_string()),
        vetting_created_date: Some(d.date()),
        ..entry("Education", Some("Denied"))
    }
}

fn wrapper(qualifications: Vec<WireQualification>) -> Vec<u8> {
    to_json(&WireQualifications { qualifications })
}

/// The complete HTTP answer for `id` when nothing goes wrong in transport.
pub(crate) fn reply_for(id: &Uuid) -> Reply {
    let answer = answer_for(id);
    let d = Details::of(id);
    let ok = |body| Reply::json(StatusCode::OK, body);
    match answer {
        Answer::Approved => ok(wrapper(vec![entry("Education", Some("Approved"))])),
        Answer::InReview => ok(wrapper(vec![in_review("Education", &d)])),
        Answer::Denied => ok(wrapper(vec![denied(&d)])),
        Answer::NoQualifications => ok(wrapper(Vec::new())),
        Answer::Several => {
            let first = match d.pick(60, 3) {
                0 => entry("Education", Some("Approved")),
                1 => in_review("Education", &d),
                _ => in_review("GovernmentCommunityCloud", &d),
            };
            ok(wrapper(vec![first, entry("StateOwnedEntity", None)]))
        }
        Answer::StateOwnedOnly => ok(wrapper(vec![entry("StateOwnedEntity", None)])),
        Answer::UnknownStatus => {
            let status = UNKNOWN_STATUSES[d.pick(44, UNKNOWN_STATUSES.len())];
            ok(wrapper(vec![entry("Education", Some(status))]))
        }
        Answer::NotFound => Reply::fault(StatusCode::NOT_FOUND, Some(60003), "Tenant not found"),
        Answer::Forbidden => Reply::fault(
            StatusCode::FORBIDDEN,
            Some(20002),
            "No relationship between caller and account.",
        ),
        Answer::BareArray => ok(to_json(&vec![in_review("Education", &d)])),
        Answer::CreateDateSpelling => ok(create_date_spelling(denied(&d))),
        Answer::Bom => {
            let mut body = b"\xEF\xBB\xBF".to_vec();
            body.extend(wrapper(vec![entry("Education", Some("Approved"))]));
            ok(body)
        }
        Answer::BrokenJson => ok(wrapper(vec![denied(&d)])).cut(),
        Answer::Html => Reply::html(),
    }
}

/// The wrapper body with the date key spelled as the SDK model spells it.
/// The model always writes `vettingCreatedDate`, so the key is renamed on the
/// serialised value rather than duplicating the model type.
fn create_date_spelling(q: WireQualification) -> Vec<u8> {
    let mut value =
        serde_json::to_value(&q).expect("wire model types always serialise as JSON values");
    if let Value::Object(map) = &mut value
        && let Some(date) = map.remove(VETTING_CREATED_DATE)
    {
        map.insert(VETTING_CREATE_DATE.to_string(), date);
    }
    to_json(&serde_json::json!({ "qualifications": [value] }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn answer_is_deterministic_and_case_blind() {
        for i in 0..500 {
            let id = candidate_id(i);
            assert_eq!(answer_for(&id), answer_for(&id));
            let upper = Uuid::parse_str(&id.to_string().to_uppercase()).unwrap();
            assert_eq!(answer_for(&upper), answer_for(&id));
        }
    }

    #[test]
    fn sample_ids_are_pinned() {
        // `samples/tenants.csv` and the docs name ids by kind: changing the
        // hash or the search order would silently change their answers.
        for (answer, first) in [
            (Answer::Approved, "e860cc74-1af6-4fe7-a6a8-9c44ee1485df"),
            (Answer::NotFound, "b8401b57-22d0-43e8-bc4b-ad7b1f97ce84"),
            (Answer::Html, "311ea563-5e0f-4d2e-9fea-ae7178d52418"),
        ] {
            assert_eq!(ids_for(answer, 1)[0].to_string(), first, "{answer}");
        }
    }

    #[test]
    fn ids_for_returns_the_asked_kind_and_distinct_ids() {
        for answer in Answer::ALL {
            let ids = ids_for(answer, 5);
            assert_eq!(ids.len(), 5);
            for id in &ids {
                assert_eq!(answer_for(id), answer, "{id}");
                assert_eq!(id.get_version_num(), 4);
            }
            let distinct: std::collections::HashSet<_> = ids.iter().collect();
            assert_eq!(distinct.len(), 5);
            assert_eq!(ids, ids_for(answer, 5), "not deterministic");
        }
    }

    #[test]
    fn the_mix_matches_the_buckets() {
        let n = 100_000u64;
        let mut counts: HashMap<Answer, u64> = HashMap::new();
        for i in 0..n {
            *counts.entry(answer_for(&candidate_id(i))).or_default() += 1;
        }
        let mut lower = 0;
        for (answer, upper) in BUCKETS {
            let expected = (upper - lower) as f64 / 1000.0;
            let got = counts.get(&answer).copied().unwrap_or(0) as f64 / n as f64;
            assert!(
                (got - expected).abs() < expected * 0.2,
                "{answer}: expected {expected}, got {got}"
            );
            lower = upper;
        }
    }

    #[test]
    fn dates_are_in_2025_or_2026_and_vary_in_precision() {
        let mut styles = std::collections::HashSet::new();
        for id in ids_for(Answer::InReview, 60) {
            let date = Details::of(&id).date();
            DateTime::parse_from_rfc3339(&date).unwrap();
            assert!(
                date.starts_with("2025-") || date.starts_with("2026-"),
                "{date}"
            );
            styles.insert(date.len());
        }
        assert_eq!(styles.len(), 3, "{styles:?}");
    }
}
