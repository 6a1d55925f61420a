//! The input as partners export it: every CSV dialect found without
//! options, code pages named with `--encoding` (or the config file), UTF-16
//! found without one, other columns carried intact (formula text
//! neutralised) into every report file, duplicates and invalid ids, `--limit`,
//! stdin, and an input that cannot be read.

mod common;

use std::path::Path;

use common::{Env, TestSandbox, approved, id_csv, summary_of};
use encoding_rs::{SHIFT_JIS, WINDOWS_1250};
use predicates::prelude::*;
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};
use uuid::Uuid;

/// The text of the cell-bearing parts of `qualifications.xlsx`: the shared
/// strings and the sheets (constant-memory sheets keep text in the cells).
fn xlsx_strings(env: &Env) -> String {
    let wb = common::xlsx::Workbook::open(&env.out().join("qualifications.xlsx"));
    wb.texts()
}

/// A Polish export from Excel on Windows: `;` and Windows-1250.
fn polish_list() -> (String, Vec<uuid::Uuid>) {
    let ids = ids_for(Answer::Approved, 2);
    let text = format!(
        "Nazwa szkoły;customer_tenant_id;Adres\r\n\
         Szkoła Podstawowa nr 5;{};ul. Łódzka 12, Kraków\r\n\
         Żłobek „Źdźbło”;{};Gdańsk\r\n",
        ids[0], ids[1]
    );
    (text, ids)
}

/// A Japanese export: Shift_JIS, a Japanese header on every column.
fn japanese_list() -> (String, Vec<uuid::Uuid>) {
    let ids = ids_for(Answer::Approved, 2);
    let text = format!(
        "顧客名,テナントID,都道府県\r\n\
         東京都立第一高等学校,{},東京都\r\n\
         株式会社ソフト表示,{},大阪府\r\n",
        ids[0], ids[1]
    );
    (text, ids)
}

#[test]
fn a_windows_1250_export_keeps_its_polish_names_in_every_report_file() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let (text, ids) = polish_list();
    let (bytes, _, unmappable) = WINDOWS_1250.encode(&text);
    assert!(
        !unmappable && bytes.len() < text.len(),
        "really Windows-1250"
    );
    let input = env.write("klienci.csv", &bytes);

    env.run_against(&sb, &input, &["--encoding", "windows-1250"])
        .assert()
        .success();
    let rows = env.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["customer_tenant_id"], ids[0].to_string());
    assert_eq!(rows[0]["Nazwa szkoły"], "Szkoła Podstawowa nr 5");
    assert_eq!(rows[0]["Adres"], "ul. Łódzka 12, Kraków");
    assert_eq!(rows[1]["Nazwa szkoły"], "Żłobek „Źdźbło”");
    let summary = env.summary();
    assert_eq!(summary["input"]["encoding"], "windows-1250");
    assert_eq!(summary["input"]["delimiter"], ";");
    let strings = xlsx_strings(&env);
    for cell in ["Nazwa szkoły", "ul. Łódzka 12, Kraków", "Żłobek „Źdźbło”"] {
        assert!(strings.contains(cell), "{cell} missing in the workbook");
    }

    // Without the label the same bytes are read as Windows-1252, as before:
    // every customer is still looked up, but the names are not Polish.
    let unnamed = env.path("unnamed");
    env.run_against(&sb, &input, &["--out"])
        .arg(&unnamed)
        .assert()
        .success();
    let rows = common::read_csv(&unnamed.join("qualifications.csv"));
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["Adres"], "ul. £ódzka 12, Kraków");
    let summary = summary_of(&unnamed);
    assert_eq!(summary["input"]["encoding"], "windows-1252");
}

#[test]
fn a_shift_jis_export_keeps_its_japanese_headers_and_names() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let (text, ids) = japanese_list();
    let (bytes, _, unmappable) = SHIFT_JIS.encode(&text);
    assert!(!unmappable && bytes.len() < text.len(), "really Shift_JIS");
    let input = env.write("kokyaku.csv", &bytes);
    // The label from the config file, in any of its WHATWG spellings.
    let config = env.write("q.toml", "encoding = \"sjis\"\n");

    env.run_against(&sb, &input, &["--config"])
        .arg(&config)
        .assert()
        .success();
    let rows = env.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["customer_tenant_id"], ids[1].to_string());
    assert_eq!(rows[0]["顧客名"], "東京都立第一高等学校");
    assert_eq!(rows[1]["顧客名"], "株式会社ソフト表示");
    assert_eq!(rows[1]["都道府県"], "大阪府");
    let summary = env.summary();
    assert_eq!(summary["input"]["encoding"], "shift_jis");
    assert_eq!(summary["input"]["id_column"], "テナントID");
    let strings = xlsx_strings(&env);
    for cell in [
        "顧客名",
        "都道府県",
        "東京都立第一高等学校",
        "株式会社ソフト表示",
    ] {
        assert!(strings.contains(cell), "{cell} missing in the workbook");
    }

    // `check` names the encoding and shows the headers as written.
    env.cmd()
        .args(["check", "--encoding", "Shift_JIS", "--input"])
        .arg(&input)
        .assert()
        .success()
        .stdout(predicate::str::contains("encoding       shift_jis\n"))
        .stdout(predicate::str::contains("id column      `テナントID`"))
        .stdout(predicate::str::contains("`顧客名`, `都道府県`"));
}

