//! Token revocation (RFC 7009).

use super::error::{Error, ErrorCode, OAuthError};
use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::crypto::Sha256Digest;
use crate::store::clients::Client;
use crate::store::tokens::TokenKind;
use crate::store::{self, Db};

/// Revokes `token` for `client`. Unknown and already-revoked tokens succeed
/// silently (§2.2); another client's token is refused and left alone (§2.1).
/// Revoking a refresh token revokes every token of its grant, access tokens
/// included. The database is the only truth, so every replica sees it at once.
pub async fn revoke(db: &Db, clock: &Clock, client: &Client, token: &str) -> Result<(), Error> {
    let hash = Sha256Digest::of(token);
    let Some(found) = store::tokens::find(db, &hash).await? else {
        return Ok(());
    };
    if found.client_id.as_deref() != Some(client.id.as_str()) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "the token was not issued to this client",
        )
        .into());
    }
    let now = clock.now();
    match (found.kind, found.grant_id.as_deref()) {
        (TokenKind::Refresh, Some(grant_id)) => {
            // Through the grant row, so a refresh in flight cannot leave a
            // successor behind (see `store::grants`).
            let mut tx = db.begin().await?;
            store::grants::revoke(&mut tx, grant_id, now).await?;
            tx.commit().await?;
        }
        _ => {
            store::tokens::revoke(db, &hash, now).await?;
        }
    }
    tracing::debug!(client.id = %client.id, token.kind = found.kind.as_str(), "revoked a token");
    Event::new(Kind::TokenRevoked)
        .maybe_user(found.user_id.as_deref())
        .client(&client.id)
        .detail(format!(
            "{} token revoked by the client",
            found.kind.as_str()
        ))
        .record(db, clock)
        .await;
    Ok(())
}
