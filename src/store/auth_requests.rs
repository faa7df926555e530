//! The `authorization_requests` table: validated requests waiting for the
//! user's decision on the consent page.

use super::{Db, Error, on_db};

/// A validated authorization request, as stored.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuthRequest {
    /// Digest of the id the consent form carries.
    pub id_hash: String,
    /// The session that saw the consent page; only it may decide.
    pub session_id_hash: String,
    /// The client asking.
    pub client_id: String,
    /// Where to send the answer; `None` for out-of-band.
    pub redirect_uri: Option<String>,
    /// Whether the request named the redirect URI (RFC 6749 §4.1.3).
    pub redirect_uri_sent: bool,
    /// Space-delimited scopes asked for.
    pub scope: String,
    /// The client's state, returned verbatim.
    pub state: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// `S256` or `plain`.
    pub code_challenge_method: Option<String>,
    /// Space-delimited resource URIs asked for (RFC 8707); `None`: none.
    pub resources: Option<String>,
    /// OpenID Connect `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: i64,
}

const INSERT: &str = r"
insert into authorization_requests
    (id_hash, session_id_hash, client_id, redirect_uri, redirect_uri_sent, scope, state,
     code_challenge, code_challenge_method, created_at, expires_at, resources, nonce)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// Stores a pending request.
pub async fn insert(db: &Db, r: &AuthRequest) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(INSERT)
        .bind(&r.id_hash)
        .bind(&r.session_id_hash)
        .bind(&r.client_id)
        .bind(r.redirect_uri.as_deref())
        .bind(r.redirect_uri_sent)
        .bind(&r.scope)
        .bind(r.state.as_deref())
        .bind(r.code_challenge.as_deref())
        .bind(r.code_challenge_method.as_deref())
        .bind(r.created_at)
        .bind(r.expires_at)
        .bind(r.resources.as_deref())
        .bind(r.nonce.as_deref())
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

const TAKE: &str = r"
delete from authorization_requests
where id_hash = $1 and session_id_hash = $2 and expires_at > $3
returning id_hash, session_id_hash, client_id, redirect_uri, redirect_uri_sent, scope, state,
          code_challenge, code_challenge_method, created_at, expires_at, resources, nonce";

/// Removes and returns the pending request if it belongs to this session and
/// has not expired: a decision can be made once.
pub async fn take(
    db: &Db,
    id_hash: &str,
    session_id_hash: &str,
    now: i64,
) -> Result<Option<AuthRequest>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(TAKE)
        .bind(id_hash)
        .bind(session_id_hash)
        .bind(now)
        .fetch_optional(pool)
        .await)?)
}
