//! qualrecon: look up Partner Center customer qualifications for a whole
//! customer list and write a spreadsheet-safe report.
//!
//! Data flows one way: `cli` → `config` → `input` → `lookup` (with `pacer`,
//! `api`, `auth`, `model`) → `report`. The `sandbox` is a fake Partner Center
//! that shares only `model` with the client.

pub mod cli;
pub mod input;
pub mod model;
pub mod sandbox;
