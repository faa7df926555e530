//! The user's settings pages: personal access tokens, authorized
//! applications, their own OAuth applications, the profile, and the
//! password.
//!
//! Every page needs a session (else sign-in, coming back here); every change
//! is a POST with the session's CSRF token; pages work without JavaScript.

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::layout::Layout;
use super::login::check_csrf;
use super::{ActiveSession, Session, page_error, render};
use crate::clock::format_utc;
use crate::http::error::HttpError;
use crate::http::extract::{FormParams, PathId, media_type};
use crate::http::limits::{ClientIp, too_many};
use crate::http::state::AppState;
use crate::oauth::account::{self, AccountError};
use crate::oauth::registration::{self, AuthMethod, ClientMetadata, GrantType, Policy};
use crate::oauth::{self, grants, personal};
use crate::store::{self, clients::Client};

/// The signed-in session, or the way to sign in and come back to `path`.
fn require(session: Session, path: &str) -> Result<ActiveSession, HttpError> {
    session.0.ok_or_else(|| HttpError::SignIn {
        next: path.to_owned(),
    })
}

/// Reads a form body and checks its CSRF token against the session.
fn form(
    active: &ActiveSession,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<FormParams, HttpError> {
    let unreadable = || {
        page_error(
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form could not be read.",
        )
    };
    let body = super::form_body(body, unreadable)?;
    if media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(unreadable());
    }
    let form = FormParams::parse(&body).map_err(|_| unreadable())?;
    check_csrf(active, &form)?;
    Ok(form)
}

fn when(unix: i64) -> String {
    let full = format_utc(unix);
    // "YYYY-MM-DD HH:MM UTC": seconds add nothing here.
    format!("{} UTC", &full[..16])
}

fn when_opt(unix: Option<i64>, none: &str) -> String {
    unix.map_or_else(|| none.to_owned(), when)
}

fn not_found() -> HttpError {
    page_error(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is nothing here, or it is not yours.",
    )
}

#[derive(Template)]
#[template(path = "confirm.html")]
struct ConfirmPage<'a> {
    layout: Layout,
    title: &'a str,
    message: String,
    action: String,
    button: &'a str,
    back: &'a str,
    csrf: String,
}

/// `GET /settings`.
pub async fn index() -> Redirect {
    Redirect::to("/settings/tokens")
}

// ---------------------------------------------------------------------------
// Personal access tokens

struct TokenLine {
    id: String,
    label: String,
    scope: String,
    created: String,
    last_used: String,
    expires: String,
    status: &'static str,
    active: bool,
}

struct ScopeChoice<'a> {
    name: &'a str,
    description: &'a str,
    checked: bool,
}

#[derive(Template)]
#[template(path = "settings_tokens.html")]
struct TokensPage<'a> {
    layout: Layout,
    csrf: String,
    tokens: Vec<TokenLine>,
    scopes: Vec<ScopeChoice<'a>>,
    created: Option<String>,
    label: String,
    label_error: Option<String>,
    scope_error: Option<String>,
}

#[derive(Default)]
struct TokenForm {
    created: Option<String>,
    label: String,
    checked: Vec<String>,
    label_error: Option<String>,
    scope_error: Option<String>,
}

async fn tokens_page(
    state: &AppState,
    active: &ActiveSession,
    status: StatusCode,
    form: TokenForm,
) -> Result<Response, HttpError> {
    let now = state.clock.now();
    let tokens = personal::list(&state.db, &active.info.user)
        .await?
        .into_iter()
        .map(|t| {
            let status = if t.revoked_at.is_some() {
                "revoked"
            } else if t.expires_at.is_some_and(|e| e <= now) {
                "expired"
            } else {
                "active"
            };
            TokenLine {
                id: t.public_id,
                label: t.label.unwrap_or_default(),
                scope: t.scope,
                created: when(t.created_at),
                last_used: when_opt(t.last_used_at, "never"),
                expires: when_opt(t.expires_at, "never"),
                status,
                active: status == "active",
            }
        })
        .collect();
    let scopes = state
        .config
        .scopes
        .catalogue
        .iter()
        .map(|(name, description)| ScopeChoice {
            name: name.as_str(),
            description,
            checked: form.checked.iter().any(|c| c == name.as_str()),
        })
        .collect();
    render(
        status,
        &TokensPage {
            layout: Layout::signed_in(&state.config, active),
            csrf: active.csrf(),
            tokens,
            scopes,
            created: form.created,
            label: form.label,
            label_error: form.label_error,
            scope_error: form.scope_error,
        },
    )
}

