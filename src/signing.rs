//! ID-token signing keys: generation, sealing at rest, rotation, the JWKS,
//! and signing.
//!
//! Every decision is a function of the `signing_keys` rows and the clock,
//! never of process memory, so replicas sharing a database agree:
//!
//! - the *active* key (the one that signs) is the newest generation, not
//!   retired, whose `activates_at` has passed;
//! - a key is *published* (in the JWKS) from creation until
//!   `max_token_lifetime` after a newer key activated, so a key is seen
//!   before it signs (`prepublish`) and after, while what it signed lives;
//! - a retired key (`oauthd keys retire`) is neither.
//!
//! Private halves are sealed with AES-256-GCM under the key-encryption key
//! from config (the kid is the associated data); the database never holds
//! the key-encryption key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{SigningAlgorithm, SigningConfig};
use crate::store::signing_keys::{self, SigningKeyRow};
use crate::store::{self, Db};

/// Why a key could not be made, read or used. No message carries key
/// material.
#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    /// No `signing.key_encryption_key` (or `_file`) is configured.
    #[error(
        "no key-encryption key is configured: set signing.key_encryption_key or signing.key_encryption_key_file"
    )]
    NoKek,
    /// The sealed private key does not open under the configured
    /// key-encryption key.
    #[error(
        "signing key {kid} cannot be decrypted with the configured signing.key_encryption_key (it was sealed with a different one, or the row is damaged)"
    )]
    Decrypt {
        /// The key's id.
        kid: String,
    },
    /// No key is active (none was generated, or all were retired).
    #[error("no signing key is active: run `oauthd keys rotate --now`")]
    NoActiveKey,
    /// The operation is refused as asked.
    #[error("{0}")]
    Refused(String),
    /// Key generation or signing failed in the crypto library.
    #[error("signing key operation failed: {0}")]
    Crypto(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn sealer(kek: &[u8; 32]) -> Result<LessSafeKey, SigningError> {
    UnboundKey::new(&AES_256_GCM, kek)
        .map(LessSafeKey::new)
        .map_err(|_| SigningError::Crypto("bad key-encryption key length".into()))
}

/// Seals a private key: a random nonce, then ciphertext and tag; `kid` is
/// bound as associated data.
pub fn seal(kek: &[u8; 32], kid: &str, private: &[u8]) -> Result<Vec<u8>, SigningError> {
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| SigningError::Crypto("no randomness".into()))?;
    let mut buf = private.to_vec();
    sealer(kek)?
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(kid.as_bytes()),
            &mut buf,
        )
        .map_err(|_| SigningError::Crypto("sealing failed".into()))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&buf);
    Ok(out)
}

/// Opens what [`seal`] sealed; [`SigningError::Decrypt`] under a wrong key.
pub fn open(kek: &[u8; 32], kid: &str, sealed: &[u8]) -> Result<Vec<u8>, SigningError> {
    let fail = || SigningError::Decrypt {
        kid: kid.to_owned(),
    };
    if sealed.len() < NONCE_LEN {
        return Err(fail());
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| fail())?;
    let mut buf = body.to_vec();
    let plain = sealer(kek)?
        .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buf)
        .map_err(|_| fail())?;
    Ok(plain.to_vec())
}

/// A fresh key pair: the private half (PKCS#1 DER for RSA, PKCS#8 DER
/// otherwise, as `jsonwebtoken` reads them) and the public JWK.
fn generate_pair(
    alg: SigningAlgorithm,
    kid: &str,
) -> Result<(Vec<u8>, serde_json::Value), SigningError> {
    let rng = SystemRandom::new();
    let crypto = |e: &dyn std::fmt::Display| SigningError::Crypto(e.to_string());
    match alg {
        SigningAlgorithm::Rs256 => {
            use rsa::pkcs1::EncodeRsaPrivateKey as _;
            use rsa::traits::PublicKeyParts as _;
            let key =
                rsa::RsaPrivateKey::new(&mut rand_core06::OsRng, 2048).map_err(|e| crypto(&e))?;
            let der = key.to_pkcs1_der().map_err(|e| crypto(&e))?;
            let jwk = serde_json::json!({
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": kid,
                "n": B64.encode(key.n().to_bytes_be()),
                "e": B64.encode(key.e().to_bytes_be()),
            });
            Ok((der.as_bytes().to_vec(), jwk))
        }
        SigningAlgorithm::Es256 => {
            let alg = &signature::ECDSA_P256_SHA256_FIXED_SIGNING;
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(alg, &rng).map_err(|e| crypto(&e))?;
            let pair =
                EcdsaKeyPair::from_pkcs8(alg, pkcs8.as_ref(), &rng).map_err(|e| crypto(&e))?;
            // Uncompressed point: 0x04, then x and y (32 bytes each).
            let point = pair.public_key().as_ref();
            let (x, y) = point
                .get(1..)
                .filter(|xy| xy.len() == 64)
                .map(|xy| xy.split_at(32))
                .ok_or_else(|| SigningError::Crypto("unexpected P-256 public key".into()))?;
            let jwk = serde_json::json!({
                "kty": "EC",
                "use": "sig",
                "alg": "ES256",
                "kid": kid,
                "crv": "P-256",
                "x": B64.encode(x),
                "y": B64.encode(y),
            });
            Ok((pkcs8.as_ref().to_vec(), jwk))
        }
        SigningAlgorithm::EdDsa => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| crypto(&e))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| crypto(&e))?;
            let jwk = serde_json::json!({
                "kty": "OKP",
                "use": "sig",
                "alg": "EdDSA",
                "kid": kid,
                "crv": "Ed25519",
                "x": B64.encode(pair.public_key().as_ref()),
            });
            Ok((pkcs8.as_ref().to_vec(), jwk))
        }
    }
}

