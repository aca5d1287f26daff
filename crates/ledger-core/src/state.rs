//! The ledger's derived state: parties and keys, lots, custody balances, shipments and
//! event records. The rule engine reads it through [`StateView`] and writes [`Changes`];
//! the store persists changes as indexes, and whole-ledger verification rebuilds them in
//! memory from the entries alone.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::event::{Attest, Kind, Role};
use crate::hash::Digest;
use crate::id::{Country, LotId, Material, PartyId};
use crate::keys::{KeyBytes, PublicKey};
use crate::quantity::{Content, Quantity, Unit};
use crate::timestamp::Timestamp;

mod compact;

pub use compact::{EventRecords, Holdings, LotRecords, ShipmentRecords};

/// A failure to read state. The core does no IO: the cause is whatever the view's backing
/// store reported, kept as the error's source so a caller can tell a store that is down
/// from one that is damaged (`downcast_ref` to the store's own error type).
#[derive(Debug, thiserror::Error)]
#[error("cannot read ledger state: {source}")]
pub struct StateError {
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl StateError {
    /// A state error caused by `source`.
    pub fn new(
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> StateError {
        StateError {
            source: source.into(),
        }
    }

    /// The cause, if it is an `E`.
    pub fn cause<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source.downcast_ref::<E>()
    }

    /// The cause itself if it is an `E`, else this error unchanged.
    pub fn into_cause<E: std::error::Error + Send + Sync + 'static>(self) -> Result<E, StateError> {
        self.source
            .downcast::<E>()
            .map(|cause| *cause)
            .map_err(|source| StateError { source })
    }
}

/// An enrolled party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyRecord {
    /// Its id.
    pub id: PartyId,
    /// Its name now.
    pub name: String,
    /// Where it is registered now.
    pub country: Country,
    /// What it may do now.
    pub roles: Vec<Role>,
    /// Every key ever enrolled for it, with its validity.
    pub keys: Vec<KeyRecord>,
    /// Its country and roles over time, oldest first: the enrollment, then each `amend`.
    /// Rules and reports read [`PartyRecord::roles_at`] and [`PartyRecord::country_at`] the
    /// position of the event concerned, so an amendment never changes the past.
    pub versions: Vec<PartyVersion>,
    /// Keys the party asked for (`request-key`) that the operator has not added yet.
    pub requested_keys: Vec<KeyRequest>,
}

impl PartyRecord {
    /// The record of `key`, if it was ever enrolled for this party.
    pub fn key(&self, key: &[u8; 32]) -> Option<&KeyRecord> {
        self.keys.iter().find(|k| k.key.as_bytes() == key)
    }

    /// The version in force at log position `seq` (the first, for a position before it).
    fn version_at(&self, seq: u64) -> Option<&PartyVersion> {
        self.versions
            .iter()
            .rev()
            .find(|v| v.since_seq <= seq)
            .or_else(|| self.versions.first())
    }

    /// Its roles at log position `seq`.
    pub fn roles_at(&self, seq: u64) -> &[Role] {
        self.version_at(seq).map_or(&self.roles, |v| &v.roles)
    }

    /// Its country at log position `seq`.
    pub fn country_at(&self, seq: u64) -> &Country {
        self.version_at(seq).map_or(&self.country, |v| &v.country)
    }
}

/// A party's country and roles from one log position on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartyVersion {
    /// The position of the `enroll` or `amend` that set them.
    pub since_seq: u64,
    /// The country.
    pub country: Country,
    /// The roles.
    pub roles: Vec<Role>,
}

/// A key a party asked for and the operator has not added yet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRequest {
    /// The `request-key` event.
    pub request: Digest,
    /// The key asked for.
    pub key: KeyBytes,
}

/// A key's enrollment and revocation positions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    /// The key: checked as a [`PublicKey`] when it was enrolled,
    /// kept as bytes so reading a party does not decompress every key again.
    pub key: KeyBytes,
    /// Log position of the enrollment.
    pub enrolled_seq: u64,
    /// Log position of the revocation, if revoked: the key signs nothing from there on.
    pub revoked_seq: Option<u64>,
}

/// A lot, as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LotRecord {
    /// What it is.
    pub material: Material,
    /// Its unit.
    pub unit: Unit,
    /// The quantity created.
    pub created: Quantity,
    /// Components per unit.
    pub content: Content,
    /// Capacity per piece, for cells and modules.
    pub capacity_wh: Option<u64>,
    /// Mass per piece in milligrams, for `pcs` lots.
    pub unit_mass_mg: Option<u64>,
    /// The creating event.
    pub created_by: Digest,
    /// Its creator.
    pub creator: PartyId,
}

/// What a party holds of a lot: one balance per receipt.
///
/// Each event that gave the party custody of the lot (its creation, or a `receive`) is a
/// receipt with its own balance, and a consuming event draws from the receipts its `from`
/// links name, never more than each holds. So the links of a consuming event account for
/// every gram it uses, and an intermediary cannot be left out of the chain by linking
/// another receipt of the same lot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Holding {
    /// The receipts, in log order; a drawn-down receipt stays, with balance 0.
    pub receipts: Vec<Receipt>,
}

impl Holding {
    /// The total held, in the lot's unit.
    pub fn balance(&self) -> u64 {
        self.receipts.iter().map(|r| r.balance).sum()
    }