/// `GET /settings/tokens`.
pub async fn tokens(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/tokens")?;
    tokens_page(&state, &active, StatusCode::OK, TokenForm::default()).await
}

/// `POST /settings/tokens`: creates a token and shows it once.
pub async fn create_token(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/tokens")?;
    let form = form(&active, &headers, body)?;
    let label = form
        .single("label")
        .ok()
        .flatten()
        .unwrap_or("")
        .trim()
        .to_owned();
    let checked: Vec<String> = form.all("scope").map(str::to_owned).collect();
    let expires_in = match form.single("expires_in").ok().flatten() {
        Some("7") => Some(7),
        Some("90") => Some(90),
        Some("never") => None,
        _ => Some(30),
    };
    let mut problem = TokenForm {
        label: label.clone(),
        checked: checked.clone(),
        ..TokenForm::default()
    };
    if label.is_empty() {
        problem.label_error = Some("Give the token a label you will recognise it by.".into());
    }
    if checked.is_empty() {
        problem.scope_error = Some("Pick at least one scope.".into());
    }
    if problem.label_error.is_some() || problem.scope_error.is_some() {
        return tokens_page(&state, &active, StatusCode::BAD_REQUEST, problem).await;
    }
    let created = personal::create(
        &state.db,
        &state.clock,
        &state.config,
        &active.info.user,
        &checked.join(" "),
        Some(&label),
        expires_in,
    )
    .await;
    match created {
        Ok(c) => {
            let form = TokenForm {
                created: Some(c.token.expose().to_owned()),
                ..TokenForm::default()
            };
            tokens_page(&state, &active, StatusCode::OK, form).await
        }
        Err(oauth::Error::Refused(e)) => {
            problem.scope_error = Some(e.description.into_owned());
            tokens_page(&state, &active, StatusCode::BAD_REQUEST, problem).await
        }
        Err(oauth::Error::Store(e)) => Err(e.into()),
    }
}

/// `GET /settings/tokens/{id}/revoke`: asks first.
pub async fn confirm_revoke_token(
    State(state): State<AppState>,
    session: Session,
    PathId(id): PathId,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/tokens")?;
    let tokens = personal::list(&state.db, &active.info.user).await?;
    let Some(token) = tokens
        .iter()
        .find(|t| t.public_id == id && t.revoked_at.is_none())
    else {
        return Err(not_found());
    };
    render(
        StatusCode::OK,
        &ConfirmPage {
            layout: Layout::signed_in(&state.config, &active),
            title: "Revoke this token?",
            message: format!(
                "Anything using \u{201c}{}\u{201d} will stop working at once. This cannot be undone.",
                token.label.as_deref().unwrap_or(&token.public_id)
            ),
            action: format!("/settings/tokens/{id}/revoke"),
            button: "Revoke token",
            back: "/settings/tokens",
            csrf: active.csrf(),
        },
    )
}

