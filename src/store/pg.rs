//! Postgres connections that a silent network cannot keep.
//!
//! A statement that misses its deadline leaves its connection in the middle
//! of the protocol, and the socket may be dead for good without being closed
//! (a NAT entry that timed out, a failover that leaves the old primary's
//! sockets open). sqlx hands a dropped `PoolConnection` back to the pool by
//! pinging it first, in a task of its own and with no deadline: on such a
//! socket that ping waits until TCP gives up (many minutes, or never while
//! something still acknowledges the packets), and the connection counts as
//! in use all that time. Once every pooled connection is caught that way,
//! every request fails long after the network is back.
//!
//! So no `PoolConnection` is ever dropped the ordinary way: a [`Lease`] holds
//! it for one statement ([`on_db!`](super::on_db)) or one transaction
//! ([`PgTx`]), and ends it in one of two ways.
//!
//! - Work that ran to its end (rows, or a database error) gives the
//!   connection back through sqlx's own check (the ping, which also flushes
//!   a queued rollback), spawned under [`health_limit`]. Past the limit the
//!   check is dropped and the connection with it: its socket closes and its
//!   place in the pool is free.
//! - Work that missed its deadline, or whose request was cancelled while a
//!   statement was in flight, gets the connection closed at once
//!   ([`Lease::finish`], or `Drop` while busy). It is never reused.
//!
//! Connections idle for more than half a second get the same bounded ping
//! before they are handed out ([`pool_options`]), instead of sqlx's
//! `test_before_acquire`, whose ping has no deadline of its own and would
//! spend a request's whole acquire budget on one dead connection. One given
//! back more recently answered its release ping a moment ago and is handed
//! out unchecked: under load that saves a round trip per statement.
//!
//! TCP keepalive or `TCP_USER_TIMEOUT` would not do: sqlx exposes neither,
//! and neither fires while the peer's kernel still acknowledges what is
//! sent (a frozen server, a stalled proxy). Only the application can tell
//! that no answer came.

use std::time::Duration;

use sqlx::PgConnection;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::time::{Instant, timeout, timeout_at};

use super::on_lease;

/// How long a health check (the ping before a connection is handed out or
/// taken back) may take: a fifth of the acquire timeout, at most 1 s. A live
/// server answers in milliseconds; the rest of the acquire budget is left to
/// try another connection or open a new one.
pub(crate) fn health_limit(acquire_timeout: Duration) -> Duration {
    (acquire_timeout / 5).min(Duration::from_secs(1))
}

/// A connection idle for less than this answered its release check (sqlx
/// pings every connection given back) so recently that it is handed out
/// unchecked. A network that dies within this window costs the statements
/// on such connections their deadline, as it would mid-statement.
const RECENTLY_CHECKED: Duration = Duration::from_millis(500);

/// Pool options whose check of an idle connection before use has a
/// deadline ([`health_limit`]): a connection that misses it is closed and
/// the pool opens another within the same acquire.
pub(crate) fn pool_options(max_connections: u32, acquire_timeout: Duration) -> PgPoolOptions {
    let limit = health_limit(acquire_timeout);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire(false)
        .before_acquire(move |conn, meta| {
            Box::pin(async move {
                use sqlx::Connection as _;
                // Just given back, it answered the ping sqlx sends on every
                // return: a second ping would only add a round trip to
                // every statement under load.
                if meta.idle_for < RECENTLY_CHECKED {
                    return Ok(true);
                }
                match timeout(limit, conn.ping()).await {
                    Ok(answered) => answered.map(|()| true),
                    // An error closes the connection without a goodbye
                    // (sqlx's `close_hard`), which cannot block either.
                    Err(_) => Err(no_answer(limit)),
                }
            })
        })
}

/// The error of a health check that got no answer in time.
fn no_answer(limit: Duration) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no answer to the health check within {limit:?}"),
    ))
}

/// The error of a statement that missed its deadline, or that was asked of
/// a transaction whose connection is gone: the database is unavailable.
fn timed_out() -> sqlx::Error {
    sqlx::Error::PoolTimedOut
}

/// When a statement (with the wait for its connection) must be done: the
/// pool's acquire timeout from now.
pub(crate) fn deadline(pool: &PgPool) -> Instant {
    Instant::now() + pool.options().get_acquire_timeout()
}

/// One pooled connection, checked out for a statement or a transaction. See
/// the module docs for how it ends.
#[derive(Debug)]
pub(crate) struct Lease {
    conn: Option<PoolConnection<sqlx::Postgres>>,
    /// A statement was started and has not finished.
    busy: bool,
    health: Duration,
}

impl Lease {
    /// Waits for a connection until `until`.
    pub(crate) async fn acquire(pool: &PgPool, until: Instant) -> Result<Self, sqlx::Error> {
        let conn = timeout_at(until, pool.acquire())
            .await
            .unwrap_or_else(|_| Err(timed_out()))?;
        Ok(Self {
            conn: Some(conn),
            busy: false,
            health: health_limit(pool.options().get_acquire_timeout()),
        })
    }

    /// The connection for one statement; pair it with [`Lease::finish`].
    /// Fails when the connection was already closed (a transaction whose
    /// earlier statement timed out).
    pub(crate) fn start(&mut self) -> Result<&mut PgConnection, sqlx::Error> {
        let conn = self.conn.as_mut().ok_or_else(timed_out)?;
        self.busy = true;
        Ok(conn)
    }

