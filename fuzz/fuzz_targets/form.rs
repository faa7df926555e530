//! The strict form decoder: no input panics; a decoded form holds no NUL or
//! other control character (tab, CR and LF aside), and a repeated parameter
//! is never read as a single value.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthd::http::extract::FormParams;

const KEYS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "state",
    "code",
    "grant_type",
    "a",
];

fuzz_target!(|raw: &[u8]| {
    let Ok(form) = FormParams::parse(raw) else {
        return;
    };
    let forbidden = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
    let _ = form.authorize_params();
    for key in KEYS {
        let values: Vec<&str> = form.all(key).collect();
        for v in &values {
            assert!(!v.is_empty(), "empty values count as omitted");
            assert!(!v.chars().any(forbidden));
        }
        match form.single(key) {
            Ok(None) => assert!(values.is_empty()),
            Ok(Some(v)) => assert_eq!(values, [v]),
            Err(_) => assert!(values.len() > 1),
        }
    }
});
