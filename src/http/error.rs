//! The one place that turns errors into a status and a body.
//!
//! API endpoints answer JSON `{"error", "error_description"}` with
//! `Cache-Control: no-store`; pages answer an HTML page. Unexpected failures
//! leave only a status and an [`ErrorDetail`] extension here: [`finish`],
//! called by the request middleware, which knows the path and request id,
//! logs the detail once and writes the generic body, so no driver or library
//! text ever reaches a client.

use std::borrow::Cow;

use askama::Template;
use axum::Json;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, PRAGMA, RETRY_AFTER, WWW_AUTHENTICATE,
};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::config::Config;
use crate::http::web::layout::Layout;
use crate::oauth::{self, ErrorCode, OAuthError};
use crate::store;

/// How a handler failed.
#[derive(Debug)]
pub enum HttpError {
    /// An RFC error as JSON, with this status (and a `WWW-Authenticate` header
    /// where RFC 6749 §5.2 or RFC 6750 §3 asks for one).
    Api {
        /// 400, 401, 403, 413 …
        status: StatusCode,
        /// The RFC code and description.
        error: OAuthError,
        /// The challenge to send with a 401.
        www_authenticate: Option<HeaderValue>,
    },
    /// An HTML page explaining what went wrong.
    Page {
        /// 400, 403, 404 …
        status: StatusCode,
        /// The page heading.
        title: &'static str,
        /// One or two sentences for the user.
        message: Cow<'static, str>,
    },
    /// The page needs a signed-in user: 303 to `/login?next=…`.
    SignIn {
        /// The local path to come back to.
        next: String,
    },
    /// Storage failed: 503 when it is unreachable, 500 otherwise.
    Store(store::Error),
    /// Anything else unexpected: 500.
    Internal(String),
}

impl HttpError {
    /// A 400 JSON error.
    pub fn bad_request(error: OAuthError) -> Self {
        Self::Api {
            status: StatusCode::BAD_REQUEST,
            error,
            www_authenticate: None,
        }
    }
}

impl From<store::Error> for HttpError {
    fn from(e: store::Error) -> Self {
        Self::Store(e)
    }
}

impl From<oauth::Error> for HttpError {
    fn from(e: oauth::Error) -> Self {
        match e {
            oauth::Error::Refused(e) => Self::bad_request(e),
            oauth::Error::Store(e) => Self::Store(e),
        }
    }
}

/// Unexpected-failure detail for the log, carried on the response to
/// [`finish`]; never sent to the client.
#[derive(Clone, Debug)]
pub struct ErrorDetail(pub String);

/// What an error page says, carried on the response to [`finish`].
#[derive(Clone, Debug)]
pub struct PageMessage {
    /// The heading.
    pub title: &'static str,
    /// The explanation.
    pub message: Cow<'static, str>,
}

// The one error body: every JSON error and the token endpoint's
// form-encoded errors are written from it, and the OpenAPI document's
// `Error` schema is derived from it (the doc comment is its description).
/// An error answer (RFC 6749 §5.2, RFC 6750 §3, RFC 7591 §3.2.2). The token
/// endpoint sends it form-encoded when the client asked for form encoding.
#[derive(Serialize, ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// The error code.
    pub error: ErrorCode,
    /// What went wrong, for a developer; never holds a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String)]
    pub error_description: Option<&'a str>,
}

/// A JSON error response with the no-store headers of RFC 6749 §5.1.
pub fn json_error(status: StatusCode, code: ErrorCode, description: Option<&str>) -> Response {
    let mut response = (
        status,
        Json(ErrorBody {
            error: code,
            error_description: description,
        }),
    )
        .into_response();
    no_store(&mut response);
    response
}

/// A refused bearer token (RFC 6750 §3): the JSON error body and its
/// `WWW-Authenticate: Bearer realm="oauthd"` challenge, which names `error`
/// and `error_description` when `code` is given (`None`: no token was sent,
/// so the challenge says nothing more) and ends with the `extra` parameters
/// (`scope`, RFC 9728's `resource_metadata`).
pub fn bearer_refusal(
    status: StatusCode,
    code: Option<ErrorCode>,
    description: &str,
    extra: &[(&str, &str)],
) -> Response {
    let mut header = String::from("Bearer realm=\"oauthd\"");
    if let Some(code) = code {
        header.push_str(&format!(
            ", error=\"{}\", error_description=\"{description}\"",
            code.as_str()
        ));
    }
    for (name, value) in extra {
        header.push_str(&format!(", {name}=\"{value}\""));
    }
    let mut response = match code {
        None => json_error(
            status,
            ErrorCode::InvalidToken,
            Some("an access token is required"),
        ),
        Some(code) => json_error(status, code, Some(description)),
    };
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert(WWW_AUTHENTICATE, value);
    }
    response
}

