//! `POST /oauth/device_authorization` (RFC 8628 §3.1–3.2): a device starts
//! a request and is told the codes and where the user goes.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use serde::Serialize;

use super::{Failure, authenticate_client, read_form};
use crate::config::ResponseFormat;
use crate::http::limits::ClientIp;
use crate::http::state::AppState;
use crate::metrics::DeviceOutcome;
use crate::oauth::resource::Resources;
use crate::oauth::{OAuthError, device};

#[derive(Serialize)]
struct DeviceAuthorization<'a> {
    device_code: &'a str,
    user_code: String,
    verification_uri: String,
    verification_uri_complete: String,
    expires_in: i64,
    interval: i64,
}

/// The device authorization endpoint. The client authenticates as at the
/// token endpoint (a public client by `client_id` alone); the answer is
/// JSON with `Cache-Control: no-store`.
pub async fn device_authorization(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    match start(&state, ip, &headers, &uri, body).await {
        Ok(response) => response,
        Err(failure) => failure.into_response(uri.path(), ResponseFormat::Json),
    }
}

async fn start(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, Failure> {
    let form = read_form(headers, uri, body)?;
    let scope = form
        .single("scope")
        .map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    // RFC 8707: the resources the tokens are for, repeatable.
    let resources = Resources::parse(form.all("resource"))?;
    let client = authenticate_client(state, ip, headers, &form).await?;
    let started = device::start(
        &state.db,
        &state.clock,
        &state.config,
        &client,
        scope,
        &resources,
    )
    .await?;
    state.metrics.device(DeviceOutcome::Started);
    let verification_uri = format!("{}/device", state.config.issuer());
    let mut complete = url::Url::parse(&verification_uri)
        .map_err(|_| Failure::Store(crate::store::Error::Corrupt("public_url".into())))?;
    complete
        .query_pairs_mut()
        .append_pair("user_code", &started.user_code.display());
    Ok(super::token::encode(
        StatusCode::OK,
        &DeviceAuthorization {
            device_code: started.device_code.expose(),
            user_code: started.user_code.display(),
            verification_uri,
            verification_uri_complete: complete.to_string(),
            expires_in: started.expires_in,
            interval: started.interval,
        },
        ResponseFormat::Json,
    ))
}
