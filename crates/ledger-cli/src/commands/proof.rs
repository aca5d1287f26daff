//! `custody proof inclusion|consistency`: RFC 9162 proofs from the store's Merkle nodes, in
//! O(log n) reads, each checked with the independent verifier before it is printed, so a
//! damaged store gives an error rather than a proof that does not verify.

use std::path::Path;

use anyhow::{Context, Result, bail};
use ledger_core::hash::Digest;
use ledger_core::merkle::{self, verify_consistency, verify_inclusion};
use ledger_core::statement::entry_hash;
use ledger_store::Store;
use serde_json::json;

use crate::cli::{ConsistencyArgs, InclusionArgs, ProofArgs, ProofKind};
use crate::commands::print_json;
use crate::exit;
use crate::ledger::{self, StoreNodes};

/// Runs `custody proof`.
pub fn run(dir: &Path, args: ProofArgs) -> Result<u8> {
    match args.kind {
        ProofKind::Inclusion(args) => inclusion(dir, args),
        ProofKind::Consistency(args) => consistency(dir, args),
    }
}

fn hexes(path: &[Digest]) -> Vec<String> {
    path.iter().map(Digest::to_hex).collect()
}

fn print_path(path: &[Digest]) {
    crate::outln!("path ({} hashes):", path.len());
    for hash in path {
        crate::outln!("  {hash}");
    }
}

/// The root of the tree of `size` leaves from the store's nodes.
fn root(store: &dyn Store, size: u64) -> Result<Digest> {
    merkle::root(size, &StoreNodes(store))
        .map_err(|e| anyhow::anyhow!("cannot compute the root of tree size {size}: {e}"))
}

fn inclusion(dir: &Path, args: InclusionArgs) -> Result<u8> {
    let store = ledger::open(dir)?;
    let head = store.head()?;
    let size = args.size.unwrap_or(head.size);
    if size > head.size {
        bail!(
            "--size {size} is larger than the log, which has {} entries",
            head.size
        );
    }
    if args.seq >= size {
        bail!("--seq {} is not below the tree size {size}", args.seq);
    }
    let bytes = store
        .entry(args.seq)?
        .with_context(|| format!("there is no entry #{}", args.seq))?;
    let leaf = entry_hash(&bytes);
    let root = root(&store, size)?;
    let path = merkle::inclusion_proof(args.seq, size, &StoreNodes(&store))
        .map_err(|e| anyhow::anyhow!("cannot build the proof: {e}"))?;
    verify_inclusion(args.seq, size, &leaf, &path, &root).map_err(|e| {
        anyhow::anyhow!(
            "the store's merkle nodes do not prove entry #{} ({e}); run custody verify",
            args.seq
        )
    })?;
    if args.json {
        print_json(&json!({
            "leaf_index": args.seq,
            "tree_size": size,
            "leaf_hash": leaf.to_hex(),
            "root": root.to_hex(),
            "path": hexes(&path),
        }))?;
    } else {
        crate::outln!("entry #{} is in the log of size {size}", args.seq);
        crate::outln!("leaf hash {leaf}");
        crate::outln!("root      {root}");
        print_path(&path);
    }
    Ok(exit::SUCCESS)
}

fn consistency(dir: &Path, args: ConsistencyArgs) -> Result<u8> {
    let store = ledger::open(dir)?;
    let head = store.head()?;
    let to = args.to.unwrap_or(head.size);
    if to > head.size {
        bail!(
            "--to {to} is larger than the log, which has {} entries",
            head.size
        );
    }
    if args.from > to {
        bail!("--from {} is larger than --to {to}", args.from);
    }
    let first_root = root(&store, args.from)?;
    let second_root = root(&store, to)?;
    let path = merkle::consistency_proof(args.from, to, &StoreNodes(&store))
        .map_err(|e| anyhow::anyhow!("cannot build the proof: {e}"))?;
    verify_consistency(args.from, to, &path, &first_root, &second_root).map_err(|e| {
        anyhow::anyhow!(
            "the store's merkle nodes do not prove size {} consistent with size {to} ({e}); \
             run custody verify",
            args.from
        )
    })?;
    if args.json {
        print_json(&json!({
            "first": args.from,
            "second": to,
            "first_root": first_root.to_hex(),
            "second_root": second_root.to_hex(),
            "path": hexes(&path),
        }))?;
    } else {
        crate::outln!(
            "the log of size {} is a prefix of the log of size {to}",
            args.from
        );
        crate::outln!("first root  {first_root}");
        crate::outln!("second root {second_root}");
        print_path(&path);
    }
    Ok(exit::SUCCESS)
}
