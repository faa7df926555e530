//! Pages: sign-in, consent, the out-of-band code page. Each askama view
//! struct sits next to the handler that renders it.

use askama::Template;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use super::error::HttpError;
use super::extract::cookie;
use super::state::AppState;
use crate::config::Config;
use crate::oauth::session;
use crate::store::sessions::SessionUser;

pub mod consent;
pub mod device;
pub mod end_session;
pub mod layout;
pub mod login;
pub mod settings;
pub mod signup;

/// Renders a page with a status; a template failure is an internal error.
pub fn render(status: StatusCode, page: &impl Template) -> Result<Response, HttpError> {
    let html = page
        .render()
        .map_err(|e| HttpError::Internal(format!("template failed to render: {e}")))?;
    let mut response = (status, Html(html)).into_response();
    // Pages carry CSRF tokens and personal data: never cache them.
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// A page-shaped refusal.
pub fn page_error(status: StatusCode, title: &'static str, message: &'static str) -> HttpError {
    HttpError::Page {
        status,
        title,
        message: message.into(),
    }
}

/// The body of a form post from a page: over the body limit is the 413 page,
/// anything else unreadable is `unreadable`'s page.
pub fn form_body(
    body: Result<Bytes, BytesRejection>,
    unreadable: impl FnOnce() -> HttpError,
) -> Result<Bytes, HttpError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            page_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request too large",
                "The form is larger than this server accepts.",
            )
        } else {
            unreadable()
        }
    })
}

/// True when `public_url` is https: cookies are then `Secure` and `__Host-`.
fn is_https(config: &Config) -> bool {
    config.public_url.scheme() == "https"
}

/// The session cookie's name.
pub fn session_cookie(config: &Config) -> &'static str {
    if is_https(config) {
        "__Host-oauthd_session"
    } else {
        "oauthd_session"
    }
}

/// The sign-in form's double-submit CSRF cookie's name.
pub fn login_csrf_cookie(config: &Config) -> &'static str {
    if is_https(config) {
        "__Host-oauthd_login_csrf"
    } else {
        "oauthd_login_csrf"
    }
}

/// A `Set-Cookie` value: host-only, whole site, not readable by scripts,
/// sent on top-level navigations from other sites (Lax: the user arrives at
/// `/oauth/authorize` from the client's site) but not on their sub-requests.
pub fn set_cookie(config: &Config, name: &str, value: &str) -> Result<HeaderValue, HttpError> {
    let secure = if is_https(config) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path=/; HttpOnly; SameSite=Lax{secure}"
    ))
    .map_err(|_| HttpError::Internal("cookie value is not a header value".into()))
}

/// A `Set-Cookie` value that deletes the cookie.
pub fn clear_cookie(config: &Config, name: &str) -> HeaderValue {
    let secure = if is_https(config) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("oauthd_session=; Path=/; Max-Age=0"))
}

/// Appends a `Set-Cookie` header.
pub fn add_cookie(response: &mut Response, value: HeaderValue) {
    response.headers_mut().append(SET_COOKIE, value);
}

/// The signed-in user of this request, if any.
#[derive(Debug)]
pub struct Session(pub Option<ActiveSession>);

/// A live session: the raw id from the cookie and what it stands for.
#[derive(Debug)]
pub struct ActiveSession {
    raw_id: String,
    /// The session row and its user.
    pub info: SessionUser,
}

impl ActiveSession {
    /// The CSRF token every form of this session carries.
    pub fn csrf(&self) -> String {
        session::csrf_token(&self.raw_id)
    }

    /// Does `given` equal this session's CSRF token?
    pub fn csrf_matches(&self, given: Option<&str>) -> bool {
        given.is_some_and(|g| crate::crypto::constant_time_eq(g, &self.csrf()))
    }
}

/// The layout of a page a signed-in user sees. Here rather than in `layout`,
/// which the error pages use, so that `layout` stays below this module.
impl layout::Layout {
    /// The layout for a signed-in user.
    pub fn signed_in(config: &Config, active: &ActiveSession) -> Self {
        Self {
            user: Some(layout::SignedIn {
                username: active.info.user.username.clone(),
                csrf: active.csrf(),
                is_admin: active.info.user.is_admin,
            }),
            ..Self::anonymous(config)
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, HttpError> {
        let Some(raw) = cookie(&parts.headers, session_cookie(&state.config)) else {
            return Ok(Self(None));
        };
        let found = session::current(&state.db, &state.clock, &state.config, raw).await?;
        Ok(Self(found.map(|info| ActiveSession {
            raw_id: raw.to_owned(),
            info,
        })))
    }
}

/// `GET /static/copy.js`: the few lines behind the copy buttons.
pub async fn copy_script() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/javascript; charset=utf-8"),
            ),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../static/copy.js"),
    )
        .into_response()
}

/// `GET /static/oauthd.css`: the one stylesheet, compiled into the binary.
pub async fn stylesheet() -> Response {
    (
        [
            (
                CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        include_str!("../../../static/oauthd.css"),
    )
        .into_response()
}

#[derive(Template)]
#[template(path = "landing.html")]
struct LandingPage<'a> {
    layout: layout::Layout,
    issuer: &'a str,
    signup: bool,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    layout: layout::Layout,
    username: &'a str,
}

/// `GET /`: who is signed in, or the way to sign in.
pub async fn home(State(state): State<AppState>, session: Session) -> Result<Response, HttpError> {
    let Some(active) = session.0 else {
        // Also the metadata's service_documentation: what a developer needs.
        return render(
            StatusCode::OK,
            &LandingPage {
                layout: layout::Layout::anonymous(&state.config),
                issuer: state.config.issuer(),
                signup: state.config.accounts.signup,
            },
        );
    };
    render(
        StatusCode::OK,
        &HomePage {
            layout: layout::Layout::signed_in(&state.config, &active),
            username: &active.info.user.username,
        },
    )
}
