//! RFC 9162 proofs from the store's Merkle nodes, in O(log n) reads, each checked with the
//! independent verifier before it is returned: a damaged store gives an error, never a proof
//! that does not verify. The upper levels of the tree, which every proof reads, are kept in
//! memory ([`NodeCache`]): once [`Ledger::load_proof_cache`] has run, every level of a log
//! of up to about a million entries, so a proof reads only its entry.

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

/// The Merkle nodes of the upper levels of the tree, as the store returned them: a node
/// covers a complete subtree, so once stored it never changes, and the store is this
/// process's alone while the ledger is open. Each cached level holds a prefix of its nodes,
/// in one vector: from the top level down to the lowest whose nodes, with all those above,
/// number at most [`CACHED_NODES`] (64 MiB) in the tree asked about, so memory stays
/// bounded however large the log grows. [`Ledger::load_proof_cache`] fills the levels (a
/// server does so once), and a level grows by itself as the log does, by the few nodes a
/// proof asks for just past its end; a proof then reads only its entry from the store, or
/// at 10^7 entries and beyond also the few nodes below the lowest cached level.
pub(crate) struct NodeCache {
    /// `levels[level]`: that level's nodes `0..len` (empty for a level not cached).
    levels: RwLock<Vec<Vec<Digest>>>,
    /// The most nodes kept: [`CACHED_NODES`], less in tests.
    cap: u64,
}

impl Default for NodeCache {
    fn default() -> NodeCache {
        NodeCache::with_cap(CACHED_NODES)
    }
}

/// The most nodes kept in all: every level of a log of about a million entries.
const CACHED_NODES: u64 = 1 << 21;

/// How far past a cached level's end a node asked for may be for the nodes up to it to be
/// read and kept, as a fraction of the cap (4,096 nodes): enough for the nodes the appends
/// since the last proof completed, never a large level on a first proof.
const EXTEND_SHARE: u64 = 512;

/// Nodes read from the store at a time while [`Ledger::load_proof_cache`] fills a level,
/// with the cache unlocked in between.
const LOAD_NODES: u64 = 1 << 16;

impl NodeCache {
    fn with_cap(cap: u64) -> NodeCache {
        NodeCache {
            levels: RwLock::default(),
            cap,
        }
    }

    /// The lowest level kept for a tree of `size` leaves: the first whose complete nodes,
    /// with those of every level above, number at most the cap.
    fn lowest_level(&self, size: u64) -> u8 {
        (0..64u8)
            .find(|&level| nodes_from(size, level) <= self.cap)
            .unwrap_or(64)
    }

    /// The cached node at `level`, `index`.
    fn get(levels: &[Vec<Digest>], (level, index): (u8, u64)) -> Option<Digest> {
        let index = usize::try_from(index).ok()?;
        levels.get(usize::from(level))?.get(index).copied()
    }

    /// How many nodes of `level` are cached.
    fn len(&self, level: u8) -> u64 {
        let levels = self.levels.read().unwrap_or_else(PoisonError::into_inner);
        levels
            .get(usize::from(level))
            .map_or(0, |nodes| nodes.len() as u64)
    }

    /// Reads from `store` the nodes of `level` past the cached ones up to `to` (exclusive)
    /// and keeps them, for a tree of `size` leaves (`to` at most its complete nodes there);
    /// levels below the lowest kept for that size are dropped. The store is read unlocked:
    /// if another thread extended the level meanwhile, only what it lacks is added.
    fn extend(
        &self,
        store: &dyn MerkleNodes,
        size: u64,
        level: u8,
        to: u64,
    ) -> Result<(), StoreError> {
        let from = self.len(level);
        if from >= to {
            return Ok(());
        }
        let read = store.merkle_range(level, from, to)?;
        let lowest = self.lowest_level(size);
        let mut levels = self.levels.write().unwrap_or_else(PoisonError::into_inner);
        for below in levels.iter_mut().take(usize::from(lowest)) {
            *below = Vec::new();
        }
        if level < lowest {
            return Ok(());
        }
        if levels.len() <= usize::from(level) {
            levels.resize_with(usize::from(level) + 1, Vec::new);
        }
        let nodes = &mut levels[usize::from(level)];
        let have = nodes.len() as u64;
        if let Some(new) = have
            .checked_sub(from)
            .and_then(|skip| read.get(usize::try_from(skip).ok()?..))
        {
            nodes.extend_from_slice(new);
        }
        Ok(())
    }
}

