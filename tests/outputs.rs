//! The report files a run writes: `--format` (csv, json, jsonl, xlsx),
//! `--previous` (`changes.csv`), and every file even for an input too wide
//! for Excel.

mod common;

use common::{Env, SIGN_IN, TestSandbox, id_csv, oauth_run, read_csv, summary_of};
use predicates::prelude::*;
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};
use uuid::Uuid;

fn ids() -> Vec<Uuid> {
    [
        Answer::Approved,
        Answer::InReview,
        Answer::Denied,
        Answer::Several,
        Answer::NotFound,
    ]
    .iter()
    .flat_map(|a| ids_for(*a, 2))
    .collect()
}

#[test]
fn format_selects_the_files_and_summary_json_is_always_written() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids()));

    env.run_against(&sb, &input, &[]).assert().code(3);
    for name in ["qualifications.csv", "qualifications.xlsx", "summary.json"] {
        assert!(env.out().join(name).is_file(), "{name} missing");
    }
    let xlsx = std::fs::read(env.out().join("qualifications.xlsx")).unwrap();
    assert!(xlsx.starts_with(b"PK\x03\x04"));
    assert!(!env.out().join("changes.csv").exists());

    let csv_only = env.path("csv-only");
    env.run_against(&sb, &input, &["--format", "CSV", "--out"])
        .arg(&csv_only)
        .assert()
        .code(3);
    assert!(csv_only.join("qualifications.csv").is_file());
    assert!(csv_only.join("summary.json").is_file());
    assert!(!csv_only.join("qualifications.xlsx").exists());

    let xlsx_only = env.path("xlsx-only");
    env.run_against(&sb, &input, &["--format", "json,xlsx", "--out"])
        .arg(&xlsx_only)
        .assert()
        .code(3);
    assert!(xlsx_only.join("qualifications.xlsx").is_file());
    assert!(!xlsx_only.join("qualifications.csv").exists());

    let before = sb.customer_requests().len();
    for bad in ["pdf", "csv,pdf", ""] {
        env.run_against(&sb, &input, &["--format", bad, "--out"])
            .arg(env.path("never"))
            .assert()
            .code(2)
            .stderr(predicate::str::contains("csv, json, xlsx"));
    }
    assert!(!env.path("never").exists());
    assert_eq!(sb.customer_requests().len(), before);
}

#[test]
fn previous_run_gives_changes_csv() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids()));
    env.run_against(&sb, &input, &["--format", "csv"])
        .assert()
        .code(3);
    let first_id = env.summary()["run"]["id"].as_str().unwrap().to_string();

    // Same answers again: a header and nothing else.
    let second = env.path("second");
    env.run_against(&sb, &input, &["--csv-bom", "--previous"])
        .arg(env.out())
        .arg("--out")
        .arg(&second)
        .assert()
        .code(3)
        .stdout(predicate::str::contains("changes since").and(predicate::str::contains("none")));
    let changes = std::fs::read(second.join("changes.csv")).unwrap();
    assert_eq!(
        changes,
        b"\xEF\xBB\xBFcustomer_tenant_id,qualification,change,previous_vetting_status,vetting_status,previous_vetting_reason,vetting_reason,previous_lookup_status,lookup_status,vetting_created_date\r\n"
    );
    let summary = summary_of(&second);
    assert_eq!(summary["changes"]["total"], 0);
    assert_eq!(summary["changes"]["previous_run"]["id"], first_id.as_str());
    assert_eq!(summary["changes"]["by_kind"]["status_changed"], 0);

    // A crafted earlier report (BOM, no summary.json) where one approved
    // customer was still in review.
    let approved = ids_for(Answer::Approved, 1)[0].to_string();
    let text = std::fs::read_to_string(second.join("qualifications.csv")).unwrap();
    let mut edited = String::new();
    for line in text.split_inclusive("\r\n") {
        if line.starts_with(&approved) {
            edited.push_str(&line.replacen(",Approved,", ",InReview,", 1));
        } else {
            edited.push_str(line);
        }
    }
    assert_ne!(edited, text);
    std::fs::create_dir(env.path("crafted")).unwrap();
    env.write("crafted/qualifications.csv", edited);
    let third = env.path("third");
    env.run_against(&sb, &input, &["--format", "xlsx", "--previous"])
        .arg(env.path("crafted"))
        .arg("--out")
        .arg(&third)
        .assert()
        .code(3);
    let rows = read_csv(&third.join("changes.csv"));
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(r["customer_tenant_id"], approved);
    assert_eq!(r["change"], "status_changed");
    assert_eq!(r["previous_vetting_status"], "InReview");
    assert_eq!(r["vetting_status"], "Approved");
    assert_eq!(r["qualification"], "Education");
    let summary = summary_of(&third);
    assert_eq!(summary["changes"]["by_kind"]["status_changed"], 1);
    assert_eq!(summary["changes"]["total"], 1);
    assert!(summary["changes"]["previous_run"]["id"].is_null());
}

