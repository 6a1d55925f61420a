//! The input as partners export it: code pages named with `--encoding`
//! (or the config file), UTF-16 found without one, and the names carried
//! intact into every report file.

mod common;

use common::{Env, TestSandbox};
use encoding_rs::{SHIFT_JIS, WINDOWS_1250};
use predicates::prelude::*;
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};

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
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(unnamed.join("summary.json")).unwrap()).unwrap();
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
