//! Property tests (proptest) for the pure parsers: redirect-URI matching and
//! registration rules, scope parsing, HTTP Basic credentials and the strict
//! form decoder. Generated inputs never panic; matching is exact except for
//! the loopback-port rule of RFC 8252 §7.3.
//!
//! [`CASES`] cases per property keep the suite fast; `PROPTEST_CASES` in the
//! environment overrides it for a longer run.

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use oauthd::http::extract::{FormError, FormParams, client_credentials};
use oauthd::oauth::client_auth::Credentials;
use oauthd::oauth::redirect_uri::{ClientType, RedirectUri, matches};
use oauthd::oauth::scope::{ScopeError, Scopes};
use proptest::prelude::*;

/// Cases per property (14 properties: 7 168 cases in all).
const CASES: u32 = 512;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|c| c.parse().ok())
            .unwrap_or(CASES),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------
// Strategies

/// Characters URIs are made of, plus the ones that trip parsers up.
fn uri_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => proptest::char::range('!', '~'),
        1 => Just(' '),
        1 => Just('%'),
        1 => Just('\u{0}'),
        1 => Just('\n'),
        1 => Just('\u{e9}'),
        1 => Just('\u{ff0f}'),
        1 => Just('\u{202e}'),
    ]
}

fn uri_junk() -> impl Strategy<Value = String> {
    proptest::collection::vec(uri_char(), 0..40).prop_map(|v| v.into_iter().collect())
}

/// A registrable https URI: host, optional port, path, optional query.
fn https_uri() -> impl Strategy<Value = String> {
    (
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){1,2}",
        proptest::option::of(1u16..),
        "(/[A-Za-z0-9._~-]{0,8}){0,3}",
        proptest::option::of("[a-z]{1,5}=[A-Za-z0-9]{0,5}"),
    )
        .prop_map(|(host, port, path, query)| {
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let query = query.map(|q| format!("?{q}")).unwrap_or_default();
            format!("https://{host}{port}{path}{query}")
        })
}

/// One edit of a string: insert, delete or replace a character.
#[derive(Clone, Debug)]
enum Edit {
    Insert(usize, char),
    Delete(usize),
    Replace(usize, char),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), uri_char()).prop_map(|(i, c)| Edit::Insert(i, c)),
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), uri_char()).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn apply(s: &str, e: &Edit) -> String {
    let mut chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    match *e {
        Edit::Insert(i, c) => chars.insert(i % (n + 1), c),
        Edit::Delete(i) if n > 0 => {
            chars.remove(i % n);
        }
        Edit::Replace(i, c) if n > 0 => chars[i % n] = c,
        _ => {}
    }
    chars.into_iter().collect()
}

/// RFC 6749 NQCHAR scope names.
fn scope_name() -> impl Strategy<Value = String> {
    "[!#-\\[\\]-~]{1,20}"
}

/// A form key or value without the controls the decoder refuses.
fn form_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::range(' ', '~'),
            1 => Just('\t'),
            1 => Just('\n'),
            1 => Just('\u{e9}'),
            1 => Just('\u{1f642}'),
            1 => Just('\u{202e}'),
        ],
        1..30,
    )
    .prop_map(|v| v.into_iter().collect())
}