/// A weekly job whose `--format` leaves the CSV out still compares with
/// last week (from its JSON lines), and an input column of the user's
/// called `reconciliation` is never taken for qualrecon's.
#[test]
fn previous_reads_json_lines_and_an_input_column_called_reconciliation_is_the_users() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let mut input = String::from("customer_tenant_id,reconciliation\n");
    for (i, id) in ids().iter().enumerate() {
        input.push_str(&format!("{id},{}\n", ["done", "todo"][i % 2]));
    }
    let input = env.write("in.csv", input);
    env.run_against(&sb, &input, &["--format", "csv,json,jsonl"])
        .assert()
        .code(3);

    // The same customers with an expectation column: no CSV to read, and
    // nothing changed but the new reconciliation, which an earlier report
    // without one does not count as a change.
    let mut expecting = String::from("customer_tenant_id,reconciliation,expected_qualification\n");
    for (i, id) in ids().iter().enumerate() {
        expecting.push_str(&format!("{id},{},Education\n", ["done", "todo"][i % 2]));
    }
    let expecting = env.write("expecting.csv", expecting);
    let reports = ["qualifications.csv", "qualifications.jsonl"];
    for (report, summary) in reports.iter().flat_map(|r| [(r, true), (r, false)]) {
        let previous = env.path(&format!("previous-{report}-{summary}"));
        std::fs::create_dir(&previous).unwrap();
        std::fs::copy(env.out().join(report), previous.join(report)).unwrap();
        if summary {
            let name = "summary.json";
            std::fs::copy(env.out().join(name), previous.join(name)).unwrap();
        }
        let next = env.path(&format!("next-{report}-{summary}"));
        env.run_against(&sb, &expecting, &["--format", "csv,json", "--previous"])
            .arg(&previous)
            .arg("--out")
            .arg(&next)
            .assert()
            .code(3);
        let rows = read_csv(&next.join("changes.csv"));
        assert!(
            rows.is_empty(),
            "{report}, summary.json: {summary}: {rows:?}"
        );
        let changes = &summary_of(&next)["changes"];
        assert_eq!(changes["total"], 0, "{changes}");
        assert_eq!(changes["by_kind"]["reconciliation_changed"], 0, "{changes}");
        let report = read_csv(&next.join("qualifications.csv"));
        assert!(
            report
                .iter()
                .all(|r| ["done", "todo"].contains(&r["input_reconciliation"].as_str()))
        );
    }
}

#[test]
fn a_missing_previous_report_fails_before_any_request() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids()));
    env.run_against(&sb, &input, &["--previous", "no-such-run"])
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains("no-such-run").and(predicate::str::contains("--previous")),
        );
    assert!(sb.customer_requests().is_empty());
    assert!(!env.out().join("summary.json").exists());
}

