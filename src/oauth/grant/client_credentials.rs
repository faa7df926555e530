//! `grant_type=client_credentials` (RFC 6749 §4.4): a confidential client
//! acting for itself. No user, no refresh token (§4.4.3).

use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::Config;
use crate::oauth::error::{Error, ErrorCode, OAuthError};
use crate::oauth::registration::GrantType;
use crate::oauth::resource::{self, Resources};
use crate::oauth::token::{self, Grant, IssuedTokens};
use crate::signing::Keys;
use crate::store::Db;
use crate::store::clients::Client;
use crate::store::writer::Writer;

/// Issues an access token for the client itself. `scope` must be within the
/// client's registered scopes; omitted means all of them. `resources` (RFC
/// 8707) become its audience, when the client may ask for them.
#[expect(
    clippy::too_many_arguments,
    reason = "the token endpoint's shared parts, then the client and its two parameters"
)]
pub async fn issue(
    db: &Db,
    writer: &Writer,
    keys: &Keys,
    clock: &Clock,
    config: &Config,
    client: &Client,
    scope: Option<&str>,
    resources: &Resources,
) -> Result<IssuedTokens, Error> {
    if client.is_public() || !client.grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the client_credentials grant",
        )
        .into());
    }
    let scope = super::client_scope(client, scope)?;
    resource::check_allowed(db, config, &client.id, resources).await?;
    let Some(issued) = token::issue_access(
        db,
        writer,
        clock,
        config,
        keys,
        Grant {
            grant_id: None,
            client_id: &client.id,
            user_id: None,
            scope: &scope,
            audience: resources,
            format: token::access_format(db, client, resources).await?,
            pairwise_sector: client.pairwise_sector.as_deref(),
            auth_time: None,
        },
        client.secret_hash.as_deref(),
    )
    .await?
    else {
        // Deleted, or its secret rotated, after it authenticated.
        return Err(
            OAuthError::new(ErrorCode::InvalidClient, "client authentication failed").into(),
        );
    };
    // Log only: the event concerns no user, so no settings page would show
    // its row, and a row per machine-to-machine token would grow the table
    // at the token rate. The request's access line carries it.
    Event::new(Kind::TokenIssued)
        .client(&client.id)
        .detail(scope.to_string())
        .log_only();
    Ok(issued)
}
