//! `custody`: the command-line tool for suppliers, ledger operators and auditors.
//!
//! Arguments are parsed in `cli`, each command runs in `commands`, and errors are mapped
//! to the exit codes of `exit` here, in one place.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use ledger_cli::{cli, commands, exit, io};

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    let code = match commands::run(cli) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit::ERROR
        }
    };
    if std::env::var_os(ledger_scenario::bench::PEAK_RSS_ENV).is_some()
        && let Some(kb) = io::peak_rss_kb()
    {
        eprintln!("{}{kb}", ledger_scenario::bench::PEAK_RSS_PREFIX);
    }
    exit::code(code)
}
