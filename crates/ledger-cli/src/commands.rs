//! Runs a parsed command line. Each command lives in its own module and returns the exit
//! code; errors bubble up to `main`, which maps them to exit code 2.

mod append;
mod bench;
pub mod bundle;
pub mod checkpoint;
mod init;
mod keygen;
mod parties;
mod proof;
mod report;
mod show;
mod sign;
mod trace;
mod verify;

use anyhow::Result;

use crate::cli::{Cli, Command};

pub use append::{Outcome, append_statements, print_append};
pub use init::init_ledger;
pub use parties::roles;
pub use sign::sign_text;
pub use trace::print_trace;
pub use verify::{code as verdict_code, print_report};

/// Runs `cli` and returns the process exit code.
pub fn run(cli: Cli) -> Result<u8> {
    let dir = cli.ledger;
    match cli.command {
        Command::Init(args) => init::run(&dir, args),
        Command::Keygen(args) => keygen::run(args),
        Command::Enroll(args) => parties::enroll(&dir, args),
        Command::Revoke(args) => parties::revoke(&dir, args),
        Command::Sign(args) => sign::run(&dir, args),
        Command::Append(args) => append::run(&dir, args),
        Command::Verify(args) => verify::run(&dir, args),
        Command::Trace(args) => trace::run(&dir, args),
        Command::Report(args) => report::run(&dir, args),
        Command::Checkpoint(args) => checkpoint::run(&dir, args),
        Command::Proof(args) => proof::run(&dir, args),
        Command::ExportBundle(args) => bundle::export(&dir, args),
        Command::Show(args) => show::run(&dir, args),
        Command::Demo(args) => crate::demo::run(args),
        Command::Bench(args) => bench::run(args),
    }
}

/// Prints `value` as one line of JSON.
pub fn print_json(value: &impl serde::Serialize) -> Result<()> {
    crate::outln!("{}", serde_json::to_string(value)?);
    Ok(())
}
