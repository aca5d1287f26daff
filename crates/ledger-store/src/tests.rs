//! Tests of the sled backend through the [`Store`], [`AppendTxn`] and [`StateView`] traits:
//! round trips, atomicity, conflicts, indexes, positions, format version, locking and
//! damaged storage.
//!
//! Appends go through the real path: [`Store::begin_append`], a [`PlanBuilder`] on the
//! transaction's head and nodes, [`AppendTxn::commit`]. Entry bytes are arbitrary (a store
//! never interprets them); the plan derives leaves and head from them.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use ledger_core::event::{
    Attest, Body, CapSeverity, Claim, Enroll, Event, Kind, LotMove, Outcome, Revoke, Role, Ship,
    Subject,
};
use ledger_core::id::{Component, Country, LotId, Material, PartyId};
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::merkle::{self, MemoryTree, node_hash};
use ledger_core::plan::{PlanBuilder, PlanError};
use ledger_core::quantity::{Quantity, Unit};
use ledger_core::state::{
    AttestationRecord, Changes, EventRecord, Holding, KeyRecord, KeyRequest, LotRecord,
    PartyRecord, PartyVersion, Receipt, ShipmentRecord, StateView,
};
use ledger_core::statement::entry_hash;
use ledger_core::subjects::Subjects;
use ledger_core::timestamp::Timestamp;
use proptest::prelude::*;

use super::*;
use crate::keys;

fn party_id(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

fn lot_id(s: &str) -> LotId {
    LotId::new(s).unwrap()
}

fn time(seconds: i64) -> Timestamp {
    Timestamp::from_unix(seconds).unwrap()
}

fn public_key(seed: u8) -> PublicKey {
    SecretKey::from_seed(&[seed; 32]).public_key()
}

fn digest(label: &str) -> Digest {
    Digest::of(&[label.as_bytes()])
}

fn new_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::create(dir.path(), "custody.example/log").unwrap();
    (dir, store)
}

fn entry_bytes(seq: u64) -> Vec<u8> {
    format!("entry {seq}").into_bytes()
}

fn two_entries() -> Vec<Vec<u8>> {
    vec![entry_bytes(0), entry_bytes(1)]
}

/// An event with `body`; only the body matters to a store (which indexes it names).
fn event(body: Body) -> Event {
    Event {
        actor: party_id("operator"),
        time: time(1_700_000_000),
        nonce: 0,
        emissions_g_co2e: None,
        documents: Vec::new(),
        body,
    }
}

/// An event that names no lot and is neither an enroll nor a revoke: no index lists it.
fn plain_event() -> Event {
    event(Body::Attest(attest(Subject::Party(party_id("kivu")))))
}

fn enroll_event() -> Event {
    event(Body::Enroll(Enroll {
        party: party_id("kivu"),
        name: "kivu ltd".into(),
        country: Country::parse("CD").unwrap(),
        roles: vec![Role::Miner],
        keys: vec![public_key(7)],
    }))
}

fn revoke_event() -> Event {
    event(Body::Revoke(Revoke {
        party: party_id("kivu"),
        key: public_key(7),
    }))
}

/// A shipment of each of `lots`: an event naming them.
fn ship_event(lots: &[&str]) -> Event {
    event(Body::Ship(Ship {
        to: party_id("refiner"),
        lots: lots
            .iter()
            .map(|lot| LotMove {
                lot: lot_id(lot),
                quantity: Quantity::Grams(1_000),
                from: digest("extract"),
            })
            .collect(),
    }))
}

/// The plan appending `entries` (bytes, indexed as their event) on `txn`'s head.
fn plan(txn: &dyn AppendTxn, entries: &[(Vec<u8>, Event)], changes: Changes) -> AppendPlan {
    let nodes = Nodes(txn);
    let mut builder = PlanBuilder::new(txn.head(), &nodes, Subjects::default());
    for (bytes, event) in entries {
        builder
            .push_entry_bytes(bytes.clone(), &Digest::ZERO, event)
            .unwrap();
    }
    builder.finish(changes).unwrap()
}

/// `entries`, each indexed as [`plain_event`].
fn plain(entries: &[Vec<u8>]) -> Vec<(Vec<u8>, Event)> {
    entries.iter().map(|b| (b.clone(), plain_event())).collect()
}

/// Appends `entries` in one transaction (begin, plan, commit); returns the new head.
fn commit_events(
    store: &SledStore,
    entries: &[(Vec<u8>, Event)],
    changes: Changes,
) -> Result<Head, StoreError> {
    let txn = store.begin_append()?;
    let plan = plan(&*txn, entries, changes);
    txn.commit(&plan)?;
    Ok(plan.head())
}

/// Appends `entries`, indexed nowhere, in one transaction; returns the new head.
fn commit(store: &SledStore, entries: &[Vec<u8>], changes: Changes) -> Result<Head, StoreError> {
    commit_events(store, &plain(entries), changes)
}

/// Appends `count` entries with no state changes; returns the new head.
fn append_plain(store: &SledStore, count: u64) -> Head {
    let start = store.head().unwrap().size;
    let entries: Vec<_> = (start..start + count).map(entry_bytes).collect();
    commit(store, &entries, Changes::default()).unwrap()
}

/// The error `begin_append` fails with (a transaction is not `Debug`, so no `unwrap_err`).
fn begin_append_error(store: &SledStore) -> StoreError {
    match store.begin_append() {
        Ok(_) => panic!("begin_append succeeded"),
        Err(e) => e,
    }
}

/// A plan built on the current head in a transaction that is then dropped uncommitted.
fn stale_plan(store: &SledStore, entries: &[Vec<u8>], changes: Changes) -> AppendPlan {
    let txn = store.begin_append().unwrap();
    plan(&*txn, &plain(entries), changes)
}

