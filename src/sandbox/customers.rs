//! `GET /v1/customers?size=N`: the partner's customer list, in pages.
//!
//! The list holds [`SandboxConfig::customers`] customers; the one at
//! position `p` (from 1) is [`listed_customer`]`(p)`, its id one of the
//! random-looking GUIDs `ids_for` searches (so listed customers get the
//! whole mix of answers), its company name and domain derived from the id.
//! A page answers at most `size` (capped at 500) customers and, while more
//! follow, a `next` link relative to `/v1` whose `MS-ContinuationToken`
//! header (also sent as a top-level `continuationToken`) encodes the next
//! offset. Tokens are opaque to the client and checked here, so a client
//! that invents or mangles one gets a 400.
//!
//! A list request passes the gateway throttle and authentication like a
//! customer request, and then the configured `list_faults`.

use std::sync::{Arc, PoisonError};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::answers::{JSON, Reply, candidate_id, to_json};
use super::config::RetryAfterStyle;
use super::hash::{id_hash, mix64};
use super::journal::TokenCheck;
use super::routes::{EchoIds, gateway, into_response, unauthorized_reply};
use super::state::AppState;
use super::throttle::too_many_requests;
use crate::model::{
    CONTINUATION_HEADER, WireAttributes, WireCompanyProfile, WireCustomer, WireCustomerList,
    WireHeader, WireLink, WireLinks,
};

/// The most customers one page holds, whatever `size` asks for.
pub const MAX_PAGE_SIZE: u64 = 500;

/// Keys that make continuation tokens opaque and checkable.
const TOKEN_KEY: u64 = 0x6c69_7374_2d6f_6666;
const TOKEN_CHECK: u64 = 0x7365_656b_2d6e_6578;
/// Salt of the hash that picks a customer's name.
const SALT_NAME: u64 = 0x6e61_6d65;

const NAMES: [&str; 16] = [
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Adventure Works",
    "Wingtip",
    "Litware",
    "Proseware",
    "Coho Vineyard",
    "Lamna",
    "Woodgrove",
    "Fourth Coffee",
    "Margie's Travel",
    "Humongous",
    "Blue Yonder",
    "Wide World",
];
const PLACES: [&str; 8] = [
    "Valley",
    "Lakeside",
    "Riverside",
    "Malmö",
    "Hill",
    "Harbour",
    "São Paulo",
    "North",
];
const KINDS: [&str; 8] = [
    "School District",
    "Academy",
    "University",
    "Public Library",
    "Foundation",
    "Municipality",
    "Gymnasium",
    "Ltd, Schools",
];

/// The customer at 1-based `position` of every sandbox's list: always the
/// same id, company name and domain.
pub fn listed_customer(position: u64) -> WireCustomer {
    let id = candidate_id(position.saturating_sub(1));
    let h = id_hash(&id, SALT_NAME);
    let name = NAMES[(h % 16) as usize];
    let company_name = format!(
        "{name} {} {}",
        PLACES[((h >> 8) % 8) as usize],
        KINDS[((h >> 16) % 8) as usize]
    );
    let slug: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    let domain = format!("{slug}{}.onmicrosoft.com", &id.simple().to_string()[..6]);
    let text = id.to_string();
    WireCustomer {
        id: text.clone(),
        company_profile: WireCompanyProfile {
            tenant_id: text,
            domain,
            company_name,
            attributes: object_type("CustomerCompanyProfile"),
        },
        relationship_to_partner: "reseller".to_string(),
        attributes: object_type("Customer"),
    }
}

/// The id a damaged record shows instead of `id`: the GUID cut short.
fn damaged(id: &str) -> String {
    id[..id.len() - 6].to_string()
}

fn object_type(t: &str) -> WireAttributes {
    WireAttributes {
        object_type: t.to_string(),
    }
}

/// The opaque token for the page starting at `offset`.
fn token_for(offset: u64) -> String {
    format!(
        "{:016x}{:016x}",
        offset ^ TOKEN_KEY,
        mix64(offset ^ TOKEN_CHECK)
    )
}

/// The offset a token stands for, if it is one of ours.
fn offset_of(token: &str) -> Option<u64> {
    let token = token.trim();
    if token.len() != 32 || !token.is_ascii() {
        return None;
    }
    let offset = u64::from_str_radix(&token[..16], 16).ok()? ^ TOKEN_KEY;
    let check = u64::from_str_radix(&token[16..], 16).ok()?;
    (check == mix64(offset ^ TOKEN_CHECK)).then_some(offset)
}

/// `size` from the query: a whole number ≥ 1, capped at [`MAX_PAGE_SIZE`].
fn page_size(query: Option<&str>) -> Option<u64> {
    let value = query?
        .split('&')
        .find_map(|pair| {
            pair.split_once('=')
                .filter(|(k, _)| k.eq_ignore_ascii_case("size"))
        })?
        .1;
    let size: u64 = value.parse().ok()?;
    (size >= 1).then_some(size.min(MAX_PAGE_SIZE))
}

/// `GET /v1/customers`.
pub(super) async fn customer_list(
    State(st): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let token = st.tokens.check(&headers, st.cfg.static_token.as_deref());
    let mut entry = st.entry("GET", uri.path().to_string(), &headers, token);
    entry.query = uri.query().map(str::to_string);
    let continuation = headers
        .get(CONTINUATION_HEADER)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    entry.continuation_token = continuation.clone();
    let echo = EchoIds::from(&headers);

    if let Some(response) = st.refused(&mut entry) {
        return echo.apply(response);
    }
    let (reply, outcome) = answer(&st, token, uri.query(), continuation.as_deref());
    let (response, outcome) = match reply {
        Answer::Reply(reply) => (into_response(reply), outcome),
        Answer::Throttled => {
            let (response, until) = too_many_requests(RetryAfterStyle::Seconds(1), entry.at);
            entry.retry_after_until = until;
            (response, outcome)
        }
    };
    entry.status = response.status().as_u16();
    entry.outcome = outcome.to_string();
    st.journal.push(entry);
    tokio::time::sleep(st.latency()).await;
    echo.apply(response)
}

