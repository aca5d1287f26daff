//! The schema's versioned SQL files, applied in order, each in its own transaction, and
//! recorded in `schema_migrations`: a database says which of them it has.

use ledger_store::StoreError;
use postgres::{Client, GenericClient};

/// `(version, name, SQL)`, in the order they apply. A released file never changes.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "0001_initial",
    include_str!("../migrations/0001_initial.sql"),
)];

/// The table that records applied migrations.
const CREATE_TABLE: &str = "CREATE TABLE schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// The newest migration applied to the database, or `None` when it holds no
/// `schema_migrations` table (no ledger).
pub fn applied(client: &mut Client, shown: &str) -> Result<Option<i32>, StoreError> {
    let error = |e: postgres::Error| database_error(shown, &e);
    let exists: bool = client
        .query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[])
        .and_then(|row| row.try_get(0))
        .map_err(error)?;
    if !exists {
        return Ok(None);
    }
    let newest: Option<i32> = client
        .query_one("SELECT max(version) FROM schema_migrations", &[])
        .and_then(|row| row.try_get(0))
        .map_err(error)?;
    Ok(Some(newest.unwrap_or(0)))
}

/// Creates `schema_migrations` and applies every migration, in the caller's transaction.
pub fn apply_all(txn: &mut impl GenericClient) -> Result<(), postgres::Error> {
    txn.batch_execute(CREATE_TABLE)?;
    for (version, name, sql) in MIGRATIONS {
        apply(txn, *version, name, sql)?;
    }
    Ok(())
}

/// Applies the migrations newer than the database's, each in its own transaction that
/// first records it in `schema_migrations`: of two processes opening an old database at
/// once, one applies a migration and the other fails on its primary key (and finds it
/// applied when opened again).
pub fn apply_pending(client: &mut Client, shown: &str) -> Result<(), StoreError> {
    let newest = applied(client, shown)?.unwrap_or(0);
    let known = MIGRATIONS.last().map_or(0, |(version, _, _)| *version);
    if newest > known {
        // A newer build migrated this database: the format check at open names the
        // versions when the records changed too; the schema alone is refused here.
        return Err(StoreError::Database {
            store: shown.into(),
            reason: format!(
                "the database's schema is at migration {newest}; this build knows up to {known}"
            ),
        });
    }
    for (version, name, sql) in MIGRATIONS.iter().filter(|(v, _, _)| *v > newest) {
        let result = (|| {
            let mut txn = client.transaction()?;
            apply(&mut txn, *version, name, sql)?;
            txn.commit()
        })();
        result.map_err(|e| database_error(shown, &e))?;
    }
    Ok(())
}

fn apply(
    txn: &mut impl GenericClient,
    version: i32,
    name: &str,
    sql: &str,
) -> Result<(), postgres::Error> {
    txn.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
        &[&version, &name],
    )?;
    txn.batch_execute(sql)
}

fn database_error(shown: &str, e: &postgres::Error) -> StoreError {
    crate::database_error(shown, e)
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn migrations_are_numbered_in_order_from_one() {
        for (i, (version, name, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(usize::try_from(*version).unwrap(), i + 1);
            assert!(name.starts_with(&format!("{version:04}_")), "{name}");
        }
    }
}
