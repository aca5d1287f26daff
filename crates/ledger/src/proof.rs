//! RFC 9162 proofs from the store's Merkle nodes, in O(log n) reads, each checked with the
//! independent verifier before it is returned: a damaged store gives an error, never a proof
//! that does not verify.

use ledger_core::hash::Digest;
use ledger_core::merkle::{self, verify_consistency, verify_inclusion};
use ledger_core::plural::counted;
use ledger_core::statement::entry_hash;
use ledger_store::{FetchedNodes, Nodes, Store};

use crate::Ledger;
use crate::error::{Error, Result};

/// An inclusion proof: the entry at `leaf_index` is in the log of `tree_size` entries.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InclusionProof {
    /// The entry's position.
    pub leaf_index: u64,
    /// The tree size proved against.
    pub tree_size: u64,
    /// The entry's leaf hash.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub leaf_hash: Digest,
    /// The root of the tree of `tree_size`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub root: Digest,
    /// The audit path, leaf to root.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub path: Vec<Digest>,
}

/// A consistency proof: the log of `first` entries is a prefix of the log of `second`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsistencyProof {
    /// The older size.
    pub first: u64,
    /// The newer size.
    pub second: u64,
    /// The root at `first`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub first_root: Digest,
    /// The root at `second`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub second_root: Digest,
    /// The proof hashes.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub path: Vec<Digest>,
}

impl<S: Store> Ledger<S> {
    /// The Merkle root of the first `size` entries, from the stored nodes.
    pub fn root(&self, size: u64) -> Result<Digest> {
        merkle::root(size, &Nodes(self.store())).map_err(|e| {
            Error::damaged(format!("cannot compute the root of tree size {size}: {e}"))
        })
    }

    /// Proves the entry at `seq` is in the log of `size` entries (the whole log if `None`).
    pub fn inclusion_proof(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof> {
        let head = self.store().head()?;
        let size = size.unwrap_or(head.size);
        if size > head.size {
            return Err(Error::BadInput(format!(
                "tree size {size} is larger than the log, which has {}",
                counted(head.size, "entry", "entries")
            )));
        }
        if seq >= size {
            return Err(Error::BadInput(format!(
                "entry #{seq} is not below the tree size {size}"
            )));
        }
        let bytes = self
            .store()
            .entry(seq)?
            .ok_or_else(|| Error::NotFound(format!("there is no entry #{seq}")))?;
        let leaf_hash = entry_hash(&bytes);
        // The root's and the path's nodes, read in one batch.
        let nodes = FetchedNodes::for_reads(self.store(), |reads| {
            let _ = merkle::root(size, reads);
            let _ = merkle::inclusion_proof(seq, size, reads);
        })?;
        let root = merkle::root(size, &nodes).map_err(|e| {
            Error::damaged(format!("cannot compute the root of tree size {size}: {e}"))
        })?;
        let path = merkle::inclusion_proof(seq, size, &nodes)
            .map_err(|e| Error::damaged(format!("cannot build the proof: {e}")))?;
        verify_inclusion(seq, size, &leaf_hash, &path, &root).map_err(|e| {
            Error::damaged(format!(
                "the store's merkle nodes do not prove entry #{seq} ({e})"
            ))
        })?;
        Ok(InclusionProof {
            leaf_index: seq,
            tree_size: size,
            leaf_hash,
            root,
            path,
        })
    }

    /// Proves the log of `from` entries is a prefix of the log of `to` (the whole log if
    /// `None`).
    pub fn consistency_proof(&self, from: u64, to: Option<u64>) -> Result<ConsistencyProof> {
        let head = self.store().head()?;
        let to = to.unwrap_or(head.size);
        if to > head.size {
            return Err(Error::BadInput(format!(
                "tree size {to} is larger than the log, which has {}",
                counted(head.size, "entry", "entries")
            )));
        }
        if from > to {
            return Err(Error::BadInput(format!(
                "the older size {from} is larger than the newer size {to}"
            )));
        }
        let nodes = FetchedNodes::for_reads(self.store(), |reads| {
            let _ = merkle::root(from, reads);
            let _ = merkle::root(to, reads);
            let _ = merkle::consistency_proof(from, to, reads);
        })?;
        let root = |size| {
            merkle::root(size, &nodes).map_err(|e| {
                Error::damaged(format!("cannot compute the root of tree size {size}: {e}"))
            })
        };
        let (first_root, second_root) = (root(from)?, root(to)?);
        let path = merkle::consistency_proof(from, to, &nodes)
            .map_err(|e| Error::damaged(format!("cannot build the proof: {e}")))?;
        verify_consistency(from, to, &path, &first_root, &second_root).map_err(|e| {
            Error::damaged(format!(
                "the store's merkle nodes do not prove size {from} consistent with size {to} ({e})"
            ))
        })?;
        Ok(ConsistencyProof {
            first: from,
            second: to,
            first_root,
            second_root,
            path,
        })
    }
}
