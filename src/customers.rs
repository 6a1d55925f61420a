//! The customer list as input (`--all-customers`): every page of
//! `GET /v1/customers?size=500`, turned into the same [`InputFile`] a CSV
//! gives, so duplicates, invalid ids, `--limit`, `--resume` and the report
//! work unchanged. Each listed customer is one row: `line` is its 1-based
//! position in the list, `company_name` and `domain` are its extra columns.
//!
//! Pages are requested one after the other through
//! [`with_retries`](crate::lookup::with_retries), so they share the run's
//! pacer, 429 pauses, retries and counters with the lookups. The next page
//! is the answer's `links.next.uri` (relative to `/v1`) with the
//! `MS-ContinuationToken` header from `links.next.headers` (or the top-level
//! `continuationToken`); the list ends with the first answer without a
//! `next` link.

use std::collections::HashSet;
use std::fmt;

use reqwest::header::HeaderValue;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::api::LookupError;
use crate::input::{Cells, InputFile, InputRow, RowClassifier, RowKind, hex_sha256};
use crate::lookup::{Ended, Lookup, StopReason, unless_stopped, with_retries};
use crate::model::{BodyError, CONTINUATION_HEADER, get_ci, json_body, kind, list_field, snippet};

/// Customers asked for per page: the most Partner Center hands out at once.
pub(crate) const PAGE_SIZE: u32 = 500;

/// More pages than this is a server paging forever (5 million customers at
/// full pages; far beyond any CSP), not a customer list.
pub(crate) const MAX_PAGES: u64 = 10_000;

/// The report columns a listed customer brings, after the fixed ones.
pub(crate) const EXTRA_HEADERS: [&str; 2] = ["company_name", "domain"];

/// One page as qualrecon needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CustomerPage {
    /// The customers on the page, in list order.
    pub customers: Vec<ListedCustomer>,
    /// Where the next page is; `None` on the last page.
    pub next: Option<NextPage>,
}

/// One listed customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedCustomer {
    /// `id` as sent (a number is written out; empty when missing).
    pub id: String,
    /// `companyProfile.companyName`, empty when absent.
    pub company_name: String,
    /// `companyProfile.domain`, empty when absent.
    pub domain: String,
}

/// The `next` link of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NextPage {
    /// `links.next.uri`, relative to `/v1` (or absolute).
    pub uri: String,
    /// The `MS-ContinuationToken` to send with it, if the answer gave one.
    pub continuation_token: Option<String>,
}

/// The whole list, read.
#[derive(Debug)]
pub(crate) struct Listing {
    /// The listed customers as input rows (`line` = position in the list).
    pub input: InputFile,
    /// Pages read.
    pub pages: u64,
    /// `false` when `--limit` ended the paging before the last page.
    pub complete: bool,
}

/// Why the customer list could not be read: the run stops before any lookup.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ListError {
    /// A page request failed for good.
    #[error("listing the customers failed at page {page}: {detail}")]
    Failed { page: u64, detail: String },
    /// A `next` link that cannot (or must not) be followed.
    #[error("listing the customers: the next link of page {page} is unusable: {reason}")]
    BadNextLink { page: u64, reason: String },
    /// The server sent a next link it had sent before.
    #[error(
        "listing the customers: page {page} points back to a page already read (same continuation token); the server would list the same customers forever, so listing stopped"
    )]
    Loop { page: u64 },
    /// Paging went on beyond [`MAX_PAGES`].
    #[error(
        "listing the customers: more than {MAX_PAGES} pages without an end; the server seems to page forever, so listing stopped"
    )]
    TooManyPages,
    /// A signal or the deadline stopped the run while listing.
    #[error("{} while listing the customers; nothing was looked up{}", stopped_by(*.0), come_back(*.0))]
    Stopped(StopReason),
}

fn stopped_by(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Interrupt => "interrupted (SIGINT)",
        StopReason::Terminate => "terminated (SIGTERM)",
        StopReason::Deadline => "--deadline reached",
        StopReason::Throttled { .. } => "a Retry-After beyond --max-wait",
        StopReason::Unauthorized => "stopped",
    }
}

/// When to run again, if the server said: a stopped listing leaves no
/// journal, so `--resume` has nothing to go on.
fn come_back(reason: StopReason) -> String {
    match reason {
        StopReason::Throttled { until } => format!(
            "; Partner Center asked to be called again at {}: run again then",
            crate::model::format_utc(until, 0)
        ),
        _ => String::new(),
    }
}

