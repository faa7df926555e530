//! Token introspection (RFC 7662): what a resource server needs to know about
//! a token, from one indexed lookup, and who may know it.
//!
//! The caller is always a client: the confidential client that authenticated,
//! or the client a bearer caller's token was issued to. [`may_see`] is the one
//! place that decides whether that client may learn about a token; everything
//! it may not see answers exactly as an unknown token does.

use std::sync::Arc;

use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::crypto::{SecretKind, Sha256Digest};
use crate::store::client_cache::ClientCache;
use crate::store::clients::Client;
use crate::store::tokens::{TokenInfo, TokenKind};
use crate::store::{self, Db};

use super::{Error, ErrorCode, OAuthError};

/// A token that is active right now.
#[derive(Clone, Debug)]
pub struct Active {
    /// The stored token.
    pub info: TokenInfo,
}

/// The active token `token` names, or `None` for anything invalid, expired,
/// revoked, retired or unknown. Says nothing about who may see it: answers
/// to an introspection caller go through [`introspect`].
pub async fn lookup(db: &Db, clock: &Clock, token: &str) -> Result<Option<Active>, store::Error> {
    let known_kind = [
        SecretKind::AccessToken,
        SecretKind::RefreshToken,
        SecretKind::PersonalToken,
    ]
    .iter()
    .any(|k| k.matches(token))
        || crate::crypto::looks_like_jwt(token);
    if !known_kind {
        return Ok(None);
    }
    let found = store::tokens::find(db, &Sha256Digest::of(token)).await?;
    Ok(found
        .filter(|info| info.is_active(clock.now()))
        .map(|info| Active { info }))
}

/// RFC 7662 §4: may `caller` learn that `token` is active, and what it holds?
///
/// Yes for the client the token was issued to, for a client the operator
/// allowed to introspect (`clients.may_introspect`, set with
/// `oauthd client update <id> --introspect true`), and for the resource
/// server of a resource in the token's audience (`served`: the resources
/// registered with the caller as their client, `oauthd resource add --client`).
/// A personal access token was issued to no client, so only allowed clients
/// see it. No one else: the token might be meant for another resource
/// server, and its scopes, user and expiry are that server's business.
///
/// This is the only place that decides.
pub fn may_see(caller: &Client, served: &[String], token: &TokenInfo) -> bool {
    caller.may_introspect
        || token.client_id.as_deref() == Some(caller.id.as_str())
        || token
            .audience
            .as_deref()
            .is_some_and(|aud| aud.split(' ').any(|a| served.iter().any(|s| s == a)))
}

/// The answer for `caller` about `token`: `Some` only when the token is
/// active and [`may_see`] lets `caller` see it. A token the caller may not
/// see is `None`, exactly like an unknown one.
pub async fn introspect(
    db: &Db,
    clock: &Clock,
    caller: &Client,
    token: &str,
) -> Result<Option<Active>, store::Error> {
    let Some(found) = lookup(db, clock, token).await? else {
        return Ok(None);
    };
    // Which resources the caller serves matters only for a token with an
    // audience that it could not see otherwise.
    let served = if found.info.audience.is_some() && !may_see(caller, &[], &found.info) {
        store::resources::served_by(db, &caller.id).await?
    } else {
        Vec::new()
    };
    Ok(Some(found).filter(|active| {
        let seen = may_see(caller, &served, &active.info);
        if !seen {
            tracing::debug!(
                client.id = %caller.id,
                "introspection: client {} may not see this token; answered inactive",
                caller.id
            );
        }
        seen
    }))
}

/// The client a bearer caller speaks for: the one its token was issued to.
/// The token must be an active access token holding `scope`
/// (`introspection.bearer_scope`).
///
/// Refusals: `invalid_token` for an unknown, inactive or refresh token;
/// `insufficient_scope` for a token without `scope`, and for a personal
/// access token, which was issued to no client and so speaks for nobody
/// [`may_see`] could let see a token.
pub async fn bearer_caller(
    db: &Db,
    clock: &Clock,
    clients: &ClientCache,
    bearer: &str,
    scope: &str,
) -> Result<Arc<Client>, Error> {
    let invalid = || {
        OAuthError::new(
            ErrorCode::InvalidToken,
            "the bearer token is invalid, expired or revoked",
        )
    };
    let Some(active) = lookup(db, clock, bearer).await? else {
        return Err(invalid().into());
    };
    if active.info.kind == TokenKind::Refresh {
        return Err(invalid().into());
    }
    if !active.has_scope(scope) {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "the bearer token lacks the introspection scope",
        )
        .into());
    }
    let Some(client_id) = &active.info.client_id else {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            "a personal access token cannot introspect: authenticate as a client, or use a token issued to one",
        )
        .into());
    };
    // The token's row cascades away with its client; a client deleted since
    // the lookup above leaves the token dead.
    clients
        .find(db, client_id)
        .await?
        .ok_or_else(|| invalid().into())
}

