//! `GET/POST /login` and `POST /logout`.
//!
//! The sign-in form is protected by a double-submit token (a random value in
//! a cookie and in the form) because there is no session yet to bind it to.
//! Success always starts a new session, so a session id planted before sign-in
//! is worthless (no fixation). Every failure shows the same message.

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::{
    ActiveSession, Session, add_cookie, clear_cookie, login_csrf_cookie, page_error, render,
    session_cookie, set_cookie,
};
use crate::audit::{Event, Kind};
use crate::crypto::{Secret, SecretKind, constant_time_eq};
use crate::http::error::HttpError;
use crate::http::extract::{FormParams, cookie, media_type};
use crate::http::limits::{ClientIp, too_many};
use crate::http::state::AppState;
use crate::metrics::SigninOutcome;
use crate::oauth::session;

/// The one message every failed sign-in gets.
const FAILED: &str = "Incorrect user name or password.";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    layout: super::layout::Layout,
    csrf: &'a str,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

/// A `next` target is only ever a local path: one leading `/`, not `//` or
/// `/\` (which browsers treat as another host), no control characters.
pub fn safe_next(raw: Option<&str>) -> &str {
    match raw {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 8192
                && !n.chars().any(char::is_control) =>
        {
            n
        }
        _ => "/",
    }
}

/// Renders the form with a fresh double-submit token.
fn login_form(
    state: &AppState,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Result<Response, HttpError> {
    let csrf = Secret::generate(SecretKind::LoginCsrf);
    let mut response = render(
        status,
        &LoginPage {
            layout: super::layout::Layout::anonymous(&state.config),
            csrf: csrf.expose(),
            next,
            username,
            error,
        },
    )?;
    add_cookie(
        &mut response,
        set_cookie(
            &state.config,
            login_csrf_cookie(&state.config),
            csrf.expose(),
        )?,
    );
    Ok(response)
}

/// `GET /login?next=…`.
pub async fn show(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let params = FormParams::parse(query.unwrap_or_default().as_bytes()).unwrap_or_default();
    let next = safe_next(params.single("next").ok().flatten());
    // OpenID Connect `login_hint`: the user name to pre-fill (escaped by
    // the template; only a short, printable hint is used).
    let hint = params
        .single("login_hint")
        .ok()
        .flatten()
        .filter(|h| h.len() <= 256 && !h.chars().any(char::is_control))
        .unwrap_or("");
    login_form(&state, StatusCode::OK, next, hint, None)
}

/// `POST /login`.
pub async fn submit(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let bad_form = || {
        page_error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The sign-in form could not be read.",
        )
    };
    let body = super::form_body(body, bad_form)?;
    if media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(bad_form());
    }
    let form = FormParams::parse(&body).map_err(|_| bad_form())?;
    let field = |name| form.single(name).map_err(|_| bad_form());
    let next = safe_next(field("next")?).to_owned();
    let expected = cookie(&headers, login_csrf_cookie(&state.config)).unwrap_or("");
    let csrf_ok = field("csrf")?.is_some_and(|given| {
        SecretKind::LoginCsrf.matches(given) && constant_time_eq(given, expected)
    });
    if !csrf_ok {
        return Err(page_error(
            StatusCode::FORBIDDEN,
            "Sign-in form expired",
            "The sign-in form was not valid any more. Go back, reload the page and try again.",
        ));
    }
    let username = field("username")?.unwrap_or("");
    let password = field("password")?.unwrap_or("");
    // Checked before the password, for every name, existing or not: the
    // right password inside the wait is refused too, so the wait is no oracle.
    let now = state.clock.now();
    if let Some(wait) = state.login_failures.check(username, ip, now) {
        tracing::info!(client.ip = %ip, "sign-in throttled");
        state.metrics.signin(SigninOutcome::Throttled);
        return Ok(too_many("/login", wait));
    }
    let user = state
        .passwords
        .verify(&state.db, username, password)
        .await
        .map_err(|e| match e {
            session::CheckError::Store(e) => HttpError::Store(e),
            session::CheckError::Interrupted => HttpError::Internal(e.to_string()),
        })?;
    let Some(user) = user else {
        state.login_failures.failed(username, ip, now);
        tracing::info!(client.ip = %ip, "sign-in failed");
        state.metrics.signin(SigninOutcome::Failed);
        // The audit row goes to the named user, if there is one; the response
        // is the same either way.
        let named = match crate::oauth::account::Username::parse(username) {
            Ok(n) => crate::store::users::find_by_username(&state.db, n.as_str()).await?,
            Err(_) => None,
        };
        // The typed name is kept only when it names a user: a name that
        // matches nobody may be a password typed into the wrong field.
        Event::new(Kind::SigninFailed)
            .maybe_user(named.as_ref().map(|u| u.id.as_str()))
            .ip(ip)
            .detail(
                named
                    .as_ref()
                    .map_or("unknown user name", |u| u.username.as_str()),
            )
            .record(&state.db, &state.clock)
            .await;
        let shown_name: String = username.chars().take(64).collect();
        return login_form(
            &state,
            StatusCode::UNAUTHORIZED,
            &next,
            &shown_name,
            Some(FAILED),
        );
    };
    state.login_failures.succeeded(username, ip);
    state.metrics.signin(SigninOutcome::Succeeded);
    Event::new(Kind::SigninSucceeded)
        .user(&user.id)
        .ip(ip)
        .record(&state.db, &state.clock)
        .await;
    if let Some(old) = &session.0 {
        session::end(&state.db, &old.info.id_hash).await?;
    }
    let id = session::start(&state.db, &state.clock, &state.config, &user).await?;
    // 303: the browser follows with a GET, never re-posting the password.
    let mut response = Redirect::to(&next).into_response();
    add_cookie(
        &mut response,
        set_cookie(&state.config, session_cookie(&state.config), id.expose())?,
    );
    add_cookie(
        &mut response,
        clear_cookie(&state.config, login_csrf_cookie(&state.config)),
    );
    Ok(response)
}

/// `POST /logout`: ends the session (CSRF-protected; `GET` does nothing).
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let Some(active) = session.0 else {
        return Ok(Redirect::to("/login").into_response());
    };
    let form = body
        .ok()
        .filter(|_| media_type(&headers).as_deref() == Some("application/x-www-form-urlencoded"))
        .and_then(|b| FormParams::parse(&b).ok())
        .unwrap_or_default();
    check_csrf(&active, &form)?;
    session::end(&state.db, &active.info.id_hash).await?;
    tracing::info!(user.id = %active.info.user.id, "user signed out");
    let mut response = Redirect::to("/login").into_response();
    add_cookie(
        &mut response,
        clear_cookie(&state.config, session_cookie(&state.config)),
    );
    Ok(response)
}

/// Refuses a form whose `csrf` is not this session's token.
pub fn check_csrf(active: &ActiveSession, form: &FormParams) -> Result<(), HttpError> {
    if active.csrf_matches(form.single("csrf").ok().flatten()) {
        return Ok(());
    }
    Err(page_error(
        StatusCode::FORBIDDEN,
        "Form expired",
        "This form is no longer valid. Go back, reload the page and try again.",
    ))
}
