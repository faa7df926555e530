//! Shared state every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::clock::Clock;
use crate::config::Config;
use crate::http::limits::RateLimits;
use crate::metrics::Metrics;
use crate::oauth::client_metadata_document::ClientDocuments;
use crate::oauth::device::Polls;
use crate::oauth::session::PasswordChecker;
use crate::oauth::throttle::FailureThrottle;
use crate::signing::Keys;
use crate::store::Db;
use crate::store::client_cache::{self, ClientCache};
use crate::store::writer::Writer;

/// Config, database and clock, behind one `Arc`: cloning is cheap.
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] holds.
#[derive(Debug)]
pub struct Inner {
    /// The validated configuration.
    pub config: Config,
    /// The database pool.
    pub db: Db,
    /// The token writers: issuances stored many to a transaction.
    pub writer: Writer,
    /// The clock every time-dependent rule reads.
    pub clock: Clock,
    /// Bounded argon2 verification for sign-in.
    pub passwords: PasswordChecker,
    /// Per-address rate limits.
    pub limits: RateLimits,
    /// Failed sign-ins per user name and address.
    pub login_failures: FailureThrottle,
    /// Failed client authentications per client id and address.
    pub client_failures: FailureThrottle,
    /// Client rows for client authentication (kept fresh on Postgres by
    /// change notifications; unused on SQLite).
    pub clients: Arc<ClientCache>,
    /// What `/metrics` renders.
    pub metrics: Arc<Metrics>,
    /// When each device code was last polled (RFC 8628 `slow_down`).
    pub polls: Polls,
    /// Client ID Metadata Documents: fetched, checked and cached.
    pub documents: Arc<ClientDocuments>,
    /// The signing keys, cached (JWT access tokens, and verifying our own
    /// JWTs such as an `id_token_hint`).
    pub keys: Keys,
}

impl AppState {
    /// Bundles the parts the server needs.
    pub fn new(config: Config, db: Db, clock: Clock) -> Self {
        let passwords = PasswordChecker::new(config.sessions.max_concurrent_password_checks);
        let limits = RateLimits::new(&config.limits);
        let max_lockout = i64::try_from(config.limits.max_lockout.as_secs()).unwrap_or(i64::MAX);
        let login_failures = FailureThrottle::new(config.limits.free_failed_logins, max_lockout);
        let client_failures =
            FailureThrottle::new(config.limits.free_failed_client_auths, max_lockout);
        let clients = Arc::new(ClientCache::default());
        let documents = Arc::new(ClientDocuments::new(
            &config.client_metadata,
            config.limits.client_metadata_fetch,
        ));
        let metrics = Arc::new(Metrics::new(config.database.max_connections));
        if let Db::Postgres(pool) = &db {
            tokio::spawn(client_cache::listen(pool.clone(), Arc::downgrade(&clients)));
        }
        let writer = Writer::start(
            &db,
            config.database.writes,
            config.database.acquire_timeout,
            Arc::clone(&metrics),
        );
        Self(Arc::new(Inner {
            writer,
            config,
            clients,
            metrics,
            documents,
            db,
            clock,
            passwords,
            limits,
            login_failures,
            client_failures,
            polls: Polls::default(),
            keys: Keys::new(),
        }))
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl FromRef<AppState> for Db {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Clock {
    fn from_ref(state: &AppState) -> Self {
        state.clock.clone()
    }
}
