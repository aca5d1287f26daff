//! The store suite ([`crate::suite`]) run on sled, and the tests only sled has: its
//! directory (existing files, missing directories), its locks, its meta records, the
//! acknowledged-head file beside the database, leftover snapshots, arbitrary stored bytes.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Mutex, PoisonError};

use ledger_core::state::Changes;
use proptest::prelude::*;

use super::*;
use crate::keys;
use crate::suite::*;

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
