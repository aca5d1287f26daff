//! Custody's PostgreSQL store: [`PgStore`] implements `ledger_store`'s [`Store`] and
//! [`AppendTxn`] over one database, so that several `custody serve` processes can share one
//! ledger.
//!
//! Why it is safe:
//! - **One transaction per append.** [`AppendTxn::commit`] writes the entries, every index
//!   and state record, the Merkle nodes and the new head in one database transaction, and
//!   returns only after `COMMIT` did, with `synchronous_commit = on` set on every session:
//!   a receipt is never sent for an append the database could still lose.
//! - **The head decides.** The `custody_head` row is the single coordinator of log
//!   positions: a commit reads it `FOR UPDATE`, checks the plan against it, and moves it with
//!   a compare-and-set (`UPDATE … WHERE size = $expected AND last = $last`). A writer whose
//!   plan no longer starts at the head gets [`StoreError::Conflict`] and writes nothing; its
//!   caller (the server's writer) checks the statements again on the new head. No advisory
//!   lock, sequence or table lock is involved (see `docs/deploy.md`).
//! - **Serialization failures are retried.** SQLSTATE 40001 and 40P01 roll the transaction
//!   back; the write is tried again in a new transaction, which either finds the head where
//!   the plan starts or reports the conflict.
//! - **Rows are untrusted.** Every value is the bytes `ledger_store` writes to sled, under the
//!   same keys ([`ledger_store::keys`]) and storage types ([`ledger_store::records`]),
//!   decoded with the size-limited canonical codec; oversized values are refused by the
//!   server before they are sent (`octet_length`), so damaged rows give
//!   [`StoreError::Corrupt`] naming the key, never a panic or an unbounded read.
//! - **A versioned schema.** The SQL files under `migrations/` are applied in order, each in
//!   its own transaction and recorded in `schema_migrations`; the storage format version is
//!   kept in `custody_meta` and checked at open, as the sled store checks its own.
//!
//! The client is the `postgres` crate, the synchronous API of tokio-postgres by the same
//! maintainers: the store trait is synchronous and an append transaction stays on the thread
//! that began it, so a blocking client fits without an async runtime in every caller. The
//! connection pool is a few lines here (a stack of idle clients) rather than `r2d2`: the
//! store needs no more. [`AnyStore`] is the store a ledger name selects (a URL or a sled
//! directory), for the CLI and the server.
#![forbid(unsafe_code)]
// Rows come from outside the process and must never crash it.
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod any;
#[cfg(feature = "test-cluster")]
pub mod cluster;
mod migrations;
mod pool;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use ledger_core::Digest;
use ledger_core::codec::{self, MAX_ENCODED};
use ledger_core::id::{LotId, PartyId};
use ledger_core::keys::PublicKey;
use ledger_core::state::{
    AttestationRecord, EventRecord, Holding, LotRecord, PartyRecord, ShipmentRecord, StateError,
    StateKeys, StateView,
};
use ledger_core::subjects::SubjectState;
use ledger_store::records::{
    StoredAttestation, StoredEvent, StoredHolding, StoredLot, StoredParty, StoredShipment,
    StoredSubject,
};
use ledger_store::{
    AppendPlan, AppendTxn, EntryIter, FORMAT_VERSION, Head, MerkleNodes, Store, StoreError, keys,
    writes,
};
use postgres::error::SqlState;
use postgres::{Client, GenericClient};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::any::{AnyStore, database_url};
use crate::pool::{Pool, Pooled};

/// The URL schemes that name a PostgreSQL ledger.
pub const URL_SCHEMES: [&str; 2] = ["postgres://", "postgresql://"];

/// Whether `name` (a `--ledger` or `--store` value) is a PostgreSQL URL rather than a path.
pub fn is_url(name: &str) -> bool {
    URL_SCHEMES.iter().any(|scheme| name.starts_with(scheme))
}

/// How many times a write is tried when the server reports a serialization failure or a
/// deadlock (SQLSTATE 40001, 40P01) before the failure is returned.
const WRITE_ATTEMPTS: u32 = 8;

/// A `custody_records` row: key and value.
type Record = (Vec<u8>, Vec<u8>);

/// Entries read per round trip by [`Store::entries`].
const ENTRY_PAGE: i64 = 256;

