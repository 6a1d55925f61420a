//! `samples/expected/` is what the README's first command produces from
//! `samples/tenants.csv`: the run reproduces it, apart from what belongs to
//! one run (ids, times, the sandbox's port, days counted up to today).

mod common;

use std::path::{Path, PathBuf};

use common::Env;
use common::xlsx::Workbook;

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `qualifications.csv` with every `days_in_review` cell blanked (it counts
/// up to the day of the run).
fn without_days(bytes: &[u8]) -> Vec<Vec<String>> {
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes);
    let mut rows: Vec<Vec<String>> = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_string).collect())
        .collect();
    let days = rows[0].iter().position(|h| h == "days_in_review").unwrap();
    for row in rows.iter_mut().skip(1) {
        row[days].clear();
    }
    rows
}

/// `summary.json` without the fields of one run.
fn without_run_facts(bytes: &[u8]) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let run = v["run"].as_object_mut().unwrap();
    for key in [
        "id",
        "started_at",
        "finished_at",
        "duration_s",
        "base_url",
        "correlation_id",
    ] {
        assert!(run.remove(key).is_some(), "run.{key} missing");
    }
    v
}

#[test]
fn the_sample_run_reproduces_samples_expected() {
    let env = Env::new();
    // As samples/expected was made: from the repository root, the sample
    // input by its relative path, --rate 50.
    env.cmd()
        .current_dir(manifest())
        .args(["run", "--sandbox", "--rate", "50", "--quiet"])
        .args(["--input", "samples/tenants.csv", "--out"])
        .arg(env.out())
        .assert()
        .code(3);
    let expected = manifest().join("samples/expected");
    let read = |dir: &Path, name: &str| std::fs::read(dir.join(name)).unwrap();
    assert_eq!(
        without_days(&read(&env.out(), "qualifications.csv")),
        without_days(&read(&expected, "qualifications.csv"))
    );
    assert_eq!(
        without_run_facts(&read(&env.out(), "summary.json")),
        without_run_facts(&read(&expected, "summary.json"))
    );
    let sheets = |dir: &Path| Workbook::open(&dir.join("qualifications.xlsx")).sheet_names();
    assert_eq!(sheets(&env.out()), sheets(&expected));
}

/// A stand-in for `qualrecon` on PATH: logs its arguments (one per line,
/// `--` after each call) and writes a complete `summary.json` into `--out`.
fn stub_qualrecon(dir: &Path) -> (PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("calls.log");
    let stub = bin.join("qualrecon");
    std::fs::write(
        &stub,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" -- >> '{}'\n\
             while [ $# -gt 0 ]; do\n\
               if [ \"$1\" = --out ]; then mkdir -p \"$2\"; printf '{{\\n  \"run\": {{\\n    \"status\": \"complete\"\\n  }}\\n}}\\n' > \"$2/summary.json\"; fi\n\
               shift\n\
             done\nexit 3\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).unwrap();
    (stub, log)
}

/// Each logged call's arguments.
fn calls(log: &Path) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.split_terminator("--\n")
        .map(|call| call.lines().map(str::to_string).collect())
        .collect()
}

/// The arguments must be a `qualrecon run` command line clap accepts.
fn assert_valid_run(args: &[String]) {
    use clap::Parser;
    let argv = std::iter::once("qualrecon".to_string()).chain(args.iter().cloned());
    match qualrecon::cli::Cli::try_parse_from(argv) {
        Ok(cli) => assert!(matches!(cli.command, qualrecon::cli::Command::Run(_))),
        Err(e) => panic!("{args:?}: {e}"),
    }
}

fn sh(script: &str, dir: &Path, bin: &Path) -> std::process::Output {
    std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .output()
        .unwrap()
}

/// Run twice, as on two Mondays (the same day here): the first run has no
/// earlier report to compare with, the second compares with `last`, which
/// points at the dated folder of the complete run.
fn assert_dated_runs_with_previous(script: &str, reports: &Path, dir: &Path) {
    let (stub, log) = stub_qualrecon(dir);
    for _ in 0..2 {
        let out = sh(script, dir, stub.parent().unwrap());
        assert!(
            out.status.code() == Some(3) || out.status.success(),
            "{out:?}"
        );
    }
    let calls = calls(&log);
    assert_eq!(calls.len(), 2, "{calls:?}");
    let today = chrono::Local::now().format("%F").to_string();
    let dated = reports.join(&today).display().to_string();
    for call in &calls {
        assert_valid_run(call);
        assert_eq!(call[0], "run");
        for flag in ["--deadline", "--quiet", "--log-format"] {
            assert!(call.contains(&flag.to_string()), "{flag}: {call:?}");
        }
        let at = call.iter().position(|a| a == "--log-format").unwrap();
        assert_eq!(call[at + 1], "json");
        let at = call.iter().position(|a| a == "--out").unwrap();
        assert_eq!(call[at + 1], dated);
    }
    assert!(!calls[0].contains(&"--previous".to_string()));
    let at = calls[1].iter().position(|a| a == "--previous").unwrap();
    assert_eq!(calls[1][at + 1], reports.join("last").display().to_string());
    assert_eq!(
        std::fs::read_link(reports.join("last")).unwrap(),
        PathBuf::from(&dated)
    );
}

