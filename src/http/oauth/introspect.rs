//! `POST /oauth/introspect` (RFC 7662): for resource servers.

use std::sync::Arc;

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{Failure, authenticate_client, read_form};
use crate::config::ResponseFormat;
use crate::http::error::{json_error, no_store};
use crate::http::extract::{BearerHeader, bearer_header};
use crate::http::limits::ClientIp;
use crate::http::state::AppState;
use crate::oauth::client_auth;
use crate::oauth::introspect::{self, Active};
use crate::oauth::{self, ErrorCode, OAuthError};
use crate::store::clients::Client;

/// RFC 7662 §2.2. An inactive token answers `{"active": false}` and nothing else.
#[derive(Serialize)]
struct Answer<'a> {
    active: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    details: Option<Details<'a>>,
}

#[derive(Serialize)]
struct Details<'a> {
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    token_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<i64>,
    iat: i64,
    iss: &'a str,
    /// RFC 7662 §2.2 / RFC 8707: one resource as a string, several as a list.
    #[serde(skip_serializing_if = "Option::is_none")]
    aud: Option<Audience<'a>>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Audience<'a> {
    One(&'a str),
    Many(Vec<&'a str>),
}

fn audience(stored: Option<&str>) -> Option<Audience<'_>> {
    let list: Vec<&str> = stored?.split(' ').filter(|s| !s.is_empty()).collect();
    match list.as_slice() {
        [] => None,
        [one] => Some(Audience::One(one)),
        _ => Some(Audience::Many(list)),
    }
}

/// Introspects a token for an authenticated caller: a confidential client, or
/// a bearer token that holds the configured introspection scope (standing for
/// the client it was issued to). `oauth::introspect::may_see` decides what the
/// caller may see; anything else is `{"active": false}`, like an unknown token.
pub async fn introspect(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let result = async {
        let form = read_form(&headers, &uri, body)?;
        let single = |name: &str| {
            form.single(name)
                .map_err(|e| OAuthError::invalid_request(e.to_string()))
        };
        let token =
            single("token")?.ok_or_else(|| OAuthError::invalid_request("token is required"))?;
        single("token_type_hint")?;
        let caller = match caller(&state, ip, &headers, &form).await? {
            Ok(caller) => caller,
            Err(refused) => return Ok(Err(refused)),
        };
        Ok::<_, Failure>(Ok(introspect::introspect(
            &state.db,
            &state.clock,
            &caller,
            token,
        )
        .await
        .map_err(Failure::Store)?))
    }
    .await;
    match result {
        Ok(Ok(found)) => answer(&state, found.as_ref()),
        Ok(Err(refused)) => refused,
        Err(failure) => failure.into_response(uri.path(), ResponseFormat::Json),
    }
}

/// The client asking, or the refusal to send: a bearer caller (while
/// `introspection.bearer_scope` is set) is refused with a Bearer challenge,
/// a client that fails to authenticate through `Failure`.
async fn caller(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    form: &crate::http::extract::FormParams,
) -> Result<Result<Arc<Client>, Response>, Failure> {
    if let (BearerHeader::Token(bearer), Some(scope)) = (
        bearer_header(headers),
        &state.config.introspection.bearer_scope,
    ) {
        let found = introspect::bearer_caller(
            &state.db,
            &state.clock,
            &state.clients,
            bearer,
            scope.as_str(),
        )
        .await;
        return match found {
            Ok(client) => Ok(Ok(client)),
            Err(oauth::Error::Refused(e)) => Ok(Err(bearer_refusal(&e))),
            Err(oauth::Error::Store(e)) => Err(Failure::Store(e)),
        };
    }
    let client = authenticate_client(state, ip, headers, form).await?;
    // Only clients that can keep a secret may ask about tokens.
    if client.is_public() {
        return Err(Failure::Refused {
            error: client_auth::failed(),
            basic: false,
        });
    }
    Ok(Ok(client))
}

/// RFC 6750 §3.1: 403 with `insufficient_scope`, else 401 with
/// `invalid_token`; a Bearer challenge either way.
fn bearer_refusal(error: &OAuthError) -> Response {
    let (status, challenge) = if error.code == ErrorCode::InsufficientScope {
        (
            StatusCode::FORBIDDEN,
            "Bearer realm=\"oauthd\", error=\"insufficient_scope\"",
        )
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "Bearer realm=\"oauthd\", error=\"invalid_token\"",
        )
    };
    let mut r = json_error(status, error.code, Some(&error.description));
    r.headers_mut()
        .insert(WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    r
}

fn answer(state: &AppState, found: Option<&Active>) -> Response {
    let details = found.map(|a| Details {
        scope: &a.info.scope,
        client_id: a.info.client_id.as_deref(),
        username: a.info.username.as_deref(),
        sub: a.info.user_id.as_deref(),
        token_type: a.token_type(),
        exp: a.info.expires_at,
        iat: a.info.created_at,
        iss: state.config.issuer(),
        aud: audience(a.info.audience.as_deref()),
    });
    let mut response = Json(Answer {
        active: details.is_some(),
        details,
    })
    .into_response();
    no_store(&mut response);
    response
}
