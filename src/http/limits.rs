//! Abuse limits at the HTTP edge: who the client is (behind trusted proxies),
//! per-address rate limits (governor's GCRA, keyed by address), the URL
//! length cap, and the request head's `Host` and size rules.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::header::{HOST, RETRY_AFTER};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use super::error::{HttpError, is_api_path, json_error};
use super::state::AppState;
use crate::config::{LimitsConfig, Rate};
use crate::oauth::ErrorCode;

/// The client's address: the socket peer, or, when the peer is a trusted
/// proxy, the right-most address in `X-Forwarded-For` / `Forwarded` that is
/// not itself a trusted proxy (the left-most is whatever the client claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Longest request target accepted (path and query).
pub const MAX_URI_LEN: usize = 8 * 1024;

/// Works out [`ClientIp`], records it on the request span, and refuses
/// over-long URLs with 414.
pub async fn client_ip(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0.ip());
    let ip = resolve(peer, request.headers(), &state.config.trusted_proxies);
    tracing::Span::current().record("client.ip", tracing::field::display(ip));
    request.extensions_mut().insert(ClientIp(ip));
    if request.uri().to_string().len() > MAX_URI_LEN {
        return StatusCode::URI_TOO_LONG.into_response();
    }
    next.run(request).await
}

/// Room the request line may take on top of `http.max_header_bytes` before
/// hyper cuts a request head off by itself (see `http::listener`): twice the
/// URL cap, so an over-long URL still reaches [`client_ip`] for its 414.
pub const REQUEST_LINE_ROOM: usize = 2 * MAX_URI_LEN;

/// Checks the request head before any route runs. RFC 9112 §3.2: an HTTP/1.1
/// request without a `Host` header, with more than one, or with one that is
/// no `host[:port]`, is 400. RFC 6585 §5: header fields that together exceed
/// `http.max_header_bytes` are 431.
pub async fn request_head(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Some(problem) = host_problem(&request) {
        return HttpError::Page {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            message: problem.into(),
        }
        .into_response();
    }
    if header_bytes(request.headers()) > state.config.http.max_header_bytes {
        return StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response();
    }
    next.run(request).await
}

/// What is wrong with the request's `Host` header, if anything.
fn host_problem(request: &Request) -> Option<&'static str> {
    let mut hosts = request.headers().get_all(HOST).iter();
    match (hosts.next(), hosts.next()) {
        // HTTP/1.0 made Host optional; HTTP/1.1 requires it.
        (None, _) if request.version() == Version::HTTP_11 => {
            Some("An HTTP/1.1 request must carry a Host header.")
        }
        (None, _) => None,
        (Some(_), Some(_)) => Some("A request may carry only one Host header."),
        (Some(host), None) if !is_host(host) => {
            Some("The Host header is not a host name with an optional port.")
        }
        (Some(_), None) => None,
    }
}

/// `uri-host [":" port]` (RFC 9110 §7.2): an authority without user information.
fn is_host(value: &HeaderValue) -> bool {
    value
        .to_str()
        .ok()
        .filter(|v| !v.contains('@'))
        .and_then(|v| v.parse::<Authority>().ok())
        .is_some()
}

/// The size of the header fields as sent: each `name: value` and its CRLF.
/// `X-Request-Id` is left out: by now it is the server's own (or a trusted
/// proxy's), set by an outer layer, not what the client sent.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .filter(|(name, _)| name.as_str() != "x-request-id")
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Drops an `X-Request-Id` that did not come from a trusted proxy, so the id
/// in the logs is either the proxy's or oauthd's own, never one a client
/// picked. Runs outermost, before the id is read.
pub async fn untrusted_request_id(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let trusted = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|c| {
            let ip = c.0.ip();
            state
                .config
                .trusted_proxies
                .iter()
                .any(|net| net.contains(&ip))
        });
    if !trusted {
        request.headers_mut().remove("x-request-id");
    }
    next.run(request).await
}

fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(ip))
        .or_else(|| hops.first())
        .copied()
        .unwrap_or(peer)
}

