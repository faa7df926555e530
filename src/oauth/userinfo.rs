//! OpenID Connect UserInfo (Core §5.3): which claims an access token may
//! read, by scope. `sub` always; `profile`: `name`, `preferred_username`,
//! `updated_at`; `email`: `email`, `email_verified`.

use serde_json::{Map, Value, json};

use super::id_token::OPENID;
use super::subject;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{SecretKind, Sha256Digest};
use crate::store::tokens::TokenKind;
use crate::store::{self, Db};

/// Why a token cannot read UserInfo (RFC 6750 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown, expired, revoked, of the wrong kind, or for other resources.
    InvalidToken,
    /// The token does not hold `openid` (or belongs to no user).
    InsufficientScope,
}

/// The claims `token` may read, or why it may not. `endpoint` is the
/// UserInfo URL: a token whose audience (RFC 8707) names other resources
/// only is not for it.
pub async fn claims(
    db: &Db,
    clock: &Clock,
    config: &Config,
    endpoint: &str,
    token: &str,
) -> Result<Result<Value, Refusal>, store::Error> {
    // Only access tokens issued to a client, opaque or JWT (RFC 9068; looked
    // up by digest like an opaque one): a personal access token has no
    // client to be a subject for.
    if !(SecretKind::AccessToken.matches(token) || crate::crypto::looks_like_jwt(token)) {
        return Ok(Err(Refusal::InvalidToken));
    }
    let Some(info) = store::tokens::find(db, &Sha256Digest::of(token)).await? else {
        return Ok(Err(Refusal::InvalidToken));
    };
    if info.kind != TokenKind::Access || !info.is_active(clock.now()) {
        return Ok(Err(Refusal::InvalidToken));
    }
    if info
        .audience
        .as_deref()
        .is_some_and(|aud| !aud.split(' ').any(|a| a == endpoint))
    {
        return Ok(Err(Refusal::InvalidToken));
    }
    let scopes: Vec<&str> = info.scope.split(' ').collect();
    if !scopes.contains(&OPENID) {
        return Ok(Err(Refusal::InsufficientScope));
    }
    let (Some(user_id), Some(client_id)) = (&info.user_id, &info.client_id) else {
        return Ok(Err(Refusal::InsufficientScope));
    };
    let Some(client) = store::clients::find(db, client_id).await? else {
        return Ok(Err(Refusal::InvalidToken));
    };
    let Some(user) = store::users::find_by_id(db, user_id).await? else {
        return Ok(Err(Refusal::InvalidToken));
    };
    let mut out = Map::new();
    let sub = subject::subject(config, &user.id, &client)
        .map_err(|e| store::Error::Corrupt(format!("client {}: {e}", client.id)))?;
    out.insert("sub".into(), json!(sub));
    if scopes.contains(&"profile") {
        if let Some(name) = &user.name {
            out.insert("name".into(), json!(name));
        }
        out.insert("preferred_username".into(), json!(user.username));
        out.insert("updated_at".into(), json!(user.updated_at));
    }
    if scopes.contains(&"email")
        && let Some(email) = &user.email
    {
        out.insert("email".into(), json!(email));
        out.insert("email_verified".into(), json!(user.email_verified));
    }
    Ok(Ok(Value::Object(out)))
}
