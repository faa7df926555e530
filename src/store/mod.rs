//! Storage: the only code that speaks SQL.
//!
//! One SQL text serves Postgres and SQLite: `$N` placeholders, portable types
//! (ids TEXT, times BIGINT unix seconds bound from `Clock`, BOOLEAN), no
//! `now()` in SQL. [`Db`] holds a native pool per backend and [`on_db!`]
//! expands a body once per driver, so each arm is type-checked by its own
//! driver. `store` never decides policy: it reads and writes what it is told.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::config::DatabaseConfig;

pub mod audit;
pub mod auth_requests;
pub mod batch;
pub mod bulk;
pub mod client_cache;
pub mod clients;
pub mod codes;
pub mod consents;
pub mod device_codes;
pub mod grants;
pub mod janitor;
pub mod pg;
pub mod resources;
pub mod sessions;
pub mod signing_keys;
pub mod tokens;
pub mod users;
pub mod writer;

/// A handle to the database: cheap to clone, shared by every request.
#[derive(Clone, Debug)]
pub enum Db {
    /// The production store.
    Postgres(PgPool),
    /// The embedded default.
    Sqlite(SqliteStore),
}

/// A SQLite pool, and the queue its writers wait in.
///
/// SQLite has one writer at a time; a writer that finds the lock taken
/// sleeps in SQLite's busy handler (1, 2, 5, 10… ms) and may wake long after
/// the lock is free. Writers of this process instead queue on an async mutex
/// and start the moment the previous one commits, which keeps write latency
/// flat under load. The busy timeout still covers writers in other processes
/// (the CLI).
#[derive(Clone, Debug)]
pub struct SqliteStore {
    /// The connections.
    pub pool: SqlitePool,
    writer: Arc<Mutex<()>>,
    wait: Duration,
}

impl SqliteStore {
    /// Wraps a pool; a writer waits at most `wait` for its turn.
    pub fn new(pool: SqlitePool, wait: Duration) -> Self {
        Self {
            pool,
            writer: Arc::new(Mutex::new(())),
            wait,
        }
    }

    /// Waits for this process's write turn (503 after `wait`).
    async fn turn(&self) -> Result<OwnedMutexGuard<()>, Error> {
        tokio::time::timeout(self.wait, Arc::clone(&self.writer).lock_owned())
            .await
            .map_err(|_| Error::Unavailable(sqlx::Error::PoolTimedOut))
    }
}

/// Expands `$body` once per backend with `$pool` bound to an executor:
/// SQLite's pool, or on Postgres one pooled connection ([`pg::Lease`]) that
/// the statement must be done with before the acquire timeout, counted from
/// the start of the wait for the connection. A Postgres connection whose
/// statement misses the deadline (or is cancelled) is closed, never reused.
/// `$body` is a `Result<_, sqlx::Error>` and uses `$pool` once.
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::store::Db::Postgres(pool) => {
                let until = $crate::store::pg::deadline(pool);
                match $crate::store::pg::Lease::acquire(pool, until).await {
                    Ok(mut lease) => $crate::store::on_lease!(&mut lease, until, $pool => $body),
                    Err(e) => Err(e),
                }
            }
            $crate::store::Db::Sqlite(store) => {
                let $pool = &store.pool;
                $body
            }
        }
    };
}
pub(crate) use on_db;

/// Runs `$body` with `$conn` bound to a [`pg::Lease`]'s connection, until
/// `$until`; past it the connection is closed and the statement fails.
macro_rules! on_lease {
    ($lease:expr, $until:expr, $conn:ident => $body:expr) => {{
        let lease: &mut $crate::store::pg::Lease = $lease;
        let ran = match lease.start() {
            Ok($conn) => ::tokio::time::timeout_at($until, async { $body })
                .await
                .ok(),
            Err(e) => Some(Err(e)),
        };
        lease.finish(ran)
    }};
}
pub(crate) use on_lease;

