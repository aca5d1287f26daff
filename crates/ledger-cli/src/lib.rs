//! The `custody` command-line tool as a library: argument types (`cli`), the commands
//! (`commands`), terminal output and bounded input (`io`), key files and exit codes. It
//! holds no ledger logic: every command parses its arguments, calls the engine
//! ([`ledger::Ledger`]), and prints. `main.rs` maps the outcome to an exit code.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod exit;
pub mod io;
pub mod keyfile;
