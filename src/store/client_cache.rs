//! A cache of client rows for the token, revocation and introspection
//! endpoints, which otherwise read the client on every request.
//!
//! Postgres only. Migration 0005 makes every update or delete of a client
//! row notify channel `oauthd_clients` with its id, whoever writes it (any
//! replica, the CLI, an operator's SQL). Each process listens on that channel
//! and evicts the id; a rotated secret or a deleted client stops working on
//! every replica as soon as the notification arrives. While the listening
//! connection is down nothing is served from the cache, and it is emptied,
//! since notifications may have been missed. On SQLite (one process, but the
//! CLI writes from another) every lookup reads the table.
//!
//! A lookup that raced an eviction must not put the old row back: each
//! eviction bumps a generation, and a row read before the bump is dropped.
//!
//! The listening connection is not one of the pool's: it would hold a
//! request's place for good. A silent socket (a network that drops packets
//! without closing anything, a failover that leaves the old primary's
//! socket open) sends no error and no notification, so after
//! [`PROBE_EVERY`] without a notification the listener must answer a query
//! within the pool's health-check limit, or it is given up (the cache goes
//! dark) and a new one is opened. A given-up connection cannot be closed at
//! once (sqlx's `PgListener` unlistens on drop, in a task of its own and with
//! no deadline), so each listener gets a one-connection pool of its own that
//! is left behind with it: TCP closes it eventually, and neither the request
//! pool nor the next listener waits for that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

use super::clients::{self, Client};
use super::{Db, Error};

/// The notification channel migration 0005 writes to.
pub const CHANNEL: &str = "oauthd_clients";

/// Most rows kept; past it the cache is emptied and refills.
const CAPACITY: usize = 10_000;

/// Longest a row is kept even when no notification came: a backstop, not
/// the mechanism.
const TTL: Duration = Duration::from_secs(300);

/// How long the listener may stay silent before it must prove it is alive.
pub const PROBE_EVERY: Duration = Duration::from_secs(5);

/// Cached client rows, shared by every request of one process.
#[derive(Debug, Default)]
pub struct ClientCache {
    rows: RwLock<HashMap<String, (Arc<Client>, Instant)>>,
    /// True while the listener is connected and listening.
    live: AtomicBool,
    generation: AtomicU64,
}

impl ClientCache {
    /// The client with this id: from the cache when it is live, else read
    /// (and remembered when nothing was evicted meanwhile).
    pub async fn find(&self, db: &Db, id: &str) -> Result<Option<Arc<Client>>, Error> {
        let live = self.live.load(Ordering::Acquire);
        if live
            && let Some((row, at)) = self.read().get(id)
            && at.elapsed() < TTL
        {
            return Ok(Some(Arc::clone(row)));
        }
        let generation = self.generation.load(Ordering::Acquire);
        let Some(client) = clients::find(db, id).await?.map(Arc::new) else {
            return Ok(None);
        };
        if live {
            let mut rows = self.write();
            if self.generation.load(Ordering::Acquire) == generation {
                if rows.len() >= CAPACITY {
                    rows.clear();
                }
                rows.insert(id.to_owned(), (Arc::clone(&client), Instant::now()));
            }
        }
        Ok(Some(client))
    }

    /// True while rows are served from the cache (the listener is up).
    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    /// Drops one client's row.
    pub fn evict(&self, id: &str) {
        let mut rows = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        rows.remove(id);
    }

    /// Stops serving from the cache and empties it.
    fn go_dark(&self) {
        self.live.store(false, Ordering::Release);
        let mut rows = self.write();
        self.generation.fetch_add(1, Ordering::AcqRel);
        rows.clear();
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, (Arc<Client>, Instant)>> {
        self.rows
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, (Arc<Client>, Instant)>> {
        self.rows
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Listens for client changes until the cache is dropped, reconnecting after
/// a lost connection. Spawn it once per process on Postgres.
pub async fn listen(pool: PgPool, cache: std::sync::Weak<ClientCache>) {
    loop {
        if cache.strong_count() == 0 || pool.is_closed() {
            return;
        }
        match follow(&pool, &cache).await {
            Ok(()) => return,
            Err(e) => {
                if let Some(c) = cache.upgrade() {
                    c.go_dark();
                }
                tracing::debug!(error = %e, "client cache: listener down; reading clients from the database");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// One listening connection's life: returns `Ok` when the cache or the pool
/// is gone, an error when the connection is.
async fn follow(pool: &PgPool, cache: &std::sync::Weak<ClientCache>) -> Result<(), sqlx::Error> {
    let acquire_timeout = pool.options().get_acquire_timeout();
    let own = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(acquire_timeout)
        .max_lifetime(None)
        .idle_timeout(None)
        .connect_lazy_with((*pool.connect_options()).clone());
    let mut listener = PgListener::connect_with(&own).await?;
    // A lost connection must surface here (and darken the cache), not be
    // re-established behind our back with notifications missed meanwhile.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    match cache.upgrade() {
        Some(c) => c.live.store(true, Ordering::Release),
        None => return Ok(()),
    }
    let probe_limit = super::pg::health_limit(acquire_timeout);
    loop {
        // `try_recv` is cancel-safe: a message half read stays buffered.
        let Ok(received) = tokio::time::timeout(PROBE_EVERY, listener.try_recv()).await else {
            if pool.is_closed() {
                return Ok(());
            }
            // Notifications that arrive meanwhile are buffered for `try_recv`.
            let probe = sqlx::query("select 1").execute(&mut listener);
            match tokio::time::timeout(probe_limit, probe).await {
                Ok(answered) => answered?,
                Err(_) => {
                    return Err(sqlx::Error::Io(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("the listening connection did not answer within {probe_limit:?}"),
                    )));
                }
            };
            continue;
        };
        let Some(notification) = received? else {
            return Err(sqlx::Error::Protocol(
                "the listening connection closed".into(),
            ));
        };
        match cache.upgrade() {
            Some(c) => c.evict(notification.payload()),
            None => return Ok(()),
        }
    }
}
