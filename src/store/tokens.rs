//! The `tokens` table: access, refresh and personal access tokens, found by
//! the SHA-256 digest of the presented value with one indexed lookup.

use super::{Db, Error, Tx, on_db, on_tx};

/// What a token is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// Presented as a bearer token to resources.
    Access,
    /// Presented to the token endpoint for new access tokens.
    Refresh,
    /// A user's personal access token: a long-lived bearer token.
    Personal,
}

impl TokenKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Access => "access",
            Self::Refresh => "refresh",
            Self::Personal => "personal",
        }
    }

    fn parse(raw: &str) -> Option<Self> {
        match raw {
            "access" => Some(Self::Access),
            "refresh" => Some(Self::Refresh),
            "personal" => Some(Self::Personal),
            _ => None,
        }
    }
}

/// A token row to insert.
#[derive(Clone, Copy, Debug)]
pub struct NewToken<'a> {
    /// SHA-256 of the raw token.
    pub token_hash: &'a str,
    /// Access, refresh or personal.
    pub kind: TokenKind,
    /// The grant it descends from (codes and refresh families).
    pub grant_id: Option<&'a str>,
    /// The client it was issued to (`None` for personal tokens).
    pub client_id: Option<&'a str>,
    /// The user it acts for (`None` for client credentials).
    pub user_id: Option<&'a str>,
    /// Space-delimited scopes.
    pub scope: &'a str,
    /// A personal token's label.
    pub label: Option<&'a str>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// A refresh family's absolute end.
    pub grant_expires_at: Option<i64>,
    /// A personal token's public id.
    pub public_id: Option<&'a str>,
}

const INSERT: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, null, null, null, $10, $11)";

/// `INSERT` with a [`NewToken`]'s values bound, for either backend.
macro_rules! insert_query {
    ($t:expr) => {
        sqlx::query(INSERT)
            .bind($t.token_hash)
            .bind($t.kind.as_str())
            .bind($t.grant_id)
            .bind($t.client_id)
            .bind($t.user_id)
            .bind($t.scope)
            .bind($t.label)
            .bind($t.created_at)
            .bind($t.expires_at)
            .bind($t.grant_expires_at)
            .bind($t.public_id)
    };
}

/// Stores a token inside a transaction.
pub async fn insert(tx: &mut Tx, t: NewToken<'_>) -> Result<(), Error> {
    on_tx!(tx, conn => insert_query!(t).execute(conn).await.map(drop))?;
    Ok(())
}

/// Stores a token that is written alone, in one autocommit statement (one
/// round trip, where a transaction would take three).
pub async fn insert_alone(db: &Db, t: NewToken<'_>) -> Result<(), Error> {
    let _turn = db.write_turn().await?;
    on_db!(db, pool => insert_query!(t).execute(pool).await.map(drop))?;
    Ok(())
}

/// A token as a resource sees it, with its user.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// Access, refresh or personal.
    pub kind: TokenKind,
    /// The grant (family) it belongs to.
    pub grant_id: Option<String>,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// The user it acts for.
    pub user_id: Option<String>,
    /// The user's name.
    pub username: Option<String>,
    /// Whether the user is disabled.
    pub user_disabled: bool,
    /// Space-delimited scopes.
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds; `None` while not revoked.
    pub revoked_at: Option<i64>,
    /// Unix seconds a refresh token was exchanged; `None` while current.
    pub rotated_at: Option<i64>,
    /// A refresh family's absolute end.
    pub grant_expires_at: Option<i64>,
}

impl TokenInfo {
    /// Neither revoked, expired, retired, nor belonging to a disabled user.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none()
            && self.rotated_at.is_none()
            && self.expires_at.is_none_or(|e| e > now)
            && !self.user_disabled
    }
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    kind: String,
    grant_id: Option<String>,
    client_id: Option<String>,
    user_id: Option<String>,
    username: Option<String>,
    user_disabled: Option<bool>,
    scope: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
    rotated_at: Option<i64>,
    grant_expires_at: Option<i64>,
}

const FIND: &str = r"
select t.kind, t.grant_id, t.client_id, t.user_id, u.username, u.disabled as user_disabled,
       t.scope, t.created_at, t.expires_at, t.revoked_at, t.rotated_at, t.grant_expires_at
from tokens t left join users u on u.id = t.user_id
where t.token_hash = $1";

