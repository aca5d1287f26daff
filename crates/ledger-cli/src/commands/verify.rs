//! `custody verify`: the auditor's verdict on the whole ledger or one lot.

use std::path::Path;

use anyhow::Result;
use ledger::Report;
use ledger_core::finding::Verdict;
use ledger_core::plural::counted;

use crate::cli::VerifyArgs;
use crate::commands::{close, held, load_policy, open_to_read, print_json, witnessed};
use crate::{exit, io};

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
        "verdict: {verdict} ({scope}; {} checked; {}, {})",
        counted(report.entries, "entry", "entries"),
        counted(report.counts.errors, "error", "errors"),
        counted(report.counts.warnings, "warning", "warnings")
    );
}

/// Runs `custody verify`.
pub fn run(dir: &Path, args: VerifyArgs) -> Result<u8> {
    if let Some(bundle) = &args.bundle {
        return crate::commands::bundle::verify(bundle, &args, None);
    }
    let policy = load_policy(args.policy.as_deref())?;
    let witness_policy = witnessed::load(&args)?;
    let ledger = open_to_read(dir)?;
    let mut report = match &args.lot {
        Some(lot) => {
            let found = ledger.verify_lot(lot, &policy, ledger::now()?)?.report;
            let against = ledger.check_held(&held::read(&args.checkpoint)?)?;
            witnessed::with_findings(found, &against)
        }
        None => {
            let held = args
                .checkpoint
                .iter()
                .map(|path| io::read_text(path, 1 << 16))
                .collect::<Result<Vec<_>>>()?;
            let progress = io::TerminalProgress::from(0);
            // With --policy, due diligence runs for every product lot as well, so the whole
            // ledger gives the verdict each lot's bundle gives.
            match args.policy {
                Some(_) => ledger.verify_with_policy(&progress, &held, &policy, ledger::now()?)?,
                None => ledger.verify_against(&progress, &held)?,
            }
        }
    };
    // The witnesses vouch for the ledger's latest checkpoint, which must cover the log.
    let witnessing = match &witness_policy {
        Some(w) => Some(ledger.witnessed(w, ledger::now()?)?),
        None => None,
    };
    close(ledger)?;
    if let Some(w) = &witnessing {
        report = witnessed::with_findings(report, &w.findings);
    }
    if args.json && witness_policy.is_none() {
        print_json(&report)?;
    } else if args.json {
        let mut value = serde_json::to_value(&report)?;
        if let Some(object) = value.as_object_mut() {
            object.insert(
                "witnesses".into(),
                witnessed::json(witness_policy.as_ref(), witnessing.as_ref()),
            );
        }
        print_json(&value)?;
    } else {
        if witness_policy.is_some() {
            crate::outln!(
                "{}",
                witnessed::line(witness_policy.as_ref(), witnessing.as_ref())
            );
        }
        print_report(&report);
    }
    Ok(exit::verdict(report.verdict))
}
