//! `grant_type=refresh_token` (RFC 6749 §6) with rotation (RFC 9700 §4.14.2).
//!
//! Every use retires the presented token and issues a new one of the same
//! family. A retired token presented again is reuse: the whole family is
//! revoked, and with it whatever a thief or the real client holds. One
//! statement retires the token inside the transaction that issues its
//! successor, so of several concurrent uses exactly one succeeds; the others
//! count as reuse. `tokens.refresh_grace_secs` lets a client that lost a
//! response present the just-retired token again for a few seconds.

use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{SecretKind, sha256_hex};
use crate::oauth::error::{Error, ErrorCode, OAuthError};
use crate::oauth::registration::GrantType;
use crate::oauth::scope::Scopes;
use crate::oauth::token::{self, Grant, IssuedTokens, Refresh, seconds};
use crate::store::clients::Client;
use crate::store::tokens::{TokenInfo, TokenKind};
use crate::store::{self, Db};

/// The token request's parameters for this grant.
#[derive(Clone, Copy, Debug)]
pub struct RefreshRequest<'a> {
    /// `refresh_token`.
    pub refresh_token: &'a str,
    /// `scope`, if sent: must be within the original grant.
    pub scope: Option<&'a str>,
}

fn invalid_grant() -> Error {
    OAuthError::new(
        ErrorCode::InvalidGrant,
        "the refresh token is invalid, expired or revoked",
    )
    .into()
}

/// Exchanges a refresh token for a new access token and refresh token.
pub async fn exchange(
    db: &Db,
    clock: &Clock,
    config: &Config,
    client: &Client,
    request: RefreshRequest<'_>,
) -> Result<IssuedTokens, Error> {
    if !client.grant_types.contains(&GrantType::RefreshToken) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the refresh_token grant",
        )
        .into());
    }
    if !SecretKind::RefreshToken.matches(request.refresh_token) {
        return Err(invalid_grant());
    }
    let hash = sha256_hex(request.refresh_token);
    let Some(found) = store::tokens::find(db, &hash).await? else {
        return Err(invalid_grant());
    };
    // RFC 6749 §6: the refresh token must have been issued to this client.
    // Another client's token is left untouched.
    if found.kind != TokenKind::Refresh || found.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(invalid_grant());
    }
    if found.revoked_at.is_some() || found.user_disabled {
        return Err(invalid_grant());
    }
    let now = clock.now();
    let grace = seconds(config.tokens.refresh_grace);
    let in_grace = match found.rotated_at {
        None => false,
        Some(at) if grace > 0 && now - at <= grace => true,
        Some(_) => return Err(reused(db, clock, &found, &client.id).await),
    };
    if found.expires_at.is_none_or(|e| e <= now) {
        return Err(invalid_grant());
    }
    let granted = Scopes::parse(&found.scope)
        .map_err(|_| store::Error::Corrupt(format!("scope of a refresh token of {}", client.id)))?;
    let scope = match request.scope.map(Scopes::parse).transpose() {
        Err(e) => return Err(OAuthError::new(ErrorCode::InvalidScope, e.to_string()).into()),
        Ok(Some(s)) if !s.is_empty() => {
            if let Some(extra) = s.iter().find(|n| !granted.contains(n.as_str())) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{extra}` was not part of the original grant"),
                )
                .into());
            }
            s
        }
        Ok(_) => granted.clone(),
    };
    let grant_expires_at = found.grant_expires_at.or(found.expires_at).unwrap_or(now);

    let mut tx = db.begin().await?;
    if !in_grace && !store::tokens::retire_refresh(&mut tx, &hash, now).await? {
        drop(tx);
        return Err(reused(db, clock, &found, &client.id).await);
    }
    let issued = token::issue(
        &mut tx,
        clock,
        config,
        Grant {
            grant_id: found.grant_id.as_deref(),
            client_id: &client.id,
            user_id: found.user_id.as_deref(),
            scope: &scope,
        },
        Refresh::Rotate {
            scope: &granted,
            grant_expires_at,
        },
    )
    .await?;
    Event::new(Kind::TokenRefreshed)
        .maybe_user(found.user_id.as_deref())
        .client(&client.id)
        .record_in(&mut tx, clock)
        .await?;
    tx.commit().await?;
    tracing::info!(client.id = %client.id, in_grace, "refreshed tokens");
    Ok(issued)
}

/// A retired refresh token came back: revoke its whole family.
async fn reused(db: &Db, clock: &Clock, found: &TokenInfo, client_id: &str) -> Error {
    let Some(grant_id) = found.grant_id.as_deref() else {
        return invalid_grant();
    };
    Event::new(Kind::RefreshReused)
        .maybe_user(found.user_id.as_deref())
        .client(client_id)
        .record(db, clock)
        .await;
    match store::tokens::revoke_grant(db, grant_id, clock.now()).await {
        Ok(n) => {
            tracing::warn!(client.id = %client_id, grant.id = %grant_id, tokens.revoked = n, "refresh token reused; revoked its family");
            invalid_grant()
        }
        Err(e) => e.into(),
    }
}
