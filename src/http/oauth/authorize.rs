//! `GET /oauth/authorize` (and `POST` with the same parameters), and the
//! consent decision `POST /oauth/authorize`.

use std::net::IpAddr;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::header::LOCATION;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

use crate::audit::{Event, Kind};
use crate::crypto::{Secret, SecretKind, sha256_hex};
use crate::http::error::HttpError;
use crate::http::extract::{FormParams, media_type};
use crate::http::limits::ClientIp;
use crate::http::state::AppState;
use crate::http::web::consent::{Consent, consent_page, oob_page};
use crate::http::web::login::check_csrf;
use crate::http::web::{ActiveSession, Session, page_error};
use crate::oauth::authorize::{self, ResolveError, Target};
use crate::oauth::client_metadata_document;
use crate::oauth::{ErrorCode, OAuthError};
use crate::store::auth_requests::AuthRequest;
use crate::store::{self};

/// `GET /oauth/authorize?…`.
pub async fn get(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    session: Session,
    uri: Uri,
    RawQuery(query): RawQuery,
) -> Result<Response, HttpError> {
    let raw = query.unwrap_or_default();
    let params = FormParams::parse(raw.as_bytes()).map_err(|_| unreadable())?;
    let back = Back {
        path: uri.path(),
        query: &raw,
    };
    request(&state, ip, session, &params, back, StatusCode::FOUND).await
}

/// Where sign-in returns to: the same endpoint (alias included) and query.
#[derive(Clone, Copy)]
struct Back<'a> {
    path: &'a str,
    query: &'a str,
}

/// `POST /oauth/authorize`: the consent decision when the form carries a
/// `request_id`, otherwise an authorization request sent as a form.
pub async fn post(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    session: Session,
    uri: Uri,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let body = crate::http::web::form_body(body, unreadable)?;
    if media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(unreadable());
    }
    let params = FormParams::parse(&body).map_err(|_| unreadable())?;
    if params.all("request_id").next().is_some() || params.all("decision").next().is_some() {
        return decide(&state, session, &params).await;
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    let back = Back {
        path: uri.path(),
        query: &raw,
    };
    request(&state, ip, session, &params, back, StatusCode::SEE_OTHER).await
}

fn unreadable() -> HttpError {
    page_error(
        StatusCode::BAD_REQUEST,
        "Cannot continue",
        "The authorization request could not be read: it holds malformed or invalid characters.",
    )
}

