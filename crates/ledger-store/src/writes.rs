//! What an append writes besides its entries and head, as `(key, value)` records under the
//! keys of [`crate::keys`], and the checks a plan must pass first: one place, so that every
//! backend writes the same records and refuses the same plans.

use std::collections::{BTreeMap, HashSet};

use ledger_core::event::Subject;
use ledger_core::state::AttestationRecord;

use crate::keys;
use crate::records::{
    StoredAttestation, StoredEvent, StoredHolding, StoredLot, StoredParty, StoredShipment,
    StoredSubject,
};
use crate::sled_store::encode;
use crate::{AppendPlan, Head, StoreError};

/// Checks `plan` against the current `head`, without writing anything. The plan's entries,
/// nodes and head are consistent by construction; its state changes come from the rules and
/// must name positions inside the plan.
///
/// Fails with [`StoreError::Conflict`] if the plan does not start at `head`, and with
/// [`StoreError::InvalidBatch`] if a state change names a position outside it.
pub fn check_plan(head: &Head, plan: &AppendPlan) -> Result<(), StoreError> {
    let invalid = |reason: String| Err(StoreError::InvalidBatch { reason });
    if plan.start() != *head {
        return Err(StoreError::Conflict {
            expected: head.size,
            found: plan.start().size,
        });
    }
    let end = plan.head().size;
    let in_plan = |seq: u64| (head.size..end).contains(&seq);
    let changes = plan.changes();
    for (id, event) in changes.events.iter() {
        if !in_plan(event.seq) {
            return invalid(format!(
                "event {id} has log position {} outside the batch",
                event.seq
            ));
        }
    }
    let mut seen = HashSet::new();
    for a in &changes.attestations {
        if !in_plan(a.seq) {
            return invalid(format!(
                "attestation {} has log position {} outside the batch",
                a.event, a.seq
            ));
        }
        if !seen.insert(attestation_key(a)) {
            return invalid(format!(
                "two attestations about one subject at log position {}",
                a.seq
            ));
        }
    }
    Ok(())
}

/// Every record `plan` writes except its entries and the head: state records as storage
/// types, Merkle nodes, and the lot, party and subject indexes, by key (a key written twice
/// keeps its last value, as a sled batch does).
pub fn records(plan: &AppendPlan) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, StoreError> {
    let mut out = BTreeMap::new();
    let changes = plan.changes();
    for (id, record) in &changes.parties {
        out.insert(
            keys::party(id),
            encode("party record", &StoredParty::from(record))?,
        );
    }
    for (key, owner) in &changes.key_owners {
        out.insert(keys::key_owner(key), encode("key owner", owner)?);
    }
    for (id, record) in changes.lots.iter() {
        out.insert(
            keys::lot(&id),
            encode("lot record", &StoredLot::from(&record))?,
        );
    }
    for ((lot, party), holding) in changes.holdings.iter() {
        out.insert(
            keys::holding(&lot, &party),
            encode("holding", &StoredHolding::from(&holding))?,
        );
    }
    for (id, record) in changes.shipments.iter() {
        out.insert(
            keys::shipment(&id),
            encode("shipment record", &StoredShipment::from(&record))?,
        );
    }
    for (id, record) in changes.events.iter() {
        out.insert(
            keys::event(&id),
            encode("event record", &StoredEvent::from(&record))?,
        );
    }
    for record in &changes.attestations {
        out.insert(
            attestation_key(record),
            encode("attestation record", &StoredAttestation::from(record))?,
        );
    }
    for (level, index, hash) in plan.merkle_nodes() {
        out.insert(keys::merkle(*level, *index), encode("merkle node", hash)?);
    }
    for (lot, seq) in plan.lot_events() {
        out.insert(keys::lot_event(lot, *seq), Vec::new());
    }
    for seq in plan.party_events() {
        out.insert(keys::party_event(*seq), Vec::new());
    }
    for (key, state) in plan.subjects() {
        let stored = StoredSubject {
            count: state.count,
            chain: state.chain,
        };
        out.insert(keys::subject(key), encode("subject state", &stored)?);
    }
    Ok(out)
}

/// The key an attestation is stored under, by its subject.
pub fn attestation_key(record: &AttestationRecord) -> Vec<u8> {
    match &record.attest.subject {
        Subject::Party(party) => keys::party_attestation(party, record.seq),
        Subject::Lot(lot) => keys::lot_attestation(lot, record.seq),
    }
}
