//! The `auth_codes` table. A code is consumed by one atomic statement, and a
//! used code is kept (not deleted) so a replay is recognised as one.

use super::{Db, Error, Tx, on_db, on_tx};

/// A stored authorization code.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthCode {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// The grant the code and every token from it belong to.
    pub grant_id: String,
    /// The client it was issued to.
    pub client_id: String,
    /// The user who approved.
    pub user_id: String,
    /// The redirect URI of the authorization request (`None`: out of band).
    pub redirect_uri: Option<String>,
    /// Whether the authorization request named the redirect URI.
    pub redirect_uri_sent: bool,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// `S256` or `plain`.
    pub code_challenge_method: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
    /// Unix seconds of the exchange; `None` while unused.
    pub consumed_at: Option<i64>,
    /// Space-delimited resource URIs granted (RFC 8707); `None`: none.
    pub resources: Option<String>,
    /// OpenID Connect `nonce` of the authorization request.
    pub nonce: Option<String>,
    /// Unix seconds of the user's sign-in (OpenID `auth_time`).
    pub auth_time: Option<i64>,
}

const INSERT: &str = r"
insert into auth_codes
    (code_hash, grant_id, client_id, user_id, redirect_uri, redirect_uri_sent, scope,
     code_challenge, code_challenge_method, created_at, expires_at, consumed_at, resources,
     nonce, auth_time)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, null, $12, $13, $14)";

/// Stores a new code (with its grant, in the same transaction).
pub async fn insert(tx: &mut Tx, c: &AuthCode) -> Result<(), Error> {
    on_tx!(tx, conn => sqlx::query(INSERT)
        .bind(&c.code_hash)
        .bind(&c.grant_id)
        .bind(&c.client_id)
        .bind(&c.user_id)
        .bind(c.redirect_uri.as_deref())
        .bind(c.redirect_uri_sent)
        .bind(&c.scope)
        .bind(c.code_challenge.as_deref())
        .bind(c.code_challenge_method.as_deref())
        .bind(c.created_at)
        .bind(c.expires_at)
        .bind(c.resources.as_deref())
        .bind(c.nonce.as_deref())
        .bind(c.auth_time)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(())
}

const FIND: &str = r"
select code_hash, grant_id, client_id, user_id, redirect_uri, redirect_uri_sent, scope,
       code_challenge, code_challenge_method, created_at, expires_at, consumed_at, resources,
       nonce, auth_time
from auth_codes where code_hash = $1";

/// The code with this digest, used or not.
pub async fn find(db: &Db, code_hash: &str) -> Result<Option<AuthCode>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(FIND).bind(code_hash).fetch_optional(pool).await)?)
}

// DESIGN invariant 1: one statement decides who wins a concurrent exchange.
const CONSUME: &str = r"
update auth_codes set consumed_at = $1
where code_hash = $2 and consumed_at is null and expires_at > $1";

/// Marks the code used; false when it was already used (or expired) — the
/// caller lost the race or is replaying it.
pub async fn consume(tx: &mut Tx, code_hash: &str, now: i64) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(CONSUME)
        .bind(now)
        .bind(code_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

const DELETE_UNUSED: &str =
    "delete from auth_codes where user_id = $1 and client_id = $2 and consumed_at is null";

/// Deletes a user's not-yet-exchanged codes for a client.
pub async fn delete_unused(tx: &mut Tx, user_id: &str, client_id: &str) -> Result<u64, Error> {
    Ok(on_tx!(tx, conn => sqlx::query(DELETE_UNUSED)
        .bind(user_id)
        .bind(client_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?)
}
