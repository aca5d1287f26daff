//! `custody checkpoint`: the operator signs the log's current size and Merkle root as a C2SP
//! tlog-checkpoint, so that anyone can hold the operator to this log from now on.
//!
//! The root is read from the store's Merkle nodes, which proofs are served from, and must
//! equal the root recomputed from the entries themselves: a store whose nodes disagree
//! with its entries never gets a signed checkpoint. Whole-ledger `verify` checks the stored
//! checkpoints again ([`audit`]).

use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::event::Role;
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::merkle::{self, Frontier};
use ledger_core::note::{Checkpoint, NoteSigner, sign_checkpoint};
use ledger_core::statement::entry_hash;
use ledger_core::transparency::LogAudit;
use ledger_core::verify::Replay;
use ledger_store::Store;
use serde_json::json;

use crate::cli::CheckpointArgs;
use crate::commands::print_json;
use crate::ledger::{self, StoreNodes};
use crate::{exit, keyfile};

/// Starts the checkpoint audit of whole-ledger verification over `store`'s checkpoints. A
/// checkpoint list the store cannot read is a finding on `replay`, not an error.
pub fn audit(store: &dyn Store, replay: &mut Replay) -> Result<LogAudit> {
    let origin = store.origin()?;
    let checkpoints = match store.checkpoints() {
        Ok(list) => list,
        Err(e) => {
            replay.findings.push(Finding::new(
                Rule::CheckpointMismatch,
                format!("cannot read the stored checkpoints: {e}"),
            ));
            Vec::new()
        }
    };
    Ok(LogAudit::new(&origin, checkpoints, replay))
}

/// Fails unless `key` is, in the store's state, a key of an operator that is not revoked.
pub fn check_operator(store: &dyn Store, key: &PublicKey) -> Result<()> {
    let party = store
        .key_owner(key)?
        .context("the operator key is not enrolled in this ledger")?;
    let record = store
        .party(&party)?
        .with_context(|| format!("the operator key's party {party} is not enrolled"))?;
    if !record.roles.contains(&Role::Operator) {
        bail!("the operator key belongs to {party}, which does not have the operator role");
    }
    if let Some(at) = record.key(key.as_bytes()).and_then(|k| k.revoked_seq) {
        bail!("the operator key of {party} was revoked at #{at}");
    }
    Ok(())
}

/// The RFC 6962 root of the first `size` entries, recomputed from their bytes in one pass
/// with O(log n) memory.
fn entries_root(store: &dyn Store, size: u64) -> Result<Digest> {
    let mut frontier = Frontier::new();
    for item in store.entries(0) {
        let (seq, bytes) = item?;
        if seq >= size {
            break;
        }
        if seq != frontier.size() {
            bail!(
                "the store skips from entry #{} to #{seq}; run custody verify",
                frontier.size()
            );
        }
        frontier
            .push(entry_hash(&bytes))
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    if frontier.size() != size {
        bail!(
            "the store's head says {size} entries but only {} can be read; run custody verify",
            frontier.size()
        );
    }
    Ok(frontier.root())
}

/// Signs and stores a checkpoint of the current log with `key`, after checking the key's
/// authority and that the stored tree agrees with the entries. Returns it and its note.
pub fn sign_current(store: &dyn Store, key: &SecretKey) -> Result<(Checkpoint, String)> {
    check_operator(store, &key.public_key())?;
    let origin = store.origin()?;
    let head = store.head()?;
    let stored = merkle::root(head.size, &StoreNodes(store))
        .map_err(|e| anyhow::anyhow!("cannot read the store's merkle tree: {e}"))?;
    let recomputed = entries_root(store, head.size)?;
    if stored != recomputed {
        bail!(
            "refusing to sign: the store's merkle tree has root {stored} at size {}, but the \
             entries hash to {recomputed}; run custody verify",
            head.size
        );
    }
    let checkpoint = Checkpoint::new(origin.as_str(), head.size, recomputed, Vec::new())?;
    let signer = NoteSigner::new(&origin, key.signing_key())
        .with_context(|| format!("the log origin {origin:?} cannot name a checkpoint key"))?;
    let note = sign_checkpoint(&checkpoint, &signer)?;
    store.put_checkpoint(head.size, &note)?;
    Ok((checkpoint, note))
}

/// Runs `custody checkpoint`.
pub fn run(dir: &Path, args: CheckpointArgs) -> Result<u8> {
    let store = ledger::open(dir)?;
    let key = keyfile::read_private(&args.operator_key)?;
    let (checkpoint, note) = sign_current(&store, &key)?;
    if args.json {
        print_json(&json!({
            "origin": checkpoint.origin(),
            "size": checkpoint.size(),
            "root": checkpoint.root().to_hex(),
            "note": note,
        }))?;
    } else {
        crate::outln!("{}", note.strip_suffix('\n').unwrap_or(&note));
    }
    Ok(exit::SUCCESS)
}
