//! Shared state every handler can reach.

use std::ops::Deref;
use std::sync::Arc;

use axum::extract::FromRef;

use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::session::PasswordChecker;
use crate::store::Db;

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
    /// The clock every time-dependent rule reads.
    pub clock: Clock,
    /// Bounded argon2 verification for sign-in.
    pub passwords: PasswordChecker,
}

impl AppState {
    /// Bundles the parts the server needs.
    pub fn new(config: Config, db: Db, clock: Clock) -> Self {
        let passwords = PasswordChecker::new(config.sessions.max_concurrent_password_checks);
        Self(Arc::new(Inner {
            config,
            db,
            clock,
            passwords,
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
