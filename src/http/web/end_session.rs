//! `GET`/`POST /oauth/logout`: RP-initiated logout (OpenID Connect
//! RP-Initiated Logout 1.0), the `end_session_endpoint`.
//!
//! A request with a valid `id_token_hint` for the signed-in user ends the
//! session at once. Anything else (no hint, or a hint for someone else)
//! shows a confirmation page whose form posts back here with the session's
//! CSRF token, so a cross-site `GET` or `POST` cannot sign anyone out. After
//! logout the browser goes to the client's registered
//! `post_logout_redirect_uri` (with `state`), or sees a "signed out" page.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use super::layout::Layout;
use super::login::check_csrf;
use super::{ActiveSession, Session, add_cookie, clear_cookie, form_body, render, session_cookie};
use crate::http::error::HttpError;
use crate::http::extract::{FormParams, media_type};
use crate::http::state::AppState;
use crate::oauth::logout::{self, LogoutRequest, Resolved};
use crate::oauth::{self, session, subject};

#[derive(Template)]
#[template(path = "logout.html")]
struct ConfirmLogout {
    layout: Layout,
    username: String,
    csrf: String,
    client_name: Option<String>,
    client_id: Option<String>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut {
    layout: Layout,
}

fn bad_request(message: impl Into<std::borrow::Cow<'static, str>>) -> HttpError {
    HttpError::Page {
        status: StatusCode::BAD_REQUEST,
        title: "Invalid logout request",
        message: message.into(),
    }
}

/// `GET`/`POST /oauth/logout`.
pub async fn end_session(
    State(state): State<AppState>,
    session: Session,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let unreadable = || bad_request("The logout request could not be read.");
    let params = if method == Method::POST {
        let body = form_body(body, unreadable)?;
        if !body.is_empty()
            && media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded")
        {
            return Err(unreadable());
        }
        FormParams::parse(&body)
    } else {
        FormParams::parse(uri.query().unwrap_or_default().as_bytes())
    }
    .map_err(|_| unreadable())?;
    let single = |key: &'static str| {
        params
            .single(key)
            .map_err(|_| bad_request(format!("{key} must be sent at most once.")))
    };
    let request = LogoutRequest {
        id_token_hint: single("id_token_hint")?,
        client_id: single("client_id")?,
        post_logout_redirect_uri: single("post_logout_redirect_uri")?,
        state: single("state")?,
    };
    // A POST carrying the confirmation form's fields is the user's answer.
    let confirming = method == Method::POST
        && (params.all("csrf").next().is_some() || params.all("confirm").next().is_some());
    let resolved =
        match logout::resolve(&state.db, &state.clock, &state.config, &state.keys, request).await {
            Ok(r) => r,
            Err(oauth::Error::Refused(e)) => return Err(bad_request(e.description)),
            Err(oauth::Error::Store(e)) => return Err(e.into()),
        };
    let status = if method == Method::POST {
        StatusCode::SEE_OTHER
    } else {
        StatusCode::FOUND
    };
    let Some(active) = session.0 else {
        // Nobody is signed in here: nothing to end, nothing to confirm.
        return finish(&state, &resolved, status, false);
    };
    let hinted_user = resolved.hint_subject.is_some()
        && resolved.hint_subject
            == subject::for_sector(
                &state.config,
                &active.info.user.id,
                resolved.pairwise_sector.as_deref(),
            )
            .ok();
    if confirming {
        check_csrf(&active, &params)?;
    } else if !hinted_user {
        return confirm_page(&state, &active, &resolved, request.state);
    }
    session::end(&state.db, &active.info.id_hash).await?;
    tracing::info!(
        user.id = %active.info.user.id,
        client.id = resolved.client_id.as_deref().unwrap_or("-"),
        "user signed out by RP-initiated logout"
    );
    finish(&state, &resolved, status, true)
}

fn confirm_page(
    state: &AppState,
    active: &ActiveSession,
    resolved: &Resolved,
    client_state: Option<&str>,
) -> Result<Response, HttpError> {
    render(
        StatusCode::OK,
        &ConfirmLogout {
            layout: Layout::signed_in(&state.config, active),
            username: active.info.user.username.clone(),
            csrf: active.csrf(),
            client_name: resolved.client_name.clone(),
            client_id: resolved.client_id.clone(),
            // Only what was validated goes back into the form; the answer is
            // checked again when it comes back.
            post_logout_redirect_uri: resolved.post_logout_redirect_uri.clone(),
            state: resolved
                .post_logout_redirect_uri
                .as_ref()
                .and(client_state.map(str::to_owned)),
        },
    )
}

/// The redirect to the validated `post_logout_redirect_uri`, or the "signed
/// out" page; the session cookie cleared when a session ended.
fn finish(
    state: &AppState,
    resolved: &Resolved,
    status: StatusCode,
    ended: bool,
) -> Result<Response, HttpError> {
    let mut response = match &resolved.redirect {
        Some(url) => {
            let location = HeaderValue::from_str(url.as_str())
                .map_err(|_| HttpError::Internal("logout redirect is not a header value".into()))?;
            (status, [(LOCATION, location)]).into_response()
        }
        None => render(
            StatusCode::OK,
            &SignedOut {
                layout: Layout::anonymous(&state.config),
            },
        )?,
    };
    if ended {
        add_cookie(
            &mut response,
            clear_cookie(&state.config, session_cookie(&state.config)),
        );
    }
    Ok(response)
}
