//! Scenario faults: throttling, flaky tenants, resets, truncated bodies,
//! slow and malformed tenants. Transport faults are checked both through
//! reqwest (the client's view) and on a raw socket (what was really sent).

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;
use crate::model::{GatewayError, WireQualifications};
use crate::sandbox::{Fault, Malformation, RetryAfterStyle, Throttle, tenant_faults};

fn throttled(rate: f64, burst: f64, retry_after: RetryAfterStyle) -> SandboxConfig {
    SandboxConfig {
        throttle: Some(Throttle {
            rate,
            burst,
            retry_after,
            window: false,
        }),
        ..SandboxConfig::default()
    }
}

async fn statuses(sb: &Sandbox, n: usize) -> Vec<u16> {
    let c = client();
    let id = ids_for(Answer::Approved, 1)[0].to_string();
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(request(&c, sb, &id).send().await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn throttle_answers_429_beyond_the_bucket() {
    let sb = start(throttled(1.0, 3.0, RetryAfterStyle::Seconds(1))).await;
    let c = client();
    let id = ids_for(Answer::Approved, 1)[0].to_string();
    for expected in [200, 200, 200, 429] {
        let r = request(&c, &sb, &id)
            .header("MS-RequestId", "44444444-4444-4444-8444-444444444444")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), expected);
        if expected == 429 {
            assert_eq!(r.headers()["retry-after"], "1");
            assert_eq!(
                r.headers()["ms-requestid"],
                "44444444-4444-4444-8444-444444444444"
            );
            let g: GatewayError = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
            assert_eq!(g.status_code, 429);
            assert_eq!(g.message, "Rate limit is exceeded. Try again in 1 seconds.");
        }
    }
    let last = sb.journal().pop().unwrap();
    assert_eq!((last.status, last.outcome.as_str()), (429, "throttled"));
    assert_eq!(
        last.retry_after_until,
        Some(last.at + Duration::from_secs(1))
    );
    assert!(
        sb.journal()[..3]
            .iter()
            .all(|e| e.retry_after_until.is_none())
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(statuses(&sb, 1).await, [200]);
}

#[tokio::test]
async fn throttle_can_send_an_http_date_or_nothing() {
    let sb = start(throttled(0.5, 1.0, RetryAfterStyle::HttpDate(2))).await;
    let c = client();
    let id = ids_for(Answer::Approved, 1)[0].to_string();
    request(&c, &sb, &id).send().await.unwrap();
    let r = request(&c, &sb, &id).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let date = httpdate::parse_http_date(r.headers()["retry-after"].to_str().unwrap()).unwrap();
    let ahead = date.duration_since(std::time::SystemTime::now()).unwrap();
    assert!(
        ahead > Duration::from_millis(1500) && ahead <= Duration::from_secs(3),
        "{ahead:?}"
    );
    let e = sb.journal().pop().unwrap();
    let window = e.retry_after_until.unwrap() - e.at;
    assert!(
        window >= Duration::from_secs(2) && window <= Duration::from_secs(3),
        "{window:?}"
    );

    let sb = start(throttled(0.5, 1.0, RetryAfterStyle::Missing)).await;
    assert_eq!(statuses(&sb, 2).await, [200, 429]);
    let r = request(&c, &sb, &id).send().await.unwrap();
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(sb.journal().pop().unwrap().retry_after_until, None);
}

#[tokio::test]
async fn throttled_requests_skip_the_latency() {
    let mut cfg = throttled(0.1, 1.0, RetryAfterStyle::Seconds(1));
    cfg.latency_min = Duration::from_millis(400);
    cfg.latency_max = Duration::from_millis(400);
    let sb = start(cfg).await;
    statuses(&sb, 1).await;
    let t0 = std::time::Instant::now();
    assert_eq!(statuses(&sb, 1).await, [429]);
    assert!(t0.elapsed() < Duration::from_millis(300));
}

/// What one attempt looked like from the client.
#[derive(Debug, PartialEq)]
enum Seen {
    Status(u16),
    /// `send()` failed: no response at all.
    SendFailed,
    /// Headers arrived, reading the body failed.
    BodyFailed(u16),
}

async fn attempt(c: &reqwest::Client, sb: &Sandbox, id: &uuid::Uuid) -> (Seen, Vec<u8>) {
    match request(c, sb, &id.to_string()).send().await {
        Err(e) => {
            assert!(!e.is_timeout() && !e.is_status(), "{e:?}");
            (Seen::SendFailed, Vec::new())
        }
        Ok(r) => {
            let status = r.status().as_u16();
            match r.bytes().await {
                Ok(body) => (Seen::Status(status), body.to_vec()),
                Err(_) => (Seen::BodyFailed(status), Vec::new()),
            }
        }
    }
}

#[tokio::test]
async fn flaky_tenants_fail_then_recover() {
    const SEED: u64 = 3;
    let sb = start(SandboxConfig {
        flaky: true,
        seed: SEED,
        ..SandboxConfig::default()
    })
    .await;
    let c = client();
    let flaky = approved_where(40, |id| !tenant_faults(SEED, id).flaky.is_empty());
    let mut kinds = std::collections::HashSet::new();
    for id in &flaky {
        for fault in tenant_faults(SEED, id).flaky {
            kinds.insert(fault);
            let expected = match fault {
                Fault::Unavailable => Seen::Status(503),
                Fault::InternalError => Seen::Status(500),
                Fault::Reset => Seen::SendFailed,
                Fault::Truncated => Seen::BodyFailed(200),
            };
            assert_eq!(attempt(&c, &sb, id).await.0, expected, "{id}");
        }
        for _ in 0..2 {
            let (seen, body) = attempt(&c, &sb, id).await;
            assert_eq!(seen, Seen::Status(200), "{id} did not recover");
            serde_json::from_slice::<WireQualifications>(&body).unwrap();
        }
    }
    assert_eq!(kinds.len(), 4, "every fault kind exercised: {kinds:?}");

    // Tenants that are not flaky never fail.
    for id in approved_where(20, |id| tenant_faults(SEED, id).flaky.is_empty()) {
        assert_eq!(attempt(&c, &sb, &id).await.0, Seen::Status(200));
    }
    let outcomes: std::collections::HashSet<String> =
        sb.journal().into_iter().map(|e| e.outcome).collect();
    for o in [
        "unavailable",
        "internal-error",
        "reset",
        "truncated",
        "approved",
    ] {
        assert!(outcomes.contains(o), "{o} missing from {outcomes:?}");
    }
}

#[tokio::test]
async fn drop_every_resets_every_nth_request() {
    let sb = start(SandboxConfig {
        drop_every: Some(3),
        ..SandboxConfig::default()
    })
    .await;
    let c = client();
    let ids = ids_for(Answer::Approved, 9);
    let mut seen = Vec::new();
    for id in &ids {
        seen.push(attempt(&c, &sb, id).await.0);
    }
    for (i, s) in seen.iter().enumerate() {
        let expected = if (i + 1) % 3 == 0 {
            Seen::SendFailed
        } else {
            Seen::Status(200)
        };
        assert_eq!(*s, expected, "request {}", i + 1);
    }
    let j = sb.journal();
    assert_eq!(j.len(), 9, "reqwest must not have retried behind our back");
    assert!(
        j.iter()
            .skip(2)
            .step_by(3)
            .all(|e| e.status == 0 && e.outcome == "reset")
    );
}

/// Send one raw HTTP/1.1 request and read until the server closes.
async fn raw_exchange(sb: &Sandbox, id: &uuid::Uuid) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut s = tokio::net::TcpStream::connect(sb.addr()).await.unwrap();
    let req = format!(
        "GET /v1/customers/{id}/qualifications HTTP/1.1\r\nHost: x\r\n\
         Authorization: Bearer {STATIC_TOKEN}\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => return (got, None),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Some(e.kind())),
        }
    }
}

