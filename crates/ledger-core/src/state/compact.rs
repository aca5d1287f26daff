//! Compact tables of the derived state. A whole-ledger replay keeps a record of every
//! event, lot, holding and shipment of the log, so these tables are what its memory is
//! made of. Ids and other repeated values (lot and party ids, materials, contents) are
//! interned: each distinct value is kept once and records refer to it by its place. A
//! plain `HashMap<LotId, LotRecord>` kept a heap string for every id, material and creator
//! of every record, and a holding's key held two of them.
//!
//! Each table reads and writes whole records, as the plain maps did (reads build the record
//! back), so the rules, the stores and every [`StateView`](super::StateView) see the same
//! records.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};

use hashbrown::hash_table::{Entry, HashTable};

use super::{EventRecord, Holding, LotRecord, ShipmentRecord};
use crate::event::Kind;
use crate::hash::Digest;
use crate::id::{LotId, Material, PartyId};
use crate::quantity::{Content, Quantity, Unit};
use crate::timestamp::Timestamp;

/// Values interned: each distinct value kept once, known by its place. The index holds
/// places only and hashes the values where they are kept (which `std`'s `HashMap` cannot
/// do without keeping every value twice).
#[derive(Debug, Clone)]
struct Interned<T> {
    values: Vec<T>,
    places: HashTable<usize>,
    hasher: RandomState,
}

impl<T> Default for Interned<T> {
    fn default() -> Self {
        Interned {
            values: Vec::new(),
            places: HashTable::new(),
            hasher: RandomState::new(),
        }
    }
}

impl<T: Hash + Eq + Clone> Interned<T> {
    /// The place of `value`, if it was interned.
    fn place(&self, value: &T) -> Option<usize> {
        let hash = self.hasher.hash_one(value);
        self.places
            .find(hash, |&place| self.values.get(place) == Some(value))
            .copied()
    }

    /// The place of `value`, interning it (a clone) if it is new.
    fn intern(&mut self, value: &T) -> usize {
        let hash = self.hasher.hash_one(value);
        let (values, hasher) = (&self.values, &self.hasher);
        let entry = self.places.entry(
            hash,
            |&place| values.get(place) == Some(value),
            |&place| values.get(place).map_or(0, |v| hasher.hash_one(v)),
        );
        match entry {
            Entry::Occupied(found) => *found.get(),
            Entry::Vacant(free) => {
                let place = values.len();
                free.insert(place);
                self.values.push(value.clone());
                place
            }
        }
    }

    /// The value at `place`.
    fn get(&self, place: usize) -> Option<&T> {
        self.values.get(place)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.values.len()
    }
}

/// Event records by event id: the id interned at the place of a 32-byte record, its actor
/// interned. A `HashMap<Digest, usize>` index took a 40-byte slot per event (sized to a
/// power of two, so up to twice that); the interned ids take 32 bytes and a place.
#[derive(Debug, Clone, Default)]
pub struct EventRecords {
    /// Event id at place `i` ↔ `records[i]`.
    ids: Interned<Digest>,
    records: Vec<CompactEvent>,
    actors: Interned<PartyId>,
}

/// An [`EventRecord`] with its actor interned.
#[derive(Debug, Clone, Copy)]
struct CompactEvent {
    seq: u64,
    time: Timestamp,
    actor: usize,
    kind: Kind,
}

impl EventRecords {
    /// Records `record` for event `id`, replacing any earlier record of it.
    pub fn insert(&mut self, id: Digest, record: EventRecord) {
        let compact = CompactEvent {
            seq: record.seq,
            time: record.time,
            actor: self.actors.intern(&record.actor),
            kind: record.kind,
        };
        let place = self.ids.intern(&id);
        match self.records.get_mut(place) {
            Some(slot) => *slot = compact,
            None => self.records.push(compact),
        }
    }

    /// The record of event `id`.
    pub fn get(&self, id: &Digest) -> Option<EventRecord> {
        self.record(self.ids.place(id)?)
    }

    /// How many events have a record.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no event has a record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Every `(event id, record)`, in the order the events were first recorded.
    pub fn iter(&self) -> impl Iterator<Item = (Digest, EventRecord)> + '_ {
        (0..self.records.len())
            .filter_map(|place| Some((*self.ids.get(place)?, self.record(place)?)))
    }

    /// The record at `place`; `None` only if the places were inconsistent, which
    /// [`EventRecords::insert`] never makes them.
    fn record(&self, place: usize) -> Option<EventRecord> {
        let compact = self.records.get(place)?;
        Some(EventRecord {
            seq: compact.seq,
            time: compact.time,
            actor: self.actors.get(compact.actor)?.clone(),
            kind: compact.kind,
        })
    }
}