fn party_record(id: &str, key: PublicKey) -> PartyRecord {
    PartyRecord {
        id: party_id(id),
        name: format!("{id} ltd"),
        country: Country::parse("CD").unwrap(),
        roles: vec![Role::Miner, Role::Trader],
        keys: vec![KeyRecord {
            key: key.into(),
            enrolled_seq: 0,
            revoked_seq: Some(1),
        }],
        versions: vec![
            PartyVersion {
                since_seq: 0,
                country: Country::parse("CD").unwrap(),
                roles: vec![Role::Miner],
            },
            PartyVersion {
                since_seq: 3,
                country: Country::parse("CD").unwrap(),
                roles: vec![Role::Miner, Role::Trader],
            },
        ],
        requested_keys: vec![KeyRequest {
            request: digest("request"),
            key: key.into(),
        }],
    }
}

fn attest(subject: Subject) -> Attest {
    Attest {
        subject,
        claim: Claim::CapOpened,
        result: Some(Outcome::Conditional),
        score: Some(71),
        reference: Some("CAP-7".into()),
        severity: Some(CapSeverity::Major),
        valid_until: Some(time(1_800_000_000)),
    }
}

fn attestation(seq: u64, subject: Subject) -> AttestationRecord {
    AttestationRecord {
        event: digest(&format!("attest {seq}")),
        seq,
        auditor: party_id("auditor"),
        time: time(1_700_000_000 + seq as i64),
        attest: attest(subject),
    }
}

/// Changes with one record of every kind, all at log positions `0..2`.
fn sample_changes() -> Changes {
    let mut c = Changes::default();
    let key = public_key(7);
    c.parties
        .insert(party_id("kivu"), party_record("kivu", key));
    c.key_owners.insert(key, party_id("kivu"));
    c.lots.insert(
        lot_id("LOT-1"),
        LotRecord {
            material: Material::new("cobalt-ore").unwrap(),
            unit: Unit::Kg,
            created: Quantity::Grams(19_950_500),
            content: BTreeMap::from([(Component::parse("Co").unwrap(), 31_000)]),
            capacity_wh: None,
            unit_mass_mg: None,
            created_by: digest("extract"),
            creator: party_id("kivu"),
        },
    );
    c.holdings.insert(
        (lot_id("LOT-1"), party_id("kivu")),
        Holding {
            receipts: vec![
                Receipt {
                    source: digest("extract"),
                    balance: 19_950_500,
                },
                Receipt {
                    source: digest("receive"),
                    balance: 0,
                },
            ],
        },
    );
    c.shipments.insert(
        digest("ship"),
        ShipmentRecord {
            sender: party_id("kivu"),
            receiver: party_id("refiner"),
            time: time(1_700_000_100),
            lots: vec![(lot_id("LOT-1"), Quantity::Grams(1_000))],
            received_by: Some(digest("receive")),
        },
    );
    c.events.insert(
        digest("extract"),
        EventRecord {
            seq: 0,
            time: time(1_700_000_000),
            actor: party_id("kivu"),
            kind: Kind::Extract,
        },
    );
    c.attestations
        .push(attestation(0, Subject::Party(party_id("kivu"))));
    c.attestations
        .push(attestation(1, Subject::Lot(lot_id("LOT-1"))));
    c
}

/// Asserts that the store shows none of [`sample_changes`].
fn assert_no_sample_changes(store: &SledStore) {
    assert_eq!(store.party(&party_id("kivu")).unwrap(), None);
    assert_eq!(store.key_owner(&public_key(7)).unwrap(), None);
    assert_eq!(store.lot(&lot_id("LOT-1")).unwrap(), None);
    assert_eq!(
        store.holding(&lot_id("LOT-1"), &party_id("kivu")).unwrap(),
        None
    );
    assert_eq!(store.shipment(&digest("ship")).unwrap(), None);
    assert_eq!(store.event(&digest("extract")).unwrap(), None);
    assert!(store.attestations(&party_id("kivu")).unwrap().is_empty());
    assert!(store.lot_attestations(&lot_id("LOT-1")).unwrap().is_empty());
}

/// Asserts that the store shows none of [`sample_changes`], no entries and no index
/// records, and has acknowledged nothing.
fn assert_nothing_written(store: &SledStore) {
    assert_eq!(store.head().unwrap(), Head::EMPTY);
    assert_eq!(store.acknowledged().unwrap(), None);
    assert_eq!(store.entry(0).unwrap(), None);
    assert_eq!(store.entries(0).count(), 0);
    assert_no_sample_changes(store);
    assert_eq!(store.merkle_node(0, 0).unwrap(), None);
    assert!(store.lot_events(&lot_id("LOT-1")).unwrap().is_empty());
    assert!(store.party_events().unwrap().is_empty());
}

#[test]
fn create_gives_an_empty_log_with_its_origin() {
    let (_dir, store) = new_store();
    assert_eq!(store.head().unwrap(), Head::EMPTY);
    assert_eq!(store.origin().unwrap(), "custody.example/log");
    assert_eq!(store.entries(0).count(), 0);
    assert!(store.checkpoints().unwrap().is_empty());
}

#[test]
fn every_record_type_round_trips_through_append_and_state_view() {
    let (_dir, store) = new_store();
    let changes = sample_changes();
    let head = commit(&store, &two_entries(), changes.clone()).unwrap();

    assert_eq!(
        head,
        Head {
            size: 2,
            last: entry_hash(&entry_bytes(1))
        }
    );
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.acknowledged().unwrap(), Some(head));
    assert_eq!(store.entry(1).unwrap(), Some(entry_bytes(1)));
    assert_eq!(store.entry(2).unwrap(), None);
    for (id, record) in &changes.parties {
        assert_eq!(store.party(id).unwrap().as_ref(), Some(record));
    }
    for (key, owner) in &changes.key_owners {
        assert_eq!(store.key_owner(key).unwrap().as_ref(), Some(owner));
    }
    for (id, record) in &changes.lots {
        assert_eq!(store.lot(id).unwrap().as_ref(), Some(record));
    }
    for ((lot, party), holding) in &changes.holdings {
        assert_eq!(store.holding(lot, party).unwrap().as_ref(), Some(holding));
    }
    for (id, record) in &changes.shipments {
        assert_eq!(store.shipment(id).unwrap().as_ref(), Some(record));
    }
    for (id, record) in &changes.events {
        assert_eq!(store.event(id).unwrap().as_ref(), Some(record));
    }
    assert_eq!(
        store.attestations(&party_id("kivu")).unwrap(),
        [changes.attestations[0].clone()]
    );
    assert_eq!(
        store.lot_attestations(&lot_id("LOT-1")).unwrap(),
        [changes.attestations[1].clone()]
    );
    // The Merkle nodes are the plan's, computed from the entry bytes.
    let leaves = [entry_hash(&entry_bytes(0)), entry_hash(&entry_bytes(1))];
    assert_eq!(store.merkle_node(0, 0).unwrap(), Some(leaves[0]));
    assert_eq!(store.merkle_node(0, 1).unwrap(), Some(leaves[1]));
    assert_eq!(
        store.merkle_node(1, 0).unwrap(),
        Some(node_hash(&leaves[0], &leaves[1]))
    );
    // Absent records read as None, not as errors.
    assert_eq!(store.party(&party_id("nobody")).unwrap(), None);
    assert_eq!(
        store
            .holding(&lot_id("LOT-1"), &party_id("refiner"))
            .unwrap(),
        None
    );
    assert_eq!(store.merkle_node(2, 0).unwrap(), None);
}

