//! The customer list: pages that add up to the whole list, next links and
//! continuation tokens in Partner Center's shape, and the list's faults.

use reqwest::StatusCode;

use super::*;
use crate::model::{ApiFault, WireCustomerList};
use crate::sandbox::{ListFault, listed_customer};

/// One list request with the static token, and with `token` as its
/// `MS-ContinuationToken` when given.
async fn page(sb: &Sandbox, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut r = client()
        .get(format!("{}/v1/customers?{query}", sb.base_url()))
        .bearer_auth(STATIC_TOKEN);
    if let Some(t) = token {
        r = r.header("MS-ContinuationToken", t);
    }
    r.send().await.unwrap()
}

async fn list(r: reqwest::Response) -> WireCustomerList {
    assert_eq!(r.status(), StatusCode::OK);
    serde_json::from_slice(&r.bytes().await.unwrap()).unwrap()
}

#[tokio::test]
async fn pages_follow_their_next_links_to_the_whole_list() {
    let sb = start(SandboxConfig {
        customers: 7,
        ..SandboxConfig::default()
    })
    .await;
    let mut ids = Vec::new();
    let mut query = "size=3".to_string();
    let mut token: Option<String> = None;
    for expected in [3, 3, 1] {
        let l = list(page(&sb, &query, token.as_deref()).await).await;
        assert_eq!((l.items.len(), l.total_count), (expected, expected as u64));
        ids.extend(l.items.iter().map(|c| c.id.clone()));
        assert_eq!(l.attributes.object_type, "Collection");
        match l.links.next {
            Some(next) => {
                // Relative to /v1, the token in the headers and at the top.
                assert_eq!(next.uri, "/customers?size=3&seekOperation=Next");
                assert_eq!(next.headers.len(), 1);
                assert_eq!(next.headers[0].key, "MS-ContinuationToken");
                assert_eq!(l.continuation_token.as_ref(), Some(&next.headers[0].value));
                query = next.uri.split_once('?').unwrap().1.to_string();
                token = Some(next.headers[0].value.clone());
            }
            None => {
                assert_eq!(expected, 1, "only the last page has no next link");
                assert_eq!(l.continuation_token, None);
            }
        }
    }
    let want: Vec<String> = (1..=7).map(|p| listed_customer(p).id).collect();
    assert_eq!(ids, want);
    let journal = sb.journal();
    assert_eq!(journal.len(), 3);
    assert_eq!(journal[0].query.as_deref(), Some("size=3"));
    assert_eq!(journal[2].continuation_token, token);
    assert!(journal.iter().all(|e| e.outcome == "customer-list"));
}

#[tokio::test]
async fn sizes_are_capped_and_bad_requests_refused() {
    let sb = start(SandboxConfig {
        customers: 600,
        ..SandboxConfig::default()
    })
    .await;
    assert_eq!(
        list(page(&sb, "size=9000", None).await).await.items.len(),
        500
    );
    for (query, token) in [("", None), ("size=0", None), ("size=5", Some("forged"))] {
        let r = page(&sb, query, token).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{query} {token:?}");
        let f: ApiFault = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert!(f.description.is_some());
    }
    let r = client()
        .get(format!("{}/v1/customers?size=5", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn list_faults_answer_once_each_then_the_page() {
    let sb = start(SandboxConfig {
        customers: 10,
        list_faults: vec![
            ListFault {
                page: 1,
                status: 429,
            },
            ListFault {
                page: 1,
                status: 503,
            },
        ],
        list_invalid_id_at: Some(2),
        ..SandboxConfig::default()
    })
    .await;
    let r = page(&sb, "size=5", None).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    assert_eq!(
        page(&sb, "size=5", None).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    let l = list(page(&sb, "size=5", None).await).await;
    assert!(
        uuid::Uuid::try_parse(&l.items[1].id).is_err(),
        "{}",
        l.items[1].id
    );
    assert!(listed_customer(2).id.starts_with(&l.items[1].id));
    let statuses: Vec<u16> = sb.journal().iter().map(|e| e.status).collect();
    assert_eq!(statuses, [429, 503, 200]);
    assert!(sb.journal()[0].retry_after_until.is_some());
}
