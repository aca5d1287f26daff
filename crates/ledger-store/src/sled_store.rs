//! The embedded sled backend: one sled tree holding the log, its indexes, the Merkle nodes,
//! checkpoints and the head under the prefixed keys of [`crate::keys`].
//!
//! Why it is safe:
//! - **Atomic, durable appends.** [`AppendTxn::commit`] writes the plan's entries, every
//!   index record, the Merkle nodes and the new head, then flushes before returning `Ok`. A
//!   plan of at most [`COMMIT_CHUNK`] records is one `sled::Batch`. A larger one, and an
//!   append written in parts ([`AppendTxn::write_part`]), is written in batches of that many
//!   records, because sled holds what it frees while applying a batch until the batch ends: a
//!   first batch writes the marker `meta/pending-append` (the start position), each later one
//!   writes some records, with an undo record (`u/`) holding the value before the append of
//!   each that may have existed (entries, Merkle nodes and positional index keys at or past
//!   the start cannot: [`keys::new_since`]; nor can an event record the transaction found
//!   absent, whose value holds its position; a key a part wrote keeps the undo record of its
//!   first write), and a final batch writes the head and removes the marker; the append is
//!   committed exactly when that batch is durable. An open that finds the marker puts the
//!   old values back and removes the new positional keys and event records by position (a
//!   failed commit, or a transaction dropped after writing parts, does the same at once),
//!   so a crash still leaves all of an append or none of it. Undo records without a marker
//!   are leftovers of a committed append, deleted at open and by the next batched commit.
//! - **One writer.** sled takes an exclusive file lock, so a second process cannot open the
//!   ledger ([`StoreError::Locked`]); within a process, an append transaction holds a mutex
//!   from [`Store::begin_append`] to its commit, so the state it was checked against is the
//!   state it is written on. Reads of state and indexes wait while an append's batches are
//!   being written, so they never see part of one.
//! - **Storage types.** Derived-state records are written as the types of
//!   [`crate::records`], not as the core's structs.
//! - **A versioned format.** `meta/format` holds [`FORMAT_VERSION`], checked on open. Before
//!   changing any key or value encoding, work out what an old build does with new data and a
//!   new build with old data, then bump the version (and migrate, or refuse clearly).
//! - **Untrusted bytes.** Every stored value is decoded with the size-limited canonical codec
//!   and every length is checked: damaged storage gives [`StoreError::Corrupt`] naming the
//!   key, never a panic.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use ledger_core::Digest;
use ledger_core::codec;
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::PublicKey;
use ledger_core::state::{
    AttestationRecord, EventRecord, Holding, LotRecord, PartyRecord, ShipmentRecord, StateError,
    StateView,
};
use ledger_core::subjects::SubjectState;
use serde::Serialize;
use serde::de::DeserializeOwned;
use sled::IVec;

use crate::entry_log::{EntryAt, EntryLog, Frame};
use crate::records::{
    StoredAttestation, StoredEvent, StoredHolding, StoredLot, StoredParty, StoredShipment,
    StoredSubject,
};
use crate::{AppendPlan, AppendTxn, EntryIter, Head, MerkleNodes, Store, StoreError};
use crate::{keys, writes};

/// The storage format version this build reads and writes. Stored under `meta/format` as
/// a 4-byte little-endian `u32`; that record's encoding never changes.
///
/// Version 2: state records are the storage types of [`crate::records`] (version 1 wrote
/// the core's structs), and the `t/` (lot) and `n/` (party) indexes are part of the format.
/// Version 3: format-3 entries (signatures over the origin, the subject index). Version 4:
/// the entry log `entries.log` and its committed length `meta/entry-log`. Version 5: the
/// chunked commit's `meta/pending-append` marker and `u/` undo records (a build of version
/// 4 would ignore the marker and open half an append). Version 6: a sled ledger's `e/`
/// records hold where each entry is in the entry log, which keeps the only copy of its bytes
/// (a build of version 5 would read those positions as entries).
pub const FORMAT_VERSION: u32 = 6;

/// Length of an encoded head: `u64` size and 32-byte digest.
const HEAD_LEN: usize = 8 + 32;

/// The most records an append writes in one sled batch. sled 0.34.7 holds one epoch guard
/// over a whole batch, so everything it frees while applying one is kept until the batch
/// ends: about 37 KB a statement, 3.9 GB for an append of 100,000. A larger plan is
/// written in batches of this many records under an undo log (see the module's doc). The
/// server's default groups of up to 1,024 statements stay below it (the bench's statements
/// write about 6.5 records each) and commit in one batch, as before.
pub(crate) const COMMIT_CHUNK: usize = 8_192;

/// The name of sled 0.34's data file inside its directory: its presence marks a database.
const SLED_DB_FILE: &str = "db";

/// A ledger stored in a sled database in one directory.
pub struct SledStore {
    dir: PathBuf,
    db: sled::Db,
    /// Custody's own lock on the directory, taken before sled opens its files, so that
    /// leftovers of an interrupted run can be cleared while no other process uses them.
    _lock: std::fs::File,
    /// Set by [`SledStore::release_at_exit`]: sled's own close never runs.
    released_at_exit: bool,
    /// Held across an append's head check and write, so two appends in one process cannot
    /// both pass the check. It guards no data: a poisoned lock is taken over as is.
    append_lock: Mutex<()>,
    /// The entry log readers use while this store is open ([`crate::entry_log`]).
    entry_log: EntryLog,
    /// Held exclusively from the first batch of an append written in batches to its last
    /// (through all its parts), shared by reads of state and indexes, so no reader sees part
    /// of such an append. Entries,
    /// Merkle nodes and checkpoints need no gate: what an append writes of them lies beyond
    /// the old head. It guards no data: a poisoned lock is taken over as is.
    commit_gate: RwLock<()>,
    /// Where each committed entry from the first is in the entry log, once
    /// [`Store::cache_entry_positions`] asked for it (`None` until then), extended by every
    /// commit: an entry read then needs no database read. Only committed entries are in it.
    positions: RwLock<Option<Vec<EntryAt>>>,
    /// What the tests make a chunked commit do ([`CommitHooks`]).
    #[cfg(test)]
    hooks: Mutex<CommitHooks>,
}

/// The most entry positions [`SledStore`] keeps in memory (64 MiB).
const CACHED_POSITIONS: usize = 1 << 22;

/// Test settings of a chunked commit: smaller batches, and a failure after some of them.
#[cfg(test)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct CommitHooks {
    /// Records per batch, instead of [`COMMIT_CHUNK`].
    pub(crate) chunk_records: usize,
    /// Fails the commit after this many batches of records, before its final batch.
    pub(crate) stop_after_chunks: Option<usize>,
    /// Whether that failure skips the roll-back, as a crash would.
    pub(crate) crash: bool,
}

#[cfg(test)]
impl Default for CommitHooks {
    fn default() -> CommitHooks {
        CommitHooks {
            chunk_records: COMMIT_CHUNK,
            stop_after_chunks: None,
            crash: false,
        }
    }
}

impl Drop for SledStore {
    fn drop(&mut self) {
        if self.released_at_exit {
            // A handle that is never dropped keeps sled's close from running (see
            // `release_at_exit`); the process's exit releases the files and the lock.
            std::mem::forget(self.db.clone());
        }
    }
}

