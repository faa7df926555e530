//! The `device_codes` table (RFC 8628): a device authorization request from
//! the device's first call until the janitor deletes it.
//!
//! A poll is one indexed read ([`find`]); a write happens only when the
//! state changes (approval, denial, expiry, redemption) or a `slow_down`
//! must be remembered. The redemption is one statement ([`consume`], or the
//! `device_consumed` step of a writer's batch on Postgres), so of two
//! concurrent redemptions exactly one wins.

use super::{Db, Error, Tx, on_db, on_tx};
use crate::crypto::Sha256Digest;

/// Waiting for the user.
pub const PENDING: &str = "pending";
/// The user approved; tokens may be issued once.
pub const APPROVED: &str = "approved";
/// The user denied.
pub const DENIED: &str = "denied";
/// Past its lifetime, or spent by too many wrong user codes.
pub const EXPIRED: &str = "expired";

/// A stored device authorization request.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct DeviceCode {
    /// SHA-256 of the device code.
    pub device_code_hash: Sha256Digest,
    /// The client that asked.
    pub client_id: String,
    /// Requested scopes, space-delimited.
    pub scope: String,
    /// Requested resources (RFC 8707), space-delimited; `None`: none.
    pub resources: Option<String>,
    /// [`PENDING`], [`APPROVED`], [`DENIED`] or [`EXPIRED`].
    pub status: String,
    /// Who approved or denied.
    pub user_id: Option<String>,
    /// The grant made on approval.
    pub grant_id: Option<String>,
    /// The polling interval in seconds.
    pub interval_secs: i64,
    /// Wrong user codes absorbed while pending.
    pub failed_guesses: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds of the redemption.
    pub consumed_at: Option<i64>,
}

/// A new request to store.
#[derive(Clone, Copy, Debug)]
pub struct NewDeviceCode<'a> {
    /// SHA-256 of the device code.
    pub device_code_hash: Sha256Digest,
    /// SHA-256 (hex) of the normalized user code.
    pub user_code_hash: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// Requested scopes.
    pub scope: &'a str,
    /// Requested resources, space-delimited; `None`: none.
    pub resources: Option<&'a str>,
    /// Polling interval in seconds.
    pub interval_secs: i64,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

const INSERT: &str = r"
insert into device_codes (device_code_hash, user_code_hash, client_id, scope, status,
    user_id, grant_id, interval_secs, last_polled_at, failed_guesses, created_at, expires_at,
    consumed_at, resources)
values ($1, $2, $3, $4, 'pending', null, null, $5, null, 0, $6, $7, null, $8)";

/// Stores a new request. `Error::Conflict` when a pending request already
/// has this user code (the caller draws another).
pub async fn insert(db: &Db, c: NewDeviceCode<'_>) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, conn => sqlx::query(INSERT)
        .bind(c.device_code_hash)
        .bind(c.user_code_hash)
        .bind(c.client_id)
        .bind(c.scope)
        .bind(c.interval_secs)
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.resources)
        .execute(conn)
        .await
        .map(drop))?;
    tx.commit().await
}

/// The request with this device code digest, in any state.
pub async fn find(db: &Db, hash: &Sha256Digest) -> Result<Option<DeviceCode>, Error> {
    const FIND: &str = r"
select device_code_hash, client_id, scope, resources, status, user_id, grant_id, interval_secs,
       failed_guesses, created_at, expires_at, consumed_at
from device_codes where device_code_hash = $1";
    Ok(on_db!(db, pool => sqlx::query_as(FIND).bind(hash).fetch_optional(pool).await)?)
}

/// The live pending request with this user code digest, unless it has
/// absorbed `max_guesses` wrong codes.
pub async fn find_pending(
    db: &Db,
    user_code_hash: &str,
    now: i64,
    max_guesses: i64,
) -> Result<Option<DeviceCode>, Error> {
    const FIND_PENDING: &str = r"
select device_code_hash, client_id, scope, resources, status, user_id, grant_id, interval_secs,
       failed_guesses, created_at, expires_at, consumed_at
from device_codes
where user_code_hash = $1 and status = 'pending' and expires_at > $2 and failed_guesses < $3";
    Ok(on_db!(db, pool => sqlx::query_as(FIND_PENDING)
        .bind(user_code_hash)
        .bind(now)
        .bind(max_guesses)
        .fetch_optional(pool)
        .await)?)
}

// RFC 8628 §5.1: a wrong user code could have been a guess at any pending
// request, so every live one absorbs it; one that reaches the cap can no
// longer be approved.
const COUNT_GUESS: &str = r"
update device_codes set failed_guesses = failed_guesses + 1
where status = 'pending' and expires_at > $1";

/// Counts a wrong user code against every live pending request.
pub async fn count_guess(db: &Db, now: i64) -> Result<u64, Error> {
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(COUNT_GUESS)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n)
}

const APPROVE: &str = r"
update device_codes set status = 'approved', user_id = $1, grant_id = $2
where device_code_hash = $3 and status = 'pending' and expires_at > $4 and failed_guesses < $5";

/// Marks a pending request approved by `user_id` with the grant `grant_id`
/// (inserted in the same transaction); false when it is no longer pending.
pub async fn approve(
    tx: &mut Tx,
    hash: &Sha256Digest,
    user_id: &str,
    grant_id: &str,
    now: i64,
    max_guesses: i64,
) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(APPROVE)
        .bind(user_id)
        .bind(grant_id)
        .bind(hash)
        .bind(now)
        .bind(max_guesses)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

const DENY: &str = r"
update device_codes set status = 'denied', user_id = $1
where device_code_hash = $2 and status = 'pending' and expires_at > $3";

/// Marks a pending request denied; false when it is no longer pending.
pub async fn deny(db: &Db, hash: &Sha256Digest, user_id: &str, now: i64) -> Result<bool, Error> {
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(DENY)
        .bind(user_id)
        .bind(hash)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

const EXPIRE: &str = r"
update device_codes set status = 'expired'
where device_code_hash = $1 and status = 'pending'";

/// Marks a pending request expired (seen past its end by a poll); true when
/// this call changed it, so the expiry is counted once.
pub async fn expire(db: &Db, hash: &Sha256Digest) -> Result<bool, Error> {
    let mut tx = db.begin().await?;
    let n = on_tx!(&mut tx, conn => sqlx::query(EXPIRE)
        .bind(hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(n == 1)
}

const SLOW_DOWN: &str = r"
update device_codes set interval_secs = interval_secs + $1, last_polled_at = $2
where device_code_hash = $3";

/// RFC 8628 §3.5: raises the interval by `step` seconds and remembers it.
pub async fn slow_down(db: &Db, hash: &Sha256Digest, step: i64, now: i64) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    on_tx!(&mut tx, conn => sqlx::query(SLOW_DOWN)
        .bind(step)
        .bind(now)
        .bind(hash)
        .execute(conn)
        .await
        .map(drop))?;
    tx.commit().await
}

// DESIGN invariant 1, for device codes: one statement decides who wins.
const CONSUME: &str = r"
update device_codes set consumed_at = $1
where device_code_hash = $2 and status = 'approved' and consumed_at is null
  and expires_at > $1";

/// Marks an approved request redeemed; false when it was already redeemed
/// (or expired): the caller lost the race.
pub async fn consume(tx: &mut Tx, hash: &Sha256Digest, now: i64) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(CONSUME)
        .bind(now)
        .bind(hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
