//! RFC 9162 proofs from the store's Merkle nodes, in O(log n) reads, each checked with the
//! independent verifier before it is returned: a damaged store gives an error, never a proof
//! that does not verify. The upper levels of the tree, which every proof reads, are kept in
//! memory ([`NodeCache`]); only the few nodes nearest the leaves are read per proof.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use ledger_core::hash::Digest;
use ledger_core::merkle::{self, verify_consistency, verify_inclusion};
use ledger_core::plural::counted;
use ledger_core::statement::entry_hash;
use ledger_store::{FetchedNodes, MerkleNodes, Nodes, Store, StoreError};

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

/// The Merkle nodes of the upper levels, as the store returned them: a node covers a
/// complete subtree, so once stored it never changes, and the store is this process's alone
/// while the ledger is open. Only levels with at most [`CACHED_LEVEL_NODES`] nodes in the
/// tree asked about are kept, and at most twice that many nodes in all (about 13 MB), so
/// memory stays bounded however large the log grows; a proof then reads about four nodes
/// from the store instead of about `log2 n`.
#[derive(Default)]
pub(crate) struct NodeCache {
    nodes: RwLock<HashMap<(u8, u64), Digest>>,
}

/// The most nodes a level may have in the tree for it to be cached.
const CACHED_LEVEL_NODES: u64 = 1 << 17;

impl NodeCache {
    /// The lowest level kept for a tree of `size` leaves: the first with at most
    /// [`CACHED_LEVEL_NODES`] nodes.
    fn lowest_level(size: u64) -> u8 {
        (0..64u8)
            .find(|&level| size >> level <= CACHED_LEVEL_NODES)
            .unwrap_or(64)
    }
}

/// The store's nodes seen through a [`NodeCache`], for computations over a tree of at most
/// `size` leaves: every node they read is a complete subtree of the committed log.
struct CachedNodes<'a> {
    store: &'a dyn MerkleNodes,
    cache: &'a NodeCache,
    size: u64,
}

impl MerkleNodes for CachedNodes<'_> {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        Ok(self.merkle_nodes(&[(level, index)])?.pop().flatten())
    }

    fn merkle_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Digest>>, StoreError> {
        let mut found: Vec<Option<Digest>> = {
            let cached = self
                .cache
                .nodes
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            wanted.iter().map(|at| cached.get(at).copied()).collect()
        };
        let missing: Vec<(u8, u64)> = wanted
            .iter()
            .zip(&found)
            .filter(|(_, node)| node.is_none())
            .map(|(at, _)| *at)
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let read = self.store.merkle_nodes(&missing)?;
        let lowest = NodeCache::lowest_level(self.size);
        let mut cached = self
            .cache
            .nodes
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        for (&(level, index), node) in missing.iter().zip(&read) {
            if let Some(hash) = node
                && level >= lowest
                && cached.len() < 2 * CACHED_LEVEL_NODES as usize
            {
                cached.insert((level, index), *hash);
            }
        }
        drop(cached);
        let mut read = read.into_iter();
        for node in found.iter_mut().filter(|node| node.is_none()) {
            *node = read.next().flatten();
        }
        Ok(found)
    }
}

