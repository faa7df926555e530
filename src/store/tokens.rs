//! The `tokens` table: access, refresh and personal access tokens, found by
//! the SHA-256 digest of the presented value with one indexed lookup.
//!
//! The digest is stored as its 32 bytes ([`Sha256Digest`], `bytea` or
//! `BLOB`), not as hex text like the other tables' digests: this is the
//! table every issuance writes to. The table has no foreign keys (each would
//! lock the parent row on every insert); deleting a client or a user deletes
//! its tokens through triggers on those tables (migration 0009).

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Database, Decode, Encode, Type};

use super::{Db, Error, Tx, on_db, on_tx};
use crate::crypto::Sha256Digest;

// A digest binds and reads as the bytes it holds, on either backend.
impl<DB: Database> Type<DB> for Sha256Digest
where
    [u8]: Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <[u8] as Type<DB>>::type_info()
    }

    fn compatible(ty: &DB::TypeInfo) -> bool {
        <[u8] as Type<DB>>::compatible(ty)
    }
}

impl<'q, DB: Database> Encode<'q, DB> for Sha256Digest
where
    for<'a> &'a [u8]: Encode<'q, DB>,
{
    fn encode_by_ref(&self, buf: &mut DB::ArgumentBuffer) -> Result<IsNull, BoxDynError> {
        self.as_bytes().as_slice().encode_by_ref(buf)
    }
}

/// Arrays of digests (`bytea[]`), for the token writers' set statements.
impl sqlx::postgres::PgHasArrayType for Sha256Digest {
    fn array_type_info() -> sqlx::postgres::PgTypeInfo {
        sqlx::postgres::PgTypeInfo::with_name("_bytea")
    }
}

impl<'r, DB: Database> Decode<'r, DB> for Sha256Digest
where
    &'r [u8]: Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, BoxDynError> {
        let bytes = <&[u8] as Decode<DB>>::decode(value)?;
        Sha256Digest::from_bytes(bytes)
            .ok_or_else(|| format!("a token digest of {} bytes, not 32", bytes.len()).into())
    }
}

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
    /// SHA-256 of the raw token, as bytes.
    pub token_hash: Sha256Digest,
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
    /// Its audience (RFC 8707), space-delimited URIs; `None`: none named.
    pub audience: Option<&'a str>,
}

const INSERT: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id, audience)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, null, null, null, $10, $11, $12)";

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
            .bind($t.audience)
    };
}

/// Stores a token inside a transaction.
pub async fn insert(tx: &mut Tx, t: NewToken<'_>) -> Result<(), Error> {
    on_tx!(tx, conn => insert_query!(t).execute(conn).await.map(drop))?;
    Ok(())
}

// A client's own token, stored only while the client still exists with the
// secret it authenticated with: a deletion or a secret rotation that
// committed first leaves nothing to insert. On Postgres `for share` makes a
// deletion or rotation that comes second wait for this insert (and a
// deletion then cascades to the new row).
const INSERT_FOR_CLIENT_POSTGRES: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id, audience)
select $1, $2, $3, $4, $5, $6, $7, $8, $9, null, null, null, $10, $11, $13
from clients where id = $4 and coalesce(secret_hash, '') = $12 for share";

// SQLite runs one write at a time and has no row locks.
const INSERT_FOR_CLIENT_SQLITE: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at, rotated_at,
                    grant_expires_at, public_id, audience)
select $1, $2, $3, $4, $5, $6, $7, $8, $9, null, null, null, $10, $11, $13
from clients where id = $4 and coalesce(secret_hash, '') = $12";

