//! Redirect-URI registration rules and matching: no input panics; what
//! registers is kept verbatim, is printable ASCII and matches itself; two
//! different URIs match only under the loopback-port rule (RFC 8252 §7.3).

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthd::oauth::redirect_uri::{ClientType, RedirectUri, matches};

fuzz_target!(|input: (&str, &str, bool, bool)| {
    let (registered, requested, public, allow_http) = input;
    let client_type = if public {
        ClientType::Public
    } else {
        ClientType::Confidential
    };
    if let Ok(uri) = RedirectUri::parse_registered(registered, client_type, allow_http) {
        assert_eq!(uri.as_str(), registered, "registered verbatim");
        assert!(registered.bytes().all(|b| (0x21..=0x7e).contains(&b)));
        assert!(!registered.contains(['#', '*', '\\']));
        assert!(matches(registered, registered), "a registered URI matches itself");
    }
    if matches(registered, requested) && registered != requested {
        let host = ["http://127.0.0.1", "http://[::1]"]
            .into_iter()
            .find(|h| registered.starts_with(h))
            .expect("only loopback http URIs match another string");
        assert!(requested.starts_with(host), "same loopback host");
        // Apart from the port, the two are the same string.
        let rest = |s: &str| {
            let tail = &s[host.len()..];
            match tail.strip_prefix(':') {
                Some(t) => t
                    .trim_start_matches(|c: char| c.is_ascii_digit())
                    .to_owned(),
                None => tail.to_owned(),
            }
        };
        assert_eq!(rest(registered), rest(requested), "only the port differs");
    }
});