#[test]
fn later_appends_replace_whole_records() {
    let (_dir, store) = new_store();
    let lot = lot_id("LOT-1");
    let kivu = party_id("kivu");
    for (seq, balance) in [(0u64, 100u64), (1, 40)] {
        let mut changes = Changes::default();
        changes.holdings.insert(
            (lot.clone(), kivu.clone()),
            Holding {
                receipts: vec![Receipt {
                    source: digest("x"),
                    balance,
                }],
            },
        );
        commit(&store, &[entry_bytes(seq)], changes).unwrap();
    }
    assert_eq!(store.holding(&lot, &kivu).unwrap().unwrap().balance(), 40);
}

#[test]
fn a_plan_holds_consecutive_entries_from_its_start_and_ends_at_the_last_hash() {
    // Replaces the store's old checks for gaps and wrong head sizes: a plan cannot hold them.
    let (_dir, store) = new_store();
    let start = append_plain(&store, 3);
    let txn = store.begin_append().unwrap();
    assert_eq!(txn.head(), start);
    // Bytes that do not match their positions: the plan numbers entries itself.
    let bytes: Vec<_> = (10..14).map(entry_bytes).collect();
    let plan = plan(&*txn, &plain(&bytes), Changes::default());
    assert_eq!(plan.start(), start);
    let seqs: Vec<u64> = plan.entries().iter().map(|(seq, _)| *seq).collect();
    assert_eq!(seqs, [3, 4, 5, 6]);
    let stored: Vec<_> = plan.entries().iter().map(|(_, b)| b.clone()).collect();
    assert_eq!(stored, bytes);
    assert_eq!(
        plan.head(),
        Head {
            size: 7,
            last: entry_hash(&bytes[3])
        }
    );
    txn.commit(&plan).unwrap();
    assert_eq!(store.head().unwrap(), plan.head());
    assert_eq!(store.acknowledged().unwrap(), Some(plan.head()));
    for (seq, bytes) in plan.entries() {
        assert_eq!(store.entry(*seq).unwrap().as_ref(), Some(bytes));
    }
}

#[test]
fn fail_a_plan_without_entries_is_empty() {
    // Replaces the store's old "no entries" batch check: an empty plan cannot be built.
    let (_dir, store) = new_store();
    {
        let txn = store.begin_append().unwrap();
        let nodes = Nodes(&*txn);
        let err = PlanBuilder::new(txn.head(), &nodes, Subjects::default())
            .finish(sample_changes())
            .unwrap_err();
        assert!(matches!(err, PlanError::Empty), "{err:?}");
    }
    assert_nothing_written(&store);
}

#[test]
fn merkle_nodes_extend_the_stored_tree_across_appends() {
    // Each plan reads the nodes earlier appends stored (through the transaction) and
    // stores the ones its entries complete: the stored tree is the tree of all entries.
    let (_dir, store) = new_store();
    for count in [1, 2, 1, 3, 6] {
        append_plain(&store, count);
    }
    let size = store.head().unwrap().size;
    assert_eq!(size, 13);
    let leaves: Vec<Digest> = (0..size).map(|s| entry_hash(&entry_bytes(s))).collect();
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
    assert_eq!(merkle::root(size, &Nodes(&store)).unwrap(), tree.root());
    let level1 = node_hash(&leaves[0], &leaves[1]);
    assert_eq!(store.merkle_node(1, 0).unwrap(), Some(level1));
    assert_eq!(
        store.merkle_node(2, 0).unwrap(),
        Some(node_hash(&level1, &node_hash(&leaves[2], &leaves[3])))
    );
    // Leaf 12 completes no subtree of 13 leaves.
    assert_eq!(store.merkle_node(1, 6).unwrap(), None);
}

#[test]
fn entries_iterate_in_log_order_from_any_start() {
    let (_dir, store) = new_store();
    // More than 256 entries, so little-endian keys would sort out of order.
    for _ in 0..6 {
        append_plain(&store, 50);
    }
    let all: Vec<_> = store.entries(0).map(Result::unwrap).collect();
    assert_eq!(all.len(), 300);
    assert!(
        all.iter()
            .enumerate()
            .all(|(i, (seq, bytes))| *seq == i as u64 && *bytes == entry_bytes(*seq))
    );
    let tail: Vec<u64> = store.entries(297).map(|e| e.unwrap().0).collect();
    assert_eq!(tail, [297, 298, 299]);
    assert_eq!(store.entries(300).count(), 0);
    assert_eq!(store.entries(u64::MAX).count(), 0);
}

#[test]
fn entries_stream_without_reading_past_what_is_asked() {
    let (_dir, store) = new_store();
    append_plain(&store, 10);
    let first_two: Vec<u64> = store.entries(3).take(2).map(|e| e.unwrap().0).collect();
    assert_eq!(first_two, [3, 4]);
}

