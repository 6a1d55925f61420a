//! Every answer kind, the response headers, bad ids and unknown paths.

use chrono::Datelike;
use reqwest::StatusCode;
use serde_json::Value;

use super::super::answers::DENIAL_REASONS;
use super::*;
use crate::model::{ApiFault, FaultCode, GatewayError, WireQualification, WireQualifications};
use crate::sandbox::{TokenCheck, answer_for};

fn wrapper(body: &[u8]) -> Vec<WireQualification> {
    serde_json::from_slice::<WireQualifications>(body)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(body)))
        .qualifications
}

fn education(status: &str) -> WireQualification {
    WireQualification {
        qualification: Some("Education".into()),
        vetting_status: Some(status.into()),
        ..Default::default()
    }
}

fn assert_recent_date(q: &WireQualification) {
    let date = q.vetting_created_date.as_deref().expect("a vetting date");
    let parsed = chrono::DateTime::parse_from_rfc3339(date).expect(date);
    assert!((2025..=2026).contains(&parsed.year()), "{date}");
}

fn fault(body: &[u8]) -> ApiFault {
    serde_json::from_slice(body).expect("an ApiFault body")
}

/// What a 200 JSON wrapper answer must look like for each answer kind.
fn check(answer: Answer, status: StatusCode, content_type: &str, body: &[u8]) {
    let json_ok = || {
        assert_eq!(status, StatusCode::OK, "{answer}");
        assert_eq!(content_type, "application/json; charset=utf-8", "{answer}");
    };
    match answer {
        Answer::Approved => {
            json_ok();
            assert_eq!(wrapper(body), vec![education("Approved")]);
        }
        Answer::InReview => {
            json_ok();
            let q = wrapper(body);
            assert_eq!(q.len(), 1);
            assert_eq!(q[0].vetting_status.as_deref(), Some("InReview"));
            assert_recent_date(&q[0]);
        }
        Answer::Denied => {
            json_ok();
            let q = wrapper(body);
            assert_eq!(q[0].vetting_status.as_deref(), Some("Denied"));
            assert!(DENIAL_REASONS.contains(&q[0].vetting_reason.as_deref().unwrap()));
            assert_recent_date(&q[0]);
        }
        Answer::NoQualifications => {
            json_ok();
            assert_eq!(body, br#"{"qualifications":[]}"#);
        }
        Answer::Several => {
            json_ok();
            let q = wrapper(body);
            assert_eq!(q.len(), 2);
            let first = q[0].qualification.as_deref().unwrap();
            assert!(["Education", "GovernmentCommunityCloud"].contains(&first));
            assert!(q[0].vetting_status.is_some());
            assert_eq!(q[1].qualification.as_deref(), Some("StateOwnedEntity"));
            assert_eq!(q[1].vetting_status, None);
        }
        Answer::StateOwnedOnly => {
            json_ok();
            assert_eq!(
                body,
                br#"{"qualifications":[{"qualification":"StateOwnedEntity"}]}"#
            );
        }
        Answer::UnknownStatus => {
            json_ok();
            let status = wrapper(body)[0].vetting_status.clone().unwrap();
            assert!(!["Approved", "InReview", "Denied"].contains(&status.as_str()));
        }
        Answer::NotFound => {
            assert_eq!(status, StatusCode::NOT_FOUND);
            let f = fault(body);
            assert_eq!(f.code, Some(FaultCode::Number(60003)));
            assert_eq!(f.description.as_deref(), Some("Tenant not found"));
            assert_eq!(f.source.as_deref(), Some("PartnerFD"));
            assert_eq!(f.data, Some(vec![]));
        }
        Answer::Forbidden => {
            assert_eq!(status, StatusCode::FORBIDDEN);
            let f = fault(body);
            assert_eq!(f.code, Some(FaultCode::Number(20002)));
            assert_eq!(
                f.description.as_deref(),
                Some("No relationship between caller and account.")
            );
        }
        Answer::BareArray => {
            json_ok();
            let q: Vec<WireQualification> = serde_json::from_slice(body).unwrap();
            assert_recent_date(&q[0]);
        }
        Answer::CreateDateSpelling => {
            json_ok();
            let v: Value = serde_json::from_slice(body).unwrap();
            let entry = &v["qualifications"][0];
            assert!(entry.get("vettingCreateDate").is_some(), "{v}");
            assert!(entry.get("vettingCreatedDate").is_none(), "{v}");
        }
        Answer::Bom => {
            json_ok();
            let rest = body.strip_prefix(b"\xEF\xBB\xBF").expect("a leading BOM");
            assert_eq!(wrapper(rest), vec![education("Approved")]);
        }
        Answer::BrokenJson => {
            json_ok();
            let e = serde_json::from_slice::<Value>(body).unwrap_err();
            assert!(e.is_eof(), "cut JSON, not garbage: {e}");
        }
        Answer::Html => {
            assert_eq!(status, StatusCode::OK);
            assert!(content_type.starts_with("text/html"), "{content_type}");
            assert!(body.starts_with(b"<!DOCTYPE html>"));
        }
    }
}

#[tokio::test]
async fn every_answer_kind_has_its_status_and_body() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    for answer in Answer::ALL {
        for id in ids_for(answer, 4) {
            let r = request(&c, &sb, &id.to_string()).send().await.unwrap();
            let status = r.status();
            let ct = r.headers()["content-type"].to_str().unwrap().to_string();
            let body = r.bytes().await.unwrap();
            check(answer, status, &ct, &body);
        }
    }
    let journal = sb.journal();
    assert_eq!(journal.len(), Answer::ALL.len() * 4);
    for e in &journal {
        let id = e.customer.expect("customer recorded");
        assert_eq!(e.outcome, answer_for(&id).as_str());
        assert_eq!(e.token, TokenCheck::Static);
    }
}

