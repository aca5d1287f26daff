//! [`AnyStore`]: the store a ledger name selects, so that every command and the server run
//! on either backend with one type: a `postgres://` or `postgresql://` URL names a
//! PostgreSQL database, anything else a sled directory (or, while another process writes
//! that directory, a read-only [`LogView`] of it).

use std::path::Path;

use ledger_core::Digest;
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::PublicKey;
use ledger_core::state::{
    AttestationRecord, EventRecord, Holding, LotRecord, PartyRecord, ShipmentRecord, StateError,
    StateView,
};
use ledger_core::subjects::SubjectState;
use ledger_store::{
    AppendTxn, EntryIter, Head, LogView, MerkleNodes, SledStore, Store, StoreError,
};

use crate::{PgStore, is_url};

/// A sled or a PostgreSQL store.
#[derive(Debug)]
pub enum AnyStore {
    /// The embedded default.
    Sled(SledStore),
    /// A database shared by several servers.
    Postgres(PgStore),
    /// A sled ledger another process is writing, read as of its last acknowledged append.
    View(Box<LogView>),
}

/// The database URL `name` is, if it is one.
pub fn database_url(name: &Path) -> Option<&str> {
    name.to_str().filter(|s| is_url(s))
}

impl AnyStore {
    /// Opens the ledger `name` names: a database URL or a sled directory.
    pub fn open(name: &Path) -> Result<AnyStore, StoreError> {
        match database_url(name) {
            Some(url) => PgStore::open(url).map(AnyStore::Postgres),
            None => SledStore::open(name).map(AnyStore::Sled),
        }
    }

    /// For sled, [`SledStore::release_at_exit`]; a database needs nothing of the kind.
    pub fn release_at_exit(&mut self) {
        if let AnyStore::Sled(store) = self {
            store.release_at_exit();
        }
    }

    /// Makes everything durable and ends this use of the store (every database commit
    /// already was durable).
    pub fn close(self) -> Result<(), StoreError> {
        match self {
            AnyStore::Sled(store) => store.close(),
            AnyStore::Postgres(_) | AnyStore::View(_) => Ok(()),
        }
    }
}

impl From<SledStore> for AnyStore {
    fn from(store: SledStore) -> AnyStore {
        AnyStore::Sled(store)
    }
}

impl From<PgStore> for AnyStore {
    fn from(store: PgStore) -> AnyStore {
        AnyStore::Postgres(store)
    }
}

/// Calls `$call` on whichever store `$self` holds.
macro_rules! each {
    ($self:expr, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sled($store) => $call,
            AnyStore::Postgres($store) => $call,
            AnyStore::View($store) => $call,
        }
    };
}

impl Store for AnyStore {
    fn head(&self) -> Result<Head, StoreError> {
        each!(self, s => s.head())
    }
    fn origin(&self) -> Result<String, StoreError> {
        each!(self, s => s.origin())
    }
    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        each!(self, s => s.entry(seq))
    }
    fn entries(&self, start: u64) -> EntryIter<'_> {
        each!(self, s => s.entries(start))
    }
    fn cache_entry_positions(&self) -> Result<(), StoreError> {
        each!(self, s => s.cache_entry_positions())
    }
    fn entries_at(&self, seqs: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        each!(self, s => s.entries_at(seqs))
    }
    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        each!(self, s => s.parties())
    }
    fn lots(
        &self,
        after: Option<&LotId>,
        limit: usize,
    ) -> Result<Vec<(LotId, LotRecord)>, StoreError> {
        each!(self, s => s.lots(after, limit))
    }
    fn attestations(&self, party: &PartyId) -> Result<Vec<AttestationRecord>, StoreError> {
        each!(self, s => s.attestations(party))
    }
    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError> {
        each!(self, s => s.lot_attestations(lot))
    }
    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError> {
        each!(self, s => s.lot_events(lot))
    }
    fn lot_events_of(&self, lots: &[&LotId]) -> Result<Vec<Vec<u64>>, StoreError> {
        each!(self, s => s.lot_events_of(lots))
    }
    fn lot_attestations_of(
        &self,
        lots: &[&LotId],
    ) -> Result<Vec<Vec<AttestationRecord>>, StoreError> {
        each!(self, s => s.lot_attestations_of(lots))
    }
    fn party_events(&self) -> Result<Vec<u64>, StoreError> {
        each!(self, s => s.party_events())
    }
    fn subject_states(&self) -> Result<Vec<(Digest, SubjectState)>, StoreError> {
        each!(self, s => s.subject_states())
    }
    fn acknowledged(&self) -> Result<Option<Head>, StoreError> {
        each!(self, s => s.acknowledged())
    }
    fn begin_append(&self) -> Result<Box<dyn AppendTxn + '_>, StoreError> {
        each!(self, s => s.begin_append())
    }
    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        each!(self, s => s.put_checkpoint(size, note))
    }
    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        each!(self, s => s.checkpoints())
    }
}

impl MerkleNodes for AnyStore {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        each!(self, s => s.merkle_node(level, index))
    }
    fn merkle_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Digest>>, StoreError> {
        each!(self, s => s.merkle_nodes(wanted))
    }
    fn merkle_range(&self, level: u8, from: u64, to: u64) -> Result<Vec<Digest>, StoreError> {
        each!(self, s => s.merkle_range(level, from, to))
    }
}

impl StateView for AnyStore {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        each!(self, s => s.party(id))
    }
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        each!(self, s => s.key_owner(key))
    }
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        each!(self, s => s.lot(id))
    }
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        each!(self, s => s.holding(lot, party))
    }
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        each!(self, s => s.shipment(id))
    }
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        each!(self, s => s.event(id))
    }
}