impl fmt::Debug for SledStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl SledStore {
    /// Creates an empty ledger with log origin `origin` in `dir`, which must not exist, be
    /// empty, or hold an empty sled database (left by a create that crashed).
    ///
    /// Refuses a directory holding a ledger ([`StoreError::AlreadyExists`]) or other files
    /// ([`StoreError::NotEmpty`]), and an origin that is not one non-empty line
    /// ([`StoreError::BadOrigin`]).
    pub fn create(dir: impl AsRef<Path>, origin: &str) -> Result<SledStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if origin.is_empty() || origin.contains(['\n', '\r']) {
            return Err(StoreError::BadOrigin {
                origin: origin.chars().take(200).collect(),
            });
        }
        match std::fs::read_dir(&dir) {
            Ok(listing) => {
                let foreign = listing
                    .filter_map(Result::ok)
                    .any(|e| e.file_name() != LOCK_FILE);
                if foreign && !dir.join(SLED_DB_FILE).is_file() {
                    return Err(StoreError::NotEmpty { dir });
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&dir).map_err(|source| StoreError::Io {
                    path: dir.clone(),
                    error: source,
                })?;
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: dir,
                    error: source,
                });
            }
        }
        let lock = take_lock(&dir)?;
        let db = open_sled(&dir)?;
        // Checked under the lock, so two concurrent creates cannot both succeed.
        if !db.is_empty() {
            return Err(StoreError::AlreadyExists { dir });
        }
        let (entry_log, entry_log_end) = EntryLog::create(&dir, origin)?;
        let store = SledStore::new(dir, db, lock, entry_log);
        let mut batch = sled::Batch::default();
        batch.insert(keys::FORMAT, encode("format version", &FORMAT_VERSION)?);
        batch.insert(keys::ORIGIN, encode("log origin", &origin)?);
        batch.insert(keys::HEAD, encode_head(&Head::EMPTY)?);
        batch.insert(keys::ENTRY_LOG, encode("entry log length", &entry_log_end)?);
        store
            .db
            .apply_batch(batch)
            .map_err(|e| store.sled_error(e))?;
        store.flush()?;
        Ok(store)
    }

    /// Opens the ledger in `dir`, checking its format version and head.
    ///
    /// Never creates files: a directory without a ledger gives [`StoreError::NotALedger`].
    pub fn open(dir: impl AsRef<Path>) -> Result<SledStore, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        match std::fs::metadata(dir.join(SLED_DB_FILE)) {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(StoreError::NotALedger { dir }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(StoreError::NotALedger { dir });
            }
            Err(source) => {
                return Err(StoreError::Io {
                    path: dir,
                    error: source,
                });
            }
        }
        let lock = take_lock(&dir)?;
        clear_leftovers(&dir)?;
        let db = open_sled(&dir)?;
        let get = |key: &[u8]| {
            db.get(key).map_err(|cause| StoreError::Sled {
                dir: dir.clone(),
                cause,
            })
        };
        let Some(format) = get(keys::FORMAT)? else {
            return Err(StoreError::NotALedger { dir });
        };
        let found = decode_format(&format)?;
        if found != FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion {
                dir,
                found,
                supported: FORMAT_VERSION,
            });
        }
        let committed = match get(keys::ENTRY_LOG)? {
            Some(bytes) => decode("entry log length", keys::ENTRY_LOG, &bytes)?,
            None => {
                return Err(corrupt_key(
                    "entry log length",
                    keys::ENTRY_LOG,
                    "missing".into(),
                ));
            }
        };
        let entry_log = EntryLog::open(&dir, committed)?;
        let store = SledStore::new(dir, db, lock, entry_log);
        // Before anything reads the state: an append a crash interrupted is undone.
        store.undo_pending()?;
        store.origin()?;
        store.check_head()?;
        Ok(store)
    }

    /// The store over an opened database, under Custody's lock on its directory.
    fn new(dir: PathBuf, db: sled::Db, lock: std::fs::File, entry_log: EntryLog) -> SledStore {
        SledStore {
            dir,
            db,
            _lock: lock,
            append_lock: Mutex::new(()),
            released_at_exit: false,
            entry_log,
            commit_gate: RwLock::new(()),
            positions: RwLock::new(None),
            #[cfg(test)]
            hooks: Mutex::new(CommitHooks::default()),
        }
    }

    /// The cached place of entry `seq` in the entry log, if [`SledStore::positions`] holds
    /// it.
    fn cached_position(&self, seq: u64) -> Option<EntryAt> {
        let positions = self
            .positions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        positions.as_ref()?.get(usize::try_from(seq).ok()?).copied()
    }

    /// Adds to the cached positions, if they are kept and end at `start`, those of the
    /// entries an append starting there committed (`placed`, in order), up to the cap.
    fn cache_committed(&self, start: u64, placed: &[EntryAt]) {
        let mut positions = self
            .positions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(positions) = positions.as_mut()
            && positions.len() as u64 == start
        {
            let room = CACHED_POSITIONS.saturating_sub(positions.len());
            positions.extend(placed.iter().take(room));
        }
    }

    /// Refuses to append to a log that holds less than it acknowledged (see
    /// [`Store::acknowledged`]): writing on would bury the loss.
    fn check_acknowledged(&self, head: &Head) -> Result<(), StoreError> {
        let Some(acknowledged) = self.acknowledged()? else {
            return Ok(());
        };
        let rolled_back = || StoreError::RolledBack {
            dir: self.dir.clone(),
            found: head.size,
            acknowledged: acknowledged.size,
        };
        // Equal sizes must have the same last entry. A longer log is the crash window
        // between sled's flush and the file's update; `verify` checks that entry's hash.
        if head.size < acknowledged.size
            || (head.size == acknowledged.size && head.last != acknowledged.last)
        {
            return Err(rolled_back());
        }
        Ok(())
    }

    /// Records `head` as acknowledged: written to a temporary file, synced, renamed over the
    /// old one and the directory synced, so a crash leaves the old or the new record.
    fn write_acknowledged(&self, head: &Head) -> Result<(), StoreError> {
        let path = self.dir.join(ACKNOWLEDGED_FILE);
        let temp = self.dir.join(ACKNOWLEDGED_TEMP);
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StoreError::Io {
                path,
                error: source,
            }
        };
        let bytes = encode("acknowledged head", &(head.size, head.last))?;
        let write = || -> io::Result<()> {
            use std::io::Write;
            let mut file = std::fs::File::create(&temp)?;
            file.write_all(&bytes)?;
            file.sync_all()
        };
        write().map_err(io_error(&temp))?;
        std::fs::rename(&temp, &path).map_err(io_error(&path))?;
        std::fs::File::open(&self.dir)
            .and_then(|dir| dir.sync_all())
            .map_err(io_error(&self.dir))
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The raw sled database, for tests that write damaged or foreign records.
    #[cfg(test)]
    pub(crate) fn raw(&self) -> &sled::Db {
        &self.db
    }

    /// Checks that the entries end exactly at the head: the last entry exists and none
    /// follows it. Cheap, and catches a head and a log that disagree.
    fn check_head(&self) -> Result<(), StoreError> {
        let head = self.head()?;
        if let Some(last) = head.size.checked_sub(1)
            && self.get(&keys::entry(last))?.is_none()
        {
            return Err(corrupt_key(
                "head record",
                keys::HEAD,
                format!("the log has no entry {last}"),
            ));
        }
        if let Some(next) = self
            .db
            .range(keys::entry(head.size)..keys::entry_end())
            .next()
        {
            let (key, _) = next.map_err(|e| self.sled_error(e))?;
            return Err(corrupt_key(
                "head record",
                keys::HEAD,
                format!(
                    "the head says {} entries but key {} exists",
                    head.size,
                    keys::show(&key)
                ),
            ));
        }
        Ok(())
    }

    /// Entry `seq`, which the `e/` record `key` locates (`at`, its encoded [`EntryAt`]), read back
    /// from the entry log and checked there.
    fn entry_at(&self, seq: u64, key: &[u8], at: &[u8]) -> Result<Vec<u8>, StoreError> {
        let at: EntryAt = decode("entry position", key, at)?;
        self.entry_log.read(seq, at)
    }

    /// The committed length of the entry log, as the database records it.
    fn entry_log_end(&self) -> Result<u64, StoreError> {
        self.get_decoded("entry log length", keys::ENTRY_LOG)?
            .ok_or_else(|| corrupt_key("entry log length", keys::ENTRY_LOG, "missing".into()))
    }

    fn sled_error(&self, cause: sled::Error) -> StoreError {
        StoreError::Sled {
            dir: self.dir.clone(),
            cause,
        }
    }

    /// Makes everything written so far durable: sled's flush writes its buffers (its
    /// `sync_file_range` does not make them durable on every file system), then the `db`
    /// file and the directory are fsynced here. Any failure is an error, never ignored.
    fn flush(&self) -> Result<(), StoreError> {
        // sled 0.34.7 can hang when one of its IO threads' writes fails (every thread waits
        // on a futex): a flush that does not return in time is an error, not a hang.
        let db = self.db.clone();
        let (done, wait) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send(db.flush());
        });
        match wait.recv_timeout(FLUSH_TIMEOUT) {
            Ok(flushed) => {
                flushed.map_err(|e| self.sled_error(e))?;
            }
            Err(_) => {
                return Err(StoreError::Io {
                    path: self.dir.clone(),
                    error: io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "sled did not finish writing within {} s, after an earlier write \
                             failed; nothing more was acknowledged",
                            FLUSH_TIMEOUT.as_secs()
                        ),
                    ),
                });
            }
        }
        let io = |path: PathBuf| {
            move |source| StoreError::Io {
                path,
                error: source,
            }
        };
        let db = self.dir.join(SLED_DB_FILE);
        std::fs::File::open(&db)
            .and_then(|f| f.sync_all())
            .map_err(io(db))?;
        sync_dir(&self.dir)
    }

    /// Makes the process, not sled, close the store: sled's own close (when the last
    /// handle is dropped) flushes and fsyncs, and panics on an I/O error (sled 0.34.7
    /// `Log::drop` unwraps an fsync). After this call dropping the store leaves sled's files
    /// and lock to be released when the process exits, so a command that fails half way
    /// exits with its error rather than a panic; durability comes from [`Self::close`] and
    /// every commit, never from sled's close. For a process about to exit (the CLI): the
    /// same process cannot open the ledger again.
    pub fn release_at_exit(&mut self) {
        self.released_at_exit = true;
    }

    /// Makes everything durable and ends this use of the store; a failure is an error.
    pub fn close(self) -> Result<(), StoreError> {
        self.flush()
    }

    /// Removes the index record of the attestation at `seq` about `party`, as a tampered
    /// or damaged store would, and flushes; whether there was one. For tests that show
    /// whole-ledger `verify` catches it (`fault-injection` feature only).
    #[cfg(feature = "fault-injection")]
    pub fn forget_attestation(&self, party: &PartyId, seq: u64) -> Result<bool, StoreError> {
        let removed = self
            .db
            .remove(keys::party_attestation(party, seq))
            .map_err(|e| self.sled_error(e))?;
        self.flush()?;
        Ok(removed.is_some())
    }

    /// Writes a copy of lot `from`'s record under lot id `to`, as a tampered store would
    /// that claims a lot no entry names, and flushes; whether `from` had a record. For
    /// tests that show whole-ledger `verify` catches it (`fault-injection` feature only).
    #[cfg(feature = "fault-injection")]
    pub fn copy_lot_record(&self, from: &LotId, to: &LotId) -> Result<bool, StoreError> {
        let Some(record) = self.get(&keys::lot(from))? else {
            return Ok(false);
        };
        self.db
            .insert(keys::lot(to), record)
            .map_err(|e| self.sled_error(e))?;
        self.flush()?;
        Ok(true)
    }

    fn get(&self, key: &[u8]) -> Result<Option<sled::IVec>, StoreError> {
        self.db.get(key).map_err(|e| self.sled_error(e))
    }

    /// Reads and decodes the value under `key`; `what` names it in errors.
    fn get_decoded<T: DeserializeOwned>(
        &self,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        match self.get(key)? {
            Some(bytes) => decode(what, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Decodes every value under `prefix`, in key order.
    fn scan_decoded<T: DeserializeOwned>(
        &self,
        what: &str,
        prefix: &[u8],
    ) -> Result<Vec<T>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                decode(what, &key, &value)
            })
            .collect()
    }

    /// The log positions at the end of the keys under `prefix`, in order.
    fn scan_positions(&self, what: &str, prefix: &[u8]) -> Result<Vec<u64>, StoreError> {
        self.db
            .scan_prefix(prefix)
            .map(|item| {
                let (key, _) = item.map_err(|e| self.sled_error(e))?;
                keys::trailing_seq(&key[prefix.len()..])
                    .filter(|_| key.len() == prefix.len() + 8)
                    .ok_or_else(|| corrupt_key(what, &key, "not a position".into()))
            })
            .collect()
    }

    /// The records under `prefix` of each of `lots` (keys `prefix` + lot + separator +
    /// position, as [`keys::split_lot_key`] reads them), each made by `item` from its key,
    /// position and value: one scan over the key range of the lots asked, which sled keeps
    /// in lot order, walked beside the lots sorted the same way. A lot asked twice gets its
    /// records twice.
    fn scan_by_lot<T: Clone>(
        &self,
        what: &str,
        prefix: &[u8],
        lots: &[&LotId],
        item: impl Fn(&[u8], u64, &[u8]) -> Result<T, StoreError>,
    ) -> Result<Vec<Vec<T>>, StoreError> {
        let _gate = self.reading();
        let bytes = |i: usize| lots[i].as_str().as_bytes();
        let mut order: Vec<usize> = (0..lots.len()).collect();
        order.sort_unstable_by(|&a, &b| bytes(a).cmp(bytes(b)));
        let mut out: Vec<Vec<T>> = vec![Vec::new(); lots.len()];
        let (Some(&first), Some(&last)) = (order.first(), order.last()) else {
            return Ok(out);
        };
        let mut next = order.iter().peekable();
        let range = self.db.range(
            keys::key(prefix, &[bytes(first), &[keys::SEP]])
                ..keys::key(prefix, &[bytes(last), &[keys::SEP + 1]]),
        );
        for record in range {
            let (key, value) = record.map_err(|e| self.sled_error(e))?;
            let (lot, seq) = keys::split_lot_key(prefix, &key)
                .ok_or_else(|| corrupt_key(what, &key, "not a lot and a position".into()))?;
            // Lots asked for that sort before this key's have all their records by now.
            while next.next_if(|&&i| bytes(i) < lot).is_some() {}
            if let Some(&&i) = next.peek()
                && bytes(i) == lot
            {
                out[i].push(item(&key, seq, &value)?);
            }
        }
        // A lot asked more than once: every copy gets the first one's records.
        for pair in order.windows(2) {
            if bytes(pair[0]) == bytes(pair[1]) {
                out[pair[1]] = out[pair[0]].clone();
            }
        }
        Ok(out)
    }

    /// One sled batch holding everything `plan` writes: its `entries` (the `e/` records
    /// of the entry log positions), its `records` as [`writes::records`] made them, and
    /// the head.
    fn build_batch(
        plan: &AppendPlan,
        entries: Vec<(Vec<u8>, Vec<u8>)>,
        records: BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<sled::Batch, StoreError> {
        let mut out = sled::Batch::default();
        for (key, value) in entries.into_iter().chain(records) {
            out.insert(key, value);
        }
        out.insert(keys::HEAD, encode_head(&plan.head())?);
        Ok(out)
    }

    /// The most records one batch of an append holds: [`COMMIT_CHUNK`], or what a test set.
    fn chunk_records(&self) -> usize {
        #[cfg(test)]
        {
            self.hooks
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .chunk_records
        }
        #[cfg(not(test))]
        {
            COMMIT_CHUNK
        }
    }

    /// Sets what chunked commits of this store do, for the tests of the undo log.
    #[cfg(test)]
    pub(crate) fn set_commit_hooks(&self, hooks: CommitHooks) {
        *self.hooks.lock().unwrap_or_else(PoisonError::into_inner) = hooks;
    }

    /// The failure a test set for a chunked commit after `applied` batches of records;
    /// none outside tests.
    fn stop_here(&self, applied: usize) -> Result<(), StoreError> {
        #[cfg(test)]
        {
            let hooks = *self.hooks.lock().unwrap_or_else(PoisonError::into_inner);
            if hooks.stop_after_chunks == Some(applied) {
                return Err(StoreError::Io {
                    path: self.dir.clone(),
                    error: io::Error::other(format!("stopped after {applied} batches (test)")),
                });
            }
            Ok(())
        }
        #[cfg(not(test))]
        {
            let _ = applied;
            Ok(())
        }
    }

    /// Shares the commit gate: a read of state or indexes waits while a chunked append
    /// writes its batches.
    fn reading(&self) -> RwLockReadGuard<'_, ()> {
        self.commit_gate
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Undoes the append `meta/pending-append` names, if there is one: puts back each value
    /// its undo records hold, removing each record in the same batch (so an undo cut short
    /// is taken up again), removes the keys it wrote without one ([`Self::remove_new_since`]),
    /// then every other undo record, left by committed appends, and the marker last, and
    /// flushes. Every step can be redone, so a crash during it is undone at the next open.
    /// Without a marker only those leftovers are removed.
    fn undo_pending(&self) -> Result<(), StoreError> {
        let pending: Option<u64> = self.get_decoded("pending append", keys::PENDING_APPEND)?;
        let mut wrote = false;
        if let Some(start) = pending {
            let prefix = keys::undo_prefix(start);
            wrote |= self.drain(&prefix, |batch, key, value| {
                let record = &key[prefix.len()..];
                match decode_undo(key, value)? {
                    Some(old) => batch.insert(record, old),
                    None => batch.remove(record),
                }
                Ok(())
            })?;
            wrote |= self.remove_new_since(start)?;
        }
        wrote |= self.drain(keys::UNDO, |_, _, _| Ok(()))?;
        if pending.is_some() {
            self.db
                .remove(keys::PENDING_APPEND)
                .map_err(|e| self.sled_error(e))?;
            wrote = true;
        }
        if wrote {
            self.flush()?;
        }
        Ok(())
    }

    /// Removes every key an append starting at `start` writes without undo records, a
    /// batch of at most [`Self::chunk_records`] at a time: those [`keys::new_since`] it
    /// (entries, the party index and each level's Merkle nodes by range, the lot index and
    /// the attestations, keyed by id first, by a scan of each, filtered) and the event
    /// records of a position at or past it (a scan of all, decoded: only an undo pays for
    /// it). An event record never changes once written, so one that existed before the
    /// append has an earlier position, or was put back by its undo record first. Whether
    /// there was any.
    fn remove_new_since(&self, start: u64) -> Result<bool, StoreError> {
        let mut ranges = vec![
            keys::entry(start)..=keys::entry(u64::MAX),
            keys::party_event(start)..=keys::party_event(u64::MAX),
        ];
        ranges.extend(
            (0..64)
                .map(|level| keys::merkle(level, start >> level)..=keys::merkle(level, u64::MAX)),
        );
        let prefixes = [
            keys::LOT_EVENT,
            keys::PARTY_ATTESTATION,
            keys::LOT_ATTESTATION,
        ];
        let found = ranges
            .into_iter()
            .map(|range| self.db.range(range))
            .chain(prefixes.map(|prefix| self.db.scan_prefix(prefix)))
            .chain([self.db.scan_prefix(keys::EVENT)])
            .flatten();
        let mut any = false;
        let mut batch = sled::Batch::default();
        let mut count = 0;
        for item in found {
            let (key, value) = item.map_err(|e| self.sled_error(e))?;
            let new = if key.starts_with(keys::EVENT) {
                // One that does not decode is left for verify to report, not made a reason
                // the ledger cannot open.
                decode::<StoredEvent>("event record", &key, &value).is_ok_and(|e| e.seq >= start)
            } else {
                keys::new_since(&key, start)
            };
            if !new {
                continue;
            }
            batch.remove(key);
            count += 1;
            if count == self.chunk_records() {
                self.db
                    .apply_batch(std::mem::take(&mut batch))
                    .map_err(|e| self.sled_error(e))?;
                collect_garbage(count);
                count = 0;
                any = true;
            }
        }
        if count > 0 {
            self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
            collect_garbage(count);
            any = true;
        }
        Ok(any)
    }

    /// Removes every record under `prefix`, a batch of at most [`Self::chunk_records`] at a
    /// time, after `each` has added to that batch what the record asks for. Whether there
    /// was any.
    fn drain(
        &self,
        prefix: &[u8],
        each: impl Fn(&mut sled::Batch, &[u8], &[u8]) -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        let mut any = false;
        loop {
            let mut batch = sled::Batch::default();
            let mut count = 0;
            for item in self.db.scan_prefix(prefix).take(self.chunk_records()) {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                each(&mut batch, &key, &value)?;
                batch.remove(key);
                count += 1;
            }
            if count == 0 {
                return Ok(any);
            }
            any = true;
            self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
            collect_garbage(count);
        }
    }

    /// Reads and decodes a state record stored as `S`, converted to the core's `T`.
    fn get_record<S: DeserializeOwned + Into<T>, T>(
        &self,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.get_decoded::<S>(what, key)?.map(Into::into))
    }
}

