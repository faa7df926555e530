//! `grant_type=urn:ietf:params:oauth:grant-type:device_code` (RFC 8628 §3.4–3.5):
//! the device polls until the user answers.
//!
//! A poll is one indexed read. The database is written only when the state
//! changes (first seen expired, redeemed) or a `slow_down` must be
//! remembered; how recently a device polled is kept in memory
//! ([`Polls`]). The redemption goes through the token writers like a code
//! exchange: the grant made on approval is claimed (so a revocation is
//! either waited for or wins), then one statement consumes the device code,
//! so of two concurrent redemptions exactly one gets tokens.

use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{SecretKind, Sha256Digest};
use crate::metrics::{DeviceOutcome, Metrics};
use crate::model::client::AccessTokenFormat;
use crate::oauth::device::{Polls, SLOW_DOWN_STEP};
use crate::oauth::error::{Error, ErrorCode, OAuthError};
use crate::oauth::id_token;
use crate::oauth::registration::GrantType;
use crate::oauth::resource::Resources;
use crate::oauth::scope::Scopes;
use crate::oauth::token::{self, Grant, IssuedTokens, Minted, Refresh, seconds};
use crate::signing::Keys;
use crate::store::batch::{GrantClaim, Issuance, Step};
use crate::store::clients::Client;
use crate::store::device_codes::{self, APPROVED, DENIED, DeviceCode, EXPIRED, PENDING};
use crate::store::grants::Claim;
use crate::store::writer::Writer;
use crate::store::{self, Db};

/// What the token endpoint needs besides the request.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// The database.
    pub db: &'a Db,
    /// The token writers.
    pub writer: &'a Writer,
    /// The signing keys (JWT access tokens).
    pub keys: &'a Keys,
    /// The clock.
    pub clock: &'a Clock,
    /// The configuration.
    pub config: &'a Config,
    /// Where expiries are counted.
    pub metrics: &'a Metrics,
    /// Recent polls.
    pub polls: &'a Polls,
}

/// The one description for a device code that cannot be used.
const UNUSABLE: &str = "the device code is invalid or already used";

fn refused(code: ErrorCode, description: &'static str) -> Error {
    OAuthError::new(code, description).into()
}

/// One poll by `client` with `device_code`; `resources` (RFC 8707 §2.2)
/// may narrow the access token's audience to part of what was approved.
pub async fn exchange(
    cx: Context<'_>,
    client: &Client,
    device_code: &str,
    resources: &Resources,
) -> Result<IssuedTokens, Error> {
    if !client.grant_types.contains(&GrantType::DeviceCode) {
        return Err(refused(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the device code grant",
        ));
    }
    if !SecretKind::DeviceCode.matches(device_code) {
        return Err(refused(ErrorCode::InvalidGrant, UNUSABLE));
    }
    let hash = Sha256Digest::of(device_code);
    let Some(code) = device_codes::find(cx.db, &hash).await? else {
        return Err(refused(ErrorCode::InvalidGrant, UNUSABLE));
    };
    // RFC 8628 §3.4: the device code was issued to another client.
    if code.client_id != client.id {
        return Err(refused(
            ErrorCode::InvalidClient,
            "the device code was not issued to this client",
        ));
    }
    if code.consumed_at.is_some() {
        cx.polls.forget(&hash);
        return Err(refused(ErrorCode::InvalidGrant, UNUSABLE));
    }
    if code.status == DENIED {
        cx.polls.forget(&hash);
        return Err(refused(
            ErrorCode::AccessDenied,
            "the user denied the authorization request",
        ));
    }
    let now = cx.clock.now();
    let spent = code.status == PENDING
        && code.failed_guesses >= i64::from(cx.config.device.max_failed_guesses);
    if code.status == EXPIRED || code.expires_at <= now || spent {
        cx.polls.forget(&hash);
        if code.status == PENDING && device_codes::expire(cx.db, &hash).await? {
            cx.metrics.device(DeviceOutcome::Expired);
        }
        return Err(refused(
            ErrorCode::ExpiredToken,
            "the device code expired; start again",
        ));
    }
    match code.status.as_str() {
        PENDING => {
            if cx.polls.too_soon(hash, now, code.interval_secs) {
                device_codes::slow_down(cx.db, &hash, SLOW_DOWN_STEP, now).await?;
                return Err(refused(
                    ErrorCode::SlowDown,
                    "polling too fast; the interval grew by 5 seconds",
                ));
            }
            Err(refused(
                ErrorCode::AuthorizationPending,
                "the user has not answered yet",
            ))
        }
        APPROVED => {
            cx.polls.forget(&hash);
            redeem(cx, client, &code, resources).await
        }
        _ => Err(
            store::Error::Corrupt(format!("device code status for client {}", client.id)).into(),
        ),
    }
}

