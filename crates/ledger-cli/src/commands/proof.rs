//! `custody proof inclusion|consistency`: RFC 9162 proofs from the store's Merkle nodes,
//! checked by the engine before they are printed.

use std::path::Path;

use anyhow::{Context, Result};
use ledger_core::hash::Digest;

use crate::cli::{ConsistencyArgs, InclusionArgs, ProofArgs, ProofKind};
use crate::commands::{close, open_to_read, print_json};
use crate::exit;

/// Runs `custody proof`.
pub fn run(dir: &Path, args: ProofArgs) -> Result<u8> {
    match args.kind {
        ProofKind::Inclusion(args) => inclusion(dir, args),
        ProofKind::Consistency(args) => consistency(dir, args),
    }
}

fn print_path(path: &[Digest]) {
    crate::outln!("path ({} hashes):", path.len());
    for hash in path {
        crate::outln!("  {hash}");
    }
}

fn inclusion(dir: &Path, args: InclusionArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let proof = ledger
        .inclusion_proof(args.seq, args.size)
        .with_context(|| format!("proof inclusion --seq {}", args.seq))?;
    close(ledger)?;
    if args.json {
        print_json(&proof)?;
    } else {
        crate::outln!(
            "entry #{} is in the log of size {}",
            proof.leaf_index,
            proof.tree_size
        );
        crate::outln!("leaf hash {}", proof.leaf_hash);
        crate::outln!("root      {}", proof.root);
        print_path(&proof.path);
    }
    Ok(exit::SUCCESS)
}

fn consistency(dir: &Path, args: ConsistencyArgs) -> Result<u8> {
    let ledger = open_to_read(dir)?;
    let proof = ledger
        .consistency_proof(args.from, args.to)
        .with_context(|| format!("proof consistency --from {}", args.from))?;
    close(ledger)?;
    if args.json {
        print_json(&proof)?;
    } else {
        crate::outln!(
            "the log of size {} is a prefix of the log of size {}",
            proof.first,
            proof.second
        );
        crate::outln!("first root  {}", proof.first_root);
        crate::outln!("second root {}", proof.second_root);
        print_path(&proof.path);
    }
    Ok(exit::SUCCESS)
}