/// `{base}/v1/customers`: where the list comes from, for messages and
/// `input.path`.
pub(crate) fn list_url(base_url: &str) -> String {
    format!("{}/v1/customers", base_url.trim_end_matches('/'))
}

/// `{base}/v1/customers?size=500`.
pub(crate) fn first_page_url(base_url: &str) -> String {
    format!("{}?size={PAGE_SIZE}", list_url(base_url))
}

/// The URL of a `next` link. Its `uri` is relative to `/v1` (a leading
/// slash, and a leading `/v1` as in Partner Center's `self` links, are
/// accepted). An absolute URL is followed only to the API root's own
/// scheme, host and port: the bearer token goes with the request.
pub(crate) fn next_page_url(base_url: &str, uri: &str) -> Result<String, String> {
    let base_url = base_url.trim_end_matches('/');
    let uri = uri.trim();
    if uri.is_empty() {
        return Err("its uri is empty".into());
    }
    if let Ok(absolute) = reqwest::Url::parse(uri) {
        let base = reqwest::Url::parse(base_url).map_err(|e| e.to_string())?;
        let same = absolute.scheme() == base.scheme()
            && absolute.host_str() == base.host_str()
            && absolute.port_or_known_default() == base.port_or_known_default();
        return if same {
            Ok(absolute.to_string())
        } else {
            Err(format!(
                "it points to {} (not the API root {base_url}); refused, the bearer token would go with it",
                absolute.host_str().unwrap_or("an unknown host")
            ))
        };
    }
    let rest = uri.trim_start_matches('/');
    let rest = rest.strip_prefix("v1/").unwrap_or(rest);
    let url = format!("{base_url}/v1/{rest}");
    reqwest::Url::parse(&url).map(|_| url).map_err(|e| {
        format!(
            "`{}` is not a usable path ({e})",
            snippet(uri.as_bytes(), 80)
        )
    })
}

/// Read a 200 body of `GET /v1/customers`: keys in any case, a leading BOM,
/// unknown fields; `links.next.headers` as a list of `{key, value}` or as an
/// object of names to values. Anything else is a [`BodyError`]: a page we
/// do not understand is never guessed at.
pub(crate) fn parse_page(body: &[u8]) -> Result<CustomerPage, BodyError> {
    let value = json_body(body)?;
    let Value::Object(page) = value else {
        return Err(BodyError::Shape(format!(
            "{} where a page of customers was expected",
            kind(&value)
        )));
    };
    let items = list_field(&page, "items")?;
    let customers = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            listed_customer(item).map_err(|e| BodyError::Shape(format!("item {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CustomerPage {
        customers,
        next: next_link(&page).map_err(BodyError::Shape)?,
    })
}

fn listed_customer(item: &Value) -> Result<ListedCustomer, String> {
    let Value::Object(map) = item else {
        return Err(format!("{} instead of a customer object", kind(item)));
    };
    let profile = match get_ci(map, "companyProfile") {
        Some(Value::Object(p)) => Some(p),
        None | Some(Value::Null) => None,
        Some(other) => return Err(format!("\"companyProfile\" is {}", kind(other))),
    };
    let from_profile = |key| profile.map_or(Ok(String::new()), |p| text(p, key));
    let mut id = text(map, "id")?;
    if id.is_empty() {
        // Older answers carry the tenant id only in the profile.
        id = from_profile("tenantId")?;
    }
    Ok(ListedCustomer {
        id,
        company_name: from_profile("companyName")?,
        domain: from_profile("domain")?,
    })
}

/// A text field (a number is written out); empty when absent or null.
fn text(map: &Map<String, Value>, key: &str) -> Result<String, String> {
    match get_ci(map, key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Number(n)) => Ok(n.to_string()),
        Some(other) => Err(format!("\"{key}\" is {}, not text", kind(other))),
    }
}

fn next_link(page: &Map<String, Value>) -> Result<Option<NextPage>, String> {
    let next = match get_ci(page, "links") {
        Some(Value::Object(links)) => get_ci(links, "next"),
        None | Some(Value::Null) => None,
        Some(other) => return Err(format!("\"links\" is {}", kind(other))),
    };
    let next = match next {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(next)) => next,
        Some(other) => return Err(format!("\"links.next\" is {}", kind(other))),
    };
    let uri = match get_ci(next, "uri") {
        Some(Value::String(uri)) => uri.clone(),
        _ => return Err("\"links.next\" has no \"uri\"".into()),
    };
    let from_headers = match get_ci(next, "headers") {
        Some(Value::Array(list)) => list.iter().find_map(|h| {
            let h = h.as_object()?;
            let key = get_ci(h, "key")?.as_str()?;
            if !key.eq_ignore_ascii_case(CONTINUATION_HEADER) {
                return None;
            }
            get_ci(h, "value")?.as_str().map(str::to_string)
        }),
        Some(Value::Object(map)) => get_ci(map, CONTINUATION_HEADER)
            .and_then(Value::as_str)
            .map(str::to_string),
        _ => None,
    };
    let top_level = get_ci(page, "continuationToken")
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Some(NextPage {
        uri,
        continuation_token: from_headers.or(top_level).filter(|t| !t.is_empty()),
    }))
}

