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
    let Some(key_file) = &args.operator_key else {
        anyhow::bail!(
            "give --operator-key FILE to sign a checkpoint (or --server URL to read one)"
        );
    };
    let ledger = open(dir)?;
    let key = keyfile::read_private(key_file)?;
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
