//! `custody report`: the compliance report of a lot, computed from its verified provenance
//! trace by `ledger-report` and written in one of its formats.
//!
//! The lot is verified first (`verify_lot`: the whole log replayed, the trace walked over
//! the replayed state). Lot and party records and attestations are then read from the
//! store's indexes, as `trace` does; a store whose indexes disagree with its entries fails
//! verification, and the report says so on its first line. Exit code 0 for a pass, 1 for a
//! failed verdict (the report is still written), 2 for errors.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::id::{LotId, PartyId};
use ledger_core::state::StateError;
use ledger_report::{Format, Inputs, Verification, figures};
use ledger_store::Store;

use crate::cli::ReportArgs;
use crate::{exit, ledger};

/// Runs `custody report`.
pub fn run(dir: &Path, args: ReportArgs) -> Result<u8> {
    let format = Format::parse(&args.format)
        .with_context(|| format!("unknown report format {:?}", args.format))?;
    let policy = ledger::load_policy(args.policy.as_deref())?;
    let store = ledger::open(dir)?;
    let lot = LotId::new(args.lot.as_str())?;
    let as_of = ledger::now()?;
    let (report, trace) = ledger::verify_lot(&store, &lot, &policy, as_of)?;
    let trace = trace.with_context(|| format!("lot {lot} has no provenance trace"))?;
    let attestations = |p: &PartyId| store.attestations(p).map_err(StateError::from);
    let data = figures::build(Inputs {
        trace: &trace,
        state: &store,
        attestations: &attestations,
        policy: &policy,
        as_of,
        verification: Verification {
            verdict: report.verdict,
            findings: report.findings.clone(),
        },
    })?;
    let text = ledger_report::render(&data, format)?;
    match &args.out {
        Some(path) => std::fs::write(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(text.as_bytes())
                .context("cannot write the report to standard output")?;
            stdout
                .flush()
                .context("cannot write the report to standard output")?;
        }
    }
    Ok(match report.verdict {
        ledger_core::finding::Verdict::Pass => exit::SUCCESS,
        ledger_core::finding::Verdict::Fail => exit::FAILED,
    })
}
