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

pub mod api;
pub mod auth;
pub mod certificate;
pub mod cli;
pub mod config;
pub mod customers;
pub mod exit;
pub mod fsutil;
pub mod input;
pub mod journal;
pub mod logging;
pub mod lookup;
pub mod model;
pub mod pacer;
pub mod progress;
pub mod report;
pub mod run;
pub mod sandbox;
pub mod signals;
pub mod transport;
