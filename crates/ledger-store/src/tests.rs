//! Tests of the sled backend through the [`Store`] and [`StateView`] traits: round trips,
//! atomicity, positions, format version, locking and damaged storage.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use ledger_core::event::{Attest, CapSeverity, Claim, Kind, Outcome, Role, Subject};
use ledger_core::id::{Component, Country, LotId, Material, PartyId};
use ledger_core::keys::{PublicKey, SecretKey};
use ledger_core::quantity::{Quantity, Unit};
use ledger_core::state::{
    AttestationRecord, Changes, EventRecord, Holding, KeyRecord, LotRecord, PartyRecord,
    ShipmentRecord, StateView,
};
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

/// Appends `count` entries with no index changes; returns the new head.
fn append_plain(store: &SledStore, count: u64) -> Head {
    let start = store.head().unwrap().size;
    let entries: Vec<_> = (start..start + count)
        .map(|s| (s, entry_bytes(s)))
        .collect();
    let head = Head {
        size: start + count,
        last: digest(&format!("last {}", start + count - 1)),
    };
    store
        .append(&AppendBatch {
            entries: &entries,
            head,
            changes: &Changes::default(),
            merkle_nodes: &[],
            lot_events: &[],
            party_events: &[],
        })
        .unwrap();
    head
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
    }
}

fn attestation(seq: u64, subject: Subject) -> AttestationRecord {
    AttestationRecord {
        event: digest(&format!("attest {seq}")),
        seq,
        auditor: party_id("auditor"),
        time: time(1_700_000_000 + seq as i64),
        attest: Attest {
            subject,
            claim: Claim::CapOpened,
            result: Some(Outcome::Conditional),
            score: Some(71),
            reference: Some("CAP-7".into()),
            severity: Some(CapSeverity::Major),
            valid_until: Some(time(1_800_000_000)),
        },
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
            created_by: digest("extract"),
            creator: party_id("kivu"),
        },
    );
    c.holdings.insert(
        (lot_id("LOT-1"), party_id("kivu")),
        Holding {
            balance: 19_950_500,
            source: digest("extract"),
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
            credited: vec![lot_id("LOT-1")],
        },
    );
    c.attestations
        .push(attestation(0, Subject::Party(party_id("kivu"))));
    c.attestations
        .push(attestation(1, Subject::Lot(lot_id("LOT-1"))));
    c
}

fn two_entries() -> Vec<(u64, Vec<u8>)> {
    vec![(0, entry_bytes(0)), (1, entry_bytes(1))]
}

/// Asserts that the store shows none of [`sample_changes`] and no entries.
fn assert_nothing_written(store: &SledStore) {
    assert_eq!(store.head().unwrap(), Head::EMPTY);
    assert_eq!(store.entry(0).unwrap(), None);
    assert_eq!(store.entries(0).count(), 0);
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
    assert_eq!(store.merkle_node(0, 0).unwrap(), None);
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
    let head = Head {
        size: 2,
        last: digest("entry 1"),
    };
    let nodes = [
        (0, 0, digest("leaf 0")),
        (0, 1, digest("leaf 1")),
        (1, 0, digest("node")),
    ];
    store
        .append(&AppendBatch {
            entries: &two_entries(),
            head,
            changes: &changes,
            merkle_nodes: &nodes,
            lot_events: &[],
            party_events: &[],
        })
        .unwrap();

    assert_eq!(store.head().unwrap(), head);
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
    for (level, index, hash) in nodes {
        assert_eq!(store.merkle_node(level, index).unwrap(), Some(hash));
    }
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
                balance,
                source: digest("x"),
            },
        );
        let entries = [(seq, entry_bytes(seq))];
        let head = Head {
            size: seq + 1,
            last: digest(&seq.to_string()),
        };
        store
            .append(&AppendBatch {
                entries: &entries,
                head,
                changes: &changes,
                merkle_nodes: &[],
                lot_events: &[],
                party_events: &[],
            })
            .unwrap();
    }
    assert_eq!(store.holding(&lot, &kivu).unwrap().unwrap().balance, 40);
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
fn fail_append_at_the_wrong_position_is_refused_and_writes_nothing() {
    let (_dir, store) = new_store();
    let changes = sample_changes();
    let nodes = [(0, 0, digest("leaf"))];
    let entries = [(1, entry_bytes(1)), (2, entry_bytes(2))];
    let head = Head {
        size: 3,
        last: digest("2"),
    };
    let err = store
        .append(&AppendBatch {
            entries: &entries,
            head,
            changes: &changes,
            merkle_nodes: &nodes,
            lot_events: &[],
            party_events: &[],
        })
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Conflict {
                expected: 0,
                found: 1
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "append refused: it starts at log position 1 but the log has 0 entries"
    );
    assert_nothing_written(&store);
}