impl Extend<(Digest, EventRecord)> for EventRecords {
    fn extend<I: IntoIterator<Item = (Digest, EventRecord)>>(&mut self, records: I) {
        for (id, record) in records {
            self.insert(id, record);
        }
    }
}

/// Lot records by lot id. A lot's id is interned at the place of its record; its material,
/// content and creator are interned too (a ledger has few distinct ones).
#[derive(Debug, Clone, Default)]
pub struct LotRecords {
    /// Lot id at place `i` ↔ `records[i]`.
    ids: Interned<LotId>,
    records: Vec<CompactLot>,
    materials: Interned<Material>,
    contents: Interned<Content>,
    creators: Interned<PartyId>,
}

/// A [`LotRecord`] with its material, content and creator interned.
#[derive(Debug, Clone, Copy)]
struct CompactLot {
    created_by: Digest,
    created: Quantity,
    capacity_wh: Option<u64>,
    unit_mass_mg: Option<u64>,
    material: usize,
    content: usize,
    creator: usize,
    unit: Unit,
}

impl LotRecords {
    /// Records `record` for lot `id`, replacing any earlier record of it.
    pub fn insert(&mut self, id: &LotId, record: LotRecord) {
        let compact = CompactLot {
            created_by: record.created_by,
            created: record.created,
            capacity_wh: record.capacity_wh,
            unit_mass_mg: record.unit_mass_mg,
            material: self.materials.intern(&record.material),
            content: self.contents.intern(&record.content),
            creator: self.creators.intern(&record.creator),
            unit: record.unit,
        };
        let place = self.ids.intern(id);
        match self.records.get_mut(place) {
            Some(slot) => *slot = compact,
            None => self.records.push(compact),
        }
    }

    /// The record of lot `id`.
    pub fn get(&self, id: &LotId) -> Option<LotRecord> {
        self.record(self.ids.place(id)?)
    }

    /// How many lots have a record.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether no lot has a record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The ids of the lots with a record, in the order they were first recorded.
    pub fn ids(&self) -> impl Iterator<Item = &LotId> + '_ {
        self.ids.values.iter()
    }

    /// Every `(lot id, record)`, in the order the lots were first recorded.
    pub fn iter(&self) -> impl Iterator<Item = (LotId, LotRecord)> + '_ {
        (0..self.records.len())
            .filter_map(|place| Some((self.ids.get(place)?.clone(), self.record(place)?)))
    }

    /// The record at `place`; `None` only if the places were inconsistent, which
    /// [`LotRecords::insert`] never makes them.
    fn record(&self, place: usize) -> Option<LotRecord> {
        let lot = self.records.get(place)?;
        Some(LotRecord {
            material: self.materials.get(lot.material)?.clone(),
            unit: lot.unit,
            created: lot.created,
            content: self.contents.get(lot.content)?.clone(),
            capacity_wh: lot.capacity_wh,
            unit_mass_mg: lot.unit_mass_mg,
            created_by: lot.created_by,
            creator: self.creators.get(lot.creator)?.clone(),
        })
    }
}

impl Extend<(LotId, LotRecord)> for LotRecords {
    fn extend<I: IntoIterator<Item = (LotId, LotRecord)>>(&mut self, records: I) {
        for (id, record) in records {
            self.insert(&id, record);
        }
    }
}

/// What each party holds of each lot, by (lot, party), both interned: the key of a
/// holding is two places, not two strings.
#[derive(Debug, Clone, Default)]
pub struct Holdings {
    lots: Interned<LotId>,
    parties: Interned<PartyId>,
    /// (lot place, party place) → the holding.
    map: HashMap<(usize, usize), Holding>,
}

impl Holdings {
    /// Records what `party` holds of `lot`, replacing any earlier holding.
    pub fn insert(&mut self, lot: &LotId, party: &PartyId, holding: Holding) {
        let key = (self.lots.intern(lot), self.parties.intern(party));
        self.map.insert(key, holding);
    }

    /// What `party` holds of `lot`.
    pub fn get(&self, lot: &LotId, party: &PartyId) -> Option<&Holding> {
        let key = (self.lots.place(lot)?, self.parties.place(party)?);
        self.map.get(&key)
    }

    /// How many (lot, party) pairs have a holding.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no party holds any lot.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every `((lot, party), holding)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = ((LotId, PartyId), Holding)> + '_ {
        self.map.iter().filter_map(|(&(lot, party), holding)| {
            let key = (
                self.lots.get(lot)?.clone(),
                self.parties.get(party)?.clone(),
            );
            Some((key, holding.clone()))
        })
    }
}

impl Extend<((LotId, PartyId), Holding)> for Holdings {
    fn extend<I: IntoIterator<Item = ((LotId, PartyId), Holding)>>(&mut self, holdings: I) {
        for ((lot, party), holding) in holdings {
            self.insert(&lot, &party, holding);
        }
    }
}

