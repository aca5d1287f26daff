//! The `custody` command-line tool as a library: argument types (`cli`), the commands
//! (`commands`), the glue between the store and the rules (`ledger`), the demo scenario
//! and key files. `main.rs` only maps the outcome to an exit code; end-to-end tests and
//! benchmarks use the same functions the commands do.
#![forbid(unsafe_code)]

pub mod cli;
pub mod commands;
pub mod demo;
pub mod exit;
pub mod io;
pub mod keyfile;
pub mod ledger;
pub mod synth;
