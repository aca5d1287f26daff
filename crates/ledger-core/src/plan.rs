//! The append plan: everything one append writes, built in one place.
//!
//! [`PlanBuilder`] turns statements (checked by the caller) into log entries on top of the
//! current [`Head`]: it encodes each entry with the hash of the one before, pushes its leaf
//! into the Merkle tree, and records the lot and party indexes. [`PlanBuilder::finish`] adds
//! the state changes the rules made and returns an [`AppendPlan`], whose fields are private:
//! a store persists a plan as a whole (entries, index records, Merkle nodes, new head) and
//! cannot be handed a half-built or inconsistent one.

use crate::codec::CodecError;
use crate::event::Event;
use crate::hash::Digest;
use crate::id::LotId;
use crate::merkle::{self, NodeSource, PendingNodes, StoredNode, TreeError};
use crate::state::Changes;
use crate::statement::{Entry, Statement, entry_hash};
use crate::subjects::{SubjectState, Subjects};
use crate::timestamp::Timestamp;
use std::collections::BTreeMap;

/// The log's size and the hash of its last entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Head {
    /// Number of entries in the log; the next entry gets this sequence number.
    pub size: u64,
    /// Hash of the last entry, [`Digest::ZERO`] when the log is empty.
    pub last: Digest,
}

impl Head {
    /// The head of an empty log.
    pub const EMPTY: Head = Head {
        size: 0,
        last: Digest::ZERO,
    };
}

/// Why a plan could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlanError<E: std::error::Error + 'static> {
    /// An entry could not be encoded.
    #[error("cannot encode entry #{seq}: {source}")]
    Encode {
        /// Its position.
        seq: u64,
        /// The codec's reason.
        source: CodecError,
    },
    /// The stored Merkle tree could not be read or extended.
    #[error("cannot extend the merkle tree: {0}")]
    Tree(#[source] TreeError<E>),
    /// A plan with no entries.
    #[error("an append needs at least one statement")]
    Empty,
}

/// Builds an [`AppendPlan`] entry by entry on top of a head.
pub struct PlanBuilder<'a, S: NodeSource + ?Sized> {
    start: Head,
    last: Digest,
    nodes: PendingNodes<'a, S>,
    entries: Vec<(u64, Vec<u8>)>,
    lot_events: Vec<(LotId, u64)>,
    party_events: Vec<u64>,
    subjects: Subjects,
    subject_changes: BTreeMap<Digest, SubjectState>,
}

