//! `qualrecon sandbox`: serve the fake in the foreground until a signal, or
//! (`--make-test-certificate`) write a test certificate and exit.

use std::io::Write;

use anyhow::Context;
use clap::ValueEnum;

use super::Sandbox;
use super::config::{SandboxArgs, SandboxConfig};
use super::identity::{CLIENT_ID, CLIENT_SECRET, STATIC_TOKEN, TENANT};
use super::journal::JournalEntry;
use super::testcert::TestCertificate;

/// Run the `sandbox` command: bind, print how to use it, serve until
/// `shutdown` resolves (the caller's signal handling: SIGINT or SIGTERM),
/// then shut down gracefully.
pub async fn serve_command(
    args: &SandboxArgs,
    shutdown: impl Future<Output = anyhow::Result<()>>,
) -> anyhow::Result<()> {
    if let Some(dir) = &args.make_test_certificate {
        return make_test_certificate(dir);
    }
    let cfg = SandboxConfig {
        record_journal: args.journal.is_some(),
        ..SandboxConfig::from_args(args)?
    };
    let sandbox = Sandbox::start_on(cfg, args.port)
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{}", args.port))?;
    let scenario = args.scenario.to_possible_value().map_or_else(
        || format!("{:?}", args.scenario),
        |v| v.get_name().to_string(),
    );
    let url = sandbox.base_url();
    // Scripts wait for the first line to learn the port, so write it all at
    // once and flush: stdout is block-buffered when it is a pipe.
    let text = format!(
        "qualrecon sandbox listening on {url} (scenario: {scenario})\n\
         \x20 static token: PARTNER_CENTER_TOKEN={STATIC_TOKEN} qualrecon run --base-url {url} --input samples/tenants.csv --out out/\n\
         \x20 OAuth:        PARTNER_CENTER_CLIENT_SECRET={CLIENT_SECRET} qualrecon run --base-url {url} --authority {url} --tenant {TENANT} --client-id {CLIENT_ID} --input samples/tenants.csv --out out/\n{certificate}{refresh}\
         \x20 Customer list: {customers} customers at {url}/v1/customers; use --all-customers instead of --input.\n\
         \x20 Stop with Ctrl-C.\n",
        customers = args.customers,
        certificate = if args.client_certificate_public.is_empty() {
            String::new()
        } else {
            format!(
                "  certificate:  qualrecon run --client-certificate CERT-AND-KEY.pem --base-url {url} --authority {url} --tenant {TENANT} --client-id {CLIENT_ID} --input samples/tenants.csv --out out/\n"
            )
        },
        refresh = if args.refresh_token.is_some() {
            "  refresh token: put the token into a file and add --refresh-token-file FILE (plus the secret or certificate) to the OAuth line\n".to_string()
        } else {
            String::new()
        },
    );
    // Scoped: the stdout lock must not live across an await (the future
    // would stop being `Send`).
    {
        let mut out = std::io::stdout().lock();
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .context("cannot write to stdout")?;
    }

    shutdown.await?;
    let journal = sandbox.journal.clone();
    sandbox.shutdown().await;
    if let Some(path) = &args.journal {
        write_journal(path, &journal.snapshot())
            .with_context(|| format!("cannot write the journal to {}", path.display()))?;
    }
    Ok(())
}

/// `--make-test-certificate DIR`: a self-signed certificate valid for a year.
fn make_test_certificate(dir: &std::path::Path) -> anyhow::Result<()> {
    let cert = TestCertificate::generate_valid("qualrecon sandbox test certificate")?;
    let (private, public) = cert.write_to(dir)?;
    println!(
        "wrote {} (certificate and private key) and {} (certificate only)\n\
         \x20 without an account: qualrecon run --sandbox --client-certificate {} --input samples/tenants.csv --out out/\n\
         \x20 or serve it:        qualrecon sandbox --client-certificate-public {}",
        private.display(),
        public.display(),
        private.display(),
        public.display()
    );
    Ok(())
}

/// Every request as one JSON object per line: `at` and `retry_after_until`
/// in seconds since the sandbox started, `customer`, `status` (0: reset),
/// `outcome`.
fn write_journal(path: &std::path::Path, entries: &[JournalEntry]) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for e in entries {
        let line = serde_json::json!({
            "at": e.at.as_secs_f64(),
            "method": e.method,
            "path": e.path,
            "customer": e.customer,
            "status": e.status,
            "outcome": e.outcome,
            "retry_after_until": e.retry_after_until.map(|d| d.as_secs_f64()),
        });
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}
