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

/// A complete-subtree hash to store, as `(level, index, hash)`: the key layout of the
/// store, written by [`nodes_to_store_on_append`] and [`PendingNodes::into_nodes`].
pub type StoredNode = (u8, u64, Digest);

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
fn range_hash<S: NodeSource>(
    source: &S,
    start: u64,
    end: u64,
) -> Result<Digest, TreeError<S::Error>> {
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
        parts.push(
            source
                .node(level as u8, offset >> level)
                .map_err(TreeError::Source)?,
        );
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
) -> Result<Vec<StoredNode>, TreeError<S::Error>> {
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
/// assert_eq!(root_after, reference.root());
/// assert_eq!(batch.into_nodes().len(), 4); // 3 leaves + the parent of the first two
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
    pub fn into_nodes(self) -> Vec<StoredNode> {
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

    /// The root of the whole tree ([`empty_root`] when it has no leaves).
    #[expect(
        clippy::expect_used,
        reason = "push is the only mutator and stores every complete subtree, so every node \
                  the root needs is present"
    )]
    pub fn root(&self) -> Digest {
        root(self.size(), self).expect("memory tree holds every complete subtree")
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

/// The right edge of a tree: the roots of the complete subtrees of the binary decomposition
/// of its size, largest (leftmost) first. Enough to append leaves and take the root at
/// every size in O(log n) memory, which is how whole-ledger verification recomputes the
/// tree while it replays the log (a [`MemoryTree`] would grow with the log).
///
/// ```
/// use ledger_core::merkle::{leaf_hash, Frontier, MemoryTree};
///
/// let mut frontier = Frontier::new();
/// let mut tree = MemoryTree::new();
/// for entry in [&b"a"[..], b"b", b"c"] {
///     frontier.push(leaf_hash(entry))?;
///     tree.push(leaf_hash(entry));
///     assert_eq!(frontier.root(), tree.root());
/// }
/// assert_eq!(frontier.size(), 3);
/// # Ok::<(), ledger_core::merkle::TreeError<std::convert::Infallible>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Frontier {
    size: u64,
    /// One hash per set bit of `size`, the highest bit first.
    nodes: Vec<Digest>,
}

impl Frontier {
    /// The frontier of the empty tree.
    pub fn new() -> Self {
        Frontier::default()
    }

    /// The number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a leaf hash: merges it with every complete subtree of its size on the right
    /// edge (one per trailing one bit of the old size).
    pub fn push(&mut self, leaf: Digest) -> Result<(), TreeError<std::convert::Infallible>> {
        if self.size == u64::MAX {
            return Err(TreeError::TreeFull);
        }
        let mut hash = leaf;
        let mut carry = self.size;
        while carry & 1 == 1 {
            // `nodes` holds one hash per set bit of `size`, so there is a left sibling for
            // each trailing one bit.
            let Some(left) = self.nodes.pop() else {
                break;
            };
            hash = node_hash(&left, &hash);
            carry >>= 1;
        }
        self.nodes.push(hash);
        self.size += 1;
        Ok(())
    }

