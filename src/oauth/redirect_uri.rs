//! Redirect-URI rules at registration (RFC 6749 §3.1.2, RFC 8252 §7, RFC 9700 §2.1).
//!
//! A registered URI is kept byte for byte as the client sent it: the
//! authorization endpoint compares strings exactly, so nothing here normalises.

use std::net::IpAddr;

use url::{Host, Url};

use super::error::OAuthError;
pub use crate::model::client::ClientType;
pub use crate::model::redirect_uri::RedirectUri;

/// Longest redirect URI accepted, in bytes.
pub const MAX_LEN: usize = 2048;
/// Most redirect URIs one client may register.
pub const MAX_PER_CLIENT: usize = 10;

/// Why a URI with port 0 or a port past 65535 is refused.
const BAD_PORT: &str = "a redirect URI port must be a number from 1 to 65535";

impl RedirectUri {
    /// Checks one URI for a client of the given type.
    ///
    /// `https` is always allowed; `http` only for loopback hosts unless
    /// `allow_http` is set; private-use schemes (`com.example.app:/cb`, RFC 8252
    /// §7.1) only for public clients. Fragments, user information, wildcards,
    /// whitespace, control and non-ASCII characters are refused.
    pub fn parse_registered(
        raw: &str,
        client_type: ClientType,
        allow_http: bool,
    ) -> Result<Self, OAuthError> {
        let refuse = |why: &str| Err(OAuthError::invalid_redirect_uri(why.to_owned()));
        if raw.is_empty() {
            return refuse("a redirect URI is empty");
        }
        if raw.len() > MAX_LEN {
            return refuse("a redirect URI is longer than 2048 bytes");
        }
        if !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return refuse("a redirect URI holds whitespace, control or non-ASCII characters");
        }
        if raw.contains('#') {
            return refuse("a redirect URI must not have a fragment (RFC 6749 3.1.2)");
        }
        if raw.contains('*') {
            return refuse("a redirect URI must not hold wildcards");
        }
        if raw.contains('\\') {
            return refuse("a redirect URI must not hold backslashes");
        }
        let url = match Url::parse(raw) {
            Ok(url) if url.port() == Some(0) => return refuse(BAD_PORT),
            Ok(url) => url,
            Err(url::ParseError::InvalidPort) => return refuse(BAD_PORT),
            Err(_) => return refuse("a redirect URI must be an absolute URI"),
        };
        // The scheme as written must already be lower case, so that the exact
        // comparison at the authorization endpoint has one spelling to match.
        if !raw.starts_with(&format!("{}:", url.scheme())) {
            return refuse("a redirect URI scheme must be lower case");
        }
        match url.scheme() {
            "https" => check_web(raw, &url)?,
            "http" => {
                check_web(raw, &url)?;
                if !is_loopback(&url) && !allow_http {
                    return refuse(
                        "http redirect URIs are only allowed for loopback hosts; use https",
                    );
                }
            }
            scheme if scheme.contains('.') => {
                if client_type == ClientType::Confidential {
                    return refuse(
                        "private-use URI schemes are only allowed for public (native) clients",
                    );
                }
                if !url.username().is_empty() || url.password().is_some() {
                    return refuse("a redirect URI must not hold user information");
                }
            }
            _ => {
                return refuse(
                    "a redirect URI must use https, loopback http, or a private-use scheme with a dot",
                );
            }
        }
        Ok(Self::checked(raw.to_owned()))
    }
}

/// Does a requested redirect URI match a registered one?
///
/// Exact string comparison (RFC 9700 §2.1), with one exception: for a
/// registered `http` URI on a loopback IP literal (`127.0.0.1` or `[::1]`),
/// any port is accepted as long as everything else is identical (RFC 8252
/// §7.3), because native apps listen on an ephemeral port. `localhost` gets
/// no exception (RFC 8252 §8.3).
///
/// Either way the requested URI must also parse with the `url` crate, the
/// parser that later builds the redirect, and name a real TCP port (1 to
/// 65535) if it names one: `http://127.0.0.1:65536/cb` matches nothing, so
/// the authorization endpoint answers with its error page instead of failing
/// to build the redirect after storing a code.
pub fn matches(registered: &str, requested: &str) -> bool {
    if !has_real_port(requested) {
        return false;
    }
    if registered == requested {
        return true;
    }
    let (Some(reg), Some(req)) = (split_http(registered), split_http(requested)) else {
        return false;
    };
    matches!(reg.host, "127.0.0.1" | "[::1]") && reg.host == req.host && reg.rest == req.rest
}

