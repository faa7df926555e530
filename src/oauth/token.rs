//! Issuing tokens: prefixed opaque strings, stored as digests.

use super::scope::Scopes;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{Secret, SecretKind, Sha256Digest};
use crate::store::tokens::{self, NewToken, TokenKind};
use crate::store::{self, Db, Tx};

/// What the token endpoint hands out.
#[derive(Debug)]
pub struct IssuedTokens {
    /// The access token.
    pub access_token: Secret,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// The refresh token, when the client may refresh.
    pub refresh_token: Option<Secret>,
    /// The granted scope.
    pub scope: Scopes,
}

/// What the new tokens are for.
#[derive(Clone, Copy, Debug)]
pub struct Grant<'a> {
    /// The family the tokens join (revoked together on replay or reuse).
    pub grant_id: Option<&'a str>,
    /// The client.
    pub client_id: &'a str,
    /// The user, if any.
    pub user_id: Option<&'a str>,
    /// The granted scope.
    pub scope: &'a Scopes,
}

/// Whether the new tokens include a refresh token.
#[derive(Clone, Copy, Debug)]
pub enum Refresh<'a> {
    /// Access token only (client credentials, clients without the grant).
    No,
    /// A refresh token that starts a family: its absolute lifetime starts now.
    Start,
    /// The next refresh token of a family: it keeps the family's scope and end.
    Rotate {
        /// The scope of the original grant (a narrower access token does not
        /// narrow the refresh token, RFC 6749 §6).
        scope: &'a Scopes,
        /// The family's absolute end.
        grant_expires_at: i64,
    },
}

/// A new access token for a grant, before it is stored.
struct Access {
    token: Secret,
    hash: Sha256Digest,
    scope: String,
    expires_in: i64,
}

impl Access {
    fn mint(grant: &Grant<'_>, config: &Config) -> Self {
        let token = Secret::generate(SecretKind::AccessToken);
        Self {
            hash: token.sha256(),
            token,
            scope: grant.scope.to_string(),
            expires_in: seconds(config.tokens.access_token_lifetime),
        }
    }

    /// Its row, issued `now`.
    fn row<'a>(&'a self, grant: &Grant<'a>, now: i64) -> NewToken<'a> {
        NewToken {
            token_hash: self.hash,
            kind: TokenKind::Access,
            grant_id: grant.grant_id,
            client_id: Some(grant.client_id),
            user_id: grant.user_id,
            scope: &self.scope,
            label: None,
            created_at: now,
            expires_at: Some(now.saturating_add(self.expires_in)),
            grant_expires_at: None,
            public_id: None,
        }
    }
}

/// Stores a client's own access token (client credentials): one autocommit
/// insert, since nothing else is written with it, made only while the client
/// still exists with `secret_hash`, the digest it authenticated with.
/// `None` when the client was deleted or its secret rotated meanwhile.
pub async fn issue_access(
    db: &Db,
    clock: &Clock,
    config: &Config,
    grant: Grant<'_>,
    secret_hash: Option<&str>,
) -> Result<Option<IssuedTokens>, store::Error> {
    let now = clock.now();
    let access = Access::mint(&grant, config);
    if !tokens::insert_for_client(db, access.row(&grant, now), secret_hash).await? {
        return Ok(None);
    }
    let Access {
        token: access_token,
        expires_in,
        ..
    } = access;
    Ok(Some(IssuedTokens {
        access_token,
        expires_in,
        refresh_token: None,
        scope: grant.scope.clone(),
    }))
}

/// Stores an access token, and a refresh token as `refresh` says, inside `tx`.
pub async fn issue(
    tx: &mut Tx,
    clock: &Clock,
    config: &Config,
    grant: Grant<'_>,
    refresh: Refresh<'_>,
) -> Result<IssuedTokens, store::Error> {
    let now = clock.now();
    let access = Access::mint(&grant, config);
    tokens::insert(tx, access.row(&grant, now)).await?;
    let Access {
        token: access_token,
        expires_in,
        scope,
        ..
    } = access;
    let (refresh_scope, grant_expires_at) = match refresh {
        Refresh::No => {
            return Ok(IssuedTokens {
                access_token,
                expires_in,
                refresh_token: None,
                scope: grant.scope.clone(),
            });
        }
        Refresh::Start => (
            scope.clone(),
            now.saturating_add(seconds(config.tokens.refresh_token_lifetime)),
        ),
        Refresh::Rotate {
            scope,
            grant_expires_at,
        } => (scope.to_string(), grant_expires_at),
    };
    let expires_at = match config.tokens.refresh_token_idle {
        Some(idle) => grant_expires_at.min(now.saturating_add(seconds(idle))),
        None => grant_expires_at,
    };
    let refresh_token = Secret::generate(SecretKind::RefreshToken);
    tokens::insert(
        tx,
        NewToken {
            token_hash: refresh_token.sha256(),
            kind: TokenKind::Refresh,
            grant_id: grant.grant_id,
            client_id: Some(grant.client_id),
            user_id: grant.user_id,
            scope: &refresh_scope,
            label: None,
            created_at: now,
            expires_at: Some(expires_at),
            grant_expires_at: Some(grant_expires_at),
            public_id: None,
        },
    )
    .await?;
    Ok(IssuedTokens {
        access_token,
        expires_in,
        refresh_token: Some(refresh_token),
        scope: grant.scope.clone(),
    })
}

/// A duration in whole seconds as the `i64` the tables store.
pub fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
