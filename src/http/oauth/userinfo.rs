//! `GET` and `POST /oauth/userinfo` (OpenID Connect Core §5.3): the
//! signed-in user's claims, for a bearer access token holding `openid`.
//! The token is accepted the RFC 6750 §2 ways, as at `/account`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::http::error::{HttpError, bearer_refusal, no_store};
use crate::http::extract::{body_or_error, presented_token};
use crate::http::state::AppState;
use crate::oauth::userinfo::{self, Refusal};
use crate::oauth::{ErrorCode, OAuthError};

/// The path of the UserInfo endpoint.
pub const USERINFO_PATH: &str = "/oauth/userinfo";

/// The absolute UserInfo URL under this configuration.
pub fn userinfo_url(config: &crate::config::Config) -> String {
    format!("{}{USERINFO_PATH}", config.issuer())
}

/// Answers with the claims the token may read.
pub async fn userinfo(
    State(state): State<AppState>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let body = body_or_error(body, OAuthError::invalid_request)?;
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
    let endpoint = userinfo_url(&state.config);
    match userinfo::claims(&state.db, &state.clock, &state.config, &endpoint, &token).await? {
        Ok(claims) => {
            let mut response = Json(claims).into_response();
            no_store(&mut response);
            Ok(response)
        }
        Err(Refusal::InvalidToken) => Ok(challenge(
            StatusCode::UNAUTHORIZED,
            Some(ErrorCode::InvalidToken),
            "the access token is invalid, expired or revoked",
        )),
        Err(Refusal::InsufficientScope) => Ok(challenge(
            StatusCode::FORBIDDEN,
            Some(ErrorCode::InsufficientScope),
            "the access token does not hold the openid scope",
        )),
    }
}

/// A 401/400/403 with an RFC 6750 §3 challenge (`scope="openid"` on
/// `insufficient_scope`).
fn challenge(status: StatusCode, code: Option<ErrorCode>, description: &str) -> Response {
    let extra: &[(&str, &str)] = if code == Some(ErrorCode::InsufficientScope) {
        &[("scope", "openid")]
    } else {
        &[]
    };
    bearer_refusal(status, code, description, extra)
}
