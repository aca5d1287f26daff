//! `custody`: the command-line tool for suppliers, ledger operators and auditors.
//!
//! Arguments are parsed in `cli`, each command runs in `commands`, and errors are mapped
//! to the exit codes of `exit` here, in one place.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use ledger_cli::{cli, commands, exit};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match commands::run(cli) {
        Ok(code) => exit::code(code),
        Err(error) => {
            eprintln!("error: {error:#}");
            exit::code(exit::ERROR)
        }
    }
}
