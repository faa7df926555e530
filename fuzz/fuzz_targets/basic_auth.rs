//! HTTP Basic client credentials: raw header bytes, and arbitrary bytes
//! base64-encoded behind `Basic ` (to get past the base64 layer). No input
//! panics; an accepted id is non-empty and free of NUL and other controls.

#![no_main]

use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, HeaderValue};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use oauthd::http::extract::{FormParams, client_credentials};
use oauthd::oauth::client_auth::Credentials;

fuzz_target!(|input: (bool, &[u8])| {
    let (encode, data) = input;
    let value = if encode {
        format!("Basic {}", STANDARD.encode(data)).into_bytes()
    } else {
        data.to_vec()
    };
    let Ok(value) = HeaderValue::from_bytes(&value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(AUTHORIZATION, value);
    if let Ok(Credentials::Basic { id, secret }) =
        client_credentials(&headers, &FormParams::default())
    {
        let forbidden = |c: char| c.is_control() && !matches!(c, '\t' | '\n' | '\r');
        assert!(!id.is_empty());
        assert!(!id.chars().chain(secret.chars()).any(forbidden));
    }
});
