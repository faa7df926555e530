//! Cross-cutting layers: request ids, the request span, security headers.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

use crate::http::state::AppState;
use crate::metrics::{self, RequestLabels};

/// Pages load nothing from elsewhere, run no inline script, and may not be
/// framed (RFC 9700 §4.16 clickjacking). `form-action` is left out on purpose:
/// Chromium applies it to the redirect after the consent form is posted.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

/// `Strict-Transport-Security` on every response when `public_url` is https
/// (RFC 6797): browsers then use https for this host for a year, even when a
/// user types or follows an http link. No `includeSubDomains`: `public_url`
/// may be an apex domain whose other subdomains oauthd knows nothing about.
/// Never sent when `public_url` is http (browsers ignore it there anyway, and
/// it would pin a host that has no TLS).
pub const HSTS: &str = "max-age=31536000";

/// Adds the security headers to every response. They matter on pages; on JSON
/// they cost nothing and keep the rule simple.
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // same-origin, not no-referrer: with no-referrer browsers send `Origin: null`
    // on the page's own form posts.
    h.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// The route of a request no route serves, in logs and metrics.
pub const UNMATCHED: &str = "unmatched";

/// The span every request is logged in: method, route template and request id.
/// Never the URI: query strings can carry codes, state and access tokens.
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str);
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.route = route,
        request.id = request_id,
        client.ip = tracing::field::Empty,
        client.id = tracing::field::Empty,
    )
}

/// Counts and times every request in the server's metrics, makes them the
/// request's current metrics (for audit events), and logs one access line
/// per request inside its span: status and latency here, method, route,
/// request id, client address and authenticated client id from the span.
pub async fn observe(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = std::time::Instant::now();
    let method = metrics::method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let response = metrics::scope(state.metrics.clone(), next.run(request)).await;
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    state.metrics.request(
        &RequestLabels {
            method,
            route,
            status,
        },
        elapsed.as_secs_f64(),
    );
    tracing::info!(
        target: "oauthd::access",
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        http.status = status,
        "request answered {status}"
    );
    response
}

/// CORS for browser clients on the token, revocation and introspection
/// endpoints and `/account` (never on `/oauth/authorize`): an origin some
/// client registered gets `Access-Control-Allow-Origin` with that exact origin,
/// never `*`, and never `Access-Control-Allow-Credentials` (no cookies are
/// involved: these endpoints take credentials in headers or the body).
pub async fn cors(
    axum::extract::State(state): axum::extract::State<crate::http::state::AppState>,
    request: Request,
    next: Next,
) -> Response {
    use axum::http::header::{
        ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
    };
    use axum::http::{Method, StatusCode};
    use axum::response::IntoResponse;

    let origin = request
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| o.len() <= 2048)
        .map(str::to_owned);
    let preflight = request.method() == Method::OPTIONS;
    let allowed = match &origin {
        Some(o) => match crate::store::clients::origin_allowed(&state.db, o).await {
            Ok(allowed) => allowed,
            Err(e) => return crate::http::error::HttpError::Store(e).into_response(),
        },
        None => false,
    };
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else {
        next.run(request).await
    };
    let h = response.headers_mut();
    h.append(VARY, HeaderValue::from_static("Origin"));
    if let (true, Some(origin)) = (allowed, origin)
        && let Ok(value) = HeaderValue::from_str(&origin)
    {
        h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, value);
        if preflight {
            h.insert(
                ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, POST"),
            );
            h.insert(
                ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static("authorization, content-type, accept"),
            );
            h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        }
    }
    response
}
