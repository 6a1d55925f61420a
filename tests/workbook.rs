//! The workbook read back as a user opens it: sheets in order, the Summary
//! with its chart and the counts of summary.json, the Needs attention list
//! against the CSV, typed cells on Customers, and Changes with --previous.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use common::xlsx::Workbook;
use common::{Env, summary_of};

/// Expectations cycled over the sample's rows: every kind of mismatch.
const EXPECTATIONS: [&str; 6] = [
    "Education",
    "None",
    "",
    "Educaton",
    "Nonprofit",
    "education",
];

/// `samples/tenants.csv` with an `Expected Qualification` column.
fn sample_with_expectations(env: &Env) -> PathBuf {
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/tenants.csv");
    let text = std::fs::read_to_string(sample).unwrap();
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            out.push('\n');
        } else if i == 0 {
            out.push_str(&format!("{line},Expected Qualification\n"));
        } else {
            out.push_str(&format!(
                "{line},{}\n",
                EXPECTATIONS[i % EXPECTATIONS.len()]
            ));
        }
    }
    env.write("crm.csv", out)
}

fn sandbox_run(env: &Env, input: &Path, out: &Path, extra: &[&str]) {
    env.cmd()
        .args(["run", "--sandbox", "--rate", "100", "--quiet", "--input"])
        .arg(input)
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
        .code(3);
}

/// Label (column A) → value (column B) of the Summary sheet, first
/// occurrence of each label.
fn summary_values(rows: &[Vec<String>]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    for r in rows.iter().filter(|r| r.len() > 1) {
        m.entry(r[0].clone()).or_insert_with(|| r[1].clone());
    }
    m
}

/// The rows of the Summary table whose header row starts with `first`,
/// up to the first empty row.
fn summary_table(rows: &[Vec<String>], first: &str) -> Vec<Vec<String>> {
    let start = rows
        .iter()
        .position(|r| r.first().is_some_and(|c| c == first))
        .unwrap_or_else(|| panic!("no table headed {first}"));
    rows[start..]
        .iter()
        .take_while(|r| r.first().is_some_and(|c| !c.is_empty()))
        .cloned()
        .collect()
}

#[test]
fn the_sample_workbook_opens_on_a_summary_with_a_chart_and_summary_json_counts() {
    let env = Env::new();
    let sample = Path::new(env!("CARGO_MANIFEST_DIR")).join("samples/tenants.csv");
    sandbox_run(&env, &sample, &env.out(), &[]);
    let wb = Workbook::open(&env.out().join("qualifications.xlsx"));
    assert_eq!(
        wb.sheet_names(),
        ["Summary", "Needs attention", "Customers"]
    );
    assert!(wb.has_part("xl/charts/chart1.xml"));
    assert!(
        wb.part("xl/charts/chart1.xml")
            .contains("<c:barDir val=\"col\"/>")
    );
    // The chart is on the Summary sheet.
    assert!(
        wb.part("xl/worksheets/_rels/sheet1.xml.rels")
            .contains("drawing")
    );

    let summary = summary_of(&env.out());
    let rows = wb.rows("Summary");
    let values = summary_values(&rows);
    for (label, key) in [
        (
            "customers (distinct valid ids)",
            &summary["input"]["customers"],
        ),
        ("looked up ok", &summary["lookups"]["ok"]),
        ("failed lookups", &summary["lookups"]["failed_lookups"]),
        (
            "invalid input rows",
            &summary["input"]["invalid_input_rows"],
        ),
        ("duplicate rows", &summary["input"]["duplicate_rows"]),
        (
            "customers without qualification",
            &summary["customers_without_qualification"],
        ),
        ("in-review entries", &summary["in_review"]["count"]),
        (
            "in review longer than 30 days",
            &summary["in_review"]["stale"],
        ),
    ] {
        assert_eq!(values[label], key.to_string(), "{label}");
    }
    assert_eq!(values["status"], summary["run"]["status"].as_str().unwrap());

    // Customers per qualification × status, exactly summary.json's.
    let table = summary_table(&rows, "qualification");
    let header = &table[0];
    let mut seen = 0;
    for row in &table[1..] {
        let counts = &summary["qualifications"][&row[0]];
        for (col, status) in header.iter().enumerate().skip(1) {
            let want = match status.as_str() {
                "Approved" | "InReview" | "Denied" => &counts[status],
                "(no status)" => &counts["other"][""],
                other => &counts["other"][other],
            };
            let want = want.as_u64().unwrap_or(0);
            assert_eq!(row[col], want.to_string(), "{} {status}", row[0]);
            seen += 1;
        }
    }
    assert!(seen >= 4, "{table:?}");
    assert_eq!(
        table.len() - 1,
        summary["qualifications"].as_object().unwrap().len()
    );

    // Denial reasons, most frequent first, as counted in summary.json.
    let reasons = summary_table(&rows, "reason");
    let counted: BTreeMap<String, u64> =
        serde_json::from_value(summary["denial_reasons"].clone()).unwrap();
    assert_eq!(reasons.len() - 1, counted.len());
    for r in &reasons[1..] {
        assert_eq!(r[1], counted[&r[0]].to_string());
    }

    // The oldest open reviews, oldest first.
    let oldest = summary_table(&rows, "customer_tenant_id");
    assert_eq!(
        oldest.len() - 1,
        summary["in_review"]["count"].as_u64().unwrap().min(10) as usize
    );
    let days: Vec<u64> = oldest[1..].iter().map(|r| r[3].parse().unwrap()).collect();
    assert!(days.windows(2).all(|w| w[0] >= w[1]), "{days:?}");
}