#[test]
fn fail_replaying_an_acknowledged_append_is_a_conflict() {
    let (_dir, store) = new_store();
    append_plain(&store, 2);
    let entries = [(1, b"other".to_vec())];
    let head = Head {
        size: 2,
        last: digest("other"),
    };
    let err = store
        .append(&AppendBatch {
            entries: &entries,
            head,
            changes: &Changes::default(),
            merkle_nodes: &[],
            lot_events: &[],
            party_events: &[],
        })
        .unwrap_err();
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
    assert_eq!(store.entry(1).unwrap(), Some(entry_bytes(1)));
}

#[test]
fn fail_self_contradicting_batches_are_refused_and_write_nothing() {
    let (_dir, store) = new_store();
    let changes = sample_changes();
    let gap = [(0, entry_bytes(0)), (2, entry_bytes(2))];
    let good = two_entries();
    let mut outside = sample_changes();
    outside
        .attestations
        .push(attestation(5, Subject::Party(party_id("kivu"))));
    let mut twice = sample_changes();
    twice
        .attestations
        .push(attestation(0, Subject::Party(party_id("kivu"))));
    let batch = |entries, size, changes| AppendBatch {
        entries,
        head: Head {
            size,
            last: digest("x"),
        },
        changes,
        merkle_nodes: &[],
        lot_events: &[],
        party_events: &[],
    };
    let cases = [
        ("no entries", batch(&[], 0, &changes)),
        ("gap", batch(&gap, 3, &changes)),
        ("head size", batch(&good, 3, &changes)),
        ("attestation outside", batch(&good, 2, &outside)),
        ("two attestations under one key", batch(&good, 2, &twice)),
    ];
    for (name, batch) in cases {
        let err = store.append(&batch).unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidBatch { .. }),
            "{name}: {err:?}"
        );
        assert_nothing_written(&store);
    }
}

#[test]
fn fail_a_batch_that_fails_midway_leaves_nothing_behind() {
    // The entries and most records encode fine; one party record exceeds the codec's limit.
    // None of the batch may become visible.
    let (_dir, store) = new_store();
    let mut changes = sample_changes();
    let mut huge = party_record("huge", public_key(9));
    huge.name = "x".repeat(codec_limit() + 1);
    changes.parties.insert(party_id("huge"), huge);
    let head = Head {
        size: 2,
        last: digest("1"),
    };
    let nodes = [(0, 0, digest("leaf"))];
    let err = store
        .append(&AppendBatch {
            entries: &two_entries(),
            head,
            changes: &changes,
            merkle_nodes: &nodes,
            lot_events: &[],
            party_events: &[],
        })
        .unwrap_err();
    assert!(matches!(err, StoreError::Encode { .. }), "{err:?}");
    assert_nothing_written(&store);
    // The store still works afterwards.
    append_plain(&store, 1);
    assert_eq!(store.head().unwrap().size, 1);
}

fn codec_limit() -> usize {
    ledger_core::codec::MAX_ENCODED
}

#[test]
fn concurrent_appends_in_one_process_never_write_one_position_twice() {
    let (_dir, store) = new_store();
    let store = Arc::new(store);
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                let mut won = 0u64;
                for _ in 0..20 {
                    let size = store.head().unwrap().size;
                    let entries = [(size, format!("thread {t}").into_bytes())];
                    let head = Head {
                        size: size + 1,
                        last: digest(&format!("{t}/{size}")),
                    };
                    match store.append(&AppendBatch {
                        entries: &entries,
                        head,
                        changes: &Changes::default(),
                        merkle_nodes: &[],
                        lot_events: &[],
                        party_events: &[],
                    }) {
                        Ok(()) => won += 1,
                        Err(StoreError::Conflict { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                won
            })
        })
        .collect();
    let won: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(store.head().unwrap().size, won);
    assert_eq!(store.entries(0).count() as u64, won);
}

