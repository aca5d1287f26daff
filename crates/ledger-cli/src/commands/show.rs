//! `custody show`: one log entry, by position or event id.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::hash::Digest;
use ledger_core::statement::StatementJson;
use serde_json::json;

use crate::cli::ShowArgs;
use crate::commands::{close, open_to_read, print_json};
use crate::exit;

/// Runs `custody show`.
pub fn run(dir: &Path, args: ShowArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let seq = match (args.seq, &args.event) {
        (Some(seq), _) => seq,
        (None, Some(hex)) => {
            let id: Digest = hex.parse().context("--event")?;
            ledger.position(&id)?
        }
        (None, None) => bail!("give --seq or --event"),
    };
    let stored = ledger.entry(seq)?;
    close(ledger)?;
    let entry = &stored.entry;
    let statement = StatementJson::new(&entry.statement)?;
    if args.json {
        print_json(&json!({
            "seq": entry.seq,
            "prev": entry.prev,
            "recorded_at": entry.recorded_at,
            "entry_hash": stored.hash,
            "statement": statement,
            "entry_hex": hex::encode(&stored.bytes),
        }))?;
    } else {
        crate::outln!("entry #{} recorded {}", entry.seq, entry.recorded_at);
        crate::outln!("  hash     {}", stored.hash);
        crate::outln!("  prev     {}", entry.prev);
        crate::outln!("  event    {}", statement.id);
        crate::outln!("  kind     {}", entry.statement.event.body.kind());
        crate::outln!("  actor    {}", entry.statement.event.actor);
        crate::outln!("  time     {}", entry.statement.event.time);
        crate::outln!("  signer   {}", entry.statement.signer);
        crate::outln!("{}", serde_json::to_string_pretty(&statement.event)?);
    }
    Ok(exit::SUCCESS)
}
