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
}

const INSERT: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label,
                    created_at, expires_at, revoked_at, last_used_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, null, null)";

/// Stores a token inside a transaction.
pub async fn insert(tx: &mut Tx, t: NewToken<'_>) -> Result<(), Error> {
    on_tx!(tx, conn => sqlx::query(INSERT)
        .bind(t.token_hash)
        .bind(t.kind.as_str())
        .bind(t.grant_id)
        .bind(t.client_id)
        .bind(t.user_id)
        .bind(t.scope)
        .bind(t.label)
        .bind(t.created_at)
        .bind(t.expires_at)
        .execute(conn)
        .await
        .map(drop))?;
    Ok(())
}

/// A token as a resource sees it, with its user.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// Access, refresh or personal.
    pub kind: TokenKind,
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
}

impl TokenInfo {
    /// Neither revoked, expired, nor belonging to a disabled user.
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now) && !self.user_disabled
    }
}

#[derive(sqlx::FromRow)]
struct InfoRow {
    kind: String,
    client_id: Option<String>,
    user_id: Option<String>,
    username: Option<String>,
    user_disabled: Option<bool>,
    scope: String,
    created_at: i64,
    expires_at: Option<i64>,
    revoked_at: Option<i64>,
}

const FIND: &str = r"
select t.kind, t.client_id, t.user_id, u.username, u.disabled as user_disabled, t.scope,
       t.created_at, t.expires_at, t.revoked_at
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
            client_id: r.client_id,
            user_id: r.user_id,
            username: r.username,
            user_disabled: r.user_disabled.unwrap_or(false),
            scope: r.scope,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
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