#[test]
fn entries_naming_a_lot_are_listed_under_it_in_log_order() {
    let (_dir, store) = new_store();
    // More than 256 entries, so little-endian positions would sort out of order.
    let entries: Vec<_> = (0..300u64)
        .map(|seq| {
            let event = match seq {
                0 | 3 | 256 | 299 => ship_event(&["LOT-1"]),
                7 => ship_event(&["LOT-10"]),
                8 => event(Body::Attest(attest(Subject::Lot(lot_id("LOT-1"))))),
                9 => ship_event(&["LOT-2", "LOT-1"]),
                _ => plain_event(),
            };
            (entry_bytes(seq), event)
        })
        .collect();
    commit_events(&store, &entries, Changes::default()).unwrap();
    // A later append adds to the index.
    commit_events(
        &store,
        &[(entry_bytes(300), ship_event(&["LOT-1"]))],
        Changes::default(),
    )
    .unwrap();

    assert_eq!(
        store.lot_events(&lot_id("LOT-1")).unwrap(),
        [0, 3, 8, 9, 256, 299, 300]
    );
    assert_eq!(store.lot_events(&lot_id("LOT-2")).unwrap(), [9]);
    // The separator keeps "LOT-1" from listing the entries of "LOT-10".
    assert_eq!(store.lot_events(&lot_id("LOT-10")).unwrap(), [7]);
    assert!(store.lot_events(&lot_id("LOT-3")).unwrap().is_empty());
    assert!(store.party_events().unwrap().is_empty());
}

#[test]
fn enroll_and_revoke_entries_are_listed_as_party_events() {
    let (_dir, store) = new_store();
    let entries = [
        (entry_bytes(0), enroll_event()),
        (entry_bytes(1), ship_event(&["LOT-1"])),
        (entry_bytes(2), revoke_event()),
        (entry_bytes(3), plain_event()),
    ];
    commit_events(&store, &entries, Changes::default()).unwrap();
    commit_events(
        &store,
        &[(entry_bytes(4), revoke_event())],
        Changes::default(),
    )
    .unwrap();
    assert_eq!(store.party_events().unwrap(), [0, 2, 4]);
    assert_eq!(store.lot_events(&lot_id("LOT-1")).unwrap(), [1]);
}

#[test]
fn fail_a_plan_built_before_the_head_moved_is_a_conflict_and_writes_nothing() {
    // The head moved between the check and the write: another append came first.
    let (_dir, store) = new_store();
    let stale = stale_plan(&store, &two_entries(), sample_changes());
    // Dropping the transaction wrote nothing and released the append lock.
    assert_nothing_written(&store);
    let moved = commit(&store, &[b"other".to_vec()], Changes::default()).unwrap();

    let err = store.begin_append().unwrap().commit(&stale).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 1,
                found: 0
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "append refused: it starts at log position 0 but the log has 1 entries"
    );
    assert_eq!(store.head().unwrap(), moved);
    assert_eq!(store.acknowledged().unwrap(), Some(moved));
    assert_eq!(store.entry(0).unwrap(), Some(b"other".to_vec()));
    assert_eq!(store.entry(1).unwrap(), None);
    assert_eq!(store.merkle_node(0, 0).unwrap(), Some(entry_hash(b"other")));
    assert_eq!(store.merkle_node(1, 0).unwrap(), None);
    assert_no_sample_changes(&store);
}

#[test]
fn fail_committing_an_acknowledged_plan_again_is_a_conflict() {
    // A caller that retries an append which in fact succeeded must not write it twice.
    let (_dir, store) = new_store();
    append_plain(&store, 1);
    let txn = store.begin_append().unwrap();
    let plan = plan(&*txn, &plain(&[b"other".to_vec()]), Changes::default());
    txn.commit(&plan).unwrap();

    let err = store.begin_append().unwrap().commit(&plan).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 2,
                found: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.head().unwrap(), plan.head());
    assert_eq!(store.entry(1).unwrap(), Some(b"other".to_vec()));
    assert_eq!(store.entry(2).unwrap(), None);
}

#[test]
fn fail_state_changes_that_contradict_the_plan_are_refused_and_write_nothing() {
    let (_dir, store) = new_store();
    let mut attestation_outside = sample_changes();
    attestation_outside
        .attestations
        .push(attestation(5, Subject::Party(party_id("kivu"))));
    let mut event_outside = sample_changes();
    event_outside.events.insert(
        digest("late"),
        EventRecord {
            seq: 2,
            time: time(1_700_000_000),
            actor: party_id("kivu"),
            kind: Kind::Ship,
        },
    );
    let mut twice = sample_changes();
    twice
        .attestations
        .push(attestation(0, Subject::Party(party_id("kivu"))));
    let cases = [
        (
            "attestation outside",
            attestation_outside,
            "has log position 5 outside the batch",
        ),
        (
            "event outside",
            event_outside,
            "has log position 2 outside the batch",
        ),
        (
            "two attestations under one key",
            twice,
            "two attestations about one subject at log position 0",
        ),
    ];
    for (name, changes, reason) in cases {
        let err = commit(&store, &two_entries(), changes).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidBatch { reason: r } if r.contains(reason)),
            "{name}: {err:?}"
        );
        assert_nothing_written(&store);
    }

    // Positions before the plan are outside it too: sample_changes names 0 and 1.
    let head = append_plain(&store, 2);
    let err = commit(&store, &[entry_bytes(2), entry_bytes(3)], sample_changes()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidBatch { .. }), "{err:?}");
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.entry(2).unwrap(), None);
    assert_no_sample_changes(&store);
}

#[test]
fn fail_a_batch_that_fails_midway_leaves_nothing_behind() {
    // The entries and most records encode fine; one party record exceeds the codec's limit.
    // None of the batch may become visible: entries, records, nodes or index records.
    let (_dir, store) = new_store();
    let mut changes = sample_changes();
    let mut huge = party_record("huge", public_key(9));
    huge.name = "x".repeat(codec_limit() + 1);
    changes.parties.insert(party_id("huge"), huge);
    let entries = [
        (entry_bytes(0), enroll_event()),
        (entry_bytes(1), ship_event(&["LOT-1"])),
    ];
    let err = commit_events(&store, &entries, changes).unwrap_err();
    assert!(matches!(err, StoreError::Encode { .. }), "{err:?}");
    assert_nothing_written(&store);
    // The store still works afterwards: the failed commit released the append lock.
    append_plain(&store, 1);
    assert_eq!(store.head().unwrap().size, 1);
}