/// Shipment records by the id of their `ship` event, with the parties and the lots they
/// carry interned.
#[derive(Debug, Clone, Default)]
pub struct ShipmentRecords {
    map: HashMap<Digest, CompactShipment>,
    parties: Interned<PartyId>,
    lots: Interned<LotId>,
}

/// A [`ShipmentRecord`] with its parties and lots interned.
#[derive(Debug, Clone)]
struct CompactShipment {
    received_by: Option<Digest>,
    time: Timestamp,
    sender: usize,
    receiver: usize,
    lots: Box<[(usize, Quantity)]>,
}

impl ShipmentRecords {
    /// Records `record` for the shipment `ship`, replacing any earlier record of it.
    pub fn insert(&mut self, ship: Digest, record: ShipmentRecord) {
        let compact = CompactShipment {
            received_by: record.received_by,
            time: record.time,
            sender: self.parties.intern(&record.sender),
            receiver: self.parties.intern(&record.receiver),
            lots: record
                .lots
                .iter()
                .map(|(lot, quantity)| (self.lots.intern(lot), *quantity))
                .collect(),
        };
        self.map.insert(ship, compact);
    }

    /// The record of the shipment `ship`.
    pub fn get(&self, ship: &Digest) -> Option<ShipmentRecord> {
        self.record(self.map.get(ship)?)
    }

    /// How many shipments have a record.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no shipment has a record.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Every `(ship event id, record)`, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (Digest, ShipmentRecord)> + '_ {
        self.map
            .iter()
            .filter_map(|(id, shipment)| Some((*id, self.record(shipment)?)))
    }

    /// The record of `shipment`; `None` only if the places were inconsistent, which
    /// [`ShipmentRecords::insert`] never makes them.
    fn record(&self, shipment: &CompactShipment) -> Option<ShipmentRecord> {
        let lots = shipment
            .lots
            .iter()
            .map(|&(lot, quantity)| Some((self.lots.get(lot)?.clone(), quantity)))
            .collect::<Option<Vec<_>>>()?;
        Some(ShipmentRecord {
            sender: self.parties.get(shipment.sender)?.clone(),
            receiver: self.parties.get(shipment.receiver)?.clone(),
            time: shipment.time,
            lots,
            received_by: shipment.received_by,
        })
    }
}