/// Page through the whole list. With `limit`, paging stops after the page
/// on which `limit` valid distinct ids have been listed.
pub(crate) async fn list_customers(l: &Lookup, limit: Option<u64>) -> Result<Listing, ListError> {
    let base_url = l.api.base_url().to_string();
    let mut url = first_page_url(&base_url);
    let mut continuation: Option<HeaderValue> = None;
    // Every (uri, token) followed so far: seeing one again is a loop.
    let mut followed: HashSet<(String, Option<String>)> = HashSet::new();
    let mut listed: Vec<ListedCustomer> = Vec::new();
    let mut classifier = RowClassifier::default();
    let mut rows: Vec<InputRow> = Vec::new();
    let mut pages = 0u64;
    let complete = loop {
        if pages >= MAX_PAGES {
            return Err(ListError::TooManyPages);
        }
        let page_no = pages + 1;
        // One logical request per page: its retries keep the MS-RequestId.
        let request_id = Uuid::new_v4();
        let what = format!("customer list page {page_no}");
        let page = with_retries(l, &what, None, |token| {
            let (url, continuation) = (&url, &continuation);
            async move {
                let header = continuation
                    .as_ref()
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (CONTINUATION_HEADER, v));
                let body = l.api.get(url, header, &request_id, &token).await?;
                parse_page(&body).map_err(LookupError::Body)
            }
        });
        // A signal or the deadline acts at once, even on a page request
        // that hangs: nothing was looked up yet, so there is nothing to
        // let finish.
        let Some(ended) = unless_stopped(&l.stop, page).await else {
            let reason = l.stop.reason().unwrap_or(StopReason::Interrupt);
            return Err(ListError::Stopped(reason));
        };
        let page = match ended {
            Ended::Answered { answer, .. } => answer,
            Ended::Failed {
                error,
                attempts,
                gave_up,
            } => {
                if let Some(reason) = l.stop.reason() {
                    return Err(ListError::Stopped(reason));
                }
                return Err(ListError::Failed {
                    page: page_no,
                    detail: failure_detail(&error, attempts, gave_up.as_deref()),
                });
            }
            Ended::NotSent => {
                let reason = l.stop.reason().unwrap_or(StopReason::Interrupt);
                return Err(ListError::Stopped(reason));
            }
        };
        pages = page_no;
        for customer in page.customers {
            let position = listed.len() as u64 + 1;
            // Server text that becomes report cells: no credential it may
            // have quoted.
            let extra = [&customer.company_name, &customer.domain].map(|t| crate::redact::scrub(t));
            rows.push(InputRow::new(
                position,
                &crate::redact::scrub(&customer.id),
                Cells::new(extra.iter().map(|t| t.as_ref())),
                classifier.classify(&customer.id, position),
            ));
            listed.push(customer);
        }
        tracing::debug!("customer list page {pages}: {} listed so far", rows.len());
        let Some(next) = page.next else {
            break true;
        };
        if let Some(limit) = limit
            && classifier.customers() as u64 >= limit
        {
            tracing::info!(
                "--limit {limit} reached after page {pages} of the customer list: later pages are not read"
            );
            break false;
        }
        if !followed.insert((next.uri.clone(), next.continuation_token.clone())) {
            return Err(ListError::Loop { page: pages });
        }
        url = next_page_url(&base_url, &next.uri).map_err(|reason| ListError::BadNextLink {
            page: pages,
            reason,
        })?;
        continuation = next
            .continuation_token
            .map(|t| {
                HeaderValue::from_str(&t).map_err(|_| ListError::BadNextLink {
                    page: pages,
                    reason: "its continuation token cannot be sent as an HTTP header".into(),
                })
            })
            .transpose()?;
    };
    tracing::info!(
        "listed {} customers in {pages} page{} from Partner Center",
        rows.len(),
        if pages == 1 { "" } else { "s" }
    );
    Ok(Listing {
        input: InputFile {
            // A CSV reader's detections mean nothing here; these values
            // are what a CSV of the same list would give.
            delimiter: b',',
            has_header: true,
            id_header: "id".to_string(),
            id_column: 0,
            extra_headers: EXTRA_HEADERS.iter().map(|h| h.to_string()).collect(),
            rows,
            blank_rows: 0,
            sha256: listing_sha256(&listed),
            encoding: "utf-8",
            spill: None,
        },
        pages,
        complete,
    })
}

