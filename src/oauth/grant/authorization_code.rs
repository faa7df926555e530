//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.6).

use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{SecretKind, sha256_hex};
use crate::oauth::error::{Error, ErrorCode, OAuthError};
use crate::oauth::id_token;
use crate::oauth::pkce::{self, Challenge};
use crate::oauth::registration::GrantType;
use crate::oauth::resource::Resources;
use crate::oauth::scope::Scopes;
use crate::oauth::token::{self, Grant, IssuedTokens, Minted, Refresh, seconds};
use crate::signing::Keys;
use crate::store::batch::{GrantClaim, Issuance, Step};
use crate::store::clients::Client;
use crate::store::grants::Claim;
use crate::store::writer::Writer;
use crate::store::{self, Db, Tx};

/// The token request's parameters for this grant.
#[derive(Clone, Copy, Debug)]
pub struct CodeRequest<'a> {
    /// `code`.
    pub code: &'a str,
    /// `redirect_uri`, if sent.
    pub redirect_uri: Option<&'a str>,
    /// `code_verifier`, if sent.
    pub code_verifier: Option<&'a str>,
    /// `resource`, repeatable: must be within the code's (RFC 8707 §2.2).
    pub resources: &'a Resources,
}

/// The one description for a code that cannot be used, whatever the reason.
const UNUSABLE: &str = "the code is invalid, expired or already used";

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidGrant, description)
}

/// Exchanges a code for tokens.
///
/// Every check runs before the code is consumed, so a request that fails them
/// (wrong client, verifier or redirect URI) cannot burn the real client's code.
/// Then one statement consumes it, in the same transaction that claims the
/// grant and stores the tokens (a token writer's, shared with other
/// requests): of two concurrent exchanges exactly one wins. A valid request for a
/// code already used is a replay: every token issued from it is revoked
/// (RFC 6749 §4.1.2, RFC 9700 §4.2.4).
pub async fn exchange(
    db: &Db,
    writer: &Writer,
    keys: &Keys,
    clock: &Clock,
    config: &Config,
    client: &Client,
    request: CodeRequest<'_>,
) -> Result<IssuedTokens, Error> {
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the authorization_code grant",
        )
        .into());
    }
    if !SecretKind::AuthCode.matches(request.code) {
        return Err(invalid_grant(UNUSABLE).into());
    }
    let code_hash = sha256_hex(request.code);
    let Some(code) = store::codes::find(db, &code_hash).await? else {
        return Err(invalid_grant(UNUSABLE).into());
    };
    // The same answer as for an unknown code: telling them apart would
    // confirm to another client that a code it holds is real.
    if code.client_id != client.id {
        return Err(invalid_grant(UNUSABLE).into());
    }
    // RFC 6749 §4.1.3: redirect_uri must be identical to the one in the
    // authorization request when that one carried it.
    let sent_before = code
        .redirect_uri_sent
        .then_some(code.redirect_uri.as_deref());
    match (sent_before, request.redirect_uri) {
        (Some(before), Some(now_sent)) if before == Some(now_sent) => {}
        (Some(None), Some(crate::oauth::authorize::OUT_OF_BAND)) => {}
        (Some(_), _) => {
            return Err(invalid_grant(
                "redirect_uri must be the one sent in the authorization request",
            )
            .into());
        }
        (None, None) => {}
        (None, Some(uri)) if code.redirect_uri.as_deref() == Some(uri) => {}
        (None, Some(crate::oauth::authorize::OUT_OF_BAND)) if code.redirect_uri.is_none() => {}
        (None, Some(_)) => {
            return Err(
                invalid_grant("redirect_uri does not match the authorization request").into(),
            );
        }
    }
    check_pkce(&code, request.code_verifier)?;

    // A used code stays recognisable as used, expired or not.
    if code.consumed_at.is_some() {
        return Err(replayed(db.begin().await?, clock, &code).await);
    }
    let now = clock.now();
    if code.expires_at <= now {
        return Err(invalid_grant(UNUSABLE).into());
    }
    let scope = Scopes::parse(&code.scope)
        .map_err(|_| store::Error::Corrupt(format!("scope of code for client {}", client.id)))?;
    // The access token may be for part of what the code was granted for;
    // the refresh token keeps all of it.
    let granted = Resources::from_stored(code.resources.as_deref());
    let audience = granted.narrow(request.resources)?;
    let refresh_audience;
    let refresh = if client.grant_types.contains(&GrantType::RefreshToken) {
        if audience == granted {
            Refresh::Start
        } else {
            refresh_audience = granted;
            Refresh::Rotate {
                scope: &scope,
                audience: &refresh_audience,
                grant_expires_at: now.saturating_add(seconds(config.tokens.refresh_token_lifetime)),
            }
        }
    } else {
        Refresh::No
    };
    let ends_at = match refresh {
        Refresh::Start | Refresh::Rotate { .. } => {
            now.saturating_add(seconds(config.tokens.refresh_token_lifetime))
        }
        _ => now.saturating_add(seconds(config.tokens.access_token_lifetime)),
    };
    let grant = Grant {
        grant_id: Some(&code.grant_id),
        client_id: &client.id,
        user_id: Some(&code.user_id),
        scope: &scope,
        audience: &audience,
        format: token::access_format(db, client, &audience).await?,
        pairwise_sector: client.pairwise_sector.as_deref(),
        auth_time: code.auth_time,
    };
    let event = Event::new(Kind::TokenIssued)
        .user(&code.user_id)
        .client(&client.id)
        .detail(code.scope.as_str());
    // The usual case, coalesced with other requests: claim the grant,
    // consume the code, store the tokens, in a writer's transaction.
    let Minted { mut issued, rows } =
        token::mint_signed(db, clock, config, keys, grant, refresh, now).await?;
    // The ID token is signed before anything is stored (signing reads the
    // keys; no transaction waits on it), for the access token just minted.
    if id_token::wanted(&scope) {
        let signed = id_token::sign(
            db,
            clock,
            config,
            keys,
            id_token::Subject {
                client,
                user_id: &code.user_id,
                nonce: code.nonce.as_deref(),
                auth_time: code.auth_time,
                access_token: issued.access_token.expose(),
            },
        )
        .await?;
        issued.id_token = Some(signed);
    }
    let stored = writer
        .submit(Issuance::FromGrant {
            claim: GrantClaim {
                grant_id: code.grant_id.clone(),
                client_id: client.id.clone(),
                secret_hash: client.secret_hash.clone(),
                now,
                expires_at: ends_at,
            },
            step: Step::ConsumeCode {
                code_hash: code_hash.clone(),
            },
            tokens: rows.clone(),
            event: event.to_row(clock),
        })
        .await?;
    if stored {
        event.log_only();
        return Ok(issued);
    }
    // Refused: the grant is revoked or expired, the client changed, or the
    // code was used meanwhile. The same steps, one request alone, find out
    // which, and a replay revokes the grant. The tokens minted (and signed)
    // above are stored here, if allowed.
    let mut tx = db.begin().await?;
    match store::grants::claim(
        &mut tx,
        &code.grant_id,
        &client.id,
        client.secret_hash.as_deref(),
        now,
        ends_at,
    )
    .await?
    {
        Claim::Held => {}
        Claim::Dead => return Err(invalid_grant(UNUSABLE).into()),
        Claim::ClientChanged => {
            return Err(
                OAuthError::new(ErrorCode::InvalidClient, "client authentication failed").into(),
            );
        }
    }
    if !store::codes::consume(&mut tx, &code_hash, now).await? {
        return Err(replayed(tx, clock, &code).await);
    }
    for row in &rows {
        store::tokens::insert(&mut tx, row.as_new()).await?;
    }
    event.record_in(&mut tx, clock).await?;
    tx.commit().await?;
    Ok(issued)
}

