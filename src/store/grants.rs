//! The `grants` table: one row per authorization a user gave a client, the
//! row that serializes issuance against revocation.
//!
//! Every transaction that issues tokens from a grant first [`claim`]s its
//! row (an update, so it holds the row lock until commit), and every
//! revocation first marks the row revoked, in the same transaction that
//! then revokes the tokens. On Postgres a revocation therefore waits for an
//! issuance already holding the row and then sees its tokens, and an
//! issuance arriving after a revocation finds the row revoked and issues
//! nothing. On SQLite transactions already run one at a time; the same
//! statements give the same answer there.

use super::{Db, Error, Tx, on_db, on_tx};

const AUTH_TIME: &str = "select auth_time from grants where id = $1";

/// When the user who made the grant signed in (`None`: unknown, or no
/// such grant).
pub async fn auth_time(db: &Db, grant_id: &str) -> Result<Option<i64>, Error> {
    let row: Option<(Option<i64>,)> =
        on_db!(db, pool => sqlx::query_as(AUTH_TIME).bind(grant_id).fetch_optional(pool).await)?;
    Ok(row.and_then(|(t,)| t))
}

/// A grant to record with its first code.
#[derive(Clone, Copy, Debug)]
pub struct NewGrant<'a> {
    /// Random id, shared by the code and every token of the grant.
    pub id: &'a str,
    /// The client.
    pub client_id: &'a str,
    /// The user who approved.
    pub user_id: &'a str,
    /// Unix seconds.
    pub created_at: i64,
    /// Until then a token may be issued from it (the code's expiry).
    pub expires_at: i64,
    /// Unix seconds of the user's sign-in, for OpenID `auth_time`.
    pub auth_time: Option<i64>,
}

const INSERT: &str = r"
insert into grants (id, client_id, user_id, created_at, issued_at, expires_at, revoked_at, auth_time)
values ($1, $2, $3, $4, null, $5, null, $6)";

/// Records a new grant.
pub async fn insert(tx: &mut Tx, g: NewGrant<'_>) -> Result<(), Error> {
    on_tx!(tx, conn => sqlx::query(INSERT)
        .bind(g.id)
        .bind(g.client_id)
        .bind(g.user_id)
        .bind(g.created_at)
        .bind(g.expires_at)
        .bind(g.auth_time)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(())
}

/// What a [`claim`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The grant is live and locked until the transaction ends.
    Held,
    /// Revoked, expired or gone: nothing may be issued from it.
    Dead,
    /// The client is gone or no longer has the secret it authenticated
    /// with (deleted or rotated meanwhile).
    ClientChanged,
}

// The client check locks the client row (`for share`) before the grant row
// is locked, the order client deletion takes them in (client, then its
// grants by cascade), so the two cannot deadlock. A secret rotated or a
// client deleted after the request authenticated fails the check.
const CLAIM_POSTGRES: &str = r"
update grants set issued_at = $1, expires_at = $2
where id = $3 and revoked_at is null and expires_at > $1
  and exists (select 1 from clients
              where id = $4 and coalesce(secret_hash, '') = $5 for share)";

// SQLite has no row locks (and needs none: one writer at a time).
const CLAIM_SQLITE: &str = r"
update grants set issued_at = $1, expires_at = $2
where id = $3 and revoked_at is null and expires_at > $1
  and exists (select 1 from clients where id = $4 and coalesce(secret_hash, '') = $5)";

const CLIENT_UNCHANGED: &str =
    "select count(*) from clients where id = $1 and coalesce(secret_hash, '') = $2";

/// Locks a live grant of `client_id` for issuance until the transaction
/// ends and moves its end to `expires_at`. `secret_hash` is the digest the
/// client authenticated with (`None` for public clients).
pub async fn claim(
    tx: &mut Tx,
    grant_id: &str,
    client_id: &str,
    secret_hash: Option<&str>,
    now: i64,
    expires_at: i64,
) -> Result<Claim, Error> {
    let secret_hash = secret_hash.unwrap_or("");
    let sql = match tx {
        Tx::Postgres(..) => CLAIM_POSTGRES,
        Tx::Sqlite(..) => CLAIM_SQLITE,
    };
    let n = on_tx!(tx, conn => sqlx::query(sql)
        .bind(now)
        .bind(expires_at)
        .bind(grant_id)
        .bind(client_id)
        .bind(secret_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    if n == 1 {
        return Ok(Claim::Held);
    }
    // Rare: tell a changed client (invalid_client) from a dead grant.
    let unchanged: i64 = on_tx!(tx, conn => sqlx::query_scalar(CLIENT_UNCHANGED)
        .bind(client_id)
        .bind(secret_hash)
        .fetch_one(conn)
        .await)?;
    Ok(if unchanged == 0 {
        Claim::ClientChanged
    } else {
        Claim::Dead
    })
}

const REVOKE: &str = "update grants set revoked_at = $1 where id = $2 and revoked_at is null";

const REVOKE_TOKENS: &str =
    "update tokens set revoked_at = $1 where grant_id = $2 and revoked_at is null";

/// Revokes a grant and every token issued from it; returns how many tokens
/// were live. The grant row is marked first: an issuance holding it is
/// waited for, and its tokens are then revoked with the rest.
pub async fn revoke(tx: &mut Tx, grant_id: &str, now: i64) -> Result<u64, Error> {
    on_tx!(tx, conn => sqlx::query(REVOKE)
        .bind(now)
        .bind(grant_id)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(on_tx!(tx, conn => sqlx::query(REVOKE_TOKENS)
        .bind(now)
        .bind(grant_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?)
}

const REVOKE_USER_CLIENT: &str = r"
update grants set revoked_at = $1
where user_id = $2 and client_id = $3 and revoked_at is null";

/// Marks every grant a user gave a client revoked (the caller then revokes
/// their tokens in the same transaction).
pub async fn revoke_for_user_client(
    tx: &mut Tx,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<u64, Error> {
    Ok(on_tx!(tx, conn => sqlx::query(REVOKE_USER_CLIENT)
        .bind(now)
        .bind(user_id)
        .bind(client_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?)
}