/// An append in progress on a [`SledStore`]: holds the store's append lock until it is
/// committed or dropped.
struct SledTxn<'a> {
    store: &'a SledStore,
    head: Head,
    /// Where the parts written so far end ([`SledTxn::head`] before the first).
    written: Head,
    /// Set by the first batch of records written under the undo log, by a part or by a
    /// commit too large for one batch.
    batches: Option<Batches<'a>>,
    /// The raw value (or absence) of each state record the rules read, by key, since the
    /// last part: the undo records take old values from here instead of reading them again
    /// (still the stored values, since the append lock keeps every other writer out).
    /// Emptied by every part, so it holds the reads of one part at most.
    read: RefCell<HashMap<Vec<u8>, Option<IVec>>>,
    _writer: MutexGuard<'a, ()>,
}

/// What an append written in batches under the undo log (see the module's doc) keeps from
/// its first batch, which writes the marker, to its last, which writes the head.
struct Batches<'a> {
    /// The commit gate, held exclusively: no read of state or indexes in the process sees
    /// part of the append.
    _gate: RwLockWriteGuard<'a, ()>,
    /// The entry log's end after the entries written so far (past its committed end).
    log_end: u64,
    /// Batches of records applied so far (the tests stop a commit after some).
    applied: usize,
    /// Where each entry written so far is in the entry log, kept only while the store
    /// caches positions ([`SledStore::cache_committed`]).
    placed: Option<Vec<EntryAt>>,
    /// Whether the last batch, which writes the head, was applied: the append is
    /// committed then, and never undone.
    committed: bool,
}