impl Extend<(Digest, ShipmentRecord)> for ShipmentRecords {
    fn extend<I: IntoIterator<Item = (Digest, ShipmentRecord)>>(&mut self, records: I) {
        for (id, record) in records {
            self.insert(id, record);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;
    use crate::state::Receipt;

    fn party(n: u8) -> PartyId {
        PartyId::new(format!("party-{n}")).unwrap()
    }

    fn lot(n: u8) -> LotId {
        LotId::new(format!("LOT-{n}")).unwrap()
    }

    fn time(seq: u64) -> Timestamp {
        Timestamp::from_unix(1_700_000_000 + seq as i64).unwrap()
    }

    fn event(seq: u64, actor: u8, kind: Kind) -> EventRecord {
        EventRecord {
            seq,
            time: time(seq),
            actor: party(actor),
            kind,
        }
    }

    /// A lot record drawn from a few materials, contents and creators, every optional
    /// field present or not.
    fn lot_record(n: u64, pieces: bool, creator: u8, optional: bool) -> LotRecord {
        let material =
            Material::new(["cobalt-ore", "cell", "cobalt-sulfate"][n as usize % 3]).unwrap();
        let component = crate::id::Component::new(["Co", "Li"][n as usize % 2]).unwrap();
        LotRecord {
            material,
            unit: if pieces { Unit::Pcs } else { Unit::Kg },
            created: if pieces {
                Quantity::Pieces(n)
            } else {
                Quantity::Grams(n)
            },
            content: [(component, 1 + n % 4)].into_iter().collect(),
            capacity_wh: optional.then_some(n + 1),
            unit_mass_mg: optional.then_some(n + 2),
            created_by: Digest::of(&[&n.to_be_bytes()]),
            creator: party(creator),
        }
    }

    proptest! {
        /// Inserts (some of them replacing a record, most actors repeating) read back exactly
        /// as a plain map of the same records does.
        #[test]
        fn event_records_read_back_as_a_map_of_the_same_records(
            inserts in proptest::collection::vec((0u8..40, 0u64..1000, 0u8..6, any::<bool>()), 0..200),
        ) {
            let mut compact = EventRecords::default();
            let mut model = HashMap::new();
            for (id, seq, actor, ship) in inserts {
                let id = Digest::of(&[&[id]]);
                let kind = if ship { Kind::Ship } else { Kind::Extract };
                compact.insert(id, event(seq, actor, kind));
                model.insert(id, event(seq, actor, kind));
            }
            prop_assert_eq!(compact.len(), model.len());
            prop_assert_eq!(compact.is_empty(), model.is_empty());
            for n in 0u8..40 {
                let id = Digest::of(&[&[n]]);
                prop_assert_eq!(compact.get(&id), model.get(&id).cloned());
            }
            let listed: HashMap<Digest, EventRecord> = compact.iter().collect();
            prop_assert_eq!(listed, model);
            prop_assert!(compact.actors.len() <= 6, "each actor is kept once");
        }

        /// Lot records, replaced or not, read back as a plain map of them does; ids are
        /// listed in the order they were first recorded, and repeated values kept once.
        #[test]
        fn lot_records_read_back_as_a_map_of_the_same_records(
            inserts in proptest::collection::vec((0u8..30, 0u64..50, any::<bool>(), 0u8..4, any::<bool>()), 0..120),
        ) {
            let mut compact = LotRecords::default();
            let mut model = HashMap::new();
            let mut first_seen = Vec::new();
            for (id, n, pieces, creator, optional) in inserts {
                let record = lot_record(n, pieces, creator, optional);
                if !model.contains_key(&lot(id)) {
                    first_seen.push(lot(id));
                }
                compact.insert(&lot(id), record.clone());
                model.insert(lot(id), record);
            }
            prop_assert_eq!(compact.len(), model.len());
            prop_assert_eq!(compact.is_empty(), model.is_empty());
            for n in 0u8..30 {
                prop_assert_eq!(compact.get(&lot(n)), model.get(&lot(n)).cloned());
            }
            prop_assert_eq!(compact.ids().cloned().collect::<Vec<_>>(), first_seen);
            let listed: HashMap<LotId, LotRecord> = compact.iter().collect();
            prop_assert_eq!(listed, model);
            prop_assert!(compact.materials.len() <= 3 && compact.contents.len() <= 8 && compact.creators.len() <= 4);
        }

        /// Holdings, by (lot, party), read back as a plain map keyed by both ids does.
        #[test]
        fn holdings_read_back_as_a_map_of_the_same_holdings(
            inserts in proptest::collection::vec((0u8..12, 0u8..5, proptest::collection::vec(0u64..100, 0..4)), 0..120),
        ) {
            let mut compact = Holdings::default();
            let mut model = HashMap::new();
            for (l, p, balances) in inserts {
                let holding = Holding {
                    receipts: balances
                        .iter()
                        .map(|&balance| Receipt { source: Digest::of(&[&balance.to_be_bytes()]), balance })
                        .collect(),
                };
                compact.insert(&lot(l), &party(p), holding.clone());
                model.insert((lot(l), party(p)), holding);
            }
            prop_assert_eq!(compact.len(), model.len());
            prop_assert_eq!(compact.is_empty(), model.is_empty());
            for l in 0u8..12 {
                for p in 0u8..6 {
                    prop_assert_eq!(compact.get(&lot(l), &party(p)), model.get(&(lot(l), party(p))));
                }
            }
            let listed: HashMap<(LotId, PartyId), Holding> = compact.iter().collect();
            prop_assert_eq!(listed, model);
        }

        /// Shipment records, received or not and replaced, read back as a plain map does,
        /// their lot lines in order.
        #[test]
        fn shipment_records_read_back_as_a_map_of_the_same_records(
            inserts in proptest::collection::vec(
                (0u8..20, 0u8..4, 0u8..4, proptest::collection::vec((0u8..10, 1u64..1000), 0..4), any::<bool>()),
                0..100,
            ),
        ) {
            let mut compact = ShipmentRecords::default();
            let mut model = HashMap::new();
            for (id, sender, receiver, lines, received) in inserts {
                let id = Digest::of(&[&[id]]);
                let record = ShipmentRecord {
                    sender: party(sender),
                    receiver: party(receiver),
                    time: time(u64::from(sender)),
                    lots: lines.iter().map(|&(l, grams)| (lot(l), Quantity::Grams(grams))).collect(),
                    received_by: received.then(|| Digest::of(&[b"receive"])),
                };
                compact.insert(id, record.clone());
                model.insert(id, record);
            }
            prop_assert_eq!(compact.len(), model.len());
            prop_assert_eq!(compact.is_empty(), model.is_empty());
            for n in 0u8..20 {
                let id = Digest::of(&[&[n]]);
                prop_assert_eq!(compact.get(&id), model.get(&id).cloned());
            }
            let listed: HashMap<Digest, ShipmentRecord> = compact.iter().collect();
            prop_assert_eq!(listed, model);
        }
    }
}
