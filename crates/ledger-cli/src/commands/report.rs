//! `custody report`: the compliance report of a lot, computed by the engine from its
//! verified provenance and written in one of `ledger-report`'s formats. Exit code 0 for a
//! pass, 1 for a failed verdict (the report is still written), 2 for errors.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use ledger_report::Format;

use crate::cli::ReportArgs;
use crate::commands::{close, load_policy, open_to_read};
use crate::exit;

/// Runs `custody report`.
pub fn run(dir: &Path, args: ReportArgs) -> Result<u8> {
    let format = Format::parse(&args.format)
        .with_context(|| format!("unknown report format {:?}", args.format))?;
    let policy = load_policy(args.policy.as_deref())?;
    let ledger = open_to_read(dir)?;
    let report = ledger.report(&args.lot, &policy, ledger::now()?)?;
    close(ledger)?;
    let text = ledger_report::render_for(&report.data, format, &args.base_url)?;
    match &args.out {
        Some(path) => crate::io::write_atomically(path, text.as_bytes())?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .and_then(|()| stdout.flush())
                .context("cannot write the report to standard output")?;
        }
    }
    Ok(exit::verdict(report.verdict))
}