/// What went wrong with a page, in the words of the API, with a hint that
/// fits listing (not one customer).
fn failure_detail(error: &LookupError, attempts: u32, gave_up: Option<&str>) -> String {
    let hint = match error {
        LookupError::Unauthorized(_) | LookupError::Forbidden(_) => {
            " (hint: the app registration may not list this partner's customers: check its Partner Center API access and roles)"
        }
        LookupError::NotFound(_) => {
            " (hint: check --base-url: it must be the Partner Center API root)"
        }
        _ => "",
    };
    let tries = match gave_up {
        Some(why) => format!(
            " ({why}; {attempts} attempt{})",
            if attempts == 1 { "" } else { "s" }
        ),
        None => String::new(),
    };
    format!("{}{tries}{hint}", error.detail())
}

/// SHA-256 over the list as read (one JSON `[id, company_name, domain]`
/// per line), so `--resume` notices when the list changed since the
/// journaled run, as it does for a changed input file.
fn listing_sha256(listed: &[ListedCustomer]) -> String {
    let mut text = String::new();
    for c in listed {
        let line =
            serde_json::to_string(&[&c.id, &c.company_name, &c.domain]).expect("strings serialise");
        text.push_str(&line);
        text.push('\n');
    }
    hex_sha256(text.as_bytes())
}

/// How many listed customers `qualrecon check --all-customers` shows.
const SHOWN: usize = 20;

/// What `qualrecon check --all-customers` prints; `source` names the list.
pub(crate) fn describe(listing: &Listing, source: &str) -> String {
    Description { listing, source }.to_string()
}

struct Description<'a> {
    listing: &'a Listing,
    source: &'a str,
}