/// A ledger stored in one PostgreSQL database.
pub struct PgStore {
    pool: Pool,
    /// Held from [`Store::begin_append`] to the commit, so appends of one process take turns
    /// instead of conflicting with each other. Correctness never rests on it: appends of
    /// other processes are ordered by the head's compare-and-set alone.
    append_lock: Mutex<()>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("database", &self.pool.shown())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Creates an empty ledger with log origin `origin` in the database at `url`, which must
    /// hold no tables: applies the migrations, records the format version, origin and an
    /// empty head.
    ///
    /// Refuses a database that holds a ledger ([`StoreError::AlreadyExists`]) or other
    /// tables ([`StoreError::NotEmpty`]), and an origin that is not one non-empty line
    /// ([`StoreError::BadOrigin`]).
    pub fn create(url: &str, origin: &str) -> Result<PgStore, StoreError> {
        if origin.is_empty() || origin.contains(['\n', '\r']) {
            return Err(StoreError::BadOrigin {
                origin: origin.chars().take(200).collect(),
            });
        }
        let pool = Pool::new(url)?;
        let mut client = pool.get()?;
        let shown = pool.shown().to_owned();
        let err = |e: postgres::Error| database_error(&shown, &e);
        if migrations::applied(&mut client, &shown)?.is_some() {
            return Err(StoreError::AlreadyExists {
                dir: pool.shown().into(),
            });
        }
        let tables: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                &[],
            )
            .and_then(|row| row.try_get(0))
            .map_err(err)?;
        if tables > 0 {
            return Err(StoreError::NotEmpty {
                dir: pool.shown().into(),
            });
        }
        let format = FORMAT_VERSION.to_le_bytes().to_vec();
        let origin = encode("log origin", &origin)?;
        let created = (|| {
            let mut txn = client.transaction()?;
            migrations::apply_all(&mut txn)?;
            txn.execute(
                "INSERT INTO custody_meta (name, value) VALUES ('format', $1), ('origin', $2)",
                &[&format, &origin],
            )?;
            txn.execute(
                "INSERT INTO custody_head (id, size, last) VALUES (1, 0, $1)",
                &[&Digest::ZERO.as_bytes().as_slice()],
            )?;
            txn.commit()
        })();
        match created {
            Ok(()) => {}
            // Another create won the race: its tables or rows exist now.
            Err(e)
                if e.code() == Some(&SqlState::DUPLICATE_TABLE)
                    || e.code() == Some(&SqlState::UNIQUE_VIOLATION) =>
            {
                return Err(StoreError::AlreadyExists {
                    dir: pool.shown().into(),
                });
            }
            Err(e) => return Err(err(e)),
        }
        drop(client);
        Ok(PgStore {
            pool,
            append_lock: Mutex::new(()),
        })
    }

    /// Opens the ledger in the database at `url`: applies migrations newer than the
    /// database's, then checks its format version, origin and head.
    ///
    /// Never creates a ledger: a database without one gives [`StoreError::NotALedger`].
    pub fn open(url: &str) -> Result<PgStore, StoreError> {
        let pool = Pool::new(url)?;
        let store = PgStore {
            pool,
            append_lock: Mutex::new(()),
        };
        {
            let mut client = store.pool.get()?;
            let shown = store.pool.shown().to_owned();
            if migrations::applied(&mut client, &shown)?.is_none() {
                return Err(StoreError::NotALedger { dir: shown.into() });
            }
            migrations::apply_pending(&mut client, &shown)?;
        }
        let Some(format) = store.meta("format")? else {
            return Err(StoreError::NotALedger {
                dir: store.pool.shown().into(),
            });
        };
        let fixed: [u8; 4] = format.as_slice().try_into().map_err(|_| {
            corrupt(
                "format version in custody_meta",
                format!("{} bytes, expected 4", format.len()),
            )
        })?;
        let found = u32::from_le_bytes(fixed);
        if found != FORMAT_VERSION {
            return Err(StoreError::UnsupportedVersion {
                dir: store.pool.shown().into(),
                found,
                supported: FORMAT_VERSION,
            });
        }
        store.origin()?;
        store.check_head()?;
        Ok(store)
    }

    /// Runs `query` with a client from the pool.
    /// The database's URL without its password, for messages.
    pub fn shown(&self) -> &str {
        self.pool.shown()
    }

    /// Bytes the ledger's tables take in the database, their indexes and TOAST included
    /// (what `custody bench --store` reports per event).
    pub fn bytes_on_disk(&self) -> Result<u64, StoreError> {
        let bytes: i64 = self.with_client(|c| {
            c.query_one(
                "SELECT (pg_total_relation_size('custody_entries') \
                 + pg_total_relation_size('custody_records') \
                 + pg_total_relation_size('custody_head') \
                 + pg_total_relation_size('custody_meta'))::bigint",
                &[],
            )
            .and_then(|row| row.try_get(0))
        })?;
        Ok(u64::try_from(bytes).unwrap_or(0))
    }

    fn with_client<T>(
        &self,
        query: impl FnOnce(&mut Client) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let mut client = self.pool.get()?;
        query(&mut client).map_err(|e| self.error(&e))
    }

    /// Runs `read`, which maps its own errors, on a pooled connection.
    fn with_store_client<T>(
        &self,
        read: impl FnOnce(&mut Client, &str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.pool.get()?;
        read(&mut client, self.pool.shown())
    }

    fn error(&self, e: &postgres::Error) -> StoreError {
        database_error(self.pool.shown(), e)
    }

    /// The raw value of a `custody_meta` row, at most [`MAX_ENCODED`] bytes.
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let what = format!("{name} in custody_meta");
        let row = self.with_client(|c| {
            c.query_opt(
                "SELECT octet_length(value), CASE WHEN octet_length(value) <= $2 THEN value END \
                 FROM custody_meta WHERE name = $1",
                &[&name, &limit()],
            )
        })?;
        row.map(|row| bounded(&what, &row)).transpose()
    }

    /// Checks that the entries end exactly at the head: the last entry exists and none
    /// follows it. One read-only snapshot for the three reads: a writer, or a standby
    /// replaying the primary's WAL, may commit between two separate queries, and a healthy
    /// log would then look like one whose head lags its entries.
    fn check_head(&self) -> Result<(), StoreError> {
        let (head, last_exists, next) = self.with_store_client(|client, shown| {
            let db = |e: postgres::Error| database_error(shown, &e);
            let mut snapshot = client
                .build_transaction()
                .isolation_level(postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .map_err(db)?;
            let head = snapshot
                .query_opt("SELECT size, last FROM custody_head WHERE id = 1", &[])
                .map_err(db)?;
            let head = decode_head(head.as_ref())?;
            let last_exists = match head.size.checked_sub(1) {
                Some(last) => snapshot
                    .query_opt(
                        "SELECT 1 FROM custody_entries WHERE seq = $1",
                        &[&position(last)?],
                    )
                    .map_err(db)?
                    .is_some(),
                None => true,
            };
            let next: Option<i64> = snapshot
                .query_opt(
                    "SELECT seq FROM custody_entries WHERE seq >= $1 ORDER BY seq LIMIT 1",
                    &[&position(head.size)?],
                )
                .map_err(db)?
                .map(|row| row.try_get(0))
                .transpose()
                .map_err(db)?;
            snapshot.commit().map_err(db)?;
            Ok((head, last_exists, next))
        })?;
        if let Some(last) = head.size.checked_sub(1)
            && !last_exists
        {
            return Err(corrupt(
                "head row in custody_head",
                format!("the log has no entry {last}"),
            ));
        }
        if let Some(seq) = next {
            return Err(corrupt(
                "head row in custody_head",
                format!("the head says {} entries but entry {seq} exists", head.size),
            ));
        }
        Ok(())
    }

    /// Every `(key, value)` record whose key starts with `prefix`, in key order, from
    /// `after` on (exclusive) and at most `limit` of them.
    fn scan(
        &self,
        prefix: &[u8],
        after: Option<&[u8]>,
        limit: Option<usize>,
    ) -> Result<Vec<Record>, StoreError> {
        let start = after.map_or_else(|| prefix.to_vec(), |key| [key, &[0]].concat());
        let end = prefix_end(prefix);
        let limit = limit.map_or(i64::MAX, |n| i64::try_from(n).unwrap_or(i64::MAX));
        self.with_client(|c| scan_rows(c, &start, &end, limit))?
            .into_iter()
            .collect()
    }

    /// Decodes every value under `prefix`, in key order.
    fn scan_decoded<T: DeserializeOwned>(
        &self,
        what: &str,
        prefix: &[u8],
    ) -> Result<Vec<T>, StoreError> {
        self.scan(prefix, None, None)?
            .into_iter()
            .map(|(key, value)| decode(what, &key, &value))
            .collect()
    }

    /// The log positions at the end of the keys under `prefix`, in order.
    fn scan_positions(&self, what: &str, prefix: &[u8]) -> Result<Vec<u64>, StoreError> {
        self.scan(prefix, None, None)?
            .into_iter()
            .map(|(key, _)| {
                keys::trailing_seq(&key[prefix.len()..])
                    .filter(|_| key.len() == prefix.len() + 8)
                    .ok_or_else(|| corrupt_key(what, &key, "not a position".into()))
            })
            .collect()
    }

    fn get_decoded<T: DeserializeOwned>(
        &self,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        let mut client = self.pool.get()?;
        get_decoded(&mut *client, self.pool.shown(), what, key)
    }

    fn get_record<S: DeserializeOwned + Into<T>, T>(
        &self,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        Ok(self.get_decoded::<S>(what, key)?.map(Into::into))
    }

    /// Writes `plan` in a new transaction: what a commit does after a serialization failure.
    fn write_fresh(&self, client: &mut Client, plan: &AppendPlan) -> Result<(), StoreError> {
        let mut attempt = 1;
        loop {
            let result = client
                .transaction()
                .map_err(Failure::Database)
                .and_then(|mut txn| {
                    write_plan(&mut txn, plan)?;
                    txn.commit().map_err(Failure::Database)
                });
            match result {
                Ok(()) => return Ok(()),
                Err(Failure::Database(e)) if retryable(&e) && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                }
                Err(failure) => return Err(failure.into_store(self.pool.shown())),
            }
        }
    }
}

