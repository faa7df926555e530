//! Issuing tokens: prefixed opaque strings, stored as digests.

use super::resource::Resources;
use super::scope::Scopes;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{Secret, SecretKind, Sha256Digest};
use crate::store::batch::{Issuance, TokenRow};
use crate::store::tokens::{self, TokenKind};
use crate::store::writer::Writer;
use crate::store::{self, Tx};

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
    /// The OpenID Connect ID token, when `openid` was granted.
    pub id_token: Option<String>,
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
    /// The access token's audience (RFC 8707); empty: none.
    pub audience: &'a Resources,
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
        /// The resources of the original grant (a narrower access token
        /// does not narrow the refresh token either).
        audience: &'a Resources,
        /// The family's absolute end.
        grant_expires_at: i64,
    },
}

/// Tokens made for a grant and not stored yet: what the client will get,
/// and the rows that must commit before it gets it.
#[derive(Debug)]
pub struct Minted {
    /// The answer.
    pub issued: IssuedTokens,
    /// The access token's row, then the refresh token's, if any.
    pub rows: Vec<TokenRow>,
}

impl Minted {
    /// The new refresh token's digest, if there is one.
    pub fn refresh_hash(&self) -> Option<Sha256Digest> {
        self.rows
            .iter()
            .find(|r| r.kind == TokenKind::Refresh)
            .map(|r| r.token_hash)
    }
}

/// Makes an access token, and a refresh token as `refresh` says, issued
/// `now`, without storing them.
pub fn mint(config: &Config, grant: Grant<'_>, refresh: Refresh<'_>, now: i64) -> Minted {
    let access_token = Secret::generate(SecretKind::AccessToken);
    let expires_in = seconds(config.tokens.access_token_lifetime);
    let row = |hash: Sha256Digest,
               kind,
               scope: String,
               audience: Option<String>,
               expires_at,
               grant_expires_at| TokenRow {
        token_hash: hash,
        kind,
        grant_id: grant.grant_id.map(str::to_owned),
        client_id: grant.client_id.to_owned(),
        user_id: grant.user_id.map(str::to_owned),
        scope,
        created_at: now,
        expires_at,
        grant_expires_at,
        audience,
    };
    let scope = grant.scope.to_string();
    let audience = grant.audience.to_stored();
    let mut rows = vec![row(
        access_token.sha256(),
        TokenKind::Access,
        scope.clone(),
        audience.clone(),
        now.saturating_add(expires_in),
        None,
    )];
    let (refresh_scope, grant_expires_at) = match refresh {
        Refresh::No => (None, 0),
        Refresh::Start => (
            Some((scope, audience)),
            now.saturating_add(seconds(config.tokens.refresh_token_lifetime)),
        ),
        Refresh::Rotate {
            scope,
            audience,
            grant_expires_at,
        } => (
            Some((scope.to_string(), audience.to_stored())),
            grant_expires_at,
        ),
    };
    let refresh_token = refresh_scope.map(|(refresh_scope, refresh_audience)| {
        let expires_at = match config.tokens.refresh_token_idle {
            Some(idle) => grant_expires_at.min(now.saturating_add(seconds(idle))),
            None => grant_expires_at,
        };
        let token = Secret::generate(SecretKind::RefreshToken);
        rows.push(row(
            token.sha256(),
            TokenKind::Refresh,
            refresh_scope,
            refresh_audience,
            expires_at,
            Some(grant_expires_at),
        ));
        token
    });
    Minted {
        issued: IssuedTokens {
            access_token,
            expires_in,
            refresh_token,
            scope: grant.scope.clone(),
            id_token: None,
        },
        rows,
    }
}

/// Stores a client's own access token (client credentials) through the
/// token writers, only while the client still exists with `secret_hash`,
/// the digest it authenticated with. `None` when the client was deleted or
/// its secret rotated meanwhile.
pub async fn issue_access(
    writer: &Writer,
    clock: &Clock,
    config: &Config,
    grant: Grant<'_>,
    secret_hash: Option<&str>,
) -> Result<Option<IssuedTokens>, store::Error> {
    let Minted { issued, mut rows } = mint(config, grant, Refresh::No, clock.now());
    let Some(token) = rows.pop() else {
        return Err(store::Error::Corrupt("minted no access token".into()));
    };
    let stored = writer
        .submit(Issuance::ClientToken {
            token,
            secret_hash: secret_hash.map(str::to_owned),
        })
        .await?;
    Ok(stored.then_some(issued))
}

/// Stores an access token, and a refresh token as `refresh` says, inside `tx`.
pub async fn issue(
    tx: &mut Tx,
    clock: &Clock,
    config: &Config,
    grant: Grant<'_>,
    refresh: Refresh<'_>,
) -> Result<IssuedTokens, store::Error> {
    let Minted { issued, rows } = mint(config, grant, refresh, clock.now());
    for row in &rows {
        tokens::insert(tx, row.as_new()).await?;
    }
    Ok(issued)
}

/// A duration in whole seconds as the `i64` the tables store.
pub fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