fn codec_limit() -> usize {
    ledger_core::codec::MAX_ENCODED
}

#[test]
fn concurrent_appends_in_one_process_take_turns_and_fill_consecutive_positions() {
    // A transaction holds the append lock from begin to commit, so no append conflicts
    // and no position is written twice.
    let (_dir, store) = new_store();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                (0..20)
                    .map(|i| {
                        let txn = store.begin_append().unwrap();
                        let bytes = format!("thread {t} append {i}").into_bytes();
                        let plan = plan(&*txn, &plain(&[bytes]), Changes::default());
                        txn.commit(&plan)
                            .unwrap_or_else(|e| panic!("thread {t} append {i}: {e}"));
                        plan.entries()[0].0
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut positions: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (0..160).collect::<Vec<_>>());

    let entries: Vec<(u64, Vec<u8>)> = store.entries(0).map(Result::unwrap).collect();
    assert_eq!(entries.len(), 160);
    let mut distinct: Vec<&[u8]> = entries.iter().map(|(_, b)| b.as_slice()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 160, "an append was written twice or lost");
    assert_eq!(
        store.head().unwrap(),
        Head {
            size: 160,
            last: entry_hash(&entries[159].1)
        }
    );
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|(_, b)| entry_hash(b)));
    assert_eq!(merkle::root(160, &Nodes(&*store)).unwrap(), tree.root());
}

#[test]
fn reopening_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let changes = sample_changes();
    let head = {
        let store = SledStore::create(dir.path(), "custody.example/log").unwrap();
        let head = commit_events(
            &store,
            &[
                (entry_bytes(0), enroll_event()),
                (entry_bytes(1), ship_event(&["LOT-1"])),
            ],
            changes.clone(),
        )
        .unwrap();
        store
            .put_checkpoint(2, "custody.example/log\n2\nroot\n")
            .unwrap();
        head
    };
    let store = open_when_released(dir.path()).unwrap();
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.acknowledged().unwrap(), Some(head));
    assert_eq!(store.origin().unwrap(), "custody.example/log");
    assert_eq!(
        store.entries(0).map(|e| e.unwrap().1).collect::<Vec<_>>(),
        [entry_bytes(0), entry_bytes(1)]
    );
    assert_eq!(
        store.party(&party_id("kivu")).unwrap().as_ref(),
        changes.parties.get(&party_id("kivu"))
    );
    assert_eq!(store.lot_attestations(&lot_id("LOT-1")).unwrap().len(), 1);
    assert_eq!(
        store.merkle_node(1, 0).unwrap(),
        Some(node_hash(
            &entry_hash(&entry_bytes(0)),
            &entry_hash(&entry_bytes(1))
        ))
    );
    assert_eq!(store.lot_events(&lot_id("LOT-1")).unwrap(), [1]);
    assert_eq!(store.party_events().unwrap(), [0]);
    assert_eq!(
        store.checkpoints().unwrap(),
        [(2, "custody.example/log\n2\nroot\n".to_string())]
    );
    append_plain(&store, 1);
    assert_eq!(store.head().unwrap().size, 3);
}

#[test]
fn checkpoints_list_by_tree_size_and_cannot_outrun_the_log() {
    let (_dir, store) = new_store();
    append_plain(&store, 300);
    for size in [256u64, 1, 300] {
        store.put_checkpoint(size, &format!("note {size}")).unwrap();
    }
    store.put_checkpoint(1, "note 1 again").unwrap();
    let sizes: Vec<_> = store.checkpoints().unwrap();
    assert_eq!(
        sizes,
        [
            (1, "note 1 again".to_string()),
            (256, "note 256".to_string()),
            (300, "note 300".to_string())
        ]
    );
    let err = store.put_checkpoint(301, "too far").unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::CheckpointBeyondHead {
                size: 301,
                head: 300
            }
        ),
        "{err:?}"
    );
}

#[test]
fn attestations_are_listed_in_log_order_and_only_for_their_subject() {
    let (_dir, store) = new_store();
    let entries: Vec<_> = (0..300).map(entry_bytes).collect();
    let mut changes = Changes::default();
    for seq in [299u64, 3, 256, 0] {
        changes
            .attestations
            .push(attestation(seq, Subject::Party(party_id("p"))));
    }
    changes
        .attestations
        .push(attestation(7, Subject::Party(party_id("p2"))));
    changes
        .attestations
        .push(attestation(8, Subject::Lot(lot_id("p"))));
    commit(&store, &entries, changes).unwrap();
    let seqs: Vec<u64> = store
        .attestations(&party_id("p"))
        .unwrap()
        .iter()
        .map(|a| a.seq)
        .collect();
    assert_eq!(seqs, [0, 3, 256, 299]);
    assert_eq!(store.attestations(&party_id("p2")).unwrap().len(), 1);
    assert_eq!(store.lot_attestations(&lot_id("p")).unwrap()[0].seq, 8);
}
#[test]
fn fail_create_refuses_an_existing_ledger_and_foreign_files() {
    let (dir, store) = new_store();
    drop(store);
    let err = SledStore::create(dir.path(), "again").unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{} already holds a ledger", dir.path().display())
    );
    // The refused create changed nothing.
    assert_eq!(
        open_when_released(dir.path()).unwrap().origin().unwrap(),
        "custody.example/log"
    );

    let other = tempfile::tempdir().unwrap();
    std::fs::write(other.path().join("notes.txt"), "mine").unwrap();
    let err = SledStore::create(other.path(), "o").unwrap_err();
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err:?}");
    assert!(!other.path().join("db").exists());
}

#[test]
fn fail_create_refuses_an_origin_that_is_not_one_line() {
    let dir = tempfile::tempdir().unwrap();
    for origin in ["", "a\nb", "a\r"] {
        let err = SledStore::create(dir.path(), origin).unwrap_err();
        assert!(matches!(err, StoreError::BadOrigin { .. }), "{err:?}");
    }
}

