//! `/device`: where the user types the code a device shows (RFC 8628 §3.3),
//! then approves or denies on a consent page.
//!
//! Sign-in comes first. The code may arrive in the link
//! (`verification_uri_complete`), but it only fills the field: the user
//! still submits it and then sees the consent page, so a link someone else
//! sent cannot approve anything by itself (§5.4, remote phishing).

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::consent::{ScopeLine, display_name, scope_lines};
use super::layout::Layout;
use super::login::check_csrf;
use super::{ActiveSession, Session, form_body, page_error, render};
use crate::audit::{Event, Kind};
use crate::http::error::HttpError;
use crate::http::extract::{FormParams, media_type};
use crate::http::limits::{ClientIp, device_session_wait, too_many};
use crate::http::state::AppState;
use crate::metrics::DeviceOutcome;
use crate::oauth::device::{self, UserCode};
use crate::oauth::resource::Resources;
use crate::oauth::scope::Scopes;
use crate::store;

#[derive(Template)]
#[template(path = "device.html")]
struct EntryPage<'a> {
    layout: Layout,
    username: &'a str,
    user_code: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "device_consent.html")]
struct ConsentPage<'a> {
    layout: Layout,
    client_name: &'a str,
    website: Option<&'a str>,
    self_registered: bool,
    username: &'a str,
    user_code: &'a str,
    scopes: Vec<ScopeLine<'a>>,
    resources: Vec<String>,
    csrf: &'a str,
}

#[derive(Template)]
#[template(path = "device_done.html")]
struct DonePage<'a> {
    layout: Layout,
    approved: bool,
    client_name: &'a str,
}

fn unreadable() -> HttpError {
    page_error(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The form could not be read. Go back, reload the page and try again.",
    )
}

/// `GET /device[?user_code=…]`: the code entry form, after sign-in.
pub async fn show(
    State(state): State<AppState>,
    session: Session,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let raw = query.unwrap_or_default();
    let params = FormParams::parse(raw.as_bytes()).map_err(|_| unreadable())?;
    // Only something that can be a code is carried along; anything else is
    // dropped rather than echoed.
    let prefill = params
        .single("user_code")
        .ok()
        .flatten()
        .and_then(UserCode::parse);
    let Some(active) = session.0 else {
        return Ok(to_login(prefill.as_ref()));
    };
    let shown = prefill.map(|c| c.display()).unwrap_or_default();
    entry_page(&state, &active, StatusCode::OK, &shown, None)
}

fn entry_page(
    state: &AppState,
    active: &ActiveSession,
    status: StatusCode,
    user_code: &str,
    error: Option<&str>,
) -> Result<Response, HttpError> {
    render(
        status,
        &EntryPage {
            layout: Layout::signed_in(&state.config, active),
            username: &active.info.user.username,
            user_code,
            csrf: &active.csrf(),
            error,
        },
    )
}

/// 303 to the sign-in page, coming back to `/device` with the code.
fn to_login(code: Option<&UserCode>) -> Response {
    let next = match code {
        Some(c) => format!("/device?user_code={}", c.display()),
        None => "/device".to_owned(),
    };
    let location = format!(
        "/login?{}",
        url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", &next)
            .finish()
    );
    match HeaderValue::from_str(&location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(LOCATION, value)]).into_response(),
        Err(_) => {
            HttpError::Internal("redirect target is not a header value".into()).into_response()
        }
    }
}

fn signed_out() -> HttpError {
    page_error(
        StatusCode::FORBIDDEN,
        "Session ended",
        "You are no longer signed in. Sign in and enter the code again.",
    )
}

/// Reads a page form: the body, its type, its fields.
fn read_form(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<FormParams, HttpError> {
    let body = form_body(body, unreadable)?;
    if media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(unreadable());
    }
    FormParams::parse(&body).map_err(|_| unreadable())
}

const NO_SUCH_CODE: &str = "No device is waiting for that code. Check the code on your device and try again; if it has expired, start again on the device.";

