//! Protocol endpoints: parse, call `oauth::`, render.
//!
//! The token, revocation and introspection endpoints share how they read
//! their form and authenticate the client, and how a refusal is answered
//! (RFC 6749 §5.2), so those live here.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use std::net::IpAddr;
use std::sync::Arc;

use axum::response::Response;

use crate::config::ResponseFormat;
use crate::http::error::ErrorBody;
use crate::http::extract::{FormParams, client_credentials, media_type};
use crate::http::state::AppState;
use crate::oauth::client_auth::{self, AuthError};
use crate::oauth::client_metadata_document::{self, ResolveFailure};
use crate::oauth::{self, ErrorCode, OAuthError};
use crate::store::{self, clients::Client};

pub mod authorize;
pub mod device;
pub mod introspect;
pub mod metadata;
pub mod revoke;
pub mod token;
pub mod userinfo;

/// How a token-endpoint-style request failed.
pub(crate) enum Failure {
    /// An RFC refusal; `basic` when the client used HTTP Basic.
    Refused { error: OAuthError, basic: bool },
    /// Too many failed authentications from this address: wait this long.
    Throttled(u64),
    /// Storage failed (503 or 500).
    Store(store::Error),
    /// The body is over the limit: 413, like every other endpoint.
    TooLarge,
}

impl Failure {
    /// The RFC 6749 error code the answer carries (for metrics).
    pub(crate) fn error_code(&self) -> &'static str {
        match self {
            Self::Refused { error, .. } => error.code.as_str(),
            Self::Throttled(_) => ErrorCode::SlowDown.as_str(),
            Self::Store(e) if e.is_transient() => ErrorCode::TemporarilyUnavailable.as_str(),
            Self::Store(_) => ErrorCode::ServerError.as_str(),
            Self::TooLarge => ErrorCode::InvalidRequest.as_str(),
        }
    }

    /// The response for this failure, errors in `format`.
    pub(crate) fn into_response(self, path: &str, format: ResponseFormat) -> Response {
        match self {
            Self::Refused { error, basic } => refusal(&error, basic, format),
            Self::Throttled(wait) => crate::http::limits::too_many(path, wait),
            Self::Store(e) => {
                axum::response::IntoResponse::into_response(crate::http::error::HttpError::Store(e))
            }
            Self::TooLarge => crate::http::error::json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::InvalidRequest,
                Some("the request body is too large"),
            ),
        }
    }
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Self {
        Self::Refused {
            error,
            basic: false,
        }
    }
}

impl From<oauth::Error> for Failure {
    fn from(e: oauth::Error) -> Self {
        match e {
            oauth::Error::Refused(error) => error.into(),
            oauth::Error::Store(e) => Self::Store(e),
        }
    }
}

/// Reads the form body of a token-endpoint-style request. Credentials in the
/// URL are refused (OAuth 2.1 §2.4.1), and their value is never logged.
pub(crate) fn read_form(
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<FormParams, Failure> {
    if uri.query().is_some_and(|q| {
        FormParams::parse(q.as_bytes()).map_or(true, |p| p.all("client_secret").next().is_some())
    }) {
        return Err(
            OAuthError::invalid_request("client credentials must not be sent in the URL").into(),
        );
    }
    let body = body.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Failure::TooLarge
        } else {
            OAuthError::invalid_request("the request body could not be read").into()
        }
    })?;
    if media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the request body must be application/x-www-form-urlencoded",
        )
        .into());
    }
    Ok(FormParams::parse(&body).map_err(|e| OAuthError::invalid_request(e.to_string()))?)
}

/// Authenticates the calling client (Basic, post, or id alone for public clients).
///
/// Repeated wrong secrets for one client id from one address make further
/// attempts from that address wait (429), without touching the client's
/// traffic from anywhere else.
pub(crate) async fn authenticate_client(
    state: &AppState,
    ip: IpAddr,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<Arc<Client>, Failure> {
    let credentials = client_credentials(headers, form).map_err(|e| Failure::Refused {
        error: e.error,
        basic: e.basic,
    })?;
    let basic = credentials.is_basic();
    let id = credentials.client_id().to_owned();
    let now = state.clock.now();
    if let Some(wait) = state.client_failures.check(&id, ip, now) {
        return Err(Failure::Throttled(wait));
    }
    if state.documents.enabled() && client_metadata_document::is_document_id(&id) {
        // A document that cannot be used counts as a failed client
        // authentication: the throttle then bounds how often one address
        // can make this server try a bad URL (besides the failure cache).
        let result = document_client(state, ip, &credentials).await;
        match &result {
            Ok(_) => state.client_failures.succeeded(&id, ip),
            Err(Failure::Refused { .. }) => state.client_failures.failed(&id, ip, now),
            Err(_) => {}
        }
        return result;
    }
    match client_auth::authenticate(&state.db, &state.clients, &credentials).await {
        Ok(c) => {
            state.client_failures.succeeded(&id, ip);
            tracing::Span::current().record("client.id", c.id.as_str());
            Ok(c)
        }
        Err(AuthError::Refused(error)) => {
            state.client_failures.failed(&id, ip, now);
            Err(Failure::Refused { error, basic })
        }
        Err(AuthError::Store(e)) => Err(Failure::Store(e)),
    }
}

/// A client whose id is its metadata document's URL: public, so it sends
/// its id alone; the document (fetched or cached) is its registration.
async fn document_client(
    state: &AppState,
    ip: IpAddr,
    credentials: &client_auth::Credentials,
) -> Result<Arc<Client>, Failure> {
    let basic = credentials.is_basic();
    if !matches!(credentials, client_auth::Credentials::IdOnly { .. }) {
        tracing::info!(
            client.id = credentials.client_id(),
            "client authentication failed: a client metadata document client sent a secret"
        );
        return Err(Failure::Refused {
            error: OAuthError::new(
                ErrorCode::InvalidClient,
                "a client identified by a metadata document is public and sends no secret",
            ),
            basic,
        });
    }
    match state
        .documents
        .resolve(
            &state.db,
            &state.clock,
            &state.config,
            credentials.client_id(),
            Some(ip),
        )
        .await
    {
        Ok(client) => {
            tracing::Span::current().record("client.id", client.id.as_str());
            Ok(client)
        }
        Err(ResolveFailure::Document(e)) => {
            tracing::info!(client.id = credentials.client_id(), reason = %e, "client metadata document refused");
            Err(Failure::Refused {
                error: OAuthError::new(
                    ErrorCode::InvalidClient,
                    format!("the client cannot be used: {e}"),
                ),
                basic,
            })
        }
        Err(ResolveFailure::Store(e)) => Err(Failure::Store(e)),
    }
}

/// RFC 6749 §5.2: 400, or 401 for `invalid_client` (with a Basic challenge
/// when the client used HTTP Basic).
pub(crate) fn refusal(error: &OAuthError, basic: bool, format: ResponseFormat) -> Response {
    let status = if error.code == ErrorCode::InvalidClient {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = token::encode(
        status,
        &ErrorBody {
            error: error.code,
            error_description: Some(&error.description),
        },
        format,
    );
    if error.code == ErrorCode::InvalidClient && basic {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauthd\", charset=\"UTF-8\""),
        );
    }
    response
}
