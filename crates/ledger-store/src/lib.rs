//! Custody's storage: the narrow [`Store`] trait everything above the store goes through,
//! and [`SledStore`], its embedded sled backend.
//!
//! The trait exists so that a server database can replace sled without touching the rules.
//! Reads of derived state go through [`ledger_core::state::StateView`], which every store
//! implements. An append is a transaction: [`Store::begin_append`] gives an [`AppendTxn`],
//! a consistent view of the state that the engine checks statements against, and
//! [`AppendTxn::commit`] persists the [`AppendPlan`] the core built from them (entries,
//! every index record, Merkle nodes, new head) all or nothing. A store never interprets
//! entry bytes: callers decode and re-verify what they read.
//!
//! ```
//! use ledger_core::Digest;
//! use ledger_core::event::{Body, Event, Revoke};
//! use ledger_core::id::PartyId;
//! use ledger_core::keys::SecretKey;
//! use ledger_core::plan::PlanBuilder;
//! use ledger_core::state::Changes;
//! use ledger_core::subjects::Subjects;
//! use ledger_core::timestamp::Timestamp;
//! use ledger_store::{Head, Nodes, SledStore, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = SledStore::create(dir.path(), "example.org/custody")?;
//! assert_eq!(store.head()?, Head::EMPTY);
//!
//! // Whatever the bytes, the plan keeps the entries, leaves and head consistent.
//! let key = SecretKey::from_seed(&[1; 32]);
//! let party = PartyId::new("example")?;
//! let event = Event {
//!     actor: party.clone(),
//!     time: Timestamp::from_unix(0)?,
//!     nonce: 0,
//!     emissions_g_co2e: None,
//!     documents: Vec::new(),
//!     body: Body::Revoke(Revoke { party, key: key.public_key() }),
//! };
//! let txn = store.begin_append()?;
//! let plan = {
//!     let nodes = Nodes(&*txn);
//!     let mut plan = PlanBuilder::new(txn.head(), &nodes, Subjects::default());
//!     plan.push_entry_bytes(b"entry 0".to_vec(), &Digest::ZERO, &event)?;
//!     plan.finish(Changes::default())?
//! };
//! txn.commit(&plan)?;
//! assert_eq!(store.entry(0)?, Some(b"entry 0".to_vec()));
//! assert_eq!(store.head()?.size, 1);
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]
// Bytes from outside (files, the store, other parties) must never crash the process. The
// workspace warns on these lints (errors under CI's `-D warnings`); in a library crate they
// are errors in every build. Tests may use them (`clippy.toml`).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod entry_log;
pub mod keys;
pub mod records;
mod sled_store;
#[cfg(any(test, feature = "test-suite"))]
pub mod suite;
mod view;
pub mod writes;

use std::collections::HashMap;
use std::path::PathBuf;

use ledger_core::Digest;
use ledger_core::codec::CodecError;
use ledger_core::id::{LotId, PartyId};
use ledger_core::merkle::NodeSource;
pub use ledger_core::plan::{AppendPlan, Head};
use ledger_core::state::{
    AttestationRecord, LotRecord, PartyRecord, StateError, StateKeys, StateView,
};
use ledger_core::subjects::SubjectState;

pub use sled_store::{FORMAT_VERSION, SledStore};
pub use view::LogView;

/// A lazy iterator over `(seq, canonical entry bytes)`, as returned by [`Store::entries`].
pub type EntryIter<'a> = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + 'a>;

/// The storage a ledger needs, and nothing more.
///
/// Reads of derived state come from the [`StateView`] supertrait; everything else is here.
/// Implementations are shared between threads (a server reads while it appends).
pub trait Store: StateView + MerkleNodes + Send + Sync {
    /// The size of the log and the hash of its last entry ([`Digest::ZERO`] when empty).
    fn head(&self) -> Result<Head, StoreError>;

    /// The log origin fixed at creation: the first line of every checkpoint.
    fn origin(&self) -> Result<String, StoreError>;