/// Why a client may not be allowed to introspect every token.
pub fn public_client_refused() -> OAuthError {
    OAuthError::invalid_client_metadata(
        "a public client cannot be allowed to introspect: it has no secret to authenticate with",
    )
}

/// Lets a confidential client introspect every token (`allowed`), or takes
/// that back, and records the change in the audit trail. On Postgres every
/// replica's client cache drops the row (the `clients_changed` trigger).
pub async fn set_permission(
    db: &Db,
    clock: &Clock,
    client: &Client,
    allowed: bool,
) -> Result<(), Error> {
    if allowed && client.is_public() {
        return Err(public_client_refused().into());
    }
    if !store::clients::set_may_introspect(db, &client.id, allowed, clock.now()).await? {
        return Err(
            OAuthError::new(ErrorCode::InvalidClient, "no client has that client_id").into(),
        );
    }
    let sees = if allowed {
        "every token"
    } else {
        "only its own tokens"
    };
    tracing::debug!(client.id = %client.id, client.may_introspect = allowed, "client {} now introspects {sees}", client.id);
    let kind = if allowed {
        Kind::IntrospectionAllowed
    } else {
        Kind::IntrospectionWithdrawn
    };
    Event::new(kind)
        .maybe_user(client.owner_id.as_deref())
        .client(&client.id)
        .record(db, clock)
        .await;
    Ok(())
}

impl Active {
    /// RFC 7662 `token_type`: `Bearer` for tokens presented to resources.
    pub fn token_type(&self) -> &'static str {
        match self.info.kind {
            TokenKind::Access | TokenKind::Personal => "Bearer",
            TokenKind::Refresh => "refresh_token",
        }
    }

    /// True when the token holds `scope`.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.info.scope.split(' ').any(|s| s == scope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::client::{AuthMethod, SecretMethods};
    use crate::oauth::scope::Scopes;

    fn client(id: &str, may_introspect: bool) -> Client {
        Client {
            id: id.to_owned(),
            name: String::new(),
            website: None,
            secret_hash: Some("digest".to_owned()),
            auth_method: AuthMethod::ClientSecretBasic,
            secret_methods: SecretMethods::Registered,
            redirect_uris: Vec::new(),
            scopes: Scopes::parse("account:read").unwrap(),
            grant_types: Vec::new(),
            response_types: Vec::new(),
            owner_id: None,
            may_introspect,
            application_type: crate::model::client::ApplicationType::Web,
            access_token_format: crate::model::client::AccessTokenFormat::Opaque,
            post_logout_redirect_uris: Vec::new(),
            pairwise_sector: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    fn token(kind: TokenKind, client_id: Option<&str>) -> TokenInfo {
        TokenInfo {
            audience: None,
            kind,
            grant_id: None,
            client_id: client_id.map(str::to_owned),
            user_id: Some("u1".to_owned()),
            username: Some("alice".to_owned()),
            user_disabled: false,
            scope: "account:read".to_owned(),
            created_at: 0,
            expires_at: None,
            revoked_at: None,
            rotated_at: None,
            grant_expires_at: None,
        }
    }

    #[test]
    fn only_the_tokens_client_and_allowed_introspectors_see_it() {
        let own = client("a", false);
        let other = client("b", false);
        let allowed = client("c", true);
        for (why, caller, token, want) in [
            (
                "own access token",
                &own,
                token(TokenKind::Access, Some("a")),
                true,
            ),
            (
                "own refresh token",
                &own,
                token(TokenKind::Refresh, Some("a")),
                true,
            ),
            (
                "another client's token",
                &other,
                token(TokenKind::Access, Some("a")),
                false,
            ),
            (
                "a personal access token",
                &own,
                token(TokenKind::Personal, None),
                false,
            ),
            (
                "allowed: another client's token",
                &allowed,
                token(TokenKind::Access, Some("a")),
                true,
            ),
            (
                "allowed: a refresh token",
                &allowed,
                token(TokenKind::Refresh, Some("b")),
                true,
            ),
            (
                "allowed: a personal access token",
                &allowed,
                token(TokenKind::Personal, None),
                true,
            ),
        ] {
            assert_eq!(may_see(caller, &[], &token), want, "{why}");
        }
    }
}
