//! The store suite ([`crate::suite`]) run on sled, and the tests only sled has: its
//! directory (existing files, missing directories), its locks, its meta records, the
//! acknowledged-head file beside the database, leftover snapshots, arbitrary stored bytes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use ledger_core::state::Changes;
use proptest::prelude::*;

use super::*;
use crate::sled_store::CommitHooks;
use crate::suite::*;
use crate::{keys, writes};

/// sled ledgers in temporary directories.
struct Sled;

impl Backend for Sled {
    fn place(&self) -> Box<dyn Place> {
        Box::new(SledPlace {
            dir: tempfile::tempdir().unwrap(),
            db: Mutex::new(None),
        })
    }
}

/// A temporary directory, and a handle on the database of the store last created or opened
/// there, for raw reads and writes.
struct SledPlace {
    dir: tempfile::TempDir,
    db: Mutex<Option<sled::Db>>,
}

impl SledPlace {
    fn db(&self) -> sled::Db {
        let db = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        db.clone().expect("no store was created or opened here")
    }
}

impl Place for SledPlace {
    fn name(&self) -> String {
        self.dir.path().display().to_string()
    }

    fn create(&self, origin: &str) -> Result<Box<dyn Store>, StoreError> {
        let store = SledStore::create(self.dir.path(), origin)?;
        *self.db.lock().unwrap() = Some(store.raw().clone());
        Ok(Box::new(store))
    }

    fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        // The raw handle keeps sled's files locked: let go of it first.
        self.db.lock().unwrap().take();
        let mut tries = 0;
        let store = loop {
            // sled's background flusher holds the file a moment after a drop.
            match SledStore::open(self.dir.path()) {
                Err(StoreError::Locked { .. }) if tries < 100 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                opened => break opened?,
            }
        };
        *self.db.lock().unwrap() = Some(store.raw().clone());
        Ok(Box::new(store))
    }

    fn acknowledged_is_head(&self) -> bool {
        false
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.db().get(key).unwrap().map(|v| v.to_vec())
    }

    fn put(&self, key: &[u8], value: &[u8]) {
        self.db().insert(key, value).unwrap();
    }

    fn remove(&self, key: &[u8]) {
        self.db().remove(key).unwrap();
    }
}

/// A `#[test]` running each test of the suite on sled.
macro_rules! on_sled {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                crate::suite::$name(&Sled);
            }
        )*
    };
}

crate::for_each_test!(on_sled);

fn new_store() -> (tempfile::TempDir, SledStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::create(dir.path(), "custody.example/log").unwrap();
    (dir, store)
}

/// Why the ledger in `dir` does not open, once this process's last handle has let go of it
/// (see [`open_when_released`]): the first error that is not [`StoreError::Locked`].
fn open_error_when_released(dir: &std::path::Path) -> StoreError {
    for _ in 0..100 {
        match SledStore::open(dir) {
            Err(StoreError::Locked { .. }) => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => return e,
            Ok(_) => panic!("the ledger opened"),
        }
    }
    panic!("the ledger stayed locked")
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
        let err = open_error_when_released(dir.path());
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
    let err = open_error_when_released(dir.path());
    assert!(
        err.to_string()
            .contains("the head says 2 entries but key e/"),
        "{err}"
    );
}

