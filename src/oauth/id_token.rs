//! OpenID Connect ID tokens (Core §2, §3.1.3.6): the claims, and signing
//! them with the active signing key (`crate::signing`).
//!
//! Signing reads the keys from the database, so callers sign before they
//! open the transaction that stores the tokens, never inside it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Serialize;
use sha2::Digest as _;

use super::error::{Error, ErrorCode, OAuthError};
use super::scope::Scopes;
use super::subject;
use crate::clock::Clock;
use crate::config::{Config, SigningAlgorithm};
use crate::signing::{Keys, SigningError};
use crate::store::clients::Client;
use crate::store::{self, Db};

/// The scope that asks for an ID token.
pub const OPENID: &str = "openid";

/// Longest `nonce` accepted at the authorization endpoint; longer is
/// refused (`invalid_request`), never truncated.
pub const MAX_NONCE_LEN: usize = 512;

/// The authentication methods an ID token reports (RFC 8176): a password.
pub const AMR: [&str; 1] = ["pwd"];

/// True when `scope` asks for an ID token.
pub fn wanted(scope: &Scopes) -> bool {
    scope.contains(OPENID)
}

/// True when this server can sign ID tokens at all: a key-encryption key
/// is configured. Without one, `openid` is refused as `invalid_scope`.
pub fn available(config: &Config) -> bool {
    config.signing.key_encryption_key.is_some()
}

/// The refusal when `openid` is asked for and nothing can sign.
pub fn unavailable() -> OAuthError {
    OAuthError::new(
        ErrorCode::InvalidScope,
        "the openid scope is not available: this server has no ID-token signing key",
    )
}

/// What an ID token is about.
#[derive(Clone, Copy, Debug)]
pub struct Subject<'a> {
    /// The client it is for (`aud`, `azp`, and the subject rule).
    pub client: &'a Client,
    /// The user.
    pub user_id: &'a str,
    /// The authorization request's `nonce` (not on refresh, Core §12.2).
    pub nonce: Option<&'a str>,
    /// When the user signed in.
    pub auth_time: Option<i64>,
    /// The access token issued with it, for `at_hash`.
    pub access_token: &'a str,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    sub: String,
    aud: &'a str,
    exp: i64,
    iat: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    at_hash: String,
    azp: &'a str,
    amr: [&'static str; 1],
}

/// `at_hash` (Core §3.1.3.6): the left half of the hash of the access
/// token, under the hash of the signing algorithm (SHA-512 for Ed25519).
pub fn at_hash(alg: SigningAlgorithm, access_token: &str) -> String {
    match alg {
        SigningAlgorithm::Rs256 | SigningAlgorithm::Es256 => {
            let digest = sha2::Sha256::digest(access_token.as_bytes());
            B64.encode(&digest[..16])
        }
        SigningAlgorithm::EdDsa => {
            let digest = sha2::Sha512::digest(access_token.as_bytes());
            B64.encode(&digest[..32])
        }
    }
}

/// How long an ID token is valid: the access token's lifetime, but never
/// longer than a replaced signing key stays published.
fn lifetime(config: &Config) -> i64 {
    let secs = config
        .tokens
        .access_token_lifetime
        .min(config.signing.max_token_lifetime)
        .as_secs();
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Signs the ID token for `about` with the key active now (through the
/// `keys` cache: no table read or key unsealing per token).
pub async fn sign(
    db: &Db,
    clock: &Clock,
    config: &Config,
    keys: &Keys,
    about: Subject<'_>,
) -> Result<String, Error> {
    if config.signing.key_encryption_key.is_none() {
        return Err(unavailable().into());
    }
    // A pairwise client whose salt is gone (the authorization endpoint
    // refuses openid for it; this is a code asked for before the change).
    if !subject::servable(config, about.client) {
        return Err(unavailable().into());
    }
    let sub = subject::subject(config, about.user_id, about.client)
        .map_err(|e| store::Error::Corrupt(format!("client {}: {e}", about.client.id)))?;
    let now = clock.now();
    let build = |alg: &str| Claims {
        iss: config.issuer(),
        sub,
        aud: &about.client.id,
        exp: now.saturating_add(lifetime(config)),
        iat: now,
        auth_time: about.auth_time,
        nonce: about.nonce,
        // A key of an unknown algorithm cannot sign: the hash is never sent.
        at_hash: SigningAlgorithm::parse(alg)
            .map(|alg| at_hash(alg, about.access_token))
            .unwrap_or_default(),
        azp: &about.client.id,
        amr: AMR,
    };
    keys.sign_built(db, clock, &config.signing, None, build)
        .await
        .map_err(|e| match e {
            SigningError::Store(e) => Error::Store(e),
            SigningError::NoKek | SigningError::NoActiveKey => unavailable().into(),
            // A key that does not open, or a crypto failure: the operator's
            // problem, a server error (the message names the key, never
            // material).
            other => Error::Store(store::Error::Corrupt(other.to_string())),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_hash_is_the_left_half_of_the_digest() {
        // OpenID Connect Core, Appendix A.3 (RS256).
        assert_eq!(
            at_hash(
                SigningAlgorithm::Rs256,
                "jHkWEdUXMU1BwAsC4vtUsZwnNvTIxEl0z9K3vx5KF0Y"
            ),
            "77QmUPtjPfzWtF2AnpK9RQ"
        );
        assert_eq!(at_hash(SigningAlgorithm::EdDsa, "x").len(), 43);
    }
}