/// The URI parses, and its port, if it has one, is 1 to 65535 under the `url`
/// crate's rules (which refuse anything past 65535 and allow leading zeros).
fn has_real_port(uri: &str) -> bool {
    Url::parse(uri).is_ok_and(|url| url.port() != Some(0))
}

struct HttpParts<'a> {
    host: &'a str,
    rest: &'a str,
}

/// Splits `http://host[:port]rest` as written, without normalising anything.
/// A port, if written, must be digits; its range is [`has_real_port`]'s job.
fn split_http(uri: &str) -> Option<HttpParts<'_>> {
    let after = uri.strip_prefix("http://")?;
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, rest) = after.split_at(end);
    let (host, port) = if authority.starts_with('[') {
        let close = authority.find(']')?;
        let (host, tail) = authority.split_at(close + 1);
        // After `]` only `:port` may follow: `[::1]10000` is no loopback URI.
        let port = match tail {
            "" => None,
            tail => Some(tail.strip_prefix(':')?),
        };
        (host, port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if let Some(p) = port
        && (p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    Some(HttpParts { host, rest })
}

fn check_web(raw: &str, url: &Url) -> Result<(), OAuthError> {
    // The URL parser forgives `https:host` and `https:///host`; a registered
    // URI must spell its authority out, since it is compared as written.
    let after_scheme = &raw[url.scheme().len() + 1..];
    let spelled_out = after_scheme
        .strip_prefix("//")
        .is_some_and(|rest| !rest.starts_with('/'));
    if !spelled_out || url.host().is_none() {
        return Err(OAuthError::invalid_redirect_uri(
            "a redirect URI must name a host",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(OAuthError::invalid_redirect_uri(
            "a redirect URI must not hold user information",
        ));
    }
    Ok(())
}

/// RFC 8252 §7.3 and §8.3: 127.0.0.0/8, ::1, and the name `localhost`.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::ErrorCode;

    fn check(raw: &str, t: ClientType) -> Result<RedirectUri, OAuthError> {
        RedirectUri::parse_registered(raw, t, false)
    }

    #[test]
    fn accepts_the_uris_clients_register() {
        for ok in [
            "https://app.example/cb",
            "https://app.example/cb?tenant=a",
            "https://app.example:8443/cb",
            "https://noblogs.org/",
            "https://app.example",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:51004/cb",
            "http://127.0.0.1:1/cb",
            "http://127.0.0.1:65535/cb",
            "http://[::1]:8080/cb",
            "http://localhost:3000/callback",
            "https://app.example/caf%C3%A9",
        ] {
            assert_eq!(
                check(ok, ClientType::Confidential).map(|u| u.as_str().to_owned()),
                Ok(ok.to_owned()),
                "{ok}"
            );
        }
        assert!(check("com.example.app:/oauth2redirect", ClientType::Public).is_ok());
    }

    #[test]
    fn refuses_dangerous_and_malformed_uris() {
        for bad in [
            "",
            "javascript:alert(1)",
            "data:text/html,hi",
            "file:///etc/passwd",
            "vbscript:msgbox",
            "about:blank",
            "/relative/cb",
            "app.example/cb",
            "https://app.example/cb#frag",
            "https://u:p@app.example/cb",
            "https://u@app.example/cb",
            "https://*.app.example/cb",
            "https://app.example/c b",
            "https://app.example/\u{e9}",
            "https://app.example/\u{0}",
            "https://evil.test\\@app.example/cb",
            "HTTPS://app.example/cb",
            "http://app.example/cb",
            "http://192.0.2.1/cb",
            "myapp:/cb",
            "urn:ietf:wg:oauth:2.0:oob",
            "https:///cb",
            "https:app.example/cb",
        ] {
            let err = check(bad, ClientType::Public).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRedirectUri, "{bad:?}");
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_LEN));
        assert!(check(&long, ClientType::Public).is_err());
    }

    #[test]
    fn refuses_ports_outside_1_to_65535() {
        for bad in [
            "http://127.0.0.1:0/cb",
            "http://127.0.0.1:00000/cb",
            "http://127.0.0.1:65536/cb",
            "http://127.0.0.1:99999/cb",
            "http://127.0.0.1:4294967297/cb",
            "http://[::1]:70000/cb",
            "https://app.example:0/cb",
            "https://app.example:65536/cb",
        ] {
            let err = check(bad, ClientType::Public).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidRedirectUri, "{bad}");
            assert_eq!(err.description, BAD_PORT, "{bad}");
        }
    }

    #[test]
    fn private_use_schemes_are_for_public_clients_only() {
        assert!(check("com.example.app:/cb", ClientType::Confidential).is_err());
    }

    #[test]
    fn matching_is_exact_except_for_loopback_ports() {
        let reg = "https://app.example/cb";
        assert!(matches(reg, reg));
        for other in [
            "https://app.example/cb/",
            "https://APP.example/cb",
            "HTTPS://app.example/cb",
            "https://app.example:443/cb",
            "https://app.example/%63b",
            "https://app.example/x/../cb",
            "https://app.example/cb?x=1",
            "https://app.example/cb#f",
            "https://app.example.evil.test/cb",
            "https://app.example@evil.test/cb",
        ] {
            assert!(!matches(reg, other), "{other}");
        }
        for reg in ["http://127.0.0.1/cb", "http://127.0.0.1:8000/cb"] {
            assert!(matches(reg, "http://127.0.0.1:51004/cb"), "{reg}");
            assert!(matches(reg, "http://127.0.0.1/cb"), "{reg}");
            for bad in [
                "http://127.0.0.1:51004/other",
                "http://127.0.0.1:51004/cb?x",
                "http://127.000.000.001:51004/cb",
                "http://127.0.0.2:8888/cb",
                "https://127.0.0.1:8888/cb",
                "http://127.0.0.1:/cb",
                "http://127.0.0.1:99999999/cb",
                "http://127.0.0.1:65536/cb",
                "http://127.0.0.1:99999/cb",
                "http://127.0.0.1:0/cb",
                "http://127.0.0.1:00000/cb",
                "http://127.0.0.1:4294967297/cb",
                "http://127.0.0.1:80x/cb",
                "http://u@127.0.0.1:80/cb",
            ] {
                assert!(!matches(reg, bad), "{reg} vs {bad}");
            }
        }
        // The port is read by the `url` crate's rules: 1 to 65535, leading
        // zeros allowed.
        for port in ["1", "65535", "0080", "000443"] {
            let uri = format!("http://127.0.0.1:{port}/cb");
            assert!(matches("http://127.0.0.1/cb", &uri), "{uri}");
        }
        // An exact match is no excuse for a port that is not one (a URI
        // registered before ports were checked).
        assert!(!matches("http://127.0.0.1:0/cb", "http://127.0.0.1:0/cb"));
        assert!(matches("http://[::1]/cb", "http://[::1]:61023/cb"));
        assert!(!matches("http://[::1]/cb", "http://[::1]:65536/cb"));
        assert!(!matches("http://[::1]", "http://[::1]10000"));
        assert!(!matches("http://[::1]/cb", "http://[::1]x:80/cb"));
        assert!(!matches("http://localhost/cb", "http://localhost:3000/cb"));
        assert!(!matches(
            "https://app.example:8443/cb",
            "https://app.example:9443/cb"
        ));
    }

    #[test]
    fn config_may_allow_plain_http() {
        assert!(
            RedirectUri::parse_registered("http://app.example/cb", ClientType::Confidential, true)
                .is_ok()
        );
    }
}
