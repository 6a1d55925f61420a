//! qualrecon: look up Partner Center customer qualifications for a whole
//! customer list and write a spreadsheet-safe report.
//!
//! Data flows one way: `cli` → `config` → `input` → `lookup` (with `pacer`,
//! `api`, `auth` with `certificate`, `model`) → `report`; with
//! `--all-customers`, `customers` pages through Partner Center's customer
//! list in place of `input`. `transport` holds what is accepted from the
//! network (URLs, redirects, body sizes). The `sandbox` is a fake
//! Partner Center that shares only `model` with the client. `journal`
//! records outcomes for `--resume`. `run` wires the commands.

// Unreachable `pub` is checked here, for the library only, not in
// Cargo.toml's [lints]: there it would also reach the integration tests'
// shared `tests/common` modules and the benchmark. So is an `allow`
// without a reason (the tests and the bench carry a few).
#![warn(unreachable_pub, clippy::allow_attributes_without_reason)]

pub mod auth;
pub(crate) mod certificate;
pub mod cli;
pub(crate) mod customers;
pub mod exit;
pub mod fsutil;
pub mod journal;
pub(crate) mod logging;
pub(crate) mod progress;
pub mod run;
pub mod sandbox;
pub(crate) mod signals;
pub(crate) mod transport;

// Being reworked by others right now. Their `pub` items become
// `pub(crate)`, and the public ones get docs, when that lands; each
// expectation then fails the build until its line is removed.
#[expect(missing_docs, reason = "being reworked; documented when that lands")]
pub mod api;
#[expect(unreachable_pub, reason = "being reworked; narrowed when that lands")]
pub(crate) mod config;
#[expect(unreachable_pub, reason = "being reworked; narrowed when that lands")]
pub(crate) mod input;
#[expect(missing_docs, reason = "being reworked; documented when that lands")]
pub mod lookup;
#[expect(missing_docs, reason = "being reworked; documented when that lands")]
#[expect(unreachable_pub, reason = "being reworked; narrowed when that lands")]
pub(crate) mod model;
#[expect(missing_docs, reason = "being reworked; documented when that lands")]
pub mod pacer;
// Some items are used only by its tests since the report writer was
// rewritten, and `Outcomes::is_empty` by nothing.
#[expect(dead_code, reason = "being reworked; the unused items go then")]
#[expect(unreachable_pub, reason = "being reworked; narrowed when that lands")]
pub(crate) mod report;
