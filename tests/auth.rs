//! Signing in: a client secret, a certificate or a refresh token, against
//! the in-process sandbox (its journal keeps form field names, the grant
//! type and the assertion's claims, never a secret) or a hostile token
//! endpoint; tokens refreshed before they expire and once after a 401;
//! refused credentials and tokens fatal, with a hint and before any
//! customer request; no secret in any output. Test certificates are made at
//! test time, by `qualrecon sandbox --make-test-certificate` or the same
//! library function (expired ones need a validity in the past).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::hostile::{self, Hostile, MIB, RSS_LIMIT, SECRET, run_command, run_measured};
use common::{
    Env, TestSandbox, app_run, approved, assert_counts_match, by_customer, folder_text, id_csv,
    in_process_lookup, lossy, oauth_run, rows_by_id, text,
};
use qualrecon::auth::Credentials;
use qualrecon::lookup::{LookupSettings, LookupStatus, look_up_all};
use qualrecon::sandbox::{
    Answer, CLIENT_ID, CLIENT_SECRET, JournalEntry, Sandbox, SandboxConfig, TENANT,
    TestCertificate, TokenCheck, ids_for,
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
    let mut c = app_run(env, sb, input, extra);
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
        assert!(!folder_text(&env.out()).contains(key_line));
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
    let out = app_run(&env, &sb, &input, &rt_arg).output().unwrap();
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
    assert!(!folder_text(&env.out()).contains(&rotated));

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
    let out = app_run(
        &env,
        &sb,
        &input,
        &["--refresh-token-file", file.to_str().unwrap()],
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
    let out = app_run(&env, &sb, &input, &[])
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
    let sandbox_run = |extra: &[&str]| env.sandbox_run(&input, extra).output().unwrap();
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

#[test]
fn a_401_refreshes_the_token_once_and_retries_the_customer() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig {
        revoke_tokens_after: Some(30),
        ..SandboxConfig::default()
    });
    let ids = approved(120);
    let input = env.write("in.csv", id_csv(&ids));
    app_run(&env, &sb, &input, &[]).assert().success();

    let journal = sb.journal();
    let issued: Vec<&JournalEntry> = journal
        .iter()
        .filter(|e| e.customer.is_none() && e.outcome == "token-issued")
        .collect();
    // The first token before any customer, one refresh after the
    // revocation: every customer that got a 401 shares it (no stampede).
    assert_eq!(
        issued.len(),
        2,
        "token requests: {:?}",
        journal
            .iter()
            .filter(|e| e.customer.is_none())
            .collect::<Vec<_>>()
    );
    let refreshed_at = issued[1].at;

    let customers: Vec<&JournalEntry> = journal.iter().filter(|e| e.customer.is_some()).collect();
    let revoked: Vec<&&JournalEntry> = customers
        .iter()
        .filter(|e| e.token == TokenCheck::Revoked)
        .collect();
    assert!(!revoked.is_empty(), "the revocation hit no request");
    assert!(revoked.iter().all(|e| e.status == 401));
    assert!(
        customers
            .iter()
            .all(|e| matches!(e.token, TokenCheck::Valid | TokenCheck::Revoked)),
        "{customers:?}"
    );

    let per = by_customer(&sb.customer_requests());
    let mut retried = 0;
    for (id, reqs) in &per {
        let unauthorized = reqs.iter().filter(|e| e.status == 401).count();
        let oks = reqs.iter().filter(|e| e.status == 200).count();
        assert_eq!(oks, 1, "{id}: {reqs:?}");
        assert_eq!(reqs.last().unwrap().status, 200, "{id}: {reqs:?}");
        assert!(unauthorized <= 1, "{id} got 401 twice: {reqs:?}");
        if unauthorized == 1 {
            retried += 1;
            assert_eq!(reqs.len(), 2, "{id}: {reqs:?}");
            assert_eq!(reqs[0].status, 401);
            assert_eq!(reqs[1].token, TokenCheck::Valid);
            assert_eq!(
                reqs[0].request_id, reqs[1].request_id,
                "MS-RequestId changed across the retry"
            );
        } else {
            assert_eq!(reqs.len(), 1, "{id}: {reqs:?}");
        }
    }
    assert_eq!(retried, revoked.len());

    // Once a refreshed token has worked, nobody uses a revoked one again.
    let first_fresh_ok = customers
        .iter()
        .filter(|e| e.status == 200 && e.token == TokenCheck::Valid && e.at > refreshed_at)
        .map(|e| e.at)
        .min()
        .expect("a 200 after the refresh");
    let late: Vec<_> = revoked.iter().filter(|e| e.at > first_fresh_ok).collect();
    assert!(
        late.is_empty(),
        "revoked tokens after the refresh: {late:?}"
    );

    let rows = rows_by_id(&env, &ids);
    assert!(rows.values().all(|r| r["lookup_status"] == "ok"));
    let s = env.summary();
    assert_eq!(s["lookups"]["requests"], customers.len() as u64);
    assert_eq!(s["lookups"]["retries"], retried as u64);
}