impl<S: Store> Ledger<S> {
    /// The store's Merkle nodes for trees of at most `size` leaves, through the cache.
    fn nodes(&self, size: u64) -> CachedNodes<'_> {
        CachedNodes {
            store: self.store(),
            cache: &self.nodes,
            size,
        }
    }

    /// The Merkle root of the first `size` entries, from the stored nodes; `size` must not
    /// exceed the log's (the cache keeps only nodes of the committed log).
    pub fn root(&self, size: u64) -> Result<Digest> {
        let head = self.store().head()?;
        if size > head.size {
            return Err(beyond_the_log(size, head.size));
        }
        merkle::root(size, &Nodes(&self.nodes(size))).map_err(|e| {
            Error::damaged(format!("cannot compute the root of tree size {size}: {e}"))
        })
    }

    /// Proves the entry at `seq` is in the log of `size` entries (the whole log if `None`).
    pub fn inclusion_proof(&self, seq: u64, size: Option<u64>) -> Result<InclusionProof> {
        let head = self.store().head()?;
        let size = size.unwrap_or(head.size);
        if size > head.size {
            return Err(beyond_the_log(size, head.size));
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
        let nodes = FetchedNodes::for_reads(&self.nodes(size), |reads| {
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
            return Err(beyond_the_log(to, head.size));
        }
        if from > to {
            return Err(Error::BadInput(format!(
                "the older size {from} is larger than the newer size {to}"
            )));
        }
        let nodes = FetchedNodes::for_reads(&self.nodes(to), |reads| {
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

/// The error for a tree size larger than the log's `head` entries.
fn beyond_the_log(size: u64, head: u64) -> Error {
    Error::BadInput(format!(
        "tree size {size} is larger than the log, which has {}",
        counted(head, "entry", "entries")
    ))
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use ledger_core::merkle::{MemoryTree, NodeSource, leaf_hash};

    use super::*;

    /// A tree in memory that counts the nodes read from it.
    struct Counted {
        tree: MemoryTree,
        read: RefCell<Vec<(u8, u64)>>,
    }

    impl MerkleNodes for Counted {
        fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
            self.read.borrow_mut().push((level, index));
            Ok(self.tree.node(level, index).ok())
        }
    }

    #[test]
    fn the_lowest_cached_level_keeps_at_most_the_cap_per_level() {
        assert_eq!(NodeCache::lowest_level(0), 0);
        assert_eq!(NodeCache::lowest_level(CACHED_LEVEL_NODES), 0);
        assert_eq!(NodeCache::lowest_level(CACHED_LEVEL_NODES + 1), 1);
        assert_eq!(NodeCache::lowest_level(1_000_000), 3);
        assert_eq!(NodeCache::lowest_level(u64::MAX), 47);
    }

    /// Proofs through the cache are the store's; the second time, only the levels below
    /// the cached ones are read again, and a node the store lacks is never cached.
    #[test]
    fn cached_nodes_answer_as_the_store_and_read_only_the_low_levels_again() {
        let size = 3 * CACHED_LEVEL_NODES + 5;
        let store = Counted {
            tree: MemoryTree::from_leaf_hashes((0..size).map(|i| leaf_hash(&i.to_le_bytes()))),
            read: RefCell::new(Vec::new()),
        };
        let cache = NodeCache::default();
        let nodes = CachedNodes {
            store: &store,
            cache: &cache,
            size,
        };
        let lowest = NodeCache::lowest_level(size);
        assert_eq!(lowest, 2);
        // Not the last leaf: its path has no node below level 2.
        for seq in [0, 1, size / 2, size - 6] {
            let direct = merkle::inclusion_proof(seq, size, &Nodes(&store)).unwrap();
            store.read.borrow_mut().clear();
            let first = merkle::inclusion_proof(seq, size, &Nodes(&nodes)).unwrap();
            assert_eq!(first, direct);
            store.read.borrow_mut().clear();
            let again = merkle::inclusion_proof(seq, size, &Nodes(&nodes)).unwrap();
            assert_eq!(again, direct);
            let read = store.read.borrow();
            assert!(!read.is_empty(), "the lowest levels are read again");
            assert!(
                read.iter().all(|&(level, _)| level < lowest),
                "read again: {read:?}"
            );
        }
        // A node beyond the tree is missing: reported as such, and not remembered.
        assert_eq!(nodes.merkle_node(0, size).unwrap(), None);
        assert!(!cache.nodes.read().unwrap().contains_key(&(0, size)));
        assert!(
            cache
                .nodes
                .read()
                .unwrap()
                .keys()
                .all(|&(l, _)| l >= lowest)
        );
    }

    /// One tree size never fills the cache (its levels from the lowest cached one hold
    /// fewer than twice the cap); a log that grows keeps the lower level it cached when it
    /// was smaller, and the cache stops there.
    #[test]
    fn the_cache_stops_growing_at_twice_the_cap() {
        let size = 1u64 << 20;
        let store = Counted {
            tree: MemoryTree::from_leaf_hashes((0..size).map(|i| leaf_hash(&i.to_le_bytes()))),
            read: RefCell::new(Vec::new()),
        };
        let cache = NodeCache::default();
        let every = |size: u64| -> Vec<(u8, u64)> {
            (NodeCache::lowest_level(size)..=size.ilog2() as u8)
                .flat_map(|level| (0..size >> level).map(move |index| (level, index)))
                .collect()
        };
        for size in [size / 2, size] {
            let nodes = CachedNodes {
                store: &store,
                cache: &cache,
                size,
            };
            let found = nodes.merkle_nodes(&every(size)).unwrap();
            assert!(found.iter().all(Option::is_some));
        }
        let cap = 2 * CACHED_LEVEL_NODES as usize;
        assert!(every(size / 2).len() < cap);
        assert_eq!(cache.nodes.read().unwrap().len(), cap);
    }
}