#[test]
fn create_makes_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("a/b/ledger");
    drop(SledStore::create(&nested, "o").unwrap());
    assert!(open_when_released(&nested).is_some());
}

/// Opens the ledger in `dir` once this process's last handle has let go of it: sled's
/// background flusher holds the file for a moment after a drop.
fn open_when_released(dir: &std::path::Path) -> Option<SledStore> {
    (0..100).find_map(|_| {
        SledStore::open(dir)
            .map_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
            .ok()
    })
}

#[test]
fn fail_open_refuses_a_directory_without_a_ledger_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = SledStore::open(&missing).unwrap_err();
    assert!(matches!(err, StoreError::NotALedger { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{} is not a custody ledger", missing.display())
    );
    assert!(!missing.exists());

    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotALedger { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn fail_open_refuses_a_sled_database_that_is_not_a_ledger() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert(b"something", b"else").unwrap();
        db.flush().unwrap();
    }
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::NotALedger { .. }), "{err:?}");
    let err = SledStore::create(dir.path(), "o").unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
}

/// Opens a ledger whose format record says `version`, expecting a refusal naming it.
fn assert_open_refuses_format_version(version: u32) {
    let (dir, store) = new_store();
    store
        .raw()
        .insert(keys::FORMAT, &version.to_le_bytes())
        .unwrap();
    drop(store);
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedVersion { found, supported: 3, .. } if found == version
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} has storage format version {version}; this build supports version 3",
            dir.path().display()
        )
    );
}

#[test]
fn fail_open_names_found_and_supported_format_versions() {
    // A ledger written by a newer build.
    assert_open_refuses_format_version(4);
}

#[test]
fn fail_open_refuses_older_ledgers() {
    // Version 1 stored the core's structs as state records; version 2 kept one balance per
    // (lot, party), parties without their history, and signatures that do not bind the
    // origin. This build must refuse, not misread, either.
    assert_open_refuses_format_version(1);
    assert_open_refuses_format_version(2);
}

#[test]
fn the_format_record_is_four_bytes_little_endian() {
    // Pins the one record whose encoding may never change across versions, and the
    // version this build writes.
    let (_dir, store) = new_store();
    assert_eq!(FORMAT_VERSION, 3);
    assert_eq!(
        store.raw().get(keys::FORMAT).unwrap().unwrap().as_ref(),
        [3, 0, 0, 0]
    );
}

#[test]
fn a_second_open_in_the_same_process_is_locked_out() {
    // sled's lock is an flock on a fresh file description, so it also excludes a second
    // open within one process; dropping the first store releases it.
    let (dir, store) = new_store();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} is in use by another process",
            dir.path().display()
        )
    );
    let err = SledStore::create(dir.path(), "o").unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    drop(store);
    let reopened = open_when_released(dir.path());
    assert!(
        reopened.is_some(),
        "the ledger stayed locked after the store was dropped"
    );
}

/// The environment variable that turns [`hold_ledger_open`] from a no-op into a lock holder.
const HOLD_ENV: &str = "CUSTODY_STORE_TEST_HOLD";

/// Helper for [`a_ledger_open_in_another_process_is_locked`]: when run as a child with
/// [`HOLD_ENV`] set, opens that ledger, says `ready`, and holds it until stdin closes.
#[test]
#[ignore = "run as a child process by a_ledger_open_in_another_process_is_locked"]
fn hold_ledger_open() {
    let Ok(dir) = std::env::var(HOLD_ENV) else {
        return;
    };
    let _store = SledStore::open(dir).unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

#[test]
fn a_ledger_open_in_another_process_is_locked() {
    let (dir, store) = new_store();
    drop(store);
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "tests::hold_ledger_open",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_ENV, dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && !line.contains("ready") {
        line.clear();
    }
    assert!(line.contains("ready"), "the child did not open the ledger");

    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} is in use by another process",
            dir.path().display()
        )
    );

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(open_when_released(dir.path()).is_some());
}

#[test]
fn fail_damaged_records_read_as_errors_naming_the_key() {
    let (_dir, store) = new_store();
    let raw = store.raw();
    let garbage: &[u8] = &[0xff; 5];
    raw.insert(keys::party(&party_id("kivu")), garbage).unwrap();
    raw.insert(keys::key_owner(&public_key(7)), garbage)
        .unwrap();
    raw.insert(keys::lot(&lot_id("LOT-1")), garbage).unwrap();
    raw.insert(keys::holding(&lot_id("LOT-1"), &party_id("kivu")), garbage)
        .unwrap();
    raw.insert(keys::shipment(&digest("ship")), garbage)
        .unwrap();
    raw.insert(keys::event(&digest("extract")), garbage)
        .unwrap();

    let errors = [
        store.party(&party_id("kivu")).unwrap_err(),
        store.key_owner(&public_key(7)).unwrap_err(),
        store.lot(&lot_id("LOT-1")).unwrap_err(),
        store
            .holding(&lot_id("LOT-1"), &party_id("kivu"))
            .unwrap_err(),
        store.shipment(&digest("ship")).unwrap_err(),
        store.event(&digest("extract")).unwrap_err(),
    ];
    for err in &errors {
        let text = err.to_string();
        assert!(
            text.contains("corrupt ledger store") && text.contains("at key "),
            "{err}"
        );
        // The store's own error survives as the cause, so a caller can tell damage apart.
        assert!(
            matches!(err.cause::<StoreError>(), Some(StoreError::Corrupt { .. })),
            "{err:?}"
        );
    }
    assert!(
        errors[0].to_string().contains("party record at key p/kivu"),
        "{}",
        errors[0]
    );
    assert!(
        errors[3]
            .to_string()
            .contains("holding at key h/LOT-1\\x00kivu"),
        "{}",
        errors[3]
    );
}

#[test]
fn fail_a_valid_record_with_trailing_bytes_is_corrupt() {
    let (_dir, store) = new_store();
    commit(&store, &two_entries(), sample_changes()).unwrap();
    let key = keys::lot(&lot_id("LOT-1"));
    let mut bytes = store.raw().get(&key).unwrap().unwrap().to_vec();
    bytes.push(0);
    store.raw().insert(&key, bytes).unwrap();
    let err = store.lot(&lot_id("LOT-1")).unwrap_err().to_string();
    assert!(
        err.contains("lot record at key l/LOT-1") && err.contains("trailing"),
        "{err}"
    );
}

