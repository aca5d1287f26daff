//! A small pool of connections: at most [`MAX_OPEN`] open at once, idle ones kept for
//! reuse (opening a PostgreSQL connection forks a backend: far dearer than a query), a
//! caller waiting while all are busy, a broken one closed instead of returned.

use std::ops::{Deref, DerefMut};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use ledger_store::StoreError;
use postgres::{Client, Config, NoTls};

/// Connections open at once, per store. A server's request handlers share them: beyond
/// this many concurrent queries, callers wait for one to be returned.
const MAX_OPEN: usize = 32;

/// How long a caller waits for a connection while all are busy.
const WAIT: Duration = Duration::from_secs(30);

/// Every session's settings: a commit returns only once it is durable (whatever the
/// server's default), and the session is named in `pg_stat_activity`.
const SESSION: &str = "SET synchronous_commit = on; SET application_name = 'custody'";

/// The pool's connections: the idle ones, and how many are open in all.
struct Slots {
    idle: Vec<Client>,
    open: usize,
}

/// Connections to one database.
pub struct Pool {
    /// Boxed: it is most of a store's size, and a store sits in `AnyStore` beside sled's.
    config: Box<Config>,
    shown: String,
    slots: Mutex<Slots>,
    returned: Condvar,
}

impl Pool {
    /// A pool for the database at `url`, checked by opening one connection.
    pub fn new(url: &str) -> Result<Pool, StoreError> {
        let shown = without_password(url);
        let config: Config = url
            .parse()
            .map_err(|e: postgres::Error| StoreError::Database {
                store: shown.clone(),
                reason: format!("not a PostgreSQL URL: {e}"),
            })?;
        let pool = Pool {
            config: Box::new(config),
            shown,
            slots: Mutex::new(Slots {
                idle: Vec::new(),
                open: 0,
            }),
            returned: Condvar::new(),
        };
        drop(pool.get()?);
        Ok(pool)
    }

    /// The database's URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// An idle connection, or a new one while fewer than [`MAX_OPEN`] are open; else waits
    /// up to [`WAIT`] for one to be returned.
    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let mut slots = self.slots();
        let started = std::time::Instant::now();
        loop {
            while let Some(client) = slots.idle.pop() {
                if !client.is_closed() {
                    return Ok(self.pooled(client));
                }
                slots.open -= 1;
            }
            if slots.open < MAX_OPEN {
                slots.open += 1;
                drop(slots);
                return match self.connect() {
                    Ok(client) => Ok(self.pooled(client)),
                    Err(e) => {
                        self.closed();
                        Err(e)
                    }
                };
            }
            let Some(left) = WAIT.checked_sub(started.elapsed()) else {
                return Err(StoreError::Database {
                    store: self.shown.clone(),
                    reason: format!(
                        "all {MAX_OPEN} connections stayed busy for {} s",
                        WAIT.as_secs()
                    ),
                });
            };
            slots = self
                .returned
                .wait_timeout(slots, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    fn slots(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pooled(&self, client: Client) -> Pooled<'_> {
        Pooled {
            pool: self,
            client: Some(client),
            broken: false,
        }
    }

    /// One open connection fewer (closed, or never opened).
    fn closed(&self) {
        self.slots().open -= 1;
        self.returned.notify_one();
    }

    fn connect(&self) -> Result<Client, StoreError> {
        let error = |e: postgres::Error| crate::database_error(&self.shown, &e);
        let mut client = self.config.connect(NoTls).map_err(error)?;
        client.batch_execute(SESSION).map_err(error)?;
        Ok(client)
    }
}

/// A connection taken from a [`Pool`], returned to it on drop unless discarded or broken.
pub struct Pooled<'a> {
    pool: &'a Pool,
    /// Always `Some` until dropped: taken only by `drop`, to hand it back to the pool.
    client: Option<Client>,
    broken: bool,
}

impl Pooled<'_> {
    /// Closes the connection on drop instead of returning it: its state is unknown.
    pub fn discard(&mut self) {
        self.broken = true;
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(client) = self.client.take() else {
            return;
        };
        if self.broken || client.is_closed() {
            drop(client);
            self.pool.closed();
            return;
        }
        self.pool.slots().idle.push(client);
        self.pool.returned.notify_one();
    }
}

impl Deref for Pooled<'_> {
    type Target = Client;

    fn deref(&self) -> &Client {
        match &self.client {
            Some(client) => client,
            // Only `drop` takes the client.
            None => unreachable!("a pooled connection used after its drop"),
        }
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Client {
        match &mut self.client {
            Some(client) => client,
            None => unreachable!("a pooled connection used after its drop"),
        }
    }
}

/// `url` with the password of its user part, if any, left out.
fn without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.chars().take(200).collect();
    };
    let (authority, tail) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(name, _)| name);
            format!("{user}@{host}")
        }
        None => authority.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn urls_are_shown_without_their_password() {
        assert_eq!(
            without_password("postgres://custody:secret@db.example:5432/ledger?sslmode=disable"),
            "postgres://custody@db.example:5432/ledger?sslmode=disable"
        );
        assert_eq!(
            without_password("postgresql://custody@%2Ftmp%2Fpg:5433/l"),
            "postgresql://custody@%2Ftmp%2Fpg:5433/l"
        );
        assert_eq!(without_password("postgres://host/db"), "postgres://host/db");
    }
}