/// Why a write failed: the store's own refusal, or the database's error (which may be
/// retried).
enum Failure {
    Store(StoreError),
    Database(postgres::Error),
}

impl Failure {
    fn into_store(self, shown: &str) -> StoreError {
        match self {
            Failure::Store(e) => e,
            Failure::Database(e) => database_error(shown, &e),
        }
    }
}

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Failure {
        Failure::Store(e)
    }
}

/// Writes everything `plan` writes, in `txn`, after locking the head row and checking the
/// plan against it; moves the head with a compare-and-set.
fn write_plan(txn: &mut impl GenericClient, plan: &AppendPlan) -> Result<(), Failure> {
    let head = locked_head(txn)?;
    writes::check_plan(&head, plan)?;
    move_head(txn, head, plan.head())?;
    write_rows(txn, plan)
}

/// The head, its row locked until the transaction ends.
fn locked_head(txn: &mut impl GenericClient) -> Result<Head, Failure> {
    let row = txn
        .query_opt(
            "SELECT size, last FROM custody_head WHERE id = 1 FOR UPDATE",
            &[],
        )
        .map_err(Failure::Database)?;
    Ok(decode_head(row.as_ref())?)
}

/// Moves the head, read locked by [`locked_head`], from `from` to `to`.
fn move_head(txn: &mut impl GenericClient, from: Head, to: Head) -> Result<(), Failure> {
    let moved = txn
        .execute(
            "UPDATE custody_head SET size = $1, last = $2 WHERE id = 1 AND size = $3 AND last = $4",
            &[
                &position(to.size)?,
                &to.last.as_bytes().as_slice(),
                &position(from.size)?,
                &from.last.as_bytes().as_slice(),
            ],
        )
        .map_err(Failure::Database)?;
    if moved != 1 {
        // The row is locked and was just read: only a damaged table gets here.
        return Err(Failure::Store(StoreError::Conflict {
            expected: from.size,
            found: from.size,
        }));
    }
    Ok(())
}

