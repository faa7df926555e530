//! `GET/POST /signup`: self-service accounts, when `accounts.signup` is on.

use askama::Template;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::layout::Layout;
use super::{
    add_cookie, clear_cookie, login_csrf_cookie, page_error, render, session_cookie, set_cookie,
};
use crate::crypto::{Secret, SecretKind, constant_time_eq};
use crate::http::error::HttpError;
use crate::http::extract::{FormParams, cookie, media_type};
use crate::http::state::AppState;
use crate::oauth::account::{self, AccountError};
use crate::oauth::session;

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage<'a> {
    layout: Layout,
    csrf: &'a str,
    username: &'a str,
    error: Option<&'a str>,
}

fn closed() -> HttpError {
    page_error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing at this address.",
    )
}

fn signup_form(
    state: &AppState,
    status: StatusCode,
    username: &str,
    error: Option<&str>,
) -> Result<Response, HttpError> {
    let csrf = Secret::generate(SecretKind::LoginCsrf);
    let mut response = render(
        status,
        &SignupPage {
            layout: Layout::anonymous(&state.config),
            csrf: csrf.expose(),
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

/// `GET /signup`.
pub async fn show(State(state): State<AppState>) -> Result<Response, HttpError> {
    if !state.config.accounts.signup {
        return Err(closed());
    }
    signup_form(&state, StatusCode::OK, "", None)
}

/// `POST /signup`: makes the account and signs it in.
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    if !state.config.accounts.signup {
        return Err(closed());
    }
    let bad = || {
        page_error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form could not be read.",
        )
    };
    let body = super::form_body(body, bad)?;
    if media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(bad());
    }
    let form = FormParams::parse(&body).map_err(|_| bad())?;
    let field = |name| form.single(name).ok().flatten().unwrap_or("");
    let expected = cookie(&headers, login_csrf_cookie(&state.config)).unwrap_or("");
    let given = field("csrf");
    if !(SecretKind::LoginCsrf.matches(given) && constant_time_eq(given, expected)) {
        return Err(page_error(
            StatusCode::FORBIDDEN,
            "Form expired",
            "The form was not valid any more. Go back, reload the page and try again.",
        ));
    }
    let username: String = field("username").chars().take(64).collect();
    if field("password") != field("confirm") {
        return signup_form(
            &state,
            StatusCode::BAD_REQUEST,
            &username,
            Some("The passwords do not match."),
        );
    }
    let created = account::create_user(
        &state.db,
        &state.clock,
        &state.passwords,
        &username,
        field("password"),
        false,
    )
    .await;
    let user = match created {
        Ok(u) => u,
        Err(AccountError::Refused(m)) => {
            return signup_form(&state, StatusCode::BAD_REQUEST, &username, Some(&m));
        }
        Err(AccountError::Taken) => {
            return signup_form(
                &state,
                StatusCode::BAD_REQUEST,
                &username,
                Some("That user name is taken."),
            );
        }
        Err(AccountError::Failed(e)) => return Err(e.into()),
        Err(AccountError::WrongPassword) => {
            return Err(HttpError::Internal("no current password at sign-up".into()));
        }
    };
    let id = session::start(&state.db, &state.clock, &state.config, &user).await?;
    let mut response = Redirect::to("/").into_response();
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