/// RFC 7636 §4.6, and the downgrade rule of RFC 9700 §4.8: a verifier for a
/// code issued without a challenge is refused.
fn check_pkce(code: &store::codes::AuthCode, verifier: Option<&str>) -> Result<(), OAuthError> {
    let challenge = match (&code.code_challenge, &code.code_challenge_method) {
        (Some(value), Some(method)) => pkce::Method::parse(method).map(|method| Challenge {
            method,
            value: value.clone(),
        }),
        _ => None,
    };
    match (challenge, verifier) {
        (None, None) => Ok(()),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "code_verifier was sent but the authorization request had no code_challenge",
        )),
        (Some(_), None) => Err(invalid_grant("code_verifier is required for this code")),
        (Some(c), Some(v)) if pkce::verify(&c, v) => Ok(()),
        (Some(_), Some(_)) => Err(invalid_grant(
            "code_verifier does not match the code_challenge",
        )),
    }
}

/// A valid request for a used code: revoke the grant and what the code
/// issued, and record the replay, in `tx`.
async fn replayed(mut tx: Tx, clock: &Clock, code: &store::codes::AuthCode) -> Error {
    let grant_id = code.grant_id.as_str();
    let revoked = async {
        let n = store::grants::revoke(&mut tx, grant_id, clock.now()).await?;
        Event::new(Kind::CodeReplayed)
            .user(&code.user_id)
            .client(&code.client_id)
            .record_in(&mut tx, clock)
            .await?;
        tx.commit().await?;
        Ok::<_, store::Error>(n)
    };
    match revoked.await {
        Ok(n) => {
            tracing::warn!(grant.id = %grant_id, tokens.revoked = n, "authorization code replayed; revoked the tokens it issued");
            invalid_grant(UNUSABLE).into()
        }
        Err(e) => e.into(),
    }
}