/// `POST /settings/tokens/{id}/revoke`.
pub async fn revoke_token(
    State(state): State<AppState>,
    session: Session,
    PathId(id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/tokens")?;
    form(&active, &headers, body)?;
    let user_id = &active.info.user.id;
    if !personal::revoke_of(&state.db, &state.clock, user_id, &id).await? {
        return Err(not_found());
    }
    Ok(Redirect::to("/settings/tokens").into_response())
}

// ---------------------------------------------------------------------------
// Authorized applications

struct AppLine {
    client_id: String,
    name: String,
    website: Option<String>,
    scope: String,
    granted: String,
    last_used: String,
    /// The resources granted (RFC 8707), by registered name or URI.
    resources: Vec<String>,
}

#[derive(Template)]
#[template(path = "settings_authorizations.html")]
struct AuthorizationsPage {
    layout: Layout,
    apps: Vec<AppLine>,
}

/// `GET /settings/authorizations`.
pub async fn authorizations(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/authorizations")?;
    let mut apps = Vec::new();
    for a in store::consents::list_for_user(&state.db, &active.info.user.id).await? {
        let resources = crate::oauth::resource::display_names(
            &state.db,
            &crate::oauth::resource::Resources::from_stored(a.resources.as_deref()),
        )
        .await?;
        apps.push(AppLine {
            name: if a.client_name.is_empty() {
                a.client_id.clone()
            } else {
                a.client_name
            },
            client_id: a.client_id,
            website: a.website,
            scope: a.scope,
            granted: when(a.granted_at),
            last_used: when_opt(a.last_used_at, "never"),
            resources,
        });
    }
    render(
        StatusCode::OK,
        &AuthorizationsPage {
            layout: Layout::signed_in(&state.config, &active),
            apps,
        },
    )
}

/// `GET /settings/authorizations/{client_id}/revoke`: asks first.
pub async fn confirm_revoke_authorization(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/authorizations")?;
    let apps = store::consents::list_for_user(&state.db, &active.info.user.id).await?;
    let Some(app) = apps.iter().find(|a| a.client_id == client_id) else {
        return Err(not_found());
    };
    let name = if app.client_name.is_empty() {
        &app.client_id
    } else {
        &app.client_name
    };
    render(
        StatusCode::OK,
        &ConfirmPage {
            layout: Layout::signed_in(&state.config, &active),
            title: "Revoke this application?",
            message: format!(
                "{name} will lose access to your account at once, and will have to ask again."
            ),
            action: format!("/settings/authorizations/{client_id}/revoke"),
            button: "Revoke access",
            back: "/settings/authorizations",
            csrf: active.csrf(),
        },
    )
}

/// `POST /settings/authorizations/{client_id}/revoke`.
pub async fn revoke_authorization(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/authorizations")?;
    form(&active, &headers, body)?;
    grants::revoke_authorization(&state.db, &state.clock, &active.info.user.id, &client_id)
        .await
        .map_err(HttpError::from)?;
    Ok(Redirect::to("/settings/authorizations").into_response())
}

// ---------------------------------------------------------------------------
// The user's own applications

struct DevLine {
    client_id: String,
    name: String,
    kind: &'static str,
    created: String,
    owned: bool,
}

#[derive(Default)]
struct AppForm {
    name: String,
    website: String,
    redirect_uris: String,
    public: bool,
    device: bool,
}

#[derive(Template)]
#[template(path = "settings_developers.html")]
struct DevelopersPage {
    layout: Layout,
    csrf: String,
    apps: Vec<DevLine>,
    form: AppForm,
    error: Option<String>,
}

fn kind(client: &Client) -> &'static str {
    if client.is_public() {
        "public"
    } else {
        "confidential"
    }
}

/// May this user manage this client? Owners may; admins may manage the
/// clients registered through the API or the CLI.
fn may_manage(active: &ActiveSession, client: &Client) -> bool {
    let user = &active.info.user;
    match &client.owner_id {
        Some(owner) => *owner == user.id,
        None => user.is_admin,
    }
}

async fn developers_page(
    state: &AppState,
    active: &ActiveSession,
    status: StatusCode,
    form: AppForm,
    error: Option<String>,
) -> Result<Response, HttpError> {
    let user = &active.info.user;
    let mut clients = store::clients::list_owned(&state.db, &user.id).await?;
    if user.is_admin {
        clients.extend(store::clients::list_unowned(&state.db).await?);
    }
    let apps = clients
        .iter()
        .map(|c| DevLine {
            client_id: c.id.clone(),
            name: super::consent::display_name(c).to_owned(),
            kind: kind(c),
            created: when(c.created_at),
            owned: c.owner_id.is_some(),
        })
        .collect();
    render(
        status,
        &DevelopersPage {
            layout: Layout::signed_in(&state.config, active),
            csrf: active.csrf(),
            apps,
            form,
            error,
        },
    )
}

/// `GET /settings/developers`.
pub async fn developers(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    developers_page(&state, &active, StatusCode::OK, AppForm::default(), None).await
}

/// Redirect URIs from a textarea: one per line (any whitespace separates).
fn lines(raw: &str) -> Vec<String> {
    raw.split_whitespace().map(str::to_owned).collect()
}