impl<'a> SledTxn<'a> {
    /// Reads the state record stored as `S` under `key`, as the store's getters do, and
    /// remembers its bytes (see [`SledTxn::read`]); a key read before is answered from
    /// them. No commit gate: this transaction's lock keeps every commit out.
    fn record<S: DeserializeOwned + Into<T>, T>(
        &self,
        what: &str,
        key: Vec<u8>,
    ) -> Result<Option<T>, StoreError> {
        let mut read = self.read.borrow_mut();
        let bytes = match read.get(&key) {
            Some(bytes) => bytes.clone(),
            None => {
                let bytes = self.store.get(&key)?;
                read.insert(key.clone(), bytes.clone());
                bytes
            }
        };
        drop(read);
        match bytes {
            Some(bytes) => Ok(Some(decode::<S>(what, &key, &bytes)?.into())),
            None => Ok(None),
        }
    }

    /// The append's [`Batches`], begun by the first call: the undo records of the last
    /// chunked append, committed (`begin_append` refuses while a marker exists), are
    /// deleted, off the path of the append that wrote them, so they hold disk until the
    /// next one; then the gate is taken and the marker written. A failure before the marker
    /// is written leaves nothing of this append.
    fn batches(&mut self) -> Result<&mut Batches<'a>, StoreError> {
        let batches = match self.batches.take() {
            Some(batches) => batches,
            None => {
                let store = self.store;
                store.drain(keys::UNDO, |_, _, _| Ok(()))?;
                let gate = store
                    .commit_gate
                    .write()
                    .unwrap_or_else(PoisonError::into_inner);
                let log_end = store.entry_log_end()?;
                let placed = store
                    .positions
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .is_some()
                    .then(Vec::new);
                let mut marker = sled::Batch::default();
                marker.insert(
                    keys::PENDING_APPEND,
                    encode("pending append", &self.head.size)?,
                );
                store
                    .db
                    .apply_batch(marker)
                    .map_err(|e| store.sled_error(e))?;
                Batches {
                    _gate: gate,
                    log_end,
                    applied: 0,
                    placed,
                    committed: false,
                }
            }
        };
        Ok(self.batches.insert(batches))
    }

    /// Writes `plan`'s entries to the entry log after those written before, durably, then
    /// its `records` ([`writes::records`]) and its entries' positions in batches of at most
    /// [`SledStore::chunk_records`] under the undo log: each batch holds the undo record of
    /// each of its keys that may have existed before the append (not those
    /// [`keys::new_since`] its start, nor an event record the transaction found absent,
    /// whose value holds its position), unless an earlier part wrote one already, which
    /// holds the value from before the append. The head stays.
    fn write_in_batches(
        &mut self,
        plan: &AppendPlan,
        mut records: BTreeMap<Vec<u8>, Vec<u8>>,
    ) -> Result<(), StoreError> {
        let store = self.store;
        let start = self.head.size;
        let earlier_part = self.batches.is_some();
        let read = self.read.take();
        let chunk = store.chunk_records();
        let batches = self.batches()?;
        let frames: Vec<Frame<'_>> = plan
            .entries()
            .iter()
            .map(|(_, bytes)| Frame::Entry(bytes))
            .collect();
        let (end, placed) = store.entry_log.append(batches.log_end, &frames)?;
        drop(frames);
        for ((seq, _), at) in plan.entries().iter().zip(&placed) {
            records.insert(keys::entry(*seq), encode("entry position", at)?);
        }
        let mut records = records.into_iter().peekable();
        while records.peek().is_some() {
            store.stop_here(batches.applied)?;
            let mut batch = sled::Batch::default();
            let mut written = 0;
            for (key, value) in records.by_ref().take(chunk) {
                let new_event =
                    key.starts_with(keys::EVENT) && matches!(read.get(&key), Some(None));
                if !keys::new_since(&key, start) && !new_event {
                    let undo = keys::undo(start, &key);
                    if !(earlier_part && store.get(&undo)?.is_some()) {
                        let old = match read.get(&key) {
                            Some(old) => old.clone(),
                            None => store.get(&key)?,
                        };
                        batch.insert(undo, encode_undo(&key, old.as_deref())?);
                    }
                }
                batch.insert(key, value);
                written += 1;
            }
            store
                .db
                .apply_batch(batch)
                .map_err(|e| store.sled_error(e))?;
            collect_garbage(written);
            batches.applied += 1;
        }
        batches.log_end = end;
        if let Some(kept) = batches.placed.as_mut() {
            kept.extend(placed);
        }
        self.written = plan.head();
        Ok(())
    }

    /// The last batch of an append written in batches: the head, the entry log's committed
    /// length and the marker's removal. The append is committed once it is durable.
    fn finish_batches(&mut self) -> Result<(), StoreError> {
        let store = self.store;
        let head = self.written;
        let batches = self.batches()?;
        store.stop_here(batches.applied)?;
        let mut last = sled::Batch::default();
        last.insert(keys::HEAD, encode_head(&head)?);
        last.insert(
            keys::ENTRY_LOG,
            encode("entry log length", &batches.log_end)?,
        );
        last.remove(keys::PENDING_APPEND);
        store
            .db
            .apply_batch(last)
            .map_err(|e| store.sled_error(e))?;
        batches.committed = true;
        Ok(())
    }
}