/// Marks a response as never to be cached (RFC 6749 §5.1).
pub fn no_store(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(PRAGMA, HeaderValue::from_static("no-cache"));
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        match self {
            Self::Api {
                status,
                error,
                www_authenticate,
            } => {
                let mut response = json_error(status, error.code, Some(&error.description));
                if let Some(challenge) = www_authenticate {
                    response.headers_mut().insert(WWW_AUTHENTICATE, challenge);
                }
                response
            }
            // The page itself is drawn by `finish`, which has the
            // config the layout needs.
            Self::Page {
                status,
                title,
                message,
            } => {
                let mut response = status.into_response();
                response
                    .extensions_mut()
                    .insert(PageMessage { title, message });
                response
            }
            Self::SignIn { next } => {
                let query = url::form_urlencoded::Serializer::new(String::new())
                    .append_pair("next", &next)
                    .finish();
                axum::response::Redirect::to(&format!("/login?{query}")).into_response()
            }
            Self::Store(e) => {
                let status = if e.is_transient() {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                };
                let mut response = status.into_response();
                response
                    .extensions_mut()
                    .insert(ErrorDetail(crate::telemetry::error_chain(&e)));
                response
            }
            Self::Internal(detail) => {
                let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                response.extensions_mut().insert(ErrorDetail(detail));
                response
            }
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    title: &'a str,
    message: &'a str,
    request_id: Option<&'a str>,
}

/// Renders the error page. A template failure falls back to plain text.
pub fn error_page(
    layout: Layout,
    status: StatusCode,
    title: &str,
    message: &str,
    request_id: Option<&str>,
) -> Response {
    let page = ErrorPage {
        layout,
        title,
        message,
        request_id,
    };
    match page.render() {
        Ok(html) => (
            status,
            [(CACHE_CONTROL, HeaderValue::from_static("no-store"))],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "error page failed to render");
            (
                status,
                [(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                )],
                title.to_owned(),
            )
                .into_response()
        }
    }
}

/// True for paths whose clients expect JSON rather than a page.
pub fn is_api_path(path: &str) -> bool {
    const API_PREFIXES: &[&str] = &[
        "/api/",
        "/oauth/token",
        "/oauth/access_token",
        "/oauth2/token",
        "/oauth/revoke",
        "/oauth/introspect",
        "/.well-known/",
        "/account",
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
    ];
    API_PREFIXES.iter().any(|p| path.starts_with(p))
}

/// Writes the body of any error response that has none yet (router 404/405,
/// timeouts, panics, storage failures) in the shape the path calls for
/// (`api`: [`is_api_path`]), and logs the detail of unexpected failures once,
/// inside the request span. `middleware::Edge` calls it for every response.
pub fn finish(
    config: &Config,
    api: bool,
    request_id: Option<&str>,
    response: Response,
) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.headers().contains_key(CONTENT_TYPE)
    {
        return response;
    }
    if let Some(ErrorDetail(detail)) = response.extensions().get::<ErrorDetail>() {
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::warn!(error.detail = %detail, "storage unavailable");
        } else {
            tracing::error!(error.detail = %detail, "request failed");
        }
    }
    let page = response.extensions().get::<PageMessage>().cloned();
    let (code, title, message): (ErrorCode, &str, Cow<'static, str>) = match status {
        StatusCode::NOT_FOUND => (
            ErrorCode::InvalidRequest,
            "Not found",
            "There is nothing at this address.".into(),
        ),
        StatusCode::METHOD_NOT_ALLOWED => (
            ErrorCode::InvalidRequest,
            "Method not allowed",
            "This address does not accept that HTTP method.".into(),
        ),
        StatusCode::REQUEST_TIMEOUT => (
            ErrorCode::InvalidRequest,
            "Request timed out",
            "The request took too long.".into(),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            ErrorCode::InvalidRequest,
            "Request too large",
            "The request body is larger than this server accepts.".into(),
        ),
        StatusCode::URI_TOO_LONG => (
            ErrorCode::InvalidRequest,
            "Address too long",
            "The address of this request is longer than this server accepts.".into(),
        ),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => (
            ErrorCode::InvalidRequest,
            "Request headers too large",
            "The headers of this request are larger than this server accepts.".into(),
        ),
        StatusCode::SERVICE_UNAVAILABLE => (
            ErrorCode::TemporarilyUnavailable,
            "Temporarily unavailable",
            "The service cannot reach its storage right now. Please try again in a moment.".into(),
        ),
        s if s.is_server_error() => (
            ErrorCode::ServerError,
            "Something went wrong",
            "The server failed to handle this request.".into(),
        ),
        _ => (
            ErrorCode::InvalidRequest,
            "Bad request",
            "The request is not valid.".into(),
        ),
    };
    let (title, message) = match page {
        Some(p) => (p.title, p.message),
        None => (title, message),
    };
    let message = match (request_id, status.is_server_error()) {
        (Some(id), true) => format!("{message} Request id: {id}").into(),
        _ => message,
    };
    let mut rendered = if api {
        json_error(status, code, Some(&message))
    } else {
        error_page(
            Layout::anonymous(config),
            status,
            title,
            &message,
            request_id,
        )
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(CONTENT_TYPE);
    parts.headers.remove(CONTENT_LENGTH);
    let (new_parts, body) = rendered.into_parts();
    for (name, value) in &new_parts.headers {
        parts.headers.insert(name, value.clone());
    }
    if status == StatusCode::SERVICE_UNAVAILABLE && !parts.headers.contains_key(RETRY_AFTER) {
        parts
            .headers
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
    }
    rendered = Response::from_parts(parts, body);
    rendered
}