#[tokio::test]
async fn any_case_and_braces_get_the_same_answer() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let id = ids_for(Answer::Denied, 1)[0];
    let mut bodies = Vec::new();
    for form in [
        id.to_string(),
        id.to_string().to_uppercase(),
        format!("{{{id}}}"),
    ] {
        let r = request(&c, &sb, &form).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{form}");
        bodies.push(r.bytes().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]));
}

#[tokio::test]
async fn a_malformed_id_is_a_400_fault() {
    let sb = start(SandboxConfig::default()).await;
    let r = request(&client(), &sb, "not-a-guid").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let f = fault(&r.bytes().await.unwrap());
    assert_eq!(f.code, Some(FaultCode::Number(900118)));
    assert_eq!(f.description.as_deref(), Some("Invalid Customer Id"));
    let j = sb.journal();
    assert_eq!((j[0].customer, j[0].status), (None, 400));
}

#[tokio::test]
async fn unknown_paths_get_the_gateway_404() {
    let sb = start(SandboxConfig::default()).await;
    for path in ["/", "/v1/invoices", "/v1/customers/x/subscriptions"] {
        let r = client()
            .get(format!("{}{path}", sb.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{path}");
        let g: GatewayError = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(
            (g.status_code, g.message.as_str()),
            (404, "Resource not found")
        );
    }
    assert!(sb.journal().iter().all(|e| e.outcome == "unknown-path"));
}

#[tokio::test]
async fn ids_are_echoed_and_headers_journaled() {
    let sb = start(SandboxConfig::default()).await;
    let c = client();
    let id = ids_for(Answer::Approved, 1)[0].to_string();
    let r = request(&c, &sb, &id)
        .header("MS-RequestId", "11111111-1111-4111-8111-111111111111")
        .header("MS-CorrelationId", "22222222-2222-4222-8222-222222222222")
        .header("MS-PartnerCenter-Application", "qualrecon/0.1.0")
        .send()
        .await
        .unwrap();
    let h = r.headers();
    assert_eq!(h["ms-requestid"], "11111111-1111-4111-8111-111111111111");
    assert_eq!(
        h["ms-correlationid"],
        "22222222-2222-4222-8222-222222222222"
    );
    assert_eq!(h["content-type"], "application/json; charset=utf-8");

    // Without ids the server makes them up, as the real one does.
    let r = request(&c, &sb, &id).send().await.unwrap();
    let made_up = r.headers()["ms-requestid"].to_str().unwrap();
    assert!(uuid::Uuid::try_parse(made_up).is_ok());

    let j = sb.journal();
    assert_eq!(j[0].method, "GET");
    assert_eq!(j[0].path, format!("/v1/customers/{id}/qualifications"));
    assert_eq!(
        j[0].request_id.as_deref(),
        Some("11111111-1111-4111-8111-111111111111")
    );
    assert_eq!(
        j[0].correlation_id.as_deref(),
        Some("22222222-2222-4222-8222-222222222222")
    );
    assert_eq!(j[0].application.as_deref(), Some("qualrecon/0.1.0"));
    assert_eq!(j[0].accept.as_deref(), Some("application/json"));
    assert_eq!(
        (j[1].request_id.clone(), j[1].application.clone()),
        (None, None)
    );
    assert!(j[0].at <= j[1].at);
    let dump = format!("{j:?}");
    assert!(
        !dump.contains(STATIC_TOKEN),
        "the journal holds a token: {dump}"
    );
}

#[tokio::test]
async fn latency_delays_answers() {
    let cfg = SandboxConfig {
        latency_min: std::time::Duration::from_millis(80),
        latency_max: std::time::Duration::from_millis(120),
        ..SandboxConfig::default()
    };
    let sb = start(cfg).await;
    let id = ids_for(Answer::Approved, 1)[0].to_string();
    let t0 = std::time::Instant::now();
    let r = request(&client(), &sb, &id).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(t0.elapsed() >= std::time::Duration::from_millis(80));
}

#[tokio::test]
async fn shutdown_stops_the_server() {
    let sb = start(SandboxConfig::default()).await;
    let addr = sb.addr();
    assert_eq!(sb.base_url(), format!("http://127.0.0.1:{}", addr.port()));
    sb.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
