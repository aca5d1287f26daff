//! `custody checkpoint`: the operator signs the log's current size and Merkle root as a
//! C2SP tlog-checkpoint (the engine checks the key's authority and the stored tree).

use std::path::Path;

use anyhow::Result;
use serde_json::json;

use crate::cli::CheckpointArgs;
use crate::commands::{close, open, print_json};
use crate::{exit, keyfile};

/// Runs `custody checkpoint`.
pub fn run(dir: &Path, args: CheckpointArgs) -> Result<u8> {
    let ledger = open(dir)?;
    let key = keyfile::read_private(&args.operator_key)?;
    let signed = ledger.sign_checkpoint(&key)?;
    close(ledger)?;
    let note = &signed.note;
    if args.json {
        print_json(&json!({
            "origin": signed.checkpoint.origin(),
            "size": signed.checkpoint.size(),
            "root": signed.checkpoint.root().to_hex(),
            "note": note,
        }))?;
    } else {
        crate::outln!("{}", note.strip_suffix('\n').unwrap_or(note));
    }
    Ok(exit::SUCCESS)
}