#[test]
fn fail_damaged_store_records_are_corrupt_not_panics() {
    let (_dir, store) = new_store();
    append_plain(&store, 1);
    let raw = store.raw();
    raw.insert(keys::merkle(0, 0), vec![1u8; 31]).unwrap();
    raw.insert(keys::party_attestation(&party_id("kivu"), 0), &[2u8; 3])
        .unwrap();
    raw.insert(keys::checkpoint(1), &[0xff; 12]).unwrap();
    raw.insert(keys::ORIGIN, &[0xff; 3]).unwrap();
    // Index keys too short or too long to end in a position.
    let mut short_lot_key = keys::lot_events(&lot_id("LOT-1"));
    short_lot_key.extend([0u8; 3]);
    raw.insert(short_lot_key, &[]).unwrap();
    let mut long_party_key = keys::party_event(0);
    long_party_key.push(0);
    raw.insert(long_party_key, &[]).unwrap();
    let corrupt = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Corrupt { .. }));
    assert!(corrupt(store.merkle_node(0, 0).map(drop)));
    assert!(corrupt(store.attestations(&party_id("kivu")).map(drop)));
    assert!(corrupt(store.checkpoints().map(drop)));
    assert!(corrupt(store.origin().map(drop)));
    assert!(corrupt(store.lot_events(&lot_id("LOT-1")).map(drop)));
    assert!(corrupt(store.party_events().map(drop)));
}

#[test]
fn fail_a_plan_over_a_damaged_or_missing_merkle_node_is_corrupt() {
    // Appending entry 1 completes the level-1 node over leaves 0 and 1, so the plan reads
    // the stored leaf 0 through the transaction: damage there must fail the plan.
    for (name, damage) in [
        ("damaged", Some(vec![1u8; 31])),
        ("missing", None::<Vec<u8>>),
    ] {
        let (_dir, store) = new_store();
        let head = append_plain(&store, 1);
        match damage {
            Some(bytes) => drop(store.raw().insert(keys::merkle(0, 0), bytes).unwrap()),
            None => drop(store.raw().remove(keys::merkle(0, 0)).unwrap()),
        }
        let txn = store.begin_append().unwrap();
        let nodes = Nodes(&*txn);
        let mut builder = PlanBuilder::new(txn.head(), &nodes, Subjects::default());
        let err = builder
            .push_entry_bytes(entry_bytes(1), &Digest::ZERO, &plain_event())
            .unwrap_err();
        assert!(
            matches!(
                &err,
                PlanError::Tree(merkle::TreeError::Source(StoreError::Corrupt { what, .. }))
                    if what.contains("merkle node")
            ),
            "{name}: {err:?}"
        );
        drop(builder);
        drop(txn);
        assert_eq!(store.head().unwrap(), head, "{name}");
    }
}

#[test]
fn fail_open_refuses_damaged_meta_records() {
    type Damage = fn(&sled::Db);
    let cases: [(&str, Damage, &str); 6] = [
        (
            "short head",
            |db| drop(db.insert(keys::HEAD, vec![0u8; 39]).unwrap()),
            "head record at key meta/head: 39 bytes, expected 40",
        ),
        (
            "long head",
            |db| drop(db.insert(keys::HEAD, vec![0u8; 41]).unwrap()),
            "41 bytes, expected 40",
        ),
        (
            "no head",
            |db| drop(db.remove(keys::HEAD).unwrap()),
            "head record at key meta/head: missing",
        ),
        (
            "short format",
            |db| drop(db.insert(keys::FORMAT, &[1u8, 0, 0]).unwrap()),
            "format version at key meta/format: 3 bytes",
        ),
        (
            "no origin",
            |db| drop(db.remove(keys::ORIGIN).unwrap()),
            "log origin at key meta/origin: missing",
        ),
        (
            "head past the log",
            |db| drop(db.insert(keys::HEAD, vec![5u8; 40]).unwrap()),
            "the log has no entry",
        ),
    ];
    for (name, damage, expected) in cases {
        let (dir, store) = new_store();
        damage(store.raw());
        drop(store);
        let err = SledStore::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{name}: {err:?}");
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
}

#[test]
fn fail_open_refuses_entries_beyond_the_head() {
    let (dir, store) = new_store();
    append_plain(&store, 2);
    store
        .raw()
        .insert(keys::entry(2), b"stray".as_slice())
        .unwrap();
    drop(store);
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        err.to_string()
            .contains("the head says 2 entries but key e/"),
        "{err}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_stored_bytes_never_panic_a_reader(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        // One store for all cases: opening sled per case would dominate the run time.
        thread_local! {
            static STORE: (tempfile::TempDir, SledStore) = new_store();
        }
        STORE.with(|(_, store)| {
            let raw = store.raw();
            let party = party_id("p");
            let lot = lot_id("l");
            let id = digest("d");
            for key in [
                keys::party(&party), keys::lot(&lot), keys::holding(&lot, &party), keys::shipment(&id),
                keys::event(&id), keys::key_owner(&public_key(1)), keys::party_attestation(&party, 0),
                keys::lot_attestation(&lot, 0), keys::merkle(0, 0), keys::checkpoint(0),
            ] {
                raw.insert(key, bytes.as_slice()).unwrap();
            }
            let _ = store.party(&party);
            let _ = store.lot(&lot);
            let _ = store.holding(&lot, &party);
            let _ = store.shipment(&id);
            let _ = store.event(&id);
            let _ = store.key_owner(&public_key(1));
            let _ = store.attestations(&party);
            let _ = store.lot_attestations(&lot);
            let _ = store.merkle_node(0, 0);
            let _ = store.checkpoints();
            // Index and entry keys that end in arbitrary bytes.
            for prefix in [keys::lot_events(&lot), keys::PARTY_EVENT.to_vec(), keys::ENTRY.to_vec()] {
                raw.insert([prefix.as_slice(), &bytes].concat(), &[]).unwrap();
            }
            let _ = store.lot_events(&lot);
            let _ = store.party_events();
            let _ = store.entries(0).count();
        });
    }
}