fn form_encode(pairs: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// A second, independent form-urlencoded decoder: `+` is a space, `%XX` a
/// byte, the result UTF-8.
fn url_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = std::str::from_utf8(raw.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn basic_header(value: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(value) {
        headers.insert(AUTHORIZATION, v);
    }
    headers
}

// ---------------------------------------------------------------------------
// Redirect URIs

proptest! {
    #![proptest_config(config())]

    /// A URI that registers matches itself, and checking any pair never
    /// panics. (A string that is no URL, or names port 0 or one past 65535,
    /// matches nothing, itself included: no redirect could be built to it.)
    #[test]
    fn a_uri_matches_itself_and_nothing_panics(a in uri_junk(), b in uri_junk()) {
        let _ = matches(&a, &b);
        for t in [ClientType::Confidential, ClientType::Public] {
            for allow_http in [false, true] {
                if RedirectUri::parse_registered(&a, t, allow_http).is_ok() {
                    prop_assert!(matches(&a, &a), "{}", a);
                }
            }
        }
    }

    /// An https URI matches only itself: any one-character edit breaks it.
    #[test]
    fn https_matching_is_exact(reg in https_uri(), e in edit()) {
        let req = apply(&reg, &e);
        prop_assert_eq!(matches(&reg, &req), reg == req, "{} vs {}", reg, req);
        prop_assert_eq!(matches(&req, &reg), reg == req);
    }

    /// A registered loopback IP literal over http accepts any port with
    /// everything else identical (RFC 8252 §7.3), and nothing else.
    #[test]
    fn loopback_ports_vary_and_nothing_else_does(
        host in prop_oneof![Just("127.0.0.1"), Just("[::1]")],
        reg_port in proptest::option::of(1u16..),
        req_port in proptest::option::of(1u16..),
        path in "(/[a-z0-9]{0,6}){0,3}(\\?[a-z]=[0-9])?",
        e in edit(),
    ) {
        let port = |p: Option<u16>| p.map(|p| format!(":{p}")).unwrap_or_default();
        let reg = format!("http://{host}{}{path}", port(reg_port));
        let req = format!("http://{host}{}{path}", port(req_port));
        prop_assert!(matches(&reg, &req), "{} vs {}", reg, req);
        // Any edit outside the port makes it a different URI.
        let edited = apply(&req, &e);
        let strip = |s: &str| -> Option<String> {
            let rest = s.strip_prefix("http://")?.strip_prefix(host)?;
            let rest = match rest.strip_prefix(':') {
                Some(r) => {
                    // A port as the url crate reads it: digits, leading
                    // zeros allowed, worth 1 to 65535.
                    let digits = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
                    let value = r[..digits].trim_start_matches('0');
                    let real = digits > 0
                        && value.len() <= 5
                        && value.parse::<u32>().is_ok_and(|p| (1..=65_535).contains(&p));
                    if !real { return None; }
                    &r[digits..]
                }
                None => rest,
            };
            Some(rest.to_owned())
        };
        let same_but_port = strip(&edited).is_some_and(|rest| rest == path);
        prop_assert_eq!(matches(&reg, &edited), same_but_port, "{} vs {}", reg, edited);
    }

    /// `localhost` and https get no port exception.
    #[test]
    fn no_port_exception_for_names_or_https(
        scheme_host in prop_oneof![
            Just("http://localhost"),
            Just("https://127.0.0.1"),
            Just("http://127.0.0.2"),
            Just("http://app.example"),
        ],
        a in 1u16..,
        b in 1u16..,
    ) {
        prop_assume!(a != b);
        let reg = format!("{scheme_host}:{a}/cb");
        let req = format!("{scheme_host}:{b}/cb");
        prop_assert!(!matches(&reg, &req));
    }

    /// What registration accepts is kept byte for byte, is printable ASCII
    /// without fragment, wildcard or backslash, and uses an allowed scheme.
    #[test]
    fn registration_keeps_only_safe_uris_verbatim(
        raw in prop_oneof![https_uri(), uri_junk(), https_uri().prop_flat_map(|u| edit().prop_map(move |e| apply(&u, &e)))],
        public in any::<bool>(),
    ) {
        let t = if public { ClientType::Public } else { ClientType::Confidential };
        if let Ok(uri) = RedirectUri::parse_registered(&raw, t, false) {
            prop_assert_eq!(uri.as_str(), raw.as_str());
            prop_assert!(raw.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{}", raw);
            prop_assert!(!raw.contains(['#', '*', '\\']), "{}", raw);
            let scheme = raw.split(':').next().unwrap_or_default();
            prop_assert!(
                scheme == "https" || scheme == "http" || (public && scheme.contains('.')),
                "{}", raw
            );
            prop_assert!(matches(uri.as_str(), &raw));
        }
    }

    /// `javascript:`, `data:` and other script-capable schemes never register.
    #[test]
    fn script_schemes_never_register(
        scheme in prop_oneof![Just("javascript:"), Just("data:"), Just("vbscript:"), Just("JavaScript:"), Just("file:")],
        tail in uri_junk(),
    ) {
        let raw = format!("{scheme}{tail}");
        for t in [ClientType::Confidential, ClientType::Public] {
            prop_assert!(RedirectUri::parse_registered(&raw, t, true).is_err(), "{}", raw);
        }
    }
}

// ---------------------------------------------------------------------------
// Scopes

proptest! {
    #![proptest_config(config())]

    /// Any string parses or is refused without panicking; what parses is
    /// NQCHAR names, no duplicates, at most 64, and prints back to itself.
    #[test]
    fn scope_parsing_never_panics_and_round_trips(raw in ".{0,200}") {
        if let Ok(scopes) = Scopes::parse(&raw) {
            let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
            let mut unique = names.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(unique.len(), names.len());
            prop_assert!(names.len() <= 64);
            for n in &names {
                prop_assert!(n.bytes().all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)));
            }
            prop_assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes));
        }
    }

    /// Valid names, duplicated and spaced at will, parse to the first-seen
    /// order with duplicates collapsed.
    #[test]
    fn scope_lists_collapse_duplicates_in_order(
        names in proptest::collection::vec(scope_name(), 0..12),
        repeat in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        spaces in 1usize..4,
    ) {
        let mut raw_names = names.clone();
        for i in &repeat {
            if !names.is_empty() {
                raw_names.push(names[i.index(names.len())].clone());
            }
        }
        let raw = raw_names.join(&" ".repeat(spaces));
        let parsed = Scopes::parse(&raw).expect("valid names parse");
        let mut expected: Vec<&str> = Vec::new();
        for n in &raw_names {
            if !expected.contains(&n.as_str()) {
                expected.push(n);
            }
        }
        prop_assert_eq!(parsed.to_string(), expected.join(" "));
    }

    /// One name with a character outside NQCHAR spoils the whole string.
    #[test]
    fn a_bad_character_spoils_the_scope(
        before in scope_name(),
        bad in prop_oneof![Just('"'), Just('\\'), Just('\t'), Just('\u{0}'), Just('\u{7f}'), Just('\u{e9}')],
        after in scope_name(),
    ) {
        let raw = format!("ok {before}{bad}{after}");
        prop_assert_eq!(Scopes::parse(&raw), Err(ScopeError::BadCharacter));
    }
}

