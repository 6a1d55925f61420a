//! The command line, and nothing else: clap derive types. Values stay
//! `Option` where a config file may supply them, because a clap default would
//! make every flag look "set" and the file could never override it
//! (`config.rs` applies the defaults after merging).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::auth::TokenEndpoint;
use crate::config::{Delimiter, HumanDuration, Rate};
use crate::logging::LogFormat;
use crate::sandbox::SandboxArgs;

/// Look up Partner Center customer qualifications (education, nonprofit,
/// government, state-owned) for a whole list of customers, and write a
/// spreadsheet-safe report.
#[derive(Debug, Parser)]
#[command(
    name = "qualrecon",
    version,
    max_term_width = 100,
    args_override_self = true
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The three commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Look up every customer in a CSV and write qualifications.csv/.xlsx and summary.json.
    #[command(after_long_help = RUN_AFTER_HELP)]
    Run(Box<RunArgs>),
    /// Serve the built-in fake Partner Center (API and token endpoints) on loopback.
    Sandbox(SandboxArgs),
    /// Validate an input file without touching the network (or, with
    /// --all-customers, list the customers without looking anything up).
    Check(CheckArgs),
}

/// Shown after `run --help`: what the options cannot say on their own.
const RUN_AFTER_HELP: &str = "\
Signing in, in this order: a static token (PARTNER_CENTER_TOKEN: used as is, no
token endpoint), a refresh token (--refresh-token-file or PARTNER_CENTER_REFRESH_TOKEN:
the refresh-token grant), a certificate (--client-certificate) or a client secret
(PARTNER_CENTER_CLIENT_SECRET or --client-secret-file): the client-credentials grant.
OAuth2 needs --tenant and --client-id, and the refresh-token grant also a certificate
or secret. Two that conflict (a static token with a refresh token or certificate; a
certificate with a secret) are a usage error naming both. --sandbox needs none.

Exit codes: 0 all looked up · 1 fatal (input, output, authentication) · 2 usage ·
3 report written but some lookups failed, input rows were invalid, --deadline hit, or
a Retry-After beyond --max-wait stopped the run ·
4 another run holds the output folder · 130/143 interrupted by SIGINT/SIGTERM
(partial report written; continue with --resume).";

/// How the input file is read; shared by `run` and `check`.
#[derive(Debug, Args, Clone, Default)]
pub struct InputArgs {
    /// CSV of customer tenant ids (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub input: Option<PathBuf>,

    /// Instead of --input: every customer of the partner, listed from Partner
    /// Center (GET /v1/customers, all pages).
    #[arg(long, conflicts_with_all = ["input", "column", "delimiter"])]
    pub all_customers: bool,

    /// Input column holding the ids, by header name or 1-based number
    /// [default: detected from the header or the data].
    #[arg(long, value_name = "NAME")]
    pub column: Option<String>,

    /// Input delimiter: one character, or `tab` / `\t`
    /// [default: sniffed; a .tsv file means tab].
    #[arg(long, value_name = "C")]
    pub delimiter: Option<Delimiter>,

    /// Input encoding: any WHATWG label, such as utf-8, utf-16le, windows-1250 or shift_jis;
    /// a BOM in the file still wins [default: detected: UTF-8 or UTF-16, else windows-1252].
    #[arg(long, value_name = "LABEL", value_parser = crate::input::parse_encoding)]
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

/// `qualrecon check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Which input, read how.
    #[command(flatten)]
    pub input: InputArgs,

    /// With --all-customers: TOML config file with the connection settings
    /// and credentials, as for `run` (which also reads them from the
    /// environment) [env: QUALRECON_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// With --all-customers: list the built-in fake Partner Center's customers.
    #[arg(long)]
    pub sandbox: bool,

    /// With --all-customers: where Partner Center is and how to sign in, as
    /// for `run`.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// Where Partner Center is and how to sign in: shared by `run` and
/// `check --all-customers`.
#[derive(Debug, Args, Default, Clone)]
pub struct ConnectionArgs {
    /// API root: https (plain http only on a loopback host), no user info; redirects
    /// are never followed [env: PARTNER_CENTER_BASE_URL]
    /// [default: https://api.partnercenter.microsoft.com].
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,

    /// The partner's own AAD tenant (id or domain), for OAuth2 client credentials
    /// [env: PARTNER_CENTER_TENANT].
    #[arg(long, value_name = "ID")]
    pub tenant: Option<String>,

