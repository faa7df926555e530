//! Sign-in: password checks that cannot starve the server, and sessions.
//!
//! argon2id runs on the blocking pool behind a semaphore sized to the CPUs, so
//! a flood of sign-ins queues instead of eating memory or the async workers
//! that serve token requests. Unknown and disabled users get a verification
//! against a dummy hash, so timing does not tell them apart.

use std::sync::{Arc, OnceLock};

use tokio::sync::Semaphore;

use super::credentials::{MAX_PASSWORD_BYTES, Username};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{self, Secret, SecretKind};
use crate::store::sessions::SessionUser;
use crate::store::users::User;
use crate::store::{self, Db};

/// Runs password checks with bounded concurrency.
#[derive(Clone, Debug)]
pub struct PasswordChecker {
    permits: Arc<Semaphore>,
}

/// A hash of a random password, so unknown users cost the same as known ones.
static DUMMY_HASH: OnceLock<String> = OnceLock::new();

fn dummy_hash() -> &'static str {
    DUMMY_HASH.get_or_init(|| {
        let random = crypto::random_id();
        crypto::hash_password(&random).unwrap_or_default()
    })
}

/// Why a password check did not complete.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The blocking task was cancelled (shutdown).
    #[error("password check interrupted")]
    Interrupted,
}

impl PasswordChecker {
    /// At most `concurrency` argon2 verifications at once.
    pub fn new(concurrency: usize) -> Self {
        Self {
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
        }
    }

    /// The enabled user with this name and password, or `None`. Every path
    /// (unknown user, disabled user, wrong password) does one argon2 check.
    pub async fn verify(
        &self,
        db: &Db,
        username: &str,
        password: &str,
    ) -> Result<Option<User>, CheckError> {
        let user = match Username::parse(username) {
            Ok(name) if password.len() <= MAX_PASSWORD_BYTES => {
                store::users::find_by_username(db, name.as_str()).await?
            }
            // Over-long passwords are refused before hashing: the cost of
            // argon2 grows with input, and no real password is that long.
            _ => None,
        };
        let usable = user.as_ref().is_some_and(|u| !u.disabled);
        let hash = match &user {
            Some(u) if usable => u.password_hash.clone(),
            _ => dummy_hash().to_owned(),
        };
        let password = if password.len() <= MAX_PASSWORD_BYTES {
            password.to_owned()
        } else {
            String::new()
        };
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| CheckError::Interrupted)?;
        let matched =
            tokio::task::spawn_blocking(move || crypto::verify_password(&password, &hash))
                .await
                .map_err(|_| CheckError::Interrupted)?;
        Ok(user.filter(|_| matched && usable))
    }
}

impl PasswordChecker {
    /// argon2id-hashes a new password, within the same concurrency bound.
    pub async fn hash(&self, password: &str) -> Result<String, CheckError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| CheckError::Interrupted)?;
        let password = password.to_owned();
        tokio::task::spawn_blocking(move || crypto::hash_password(&password))
            .await
            .map_err(|_| CheckError::Interrupted)?
            .map_err(|_| CheckError::Interrupted)
    }
}

/// Starts a session for `user`: a new random id every time, so a session id
/// known before sign-in is worthless after it (no fixation).
pub async fn start(
    db: &Db,
    clock: &Clock,
    config: &Config,
    user: &User,
) -> Result<Secret, store::Error> {
    let id = Secret::generate(SecretKind::Session);
    let now = clock.now();
    let lifetime = i64::try_from(config.sessions.absolute_lifetime.as_secs()).unwrap_or(i64::MAX);
    store::sessions::insert(
        db,
        &id.digest(),
        &user.id,
        now,
        now.saturating_add(lifetime),
    )
    .await?;
    tracing::debug!(user.id = %user.id, "user {} signed in", user.username);
    Ok(id)
}

/// The live session a cookie value names, touching it so it stays fresh.
pub async fn current(
    db: &Db,
    clock: &Clock,
    config: &Config,
    raw_id: &str,
) -> Result<Option<SessionUser>, store::Error> {
    if !SecretKind::Session.matches(raw_id) {
        return Ok(None);
    }
    let now = clock.now();
    let idle = i64::try_from(config.sessions.idle_timeout.as_secs()).unwrap_or(i64::MAX);
    let found = store::sessions::find_live(
        db,
        &crypto::sha256_hex(raw_id),
        now,
        now.saturating_sub(idle),
    )
    .await?;
    if let Some(s) = &found {
        // One write a minute at most: pages, not the token endpoint, pay it.
        if now - s.last_seen_at >= 60 {
            store::sessions::touch(db, &s.id_hash, now).await?;
        }
    }
    Ok(found)
}

/// The CSRF token of a session: derived from the raw session id, so it needs
/// no storage, is bound to the session, and dies with it.
pub fn csrf_token(raw_session_id: &str) -> String {
    crypto::sha256_hex(&format!("oauthd-csrf:{raw_session_id}"))
}

/// Ends a session.
pub async fn end(db: &Db, id_hash: &str) -> Result<(), store::Error> {
    store::sessions::delete(db, id_hash).await
}
