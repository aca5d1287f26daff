//! `custody append`: signed statements in, one all-or-nothing batch out.

use std::path::Path;

use anyhow::{Result, bail};
use ledger::{Error, Ledger, Receipt};
use ledger_core::statement::Statement;
use ledger_store_postgres::AnyStore;

use crate::cli::AppendArgs;
use crate::commands::{close, open, print_json};
use crate::{exit, io};

/// Batches at least this large show a progress bar while their rules are checked.
const PROGRESS_FROM: u64 = 10_000;

/// Appends `statements` now, closes the ledger, and only then prints the receipts (or the
/// findings that refused them); returns the exit code.
pub fn append_and_print(
    ledger: Ledger<AnyStore>,
    statements: Vec<Statement>,
    json: bool,
    verbose: bool,
) -> Result<u8> {
    let progress = io::TerminalProgress::from(PROGRESS_FROM);
    let outcome = ledger.append(statements, ledger::now()?, &progress);
    close(ledger)?;
    match outcome {
        Ok(receipts) => print_receipts(&receipts, json, verbose),
        Err(Error::Refused(refused)) => {
            if json {
                let findings: Vec<_> = refused
                    .findings
                    .iter()
                    .map(|(i, f)| serde_json::json!({ "statement": i + 1, "finding": f }))
                    .collect();
                print_json(&serde_json::json!({ "accepted": false, "refused": findings }))?;
            } else {
                eprintln!("refused: nothing was appended");
                for (i, f) in &refused.findings {
                    let id = f.event.map(|e| e.to_hex()).unwrap_or_default();
                    eprintln!(
                        "  statement {} ({}): {} {}",
                        i + 1,
                        &id[..id.len().min(16)],
                        f.rule.code(),
                        f.message
                    );
                }
            }
            Ok(exit::FAILED)
        }
        Err(e) => Err(e.into()),
    }
}

/// A batch larger than this prints its first receipts and a summary line (all of them
/// with `--verbose` or `--json`).
const RECEIPT_LINES: usize = 20;

fn print_receipts(receipts: &[Receipt], json: bool, verbose: bool) -> Result<u8> {
    if json {
        print_json(&serde_json::json!({ "accepted": true, "receipts": receipts }))?;
        return Ok(exit::SUCCESS);
    }
    let shown = if verbose || receipts.len() <= RECEIPT_LINES {
        receipts.len()
    } else {
        RECEIPT_LINES
    };
    for r in &receipts[..shown] {
        crate::outln!("appended #{} {}", r.seq, r.id);
    }
    if let (Some(first), Some(last)) = (receipts.first(), receipts.last())
        && shown < receipts.len()
    {
        crate::outln!(
            "… and {} more: appended {} statements, #{} to #{} (every receipt with --verbose or --json)",
            receipts.len() - shown,
            receipts.len(),
            first.seq,
            last.seq
        );
    }
    Ok(exit::SUCCESS)
}

/// Runs `custody append`.
pub fn run(dir: &Path, args: AppendArgs) -> Result<u8> {
    let mut statements = Vec::new();
    for file in &args.files {
        let text = io::read_text(file, io::MAX_INPUT)?;
        // A file of many statements shows its reading too (bytes, from 1 MiB on).
        let reading = io::TerminalProgress::from(1 << 20);
        statements.extend(ledger::parse_statements(
            &text,
            &file.display().to_string(),
            &reading,
        )?);
        if statements.len() > ledger::MAX_BATCH {
            bail!("more than {} statements in one batch", ledger::MAX_BATCH);
        }
    }
    if statements.is_empty() {
        bail!("no statements to append");
    }
    append_and_print(open(dir)?, statements, args.json, args.verbose)
}