    /// App registration (client) id [env: PARTNER_CENTER_CLIENT_ID].
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// File holding the client secret (else env PARTNER_CENTER_CLIENT_SECRET).
    /// There is deliberately no flag that takes the secret itself.
    #[arg(long, value_name = "FILE")]
    pub client_secret_file: Option<PathBuf>,

    /// Sign in with a certificate instead of a secret: a PEM file with the
    /// certificate and its unencrypted RSA key, or a .pfx/.p12 (password in env
    /// PARTNER_CENTER_CERTIFICATE_PASSWORD) [env: PARTNER_CENTER_CLIENT_CERTIFICATE].
    #[arg(long, value_name = "FILE")]
    pub client_certificate: Option<PathBuf>,

    /// Sign in with the refresh token in FILE (Secure Application Model), plus
    /// the client secret or certificate; a renewed token is written back to FILE
    /// [env: PARTNER_CENTER_REFRESH_TOKEN holds the token itself, not written back].
    #[arg(long, value_name = "FILE")]
    pub refresh_token_file: Option<PathBuf>,

    /// Identity host: https (plain http only on a loopback host), no user info
    /// [env: PARTNER_CENTER_AUTHORITY] [default: https://login.microsoftonline.com].
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    /// Which AAD token endpoint to use [default: v2].
    #[arg(long, value_name = "VERSION")]
    pub token_endpoint: Option<TokenEndpoint>,
}

/// `qualrecon run`.
#[derive(Debug, Args, Default)]
pub struct RunArgs {
    /// Which input, read how.
    #[command(flatten)]
    pub input: InputArgs,

    /// Where Partner Center is and how to sign in.
    #[command(flatten)]
    pub connection: ConnectionArgs,

    /// Output folder, created if missing.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,

    /// Max requests per second over the whole run, > 0 [default: 5].
    #[arg(long, value_name = "N", allow_negative_numbers = true)]
    pub rate: Option<Rate>,

    /// Max requests in flight, >= 1 [default: 8].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100_000), allow_negative_numbers = true)]
    pub concurrency: Option<u32>,

    /// TOML config file with any of these options [env: QUALRECON_CONFIG].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Start the built-in fake Partner Center and point the run at it.
    #[arg(long)]
    pub sandbox: bool,

    /// Look up only the first N valid ids (smoke test).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), allow_negative_numbers = true)]
    pub limit: Option<u64>,

    /// Continue an interrupted run in the same --out from its journal: customers
    /// already answered are not requested again; the report covers them all.
    #[arg(long)]
    pub resume: bool,

    /// Stop dispatching after this long (e.g. `90s`, `30m`, `2h`) and write a partial report.
    #[arg(long, value_name = "DURATION")]
    pub deadline: Option<HumanDuration>,

    /// Longest Retry-After to sit out [default: 10m]. A longer one stops the
    /// run: partial report (status `throttled`), exit 3, and the time to run
    /// again with --resume.
    #[arg(long, value_name = "DURATION")]
    pub max_wait: Option<HumanDuration>,

    /// Per-request timeout [default: 30s].
    #[arg(long, value_name = "DURATION")]
    pub request_timeout: Option<HumanDuration>,

    /// In-review entries older than this many days count as stale [default: 30].
    #[arg(long, value_name = "DAYS", allow_negative_numbers = true)]
    pub stale_after: Option<u32>,

    /// Start qualifications.csv with a UTF-8 byte-order mark (Excel on Windows).
    #[arg(long)]
    pub csv_bom: bool,

    /// Report files to write: any of csv,json,xlsx,jsonl [default: csv,json,xlsx].
    /// summary.json is always written (last), so `json` is implied; jsonl is
    /// qualifications.jsonl, the CSV's rows as JSON objects.
    #[arg(long, value_name = "LIST", value_parser = crate::report::formats::Formats::parse_arg)]
    pub format: Option<crate::report::formats::Formats>,

    /// An earlier run's output folder: also write changes.csv (what changed
    /// since then, per customer and qualification).
    #[arg(long, value_name = "DIR")]
    pub previous: Option<PathBuf>,

    /// Input column holding the qualification your own records expect
    /// (Education, Nonprofit, …, or None): adds a `reconciliation` column
    /// [default: a column headed expected_qualification, in any case or spacing].
    #[arg(long, value_name = "NAME")]
    pub expect_column: Option<String>,

    /// Logs on stderr as text or one JSON object per line [default: text].
    #[arg(long, value_name = "FORMAT")]
    pub log_format: Option<LogFormat>,

    /// No progress output, errors only.
    #[arg(long, short)]
    pub quiet: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clap_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