// ---------------------------------------------------------------------------
// Forms and Basic credentials

proptest! {
    #![proptest_config(config())]

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn form_decoding_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = FormParams::parse(&raw);
        let _ = client_credentials(&basic_header(&raw), &FormParams::default());
    }

    /// Encoded pairs decode back to themselves, in order; a repeated key is
    /// visible as a duplicate; a NUL or other control anywhere is refused.
    #[test]
    fn forms_round_trip_and_refuse_controls(
        pairs in proptest::collection::vec((form_text(), form_text()), 1..10),
        control in prop_oneof![Just('\u{0}'), Just('\u{1}'), Just('\u{1b}'), Just('\u{7f}'), Just('\u{85}')],
        at in any::<prop::sample::Index>(),
    ) {
        let encoded = form_encode(&pairs);
        let parsed = FormParams::parse(encoded.as_bytes()).expect("encoded pairs decode");
        for (key, _) in &pairs {
            let expected: Vec<&str> = pairs
                .iter()
                .filter(|(k, _)| k == key)
                .map(|(_, v)| v.as_str())
                .collect();
            prop_assert_eq!(parsed.all(key).collect::<Vec<_>>(), expected.clone());
            if expected.len() > 1 {
                prop_assert_eq!(parsed.single(key), Err(FormError::Duplicate(key.clone())));
            } else {
                prop_assert_eq!(parsed.single(key), Ok(Some(expected[0])));
            }
        }
        let mut spoiled = pairs.clone();
        let i = at.index(spoiled.len());
        spoiled[i].1.push(control);
        let refused = FormParams::parse(form_encode(&spoiled).as_bytes());
        prop_assert!(
            matches!(refused, Err(FormError::ControlCharacter(_))),
            "{:?}", refused
        );
    }

    /// A `%` not followed by two hex digits is refused, never passed through.
    #[test]
    fn bad_escapes_are_refused(
        prefix in "[a-z]{1,5}=[a-z]{0,5}",
        tail in prop_oneof![Just(String::new()), "[g-zG-Z][0-9a-fA-F]?", "[0-9a-fA-F][g-zG-Z]"],
    ) {
        let raw = format!("{prefix}%{tail}");
        prop_assert_eq!(FormParams::parse(raw.as_bytes()).err(), Some(FormError::BadEscape));
    }

    /// HTTP Basic: form-urlencoded id and secret, then base64 (RFC 6749
    /// §2.3.1), read back exactly; the id may not be empty or hold controls.
    #[test]
    fn basic_credentials_round_trip(id in form_text(), secret in proptest::option::of(form_text())) {
        let secret = secret.unwrap_or_default();
        let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let header = format!("Basic {}", STANDARD.encode(format!("{}:{}", enc(&id), enc(&secret))));
        let got = client_credentials(&basic_header(header.as_bytes()), &FormParams::default());
        let clean = |s: &str| !s.chars().any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'));
        if !id.is_empty() && clean(&id) && clean(&secret) {
            let expected = Credentials::Basic { id: id.clone(), secret: secret.clone() };
            prop_assert!(
                got.as_ref().is_ok_and(|c| *c == expected),
                "{:?} for id {:?}", got.map(|_| ()).map_err(|e| e.error), id
            );
        } else {
            prop_assert!(got.is_err());
        }
    }

    /// Arbitrary bytes under `Basic ` never panic and never authenticate as
    /// anything but what they decode to.
    #[test]
    fn basic_garbage_is_refused_or_read_exactly(payload in proptest::collection::vec(any::<u8>(), 0..80)) {
        let header = format!("Basic {}", STANDARD.encode(&payload));
        if let Ok(Credentials::Basic { id, secret }) =
            client_credentials(&basic_header(header.as_bytes()), &FormParams::default())
        {
            let colon = payload.iter().position(|b| *b == b':').expect("a colon");
            let decode = |b: &[u8]| url_decode(b).unwrap_or_default();
            prop_assert_eq!(id, decode(&payload[..colon]));
            prop_assert_eq!(secret, decode(&payload[colon + 1..]));
        }
    }
}