/// `POST /settings/developers`: registers an app owned by this user and shows
/// its secret once.
pub async fn create_app(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    let params = form(&active, &headers, body)?;
    let field = |name| params.single(name).ok().flatten().unwrap_or("").to_owned();
    let entered = AppForm {
        name: field("name"),
        website: field("website"),
        redirect_uris: field("redirect_uris"),
        public: field("client_type") == "public",
        device: field("device") == "on",
    };
    let meta = ClientMetadata {
        client_name: Some(entered.name.clone()),
        redirect_uris: lines(&entered.redirect_uris),
        client_uri: Some(entered.website.trim().to_owned()).filter(|w| !w.is_empty()),
        token_endpoint_auth_method: entered.public.then(|| AuthMethod::None.as_str().to_owned()),
        grant_types: entered.device.then(|| {
            [
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::DeviceCode,
            ]
            .iter()
            .map(|g| g.as_str().to_owned())
            .collect()
        }),
        ..ClientMetadata::default()
    };
    let registered = registration::register(
        &state.db,
        &state.clock,
        meta,
        Policy::from_config(&state.config),
        Some(&active.info.user.id),
    )
    .await;
    match registered {
        Ok(r) => {
            let client = store::clients::find(&state.db, &r.client_id)
                .await?
                .ok_or_else(not_found)?;
            let secret = r.secret.as_ref().map(|s| s.expose().to_owned());
            app_page(
                &state,
                &active,
                &client,
                AppNotes {
                    secret,
                    notice: Some("Application registered.".into()),
                    ..AppNotes::default()
                },
            )
        }
        Err(oauth::Error::Refused(e)) => {
            let message = e.description.into_owned();
            developers_page(
                &state,
                &active,
                StatusCode::BAD_REQUEST,
                entered,
                Some(message),
            )
            .await
        }
        Err(oauth::Error::Store(e)) => Err(e.into()),
    }
}

struct AppView {
    client_id: String,
    name: String,
    website: String,
    redirect_uris: String,
    post_logout_redirect_uris: String,
    scope: String,
    kind: &'static str,
    confidential: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "developer_app.html")]
struct AppPage {
    layout: Layout,
    csrf: String,
    app: AppView,
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
}

#[derive(Default)]
struct AppNotes {
    secret: Option<String>,
    notice: Option<String>,
    error: Option<String>,
    status: Option<StatusCode>,
}

