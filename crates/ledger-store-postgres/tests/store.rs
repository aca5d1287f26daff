//! The store suite (`ledger_store::suite`) on PostgreSQL, and the tests only a database
//! has: schema and migrations, two stores on one database appending at once, damaged rows.
//!
//! One throwaway cluster serves the run (`ledger_store_postgres::cluster`), one database
//! per test. Without PostgreSQL's binaries every test shows as ignored with the reason;
//! under `CI=true` they fail instead.
// A libtest-mimic harness is not compiled as a test, so clippy's test allowances do not
// apply: here too a panic is a failing test, not a crash on outside data.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};

use ledger_core::merkle::{self, MemoryTree};
use ledger_core::state::{Changes, StateView};
use ledger_core::statement::entry_hash;
use ledger_store::suite::{self, Backend, Place};
use ledger_store::{ErrorKind, FORMAT_VERSION, Head, Nodes, Store, StoreError, keys};
use ledger_store_postgres::PgStore;
use ledger_store_postgres::cluster::{self, Cluster};
use libtest_mimic::{Arguments, Failed, Trial};

/// Databases in the run's cluster.
struct Postgres(Arc<Cluster>);

impl Backend for Postgres {
    fn place(&self) -> Box<dyn Place> {
        Box::new(Database {
            url: self.0.database().unwrap(),
        })
    }
}

/// One database, and raw access to its rows.
struct Database {
    url: String,
}

impl Database {
    fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).unwrap()
    }

    fn execute(&self, sql: &str, params: &[&(dyn postgres::types::ToSql + Sync)]) {
        self.client().execute(sql, params).unwrap();
    }
}

/// The row a [`keys`] key is stored in: a meta row, an entry, or a record.
enum Row {
    Meta(&'static str),
    Entry(i64),
    Record,
}

fn row(key: &[u8]) -> Row {
    match key {
        k if k == keys::FORMAT => Row::Meta("format"),
        k if k == keys::ORIGIN => Row::Meta("origin"),
        k => match keys::entry_seq(k) {
            Some(seq) => Row::Entry(i64::try_from(seq).unwrap()),
            None => Row::Record,
        },
    }
}

impl Place for Database {
    fn name(&self) -> String {
        self.url.clone()
    }

    fn create(&self, origin: &str) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(PgStore::create(&self.url, origin)?))
    }

    fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(Box::new(PgStore::open(&self.url)?))
    }

    fn acknowledged_is_head(&self) -> bool {
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        let mut client = self.client();
        let row = match row(key) {
            Row::Meta(name) => {
                client.query_opt("SELECT value FROM custody_meta WHERE name = $1", &[&name])
            }
            Row::Entry(seq) => {
                client.query_opt("SELECT bytes FROM custody_entries WHERE seq = $1", &[&seq])
            }
            Row::Record => {
                client.query_opt("SELECT value FROM custody_records WHERE key = $1", &[&key])
            }
        };
        row.unwrap().map(|row| row.get(0))
    }

    fn put(&self, key: &[u8], value: &[u8]) {
        match row(key) {
            Row::Meta(name) => self.execute(
                "UPDATE custody_meta SET value = $2 WHERE name = $1",
                &[&name, &value],
            ),
            Row::Entry(seq) => self.execute(
                "INSERT INTO custody_entries (seq, bytes) VALUES ($1, $2) \
                 ON CONFLICT (seq) DO UPDATE SET bytes = EXCLUDED.bytes",
                &[&seq, &value],
            ),
            Row::Record => self.execute(
                "INSERT INTO custody_records (key, value) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                &[&key, &value],
            ),
        }
    }

    fn remove(&self, key: &[u8]) {
        match row(key) {
            Row::Meta(name) => self.execute("DELETE FROM custody_meta WHERE name = $1", &[&name]),
            Row::Entry(seq) => self.execute("DELETE FROM custody_entries WHERE seq = $1", &[&seq]),
            Row::Record => self.execute("DELETE FROM custody_records WHERE key = $1", &[&key]),
        }
    }
}

/// A new database in `cluster` and the ledger created in it.
fn new_ledger(cluster: &Cluster) -> (Database, PgStore) {
    let place = Database {
        url: cluster.database().unwrap(),
    };
    let store = PgStore::create(&place.url, "custody.example/log").unwrap();
    (place, store)
}

