//! `verify --lot` and `verify --bundle` with `--checkpoint FILE`: the checkpoint the verdict
//! rests on must be consistent with one the auditor kept from earlier, and at least as
//! large. A log that forked or was rolled back since cannot show both.

use std::path::PathBuf;

use anyhow::Result;
use ledger::Ledger;
use ledger_core::finding::{Finding, Rule};
use ledger_core::hash::Digest;
use ledger_core::merkle::verify_consistency;
use ledger_core::note::{Checkpoint, NoteVerifier, open_checkpoint};
use ledger_store::Store;

use crate::commands::remote::Client;

/// The largest held checkpoint file read.
const MAX_HELD: u64 = 1 << 16;

/// The most hashes a consistency proof fetched from a server may have (a tree of 2^64).
const MAX_PROOF: usize = 130;

/// The held checkpoints' files and texts.
pub fn read(paths: &[PathBuf]) -> Result<Vec<(PathBuf, String)>> {
    paths
        .iter()
        .map(|p| Ok((p.clone(), crate::io::read_text(p, MAX_HELD)?)))
        .collect()
}

fn finding(message: String) -> Finding {
    Finding::new(Rule::CheckpointMismatch, message)
}

/// Opens a held checkpoint under `log`, or says why not.
fn open_held(path: &std::path::Path, note: &str, log: &NoteVerifier) -> Result<Checkpoint, String> {
    open_checkpoint(note.as_bytes(), log, &[], log.name())
        .map(|o| o.checkpoint)
        .map_err(|e| {
            format!(
                "the checkpoint you hold in {} does not verify under the operator key {}: {e}",
                path.display(),
                log.vkey()
            )
        })
}

/// Findings for the bundle's checkpoint `current` against each held one. A held checkpoint
/// smaller than the bundle's needs a consistency proof, fetched from `server`.
pub fn check_bundle(
    held: &[(PathBuf, String)],
    log: &NoteVerifier,
    current: &Checkpoint,
    server: Option<&str>,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    for (path, note) in held {
        let old = match open_held(path, note, log) {
            Ok(c) => c,
            Err(why) => {
                findings.push(finding(why));
                continue;
            }
        };
        let shown = path.display();
        let (h, s) = (old.size(), current.size());
        if h > s {
            findings.push(finding(format!(
                "the bundle's checkpoint is for {s} entries, older than the one you hold in \
                 {shown} ({h} entries): it may hide what the log recorded since, or come from \
                 a rolled-back copy"
            )));
        } else if h == s {
            if old.root() != current.root() {
                findings.push(finding(format!(
                    "the bundle's checkpoint and the one you hold in {shown} are both for {s} \
                     entries but have different roots: the log forked"
                )));
            }
        } else if let Some(server) = server {
            if let Err(why) = fetched_consistency(server, &old, current) {
                findings.push(finding(format!(
                    "the bundle's checkpoint ({s} entries) is not shown consistent with the one \
                     you hold in {shown} ({h} entries): {why}"
                )));
            }
        } else {
            findings.push(finding(format!(
                "the bundle's checkpoint ({s} entries) is larger than the one you hold in \
                 {shown} ({h} entries): give --server URL to fetch the consistency proof"
            )));
        }
    }
    findings
}

/// Fetches the proof that `old` is a prefix of `new` from `server` and checks it.
fn fetched_consistency(server: &str, old: &Checkpoint, new: &Checkpoint) -> Result<(), String> {
    let client = Client::new(server).map_err(|e| e.to_string())?;
    let path = format!(
        "/v1/proofs/consistency?from={}&to={}",
        old.size(),
        new.size()
    );
    let proof = client
        .get(&path)
        .and_then(|a| a.expect(&[200]))
        .and_then(|a| a.json())
        .map_err(|e| format!("the server gave no proof ({e})"))?;
    let hashes = proof["path"]
        .as_array()
        .ok_or("the server's proof has no path")?;
    if hashes.len() > MAX_PROOF {
        return Err(format!("the server's proof has {} hashes", hashes.len()));
    }
    let path = hashes
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|h| h.parse::<Digest>().ok())
                .ok_or("a hash of the server's proof is not 64 hex digits")
        })
        .collect::<Result<Vec<Digest>, _>>()?;
    verify_consistency(old.size(), new.size(), &path, old.root(), new.root())
        .map_err(|e| format!("the proof does not verify: {e}; the log forked"))
}

/// Findings for a ledger read by `verify --lot` against each held checkpoint: signed by an
/// operator key of the ledger, no larger than the log, and the store's tree at its size has
/// its root.
pub fn check_ledger<S: Store>(
    held: &[(PathBuf, String)],
    ledger: &Ledger<S>,
) -> Result<Vec<Finding>> {
    let mut findings = Vec::new();
    let head = ledger.store().head()?.size;
    for (path, note) in held {
        let shown = path.display();
        let Ok((_, old)) = ledger.checkpoint_verifier(note) else {
            findings.push(finding(format!(
                "the checkpoint you hold in {shown} does not verify under any operator key of \
                 this ledger"
            )));
            continue;
        };
        if old.size() > head {
            findings.push(finding(format!(
                "the ledger has {head} entries, fewer than the checkpoint you hold in {shown} \
                 ({}): it was rolled back",
                old.size()
            )));
        } else if ledger.root(old.size())? != *old.root() {
            findings.push(finding(format!(
                "the ledger's tree at {} entries does not have the root of the checkpoint you \
                 hold in {shown}: the log forked or was rewritten",
                old.size()
            )));
        }
    }
    Ok(findings)
}
