//! What is sent to Partner Center and what each of its answers becomes:
//! every answer the API can give turned into the right rows, the summary
//! agreeing with the rows, and the headers every request carries.

mod common;

use std::collections::{BTreeSet, HashMap};

use common::{Env, TestSandbox, id_csv};
use predicates::prelude::*;
use qualrecon::sandbox::{Answer, SandboxConfig, answer_for, ids_for};
use uuid::Uuid;

const ALL_ANSWERS: [Answer; 14] = Answer::ALL;

fn rows_of<'a>(rows: &'a [HashMap<String, String>], id: &Uuid) -> Vec<&'a HashMap<String, String>> {
    rows.iter()
        .filter(|r| r["customer_tenant_id"] == id.to_string())
        .collect()
}

fn is_rfc3339_utc(s: &str) -> bool {
    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with('Z')
}

/// Check one customer's rows against what the sandbox answers for it.
fn assert_answer(rows: &[HashMap<String, String>], id: &Uuid) {
    let answer = answer_for(id);
    let mine = rows_of(rows, id);
    assert!(
        !mine.is_empty(),
        "{id} ({answer:?}) missing from the report"
    );
    let first = mine[0];
    let status = first["lookup_status"].as_str();
    match answer {
        Answer::Approved | Answer::Bom => {
            assert_eq!(mine.len(), 1);
            assert_eq!(status, "ok");
            assert_eq!(first["qualification"], "Education");
            assert_eq!(first["vetting_status"], "Approved");
            assert_eq!(first["days_in_review"], "");
        }
        Answer::InReview | Answer::BareArray => {
            assert_eq!(status, "ok");
            assert_eq!(first["vetting_status"], "InReview", "{answer:?}");
            assert!(is_rfc3339_utc(&first["vetting_created_date"]), "{first:?}");
            let days: i64 = first["days_in_review"]
                .parse()
                .expect("days_in_review is a number");
            assert!(days >= 0);
        }
        Answer::Denied | Answer::CreateDateSpelling => {
            assert_eq!(status, "ok");
            assert_eq!(first["vetting_status"], "Denied", "{answer:?}");
            assert!(!first["vetting_reason"].is_empty());
            assert!(is_rfc3339_utc(&first["vetting_created_date"]), "{first:?}");
            assert_eq!(first["days_in_review"], "");
        }
        Answer::NoQualifications => {
            assert_eq!(mine.len(), 1);
            assert_eq!(status, "ok");
            assert_eq!(first["qualification"], "");
            assert_eq!(first["error"], "");
        }
        Answer::Several => {
            assert!(mine.len() >= 2, "{mine:?}");
            assert!(mine.iter().all(|r| r["lookup_status"] == "ok"));
            assert!(mine.iter().any(
                |r| r["qualification"] == "StateOwnedEntity" && r["vetting_status"].is_empty()
            ));
        }
        Answer::StateOwnedOnly => {
            assert_eq!(mine.len(), 1);
            assert_eq!(status, "ok");
            assert_eq!(first["qualification"], "StateOwnedEntity");
            assert_eq!(first["vetting_status"], "");
        }
        Answer::UnknownStatus => {
            assert_eq!(status, "ok");
            let s = first["vetting_status"].as_str();
            assert!(!["", "Approved", "InReview", "Denied"].contains(&s), "{s}");
        }
        Answer::NotFound => {
            assert_eq!(mine.len(), 1);
            assert_eq!(status, "not_found");
            assert!(
                first["error"].contains("404") && first["error"].contains("60003"),
                "{first:?}"
            );
        }
        Answer::Forbidden => {
            assert_eq!(status, "forbidden");
            assert!(
                first["error"].contains("403") && first["error"].contains("20002"),
                "{first:?}"
            );
        }
        Answer::BrokenJson | Answer::Html => {
            assert_eq!(mine.len(), 1);
            assert_eq!(status, "failed");
            assert!(first["error"].contains("not JSON"), "{first:?}");
            assert_eq!(first["qualification"], "");
        }
    }
}