/// A new key row (not stored): generation `generation`, signing from
/// `activates_at`.
pub fn generate(
    config: &SigningConfig,
    now: i64,
    generation: i64,
    activates_at: i64,
) -> Result<SigningKeyRow, SigningError> {
    let kek = config
        .key_encryption_key
        .as_ref()
        .ok_or(SigningError::NoKek)?;
    let mut id = [0u8; 12];
    SystemRandom::new()
        .fill(&mut id)
        .map_err(|_| SigningError::Crypto("no randomness".into()))?;
    let kid = B64.encode(id);
    let (private, jwk) = generate_pair(config.algorithm, &kid)?;
    Ok(SigningKeyRow {
        private_key: seal(kek, &kid, &private)?,
        kid,
        generation,
        alg: config.algorithm.as_str().to_owned(),
        public_jwk: jwk.to_string(),
        created_at: now,
        activates_at,
        retired_at: None,
    })
}

/// The key that signs at `now`: the newest unretired generation whose
/// activation has passed.
pub fn active(rows: &[SigningKeyRow], now: i64) -> Option<&SigningKeyRow> {
    rows.iter()
        .filter(|k| k.retired_at.is_none() && k.activates_at <= now)
        .max_by_key(|k| k.generation)
}

/// When `key` stopped signing: the first activation, by `now`, of a newer
/// key that was not retired before it activated (a key retired after it
/// signed still ended its predecessor's time).
fn superseded_at(rows: &[SigningKeyRow], key: &SigningKeyRow, now: i64) -> Option<i64> {
    rows.iter()
        .filter(|k| {
            k.generation > key.generation
                && k.activates_at <= now
                && k.retired_at.is_none_or(|r| k.activates_at < r)
        })
        .map(|k| k.activates_at)
        .min()
}

/// The keys a verifier needs at `now`, oldest generation first: every
/// unretired key not yet superseded, and superseded ones until
/// `max_token_lifetime` after.
pub fn published<'a>(
    rows: &'a [SigningKeyRow],
    now: i64,
    config: &SigningConfig,
) -> Vec<&'a SigningKeyRow> {
    let keep = secs(config.max_token_lifetime);
    let mut out: Vec<&SigningKeyRow> = rows
        .iter()
        .filter(|k| k.retired_at.is_none())
        .filter(|k| superseded_at(rows, k, now).is_none_or(|t| now < t.saturating_add(keep)))
        .collect();
    out.sort_by_key(|k| k.generation);
    out
}

/// The JWK Set document (RFC 7517 §5) of the keys published at `now`.
pub fn jwks(rows: &[SigningKeyRow], now: i64, config: &SigningConfig) -> serde_json::Value {
    let keys: Vec<serde_json::Value> = published(rows, now, config)
        .into_iter()
        .filter_map(|k| serde_json::from_str(&k.public_jwk).ok())
        .collect();
    serde_json::json!({ "keys": keys })
}

/// Stores a new key of the next generation, signing `prepublish` from now
/// (or at once with `immediate`). `Ok(None)` when another process stored
/// that generation first (its key is the one everybody uses).
pub async fn rotate(
    db: &Db,
    clock: &Clock,
    config: &SigningConfig,
    immediate: bool,
) -> Result<Option<SigningKeyRow>, SigningError> {
    let rows = signing_keys::list(db).await?;
    create(db, clock, config, &rows, immediate).await
}

