//! Batched deletion of rows whose time is over. `limit` inside a subquery is
//! portable; `delete … limit` is not.

use super::{Db, Error, on_db};

/// What one pass may delete, computed from the clock and the retention.
#[derive(Clone, Copy, Debug)]
pub struct Cutoffs {
    /// Unix seconds now.
    pub now: i64,
    /// Rows that ended (expired, used, revoked) before this are deleted.
    pub ended_before: i64,
    /// Sessions not seen since this are deleted (idle timeout).
    pub idle_before: i64,
    /// Audit events older than this are deleted; `None` keeps them.
    pub audit_before: Option<i64>,
}

// Used codes stay until `retention` after expiry, so a late replay is still
// recognised as one.
const CODES: &str = r"
delete from auth_codes where code_hash in
    (select code_hash from auth_codes where expires_at < $1 limit $2)";

// Expired tokens, and revoked ones, once past retention: retired refresh
// tokens live on until their own expiry plus retention, for reuse detection.
const TOKENS: &str = r"
delete from tokens where token_hash in
    (select token_hash from tokens
     where (expires_at is not null and expires_at < $1) or revoked_at < $1
     limit $2)";

// Grants past their end: nothing can be issued from them any more (their
// tokens are revoked by user and client, or by grant id, without the row).
const GRANTS: &str = r"
delete from grants where id in
    (select id from grants where expires_at < $1 limit $2)";

// Device authorization requests past their end, answered or not, once past
// retention (a late poll still gets expired_token, not invalid_grant).
const DEVICE_CODES: &str = r"
delete from device_codes where device_code_hash in
    (select device_code_hash from device_codes where expires_at < $1 limit $2)";

const REQUESTS: &str = r"
delete from authorization_requests where id_hash in
    (select id_hash from authorization_requests where expires_at < $1 limit $2)";

const SESSIONS: &str = r"
delete from sessions where id_hash in
    (select id_hash from sessions where expires_at < $1 or last_seen_at < $2 limit $3)";

const AUDIT: &str = r"
delete from audit_events where id in
    (select id from audit_events where at < $1 limit $2)";

/// Deletes at most `batch` rows of each kind; returns how many went.
pub async fn sweep_once(db: &Db, cut: Cutoffs, batch: i64) -> Result<u64, Error> {
    let mut deleted = 0;
    for sql in [CODES, DEVICE_CODES, TOKENS, GRANTS] {
        deleted += on_db!(db, pool => sqlx::query(sql)
            .bind(cut.ended_before)
            .bind(batch)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
    }
    deleted += on_db!(db, pool => sqlx::query(REQUESTS)
        .bind(cut.now)
        .bind(batch)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    deleted += on_db!(db, pool => sqlx::query(SESSIONS)
        .bind(cut.now)
        .bind(cut.idle_before)
        .bind(batch)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    if let Some(before) = cut.audit_before {
        deleted += on_db!(db, pool => sqlx::query(AUDIT)
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(deleted)
}
