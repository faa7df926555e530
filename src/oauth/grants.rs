//! What a user has granted, and taking it back.

use super::error::Error;
use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::store::{self, Db};

/// Revokes a user's authorization of a client at once: the remembered
/// consent, every grant and token the client holds for the user, and any
/// code not yet exchanged, in one transaction.
pub async fn revoke_authorization(
    db: &Db,
    clock: &Clock,
    user_id: &str,
    client_id: &str,
) -> Result<bool, Error> {
    let now = clock.now();
    let mut tx = db.begin().await?;
    // The grants first: an exchange or refresh holding one is waited for,
    // so the token update below sees what it issued (see `store::grants`).
    let grants = store::grants::revoke_for_user_client(&mut tx, user_id, client_id, now).await?;
    let had_consent = store::consents::delete(&mut tx, user_id, client_id).await?;
    let tokens = store::tokens::revoke_for_user_client(&mut tx, user_id, client_id, now).await?;
    store::codes::delete_unused(&mut tx, user_id, client_id).await?;
    tx.commit().await?;
    tracing::debug!(user.id = %user_id, client.id = %client_id, tokens.revoked = tokens, "user revoked an application");
    Event::new(Kind::TokenRevoked)
        .user(user_id)
        .client(client_id)
        .detail("authorization revoked by the user")
        .record(db, clock)
        .await;
    Ok(had_consent || grants > 0 || tokens > 0)
}