impl Drop for SledTxn<'_> {
    /// Undoes at once an append whose batches were begun and not committed: a part written
    /// and the transaction dropped, or a commit that failed part way.
    fn drop(&mut self) {
        if self.batches.as_ref().is_none_or(|b| b.committed) {
            return;
        }
        #[cfg(test)]
        if self
            .store
            .hooks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .crash
        {
            return;
        }
        // If this fails too the marker stays, and `begin_append` refuses until an open
        // undoes the append.
        let _ = self.store.undo_pending();
    }
}

impl AppendTxn for SledTxn<'_> {
    fn head(&self) -> Head {
        self.head
    }

    fn write_part(&mut self, plan: &AppendPlan) -> Result<(), StoreError> {
        writes::check_plan(&self.written, plan)?;
        let records = writes::records(plan)?;
        self.write_in_batches(plan, records)
    }

    fn commit(mut self: Box<Self>, plan: &AppendPlan) -> Result<(), StoreError> {
        let store = self.store;
        let expected = match self.batches {
            Some(_) => self.written,
            None => store.head()?,
        };
        writes::check_plan(&expected, plan)?;
        let records = writes::records(plan)?;
        // The entries, the records, the head and the entry log length.
        let batched = self.batches.is_some()
            || plan.entries().len() + records.len() + 2 > store.chunk_records();
        let placed = if batched {
            self.write_in_batches(plan, records)?;
            self.finish_batches()?;
            self.batches
                .as_mut()
                .and_then(|b| b.placed.take())
                .unwrap_or_default()
        } else {
            // The entries reach the entry log, durably, before the database commits them.
            // Its committed length changes only with the head: bytes after it are ignored
            // until then.
            let frames: Vec<Frame<'_>> = plan
                .entries()
                .iter()
                .map(|(_, bytes)| Frame::Entry(bytes))
                .collect();
            let (end, placed) = store.entry_log.append(store.entry_log_end()?, &frames)?;
            drop(frames);
            let entries = plan
                .entries()
                .iter()
                .zip(&placed)
                .map(|((seq, _), at)| Ok((keys::entry(*seq), encode("entry position", at)?)))
                .collect::<Result<Vec<(Vec<u8>, Vec<u8>)>, StoreError>>()?;
            let mut writes = SledStore::build_batch(plan, entries, records)?;
            writes.insert(keys::ENTRY_LOG, encode("entry log length", &end)?);
            store
                .db
                .apply_batch(writes)
                .map_err(|e| store.sled_error(e))?;
            placed
        };
        // If the flush fails the append is applied in memory and may or may not survive a
        // crash: the caller must treat the error as fatal, not retry the same positions.
        store.flush()?;
        // A batched append's undo records are left: the next batched commit or open deletes
        // them, so nothing can fail here once the append is acknowledged.
        store.write_acknowledged(&plan.head())?;
        store.cache_committed(self.head.size, &placed);
        Ok(())
    }
}

