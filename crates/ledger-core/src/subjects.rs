//! The subject index: for every party and every attested lot, how many entries of the log
//! concern it and a hash chain over them, kept in a sparse Merkle tree whose root can be
//! committed in the log. With it a verifier holding only some entries can check that it
//! has *every* entry about a subject up to a tree size: the negative evidence (a failed
//! audit, an open corrective action, a revoked key) cannot be withheld.
//!
//! - A subject's **key** is `SHA-256("custody/subject/v1" 0x00 || tag || id)`, tag `p` for
//!   a party and `l` for a lot.
//! - Its **chain** starts at 32 zero bytes; each entry about it (log position `seq`, event
//!   id `id`) makes it `SHA-256("custody/subject-chain/v1" 0x00 || chain || seq u64 LE ||
//!   id)`. Its **value** is `SHA-256("custody/subject-value/v1" 0x00 || count u64 LE ||
//!   chain)`.
//! - The **tree** over the keys is binary and compact: the hash of a subtree with no key is
//!   32 zero bytes, of a subtree with exactly one key `k` (value `v`) is
//!   `SHA-256("custody/subject-leaf/v1" 0x00 || k || v)`, and of any other subtree
//!   `SHA-256("custody/subject-node/v1" 0x00 || left || right)`, the left subtree holding
//!   the keys whose next bit (most significant first) is 0.
//!
//! A [`SubjectProof`] gives the siblings from the root down to where the key's subtree
//! holds at most one key, and what that subtree holds. `docs/format.md` §3.2 states the same
//! for independent verifiers.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::event::{Body, Event};
use crate::hash::Digest;
use crate::id::{LotId, PartyId};

const KEY_TAG: &[u8] = b"custody/subject/v1\0";
const CHAIN_TAG: &[u8] = b"custody/subject-chain/v1\0";
const VALUE_TAG: &[u8] = b"custody/subject-value/v1\0";
const LEAF_TAG: &[u8] = b"custody/subject-leaf/v1\0";
const NODE_TAG: &[u8] = b"custody/subject-node/v1\0";

/// The hash of an empty subtree.
const EMPTY: Digest = Digest::ZERO;

/// What an entry can be about, for completeness.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Subject {
    /// A party: its enrollment changes and the attestations about it.
    Party(PartyId),
    /// A lot: the attestations about it.
    Lot(LotId),
}

impl Subject {
    /// The subject's key in the tree.
    pub fn key(&self) -> Digest {
        match self {
            Subject::Party(p) => Digest::of(&[KEY_TAG, b"p", p.as_str().as_bytes()]),
            Subject::Lot(l) => Digest::of(&[KEY_TAG, b"l", l.as_str().as_bytes()]),
        }
    }
}

/// The count and chain of the entries about one subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectState {
    /// How many entries are about it.
    pub count: u64,
    /// The hash chain over them.
    pub chain: Digest,
}

impl SubjectState {
    /// A subject no entry is about yet.
    pub const NONE: SubjectState = SubjectState {
        count: 0,
        chain: Digest::ZERO,
    };

    /// The state after the entry at `seq` with event id `id`.
    pub fn then(self, seq: u64, id: &Digest) -> SubjectState {
        SubjectState {
            count: self.count + 1,
            chain: Digest::of(&[
                CHAIN_TAG,
                self.chain.as_bytes(),
                &seq.to_le_bytes(),
                id.as_bytes(),
            ]),
        }
    }

    /// The value the tree holds for it.
    pub fn value(&self) -> Digest {
        Digest::of(&[VALUE_TAG, &self.count.to_le_bytes(), self.chain.as_bytes()])
    }
}

fn leaf_hash(key: &Digest, value: &Digest) -> Digest {
    Digest::of(&[LEAF_TAG, key.as_bytes(), value.as_bytes()])
}

fn node_hash(left: &Digest, right: &Digest) -> Digest {
    Digest::of(&[NODE_TAG, left.as_bytes(), right.as_bytes()])
}

/// Bit `i` of `key`, most significant first.
fn bit(key: &Digest, i: usize) -> bool {
    key.0[i / 8] & (0x80 >> (i % 8)) != 0
}

/// The smallest and largest keys that share the first `depth` bits of `key`.
fn span(key: &Digest, depth: usize) -> (Digest, Digest) {
    let mut lo = key.0;
    let mut hi = key.0;
    for i in depth..256 {
        lo[i / 8] &= !(0x80 >> (i % 8));
        hi[i / 8] |= 0x80 >> (i % 8);
    }
    (Digest(lo), Digest(hi))
}

/// What the key's subtree holds at the end of a proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Terminal {
    /// No key.
    Empty,
    /// One key and its value (the proven key, or another one sharing the path).
    Leaf(Digest, Digest),
}

/// A proof that a key holds a value, or no value, in the tree with some root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectProof {
    /// Sibling hashes from the root's children down.
    pub siblings: Vec<Digest>,
    /// What the key's subtree holds below the last sibling.
    pub terminal: Terminal,
}

