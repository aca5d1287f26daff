//! The store test suite: one body per property of the [`Store`], [`AppendTxn`] and
//! [`StateView`](ledger_core::state::StateView) traits (round trips, atomicity, conflicts,
//! indexes, positions, format version, damaged records), run against every backend: sled
//! by this crate's tests, PostgreSQL by `ledger-store-postgres`'s. A backend provides a
//! [`Backend`] (fresh places for ledgers) and runs each test of
//! [`for_each_test!`](crate::for_each_test) on it.
//!
//! Appends go through the real path: [`Store::begin_append`], a [`PlanBuilder`] on the
//! transaction's head and nodes, [`AppendTxn::commit`]. Entry bytes are arbitrary (a store
//! never interprets them); the plan derives leaves and head from them.
// Test code: a failed assertion is a panic, and each test is documented by its name.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::Arc;

use ledger_core::Digest;
use ledger_core::event::{
    Attest, Body, CapSeverity, Claim, Enroll, Event, Kind, LotMove, Outcome, Revoke, Role, Ship,
    Subject,
};
use ledger_core::id::{Component, Country, LotId, Material, PartyId};
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::merkle::{self, MemoryTree, NodeSource, node_hash};
use ledger_core::plan::{PlanBuilder, PlanError};
use ledger_core::quantity::{Content, Quantity, Unit};
use ledger_core::state::{
    AttestationRecord, Changes, EventRecord, Holding, KeyRecord, KeyRequest, LotRecord,
    PartyRecord, PartyVersion, Receipt, ShipmentRecord, StateError, StateKeys,
};
use ledger_core::statement::entry_hash;
use ledger_core::subjects::Subjects;
use ledger_core::timestamp::Timestamp;

use crate::{
    AppendPlan, AppendTxn, ErrorKind, FORMAT_VERSION, FetchedNodes, Head, Nodes, Store, StoreError,
    keys,
};

/// Where a backend's tests get ledgers from.
pub trait Backend: Sync {
    /// A new place for one ledger (an empty directory, an empty database).
    fn place(&self) -> Box<dyn Place>;
}

/// One place a ledger can be created in, and raw access to its stored records, as damage
/// or tampering would write them.
pub trait Place {
    /// How the place is named in errors: the directory, or the database URL.
    fn name(&self) -> String;
    /// Creates the ledger.
    fn create(&self, origin: &str) -> Result<Box<dyn Store>, StoreError>;
    /// Opens the ledger created here (once no other handle of this process holds it).
    fn open(&self) -> Result<Box<dyn Store>, StoreError>;
    /// Whether [`Store::acknowledged`] is the head itself (a database that keeps what it
    /// committed) rather than a record kept apart from the store (sled's file).
    fn acknowledged_is_head(&self) -> bool;
    /// The stored value under a [`keys`] key (`meta/…` keys name the meta records).
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Overwrites the value under a key.
    fn put(&self, key: &[u8], value: &[u8]);
    /// Removes the value under a key.
    fn remove(&self, key: &[u8]);
}

/// Calls `$run!` with the name of every test of the suite, so that each backend lists
/// them all (a `#[test]` each for sled, a trial each under libtest-mimic).
#[macro_export]
macro_rules! for_each_test {
    ($run:ident) => {
        $run! {
            create_gives_an_empty_log_with_its_origin,
            every_record_type_round_trips_through_append_and_state_view,
            prefetched_reads_answer_as_direct_reads,
            later_appends_replace_whole_records,
            a_plan_holds_consecutive_entries_from_its_start_and_ends_at_the_last_hash,
            fail_a_plan_without_entries_is_empty,
            merkle_nodes_extend_the_stored_tree_across_appends,
            entries_iterate_in_log_order_from_any_start,
            entries_stream_without_reading_past_what_is_asked,
            entries_naming_a_lot_are_listed_under_it_in_log_order,
            enroll_and_revoke_entries_are_listed_as_party_events,
            fail_a_plan_built_before_the_head_moved_is_a_conflict_and_writes_nothing,
            fail_committing_an_acknowledged_plan_again_is_a_conflict,
            fail_state_changes_that_contradict_the_plan_are_refused_and_write_nothing,
            fail_a_batch_that_fails_midway_leaves_nothing_behind,
            an_append_written_in_parts_commits_what_one_plan_commits,
            fail_an_append_written_in_parts_and_dropped_leaves_nothing_behind,
            concurrent_appends_in_one_process_take_turns_and_fill_consecutive_positions,
            reopening_sees_everything,
            checkpoints_list_by_tree_size_and_cannot_outrun_the_log,
            attestations_are_listed_in_log_order_and_only_for_their_subject,
            fail_create_refuses_an_origin_that_is_not_one_line,
            fail_open_names_found_and_supported_format_versions,
            fail_open_refuses_older_ledgers,
            the_format_record_is_four_bytes_little_endian,
            fail_damaged_records_read_as_errors_naming_the_key,
            fail_a_valid_record_with_trailing_bytes_is_corrupt,
            fail_damaged_store_records_are_corrupt_not_panics,
            fail_a_plan_over_a_damaged_or_missing_merkle_node_is_corrupt,
            parties_and_lots_are_listed_by_id_and_lots_a_page_at_a_time
        }
    };
}

