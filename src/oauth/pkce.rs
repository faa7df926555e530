//! PKCE (RFC 7636): challenge syntax at the authorization endpoint and the
//! verifier check at the token endpoint.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

use super::error::OAuthError;
use crate::crypto::constant_time_eq;

/// How the challenge was derived from the verifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// BASE64URL(SHA-256(verifier)).
    S256,
    /// The verifier itself; only where config allows it.
    Plain,
}

impl Method {
    /// The RFC 7636 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::S256 => "S256",
            Self::Plain => "plain",
        }
    }

    /// Parses a stored or sent method name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "S256" => Some(Self::S256),
            "plain" => Some(Self::Plain),
            _ => None,
        }
    }
}

/// A checked code challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    /// S256 or plain.
    pub method: Method,
    /// The challenge as sent.
    pub value: String,
}

/// Checks the challenge parameters of an authorization request.
///
/// RFC 7636 §4.3: a challenge without a method means `plain`. `plain` is
/// refused unless `allow_plain` (RFC 9700 §2.1.1). An S256 challenge is 43
/// base64url characters; a plain one has verifier syntax.
pub fn parse_challenge(
    challenge: Option<&str>,
    method: Option<&str>,
    allow_plain: bool,
) -> Result<Option<Challenge>, OAuthError> {
    let Some(value) = challenge else {
        if method.is_some() {
            return Err(OAuthError::invalid_request(
                "code_challenge_method was sent without code_challenge",
            ));
        }
        return Ok(None);
    };
    let method = match method {
        None | Some("plain") => Method::Plain,
        Some("S256") => Method::S256,
        Some(_) => {
            return Err(OAuthError::invalid_request(
                "code_challenge_method must be S256",
            ));
        }
    };
    match method {
        Method::Plain if !allow_plain => Err(OAuthError::invalid_request(
            "code_challenge_method plain is not allowed; use S256 (a challenge without a method means plain)",
        )),
        Method::S256 if !is_s256_challenge(value) => Err(OAuthError::invalid_request(
            "an S256 code_challenge is 43 base64url characters",
        )),
        Method::Plain if !is_verifier(value) => Err(OAuthError::invalid_request(
            "a plain code_challenge is 43 to 128 unreserved characters",
        )),
        _ => Ok(Some(Challenge {
            method,
            value: value.to_owned(),
        })),
    }
}

fn is_s256_challenge(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / - . _ ~`.
pub fn is_verifier(value: &str) -> bool {
    (43..=128).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.6: does `verifier` answer `challenge`?
pub fn verify(challenge: &Challenge, verifier: &str) -> bool {
    if !is_verifier(verifier) {
        return false;
    }
    match challenge.method {
        Method::S256 => {
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            constant_time_eq(&computed, &challenge.value)
        }
        Method::Plain => constant_time_eq(verifier, &challenge.value),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7636 Appendix B.
    const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn verifies_the_rfc_7636_appendix_b_vector() {
        let c = parse_challenge(Some(CHALLENGE), Some("S256"), false)
            .unwrap()
            .unwrap();
        assert!(verify(&c, VERIFIER));
        assert!(!verify(&c, &VERIFIER.replace('d', "e")));
        assert!(!verify(&c, "short"));
        assert!(!verify(&c, &"a".repeat(129)));
    }

    #[test]
    fn a_challenge_without_a_method_is_plain_and_plain_is_off_by_default() {
        assert!(parse_challenge(Some(VERIFIER), None, false).is_err());
        let c = parse_challenge(Some(VERIFIER), None, true)
            .unwrap()
            .unwrap();
        assert_eq!(c.method, Method::Plain);
        assert!(verify(&c, VERIFIER));
    }

    #[test]
    fn refuses_bad_challenges() {
        for (challenge, method) in [
            (Some(CHALLENGE), Some("S512")),
            (Some(&CHALLENGE[..42]), Some("S256")),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM"),
                Some("S256"),
            ),
            (
                Some("E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c="),
                Some("S256"),
            ),
            (None, Some("S256")),
        ] {
            assert!(
                parse_challenge(challenge, method, true).is_err(),
                "{challenge:?} {method:?}"
            );
        }
        assert_eq!(parse_challenge(None, None, false), Ok(None));
    }
}