impl SubjectProof {
    /// Whether this proves that `key` holds `value` (`None`: no value) under `root`.
    pub fn verify(&self, root: &Digest, key: &Digest, value: Option<&Digest>) -> bool {
        let depth = self.siblings.len();
        // Every sibling stands beside a subtree of at least two keys, so the last one,
        // beside a subtree of at most one, cannot be empty: a proof is unique.
        if depth > 255 || self.siblings.last() == Some(&EMPTY) {
            return false;
        }
        let mut hash = match (&self.terminal, value) {
            (Terminal::Leaf(k, v), Some(value)) if k == key && v == value => leaf_hash(k, v),
            (Terminal::Empty, None) => EMPTY,
            (Terminal::Leaf(k, v), None)
                if k != key && (0..depth).all(|i| bit(k, i) == bit(key, i)) =>
            {
                leaf_hash(k, v)
            }
            _ => return false,
        };
        for (i, sibling) in self.siblings.iter().enumerate().rev() {
            hash = if bit(key, i) {
                node_hash(sibling, &hash)
            } else {
                node_hash(&hash, sibling)
            };
        }
        hash == *root
    }
}

/// The subjects an entry with `event` is about: the party its enrollment change concerns,
/// and the party or lot it attests about.
pub fn subjects_of(event: &Event) -> Vec<Subject> {
    let mut out = Vec::new();
    if let Some(party) = event.body.party_changed(&event.actor) {
        out.push(Subject::Party(party.clone()));
    }
    if let Body::Attest(a) = &event.body {
        let subject = match &a.subject {
            crate::event::Subject::Party(p) => Subject::Party(p.clone()),
            crate::event::Subject::Lot(l) => Subject::Lot(l.clone()),
        };
        if !out.contains(&subject) {
            out.push(subject);
        }
    }
    out
}

/// The subject index of a log: every subject's state and the tree over them, as of some
/// log size. Appends and whole-ledger verification run entries through
/// [`Subjects::record`] in log order.
#[derive(Debug, Clone, Default)]
pub struct Subjects {
    states: HashMap<Digest, SubjectState>,
    tree: SubjectIndex,
    root: Digest,
}

impl Subjects {
    /// The index of a log whose subjects are in `states` (key → state).
    pub fn from_states(states: impl IntoIterator<Item = (Digest, SubjectState)>) -> Subjects {
        let mut index = Subjects::default();
        for (key, state) in states {
            index.tree.set(key, state.value());
            index.states.insert(key, state);
        }
        index.root = index.tree.root();
        index
    }

    /// Runs the entry at `seq` holding event `id` through the index; returns the subjects
    /// it changed, with their new states.
    pub fn record(&mut self, seq: u64, id: &Digest, event: &Event) -> Vec<(Digest, SubjectState)> {
        let mut changed = Vec::new();
        for subject in subjects_of(event) {
            let key = subject.key();
            let state = self
                .states
                .get(&key)
                .copied()
                .unwrap_or(SubjectState::NONE)
                .then(seq, id);
            self.states.insert(key, state);
            self.tree.set(key, state.value());
            changed.push((key, state));
        }
        if !changed.is_empty() {
            self.root = self.tree.root();
        }
        changed
    }

    /// The root after the entries recorded so far: what the last of them commits to.
    pub fn root(&self) -> Digest {
        self.root
    }

    /// The state of `subject`.
    pub fn state(&self, subject: &Subject) -> SubjectState {
        self.states
            .get(&subject.key())
            .copied()
            .unwrap_or(SubjectState::NONE)
    }

    /// Every subject's key and state.
    pub fn states(&self) -> impl Iterator<Item = (&Digest, &SubjectState)> {
        self.states.iter()
    }

    /// A proof of `subject`'s state against [`Subjects::root`].
    pub fn prove(&mut self, subject: &Subject) -> SubjectProof {
        self.tree.prove(&subject.key())
    }
}

/// The tree, with the hashes of its subtrees of two or more keys cached so that an update
/// rehashes one path.
#[derive(Debug, Clone, Default)]
pub struct SubjectIndex {
    values: BTreeMap<Digest, Digest>,
    /// (depth, first `depth` bits of a key, the rest zero) → subtree hash.
    cache: HashMap<(u16, Digest), Digest>,
}

impl SubjectIndex {
    /// An empty index.
    pub fn new() -> SubjectIndex {
        SubjectIndex::default()
    }

    /// Sets the value of `key`.
    pub fn set(&mut self, key: Digest, value: Digest) {
        // The cached subtrees on the key's path: its prefixes, longest first.
        let mut prefix = key.0;
        for depth in (0..=256usize).rev() {
            if depth < 256 {
                prefix[depth / 8] &= !(0x80 >> (depth % 8));
            }
            self.cache.remove(&(depth as u16, Digest(prefix)));
        }
        self.values.insert(key, value);
    }