/// A write transaction on either backend. Keep it short: SQLite has one writer.
#[derive(Debug)]
pub enum Tx {
    /// Postgres: each statement gets the acquire timeout as its deadline.
    Postgres(pg::PgTx),
    /// SQLite, holding this process's write turn until it ends.
    Sqlite(
        sqlx::Transaction<'static, sqlx::Sqlite>,
        OwnedMutexGuard<()>,
    ),
}

/// Expands `$body` once per backend with `$conn` bound to the transaction's
/// connection.
macro_rules! on_tx {
    ($tx:expr, $conn:ident => $body:expr) => {
        match $tx {
            $crate::store::Tx::Postgres(t) => {
                let (lease, until) = t.statement();
                $crate::store::on_lease!(lease, until, $conn => $body)
            }
            $crate::store::Tx::Sqlite(t, _) => {
                let $conn = &mut **t;
                $body
            }
        }
    };
}
pub(crate) use on_tx;

impl Tx {
    /// Makes every write of the transaction visible at once.
    pub async fn commit(self) -> Result<(), Error> {
        match self {
            Self::Postgres(t) => t.commit().await?,
            Self::Sqlite(t, _turn) => t.commit().await?,
        }
        Ok(())
    }
}

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

/// A storage failure. "Not found" is `Ok(None)`, never an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique constraint refused the write.
    #[error("a row with the same key already exists")]
    Conflict,
    /// The database cannot be reached or is out of room or time; worth retrying.
    #[error("the database is unavailable")]
    Unavailable(#[source] sqlx::Error),
    /// Any other database error: a bug or a broken schema.
    #[error("database error")]
    Db(#[source] sqlx::Error),
    /// Stored data that the code cannot read back.
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// The token writers' queue is full (or they have stopped): the
    /// database is not keeping up; worth retrying later.
    #[error("the token writers are overloaded")]
    Overloaded,
}

impl Error {
    /// Whether the request may succeed if sent again later (503).
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Overloaded)
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        use sqlx::Error as E;
        match &e {
            E::PoolTimedOut | E::PoolClosed | E::Io(_) | E::Tls(_) | E::WorkerCrashed => {
                Self::Unavailable(e)
            }
            E::Database(db) if db.is_unique_violation() => Self::Conflict,
            E::Database(db) if is_transient(db.as_ref()) => Self::Unavailable(e),
            _ => Self::Db(e),
        }
    }
}

/// SQLite busy (5), locked (6) and full (13), with their extended forms;
/// Postgres connection exceptions (08…), insufficient resources (53…),
/// operator intervention (57P…), serialization failures and deadlocks.
/// Which rule applies depends on the driver: most Postgres SQLSTATEs are
/// digits too (22021, a NUL in text, would read as SQLite's busy code 5 in
/// its low byte).
fn is_transient(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else {
        return false;
    };
    if db
        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some()
    {
        // 40001 and 40P01: a serialization failure or a deadlock broken by
        // the server (a user deleted while one of their grants issues);
        // the request may simply be sent again.
        return code.starts_with("08")
            || code.starts_with("53")
            || code.starts_with("57P")
            || code == "40001"
            || code == "40P01";
    }
    code.parse::<i32>()
        .is_ok_and(|n| matches!(n & 0xff, 5 | 6 | 13))
}

