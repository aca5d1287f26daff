//! The RFC 6962 / RFC 9162 Merkle tree over log entries, stored incrementally.
//!
//! The log proves two things to people who do not trust its operator: that an entry is in
//! the log of size N (inclusion), and that the log of size N is a prefix of the log of
//! size M (consistency). Both proofs, and the hashes they are built from, follow RFC 9162
//! §2.1 exactly so that existing transparency-log tooling can check them.
//!
//! # Storage model
//!
//! The store keeps every *complete, aligned* subtree hash: node `(level, index)` is the
//! Merkle Tree Hash of leaves `[index·2^level, (index+1)·2^level)`; level 0 holds the leaf
//! hashes. Those nodes never change once written, so appending a leaf only adds nodes
//! ([`nodes_to_store_on_append`], or [`PendingNodes`] for a batch written atomically).
//! Roots and proofs for any tree size are composed from O(log n) stored nodes through the
//! [`NodeSource`] trait; the tree is never rebuilt.
//!
//! # Verification
//!
//! [`verify_inclusion`] and [`verify_consistency`] are pure functions of the proof and the
//! claimed roots (RFC 9162 §2.1.3.2 and §2.1.4.2). Proofs longer than [`MAX_PROOF_LEN`]
//! hashes are refused before any hashing, which only excludes trees of more than 2^63
//! leaves.

use std::collections::HashMap;

use crate::hash::Digest;

/// The most hashes a proof may hold. An inclusion proof has at most one hash per level
/// of the tree; a consistency proof has at most 64 hashes for any tree of at most 2^63
/// leaves.
pub const MAX_PROOF_LEN: usize = 64;

/// The RFC 6962 leaf hash: `SHA-256(0x00 || bytes)`.
pub fn leaf_hash(bytes: &[u8]) -> Digest {
    Digest::of(&[&[0x00], bytes])
}

/// The RFC 6962 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest::of(&[&[0x01], left.as_bytes(), right.as_bytes()])
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Digest {
    Digest::of(&[])
}

/// Reads a hash from bytes that must be exactly 32 long (e.g. a decoded proof element).
pub fn digest_from_bytes(bytes: &[u8]) -> Result<Digest, MerkleError> {
    <[u8; 32]>::try_from(bytes)
        .map(Digest)
        .map_err(|_| MerkleError::BadHashLength { len: bytes.len() })
}

/// Why a Merkle proof was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MerkleError {
    /// A hash given as bytes is not 32 bytes long.
    #[error("hash must be 32 bytes, found {len}")]
    BadHashLength {
        /// The length that was found.
        len: usize,
    },
    /// The proof holds more hashes than any tree of at most 2^63 leaves needs.
    #[error("proof has {len} hashes, more than the maximum of {MAX_PROOF_LEN}")]
    ProofTooLong {
        /// The number of hashes in the proof.
        len: usize,
    },
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The claimed leaf index.
        index: u64,
        /// The claimed tree size.
        size: u64,
    },
    /// The older tree is larger than the newer one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesReversed {
        /// The claimed older size.
        old: u64,
        /// The claimed newer size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the claimed sizes.
    #[error("proof has the wrong number of hashes for the claimed tree sizes")]
    WrongProofLength,
    /// The proof must be empty here (equal sizes, or an empty old tree) but is not.
    #[error("proof must be empty for old size {old} and new size {new}")]
    ProofNotEmpty {
        /// The claimed older size.
        old: u64,
        /// The claimed newer size.
        new: u64,
    },
    /// A claimed root for the empty tree is not `SHA-256("")`.
    #[error("root of the empty tree must be sha-256 of the empty string")]
    BadEmptyRoot,
    /// The root recomputed from the proof is not the claimed root.
    #[error("recomputed root does not match the claimed root")]
    RootMismatch,
}

/// Why a root or proof could not be computed from stored nodes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TreeError<E> {
    /// The node source could not produce a node the computation needs.
    #[error("cannot read merkle node: {0}")]
    Source(E),
    /// The leaf index is not below the tree size.
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The requested tree size.
        size: u64,
    },
    /// The older tree is larger than the newer one.
    #[error("old tree size {old} is larger than new tree size {new}")]
    SizesReversed {
        /// The requested older size.
        old: u64,
        /// The requested newer size.
        new: u64,
    },
    /// The tree cannot grow past `u64::MAX` leaves.
    #[error("tree is full")]
    TreeFull,
}

