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

/// How long one host may take to accept a TCP connection before the next host of the URL
/// is tried. Without it a lost primary (no reset comes back) holds every new connection for
/// the kernel's SYN retries, about two minutes, before the promoted standby is reached.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Keepalive probes on an idle or waiting TCP connection: after [`KEEPALIVE_IDLE`] of
/// silence, [`KEEPALIVE_RETRIES`] probes [`KEEPALIVE_INTERVAL`] apart. A connection to a
/// lost machine then fails within half a minute instead of blocking its query for the
/// library's default of two hours idle plus the kernel's probes.
const KEEPALIVE_IDLE: Duration = Duration::from_secs(10);
/// Time between two keepalive probes.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// Unanswered keepalive probes before the connection is closed.
const KEEPALIVE_RETRIES: u32 = 3;

/// `tokio-postgres`'s keepalive idle time when the URL sets none.
const LIBRARY_KEEPALIVE_IDLE: Duration = Duration::from_secs(2 * 60 * 60);

/// How long a request sent on a TCP connection may stay unacknowledged before the
/// connection is closed (a lost machine acknowledges nothing).
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

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
        let mut config: Config =
            url.parse()
                .map_err(|e: postgres::Error| StoreError::Database {
                    store: shown.clone(),
                    reason: format!("not a PostgreSQL URL: {e}"),
                })?;
        bound_waits(&mut config);
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

/// Bounds how long a TCP connection to a host that stopped answering can block (a lost
/// machine sends no reset): every setting the URL leaves unset gets this module's value.
/// Unix sockets ignore them; there the kernel closes a dead server's connections at once.
fn bound_waits(config: &mut Config) {
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_tcp_user_timeout().is_none() {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
    // `keepalives=0` in the URL turns them off: that choice stands.
    if config.get_keepalives() {
        if config.get_keepalives_idle() == LIBRARY_KEEPALIVE_IDLE {
            config.keepalives_idle(KEEPALIVE_IDLE);
        }
        if config.get_keepalives_interval().is_none() {
            config.keepalives_interval(KEEPALIVE_INTERVAL);
        }
        if config.get_keepalives_retries().is_none() {
            config.keepalives_retries(KEEPALIVE_RETRIES);
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
    use std::time::Duration;

    use postgres::Config;

    use super::{bound_waits, without_password};

    fn bounded(url: &str) -> Config {
        let mut config: Config = url.parse().unwrap();
        bound_waits(&mut config);
        config
    }

    #[test]
    fn a_url_without_timeouts_gets_bounded_waits() {
        let config = bounded("postgresql://custody@db1.example:5432,db2.example:5432/l");
        assert_eq!(config.get_connect_timeout(), Some(&super::CONNECT_TIMEOUT));
        assert_eq!(
            config.get_tcp_user_timeout(),
            Some(&super::TCP_USER_TIMEOUT)
        );
        assert!(config.get_keepalives());
        assert_eq!(config.get_keepalives_idle(), super::KEEPALIVE_IDLE);
        assert_eq!(
            config.get_keepalives_interval(),
            Some(super::KEEPALIVE_INTERVAL)
        );
        assert_eq!(
            config.get_keepalives_retries(),
            Some(super::KEEPALIVE_RETRIES)
        );
    }

    #[test]
    fn the_urls_own_timeouts_and_keepalive_choice_stand() {
        let config = bounded(
            "postgresql://custody@db.example/l?connect_timeout=2&tcp_user_timeout=7\
             &keepalives_idle=60&keepalives_interval=9&keepalives_retries=4",
        );
        assert_eq!(config.get_connect_timeout(), Some(&Duration::from_secs(2)));
        assert_eq!(config.get_tcp_user_timeout(), Some(&Duration::from_secs(7)));
        assert_eq!(config.get_keepalives_idle(), Duration::from_secs(60));
        assert_eq!(
            config.get_keepalives_interval(),
            Some(Duration::from_secs(9))
        );
        assert_eq!(config.get_keepalives_retries(), Some(4));
        let off = bounded("postgresql://custody@db.example/l?keepalives=0");
        assert!(!off.get_keepalives());
        assert_eq!(off.get_keepalives_interval(), None);
    }

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
