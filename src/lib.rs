//! qualrecon: look up Partner Center customer qualifications for a whole
//! customer list and write a spreadsheet-safe report.
//!
//! # How a run flows
//!
//! The binary parses the command line ([`cli`]) and hands it to [`run`],
//! which wires the three commands. For `run`:
//!
//! 1. `config` merges the command line, the environment and a TOML file
//!    into one checked configuration, and `logging` starts the log lines;
//! 2. `input` reads the customer list before anything else; the output
//!    folder is locked ([`fsutil`]) and `--previous` read (`report`);
//!    `signals` turns SIGINT, SIGTERM and `--deadline` into a stop;
//! 3. `run/client.rs` sets up the sandbox (with `--sandbox`), the HTTP
//!    client and the credentials ([`auth`], with `certificate`); with
//!    `--all-customers`, `customers` pages through Partner Center's own
//!    list in place of `input`; `run/resume.rs` takes over the [`journal`]
//!    of an earlier run for `--resume`, and the token is proved;
//! 4. [`lookup`] looks every customer up, concurrently, with retries and
//!    the stop: [`pacer`] paces the requests, [`api`] sends one and
//!    classifies its answer, `model` is the API's JSON, and `transport`
//!    holds what is accepted from the network (https, no redirects, body
//!    sizes);
//! 5. each outcome is appended to the journal, counted by `progress` and
//!    kept compact (`report::outcomes`);
//! 6. `report` makes the rows customer by customer and writes every
//!    report file through one exporter per format, each replaced
//!    atomically, `summary.json` last; [`exit`] maps how it ended to the
//!    exit code.
//!
//! `check` reads the input (or the customer list) and prints what it found.
//! The [`sandbox`] is a fake Partner Center and AAD for the quickstart,
//! `qualrecon sandbox` and the tests; it shares only `model` with the
//! client.
//!
//! # Imports run one way
//!
//! No file imports a file that imports it back (`tests/imports.rs` checks
//! it; `report/` still has one cycle, listed there while it is taken
//! apart). `run` uses what it wires. `cli` uses the modules that own the
//! concepts of its values (`auth::TokenEndpoint`, `logging::LogFormat`,
//! `config`'s value types, `report::formats`, `input`'s encoding labels,
//! `sandbox::SandboxArgs`), and `config` uses `cli`. `lookup` uses `api`,
//! `auth`, `pacer`, `model` and a default of `config`; `api` uses `auth`;
//! both use `transport`. `transport`, `pacer`, `fsutil` and `redact` use
//! no other module, `model` and `logging` only `redact`, and the sandbox
//! uses only `model` and itself. Every credential is made through `redact::secret`,
//! and text a server sends passes `redact::scrub` before it becomes a
//! message or a report cell. `docs/ARCHITECTURE.md` draws this and says where a new output
//! format, credential type or sandbox scenario goes.
//!
//! # Public surface
//!
//! `pub` modules are what the binary, the integration tests and the
//! benchmarks use; the rest is `pub(crate)`. Every item reachable from
//! outside the crate has a doc comment (`missing_docs`), and a `pub` item
//! nothing outside can reach is flagged (`unreachable_pub`); both lints are
//! set in `Cargo.toml`. Inside the `pub` modules, items only the crate uses
//! are narrowed to `pub(crate)` as modules are reworked; not all are yet.

pub mod api;
pub mod auth;
pub(crate) mod certificate;
pub mod cli;
pub(crate) mod config;
pub(crate) mod customers;
pub mod exit;
pub mod fsutil;
pub mod input;
pub mod journal;
pub(crate) mod logging;
pub mod lookup;
pub mod model;
pub mod pacer;
pub(crate) mod progress;
pub(crate) mod redact;
pub mod report;
pub mod run;
pub mod sandbox;
pub(crate) mod signals;
pub(crate) mod transport;