/// The database holds where each entry is in `entries.log`, which holds its bytes: a
/// damaged position names the key, a damaged entry log names the file and offset, and
/// neither ever reads as other bytes.
#[test]
fn fail_entries_read_back_only_from_the_entry_log_frame_their_record_locates() {
    let (dir, store) = new_store();
    append_plain(&store, 3);
    let raw = store.raw().get(keys::entry(1)).unwrap().unwrap();
    assert_eq!(raw.len(), 12, "an offset u64 and a length u32");
    assert_eq!(store.entry(1).unwrap(), Some(entry_bytes(1)));
    let read: Vec<(u64, Vec<u8>)> = store.entries(0).map(Result::unwrap).collect();
    assert_eq!(
        read,
        (0..3).map(|s| (s, entry_bytes(s))).collect::<Vec<_>>()
    );
    // Entry 2's position under entry 1's key reads entry 2, a whole entry frame: what the
    // store cannot tell, the hash chain does (whole-ledger verify).
    let two = store.raw().get(keys::entry(2)).unwrap().unwrap();
    store.raw().insert(keys::entry(1), two.clone()).unwrap();
    assert_eq!(
        store.entry(1).unwrap(),
        Some(entry_bytes(2)),
        "the hash chain catches this"
    );
    let mut shifted = store.raw().get(keys::entry(0)).unwrap().unwrap().to_vec();
    shifted[0] = shifted[0].wrapping_add(1);
    store.raw().insert(keys::entry(1), shifted).unwrap();
    let e = store.entry(1).unwrap_err().to_string();
    assert!(
        e.contains("entries.log") && e.contains("another frame"),
        "{e}"
    );
    store
        .raw()
        .insert(keys::entry(1), b"short".as_slice())
        .unwrap();
    let e = store.entry(1).unwrap_err().to_string();
    assert!(e.contains("e/") && e.contains("entry position"), "{e}");
    assert!(store.entries(0).any(|r| r.is_err()));
    store.raw().insert(keys::entry(1), raw).unwrap();
    // A byte of entry 0 changed in the file.
    let at: crate::entry_log::EntryAt =
        ledger_core::codec::decode_lenient(&store.raw().get(keys::entry(0)).unwrap().unwrap())
            .unwrap();
    let path = dir.path().join("entries.log");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[usize::try_from(at.offset).unwrap()] ^= 1;
    std::fs::write(&path, bytes).unwrap();
    let e = store.entry(0).unwrap_err().to_string();
    assert!(
        e.contains("checksum") && e.contains(&at.offset.to_string()),
        "{e}"
    );
    assert_eq!(store.entry(1).unwrap(), Some(entry_bytes(1)));
}