/// Why the schema could not be brought up to date.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The database holds a migration newer than any this binary has: a newer
    /// oauthd ran against it. Migrations are forward-only, so this binary
    /// cannot know what the newer schema means and refuses to touch it.
    #[error(
        "the database schema is at migration {database}, newer than this oauthd knows (its newest is {binary}): run an oauthd at least as new as the one that migrated it, or restore the backup taken before the upgrade"
    )]
    NewerSchema {
        /// The newest migration version applied to the database.
        database: i64,
        /// The newest migration version embedded in this binary.
        binary: i64,
    },
    /// The database holds an older migration this binary does not have.
    #[error(
        "the database has migration {0} applied, which this oauthd does not have: it was migrated by a different build"
    )]
    Unknown(i64),
    /// An applied migration's text differs from this binary's copy.
    #[error(
        "migration {0} applied to the database differs from this oauthd's copy (checksum mismatch): a migration was edited after release"
    )]
    Modified(i64),
    /// The applied migrations could not be read.
    #[error("cannot read the applied migrations")]
    Read(#[source] Error),
    /// Anything else: a migration failed or the database is unreachable.
    #[error("migration failed")]
    Failed(#[source] sqlx::migrate::MigrateError),
}

impl MigrateError {
    /// Maps sqlx's terse errors about the applied set to ours.
    fn from_sqlx(e: sqlx::migrate::MigrateError, binary: i64) -> Self {
        use sqlx::migrate::MigrateError as E;
        match e {
            E::VersionMissing(v) if v > binary => Self::NewerSchema {
                database: v,
                binary,
            },
            E::VersionMissing(v) => Self::Unknown(v),
            E::VersionMismatch(v) => Self::Modified(v),
            e => Self::Failed(e),
        }
    }
}

/// The migrations embedded for one backend.
fn migrator(db: &Db) -> &'static sqlx::migrate::Migrator {
    match db {
        Db::Postgres(_) => &POSTGRES_MIGRATIONS,
        Db::Sqlite(_) => &SQLITE_MIGRATIONS,
    }
}

// Whether sqlx's bookkeeping table exists yet (not on an empty database).
// The catalogues differ: Postgres resolves the name through `search_path`
// as sqlx does, SQLite lists its tables in `sqlite_master`.
const PG_HAS_MIGRATIONS: &str = "select to_regclass('_sqlx_migrations') is not null";
const SQLITE_HAS_MIGRATIONS: &str =
    "select count(*) > 0 from sqlite_master where type = 'table' and name = '_sqlx_migrations'";
const NEWEST_APPLIED: &str = "select max(version) from _sqlx_migrations";

impl Db {
    /// Opens a pool and checks that one connection works. SQLite files are
    /// created if missing, in WAL mode with a busy timeout and foreign keys on.
    pub async fn connect(config: &DatabaseConfig) -> Result<Self, Error> {
        let db = Self::connect_lazy(config)?;
        db.ping().await?;
        Ok(db)
    }

    /// Builds a pool that connects on first use: the server can start (and
    /// report not-ready) while the database is still down.
    pub fn connect_lazy(config: &DatabaseConfig) -> Result<Self, Error> {
        if config.is_postgres() {
            let options = PgConnectOptions::from_str(&config.url).map_err(Error::Db)?;
            let pool = pg::pool_options(config.max_connections, config.acquire_timeout)
                .connect_lazy_with(options);
            Ok(Self::Postgres(pool))
        } else {
            let options = SqliteConnectOptions::from_str(&config.url)
                .map_err(Error::Db)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // Safe against process crashes in WAL mode; the last commits
                // may be lost on power failure (documented in config.example.toml).
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(config.sqlite_busy_timeout)
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(config.max_connections)
                .acquire_timeout(config.acquire_timeout)
                .connect_lazy_with(options);
            Ok(Self::Sqlite(SqliteStore::new(pool, config.acquire_timeout)))
        }
    }

    /// Applies every pending migration for this backend. Migrations are
    /// forward-only: a database already migrated by a newer oauthd is
    /// refused with [`MigrateError::NewerSchema`] before anything is written.
    pub async fn migrate(&self) -> Result<(), MigrateError> {
        let binary = self.newest_known_migration();
        if let Some(database) = self
            .newest_applied_migration()
            .await
            .map_err(MigrateError::Read)?
            && database > binary
        {
            return Err(MigrateError::NewerSchema { database, binary });
        }
        // sqlx checks the applied set again under its lock, so a newer oauthd
        // migrating between the check above and here is still refused.
        match self {
            Self::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Self::Sqlite(store) => SQLITE_MIGRATIONS.run(&store.pool).await,
        }
        .map_err(|e| MigrateError::from_sqlx(e, binary))
    }

