//! Issuing tokens: prefixed opaque strings, or signed JWT access tokens
//! (RFC 9068), stored as digests either way.
//!
//! A JWT access token is stored exactly like an opaque one (the SHA-256 of
//! the whole JWT string is the row's key), so introspection, revocation,
//! `/account` and the revocation cascades treat it the same; its `exp` is
//! the row's expiry. It is signed before the writer's transaction, never
//! inside one.

use super::resource::Resources;
use super::scope::Scopes;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{Secret, SecretKind, Sha256Digest};
use crate::model::client::AccessTokenFormat;
use crate::signing::Keys;
use crate::store::batch::{Issuance, TokenRow};
use crate::store::clients::Client;
use crate::store::tokens::{self, TokenKind};
use crate::store::writer::Writer;
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
    /// Opaque, or a JWT (RFC 9068): see [`access_format`].
    pub format: AccessTokenFormat,
    /// The client's pairwise sector, for a JWT's `sub` (see
    /// [`subject`](super::subject)); `None`: public subjects.
    pub pairwise_sector: Option<&'a str>,
    /// When the user signed in for this grant, if known: a JWT's
    /// `auth_time` (RFC 9068 §2.2.1).
    pub auth_time: Option<i64>,
}

/// The format of an access token for `client` and `audience`: a JWT when
/// the client's registration says so (`oauthd client update
/// --token-format jwt`) or any registered resource of the audience does
/// (`oauthd resource update --token-format jwt`); opaque otherwise.
pub async fn access_format(
    db: &Db,
    client: &Client,
    audience: &Resources,
) -> Result<AccessTokenFormat, store::Error> {
    if client.access_token_format == AccessTokenFormat::Jwt {
        return Ok(AccessTokenFormat::Jwt);
    }
    let uris: Vec<&str> = audience.iter().collect();
    if !uris.is_empty() && store::resources::any_wants_jwt(db, &uris).await? {
        return Ok(AccessTokenFormat::Jwt);
    }
    Ok(AccessTokenFormat::Opaque)
}

/// The path of the resource oauthd serves itself (`/account`): the audience
/// of a JWT access token requested without `resource` (RFC 9068 §3 wants a
/// default resource indicator), the one resource such a token is for.
pub const DEFAULT_AUDIENCE_PATH: &str = "/account";

/// The JOSE `typ` of a JWT access token (RFC 9068 §2.1).
pub const AT_JWT: &str = "at+jwt";

/// RFC 9068 §2.2 claims.
#[derive(serde::Serialize)]
struct AccessClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: serde_json::Value,
    client_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    exp: i64,
    iat: i64,
    jti: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
}

/// Turns the access token of `minted` into a signed JWT (RFC 9068) when
/// `grant.format` asks for one: same row, same expiry, the digest of the
/// JWT as its key. Does nothing for opaque tokens.
pub async fn sign_access(
    db: &Db,
    clock: &Clock,
    config: &Config,
    keys: &Keys,
    grant: Grant<'_>,
    minted: &mut Minted,
) -> Result<(), store::Error> {
    if grant.format != AccessTokenFormat::Jwt {
        return Ok(());
    }
    let Some(row) = minted.rows.iter_mut().find(|r| r.kind == TokenKind::Access) else {
        return Err(store::Error::Corrupt("minted no access token".into()));
    };
    // RFC 9068 §3: the resources asked for, else the default one.
    let aud = match grant.audience.iter().collect::<Vec<_>>().as_slice() {
        [] => serde_json::Value::from(format!("{}{DEFAULT_AUDIENCE_PATH}", config.issuer())),
        [one] => serde_json::Value::from(*one),
        many => serde_json::Value::from(many.to_vec()),
    };
    // RFC 9068 §2.2: the client itself when no user is involved; else the
    // user's subject as this client knows it (pairwise or public).
    let sub = match grant.user_id {
        None => grant.client_id.to_owned(),
        Some(user_id) => super::subject::for_sector(config, user_id, grant.pairwise_sector)
            .map_err(|e| store::Error::Corrupt(format!("cannot sign a JWT access token: {e}")))?,
    };
    let claims = AccessClaims {
        iss: config.issuer(),
        sub: &sub,
        aud,
        client_id: grant.client_id,
        scope: &row.scope,
        exp: row.expires_at,
        iat: row.created_at,
        jti: crate::crypto::random_id(),
        auth_time: grant.user_id.and(grant.auth_time),
    };
    let jwt = keys
        .sign_typed(db, clock, &config.signing, Some(AT_JWT), &claims)
        .await
        .map_err(|e| {
            // Not the client's fault: no key-encryption key, no key yet, or
            // a key that does not open. The detail goes to the log.
            store::Error::Corrupt(format!(
                "cannot sign a JWT access token: {}",
                crate::telemetry::error_chain(&e)
            ))
        })?;
    row.token_hash = Sha256Digest::of(&jwt);
    minted.issued.access_token = Secret::from_signed(jwt);
    Ok(())
}

/// [`mint`], then [`sign_access`]: the tokens of a grant, ready to store.
pub async fn mint_signed(
    db: &Db,
    clock: &Clock,
    config: &Config,
    keys: &Keys,
    grant: Grant<'_>,
    refresh: Refresh<'_>,
    now: i64,
) -> Result<Minted, store::Error> {
    let mut minted = mint(config, grant, refresh, now);
    sign_access(db, clock, config, keys, grant, &mut minted).await?;
    Ok(minted)
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
    let expires_in = seconds(match grant.format {
        AccessTokenFormat::Opaque => config.tokens.access_token_lifetime,
        AccessTokenFormat::Jwt => config.tokens.jwt_access_token_lifetime,
    });
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
    db: &Db,
    writer: &Writer,
    clock: &Clock,
    config: &Config,
    keys: &Keys,
    grant: Grant<'_>,
    secret_hash: Option<&str>,
) -> Result<Option<IssuedTokens>, store::Error> {
    let Minted { issued, mut rows } =
        mint_signed(db, clock, config, keys, grant, Refresh::No, clock.now()).await?;
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

/// Stores tokens minted (and signed) beforehand inside `tx`.
pub async fn store(tx: &mut Tx, minted: Minted) -> Result<IssuedTokens, store::Error> {
    let Minted { issued, rows } = minted;
    for row in &rows {
        tokens::insert(tx, row.as_new()).await?;
    }
    Ok(issued)
}

/// A duration in whole seconds as the `i64` the tables store.
pub fn seconds(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}