/// Writes `value` under `key` at `place`, as damage would.
pub fn put(place: &dyn Place, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
    place.put(key.as_ref(), value.as_ref());
}

/// The error creating a ledger fails with (a store is not `Debug`, so no `unwrap_err`).
pub fn create_error(place: &dyn Place, origin: &str) -> StoreError {
    match place.create(origin) {
        Ok(_) => panic!("creating a ledger at {} succeeded", place.name()),
        Err(e) => e,
    }
}

/// The error opening the ledger fails with.
pub fn open_error(place: &dyn Place) -> StoreError {
    match place.open() {
        Ok(_) => panic!("opening the ledger at {} succeeded", place.name()),
        Err(e) => e,
    }
}

pub fn party_id(s: &str) -> PartyId {
    PartyId::new(s).unwrap()
}

pub fn lot_id(s: &str) -> LotId {
    LotId::new(s).unwrap()
}

pub fn time(seconds: i64) -> Timestamp {
    Timestamp::from_unix(seconds).unwrap()
}

pub fn public_key(seed: u8) -> PublicKey {
    SecretKey::from_seed(&[seed; 32]).public_key()
}

pub fn digest(label: &str) -> Digest {
    Digest::of(&[label.as_bytes()])
}

/// A new place and an empty ledger created in it.
pub fn new_store(backend: &dyn Backend) -> (Box<dyn Place>, Box<dyn Store>) {
    let place = backend.place();
    let store = place.create(ORIGIN).unwrap();
    (place, store)
}

/// The origin of every ledger the suite creates.
pub const ORIGIN: &str = "custody.example/log";

/// Asserts what the store acknowledged: `head` where the record is kept apart from the
/// store, the store's own head where that is the record.
pub fn assert_acknowledged(place: &dyn Place, store: &dyn Store, head: Option<Head>) {
    let expected = if place.acknowledged_is_head() {
        Some(store.head().unwrap())
    } else {
        head
    };
    assert_eq!(store.acknowledged().unwrap(), expected);
}

pub fn entry_bytes(seq: u64) -> Vec<u8> {
    format!("entry {seq}").into_bytes()
}

pub fn two_entries() -> Vec<Vec<u8>> {
    vec![entry_bytes(0), entry_bytes(1)]
}