/// An authorization request: validate, sign in if needed, then ask or answer.
async fn request(
    state: &AppState,
    ip: IpAddr,
    session: Session,
    params: &FormParams,
    back: Back<'_>,
    redirect_status: StatusCode,
) -> Result<Response, HttpError> {
    let parsed = params.authorize_params();
    let lookup = authorize::Lookup {
        db: &state.db,
        documents: &state.documents,
        clock: &state.clock,
        config: &state.config,
        from: Some(ip),
    };
    let resolved = match authorize::resolve(lookup, &parsed).await {
        Ok(r) => {
            tracing::Span::current().record("client.id", r.client.id.as_str());
            r
        }
        Err(ResolveError::Page(message)) => {
            tracing::info!(
                reason = message,
                "authorization request refused before redirect"
            );
            return Err(HttpError::Page {
                status: StatusCode::BAD_REQUEST,
                title: "Cannot continue",
                message: message.into(),
            });
        }
        Err(ResolveError::Document(e)) => {
            tracing::info!(
                reason = %e,
                "authorization request refused: client metadata document"
            );
            return Err(HttpError::Page {
                status: StatusCode::BAD_REQUEST,
                title: "Cannot continue",
                message: format!("The application that sent you here cannot be used: {e}.").into(),
            });
        }
        Err(ResolveError::Store(e)) => return Err(e.into()),
    };
    // RFC 9700 §4.11.2: sign the user in before redirecting anything back, so
    // oauthd cannot be used as an open redirector by a self-registered client.
    // OpenID Connect `prompt=none` is the exception: the answer goes back
    // to the (validated) redirect URI at once, `login_required` or the
    // request's own error, since the client asked that no page be shown.
    let Some(active) = session.0 else {
        if authorize::prompt_none(&parsed) {
            let error = match authorize::validate(&resolved, &parsed, &state.config) {
                Ok(_) => authorize::login_required(),
                Err(e) => e,
            };
            return answer_error(
                state,
                &resolved.target,
                &error,
                resolved.state.as_deref(),
                redirect_status,
            );
        }
        // The sign-in about to happen satisfies `prompt=login` and
        // `max_age`: the way back drops them, so it is asked for once.
        let satisfied = !matches!(parsed.max_age, authorize::Param::Absent)
            || authorize::Prompt::parse(&parsed).is_ok_and(|p| p.login);
        return Ok(to_login(back, &parsed, satisfied));
    };
    let checked = match authorize::validate(&resolved, &parsed, &state.config) {
        Ok(v) => match authorize::check_resources(&state.db, &state.config, &resolved, &v).await {
            Ok(()) => Ok(v),
            Err(crate::oauth::Error::Refused(e)) => Err(e),
            Err(crate::oauth::Error::Store(e)) => return Err(e.into()),
        },
        Err(e) => Err(e),
    };
    let valid = match checked {
        Ok(v) => v,
        Err(error) => {
            tracing::info!(client.id = %resolved.client.id, error = %error.code, "authorization request refused");
            return answer_error(
                state,
                &resolved.target,
                &error,
                resolved.state.as_deref(),
                redirect_status,
            );
        }
    };
    // `prompt=login`, or a sign-in older than `max_age`: sign in again
    // (the way back drops `login` from `prompt` and drops `max_age`, so it
    // asks once: with `max_age=0` the next request would never be fresh).
    if authorize::needs_sign_in(&valid, active.info.created_at, state.clock.now()) {
        if valid.no_prompt {
            return answer_error(
                state,
                &resolved.target,
                &authorize::login_required(),
                resolved.state.as_deref(),
                redirect_status,
            );
        }
        return Ok(to_login(back, &parsed, true));
    }
    // OpenID Connect `id_token_hint`: the client believes another user is
    // signed in here. With `prompt=none` it hears `login_required`;
    // otherwise the user signs in again, once (the way back drops the hint).
    match authorize::hint_names_user(
        &state.db,
        &state.clock,
        &state.config,
        &state.keys,
        &parsed,
        &resolved.client,
        &active.info.user.id,
    )
    .await
    {
        Ok(true) => {}
        Ok(false) if valid.no_prompt => {
            return answer_error(
                state,
                &resolved.target,
                &authorize::login_required(),
                resolved.state.as_deref(),
                redirect_status,
            );
        }
        Ok(false) => return Ok(to_login(back, &parsed, true)),
        Err(crate::oauth::Error::Refused(error)) => {
            return answer_error(
                state,
                &resolved.target,
                &error,
                resolved.state.as_deref(),
                redirect_status,
            );
        }
        Err(crate::oauth::Error::Store(e)) => return Err(e.into()),
    }
    // A document client gets its row only now, once a signed-in user's
    // valid request is about to be decided (requests, consents, codes and
    // tokens reference it); a refused or abandoned request stores nothing.
    if client_metadata_document::is_document_client(&resolved.client) {
        client_metadata_document::persist(&state.db, &resolved.client, state.clock.now()).await?;
    }
    if authorize::consent_remembered(&state.db, &resolved.client, &valid, &active.info.user.id)
        .await?
    {
        let request = authorize::pending(
            &resolved,
            &valid,
            &active.info.id_hash,
            String::new(),
            &state.clock,
            &state.config,
        );
        let code = authorize::issue_code(
            &state.db,
            &state.clock,
            &state.config,
            &request,
            &active.info.user.id,
            active.info.created_at,
        )
        .await?;
        return deliver_to(
            state,
            &active,
            &resolved.client,
            &request,
            &code,
            redirect_status,
        );
    }
    // `prompt=none` and the user has not approved (public clients always
    // ask): the client hears `consent_required` instead of a page.
    if valid.no_prompt {
        let error = OAuthError::new(
            ErrorCode::ConsentRequired,
            "the user has not approved this request",
        );
        return answer_error(
            state,
            &resolved.target,
            &error,
            resolved.state.as_deref(),
            redirect_status,
        );
    }
    let request_id = Secret::generate(SecretKind::Request);
    let request = authorize::pending(
        &resolved,
        &valid,
        &active.info.id_hash,
        request_id.digest(),
        &state.clock,
        &state.config,
    );
    store::auth_requests::insert(&state.db, &request).await?;
    consent_page(
        &state.config,
        &active,
        &Consent {
            client: &resolved.client,
            scope: &valid.scope,
            resources: authorize_resources(state, &valid).await?,
            redirect_uri: request.redirect_uri.as_deref(),
            request_id: request_id.expose(),
        },
    )
}

/// How the consent page names the requested resources.
async fn authorize_resources(
    state: &AppState,
    valid: &authorize::ValidRequest,
) -> Result<Vec<String>, HttpError> {
    Ok(crate::oauth::resource::display_names(&state.db, &valid.resources).await?)
}

/// Longest `login_hint` carried to the sign-in page.
const MAX_LOGIN_HINT_LEN: usize = 256;

/// 303 to the sign-in page, coming back to the same request afterwards,
/// with the user name `login_hint` gives pre-filled. With `again`, the
/// way back asks no second time: `login` is dropped from `prompt`, and
/// `max_age` is dropped.
fn to_login(back: Back<'_>, params: &authorize::AuthorizeParams, again: bool) -> Response {
    let query = if again {
        after_sign_in(back.query)
    } else {
        back.query.to_owned()
    };
    let next = if query.is_empty() {
        back.path.to_owned()
    } else {
        format!("{}?{}", back.path, query)
    };
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("next", &next);
    if let authorize::Param::One(hint) = &params.login_hint
        && hint.len() <= MAX_LOGIN_HINT_LEN
    {
        form.append_pair("login_hint", hint);
    }
    let mut url = String::from("/login?");
    url.push_str(&form.finish());
    see_other(&url)
}