#[test]
fn a_refused_static_token_is_not_retried_and_each_customer_is_unauthorized() {
    // A static token cannot be refreshed: a 401 is final at once, and the
    // hint must not claim a refresh happened.
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(5);
    let input = env.write("in.csv", id_csv(&ids));
    env.run_against(&sb, &input, &[])
        .env("PARTNER_CENTER_TOKEN", "not-the-sandbox-token")
        .assert()
        .code(3);
    let journal = sb.journal();
    assert!(journal.iter().all(|e| e.customer.is_some()), "{journal:?}");
    assert_eq!(journal.len(), ids.len(), "a 401 on a static token is final");
    assert!(journal.iter().all(|e| e.status == 401));
    let rows = rows_by_id(&env, &ids);
    for r in rows.values() {
        assert_eq!(r["lookup_status"], "unauthorized", "{r:?}");
        assert!(r["error"].contains("HTTP 401"), "{r:?}");
        assert!(r["error"].contains("PARTNER_CENTER_TOKEN"), "{r:?}");
        assert!(!r["error"].contains("even after a refresh"), "{r:?}");
    }
    assert_counts_match(&env, &rows);
}

#[test]
fn a_token_refused_customer_after_customer_stops_the_run_and_resume_finishes_it() {
    // An expired static token would otherwise cost one refused request per
    // remaining customer; after a streak of 401s the run stops (exit 1),
    // writes everything it knows, and --resume with a good token finishes.
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let ids = approved(60);
    let input = env.write("in.csv", id_csv(&ids));
    let out = env
        .run_against(&sb, &input, &["--concurrency", "4"])
        .env("PARTNER_CENTER_TOKEN", "expired-static-token")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused the token"));
    let refused = sb.customer_requests().len();
    let streak = qualrecon::lookup::UNAUTHORIZED_STREAK as usize;
    assert!(
        (streak..streak + 8).contains(&refused),
        "{refused} requests"
    );
    let s = env.summary();
    assert_eq!(s["run"]["status"], "interrupted");
    let rows = env.rows();
    assert_eq!(rows.len(), 60, "every customer has a row");
    assert!(
        rows.iter()
            .all(|r| ["unauthorized", "failed"].contains(&r["lookup_status"].as_str()))
    );

    env.run_against(&sb, &input, &["--resume"])
        .assert()
        .success();
    let rows = env.rows();
    assert_eq!(rows.len(), 60);
    assert!(rows.iter().all(|r| r["lookup_status"] == "ok"));
    assert_eq!(sb.customer_requests().len(), refused + 60);
}

#[tokio::test(start_paused = true)]
async fn a_token_endpoint_outage_mid_run_ends_each_customer_after_its_attempts() {
    // No API request is sent while no token can be had, so the attempt
    // limit must count these failures too, or the lookups would spin until
    // the whole run's retry budget is gone.
    let sb = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dead_url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let dead_token_endpoint = Credentials::Client(qualrecon::auth::ClientCredentials {
        token_url: format!("{dead_url}/t/oauth2/v2.0/token"),
        client_id: "c".into(),
        credential: qualrecon::auth::ClientCredential::Secret(secrecy::SecretString::from(
            "s".to_string(),
        )),
        endpoint: qualrecon::auth::TokenEndpoint::V2,
        refresh_token: None,
    });
    let ids = approved(3);
    let settings = LookupSettings::new(4, ids.len());
    let max_attempts = settings.max_attempts;
    let budget = settings.retry_budget;
    let lookup = in_process_lookup(&sb, dead_token_endpoint, settings, 100.0);
    let result = look_up_all(lookup, &ids, |_, _| {}).await;
    for o in result.outcomes {
        let o = o.expect("every customer ends");
        assert_eq!(o.status, LookupStatus::Failed);
        assert!(
            o.error
                .as_deref()
                .unwrap()
                .contains("could not get a token"),
            "{o:?}"
        );
        assert_eq!(o.attempts, 0, "no API request without a token");
        // Ended by its own attempt limit, not by draining the run's budget.
        assert!(
            o.error
                .as_deref()
                .unwrap()
                .contains("gave up after the last attempt"),
            "{o:?}"
        );
    }
    assert!(sb.journal().is_empty());
    assert!(
        u64::from(max_attempts) * 3 < budget,
        "the budget must not be what stops them"
    );
    sb.shutdown().await;
}