    /// The raw canonical bytes of the entry at `seq`; the caller decodes and re-verifies them.
    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries from `start` on, in order, as raw bytes, read lazily (never the whole log
    /// at once). Entries appended while iterating may or may not be seen.
    fn entries(&self, start: u64) -> EntryIter<'_>;

    /// Keeps in memory, from now on, what finds any committed entry without a database
    /// read, where the store has such a thing (sled: each entry's place in its entry log, 16
    /// bytes an entry, up to 2^22 entries): for a process that serves many random entry
    /// reads, a server's proofs. Nothing by default.
    fn cache_entry_positions(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// [`Store::entry`] of each of `seqs`, in order: one read each by default; a store
    /// behind a network reads them in a few round trips (`verify --lot` reads a lot's
    /// evidence, scattered over the log, this way).
    fn entries_at(&self, seqs: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        seqs.iter().map(|&seq| self.entry(seq)).collect()
    }

    /// Every enrolled party, by id.
    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError>;

    /// Up to `limit` lots, by id, starting after `after` (from the first when `None`): a
    /// ledger holds many lots, so they are listed a page at a time.
    fn lots(
        &self,
        after: Option<&LotId>,
        limit: usize,
    ) -> Result<Vec<(LotId, LotRecord)>, StoreError>;

    /// The attestations whose subject is `party`, in log order.
    fn attestations(&self, party: &PartyId) -> Result<Vec<AttestationRecord>, StoreError>;

    /// The attestations whose subject is `lot`, in log order.
    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError>;

    /// Positions of the entries that name `lot`, in log order (an index: `verify --lot`
    /// reads these entries and re-verifies them; whole-ledger `verify` needs no index).
    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError>;

    /// [`Store::lot_events`] of each of `lots`, in order: one read per lot by default; a
    /// store behind a network scans the whole index once (whole-ledger `verify` asks for
    /// every lot).
    fn lot_events_of(&self, lots: &[&LotId]) -> Result<Vec<Vec<u64>>, StoreError> {
        lots.iter().map(|lot| self.lot_events(lot)).collect()
    }

    /// [`Store::lot_attestations`] of each of `lots`, in order (see
    /// [`Store::lot_events_of`]).
    fn lot_attestations_of(
        &self,
        lots: &[&LotId],
    ) -> Result<Vec<Vec<AttestationRecord>>, StoreError> {
        lots.iter().map(|lot| self.lot_attestations(lot)).collect()
    }

    /// Positions of every entry that changes a party, in log order.
    fn party_events(&self) -> Result<Vec<u64>, StoreError>;

    /// The subject index state of every party and attested lot (key → count and chain),
    /// from which an append rebuilds the index its entries commit to.
    fn subject_states(&self) -> Result<Vec<(Digest, SubjectState)>, StoreError>;

    /// The head the last successful append acknowledged, kept outside the database (for
    /// sled, a file beside its own). sled treats a damaged record as a torn write and
    /// silently drops it and everything after it, leaving a shorter, consistent log:
    /// `verify` compares the log with this, and an append refuses to start on a log that
    /// holds less than it acknowledged.
    fn acknowledged(&self) -> Result<Option<Head>, StoreError>;

    /// Starts an append: a view of the state, consistent until [`AppendTxn::commit`], in
    /// which no other append of this store can interleave.
    ///
    /// Fails with [`StoreError::RolledBack`] if the log holds less than it acknowledged,
    /// and with [`StoreError::AppendInterrupted`] while an append that failed part way is
    /// not yet undone.
    /// The transaction holds the store's append lock until it is committed or dropped:
    /// starting another append or storing a checkpoint on the same thread meanwhile waits
    /// forever, and the transaction stays on the thread that began it.
    fn begin_append(&self) -> Result<Box<dyn AppendTxn + '_>, StoreError>;

    /// Durably stores the signed checkpoint note for tree size `size`, replacing any earlier
    /// note for that size. Fails with [`StoreError::CheckpointBeyondHead`] if the log is
    /// shorter than `size`.
    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;

    /// Every stored checkpoint note, by increasing tree size.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;
}

/// One append in progress: the state to check statements against, and the commit.
pub trait AppendTxn: StateView + MerkleNodes {
    /// The head the append starts at.
    fn head(&self) -> Head;

    /// Called before the rules run with a function listing every state record checking
    /// the batch may read, so a store behind a network reads them in a few round trips
    /// instead of one per lookup and answers the rules' reads from what it fetched. An
    /// embedded store, whose reads are local, ignores it (the default) and so never pays
    /// for computing the list.
    fn prefetch(&mut self, wanted: &dyn Fn() -> StateKeys) -> Result<(), StoreError> {
        let _ = wanted;
        Ok(())
    }

    /// Writes `plan`, one part of an append too large to hold in memory whole, without
    /// making it visible: the head stays, readers outside the transaction see none of it,
    /// and the transaction's own reads (state records, Merkle nodes) see all of it. The
    /// first part starts at [`AppendTxn::head`], each later one where the one before ended;
    /// [`AppendTxn::commit`] writes the last part and makes them all visible at once.
    /// Dropping the transaction instead undoes every part, and so does the next open after
    /// a crash: an append written in parts is still all or nothing.
    ///
    /// Fails as [`AppendTxn::commit`] does, after which the transaction can only be dropped.
    fn write_part(&mut self, plan: &AppendPlan) -> Result<(), StoreError>;

    /// Writes `plan` (everything or nothing), with the parts [`AppendTxn::write_part`]
    /// wrote before it, and makes them durable before returning `Ok`.
    ///
    /// Fails with [`StoreError::Conflict`] and writes nothing if the plan does not start
    /// where the parts end (at the current head when there are none), and with
    /// [`StoreError::InvalidBatch`] if its state changes name log positions outside the
    /// plan.
    fn commit(self: Box<Self>, plan: &AppendPlan) -> Result<(), StoreError>;
}

/// Where the stored Merkle complete-subtree hashes are read: a store, or an append in
/// progress (which reads them inside its transaction).
pub trait MerkleNodes {
    /// The hash at level `level`, index `index`, covering leaves
    /// `[index * 2^level, (index + 1) * 2^level)`, if stored.
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError>;

    /// The nodes at `(level, index)` of `wanted`, in order: one read each by default; a
    /// store behind a network reads them in one round trip.
    fn merkle_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Digest>>, StoreError> {
        wanted
            .iter()
            .map(|&(level, index)| self.merkle_node(level, index))
            .collect()
    }

    /// The nodes of level `level` from index `from` up to `to` (exclusive), in order,
    /// stopping before the first one not stored: one read each by default; a store that
    /// keeps them in key order reads them in one scan.
    fn merkle_range(&self, level: u8, from: u64, to: u64) -> Result<Vec<Digest>, StoreError> {
        let wanted: Vec<(u8, u64)> = (from..to).map(|index| (level, index)).collect();
        Ok(self
            .merkle_nodes(&wanted)?
            .into_iter()
            .map_while(|node| node)
            .collect())
    }
}

/// The nodes one tree computation (a root, a proof) reads, fetched in one
/// [`MerkleNodes::merkle_nodes`] call and then served from memory. Which nodes RFC 6962's
/// roots and proofs read depends only on the sizes and indexes, never on the hashes, so a
/// first pass over a source that records its reads finds them all.
pub struct FetchedNodes {
    nodes: HashMap<(u8, u64), Digest>,
}

impl FetchedNodes {
    /// Fetches from `store` every node `compute` reads from the source it is given.
    pub fn for_reads(
        store: &dyn MerkleNodes,
        compute: impl Fn(&NodeReads),
    ) -> Result<FetchedNodes, StoreError> {
        let recorder = NodeReads::default();
        compute(&recorder);
        let mut wanted = recorder.reads.into_inner();
        wanted.sort_unstable();
        wanted.dedup();
        let found = store.merkle_nodes(&wanted)?;
        let nodes = wanted
            .into_iter()
            .zip(found)
            .filter_map(|(at, node)| Some((at, node?)))
            .collect();
        Ok(FetchedNodes { nodes })
    }
}

impl NodeSource for FetchedNodes {
    type Error = StoreError;

    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        self.nodes
            .get(&(level, index))
            .copied()
            .ok_or_else(|| missing_node(level, index))
    }
}

/// A node source that records which nodes are read and answers each with zeros: what a
/// [`FetchedNodes::for_reads`] computation runs over first.
#[derive(Default)]
pub struct NodeReads {
    reads: std::cell::RefCell<Vec<(u8, u64)>>,
}

impl NodeSource for NodeReads {
    type Error = std::convert::Infallible;