/// The request's query with `login` removed from `prompt` (and `prompt`
/// dropped when nothing is left) and without `max_age` and `id_token_hint`:
/// what the sign-in just done satisfies.
fn after_sign_in(query: &str) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        if k == "max_age" || k == "id_token_hint" {
            continue;
        }
        if k == "prompt" {
            let rest: Vec<&str> = v.split(' ').filter(|p| *p != "login").collect();
            let rest = rest.join(" ");
            if !rest.trim().is_empty() {
                out.append_pair(&k, &rest);
            }
        } else {
            out.append_pair(&k, &v);
        }
    }
    out.finish()
}

fn see_other(location: &str) -> Response {
    redirect(StatusCode::SEE_OTHER, location)
}

fn redirect(status: StatusCode, location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (status, [(LOCATION, value)]).into_response(),
        Err(_) => {
            HttpError::Internal("redirect target is not a header value".into()).into_response()
        }
    }
}

/// Sends an error to the client's redirect URI, or shows it when there is none.
fn answer_error(
    state: &AppState,
    target: &Target,
    error: &OAuthError,
    client_state: Option<&str>,
    status: StatusCode,
) -> Result<Response, HttpError> {
    match target {
        Target::Redirect(uri) => {
            let url = authorize::error_redirect(uri, error, client_state, state.config.issuer())
                .ok_or_else(|| {
                    HttpError::Internal("registered redirect URI does not parse".into())
                })?;
            Ok(redirect(status, url.as_str()))
        }
        Target::OutOfBand => Err(HttpError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Cannot continue",
            message: format!(
                "The application's request was refused: {} ({}).",
                error.description, error.code
            )
            .into(),
        }),
    }
}

/// Hands the code over: a redirect, or the page that shows it.
fn deliver_to(
    state: &AppState,
    active: &ActiveSession,
    client: &store::clients::Client,
    request: &AuthRequest,
    code: &Secret,
    status: StatusCode,
) -> Result<Response, HttpError> {
    match &request.redirect_uri {
        Some(uri) => {
            let url = authorize::success_redirect(
                uri,
                code.expose(),
                request.state.as_deref(),
                state.config.issuer(),
            )
            .ok_or_else(|| HttpError::Internal("registered redirect URI does not parse".into()))?;
            Ok(redirect(status, url.as_str()))
        }
        None => oob_page(&state.config, active, client, code.expose()),
    }
}

/// The user's decision on the consent page. Only the server-held request
/// counts: the form carries its id, a CSRF token and the decision, nothing else.
async fn decide(
    state: &AppState,
    session: Session,
    form: &FormParams,
) -> Result<Response, HttpError> {
    let Some(active) = session.0 else {
        return Err(page_error(
            StatusCode::FORBIDDEN,
            "Session ended",
            "You are no longer signed in. Start again from the application.",
        ));
    };
    check_csrf(&active, form)?;
    let expired = || {
        page_error(
            StatusCode::FORBIDDEN,
            "Request expired",
            "This authorization request has expired or was already answered. Start again from the application.",
        )
    };
    let request_id = form
        .single("request_id")
        .ok()
        .flatten()
        .filter(|id| SecretKind::Request.matches(id))
        .ok_or_else(expired)?;
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
    let request = store::auth_requests::take(
        &state.db,
        &sha256_hex(request_id),
        &active.info.id_hash,
        state.clock.now(),
    )
    .await?
    .ok_or_else(expired)?;
    let Some(client) = store::clients::find(&state.db, &request.client_id).await? else {
        return Err(page_error(
            StatusCode::BAD_REQUEST,
            "Cannot continue",
            "The application is no longer registered.",
        ));
    };
    tracing::Span::current().record("client.id", client.id.as_str());
    decided(state, &active, &client, &request, approve).await
}

async fn decided(
    state: &AppState,
    active: &ActiveSession,
    client: &store::clients::Client,
    request: &AuthRequest,
    approve: bool,
) -> Result<Response, HttpError> {
    let user_id = &active.info.user.id;
    if !approve {
        tracing::info!(client.id = %client.id, user.id = %user_id, "user denied the authorization request");
        Event::new(Kind::ConsentDenied)
            .user(user_id)
            .client(&client.id)
            .record(&state.db, &state.clock)
            .await;
        let target = match &request.redirect_uri {
            Some(uri) => Target::Redirect(uri.clone()),
            None => Target::OutOfBand,
        };
        let error = OAuthError::new(ErrorCode::AccessDenied, "the user denied the request");
        return answer_error(
            state,
            &target,
            &error,
            request.state.as_deref(),
            StatusCode::SEE_OTHER,
        );
    }
    let code = authorize::approve(
        &state.db,
        &state.clock,
        &state.config,
        request,
        user_id,
        active.info.created_at,
    )
    .await?;
    Event::new(Kind::ConsentGranted)
        .user(user_id)
        .client(&client.id)
        .detail(&request.scope)
        .record(&state.db, &state.clock)
        .await;
    tracing::info!(client.id = %client.id, user.id = %user_id, scope = %request.scope, "user approved the authorization request");
    deliver_to(state, active, client, request, &code, StatusCode::SEE_OTHER)
}
