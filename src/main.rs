//! The `qualrecon` binary: parse, run, print the whole error chain once, exit.

use std::process::ExitCode;

use clap::Parser;
use qualrecon::cli::{Cli, Command};

fn main() -> ExitCode {
    // As given (a path need not be UTF-8); read as text only to find
    // `--log-format json` when the command line does not parse.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => {
            let text: Vec<String> = args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect();
            return qualrecon::run::command_line_error(e, &text);
        }
    };
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
