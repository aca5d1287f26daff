//! The storage types: how each derived-state record is laid out on disk.
//!
//! The rules work on the core's state structs ([`ledger_core::state`]); a store writes these
//! types instead, converted on the way in and out. A core struct can then change (a field
//! added for a new rule) without silently changing bytes on disk: only a change here changes
//! the storage format, and any such change bumps [`crate::FORMAT_VERSION`]. Each type is
//! encoded with the canonical codec (bincode, fixed-width little-endian integers, fields in
//! the order written here); ids, quantities, times and attestation bodies keep the encodings
//! of the event format (`docs/format.md`), which golden vectors pin.

use ledger_core::Digest;
use ledger_core::event::{Attest, Kind, Role};
use ledger_core::id::{Country, LotId, Material, PartyId};
use ledger_core::keys::KeyBytes;
use ledger_core::quantity::{Content, Quantity, Unit};
use ledger_core::state::{
    AttestationRecord, EventRecord, Holding, KeyRecord, LotRecord, PartyRecord, ShipmentRecord,
};
use ledger_core::timestamp::Timestamp;
use serde::{Deserialize, Serialize};

/// `p/` records: an enrolled party.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredParty {
    /// Its id.
    pub id: PartyId,
    /// Its name.
    pub name: String,
    /// Where it is registered.
    pub country: Country,
    /// What it may do.
    pub roles: Vec<Role>,
    /// Every key ever enrolled for it.
    pub keys: Vec<StoredKey>,
}

/// One key of a [`StoredParty`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredKey {
    /// The key bytes (checked as a point when enrolled).
    pub key: KeyBytes,
    /// Log position of its enrollment.
    pub enrolled_seq: u64,
    /// Log position of its revocation, if revoked.
    pub revoked_seq: Option<u64>,
}

/// `l/` records: a lot as created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredLot {
    /// What it is.
    pub material: Material,
    /// Its unit.
    pub unit: Unit,
    /// The quantity created.
    pub created: Quantity,
    /// Components per unit.
    pub content: Content,
    /// Capacity per piece in watt-hours.
    pub capacity_wh: Option<u64>,
    /// The creating event.
    pub created_by: Digest,
    /// Its creator.
    pub creator: PartyId,
}

/// `h/` records: what a party holds of a lot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHolding {
    /// Quantity held, in the lot's unit.
    pub balance: u64,
    /// The event that last gave the party custody.
    pub source: Digest,
}

/// `s/` records: a shipment and its delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredShipment {
    /// Who shipped.
    pub sender: PartyId,
    /// Who it is addressed to.
    pub receiver: PartyId,
    /// When it left.
    pub time: Timestamp,
    /// What was shipped.
    pub lots: Vec<(LotId, Quantity)>,
    /// The `receive` that took delivery.
    pub received_by: Option<Digest>,
}

/// `v/` records: what the rules need of an appended event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredEvent {
    /// Its log position.
    pub seq: u64,
    /// Its time.
    pub time: Timestamp,
    /// Its actor.
    pub actor: PartyId,
    /// Its kind.
    pub kind: Kind,
    /// Lots it gave its actor custody of.
    pub credited: Vec<LotId>,
}

/// `a/` and `A/` records: an attestation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredAttestation {
    /// The attesting event.
    pub event: Digest,
    /// Its log position.
    pub seq: u64,
    /// The auditor.
    pub auditor: PartyId,
    /// When it was made.
    pub time: Timestamp,
    /// What it says, in the event format.
    pub attest: Attest,
}

/// Converts between a core state struct and its storage type, field by field.
macro_rules! storage_type {
    ($core:ident <=> $stored:ident { $($field:ident),* $(,)? }) => {
        impl From<&$core> for $stored {
            fn from(r: &$core) -> $stored {
                $stored { $($field: r.$field.clone().into()),* }
            }
        }
        impl From<$stored> for $core {
            fn from(r: $stored) -> $core {
                $core { $($field: r.$field.into()),* }
            }
        }
    };
}

storage_type!(KeyRecord <=> StoredKey { key, enrolled_seq, revoked_seq });
storage_type!(LotRecord <=> StoredLot { material, unit, created, content, capacity_wh, created_by, creator });
storage_type!(Holding <=> StoredHolding { balance, source });
storage_type!(ShipmentRecord <=> StoredShipment { sender, receiver, time, lots, received_by });
storage_type!(EventRecord <=> StoredEvent { seq, time, actor, kind, credited });
storage_type!(AttestationRecord <=> StoredAttestation { event, seq, auditor, time, attest });

impl From<&PartyRecord> for StoredParty {
    fn from(r: &PartyRecord) -> StoredParty {
        StoredParty {
            id: r.id.clone(),
            name: r.name.clone(),
            country: r.country.clone(),
            roles: r.roles.clone(),
            keys: r.keys.iter().map(StoredKey::from).collect(),
        }
    }
}

impl From<StoredParty> for PartyRecord {
    fn from(r: StoredParty) -> PartyRecord {
        PartyRecord {
            id: r.id,
            name: r.name,
            country: r.country,
            roles: r.roles,
            keys: r.keys.into_iter().map(KeyRecord::from).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ledger_core::codec;

    /// The storage layout of a holding, byte for byte: a change here is a storage
    /// format change and must bump `FORMAT_VERSION`.
    #[test]
    fn a_stored_holding_has_a_fixed_layout() {
        let holding = Holding {
            balance: 0x0102,
            source: Digest([7; 32]),
        };
        let bytes = codec::encode(&StoredHolding::from(&holding)).unwrap();
        let mut expected = vec![0x02, 0x01, 0, 0, 0, 0, 0, 0];
        expected.extend([7; 32]);
        assert_eq!(bytes, expected);
        let back: StoredHolding = codec::decode(&bytes).unwrap();
        assert_eq!(Holding::from(back), holding);
    }
}
