//! Custody's storage: the narrow [`Store`] trait everything above the store goes through,
//! and [`SledStore`], its embedded sled backend.
//!
//! The trait exists so that a server database can replace sled without touching the rules:
//! the rules read state through [`ledger_core::state::StateView`] (which every store
//! implements) and hand back [`ledger_core::state::Changes`]; the store writes those, the log
//! entries, the Merkle nodes and the new head in one atomic [`Store::append`]. A store never
//! interprets entry bytes: callers decode and re-verify what they read.
//!
//! ```
//! use ledger_core::Digest;
//! use ledger_core::state::Changes;
//! use ledger_store::{AppendBatch, Head, SledStore, Store};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = SledStore::create(dir.path(), "example.org/custody")?;
//! assert_eq!(store.head()?, Head { size: 0, last: Digest::ZERO });
//!
//! let last = Digest::of(&[b"entry 0"]);
//! store.append(&AppendBatch {
//!     entries: &[(0, b"entry 0".to_vec())],
//!     head: Head { size: 1, last },
//!     changes: &Changes::default(),
//!     merkle_nodes: &[(0, 0, last)],
//!     lot_events: &[],
//!     party_events: &[],
//! })?;
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

mod keys;
mod sled_store;

use std::path::PathBuf;

use ledger_core::Digest;
use ledger_core::codec::CodecError;
use ledger_core::id::{LotId, PartyId};
use ledger_core::state::{AttestationRecord, Changes, StateError, StateView};

pub use sled_store::{FORMAT_VERSION, SledStore};

/// The log's size and the hash of its last entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// Everything one append writes, applied all or nothing.
#[derive(Debug, Clone, Copy)]
pub struct AppendBatch<'a> {
    /// `(seq, canonical entry bytes)`, consecutive from the current head's size.
    pub entries: &'a [(u64, Vec<u8>)],
    /// The head after the batch: its size must be the old size plus the number of entries.
    pub head: Head,
    /// Index changes made by checking the batch's statements.
    pub changes: &'a Changes,
    /// Merkle complete-subtree hashes `(level, index, hash)` completed by the batch.
    pub merkle_nodes: &'a [(u8, u64, Digest)],
    /// `(lot, seq)` for every lot each entry names, for lot-scoped verification.
    pub lot_events: &'a [(LotId, u64)],
    /// Positions of the batch's `enroll` and `revoke` entries.
    pub party_events: &'a [u64],
}

/// A lazy iterator over `(seq, canonical entry bytes)`, as returned by [`Store::entries`].
pub type EntryIter<'a> = Box<dyn Iterator<Item = Result<(u64, Vec<u8>), StoreError>> + 'a>;

/// The storage a ledger needs, and nothing more.
///
/// Reads of derived state come from the [`StateView`] supertrait; everything else is here.
pub trait Store: StateView {
    /// The size of the log and the hash of its last entry ([`Digest::ZERO`] when empty).
    fn head(&self) -> Result<Head, StoreError>;

    /// The log origin fixed at creation: the first line of every checkpoint.
    fn origin(&self) -> Result<String, StoreError>;

    /// The raw canonical bytes of the entry at `seq`; the caller decodes and re-verifies them.
    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError>;

    /// The entries from `start` on, in order, as raw bytes, read lazily (never the whole log
    /// at once). Entries appended while iterating may or may not be seen.
    fn entries(&self, start: u64) -> EntryIter<'_>;

    /// A stored Merkle complete-subtree hash: level `level`, index `index` covers leaves
    /// `[index * 2^level, (index + 1) * 2^level)`.
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError>;

    /// The attestations whose subject is `party`, in log order.
    fn attestations(&self, party: &PartyId) -> Result<Vec<AttestationRecord>, StoreError>;

    /// The attestations whose subject is `lot`, in log order.
    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError>;

    /// Positions of the entries that name `lot`, in log order (an index: `verify --lot`
    /// reads these entries and re-verifies them; whole-ledger `verify` needs no index).
    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError>;

    /// Positions of every `enroll` and `revoke` entry, in log order.
    fn party_events(&self) -> Result<Vec<u64>, StoreError>;

    /// The head the last successful append acknowledged, kept outside the database (for
    /// sled, a file beside its own). sled treats a damaged record as a torn write and
    /// silently drops it and everything after it, leaving a shorter, consistent log:
    /// `verify` compares the log with this, and `append` refuses to write on a log that
    /// holds less than it acknowledged.
    fn acknowledged(&self) -> Result<Option<Head>, StoreError>;

    /// Atomically appends a batch (entries, every index change, Merkle nodes and the new
    /// head) and makes it durable before returning `Ok`.
    ///
    /// Fails with [`StoreError::Conflict`] and writes nothing if the batch does not start at
    /// the current head, and with [`StoreError::InvalidBatch`] if it is not self-consistent.
    fn append(&self, batch: &AppendBatch<'_>) -> Result<(), StoreError>;

    /// Durably stores the signed checkpoint note for tree size `size`, replacing any earlier
    /// note for that size. Fails with [`StoreError::CheckpointBeyondHead`] if the log is
    /// shorter than `size`.
    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError>;

    /// Every stored checkpoint note, by increasing tree size.
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError>;
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
    /// An append batch that contradicts itself (gaps in its entries, a head that does not
    /// match them, two attestations under one key). Nothing was written.
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
    /// Listing or creating the ledger directory failed.
    #[error("cannot access {}: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Any other sled failure (IO errors, sled's own corruption reports).
    #[error("ledger store at {}: {source}", dir.display())]
    Sled {
        /// The ledger directory.
        dir: PathBuf,
        /// sled's error.
        source: sled::Error,
    },
}

impl From<StoreError> for StateError {
    fn from(e: StoreError) -> StateError {
        StateError(e.to_string())
    }
}

#[cfg(test)]
mod tests;