#[tokio::test]
async fn a_reset_sends_no_bytes_and_a_tcp_reset() {
    let sb = start(SandboxConfig {
        drop_every: Some(1),
        ..SandboxConfig::default()
    })
    .await;
    let (got, err) = raw_exchange(&sb, &ids_for(Answer::Approved, 1)[0]).await;
    assert!(got.is_empty(), "{}", String::from_utf8_lossy(&got));
    assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
}

#[tokio::test]
async fn a_truncated_body_is_shorter_than_its_content_length() {
    const SEED: u64 = 5;
    let sb = start(SandboxConfig {
        malformed: true,
        seed: SEED,
        ..SandboxConfig::default()
    })
    .await;
    let id = approved_where(1, |id| {
        tenant_faults(SEED, id).malformed == Some(Malformation::TruncatedForGood)
    })[0];
    let (got, _) = raw_exchange(&sb, &id).await;
    let text = String::from_utf8(got).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").expect("headers arrived");
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let announced: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert!(
        !body.is_empty() && body.len() < announced,
        "{} of {announced}",
        body.len()
    );
}

#[tokio::test]
async fn malformed_tenants_always_get_a_broken_answer() {
    const SEED: u64 = 9;
    let sb = start(SandboxConfig {
        malformed: true,
        seed: SEED,
        ..SandboxConfig::default()
    })
    .await;
    let c = client();
    for kind in Malformation::ALL {
        let id = approved_where(1, |id| tenant_faults(SEED, id).malformed == Some(kind))[0];
        for _ in 0..2 {
            let (seen, body) = attempt(&c, &sb, &id).await;
            match kind {
                Malformation::TruncatedForGood => assert_eq!(seen, Seen::BodyFailed(200)),
                _ => assert_eq!(seen, Seen::Status(200), "{kind:?}"),
            }
            match kind {
                Malformation::TruncatedJson => {
                    assert!(serde_json::from_slice::<Value>(&body).unwrap_err().is_eof());
                }
                Malformation::Html => assert!(body.starts_with(b"<!DOCTYPE html>")),
                Malformation::EmptyBody => assert!(body.is_empty()),
                Malformation::WrongShape => {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    assert!(v.is_object() && v.get("qualifications").is_none());
                }
                Malformation::TruncatedForGood => {}
            }
        }
    }
    // The other tenants answer normally.
    let fine = approved_where(10, |id| tenant_faults(SEED, id).malformed.is_none());
    for id in fine {
        assert_eq!(attempt(&c, &sb, &id).await.0, Seen::Status(200));
    }
}

#[tokio::test]
async fn slow_tenants_are_slow_only_the_first_time() {
    const SEED: u64 = 11;
    let sb = start(SandboxConfig {
        slow: true,
        slow_delay: Duration::from_millis(600),
        seed: SEED,
        ..SandboxConfig::default()
    })
    .await;
    let c = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(250))
        .build()
        .unwrap();
    let slow = approved_where(1, |id| tenant_faults(SEED, id).slow)[0].to_string();
    let e = request(&c, &sb, &slow).send().await.unwrap_err();
    assert!(e.is_timeout(), "{e:?}");
    let r = request(&c, &sb, &slow).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let quick = approved_where(1, |id| !tenant_faults(SEED, id).slow)[0].to_string();
    assert_eq!(
        request(&c, &sb, &quick).send().await.unwrap().status(),
        StatusCode::OK
    );
    // The abandoned attempt is journaled too.
    assert_eq!(sb.journal().len(), 3);
}
