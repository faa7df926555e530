//! The device authorization grant (RFC 8628), apart from the token
//! endpoint's part (`grant::device_code`): starting a request, the user
//! codes people type, and the user's decision.
//!
//! The device gets a high-entropy device code (stored as its SHA-256, like
//! every credential) and a short user code the user types at `/device` on
//! another device. User codes are 8 letters from a consonant-only alphabet
//! (§6.1), about 34 bits; what keeps them from being guessed is the rate
//! limit on code entry (per address and per session) and the cap on the
//! wrong codes a pending request absorbs ([`record_failed_guess`], §5.1).

use std::collections::HashMap;
use std::sync::Mutex;

use super::error::{Error, ErrorCode, OAuthError};
use super::registration::GrantType;
use super::resource::Resources;
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::{self, Secret, SecretKind, Sha256Digest, sha256_hex};
use crate::oauth::token::seconds;
use crate::store::device_codes::{DeviceCode, NewDeviceCode};
use crate::store::{self, Db, clients::Client};

/// The letters of a user code: no vowels (no words), none that look alike.
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";
/// Letters in a user code.
pub const USER_CODE_LEN: usize = 8;
/// RFC 8628 §3.5: each `slow_down` adds 5 seconds to the interval.
pub const SLOW_DOWN_STEP: i64 = 5;

/// A user code in its normalized form: 8 letters of [`USER_CODE_ALPHABET`].
#[derive(Clone, PartialEq, Eq)]
pub struct UserCode(String);

impl std::fmt::Debug for UserCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UserCode(..)")
    }
}

impl UserCode {
    /// A random user code (rejection sampling keeps the letters uniform).
    pub fn generate() -> Self {
        let mut code = String::with_capacity(USER_CODE_LEN);
        while code.len() < USER_CODE_LEN {
            for b in crypto::random_bytes::<16>() {
                // 240 = 12 × 20: bytes above it would favour the first letters.
                if b < 240 && code.len() < USER_CODE_LEN {
                    let letter = USER_CODE_ALPHABET[usize::from(b % 20)];
                    code.push(char::from(letter));
                }
            }
        }
        Self(code)
    }

    /// Reads what a user typed: case-insensitive, dashes and spaces ignored
    /// (§6.1). `None` when it cannot be a user code.
    pub fn parse(input: &str) -> Option<Self> {
        let code: String = input
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .map(|c| c.to_ascii_uppercase())
            .collect();
        (code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b)))
            .then_some(Self(code))
    }

    /// The normalized 8 letters (what a form carries back).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// As shown to people: `WDJB-MJHT`.
    pub fn display(&self) -> String {
        let (a, b) = self.0.split_at(USER_CODE_LEN / 2);
        format!("{a}-{b}")
    }

    /// What the database keeps.
    pub fn digest(&self) -> String {
        sha256_hex(&self.0)
    }
}

