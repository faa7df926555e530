//! Outbound HTTP: fetching a Client ID Metadata Document, guarded against
//! server-side request forgery.
//!
//! Anyone who can reach the authorization endpoint chooses the URL, so the
//! fetch must not become a way into the operator's network:
//!
//! - https only (`http` only for loopback hosts, and only while
//!   `client_metadata.allow_http_loopback` is on);
//! - the host's addresses are resolved by [`GuardedResolver`] and refused
//!   when any of them is not a public unicast address ([`classify`]); the
//!   connection then goes to exactly those addresses, so there is no second
//!   resolution an attacker's DNS could answer differently. An IP literal in
//!   the URL is never resolved, so it is checked here before the request;
//! - no proxy (an environment proxy would resolve the name itself), no
//!   redirects (a 3xx is a refusal, not a hop to an unchecked host);
//! - connect and total timeouts, a size cap enforced while the body streams,
//!   and `application/json` required.
//!
//! What the document says is `oauth::client_metadata_document`'s business;
//! this module only brings bytes home, or says why not.

use std::error::Error as StdError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use url::{Host, Url};

use crate::config::ClientMetadataConfig;

/// What an address is, as far as outbound fetches care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// A public unicast address: may be fetched from.
    Public,
    /// Loopback (127.0.0.0/8, ::1): only with `allow_http_loopback`.
    Loopback,
    /// Anything else: never fetched from. The text names the range.
    Refused(&'static str),
}

/// IPv4 ranges that are not public unicast (RFC 6890 and its updates),
/// loopback excepted (see [`classify`]).
const REFUSED_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "unspecified (\"this network\")"),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared address space (CGNAT)"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "6to4 relay anycast"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved (and broadcast)"),
];

