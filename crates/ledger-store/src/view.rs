//! [`LogView`]: a read-only view of a sled ledger rebuilt from its entry log
//! ([`crate::entry_log`]), for the commands that read a ledger while another process holds
//! it (an import running, another auditor verifying).
//!
//! It reads no sled file and takes no lock. It holds the ledger as of its last
//! acknowledged append: the `acknowledged-head` file gives the size, the entry log the
//! first that many entries, which must chain to that head. Everything else is derived from
//! those entries by a whole-ledger replay (the same checks `verify` runs), so opening a view
//! costs about one `verify` of the ledger and its memory grows with the derived state; the
//! entries themselves stay in the file and are read back on demand.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::path::{Path, PathBuf};

use ledger_core::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::PublicKey;
use ledger_core::merkle::{MemoryTree, NodeSource};
use ledger_core::rules::RuleConfig;
use ledger_core::state::{
    AttestationRecord, Changes, EventRecord, Holding, LotRecord, PartyRecord, ShipmentRecord,
    StateError, StateView,
};
use ledger_core::statement::Origin;
use ledger_core::subjects::SubjectState;
use ledger_core::verify::{KeyCache, Replay, prepare_batch};

use crate::entry_log::{self, Next, ReadFrame, Reader};
use crate::sled_store::read_acknowledged;
use crate::{AppendTxn, EntryIter, Head, MerkleNodes, Store, StoreError};

/// How many entries are checked at once while the view is built (signatures in batches).
const CHUNK: usize = 4096;

/// A ledger as of its last acknowledged append, rebuilt from its entry log.
pub struct LogView {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    origin: String,
    head: Head,
    /// Where each entry's bytes are in the entry log: offset and length.
    entries: Vec<(u64, u32)>,
    tree: MemoryTree,
    state: Changes,
    subjects: Vec<(Digest, SubjectState)>,
    lot_events: HashMap<LotId, Vec<u64>>,
    party_events: Vec<u64>,
    checkpoints: BTreeMap<u64, String>,
}

impl std::fmt::Debug for LogView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogView")
            .field("dir", &self.dir)
            .field("size", &self.head.size)
            .finish_non_exhaustive()
    }
}

impl LogView {
    /// Builds the view of the ledger in `dir` as of its acknowledged head.
    ///
    /// Fails with [`StoreError::NotALedger`] without an entry log, and with
    /// [`StoreError::Corrupt`] naming the file when the entry log holds fewer entries than
    /// were acknowledged or they do not end at the acknowledged entry.
    pub fn open(dir: impl AsRef<Path>) -> Result<LogView, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.join(entry_log::ENTRY_LOG_FILE).is_file() {
            return Err(StoreError::NotALedger { dir });
        }
        let head = read_acknowledged(&dir)?.ok_or_else(|| StoreError::Corrupt {
            what: format!("ledger at {}", dir.display()),
            reason: "it has no acknowledged-head file, so what it acknowledged is unknown: \
                     wait for the writer to finish, then run custody verify"
                .into(),
        })?;
        let (mut reader, origin) = Reader::open(&dir)?;
        let path = reader.path().to_path_buf();
        let signing_origin = Origin::new(&origin).map_err(|e| StoreError::Corrupt {
            what: format!("entry log {}", path.display()),
            reason: format!("its origin is not valid: {e}"),
        })?;
        let mut entries = Vec::new();
        let mut checkpoints = BTreeMap::new();
        loop {
            match reader.next()? {
                Next::Frame(ReadFrame::Entry { offset, len }) => {
                    if (entries.len() as u64) < head.size {
                        entries.push((offset, len));
                    }
                }
                Next::Frame(ReadFrame::Checkpoint { size, note }) => {
                    checkpoints.insert(size, note);
                }
                Next::End { offset, why } => {
                    if (entries.len() as u64) < head.size {
                        return Err(StoreError::Corrupt {
                            what: format!("entry log {}", path.display()),
                            reason: format!(
                                "it holds {} entries before {why} at byte {offset}, but {} were \
                                 acknowledged: restore the ledger directory from a backup",
                                entries.len(),
                                head.size
                            ),
                        });
                    }
                    break;
                }
            }
        }
        checkpoints.retain(|size, _| *size <= head.size);
        let file = File::open(&path).map_err(|error| StoreError::Io {
            path: path.clone(),
            error,
        })?;
        let mut view = LogView {
            dir,
            path,
            file,
            origin,
            head,
            entries,
            tree: MemoryTree::new(),
            state: Changes::default(),
            subjects: Vec::new(),
            lot_events: HashMap::new(),
            party_events: Vec::new(),
            checkpoints,
        };
        view.derive(&signing_origin)?;
        Ok(view)
    }

    /// Replays the entries to derive the state, the indexes and the Merkle tree.
    fn derive(&mut self, origin: &Origin) -> Result<(), StoreError> {
        let mut replay = Replay::new(RuleConfig::default());
        let keys = KeyCache::default();
        let mut tree = MemoryTree::new();
        let mut last = Digest::ZERO;
        for (start, chunk) in (0u64..).step_by(CHUNK).zip(self.entries.chunks(CHUNK)) {
            let bytes = chunk
                .iter()
                .zip(start..)
                .map(|(&(offset, len), seq)| {
                    Ok((
                        seq,
                        entry_log::read_entry(&self.path, &self.file, offset, len)?,
                    ))
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            for (seq, prepared) in prepare_batch(&bytes, origin, &keys) {
                tree.push(prepared.hash);
                last = prepared.hash;
                if let Ok(entry) = &prepared.decoded {
                    let event = &entry.statement.statement().event;
                    for lot in event.lots_named() {
                        self.lot_events.entry(lot.clone()).or_default().push(seq);
                    }
                    if event.body.party_changed(&event.actor).is_some() {
                        self.party_events.push(seq);
                    }
                }
                replay
                    .push_prepared(seq, &prepared)
                    .map_err(|e| StoreError::Corrupt {
                        what: format!("entry {seq} in {}", self.path.display()),
                        reason: e.to_string(),
                    })?;
            }
        }
        if last != self.head.last {
            return Err(StoreError::Corrupt {
                what: format!("entry log {}", self.path.display()),
                reason: format!(
                    "its entry {} hashes to {last}, not to the acknowledged {}: restore the \
                     ledger directory from a backup",
                    self.head.size.saturating_sub(1),
                    self.head.last
                ),
            });
        }
        let (state, subjects) = replay.into_state();
        self.state = state;
        self.subjects = subjects.states().map(|(k, s)| (*k, *s)).collect();
        self.subjects.sort_by_key(|(k, _)| *k);
        self.tree = tree;
        Ok(())
    }

    /// The ledger directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn read_only(&self) -> StoreError {
        StoreError::ReadOnly {
            dir: self.dir.clone(),
        }
    }

    fn read(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(&(offset, len)) = usize::try_from(seq).ok().and_then(|i| self.entries.get(i))
        else {
            return Ok(None);
        };
        entry_log::read_entry(&self.path, &self.file, offset, len).map(Some)
    }

    fn attestations_where(
        &self,
        about: impl Fn(&AttestationRecord) -> bool,
    ) -> Vec<AttestationRecord> {
        let mut found: Vec<AttestationRecord> = self
            .state
            .attestations
            .iter()
            .filter(|a| about(a))
            .cloned()
            .collect();
        found.sort_by_key(|a| a.seq);
        found
    }
}