#[test]
fn jsonl_has_one_typed_object_per_csv_row() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let mut text = String::from("customer_tenant_id,customer_name\n");
    for (i, id) in ids().iter().enumerate() {
        text.push_str(&format!("{id},Name {i}\n"));
    }
    text.push_str("not-a-guid,=Typo\n");
    text.push_str(&format!("{},\n", ids_for(Answer::Approved, 3)[2]));
    let input = env.write("in.csv", text);
    env.run_against(&sb, &input, &["--format", "csv,jsonl"])
        .assert()
        .code(3);
    assert!(!env.out().join("qualifications.xlsx").exists());
    let csv_rows = env.rows();
    let headers = common::csv_header(&env.out().join("qualifications.csv"));
    let jsonl = std::fs::read_to_string(env.out().join("qualifications.jsonl")).unwrap();
    let objects: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(objects.len(), csv_rows.len());
    let mut saw_days = false;
    for (o, r) in objects.iter().zip(&csv_rows) {
        let o = o.as_object().unwrap();
        let mut keys: Vec<&String> = o.keys().collect();
        let mut want: Vec<&String> = headers.iter().collect();
        keys.sort();
        want.sort();
        assert_eq!(keys, want);
        assert_eq!(
            o["input_line"].as_u64().unwrap().to_string(),
            r["input_line"]
        );
        match r["days_in_review"].as_str() {
            "" => assert!(o["days_in_review"].is_null()),
            days => {
                saw_days = true;
                assert_eq!(o["days_in_review"].as_i64().unwrap().to_string(), days)
            }
        }
        for key in [
            "vetting_created_date",
            "error",
            "qualification",
            "customer_name",
        ] {
            match r[key].as_str() {
                "" => assert!(o[key].is_null(), "{key}: {o:?}"),
                // The CSV's `'` prefix is a spreadsheet defence, not data.
                text => assert_eq!(
                    o[key].as_str().unwrap(),
                    text.strip_prefix("'").unwrap_or(text)
                ),
            }
        }
        if let Some(date) = o["vetting_created_date"].as_str() {
            assert!(chrono::DateTime::parse_from_rfc3339(date).is_ok(), "{date}");
        }
    }
    assert!(saw_days, "no in-review row in the sample");
    assert_eq!(
        objects.last().unwrap()["customer_name"],
        serde_json::Value::Null
    );
    assert!(
        objects
            .iter()
            .any(|o| o["customer_name"] == "=Typo" && o["lookup_status"] == "invalid_input")
    );
}

#[test]
fn an_input_wider_than_excel_gives_every_column_in_the_csv_and_a_trimmed_xlsx() {
    const EXTRA: usize = 20_000;
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = ids_for(Answer::Approved, 2);
    let mut text = String::from("customer_tenant_id");
    for c in 1..=EXTRA {
        text.push_str(&format!(",c{c}"));
    }
    text.push('\n');
    for id in &ids {
        text.push_str(&id.to_string());
        for c in 1..=EXTRA {
            text.push_str(&format!(",v{c}"));
        }
        text.push('\n');
    }
    let input = env.write("wide.csv", text);

    // Said before any request: a run that fails to sign in says it too.
    oauth_run(&env, &sb, &input, "wrong-secret", &SIGN_IN)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("left out of qualifications.xlsx"));
    assert!(sb.customer_requests().is_empty());

    let out = env.run_against(&sb, &input, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("the last 3625 input columns"), "{stderr}");

    let rows = env.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].len(), 9 + EXTRA);
    assert_eq!(rows[1][&format!("c{EXTRA}")], format!("v{EXTRA}"));
    assert_eq!(env.summary()["run"]["status"], "complete");

    let strings = common::xlsx::Workbook::open(&env.out().join("qualifications.xlsx")).texts();
    // 16,384 columns: the 9 fixed ones and the first 16,375 input columns.
    assert!(strings.contains(">c16375<") && strings.contains(">v16375<"));
    assert!(!strings.contains(">c16376<") && !strings.contains(">v16376<"));
    assert!(strings.contains("left out of this workbook"));
    assert!(strings.contains("the last 3625 input columns"));
}
