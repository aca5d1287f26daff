//! `custody demo`: builds the demo supply chain of `ledger_scenario::demo` in a fresh
//! ledger, then verifies the battery module and prints its provenance.

use std::path::PathBuf;

use anyhow::{Context, Result};
use ledger::Silent;
use ledger_core::id::LotId;
use ledger_core::policy::Policy;
use ledger_scenario::demo::{self, MODULE, ORIGIN};
use serde_json::json;

use crate::cli::DemoArgs;
use crate::commands::trace::print_trace;
use crate::commands::verify::print_report;
use crate::exit;

/// Runs `custody demo`.
pub fn run(args: DemoArgs) -> Result<u8> {
    let temp;
    let dir: PathBuf = match args.dir {
        Some(dir) => dir,
        None => {
            temp = tempfile::tempdir().context("cannot create a temporary directory")?;
            temp.path().join("ledger")
        }
    };
    let (ledger, keys) = demo::enrolled_ledger(&dir)?;
    crate::outln!("ledger {} (origin {ORIGIN})", dir.display());
    crate::outln!("enrolled {} parties with test keys", keys.len() - 1);
    let mut ctx = ledger.signing_context();
    let appended = demo::append_events(&ledger, &keys, &mut ctx, demo::SCENARIO)?;
    crate::outln!("appended {appended} signed custody events");

    let lot = LotId::new(MODULE)?;
    let checked = ledger.verify_lot(&lot, &Policy::default(), ledger::now()?)?;
    crate::outln!();
    print_trace(&checked.trace);
    crate::outln!();
    print_report(&checked.report);
    let whole = ledger.verify(&Silent)?;
    crate::commands::close(ledger)?;
    crate::outln!(
        "whole ledger: {}, {} entries",
        json!(whole.verdict).as_str().unwrap_or_default(),
        whole.entries
    );
    Ok(exit::verdict(checked.report.verdict).max(exit::verdict(whole.verdict)))
}
