//! The `qualrecon` binary: parse, run, print the whole error chain once, exit.

use std::process::ExitCode;

use clap::Parser;
use qualrecon::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => qualrecon::run::main(*args),
        Command::Sandbox(args) => qualrecon::run::sandbox_main(&args),
        Command::Check(args) => qualrecon::run::check_main(&args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => qualrecon::run::fail(&e).into(),
    }
}
