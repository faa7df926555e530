//! The OpenID Connect subject (`sub`) of a user as one client sees it: the
//! one rule every claim producer (ID tokens, UserInfo, JWT access tokens,
//! the logout hint check) goes through.
//!
//! A public subject is the user's id (`users.id`): stable, opaque, never the
//! user name. A client registered with `subject_type=pairwise` sees instead
//! a keyed hash of its sector (the one host of its redirect URIs) and the
//! user id, under `oidc.pairwise_salt` (OpenID Connect Core §8.1): stable
//! for that sector, and unlinkable across sectors without the salt.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;

use super::error::OAuthError;
use crate::config::Config;
use crate::model::redirect_uri::RedirectUri;
use crate::store::clients::Client;

/// A pairwise client, and no `oidc.pairwise_salt` to derive its subjects.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("client uses pairwise subjects but no oidc.pairwise_salt is configured")]
pub struct MissingSalt;

/// The `sub` of `user_id` for `client`.
pub fn subject(config: &Config, user_id: &str, client: &Client) -> Result<String, MissingSalt> {
    for_sector(config, user_id, client.pairwise_sector.as_deref())
}

/// The `sub` of `user_id` for a client with pairwise `sector` (`None`: a
/// public-subject client).
pub fn for_sector(
    config: &Config,
    user_id: &str,
    sector: Option<&str>,
) -> Result<String, MissingSalt> {
    match sector {
        None => Ok(user_id.to_owned()),
        Some(sector) => {
            let salt = config.oidc.pairwise_salt.as_ref().ok_or(MissingSalt)?;
            Ok(pairwise(salt, sector, user_id))
        }
    }
}

/// True when `client`'s subjects can be computed under `config`.
pub fn servable(config: &Config, client: &Client) -> bool {
    client.pairwise_sector.is_none() || config.oidc.pairwise_salt.is_some()
}

/// HMAC-SHA256 under `salt` of the sector and the user id (separated by a
/// NUL, which neither holds), base64url.
pub fn pairwise(salt: &[u8; 32], sector: &str, user_id: &str) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, salt);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(sector.as_bytes());
    ctx.update(&[0]);
    ctx.update(user_id.as_bytes());
    B64.encode(ctx.sign().as_ref())
}

/// The sector of a pairwise client: the one host its redirect URIs share
/// (`sector_identifier_uri` is not supported, so several hosts are refused).
pub fn sector(redirect_uris: &[RedirectUri]) -> Result<String, OAuthError> {
    let mut hosts: Vec<String> = Vec::new();
    for uri in redirect_uris {
        let host = url::Url::parse(uri.as_str())
            .ok()
            .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
            .ok_or_else(|| {
                OAuthError::invalid_client_metadata(
                    "pairwise subjects need redirect URIs with a host",
                )
            })?;
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }
    match hosts.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(OAuthError::invalid_client_metadata(
            "pairwise subjects need at least one redirect URI",
        )),
        _ => Err(OAuthError::invalid_client_metadata(
            "pairwise subjects need every redirect URI on one host (sector_identifier_uri is not supported)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairwise_subjects_differ_by_sector_and_user_and_are_stable() {
        let salt = [1u8; 32];
        let a = pairwise(&salt, "a.example", "u1");
        assert_eq!(a, pairwise(&salt, "a.example", "u1"));
        assert_ne!(a, pairwise(&salt, "b.example", "u1"));
        assert_ne!(a, pairwise(&salt, "a.example", "u2"));
        assert_ne!(a, pairwise(&[2u8; 32], "a.example", "u1"));
        assert_eq!(a.len(), 43);
    }
}