impl fmt::Display for Description<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let input = &self.listing.input;
        writeln!(f, "{}", self.source)?;
        let more = if self.listing.complete {
            ""
        } else {
            " (--limit reached: later pages not read)"
        };
        writeln!(f, "  pages          {}{more}", self.listing.pages)?;
        writeln!(f, "  listed         {}", input.rows.len())?;
        writeln!(
            f,
            "  customers      {} (valid, distinct: these are looked up)",
            input.customer_count()
        )?;
        writeln!(f, "  duplicates     {}", input.duplicate_rows())?;
        for (row, id, first) in input.duplicates().take(SHOWN) {
            writeln!(
                f,
                "    position {}: {id} (first at position {first})",
                row.line
            )?;
        }
        writeln!(f, "  invalid        {}", input.invalid_rows())?;
        for (row, reason) in input.invalid().take(SHOWN) {
            writeln!(f, "    position {}: {reason}", row.line)?;
        }
        writeln!(f, "  sha256         {}", input.sha256)?;
        if input.rows.is_empty() {
            return Ok(());
        }
        writeln!(f, "  first customers:")?;
        writeln!(
            f,
            "    {:>8}  {:<36}  {:<40}  domain",
            "position", "id", "company_name"
        )?;
        for row in input.rows.iter().take(SHOWN) {
            let id = match row.kind {
                RowKind::Invalid { .. } => snippet(row.raw_id().as_bytes(), 36),
                RowKind::Customer(id) | RowKind::Duplicate { id, .. } => id.to_string(),
            };
            writeln!(
                f,
                "    {:>8}  {:<36}  {:<40}  {}",
                row.line,
                id,
                snippet(row.extra.get(0).unwrap_or_default().as_bytes(), 39),
                snippet(row.extra.get(1).unwrap_or_default().as_bytes(), 80)
            )?;
        }
        match input.rows.len().saturating_sub(SHOWN) {
            0 => Ok(()),
            rest => writeln!(f, "    … and {rest} more"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_in_partner_centers_shape() {
        let body = br#"{
            "totalCount": 2,
            "items": [
                {"id": "b44bb1fb-c595-45b0-9e09-d657365580bf",
                 "companyProfile": {"tenantId": "b44bb1fb-c595-45b0-9e09-d657365580bf",
                    "domain": "contoso.onmicrosoft.com", "companyName": "Contoso, Ltd",
                    "attributes": {"objectType": "CustomerCompanyProfile"}},
                 "relationshipToPartner": "reseller",
                 "attributes": {"objectType": "Customer"}},
                {"companyProfile": {"tenantId": "45c44870-ef77-4fdd-b6fe-3dacb075cff2"}}
            ],
            "links": {
                "self": {"uri": "/customers?size=2", "method": "GET", "headers": []},
                "next": {"uri": "/customers?size=2&seekOperation=Next", "method": "GET",
                         "headers": [{"key": "MS-ContinuationToken", "value": "AQAAAA=="}]}
            },
            "attributes": {"objectType": "Collection"}
        }"#;
        let page = parse_page(body).unwrap();
        assert_eq!(page.customers.len(), 2);
        assert_eq!(page.customers[0].company_name, "Contoso, Ltd");
        assert_eq!(page.customers[0].domain, "contoso.onmicrosoft.com");
        assert_eq!(page.customers[1].id, "45c44870-ef77-4fdd-b6fe-3dacb075cff2");
        assert_eq!(page.customers[1].company_name, "");
        assert_eq!(
            page.next,
            Some(NextPage {
                uri: "/customers?size=2&seekOperation=Next".into(),
                continuation_token: Some("AQAAAA==".into()),
            })
        );
    }

    #[test]
    fn tolerant_keys_header_maps_and_top_level_tokens() {
        let body = "\u{feff}{\"Items\":[{\"ID\":\"x\"}],\"Links\":{\"Next\":{\"URI\":\"/customers\",\
                    \"headers\":{\"ms-continuationtoken\":\"t1\"}}}}";
        let page = parse_page(body.as_bytes()).unwrap();
        assert_eq!(page.customers[0].id, "x");
        assert_eq!(page.next.unwrap().continuation_token.as_deref(), Some("t1"));
        let body = br#"{"items":[],"links":{"next":{"uri":"/customers","headers":[]}},"continuationToken":"t2"}"#;
        let next = parse_page(body).unwrap().next.unwrap();
        assert_eq!(next.continuation_token.as_deref(), Some("t2"));
        let last = br#"{"items":[],"links":{"self":{"uri":"/customers"},"next":null}}"#;
        assert_eq!(parse_page(last).unwrap().next, None);
    }

    #[test]
    fn pages_we_do_not_understand_are_errors() {
        for bad in [
            &b""[..],
            b"<html></html>",
            b"[]",
            br#"{"totalCount":0}"#,
            br#"{"items":{}}"#,
            br#"{"items":["b44bb1fb-c595-45b0-9e09-d657365580bf"]}"#,
            br#"{"items":[],"links":{"next":{"headers":[]}}}"#,
            br#"{"items":[{"id":{"a":1}}]}"#,
        ] {
            assert!(parse_page(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn next_links_resolve_against_v1_and_stay_on_the_api_host() {
        let base = "https://api.partnercenter.microsoft.com";
        let want =
            "https://api.partnercenter.microsoft.com/v1/customers?size=500&seekOperation=Next";
        for uri in [
            "/customers?size=500&seekOperation=Next",
            "customers?size=500&seekOperation=Next",
            "/v1/customers?size=500&seekOperation=Next",
            want,
        ] {
            assert_eq!(next_page_url(base, uri).unwrap(), want, "{uri}");
        }
        assert_eq!(
            next_page_url("http://127.0.0.1:8080/", "/customers").unwrap(),
            "http://127.0.0.1:8080/v1/customers"
        );
        for bad in [
            "",
            "https://evil.example/v1/customers",
            "http://api.partnercenter.microsoft.com/v1/customers",
            "https://api.partnercenter.microsoft.com:8443/v1/customers",
        ] {
            assert!(next_page_url(base, bad).is_err(), "{bad}");
        }
        // A scheme-relative path stays a path on the API host.
        assert_eq!(
            next_page_url(base, "//evil.example/x").unwrap(),
            "https://api.partnercenter.microsoft.com/v1/evil.example/x"
        );
    }

    #[test]
    fn the_hash_depends_on_every_field_and_the_order() {
        let c = |id: &str, name: &str| ListedCustomer {
            id: id.into(),
            company_name: name.into(),
            domain: String::new(),
        };
        let a = listing_sha256(&[c("1", "a"), c("2", "b")]);
        assert_ne!(a, listing_sha256(&[c("2", "b"), c("1", "a")]));
        assert_ne!(a, listing_sha256(&[c("1", "a"), c("2", "c")]));
        assert_ne!(
            listing_sha256(&[c("1", "a\",\"b")]),
            listing_sha256(&[c("1", "a"), c("b", "")])
        );
        assert_eq!(a, listing_sha256(&[c("1", "a"), c("2", "b")]));
    }
}