impl<'a, S> PlanBuilder<'a, S>
where
    S: NodeSource + ?Sized,
    S::Error: std::error::Error + 'static,
{
    /// A plan starting at `head`, whose Merkle nodes so far are read from `nodes` and
    /// whose subject index at `head` is `subjects`.
    pub fn new(head: Head, nodes: &'a S, subjects: Subjects) -> PlanBuilder<'a, S> {
        PlanBuilder {
            start: head,
            last: head.last,
            nodes: PendingNodes::new(nodes, head.size),
            entries: Vec::new(),
            lot_events: Vec::new(),
            party_events: Vec::new(),
            subjects,
            subject_changes: BTreeMap::new(),
        }
    }

    /// The position the next entry gets.
    pub fn next_seq(&self) -> u64 {
        self.nodes.size()
    }

    /// The hash of the last entry so far: the `prev` of the next one.
    pub fn last_hash(&self) -> Digest {
        self.last
    }

    /// Appends `statement` (event id `id`) as the next entry, recorded at `recorded_at`.
    /// Returns the entry's hash (its Merkle leaf).
    pub fn push(
        &mut self,
        statement: &Statement,
        id: &Digest,
        recorded_at: Timestamp,
    ) -> Result<Digest, PlanError<S::Error>> {
        let seq = self.next_seq();
        let subjects = self.record_subjects(seq, id, &statement.event);
        let entry = Entry {
            seq,
            prev: self.last,
            recorded_at,
            subjects,
            statement: statement.clone(),
        };
        let bytes = entry
            .encode()
            .map_err(|source| PlanError::Encode { seq, source })?;
        self.push_bytes(bytes, &statement.event)
    }

    /// The subject index root after the entry at `seq` with `event` (id `id`), which it
    /// commits to.
    fn record_subjects(&mut self, seq: u64, id: &Digest, event: &Event) -> Digest {
        self.subject_changes
            .extend(self.subjects.record(seq, id, event));
        self.subjects.root()
    }

    /// Appends `bytes` as the next entry, indexed as holding `event`. The plan stays
    /// consistent with the bytes (leaf, head), whatever they are: [`Self::push`] is the
    /// path for real entries; this one also serves tests that write damaged entries.
    pub fn push_entry_bytes(
        &mut self,
        bytes: Vec<u8>,
        id: &Digest,
        event: &Event,
    ) -> Result<Digest, PlanError<S::Error>> {
        self.record_subjects(self.next_seq(), id, event);
        self.push_bytes(bytes, event)
    }

    /// The subject index root the next entry commits to if it holds `event` (id `id`):
    /// what tests that write damaged entries put in them.
    pub fn next_subjects_root(&self, id: &Digest, event: &Event) -> Digest {
        let mut subjects = self.subjects.clone();
        subjects.record(self.next_seq(), id, event);
        subjects.root()
    }

    fn push_bytes(&mut self, bytes: Vec<u8>, event: &Event) -> Result<Digest, PlanError<S::Error>> {
        let seq = self.next_seq();
        let hash = entry_hash(&bytes);
        self.nodes.push(hash).map_err(PlanError::Tree)?;
        self.lot_events
            .extend(event.lots_named().into_iter().map(|lot| (lot.clone(), seq)));
        if event.body.party_changed(&event.actor).is_some() {
            self.party_events.push(seq);
        }
        self.entries.push((seq, bytes));
        self.last = hash;
        Ok(hash)
    }

    /// The Merkle root of the log with the entries pushed so far.
    pub fn root(&self) -> Result<Digest, PlanError<S::Error>> {
        merkle::root(self.nodes.size(), &self.nodes).map_err(PlanError::Tree)
    }

    /// The finished plan, with the state `changes` the rules made for its statements.
    pub fn finish(self, changes: Changes) -> Result<AppendPlan, PlanError<S::Error>> {
        self.finish_part(changes).map(|(plan, _)| plan)
    }

    /// [`Self::finish`], handing back the subject index after the plan as well: what the
    /// plan of the next part of an append written in parts is built on.
    pub fn finish_part(
        self,
        changes: Changes,
    ) -> Result<(AppendPlan, Subjects), PlanError<S::Error>> {
        if self.entries.is_empty() {
            return Err(PlanError::Empty);
        }
        let head = Head {
            size: self.nodes.size(),
            last: self.last,
        };
        let plan = AppendPlan {
            start: self.start,
            head,
            entries: self.entries,
            changes,
            merkle_nodes: self.nodes.into_nodes(),
            lot_events: self.lot_events,
            party_events: self.party_events,
            subjects: self.subject_changes.into_iter().collect(),
        };
        Ok((plan, self.subjects))
    }
}

/// Everything one append writes, applied by a store all or nothing.
#[derive(Debug, Clone)]
pub struct AppendPlan {
    start: Head,
    head: Head,
    entries: Vec<(u64, Vec<u8>)>,
    changes: Changes,
    merkle_nodes: Vec<StoredNode>,
    lot_events: Vec<(LotId, u64)>,
    party_events: Vec<u64>,
    subjects: Vec<(Digest, SubjectState)>,
}

impl AppendPlan {
    /// The head the plan was built on: a store must refuse the plan unless this is its
    /// current head.
    pub fn start(&self) -> Head {
        self.start
    }

    /// The head after the plan.
    pub fn head(&self) -> Head {
        self.head
    }

    /// `(seq, canonical entry bytes)`, consecutive from the start head's size.
    pub fn entries(&self) -> &[(u64, Vec<u8>)] {
        &self.entries
    }

    /// The state records the rules changed.
    pub fn changes(&self) -> &Changes {
        &self.changes
    }

    /// The Merkle complete-subtree hashes `(level, index, hash)` the entries complete.
    pub fn merkle_nodes(&self) -> &[StoredNode] {
        &self.merkle_nodes
    }

    /// `(lot, seq)` for every lot each entry names.
    pub fn lot_events(&self) -> &[(LotId, u64)] {
        &self.lot_events
    }

    /// Positions of the plan's entries that change a party.
    pub fn party_events(&self) -> &[u64] {
        &self.party_events
    }

    /// The subjects the plan's entries are about, with their states after the plan.
    pub fn subjects(&self) -> &[(Digest, SubjectState)] {
        &self.subjects
    }
}
