//! The `qualrecon` binary: parse, run, print the whole error chain once, exit.

use std::process::ExitCode;

use clap::Parser;
use qualrecon::cli::{Cli, Command};
use qualrecon::exit::Exit;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => qualrecon::run::main(*args),
        Command::Sandbox(args) => qualrecon::run::sandbox_main(&args),
        Command::Check(args) => qualrecon::run::check_main(&args),
    };
    match result {
        Ok(exit) => exit.into(),
        Err(e) => {
            let exit = Exit::for_error(&e);
            if exit == Exit::Usage {
                eprintln!("error: {e:#}\n\nFor more information, try 'qualrecon run --help'.");
            } else {
                eprintln!("error: {e:#}");
            }
            exit.into()
        }
    }
}
