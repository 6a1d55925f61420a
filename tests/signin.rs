//! Signing in with a certificate or a refresh token, black-box against the
//! in-process sandbox: what reached the token endpoint (the journal keeps
//! form field names, the grant type and the assertion's claims, never a
//! secret), exit codes, and the refresh-token file. Test certificates are
//! made at test time, by `qualrecon sandbox --make-test-certificate` or the
//! same library function (expired ones need a validity in the past).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{Env, TestSandbox, id_csv, oauth_run};
use qualrecon::sandbox::{
    Answer, CLIENT_SECRET, JournalEntry, SandboxConfig, TestCertificate, TokenCheck, ids_for,
};

/// A certificate valid now, written as `name` (certificate and key) into the test folder.
fn certificate(env: &Env, name: &str) -> (TestCertificate, PathBuf) {
    let cert = TestCertificate::generate_valid(name).expect("test certificate");
    let path = env.write(name, cert.combined_pem());
    (cert, path)
}

fn registered(certs: &[&TestCertificate]) -> SandboxConfig {
    SandboxConfig {
        client_certificates: certs.iter().map(|c| c.certificate_der.clone()).collect(),
        ..SandboxConfig::default()
    }
}

/// `qualrecon run` against `sb` as the sandbox's app, with no secret in
/// the environment: `extra` supplies the credential.
fn signed_in_run(env: &Env, sb: &TestSandbox, input: &Path, extra: &[&str]) -> assert_cmd::Command {
    let id = [
        "--tenant",
        qualrecon::sandbox::TENANT,
        "--client-id",
        qualrecon::sandbox::CLIENT_ID,
    ];
    let mut c = oauth_run(env, sb, input, "unused", &[&id[..], extra].concat());
    c.env_remove("PARTNER_CENTER_CLIENT_SECRET");
    c
}

/// A run over three approved ids signed in with the certificate at `path`:
/// its exit code and everything it printed.
fn certificate_run(env: &Env, sb: &TestSandbox, path: &Path) -> (Option<i32>, String) {
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 3)));
    let out = signed_in_run(
        env,
        sb,
        &input,
        &["--client-certificate", path.to_str().unwrap()],
    )
    .output()
    .unwrap();
    (out.status.code(), text(&out))
}

fn token_requests(sb: &TestSandbox) -> Vec<JournalEntry> {
    sb.journal()
        .into_iter()
        .filter(|e| e.path.ends_with("/token"))
        .collect()
}

