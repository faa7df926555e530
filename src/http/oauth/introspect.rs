//! `POST /oauth/introspect` (RFC 7662): for resource servers.

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
use crate::oauth::{ErrorCode, OAuthError};
use crate::store::tokens::TokenKind;

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
}

/// Introspects a token for an authenticated caller: a confidential client, or
/// a bearer token that holds the configured introspection scope.
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
        if let Some(refused) = authorize_caller(&state, ip, &headers, &form).await? {
            return Ok(Err(refused));
        }
        Ok::<_, Failure>(Ok(introspect::lookup(&state.db, &state.clock, token)
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

/// `None` when the caller may introspect, else the refusal to send.
async fn authorize_caller(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    form: &crate::http::extract::FormParams,
) -> Result<Option<Response>, Failure> {
    if let (BearerHeader::Token(bearer), Some(scope)) = (
        bearer_header(headers),
        &state.config.introspection.bearer_scope,
    ) {
        let caller = introspect::lookup(&state.db, &state.clock, bearer)
            .await
            .map_err(Failure::Store)?;
        let challenge = |status, code: ErrorCode, description, header| {
            let mut r = json_error(status, code, Some(description));
            r.headers_mut()
                .insert(WWW_AUTHENTICATE, HeaderValue::from_static(header));
            r
        };
        return Ok(match caller {
            Some(c) if c.info.kind != TokenKind::Refresh && c.has_scope(scope.as_str()) => None,
            Some(c) if c.info.kind != TokenKind::Refresh => Some(challenge(
                StatusCode::FORBIDDEN,
                ErrorCode::InsufficientScope,
                "the bearer token lacks the introspection scope",
                "Bearer realm=\"oauthd\", error=\"insufficient_scope\"",
            )),
            _ => Some(challenge(
                StatusCode::UNAUTHORIZED,
                ErrorCode::InvalidToken,
                "the bearer token is invalid, expired or revoked",
                "Bearer realm=\"oauthd\", error=\"invalid_token\"",
            )),
        });
    }
    let client = authenticate_client(state, ip, headers, form).await?;
    // Only clients that can keep a secret may ask about tokens.
    if client.is_public() {
        return Err(Failure::Refused {
            error: client_auth::failed(),
            basic: false,
        });
    }
    Ok(None)
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
    });
    let mut response = Json(Answer {
        active: details.is_some(),
        details,
    })
    .into_response();
    no_store(&mut response);
    response
}