#[test]
fn utf16_is_found_without_a_label_and_a_bom_beats_a_wrong_one() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let (text, _) = polish_list();
    // Excel's "Unicode text" without its BOM (a script cut it off).
    let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
    let input = env.write("utf16.csv", &utf16);
    env.run_against(&sb, &input, &[]).assert().success();
    assert_eq!(env.summary()["input"]["encoding"], "utf-16le");
    assert_eq!(env.rows()[0]["Adres"], "ul. Łódzka 12, Kraków");

    // A UTF-8 BOM is certain; a label left in a config file is not.
    let with_bom = env.write("bom.csv", format!("\u{FEFF}{text}"));
    env.cmd()
        .args(["check", "--encoding", "shift_jis", "--input"])
        .arg(&with_bom)
        .assert()
        .success()
        .stdout(predicate::str::contains("encoding       utf-8\n"))
        .stdout(predicate::str::contains("`Nazwa szkoły`, `Adres`"));
}

#[test]
fn an_unknown_encoding_label_is_a_usage_error_naming_it() {
    let env = Env::new();
    let (text, _) = polish_list();
    let input = env.write("in.csv", text);
    let run: &[&str] = &["run", "--out", "o", "--sandbox"];
    for command in [run, &["check"]] {
        env.cmd()
            .args(command)
            .args(["--encoding", "klingon", "--input"])
            .arg(&input)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("klingon"))
            .stderr(predicate::str::contains("windows-1250"));
    }
    let config = env.write("q.toml", "encoding = \"cp-nowhere\"\n");
    env.cmd()
        .args(["run", "--out", "o", "--sandbox", "--config"])
        .arg(&config)
        .arg("--input")
        .arg(&input)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("config encoding: `cp-nowhere`"));
    assert!(!env.path("o").exists());
}

#[test]
fn an_unreadable_input_is_fatal_and_named() {
    let env = Env::new();
    env.sandbox_run(Path::new("nope.csv"), &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("nope.csv"));
    let no_ids = env.write("names.csv", "name,country\nA,SE\n");
    env.sandbox_run(&no_ids, &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("--column"));
    // A `--column` the file does not have is a bad option value: exit 2,
    // like a wrong `--expect-column`.
    let one = env.write(
        "one.csv",
        "customer_tenant_id,name\ne860cc74-1af6-4fe7-a6a8-9c44ee1485df,A\n",
    );
    for column in ["nope", "0", "9"] {
        env.sandbox_run(&one, &["--column", column])
            .assert()
            .code(2)
            .stderr(predicate::str::contains(format!("`--column {column}`")));
    }
}

#[test]
fn every_input_dialect_gives_the_same_customers_without_options() {
    let sb = TestSandbox::start(SandboxConfig::default());
    let mut sets = Vec::new();
    for name in [
        "plain.csv",
        "excel-sv.csv",
        "tabs.tsv",
        "partner-center-export.csv",
        "notes.csv",
        "headerless.csv",
    ] {
        let env = Env::new();
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/dialects")
            .join(name);
        let input = env.write(name, std::fs::read(&src).unwrap());
        env.run_against(&sb, &input, &[])
            .assert()
            .code(predicate::in_iter([0, 3]));
        let rows = env.rows();
        let ids: Vec<String> = rows
            .iter()
            .map(|r| r["customer_tenant_id"].clone())
            .collect();
        let mut distinct: Vec<String> = Vec::new();
        for id in ids {
            if !distinct.contains(&id) {
                distinct.push(id);
            }
        }
        for r in &rows {
            assert_ne!(r["lookup_status"], "invalid_input", "{name}: {r:?}");
        }
        sets.push((name, distinct));
    }
    for (name, set) in &sets[1..] {
        assert_eq!(set, &sets[0].1, "{name} differs from {}", sets[0].0);
    }
}