fn has(e: &JournalEntry, key: &str) -> bool {
    e.form_keys.iter().any(|k| k == key)
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir`, read as text (lossy), joined.
fn all_files(dir: &Path) -> String {
    let mut all = String::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            all.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
        }
    }
    all
}

#[test]
fn a_certificate_signs_in_with_a_fresh_valid_assertion_and_no_secret_v1_and_v2() {
    for endpoint in ["v2", "v1"] {
        let env = Env::new();
        let (cert, path) = certificate(&env, "app.pem");
        // Tokens live 2 s over a ~3 s run, so several assertions are made.
        let sb = TestSandbox::start(SandboxConfig {
            token_lifetime: Duration::from_secs(2),
            ..registered(&[&cert])
        });
        let ids = ids_for(Answer::Approved, 30);
        let input = env.write("in.csv", id_csv(&ids));
        let out = signed_in_run(
            &env,
            &sb,
            &input,
            &[
                "--client-certificate",
                path.to_str().unwrap(),
                "--token-endpoint",
                endpoint,
                "--rate",
                "10",
            ],
        )
        .output()
        .unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(0), "{endpoint}: {said}");
        assert!(env.rows().iter().all(|r| r["lookup_status"] == "ok"));
        assert_eq!(env.rows().len(), ids.len());

        let tokens = token_requests(&sb);
        assert!(
            tokens.len() >= 2,
            "{endpoint}: {} token requests",
            tokens.len()
        );
        let url = match endpoint {
            "v2" => format!(
                "{}/{}/oauth2/v2.0/token",
                sb.url(),
                qualrecon::sandbox::TENANT
            ),
            _ => format!("{}/{}/oauth2/token", sb.url(), qualrecon::sandbox::TENANT),
        };
        let mut jtis = std::collections::BTreeSet::new();
        for t in &tokens {
            assert_eq!(t.outcome, "token-issued", "{endpoint}: {t:?}");
            assert_eq!(t.grant_type.as_deref(), Some("client_credentials"));
            assert!(has(t, "client_assertion") && has(t, "client_assertion_type"));
            assert!(!has(t, "client_secret"), "{endpoint}: a secret was sent");
            let claims = t.assertion.as_ref().expect("an assertion");
            assert_eq!(claims.aud, url);
            assert!(claims.exp - claims.nbf <= 600, "{claims:?}");
            jtis.insert(claims.jti.clone());
        }
        assert_eq!(jtis.len(), tokens.len(), "{endpoint}: a jti was reused");
        assert!(
            sb.customer_requests()
                .iter()
                .all(|e| e.token == TokenCheck::Valid)
        );
        // The key is in no output: stdout, stderr, report files.
        let key_line = cert.key_pem.lines().nth(2).unwrap();
        assert!(!said.contains(key_line) && !said.contains("PRIVATE KEY"));
        assert!(!all_files(&env.out()).contains(key_line));
        assert!(
            said.contains("thumbprint"),
            "the certificate is named in the log: {said}"
        );
    }
}

#[test]
fn a_certificate_the_app_does_not_have_is_fatal_with_aadsts700027_and_no_customer_request() {
    let env = Env::new();
    let registered_cert = TestCertificate::generate_valid("registered").unwrap();
    let (_, stranger) = certificate(&env, "stranger.pem");
    let sb = TestSandbox::start(registered(&[&registered_cert]));
    let (code, said) = certificate_run(&env, &sb, &stranger);
    assert_eq!(code, Some(1), "{said}");
    assert!(said.contains("AADSTS700027"), "{said}");
    assert!(said.contains("rejected the certificate sign-in"), "{said}");
    assert!(
        said.contains("hint:") && said.contains("upload the certificate"),
        "{said}"
    );
    assert_eq!(token_requests(&sb).len(), 1, "refusals are not retried");
    assert!(
        sb.customer_requests().is_empty(),
        "a customer was requested"
    );
    assert!(!env.out().join("summary.json").exists());
}

#[test]
fn an_expired_certificate_is_a_usage_error_before_any_request() {
    let env = Env::new();
    let now = SystemTime::now();
    let day = Duration::from_secs(86_400);
    let expired = TestCertificate::generate("expired", now - 400 * day, now - day).unwrap();
    let path = env.write("expired.pem", expired.combined_pem());
    // Registered, so only the expiry can be the reason.
    let sb = TestSandbox::start(registered(&[&expired]));
    let (code, said) = certificate_run(&env, &sb, &path);
    assert_eq!(code, Some(2), "{said}");
    assert!(
        said.contains("expired on") && said.contains("expired.pem"),
        "{said}"
    );
    assert!(
        sb.journal().is_empty(),
        "a request was sent: {:?}",
        sb.journal()
    );
}

#[cfg(unix)]
#[test]
fn a_rotated_refresh_token_is_written_back_atomically_with_the_same_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::new();
    let initial = "rt-initial-6f1d0c";
    let sb = TestSandbox::start(SandboxConfig {
        refresh_token: Some(initial.to_string()),
        ..SandboxConfig::default()
    });
    let secrets = env.path("secrets");
    std::fs::create_dir(&secrets).unwrap();
    let file = secrets.join("refresh-token");
    std::fs::write(&file, format!("{initial}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let ids = ids_for(Answer::Approved, 3);
    let input = env.write("in.csv", id_csv(&ids));
    let rt_arg = ["--refresh-token-file", file.to_str().unwrap()];

    // With the secret.
    let out = oauth_run(
        &env,
        &sb,
        &input,
        CLIENT_SECRET,
        &[
            &rt_arg[..],
            &[
                "--tenant",
                qualrecon::sandbox::TENANT,
                "--client-id",
                qualrecon::sandbox::CLIENT_ID,
            ],
        ]
        .concat(),
    )
    .output()
    .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    let tokens = token_requests(&sb);
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].grant_type.as_deref(), Some("refresh_token"));
    assert!(has(&tokens[0], "refresh_token") && has(&tokens[0], "client_secret"));
    let rotated = sb.refresh_token().unwrap();
    assert_ne!(rotated, initial);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{rotated}\n")
    );
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o640, "permissions changed");
    let left: Vec<_> = std::fs::read_dir(&secrets)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left.len(), 1, "temp files left beside the token: {left:?}");
    assert!(
        !said.contains(initial) && !said.contains(&rotated),
        "a token was printed"
    );
    assert!(!all_files(&env.out()).contains(&rotated));

    // The next run starts from the written-back token (the sandbox accepts
    // only the newest), this time with a certificate on v1.
    let (cert, path) = certificate(&env, "app.pem");
    let sb2 = TestSandbox::start(SandboxConfig {
        refresh_token: Some(rotated.clone()),
        ..registered(&[&cert])
    });
    let out = signed_in_run(
        &env,
        &sb2,
        &input,
        &[
            &rt_arg[..],
            &[
                "--client-certificate",
                path.to_str().unwrap(),
                "--token-endpoint",
                "v1",
            ],
        ]
        .concat(),
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = &token_requests(&sb2)[0];
    assert_eq!(t.grant_type.as_deref(), Some("refresh_token"));
    assert!(has(t, "client_assertion") && !has(t, "client_secret"));
    assert!(t.assertion.as_ref().unwrap().aud.ends_with("/oauth2/token"));
    let again = sb2.refresh_token().unwrap();
    assert_ne!(again, rotated);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!("{again}\n")
    );
}

#[test]
fn a_refused_refresh_token_is_fatal_with_a_hint_and_the_file_is_left_alone() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        refresh_token: Some("rt-current".to_string()),
        ..SandboxConfig::default()
    });
    let file = env.write("rt", "rt-stale");
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 2)));
    let out = oauth_run(
        &env,
        &sb,
        &input,
        CLIENT_SECRET,
        &[
            "--refresh-token-file",
            file.to_str().unwrap(),
            "--tenant",
            qualrecon::sandbox::TENANT,
            "--client-id",
            qualrecon::sandbox::CLIENT_ID,
        ],
    )
    .output()
    .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("invalid_grant") && said.contains("--refresh-token-file"),
        "{said}"
    );
    assert!(!said.contains("rt-stale"), "{said}");
    assert!(sb.customer_requests().is_empty());
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "rt-stale");
}

#[test]
fn a_refresh_token_from_the_environment_works_and_says_it_cannot_be_kept() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        refresh_token: Some("rt-env-1".to_string()),
        ..SandboxConfig::default()
    });
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 2)));
    let out = oauth_run(
        &env,
        &sb,
        &input,
        CLIENT_SECRET,
        &[
            "--tenant",
            qualrecon::sandbox::TENANT,
            "--client-id",
            qualrecon::sandbox::CLIENT_ID,
        ],
    )
    .env("PARTNER_CENTER_REFRESH_TOKEN", "rt-env-1")
    .output()
    .unwrap();
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert_eq!(
        token_requests(&sb)[0].grant_type.as_deref(),
        Some("refresh_token")
    );
    assert!(
        said.contains("PARTNER_CENTER_REFRESH_TOKEN cannot be updated"),
        "{said}"
    );
    assert!(!said.contains("rt-env-1"));
}

#[test]
fn conflicting_credentials_are_a_usage_error_naming_both_and_nothing_is_sent() {
    let env = Env::new();
    let (cert, path) = certificate(&env, "app.pem");
    let sb = TestSandbox::start(registered(&[&cert]));
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 2)));
    let cert_arg = ["--client-certificate", path.to_str().unwrap()];
    // Environment variables set, and the two sources the error must name.
    type Case<'a> = (&'a [(&'a str, &'a str)], [&'a str; 2]);
    let cases: [Case; 3] = [
        (
            &[("PARTNER_CENTER_TOKEN", "sandbox-token")],
            ["PARTNER_CENTER_TOKEN", "--client-certificate"],
        ),
        (
            &[("PARTNER_CENTER_CLIENT_SECRET", "s3cr3t-value")],
            ["--client-certificate", "PARTNER_CENTER_CLIENT_SECRET"],
        ),
        // A refresh token does not make room for a second client credential.
        (
            &[
                ("PARTNER_CENTER_CLIENT_SECRET", "s3cr3t-value"),
                ("PARTNER_CENTER_REFRESH_TOKEN", "rt-value"),
            ],
            ["--client-certificate", "PARTNER_CENTER_CLIENT_SECRET"],
        ),
    ];
    for (vars, both) in cases {
        let mut cmd = signed_in_run(&env, &sb, &input, &cert_arg);
        for (k, v) in vars {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let said = text(&out);
        assert_eq!(out.status.code(), Some(2), "{both:?}: {said}");
        assert!(said.contains(both[0]) && said.contains(both[1]), "{said}");
        assert!(!said.contains("s3cr3t-value") && !said.contains("rt-value"));
    }
    let out = signed_in_run(&env, &sb, &input, &[])
        .env("PARTNER_CENTER_TOKEN", "sandbox-token")
        .env("PARTNER_CENTER_REFRESH_TOKEN", "rt-value")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("PARTNER_CENTER_REFRESH_TOKEN"));
    assert!(sb.journal().is_empty(), "a request was sent");
}

#[test]
fn run_sandbox_signs_in_with_a_generated_certificate_or_a_refresh_token_file() {
    let env = Env::new();
    let made = env
        .cmd()
        .args(["sandbox", "--make-test-certificate", "certs"])
        .output()
        .unwrap();
    assert_eq!(made.status.code(), Some(0), "{}", text(&made));
    let pem = env.path("certs").join("qualrecon-test.pem");
    let public = std::fs::read_to_string(env.path("certs").join("qualrecon-test.crt")).unwrap();
    assert!(public.contains("BEGIN CERTIFICATE") && !public.contains("PRIVATE KEY"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&pem).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the key file is private");
    }
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Approved, 3)));
    let sandbox_run = |extra: &[&str]| {
        env.cmd()
            .args(["run", "--sandbox", "--input"])
            .arg(&input)
            .arg("--out")
            .arg(env.out())
            .args(extra)
            .output()
            .unwrap()
    };
    let out = sandbox_run(&["--client-certificate", pem.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let rt = env.write("rt", "my-sandbox-refresh-token\n");
    let out = sandbox_run(&["--refresh-token-file", rt.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let now = std::fs::read_to_string(&rt).unwrap();
    assert!(
        now.ends_with('\n') && now.trim() != "my-sandbox-refresh-token",
        "not rotated: {now}"
    );
}