/// A started device authorization request, as the device is told it.
#[derive(Debug)]
pub struct Started {
    /// The device code (shown once).
    pub device_code: Secret,
    /// The user code.
    pub user_code: UserCode,
    /// Seconds until both expire.
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

/// RFC 8628 §3.1–3.2: starts a request for `client` (already authenticated)
/// with the requested scope, or all of the client's scopes, and the
/// resources it names (RFC 8707; checked as at `/oauth/authorize`).
pub async fn start(
    db: &Db,
    clock: &Clock,
    config: &Config,
    client: &Client,
    scope: Option<&str>,
    resources: &Resources,
) -> Result<Started, Error> {
    if !client.grant_types.contains(&GrantType::DeviceCode) {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the device code grant",
        )
        .into());
    }
    let scope = super::grant::client_scope(client, scope)?;
    // As at /oauth/authorize: `openid` only where an ID token can be signed.
    if super::id_token::wanted(&scope)
        && !(super::id_token::available(config) && super::subject::servable(config, client))
    {
        return Err(super::id_token::unavailable().into());
    }
    super::resource::check_allowed(db, config, &client.id, resources).await?;
    let stored_resources = resources.to_stored();
    let now = clock.now();
    let expires_in = seconds(config.device.code_lifetime);
    let interval = seconds(config.device.interval);
    let scope = scope.to_string();
    // A user code names one pending request; a collision (about one in
    // 2.5e10 per live request) draws again.
    for _ in 0..4 {
        let device_code = Secret::generate(SecretKind::DeviceCode);
        let user_code = UserCode::generate();
        let inserted = store::device_codes::insert(
            db,
            NewDeviceCode {
                device_code_hash: device_code.sha256(),
                user_code_hash: &user_code.digest(),
                client_id: &client.id,
                scope: &scope,
                resources: stored_resources.as_deref(),
                interval_secs: interval,
                created_at: now,
                expires_at: now.saturating_add(expires_in),
            },
        )
        .await;
        match inserted {
            Ok(()) => {
                tracing::debug!(client.id = %client.id, scope = %scope, "started a device authorization request");
                return Ok(Started {
                    device_code,
                    user_code,
                    expires_in,
                    interval,
                });
            }
            Err(store::Error::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(store::Error::Corrupt("no free user code after four draws".into()).into())
}

/// The pending request a user code names, if it is live and has not
/// absorbed too many wrong codes.
pub async fn find_pending(
    db: &Db,
    clock: &Clock,
    config: &Config,
    user_code: &UserCode,
) -> Result<Option<DeviceCode>, store::Error> {
    store::device_codes::find_pending(
        db,
        &user_code.digest(),
        clock.now(),
        i64::from(config.device.max_failed_guesses),
    )
    .await
}

/// RFC 8628 §5.1: a wrong user code counts against every pending request.
pub async fn record_failed_guess(db: &Db, clock: &Clock) -> Result<(), store::Error> {
    store::device_codes::count_guess(db, clock.now())
        .await
        .map(drop)
}

/// The user approves: a grant is made for the client and the user, and the
/// request points at it, in one transaction; the consent is remembered so
/// the authorization shows on the user's pages. `auth_time` is when the
/// approving user signed in (an ID token's `auth_time`). False when the
/// request is no longer pending (answered meanwhile, expired).
pub async fn approve(
    db: &Db,
    clock: &Clock,
    config: &Config,
    code: &DeviceCode,
    user_id: &str,
    auth_time: i64,
) -> Result<bool, store::Error> {
    let now = clock.now();
    let grant_id = crypto::random_id();
    let mut tx = db.begin().await?;
    store::grants::insert(
        &mut tx,
        store::grants::NewGrant {
            id: &grant_id,
            client_id: &code.client_id,
            user_id,
            created_at: now,
            expires_at: code.expires_at,
            auth_time: Some(auth_time),
        },
    )
    .await?;
    if !store::device_codes::approve(
        &mut tx,
        &code.device_code_hash,
        user_id,
        &grant_id,
        now,
        i64::from(config.device.max_failed_guesses),
    )
    .await?
    {
        // Dropping the transaction rolls the grant back.
        return Ok(false);
    }
    tx.commit().await?;
    super::authorize::remember_consent(
        db,
        clock,
        user_id,
        &code.client_id,
        &code.scope,
        &Resources::from_stored(code.resources.as_deref()),
    )
    .await?;
    tracing::info!(client.id = %code.client_id, user.id = %user_id, scope = %code.scope, "user approved a device authorization request");
    Ok(true)
}

/// The user denies; false when the request is no longer pending.
pub async fn deny(
    db: &Db,
    clock: &Clock,
    code: &DeviceCode,
    user_id: &str,
) -> Result<bool, store::Error> {
    let denied =
        store::device_codes::deny(db, &code.device_code_hash, user_id, clock.now()).await?;
    if denied {
        tracing::info!(client.id = %code.client_id, user.id = %user_id, "user denied a device authorization request");
    }
    Ok(denied)
}

/// When each device code was last polled, in this process: enough to tell
/// a device that polls faster than its interval (`slow_down`) without a
/// database write per poll. Another replica does not see these polls; the
/// raised interval itself is stored.
#[derive(Debug, Default)]
pub struct Polls(Mutex<HashMap<Sha256Digest, i64>>);

/// Entries kept before old ones are dropped.
const MAX_POLLS: usize = 100_000;

impl Polls {
    /// Records a poll at `now`; true when the previous one was less than
    /// `interval` seconds before.
    pub fn too_soon(&self, hash: Sha256Digest, now: i64, interval: i64) -> bool {
        let Ok(mut polls) = self.0.lock() else {
            return false;
        };
        if polls.len() >= MAX_POLLS {
            polls.retain(|_, at| now.saturating_sub(*at) < 3600);
        }
        let previous = polls.insert(hash, now);
        previous.is_some_and(|at| now.saturating_sub(at) < interval)
    }

    /// Forgets a device code that will not be polled again.
    pub fn forget(&self, hash: &Sha256Digest) {
        if let Ok(mut polls) = self.0.lock() {
            polls.remove(hash);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_codes_are_eight_letters_of_the_alphabet() {
        for _ in 0..200 {
            let code = UserCode::generate();
            assert_eq!(code.as_str().len(), USER_CODE_LEN);
            assert!(
                code.as_str()
                    .bytes()
                    .all(|b| USER_CODE_ALPHABET.contains(&b))
            );
            let shown = code.display();
            assert_eq!(shown.len(), 9);
            assert_eq!(&shown[4..5], "-");
            assert_eq!(UserCode::parse(&shown), Some(code));
        }
    }

    #[test]
    fn typed_codes_ignore_case_dashes_and_spaces() {
        let want = UserCode::parse("WDJBMJHT").unwrap();
        for typed in ["wdjb-mjht", " WDJB MJHT ", "wDjB-mJhT", "W-D-J-B-M-J-H-T"] {
            assert_eq!(UserCode::parse(typed).as_ref(), Some(&want), "{typed}");
        }
        for bad in [
            "",
            "WDJB-MJH",
            "WDJB-MJHTX",
            "WDJB-MJHA",
            "WDJB_MJHT",
            "ẀDJB-MJHT",
        ] {
            assert_eq!(UserCode::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn polls_faster_than_the_interval_are_too_soon() {
        let polls = Polls::default();
        let h = Sha256Digest::of("x");
        assert!(!polls.too_soon(h, 100, 5));
        assert!(polls.too_soon(h, 104, 5));
        assert!(!polls.too_soon(h, 109, 5));
    }
}