    /// The receipt credited by event `source`.
    pub fn receipt_mut(&mut self, source: &Digest) -> Option<&mut Receipt> {
        self.receipts.iter_mut().find(|r| r.source == *source)
    }
}

/// One receipt of a lot by a party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// The event that gave the party custody: the link a consuming event names.
    pub source: Digest,
    /// What is left of it, in the lot's unit (grams or pieces).
    pub balance: u64,
}

/// A shipment and its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShipmentRecord {
    /// Who shipped.
    pub sender: PartyId,
    /// Who it is addressed to.
    pub receiver: PartyId,
    /// When it left.
    pub time: Timestamp,
    /// What was shipped.
    pub lots: Vec<(LotId, Quantity)>,
    /// The `receive` that took delivery, once there is one.
    pub received_by: Option<Digest>,
}

/// What the rules need to know about an appended event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventRecord {
    /// Its log position.
    pub seq: u64,
    /// Its time.
    pub time: Timestamp,
    /// Its actor.
    pub actor: PartyId,
    /// Its kind.
    pub kind: Kind,
}

/// An attestation as due-diligence rules read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationRecord {
    /// The attesting event.
    pub event: Digest,
    /// Its log position.
    pub seq: u64,
    /// The auditor.
    pub auditor: PartyId,
    /// When it was made.
    pub time: Timestamp,
    /// What it says.
    pub attest: Attest,
}

/// Read access to the state as of some log position.
pub trait StateView {
    /// An enrolled party.
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError>;
    /// The party a key is enrolled for.
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError>;
    /// A lot.
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError>;
    /// What `party` holds of `lot`.
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError>;
    /// A shipment, by the id of its `ship` event.
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError>;
    /// An appended event.
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError>;
}

/// State written by checking one or more statements, on top of a base view.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    /// Parties, whole records.
    pub parties: HashMap<PartyId, PartyRecord>,
    /// Key → owner.
    pub key_owners: HashMap<PublicKey, PartyId>,
    /// New lots.
    pub lots: LotRecords,
    /// Holdings, whole records.
    pub holdings: Holdings,
    /// Shipments, whole records.
    pub shipments: ShipmentRecords,
    /// New events.
    pub events: EventRecords,
    /// New attestations, in log order.
    pub attestations: Vec<AttestationRecord>,
}

/// The state records checking some statements may read, so a store behind a network can
/// fetch them in a few round trips before the rules run ([`crate::rules::reads`] lists them
/// for one statement). Sets, so a batch asks for each record once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StateKeys {
    /// Party records.
    pub parties: std::collections::BTreeSet<PartyId>,
    /// Key owners.
    pub key_owners: std::collections::BTreeSet<[u8; 32]>,
    /// Lot records.
    pub lots: std::collections::BTreeSet<LotId>,
    /// Holdings, by (lot, party).
    pub holdings: std::collections::BTreeSet<(LotId, PartyId)>,
    /// Shipment records, by ship event id.
    pub shipments: std::collections::BTreeSet<Digest>,
    /// Event records.
    pub events: std::collections::BTreeSet<Digest>,
}

/// A view that reads `changes` first and `base` for the rest.
pub struct Overlay<'a> {
    base: &'a dyn StateView,
    /// What has been written on top of the base.
    pub changes: Changes,
}

impl<'a> Overlay<'a> {
    /// An empty overlay on `base`.
    pub fn new(base: &'a dyn StateView) -> Overlay<'a> {
        Overlay {
            base,
            changes: Changes::default(),
        }
    }
}

/// The state of an empty ledger.
pub struct Empty;

impl StateView for Empty {
    fn party(&self, _: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        Ok(None)
    }
    fn key_owner(&self, _: &PublicKey) -> Result<Option<PartyId>, StateError> {
        Ok(None)
    }
    fn lot(&self, _: &LotId) -> Result<Option<LotRecord>, StateError> {
        Ok(None)
    }
    fn holding(&self, _: &LotId, _: &PartyId) -> Result<Option<Holding>, StateError> {
        Ok(None)
    }
    fn shipment(&self, _: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        Ok(None)
    }
    fn event(&self, _: &Digest) -> Result<Option<EventRecord>, StateError> {
        Ok(None)
    }
}

fn read<K, V>(
    map: &HashMap<K, V>,
    key: &K,
    base: impl FnOnce() -> Result<Option<V>, StateError>,
) -> Result<Option<V>, StateError>
where
    K: std::hash::Hash + Eq,
    V: Clone,
{
    match map.get(key) {
        Some(v) => Ok(Some(v.clone())),
        None => base(),
    }
}

impl StateView for Overlay<'_> {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        read(&self.changes.parties, id, || self.base.party(id))
    }
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        read(&self.changes.key_owners, key, || self.base.key_owner(key))
    }
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        match self.changes.lots.get(id) {
            Some(record) => Ok(Some(record)),
            None => self.base.lot(id),
        }
    }
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        match self.changes.holdings.get(lot, party) {
            Some(h) => Ok(Some(h.clone())),
            None => self.base.holding(lot, party),
        }
    }
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        match self.changes.shipments.get(id) {
            Some(record) => Ok(Some(record)),
            None => self.base.shipment(id),
        }
    }
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        match self.changes.events.get(id) {
            Some(record) => Ok(Some(record)),
            None => self.base.event(id),
        }
    }
}

/// Attestations grouped by the party they are about, for due-diligence checks.
pub type AttestationsByParty = BTreeMap<PartyId, Vec<AttestationRecord>>;
