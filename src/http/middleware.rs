//! Cross-cutting layers: request ids, the request span, security headers.

use axum::extract::{MatchedPath, Request};
use axum::http::HeaderValue;
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Span;

/// Pages load nothing from elsewhere, run no inline script, and may not be
/// framed (RFC 9700 §4.16 clickjacking). `form-action` is left out on purpose:
/// Chromium applies it to the redirect after the consent form is posted.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https:; \
object-src 'none'; base-uri 'none'; frame-ancestors 'none'";

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

/// The span every request is logged in: method, route template and request id.
/// Never the URI: query strings can carry codes, state and access tokens.
pub fn request_span(request: &Request) -> Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("<unmatched>", MatchedPath::as_str);
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
    )
}
