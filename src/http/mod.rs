//! The HTTP surface: every route in [`build_app`], the middleware stack, and
//! the handlers grouped by audience: `oauth` (protocol endpoints), `web`
//! (pages), `api` (registration and the protected resource), `ops`.
//!
//! Handlers extract, call one `oauth::` or `store::` function, and render.

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::TimeoutLayer;

pub mod api;
pub mod error;
pub mod extract;
pub mod limits;
pub mod listener;
pub mod middleware;
pub mod oauth;
pub mod openapi;
pub mod ops;
pub mod state;
pub mod web;

use state::AppState;

/// Largest request body any endpoint reads.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The whole router: routes, fallbacks and middleware.
pub fn build_app(state: AppState) -> Router {
    let preflight = || async { StatusCode::NO_CONTENT };
    // Endpoints browser clients may call cross-origin (CORS), aliases included.
    // Never /oauth/authorize: that is a top-level navigation, not an API.
    let cors_routes = Router::new()
        .route("/oauth/token", post(oauth::token::token).options(preflight))
        .route(
            "/oauth/access_token",
            post(oauth::token::token).options(preflight),
        )
        .route(
            "/oauth2/token/",
            post(oauth::token::token).options(preflight),
        )
        .route(
            "/oauth/revoke",
            post(oauth::revoke::revoke).options(preflight),
        )
        .route(
            "/oauth/introspect",
            post(oauth::introspect::introspect).options(preflight),
        )
        .route(
            oauth::userinfo::USERINFO_PATH,
            get(oauth::userinfo::userinfo)
                .post(oauth::userinfo::userinfo)
                .options(preflight),
        )
        .route(
            "/account",
            get(api::account::account)
                .post(api::account::account)
                .options(preflight),
        )
        // CORS applies the rate limit itself, inside, so a browser client
        // sees its 429 with the CORS headers: one layer on these hot routes.
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::cors,
        ));
    let routes = Router::new()
        // Protocol (token, revoke, introspect and /account are in cors_routes)
        .route(
            "/oauth/authorize",
            get(oauth::authorize::get).post(oauth::authorize::post),
        )
        .route(
            "/oauth/device_authorization",
            post(oauth::device::device_authorization),
        )
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata::metadata),
        )
        .route("/.well-known/jwks.json", get(oauth::metadata::jwks))
        .route(
            oauth::metadata::OPENID_CONFIGURATION_PATH,
            get(oauth::metadata::openid),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(oauth::metadata::protected_resource),
        )
        .route(
            "/.well-known/oauth-protected-resource/account",
            get(oauth::metadata::protected_resource),
        )
        // Pages
        .route("/", get(web::home))
        .route("/login", get(web::login::show).post(web::login::submit))
        .route("/logout", post(web::login::logout))
        .route(
            "/oauth/logout",
            get(web::end_session::end_session).post(web::end_session::end_session),
        )
        .route("/device", get(web::device::show).post(web::device::enter))
        .route("/device/decision", post(web::device::decide))
        .route("/static/oauthd.css", get(web::stylesheet))
        .route("/static/copy.js", get(web::copy_script))
        .route("/signup", get(web::signup::show).post(web::signup::submit))
        .route("/settings", get(web::settings::index))
        .route(
            "/settings/tokens",
            get(web::settings::tokens).post(web::settings::create_token),
        )
        .route(
            "/settings/tokens/{id}/revoke",
            get(web::settings::confirm_revoke_token).post(web::settings::revoke_token),
        )
        .route(
            "/settings/authorizations",
            get(web::settings::authorizations),
        )
        .route(
            "/settings/authorizations/{client_id}/revoke",
            get(web::settings::confirm_revoke_authorization)
                .post(web::settings::revoke_authorization),
        )
        .route(
            "/settings/developers",
            get(web::settings::developers).post(web::settings::create_app),
        )
        .route(
            "/settings/developers/{client_id}",
            get(web::settings::app).post(web::settings::update_app),
        )
        .route(
            "/settings/developers/{client_id}/secret",
            post(web::settings::regenerate_secret),
        )
        .route(
            "/settings/developers/{client_id}/delete",
            get(web::settings::confirm_delete_app).post(web::settings::delete_app),
        )
        .route("/settings/activity", get(web::settings::activity))
        .route(
            "/settings/password",
            get(web::settings::password).post(web::settings::change_password),
        )
        .route(
            "/settings/profile",
            get(web::settings::profile).post(web::settings::save_profile),
        )
        // API
        .route("/api/client", post(api::client::register))
        // Operations (/metrics: see with_metrics)
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/openapi.json", get(openapi::serve))
        // Aliases for clients written against other servers' docs
        .route(
            "/authorize",
            get(oauth::authorize::get).post(oauth::authorize::post),
        )
        .route(
            "/oauth2/authorize/",
            get(oauth::authorize::get).post(oauth::authorize::post),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::rate_limit,
        ))
        .merge(cors_routes);
    let on_main = state.config.metrics.enabled && state.config.metrics.listen.is_none();
    let routes = with_metrics(routes, on_main)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .with_state(state.clone());

    with_middleware(routes, state)
}

/// `GET /metrics` on a router, when `enabled`.
fn with_metrics(routes: Router<AppState>, enabled: bool) -> Router<AppState> {
    if enabled {
        routes.route("/metrics", get(ops::metrics))
    } else {
        routes
    }
}

/// The router for `metrics.listen`: `/metrics` and nothing else, with the
/// same middleware as the main router.
pub fn metrics_app(state: AppState) -> Router {
    let routes = with_metrics(Router::new(), true)
        .fallback(|| async { StatusCode::NOT_FOUND })
        .method_not_allowed_fallback(|| async { StatusCode::METHOD_NOT_ALLOWED })
        .with_state(state.clone());
    with_middleware(routes, state)
}

/// The middleware stack around every route, outermost first:
/// `middleware::Edge` (request id, span, client address, request-head
/// checks, error bodies, security headers, metrics and the access line),
/// then the panic catch, the timeout and the body limit. Applied with
/// `Router::layer`, so it runs after routing and sees `MatchedPath`.
fn with_middleware(routes: Router, state: AppState) -> Router {
    let request_timeout: Duration = state.config.http.request_timeout;
    let layers = ServiceBuilder::new()
        .layer(middleware::EdgeLayer::new(state))
        // Inside Edge, so a panic or a timeout becomes a plain status that
        // Edge gives its error body, headers and access line.
        .layer(CatchPanicLayer::custom(|_panic| {
            error::HttpError::Internal("handler panicked".into()).into_response()
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            request_timeout,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    routes.layer(layers)
}
