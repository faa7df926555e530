//! `GET /account` (and `POST` with a form): the protected resource, the token
//! owner's account as JSON. Tokens are accepted the three RFC 6750 §2 ways.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::CACHE_CONTROL;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::crypto::{SecretKind, Sha256Digest};
use crate::http::error::{HttpError, bearer_refusal};
use crate::http::extract::{body_or_error, presented_token};
use crate::http::oauth::metadata::{account_resource, resource_metadata_url};
use crate::http::state::AppState;
use crate::oauth::{ErrorCode, OAuthError};
use crate::store;
use crate::store::tokens::TokenKind;

#[derive(Serialize)]
struct Account<'a> {
    id: &'a str,
    username: &'a str,
    scope: &'a str,
}

/// Answers with the account of the token's user.
pub async fn account(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let body = body_or_error(body, OAuthError::invalid_request)?;
    let meta = resource_metadata_url(&state.config);
    let challenge = |status, code, description| challenge(&meta, status, code, description);
    let token = match presented_token(&method, &headers, &uri, &body) {
        Ok(Some(t)) => t,
        Ok(None) => return Ok(challenge(StatusCode::UNAUTHORIZED, None, "")),
        Err(description) => {
            return Ok(challenge(
                StatusCode::BAD_REQUEST,
                Some(ErrorCode::InvalidRequest),
                description,
            ));
        }
    };
    let invalid = || {
        challenge(
            StatusCode::UNAUTHORIZED,
            Some(ErrorCode::InvalidToken),
            "the access token is invalid, expired or revoked",
        )
    };
    if !(SecretKind::AccessToken.matches(&token)
        || SecretKind::PersonalToken.matches(&token)
        || crate::crypto::looks_like_jwt(&token))
    {
        return Ok(invalid());
    }
    let Some(info) = store::tokens::find(&state.db, &Sha256Digest::of(&token)).await? else {
        return Ok(invalid());
    };
    if info.kind == TokenKind::Refresh || !info.is_active(state.clock.now()) {
        return Ok(invalid());
    }
    // A token for other resources (RFC 8707) is not for this one; a token
    // with no audience is for any.
    let resource = account_resource(&state.config);
    if info
        .audience
        .as_deref()
        .is_some_and(|aud| !aud.split(' ').any(|a| a == resource))
    {
        return Ok(invalid());
    }
    if let Some(client_id) = &info.client_id {
        tracing::Span::current().record("client.id", client_id.as_str());
    }
    let (Some(user_id), Some(username)) = (&info.user_id, &info.username) else {
        return Ok(challenge(
            StatusCode::FORBIDDEN,
            Some(ErrorCode::InsufficientScope),
            "the token belongs to no user",
        ));
    };
    let needed = state.config.resource.account_scope.as_str();
    if !info.scope.split(' ').any(|s| s == needed) {
        return Ok(scope_challenge(&meta, needed));
    }
    let mut response = Json(Account {
        id: user_id,
        username,
        scope: &info.scope,
    })
    .into_response();
    // Personal data, and possibly fetched with the token in the URL
    // (RFC 6750 §2.3): never cache.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A 401/400/403 with an RFC 6750 §3 challenge that names the resource's
/// metadata (RFC 9728 §5.1).
fn challenge(
    metadata_url: &str,
    status: StatusCode,
    code: Option<ErrorCode>,
    description: &str,
) -> Response {
    bearer_refusal(
        status,
        code,
        description,
        &[("resource_metadata", metadata_url)],
    )
}

fn scope_challenge(metadata_url: &str, needed: &str) -> Response {
    bearer_refusal(
        StatusCode::FORBIDDEN,
        Some(ErrorCode::InsufficientScope),
        "the token lacks the scope this resource needs",
        &[("scope", needed), ("resource_metadata", metadata_url)],
    )
}