/// Stores the generation after the newest in `rows` (the snapshot the
/// caller decided on): when another process stored that generation since,
/// the unique generation refuses this one and `Ok(None)` says so.
async fn create(
    db: &Db,
    clock: &Clock,
    config: &SigningConfig,
    rows: &[SigningKeyRow],
    immediate: bool,
) -> Result<Option<SigningKeyRow>, SigningError> {
    let now = clock.now();
    let generation = rows.iter().map(|k| k.generation).max().unwrap_or(0) + 1;
    let activates_at = if immediate {
        now
    } else {
        now.saturating_add(secs(config.prepublish))
    };
    let key = generate(config, now, generation, activates_at)?;
    match signing_keys::insert(db, &key).await {
        Ok(()) => {
            tracing::info!(
                kid = key.kid,
                alg = key.alg,
                generation,
                activates_at,
                "signing key created"
            );
            Ok(Some(key))
        }
        Err(store::Error::Conflict) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// What `serve` runs at start and on every janitor tick: the first key
/// (signing at once) when there is none, and a scheduled rotation when the
/// newest key is `rotate_after` old, published `prepublish` ahead. Does
/// nothing without a key-encryption key. Replicas racing here insert one
/// key between them (the generation is unique).
pub async fn maintain(
    db: &Db,
    clock: &Clock,
    config: &SigningConfig,
) -> Result<Option<SigningKeyRow>, SigningError> {
    if config.key_encryption_key.is_none() {
        return Ok(None);
    }
    let rows = signing_keys::list(db).await?;
    let now = clock.now();
    let newest = rows
        .iter()
        .filter(|k| k.retired_at.is_none())
        .max_by_key(|k| k.generation);
    let Some(newest) = newest else {
        return create(db, clock, config, &rows, true).await;
    };
    let Some(after) = config.rotate_after else {
        return Ok(None);
    };
    let due = newest
        .activates_at
        .saturating_add(secs(after))
        .saturating_sub(secs(config.prepublish));
    if now >= due {
        return create(db, clock, config, &rows, false).await;
    }
    Ok(None)
}

/// Signs `claims` as a JWS with the active key (its `kid` in the header).
pub async fn sign<T: Serialize>(
    db: &Db,
    clock: &Clock,
    config: &SigningConfig,
    claims: &T,
) -> Result<String, SigningError> {
    let kek = config
        .key_encryption_key
        .as_ref()
        .ok_or(SigningError::NoKek)?;
    let rows = signing_keys::list(db).await?;
    let key = active(&rows, clock.now()).ok_or(SigningError::NoActiveKey)?;
    sign_with(kek, key, claims)
}

/// Signs `claims` with one given key.
pub fn sign_with<T: Serialize>(
    kek: &[u8; 32],
    key: &SigningKeyRow,
    claims: &T,
) -> Result<String, SigningError> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let der = open(kek, &key.kid, &key.private_key)?;
    let (alg, encoding) = match SigningAlgorithm::parse(&key.alg) {
        Some(SigningAlgorithm::Rs256) => (Algorithm::RS256, EncodingKey::from_rsa_der(&der)),
        Some(SigningAlgorithm::Es256) => (Algorithm::ES256, EncodingKey::from_ec_der(&der)),
        Some(SigningAlgorithm::EdDsa) => (Algorithm::EdDSA, EncodingKey::from_ed_der(&der)),
        None => {
            return Err(SigningError::Store(store::Error::Corrupt(format!(
                "signing key {} has unknown alg {}",
                key.kid, key.alg
            ))));
        }
    };
    let mut header = Header::new(alg);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &encoding)
        .map_err(|e| SigningError::Crypto(e.to_string()))
}

/// What `oauthd keys list` shows of a key (never the private half).
#[derive(Clone, Debug, Serialize)]
pub struct KeyView {
    /// The key id.
    pub kid: String,
    /// Its generation.
    pub generation: i64,
    /// Its algorithm.
    pub alg: String,
    /// `pending`, `active`, `published` (superseded, still verifying),
    /// `expired` or `retired`.
    pub state: &'static str,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub activates_at: i64,
    /// Unix seconds.
    pub retired_at: Option<i64>,
}

/// Every key with its state at `now`.
pub fn views(rows: &[SigningKeyRow], now: i64, config: &SigningConfig) -> Vec<KeyView> {
    let active_kid = active(rows, now).map(|k| k.kid.clone());
    let shown: Vec<&str> = published(rows, now, config)
        .into_iter()
        .map(|k| k.kid.as_str())
        .collect();
    rows.iter()
        .map(|k| {
            let state = if k.retired_at.is_some() {
                "retired"
            } else if active_kid.as_deref() == Some(k.kid.as_str()) {
                "active"
            } else if k.activates_at > now && shown.contains(&k.kid.as_str()) {
                "pending"
            } else if shown.contains(&k.kid.as_str()) {
                "published"
            } else {
                "expired"
            };
            KeyView {
                kid: k.kid.clone(),
                generation: k.generation,
                alg: k.alg.clone(),
                state,
                created_at: k.created_at,
                activates_at: k.activates_at,
                retired_at: k.retired_at,
            }
        })
        .collect()
}

/// `oauthd keys retire`: the key stops being published at once. The active
/// key is refused (rotate with `--now` first, so something still signs).
pub async fn retire(db: &Db, clock: &Clock, kid: &str) -> Result<bool, SigningError> {
    let rows = signing_keys::list(db).await?;
    let now = clock.now();
    if active(&rows, now).is_some_and(|k| k.kid == kid) {
        return Err(SigningError::Refused(format!(
            "{kid} is the active signing key: run `oauthd keys rotate --now` first"
        )));
    }
    Ok(signing_keys::retire(db, kid, now).await?)
}