impl MerkleNodes for SledTxn<'_> {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        self.store.merkle_node(level, index)
    }
}

impl StateView for SledTxn<'_> {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        Ok(self.record::<StoredParty, _>("party record", keys::party(id))?)
    }
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        Ok(self.record::<PartyId, _>("key owner", keys::key_owner(key))?)
    }
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        Ok(self.record::<StoredLot, _>("lot record", keys::lot(id))?)
    }
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        Ok(self.record::<StoredHolding, _>("holding", keys::holding(lot, party))?)
    }
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        Ok(self.record::<StoredShipment, _>("shipment record", keys::shipment(id))?)
    }
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        Ok(self.record::<StoredEvent, _>("event record", keys::event(id))?)
    }
}

impl Store for SledStore {
    fn head(&self) -> Result<Head, StoreError> {
        let Some(bytes) = self.get(keys::HEAD)? else {
            return Err(corrupt_key("head record", keys::HEAD, "missing".into()));
        };
        if bytes.len() != HEAD_LEN {
            return Err(corrupt_key(
                "head record",
                keys::HEAD,
                format!("{} bytes, expected {HEAD_LEN}", bytes.len()),
            ));
        }
        let (size, last): (u64, Digest) = decode("head record", keys::HEAD, &bytes)?;
        Ok(Head { size, last })
    }