/// The complete nodes of a tree of `size` leaves at `level` and every level above.
fn nodes_from(size: u64, level: u8) -> u64 {
    (level..64)
        .map(|above| size >> above)
        .fold(0u64, u64::saturating_add)
}

/// Fills `cache` with the levels it keeps for a tree of `size` leaves, from the top down,
/// reading `store` [`LOAD_NODES`] at a time: a node the store lacks is damage.
fn load(cache: &NodeCache, store: &dyn MerkleNodes, size: u64) -> Result<()> {
    for level in (cache.lowest_level(size)..64).rev() {
        let complete = size >> level;
        let mut at = cache.len(level);
        while at < complete {
            let to = complete.min(at.saturating_add(LOAD_NODES));
            cache.extend(store, size, level, to)?;
            let now = cache.len(level);
            if now < to {
                return Err(Error::damaged(format!(
                    "the store lacks merkle node {now} of level {level}, which a tree of \
                     {size} entries has"
                )));
            }
            at = now;
        }
    }
    Ok(())
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
        let lowest = self.cache.lowest_level(self.size);
        // The cached nodes, and the levels to extend for nodes just past a cached level's
        // end (the log grew): read with the few before them, kept, then looked up again.
        let lookup = || {
            let levels = self
                .cache
                .levels
                .read()
                .unwrap_or_else(PoisonError::into_inner);
            let found: Vec<Option<Digest>> = wanted
                .iter()
                .map(|&at| NodeCache::get(&levels, at))
                .collect();
            let extend: Vec<(u8, u64)> = wanted
                .iter()
                .zip(&found)
                .filter(|&(&(level, index), node)| {
                    let len = levels.get(usize::from(level)).map_or(0, Vec::len) as u64;
                    node.is_none()
                        && level >= lowest
                        && index < self.size >> level
                        && index >= len
                        && index - len < self.cache.cap / EXTEND_SHARE
                })
                .map(|(&(level, index), _)| (level, index + 1))
                .collect();
            (found, extend)
        };
        let (mut found, extend) = lookup();
        if !extend.is_empty() {
            for (level, to) in extend {
                self.cache.extend(self.store, self.size, level, to)?;
            }
            found = lookup().0;
        }
        let missing: Vec<(u8, u64)> = wanted
            .iter()
            .zip(&found)
            .filter(|(_, node)| node.is_none())
            .map(|(at, _)| *at)
            .collect();
        if missing.is_empty() {
            return Ok(found);
        }
        let mut read = self.store.merkle_nodes(&missing)?.into_iter();
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

    /// Reads into memory the upper levels of the Merkle tree that proofs and roots read
    /// (the node cache: at most 64 MiB), and has the store keep what finds an entry without
    /// a database read ([`Store::cache_entry_positions`]: at most 64 MiB more on sled), so
    /// that a proof then reads only its entry's bytes: for a server, once at start. One
    /// range scan a level and one of the entries; at 10^6 entries about two million nodes.
    pub fn load_proof_cache(&self) -> Result<()> {
        self.store().cache_entry_positions()?;
        load(&self.nodes, self.store(), self.store().head()?.size)
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

    /// A tree of `size` leaves in memory, counting reads.
    fn counted(size: u64) -> Counted {
        Counted {
            tree: MemoryTree::from_leaf_hashes((0..size).map(|i| leaf_hash(&i.to_le_bytes()))),
            read: RefCell::new(Vec::new()),
        }
    }

    fn cached(cache: &NodeCache) -> u64 {
        cache
            .levels
            .read()
            .unwrap()
            .iter()
            .map(|l| l.len() as u64)
            .sum()
    }

    #[test]
    fn the_lowest_cached_level_is_the_first_whose_nodes_fit_the_cap() {
        let cache = NodeCache::default();
        assert_eq!(cache.lowest_level(0), 0);
        assert_eq!(cache.lowest_level(1_000_000), 0);
        assert_eq!(cache.lowest_level(CACHED_NODES), 1);
        assert_eq!(cache.lowest_level(10_000_000), 4);
        for size in [5, 1 << 20, 3 << 21, 10_000_000, u64::MAX] {
            let lowest = cache.lowest_level(size);
            assert!(nodes_from(size, lowest) <= CACHED_NODES, "{size}");
            assert!(lowest == 0 || nodes_from(size, lowest - 1) > CACHED_NODES);
        }
    }

    /// Once loaded, proofs through the cache are the store's and read only the levels
    /// below the cached ones; a miss far past a level's end does not load the level.
    #[test]
    fn a_loaded_cache_answers_as_the_store_and_reads_only_the_low_levels() {
        let size = 3 * 1024 + 5;
        let store = counted(size);
        let cache = NodeCache::with_cap(1024);
        let lowest = cache.lowest_level(size);
        assert_eq!(lowest, 3);
        let nodes = CachedNodes {
            store: &store,
            cache: &cache,
            size,
        };
        // Before loading: the first proof reads what it needs, not whole levels.
        merkle::inclusion_proof(size / 2, size, &Nodes(&nodes)).unwrap();
        assert!(
            store.read.borrow().len() < 64,
            "{}",
            store.read.borrow().len()
        );
        load(&cache, &store, size).unwrap();
        assert_eq!(cached(&cache), nodes_from(size, lowest));
        // Not the last leaf: its path has no node below the lowest level beyond the tree's.
        for seq in [0, 1, size / 2, size - 6] {
            let direct = merkle::inclusion_proof(seq, size, &Nodes(&store)).unwrap();
            store.read.borrow_mut().clear();
            let through = merkle::inclusion_proof(seq, size, &Nodes(&nodes)).unwrap();
            assert_eq!(through, direct);
            let read = store.read.borrow();
            assert!(!read.is_empty(), "the lowest levels are read");
            assert!(read.iter().all(|&(level, _)| level < lowest), "{read:?}");
        }
        // A node beyond the tree is missing: reported as such, and not remembered.
        assert_eq!(nodes.merkle_node(lowest, size >> lowest).unwrap(), None);
        assert_eq!(cached(&cache), nodes_from(size, lowest));
    }

    /// As the log grows, a proof's nodes just past a level's end are read and kept (a
    /// running server's cache keeps up), and once the cached levels would pass the cap the
    /// lowest is dropped.
    #[test]
    fn the_cache_follows_a_growing_log_within_its_cap() {
        let size = 4096;
        let store = counted(size);
        let cache = NodeCache::with_cap(1024);
        let small = 700;
        load(&cache, &store, small).unwrap();
        assert_eq!(cache.lowest_level(small), 1);
        assert_eq!(cached(&cache), nodes_from(small, 1));
        let grown = 704;
        let nodes = CachedNodes {
            store: &store,
            cache: &cache,
            size: grown,
        };
        let direct = merkle::inclusion_proof(grown - 1, grown, &Nodes(&store)).unwrap();
        assert_eq!(
            merkle::inclusion_proof(grown - 1, grown, &Nodes(&nodes)).unwrap(),
            direct
        );
        store.read.borrow_mut().clear();
        merkle::inclusion_proof(grown - 1, grown, &Nodes(&nodes)).unwrap();
        let read = store.read.borrow().clone();
        assert!(read.iter().all(|&(level, _)| level < 1), "{read:?}");
        // Levels 1 up of 1,200 leaves pass the cap: level 1 is dropped.
        let large = 1200;
        let nodes = CachedNodes {
            store: &store,
            cache: &cache,
            size: large,
        };
        merkle::inclusion_proof(large - 1, large, &Nodes(&nodes)).unwrap();
        assert_eq!(cache.lowest_level(large), 2);
        assert!(cache.levels.read().unwrap()[..2].iter().all(Vec::is_empty));
        load(&cache, &store, large).unwrap();
        assert!(cached(&cache) <= 1024);
    }

    /// Loading a store that lacks a node the tree has is an error naming it.
    #[test]
    fn loading_a_store_without_a_node_names_it() {
        struct Holed(Counted);
        impl MerkleNodes for Holed {
            fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
                if (level, index) == (1, 7) {
                    return Ok(None);
                }
                self.0.merkle_node(level, index)
            }
        }
        let store = Holed(counted(64));
        let e = load(&NodeCache::default(), &store, 64)
            .unwrap_err()
            .to_string();
        assert!(e.contains("merkle node 7 of level 1"), "{e}");
    }
}
