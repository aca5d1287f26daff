//! `custody checkpoint`: the operator signs the log's current size and Merkle root as a
//! C2SP tlog-checkpoint (the engine checks the key's authority and the stored tree), and
//! with `--witness` has it cosigned by witnesses (c2sp.org/tlog-witness) before storing it.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use ledger_core::note::{KeyKind, MAX_NOTE_SIZE};
use ledger_witness::log as witness_log;
use serde_json::json;

use crate::cli::CheckpointArgs;
use crate::commands::bundle::parse_vkey_for;
use crate::commands::{close, open, print_json, witnessed};
use crate::{exit, keyfile};

/// Runs `custody checkpoint`.
pub fn run(dir: &Path, args: CheckpointArgs) -> Result<u8> {
    if let Some(lines) = &args.add_cosignatures {
        return add_cosignatures(dir, lines, &args);
    }
    let Some(key_file) = &args.operator_key else {
        bail!("give --operator-key FILE to sign a checkpoint (or --server URL to read one)");
    };
    let (endpoints, quorum) = witnessed::endpoints(&args.witnesses, args.witness_quorum)?;
    let ledger = open(dir)?;
    let key = keyfile::read_private(key_file)?;
    let signed = ledger.sign_checkpoint(&key)?;
    let size = signed.checkpoint.size();
    let mut note = signed.note.clone();
    let mut failed = Vec::new();
    if !endpoints.is_empty() {
        let log = ledger.verifier_key(&key.public_key())?;
        let proof = |old: u64| {
            ledger
                .consistency_proof(old, Some(size))
                .map(|p| p.path)
                .map_err(|e| e.to_string())
        };
        let asked = witness_log::cosign(
            &note,
            size,
            &log,
            &endpoints,
            &mut HashMap::new(),
            &proof,
            Duration::from_secs(args.witness_timeout),
        );
        let keys: Vec<_> = endpoints.iter().map(|e| e.key.clone()).collect();
        let lines = asked.note.get(note.len()..).unwrap_or_default();
        note = ledger.add_cosignatures(size, lines, &keys)?;
        failed = asked.failed;
        for (name, why) in &failed {
            eprintln!("witness {name} did not cosign: {why}");
        }
        if asked.cosigned.len() < quorum {
            close(ledger)?;
            bail!(
                "only {} of the {} witnesses cosigned the checkpoint of size {size}, fewer \
                 than the quorum of {quorum}; the cosignatures that came are stored",
                asked.cosigned.len(),
                endpoints.len()
            );
        }
    }
    close(ledger)?;
    if args.json {
        let mut value = json!({
            "origin": signed.checkpoint.origin(),
            "size": size,
            "root": signed.checkpoint.root().to_hex(),
            "note": note,
        });
        if let (Some(object), false) = (value.as_object_mut(), endpoints.is_empty()) {
            let failed: Vec<_> = failed
                .iter()
                .map(|(name, why)| json!({"witness": name, "reason": why}))
                .collect();
            object.insert("witnesses_failed".into(), failed.into());
        }
        print_json(&value)?;
    } else {
        crate::outln!("{}", note.strip_suffix('\n').unwrap_or(&note));
    }
    Ok(exit::SUCCESS)
}

/// `--add-cosignatures FILE`: a witness's lines added to the latest stored checkpoint.
fn add_cosignatures(dir: &Path, lines: &Path, args: &CheckpointArgs) -> Result<u8> {
    let keys = args
        .witness_keys
        .iter()
        .map(|text| parse_vkey_for("--witness-key", text))
        .collect::<Result<Vec<_>>>()?;
    if let Some(log_key) = keys.iter().find(|k| k.kind() != KeyKind::Cosignature) {
        bail!(
            "--witness-key {}: this is a log key (type 0x01), not a witness's cosignature key",
            log_key.vkey()
        );
    }
    let text = crate::io::read_text(lines, MAX_NOTE_SIZE as u64)?;
    let ledger = open(dir)?;
    let Some((size, _)) = ledger.latest_checkpoint()? else {
        close(ledger)?;
        bail!("the ledger has no checkpoint to add cosignatures to: run custody checkpoint first");
    };
    let added = ledger.add_cosignatures(size, &text, &keys);
    close(ledger)?;
    let note = added.with_context(|| format!("--add-cosignatures {}", lines.display()))?;
    crate::outln!("{}", note.strip_suffix('\n').unwrap_or(&note));
    Ok(exit::SUCCESS)
}