/// Stores a client's own token (client credentials) inside `tx`, if the
/// client still exists with `secret_hash` (the digest it authenticated
/// with); false when it was deleted or its secret rotated meanwhile.
pub async fn insert_for_client(
    tx: &mut Tx,
    t: NewToken<'_>,
    secret_hash: Option<&str>,
) -> Result<bool, Error> {
    let sql = match tx {
        Tx::Postgres(..) => INSERT_FOR_CLIENT_POSTGRES,
        Tx::Sqlite(..) => INSERT_FOR_CLIENT_SQLITE,
    };
    let secret_hash = secret_hash.unwrap_or("");
    let n = on_tx!(tx, conn => sqlx::query(sql)
        .bind(t.token_hash)
        .bind(t.kind.as_str())
        .bind(t.grant_id)
        .bind(t.client_id)
        .bind(t.user_id)
        .bind(t.scope)
        .bind(t.label)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(t.grant_expires_at)
        .bind(t.public_id)
        .bind(secret_hash)
        .bind(t.audience)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
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
    /// Whether the user is disabled, or gone (a token whose user was
    /// deleted meanwhile is never active).
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
    /// Its audience (RFC 8707), space-delimited URIs; `None`: none named.
    pub audience: Option<String>,
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
    audience: Option<String>,
}

const FIND: &str = r"
select t.kind, t.grant_id, t.client_id, t.user_id, u.username, u.disabled as user_disabled,
       t.scope, t.created_at, t.expires_at, t.revoked_at, t.rotated_at, t.grant_expires_at,
       t.audience
from tokens t left join users u on u.id = t.user_id
where t.token_hash = $1";

/// The token with this digest, whatever its state.
pub async fn find(db: &Db, token_hash: &Sha256Digest) -> Result<Option<TokenInfo>, Error> {
    let row: Option<InfoRow> =
        on_db!(db, pool => sqlx::query_as(FIND).bind(token_hash).fetch_optional(pool).await)?;
    row.map(|r| {
        Ok(TokenInfo {
            kind: TokenKind::parse(&r.kind)
                .ok_or_else(|| Error::Corrupt(format!("token kind {}", r.kind)))?,
            // No user row for a token that names one: the user was deleted.
            user_disabled: r.user_disabled.unwrap_or(r.user_id.is_some()),
            grant_id: r.grant_id,
            client_id: r.client_id,
            user_id: r.user_id,
            username: r.username,
            scope: r.scope,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            rotated_at: r.rotated_at,
            grant_expires_at: r.grant_expires_at,
            audience: r.audience,
        })
    })
    .transpose()
}

/// A refresh token's state, read inside the transaction that holds its
/// grant (so no concurrent issuance or revocation can change it).
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct RefreshState {
    /// Unix seconds it was exchanged; `None` while current.
    pub rotated_at: Option<i64>,
    /// Unix seconds it was revoked.
    pub revoked_at: Option<i64>,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// The digest of the refresh token that replaced it.
    pub replaced_by: Option<Sha256Digest>,
}

impl RefreshState {
    /// Neither exchanged, revoked nor expired.
    pub fn is_current(&self, now: i64) -> bool {
        self.rotated_at.is_none()
            && self.revoked_at.is_none()
            && self.expires_at.is_some_and(|e| e > now)
    }
}

const REFRESH_STATE: &str = r"
select rotated_at, revoked_at, expires_at, replaced_by
from tokens where token_hash = $1 and kind = 'refresh'";

/// The refresh token with this digest, read inside `tx`.
pub async fn refresh_state(
    tx: &mut Tx,
    token_hash: &Sha256Digest,
) -> Result<Option<RefreshState>, Error> {
    Ok(on_tx!(tx, conn => sqlx::query_as(REFRESH_STATE)
        .bind(token_hash)
        .fetch_optional(conn)
        .await)?)
}

const RETIRE: &str = r"
update tokens set rotated_at = $1, replaced_by = $2
where token_hash = $3 and kind = 'refresh' and rotated_at is null and revoked_at is null
  and expires_at > $1";

/// Marks a current refresh token as exchanged for `replaced_by`; false when
/// it was not current.
pub async fn retire_refresh(
    tx: &mut Tx,
    token_hash: &Sha256Digest,
    replaced_by: &Sha256Digest,
    now: i64,
) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(RETIRE)
        .bind(now)
        .bind(replaced_by)
        .bind(token_hash)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

const SUPERSEDE: &str = "update tokens set replaced_by = $1 where token_hash = $2";

// Retired without a replacement of its own: presented again, it is reuse.
const RETIRE_SUCCESSOR: &str = r"
update tokens set rotated_at = $1
where token_hash = $2 and kind = 'refresh' and rotated_at is null and revoked_at is null";

/// A replay inside the grace period: the successor `old` got before is
/// retired, and `old` now points at `replaced_by`; false when that
/// successor was no longer current.
pub async fn supersede_successor(
    tx: &mut Tx,
    old: &Sha256Digest,
    successor: &Sha256Digest,
    replaced_by: &Sha256Digest,
    now: i64,
) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(RETIRE_SUCCESSOR)
        .bind(now)
        .bind(successor)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    if n != 1 {
        return Ok(false);
    }
    on_tx!(tx, conn => sqlx::query(SUPERSEDE)
        .bind(replaced_by)
        .bind(old)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(true)
}

const REVOKE_ONE: &str =
    "update tokens set revoked_at = $1 where token_hash = $2 and revoked_at is null";

/// Revokes one token; false when it was unknown or already revoked.
pub async fn revoke(db: &Db, token_hash: &Sha256Digest, now: i64) -> Result<bool, Error> {
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