/// IPv6 ranges that are not public unicast, loopback and the embedded-IPv4
/// forms excepted (see [`classify`]).
const REFUSED_V6: &[(&str, &str)] = &[
    ("::/96", "IPv4-compatible (deprecated) or unspecified"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("2001::/23", "IETF protocol assignments (Teredo included)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6)"),
    ("fc00::/7", "unique local (private)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

/// Classifies an address for outbound fetches. IPv4-mapped
/// (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) addresses are judged by
/// the IPv4 address they carry, so no IPv6 spelling reaches a refused IPv4
/// range.
pub fn classify(ip: IpAddr) -> AddressClass {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> AddressClass {
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    for (net, why) in REFUSED_V4 {
        if net.parse::<Ipv4Net>().is_ok_and(|n| n.contains(&ip)) {
            return AddressClass::Refused(why);
        }
    }
    AddressClass::Public
}

fn classify_v6(ip: Ipv6Addr) -> AddressClass {
    if ip.is_loopback() {
        return AddressClass::Loopback;
    }
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // 64:ff9b::/96, the well-known NAT64 prefix (RFC 6052).
    let s = ip.segments();
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let o = ip.octets();
        return classify_v4(Ipv4Addr::new(o[12], o[13], o[14], o[15]));
    }
    for (net, why) in REFUSED_V6 {
        if net.parse::<Ipv6Net>().is_ok_and(|n| n.contains(&ip)) {
            return AddressClass::Refused(why);
        }
    }
    AddressClass::Public
}

/// Whether a fetch may connect to `ip`.
pub fn allowed(ip: IpAddr, allow_loopback: bool) -> Result<(), &'static str> {
    match classify(ip) {
        AddressClass::Public => Ok(()),
        AddressClass::Loopback if allow_loopback => Ok(()),
        AddressClass::Loopback => Err("loopback"),
        AddressClass::Refused(why) => Err(why),
    }
}

/// Why a fetch brought nothing home. Every text is safe to show: none holds
/// the URL or anything the remote server sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The URL is not https (or http on loopback while allowed).
    #[error("the URL must use https")]
    Scheme,
    /// The host is, or resolves to, an address outbound fetches may not reach.
    #[error("the host is on a private, loopback, link-local or otherwise non-public address")]
    Address,
    /// The host name did not resolve.
    #[error("the host name does not resolve")]
    Resolve,
    /// No connection could be made.
    #[error("the host could not be reached")]
    Connect,
    /// The TLS handshake failed: most often a certificate that no trusted
    /// root (built-in or `client_metadata.extra_root_certificates`) signed,
    /// or one for another name.
    #[error("the host's TLS certificate is not trusted (or the TLS handshake failed)")]
    Tls,
    /// The connect or total timeout passed.
    #[error("the host did not answer in time")]
    Timeout,
    /// The answer was a redirect, which is never followed.
    #[error("the URL answers with a redirect, which is not followed")]
    Redirect,
    /// The answer was not 200.
    #[error("the URL does not answer 200 OK")]
    Status,
    /// The answer's media type was not `application/json`.
    #[error("the answer is not application/json")]
    ContentType,
    /// The body was larger than the configured cap.
    #[error("the document is larger than this server accepts")]
    TooLarge,
    /// Anything else the HTTP client reported (TLS, protocol).
    #[error("the document could not be fetched")]
    Other,
}

/// A fetched body and how long its server says it may be reused.
#[derive(Clone, Debug)]
pub struct Fetched {
    /// The body, at most `max_document_bytes` long.
    pub body: Vec<u8>,
    /// `Cache-Control: max-age` in seconds; 0 for `no-store`/`no-cache`;
    /// `None` when the answer says neither.
    pub max_age: Option<u64>,
}

/// The refusal the resolver hands back through reqwest, recognised again
/// in [`Fetcher::get`] by walking the error's sources.
#[derive(Debug, thiserror::Error)]
#[error("address refused: {0}")]
struct AddressRefused(&'static str);

/// Resolves with the system resolver and refuses the name when any of its
/// addresses may not be reached, so the connection can only go to an
/// address that was checked.
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    allow_loopback: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_loopback = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Err(why) = allowed(addr.ip(), allow_loopback) {
                    tracing::info!(
                        host = name.as_str(),
                        address = %addr.ip(),
                        range = why,
                        "client metadata fetch refused: the host resolves to a non-public address"
                    );
                    return Err(Box::new(AddressRefused(why)) as Box<dyn StdError + Send + Sync>);
                }
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// The guarded HTTP client for documents.
#[derive(Clone, Debug)]
pub struct Fetcher {
    client: Option<reqwest::Client>,
    allow_loopback: bool,
    max_bytes: usize,
    timeout: Duration,
}

impl Fetcher {
    /// A fetcher with the configured limits. When the HTTP client cannot be
    /// built (no TLS roots, say), every fetch fails with
    /// [`FetchError::Other`] and the reason is logged once here.
    pub fn new(config: &ClientMetadataConfig) -> Self {
        let resolver = GuardedResolver {
            allow_loopback: config.allow_http_loopback,
        };
        let mut builder = reqwest::Client::builder();
        // Private CAs (and tests), on top of the built-in web PKI roots.
        for root in &config.extra_roots {
            builder = builder.add_root_certificate(root.clone());
        }
        let built = builder
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .connect_timeout(config.connect_timeout)
            .timeout(config.timeout)
            .dns_resolver(Arc::new(resolver))
            .user_agent(concat!("oauthd/", env!("CARGO_PKG_VERSION")))
            .build();
        let client = match built {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::error!(error = %e, "client metadata documents: the HTTP client could not be built; every fetch will fail");
                None
            }
        };
        Self {
            client,
            allow_loopback: config.allow_http_loopback,
            max_bytes: config.max_document_bytes,
            timeout: config.timeout,
        }
    }

    /// Checks what can be checked before any network traffic: the scheme,
    /// and the address when the host is an IP literal (never resolved).
    pub fn check_url(&self, url: &Url) -> Result<(), FetchError> {
        let loopback_host = match url.host() {
            Some(Host::Ipv4(ip)) => {
                allowed(IpAddr::V4(ip), self.allow_loopback).map_err(|_| FetchError::Address)?;
                ip.is_loopback()
            }
            Some(Host::Ipv6(ip)) => {
                allowed(IpAddr::V6(ip), self.allow_loopback).map_err(|_| FetchError::Address)?;
                ip.is_loopback()
            }
            Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            None => return Err(FetchError::Scheme),
        };
        match url.scheme() {
            "https" => Ok(()),
            "http" if self.allow_loopback && loopback_host => Ok(()),
            _ => Err(FetchError::Scheme),
        }
    }

    /// GETs `url` under every guard in the module header.
    pub async fn get(&self, url: &Url) -> Result<Fetched, FetchError> {
        self.check_url(url)?;
        let client = self.client.as_ref().ok_or(FetchError::Other)?;
        // reqwest's own timeout covers the body too; this one also bounds
        // the resolver, whatever the system's DNS does.
        match tokio::time::timeout(self.timeout, self.fetch(client, url)).await {
            Ok(result) => result,
            Err(_) => Err(FetchError::Timeout),
        }
    }

    async fn fetch(&self, client: &reqwest::Client, url: &Url) -> Result<Fetched, FetchError> {
        let mut response = client
            .get(url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| map_error(&e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect);
        }
        if status != reqwest::StatusCode::OK {
            return Err(FetchError::Status);
        }
        let headers = response.headers();
        let json = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"));
        if !json {
            return Err(FetchError::ContentType);
        }
        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_bytes as u64) {
            return Err(FetchError::TooLarge);
        }
        let max_age = headers
            .get_all(CACHE_CONTROL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .fold(None, |acc, v| merge_max_age(acc, parse_cache_control(v)));
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| map_error(&e))? {
            if body.len() + chunk.len() > self.max_bytes {
                return Err(FetchError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched { body, max_age })
    }
}

/// The most cautious of two answers: the shorter lifetime wins.
fn merge_max_age(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// `max-age` from one `Cache-Control` value (RFC 9111 §5.2.2.1); 0 for
/// `no-store` and `no-cache`.
pub fn parse_cache_control(value: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in value.split(',') {
        let directive = directive.trim();
        let (name, arg) = match directive.split_once('=') {
            Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
            None => (directive, None),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") {
            // An unparsable max-age counts as stale (RFC 9111 §4.2.1).
            let secs = arg.and_then(|a| a.parse::<u64>().ok()).unwrap_or(0);
            max_age = merge_max_age(max_age, Some(secs));
        }
    }
    max_age
}

fn map_error(e: &reqwest::Error) -> FetchError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = source {
        if s.downcast_ref::<AddressRefused>().is_some() {
            return FetchError::Address;
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return FetchError::Timeout;
        }
        source = s.source();
    }
    // reqwest does not expose rustls' error type; its text names the
    // certificate problem (UnknownIssuer, NotValidForName, ...).
    let text = format!("{e:?}");
    if text.contains("InvalidCertificate") || text.contains("certificate") {
        return FetchError::Tls;
    }
    if e.is_timeout() {
        FetchError::Timeout
    } else if e.is_connect() {
        // A name that does not resolve surfaces as a connect error.
        if text.contains("dns error") || text.contains("failed to lookup") {
            FetchError::Resolve
        } else {
            FetchError::Connect
        }
    } else {
        FetchError::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn public_addresses_are_public() {
        for ip in [
            "1.1.1.1",
            "8.8.8.8",
            "93.184.215.14",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
        ] {
            assert_eq!(class(ip), AddressClass::Public, "{ip}");
        }
    }

    #[test]
    fn loopback_is_its_own_class() {
        for ip in ["127.0.0.1", "127.255.255.254", "::1", "::ffff:127.0.0.1"] {
            assert_eq!(class(ip), AddressClass::Loopback, "{ip}");
        }
        assert!(allowed("127.0.0.1".parse().unwrap(), true).is_ok());
        assert!(allowed("127.0.0.1".parse().unwrap(), false).is_err());
    }

    #[test]
    fn non_public_addresses_are_refused_even_with_loopback_allowed() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::10.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:192.168.0.1",
            "::ffff:0.0.0.0",
            "64:ff9b::a00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "2002:c0a8:101::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "ff05::1:3",
        ] {
            let ip_addr: IpAddr = ip.parse().unwrap();
            assert!(
                matches!(classify(ip_addr), AddressClass::Refused(_)),
                "{ip} must be refused, got {:?}",
                classify(ip_addr)
            );
            assert!(
                allowed(ip_addr, true).is_err(),
                "{ip} with loopback allowed"
            );
        }
    }

    #[test]
    fn cache_control_gives_the_shortest_lifetime() {
        for (value, expected) in [
            ("max-age=600", Some(600)),
            ("public, max-age=60", Some(60)),
            ("max-age=\"30\"", Some(30)),
            ("MAX-AGE=5", Some(5)),
            ("no-store", Some(0)),
            ("max-age=600, no-cache", Some(0)),
            ("max-age=abc", Some(0)),
            ("max-age=100, max-age=50", Some(50)),
            ("public", None),
            ("", None),
        ] {
            assert_eq!(parse_cache_control(value), expected, "{value}");
        }
    }

    fn fetcher(allow_loopback: bool) -> Fetcher {
        let mut config = crate::config::Config::defaults().client_metadata;
        config.allow_http_loopback = allow_loopback;
        Fetcher {
            client: None,
            allow_loopback,
            max_bytes: config.max_document_bytes,
            timeout: config.timeout,
        }
    }

    #[test]
    fn urls_are_checked_before_any_traffic() {
        let off = fetcher(false);
        let on = fetcher(true);
        let check = |f: &Fetcher, u: &str| f.check_url(&Url::parse(u).unwrap());
        assert_eq!(check(&off, "https://app.example/c"), Ok(()));
        assert_eq!(check(&off, "http://app.example/c"), Err(FetchError::Scheme));
        assert_eq!(check(&off, "http://127.0.0.1/c"), Err(FetchError::Address));
        assert_eq!(check(&off, "https://127.0.0.1/c"), Err(FetchError::Address));
        assert_eq!(check(&off, "https://[::1]/c"), Err(FetchError::Address));
        assert_eq!(check(&off, "https://10.1.2.3/c"), Err(FetchError::Address));
        assert_eq!(
            check(&off, "https://[::ffff:a9fe:a9fe]/c"),
            Err(FetchError::Address)
        );
        assert_eq!(check(&off, "ftp://app.example/c"), Err(FetchError::Scheme));
        assert_eq!(check(&on, "http://127.0.0.1:8080/c"), Ok(()));
        assert_eq!(check(&on, "http://localhost:8080/c"), Ok(()));
        assert_eq!(check(&on, "http://app.example/c"), Err(FetchError::Scheme));
        assert_eq!(check(&on, "https://10.1.2.3/c"), Err(FetchError::Address));
    }
}
