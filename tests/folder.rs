//! The output folder, tried as someone who can write to it (or a broken
//! disk) would: links planted at the lock, the journal and the report names
//! are never written through; a run that fails while writing its files
//! never leaves a `complete` summary.json beside another run's report; a
//! failed start leaves the journal for `--resume`.

mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::{Env, SIGN_IN, TestSandbox, app_run, id_csv, oauth_run, read_csv};
use predicates::prelude::*;
use qualrecon::fsutil::LOCK_FILE;
use qualrecon::journal::JOURNAL_FILE;
use qualrecon::sandbox::{Answer, SandboxConfig, ids_for};
use uuid::Uuid;

const REPORTS: [&str; 4] = [
    "qualifications.csv",
    "qualifications.xlsx",
    "changes.csv",
    "summary.json",
];

/// A file outside `--out` that a planted link points at.
fn victim(env: &Env, name: &str) -> PathBuf {
    env.write(name, format!("precious {name}\n"))
}

fn assert_untouched(path: &Path) {
    let name = path.file_name().unwrap().to_string_lossy();
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        format!("precious {name}\n"),
        "{} was written through a link",
        path.display()
    );
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Every file in `dir` with the SHA-256 of its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    use sha2::Digest;
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let hash = sha2::Sha256::digest(std::fs::read(e.path()).unwrap());
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            (e.file_name().to_string_lossy().into_owned(), hex)
        })
        .collect()
}

#[test]
fn a_symlink_at_the_lock_or_the_journal_is_fatal_and_nothing_is_written_through_it() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 3)));
    std::fs::create_dir(env.out()).unwrap();

    for name in [LOCK_FILE, JOURNAL_FILE] {
        let link = env.out().join(name);
        // To an existing file, and dangling (O_CREAT would create the target).
        let target = victim(&env, "victim.txt");
        let dangling = env.path("created-through-a-link.txt");
        for to in [&target, &dangling] {
            symlink(to, &link).unwrap();
            // Without a journal, --resume stops before the lock (exit 2).
            let runs: &[&[&str]] = if name == LOCK_FILE {
                &[&[]]
            } else {
                &[&[], &["--resume"]]
            };
            for extra in runs {
                env.run_against(&sb, &input, extra).assert().code(1).stderr(
                    predicate::str::contains(link.display().to_string())
                        .and(predicate::str::contains("is a symbolic link")),
                );
            }
            assert_untouched(&target);
            assert!(
                !dangling.exists(),
                "{name}: a file was created through the link"
            );
            assert!(is_symlink(&link));
            std::fs::remove_file(&link).unwrap();
        }
        assert!(
            sb.customer_requests().is_empty(),
            "{name}: a customer was requested"
        );
        assert!(!env.out().join("summary.json").exists());
    }
}

#[test]
fn symlinks_at_report_and_temp_names_are_never_written_through() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 4)));
    let previous = env.path("previous");
    env.run_against(&sb, &input, &["--out"])
        .arg(&previous)
        .assert()
        .code(0);
    let previous_before = snapshot(&previous);

    std::fs::create_dir(env.out()).unwrap();
    let mut victims = Vec::new();
    for name in REPORTS {
        let target = victim(&env, &format!("victim-{name}"));
        symlink(&target, env.out().join(name)).unwrap();
        victims.push(target);
    }
    // Older builds wrote `.<name>.tmp-<pid>`, and the pid is in the lock
    // file. The shell plants links at those names for its own pid, then
    // execs qualrecon, which keeps that pid.
    let temp_victim = victim(&env, "victim-temp");
    victims.push(temp_victim.clone());
    let script = r#"for n in "$@"; do case $n in --) shift; break;; esac; ln -s "$VICTIM" "$OUT/.$n.tmp-$$"; shift; done; exec "$BIN" "$@""#;
    let status = std::process::Command::new("sh")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("PARTNER_CENTER_TOKEN", qualrecon::sandbox::STATIC_TOKEN)
        .env("VICTIM", &temp_victim)
        .env("OUT", env.out())
        .env("BIN", assert_cmd::cargo::cargo_bin("qualrecon"))
        .args(["-c", script, "sh"])
        .args(REPORTS)
        .arg("--")
        .args(["run", "--quiet", "--input"])
        .arg(&input)
        .arg("--out")
        .arg(env.out())
        .args(["--base-url", &sb.url(), "--rate", "200", "--previous"])
        .arg(&previous)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));

    for target in &victims {
        assert_untouched(target);
    }
    for name in REPORTS {
        let path = env.out().join(name);
        assert!(!is_symlink(&path), "{name} is still a link");
        assert!(path.is_file(), "{name} missing");
    }
    assert_eq!(env.summary()["run"]["status"], "complete");
    assert_eq!(env.rows().len(), 4);
    // The reports, the lock, the journal and the four planted links (left
    // alone): no temp file of this run is left.
    let (mut links, mut others) = (0, Vec::new());
    for e in std::fs::read_dir(env.out()).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().to_string_lossy().into_owned();
        if is_symlink(&e.path()) {
            assert!(name.contains(".tmp-"), "{name}");
            links += 1;
        } else if !REPORTS.contains(&name.as_str()) {
            others.push(name);
        }
    }
    assert_eq!(links, REPORTS.len());
    others.sort();
    assert_eq!(others, [JOURNAL_FILE, LOCK_FILE]);
    // --previous is only read.
    assert_eq!(snapshot(&previous), previous_before);
}