#[test]
fn needs_attention_lists_the_csvs_denied_stale_failed_and_mismatched_customers() {
    let env = Env::new();
    let input = sample_with_expectations(&env);
    // A --stale-after between the youngest and the oldest open review, so
    // that some are stale and some are not, whatever the date today.
    let first = env.path("first");
    sandbox_run(&env, &input, &first, &["--format", "csv"]);
    let days: Vec<i64> = common::read_csv(&first.join("qualifications.csv"))
        .iter()
        .filter_map(|r| r["days_in_review"].parse().ok())
        .collect();
    let (youngest, oldest) = (*days.iter().min().unwrap(), *days.iter().max().unwrap());
    assert!(oldest - youngest > 10, "{days:?}");
    let stale_after = (youngest + oldest) / 2;
    sandbox_run(
        &env,
        &input,
        &env.out(),
        &["--stale-after", &stale_after.to_string()],
    );
    let csv = env.rows();
    let summary = summary_of(&env.out());
    assert_eq!(summary["in_review"]["stale_after_days"], stale_after);
    let started: DateTime<Utc> = summary["run"]["started_at"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let cutoff = started - chrono::Duration::days(stale_after);

    // What the CSV says needs attention: (issue, customer, qualification).
    let mut want: Vec<(String, String, String)> = Vec::new();
    let mut seen_customers = std::collections::HashSet::new();
    let mismatch = [
        "not_approved",
        "pending",
        "unexpected",
        "unknown_expectation",
    ];
    for r in &csv {
        let id = r["customer_tenant_id"].clone();
        let entry = |issue: &str| (issue.to_string(), id.clone(), r["qualification"].clone());
        let customer = |issue: &str| (issue.to_string(), id.clone(), String::new());
        match r["lookup_status"].as_str() {
            "invalid_input" => want.push(customer("invalid id")),
            "ok" => {}
            _ => want.push(customer("lookup failed")),
        }
        if seen_customers.insert(id.clone()) && mismatch.contains(&r["reconciliation"].as_str()) {
            want.push(customer("CRM disagrees"));
        }
        if r["vetting_status"] == "Denied" {
            want.push(entry("denied"));
        }
        if r["vetting_status"] == "InReview"
            && r["vetting_created_date"].parse::<DateTime<Utc>>().unwrap() < cutoff
        {
            want.push(entry("in review too long"));
        }
    }
    let kinds: std::collections::BTreeSet<&str> = want.iter().map(|w| w.0.as_str()).collect();
    assert_eq!(
        kinds.len(),
        5,
        "the sample should show every kind: {kinds:?}"
    );
    // Some reviews are younger than that, some older.
    let in_review = csv
        .iter()
        .filter(|r| r["vetting_status"] == "InReview")
        .count();
    let stale = want.iter().filter(|w| w.0 == "in review too long").count();
    assert!(stale > 0 && stale < in_review, "{stale} of {in_review}");

    let wb = Workbook::open(&env.out().join("qualifications.xlsx"));
    let table = wb.table("Needs attention");
    let mut got: Vec<(String, String, String)> = table
        .iter()
        .map(|r| {
            (
                r["issue"].clone(),
                r["customer_tenant_id"].clone(),
                r["qualification"].clone(),
            )
        })
        .collect();
    // Sorted by urgency, then customer.
    let order: Vec<(u32, String)> = table
        .iter()
        .map(|r| {
            (
                r["priority"].parse().unwrap(),
                r["customer_tenant_id"].clone(),
            )
        })
        .collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    // Every action says what to do; the input's own columns come along.
    for r in &table {
        let action = &r["action"];
        let hint = match r["issue"].as_str() {
            "denied" => "resubmit the verification or stop offering education pricing",
            "in review too long" => "open a support request with Microsoft; in review",
            "lookup failed" => "run again",
            "CRM disagrees" => "CRM says",
            "invalid id" => "fix the customer id",
            other => panic!("unexpected issue {other}"),
        };
        assert!(action.contains(hint), "{r:?}");
        assert!(!r["customer_name"].is_empty(), "{r:?}");
    }
    got.sort();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn customers_has_typed_cells_and_reconciliation_and_previous_adds_changes() {
    let env = Env::new();
    let input = sample_with_expectations(&env);
    let first = env.path("first");
    sandbox_run(&env, &input, &first, &[]);
    sandbox_run(
        &env,
        &input,
        &env.out(),
        &["--previous", first.to_str().unwrap()],
    );
    let wb = Workbook::open(&env.out().join("qualifications.xlsx"));
    assert_eq!(
        wb.sheet_names(),
        ["Summary", "Needs attention", "Customers", "Changes"]
    );
    let csv = env.rows();
    let cells = wb.cells("Customers");
    let header: Vec<&str> = (0..)
        .map_while(|c| cells.get(&(0, c)).map(|x| x.text.as_str()))
        .collect();
    let csv_header = common::csv_header(&env.out().join("qualifications.csv"));
    assert_eq!(header, csv_header);
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap() as u16;
    assert_eq!(wb.table("Customers").len(), csv.len());

    let (date, days, line, status, rec) = (
        col("vetting_created_date"),
        col("days_in_review"),
        col("input_line"),
        col("vetting_status"),
        col("reconciliation"),
    );
    let mut dates = 0;
    for (i, r) in csv.iter().enumerate() {
        let row = i as u32 + 1;
        let cell = |c: u16| cells.get(&(row, c));
        if !r["vetting_created_date"].is_empty() {
            // A real date: a number with a date-time format.
            let c = cell(date).unwrap();
            assert_eq!(c.kind, None, "{c:?}");
            assert_eq!(wb.number_format(c.style.unwrap()), "yyyy-mm-dd hh:mm:ss");
            let serial: f64 = c.text.parse().unwrap();
            let at: DateTime<Utc> = r["vetting_created_date"].parse().unwrap();
            let want = (at.timestamp() as f64) / 86_400.0 + 25_569.0;
            assert!((serial - want).abs() < 1e-4, "{serial} vs {want}");
            dates += 1;
        }
        assert_eq!(cell(line).unwrap().kind, None);
        assert_eq!(cell(line).unwrap().text, r["input_line"]);
        if !r["days_in_review"].is_empty() {
            assert_eq!(cell(days).unwrap().kind, None);
            assert_eq!(cell(days).unwrap().text, r["days_in_review"]);
        }
        assert_eq!(
            cell(rec).map_or("", |c| c.text.as_str()),
            r["reconciliation"]
        );
        if ["Approved", "InReview", "Denied"].contains(&r["vetting_status"].as_str()) {
            assert!(
                cell(status).unwrap().style.is_some(),
                "status not coloured: {r:?}"
            );
        }
    }
    assert!(dates > 3);
    // The header row is frozen and filtered.
    let sheet = wb.part("xl/worksheets/sheet3.xml");
    assert!(sheet.contains("<pane ySplit=\"1\""));
    assert!(sheet.contains("<autoFilter ref=\"A1:"));

    // Changes: the rows of changes.csv (none: same answers both times).
    let changes = common::read_csv(&env.out().join("changes.csv"));
    assert_eq!(wb.table("Changes").len(), changes.len());
    let summary = summary_of(&env.out());
    let values = summary_values(&wb.rows("Summary"));
    assert_eq!(values["total"], summary["changes"]["total"].to_string());
    assert_eq!(
        values["reconciliation_changed"],
        summary["changes"]["by_kind"]["reconciliation_changed"].to_string()
    );
    // Reconciliation counts as in summary.json.
    let rec_table = summary_table(&wb.rows("Summary"), "reconciliation");
    let counted: BTreeMap<String, u64> =
        serde_json::from_value(summary["reconciliation"].clone()).unwrap();
    assert_eq!(rec_table.len() - 1, counted.len());
    for r in &rec_table[1..] {
        assert_eq!(r[1], counted[&r[0]].to_string(), "{r:?}");
    }
}
