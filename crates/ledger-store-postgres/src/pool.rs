//! A small pool of connections: idle clients kept on a stack, a new one opened when none is
//! idle, a broken one dropped instead of returned.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};

use ledger_store::StoreError;
use postgres::{Client, Config, NoTls};

/// Idle connections kept for reuse; more may be open while busy.
const IDLE: usize = 4;

/// Every session's settings: a commit returns only once it is durable (whatever the
/// server's default), and the session is named in `pg_stat_activity`.
const SESSION: &str = "SET synchronous_commit = on; SET application_name = 'custody'";

/// Connections to one database.
pub struct Pool {
    /// Boxed: it is most of a store's size, and a store sits in `AnyStore` beside sled's.
    config: Box<Config>,
    shown: String,
    idle: Mutex<Vec<Client>>,
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
            idle: Mutex::new(Vec::new()),
        };
        drop(pool.get()?);
        Ok(pool)
    }

    /// The database's URL without its password, for messages.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// An idle connection, or a new one.
    pub fn get(&self) -> Result<Pooled<'_>, StoreError> {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let client = match idle {
            Some(client) if !client.is_closed() => client,
            _ => self.connect()?,
        };
        Ok(Pooled {
            pool: self,
            client: Some(client),
            broken: false,
        })
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
            return;
        }
        let mut idle = self
            .pool
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if idle.len() < IDLE {
            idle.push(client);
        }
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