/// The addresses a request passed through, first to last, from
/// `X-Forwarded-For` or, if absent, the `for=` of `Forwarded` (RFC 7239).
fn forwarded_hops(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let xff = values("x-forwarded-for");
    if !xff.is_empty() {
        return xff.iter().filter_map(|h| parse_hop(h)).collect();
    }
    values("forwarded")
        .iter()
        .filter_map(|element| {
            element.split(';').find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                k.eq_ignore_ascii_case("for")
                    .then(|| parse_hop(v.trim_matches('"')))?
            })
        })
        .collect()
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[::1]`, `[::1]:80` or `::1`.
fn parse_hop(raw: &str) -> Option<IpAddr> {
    let raw = raw.trim();
    if let Ok(ip) = raw.parse() {
        return Some(ip);
    }
    if let Ok(sa) = raw.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    raw.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|r| r.parse().ok())
}

type Keyed =
    RateLimiter<IpAddr, governor::state::keyed::DefaultKeyedStateStore<IpAddr>, DefaultClock>;

/// The per-address rate limiters, one per endpoint group.
#[derive(Clone, Debug, Default)]
pub struct RateLimits {
    login: Option<Arc<Keyed>>,
    token: Option<Arc<Keyed>>,
    introspect: Option<Arc<Keyed>>,
    revoke: Option<Arc<Keyed>>,
    register: Option<Arc<Keyed>>,
}

fn limiter(rate: Option<Rate>) -> Option<Arc<Keyed>> {
    let rate = rate?;
    let requests = NonZeroU32::new(rate.requests)?;
    let interval = rate
        .per
        .checked_div(rate.requests)?
        .max(Duration::from_nanos(1));
    let quota = Quota::with_period(interval)?.allow_burst(requests);
    Some(Arc::new(RateLimiter::keyed(quota)))
}

impl RateLimits {
    /// Limiters as configured.
    pub fn new(config: &LimitsConfig) -> Self {
        Self {
            login: limiter(config.login),
            token: limiter(config.token),
            introspect: limiter(config.introspect),
            revoke: limiter(config.revoke),
            register: limiter(config.register),
        }
    }

    fn for_route(&self, route: &str) -> Option<&Arc<Keyed>> {
        match route {
            "/login" | "/signup" => self.login.as_ref(),
            "/oauth/token" | "/oauth/access_token" | "/oauth2/token/" => self.token.as_ref(),
            "/oauth/introspect" => self.introspect.as_ref(),
            "/oauth/revoke" => self.revoke.as_ref(),
            "/api/client" => self.register.as_ref(),
            _ => None,
        }
    }

    /// Drops the state of addresses whose limit has fully recovered, so the
    /// maps do not grow without bound.
    pub fn shrink(&self) {
        for l in [
            &self.login,
            &self.token,
            &self.introspect,
            &self.revoke,
            &self.register,
        ]
        .into_iter()
        .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Answers 429 with `Retry-After` (and the RFC error body on API paths) when
/// the client's address is over the limit of the route it asks for. Only
/// POSTs count: the limited routes change state or check secrets by POST.
pub async fn rate_limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
        .unwrap_or_default();
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0);
    if let Some(limiter) = state.limits.for_route(&route)
        && let Err(not_until) = limiter.check_key(&ip)
    {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        tracing::info!(client.ip = %ip, route, "rate limit hit");
        return too_many(&route, seconds.max(1));
    }
    next.run(request).await
}

/// A 429 in the shape the path calls for.
pub fn too_many(path: &str, retry_after: u64) -> Response {
    let mut response = if is_api_path(path) {
        json_error(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::SlowDown,
            Some(&format!(
                "too many requests; retry in {retry_after} second{}",
                if retry_after == 1 { "" } else { "s" }
            )),
        )
    } else {
        HttpError::Page {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many attempts",
            message: format!("Too many attempts. Try again in {retry_after} seconds.").into(),
        }
        .into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, v);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec![
            "127.0.0.2/32".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let xff = headers(&[("x-forwarded-for", "203.0.113.9")]);
        let untrusted_peer: IpAddr = "127.0.0.1".parse().unwrap();
        let proxy: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(resolve(untrusted_peer, &xff, &trusted), untrusted_peer);
        assert_eq!(
            resolve(proxy, &xff, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // The right-most untrusted hop, not the client-supplied left-most one.
        let spoofed = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            resolve(proxy, &spoofed, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let forwarded = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(
            resolve(proxy, &forwarded, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let garbage = headers(&[("x-forwarded-for", "not an ip")]);
        assert_eq!(resolve(proxy, &garbage, &trusted), proxy);
    }
}
