//! `custody show`: one log entry, by position or event id.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::hash::Digest;
use ledger_core::state::StateView;
use ledger_core::statement::{Entry, StatementJson, entry_hash};
use serde_json::json;

use crate::cli::ShowArgs;
use crate::commands::print_json;
use crate::{exit, ledger};

/// Runs `custody show`.
pub fn run(dir: &Path, args: ShowArgs) -> Result<u8> {
    let store = ledger::open(dir)?;
    let seq = match (args.seq, &args.event) {
        (Some(seq), _) => seq,
        (None, Some(hex)) => {
            let id: Digest = hex.parse().context("--event")?;
            store
                .event(&id)?
                .with_context(|| format!("event {id} is not in the ledger"))?
                .seq
        }
        (None, None) => bail!("give --seq or --event"),
    };
    let bytes = ledger_store::Store::entry(&store, seq)?
        .with_context(|| format!("there is no entry #{seq}"))?;
    let entry = Entry::decode(&bytes).with_context(|| format!("entry #{seq} is damaged"))?;
    let statement = StatementJson::new(&entry.statement)?;
    if args.json {
        print_json(&json!({
            "seq": entry.seq,
            "prev": entry.prev,
            "recorded_at": entry.recorded_at,
            "entry_hash": entry_hash(&bytes),
            "statement": statement,
            "entry_hex": hex::encode(&bytes),
        }))?;
    } else {
        crate::outln!("entry #{} recorded {}", entry.seq, entry.recorded_at);
        crate::outln!("  hash     {}", entry_hash(&bytes));
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