/// Once asked to, the store keeps each committed entry's place in memory: reads then find
/// it there (here, after its database record is gone), later commits add theirs, and a
/// damaged record is refused when the positions are read, naming it.
#[test]
fn entry_positions_kept_in_memory_answer_as_the_database_and_follow_commits() {
    let (_dir, store) = new_store();
    append_plain(&store, 3);
    store.cache_entry_positions().unwrap();
    append_plain(&store, 2);
    for seq in 0..5 {
        store.raw().remove(keys::entry(seq)).unwrap();
        assert_eq!(
            store.entry(seq).unwrap(),
            Some(entry_bytes(seq)),
            "entry {seq}"
        );
    }
    assert_eq!(store.entry(5).unwrap(), None);
    // Asking again reads only what is not cached yet.
    store.cache_entry_positions().unwrap();
    assert_eq!(store.entry(4).unwrap(), Some(entry_bytes(4)));

    let (_dir, store) = new_store();
    append_plain(&store, 3);
    store
        .raw()
        .insert(keys::entry(1), b"short".as_slice())
        .unwrap();
    let e = store.cache_entry_positions().unwrap_err().to_string();
    assert!(e.contains("e/") && e.contains("entry position"), "{e}");
    store.raw().remove(keys::entry(1)).unwrap();
    let e = store.cache_entry_positions().unwrap_err().to_string();
    assert!(e.contains("entry 1 is missing"), "{e}");
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
fn fail_an_acknowledged_head_file_of_the_wrong_size_is_named() {
    let (dir, store) = new_store();
    append_plain(&store, 1);
    let path = dir.path().join("acknowledged-head");
    // A file of 64 MiB (damage, or something else copied in its place) and a cut-off one.
    for (bytes, said) in [
        (vec![7u8; 64 << 20], "more than 40 bytes"),
        (vec![7u8; 39], "39 bytes"),
    ] {
        std::fs::write(&path, bytes).unwrap();
        let err = store.acknowledged().unwrap_err();
        assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("acknowledged-head"), "{message}");
        assert!(message.contains(said), "{message}");
    }
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

/// Every (key, value) of a raw database, in key order.
type Dump = Vec<(Vec<u8>, Vec<u8>)>;

/// The [`Dump`] of `db`.
fn dump(db: &sled::Db) -> Dump {
    db.iter()
        .map(|item| {
            let (key, value) = item.unwrap();
            (key.to_vec(), value.to_vec())
        })
        .collect()
}

/// Closes `store` (sled's close flushes: what was written is on disk, the worst case for a
/// crash), opens the ledger in `dir` again, and dumps it.
fn reopened(store: SledStore, dir: &std::path::Path) -> (SledStore, Dump) {
    drop(store);
    let store = open_when_released(dir).expect("the ledger opens");
    let dump = dump(store.raw());
    (store, dump)
}

/// The keys of `dump` under `prefix`, readable.
fn keys_under(dump: &[(Vec<u8>, Vec<u8>)], prefix: &[u8]) -> Vec<String> {
    dump.iter()
        .filter(|(key, _)| key.starts_with(prefix))
        .map(|(key, _)| keys::show(key))
        .collect()
}

/// `dump` without the undo records (`u/`), which a committed chunked append leaves to the
/// next chunked commit or open.
fn without_undo(dump: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<(Vec<u8>, Vec<u8>)> {
    dump.into_iter()
        .filter(|(key, _)| !key.starts_with(keys::UNDO))
        .collect()
}

/// The prefixes of the keys an append writes at its own positions (entries, Merkle nodes,
/// the party and lot indexes, attestations): never under an undo record.
const POSITIONAL: [&[u8]; 6] = [
    keys::ENTRY,
    keys::MERKLE,
    keys::PARTY_EVENT,
    keys::LOT_EVENT,
    keys::PARTY_ATTESTATION,
    keys::LOT_ATTESTATION,
];

/// Whether `key` is under one of [`POSITIONAL`]'s prefixes.
fn positional(key: &[u8]) -> bool {
    POSITIONAL.iter().any(|prefix| key.starts_with(prefix))
}

/// Every key `plan` writes but the head and the entry log length, in key order: the order
/// of a chunked commit's batches.
fn keys_of(plan: &AppendPlan) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = plan
        .entries()
        .iter()
        .map(|(seq, _)| keys::entry(*seq))
        .chain(writes::records(plan).unwrap().into_keys())
        .collect();
    keys.sort_unstable();
    keys
}

/// Records per batch in the tests of chunked commits: small, so a plan of a few dozen
/// entries takes many batches.
const TEST_CHUNK: usize = 16;

/// A store holding a first append (an enrollment and a shipment, with every kind of state
/// record), on which [`big_plan`] writes over some records and adds many.
fn store_for_chunks() -> (tempfile::TempDir, SledStore) {
    let (dir, store) = new_store();
    let entries = [
        (entry_bytes(0), enroll_event()),
        (entry_bytes(1), ship_event(&["LOT-1"])),
    ];
    commit_events(&store, &entries, sample_changes()).unwrap();
    (dir, store)
}

/// A plan of 60 entries on `txn`'s head (enrollments, shipments naming two lots, plain
/// entries) whose changes replace the party, lot, holding and event records of
/// [`store_for_chunks`], add a lot and a holding, and add attestations about a party and a
/// lot: over 3 × [`TEST_CHUNK`] records, with keys of every positional kind (Merkle nodes
/// at six levels) and state records that existed before and that did not.
fn big_plan(txn: &dyn AppendTxn) -> AppendPlan {
    let start = txn.head().size;
    let entries: Vec<_> = (start..start + 60)
        .map(|seq| {
            let event = match seq % 3 {
                0 => enroll_event(),
                1 => ship_event(&["LOT-1", "LOT-2"]),
                _ => plain_event(),
            };
            (entry_bytes(seq), event)
        })
        .collect();
    let mut changes = sample_changes();
    if let Some(party) = changes.parties.get_mut(&party_id("kivu")) {
        party.name = "kivu renamed".into();
    }
    if let Some(mut lot) = changes.lots.get(&lot_id("LOT-1")) {
        lot.created = ledger_core::quantity::Quantity::Grams(7);
        changes.lots.insert(&lot_id("LOT-1"), lot.clone());
        changes.lots.insert(&lot_id("LOT-2"), lot);
    }
    if let Some(holding) = changes
        .holdings
        .get(&lot_id("LOT-1"), &party_id("kivu"))
        .cloned()
    {
        changes
            .holdings
            .insert(&lot_id("LOT-2"), &party_id("kivu"), holding);
    }
    let moved: Vec<_> = changes
        .events
        .iter()
        .map(|(id, record)| {
            let seq = start;
            (id, ledger_core::state::EventRecord { seq, ..record })
        })
        .collect();
    changes.events.extend(moved);
    // An event the transaction looks up and does not find, as the rules' replay check
    // does: new, so a chunked commit writes no undo record for it.
    let new_event = new_event_id(start);
    assert_eq!(txn.event(&new_event).unwrap(), None);
    changes.events.insert(
        new_event,
        ledger_core::state::EventRecord {
            seq: start + 4,
            time: time(1_700_000_100),
            actor: party_id("kivu"),
            kind: ledger_core::event::Kind::Extract,
        },
    );
    changes.attestations = vec![
        attestation(start, ledger_core::event::Subject::Party(party_id("kivu"))),
        attestation(start + 1, ledger_core::event::Subject::Lot(lot_id("LOT-1"))),
    ];
    let plan = plan(txn, &entries, changes);
    let records = plan.entries().len() + writes::records(&plan).unwrap().len();
    assert!(records > 3 * TEST_CHUNK, "{records} records");
    let written = keys_of(&plan);
    for prefix in POSITIONAL {
        assert!(written.iter().any(|key| key.starts_with(prefix)));
    }
    let levels: std::collections::BTreeSet<u8> = plan
        .merkle_nodes()
        .iter()
        .map(|(level, ..)| *level)
        .collect();
    assert!(levels.len() >= 6, "{levels:?}");
    plan
}

/// The id of the event [`big_plan`] adds on a log of `start` entries, which no earlier
/// append wrote.
fn new_event_id(start: u64) -> ledger_core::Digest {
    digest(&format!("an event new in the big plan at {start}"))
}

/// The batches of records a chunked commit of `plan` writes with [`TEST_CHUNK`].
fn chunks_of(plan: &AppendPlan) -> usize {
    (plan.entries().len() + writes::records(plan).unwrap().len()).div_ceil(TEST_CHUNK)
}

/// Makes `store` commit in batches of [`TEST_CHUNK`], stopping after `stop` of them, as
/// a crash would (no roll-back) when `crash`.
fn chunk(store: &SledStore, stop: Option<usize>, crash: bool) {
    store.set_commit_hooks(CommitHooks {
        chunk_records: TEST_CHUNK,
        stop_after_chunks: stop,
        crash,
    });
}

/// The dump of a ledger holding [`store_for_chunks`]'s append and [`big_plan`], committed
/// in one batch.
fn committed_in_one_batch() -> Vec<(Vec<u8>, Vec<u8>)> {
    let (_dir, store) = store_for_chunks();
    let txn = store.begin_append().unwrap();
    let plan = big_plan(&*txn);
    txn.commit(&plan).unwrap();
    dump(store.raw())
}

#[test]
fn a_chunked_append_writes_what_one_batch_writes_besides_its_undo_records() {
    let (_dir, store) = store_for_chunks();
    chunk(&store, None, false);
    let txn = store.begin_append().unwrap();
    let plan = big_plan(&*txn);
    txn.commit(&plan).unwrap();
    let chunked = dump(store.raw());
    assert_eq!(
        keys_under(&chunked, keys::PENDING_APPEND),
        Vec::<String>::new()
    );
    assert!(
        without_undo(chunked) == committed_in_one_batch(),
        "the dumps differ"
    );
    assert_eq!(store.head().unwrap(), plan.head());
    assert_eq!(store.acknowledged().unwrap(), Some(plan.head()));
}

#[test]
fn fail_a_chunked_append_cut_short_by_a_crash_is_undone_at_the_next_open() {
    let expected = committed_in_one_batch();
    let chunks = {
        let (_dir, store) = store_for_chunks();
        let txn = store.begin_append().unwrap();
        chunks_of(&big_plan(&*txn))
    };
    for stop in [0, 1, 2, chunks] {
        let (dir, store) = store_for_chunks();
        let before = dump(store.raw());
        let log = std::fs::read(dir.path().join("entries.log")).unwrap();
        chunk(&store, Some(stop), true);
        let txn = store.begin_append().unwrap();
        let plan = big_plan(&*txn);
        let err = txn.commit(&plan).unwrap_err();
        assert!(err.to_string().contains("stopped after"), "{err}");
        let partial = dump(store.raw());
        assert_eq!(
            keys_under(&partial, keys::PENDING_APPEND),
            ["meta/pending-append"]
        );
        // An undo record for each key the applied batches wrote that may have existed
        // before: none for a positional key, which cannot, nor for the event record the
        // transaction found absent.
        let written = keys_of(&plan);
        let applied = &written[..(stop * TEST_CHUNK).min(written.len())];
        let expected_undo: Vec<String> = applied
            .iter()
            .filter(|key| {
                !positional(key) && **key != keys::event(&new_event_id(plan.start().size))
            })
            .map(|key| keys::show(&keys::undo(plan.start().size, key)))
            .collect();
        assert_eq!(
            keys_under(&partial, keys::UNDO),
            expected_undo,
            "after {stop} batches"
        );
        if stop == chunks {
            // Every state record is covered: overwritten ones and new ones.
            let restored = |key: &[u8]| {
                partial
                    .iter()
                    .find(|(k, _)| *k == keys::undo(plan.start().size, key))
                    .map(|(_, value)| value[0])
            };
            assert_eq!(restored(&keys::party(&party_id("kivu"))), Some(1));
            assert_eq!(restored(&keys::lot(&lot_id("LOT-2"))), Some(0));
            assert_eq!(
                restored(&keys::event(&new_event_id(plan.start().size))),
                None
            );
            assert!(
                partial
                    .iter()
                    .any(|(k, _)| *k == keys::event(&new_event_id(plan.start().size)))
            );
        }
        let (store, reopened) = reopened(store, dir.path());
        assert!(reopened == before, "after {stop} batches: the dumps differ");
        assert_eq!(
            std::fs::read(dir.path().join("entries.log")).unwrap(),
            log,
            "after {stop} batches"
        );
        // The same append then succeeds, chunked again, and writes what one batch writes.
        chunk(&store, None, false);
        let txn = store.begin_append().unwrap();
        txn.commit(&plan).unwrap();
        assert!(
            without_undo(dump(store.raw())) == expected,
            "after {stop} batches: the retry differs"
        );
        assert_eq!(
            store.party(&party_id("kivu")).unwrap().unwrap().name,
            "kivu renamed"
        );
        assert_eq!(store.lot_events(&lot_id("LOT-2")).unwrap().len(), 20);
    }
}

#[test]
fn fail_a_chunked_append_that_fails_midway_is_undone_at_once() {
    let (_dir, store) = store_for_chunks();
    let before = dump(store.raw());
    chunk(&store, Some(2), false);
    let txn = store.begin_append().unwrap();
    let plan = big_plan(&*txn);
    let err = txn.commit(&plan).unwrap_err();
    assert!(err.to_string().contains("stopped after 2 batches"), "{err}");
    assert!(dump(store.raw()) == before, "the dumps differ");
    chunk(&store, None, false);
    store.begin_append().unwrap().commit(&plan).unwrap();
    assert!(
        without_undo(dump(store.raw())) == committed_in_one_batch(),
        "the dumps differ"
    );
}

#[test]
fn fail_an_undo_cut_short_is_taken_up_again_at_the_next_open() {
    let (dir, store) = store_for_chunks();
    let before = dump(store.raw());
    let txn = store.begin_append().unwrap();
    let plan = big_plan(&*txn);
    drop(txn);
    chunk(&store, Some(chunks_of(&plan)), true);
    store.begin_append().unwrap().commit(&plan).unwrap_err();
    // Half the undo, as an open does it: the old value put back (0x00: there was none,
    // 0x01: the bytes that follow) and the undo record removed, in one batch.
    let raw = store.raw();
    let prefix = keys::undo_prefix(plan.start().size);
    let undo: Vec<_> = raw.scan_prefix(&prefix).map(Result::unwrap).collect();
    let mut batch = sled::Batch::default();
    for (key, value) in &undo[..undo.len() / 2] {
        let record = &key[prefix.len()..];
        match value.split_first().unwrap() {
            (0, []) => batch.remove(record),
            (1, old) => batch.insert(record, old),
            other => panic!("undo record {}: {other:?}", keys::show(key)),
        }
        batch.remove(key);
    }
    // And some of the keys removed by position: the entries and nodes of the first half.
    let written = keys_of(&plan);
    for key in written.iter().filter(|key| positional(key)).take(40) {
        batch.remove(key.as_slice());
    }
    raw.apply_batch(batch).unwrap();
    assert!(reopened(store, dir.path()).1 == before, "the dumps differ");
}

#[test]
fn undo_records_of_a_committed_append_go_with_the_next_chunked_commit_and_at_open() {
    let (dir, store) = store_for_chunks();
    chunk(&store, None, false);
    let txn = store.begin_append().unwrap();
    let first = big_plan(&*txn);
    txn.commit(&first).unwrap();
    let left = |store: &SledStore, start: u64| {
        keys_under(&dump(store.raw()), &keys::undo_prefix(start)).len()
    };
    assert!(left(&store, first.start().size) > 0);
    // A commit in one batch leaves them; the next chunked one deletes them.
    append_plain(&store, 1);
    assert!(left(&store, first.start().size) > 0);
    let txn = store.begin_append().unwrap();
    let second = big_plan(&*txn);
    txn.commit(&second).unwrap();
    assert_eq!(left(&store, first.start().size), 0);
    assert!(left(&store, second.start().size) > 0);
    let kept = without_undo(dump(store.raw()));
    let (_store, reopened) = reopened(store, dir.path());
    assert_eq!(keys_under(&reopened, keys::UNDO), Vec::<String>::new());
    assert!(reopened == kept, "the dumps differ");
}

#[test]
fn fail_a_chunked_commit_takes_old_values_from_what_the_transaction_read() {
    let (dir, store) = store_for_chunks();
    let before = dump(store.raw());
    let kivu = keys::party(&party_id("kivu"));
    let txn = store.begin_append().unwrap();
    let plan = big_plan(&*txn);
    drop(txn);
    chunk(&store, Some(chunks_of(&plan)), true);
    let txn = store.begin_append().unwrap();
    let read = txn.party(&party_id("kivu")).unwrap();
    assert!(txn.lot(&lot_id("LOT-2")).unwrap().is_none());
    // Behind the transaction's back (the append lock keeps every real writer out): a commit
    // that read these again would take the changed bytes for the old values.
    store.raw().insert(&kivu, b"changed".as_slice()).unwrap();
    store
        .raw()
        .insert(keys::lot(&lot_id("LOT-2")), b"changed".as_slice())
        .unwrap();
    assert_eq!(txn.party(&party_id("kivu")).unwrap(), read);
    txn.commit(&plan).unwrap_err();
    assert!(reopened(store, dir.path()).1 == before, "the dumps differ");
}

#[test]
fn fail_leftover_undo_records_without_a_marker_are_deleted_at_open_and_change_nothing() {
    let (dir, store) = store_for_chunks();
    let before = dump(store.raw());
    let raw = store.raw();
    // As a committed append whose clean-up a crash cut short would leave them: were they
    // applied, the party would be gone and entry 0 replaced.
    raw.insert(keys::undo(0, &keys::party(&party_id("kivu"))), &[0])
        .unwrap();
    raw.insert(keys::undo(0, &keys::entry(0)), b"\x01other".as_slice())
        .unwrap();
    assert!(reopened(store, dir.path()).1 == before, "the dumps differ");
}

#[test]
fn fail_begin_append_refuses_while_an_append_is_pending() {
    let (dir, store) = store_for_chunks();
    let head = store.head().unwrap();
    store
        .raw()
        .insert(
            keys::PENDING_APPEND,
            ledger_core::codec::encode(&head.size).unwrap(),
        )
        .unwrap();
    let err = begin_append_error(&store);
    assert!(
        matches!(err, StoreError::AppendInterrupted { .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        err.to_string(),
        format!(
            "ledger at {} holds an append that failed part way and could not be undone: \
             open the ledger again (for a server, restart it), which undoes that append",
            dir.path().display()
        )
    );
    // Reopening undoes it (there is nothing to put back) and appends go on.
    drop(store);
    let store = open_when_released(dir.path()).expect("the ledger opens");
    assert_eq!(store.raw().get(keys::PENDING_APPEND).unwrap(), None);
    assert_eq!(append_plain(&store, 1).size, head.size + 1);
}

#[test]
fn readers_in_the_process_never_see_part_of_a_chunked_append() {
    // The 20 lot-index records of LOT-2 span two batches of 16: a read between them would
    // list some of them.
    for _ in 0..20 {
        let (_dir, store) = store_for_chunks();
        chunk(&store, None, false);
        let txn = store.begin_append().unwrap();
        let plan = big_plan(&*txn);
        drop(txn);
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let reader = scope.spawn(|| {
                let mut seen = Vec::new();
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    seen.push(store.lot_events(&lot_id("LOT-2")).unwrap().len());
                }
                seen
            });
            store.begin_append().unwrap().commit(&plan).unwrap();
            done.store(true, std::sync::atomic::Ordering::Release);
            let seen = reader.join().unwrap();
            assert!(seen.iter().all(|n| [0, 20].contains(n)), "{seen:?}");
        });
    }
}

