//! Abuse limits at the HTTP edge: who the client is (behind trusted proxies),
//! per-address rate limits (governor's GCRA, keyed by address), the URL
//! length cap, and the request head's `Host` and size rules.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, Request};
use axum::http::header::{HOST, RETRY_AFTER};
use axum::http::uri::Authority;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, Version};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock as _, DefaultClock};
use governor::{Quota, RateLimiter};
use ipnet::IpNet;

use super::error::{HttpError, is_api_path, json_error};
use crate::config::{Config, LimitsConfig, Rate};
use crate::oauth::ErrorCode;

/// The client's address: the socket peer, or, when the peer is a trusted
/// proxy, the right-most address in `X-Forwarded-For` / `Forwarded` that is
/// not itself a trusted proxy (the left-most is whatever the client claims).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Longest request target accepted (path and query).
pub const MAX_URI_LEN: usize = 8 * 1024;

/// The length of the request target as sent (`uri.to_string().len()`,
/// without building the string).
fn uri_len(uri: &Uri) -> usize {
    uri.scheme_str().map_or(0, |s| s.len() + "://".len())
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path().len()
        + uri.query().map_or(0, |q| q.len() + "?".len())
}

/// Room the request line may take on top of `http.max_header_bytes` before
/// hyper cuts a request head off by itself (see `http::listener`): twice the
/// URL cap, so an over-long URL still reaches [`refuse_head`] for its 414.
pub const REQUEST_LINE_ROOM: usize = 2 * MAX_URI_LEN;

/// The refusal of a request whose head breaks a rule, checked before any
/// route runs: 414 for a URL longer than [`MAX_URI_LEN`]; RFC 9112 §3.2, an
/// HTTP/1.1 request without a `Host` header, with more than one, or with one
/// that is no `host[:port]`, is 400; RFC 6585 §5, header fields that together
/// exceed `http.max_header_bytes` are 431.
pub fn refuse_head(request: &Request, config: &Config) -> Option<Response> {
    if uri_len(request.uri()) > MAX_URI_LEN {
        return Some(StatusCode::URI_TOO_LONG.into_response());
    }
    if let Some(problem) = host_problem(request) {
        return Some(
            HttpError::Page {
                status: StatusCode::BAD_REQUEST,
                title: "Bad request",
                message: problem.into(),
            }
            .into_response(),
        );
    }
    if header_bytes(request.headers()) > config.http.max_header_bytes {
        return Some(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE.into_response());
    }
    None
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
/// proxy's), set by `middleware::Edge`, not what the client sent.
fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .filter(|(name, _)| name.as_str() != "x-request-id")
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// True when `ip` is one of the configured `trusted_proxies`.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client's address ([`ClientIp`]) of a request from `peer`: `peer`
/// itself unless it is a trusted proxy, else the right-most forwarded hop
/// that is not a trusted proxy.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    if !is_trusted(peer, trusted) {
        return peer;
    }
    let hops = forwarded_hops(headers);
    hops.iter()
        .rev()
        .find(|ip| !is_trusted(**ip, trusted))
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
    device: Option<Arc<Keyed>>,
    device_session: Option<Arc<KeyedBy<String>>>,
}

type KeyedBy<K> = RateLimiter<K, governor::state::keyed::DefaultKeyedStateStore<K>, DefaultClock>;

fn limiter<K: Clone + std::hash::Hash + Eq>(rate: Option<Rate>) -> Option<Arc<KeyedBy<K>>> {
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
            device: limiter(config.device),
            device_session: limiter(config.device),
        }
    }

    fn for_route(&self, route: &str) -> Option<&Arc<Keyed>> {
        match route {
            "/login" | "/signup" => self.login.as_ref(),
            "/oauth/token"
            | "/oauth/access_token"
            | "/oauth2/token/"
            | "/oauth/device_authorization" => self.token.as_ref(),
            "/oauth/introspect" => self.introspect.as_ref(),
            "/oauth/revoke" => self.revoke.as_ref(),
            "/api/client" => self.register.as_ref(),
            "/device" => self.device.as_ref(),
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
            &self.device,
        ]
        .into_iter()
        .flatten()
        {
            l.retain_recent();
            l.shrink_to_fit();
        }
        if let Some(l) = &self.device_session {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }
}

/// Seconds a session must wait before it may enter another user code at
/// `POST /device` (`limits.device_per_minute`, per session as well as per
/// address), or `None` when it may go ahead. `session` is the session's
/// digest, never the cookie value.
pub fn device_session_wait(limits: &RateLimits, session: &str) -> Option<u64> {
    let limiter = limits.device_session.as_ref()?;
    let not_until = limiter.check_key(&session.to_owned()).err()?;
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    Some((wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1))
}

/// The 429 (with `Retry-After`, and the RFC error body on API paths) for a
/// request whose client address is over the limit of the route it asks
/// for, or `None`. Only POSTs count: the limited routes change state or
/// check secrets by POST.
pub fn over_limit(limits: &RateLimits, request: &Request) -> Option<Response> {
    if request.method() != Method::POST {
        return None;
    }
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("", MatchedPath::as_str);
    let limiter = limits.for_route(route)?;
    let ip = request
        .extensions()
        .get::<ClientIp>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0);
    let not_until = limiter.check_key(&ip).err()?;
    let wait = not_until.wait_time_from(DefaultClock::default().now());
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    tracing::info!(client.ip = %ip, route, "rate limit hit");
    Some(too_many(route, seconds.max(1)))
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
    fn uri_len_is_the_length_of_the_uri_as_text() {
        for uri in [
            "/",
            "/oauth/token",
            "/oauth/authorize?client_id=a&state=b",
            "/?",
            "http://example.com/x?y=1",
            "https://example.com:8443",
            "example.com:443",
            "*",
        ] {
            let parsed: Uri = uri.parse().unwrap();
            assert_eq!(uri_len(&parsed), parsed.to_string().len(), "{uri}");
        }
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
        assert_eq!(
            client_address(untrusted_peer, &xff, &trusted),
            untrusted_peer
        );
        assert_eq!(
            client_address(proxy, &xff, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        // The right-most untrusted hop, not the client-supplied left-most one.
        let spoofed = headers(&[("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(
            client_address(proxy, &spoofed, &trusted),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let forwarded = headers(&[("forwarded", "for=\"[2001:db8::1]:4711\";proto=https")]);
        assert_eq!(
            client_address(proxy, &forwarded, &trusted),
            "2001:db8::1".parse::<IpAddr>().unwrap()
        );
        let garbage = headers(&[("x-forwarded-for", "not an ip")]);
        assert_eq!(client_address(proxy, &garbage, &trusted), proxy);
    }
}