    /// The newest migration version embedded in this binary.
    pub fn newest_known_migration(&self) -> i64 {
        migrator(self).iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The newest migration version applied to the database; `None` before
    /// the first migration.
    pub async fn newest_applied_migration(&self) -> Result<Option<i64>, Error> {
        let has_migrations = match self {
            Self::Postgres(_) => PG_HAS_MIGRATIONS,
            Self::Sqlite(_) => SQLITE_HAS_MIGRATIONS,
        };
        let exists: bool =
            on_db!(self, pool => sqlx::query_scalar(has_migrations).fetch_one(pool).await)?;
        if !exists {
            return Ok(None);
        }
        Ok(on_db!(self, pool => sqlx::query_scalar(NEWEST_APPLIED).fetch_one(pool).await)?)
    }

    /// Starts a transaction; dropping it without [`Tx::commit`] rolls back.
    pub async fn begin(&self) -> Result<Tx, Error> {
        Ok(match self {
            Self::Postgres(pool) => Tx::Postgres(pg::PgTx::begin(pool).await?),
            Self::Sqlite(store) => {
                let turn = store.turn().await?;
                Tx::Sqlite(store.pool.begin().await?, turn)
            }
        })
    }

    /// For a write outside a transaction: on SQLite, this process's write
    /// turn (hold it until the statement is done); nothing on Postgres.
    pub async fn write_turn(&self) -> Result<Option<OwnedMutexGuard<()>>, Error> {
        match self {
            Self::Postgres(_) => Ok(None),
            Self::Sqlite(store) => store.turn().await.map(Some),
        }
    }

    /// One round trip: is the database answering?
    pub async fn ping(&self) -> Result<(), Error> {
        on_db!(self, pool => sqlx::query("select 1").execute(pool).await.map(drop))?;
        Ok(())
    }

    /// The pool's open connections and how many of them are idle, for the
    /// metrics gauges.
    pub fn pool_usage(&self) -> (u32, usize) {
        match self {
            Self::Postgres(pool) => (pool.size(), pool.num_idle()),
            Self::Sqlite(store) => (store.pool.size(), store.pool.num_idle()),
        }
    }

    /// `postgres` or `sqlite`, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }

    /// Closes every pooled connection; later queries fail as unavailable.
    pub async fn close(&self) {
        match self {
            Self::Postgres(pool) => pool.close().await,
            Self::Sqlite(store) => store.pool.close().await,
        }
    }
}

/// Joins list values into the space-delimited TEXT the list columns hold.
pub(crate) fn join_list<'a>(items: impl IntoIterator<Item = &'a str>) -> String {
    items.into_iter().collect::<Vec<_>>().join(" ")
}

/// Splits a space-delimited list column.
pub(crate) fn split_list(raw: &str) -> impl Iterator<Item = &str> {
    raw.split(' ').filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlx_errors_about_the_applied_set_read_plainly() {
        use sqlx::migrate::MigrateError as E;
        assert!(matches!(
            MigrateError::from_sqlx(E::VersionMissing(9), 5),
            MigrateError::NewerSchema {
                database: 9,
                binary: 5
            }
        ));
        assert!(matches!(
            MigrateError::from_sqlx(E::VersionMissing(3), 5),
            MigrateError::Unknown(3)
        ));
        assert!(matches!(
            MigrateError::from_sqlx(E::VersionMismatch(2), 5),
            MigrateError::Modified(2)
        ));
        let newer = MigrateError::NewerSchema {
            database: 9,
            binary: 5,
        }
        .to_string();
        assert!(newer.contains("migration 9") && newer.contains("newest is 5"));
        assert!(!newer.contains('\n'));
    }
}
