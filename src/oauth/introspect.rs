//! Token introspection (RFC 7662): what a resource server needs to know about
//! a token, from one indexed lookup.

use crate::clock::Clock;
use crate::crypto::{SecretKind, sha256_hex};
use crate::store::tokens::{TokenInfo, TokenKind};
use crate::store::{self, Db};

/// A token that is active right now.
#[derive(Clone, Debug)]
pub struct Active {
    /// The stored token.
    pub info: TokenInfo,
}

/// The active token `token` names, or `None` for anything invalid, expired,
/// revoked, retired or unknown.
pub async fn lookup(db: &Db, clock: &Clock, token: &str) -> Result<Option<Active>, store::Error> {
    let known_kind = [
        SecretKind::AccessToken,
        SecretKind::RefreshToken,
        SecretKind::PersonalToken,
    ]
    .iter()
    .any(|k| k.matches(token));
    if !known_kind {
        return Ok(None);
    }
    let found = store::tokens::find(db, &sha256_hex(token)).await?;
    Ok(found
        .filter(|info| info.is_active(clock.now()))
        .map(|info| Active { info }))
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