    /// The root of the tree of [`Self::size`] leaves ([`empty_root`] when empty).
    pub fn root(&self) -> Digest {
        let mut parts = self.nodes.iter().rev();
        let Some(last) = parts.next() else {
            return empty_root();
        };
        parts.fold(*last, |acc, left| node_hash(left, &acc))
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 9162 §2.1.1 `MTH`, straight from the definition.
    fn naive_mth(leaves: &[Digest]) -> Digest {
        match leaves {
            [] => empty_root(),
            [one] => *one,
            _ => {
                let k = split_point(leaves.len() as u64) as usize;
                let (left, right) = leaves.split_at(k);
                node_hash(&naive_mth(left), &naive_mth(right))
            }
        }
    }

    /// RFC 9162 §2.1.3.1 `PATH(m, D[n])`, straight from the definition.
    fn naive_path(m: usize, leaves: &[Digest]) -> Vec<Digest> {
        if leaves.len() <= 1 {
            return Vec::new();
        }
        let k = split_point(leaves.len() as u64) as usize;
        let (left, right) = leaves.split_at(k);
        if m < k {
            let mut path = naive_path(m, left);
            path.push(naive_mth(right));
            path
        } else {
            let mut path = naive_path(m - k, right);
            path.push(naive_mth(left));
            path
        }
    }

    /// RFC 9162 §2.1.4.1 `SUBPROOF(m, D[n], b)`, straight from the definition.
    fn naive_subproof(m: usize, leaves: &[Digest], complete: bool) -> Vec<Digest> {
        if m == leaves.len() {
            return if complete {
                Vec::new()
            } else {
                vec![naive_mth(leaves)]
            };
        }
        let k = split_point(leaves.len() as u64) as usize;
        let (left, right) = leaves.split_at(k);
        if m <= k {
            let mut proof = naive_subproof(m, left, complete);
            proof.push(naive_mth(right));
            proof
        } else {
            let mut proof = naive_subproof(m - k, right, false);
            proof.push(naive_mth(left));
            proof
        }
    }

    fn leaves(n: u64, salt: u64) -> Vec<Digest> {
        (0..n)
            .map(|i| leaf_hash(&[salt.to_le_bytes(), i.to_le_bytes()].concat()))
            .collect()
    }

    fn tree(leaves: &[Digest]) -> MemoryTree {
        MemoryTree::from_leaf_hashes(leaves.iter().copied())
    }

    #[test]
    fn hashes_use_rfc6962_domain_prefixes() {
        // SHA-256("") and SHA-256(0x00): the empty root and the hash of the empty leaf.
        assert_eq!(
            empty_root().to_hex(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            leaf_hash(b"").to_hex(),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(node_hash(&a, &b), Digest::of(&[&[1], &a.0, &b.0]));
    }

    #[test]
    fn digest_from_bytes_requires_32_bytes() {
        assert_eq!(digest_from_bytes(&[7; 32]), Ok(Digest([7; 32])));
        assert_eq!(
            digest_from_bytes(b"WrongLeaf"),
            Err(MerkleError::BadHashLength { len: 9 })
        );
        assert_eq!(
            digest_from_bytes(&[]),
            Err(MerkleError::BadHashLength { len: 0 })
        );
    }

    #[test]
    fn proofs_and_roots_match_the_rfc_definitions_for_every_small_tree()
    -> Result<(), TreeError<MemoryTreeError>> {
        let all = leaves(40, 1);
        let full = tree(&all);
        for n in 0..=all.len() {
            let prefix = all.get(..n).unwrap_or_default();
            let size = n as u64;
            assert_eq!(root(size, &full)?, naive_mth(prefix), "root of {n}");
            assert_eq!(tree(prefix).root(), naive_mth(prefix), "memory root of {n}");
            for m in 0..n {
                let proof = inclusion_proof(m as u64, size, &full)?;
                assert_eq!(proof, naive_path(m, prefix), "PATH({m}, {n})");
            }
            for m in 1..=n {
                let proof = consistency_proof(m as u64, size, &full)?;
                assert_eq!(proof, naive_subproof(m, prefix, true), "PROOF({m}, {n})");
            }
        }
        Ok(())
    }

    #[test]
    fn append_returns_the_leaf_and_the_subtrees_it_completes()
    -> Result<(), TreeError<MemoryTreeError>> {
        let all = leaves(8, 2);
        let seven = tree(all.get(..7).unwrap_or_default());
        let leaf7 = all.get(7).copied().unwrap_or_default();
        let nodes = nodes_to_store_on_append(7, leaf7, &seven)?;
        let full = tree(&all);
        let expected = [(0u8, 7u64), (1, 3), (2, 1), (3, 0)]
            .map(|(level, index)| full.node(level, index).map(|h| (level, index, h)));
        let expected: Result<Vec<_>, _> = expected.into_iter().collect();
        assert_eq!(nodes, expected.map_err(TreeError::Source)?);
        // An even size completes nothing: only the leaf is stored, nothing is read.
        let empty = MemoryTree::new();
        assert_eq!(
            nodes_to_store_on_append(6, leaf7, &empty)?,
            vec![(0, 6, leaf7)]
        );
        Ok(())
    }

    #[test]
    fn missing_nodes_are_errors_not_panics() {
        let small = tree(&leaves(3, 3));
        assert_eq!(
            root(5, &small),
            Err(TreeError::Source(MemoryTreeError::MissingNode {
                level: 2,
                index: 0
            }))
        );
        assert!(matches!(
            inclusion_proof(0, 9, &small),
            Err(TreeError::Source(_))
        ));
        assert!(matches!(
            consistency_proof(2, 9, &small),
            Err(TreeError::Source(_))
        ));
        assert!(matches!(
            nodes_to_store_on_append(7, Digest::ZERO, &small),
            Err(TreeError::Source(_))
        ));
        assert_eq!(
            inclusion_proof(3, 3, &small),
            Err(TreeError::IndexOutOfRange { index: 3, size: 3 })
        );
        assert_eq!(
            consistency_proof(4, 3, &small),
            Err(TreeError::SizesReversed { old: 4, new: 3 })
        );
        assert_eq!(
            nodes_to_store_on_append(u64::MAX, Digest::ZERO, &small),
            Err(TreeError::TreeFull)
        );
        assert!(small.node(64, 0).is_err());
        assert!(small.node(0, u64::MAX).is_err());
    }

    #[test]
    fn batch_append_without_intermediate_writes_matches_one_by_one()
    -> Result<(), TreeError<MemoryTreeError>> {
        let all = leaves(300, 4);
        for split in [0usize, 1, 2, 7, 64, 255, 300] {
            let (stored, batch) = all.split_at(split);
            let base = tree(stored);
            let mut pending = PendingNodes::new(&base, base.size());
            for leaf in batch {
                pending.push(*leaf)?;
            }
            assert_eq!(pending.size(), 300);
            let full = tree(&all);
            assert_eq!(root(300, &pending)?, full.root());
            // Writing the batch onto the base gives exactly the full tree's nodes.
            let nodes = pending.into_nodes();
            for (level, index, hash) in &nodes {
                assert_eq!(full.node(*level, *index), Ok(*hash));
                assert!(base.node(*level, *index).is_err(), "node rewritten");
            }
            let expected_new: usize = (0..9u32).map(|l| (300usize >> l) - (split >> l)).sum();
            assert_eq!(nodes.len(), expected_new, "split {split}");
        }
        Ok(())
    }

    #[test]
    fn frontier_root_equals_the_naive_root_at_every_size_in_log_memory() {
        let all = leaves(1100, 7);
        let mut frontier = Frontier::new();
        assert_eq!(frontier.root(), empty_root());
        for (n, leaf) in all.iter().enumerate() {
            assert_eq!(frontier.push(*leaf), Ok(()));
            let size = n as u64 + 1;
            assert_eq!(frontier.size(), size);
            assert_eq!(frontier.nodes.len(), size.count_ones() as usize);
            assert_eq!(frontier.root(), naive_mth(&all[..=n]), "root of {size}");
        }
        let mut full = Frontier {
            size: u64::MAX,
            nodes: Vec::new(),
        };
        assert_eq!(full.push(Digest::ZERO), Err(TreeError::TreeFull));
    }

    #[test]
    fn consistency_from_the_empty_tree_needs_an_empty_proof_and_the_empty_root() {
        let some = leaf_hash(b"x");
        assert_eq!(verify_consistency(0, 5, &[], &empty_root(), &some), Ok(()));
        assert_eq!(
            verify_consistency(0, 0, &[], &empty_root(), &empty_root()),
            Ok(())
        );
        assert_eq!(
            verify_consistency(0, 5, &[some], &empty_root(), &some),
            Err(MerkleError::ProofNotEmpty { old: 0, new: 5 })
        );
        assert_eq!(
            verify_consistency(0, 5, &[], &some, &some),
            Err(MerkleError::BadEmptyRoot)
        );
    }

    #[test]
    fn equal_sizes_need_an_empty_proof_and_equal_roots() {
        let (a, b) = (leaf_hash(b"a"), leaf_hash(b"b"));
        assert_eq!(verify_consistency(3, 3, &[], &a, &a), Ok(()));
        assert_eq!(
            verify_consistency(3, 3, &[], &a, &b),
            Err(MerkleError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &[a], &a, &a),
            Err(MerkleError::ProofNotEmpty { old: 3, new: 3 })
        );
        assert_eq!(
            verify_consistency(4, 3, &[], &a, &a),
            Err(MerkleError::SizesReversed { old: 4, new: 3 })
        );
    }

    #[test]
    fn overlong_proofs_are_refused_before_hashing() {
        let proof = vec![Digest::ZERO; MAX_PROOF_LEN + 1];
        assert_eq!(
            verify_inclusion(0, u64::MAX, &Digest::ZERO, &proof, &Digest::ZERO),
            Err(MerkleError::ProofTooLong { len: 65 })
        );
        assert_eq!(
            verify_consistency(1, u64::MAX, &proof, &Digest::ZERO, &Digest::ZERO),
            Err(MerkleError::ProofTooLong { len: 65 })
        );
    }

    #[test]
    fn inclusion_rejects_out_of_range_indexes() {
        let leaf = leaf_hash(b"a");
        assert_eq!(
            verify_inclusion(0, 0, &leaf, &[], &empty_root()),
            Err(MerkleError::IndexOutOfRange { index: 0, size: 0 })
        );
        assert_eq!(verify_inclusion(0, 1, &leaf, &[], &leaf), Ok(()));
    }

    #[test]
    fn tree_size_is_bound_by_the_checkpoint_not_by_the_inclusion_proof()
    -> Result<(), TreeError<MemoryTreeError>> {
        // RFC 9162's verifier walks the same path for (0, 3) and (0, 4): a proof for leaf 0
        // of the 3-leaf tree also "verifies" as size 4 against the 3-leaf root. This is
        // why callers must take the size from the signed checkpoint that carries the root.
        let all = leaves(4, 5);
        let t = tree(&all);
        let leaf0 = all.first().copied().unwrap_or_default();
        let proof = inclusion_proof(0, 3, &t)?;
        let root3 = root(3, &t)?;
        assert_eq!(verify_inclusion(0, 3, &leaf0, &proof, &root3), Ok(()));
        assert_eq!(verify_inclusion(0, 4, &leaf0, &proof, &root3), Ok(()));
        assert!(verify_inclusion(0, 4, &leaf0, &proof, &root(4, &t)?).is_err());
        Ok(())
    }

    #[test]
    fn every_single_byte_corruption_and_every_wrong_position_fails()
    -> Result<(), TreeError<MemoryTreeError>> {
        let all = leaves(20, 6);
        let t = tree(&all);
        for n in 1..=20u64 {
            let root_n = root(n, &t)?;
            for (i, leaf) in all.iter().take(n as usize).enumerate() {
                let i = i as u64;
                let proof = inclusion_proof(i, n, &t)?;
                for which in 0..proof.len() {
                    for byte in 0..32 {
                        let bad = flip(&proof, which, byte, 0);
                        assert!(verify_inclusion(i, n, leaf, &bad, &root_n).is_err());
                    }
                }
                for j in (0..n).filter(|&j| j != i) {
                    assert!(
                        verify_inclusion(j, n, leaf, &proof, &root_n).is_err(),
                        "{i}->{j} of {n}"
                    );
                }
                for other in (i + 1..=20).filter(|&o| o != n) {
                    let root_other = root(other, &t)?;
                    assert!(verify_inclusion(i, other, leaf, &proof, &root_other).is_err());
                }
            }
            for m in 1..n {
                let root_m = root(m, &t)?;
                let proof = consistency_proof(m, n, &t)?;
                for which in 0..proof.len() {
                    for byte in 0..32 {
                        let bad = flip(&proof, which, byte, 0);
                        assert!(verify_consistency(m, n, &bad, &root_m, &root_n).is_err());
                    }
                }
                for m2 in (1..=n).filter(|&m2| m2 != m) {
                    let root_m2 = root(m2, &t)?;
                    assert!(verify_consistency(m2, n, &proof, &root_m2, &root_n).is_err());
                }
                for n2 in (m..=20).filter(|&n2| n2 != n) {
                    let root_n2 = root(n2, &t)?;
                    assert!(verify_consistency(m, n2, &proof, &root_m, &root_n2).is_err());
                }
            }
        }
        Ok(())
    }

    fn fail(e: impl std::fmt::Display) -> TestCaseError {
        TestCaseError::fail(e.to_string())
    }

    fn flip(proof: &[Digest], which: usize, byte: usize, bit: u8) -> Vec<Digest> {
        let mut bad = proof.to_vec();
        if let Some(hash) = bad.get_mut(which % proof.len().max(1))
            && let Some(b) = hash.0.get_mut(byte % 32)
        {
            *b ^= 1 << (bit % 8);
        }
        bad
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Every generated proof of a random tree verifies, roots from stored nodes equal the
        /// naive MTH, and corrupting a proof, index or size makes verification fail.
        #[test]
        fn proofs_from_stored_nodes_verify_and_corruptions_fail(
            n in 1u64..2000,
            salt in any::<u64>(),
            pick in any::<(usize, usize, usize, u8)>(),
            other in any::<u64>(),
        ) {
            let all = leaves(n, salt);
            let t = tree(&all);
            let root_n = root(n, &t).map_err(fail)?;
            prop_assert_eq!(root_n, naive_mth(&all));
            let m = other % n + 1;
            let m_leaves = all.get(..m as usize).unwrap_or_default();
            let root_m = root(m, &t).map_err(fail)?;
            prop_assert_eq!(root_m, naive_mth(m_leaves));

            for (i, leaf) in all.iter().enumerate() {
                let i = i as u64;
                let proof = inclusion_proof(i, n, &t).map_err(fail)?;
                prop_assert_eq!(verify_inclusion(i, n, leaf, &proof, &root_n), Ok(()));
            }
            for old in 0..=n {
                let root_old = root(old, &t).map_err(fail)?;
                let proof = consistency_proof(old, n, &t).map_err(fail)?;
                prop_assert_eq!(verify_consistency(old, n, &proof, &root_old, &root_n), Ok(()));
            }

            // Corrupt one inclusion proof.
            let (which, byte, idx, bit) = pick;
            let i = (idx as u64) % n;
            let leaf = all.get(i as usize).copied().unwrap_or_default();
            let proof = inclusion_proof(i, n, &t).map_err(fail)?;
            if !proof.is_empty() {
                let bad = flip(&proof, which, byte, bit);
                prop_assert!(verify_inclusion(i, n, &leaf, &bad, &root_n).is_err());
            }
            let j = other % n;
            if j != i {
                prop_assert!(verify_inclusion(j, n, &leaf, &proof, &root_n).is_err());
            }
            if m != n {
                prop_assert!(verify_inclusion(i, m, &leaf, &proof, &root_m).is_err());
            }
            prop_assert!(verify_inclusion(i, n, &leaf, &proof, &root_m).is_err() || m == n);

            // Corrupt one consistency proof.
            let proof = consistency_proof(m, n, &t).map_err(fail)?;
            prop_assert_eq!(verify_consistency(m, n, &proof, &root_m, &root_n), Ok(()));
            if !proof.is_empty() {
                let bad = flip(&proof, which, byte, bit);
                prop_assert!(verify_consistency(m, n, &bad, &root_m, &root_n).is_err());
                let mut longer = proof.clone();
                longer.push(root_n);
                prop_assert!(verify_consistency(m, n, &longer, &root_m, &root_n).is_err());
                let shorter = proof.get(..proof.len() - 1).unwrap_or_default();
                prop_assert!(verify_consistency(m, n, shorter, &root_m, &root_n).is_err());
            }
            let m2 = (idx as u64) % n + 1;
            if m2 != m {
                let root_m2 = root(m2, &t).map_err(fail)?;
                prop_assert!(verify_consistency(m2, n, &proof, &root_m2, &root_n).is_err());
                prop_assert!(verify_consistency(m2, n, &proof, &root_m, &root_n).is_err());
            }
        }

        /// Appending one leaf at a time through `nodes_to_store_on_append` stores exactly the
        /// complete subtrees of the tree, whatever the batch boundaries.
        #[test]
        fn incremental_nodes_equal_the_complete_subtrees(
            n in 0u64..600,
            cuts in proptest::collection::vec(any::<u16>(), 0..6),
        ) {
            let all = leaves(n, 9);
            let full = tree(&all);
            let mut stored = MemoryTree::new();
            let mut cuts: Vec<u64> = cuts.into_iter().map(|c| u64::from(c) % (n + 1)).collect();
            cuts.push(n);
            cuts.sort_unstable();
            for cut in cuts {
                let mut pending = PendingNodes::new(&stored, stored.size());
                for leaf in all.get(stored.size() as usize..cut as usize).unwrap_or_default() {
                    pending.push(*leaf).map_err(fail)?;
                }
                let nodes = pending.into_nodes();
                for (level, index, hash) in &nodes {
                    prop_assert_eq!(full.node(*level, *index), Ok(*hash));
                }
                let before = stored.size();
                for leaf in all.get(before as usize..cut as usize).unwrap_or_default() {
                    stored.push(*leaf);
                }
                prop_assert_eq!(stored.root(), naive_mth(all.get(..cut as usize).unwrap_or_default()));
            }
        }
    }
}