/// Where stored complete-subtree hashes are read from (the ledger store, a [`MemoryTree`],
/// a [`PendingNodes`] overlay).
pub trait NodeSource {
    /// Why a node could not be read. A node that is not stored is an error, never a panic.
    type Error;

    /// The hash of the complete subtree covering leaves `[index·2^level, (index+1)·2^level)`.
    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error>;
}

impl<S: NodeSource + ?Sized> NodeSource for &S {
    type Error = S::Error;

    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        (**self).node(level, index)
    }
}

/// The largest power of two strictly below `n`, for `n >= 2` (RFC 9162's `k`).
fn split_point(n: u64) -> u64 {
    // n >= 2, so n - 1 >= 1 and the shift is at most 63.
    1u64 << (63 - (n - 1).leading_zeros())
}

/// `MTH(D[start:end])` for a range that occurs in RFC 9162's recursion, i.e. `start` is a
/// multiple of the smallest power of two that is at least `end - start`. The range is
/// split into the complete subtrees of the binary decomposition of its length, which are
/// read from `source` and folded from the right. Reads at most 64 nodes.
fn range_hash<S: NodeSource>(source: &S, start: u64, end: u64) -> Result<Digest, TreeError<S::Error>> {
    if end <= start {
        return Ok(empty_root());
    }
    let mut parts: Vec<Digest> = Vec::new();
    let mut offset = start;
    let mut remaining = end - start;
    while remaining > 0 {
        // Highest set bit of `remaining`: at most 63, so it fits in u8.
        let level = 63 - remaining.leading_zeros();
        let width = 1u64 << level;
        parts.push(source.node(level as u8, offset >> level).map_err(TreeError::Source)?);
        offset += width;
        remaining -= width;
    }
    let mut parts = parts.into_iter().rev();
    let mut acc = parts.next().unwrap_or_else(empty_root);
    for left in parts {
        acc = node_hash(&left, &acc);
    }
    Ok(acc)
}

/// The root hash of the tree of the first `size` leaves (RFC 9162 `MTH(D[size])`).
pub fn root<S: NodeSource>(size: u64, source: &S) -> Result<Digest, TreeError<S::Error>> {
    range_hash(source, 0, size)
}

/// The inclusion proof (audit path) of leaf `index` in the tree of `size` leaves, leaf to
/// root, exactly RFC 9162 §2.1.3.1 `PATH(index, D[size])`. Reads O(log size) nodes.
pub fn inclusion_proof<S: NodeSource>(
    index: u64,
    size: u64,
    source: &S,
) -> Result<Vec<Digest>, TreeError<S::Error>> {
    if index >= size {
        return Err(TreeError::IndexOutOfRange { index, size });
    }
    // Walk from the root down to the leaf; siblings are collected root-first.
    let mut siblings = Vec::new();
    let (mut start, mut end) = (0u64, size);
    while end - start > 1 {
        let k = split_point(end - start);
        if index - start < k {
            siblings.push(range_hash(source, start + k, end)?);
            end = start + k;
        } else {
            siblings.push(range_hash(source, start, start + k)?);
            start += k;
        }
    }
    siblings.reverse();
    Ok(siblings)
}

/// The consistency proof from the tree of `old` leaves to the tree of `new` leaves,
/// exactly RFC 9162 §2.1.4.1 `PROOF(old, D[new])`. Reads O(log new) nodes.
///
/// `old == new` and `old == 0` give the empty proof, the only one [`verify_consistency`]
/// accepts for them.
pub fn consistency_proof<S: NodeSource>(
    old: u64,
    new: u64,
    source: &S,
) -> Result<Vec<Digest>, TreeError<S::Error>> {
    if old > new {
        return Err(TreeError::SizesReversed { old, new });
    }
    if old == 0 {
        return Ok(Vec::new());
    }
    // SUBPROOF(m, D[start:end], b), unrolled. Each step appends its hash *after* the
    // recursive result, so hashes are collected root-first and reversed at the end.
    let mut outer = Vec::new();
    let (mut start, mut end, mut m, mut complete) = (0u64, new, old, true);
    let mut proof = Vec::new();
    loop {
        let n = end - start;
        if m == n {
            if !complete {
                proof.push(range_hash(source, start, end)?);
            }
            break;
        }
        let k = split_point(n);
        if m <= k {
            outer.push(range_hash(source, start + k, end)?);
            end = start + k;
        } else {
            outer.push(range_hash(source, start, start + k)?);
            start += k;
            m -= k;
            complete = false;
        }
    }
    proof.extend(outer.into_iter().rev());
    Ok(proof)
}