/// Overwrites the acknowledged-head file beside the database, as damage or an old copy would.
fn write_acknowledged(dir: &tempfile::TempDir, head: Head) {
    let claimed = ledger_core::codec::encode(&(head.size, head.last)).unwrap();
    std::fs::write(dir.path().join("acknowledged-head"), claimed).unwrap();
}

#[test]
fn fail_a_log_shorter_than_acknowledged_refuses_appends() {
    let (dir, store) = new_store();
    let head = append_plain(&store, 3);
    assert_eq!(store.acknowledged().unwrap(), Some(head));
    // As if sled had dropped the last two entries: the acknowledged record says more.
    write_acknowledged(
        &dir,
        Head {
            size: head.size + 2,
            last: head.last,
        },
    );
    let err = begin_append_error(&store);
    assert!(
        matches!(
            err,
            StoreError::RolledBack {
                found: 3,
                acknowledged: 5,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Damaged);
    assert_eq!(store.head().unwrap(), head, "nothing was written");
}

#[test]
fn fail_a_log_whose_last_entry_differs_from_the_acknowledged_one_refuses_appends() {
    // Same size, different last entry: the files were replaced by another log's copy.
    let (dir, store) = new_store();
    let head = append_plain(&store, 3);
    write_acknowledged(
        &dir,
        Head {
            size: head.size,
            last: digest("another log"),
        },
    );
    let err = begin_append_error(&store);
    assert!(
        matches!(
            err,
            StoreError::RolledBack {
                found: 3,
                acknowledged: 3,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(store.head().unwrap(), head, "nothing was written");
}

#[test]
fn a_log_longer_than_acknowledged_still_appends() {
    // The crash window between sled's flush and the acknowledged file's update leaves the
    // log one append ahead; appending goes on and acknowledges the new head.
    let (dir, store) = new_store();
    let first = append_plain(&store, 2);
    append_plain(&store, 1);
    write_acknowledged(&dir, first);
    let head = append_plain(&store, 1);
    assert_eq!(head.size, 4);
    assert_eq!(store.acknowledged().unwrap(), Some(head));
}

#[test]
fn error_kinds_tell_callers_what_to_do() {
    let (dir, store) = new_store();
    let locked = SledStore::open(dir.path()).unwrap_err();
    let not_a_ledger = SledStore::open(dir.path().join("missing")).unwrap_err();
    let stale = stale_plan(&store, &[entry_bytes(0)], Changes::default());
    append_plain(&store, 1);
    let conflict = store.begin_append().unwrap().commit(&stale).unwrap_err();
    let beyond_head = store.put_checkpoint(5, "note").unwrap_err();
    store
        .raw()
        .insert(keys::checkpoint(1), &[0xff; 12])
        .unwrap();
    let corrupt = store.checkpoints().unwrap_err();
    let cases = [
        (locked, ErrorKind::Unavailable),
        (not_a_ledger, ErrorKind::NotFound),
        (conflict, ErrorKind::Conflict),
        (beyond_head, ErrorKind::Invalid),
        (corrupt, ErrorKind::Damaged),
    ];
    for (err, kind) in cases {
        assert_eq!(err.kind(), kind, "{err:?}");
    }

    // Through a state read, the store's error and so its kind survive as the cause.
    store
        .raw()
        .insert(keys::lot(&lot_id("LOT-1")), &[0xff; 5])
        .unwrap();
    let err = store.lot(&lot_id("LOT-1")).unwrap_err();
    assert_eq!(
        err.cause::<StoreError>().map(StoreError::kind),
        Some(ErrorKind::Damaged),
        "{err:?}"
    );
}

#[test]
fn fail_a_leftover_sled_snapshot_does_not_make_the_ledger_unopenable() {
    // sled writes `snap.<lsn>.generating` and renames it when complete; a run killed in
    // between (or a failed write) leaves it, and sled 0.34.7 then picks it at every open
    // and fails with "Read corrupted data" (sled #1527, #1533).
    let (dir, store) = new_store();
    append_plain(&store, 3);
    drop(store);
    let leftover = dir.path().join("snap.FFFFFFFFFFFFFFFF.generating");
    std::fs::write(&leftover, b"half a snapshot").unwrap();
    let store = open_when_released(dir.path()).expect("the ledger opens");
    assert_eq!(store.head().unwrap().size, 3);
    assert!(!leftover.exists());
    // sled itself still fails on such a file: the cleanup is what opens the ledger.
    drop(store);
    std::fs::write(&leftover, b"half a snapshot").unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    let raw = sled::Config::new().path(dir.path()).open();
    assert!(
        raw.is_err(),
        "sled opened a directory with a damaged snapshot"
    );
}

#[test]
fn fail_a_second_opener_is_locked_out_before_sled_is_touched() {
    let (dir, store) = new_store();
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err:?}");
    assert!(dir.path().join("custody.lock").is_file());
    drop(store);
}

#[test]
fn parties_and_lots_are_listed_by_id_and_lots_a_page_at_a_time() {
    let (_dir, store) = new_store();
    let mut changes = sample_changes();
    let lot = changes.lots[&lot_id("LOT-1")].clone();
    for id in ["LOT-10", "LOT-2", "LOT-1.5"] {
        changes.lots.insert(lot_id(id), lot.clone());
    }
    commit(&store, &two_entries(), changes).unwrap();
    let parties = store.parties().unwrap();
    assert_eq!(
        parties.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["kivu"]
    );
    let ids = |page: &[(LotId, LotRecord)]| {
        page.iter()
            .map(|(id, _)| id.as_str().to_owned())
            .collect::<Vec<_>>()
    };
    let first = store.lots(None, 2).unwrap();
    assert_eq!(ids(&first), ["LOT-1", "LOT-1.5"]);
    let next = store.lots(Some(&first[1].0), 10).unwrap();
    assert_eq!(ids(&next), ["LOT-10", "LOT-2"]);
    assert!(store.lots(Some(&lot_id("LOT-2")), 10).unwrap().is_empty());
    assert_eq!(first[0].1, lot);
}