fn app_page(
    state: &AppState,
    active: &ActiveSession,
    client: &Client,
    notes: AppNotes,
) -> Result<Response, HttpError> {
    render(
        notes.status.unwrap_or(StatusCode::OK),
        &AppPage {
            layout: Layout::signed_in(&state.config, active),
            csrf: active.csrf(),
            app: AppView {
                client_id: client.id.clone(),
                name: super::consent::display_name(client).to_owned(),
                website: client.website.clone().unwrap_or_default(),
                redirect_uris: client
                    .redirect_uris
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                post_logout_redirect_uris: client
                    .post_logout_redirect_uris
                    .iter()
                    .map(|u| u.as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
                scope: client.scopes.to_string(),
                kind: kind(client),
                confidential: !client.is_public(),
                created: when(client.created_at),
            },
            secret: notes.secret,
            notice: notes.notice,
            error: notes.error,
        },
    )
}

/// The client with this id if this user may manage it.
async fn managed(
    state: &AppState,
    active: &ActiveSession,
    client_id: &str,
) -> Result<Client, HttpError> {
    match store::clients::find(&state.db, client_id).await? {
        Some(c) if may_manage(active, &c) => Ok(c),
        _ => Err(not_found()),
    }
}

/// `GET /settings/developers/{client_id}`.
pub async fn app(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    let client = managed(&state, &active, &client_id).await?;
    app_page(&state, &active, &client, AppNotes::default())
}

/// `POST /settings/developers/{client_id}`: edits name, website, redirect URIs
/// and post-logout redirect URIs.
pub async fn update_app(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    let params = form(&active, &headers, body)?;
    let client = managed(&state, &active, &client_id).await?;
    let field = |name| params.single(name).ok().flatten().unwrap_or("").to_owned();
    let website = field("website");
    let name = field("name");
    let updated = registration::update(
        &state.db,
        &state.clock,
        Policy::from_config(&state.config),
        &client,
        registration::AppChange {
            name: &name,
            website: Some(website.trim()).filter(|w| !w.is_empty()),
            redirect_uris: lines(&field("redirect_uris")),
            post_logout_redirect_uris: lines(&field("post_logout_redirect_uris")),
        },
    )
    .await;
    // The change notification evicts it too; this process need not wait.
    state.clients.evict(&client.id);
    match updated {
        Ok(_) => {
            let client = managed(&state, &active, &client_id).await?;
            app_page(
                &state,
                &active,
                &client,
                AppNotes {
                    notice: Some("Saved.".into()),
                    ..AppNotes::default()
                },
            )
        }
        Err(oauth::Error::Refused(e)) => app_page(
            &state,
            &active,
            &client,
            AppNotes {
                error: Some(e.description.into_owned()),
                status: Some(StatusCode::BAD_REQUEST),
                ..AppNotes::default()
            },
        ),
        Err(oauth::Error::Store(e)) => Err(e.into()),
    }
}

/// `POST /settings/developers/{client_id}/secret`: a new secret, shown once.
pub async fn regenerate_secret(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    form(&active, &headers, body)?;
    let client = managed(&state, &active, &client_id).await?;
    if client.is_public() {
        return Err(not_found());
    }
    let secret = registration::rotate_secret(&state.db, &state.clock, &client.id)
        .await
        .map_err(HttpError::from)?;
    state.clients.evict(&client.id);
    app_page(
        &state,
        &active,
        &client,
        AppNotes {
            secret: Some(secret.expose().to_owned()),
            notice: Some("New secret issued; the old one no longer works.".into()),
            ..AppNotes::default()
        },
    )
}

/// `GET /settings/developers/{client_id}/delete`: asks first.
pub async fn confirm_delete_app(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    let client = managed(&state, &active, &client_id).await?;
    render(
        StatusCode::OK,
        &ConfirmPage {
            layout: Layout::signed_in(&state.config, &active),
            title: "Delete this application?",
            message: format!(
                "{} will be deleted, and every token it holds stops working at once. This cannot be undone.",
                super::consent::display_name(&client)
            ),
            action: format!("/settings/developers/{client_id}/delete"),
            button: "Delete application",
            back: "/settings/developers",
            csrf: active.csrf(),
        },
    )
}

/// `POST /settings/developers/{client_id}/delete`.
pub async fn delete_app(
    State(state): State<AppState>,
    session: Session,
    PathId(client_id): PathId,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/developers")?;
    form(&active, &headers, body)?;
    let client = managed(&state, &active, &client_id).await?;
    registration::delete(&state.db, &client.id)
        .await
        .map_err(HttpError::from)?;
    state.clients.evict(&client.id);
    Ok(Redirect::to("/settings/developers").into_response())
}

// ---------------------------------------------------------------------------
// Password

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    layout: Layout,
    csrf: String,
    notice: Option<String>,
    error: Option<String>,
}

fn password_page(
    state: &AppState,
    active: &ActiveSession,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
) -> Result<Response, HttpError> {
    render(
        status,
        &PasswordPage {
            layout: Layout::signed_in(&state.config, active),
            csrf: active.csrf(),
            notice,
            error,
        },
    )
}

/// `GET /settings/password`.
pub async fn password(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/password")?;
    password_page(&state, &active, StatusCode::OK, None, None)
}

/// `POST /settings/password`: current + new password; other sessions end.
pub async fn change_password(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/password")?;
    let params = form(&active, &headers, body)?;
    let field = |name| params.single(name).ok().flatten().unwrap_or("");
    if field("new") != field("confirm") {
        let error = Some("The new passwords do not match.".to_owned());
        return password_page(&state, &active, StatusCode::BAD_REQUEST, None, error);
    }
    // Guessing the current password here is throttled like sign-in: a stolen
    // session must not become an unlimited password oracle.
    let username = active.info.user.username.as_str();
    let now = state.clock.now();
    if let Some(wait) = state.login_failures.check(username, ip, now) {
        tracing::info!(client.ip = %ip, user.id = %active.info.user.id, "password change throttled");
        return Ok(too_many("/settings/password", wait));
    }
    let changed = account::change_password(
        &state.db,
        &state.clock,
        &state.passwords,
        &active.info.user,
        &active.info.id_hash,
        field("current"),
        field("new"),
    )
    .await;
    match changed {
        Ok(()) => {
            state.login_failures.succeeded(username, ip);
            password_page(
                &state,
                &active,
                StatusCode::OK,
                Some("Password changed. Other sessions were signed out.".into()),
                None,
            )
        }
        Err(AccountError::WrongPassword) => {
            state.login_failures.failed(username, ip, now);
            let error = Some("The current password is not right.".to_owned());
            password_page(&state, &active, StatusCode::BAD_REQUEST, None, error)
        }
        Err(AccountError::Refused(m)) => {
            password_page(&state, &active, StatusCode::BAD_REQUEST, None, Some(m))
        }
        Err(AccountError::Taken) => Err(HttpError::Internal("unexpected name clash".into())),
        Err(AccountError::Failed(e)) => Err(e.into()),
    }
}

