//! Cross-cutting layers: [`Edge`], the one service every request passes
//! through first (request id, span, client address, request-head checks,
//! error bodies, security headers, metrics and the access line), and
//! [`cors`] for the endpoints browser clients call.
//!
//! `Edge` is hand-written rather than a stack of `from_fn` layers: each of
//! those boxes a future and clones the inner service and the state for every
//! request, and these steps need none of that apart from one boxed future.

use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{
    CONTENT_SECURITY_POLICY, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt};
use tracing::Instrument;

use crate::audit;
use crate::http::error;
use crate::http::limits::{self, ClientIp};
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

/// The security headers every response gets. They matter on pages; on JSON
/// they cost nothing and keep the rule simple. `Referrer-Policy` is
/// same-origin, not no-referrer: with no-referrer browsers send
/// `Origin: null` on the page's own form posts.
const SECURITY_HEADERS: [(HeaderName, &str); 4] = [
    (CONTENT_SECURITY_POLICY, CSP),
    (X_FRAME_OPTIONS, "DENY"),
    (REFERRER_POLICY, "same-origin"),
    (X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// The request id header: a trusted proxy's, or one oauthd makes.
const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The route of a request no route serves, in logs and metrics.
pub const UNMATCHED: &str = "unmatched";

/// Makes [`Edge`] services; applied with `Router::layer`, so it runs after
/// routing and sees `MatchedPath`.
#[derive(Clone)]
pub struct EdgeLayer {
    state: AppState,
    /// `Strict-Transport-Security`, when `public_url` is https.
    hsts: bool,
}

impl EdgeLayer {
    /// The layer for this server.
    pub fn new(state: AppState) -> Self {
        let hsts = state.config.public_url.scheme() == "https";
        Self { state, hsts }
    }
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            state: self.state.clone(),
            hsts: self.hsts,
        }
    }
}

/// What every request passes through before its route's own layers, in
/// this order:
///
/// 1. the request id: an `x-request-id` is kept only from a trusted proxy;
///    otherwise oauthd makes one (a random UUID);
/// 2. the client address ([`limits::client_address`]), put in the request
///    as [`ClientIp`];
/// 3. the request span ([`request_span`]), which everything below runs in;
/// 4. the request-head checks ([`limits::refuse_head`]: 414, 400, 431);
/// 5. the inner service (panic catch, timeout, body limit, the route),
///    inside the metrics and audit scopes;
/// 6. the error body of a bare error status ([`error::finish`]);
/// 7. the security headers, HSTS and the request id on the response;
/// 8. the request counted in the metrics, and the one access line.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    state: AppState,
    hsts: bool,
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Error = Infallible> + Clone + Send + 'static,
    S::Response: IntoResponse,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // Call the service that was made ready; keep a fresh clone for next time.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        Box::pin(edge(self.state.clone(), self.hsts, inner, request))
    }
}

async fn edge<S>(
    state: AppState,
    hsts: bool,
    inner: S,
    mut request: Request,
) -> Result<Response, Infallible>
where
    S: Service<Request, Error = Infallible>,
    S::Response: IntoResponse,
{
    let started = Instant::now();
    let config = &state.config;
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    // An id from anyone but a trusted proxy is dropped, so the id in the
    // logs is either the proxy's or oauthd's own, never one a client picked.
    let request_id = match request.headers().get(&X_REQUEST_ID) {
        Some(id) if limits::is_trusted(peer, &config.trusted_proxies) => id.clone(),
        _ => {
            let id = new_request_id();
            request.headers_mut().insert(X_REQUEST_ID, id.clone());
            id
        }
    };
    let ip = limits::client_address(peer, request.headers(), &config.trusted_proxies);
    request.extensions_mut().insert(ClientIp(ip));
    let method = metrics::method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(UNMATCHED, MatchedPath::as_str)
        .to_owned();
    let span = request_span(&request, &route, request_id.to_str().unwrap_or(""), ip);
    let api = error::is_api_path(request.uri().path());
    async {
        let (response, recorded) = match limits::refuse_head(&request, config) {
            Some(refusal) => (refusal, audit::Recorded::default()),
            None => {
                let (answer, recorded) =
                    metrics::scope(state.metrics.clone(), audit::scope(inner.oneshot(request)))
                        .await;
                let Ok(answer) = answer;
                (answer.into_response(), recorded)
            }
        };
        let mut response = error::finish(config, api, request_id.to_str().ok(), response);
        let headers = response.headers_mut();
        for (name, value) in SECURITY_HEADERS {
            headers.insert(name, HeaderValue::from_static(value));
        }
        if hsts {
            headers.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
        }
        if !headers.contains_key(&X_REQUEST_ID) {
            headers.insert(X_REQUEST_ID, request_id);
        }
        let elapsed = started.elapsed();
        let status = response.status().as_u16();
        let seconds = elapsed.as_secs_f64();
        state.metrics.request(
            &RequestLabels {
                method,
                route,
                status,
            },
            seconds,
        );
        access_line(status, seconds * 1000.0, &recorded);
        Ok(response)
    }
    .instrument(span)
    .await
}