    /// The value of `key`.
    pub fn get(&self, key: &Digest) -> Option<&Digest> {
        self.values.get(key)
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether no key has a value.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The root hash.
    pub fn root(&mut self) -> Digest {
        self.subtree(&Digest::ZERO, 0)
    }

    /// The hash of the subtree of the keys sharing the first `depth` bits of `key`.
    fn subtree(&mut self, key: &Digest, depth: usize) -> Digest {
        let (lo, hi) = span(key, depth);
        let mut keys = self.values.range(lo..=hi);
        let first = match keys.next() {
            None => return EMPTY,
            Some((k, v)) => (*k, *v),
        };
        if keys.next().is_none() {
            return leaf_hash(&first.0, &first.1);
        }
        if let Some(hash) = self.cache.get(&(depth as u16, lo)) {
            return *hash;
        }
        // Two distinct keys differ in some bit, so this recursion ends above depth 256.
        let left = self.subtree(&lo, depth + 1);
        let right = self.subtree(&hi, depth + 1);
        let hash = node_hash(&left, &right);
        self.cache.insert((depth as u16, lo), hash);
        hash
    }

    /// How many keys share the first `depth` bits of `key`, counting to two.
    fn crowd(&self, key: &Digest, depth: usize) -> usize {
        let (lo, hi) = span(key, depth);
        self.values.range(lo..=hi).take(2).count()
    }

    /// A proof of what `key` holds.
    pub fn prove(&mut self, key: &Digest) -> SubjectProof {
        let mut siblings = Vec::new();
        let mut depth = 0;
        while self.crowd(key, depth) >= 2 {
            let mut other = *key;
            other.0[depth / 8] ^= 0x80 >> (depth % 8);
            siblings.push(self.subtree(&other, depth + 1));
            depth += 1;
        }
        let (lo, hi) = span(key, depth);
        let terminal = match self.values.range(lo..=hi).next() {
            Some((k, v)) => Terminal::Leaf(*k, *v),
            None => Terminal::Empty,
        };
        SubjectProof { siblings, terminal }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key(n: u32) -> Digest {
        Digest::of(&[b"test key", &n.to_le_bytes()])
    }

    /// The tree's hash by its definition, from scratch.
    fn by_definition(keys: &[(Digest, Digest)], depth: usize) -> Digest {
        match keys {
            [] => EMPTY,
            [(k, v)] => leaf_hash(k, v),
            _ => {
                let (left, right): (Vec<_>, Vec<_>) =
                    keys.iter().partition(|(k, _)| !bit(k, depth));
                node_hash(
                    &by_definition(&left, depth + 1),
                    &by_definition(&right, depth + 1),
                )
            }
        }
    }

    #[test]
    fn an_empty_index_has_the_zero_root_and_proves_absence() {
        let mut index = SubjectIndex::new();
        assert_eq!(index.root(), EMPTY);
        let proof = index.prove(&key(1));
        assert!(proof.verify(&EMPTY, &key(1), None));
        assert!(!proof.verify(&EMPTY, &key(1), Some(&key(2))));
    }

    #[test]
    fn fail_a_proof_does_not_verify_for_another_value_key_or_root() {
        let mut index = SubjectIndex::new();
        for n in 0..50 {
            index.set(
                key(n),
                SubjectState::NONE.then(u64::from(n), &key(n)).value(),
            );
        }
        let root = index.root();
        let value = *index.get(&key(7)).unwrap();
        let proof = index.prove(&key(7));
        assert!(proof.verify(&root, &key(7), Some(&value)));
        assert!(!proof.verify(&root, &key(7), None), "present, not absent");
        assert!(
            !proof.verify(&root, &key(7), Some(&key(99))),
            "another value"
        );
        assert!(!proof.verify(&root, &key(8), Some(&value)), "another key");
        assert!(
            !proof.verify(&key(1), &key(7), Some(&value)),
            "another root"
        );
        let mut padded = proof.clone();
        padded.siblings.push(EMPTY);
        assert!(
            !padded.verify(&root, &key(7), Some(&value)),
            "not the canonical proof"
        );
        let absent = index.prove(&key(1000));
        assert!(absent.verify(&root, &key(1000), None));
        assert!(!absent.verify(&root, &key(1000), Some(&value)));
    }

    proptest! {
        /// Incremental updates give the root of the definition, and every key's proof
        /// verifies, present or absent.
        #[test]
        fn roots_match_the_definition_and_proofs_verify(
            updates in proptest::collection::vec((0u32..64, any::<u8>()), 0..80),
        ) {
            let mut index = SubjectIndex::new();
            let mut plain = BTreeMap::new();
            for (n, v) in updates {
                let value = Digest::of(&[&[v]]);
                index.set(key(n), value);
                plain.insert(key(n), value);
                let all: Vec<(Digest, Digest)> = plain.iter().map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(index.root(), by_definition(&all, 0));
            }
            let root = index.root();
            for n in 0..70 {
                let proof = index.prove(&key(n));
                prop_assert!(proof.verify(&root, &key(n), plain.get(&key(n))));
            }
        }
    }
}