/// Writes the first two of [`three_parts`] on `store`'s head as parts of one append, in
/// batches of [`TEST_CHUNK`], and returns the transaction, not committed, with where the
/// parts end.
fn two_parts_written(store: &SledStore) -> (Box<dyn AppendTxn + '_>, Head) {
    chunk(store, None, false);
    let mut txn = store.begin_append().unwrap();
    let head = txn.head();
    let (entries, [first, second, _], _) = three_parts(head.size);
    let (part, subjects) = part_plan(&*txn, (head, Default::default()), &entries[0], first);
    txn.write_part(&part).unwrap();
    let (part, _) = part_plan(&*txn, (part.head(), subjects), &entries[1], second);
    txn.write_part(&part).unwrap();
    (txn, part.head())
}

#[test]
fn fail_an_append_written_in_parts_cut_short_by_a_crash_is_undone_at_the_next_open() {
    let (dir, store) = store_for_chunks();
    let before = dump(store.raw());
    let log = std::fs::read(dir.path().join("entries.log")).unwrap();
    let (txn, _) = two_parts_written(&store);
    // The party record both parts wrote has one undo record, holding its value from
    // before the append, not the first part's.
    let start = txn.head().size;
    let kivu = keys::party(&party_id("kivu"));
    let undo = store.raw().get(keys::undo(start, &kivu)).unwrap().unwrap();
    let old = before.iter().find(|(key, _)| *key == kivu).unwrap();
    assert_eq!(undo[0], 1);
    assert!(
        undo[1..] == old.1[..],
        "the undo record holds another value"
    );
    // The process dies here: no roll-back (the crash hook), then the next open.
    chunk(&store, None, true);
    drop(txn);
    assert_eq!(
        keys_under(&dump(store.raw()), keys::PENDING_APPEND),
        ["meta/pending-append"]
    );
    let (store, reopened) = reopened(store, dir.path());
    assert!(reopened == before, "the dumps differ");
    assert_eq!(std::fs::read(dir.path().join("entries.log")).unwrap(), log);
    assert_eq!(
        store.party(&party_id("kivu")).unwrap().unwrap().name,
        "kivu ltd"
    );
    assert_eq!(append_plain(&store, 1).size, start + 1);
}