#[test]
fn reopening_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let changes = sample_changes();
    let head = Head {
        size: 2,
        last: digest("entry 1"),
    };
    {
        let store = SledStore::create(dir.path(), "custody.example/log").unwrap();
        let nodes = [(1, 0, digest("node"))];
        store
            .append(&AppendBatch {
                entries: &two_entries(),
                head,
                changes: &changes,
                merkle_nodes: &nodes,
                lot_events: &[],
                party_events: &[],
            })
            .unwrap();
        store
            .put_checkpoint(2, "custody.example/log\n2\nroot\n")
            .unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.head().unwrap(), head);
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
    assert_eq!(store.merkle_node(1, 0).unwrap(), Some(digest("node")));
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
    let entries: Vec<_> = (0..300).map(|s| (s, entry_bytes(s))).collect();
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
    let head = Head {
        size: 300,
        last: digest("299"),
    };
    store
        .append(&AppendBatch {
            entries: &entries,
            head,
            changes: &changes,
            merkle_nodes: &[],
            lot_events: &[],
            party_events: &[],
        })
        .unwrap();
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
        SledStore::open(dir.path()).unwrap().origin().unwrap(),
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
    SledStore::create(&nested, "o").unwrap();
    assert!(SledStore::open(&nested).is_ok());
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

#[test]
fn fail_open_names_found_and_supported_format_versions() {
    let (dir, store) = new_store();
    store
        .raw()
        .insert(keys::FORMAT, &2u32.to_le_bytes())
        .unwrap();
    drop(store);
    let err = SledStore::open(dir.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::UnsupportedVersion {
                found: 2,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} has storage format version 2; this build supports version 1",
            dir.path().display()
        )
    );
}

#[test]
fn the_format_record_is_four_bytes_little_endian() {
    // Pins the one record whose encoding may never change across versions.
    let (_dir, store) = new_store();
    assert_eq!(
        store.raw().get(keys::FORMAT).unwrap().unwrap().as_ref(),
        [1, 0, 0, 0]
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
    // sled's background flusher holds the file for a moment after the drop.
    let reopened = (0..100).find_map(|_| {
        SledStore::open(dir.path())
            .map_err(|_| std::thread::sleep(std::time::Duration::from_millis(20)))
            .ok()
    });
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
    assert!(SledStore::open(dir.path()).is_ok());
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
        assert!(
            err.0.contains("corrupt ledger store") && err.0.contains("at key "),
            "{err}"
        );
    }
    assert!(
        errors[0].0.contains("party record at key p/kivu"),
        "{}",
        errors[0]
    );
    assert!(
        errors[3].0.contains("holding at key h/LOT-1\\x00kivu"),
        "{}",
        errors[3]
    );
}

#[test]
fn fail_a_valid_record_with_trailing_bytes_is_corrupt() {
    let (_dir, store) = new_store();
    let changes = sample_changes();
    store
        .append(&AppendBatch {
            entries: &two_entries(),
            head: Head {
                size: 2,
                last: digest("1"),
            },
            changes: &changes,
            merkle_nodes: &[],
            lot_events: &[],
            party_events: &[],
        })
        .unwrap();
    let key = keys::lot(&lot_id("LOT-1"));
    let mut bytes = store.raw().get(&key).unwrap().unwrap().to_vec();
    bytes.push(0);
    store.raw().insert(&key, bytes).unwrap();
    let err = store.lot(&lot_id("LOT-1")).unwrap_err();
    assert!(
        err.0.contains("lot record at key l/LOT-1") && err.0.contains("trailing"),
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
    let corrupt = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Corrupt { .. }));
    assert!(corrupt(store.merkle_node(0, 0).map(drop)));
    assert!(corrupt(store.attestations(&party_id("kivu")).map(drop)));
    assert!(corrupt(store.checkpoints().map(drop)));
    assert!(corrupt(store.origin().map(drop)));
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
        });
    }
}

#[test]
fn fail_a_log_shorter_than_acknowledged_refuses_appends() {
    let (dir, store) = new_store();
    let head = append_plain(&store, 3);
    assert_eq!(store.acknowledged().unwrap(), Some(head));
    // As if sled had dropped the last two entries: the acknowledged record says more.
    let claimed = ledger_core::codec::encode(&(head.size + 2, head.last)).unwrap();
    std::fs::write(dir.path().join("acknowledged-head"), claimed).unwrap();
    let err = store
        .append(&AppendBatch {
            entries: &[(3, entry_bytes(3))],
            head: Head {
                size: 4,
                last: digest("last 3"),
            },
            changes: &Changes::default(),
            merkle_nodes: &[],
            lot_events: &[],
            party_events: &[],
        })
        .unwrap_err();
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
    assert_eq!(store.head().unwrap(), head, "nothing was written");
}