/// An event with `body`; only the body matters to a store (which indexes it names).
pub fn event(body: Body) -> Event {
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
pub fn plain_event() -> Event {
    event(Body::Attest(attest(Subject::Party(party_id("kivu")))))
}

pub fn enroll_event() -> Event {
    event(Body::Enroll(Enroll {
        party: party_id("kivu"),
        name: "kivu ltd".into(),
        country: Country::parse("CD").unwrap(),
        roles: vec![Role::Miner],
        keys: vec![public_key(7)],
    }))
}

pub fn revoke_event() -> Event {
    event(Body::Revoke(Revoke {
        party: party_id("kivu"),
        key: public_key(7),
    }))
}

/// A shipment of each of `lots`: an event naming them.
pub fn ship_event(lots: &[&str]) -> Event {
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
pub fn plan(txn: &dyn AppendTxn, entries: &[(Vec<u8>, Event)], changes: Changes) -> AppendPlan {
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
pub fn plain(entries: &[Vec<u8>]) -> Vec<(Vec<u8>, Event)> {
    entries.iter().map(|b| (b.clone(), plain_event())).collect()
}

/// Appends `entries` in one transaction (begin, plan, commit); returns the new head.
pub fn commit_events(
    store: &dyn Store,
    entries: &[(Vec<u8>, Event)],
    changes: Changes,
) -> Result<Head, StoreError> {
    let txn = store.begin_append()?;
    let plan = plan(&*txn, entries, changes);
    txn.commit(&plan)?;
    Ok(plan.head())
}

/// Appends `entries`, indexed nowhere, in one transaction; returns the new head.
pub fn commit(
    store: &dyn Store,
    entries: &[Vec<u8>],
    changes: Changes,
) -> Result<Head, StoreError> {
    commit_events(store, &plain(entries), changes)
}

/// Appends `count` entries with no state changes; returns the new head.
pub fn append_plain(store: &dyn Store, count: u64) -> Head {
    let start = store.head().unwrap().size;
    let entries: Vec<_> = (start..start + count).map(entry_bytes).collect();
    commit(store, &entries, Changes::default()).unwrap()
}

/// The error `begin_append` fails with (a transaction is not `Debug`, so no `unwrap_err`).
pub fn begin_append_error(store: &dyn Store) -> StoreError {
    match store.begin_append() {
        Ok(_) => panic!("begin_append succeeded"),
        Err(e) => e,
    }
}

/// A plan built on the current head in a transaction that is then dropped uncommitted.
pub fn stale_plan(store: &dyn Store, entries: &[Vec<u8>], changes: Changes) -> AppendPlan {
    let txn = store.begin_append().unwrap();
    plan(&*txn, &plain(entries), changes)
}

pub fn party_record(id: &str, key: PublicKey) -> PartyRecord {
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

pub fn attest(subject: Subject) -> Attest {
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

pub fn attestation(seq: u64, subject: Subject) -> AttestationRecord {
    AttestationRecord {
        event: digest(&format!("attest {seq}")),
        seq,
        auditor: party_id("auditor"),
        time: time(1_700_000_000 + seq as i64),
        attest: attest(subject),
    }
}

/// Changes with one record of every kind, all at log positions `0..2`.
pub fn sample_changes() -> Changes {
    let mut c = Changes::default();
    let key = public_key(7);
    c.parties
        .insert(party_id("kivu"), party_record("kivu", key));
    c.key_owners.insert(key, party_id("kivu"));
    c.lots.insert(
        &lot_id("LOT-1"),
        LotRecord {
            material: Material::new("cobalt-ore").unwrap(),
            unit: Unit::Kg,
            created: Quantity::Grams(19_950_500),
            content: Content::from([(Component::parse("Co").unwrap(), 31_000)]),
            capacity_wh: None,
            unit_mass_mg: None,
            created_by: digest("extract"),
            creator: party_id("kivu"),
        },
    );
    c.holdings.insert(
        &lot_id("LOT-1"),
        &party_id("kivu"),
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
pub fn assert_no_sample_changes(store: &dyn Store) {
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
pub fn assert_nothing_written(place: &dyn Place, store: &dyn Store) {
    assert_eq!(store.head().unwrap(), Head::EMPTY);
    assert_acknowledged(place, store, None);
    assert_eq!(store.entry(0).unwrap(), None);
    assert_eq!(store.entries(0).count(), 0);
    assert_no_sample_changes(store);
    assert_eq!(store.merkle_node(0, 0).unwrap(), None);
    assert!(store.lot_events(&lot_id("LOT-1")).unwrap().is_empty());
    assert!(store.party_events().unwrap().is_empty());
}

/// Opens a ledger whose format record says `version`, expecting a refusal naming it.
pub fn assert_open_refuses_format_version(backend: &dyn Backend, version: u32) {
    let (place, store) = new_store(backend);
    put(&*place, keys::FORMAT, version.to_le_bytes());
    drop(store);
    let err = open_error(&*place);
    assert!(
        matches!(
            err,
            StoreError::UnsupportedVersion { found, supported: FORMAT_VERSION, .. } if found == version
        ),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} has storage format version {version}; this build supports version {FORMAT_VERSION}",
            place.name()
        )
    );
}

pub fn codec_limit() -> usize {
    ledger_core::codec::MAX_ENCODED
}

pub fn create_gives_an_empty_log_with_its_origin(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    assert_eq!(store.head().unwrap(), Head::EMPTY);
    assert_eq!(store.origin().unwrap(), "custody.example/log");
    assert_eq!(store.entries(0).count(), 0);
    assert!(store.checkpoints().unwrap().is_empty());
}

pub fn every_record_type_round_trips_through_append_and_state_view(backend: &dyn Backend) {
    let (place, store) = new_store(backend);
    let changes = sample_changes();
    let head = commit(&*store, &two_entries(), changes.clone()).unwrap();

    assert_eq!(
        head,
        Head {
            size: 2,
            last: entry_hash(&entry_bytes(1))
        }
    );
    assert_eq!(store.head().unwrap(), head);
    assert_acknowledged(&*place, &*store, Some(head));
    assert_eq!(store.entry(1).unwrap(), Some(entry_bytes(1)));
    assert_eq!(store.entry(2).unwrap(), None);
    for (id, record) in &changes.parties {
        assert_eq!(store.party(id).unwrap().as_ref(), Some(record));
    }
    for (key, owner) in &changes.key_owners {
        assert_eq!(store.key_owner(key).unwrap().as_ref(), Some(owner));
    }
    for (id, record) in changes.lots.iter() {
        assert_eq!(store.lot(&id).unwrap(), Some(record));
    }
    for ((lot, party), holding) in changes.holdings.iter() {
        assert_eq!(store.holding(&lot, &party).unwrap(), Some(holding));
    }
    for (id, record) in changes.shipments.iter() {
        assert_eq!(store.shipment(&id).unwrap(), Some(record));
    }
    for (id, record) in changes.events.iter() {
        assert_eq!(store.event(&id).unwrap(), Some(record));
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

pub fn prefetched_reads_answer_as_direct_reads(backend: &dyn Backend) {
    // A transaction told what the rules will read (`prefetch`) answers those reads, present
    // and absent records alike, exactly as the store does without it.
    let (_place, store) = new_store(backend);
    let changes = sample_changes();
    commit(&*store, &two_entries(), changes.clone()).unwrap();
    let mut wanted = StateKeys::default();
    wanted
        .parties
        .extend([party_id("kivu"), party_id("nobody")]);
    wanted
        .key_owners
        .extend([*public_key(7).as_bytes(), *public_key(8).as_bytes()]);
    wanted.lots.extend([lot_id("LOT-1"), lot_id("LOT-2")]);
    wanted.holdings.extend([
        (lot_id("LOT-1"), party_id("kivu")),
        (lot_id("LOT-1"), party_id("refiner")),
    ]);
    wanted.shipments.extend([digest("ship"), digest("no-ship")]);
    wanted
        .events
        .extend([digest("extract"), digest("no-event")]);
    let mut txn = store.begin_append().unwrap();
    txn.prefetch(&|| wanted.clone()).unwrap();
    for id in &wanted.parties {
        assert_eq!(txn.party(id).unwrap(), store_read(|| store.party(id)));
    }
    for bytes in &wanted.key_owners {
        let key = PublicKey::from_bytes(bytes).unwrap();
        assert_eq!(
            txn.key_owner(&key).unwrap(),
            store_read(|| store.key_owner(&key))
        );
    }
    for id in &wanted.lots {
        assert_eq!(txn.lot(id).unwrap(), store_read(|| store.lot(id)));
    }
    for (lot, party) in &wanted.holdings {
        assert_eq!(
            txn.holding(lot, party).unwrap(),
            store_read(|| store.holding(lot, party))
        );
    }
    for id in &wanted.shipments {
        assert_eq!(txn.shipment(id).unwrap(), store_read(|| store.shipment(id)));
    }
    for id in &wanted.events {
        assert_eq!(txn.event(id).unwrap(), store_read(|| store.event(id)));
    }
    assert!(txn.party(&party_id("kivu")).unwrap().is_some());
    assert!(txn.lot(&lot_id("LOT-2")).unwrap().is_none());
}

/// A read of the store outside any transaction (the comparison for prefetched reads).
fn store_read<T>(read: impl FnOnce() -> Result<T, StateError>) -> T {
    read().unwrap()
}

pub fn later_appends_replace_whole_records(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    let lot = lot_id("LOT-1");
    let kivu = party_id("kivu");
    for (seq, balance) in [(0u64, 100u64), (1, 40)] {
        let mut changes = Changes::default();
        changes.holdings.insert(
            &lot,
            &kivu,
            Holding {
                receipts: vec![Receipt {
                    source: digest("x"),
                    balance,
                }],
            },
        );
        commit(&*store, &[entry_bytes(seq)], changes).unwrap();
    }
    assert_eq!(store.holding(&lot, &kivu).unwrap().unwrap().balance(), 40);
}

pub fn a_plan_holds_consecutive_entries_from_its_start_and_ends_at_the_last_hash(
    backend: &dyn Backend,
) {
    // Replaces the store's old checks for gaps and wrong head sizes: a plan cannot hold them.
    let (place, store) = new_store(backend);
    let start = append_plain(&*store, 3);
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
    assert_acknowledged(&*place, &*store, Some(plan.head()));
    for (seq, bytes) in plan.entries() {
        assert_eq!(store.entry(*seq).unwrap().as_ref(), Some(bytes));
    }
}

pub fn fail_a_plan_without_entries_is_empty(backend: &dyn Backend) {
    // Replaces the store's old "no entries" batch check: an empty plan cannot be built.
    let (place, store) = new_store(backend);
    {
        let txn = store.begin_append().unwrap();
        let nodes = Nodes(&*txn);
        let err = PlanBuilder::new(txn.head(), &nodes, Subjects::default())
            .finish(sample_changes())
            .unwrap_err();
        assert!(matches!(err, PlanError::Empty), "{err:?}");
    }
    assert_nothing_written(&*place, &*store);
}

pub fn merkle_nodes_extend_the_stored_tree_across_appends(backend: &dyn Backend) {
    // Each plan reads the nodes earlier appends stored (through the transaction) and
    // stores the ones its entries complete: the stored tree is the tree of all entries.
    let (_place, store) = new_store(backend);
    for count in [1, 2, 1, 3, 6] {
        append_plain(&*store, count);
    }
    let size = store.head().unwrap().size;
    assert_eq!(size, 13);
    let leaves: Vec<Digest> = (0..size).map(|s| entry_hash(&entry_bytes(s))).collect();
    let tree = MemoryTree::from_leaf_hashes(leaves.iter().copied());
    assert_eq!(merkle::root(size, &Nodes(&*store)).unwrap(), tree.root());
    let level1 = node_hash(&leaves[0], &leaves[1]);
    assert_eq!(store.merkle_node(1, 0).unwrap(), Some(level1));
    assert_eq!(
        store.merkle_node(2, 0).unwrap(),
        Some(node_hash(&level1, &node_hash(&leaves[2], &leaves[3])))
    );
    // Leaf 12 completes no subtree of 13 leaves.
    assert_eq!(store.merkle_node(1, 6).unwrap(), None);
    // A batch read answers as reads one by one, absent nodes included, in order.
    let wanted = [(0, 12), (1, 6), (2, 0), (0, 0), (3, 1), (9, 0)];
    let one_by_one: Vec<Option<Digest>> = wanted
        .iter()
        .map(|&(level, index)| store.merkle_node(level, index).unwrap())
        .collect();
    assert_eq!(store.merkle_nodes(&wanted).unwrap(), one_by_one);
    // A range of a level is its nodes in order, up to the first one not stored.
    assert_eq!(store.merkle_range(0, 0, size).unwrap(), leaves);
    assert_eq!(store.merkle_range(0, 11, 20).unwrap(), leaves[11..]);
    assert_eq!(
        store.merkle_range(1, 4, 9).unwrap(),
        [4, 5].map(|i| tree.node(1, i).unwrap())
    );
    assert_eq!(
        store.merkle_range(2, 2, 3).unwrap(),
        [tree.node(2, 2).unwrap()]
    );
    assert!(store.merkle_range(1, 6, 9).unwrap().is_empty());
    assert!(store.merkle_range(0, 5, 5).unwrap().is_empty());
    assert!(store.merkle_range(0, 5, 2).unwrap().is_empty());
    // Proofs and roots over the nodes fetched in one batch equal those over the store.
    for index in 0..size {
        let fetched = FetchedNodes::for_reads(&*store, |reads| {
            let _ = merkle::root(size, reads);
            let _ = merkle::inclusion_proof(index, size, reads);
        })
        .unwrap();
        assert_eq!(merkle::root(size, &fetched).unwrap(), tree.root());
        assert_eq!(
            merkle::inclusion_proof(index, size, &fetched).unwrap(),
            merkle::inclusion_proof(index, size, &tree).unwrap()
        );
    }
}

pub fn entries_iterate_in_log_order_from_any_start(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    // More than 256 entries, so little-endian keys would sort out of order.
    for _ in 0..6 {
        append_plain(&*store, 50);
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
    // Entries read by position in one call answer as reads one by one, in the order asked.
    let asked = [299, 0, 300, 17, u64::MAX, 17];
    let one_by_one: Vec<Option<Vec<u8>>> = asked.iter().map(|&s| store.entry(s).unwrap()).collect();
    assert_eq!(store.entries_at(&asked).unwrap(), one_by_one);
}

pub fn entries_stream_without_reading_past_what_is_asked(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    append_plain(&*store, 10);
    let first_two: Vec<u64> = store.entries(3).take(2).map(|e| e.unwrap().0).collect();
    assert_eq!(first_two, [3, 4]);
}

pub fn entries_naming_a_lot_are_listed_under_it_in_log_order(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
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
    commit_events(&*store, &entries, Changes::default()).unwrap();
    // A later append adds to the index.
    commit_events(
        &*store,
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
    // Read for many lots at once, the index says the same, lot by lot, in the order asked:
    // out of order, a lot asked twice, lots with no entry before, between and after.
    let lots = [
        lot_id("LOT-10"),
        lot_id("LOT-3"),
        lot_id("LOT-1"),
        lot_id("A"),
        lot_id("LOT-2"),
        lot_id("LOT-1"),
        lot_id("LOT-11"),
        lot_id("Z"),
    ];
    let asked: Vec<&LotId> = lots.iter().collect();
    let one_by_one: Vec<Vec<u64>> = lots.iter().map(|l| store.lot_events(l).unwrap()).collect();
    assert_eq!(store.lot_events_of(&asked).unwrap(), one_by_one);
}

pub fn enroll_and_revoke_entries_are_listed_as_party_events(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    let entries = [
        (entry_bytes(0), enroll_event()),
        (entry_bytes(1), ship_event(&["LOT-1"])),
        (entry_bytes(2), revoke_event()),
        (entry_bytes(3), plain_event()),
    ];
    commit_events(&*store, &entries, Changes::default()).unwrap();
    commit_events(
        &*store,
        &[(entry_bytes(4), revoke_event())],
        Changes::default(),
    )
    .unwrap();
    assert_eq!(store.party_events().unwrap(), [0, 2, 4]);
    assert_eq!(store.lot_events(&lot_id("LOT-1")).unwrap(), [1]);
}

pub fn fail_a_plan_built_before_the_head_moved_is_a_conflict_and_writes_nothing(
    backend: &dyn Backend,
) {
    // The head moved between the check and the write: another append came first.
    let (place, store) = new_store(backend);
    let stale = stale_plan(&*store, &two_entries(), sample_changes());
    // Dropping the transaction wrote nothing and released the append lock.
    assert_nothing_written(&*place, &*store);
    let moved = commit(&*store, &[b"other".to_vec()], Changes::default()).unwrap();

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
    assert_acknowledged(&*place, &*store, Some(moved));
    assert_eq!(store.entry(0).unwrap(), Some(b"other".to_vec()));
    assert_eq!(store.entry(1).unwrap(), None);
    assert_eq!(store.merkle_node(0, 0).unwrap(), Some(entry_hash(b"other")));
    assert_eq!(store.merkle_node(1, 0).unwrap(), None);
    assert_no_sample_changes(&*store);
}

pub fn fail_committing_an_acknowledged_plan_again_is_a_conflict(backend: &dyn Backend) {
    // A caller that retries an append which in fact succeeded must not write it twice.
    let (_place, store) = new_store(backend);
    append_plain(&*store, 1);
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

pub fn fail_state_changes_that_contradict_the_plan_are_refused_and_write_nothing(
    backend: &dyn Backend,
) {
    let (place, store) = new_store(backend);
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
        let err = commit(&*store, &two_entries(), changes).unwrap_err();
        assert!(
            matches!(&err, StoreError::InvalidBatch { reason: r } if r.contains(reason)),
            "{name}: {err:?}"
        );
        assert_nothing_written(&*place, &*store);
    }

    // Positions before the plan are outside it too: sample_changes names 0 and 1.
    let head = append_plain(&*store, 2);
    let err = commit(&*store, &[entry_bytes(2), entry_bytes(3)], sample_changes()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidBatch { .. }), "{err:?}");
    assert_eq!(store.head().unwrap(), head);
    assert_eq!(store.entry(2).unwrap(), None);
    assert_no_sample_changes(&*store);
}

pub fn fail_a_batch_that_fails_midway_leaves_nothing_behind(backend: &dyn Backend) {
    // The entries and most records encode fine; one party record exceeds the codec's limit.
    // None of the batch may become visible: entries, records, nodes or index records.
    let (place, store) = new_store(backend);
    let mut changes = sample_changes();
    let mut huge = party_record("huge", public_key(9));
    huge.name = "x".repeat(codec_limit() + 1);
    changes.parties.insert(party_id("huge"), huge);
    let entries = [
        (entry_bytes(0), enroll_event()),
        (entry_bytes(1), ship_event(&["LOT-1"])),
    ];
    let err = commit_events(&*store, &entries, changes).unwrap_err();
    assert!(matches!(err, StoreError::Encode { .. }), "{err:?}");
    assert_nothing_written(&*place, &*store);
    // The store still works afterwards: the failed commit released the append lock.
    append_plain(&*store, 1);
    assert_eq!(store.head().unwrap().size, 1);
}

/// The plan of one part of an append: `entries` on `at` (where the parts before end, with
/// the subject index there), read through `txn`, which sees those parts.
pub fn part_plan(
    txn: &dyn AppendTxn,
    at: (Head, Subjects),
    entries: &[(Vec<u8>, Event)],
    changes: Changes,
) -> (AppendPlan, Subjects) {
    let nodes = Nodes(txn);
    let mut builder = PlanBuilder::new(at.0, &nodes, at.1);
    for (bytes, event) in entries {
        builder
            .push_entry_bytes(bytes.clone(), &Digest::ZERO, event)
            .unwrap();
    }
    builder.finish_part(changes).unwrap()
}

/// Entry bytes with the event each holds, as [`plan`] takes them.
pub type Entries = Vec<(Vec<u8>, Event)>;

/// The three parts of an append from position `start`: 10, 11 and 9 entries of every kind
/// the indexes list, the second part replacing a record the first wrote; and the changes
/// of all three taken together, as one plan would write them.
pub fn three_parts(start: u64) -> ([Entries; 3], [Changes; 3], Changes) {
    let entries = |range: std::ops::Range<u64>| -> Entries {
        range
            .map(|seq| {
                let event = match seq % 3 {
                    0 => enroll_event(),
                    1 => ship_event(&["LOT-1"]),
                    _ => plain_event(),
                };
                (entry_bytes(seq), event)
            })
            .collect()
    };
    let mut first = sample_changes();
    let moved: Vec<_> = first
        .events
        .iter()
        .map(|(id, record)| {
            (
                id,
                EventRecord {
                    seq: start,
                    ..record
                },
            )
        })
        .collect();
    first.events.extend(moved);
    first.attestations = vec![
        attestation(start, Subject::Party(party_id("kivu"))),
        attestation(start + 1, Subject::Lot(lot_id("LOT-1"))),
    ];
    let mut second = Changes::default();
    let mut renamed = first.parties[&party_id("kivu")].clone();
    renamed.name = "kivu renamed".into();
    second.parties.insert(party_id("kivu"), renamed);
    second
        .attestations
        .push(attestation(start + 12, Subject::Lot(lot_id("LOT-1"))));
    let mut all = first.clone();
    all.parties.extend(second.parties.clone());
    all.attestations.extend(second.attestations.clone());
    (
        [
            entries(start..start + 10),
            entries(start + 10..start + 21),
            entries(start + 21..start + 30),
        ],
        [first, second, Changes::default()],
        all,
    )
}

pub fn an_append_written_in_parts_commits_what_one_plan_commits(backend: &dyn Backend) {
    let (entries, changes, all) = three_parts(3);
    // The same append in one plan, on a second ledger.
    let (_one_place, one) = new_store(backend);
    append_plain(&*one, 3);
    commit_events(&*one, &entries.concat(), all).unwrap();

    let (place, store) = new_store(backend);
    append_plain(&*store, 3);
    let before = store.head().unwrap();
    let mut txn = store.begin_append().unwrap();
    let [first, second, last] = changes;
    let (part, subjects) = part_plan(&*txn, (before, Subjects::default()), &entries[0], first);
    txn.write_part(&part).unwrap();
    // The transaction reads what its parts wrote; its head is still where it began.
    assert_eq!(txn.head(), before);
    assert_eq!(
        txn.party(&party_id("kivu")).unwrap().unwrap().name,
        "kivu ltd"
    );
    let at = part.head();
    // A part that does not start where the parts end is a conflict, and writes nothing.
    let (stale, _) = part_plan(
        &*txn,
        (before, Subjects::default()),
        &entries[1],
        Changes::default(),
    );
    let err = txn.write_part(&stale).unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    let (part, subjects) = part_plan(&*txn, (at, subjects), &entries[1], second);
    txn.write_part(&part).unwrap();
    assert_eq!(
        txn.party(&party_id("kivu")).unwrap().unwrap().name,
        "kivu renamed"
    );
    let (part, _) = part_plan(&*txn, (part.head(), subjects), &entries[2], last);
    let after = one.head().unwrap();
    let lot = one.lot_events(&lot_id("LOT-1")).unwrap();
    // A reader elsewhere sees each record before the append or after it, never a part.
    let seen = std::thread::scope(|scope| {
        let reader = scope.spawn(|| {
            let head = store.head().unwrap();
            (head, store.lot_events(&lot_id("LOT-1")).unwrap())
        });
        txn.commit(&part).unwrap();
        reader.join().unwrap()
    });
    assert!([before, after].contains(&seen.0), "{:?}", seen.0);
    assert!(seen.1.is_empty() || seen.1 == lot, "{:?}", seen.1);
    assert_eq!(store.head().unwrap(), after);
    assert_acknowledged(&*place, &*store, Some(after));
    let all_entries = |s: &dyn Store| s.entries(0).map(Result::unwrap).collect::<Vec<_>>();
    assert_eq!(all_entries(&*store), all_entries(&*one));
    let size = after.size;
    assert_eq!(
        merkle::root(size, &Nodes(&*store)).unwrap(),
        merkle::root(size, &Nodes(&*one)).unwrap()
    );
    assert_eq!(
        store.merkle_range(0, 0, size).unwrap(),
        one.merkle_range(0, 0, size).unwrap()
    );
    assert_eq!(store.lot_events(&lot_id("LOT-1")).unwrap(), lot);
    assert_eq!(store.party_events().unwrap(), one.party_events().unwrap());
    assert_eq!(
        store.lot_attestations(&lot_id("LOT-1")).unwrap(),
        one.lot_attestations(&lot_id("LOT-1")).unwrap()
    );
    assert_eq!(
        store.party(&party_id("kivu")).unwrap(),
        one.party(&party_id("kivu")).unwrap()
    );
    assert_eq!(
        store.lot(&lot_id("LOT-1")).unwrap(),
        one.lot(&lot_id("LOT-1")).unwrap()
    );
    assert_eq!(
        store.subject_states().unwrap(),
        one.subject_states().unwrap()
    );
    // Appends go on from there.
    assert_eq!(append_plain(&*store, 1).size, size + 1);
}

pub fn fail_an_append_written_in_parts_and_dropped_leaves_nothing_behind(backend: &dyn Backend) {
    let (entries, [first, second, _], _) = three_parts(0);
    let (place, store) = new_store(backend);
    let mut txn = store.begin_append().unwrap();
    let (part, subjects) = part_plan(
        &*txn,
        (Head::EMPTY, Subjects::default()),
        &entries[0],
        first,
    );
    txn.write_part(&part).unwrap();
    let (part, _) = part_plan(&*txn, (part.head(), subjects), &entries[1], second);
    txn.write_part(&part).unwrap();
    drop(txn);
    assert_nothing_written(&*place, &*store);
    assert!(store.subject_states().unwrap().is_empty());
    // The store works on: the dropped transaction released the append lock.
    assert_eq!(append_plain(&*store, 1).size, 1);
    assert_eq!(store.entries(0).count(), 1);
}

pub fn concurrent_appends_in_one_process_take_turns_and_fill_consecutive_positions(
    backend: &dyn Backend,
) {
    // A transaction holds the append lock from begin to commit, so no append conflicts
    // and no position is written twice.
    let (_place, store) = new_store(backend);
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
    assert_eq!(merkle::root(160, &Nodes(&**store)).unwrap(), tree.root());
}

pub fn reopening_sees_everything(backend: &dyn Backend) {
    let place = backend.place();
    let changes = sample_changes();
    let head = {
        let store = place.create(ORIGIN).unwrap();
        let head = commit_events(
            &*store,
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
    let store = place.open().unwrap();
    assert_eq!(store.head().unwrap(), head);
    assert_acknowledged(&*place, &*store, Some(head));
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
    append_plain(&*store, 1);
    assert_eq!(store.head().unwrap().size, 3);
}

pub fn checkpoints_list_by_tree_size_and_cannot_outrun_the_log(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    append_plain(&*store, 300);
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

pub fn attestations_are_listed_in_log_order_and_only_for_their_subject(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
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
    commit(&*store, &entries, changes).unwrap();
    let seqs: Vec<u64> = store
        .attestations(&party_id("p"))
        .unwrap()
        .iter()
        .map(|a| a.seq)
        .collect();
    assert_eq!(seqs, [0, 3, 256, 299]);
    assert_eq!(store.attestations(&party_id("p2")).unwrap().len(), 1);
    assert_eq!(store.lot_attestations(&lot_id("p")).unwrap()[0].seq, 8);
    let lots = [lot_id("none"), lot_id("p"), lot_id("a"), lot_id("p")];
    let asked: Vec<&LotId> = lots.iter().collect();
    let one_by_one: Vec<Vec<AttestationRecord>> = lots
        .iter()
        .map(|l| store.lot_attestations(l).unwrap())
        .collect();
    assert_eq!(store.lot_attestations_of(&asked).unwrap(), one_by_one);
}

pub fn fail_create_refuses_an_origin_that_is_not_one_line(backend: &dyn Backend) {
    let place = backend.place();
    for origin in ["", "a\nb", "a\r"] {
        let err = create_error(&*place, origin);
        assert!(matches!(err, StoreError::BadOrigin { .. }), "{err:?}");
    }
}

pub fn fail_open_names_found_and_supported_format_versions(backend: &dyn Backend) {
    // A ledger written by a newer build.
    assert_open_refuses_format_version(backend, FORMAT_VERSION + 1);
}

pub fn fail_open_refuses_older_ledgers(backend: &dyn Backend) {
    // Version 1 stored the core's structs as state records; version 2 kept one balance per
    // (lot, party), parties without their history, and signatures that do not bind the
    // origin; version 3 had no entry log beside a sled database; a version 4 build ignores
    // the marker of a chunked sled append; version 5 kept each entry's bytes in sled, where
    // version 6 keeps its position in the entry log. This build must refuse, not misread,
    // any of them.
    for version in 1..=5 {
        assert_open_refuses_format_version(backend, version);
    }
}

pub fn the_format_record_is_four_bytes_little_endian(backend: &dyn Backend) {
    // Pins the one record whose encoding may never change across versions, and the
    // version this build writes.
    let (place, _store) = new_store(backend);
    assert_eq!(FORMAT_VERSION, 6);
    assert_eq!(place.get(keys::FORMAT).unwrap(), [6, 0, 0, 0]);
}

pub fn fail_damaged_records_read_as_errors_naming_the_key(backend: &dyn Backend) {
    let (place, store) = new_store(backend);
    let garbage: &[u8] = &[0xff; 5];
    put(&*place, keys::party(&party_id("kivu")), garbage);
    put(&*place, keys::key_owner(&public_key(7)), garbage);
    put(&*place, keys::lot(&lot_id("LOT-1")), garbage);
    put(
        &*place,
        keys::holding(&lot_id("LOT-1"), &party_id("kivu")),
        garbage,
    );
    put(&*place, keys::shipment(&digest("ship")), garbage);
    put(&*place, keys::event(&digest("extract")), garbage);

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

pub fn fail_a_valid_record_with_trailing_bytes_is_corrupt(backend: &dyn Backend) {
    let (place, store) = new_store(backend);
    commit(&*store, &two_entries(), sample_changes()).unwrap();
    let key = keys::lot(&lot_id("LOT-1"));
    let mut bytes = place.get(&key).unwrap();
    bytes.push(0);
    put(&*place, &key, bytes);
    let err = store.lot(&lot_id("LOT-1")).unwrap_err().to_string();
    assert!(
        err.contains("lot record at key l/LOT-1") && err.contains("trailing"),
        "{err}"
    );
}

pub fn fail_damaged_store_records_are_corrupt_not_panics(backend: &dyn Backend) {
    let (place, store) = new_store(backend);
    append_plain(&*store, 1);
    put(&*place, keys::merkle(0, 0), vec![1u8; 31]);
    put(
        &*place,
        keys::party_attestation(&party_id("kivu"), 0),
        [2u8; 3],
    );
    put(&*place, keys::checkpoint(1), [0xff; 12]);
    put(&*place, keys::ORIGIN, [0xff; 3]);
    // Index keys too short or too long to end in a position.
    let mut short_lot_key = keys::lot_events(&lot_id("LOT-1"));
    short_lot_key.extend([0u8; 3]);
    put(&*place, short_lot_key, b"");
    let mut long_party_key = keys::party_event(0);
    long_party_key.push(0);
    put(&*place, long_party_key, b"");
    let corrupt = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Corrupt { .. }));
    assert!(corrupt(store.merkle_node(0, 0).map(drop)));
    assert!(corrupt(store.attestations(&party_id("kivu")).map(drop)));
    assert!(corrupt(store.checkpoints().map(drop)));
    assert!(corrupt(store.origin().map(drop)));
    assert!(corrupt(store.lot_events(&lot_id("LOT-1")).map(drop)));
    assert!(corrupt(store.party_events().map(drop)));
}

pub fn fail_a_plan_over_a_damaged_or_missing_merkle_node_is_corrupt(backend: &dyn Backend) {
    // Appending entry 1 completes the level-1 node over leaves 0 and 1, so the plan reads
    // the stored leaf 0 through the transaction: damage there must fail the plan.
    for (name, damage) in [
        ("damaged", Some(vec![1u8; 31])),
        ("missing", None::<Vec<u8>>),
    ] {
        let (place, store) = new_store(backend);
        let head = append_plain(&*store, 1);
        match damage {
            Some(bytes) => put(&*place, keys::merkle(0, 0), bytes),
            None => place.remove(&keys::merkle(0, 0)),
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

pub fn parties_and_lots_are_listed_by_id_and_lots_a_page_at_a_time(backend: &dyn Backend) {
    let (_place, store) = new_store(backend);
    let mut changes = sample_changes();
    let lot = changes.lots.get(&lot_id("LOT-1")).unwrap();
    for id in ["LOT-10", "LOT-2", "LOT-1.5"] {
        changes.lots.insert(&lot_id(id), lot.clone());
    }
    commit(&*store, &two_entries(), changes).unwrap();
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