    fn origin(&self) -> Result<String, StoreError> {
        self.get_decoded("log origin", keys::ORIGIN)?
            .ok_or_else(|| corrupt_key("log origin", keys::ORIGIN, "missing".into()))
    }

    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        if let Some(at) = self.cached_position(seq) {
            return self.entry_log.read(seq, at).map(Some);
        }
        let key = keys::entry(seq);
        match self.get(&key)? {
            Some(at) => self.entry_at(seq, &key, &at).map(Some),
            None => Ok(None),
        }
    }

    fn entries(&self, start: u64) -> EntryIter<'_> {
        let range = self.db.range(keys::entry(start)..keys::entry_end());
        Box::new(range.map(move |item| {
            let (key, at) = item.map_err(|e| self.sled_error(e))?;
            let seq = keys::entry_seq(&key).ok_or_else(|| {
                corrupt_key(
                    "log entry",
                    &key,
                    "the key is not e/ and an 8-byte position".into(),
                )
            })?;
            Ok((seq, self.entry_at(seq, &key, &at)?))
        }))
    }

    fn cache_entry_positions(&self) -> Result<(), StoreError> {
        // Read under the append lock, so no commit adds positions meanwhile.
        let _writer = self
            .append_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let size = self.head()?.size;
        let from = self
            .positions
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map_or(0, Vec::len);
        let to = usize::try_from(size).map_or(CACHED_POSITIONS, |size| size.min(CACHED_POSITIONS));
        let mut read = Vec::with_capacity(to.saturating_sub(from));
        for item in self
            .db
            .range(keys::entry(from as u64)..keys::entry(to as u64))
        {
            let (key, at) = item.map_err(|e| self.sled_error(e))?;
            let expected = (from + read.len()) as u64;
            if keys::entry_seq(&key) != Some(expected) {
                return Err(corrupt_key(
                    "log entry",
                    &key,
                    format!("entry {expected} is missing from the database"),
                ));
            }
            read.push(decode::<EntryAt>("entry position", &key, &at)?);
        }
        if from + read.len() < to {
            return Err(corrupt_key(
                "head record",
                keys::HEAD,
                format!("the log has no entry {}", from + read.len()),
            ));
        }
        let mut positions = self
            .positions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        positions.get_or_insert_with(Vec::new).extend(read);
        Ok(())
    }

    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        let _gate = self.reading();
        let stored: Vec<StoredParty> = self.scan_decoded("party record", keys::PARTY)?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lots(
        &self,
        after: Option<&LotId>,
        limit: usize,
    ) -> Result<Vec<(LotId, LotRecord)>, StoreError> {
        let _gate = self.reading();
        let start = match after {
            // The key right after `after`'s: its key with a 0x00 byte appended.
            Some(lot) => {
                let mut key = keys::lot(lot);
                key.push(0);
                key
            }
            None => keys::LOT.to_vec(),
        };
        let mut end = keys::LOT.to_vec();
        if let Some(last) = end.last_mut() {
            *last += 1;
        }
        self.db
            .range(start..end)
            .take(limit)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                let id = std::str::from_utf8(&key[keys::LOT.len()..])
                    .ok()
                    .and_then(|s| LotId::new(s).ok())
                    .ok_or_else(|| corrupt_key("lot record", &key, "not a lot id".into()))?;
                let stored: StoredLot = decode("lot record", &key, &value)?;
                Ok((id, stored.into()))
            })
            .collect()
    }

    fn attestations(&self, party: &PartyId) -> Result<Vec<AttestationRecord>, StoreError> {
        let _gate = self.reading();
        let stored: Vec<StoredAttestation> =
            self.scan_decoded("attestation record", &keys::party_attestations(party))?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError> {
        let _gate = self.reading();
        let stored: Vec<StoredAttestation> =
            self.scan_decoded("attestation record", &keys::lot_attestations(lot))?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn acknowledged(&self) -> Result<Option<Head>, StoreError> {
        read_acknowledged(&self.dir)
    }

    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError> {
        let _gate = self.reading();
        self.scan_positions("lot index", &keys::lot_events(lot))
    }

    /// One ordered scan of the lot index, split by lot: whole-ledger `verify` asks for
    /// every lot, and one range scan per lot cost it about 4 µs a lot.
    fn lot_events_of(&self, lots: &[&LotId]) -> Result<Vec<Vec<u64>>, StoreError> {
        self.scan_by_lot("lot index", keys::LOT_EVENT, lots, |_, seq, _| Ok(seq))
    }

    /// One ordered scan of the lot attestations, split by lot (see
    /// [`Store::lot_events_of`]).
    fn lot_attestations_of(
        &self,
        lots: &[&LotId],
    ) -> Result<Vec<Vec<AttestationRecord>>, StoreError> {
        let what = "attestation record";
        self.scan_by_lot(what, keys::LOT_ATTESTATION, lots, |key, _, value| {
            decode::<StoredAttestation>(what, key, value).map(Into::into)
        })
    }

    fn party_events(&self) -> Result<Vec<u64>, StoreError> {
        let _gate = self.reading();
        self.scan_positions("party index", keys::PARTY_EVENT)
    }

    fn subject_states(&self) -> Result<Vec<(Digest, SubjectState)>, StoreError> {
        let _gate = self.reading();
        self.db
            .scan_prefix(keys::SUBJECT)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                let subject = <[u8; 32]>::try_from(&key[keys::SUBJECT.len()..])
                    .map_err(|_| corrupt_key("subject state", &key, "not a subject key".into()))?;
                let stored: StoredSubject = decode("subject state", &key, &value)?;
                Ok((
                    Digest(subject),
                    SubjectState {
                        count: stored.count,
                        chain: stored.chain,
                    },
                ))
            })
            .collect()
    }

    fn begin_append(&self) -> Result<Box<dyn AppendTxn + '_>, StoreError> {
        let writer = self
            .append_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.get(keys::PENDING_APPEND)?.is_some() {
            return Err(StoreError::AppendInterrupted {
                dir: self.dir.clone(),
            });
        }
        let head = self.head()?;
        self.check_acknowledged(&head)?;
        Ok(Box::new(SledTxn {
            store: self,
            head,
            written: head,
            batches: None,
            read: RefCell::new(HashMap::new()),
            _writer: writer,
        }))
    }

    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let _writer = self
            .append_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let head = self.head()?;
        if size > head.size {
            return Err(StoreError::CheckpointBeyondHead {
                size,
                head: head.size,
            });
        }
        let value = encode("checkpoint note", &note)?;
        let (end, _) = self
            .entry_log
            .append(self.entry_log_end()?, &[Frame::Checkpoint { size, note }])?;
        let mut batch = sled::Batch::default();
        batch.insert(keys::checkpoint(size), value);
        batch.insert(keys::ENTRY_LOG, encode("entry log length", &end)?);
        self.db.apply_batch(batch).map_err(|e| self.sled_error(e))?;
        self.flush()
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.db
            .scan_prefix(keys::CHECKPOINT)
            .map(|item| {
                let (key, value) = item.map_err(|e| self.sled_error(e))?;
                let size = keys::checkpoint_size(&key).ok_or_else(|| {
                    corrupt_key(
                        "checkpoint",
                        &key,
                        "the key is not c/ and an 8-byte size".into(),
                    )
                })?;
                Ok((size, decode("checkpoint note", &key, &value)?))
            })
            .collect()
    }
}

impl MerkleNodes for SledStore {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        self.get_decoded("merkle node", &keys::merkle(level, index))
    }

    fn merkle_range(&self, level: u8, from: u64, to: u64) -> Result<Vec<Digest>, StoreError> {
        let mut nodes = Vec::new();
        for item in self
            .db
            .range(keys::merkle(level, from)..keys::merkle(level, to.max(from)))
        {
            let (key, value) = item.map_err(|e| self.sled_error(e))?;
            let expected = from + nodes.len() as u64;
            if keys::merkle_position(&key) != Some((level, expected)) {
                break;
            }
            nodes.push(decode("merkle node", &key, &value)?);
        }
        Ok(nodes)
    }
}

impl StateView for SledStore {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        let _gate = self.reading();
        Ok(self.get_record::<StoredParty, _>("party record", &keys::party(id))?)
    }

    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        let _gate = self.reading();
        Ok(self.get_decoded("key owner", &keys::key_owner(key))?)
    }

    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        let _gate = self.reading();
        Ok(self.get_record::<StoredLot, _>("lot record", &keys::lot(id))?)
    }

    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        let _gate = self.reading();
        Ok(self.get_record::<StoredHolding, _>("holding", &keys::holding(lot, party))?)
    }

    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        let _gate = self.reading();
        Ok(self.get_record::<StoredShipment, _>("shipment record", &keys::shipment(id))?)
    }

    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        let _gate = self.reading();
        Ok(self.get_record::<StoredEvent, _>("event record", &keys::event(id))?)
    }
}

/// The file beside sled's that records the last acknowledged head (size and entry hash).
const ACKNOWLEDGED_FILE: &str = "acknowledged-head";

/// The acknowledged head's size on disk: `u64` size and the last entry's 32-byte hash.
const ACKNOWLEDGED_LEN: usize = 40;

/// The temporary file the acknowledged head is written to before it is renamed.
const ACKNOWLEDGED_TEMP: &str = "acknowledged-head.tmp";

/// Reads the head the last successful append in `dir` acknowledged (see
/// [`Store::acknowledged`]); `None` when the file does not exist.
pub(crate) fn read_acknowledged(dir: &Path) -> Result<Option<Head>, StoreError> {
    use std::io::Read;
    let path = dir.join(ACKNOWLEDGED_FILE);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |source| StoreError::Io {
            path,
            error: source,
        }
    };
    let file = match std::fs::File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(io_error(&path)(source)),
    };
    // Read one byte past the record's size, so a longer file is refused without reading it.
    let mut bytes = Vec::with_capacity(ACKNOWLEDGED_LEN + 1);
    file.take(ACKNOWLEDGED_LEN as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io_error(&path))?;
    if bytes.len() != ACKNOWLEDGED_LEN {
        return Err(StoreError::Corrupt {
            what: format!("acknowledged head in {}", path.display()),
            reason: format!(
                "{} bytes, where a head is {ACKNOWLEDGED_LEN} (size u64, last entry's hash)",
                if bytes.len() > ACKNOWLEDGED_LEN {
                    format!("more than {ACKNOWLEDGED_LEN}")
                } else {
                    bytes.len().to_string()
                }
            ),
        });
    }
    let (size, last): (u64, Digest) = codec::decode(&bytes).map_err(|e| StoreError::Corrupt {
        what: format!("acknowledged head in {}", path.display()),
        reason: e.to_string(),
    })?;
    Ok(Some(Head { size, last }))
}