#[test]
fn the_crontab_runs_weekly_into_dated_folders_and_keeps_eight() {
    let text = std::fs::read_to_string(manifest().join("samples/cron/crontab")).unwrap();
    let jobs: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter(|l| !l.split_whitespace().next().unwrap().contains('='))
        .collect();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    let command = |job: &str| -> String {
        let fields: Vec<&str> = job.split_whitespace().take(5).collect();
        // Weekly: one day of the week, every month, any day of the month.
        assert_eq!(fields[2..4], ["*", "*"], "{job}");
        assert!(fields[4].parse::<u8>().is_ok_and(|d| d <= 7), "{job}");
        let mut rest = job;
        for f in fields {
            rest = rest.trim_start().strip_prefix(f).unwrap();
        }
        // Cron turns an unescaped % into a newline: every one is escaped.
        assert_eq!(
            rest.matches('%').count(),
            rest.matches("\\%").count(),
            "{job}"
        );
        rest.replace("\\%", "%")
    };
    let dir = tempfile::tempdir().unwrap();
    let srv = dir.path().join("srv");
    let reports = srv.join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let localise = |s: String| s.replace("/srv/csp", &srv.display().to_string());

    assert_dated_runs_with_previous(&localise(command(jobs[0])), &reports, dir.path());

    // The second job keeps the 8 newest dated folders.
    for day in 1..=12 {
        std::fs::create_dir(reports.join(format!("2020-01-{day:02}"))).unwrap();
    }
    let out = sh(
        &localise(command(jobs[1])),
        dir.path(),
        Path::new("/usr/bin"),
    );
    assert!(out.status.success(), "{out:?}");
    let mut left: Vec<String> = std::fs::read_dir(&reports)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("20"))
        .collect();
    left.sort();
    assert_eq!(left.len(), 8, "{left:?}");
    assert_eq!(left[0], "2020-01-06");
    assert!(reports.join("last").exists());
}

/// `key=value` lines per section, continuation lines joined the way systemd
/// joins them (the trailing backslash becomes a space).
fn unit_keys(text: &str) -> Vec<(String, String, String)> {
    let mut keys = Vec::new();
    let mut section = String::new();
    let mut pending = String::new();
    for line in text.lines() {
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        if let Some(start) = line.strip_suffix('\\') {
            pending.push_str(start);
            pending.push(' ');
            continue;
        }
        let line = std::mem::take(&mut pending) + line;
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line.starts_with('[') {
            section = line.trim_matches(['[', ']']).to_string();
            continue;
        }
        let (k, v) = line
            .split_once('=')
            .unwrap_or_else(|| panic!("not key=value: {line}"));
        keys.push((section.clone(), k.trim().to_string(), v.trim().to_string()));
    }
    keys
}

fn key<'a>(keys: &'a [(String, String, String)], section: &str, name: &str) -> Vec<&'a str> {
    keys.iter()
        .filter(|(s, k, _)| s == section && k == name)
        .map(|(_, _, v)| v.as_str())
        .collect()
}

#[test]
fn the_systemd_units_are_locked_down_and_their_command_works() {
    let dir = manifest().join("samples/systemd");
    let service = std::fs::read_to_string(dir.join("qualrecon.service")).unwrap();
    let timer = std::fs::read_to_string(dir.join("qualrecon.timer")).unwrap();

    // Where systemd is installed, it must find nothing to complain about.
    if let Ok(out) = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no", "qualrecon.service", "qualrecon.timer"])
        .current_dir(&dir)
        .output()
    {
        let complaints = String::from_utf8_lossy(&out.stderr);
        assert!(
            !complaints.contains("qualrecon.service:") && !complaints.contains("qualrecon.timer:"),
            "{complaints}"
        );
    }

    let s = unit_keys(&service);
    assert_eq!(key(&s, "Service", "Type"), ["oneshot"]);
    assert_eq!(key(&s, "Service", "DynamicUser"), ["yes"]);
    assert_eq!(key(&s, "Service", "ProtectSystem"), ["strict"]);
    assert!(
        key(&s, "Service", "SuccessExitStatus")[0]
            .split(' ')
            .any(|c| c == "3")
    );
    let credential = key(&s, "Service", "LoadCredential")[0];
    let (name, path) = credential.split_once(':').unwrap();
    assert!(path.starts_with('/'), "{credential}");
    let rw = key(&s, "Service", "ReadWritePaths");
    assert_eq!(rw.len(), 1);
    let exec = key(&s, "Service", "ExecStart")[0];
    assert!(
        exec.contains(&format!(
            "--client-secret-file ${{CREDENTIALS_DIRECTORY}}/{name}"
        )),
        "{exec}"
    );
    assert!(exec.contains(&format!("reports={}", rw[0])), "{exec}");

    let t = unit_keys(&timer);
    assert_eq!(key(&t, "Timer", "Persistent"), ["true"]);
    assert!(key(&t, "Timer", "OnCalendar")[0].starts_with("Mon "));
    assert_eq!(key(&t, "Install", "WantedBy"), ["timers.target"]);
    assert!(
        key(&t, "Timer", "Unit").is_empty(),
        "the timer starts qualrecon.service"
    );

    // The command as systemd hands it to /bin/sh, run against a stand-in.
    let script = exec
        .strip_prefix("/bin/sh -c '")
        .and_then(|s| s.strip_suffix('\''))
        .unwrap_or_else(|| panic!("not /bin/sh -c '…': {exec}"));
    let tmp = tempfile::tempdir().unwrap();
    let reports = tmp.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let script = script
        .replace("$$", "$")
        .replace("%%", "%")
        .replace(
            "${CREDENTIALS_DIRECTORY}",
            "/run/credentials/qualrecon.service",
        )
        .replace("/usr/local/bin/qualrecon", "qualrecon")
        .replace(rw[0], &reports.display().to_string());
    assert_dated_runs_with_previous(&script, &reports, tmp.path());
    let call = &calls(&tmp.path().join("calls.log"))[0];
    let at = call
        .iter()
        .position(|a| a == "--client-secret-file")
        .unwrap();
    assert_eq!(
        call[at + 1],
        format!("/run/credentials/qualrecon.service/{name}")
    );
}
