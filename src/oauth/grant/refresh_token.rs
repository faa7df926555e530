//! `grant_type=refresh_token` (RFC 6749 §6) with rotation (RFC 9700 §4.14.2).
//!
//! Every use retires the presented token and issues a new one of the same
//! family. A retired token presented again is reuse: the whole family is
//! revoked, and with it whatever a thief or the real client holds.
//!
//! The decision is taken inside the transaction that issues the successor,
//! after it has claimed the family's grant row (`store::grants::claim`):
//! concurrent uses of one family, and revocations of it, run one after the
//! other, so of several concurrent uses exactly one succeeds, the others
//! count as reuse, and a revocation either comes first (nothing is issued)
//! or second (it revokes what was issued).
//!
//! `tokens.refresh_grace_secs` forgives a client that lost a response: a
//! retired token presented again within the window, while the successor it
//! got is still unused, retires that successor and gets a new pair. The
//! family keeps exactly one live refresh token, and the retired successor,
//! if it is ever presented, is reuse.

use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{Secret, SecretKind, Sha256Digest};
use crate::model::client::AccessTokenFormat;
use crate::oauth::error::{Error, ErrorCode, OAuthError};
use crate::oauth::id_token;
use crate::oauth::registration::GrantType;
use crate::oauth::resource::Resources;
use crate::oauth::scope::Scopes;
use crate::oauth::token::{self, Grant, IssuedTokens, Minted, Refresh, seconds};
use crate::signing::Keys;
use crate::store::batch::{GrantClaim, Issuance, Step};
use crate::store::clients::Client;
use crate::store::grants::Claim;
use crate::store::tokens::{TokenInfo, TokenKind};
use crate::store::writer::Writer;
use crate::store::{self, Db, Tx};

/// The token request's parameters for this grant.
#[derive(Clone, Copy, Debug)]
pub struct RefreshRequest<'a> {
    /// `refresh_token`.
    pub refresh_token: &'a str,
    /// `scope`, if sent: must be within the original grant.
    pub scope: Option<&'a str>,
    /// `resource`, repeatable: must be within the original grant (RFC 8707 §2.2).
    pub resources: &'a Resources,
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
    writer: &Writer,
    keys: &Keys,
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
    let hash = Sha256Digest::of(request.refresh_token);
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
    if found.expires_at.is_none_or(|e| e <= now) && found.rotated_at.is_none() {
        return Err(invalid_grant());
    }
    let Some(grant_id) = found.grant_id.as_deref() else {
        return Err(invalid_grant());
    };
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
    let granted_audience = Resources::from_stored(found.audience.as_deref());
    let audience = granted_audience.narrow(request.resources)?;
    let grant_expires_at = found.grant_expires_at.or(found.expires_at).unwrap_or(now);
    let format = token::access_format(db, client, &audience).await?;
    // A JWT access token names the original sign-in (one read; opaque
    // tokens do not need it).
    let auth_time = match format {
        AccessTokenFormat::Jwt if found.user_id.is_some() => {
            store::grants::auth_time(db, grant_id).await?
        }
        _ => None,
    };
    let grant = Grant {
        grant_id: Some(grant_id),
        client_id: &client.id,
        user_id: found.user_id.as_deref(),
        scope: &scope,
        audience: &audience,
        format,
        pairwise_sector: client.pairwise_sector.as_deref(),
        auth_time,
    };
    let rotate = Refresh::Rotate {
        scope: &granted,
        audience: &granted_audience,
        grant_expires_at,
    };
    let event = Event::new(Kind::TokenRefreshed)
        .maybe_user(found.user_id.as_deref())
        .client(&client.id);

    // The usual case, a current token, coalesced with other requests:
    // claim the grant, retire the token, store its successors, in a
    // writer's transaction. Refused (rotated, revoked or changed meanwhile),
    // the one-request path below decides under the claim.
    if found.rotated_at.is_none() {
        let minted = token::mint_signed(db, clock, config, keys, grant, rotate, now).await?;
        let Some(next) = minted.refresh_hash() else {
            return Err(store::Error::Corrupt("a rotation without a refresh token".into()).into());
        };
        let Minted { mut issued, rows } = minted;
        issued.id_token =
            refreshed_id_token(db, clock, config, keys, client, &found, &issued).await?;
        let stored = writer
            .submit(Issuance::FromGrant {
                claim: GrantClaim {
                    grant_id: grant_id.to_owned(),
                    client_id: client.id.clone(),
                    secret_hash: client.secret_hash.clone(),
                    now,
                    expires_at: grant_expires_at,
                },
                step: Step::RetireRefresh {
                    token_hash: hash,
                    replaced_by: next,
                },
                tokens: rows,
                event: event.to_row(clock),
            })
            .await?;
        if stored {
            event.log_only();
            return Ok(issued);
        }
    }

    // Minted and signed before the transaction: signing reads the keys.
    let Minted {
        issued: mut fallback,
        rows,
    } = token::mint_signed(db, clock, config, keys, grant, rotate, now).await?;
    fallback.id_token =
        refreshed_id_token(db, clock, config, keys, client, &found, &fallback).await?;
    let mut tx = db.begin().await?;
    match store::grants::claim(
        &mut tx,
        grant_id,
        &client.id,
        client.secret_hash.as_deref(),
        now,
        grant_expires_at,
    )
    .await?
    {
        Claim::Held => {}
        Claim::Dead => return Err(invalid_grant()),
        Claim::ClientChanged => return Err(client_changed()),
    }
    // Read again now that the family is held: what was read above may be
    // stale by a concurrent rotation or revocation.
    let Some(state) = store::tokens::refresh_state(&mut tx, &hash).await? else {
        return Err(invalid_grant());
    };
    if state.revoked_at.is_some() {
        return Err(invalid_grant());
    }
    let use_ = if state.is_current(now) {
        Use::Current
    } else {
        let grace = seconds(config.tokens.refresh_grace);
        match (state.rotated_at, state.replaced_by) {
            (Some(at), Some(successor)) if grace > 0 && now - at <= grace => {
                // Forgiven only while the successor it got is unused.
                let unused = store::tokens::refresh_state(&mut tx, &successor)
                    .await?
                    .is_some_and(|s| s.is_current(now));
                if !unused {
                    return Err(reused(tx, clock, &found, grant_id, &client.id).await);
                }
                Use::Grace { successor }
            }
            (Some(_), _) => {
                return Err(reused(tx, clock, &found, grant_id, &client.id).await);
            }
            // Expired, never rotated.
            (None, _) => return Err(invalid_grant()),
        }
    };
    for row in &rows {
        store::tokens::insert(&mut tx, row.as_new()).await?;
    }
    let issued = fallback;
    let next = issued
        .refresh_token
        .as_ref()
        .map(Secret::sha256)
        .ok_or_else(|| store::Error::Corrupt("a rotation without a refresh token".into()))?;
    let in_grace = matches!(use_, Use::Grace { .. });
    // Cannot fail while the grant is held: the state was read under it.
    let retired = match &use_ {
        Use::Current => store::tokens::retire_refresh(&mut tx, &hash, &next, now).await?,
        Use::Grace { successor } => {
            store::tokens::supersede_successor(&mut tx, &hash, successor, &next, now).await?
        }
    };
    if !retired {
        return Err(store::Error::Corrupt(format!(
            "a refresh token of grant {grant_id} changed while its grant was held"
        ))
        .into());
    }
    event.record_in(&mut tx, clock).await?;
    tx.commit().await?;
    // The access line carries the event (`audit.kind=token_refreshed`).
    tracing::debug!(client.id = %client.id, in_grace, "refreshed tokens");
    Ok(issued)
}

