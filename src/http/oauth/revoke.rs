//! `POST /oauth/revoke` (RFC 7009).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::{Failure, authenticate_client, read_form};
use crate::config::ResponseFormat;
use crate::http::error::no_store;
use crate::http::limits::ClientIp;
use crate::http::state::AppState;
use crate::oauth::{OAuthError, revoke};

/// Revokes a token. 200 with an empty body for success, unknown and
/// already-revoked tokens alike; 503 when storage is down (the client must
/// then assume the token still lives).
pub async fn revoke(
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
        // token_type_hint is optional and only a hint (§2.1): the lookup finds
        // any kind, so its value changes nothing.
        single("token_type_hint")?;
        let client = authenticate_client(&state, ip, &headers, &form).await?;
        revoke::revoke(&state.db, &state.clock, &client, token).await?;
        Ok::<_, Failure>(())
    }
    .await;
    match result {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            no_store(&mut response);
            response
        }
        Err(failure) => failure.into_response(uri.path(), ResponseFormat::Json),
    }
}