#[test]
fn short_lived_tokens_are_refreshed_before_they_expire_v2_and_v1() {
    for endpoint in ["v2", "v1"] {
        let env = Env::new();
        let sb = TestSandbox::start(SandboxConfig {
            token_lifetime: Duration::from_secs(2),
            ..SandboxConfig::default()
        });
        let ids = approved(250);
        let input = env.write("in.csv", id_csv(&ids));
        app_run(
            &env,
            &sb,
            &input,
            &["--token-endpoint", endpoint, "--rate", "80"],
        )
        .assert()
        .success();
        let journal = sb.journal();
        let issued = journal
            .iter()
            .filter(|e| e.customer.is_none() && e.status == 200)
            .count();
        assert!(
            issued >= 2,
            "{endpoint}: only {issued} tokens for a 3 s run with 2 s tokens"
        );
        let expired: Vec<_> = journal
            .iter()
            .filter(|e| e.token == TokenCheck::Expired)
            .collect();
        assert!(
            expired.is_empty(),
            "{endpoint}: requests with an expired token: {expired:?}"
        );
        assert!(env.rows().iter().all(|r| r["lookup_status"] == "ok"));
    }
}

#[test]
fn rejected_credentials_are_fatal_before_any_customer_request() {
    let cases = [
        (TENANT, CLIENT_ID, "wrong-secret-d3adb33f", "AADSTS7000215"),
        (
            TENANT,
            "11111111-2222-3333-4444-555555555555",
            CLIENT_SECRET,
            "AADSTS700016",
        ),
        (
            "nosuchtenant.onmicrosoft.com",
            CLIENT_ID,
            CLIENT_SECRET,
            "AADSTS90002",
        ),
    ];
    for (tenant, client, secret, code) in cases {
        let env = Env::new();
        let sb = TestSandbox::start(SandboxConfig::default());
        let input = env.write("in.csv", id_csv(&approved(3)));
        let out = oauth_run(
            &env,
            &sb,
            &input,
            secret,
            &["--tenant", tenant, "--client-id", client],
        )
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(1), "{code}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(code), "{stderr}");
        assert!(stderr.contains("hint:"), "{stderr}");
        assert!(!stderr.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret));
        assert!(
            sb.customer_requests().is_empty(),
            "{code}: a customer was requested"
        );
        assert!(!env.out().join("summary.json").exists());
    }
}

