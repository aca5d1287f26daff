//! `verify --lot` and `verify --bundle` with `--checkpoint FILE`: the checkpoints the
//! auditor kept are read here, and for a bundle the consistency proof a larger checkpoint
//! needs is fetched from `--server`; the checks are the engine's (`Ledger::check_held`,
//! `ledger_core::held`).

use std::path::PathBuf;

use anyhow::Result;
use ledger_core::finding::Finding;
use ledger_core::hash::Digest;
use ledger_core::note::{Checkpoint, NoteVerifier};

use crate::commands::remote::Client;

/// The largest held checkpoint file read.
const MAX_HELD: u64 = 1 << 16;

/// The most hashes a consistency proof fetched from a server may have (a tree of 2^64).
const MAX_PROOF: usize = 130;

/// The held checkpoints, as (file name, text).
pub fn read(paths: &[PathBuf]) -> Result<Vec<(String, String)>> {
    paths
        .iter()
        .map(|p| Ok((p.display().to_string(), crate::io::read_text(p, MAX_HELD)?)))
        .collect()
}

/// Findings for the bundle's checkpoint `current` against each held one.
pub fn check_bundle(
    held: &[(String, String)],
    log: &NoteVerifier,
    current: &Checkpoint,
    server: Option<&str>,
) -> Vec<Finding> {
    held.iter()
        .filter_map(|(label, note)| match server {
            Some(server) => {
                let fetch = |from: u64, to: u64| fetched(server, from, to);
                ledger_core::held::check(label, note, log, current, Some(&fetch))
            }
            None => ledger_core::held::check(label, note, log, current, None),
        })
        .collect()
}

/// The consistency proof from `from` to `to`, from the server's `/v1/proofs/consistency`.
fn fetched(server: &str, from: u64, to: u64) -> Result<Vec<Digest>, String> {
    let client = Client::new(server).map_err(|e| e.to_string())?;
    let proof = client
        .get(&format!("/v1/proofs/consistency?from={from}&to={to}"))
        .and_then(|a| a.expect(&[200]))
        .and_then(|a| a.json())
        .map_err(|e| format!("the server gave no proof ({e})"))?;
    let hashes = proof["path"]
        .as_array()
        .ok_or("the server's proof has no path")?;
    if hashes.len() > MAX_PROOF {
        return Err(format!("the server's proof has {} hashes", hashes.len()));
    }
    hashes
        .iter()
        .map(|h| {
            h.as_str()
                .and_then(|h| h.parse::<Digest>().ok())
                .ok_or_else(|| "a hash of the server's proof is not 64 hex digits".to_owned())
        })
        .collect()
}