    /// Ends a statement begun with [`Lease::start`]: `None` means it missed
    /// its deadline, so the connection is closed and the statement fails.
    pub(crate) fn finish<T>(
        &mut self,
        ran: Option<Result<T, sqlx::Error>>,
    ) -> Result<T, sqlx::Error> {
        match ran {
            Some(result) => {
                self.busy = false;
                result
            }
            None => {
                self.discard();
                Err(timed_out())
            }
        }
    }

    /// Closes the connection now, never to be reused; its place in the pool
    /// is free at once.
    fn discard(&mut self) {
        if let Some(conn) = self.conn.take() {
            tracing::debug!("closed a database connection whose statement did not finish");
            // Detached, the connection no longer counts against the pool;
            // dropping it closes the socket without waiting for anything.
            drop(conn.detach());
        }
    }

    /// Moves the connection into a new lease, leaving this one empty.
    fn take(&mut self) -> Self {
        Self {
            conn: self.conn.take(),
            busy: self.busy,
            health: self.health,
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.busy {
            self.discard();
            return;
        }
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // `return_to_pool` takes the connection out of `conn` at once; the
        // future owns it, so dropping the future (past the limit, or unpolled
        // in a runtime that is shutting down) closes it.
        let back = conn.return_to_pool();
        drop(conn);
        let limit = self.health;
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if timeout(limit, back).await.is_err() {
                    tracing::warn!(
                        "closed a database connection that did not answer its health check within {limit:?}"
                    );
                }
            });
        }
    }
}

/// A Postgres transaction on a [`Lease`]. Dropped before [`PgTx::commit`], it
/// rolls back in the background, under the health limit; a connection that
/// cannot roll back in time is closed, which rolls back on the server.
#[derive(Debug)]
pub struct PgTx {
    lease: Lease,
    /// `begin` succeeded and neither `commit` nor a rollback has run.
    open: bool,
    /// Each statement's deadline.
    limit: Duration,
}

impl PgTx {
    /// Takes a connection and begins, both before the acquire timeout.
    pub(crate) async fn begin(pool: &PgPool) -> Result<Self, sqlx::Error> {
        let until = deadline(pool);
        let mut tx = Self {
            lease: Lease::acquire(pool, until).await?,
            open: false,
            limit: pool.options().get_acquire_timeout(),
        };
        on_lease!(&mut tx.lease, until, conn => sqlx::raw_sql("begin").execute(conn).await)?;
        tx.open = true;
        Ok(tx)
    }

    /// The lease and the deadline for the next statement (for `on_tx!`).
    pub(crate) fn statement(&mut self) -> (&mut Lease, Instant) {
        (&mut self.lease, Instant::now() + self.limit)
    }

    /// Commits under the statement deadline.
    pub(crate) async fn commit(mut self) -> Result<(), sqlx::Error> {
        let until = Instant::now() + self.limit;
        on_lease!(&mut self.lease, until, conn => sqlx::raw_sql("commit").execute(conn).await)?;
        self.open = false;
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        // A busy lease closes itself; a committed one goes back as usual.
        if !self.open || self.lease.busy || self.lease.conn.is_none() {
            return;
        }
        let mut lease = self.lease.take();
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to roll back on: closing rolls back on the server.
            lease.discard();
            return;
        };
        let until = Instant::now() + lease.health;
        runtime.spawn(async move {
            // Dropped mid-rollback (the runtime shutting down), the busy
            // lease closes the connection.
            let rollback =
                on_lease!(&mut lease, until, conn => sqlx::raw_sql("rollback").execute(conn).await);
            if rollback.is_err() {
                lease.discard();
            }
        });
    }
}

/// A connection of its own, outside the pool, for a task that writes all
/// the time (a token writer): no wait for the pool, and no ping each time
/// it is given back. Each use has a deadline, like a [`Lease`]'s
/// statement; a use that misses it, fails, or is cancelled midway closes
/// the connection (the server rolls back whatever was open), and the next
/// use connects again.
#[derive(Debug, Default)]
pub(crate) struct Own {
    conn: Option<PgConnection>,
    /// A use started and has not finished: if set when the next use
    /// starts, the previous one was cancelled midway.
    busy: bool,
}

impl Own {
    /// After a use was dropped midway: closes the connection now (its
    /// statement may still hold locks or wait on them on the server).
    pub(crate) fn drop_if_cancelled(&mut self) {
        if std::mem::take(&mut self.busy) {
            tracing::debug!("closed a writer connection whose work was cancelled");
            self.conn = None;
        }
    }

    /// Runs `work` on the connection (opened first if need be), all before
    /// `until`.
    pub(crate) async fn run<T>(
        &mut self,
        pool: &PgPool,
        until: Instant,
        work: impl AsyncFnOnce(&mut PgConnection) -> Result<T, sqlx::Error>,
    ) -> Result<T, sqlx::Error> {
        use sqlx::Connection as _;
        self.drop_if_cancelled();
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty @ None => {
                let options = pool.connect_options();
                let conn = timeout_at(until, PgConnection::connect_with(&options))
                    .await
                    .unwrap_or_else(|_| Err(timed_out()))?;
                empty.insert(conn)
            }
        };
        self.busy = true;
        let ran = timeout_at(until, work(conn)).await;
        self.busy = false;
        match ran {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => {
                self.conn = None;
                Err(e)
            }
            Err(_) => {
                tracing::debug!("closed a writer connection whose work did not finish in time");
                self.conn = None;
                Err(timed_out())
            }
        }
    }
}
