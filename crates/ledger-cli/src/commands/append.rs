//! `custody append`: signed statements in, one all-or-nothing batch out.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::statement::{Statement, StatementJson};
use ledger_store::Store;

use crate::cli::AppendArgs;
use crate::commands::print_json;
use crate::ledger::{self, Receipt, Refused};
use crate::{exit, io};

/// Most statements in one batch.
pub const MAX_BATCH: usize = 1_000_000;

/// Parses statement lines, checking each carried id against the recomputed one.
pub fn parse_statements(text: &str, origin: &str, out: &mut Vec<Statement>) -> Result<()> {
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if out.len() >= MAX_BATCH {
            bail!("more than {MAX_BATCH} statements in one batch");
        }
        let parsed: StatementJson = serde_json::from_str(line)
            .with_context(|| format!("{origin}:{}: not a signed statement", n + 1))?;
        let statement = Statement {
            event: parsed.event,
            signer: parsed.signer,
            signature: parsed.signature,
        };
        let id = statement.id()?;
        if id != parsed.id {
            bail!(
                "{origin}:{}: \"id\" is {} but the event hashes to {id}",
                n + 1,
                parsed.id
            );
        }
        out.push(statement);
    }
    Ok(())
}

/// What an append did.
pub type Outcome = Result<Vec<Receipt>, Refused>;

/// Appends `statements` at the current time.
pub fn append_statements(store: &dyn Store, statements: Vec<Statement>) -> Result<Outcome> {
    ledger::append(store, &statements, ledger::now()?)
}

/// Prints receipts, or why the batch was refused; returns the exit code.
pub fn print_append(outcome: &Outcome, json: bool) -> Result<u8> {
    match outcome {
        Ok(receipts) => {
            if json {
                print_json(&serde_json::json!({ "accepted": true, "receipts": receipts }))?;
            } else {
                for r in receipts {
                    crate::outln!("appended #{} {}", r.seq, r.id);
                }
            }
            Ok(exit::SUCCESS)
        }
        Err(refused) => {
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
    }
}

/// Runs `custody append`.
pub fn run(dir: &Path, args: AppendArgs) -> Result<u8> {
    let mut statements = Vec::new();
    for file in &args.files {
        let text = io::read_text(file, io::MAX_INPUT)?;
        parse_statements(&text, &file.display().to_string(), &mut statements)?;
    }
    if statements.is_empty() {
        bail!("no statements to append");
    }
    let store = ledger::open(dir)?;
    let outcome = append_statements(&store, statements)?;
    print_append(&outcome, args.json)
}