/// Every count in the summary agrees with the rows.
fn assert_summary_matches_rows(summary: &serde_json::Value, rows: &[HashMap<String, String>]) {
    let mut status_of: HashMap<&str, &str> = HashMap::new();
    let mut invalid = 0;
    for r in rows {
        if r["lookup_status"] == "invalid_input" {
            invalid += 1;
        } else {
            status_of.insert(&r["customer_tenant_id"], &r["lookup_status"]);
        }
    }
    let ok = status_of.values().filter(|s| **s == "ok").count() as u64;
    let l = &summary["lookups"];
    assert_eq!(l["ok"], ok);
    assert_eq!(l["failed_lookups"], status_of.len() as u64 - ok);
    let by_status: u64 = l["by_status"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(by_status, status_of.len() as u64 - ok);
    assert_eq!(summary["input"]["invalid_input_rows"], invalid);
    let without = rows
        .iter()
        .filter(|r| r["lookup_status"] == "ok" && r["qualification"].is_empty())
        .count();
    assert_eq!(summary["customers_without_qualification"], without as u64);
    let denied = rows
        .iter()
        .filter(|r| r["lookup_status"] == "ok" && r["vetting_status"] == "Denied")
        .count() as u64;
    let reasons: u64 = summary["denial_reasons"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(reasons, denied);
    let approved = rows
        .iter()
        .filter(|r| r["qualification"] == "Education" && r["vetting_status"] == "Approved")
        .count() as u64;
    if approved > 0 {
        assert_eq!(summary["qualifications"]["Education"]["Approved"], approved);
    }
}

#[test]
fn every_api_answer_becomes_the_right_rows() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids: Vec<Uuid> = ALL_ANSWERS.iter().flat_map(|a| ids_for(*a, 2)).collect();
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[]).assert().code(3);
    let rows = env.rows();
    for id in &ids {
        assert_answer(&rows, id);
    }
    let summary = env.summary();
    assert_eq!(summary["run"]["status"], "complete");
    assert_eq!(summary["input"]["customers"], ids.len() as u64);
    assert_summary_matches_rows(&summary, &rows);
    // One request per customer: nothing here is worth a retry.
    assert_eq!(summary["lookups"]["requests"], ids.len() as u64);
    assert_eq!(sb.customer_requests().len(), ids.len());
}

#[test]
fn requests_carry_the_partner_center_headers() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = ids_for(Answer::Approved, 5);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[]).assert().success();
    let journal = sb.customer_requests();
    assert_eq!(journal.len(), 5);
    let mut request_ids = BTreeSet::new();
    for e in &journal {
        assert_eq!(e.accept.as_deref(), Some("application/json"));
        assert!(e.application.as_deref().unwrap().starts_with("qualrecon/"));
        assert!(Uuid::parse_str(e.correlation_id.as_deref().unwrap()).is_ok());
        request_ids.insert(Uuid::parse_str(e.request_id.as_deref().unwrap()).unwrap());
        assert_eq!(
            e.path,
            format!("/v1/customers/{}/qualifications", e.customer.unwrap())
        );
    }
    assert_eq!(request_ids.len(), 5, "a new MS-RequestId per customer");
}

#[test]
fn the_sandbox_flag_runs_the_sample_end_to_end() {
    let env = Env::new();
    let sample = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/tenants.csv");
    env.sandbox_run(&sample, &["--rate", "50"])
        .assert()
        .code(3)
        .stdout(predicate::str::contains("qualifications.csv"))
        .stdout(predicate::str::contains("summary.json"));
    let rows = env.rows();
    let mut seen = BTreeSet::new();
    for r in &rows {
        if let Ok(id) = Uuid::parse_str(&r["customer_tenant_id"]) {
            assert_answer(&rows, &id);
            seen.insert(format!("{:?}", answer_for(&id)));
        }
    }
    for a in ALL_ANSWERS {
        assert!(
            seen.contains(&format!("{a:?}")),
            "samples/tenants.csv has no {a:?} id"
        );
    }
    let summary = env.summary();
    assert!(summary["input"]["duplicate_rows"].as_u64().unwrap() >= 1);
    assert!(summary["input"]["blank_rows"].as_u64().unwrap() >= 1);
    assert!(summary["input"]["invalid_input_rows"].as_u64().unwrap() >= 1);
    let input = &summary["input"];
    let parts: u64 = [
        "customers",
        "duplicate_rows",
        "invalid_input_rows",
        "blank_rows",
    ]
    .iter()
    .map(|k| input[*k].as_u64().unwrap())
    .sum();
    assert_eq!(input["rows"].as_u64().unwrap(), parts);
    assert_summary_matches_rows(&summary, &rows);
}