impl Store for LogView {
    fn head(&self) -> Result<Head, StoreError> {
        Ok(self.head)
    }

    fn origin(&self) -> Result<String, StoreError> {
        Ok(self.origin.clone())
    }

    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(seq)
    }

    fn entries(&self, start: u64) -> EntryIter<'_> {
        Box::new((start..self.head.size).map(move |seq| {
            let bytes = self.read(seq)?.ok_or_else(|| StoreError::Corrupt {
                what: format!("entry {seq} in {}", self.path.display()),
                reason: "missing".into(),
            })?;
            Ok((seq, bytes))
        }))
    }

    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        let mut parties: Vec<PartyRecord> = self.state.parties.values().cloned().collect();
        parties.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(parties)
    }

    fn lots(
        &self,
        after: Option<&LotId>,
        limit: usize,
    ) -> Result<Vec<(LotId, LotRecord)>, StoreError> {
        let mut ids: Vec<&LotId> = self
            .state
            .lots
            .ids()
            .filter(|id| after.is_none_or(|after| *id > after))
            .collect();
        ids.sort();
        Ok(ids
            .into_iter()
            .take(limit)
            .filter_map(|id| Some((id.clone(), self.state.lots.get(id)?)))
            .collect())
    }

    fn attestations(&self, party: &PartyId) -> Result<Vec<AttestationRecord>, StoreError> {
        use ledger_core::event::Subject;
        Ok(self
            .attestations_where(|a| matches!(&a.attest.subject, Subject::Party(p) if p == party)))
    }

    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError> {
        use ledger_core::event::Subject;
        Ok(self.attestations_where(|a| matches!(&a.attest.subject, Subject::Lot(l) if l == lot)))
    }

    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError> {
        Ok(self.lot_events.get(lot).cloned().unwrap_or_default())
    }

    fn party_events(&self) -> Result<Vec<u64>, StoreError> {
        Ok(self.party_events.clone())
    }

    fn subject_states(&self) -> Result<Vec<(Digest, SubjectState)>, StoreError> {
        Ok(self.subjects.clone())
    }

    fn acknowledged(&self) -> Result<Option<Head>, StoreError> {
        Ok(Some(self.head))
    }

    fn begin_append(&self) -> Result<Box<dyn AppendTxn + '_>, StoreError> {
        Err(self.read_only())
    }

    fn put_checkpoint(&self, _size: u64, _note: &str) -> Result<(), StoreError> {
        Err(self.read_only())
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self
            .checkpoints
            .iter()
            .map(|(size, note)| (*size, note.clone()))
            .collect())
    }
}

impl MerkleNodes for LogView {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        Ok(self.tree.node(level, index).ok())
    }
}

impl StateView for LogView {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        Ok(self.state.parties.get(id).cloned())
    }
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        Ok(self.state.key_owners.get(key).cloned())
    }
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        Ok(self.state.lots.get(id))
    }
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        Ok(self.state.holdings.get(lot, party).cloned())
    }
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        Ok(self.state.shipments.get(id))
    }
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        Ok(self.state.events.get(id))
    }
}
