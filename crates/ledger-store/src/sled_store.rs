//! The embedded sled backend: one sled tree holding the log, its indexes, the Merkle nodes,
//! checkpoints and the head under the prefixed keys of [`crate::keys`].
//!
//! Why it is safe:
//! - **Atomic, durable appends.** [`AppendTxn::commit`] builds one `sled::Batch` with the
//!   plan's entries, every index record, the Merkle nodes and the new head, applies it, then
//!   flushes before returning `Ok`. A crash leaves all of a batch or none of it.
//! - **One writer.** sled takes an exclusive file lock, so a second process cannot open the
//!   ledger ([`StoreError::Locked`]); within a process, an append transaction holds a mutex
//!   from [`Store::begin_append`] to its commit, so the state it was checked against is the
//!   state it is written on.
//! - **Storage types.** Derived-state records are written as the types of
//!   [`crate::records`], not as the core's structs.
//! - **A versioned format.** `meta/format` holds [`FORMAT_VERSION`], checked on open. Before
//!   changing any key or value encoding, work out what an old build does with new data and a
//!   new build with old data, then bump the version (and migrate, or refuse clearly).
//! - **Untrusted bytes.** Every stored value is decoded with the size-limited canonical codec
//!   and every length is checked: damaged storage gives [`StoreError::Corrupt`] naming the
//!   key, never a panic.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

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

use crate::entry_log::{EntryLog, Frame};
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
/// the entry log `entries.log` and its committed length `meta/entry-log`.
pub const FORMAT_VERSION: u32 = 4;

/// Length of an encoded head: `u64` size and 32-byte digest.
const HEAD_LEN: usize = 8 + 32;

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

    /// One sled batch holding everything `plan` writes, state records as storage types.
    fn build_batch(plan: &AppendPlan) -> Result<sled::Batch, StoreError> {
        let mut out = sled::Batch::default();
        for (seq, bytes) in plan.entries() {
            out.insert(keys::entry(*seq), bytes.as_slice());
        }
        for (key, value) in writes::records(plan)? {
            out.insert(key, value);
        }
        out.insert(keys::HEAD, encode_head(&plan.head())?);
        Ok(out)
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
    _writer: MutexGuard<'a, ()>,
}

impl AppendTxn for SledTxn<'_> {
    fn head(&self) -> Head {
        self.head
    }

    fn commit(self: Box<Self>, plan: &AppendPlan) -> Result<(), StoreError> {
        let store = self.store;
        writes::check_plan(&store.head()?, plan)?;
        let mut writes = SledStore::build_batch(plan)?;
        // The entries reach the entry log, durably, before the database commits them.
        let frames: Vec<Frame<'_>> = plan
            .entries()
            .iter()
            .map(|(_, bytes)| Frame::Entry(bytes))
            .collect();
        let end = store.entry_log.append(store.entry_log_end()?, &frames)?;
        writes.insert(keys::ENTRY_LOG, encode("entry log length", &end)?);
        store
            .db
            .apply_batch(writes)
            .map_err(|e| store.sled_error(e))?;
        // If the flush fails the batch is applied in memory and may or may not survive a
        // crash: the caller must treat the error as fatal, not retry the same positions.
        store.flush()?;
        store.write_acknowledged(&plan.head())
    }
}

impl MerkleNodes for SledTxn<'_> {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        self.store.merkle_node(level, index)
    }
}

impl StateView for SledTxn<'_> {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        self.store.party(id)
    }
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        self.store.key_owner(key)
    }
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        self.store.lot(id)
    }
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        self.store.holding(lot, party)
    }
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        self.store.shipment(id)
    }
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        self.store.event(id)
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
        Ok(self.get(&keys::entry(seq))?.map(|bytes| bytes.to_vec()))
    }

    fn entries(&self, start: u64) -> EntryIter<'_> {
        let range = self.db.range(keys::entry(start)..keys::entry_end());
        Box::new(range.map(move |item| {
            let (key, value) = item.map_err(|e| self.sled_error(e))?;
            let seq = keys::entry_seq(&key).ok_or_else(|| {
                corrupt_key(
                    "log entry",
                    &key,
                    "the key is not e/ and an 8-byte position".into(),
                )
            })?;
            Ok((seq, value.to_vec()))
        }))
    }

    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        let stored: Vec<StoredParty> = self.scan_decoded("party record", keys::PARTY)?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lots(
        &self,
        after: Option<&LotId>,
        limit: usize,
    ) -> Result<Vec<(LotId, LotRecord)>, StoreError> {
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
        let stored: Vec<StoredAttestation> =
            self.scan_decoded("attestation record", &keys::party_attestations(party))?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError> {
        let stored: Vec<StoredAttestation> =
            self.scan_decoded("attestation record", &keys::lot_attestations(lot))?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn acknowledged(&self) -> Result<Option<Head>, StoreError> {
        read_acknowledged(&self.dir)
    }

    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError> {
        self.scan_positions("lot index", &keys::lot_events(lot))
    }

    fn party_events(&self) -> Result<Vec<u64>, StoreError> {
        self.scan_positions("party index", keys::PARTY_EVENT)
    }

    fn subject_states(&self) -> Result<Vec<(Digest, SubjectState)>, StoreError> {
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
        let head = self.head()?;
        self.check_acknowledged(&head)?;
        Ok(Box::new(SledTxn {
            store: self,
            head,
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
        let end = self
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
}

impl StateView for SledStore {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        Ok(self.get_record::<StoredParty, _>("party record", &keys::party(id))?)
    }

    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        Ok(self.get_decoded("key owner", &keys::key_owner(key))?)
    }

    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        Ok(self.get_record::<StoredLot, _>("lot record", &keys::lot(id))?)
    }

    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        Ok(self.get_record::<StoredHolding, _>("holding", &keys::holding(lot, party))?)
    }

    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        Ok(self.get_record::<StoredShipment, _>("shipment record", &keys::shipment(id))?)
    }

    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        Ok(self.get_record::<StoredEvent, _>("event record", &keys::event(id))?)
    }
}

/// The file beside sled's that records the last acknowledged head (size and entry hash).
const ACKNOWLEDGED_FILE: &str = "acknowledged-head";

/// The temporary file the acknowledged head is written to before it is renamed.
const ACKNOWLEDGED_TEMP: &str = "acknowledged-head.tmp";

/// Reads the head the last successful append in `dir` acknowledged (see
/// [`Store::acknowledged`]); `None` when the file does not exist.
pub(crate) fn read_acknowledged(dir: &Path) -> Result<Option<Head>, StoreError> {
    let path = dir.join(ACKNOWLEDGED_FILE);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(StoreError::Io {
                path,
                error: source,
            });
        }
    };
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