/// The nodes to store when the leaf hash `leaf` is appended to a tree of `size_before`
/// leaves: the leaf itself at `(0, size_before)`, then every complete subtree it
/// completes, bottom-up. Reads only the left siblings it combines with (one per trailing
/// one bit of `size_before`: constant amortized, at most 63).
///
/// To append several leaves before anything is written, use [`PendingNodes`].
pub fn nodes_to_store_on_append<S: NodeSource>(
    size_before: u64,
    leaf: Digest,
    source: &S,
) -> Result<Vec<(u8, u64, Digest)>, TreeError<S::Error>> {
    if size_before == u64::MAX {
        return Err(TreeError::TreeFull);
    }
    let mut nodes = vec![(0u8, size_before, leaf)];
    let (mut level, mut index, mut hash) = (0u8, size_before, leaf);
    while index & 1 == 1 {
        let left = source.node(level, index - 1).map_err(TreeError::Source)?;
        hash = node_hash(&left, &hash);
        level += 1;
        index >>= 1;
        nodes.push((level, index, hash));
    }
    Ok(nodes)
}

/// A batch of appended leaves not yet written: reads fall through to a base source, new
/// nodes are kept in memory. The store writes [`PendingNodes::into_nodes`] in one atomic
/// batch.
///
/// ```
/// use ledger_core::merkle::{leaf_hash, root, MemoryTree, PendingNodes};
///
/// let stored = MemoryTree::new();
/// let mut batch = PendingNodes::new(&stored, stored.size());
/// for entry in [&b"a"[..], b"b", b"c"] {
///     batch.push(leaf_hash(entry))?;
/// }
/// let root_after = root(batch.size(), &batch)?;
/// let mut reference = MemoryTree::new();
/// for entry in [&b"a"[..], b"b", b"c"] {
///     reference.push(leaf_hash(entry));
/// }
/// assert_eq!(Some(root_after), reference.root());
/// assert_eq!(batch.into_nodes().len(), 5); // 3 leaves + 2 complete parents
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct PendingNodes<'a, S: NodeSource + ?Sized> {
    base: &'a S,
    size: u64,
    order: Vec<(u8, u64)>,
    nodes: HashMap<(u8, u64), Digest>,
}

impl<'a, S: NodeSource + ?Sized> PendingNodes<'a, S> {
    /// Starts a batch on top of `base`, which holds the tree of `size` leaves.
    pub fn new(base: &'a S, size: u64) -> Self {
        PendingNodes {
            base,
            size,
            order: Vec::new(),
            nodes: HashMap::new(),
        }
    }

    /// The tree size including the leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash, keeping the nodes it completes in memory.
    pub fn push(&mut self, leaf: Digest) -> Result<(), TreeError<S::Error>> {
        let new_nodes = nodes_to_store_on_append(self.size, leaf, &*self)?;
        for (level, index, hash) in new_nodes {
            self.order.push((level, index));
            self.nodes.insert((level, index), hash);
        }
        self.size += 1;
        Ok(())
    }

    /// The new nodes in the order they were created, as `(level, index, hash)`.
    pub fn into_nodes(self) -> Vec<(u8, u64, Digest)> {
        let PendingNodes { order, nodes, .. } = self;
        order
            .into_iter()
            .filter_map(|(level, index)| nodes.get(&(level, index)).map(|h| (level, index, *h)))
            .collect()
    }
}

impl<S: NodeSource + ?Sized> NodeSource for PendingNodes<'_, S> {
    type Error = S::Error;

    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        match self.nodes.get(&(level, index)) {
            Some(hash) => Ok(*hash),
            None => self.base.node(level, index),
        }
    }
}

/// Why a [`MemoryTree`] could not give a node.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryTreeError {
    /// No complete subtree at this position: beyond the tree's size, or not complete yet.
    #[error("no complete merkle node at level {level}, index {index}")]
    MissingNode {
        /// The requested level.
        level: u8,
        /// The requested index within the level.
        index: u64,
    },
}

/// A whole tree in memory, one vector of complete-subtree hashes per level. Used by tests
/// and by offline verification of evidence bundles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTree {
    levels: Vec<Vec<Digest>>,
}