/// Inserts `plan`'s entries and records ([`writes::records`]); the head is not touched.
fn write_rows(txn: &mut impl GenericClient, plan: &AppendPlan) -> Result<(), Failure> {
    let records = writes::records(plan)?;
    let (seqs, bytes): (Vec<i64>, Vec<&[u8]>) = plan
        .entries()
        .iter()
        .map(|(seq, bytes)| Ok((position(*seq)?, bytes.as_slice())))
        .collect::<Result<Vec<_>, StoreError>>()?
        .into_iter()
        .unzip();
    txn.execute(
        "INSERT INTO custody_entries (seq, bytes) SELECT * FROM unnest($1::bigint[], $2::bytea[])",
        &[&seqs, &bytes],
    )
    .map_err(Failure::Database)?;
    let (keys, values): (Vec<Vec<u8>>, Vec<Vec<u8>>) = records.into_iter().unzip();
    txn.execute(
        "INSERT INTO custody_records (key, value) \
         SELECT * FROM unnest($1::bytea[], $2::bytea[]) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        &[&keys, &values],
    )
    .map_err(Failure::Database)?;
    Ok(())
}

/// An append in progress: a repeatable-read transaction on one pooled connection, so every
/// read sees the state as of the head it started at.
struct PgTxn<'a> {
    store: &'a PgStore,
    client: RefCell<Option<Pooled<'a>>>,
    head: Head,
    /// Where the parts written so far end ([`AppendTxn::write_part`]; `None` before the
    /// first).
    written: Option<Head>,
    /// The state records [`AppendTxn::prefetch`] read in bulk, by key (`None`: no such
    /// record); the rules' reads of these keys are answered from here. Emptied by every
    /// part, which may change them.
    prefetched: HashMap<Vec<u8>, Option<Vec<u8>>>,
    _writer: MutexGuard<'a, ()>,
}

/// Keys per query of [`fetch_records`]: bounds one query's parameter and result size.
const FETCH_CHUNK: usize = 1000;

impl PgTxn<'_> {
    fn get_decoded<T: DeserializeOwned>(
        &self,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StoreError> {
        if let Some(value) = self.prefetched.get(key) {
            return value
                .as_deref()
                .map(|bytes| decode(what, key, bytes))
                .transpose();
        }
        let mut client = self.client.borrow_mut();
        let Some(client) = client.as_mut() else {
            return Err(self.finished());
        };
        get_decoded(&mut **client, self.store.pool.shown(), what, key)
    }

    fn get_record<S: DeserializeOwned + Into<T>, T>(
        &self,
        what: &str,
        key: &[u8],
    ) -> Result<Option<T>, StateError> {
        Ok(self.get_decoded::<S>(what, key)?.map(Into::into))
    }

    fn finished(&self) -> StoreError {
        StoreError::Database {
            store: self.store.pool.shown().into(),
            reason: "the append's connection was lost".into(),
        }
    }
}

impl Drop for PgTxn<'_> {
    fn drop(&mut self) {
        if let Some(mut client) = self.client.get_mut().take() {
            // A transaction that was not committed is rolled back; a connection where even
            // that fails is not returned to the pool.
            if client.batch_execute("ROLLBACK").is_err() {
                client.discard();
            }
        }
    }
}

impl AppendTxn for PgTxn<'_> {
    fn head(&self) -> Head {
        self.head
    }

    /// Reads every record the check may need in a few queries (`key = ANY($1)`), in the
    /// transaction's snapshot, instead of one round trip per lookup.
    fn prefetch(&mut self, wanted: &dyn Fn() -> StateKeys) -> Result<(), StoreError> {
        let wanted = wanted();
        let keys: Vec<Vec<u8>> = wanted
            .parties
            .iter()
            .map(keys::party)
            .chain(wanted.key_owners.iter().map(keys::key_owner_bytes))
            .chain(wanted.lots.iter().map(keys::lot))
            .chain(
                wanted
                    .holdings
                    .iter()
                    .map(|(lot, party)| keys::holding(lot, party)),
            )
            .chain(wanted.shipments.iter().map(keys::shipment))
            .chain(wanted.events.iter().map(keys::event))
            .collect();
        let shown = self.store.pool.shown();
        let mut client = self.client.borrow_mut();
        let Some(client) = client.as_mut() else {
            return Err(self.finished());
        };
        let found = fetch_records(&mut **client, shown, &keys)?;
        for key in keys {
            let value = found.get(&key).cloned();
            self.prefetched.insert(key, value);
        }
        Ok(())
    }

    /// Inserts the part's rows in the open transaction, whose own reads then see them.
    fn write_part(&mut self, plan: &AppendPlan) -> Result<(), StoreError> {
        writes::check_plan(&self.written.unwrap_or(self.head), plan)?;
        let shown = self.store.pool.shown();
        let mut client = self.client.borrow_mut();
        let Some(client) = client.as_mut() else {
            return Err(self.finished());
        };
        write_rows(&mut **client, plan).map_err(|failure| failure.into_store(shown))?;
        self.prefetched.clear();
        self.written = Some(plan.head());
        Ok(())
    }

    fn commit(self: Box<Self>, plan: &AppendPlan) -> Result<(), StoreError> {
        let store = self.store;
        let Some(mut client) = self.client.borrow_mut().take() else {
            return Err(self.finished());
        };
        if let Some(written) = self.written {
            // The parts are in this transaction only: a failure cannot be tried again in a
            // fresh one, and is returned as it is.
            let last = writes::check_plan(&written, plan)
                .map_err(Failure::Store)
                .and_then(|()| {
                    let head = locked_head(&mut *client)?;
                    if head != self.head {
                        return Err(Failure::Store(StoreError::Conflict {
                            expected: head.size,
                            found: self.head.size,
                        }));
                    }
                    move_head(&mut *client, head, plan.head())?;
                    write_rows(&mut *client, plan)?;
                    client.batch_execute("COMMIT").map_err(Failure::Database)
                });
            return last.map_err(|failure| {
                if client.batch_execute("ROLLBACK").is_err() {
                    client.discard();
                }
                failure.into_store(store.pool.shown())
            });
        }
        // First in the transaction the rules read in; a serialization failure (another
        // process moved the head since) is tried again in a fresh one, which reads the
        // current head and reports the conflict or writes.
        let first = write_plan_in_open(&mut client, plan);
        match first {
            Ok(()) => Ok(()),
            Err(Failure::Database(e)) if retryable(&e) => {
                if client.batch_execute("ROLLBACK").is_err() {
                    client.discard();
                    let mut fresh = store.pool.get()?;
                    return store.write_fresh(&mut fresh, plan);
                }
                store.write_fresh(&mut client, plan)
            }
            Err(failure) => {
                if client.batch_execute("ROLLBACK").is_err() {
                    client.discard();
                }
                Err(failure.into_store(store.pool.shown()))
            }
        }
    }
}