/// `POST /device`: the code the user typed. Rate-limited per address (the
/// route limit) and per session; a wrong code counts against every pending
/// request (§5.1) and is recorded in the audit trail.
pub async fn enter(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let form = read_form(&headers, body)?;
    let Some(active) = session.0 else {
        return Err(signed_out());
    };
    check_csrf(&active, &form)?;
    if let Some(wait) = device_session_wait(&state.limits, &active.info.id_hash) {
        tracing::info!(user.id = %active.info.user.id, "device code entry limit hit for a session");
        return Ok(too_many("/device", wait));
    }
    let typed = form.single("user_code").ok().flatten().unwrap_or("");
    let user_id = active.info.user.id.as_str();
    let failed = |detail: &'static str| {
        Event::new(Kind::UserCodeFailed)
            .user(user_id)
            .ip(ip)
            .detail(detail)
    };
    let Some(code) = UserCode::parse(typed) else {
        failed("not a user code")
            .record(&state.db, &state.clock)
            .await;
        return entry_page(
            &state,
            &active,
            StatusCode::BAD_REQUEST,
            "",
            Some("That is not a device code: codes have 8 letters, like WDJB-MJHT."),
        );
    };
    let Some(pending) = device::find_pending(&state.db, &state.clock, &state.config, &code).await?
    else {
        device::record_failed_guess(&state.db, &state.clock).await?;
        failed("no pending request has this code")
            .record(&state.db, &state.clock)
            .await;
        return entry_page(
            &state,
            &active,
            StatusCode::BAD_REQUEST,
            &code.display(),
            Some(NO_SUCH_CODE),
        );
    };
    let Some(client) = store::clients::find(&state.db, &pending.client_id).await? else {
        return Err(no_client());
    };
    tracing::Span::current().record("client.id", client.id.as_str());
    let scope = Scopes::parse(&pending.scope).map_err(|_| {
        store::Error::Corrupt(format!("scope of device code for client {}", client.id))
    })?;
    let scopes = scope_lines(&state.config, &scope);
    let resources = crate::oauth::resource::display_names(
        &state.db,
        &Resources::from_stored(pending.resources.as_deref()),
    )
    .await?;
    render(
        StatusCode::OK,
        &ConsentPage {
            layout: Layout::signed_in(&state.config, &active),
            client_name: display_name(&client),
            website: client.website.as_deref(),
            self_registered: client.owner_id.is_none(),
            username: &active.info.user.username,
            user_code: &code.display(),
            scopes,
            resources,
            csrf: &active.csrf(),
        },
    )
}

fn no_client() -> HttpError {
    page_error(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The application is no longer registered.",
    )
}

/// `POST /device/decision`: approve or deny the request the code names.
pub async fn decide(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let form = read_form(&headers, body)?;
    let Some(active) = session.0 else {
        return Err(signed_out());
    };
    check_csrf(&active, &form)?;
    let expired = || {
        page_error(
            StatusCode::BAD_REQUEST,
            "Request expired",
            "This device request has expired or was already answered. Start again on the device.",
        )
    };
    let approve = match form.single("decision").ok().flatten() {
        Some("approve") => true,
        Some("deny") => false,
        _ => {
            return Err(page_error(
                StatusCode::BAD_REQUEST,
                "Cannot continue",
                "Choose Approve or Deny.",
            ));
        }
    };
    let code = form
        .single("user_code")
        .ok()
        .flatten()
        .and_then(UserCode::parse)
        .ok_or_else(expired)?;
    let pending = device::find_pending(&state.db, &state.clock, &state.config, &code)
        .await?
        .ok_or_else(expired)?;
    let Some(client) = store::clients::find(&state.db, &pending.client_id).await? else {
        return Err(no_client());
    };
    tracing::Span::current().record("client.id", client.id.as_str());
    let user_id = active.info.user.id.as_str();
    let answered = if approve {
        device::approve(
            &state.db,
            &state.clock,
            &state.config,
            &pending,
            user_id,
            active.info.created_at,
        )
        .await?
    } else {
        device::deny(&state.db, &state.clock, &pending, user_id).await?
    };
    if !answered {
        return Err(expired());
    }
    let (kind, outcome) = if approve {
        (Kind::DeviceApproved, DeviceOutcome::Approved)
    } else {
        (Kind::DeviceDenied, DeviceOutcome::Denied)
    };
    state.metrics.device(outcome);
    Event::new(kind)
        .user(user_id)
        .client(&client.id)
        .ip(ip)
        .detail(pending.scope.as_str())
        .record(&state.db, &state.clock)
        .await;
    render(
        StatusCode::OK,
        &DonePage {
            layout: Layout::signed_in(&state.config, &active),
            approved: approve,
            client_name: display_name(&client),
        },
    )
}