/// The span every request is logged in: method, route template, request id
/// and client address, and the client id once a client is authenticated
/// (`http::oauth::authenticate_client`, the authorize handlers and
/// `/account` fill it in). Never the URI: query strings can carry codes,
/// state and access tokens.
fn request_span(request: &Request, route: &str, request_id: &str, ip: IpAddr) -> tracing::Span {
    tracing::info_span!(
        "request",
        http.method = %request.method(),
        http.route = route,
        request.id = request_id,
        client.ip = %ip,
        client.id = tracing::field::Empty,
    )
}

/// The one info line of a request (target `oauthd::access`): its status and
/// latency, and what it did, as the kinds and ids of the audit events it
/// recorded (method, route, request id and client come from the span).
fn access_line(status: u16, latency_ms: f64, recorded: &audit::Recorded) {
    let kinds = (!recorded.kinds.is_empty()).then_some(tracing::field::display(recorded.kinds));
    tracing::info!(
        target: "oauthd::access",
        latency_ms,
        http.status = status,
        audit.kind = kinds,
        audit.user_id = recorded.user_id.as_deref(),
        audit.client_id = recorded.client_id.as_deref(),
        "request answered {status}"
    );
}

/// A new request id: a random UUID (version 4) in its usual text form. It
/// is no secret, so it comes from the thread's generator (no system call).
fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut bytes = [0u8; 16];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let mut text = [0u8; 36];
    let mut at = 0;
    for (i, b) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            text[at] = b'-';
            at += 1;
        }
        text[at] = HEX[usize::from(b >> 4)];
        text[at + 1] = HEX[usize::from(b & 0xf)];
        at += 2;
    }
    // Hex digits and dashes are always a valid header value.
    HeaderValue::from_bytes(&text).unwrap_or(HeaderValue::from_static("unknown"))
}

/// CORS for browser clients on the token, revocation and introspection
/// endpoints and `/account` (never on `/oauth/authorize`): an origin some
/// client registered gets `Access-Control-Allow-Origin` with that exact origin,
/// never `*`, and never `Access-Control-Allow-Credentials` (no cookies are
/// involved: these endpoints take credentials in headers or the body).
/// It also applies the rate limit of [`limits::over_limit`], so these routes
/// need no second layer.
pub async fn cors(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    use axum::http::header::{
        ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
        ACCESS_CONTROL_MAX_AGE, ORIGIN, VARY,
    };
    use axum::http::{Method, StatusCode};

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
    // The rate limit runs here, inside CORS, so a browser client sees its 429.
    let mut response = if preflight {
        StatusCode::NO_CONTENT.into_response()
    } else if let Some(refusal) = limits::over_limit(&state.limits, &request) {
        refusal
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

/// [`limits::over_limit`] as a route layer, for the routes outside `cors_routes`
/// (where [`cors`] applies it).
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    match limits::over_limit(&state.limits, &request) {
        Some(refusal) => refusal,
        None => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_version_4_uuids() {
        let a = new_request_id();
        let text = a.to_str().unwrap();
        assert_eq!(text.len(), 36);
        let groups: Vec<&str> = text.split('-').collect();
        assert_eq!(
            groups.iter().map(|g| g.len()).collect::<Vec<_>>(),
            [8, 4, 4, 4, 12]
        );
        assert!(groups[2].starts_with('4'), "{text}");
        assert!(groups[3].starts_with(['8', '9', 'a', 'b']), "{text}");
        assert!(
            text.chars()
                .all(|c| c == '-' || c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(a, new_request_id());
    }
}