/// [`write_plan`] in the transaction already open on `client`, then `COMMIT`.
fn write_plan_in_open(client: &mut Client, plan: &AppendPlan) -> Result<(), Failure> {
    write_plan(client, plan)?;
    client.batch_execute("COMMIT").map_err(Failure::Database)
}

impl MerkleNodes for PgTxn<'_> {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        self.get_decoded("merkle node", &keys::merkle(level, index))
    }
}

impl StateView for PgTxn<'_> {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        self.get_record::<StoredParty, _>("party record", &keys::party(id))
    }
    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        Ok(self.get_decoded("key owner", &keys::key_owner(key))?)
    }
    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        self.get_record::<StoredLot, _>("lot record", &keys::lot(id))
    }
    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        self.get_record::<StoredHolding, _>("holding", &keys::holding(lot, party))
    }
    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        self.get_record::<StoredShipment, _>("shipment record", &keys::shipment(id))
    }
    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        self.get_record::<StoredEvent, _>("event record", &keys::event(id))
    }
}

impl Store for PgStore {
    fn head(&self) -> Result<Head, StoreError> {
        let row = self.with_client(|c| {
            c.query_opt("SELECT size, last FROM custody_head WHERE id = 1", &[])
        })?;
        decode_head(row.as_ref())
    }

    fn origin(&self) -> Result<String, StoreError> {
        let bytes = self
            .meta("origin")?
            .ok_or_else(|| corrupt("origin in custody_meta", "missing".into()))?;
        codec::decode_lenient(&bytes).map_err(|e| corrupt("origin in custody_meta", e.to_string()))
    }

    fn entry(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let Ok(seq) = i64::try_from(seq) else {
            return Ok(None);
        };
        let row = self.with_client(|c| {
            c.query_opt(
                "SELECT octet_length(bytes), CASE WHEN octet_length(bytes) <= $2 THEN bytes END \
                 FROM custody_entries WHERE seq = $1",
                &[&seq, &limit()],
            )
        })?;
        row.map(|row| bounded(&format!("log entry {seq} in custody_entries"), &row))
            .transpose()
    }

    /// One query per 1,000 positions (`seq = ANY($1)`).
    fn entries_at(&self, seqs: &[u64]) -> Result<Vec<Option<Vec<u8>>>, StoreError> {
        let mut found: HashMap<i64, Vec<u8>> = HashMap::new();
        let wanted: Vec<i64> = seqs.iter().filter_map(|&s| i64::try_from(s).ok()).collect();
        for chunk in wanted.chunks(FETCH_CHUNK) {
            let rows = self.with_client(|c| {
                c.query(
                    "SELECT seq, octet_length(bytes), \
                     CASE WHEN octet_length(bytes) <= $2 THEN bytes END \
                     FROM custody_entries WHERE seq = ANY($1)",
                    &[&chunk, &limit()],
                )
            })?;
            for row in rows {
                let seq: i64 = row
                    .try_get(0)
                    .map_err(|e| corrupt("custody_entries", format!("unreadable seq: {e}")))?;
                let bytes = bounded_at(&format!("log entry {seq} in custody_entries"), &row, 1)?;
                found.insert(seq, bytes);
            }
        }
        Ok(seqs
            .iter()
            .map(|&seq| i64::try_from(seq).ok().and_then(|s| found.get(&s).cloned()))
            .collect())
    }