    fn node(&self, level: u8, index: u64) -> Result<Digest, Self::Error> {
        self.reads.borrow_mut().push((level, index));
        Ok(Digest::ZERO)
    }
}

/// Stored Merkle nodes as a [`NodeSource`] for roots and proofs: a node that is not stored
/// is a damaged store.
pub struct Nodes<'a>(pub &'a dyn MerkleNodes);

impl NodeSource for Nodes<'_> {
    type Error = StoreError;

    fn node(&self, level: u8, index: u64) -> Result<Digest, StoreError> {
        self.0
            .merkle_node(level, index)?
            .ok_or_else(|| missing_node(level, index))
    }
}

fn missing_node(level: u8, index: u64) -> StoreError {
    StoreError::Corrupt {
        what: format!("merkle node at level {level}, index {index}"),
        reason: "missing".into(),
    }
}

/// What kind of failure a [`StoreError`] is, for callers that must decide what to do
/// (retry, report a damaged ledger, tell the user to fix the path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store cannot be used right now: locked, unreachable, an I/O failure.
    Unavailable,
    /// The store holds damaged or inconsistent data.
    Damaged,
    /// The head moved: another append came first. Nothing was written.
    Conflict,
    /// There is no ledger where one was named.
    NotFound,
    /// The request itself is wrong (bad origin, a checkpoint beyond the head, a ledger
    /// that already exists, a format this build does not read).
    Invalid,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Another process has the ledger open: sled holds an exclusive lock on its files.
    #[error("ledger at {} is in use by another process", dir.display())]
    Locked {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// A read-only view of the ledger ([`LogView`]) was asked to write.
    #[error(
        "ledger at {} is open read-only, as of its last acknowledged append, because another \
         custody process is writing it: run the command again when that one has finished",
        dir.display()
    )]
    ReadOnly {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// The directory does not exist or holds no ledger (no format record).
    #[error("{} is not a custody ledger", dir.display())]
    NotALedger {
        /// The directory.
        dir: PathBuf,
    },
    /// The store holds fewer entries than it acknowledged, or a different last entry: sled
    /// dropped damaged records as if they were a torn write, or the files were replaced by
    /// an older copy. Detected against [`Store::acknowledged`] before every append.
    #[error(
        "ledger at {} holds {found} entries but {acknowledged} were acknowledged, or its last \
         entry differs: the store lost or changed acknowledged entries (damaged files or an \
         old copy)",
        dir.display()
    )]
    RolledBack {
        /// The ledger directory.
        dir: PathBuf,
        /// Entries the store holds.
        found: u64,
        /// Entries acknowledged by the last successful append.
        acknowledged: u64,
    },
    /// An append written in several batches failed part way and could not be undone in
    /// this process: appending on top would build on half of it. Opening the ledger again
    /// undoes it from its undo records.
    #[error(
        "ledger at {} holds an append that failed part way and could not be undone: open the \
         ledger again (for a server, restart it), which undoes that append",
        dir.display()
    )]
    AppendInterrupted {
        /// The ledger directory.
        dir: PathBuf,
    },
    /// Creating a ledger in a directory that already holds one (or another sled database).
    #[error("{} already holds a ledger", dir.display())]
    AlreadyExists {
        /// The directory.
        dir: PathBuf,
    },
    /// Creating a ledger in a directory that holds other files.
    #[error("{} is not empty; create a ledger in a new or empty directory", dir.display())]
    NotEmpty {
        /// The directory.
        dir: PathBuf,
    },
    /// A log origin that is not one non-empty line (it becomes a checkpoint's first line).
    #[error("log origin {origin:?} must be one non-empty line")]
    BadOrigin {
        /// The origin given, cut to a readable length.
        origin: String,
    },
    /// The ledger was written in a storage format this build cannot read.
    #[error(
        "ledger at {} has storage format version {found}; this build supports version {supported}",
        dir.display()
    )]
    UnsupportedVersion {
        /// The ledger directory.
        dir: PathBuf,
        /// The version found in the ledger.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// An append did not start at the end of the log (another writer appended first, or the
    /// caller's view of the head is stale). Nothing was written.
    #[error("append refused: it starts at log position {found} but the log has {expected} entries")]
    Conflict {
        /// The current log size: where the append had to start.
        expected: u64,
        /// Where the append started.
        found: u64,
    },
    /// A plan whose state changes contradict it (a record at a log position outside the
    /// plan, two attestations under one key). Nothing was written.
    #[error("append refused: {reason}")]
    InvalidBatch {
        /// What is wrong with the batch.
        reason: String,
    },
    /// A checkpoint for a tree larger than the log.
    #[error("checkpoint for tree size {size} refused: the log has {head} entries")]
    CheckpointBeyondHead {
        /// The checkpoint's tree size.
        size: u64,
        /// The log size.
        head: u64,
    },
    /// Stored bytes that do not decode or have the wrong length or shape.
    #[error("corrupt ledger store: {what}: {reason}")]
    Corrupt {
        /// Which record, with its key.
        what: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value could not be encoded (too large for the codec's limit).
    #[error("cannot encode {what}: {source}")]
    Encode {
        /// Which record.
        what: String,
        /// The codec's reason.
        source: CodecError,
    },
    /// Reading, writing or syncing a file or directory of the ledger failed.
    #[error("cannot use {}: {}", path.display(), describe_io(error))]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        error: std::io::Error,
    },
    /// A database server refused or failed a request, or could not be reached (a store
    /// behind a network, such as PostgreSQL).
    #[error("ledger database {store}: {reason}")]
    Database {
        /// The database, as its URL without a password.
        store: String,
        /// What the server or the connection said.
        reason: String,
    },
    /// Any other sled failure (IO errors, sled's own corruption reports).
    #[error("ledger store at {}: {}", dir.display(), describe_sled(cause))]
    Sled {
        /// The ledger directory.
        dir: PathBuf,
        /// sled's error.
        cause: sled::Error,
    },
}

impl StoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::Locked { .. }
            | StoreError::ReadOnly { .. }
            | StoreError::AppendInterrupted { .. }
            | StoreError::Io { .. }
            | StoreError::Database { .. } => ErrorKind::Unavailable,
            StoreError::Sled { cause, .. } => match cause {
                sled::Error::Io(_) => ErrorKind::Unavailable,
                _ => ErrorKind::Damaged,
            },
            StoreError::RolledBack { .. } | StoreError::Corrupt { .. } => ErrorKind::Damaged,
            StoreError::Conflict { .. } => ErrorKind::Conflict,
            StoreError::NotALedger { .. } => ErrorKind::NotFound,
            StoreError::AlreadyExists { .. }
            | StoreError::NotEmpty { .. }
            | StoreError::BadOrigin { .. }
            | StoreError::UnsupportedVersion { .. }
            | StoreError::InvalidBatch { .. }
            | StoreError::CheckpointBeyondHead { .. }
            | StoreError::Encode { .. } => ErrorKind::Invalid,
        }
    }
}

