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
    AttestationRecord, EventRecord, Holding, KeyRecord, KeyRequest, LotRecord, PartyRecord,
    PartyVersion, Receipt, ShipmentRecord,
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
    /// Its country and roles over time: (since position, country, roles), oldest first.
    pub versions: Vec<(u64, Country, Vec<Role>)>,
    /// Keys requested and not added yet: (request event, key).
    pub requested_keys: Vec<(Digest, KeyBytes)>,
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
    /// Mass per piece in milligrams, for `pcs` lots.
    pub unit_mass_mg: Option<u64>,
    /// The creating event.
    pub created_by: Digest,
    /// Its creator.
    pub creator: PartyId,
}

/// `h/` records: what a party holds of a lot, one balance per receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHolding {
    /// The receipts in log order: (crediting event, quantity left in the lot's unit).
    pub receipts: Vec<(Digest, u64)>,
}

impl From<&Holding> for StoredHolding {
    fn from(h: &Holding) -> StoredHolding {
        StoredHolding {
            receipts: h.receipts.iter().map(|r| (r.source, r.balance)).collect(),
        }
    }
}

impl From<StoredHolding> for Holding {
    fn from(h: StoredHolding) -> Holding {
        Holding {
            receipts: h
                .receipts
                .into_iter()
                .map(|(source, balance)| Receipt { source, balance })
                .collect(),
        }
    }
}

/// `x/` records: how many entries are about a subject (a party or an attested lot) and
/// the hash chain over them (`ledger_core::subjects`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSubject {
    /// The number of entries.
    pub count: u64,
    /// The chain over them.
    pub chain: Digest,
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
storage_type!(LotRecord <=> StoredLot { material, unit, created, content, capacity_wh, unit_mass_mg, created_by, creator });
storage_type!(ShipmentRecord <=> StoredShipment { sender, receiver, time, lots, received_by });
storage_type!(EventRecord <=> StoredEvent { seq, time, actor, kind });
storage_type!(AttestationRecord <=> StoredAttestation { event, seq, auditor, time, attest });

impl From<&PartyRecord> for StoredParty {
    fn from(r: &PartyRecord) -> StoredParty {
        StoredParty {
            id: r.id.clone(),
            name: r.name.clone(),
            country: r.country.clone(),
            roles: r.roles.clone(),
            keys: r.keys.iter().map(StoredKey::from).collect(),
            versions: r
                .versions
                .iter()
                .map(|v| (v.since_seq, v.country.clone(), v.roles.clone()))
                .collect(),
            requested_keys: r
                .requested_keys
                .iter()
                .map(|k| (k.request, k.key))
                .collect(),
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
            versions: r
                .versions
                .into_iter()
                .map(|(since_seq, country, roles)| PartyVersion {
                    since_seq,
                    country,
                    roles,
                })
                .collect(),
            requested_keys: r
                .requested_keys
                .into_iter()
                .map(|(request, key)| KeyRequest { request, key })
                .collect(),
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
            receipts: vec![Receipt {
                source: Digest([7; 32]),
                balance: 0x0102,
            }],
        };
        let bytes = codec::encode(&StoredHolding::from(&holding)).unwrap();
        // The receipt count (u64), then per receipt its event id and balance.
        let mut expected = vec![1, 0, 0, 0, 0, 0, 0, 0];
        expected.extend([7; 32]);
        expected.extend([0x02, 0x01, 0, 0, 0, 0, 0, 0]);
        assert_eq!(bytes, expected);
        let back: StoredHolding = codec::decode(&bytes).unwrap();
        assert_eq!(Holding::from(back), holding);
    }
}