    fn entries(&self, start: u64) -> EntryIter<'_> {
        Box::new(Entries {
            store: self,
            next: i64::try_from(start).ok(),
            page: std::collections::VecDeque::new(),
        })
    }

    fn parties(&self) -> Result<Vec<PartyRecord>, StoreError> {
        let stored: Vec<StoredParty> = self.scan_decoded("party record", keys::PARTY)?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lots(
        &self,
        after: Option<&LotId>,
        limit: usize,
    ) -> Result<Vec<(LotId, LotRecord)>, StoreError> {
        let after = after.map(keys::lot);
        self.scan(keys::LOT, after.as_deref(), Some(limit))?
            .into_iter()
            .map(|(key, value)| {
                let id = std::str::from_utf8(&key[keys::LOT.len()..])
                    .ok()
                    .and_then(|s| LotId::new(s).ok())
                    .ok_or_else(|| corrupt_key("lot record", &key, "not a lot id".into()))?;
                let stored: StoredLot = decode("lot record", &key, &value)?;
                Ok((id, stored.into()))
            })
            .collect()
    }

    fn attestations(&self, party: &PartyId) -> Result<Vec<AttestationRecord>, StoreError> {
        let stored: Vec<StoredAttestation> =
            self.scan_decoded("attestation record", &keys::party_attestations(party))?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lot_attestations(&self, lot: &LotId) -> Result<Vec<AttestationRecord>, StoreError> {
        let stored: Vec<StoredAttestation> =
            self.scan_decoded("attestation record", &keys::lot_attestations(lot))?;
        Ok(stored.into_iter().map(Into::into).collect())
    }

    fn lot_events(&self, lot: &LotId) -> Result<Vec<u64>, StoreError> {
        self.scan_positions("lot index", &keys::lot_events(lot))
    }

    /// The whole lot index in one scan, split by lot.
    fn lot_events_of(&self, lots: &[&LotId]) -> Result<Vec<Vec<u64>>, StoreError> {
        let mut by_lot: HashMap<Vec<u8>, Vec<u64>> = HashMap::new();
        for (key, _) in self.scan(keys::LOT_EVENT, None, None)? {
            let (lot, seq) = split_lot_key("lot index", keys::LOT_EVENT, &key)?;
            by_lot.entry(lot.to_vec()).or_default().push(seq);
        }
        Ok(lots
            .iter()
            .map(|lot| {
                by_lot
                    .get(lot.as_str().as_bytes())
                    .cloned()
                    .unwrap_or_default()
            })
            .collect())
    }

    /// Every lot attestation in one scan, split by lot.
    fn lot_attestations_of(
        &self,
        lots: &[&LotId],
    ) -> Result<Vec<Vec<AttestationRecord>>, StoreError> {
        let mut by_lot: HashMap<Vec<u8>, Vec<AttestationRecord>> = HashMap::new();
        for (key, value) in self.scan(keys::LOT_ATTESTATION, None, None)? {
            let (lot, _) = split_lot_key("attestation record", keys::LOT_ATTESTATION, &key)?;
            let stored: StoredAttestation = decode("attestation record", &key, &value)?;
            by_lot.entry(lot.to_vec()).or_default().push(stored.into());
        }
        Ok(lots
            .iter()
            .map(|lot| {
                by_lot
                    .get(lot.as_str().as_bytes())
                    .cloned()
                    .unwrap_or_default()
            })
            .collect())
    }

    fn party_events(&self) -> Result<Vec<u64>, StoreError> {
        self.scan_positions("party index", keys::PARTY_EVENT)
    }

    fn subject_states(&self) -> Result<Vec<(Digest, SubjectState)>, StoreError> {
        self.scan(keys::SUBJECT, None, None)?
            .into_iter()
            .map(|(key, value)| {
                let subject = <[u8; 32]>::try_from(&key[keys::SUBJECT.len()..])
                    .map_err(|_| corrupt_key("subject state", &key, "not a subject key".into()))?;
                let stored: StoredSubject = decode("subject state", &key, &value)?;
                Ok((
                    Digest(subject),
                    SubjectState {
                        count: stored.count,
                        chain: stored.chain,
                    },
                ))
            })
            .collect()
    }

    /// The committed head: a commit returns only once durable (`synchronous_commit` on),
    /// and a database does not drop committed rows as sled drops a torn record, so what it
    /// holds is what it acknowledged. A database restored from an old backup is consistent
    /// from the inside, as an old copy of a sled directory is: `verify --checkpoint` against
    /// a checkpoint someone kept catches it.
    fn acknowledged(&self) -> Result<Option<Head>, StoreError> {
        self.head().map(Some)
    }

    fn begin_append(&self) -> Result<Box<dyn AppendTxn + '_>, StoreError> {
        let writer = self
            .append_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut client = self.pool.get()?;
        let begun = client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            .and_then(|()| {
                client.query_opt("SELECT size, last FROM custody_head WHERE id = 1", &[])
            });
        let head = match begun {
            Ok(row) => decode_head(row.as_ref()),
            Err(e) => Err(self.error(&e)),
        };
        let head = match head {
            Ok(head) => head,
            Err(e) => {
                // The connection goes back to the pool only without a transaction open.
                if client.batch_execute("ROLLBACK").is_err() {
                    client.discard();
                }
                return Err(e);
            }
        };
        Ok(Box::new(PgTxn {
            store: self,
            client: RefCell::new(Some(client)),
            head,
            written: None,
            prefetched: HashMap::new(),
            _writer: writer,
        }))
    }

    fn put_checkpoint(&self, size: u64, note: &str) -> Result<(), StoreError> {
        let value = encode("checkpoint note", &note)?;
        let key = keys::checkpoint(size);
        let mut client = self.pool.get()?;
        let mut attempt = 1;
        loop {
            let result = client
                .transaction()
                .map_err(Failure::Database)
                .and_then(|mut txn| {
                    let row = txn
                        .query_opt(
                            "SELECT size, last FROM custody_head WHERE id = 1 FOR SHARE",
                            &[],
                        )
                        .map_err(Failure::Database)?;
                    let head = decode_head(row.as_ref())?;
                    if size > head.size {
                        return Err(Failure::Store(StoreError::CheckpointBeyondHead {
                            size,
                            head: head.size,
                        }));
                    }
                    txn.execute(
                        "INSERT INTO custody_records (key, value) VALUES ($1, $2) \
                         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                        &[&key, &value],
                    )
                    .map_err(Failure::Database)?;
                    txn.commit().map_err(Failure::Database)
                });
            match result {
                Ok(()) => return Ok(()),
                Err(Failure::Database(e)) if retryable(&e) && attempt < WRITE_ATTEMPTS => {
                    attempt += 1;
                }
                Err(failure) => return Err(failure.into_store(self.pool.shown())),
            }
        }
    }

    fn checkpoints(&self) -> Result<Vec<(u64, String)>, StoreError> {
        self.scan(keys::CHECKPOINT, None, None)?
            .into_iter()
            .map(|(key, value)| {
                let size = keys::checkpoint_size(&key).ok_or_else(|| {
                    corrupt_key(
                        "checkpoint",
                        &key,
                        "the key is not c/ and an 8-byte size".into(),
                    )
                })?;
                Ok((size, decode("checkpoint note", &key, &value)?))
            })
            .collect()
    }
}