/// Issues the tokens of an approved request, once.
async fn redeem(
    cx: Context<'_>,
    client: &Client,
    code: &DeviceCode,
    requested: &Resources,
) -> Result<IssuedTokens, Error> {
    let corrupt =
        || store::Error::Corrupt(format!("approved device code for client {}", client.id));
    let (Some(grant_id), Some(user_id)) = (code.grant_id.as_deref(), code.user_id.as_deref())
    else {
        return Err(corrupt().into());
    };
    let scope = Scopes::parse(&code.scope).map_err(|_| corrupt())?;
    let now = cx.clock.now();
    // The access token may be for part of what the user approved; the
    // refresh token keeps all of it (as for an authorization code).
    let granted = Resources::from_stored(code.resources.as_deref());
    let audience = granted.narrow(requested)?;
    let refresh_audience;
    let refresh = if client.grant_types.contains(&GrantType::RefreshToken) {
        if audience == granted {
            Refresh::Start
        } else {
            refresh_audience = granted;
            Refresh::Rotate {
                scope: &scope,
                audience: &refresh_audience,
                grant_expires_at: now
                    .saturating_add(seconds(cx.config.tokens.refresh_token_lifetime)),
            }
        }
    } else {
        Refresh::No
    };
    let ends_at = match refresh {
        Refresh::Start | Refresh::Rotate { .. } => {
            now.saturating_add(seconds(cx.config.tokens.refresh_token_lifetime))
        }
        _ => now.saturating_add(seconds(cx.config.tokens.access_token_lifetime)),
    };
    let format = token::access_format(cx.db, client, &audience).await?;
    let wants_id_token = id_token::wanted(&scope);
    // When the user signed in to approve: for the ID token and a JWT
    // access token (one read; plain OAuth needs neither).
    let auth_time = if wants_id_token || format == AccessTokenFormat::Jwt {
        store::grants::auth_time(cx.db, grant_id).await?
    } else {
        None
    };
    let grant = Grant {
        grant_id: Some(grant_id),
        client_id: &client.id,
        user_id: Some(user_id),
        scope: &scope,
        audience: &audience,
        format,
        pairwise_sector: client.pairwise_sector.as_deref(),
        auth_time,
    };
    // OpenID Connect beside RFC 8628: `openid` brings an ID token (no
    // nonce: the device flow has none), signed before anything is stored.
    let with_id_token = |minted: Minted| async move {
        let Minted { mut issued, rows } = minted;
        if wants_id_token {
            let signed = id_token::sign(
                cx.db,
                cx.clock,
                cx.config,
                cx.keys,
                id_token::Subject {
                    client,
                    user_id,
                    nonce: None,
                    auth_time,
                    access_token: issued.access_token.expose(),
                },
            )
            .await?;
            issued.id_token = Some(signed);
        }
        Ok::<Minted, Error>(Minted { issued, rows })
    };
    let event = Event::new(Kind::TokenIssued)
        .user(user_id)
        .client(&client.id)
        .detail(code.scope.as_str());
    let Minted { issued, rows } = with_id_token(
        token::mint_signed(cx.db, cx.clock, cx.config, cx.keys, grant, refresh, now).await?,
    )
    .await?;
    let stored = cx
        .writer
        .submit(Issuance::FromGrant {
            claim: GrantClaim {
                grant_id: grant_id.to_owned(),
                client_id: client.id.clone(),
                secret_hash: client.secret_hash.clone(),
                now,
                expires_at: ends_at,
            },
            step: Step::ConsumeDeviceCode {
                device_code_hash: code.device_code_hash,
            },
            tokens: rows,
            event: event.to_row(cx.clock),
        })
        .await?;
    if stored {
        event.log_only();
        return Ok(issued);
    }
    // Refused: the grant is revoked or expired, the client changed, or the
    // device code was redeemed meanwhile. The same steps alone tell which.
    let minted = with_id_token(
        token::mint_signed(cx.db, cx.clock, cx.config, cx.keys, grant, refresh, now).await?,
    )
    .await?;
    let mut tx = cx.db.begin().await?;
    match store::grants::claim(
        &mut tx,
        grant_id,
        &client.id,
        client.secret_hash.as_deref(),
        now,
        ends_at,
    )
    .await?
    {
        Claim::Held => {}
        Claim::Dead => {
            return Err(refused(
                ErrorCode::InvalidGrant,
                "the authorization was revoked or has expired",
            ));
        }
        Claim::ClientChanged => {
            return Err(refused(
                ErrorCode::InvalidClient,
                "client authentication failed",
            ));
        }
    }
    if !device_codes::consume(&mut tx, &code.device_code_hash, now).await? {
        return Err(refused(ErrorCode::InvalidGrant, UNUSABLE));
    }
    let issued = token::store(&mut tx, minted).await?;
    event.record_in(&mut tx, cx.clock).await?;
    tx.commit().await?;
    Ok(issued)
}