#[test]
fn other_columns_are_carried_and_formula_text_is_neutralised() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let a = ids_for(Answer::Approved, 1)[0];
    let b = ids_for(Answer::NotFound, 1)[0];
    let input = env.write(
        "in.csv",
        format!(
            "\u{feff}Kund-ID;Kundnamn;Anteckning\r\n{a};\"Åre skola\";\"=HYPERLINK(\"\"http://x\"\")\"\r\n;;\r\n{b};\"Gävle, \"\"kommun\"\"\";\"rad ett\r\nrad två\"\r\nnot-a-guid;@SUM(A1);-5\r\n"
        ),
    );
    env.run_against(&sb, &input, &[]).assert().code(3);
    let text = std::fs::read_to_string(env.out().join("qualifications.csv")).unwrap();
    assert!(text.starts_with("customer_tenant_id,input_line,qualification,vetting_status,vetting_reason,vetting_created_date,days_in_review,lookup_status,error,Kundnamn,Anteckning\r\n"));
    let rows = env.rows();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["Kundnamn"], "Åre skola");
    assert_eq!(rows[0]["Anteckning"], "'=HYPERLINK(\"http://x\")");
    assert_eq!(rows[0]["input_line"], "2");
    assert_eq!(rows[1]["Kundnamn"], "Gävle, \"kommun\"");
    assert_eq!(rows[1]["Anteckning"], "rad ett\r\nrad två");
    assert_eq!(rows[1]["input_line"], "4");
    assert_eq!(rows[2]["customer_tenant_id"], "not-a-guid");
    assert_eq!(rows[2]["lookup_status"], "invalid_input");
    assert_eq!(rows[2]["input_line"], "6");
    assert_eq!(rows[2]["Kundnamn"], "'@SUM(A1)");
    assert_eq!(rows[2]["Anteckning"], "'-5");
    let summary = env.summary();
    assert_eq!(summary["input"]["blank_rows"], 1);
    // The invalid id was never sent.
    assert_eq!(sb.customer_requests().len(), 2);
}

#[test]
fn duplicates_are_looked_up_once_and_listed_with_their_lines() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let a = ids_for(Answer::Approved, 1)[0];
    let upper = a.to_string().to_uppercase();
    let input = env.write(
        "in.csv",
        format!("customer_tenant_id\n{a}\n{{{upper}}}\n  {a}  \n"),
    );
    env.run_against(&sb, &input, &[]).assert().success();
    assert_eq!(env.rows().len(), 1);
    assert_eq!(sb.customer_requests().len(), 1);
    let s = env.summary();
    assert_eq!(s["input"]["rows"], 3);
    assert_eq!(s["input"]["blank_rows"], 0);
    assert_eq!(s["input"]["customers"], 1);
    assert_eq!(s["input"]["duplicate_rows"], 2);
    assert_eq!(s["input"]["duplicates"][0]["first_line"], 2);
    assert_eq!(
        s["input"]["duplicates"][0]["duplicate_lines"],
        serde_json::json!([3, 4])
    );
}

#[test]
fn limit_looks_up_only_the_first_valid_ids() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = ids_for(Answer::Approved, 6);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &["--limit", "2"])
        .assert()
        .success();
    let rows = env.rows();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["customer_tenant_id"], ids[1].to_string());
    assert_eq!(env.summary()["input"]["skipped_by_limit"], 4);
}

#[test]
fn input_from_stdin_and_a_nested_new_output_folder() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = ids_for(Answer::InReview, 3);
    let nested = env.path("a/b/c");
    env.run_against(
        &sb,
        std::path::Path::new("-"),
        &["--out", nested.to_str().unwrap()],
    )
    .write_stdin(id_csv(&ids))
    .assert()
    .success();
    let rows = common::read_csv(&nested.join("qualifications.csv"));
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["vetting_status"] == "InReview"));
}

#[test]
fn a_guid_wrapped_twice_is_invalid_input_and_never_sent() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(3);
    let input = env.write(
        "in.csv",
        format!(
            "customer_tenant_id\n{{{{{}}}}}\n({{{}}})\n{{{}}}\n",
            ids[0], ids[1], ids[2]
        ),
    );
    env.run_against(&sb, &input, &[]).assert().code(3);
    let rows = env.rows();
    assert_eq!(rows.len(), 3);
    for r in &rows[..2] {
        assert_eq!(r["lookup_status"], "invalid_input", "{r:?}");
        assert!(r["error"].contains("wrapped twice"), "{r:?}");
    }
    assert_eq!(rows[2]["lookup_status"], "ok");
    let asked: Vec<Uuid> = sb
        .customer_requests()
        .iter()
        .filter_map(|e| e.customer)
        .collect();
    assert_eq!(asked, [ids[2]]);
}