impl MerkleNodes for PgStore {
    fn merkle_node(&self, level: u8, index: u64) -> Result<Option<Digest>, StoreError> {
        self.get_decoded("merkle node", &keys::merkle(level, index))
    }

    /// One query for all of them: a proof's nodes in one round trip.
    fn merkle_nodes(&self, wanted: &[(u8, u64)]) -> Result<Vec<Option<Digest>>, StoreError> {
        let keys: Vec<Vec<u8>> = wanted
            .iter()
            .map(|&(level, index)| keys::merkle(level, index))
            .collect();
        let found = self.with_store_client(|c, shown| fetch_records(c, shown, &keys))?;
        keys.iter()
            .map(|key| {
                found
                    .get(key)
                    .map(|bytes| decode("merkle node", key, bytes))
                    .transpose()
            })
            .collect()
    }
}

impl StateView for PgStore {
    fn party(&self, id: &PartyId) -> Result<Option<PartyRecord>, StateError> {
        Ok(self.get_record::<StoredParty, _>("party record", &keys::party(id))?)
    }

    fn key_owner(&self, key: &PublicKey) -> Result<Option<PartyId>, StateError> {
        Ok(self.get_decoded("key owner", &keys::key_owner(key))?)
    }

    fn lot(&self, id: &LotId) -> Result<Option<LotRecord>, StateError> {
        Ok(self.get_record::<StoredLot, _>("lot record", &keys::lot(id))?)
    }

    fn holding(&self, lot: &LotId, party: &PartyId) -> Result<Option<Holding>, StateError> {
        Ok(self.get_record::<StoredHolding, _>("holding", &keys::holding(lot, party))?)
    }

    fn shipment(&self, id: &Digest) -> Result<Option<ShipmentRecord>, StateError> {
        Ok(self.get_record::<StoredShipment, _>("shipment record", &keys::shipment(id))?)
    }

    fn event(&self, id: &Digest) -> Result<Option<EventRecord>, StateError> {
        Ok(self.get_record::<StoredEvent, _>("event record", &keys::event(id))?)
    }
}

/// The entries from a position on, read a page per round trip.
struct Entries<'a> {
    store: &'a PgStore,
    /// The next position to fetch; `None` once the log is exhausted.
    next: Option<i64>,
    page: std::collections::VecDeque<Result<(u64, Vec<u8>), StoreError>>,
}

impl Entries<'_> {
    fn fetch(&mut self, from: i64) -> Result<(), StoreError> {
        let rows = self.store.with_client(|c| {
            c.query(
                "SELECT seq, octet_length(bytes), \
                 CASE WHEN octet_length(bytes) <= $3 THEN bytes END \
                 FROM custody_entries WHERE seq >= $1 ORDER BY seq LIMIT $2",
                &[&from, &ENTRY_PAGE, &limit()],
            )
        })?;
        self.next = if i64::try_from(rows.len()).ok() == Some(ENTRY_PAGE) {
            from.checked_add(ENTRY_PAGE)
        } else {
            None
        };
        for row in rows {
            let entry = (|| {
                let seq: i64 = row.try_get(0).map_err(|e| self.store.error(&e))?;
                let what = format!("log entry {seq} in custody_entries");
                let seq =
                    u64::try_from(seq).map_err(|_| corrupt(&what, "a negative position".into()))?;
                let bytes = bounded_at(&what, &row, 1)?;
                Ok((seq, bytes))
            })();
            if let (Ok((seq, _)), Some(next)) = (&entry, self.next.as_mut()) {
                // The next page starts after the last row seen, whatever the positions.
                *next = i64::try_from(*seq).map_or(*next, |s| s.saturating_add(1));
            }
            self.page.push_back(entry);
        }
        Ok(())
    }
}

impl Iterator for Entries<'_> {
    type Item = Result<(u64, Vec<u8>), StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.page.is_empty() {
            let from = self.next?;
            if let Err(e) = self.fetch(from) {
                self.next = None;
                return Some(Err(e));
            }
        }
        self.page.pop_front()
    }
}

/// The rows with `start <= key < end`, in key order, at most `limit`, each value checked
/// against the codec's size limit.
fn scan_rows(
    client: &mut Client,
    start: &[u8],
    end: &[u8],
    limit: i64,
) -> Result<Vec<Result<Record, StoreError>>, postgres::Error> {
    let rows = client.query(
        "SELECT key, octet_length(value), CASE WHEN octet_length(value) <= $4 THEN value END \
         FROM custody_records WHERE key >= $1 AND key < $2 ORDER BY key LIMIT $3",
        &[&start, &end, &limit, &self::limit()],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        let key: Vec<u8> = row.try_get(0)?;
        let what = format!("record at key {} in custody_records", keys::show(&key));
        out.push(bounded_at(&what, &row, 1).map(|value| (key, value)));
    }
    Ok(out)
}