/// What a list request gets, before latency.
enum Answer {
    Reply(Reply),
    /// A configured 429 (`Retry-After: 1`).
    Throttled,
}

fn answer(
    st: &AppState,
    token: TokenCheck,
    query: Option<&str>,
    continuation: Option<&str>,
) -> (Answer, &'static str) {
    if !token.is_accepted() {
        return (Answer::Reply(unauthorized_reply(token)), "unauthorized");
    }
    let Some(size) = page_size(query) else {
        let reply = Reply::fault(
            StatusCode::BAD_REQUEST,
            None,
            "The size parameter is required: a whole number from 1 to 500.",
        );
        return (Answer::Reply(reply), "invalid-size");
    };
    let offset = match continuation.map(offset_of) {
        None => 0,
        Some(Some(offset)) => offset,
        Some(None) => {
            let reply = Reply::fault(
                StatusCode::BAD_REQUEST,
                None,
                "The continuation token is invalid.",
            );
            return (Answer::Reply(reply), "invalid-continuation-token");
        }
    };
    let page = offset / size + 1;
    let attempt = {
        let mut attempts = st
            .list_attempts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let n = attempts.entry(offset).or_default();
        *n += 1;
        *n as usize
    };
    let fault = st
        .cfg
        .list_faults
        .iter()
        .filter(|f| f.page == page)
        .nth(attempt - 1);
    if let Some(fault) = fault {
        let status =
            StatusCode::from_u16(fault.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return match status.as_u16() {
            429 => (Answer::Throttled, "throttled"),
            500.. => (Answer::Reply(gateway(status)), "list-fault"),
            _ => (
                Answer::Reply(Reply::fault(
                    status,
                    None,
                    status.canonical_reason().unwrap_or("Error"),
                )),
                "list-fault",
            ),
        };
    }
    (Answer::Reply(page_reply(st, offset, size)), "customer-list")
}

/// The page of `size` customers from `offset`.
fn page_reply(st: &AppState, offset: u64, size: u64) -> Reply {
    let total = st.cfg.customers;
    let end = offset.saturating_add(size).min(total);
    let items: Vec<WireCustomer> = (offset..end)
        .map(|i| {
            let position = i + 1;
            let mut c = listed_customer(position);
            if st.cfg.list_invalid_id_at == Some(position) {
                c.id = damaged(&c.id);
            }
            c
        })
        .collect();
    let link = |uri: String, headers: Vec<WireHeader>| WireLink {
        uri,
        method: "GET".to_string(),
        headers,
    };
    let next_token = (end < total).then(|| token_for(end));
    let list = WireCustomerList {
        total_count: items.len() as u64,
        items,
        links: WireLinks {
            self_link: Some(link(format!("/customers?size={size}"), Vec::new())),
            next: next_token.clone().map(|t| {
                link(
                    format!("/customers?size={size}&seekOperation=Next"),
                    vec![WireHeader {
                        key: CONTINUATION_HEADER.to_string(),
                        value: t,
                    }],
                )
            }),
        },
        continuation_token: next_token,
        attributes: object_type("Collection"),
    };
    Reply {
        status: StatusCode::OK,
        content_type: JSON,
        body: to_json(&list),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    #[test]
    fn tokens_round_trip_and_forgeries_fail() {
        for offset in [0, 1, 500, 1234, u64::MAX] {
            assert_eq!(offset_of(&token_for(offset)), Some(offset));
        }
        let mut t = token_for(500);
        t.replace_range(0..1, if t.starts_with('0') { "1" } else { "0" });
        assert_eq!(offset_of(&t), None);
        assert_eq!(offset_of("AQAAAA=="), None);
        assert_eq!(offset_of(""), None);
    }

    #[test]
    fn sizes_are_parsed_and_capped() {
        assert_eq!(page_size(Some("size=40")), Some(40));
        assert_eq!(page_size(Some("seekOperation=Next&Size=9000")), Some(500));
        for bad in [
            None,
            Some(""),
            Some("size=0"),
            Some("size=x"),
            Some("sized=3"),
        ] {
            assert_eq!(page_size(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn customers_are_stable_distinct_and_named_from_their_id() {
        let a = listed_customer(1);
        assert_eq!(a.id, listed_customer(1).id);
        assert_eq!(
            a.company_profile.company_name,
            listed_customer(1).company_profile.company_name
        );
        let ids: std::collections::HashSet<String> =
            (1..=2000).map(|p| listed_customer(p).id).collect();
        assert_eq!(ids.len(), 2000);
        let names: std::collections::HashSet<String> = (1..=200)
            .map(|p| listed_customer(p).company_profile.company_name)
            .collect();
        assert!(names.len() > 50, "{}", names.len());
        for p in 1..=50 {
            let c = listed_customer(p);
            assert!(Uuid::try_parse(&c.id).is_ok());
            assert!(c.company_profile.domain.ends_with(".onmicrosoft.com"));
            assert!(
                c.company_profile
                    .domain
                    .contains(&c.id.replace('-', "")[..6])
            );
            assert!(Uuid::try_parse(&damaged(&c.id)).is_err());
        }
    }
}