#[test]
fn a_run_that_fails_writing_its_files_leaves_no_complete_summary_for_other_data() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let first = env.write("first.csv", id_csv(&ids_for(Answer::Approved, 3)));
    env.run_against(&sb, &first, &[]).assert().code(0);
    assert_eq!(env.summary()["run"]["status"], "complete");
    assert_eq!(env.summary()["input"]["customers"], 3);

    // The xlsx cannot be renamed into place: a directory holds its name.
    let xlsx = env.out().join("qualifications.xlsx");
    std::fs::remove_file(&xlsx).unwrap();
    std::fs::create_dir(&xlsx).unwrap();
    let second = env.write("second.csv", id_csv(&ids_for(Answer::Denied, 5)));
    env.run_against(&sb, &second, &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("qualifications.xlsx"));

    // The csv is the second run's; the summary does not claim it is
    // complete (and a complete one would have to count it exactly).
    let rows = env.rows();
    assert_eq!(rows.len(), 5);
    let s = env.summary();
    if s["run"]["status"] == "complete" {
        assert_eq!(s["input"]["customers"], rows.len() as u64);
    }
    assert_eq!(s["run"]["status"], "running");
    assert_eq!(s["input"]["path"], second.display().to_string());
    assert!(
        s.get("lookups").is_none(),
        "a running summary counts nothing"
    );
}

#[test]
fn a_summary_json_that_cannot_be_replaced_stops_the_run_before_any_request() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 3)));
    std::fs::create_dir_all(env.out().join("summary.json")).unwrap();
    env.run_against(&sb, &input, &[])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("summary.json"));
    assert!(sb.customer_requests().is_empty());
    assert!(!env.out().join("qualifications.csv").exists());
}

#[test]
fn a_rejected_secret_leaves_the_journal_and_resume_asks_nobody_answered_twice() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let answered = ids_for(Answer::Approved, 6);
    let unanswered = ids_for(Answer::Html, 2);
    let all: Vec<Uuid> = answered.iter().chain(&unanswered).copied().collect();
    let input = env.write("in.csv", id_csv(&all));

    app_run(&env, &sb, &input, &[]).assert().code(3);
    let first_id = env.summary()["run"]["id"].clone();
    // The lock file says who holds it; everything else must stay as it is.
    let folder = || {
        let mut files = snapshot(&env.out());
        files.remove(LOCK_FILE);
        files
    };
    let before = folder();
    let first_requests = sb.customer_requests().len();

    // A fresh run, or a resumed one, with a rejected secret: exit 1, the
    // folder as it was.
    for extra in [&[][..], &["--resume"][..]] {
        oauth_run(&env, &sb, &input, "wrong-secret-d3adb33f", &SIGN_IN)
            .args(extra)
            .assert()
            .code(1)
            .stderr(predicate::str::contains("AADSTS7000215"));
        assert_eq!(folder(), before, "{extra:?}");
    }
    assert_eq!(sb.customer_requests().len(), first_requests);

    // --resume with the right one continues the first run.
    app_run(&env, &sb, &input, &["--resume"]).assert().code(3);
    let s = env.summary();
    assert_eq!(s["run"]["resumed_from"], first_id);
    assert_eq!(s["lookups"]["resumed"], answered.len() as u64);
    let asked_again: std::collections::BTreeSet<Uuid> = sb.customer_requests()[first_requests..]
        .iter()
        .filter_map(|e| e.customer)
        .collect();
    assert_eq!(
        asked_again,
        unanswered.iter().copied().collect(),
        "only the customers without a final answer are asked again"
    );
    assert_eq!(
        read_csv(&env.out().join("qualifications.csv")).len(),
        all.len()
    );
}
