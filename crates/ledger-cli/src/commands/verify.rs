//! `custody verify`: the auditor's verdict on the whole ledger or one lot.

use std::path::Path;

use anyhow::Result;
use ledger_core::finding::Verdict;
use ledger_core::id::LotId;

use crate::cli::VerifyArgs;
use crate::commands::print_json;
use crate::exit;
use crate::ledger::{self, Report};

/// Prints a report as text: findings, then the verdict line.
pub fn print_report(report: &Report) {
    for f in &report.findings {
        crate::outln!("{f}");
    }
    let verdict = match report.verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    let scope = match &report.lot {
        Some(lot) => format!("lot {lot}"),
        None => "ledger".to_owned(),
    };
    crate::outln!(
        "verdict: {verdict} ({scope}; {} entries checked; {} errors, {} warnings)",
        report.entries,
        report.counts.errors,
        report.counts.warnings
    );
}

/// The exit code for a verdict.
pub fn code(report: &Report) -> u8 {
    match report.verdict {
        Verdict::Pass => exit::SUCCESS,
        Verdict::Fail => exit::FAILED,
    }
}

/// Runs `custody verify`.
pub fn run(dir: &Path, args: VerifyArgs) -> Result<u8> {
    if let Some(bundle) = &args.bundle {
        return crate::commands::bundle::verify(bundle, &args);
    }
    let policy = ledger::load_policy(args.policy.as_deref())?;
    let store = ledger::open(dir)?;
    let report = match &args.lot {
        Some(lot) => {
            ledger::verify_lot(&store, &LotId::new(lot.as_str())?, &policy, ledger::now()?)?.0
        }
        None => ledger::verify_ledger(&store)?,
    };
    if args.json {
        print_json(&report)?;
    } else {
        print_report(&report);
    }
    Ok(code(&report))
}