#[test]
fn fail_an_append_written_in_parts_and_dropped_is_undone_at_once() {
    let (_dir, store) = store_for_chunks();
    let before = dump(store.raw());
    drop(two_parts_written(&store));
    assert!(dump(store.raw()) == before, "the dumps differ");
}

#[test]
fn readers_in_the_process_wait_for_an_append_written_in_parts() {
    let (_dir, store) = store_for_chunks();
    let lot_before = store.lot_events(&lot_id("LOT-1")).unwrap();
    let (txn, written) = two_parts_written(&store);
    let (entries, _, _) = three_parts(txn.head().size);
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        // Started while the parts are written: it sees the append whole once committed.
        let reader = scope.spawn(|| {
            let lot = store.lot_events(&lot_id("LOT-1")).unwrap();
            (done.load(std::sync::atomic::Ordering::Acquire), lot)
        });
        std::thread::sleep(std::time::Duration::from_millis(50));
        let (last, _) = part_plan(
            &*txn,
            (written, Default::default()),
            &entries[2],
            Changes::default(),
        );
        done.store(true, std::sync::atomic::Ordering::Release);
        txn.commit(&last).unwrap();
        let (after_commit, lot) = reader.join().unwrap();
        assert!(after_commit, "a reader read while the parts were written");
        assert!(lot.len() > lot_before.len(), "{lot:?}");
    });
}
