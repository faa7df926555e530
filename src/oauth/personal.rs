//! Personal access tokens: long-lived bearer tokens a user makes for their
//! own use. Stored and checked like access tokens; never refreshed.

use super::error::{Error, ErrorCode, OAuthError};
use super::scope::Scopes;
use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{self, Secret, SecretKind};
use crate::store::tokens::{NewToken, PersonalToken, TokenKind};
use crate::store::users::User;
use crate::store::{self, Db};

/// Longest label, in characters.
pub const MAX_LABEL_CHARS: usize = 100;

/// A new personal token: shown once.
#[derive(Debug)]
pub struct Created {
    /// The token itself.
    pub token: Secret,
    /// Its public id.
    pub public_id: String,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// The stored scope (duplicates collapsed).
    pub scope: String,
}

/// Makes a personal token for `user` with scopes from the catalogue.
pub async fn create(
    db: &Db,
    clock: &Clock,
    config: &Config,
    user: &User,
    scope: &str,
    label: Option<&str>,
    expires_in_days: Option<u32>,
) -> Result<Created, Error> {
    let scope = Scopes::parse(scope)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    if scope.is_empty() {
        return Err(OAuthError::new(ErrorCode::InvalidScope, "name at least one scope").into());
    }
    scope
        .check_known(&config.scopes.catalogue)
        .map_err(|e| OAuthError::new(ErrorCode::InvalidScope, e.to_string()))?;
    let label = label.map(str::trim).filter(|l| !l.is_empty());
    if label.is_some_and(|l| l.chars().count() > MAX_LABEL_CHARS || l.chars().any(char::is_control))
    {
        return Err(OAuthError::invalid_request(
            "labels are at most 100 characters, without control characters",
        )
        .into());
    }
    let now = clock.now();
    let expires_at = expires_in_days.map(|d| now.saturating_add(i64::from(d) * 86_400));
    let token = Secret::generate(SecretKind::PersonalToken);
    let public_id = format!("pat_{}", crypto::random_id());
    let scope = scope.to_string();
    let mut tx = db.begin().await?;
    store::tokens::insert(
        &mut tx,
        NewToken {
            audience: None,
            token_hash: token.sha256(),
            kind: TokenKind::Personal,
            grant_id: None,
            client_id: None,
            user_id: Some(&user.id),
            scope: &scope,
            label,
            created_at: now,
            expires_at,
            grant_expires_at: None,
            public_id: Some(&public_id),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::debug!(user.id = %user.id, token.id = %public_id, "created a personal access token");
    Event::new(Kind::TokenIssued)
        .user(&user.id)
        .detail(format!("personal access token {public_id} ({scope})"))
        .record(db, clock)
        .await;
    Ok(Created {
        token,
        public_id,
        expires_at,
        scope,
    })
}

/// A user's personal tokens.
pub async fn list(db: &Db, user: &User) -> Result<Vec<PersonalToken>, store::Error> {
    store::tokens::list_personal(db, &user.id).await
}

/// Revokes a personal token by public id (the CLI); false when there was no
/// live one.
pub async fn revoke(db: &Db, clock: &Clock, public_id: &str) -> Result<bool, store::Error> {
    let Some(owner) = store::tokens::revoke_personal(db, public_id, clock.now()).await? else {
        return Ok(false);
    };
    tracing::debug!(token.id = %public_id, "revoked a personal access token");
    revoked_event(db, clock, &owner, public_id).await;
    Ok(true)
}

/// Revokes one of `user_id`'s personal tokens (their settings page); false
/// when they hold no live token with that id.
pub async fn revoke_of(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    public_id: &str,
) -> Result<bool, store::Error> {
    if !store::tokens::revoke_personal_of(db, user_id, public_id, clock.now()).await? {
        return Ok(false);
    }
    tracing::debug!(user.id = %user_id, token.id = %public_id, "user revoked a personal access token");
    revoked_event(db, clock, user_id, public_id).await;
    Ok(true)
}

async fn revoked_event(db: &Db, clock: &Clock, user_id: &str, public_id: &str) {
    Event::new(Kind::TokenRevoked)
        .user(user_id)
        .detail(format!("personal access token {public_id}"))
        .record(db, clock)
        .await;
}