/// The token with this digest, whatever its state.
pub async fn find(db: &Db, token_hash: &str) -> Result<Option<TokenInfo>, Error> {
    let row: Option<InfoRow> =
        on_db!(db, pool => sqlx::query_as(FIND).bind(token_hash).fetch_optional(pool).await)?;
    row.map(|r| {
        Ok(TokenInfo {
            kind: TokenKind::parse(&r.kind)
                .ok_or_else(|| Error::Corrupt(format!("token kind {}", r.kind)))?,
            grant_id: r.grant_id,
            client_id: r.client_id,
            user_id: r.user_id,
            username: r.username,
            user_disabled: r.user_disabled.unwrap_or(false),
            scope: r.scope,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            rotated_at: r.rotated_at,
            grant_expires_at: r.grant_expires_at,
        })
    })
    .transpose()
}

const REVOKE_GRANT: &str =
    "update tokens set revoked_at = $1 where grant_id = $2 and revoked_at is null";

/// Revokes every token of a grant; returns how many were live.
pub async fn revoke_grant(db: &Db, grant_id: &str, now: i64) -> Result<u64, Error> {
    Ok(on_db!(db, pool => sqlx::query(REVOKE_GRANT)
        .bind(now)
        .bind(grant_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
}

// One statement decides which of several concurrent refreshes wins.
const RETIRE: &str = r"
update tokens set rotated_at = $1
where token_hash = $2 and kind = 'refresh' and rotated_at is null and revoked_at is null
  and expires_at > $1";

/// Marks a current refresh token as exchanged; false when it was not current
/// (already rotated, revoked or expired): the caller lost a race or reused it.
pub async fn retire_refresh(tx: &mut Tx, token_hash: &str, now: i64) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(RETIRE)
        .bind(now)
        .bind(token_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

const REVOKE_ONE: &str =
    "update tokens set revoked_at = $1 where token_hash = $2 and revoked_at is null";

/// Revokes one token; false when it was unknown or already revoked.
pub async fn revoke(db: &Db, token_hash: &str, now: i64) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(REVOKE_ONE)
        .bind(now)
        .bind(token_hash)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// A personal access token as its owner sees it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct PersonalToken {
    /// Public id, for listing and revoking.
    pub public_id: String,
    /// The owner's label.
    pub label: Option<String>,
    /// Space-delimited scopes.
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds; `None` while not revoked.
    pub revoked_at: Option<i64>,
    /// Unix seconds of the last use.
    pub last_used_at: Option<i64>,
}

const LIST_PERSONAL: &str = r"
select public_id, label, scope, created_at, expires_at, revoked_at, last_used_at
from tokens where kind = 'personal' and user_id = $1 order by created_at, public_id";

/// A user's personal access tokens, oldest first.
pub async fn list_personal(db: &Db, user_id: &str) -> Result<Vec<PersonalToken>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(LIST_PERSONAL).bind(user_id).fetch_all(pool).await)?)
}

const REVOKE_PERSONAL: &str = r"
update tokens set revoked_at = $1
where public_id = $2 and kind = 'personal' and revoked_at is null
returning user_id";

/// Revokes a personal access token by its public id; the owner's id, or
/// `None` when no such token was live.
pub async fn revoke_personal(db: &Db, public_id: &str, now: i64) -> Result<Option<String>, Error> {
    let owner: Option<(Option<String>,)> = on_db!(db, pool => sqlx::query_as(REVOKE_PERSONAL)
        .bind(now)
        .bind(public_id)
        .fetch_optional(pool)
        .await)?;
    Ok(owner.and_then(|(user_id,)| user_id))
}

const REVOKE_USER_CLIENT: &str = r"
update tokens set revoked_at = $1
where user_id = $2 and client_id = $3 and revoked_at is null";

/// Revokes every token a client holds for a user.
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

const REVOKE_PERSONAL_OF: &str = r"
update tokens set revoked_at = $1
where public_id = $2 and user_id = $3 and kind = 'personal' and revoked_at is null";

/// Revokes one of this user's personal tokens; false when none was live.
pub async fn revoke_personal_of(
    db: &Db,
    user_id: &str,
    public_id: &str,
    now: i64,
) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(REVOKE_PERSONAL_OF)
        .bind(now)
        .bind(public_id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