fn open_error(url: &str) -> StoreError {
    match PgStore::open(url) {
        Ok(_) => panic!("opening {url} succeeded"),
        Err(e) => e,
    }
}

fn create_error(url: &str) -> StoreError {
    match PgStore::create(url, "custody.example/log") {
        Ok(_) => panic!("creating a ledger in {url} succeeded"),
        Err(e) => e,
    }
}

fn fail_open_refuses_a_database_without_a_ledger_and_creates_nothing(cluster: &Cluster) {
    let url = cluster.database().unwrap();
    let err = open_error(&url);
    assert!(matches!(err, StoreError::NotALedger { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.to_string(), format!("{url} is not a custody ledger"));
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let tables: i64 = client
        .query_one(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(tables, 0, "open created tables");
}

fn fail_create_refuses_an_existing_ledger_and_foreign_tables(cluster: &Cluster) {
    let (place, store) = new_ledger(cluster);
    drop(store);
    let err = create_error(&place.url);
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("{} already holds a ledger", place.url)
    );
    assert_eq!(
        PgStore::open(&place.url).unwrap().origin().unwrap(),
        "custody.example/log"
    );

    let other = cluster.database().unwrap();
    let mut client = postgres::Client::connect(&other, postgres::NoTls).unwrap();
    client
        .batch_execute("CREATE TABLE notes (text text)")
        .unwrap();
    let err = create_error(&other);
    assert!(matches!(err, StoreError::NotEmpty { .. }), "{err:?}");
    let ours: bool = client
        .query_one("SELECT to_regclass('custody_head') IS NOT NULL", &[])
        .unwrap()
        .get(0);
    assert!(!ours, "a refused create left tables behind");
}

fn migrations_are_recorded_and_the_format_version_is_stored(cluster: &Cluster) {
    let (place, _store) = new_ledger(cluster);
    let mut client = place.client();
    let applied: Vec<(i32, String)> = client
        .query(
            "SELECT version, name FROM schema_migrations ORDER BY version",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(applied, [(1, "0001_initial".to_string())]);
    assert_eq!(
        place.get(keys::FORMAT).unwrap(),
        FORMAT_VERSION.to_le_bytes()
    );
    // Opening again applies nothing twice.
    drop(PgStore::open(&place.url).unwrap());
    let count: i64 = client
        .query_one("SELECT count(*) FROM schema_migrations", &[])
        .unwrap()
        .get(0);
    assert_eq!(count, 1);
}

fn fail_open_refuses_a_schema_newer_than_the_build(cluster: &Cluster) {
    let (place, store) = new_ledger(cluster);
    drop(store);
    place.execute(
        "INSERT INTO schema_migrations (version, name) VALUES (2, '0002_future')",
        &[],
    );
    let err = open_error(&place.url);
    assert!(
        err.to_string()
            .contains("schema is at migration 2; this build knows up to 1"),
        "{err}"
    );
}

fn fail_open_refuses_damaged_head_and_meta_rows(cluster: &Cluster) {
    type Damage = fn(&Database);
    let cases: [(&str, Damage, &str); 6] = [
        (
            "short hash",
            |db| db.execute("UPDATE custody_head SET last = '\\x00'", &[]),
            "head row in custody_head: hash of 1 bytes, expected 32",
        ),
        (
            "no head",
            |db| db.execute("DELETE FROM custody_head", &[]),
            "head row in custody_head: missing",
        ),
        (
            "short format",
            |db| db.put(keys::FORMAT, &[1, 0, 0]),
            "format version in custody_meta: 3 bytes",
        ),
        (
            "no origin",
            |db| db.remove(keys::ORIGIN),
            "origin in custody_meta: missing",
        ),
        (
            "head past the log",
            |db| db.execute("UPDATE custody_head SET size = 5", &[]),
            "the log has no entry 4",
        ),
        (
            "entries beyond the head",
            |db| db.put(&keys::entry(2), b"stray"),
            "the head says 2 entries but entry 2 exists",
        ),
    ];
    for (name, damage, expected) in cases {
        let (place, store) = new_ledger(cluster);
        suite::append_plain(&store, 2);
        drop(store);
        damage(&place);
        let err = open_error(&place.url);
        assert!(matches!(err, StoreError::Corrupt { .. }), "{name}: {err:?}");
        assert_eq!(err.kind(), ErrorKind::Damaged, "{name}");
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
}

fn fail_oversized_rows_are_refused_before_they_are_read(cluster: &Cluster) {
    let (place, store) = new_ledger(cluster);
    suite::append_plain(&store, 1);
    let huge = vec![0u8; ledger_core::codec::MAX_ENCODED + 1];
    place.put(&keys::entry(0), &huge);
    place.put(&keys::lot(&suite::lot_id("LOT-1")), &huge);
    let err = store.entry(0).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string().contains("log entry 0 in custody_entries"),
        "{err}"
    );
    assert!(err.to_string().contains("more than"), "{err}");
    assert!(matches!(
        store.entries(0).next(),
        Some(Err(StoreError::Corrupt { .. }))
    ));
    let err = store.lot(&suite::lot_id("LOT-1")).unwrap_err().to_string();
    assert!(err.contains("lot record at key l/LOT-1"), "{err}");
}

fn fail_the_loser_of_two_stores_racing_for_one_head_gets_a_conflict(cluster: &Cluster) {
    // Two processes' stores (two pools) begin at the same head; the first commit wins, the
    // second is refused by the compare-and-set on the head and writes nothing.
    let (place, first) = new_ledger(cluster);
    let second = PgStore::open(&place.url).unwrap();
    let a = first.begin_append().unwrap();
    let b = second.begin_append().unwrap();
    assert_eq!(a.head(), b.head());
    let plan_a = suite::plan(&*a, &suite::plain(&[b"a".to_vec()]), Changes::default());
    let plan_b = suite::plan(&*b, &suite::plain(&[b"b".to_vec()]), Changes::default());
    a.commit(&plan_a).unwrap();
    let err = b.commit(&plan_b).unwrap_err();
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
    assert_eq!(err.kind(), ErrorKind::Conflict);
    assert_eq!(second.head().unwrap(), plan_a.head());
    assert_eq!(second.entry(0).unwrap(), Some(b"a".to_vec()));
    assert_eq!(second.entry(1).unwrap(), None);
    // The loser re-checks on the new head and appends after the winner.
    let head = suite::commit(&second, &[b"b".to_vec()], Changes::default()).unwrap();
    assert_eq!(head.size, 2);
}

fn two_stores_on_one_database_append_at_once_without_duplicate_gap_or_fork(cluster: &Cluster) {
    // Two stores, as two `custody serve` processes would hold, each with four threads; a
    // conflict is retried on the new head, as the engine does.
    const PER_THREAD: usize = 15;
    let (place, first) = new_ledger(cluster);
    let stores = [
        Arc::new(first),
        Arc::new(PgStore::open(&place.url).unwrap()),
    ];
    let start = Arc::new(Barrier::new(8));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&stores[t % 2]);
            let start = Arc::clone(&start);
            std::thread::spawn(move || {
                start.wait();
                let mut conflicts = 0;
                for i in 0..PER_THREAD {
                    let bytes = format!("store {} thread {t} append {i}", t % 2).into_bytes();
                    loop {
                        let txn = store.begin_append().unwrap();
                        let plan = suite::plan(
                            &*txn,
                            &suite::plain(std::slice::from_ref(&bytes)),
                            Changes::default(),
                        );
                        match txn.commit(&plan) {
                            Ok(()) => break,
                            Err(e) if e.kind() == ErrorKind::Conflict => conflicts += 1,
                            Err(e) => panic!("thread {t} append {i}: {e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let total = 8 * PER_THREAD;
    let entries: Vec<(u64, Vec<u8>)> = stores[1].entries(0).map(Result::unwrap).collect();
    let positions: Vec<u64> = entries.iter().map(|(seq, _)| *seq).collect();
    assert_eq!(
        positions,
        (0..total as u64).collect::<Vec<_>>(),
        "a gap or a duplicate"
    );
    let distinct: HashSet<&[u8]> = entries.iter().map(|(_, b)| b.as_slice()).collect();
    assert_eq!(distinct.len(), total, "an append was written twice or lost");
    let head = Head {
        size: total as u64,
        last: entry_hash(&entries[total - 1].1),
    };
    // Both stores see one log: the same head and the same tree (no fork).
    let tree = MemoryTree::from_leaf_hashes(entries.iter().map(|(_, b)| entry_hash(b)));
    for store in &stores {
        assert_eq!(store.head().unwrap(), head);
        assert_eq!(
            merkle::root(head.size, &Nodes(&**store)).unwrap(),
            tree.root()
        );
    }
    eprintln!("{conflicts} conflicts retried");
}

fn measure_appends_per_second(cluster: &Cluster) {
    // A figure, not a check: one-entry appends, one at a time, on PostgreSQL and on sled.
    const APPENDS: u64 = 200;
    let time = |store: &dyn Store| {
        let started = std::time::Instant::now();
        for _ in 0..APPENDS {
            suite::append_plain(store, 1);
        }
        let micros = started.elapsed().as_micros().max(1);
        u128::from(APPENDS) * 1_000_000 / micros
    };
    let (_place, pg) = new_ledger(cluster);
    let dir = tempfile::tempdir().unwrap();
    let sled = ledger_store::SledStore::create(dir.path(), "custody.example/log").unwrap();
    eprintln!(
        "one-entry appends per second: PostgreSQL {}, sled {}",
        time(&pg),
        time(&sled)
    );
}

/// The suite's tests, by name, on PostgreSQL.
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        vec![$(
            (
                stringify!($name),
                (|c: &Arc<Cluster>| suite::$name(&Postgres(Arc::clone(c)))) as Test,
            )
        ),*]
    };
}

/// A test body, given the run's cluster.
type Test = fn(&Arc<Cluster>);

/// True under CI (`CI=true`), where a test that cannot run fails.
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn main() -> ExitCode {
    let args = Arguments::from_args();
    let mut tests: Vec<(&'static str, Test)> = ledger_store::for_each_test!(on_postgres);
    tests.extend([
        (
            "fail_open_refuses_a_database_without_a_ledger_and_creates_nothing",
            (|c: &Arc<Cluster>| {
                fail_open_refuses_a_database_without_a_ledger_and_creates_nothing(c)
            }) as Test,
        ),
        (
            "fail_create_refuses_an_existing_ledger_and_foreign_tables",
            |c| fail_create_refuses_an_existing_ledger_and_foreign_tables(c),
        ),
        (
            "migrations_are_recorded_and_the_format_version_is_stored",
            |c| migrations_are_recorded_and_the_format_version_is_stored(c),
        ),
        ("fail_open_refuses_a_schema_newer_than_the_build", |c| {
            fail_open_refuses_a_schema_newer_than_the_build(c)
        }),
        ("fail_open_refuses_damaged_head_and_meta_rows", |c| {
            fail_open_refuses_damaged_head_and_meta_rows(c)
        }),
        (
            "fail_oversized_rows_are_refused_before_they_are_read",
            |c| fail_oversized_rows_are_refused_before_they_are_read(c),
        ),
        (
            "fail_the_loser_of_two_stores_racing_for_one_head_gets_a_conflict",
            |c| fail_the_loser_of_two_stores_racing_for_one_head_gets_a_conflict(c),
        ),
        (
            "two_stores_on_one_database_append_at_once_without_duplicate_gap_or_fork",
            |c| two_stores_on_one_database_append_at_once_without_duplicate_gap_or_fork(c),
        ),
    ]);
    // A measurement, run on request (`--ignored`).
    let measure: (&'static str, Test) = ("measure_appends_per_second", |c| {
        measure_appends_per_second(c)
    });

    // Listing starts no server.
    let cluster = if args.list {
        Err("listing only".to_string())
    } else {
        cluster::binaries().and_then(|_| Cluster::start().map(Arc::new))
    };
    let missing = cluster::binaries().err();
    let trial = |(name, body): (&'static str, Test)| match &cluster {
        Ok(cluster) => {
            let cluster = Arc::clone(cluster);
            Trial::test(name, move || {
                body(&cluster);
                Ok(())
            })
        }
        Err(why) => match &missing {
            Some(why) if !in_ci() => {
                let why = why.clone();
                Trial::test(name, move || Err(Failed::from(why)))
                    .with_kind("needs PostgreSQL")
                    .with_ignored_flag(true)
            }
            _ => {
                let why = format!("cannot start PostgreSQL: {why}");
                Trial::test(name, move || Err(Failed::from(why)))
            }
        },
    };
    let mut trials: Vec<Trial> = tests.into_iter().map(trial).collect();
    trials.push(trial(measure).with_ignored_flag(true));
    let conclusion = libtest_mimic::run(&args, trials);
    if let (Some(why), false) = (&missing, in_ci()) {
        eprintln!("note: tests ignored: {why}");
    }
    // The last handle: stops the cluster before the process exits.
    drop(cluster);
    conclusion.exit_code()
}
