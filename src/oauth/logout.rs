//! RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): whether the
//! `id_token_hint` is one of ours, which client asks, and where the browser
//! may be sent afterwards. The web handler decides nothing of this; it asks
//! here, then ends the session and renders.

use url::Url;

use super::error::{Error, OAuthError};
use crate::clock::Clock;
use crate::config::Config;
use crate::signing::{Expect, Keys, SigningError};
use crate::store::{self, Db};

/// The logout request's parameters (§2). `logout_hint` and `ui_locales`
/// are accepted and ignored.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogoutRequest<'a> {
    /// An ID token this server issued to the client (expired is fine).
    pub id_token_hint: Option<&'a str>,
    /// The client asking.
    pub client_id: Option<&'a str>,
    /// Where to send the browser after logout; must be registered.
    pub post_logout_redirect_uri: Option<&'a str>,
    /// Echoed to `post_logout_redirect_uri`.
    pub state: Option<&'a str>,
}

/// What the request resolved to.
#[derive(Clone, Debug, Default)]
pub struct Resolved {
    /// The `sub` of a verified `id_token_hint`: the user the client believes
    /// is signed in.
    pub hint_subject: Option<String>,
    /// The client identified by the hint or `client_id`, if it exists.
    pub client_id: Option<String>,
    /// Its display name, for the confirmation page.
    pub client_name: Option<String>,
    /// Its pairwise sector, if it has pairwise subjects: the hint's `sub`
    /// is the user's subject for that sector.
    pub pairwise_sector: Option<String>,
    /// The validated `post_logout_redirect_uri`, as sent.
    pub post_logout_redirect_uri: Option<String>,
    /// Where the browser goes after logout: the validated
    /// `post_logout_redirect_uri` with `state` added. `None`: oauthd's own
    /// "signed out" page.
    pub redirect: Option<Url>,
}

fn invalid(description: &'static str) -> Error {
    OAuthError::invalid_request(description).into()
}

/// Checks `request`:
///
/// - an `id_token_hint` must verify against the published keys as a token
///   this server issued (§2: the OP must validate it was the issuer);
///   expired is accepted, since the point is to end a session the RP knows;
/// - the client is the hint's `azp`, else its single `aud`, else
///   `client_id`; a `client_id` that is not the hint's client is refused;
/// - `post_logout_redirect_uri` is used only when it exactly matches one the
///   client registered (§3.1); otherwise the browser is not redirected.
pub async fn resolve(
    db: &Db,
    clock: &Clock,
    config: &Config,
    keys: &Keys,
    request: LogoutRequest<'_>,
) -> Result<Resolved, Error> {
    // As at the authorization endpoint: refused, never truncated.
    if request
        .state
        .is_some_and(|s| s.len() > super::authorize::MAX_STATE_LEN)
    {
        return Err(invalid(
            "The state parameter is longer than this server accepts.",
        ));
    }
    let mut resolved = Resolved::default();
    let mut hint_clients: Vec<String> = Vec::new();
    if let Some(hint) = request.id_token_hint.filter(|h| !h.is_empty()) {
        let expect = Expect {
            accept_expired: true,
            ..Expect::default()
        };
        let claims = match keys.verify(db, clock, config, hint, expect).await {
            Ok(claims) => claims,
            Err(SigningError::Invalid(why)) => {
                tracing::debug!(reason = %why, "refused an id_token_hint");
                return Err(invalid(
                    "id_token_hint is not a valid ID token issued by this server",
                ));
            }
            Err(SigningError::Store(e)) => return Err(e.into()),
            Err(e) => {
                return Err(store::Error::Corrupt(format!(
                    "verifying an id_token_hint: {}",
                    crate::telemetry::error_chain(&e)
                ))
                .into());
            }
        };
        resolved.hint_subject = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .map(str::to_owned);
        if resolved.hint_subject.is_none() {
            return Err(invalid("id_token_hint has no sub"));
        }
        // OpenID Connect Core §2: azp names the party the token was issued
        // to when present; otherwise the audience does.
        hint_clients = match (claims.get("azp"), claims.get("aud")) {
            (Some(serde_json::Value::String(azp)), _) => vec![azp.clone()],
            (_, Some(serde_json::Value::String(aud))) => vec![aud.clone()],
            (_, Some(serde_json::Value::Array(aud))) => aud
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
    }
    let client_id = match request.client_id.filter(|c| !c.is_empty()) {
        Some(id) if !hint_clients.is_empty() && !hint_clients.iter().any(|c| c == id) => {
            return Err(invalid(
                "client_id is not the client the id_token_hint was issued to",
            ));
        }
        Some(id) => Some(id.to_owned()),
        // Several audiences and no azp: no one client is named.
        None if hint_clients.len() == 1 => hint_clients.pop(),
        None => None,
    };
    let client = match &client_id {
        Some(id) => store::clients::find(db, id).await?,
        None => None,
    };
    if let Some(client) = &client {
        resolved.client_id = Some(client.id.clone());
        resolved.client_name = Some(client.name.clone()).filter(|n| !n.is_empty());
        resolved.pairwise_sector = client.pairwise_sector.clone();
        // §3.1: exact string comparison with a registered value.
        if let Some(uri) = request.post_logout_redirect_uri.filter(|u| {
            client
                .post_logout_redirect_uris
                .iter()
                .any(|r| r.as_str() == *u)
        }) && let Ok(mut url) = Url::parse(uri)
        {
            if let Some(state) = request.state {
                url.query_pairs_mut().append_pair("state", state);
            }
            resolved.post_logout_redirect_uri = Some(uri.to_owned());
            resolved.redirect = Some(url);
        }
    }
    if request.post_logout_redirect_uri.is_some() && resolved.redirect.is_none() {
        tracing::debug!(
            client.id = client_id.as_deref().unwrap_or("-"),
            "post_logout_redirect_uri is not registered for the client; not redirecting"
        );
    }
    Ok(resolved)
}