/// The lot and position of a `t/` or `A/` key, or a corrupt-key error naming `what`.
fn split_lot_key<'k>(
    what: &str,
    prefix: &[u8],
    key: &'k [u8],
) -> Result<(&'k [u8], u64), StoreError> {
    keys::split_lot_key(prefix, key)
        .ok_or_else(|| corrupt_key(what, key, "not a lot and a position".into()))
}

/// The raw values of the records under `keys` that exist, at most [`MAX_ENCODED`] bytes
/// each, in one query per [`FETCH_CHUNK`] keys (`key = ANY($1)`).
fn fetch_records(
    client: &mut impl GenericClient,
    shown: &str,
    keys: &[Vec<u8>],
) -> Result<HashMap<Vec<u8>, Vec<u8>>, StoreError> {
    let mut found = HashMap::new();
    for chunk in keys.chunks(FETCH_CHUNK) {
        let rows = client
            .query(
                "SELECT key, octet_length(value), \
                 CASE WHEN octet_length(value) <= $2 THEN value END \
                 FROM custody_records WHERE key = ANY($1)",
                &[&chunk, &limit()],
            )
            .map_err(|e| database_error(shown, &e))?;
        for row in rows {
            let key: Vec<u8> = row
                .try_get(0)
                .map_err(|e| corrupt("record", format!("unreadable key: {e}")))?;
            let what = format!("record at key {}", keys::show(&key));
            let value = bounded_at(&what, &row, 1)?;
            found.insert(key, value);
        }
    }
    Ok(found)
}

fn get_decoded<T: DeserializeOwned>(
    client: &mut impl GenericClient,
    shown: &str,
    what: &str,
    key: &[u8],
) -> Result<Option<T>, StoreError> {
    let row = client
        .query_opt(
            "SELECT octet_length(value), CASE WHEN octet_length(value) <= $2 THEN value END \
             FROM custody_records WHERE key = $1",
            &[&key, &limit()],
        )
        .map_err(|e| database_error(shown, &e))?;
    let Some(row) = row else {
        return Ok(None);
    };
    let bytes = bounded(&format!("{what} at key {}", keys::show(key)), &row)?;
    decode(what, key, &bytes).map(Some)
}

/// The value of a `(octet_length, value or NULL)` row: refused when over the limit.
fn bounded(what: &str, row: &postgres::Row) -> Result<Vec<u8>, StoreError> {
    bounded_at(what, row, 0)
}

/// Like [`bounded`], for the length at column `at` and the value after it.
fn bounded_at(what: &str, row: &postgres::Row, at: usize) -> Result<Vec<u8>, StoreError> {
    let length: i32 = row
        .try_get(at)
        .map_err(|e| corrupt(what, format!("unreadable length: {e}")))?;
    let value: Option<Vec<u8>> = row
        .try_get(at + 1)
        .map_err(|e| corrupt(what, format!("unreadable value: {e}")))?;
    value.ok_or_else(|| corrupt(what, format!("{length} bytes, more than {MAX_ENCODED}")))
}

/// The head from the `custody_head` row, checked.
fn decode_head(row: Option<&postgres::Row>) -> Result<Head, StoreError> {
    const WHAT: &str = "head row in custody_head";
    let row = row.ok_or_else(|| corrupt(WHAT, "missing".into()))?;
    let size: i64 = row
        .try_get(0)
        .map_err(|e| corrupt(WHAT, format!("unreadable size: {e}")))?;
    let last: Vec<u8> = row
        .try_get(1)
        .map_err(|e| corrupt(WHAT, format!("unreadable hash: {e}")))?;
    let size = u64::try_from(size).map_err(|_| corrupt(WHAT, format!("size {size}")))?;
    let last: [u8; 32] = last
        .as_slice()
        .try_into()
        .map_err(|_| corrupt(WHAT, format!("hash of {} bytes, expected 32", last.len())))?;
    Ok(Head {
        size,
        last: Digest(last),
    })
}

/// The largest value read back, as the server's `octet_length` compares it.
fn limit() -> i32 {
    i32::try_from(MAX_ENCODED).unwrap_or(i32::MAX)
}

/// A log position as a `bigint`: positions past `i64::MAX` cannot be stored.
fn position(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::InvalidBatch {
        reason: format!("log position {seq} does not fit a bigint"),
    })
}

/// The first key after every key starting with `prefix` (prefixes never end in `0xff`; if
/// one did, the bytes after it would be cut instead).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte was 0xff: no key is greater, so the scan runs to the end of the table.
    vec![u8::MAX; prefix.len() + 1]
}

/// Whether the server asked for the transaction to be tried again.
fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(code) if *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
    )
}

/// The database's error in words: its SQLSTATE and message, never a Debug dump.
pub(crate) fn database_error(shown: &str, e: &postgres::Error) -> StoreError {
    let reason = match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    };
    StoreError::Database {
        store: shown.into(),
        reason,
    }
}

fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    codec::encode(value).map_err(|source| StoreError::Encode {
        what: what.into(),
        source,
    })
}

fn decode<T: DeserializeOwned>(what: &str, key: &[u8], bytes: &[u8]) -> Result<T, StoreError> {
    codec::decode_lenient(bytes).map_err(|e| corrupt_key(what, key, e.to_string()))
}

fn corrupt(what: &str, reason: String) -> StoreError {
    StoreError::Corrupt {
        what: what.into(),
        reason,
    }
}

fn corrupt_key(what: &str, key: &[u8], reason: String) -> StoreError {
    corrupt(&format!("{what} at key {}", keys::show(key)), reason)
}