impl MemoryTree {
    /// The empty tree.
    pub fn new() -> Self {
        MemoryTree::default()
    }

    /// The tree of these leaf hashes, in order.
    pub fn from_leaf_hashes(leaves: impl IntoIterator<Item = Digest>) -> Self {
        let mut tree = MemoryTree::new();
        for leaf in leaves {
            tree.push(leaf);
        }
        tree
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.levels.first().map_or(0, |leaves| leaves.len() as u64)
    }

    /// Appends a leaf hash and every complete subtree it completes.
    pub fn push(&mut self, leaf: Digest) {
        let mut hash = leaf;
        let mut level = 0usize;
        loop {
            if self.levels.len() <= level {
                self.levels.push(Vec::new());
            }
            let Some(row) = self.levels.get_mut(level) else {
                return;
            };
            row.push(hash);
            // A node at an odd index completes its parent with its left sibling.
            if row.len() % 2 == 1 {
                return;
            }
            let Some(left) = row.len().checked_sub(2).and_then(|i| row.get(i)) else {
                return;
            };
            hash = node_hash(left, &hash);
            level += 1;
        }
    }

    /// The root of the whole tree (`None` is never returned for the empty tree: it is
    /// [`empty_root`]).
    pub fn root(&self) -> Option<Digest> {
        root(self.size(), self).ok()
    }
}

impl NodeSource for MemoryTree {
    type Error = MemoryTreeError;

    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MemoryTreeError::MissingNode { level, index })
    }
}

/// Checks that `leaf_hash` is leaf `leaf_index` of the tree of `tree_size` leaves whose
/// root is `root`, given the audit path `proof` (RFC 9162 §2.1.3.2).
///
/// The proof binds the leaf to the root; the tree size is bound by the signed checkpoint
/// that carries the root, not by the proof alone.
pub fn verify_inclusion(
    leaf_index: u64,
    tree_size: u64,
    leaf_hash: &Digest,
    proof: &[Digest],
    root: &Digest,
) -> Result<(), MerkleError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(MerkleError::ProofTooLong { len: proof.len() });
    }
    if leaf_index >= tree_size {
        return Err(MerkleError::IndexOutOfRange {
            index: leaf_index,
            size: tree_size,
        });
    }
    let (mut f, mut s) = (leaf_index, tree_size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return Err(MerkleError::WrongProofLength);
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::WrongProofLength);
    }
    if r != *root {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `size1` leaves with root `root1` is a prefix of the tree of
/// `size2` leaves with root `root2`, given the consistency proof `proof`
/// (RFC 9162 §2.1.4.2).
///
/// Cases RFC 9162 leaves open, decided here:
///
/// - `size1 > size2` is an error.
/// - `size1 == size2` requires an empty proof and `root1 == root2`.
/// - `size1 == 0` is accepted iff the proof is empty and `root1` is the empty-tree root
///   ([`empty_root`]): every tree extends the empty tree. This follows C2SP tlog-witness
///   (a witness with no previous checkpoint asks from old size 0 with an empty proof);
///   transparency-dev/merkle instead refuses every proof from size 0.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Digest],
    root1: &Digest,
    root2: &Digest,
) -> Result<(), MerkleError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(MerkleError::ProofTooLong { len: proof.len() });
    }
    if size1 > size2 {
        return Err(MerkleError::SizesReversed {
            old: size1,
            new: size2,
        });
    }
    if size1 == size2 || size1 == 0 {
        if !proof.is_empty() {
            return Err(MerkleError::ProofNotEmpty {
                old: size1,
                new: size2,
            });
        }
        if size1 == 0 && *root1 != empty_root() {
            return Err(MerkleError::BadEmptyRoot);
        }
        if size1 == size2 && root1 != root2 {
            return Err(MerkleError::RootMismatch);
        }
        return Ok(());
    }
    // 0 < size1 < size2 from here on.
    let Some((first, rest)) = proof.split_first() else {
        return Err(MerkleError::WrongProofLength);
    };
    // If size1 is a power of two, the old root is itself the first node of the path.
    let (seed, path) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (first, rest)
    };
    let (mut f, mut s) = (size1 - 1, size2 - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (*seed, *seed);
    for c in path {
        if s == 0 {
            return Err(MerkleError::WrongProofLength);
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(MerkleError::WrongProofLength);
    }
    if fr != *root1 || sr != *root2 {
        return Err(MerkleError::RootMismatch);
    }
    Ok(())
}