/// OpenID Connect Core §12.2: a refresh whose access token holds `openid`
/// gets a new ID token, with the sign-in time of the original
/// authentication and no `nonce`.
async fn refreshed_id_token(
    db: &Db,
    clock: &Clock,
    config: &Config,
    keys: &Keys,
    client: &Client,
    found: &TokenInfo,
    issued: &IssuedTokens,
) -> Result<Option<String>, Error> {
    let (true, Some(user_id), Some(grant_id)) = (
        id_token::wanted(&issued.scope),
        found.user_id.as_deref(),
        found.grant_id.as_deref(),
    ) else {
        return Ok(None);
    };
    let auth_time = store::grants::auth_time(db, grant_id).await?;
    let signed = id_token::sign(
        db,
        clock,
        config,
        keys,
        id_token::Subject {
            client,
            user_id,
            nonce: None,
            auth_time,
            access_token: issued.access_token.expose(),
        },
    )
    .await;
    match signed {
        Ok(signed) => Ok(Some(signed)),
        // Core §12.2: the answer "might not contain an id_token". Nothing
        // can sign (the key-encryption key or the pairwise salt was taken
        // away since the grant was made): the refresh still works.
        Err(Error::Refused(e)) => {
            tracing::warn!(client.id = %client.id, reason = %e.description, "refreshed without an ID token");
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// How the presented refresh token is being used.
enum Use {
    /// It is the family's live token.
    Current,
    /// It was retired moments ago; `successor` (its replacement's digest,
    /// still unused) is retired in favour of a new one.
    Grace { successor: Sha256Digest },
}

fn client_changed() -> Error {
    OAuthError::new(ErrorCode::InvalidClient, "client authentication failed").into()
}

/// A retired refresh token came back: revoke its whole family, inside the
/// transaction that holds the grant, then answer `invalid_grant`.
async fn reused(
    mut tx: Tx,
    clock: &Clock,
    found: &TokenInfo,
    grant_id: &str,
    client_id: &str,
) -> Error {
    let revoked = async {
        let n = store::grants::revoke(&mut tx, grant_id, clock.now()).await?;
        Event::new(Kind::RefreshReused)
            .maybe_user(found.user_id.as_deref())
            .client(client_id)
            .record_in(&mut tx, clock)
            .await?;
        tx.commit().await?;
        Ok::<_, store::Error>(n)
    };
    match revoked.await {
        Ok(n) => {
            tracing::warn!(client.id = %client_id, grant.id = %grant_id, tokens.revoked = n, "refresh token reused; revoked its family");
            invalid_grant()
        }
        Err(e) => e.into(),
    }
}
