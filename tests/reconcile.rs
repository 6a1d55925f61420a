//! Reconciliation against the partner's own records: an input column
//! `Expected Qualification` (or `--expect-column`) gives every row a
//! `reconciliation` value, counted in `summary.json` and compared by
//! `--previous`.

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{Env, TestSandbox, csv_header, read_csv, summary_of};
use predicates::prelude::*;
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};

/// One input row per case: (answer, n-th id of that answer, expectation,
/// the reconciliation the rule gives).
const CASES: [(Answer, usize, &str, &str); 15] = [
    (Answer::Approved, 0, "Education", "match"),
    (Answer::Approved, 1, "  education ", "match"),
    (Answer::InReview, 0, "Education", "pending"),
    (Answer::Denied, 0, "EDUCATION", "not_approved"),
    (Answer::NoQualifications, 0, "None", "match"),
    (Answer::Approved, 2, "none", "unexpected"),
    (Answer::NoQualifications, 1, "Education", "not_approved"),
    (
        Answer::StateOwnedOnly,
        0,
        "StateOwnedEntity",
        "not_approved",
    ),
    (Answer::UnknownStatus, 0, "Education", "not_approved"),
    (Answer::Approved, 3, "Nonprofit", "not_approved"),
    (Answer::NotFound, 0, "Education", "unknown"),
    (Answer::Forbidden, 0, "", ""),
    (Answer::Approved, 4, "Educaton", "unknown_expectation"),
    (Answer::Denied, 1, "Gov", "unknown_expectation"),
    (Answer::Approved, 5, "", ""),
];

fn id_of(answer: Answer, n: usize) -> String {
    ids_for(answer, n + 1)[n].to_string()
}

/// The input: the cases, an invalid id with an expectation, and a
/// duplicate whose (different) expectation is ignored.
fn input(header: &str) -> String {
    let mut s = format!("Customer Name,customer_tenant_id,{header}\r\n");
    for (i, (answer, n, expect, _)) in CASES.iter().enumerate() {
        s.push_str(&format!("Name {i},{},{expect}\r\n", id_of(*answer, *n)));
    }
    s.push_str("Typo,not-a-guid,Education\r\n");
    s.push_str(&format!("Again,{},None\r\n", id_of(Answer::Approved, 0)));
    s
}

#[test]
fn an_expected_qualification_column_reconciles_every_customer_by_the_rule() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("crm.csv", input("Expected Qualification"));
    env.run_against(&sb, &input, &["--format", "csv,jsonl,xlsx"])
        .assert()
        .code(3)
        .stderr(
            predicate::str::contains("`Educaton`, `Gov`")
                .and(predicate::str::contains("unknown_expectation"))
                .and(predicate::str::contains("`Expected Qualification`")),
        )
        .stdout(predicate::str::contains("reconciliation"));

    let csv_path = env.out().join("qualifications.csv");
    let header = csv_header(&csv_path);
    let error_at = header.iter().position(|h| h == "error").unwrap();
    assert_eq!(header[error_at + 1], "reconciliation");
    // The expectation stays a carried-over column too.
    assert!(header.contains(&"Expected Qualification".to_string()));

    let rows = env.rows();
    let want: HashMap<String, &str> = CASES
        .iter()
        .map(|(a, n, _, r)| (id_of(*a, *n), *r))
        .collect();
    let mut per_customer: BTreeMap<String, String> = BTreeMap::new();
    for r in &rows {
        let id = &r["customer_tenant_id"];
        if r["lookup_status"] == "invalid_input" {
            assert_eq!(r["reconciliation"], "", "{r:?}");
            continue;
        }
        assert_eq!(r["reconciliation"], want[id], "{id}: {r:?}");
        // Every row of a customer carries the same value.
        let seen = per_customer
            .entry(id.clone())
            .or_insert(r["reconciliation"].clone());
        assert_eq!(seen, &r["reconciliation"]);
    }
    assert_eq!(per_customer.len(), CASES.len());

    // summary.json counts customers per non-empty value.
    let mut counted: BTreeMap<String, u64> = [
        "match",
        "not_approved",
        "pending",
        "unexpected",
        "unknown",
        "unknown_expectation",
    ]
    .iter()
    .map(|k| (k.to_string(), 0))
    .collect();
    for value in per_customer.values().filter(|v| !v.is_empty()) {
        *counted.get_mut(value).unwrap() += 1;
    }
    let summary = env.summary();
    let reported: BTreeMap<String, u64> =
        serde_json::from_value(summary["reconciliation"].clone()).unwrap();
    assert_eq!(reported, counted);
    assert_eq!(reported["match"], 3);
    assert_eq!(reported["not_approved"], 5);
    assert_eq!(reported["unknown_expectation"], 2);

    // The JSON rows carry it too.
    let jsonl = std::fs::read_to_string(env.out().join("qualifications.jsonl")).unwrap();
    for (line, r) in jsonl.lines().zip(&rows) {
        let o: serde_json::Value = serde_json::from_str(line).unwrap();
        match r["reconciliation"].as_str() {
            "" => assert!(o["reconciliation"].is_null()),
            v => assert_eq!(o["reconciliation"], v),
        }
    }
}