// ---------------------------------------------------------------------------
// Profile

#[derive(Template)]
#[template(path = "settings_profile.html")]
struct ProfilePage {
    layout: Layout,
    csrf: String,
    name: String,
    email: String,
    email_verified: bool,
    notice: Option<String>,
    error: Option<String>,
}

/// `GET /settings/profile`.
pub async fn profile(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/profile")?;
    let user = &active.info.user;
    render(
        StatusCode::OK,
        &ProfilePage {
            layout: Layout::signed_in(&state.config, &active),
            csrf: active.csrf(),
            name: user.name.clone().unwrap_or_default(),
            email: user.email.clone().unwrap_or_default(),
            email_verified: user.email_verified,
            notice: None,
            error: None,
        },
    )
}

/// `POST /settings/profile`: name and email address. A changed address is
/// no longer verified.
pub async fn save_profile(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/profile")?;
    let params = form(&active, &headers, body)?;
    let field = |name| params.single(name).ok().flatten().unwrap_or("");
    let (name, email) = (field("name"), field("email"));
    let page = |status, email_verified, notice, error| {
        render(
            status,
            &ProfilePage {
                layout: Layout::signed_in(&state.config, &active),
                csrf: active.csrf(),
                name: name.trim().to_owned(),
                email: email.trim().to_owned(),
                email_verified,
                notice,
                error,
            },
        )
    };
    let parsed = match account::Profile::parse(name, email) {
        Ok(parsed) => parsed,
        Err(e) => {
            let error = Some(e.description.into_owned());
            return page(StatusCode::BAD_REQUEST, false, None, error);
        }
    };
    let verified =
        account::set_profile(&state.db, &state.clock, &active.info.user, &parsed, None).await;
    match verified {
        Ok(verified) => page(
            StatusCode::OK,
            verified,
            Some("Profile saved.".into()),
            None,
        ),
        Err(AccountError::Failed(e)) => Err(e.into()),
        Err(e) => Err(HttpError::Internal(e.to_string())),
    }
}

// ---------------------------------------------------------------------------
// Activity (the audit trail)

struct ActivityLine {
    kind: String,
    what: &'static str,
    when: String,
    client: String,
    ip: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "settings_activity.html")]
struct ActivityPage {
    layout: Layout,
    events: Vec<ActivityLine>,
}

fn describe(kind: &str) -> &'static str {
    match kind {
        "signin_succeeded" => "Signed in",
        "signin_failed" => "Failed sign-in",
        "consent_granted" => "Approved an application",
        "consent_denied" => "Denied an application",
        "token_issued" => "Token issued",
        "token_refreshed" => "Token refreshed",
        "token_revoked" => "Token revoked",
        "code_replayed" => "Authorization code replayed (tokens revoked)",
        "refresh_reused" => "Refresh token reused (tokens revoked)",
        "client_registered" => "Application registered",
        "secret_rotated" => "Application secret replaced",
        "introspection_allowed" => "Application allowed to introspect every token",
        "introspection_withdrawn" => "Application may introspect only its own tokens again",
        "user_code_failed" => "Device code entered that matched no request",
        "device_approved" => "Approved a device",
        "device_denied" => "Denied a device",
        _ => "Event",
    }
}

/// `GET /settings/activity`: the user's last 100 audit events.
pub async fn activity(
    State(state): State<AppState>,
    session: Session,
) -> Result<Response, HttpError> {
    let active = require(session, "/settings/activity")?;
    let events = store::audit::list_for_user(&state.db, &active.info.user.id, 100)
        .await?
        .into_iter()
        .map(|e| ActivityLine {
            what: describe(&e.kind),
            kind: e.kind,
            when: when(e.at),
            client: e.client_id.unwrap_or_default(),
            ip: e.ip.unwrap_or_default(),
            detail: e.detail.unwrap_or_default(),
        })
        .collect();
    render(
        StatusCode::OK,
        &ActivityPage {
            layout: Layout::signed_in(&state.config, &active),
            events,
        },
    )
}