/// An I/O error in words, with what to do for the failures a person can fix.
pub fn describe_io(error: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    // sled wraps some OS errors in a new error whose text is the original's Debug form
    // (`Os { code: 28, kind: StorageFull, .. }`): show the kind's words instead.
    let text = error.to_string();
    let e: &dyn std::fmt::Display = if text.contains("Os {") || text.contains("kind:") {
        &error.kind()
    } else {
        error
    };
    match error.kind() {
        K::PermissionDenied => format!(
            "permission denied ({e}): the user running custody must be able to read and \
             write the ledger directory and its files; check their owner and mode"
        ),
        K::StorageFull => format!(
            "the disk is full ({e}): free space and run the command again; nothing that was \
             not acknowledged was kept"
        ),
        K::ReadOnlyFilesystem => {
            format!("the file system is read-only ({e}): the ledger needs a writable directory")
        }
        K::QuotaExceeded => format!("the disk quota is exceeded ({e}): free space or raise it"),
        _ => format!("input/output error: {e}"),
    }
}

#[cfg(test)]
mod describe_tests {
    use super::describe_io;

    #[test]
    fn fail_io_errors_are_words_not_debug_dumps() {
        let wrapped = std::io::Error::other(format!("{:?}", std::io::Error::from_raw_os_error(28)));
        assert!(wrapped.to_string().contains("Os {"));
        let full = std::io::Error::new(std::io::ErrorKind::StorageFull, wrapped.to_string());
        let text = describe_io(&full);
        assert!(text.starts_with("the disk is full"), "{text}");
        assert!(!text.contains("Os {") && !text.contains("kind:"), "{text}");
    }
}

/// sled's error in words. Its own `Display` shows Rust debug output for corruption reports
/// (file offsets and a backtrace); a person needs what happened and what to do.
fn describe_sled(e: &sled::Error) -> String {
    match e {
        sled::Error::Io(io) => describe_io(io),
        sled::Error::Corruption { .. } => {
            "sled found damaged data in its files; run custody verify, and restore the \
             ledger from a backup if it cannot be opened"
                .into()
        }
        sled::Error::CollectionNotFound(_) => "a sled tree the ledger needs is missing".into(),
        sled::Error::Unsupported(what) => format!("sled does not support this: {what}"),
        sled::Error::ReportableBug(what) => format!("sled failed internally: {what}"),
    }
}

impl From<StoreError> for StateError {
    fn from(e: StoreError) -> StateError {
        StateError::new(e)
    }
}

#[cfg(test)]
mod tests;