#[test]
fn expect_column_names_any_column_and_a_missing_one_is_a_usage_error() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("crm.csv", input("CRM status"));
    for bad in ["Nope", "customer_tenant_id"] {
        env.run_against(&sb, &input, &["--expect-column", bad])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("--expect-column"));
    }
    assert!(sb.customer_requests().is_empty());
    assert!(!env.out().exists());

    // Without it the column is just carried over: no reconciliation.
    env.run_against(&sb, &input, &[]).assert().code(3);
    assert!(!csv_header(&env.out().join("qualifications.csv")).contains(&"reconciliation".into()));
    assert!(env.summary().get("reconciliation").is_none());

    // Named by header (any case and punctuation) or by number.
    for name in ["crm_status", "3"] {
        env.run_against(&sb, &input, &["--expect-column", name])
            .assert()
            .code(3);
        let rows = env.rows();
        let first = rows
            .iter()
            .find(|r| r["customer_tenant_id"] == id_of(Answer::InReview, 0))
            .unwrap();
        assert_eq!(first["reconciliation"], "pending", "{name}");
        assert_eq!(env.summary()["reconciliation"]["pending"], 1, "{name}");
    }
}

#[test]
fn previous_reports_a_changed_reconciliation_and_nothing_for_an_older_report() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let crm = env.write("crm.csv", input("expected_qualification"));
    // An earlier run that knew nothing of expectations (same customers).
    let plain = env.write("plain.csv", input("notes"));
    let first = env.path("first");
    env.run_against(&sb, &plain, &["--format", "csv", "--out"])
        .arg(&first)
        .assert()
        .code(3);

    let second = env.path("second");
    env.run_against(&sb, &crm, &["--format", "csv", "--previous"])
        .arg(&first)
        .arg("--out")
        .arg(&second)
        .assert()
        .code(3);
    let changes = second.join("changes.csv");
    let header = csv_header(&changes);
    assert_eq!(
        &header[header.len() - 2..],
        ["previous_reconciliation", "reconciliation"]
    );
    assert!(read_csv(&changes).is_empty(), "{:?}", read_csv(&changes));
    let summary = summary_of(&second);
    assert_eq!(summary["changes"]["by_kind"]["reconciliation_changed"], 0);

    // The same run again, after the CRM changed its mind about one customer.
    let edited =
        std::fs::read_to_string(&crm)
            .unwrap()
            .replacen(",  education \r\n", ",None\r\n", 1);
    let crm2 = env.write("crm2.csv", edited);
    let third = env.path("third");
    env.run_against(&sb, &crm2, &["--format", "csv", "--previous"])
        .arg(&second)
        .arg("--out")
        .arg(&third)
        .assert()
        .code(3);
    let rows = read_csv(&third.join("changes.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["customer_tenant_id"], id_of(Answer::Approved, 1));
    assert_eq!(rows[0]["change"], "reconciliation_changed");
    assert_eq!(rows[0]["previous_reconciliation"], "match");
    assert_eq!(rows[0]["reconciliation"], "unexpected");
    let summary = summary_of(&third);
    assert_eq!(summary["changes"]["by_kind"]["reconciliation_changed"], 1);
}