#[test]
fn the_secret_appears_in_no_output_file_or_stream() {
    let env = Env::new();
    let sb = TestSandbox::start(SandboxConfig::default());
    let input = env.write("in.csv", id_csv(&ids_for(Answer::Forbidden, 2)));
    let out = app_run(&env, &sb, &input, &["--log-format", "json"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(!text(&out).contains(CLIENT_SECRET));
    assert!(!folder_text(&env.out()).contains(CLIENT_SECRET));
}

/// A server that quotes the request it refused (the form with the secret,
/// the `Authorization` header) must not carry the credential into any
/// message or file, nor its escape codes onto the terminal.
#[test]
fn credentials_a_server_echoes_back_are_scrubbed_everywhere() {
    let login = Hostile::start(hostile::Answer::Echo { status: 401 }, hostile::Answer::Open);
    let env = Env::new();
    let out = hostile::oauth_run(&env, &login.url(), &login.url(), 2)
        .output()
        .unwrap();
    let stderr = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        login.token_requests()[0].contains(SECRET),
        "the echo must quote it"
    );
    assert!(
        stderr.contains("AADSTS7000215") && stderr.contains("client_secret=***"),
        "{stderr}"
    );
    assert!(!stderr.contains(SECRET), "{stderr}");
    assert!(!stderr.contains(['\u{1b}', '\u{7}']), "{stderr:?}");

    let token = hostile::ISSUED_TOKEN;
    for status in [403, 500, 200] {
        let api = Hostile::start(hostile::Answer::Open, hostile::Answer::Echo { status });
        let env = Env::new();
        let out = hostile::oauth_run(&env, &api.url(), &api.url(), 2)
            .args(["--format", "csv,json,xlsx,jsonl"])
            .output()
            .unwrap();
        let all = format!(
            "{}{}{}",
            lossy(&out.stdout),
            lossy(&out.stderr),
            folder_text(&env.out())
        );
        assert!(api.api_requests().iter().all(|r| r.contains(token)));
        assert!(all.contains("Bearer ***"), "HTTP {status}: {all}");
        assert!(
            !all.contains(token),
            "HTTP {status}: the token leaked: {all}"
        );
        let xlsx = common::xlsx::Workbook::open(&env.out().join("qualifications.xlsx"));
        assert!(xlsx.texts().contains("Bearer ***"), "HTTP {status}");
        assert!(
            !xlsx.texts().contains(token),
            "HTTP {status}: the token leaked"
        );
    }
}

/// An API that refuses every token: one refresh (the first customers
/// share it), not one per customer on the way to the stop after
/// customers refused in a row.
#[test]
fn a_token_the_api_refuses_is_refreshed_once_not_for_every_customer() {
    let api = Hostile::start(hostile::Answer::Open, hostile::Answer::Echo { status: 401 });
    let env = Env::new();
    let out = hostile::oauth_run(&env, &api.url(), &api.url(), 40)
        .output()
        .unwrap();
    let stderr = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");
    let tokens = api.token_requests().len();
    assert!(tokens <= 3, "{tokens} token requests");
    assert_eq!(env.summary()["run"]["status"], "interrupted");
}

/// A token endpoint that asks to be left alone for an hour is not called
/// again inside that hour (the secret would go into the window it
/// announced), and the run says when to come back.
#[test]
fn a_token_endpoint_retry_after_of_an_hour_is_not_sat_out_nor_ignored() {
    let login = Hostile::start(
        hostile::Answer::Throttled {
            retry_after: "3600",
        },
        hostile::Answer::Open,
    );
    let env = Env::new();
    let started = std::time::Instant::now();
    let out = hostile::oauth_run(&env, &login.url(), &login.url(), 2)
        .output()
        .unwrap();
    let stderr = lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert_eq!(
        login.token_requests().len(),
        1,
        "called again inside the window"
    );
    assert!(
        stderr.contains("HTTP 429") && stderr.contains("3600 s (Retry-After)"),
        "{stderr}"
    );
    assert!(login.api_requests().is_empty());
}

#[test]
fn a_token_endpoint_redirect_is_fatal_and_the_secret_is_not_resent() {
    for status in [302, 307, 308] {
        let elsewhere = Hostile::start_second(hostile::Answer::Open, hostile::Answer::Open);
        let login = Hostile::start(
            hostile::Answer::Redirect {
                status,
                to: elsewhere.url(),
            },
            hostile::Answer::Open,
        );
        let env = Env::new();
        let out = hostile::oauth_run(&env, &login.url(), &login.url(), 3)
            .output()
            .unwrap();
        let stderr = lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(&format!("HTTP {status} "))
                && stderr.contains(&format!("redirect to {} refused", elsewhere.host())),
            "{stderr}"
        );
        assert!(
            !stderr.contains(SECRET) && !stderr.contains("leak"),
            "{stderr}"
        );
        assert!(elsewhere.journal().is_empty(), "{:?}", elsewhere.journal());
        // One token request (not retried), no customer asked.
        assert_eq!(login.token_requests().len(), 1);
        assert!(login.api_requests().is_empty());
    }
}

#[test]
fn huge_token_answers_are_fatal_auth_errors() {
    for answer in [
        hostile::Answer::Huge {
            status: 200,
            length: 300 * 1_000_000,
        },
        hostile::Answer::Chunked {
            status: 200,
            length: None,
        },
    ] {
        let login = Hostile::start(answer.clone(), hostile::Answer::Open);
        let env = Env::new();
        let mut cmd = run_command(
            &env,
            2,
            &[
                "--base-url",
                &login.url(),
                "--authority",
                &login.url(),
                "--tenant",
                "t",
                "--client-id",
                "c",
            ],
        );
        cmd.env("PARTNER_CENTER_CLIENT_SECRET", SECRET);
        let run = run_measured(cmd, env.dir.path(), Duration::from_secs(60));
        assert_eq!(run.code, Some(1), "{answer:?}: {}", run.stderr);
        assert!(
            run.stderr
                .contains("response body larger than the 1 MiB limit"),
            "{}",
            run.stderr
        );
        assert_eq!(login.token_requests().len(), 1, "{answer:?}: not retried");
        assert!(login.api_requests().is_empty());
        assert!(
            run.peak_rss <= RSS_LIMIT,
            "peak RSS {} MiB",
            run.peak_rss / MIB
        );
    }
}