/// sled's page cache. Its default (1 GiB) would let a whole-ledger verify, which reads
/// every entry once, grow with the ledger; reads here are sequential or index lookups.
const CACHE_BYTES: u64 = 64 << 20;

/// How long a flush may take before it is taken to be hung (see [`SledStore::flush`]).
const FLUSH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The file Custody locks in a ledger directory before sled opens its own files.
const LOCK_FILE: &str = "custody.lock";

/// Takes Custody's exclusive lock on the ledger in `dir`, without waiting: a held lock is
/// [`StoreError::Locked`] (callers decide whether to wait and try again).
fn take_lock(dir: &Path) -> Result<std::fs::File, StoreError> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|source| StoreError::Io {
            path: path.clone(),
            error: source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
            dir: dir.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(StoreError::Io {
            path,
            error: source,
        }),
    }
}

/// Removes what an interrupted run is known to leave, under Custody's lock, before sled
/// opens: sled 0.34.7 writes a snapshot as `snap.<lsn>.generating` and renames it when
/// complete; a leftover one sorts after the last good snapshot, is picked at the next open
/// and fails it with "Read corrupted data" (sled issues #1527, #1533). Snapshots are derived
/// from the log, so an incomplete one carries nothing the log does not. A temporary
/// acknowledged-head file is the other leftover.
fn clear_leftovers(dir: &Path) -> Result<(), StoreError> {
    let io = |path: PathBuf| {
        move |source| StoreError::Io {
            path,
            error: source,
        }
    };
    let listing = std::fs::read_dir(dir).map_err(io(dir.to_path_buf()))?;
    for entry in listing {
        let entry = entry.map_err(io(dir.to_path_buf()))?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let leftover = (name.starts_with("snap.") && name.ends_with(".generating"))
            || name == ACKNOWLEDGED_TEMP;
        if leftover {
            std::fs::remove_file(entry.path()).map_err(io(entry.path()))?;
        }
    }
    sync_dir(dir)
}

/// fsyncs a directory, so that files created or renamed in it survive a power loss.
fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| StoreError::Io {
            path: dir.to_path_buf(),
            error: source,
        })
}

/// Opens (or creates) the sled database in `dir`, telling a held lock apart. sled's own
/// background flusher is off: every flush is Custody's, and its errors are returned.
fn open_sled(dir: &Path) -> Result<sled::Db, StoreError> {
    sled::Config::new()
        .path(dir)
        .cache_capacity(CACHE_BYTES)
        .flush_every_ms(None)
        .open()
        .map_err(|source| match &source {
            sled::Error::Io(e) if is_lock_error(e) => StoreError::Locked {
                dir: dir.to_path_buf(),
            },
            _ => StoreError::Sled {
                dir: dir.to_path_buf(),
                cause: source,
            },
        })
}

/// Whether `e` is sled's report that another process holds the database lock.
///
/// sled 0.34.7 (`Config::try_lock` in `config.rs`) calls fs2's `try_lock_exclusive`
/// (`flock(LOCK_EX | LOCK_NB)`, failing with `EWOULDBLOCK`) and wraps that error, as text, in
/// a new `io::Error` of kind `Other` with the message `could not acquire lock on "…/db": …`.
/// The original kind is lost, so the message prefix is what identifies it; `WouldBlock` is
/// accepted too in case a later sled passes the error through.
fn is_lock_error(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::WouldBlock
        || (e.kind() == io::ErrorKind::Other
            && e.to_string().starts_with("could not acquire lock on"))
}

pub(crate) fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    codec::encode(value).map_err(|source| StoreError::Encode {
        what: what.into(),
        source,
    })
}

fn encode_head(head: &Head) -> Result<Vec<u8>, StoreError> {
    encode("head record", &(head.size, head.last))
}

fn decode<T: DeserializeOwned>(what: &str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    codec::decode_lenient(bytes).map_err(|e| corrupt_key(what, key, e.to_string()))
}

/// Lets sled free what a batch of `records` writes replaced. sled 0.34.7 defers those
/// frees to crossbeam-epoch's global collector, which runs a few bags of them (8 of 64
/// each) when a thread pins, every 128th pin, or flushes. Reads pin; a chunked commit or an
/// undo reads little between its batches, so without this the frees would wait as in one
/// batch (a 100,000-statement append: 2.5 GB, not 0.6 GB). A pin and flush is about a µs.
fn collect_garbage(records: usize) {
    for _ in 0..records.div_ceil(16) {
        crossbeam_epoch::pin().flush();
    }
}

/// An undo record's first byte when the key had no value before the append.
const UNDO_ABSENT: u8 = 0;

/// An undo record's first byte when the key's old value follows.
const UNDO_PRESENT: u8 = 1;

/// The undo record of `key` whose value before the append is `old`. A value over the
/// codec's limit is refused, as [`decode_undo`] would refuse it.
fn encode_undo(key: &[u8], old: Option<&[u8]>) -> Result<Vec<u8>, StoreError> {
    match old {
        None => Ok(vec![UNDO_ABSENT]),
        Some(old) if old.len() > codec::MAX_ENCODED => Err(corrupt_key(
            "stored record",
            key,
            format!(
                "{} bytes, over the limit of {}",
                old.len(),
                codec::MAX_ENCODED
            ),
        )),
        Some(old) => Ok([&[UNDO_PRESENT], old].concat()),
    }
}

/// The old value an undo record under `key` holds: `None` when the key had none.
fn decode_undo<'v>(key: &[u8], value: &'v [u8]) -> Result<Option<&'v [u8]>, StoreError> {
    match value.split_first() {
        Some((&UNDO_ABSENT, [])) => Ok(None),
        Some((&UNDO_PRESENT, old)) if old.len() <= codec::MAX_ENCODED => Ok(Some(old)),
        Some((&UNDO_PRESENT, old)) => Err(corrupt_key(
            "undo record",
            key,
            format!(
                "{} bytes, over the limit of {}",
                old.len(),
                codec::MAX_ENCODED
            ),
        )),
        _ => Err(corrupt_key(
            "undo record",
            key,
            "not 0x00 alone or 0x01 and a value".into(),
        )),
    }
}

fn decode_format(bytes: &[u8]) -> Result<u32, StoreError> {
    let fixed: [u8; 4] = bytes.try_into().map_err(|_| {
        corrupt_key(
            "format version",
            keys::FORMAT,
            format!("{} bytes, expected 4", bytes.len()),
        )
    })?;
    Ok(u32::from_le_bytes(fixed))
}

fn corrupt_key(what: &str, key: &[u8], reason: String) -> StoreError {
    StoreError::Corrupt {
        what: format!("{what} at key {}", keys::show(key)),
        reason,
    }
}
