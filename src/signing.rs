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
use crate::config::{Config, SigningAlgorithm, SigningConfig};
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
    /// A token did not verify ([`verify`]).
    #[error(transparent)]
    Invalid(#[from] Invalid),
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

/// Signs `claims` as a JWS with the active key (its `kid` in the header,
/// `typ: JWT`). Reads the keys from the database on every call; a server
/// signs through a [`Keys`] cache instead.
pub async fn sign<T: Serialize>(
    db: &Db,
    clock: &Clock,
    config: &SigningConfig,
    claims: &T,
) -> Result<String, SigningError> {
    sign_typed(db, clock, config, None, claims).await
}

/// [`sign`] with the JOSE `typ` header given: `Some("at+jwt")` for an
/// access token (RFC 9068 §2.1), `None` for the default `JWT`.
pub async fn sign_typed<T: Serialize>(
    db: &Db,
    clock: &Clock,
    config: &SigningConfig,
    typ: Option<&str>,
    claims: &T,
) -> Result<String, SigningError> {
    Keys::new().sign_typed(db, clock, config, typ, claims).await
}

/// Signs `claims` with one given key.
pub fn sign_with<T: Serialize>(
    kek: &[u8; 32],
    key: &SigningKeyRow,
    claims: &T,
) -> Result<String, SigningError> {
    let opened = OpenedKey::open(kek, key)?;
    opened.sign(None, claims)
}

/// The JOSE algorithm of a stored key.
fn jose_alg(key: &SigningKeyRow) -> Result<jsonwebtoken::Algorithm, SigningError> {
    use jsonwebtoken::Algorithm;
    match SigningAlgorithm::parse(&key.alg) {
        Some(SigningAlgorithm::Rs256) => Ok(Algorithm::RS256),
        Some(SigningAlgorithm::Es256) => Ok(Algorithm::ES256),
        Some(SigningAlgorithm::EdDsa) => Ok(Algorithm::EdDSA),
        None => Err(SigningError::Store(store::Error::Corrupt(format!(
            "signing key {} has unknown alg {}",
            key.kid, key.alg
        )))),
    }
}

/// A private key, unsealed and ready to sign.
struct OpenedKey {
    kid: String,
    alg: jsonwebtoken::Algorithm,
    encoding: jsonwebtoken::EncodingKey,
}

impl OpenedKey {
    fn open(kek: &[u8; 32], key: &SigningKeyRow) -> Result<Self, SigningError> {
        use jsonwebtoken::{Algorithm, EncodingKey};
        let alg = jose_alg(key)?;
        let der = open(kek, &key.kid, &key.private_key)?;
        let encoding = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_der(&der),
            Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            _ => EncodingKey::from_ed_der(&der),
        };
        Ok(Self {
            kid: key.kid.clone(),
            alg,
            encoding,
        })
    }

    fn sign<T: Serialize>(&self, typ: Option<&str>, claims: &T) -> Result<String, SigningError> {
        let mut header = jsonwebtoken::Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        if let Some(typ) = typ {
            header.typ = Some(typ.to_owned());
        }
        jsonwebtoken::encode(&header, claims, &self.encoding)
            .map_err(|e| SigningError::Crypto(e.to_string()))
    }
}

/// How long a [`Keys`] cache trusts the key list it read, in seconds.
///
/// Within this window a replica does not see a key another process
/// created or retired: after `oauthd keys rotate --now` it may go on
/// signing with the replaced key (still published, so what it signs
/// verifies) for up to this long, and a key retired while it was still
/// signing somewhere could sign for up to this long too; which is why the
/// active key cannot be retired, and why a replaced key should be retired
/// no sooner than this after the rotation. A pending key needs no re-read
/// to start signing: its activation time is in the list already.
pub const KEY_LIST_TTL_SECS: i64 = 10;

/// A cache of the signing keys for one process: the key list, re-read from
/// the database at most every [`KEY_LIST_TTL_SECS`] (by the clock), and
/// each private key unsealed once per process, by kid (a kid's key never
/// changes). Which key signs and which keys verify is decided from the
/// cached list and the clock exactly as [`active`] and [`published`]
/// decide from the table, so replicas sharing a database agree up to the
/// cache's age. Verification of an unknown kid re-reads the list at once
/// (at most once a second, so made-up kids cannot flood the database).
#[derive(Default)]
pub struct Keys {
    state: std::sync::Mutex<Cached>,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

#[derive(Default)]
struct Cached {
    rows: std::sync::Arc<Vec<SigningKeyRow>>,
    /// Clock seconds of the last read; `None`: never read.
    read_at: Option<i64>,
    /// Monotonic time of the last read caused by an unknown kid.
    missed_at: Option<std::time::Instant>,
    opened: std::collections::HashMap<String, std::sync::Arc<OpenedKey>>,
    decoding: std::collections::HashMap<String, std::sync::Arc<jsonwebtoken::DecodingKey>>,
}

/// What [`verify`] expects of a token besides a valid signature by a
/// published key and our issuer.
#[derive(Clone, Copy, Debug, Default)]
pub struct Expect<'a> {
    /// Accept a token whose `exp` has passed (an `id_token_hint`, OpenID
    /// Connect RP-Initiated Logout §2).
    pub accept_expired: bool,
    /// The `aud` the token must hold (one of, when it is an array).
    pub audience: Option<&'a str>,
    /// The JOSE `typ` header the token must carry (e.g. `at+jwt`).
    pub typ: Option<&'a str>,
}

/// Why [`verify`] refused a token. The messages name no part of the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Not a JWS we can parse, or an algorithm we do not use (`none`).
    #[error("the token is not a well-formed signed JWT")]
    Malformed,
    /// Its `kid` is not a published key.
    #[error("the token's key is not a published signing key")]
    UnknownKey,
    /// The signature does not verify, or the `alg` is not the key's.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// `iss` is not this server.
    #[error("the token was not issued by this server")]
    WrongIssuer,
    /// `exp` has passed (or is missing).
    #[error("the token has expired")]
    Expired,
    /// `aud` does not hold the expected audience.
    #[error("the token is not meant for this audience")]
    WrongAudience,
    /// The `typ` header is not the expected one.
    #[error("the token is of the wrong type")]
    WrongType,
}

impl Keys {
    /// An empty cache (the first use reads the table).
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cached> {
        // A panic while holding the lock leaves a consistent cache (every
        // update is a plain assignment), so a poisoned lock is used as is.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The key list, re-read when older than [`KEY_LIST_TTL_SECS`] or when
    /// `force`.
    async fn rows(
        &self,
        db: &Db,
        now: i64,
        force: bool,
    ) -> Result<std::sync::Arc<Vec<SigningKeyRow>>, SigningError> {
        {
            let cached = self.lock();
            let fresh = cached
                .read_at
                .is_some_and(|at| at <= now && now - at < KEY_LIST_TTL_SECS);
            if fresh && !force {
                return Ok(std::sync::Arc::clone(&cached.rows));
            }
        }
        let rows = std::sync::Arc::new(signing_keys::list(db).await?);
        let mut cached = self.lock();
        // Forget keys no longer listed (deleted rows); keep the rest.
        cached
            .opened
            .retain(|kid, _| rows.iter().any(|k| &k.kid == kid));
        cached
            .decoding
            .retain(|kid, _| rows.iter().any(|k| &k.kid == kid));
        cached.rows = std::sync::Arc::clone(&rows);
        cached.read_at = Some(now);
        Ok(rows)
    }

    /// Signs `claims` with the key active now (see [`active`]), `typ` in the
    /// header when given.
    pub async fn sign_typed<T: Serialize>(
        &self,
        db: &Db,
        clock: &Clock,
        config: &SigningConfig,
        typ: Option<&str>,
        claims: &T,
    ) -> Result<String, SigningError> {
        self.sign_built(db, clock, config, typ, |_| claims).await
    }

    /// Signs the claims `build` makes for the JOSE `alg` of the key active
    /// now (an ID token's `at_hash` depends on it), `typ` in the header when
    /// given.
    pub async fn sign_built<T: Serialize>(
        &self,
        db: &Db,
        clock: &Clock,
        config: &SigningConfig,
        typ: Option<&str>,
        build: impl FnOnce(&str) -> T,
    ) -> Result<String, SigningError> {
        let kek = config
            .key_encryption_key
            .as_ref()
            .ok_or(SigningError::NoKek)?;
        let now = clock.now();
        let mut rows = self.rows(db, now, false).await?;
        if active(&rows, now).is_none() {
            // The first key may have been made since the list was read.
            rows = self.rows(db, now, true).await?;
        }
        let key = active(&rows, now).ok_or(SigningError::NoActiveKey)?;
        let cached = self.lock().opened.get(&key.kid).cloned();
        let opened = match cached {
            Some(opened) => opened,
            None => {
                let opened = std::sync::Arc::new(OpenedKey::open(kek, key)?);
                self.lock()
                    .opened
                    .insert(key.kid.clone(), std::sync::Arc::clone(&opened));
                opened
            }
        };
        opened.sign(typ, &build(&key.alg))
    }

    /// Verifies a JWT this server signed: see the free function [`verify`].
    pub async fn verify(
        &self,
        db: &Db,
        clock: &Clock,
        config: &Config,
        token: &str,
        expect: Expect<'_>,
    ) -> Result<serde_json::Value, SigningError> {
        let now = clock.now();
        let header = jsonwebtoken::decode_header(token).map_err(|_| Invalid::Malformed)?;
        let kid = header.kid.clone().ok_or(Invalid::UnknownKey)?;
        let mut rows = self.rows(db, now, false).await?;
        if !published(&rows, now, &config.signing)
            .iter()
            .any(|k| k.kid == kid)
        {
            let may_reread = {
                let mut cached = self.lock();
                let due = cached
                    .missed_at
                    .is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(1));
                if due {
                    cached.missed_at = Some(std::time::Instant::now());
                }
                due
            };
            if may_reread {
                rows = self.rows(db, now, true).await?;
            }
        }
        let key = published(&rows, now, &config.signing)
            .into_iter()
            .find(|k| k.kid == kid)
            .ok_or(Invalid::UnknownKey)?;
        // The algorithm is the key's, never the token's choice.
        let alg = jose_alg(key)?;
        if header.alg != alg {
            return Err(Invalid::BadSignature.into());
        }
        if let Some(typ) = expect.typ
            && !header
                .typ
                .as_deref()
                .is_some_and(|t| t.eq_ignore_ascii_case(typ))
        {
            return Err(Invalid::WrongType.into());
        }
        let cached = self.lock().decoding.get(&kid).cloned();
        let decoding = match cached {
            Some(d) => d,
            None => {
                let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_str(&key.public_jwk)
                    .map_err(|_| store::Error::Corrupt(format!("public JWK of key {kid}")))?;
                let d = std::sync::Arc::new(
                    jsonwebtoken::DecodingKey::from_jwk(&jwk)
                        .map_err(|_| store::Error::Corrupt(format!("public JWK of key {kid}")))?,
                );
                self.lock()
                    .decoding
                    .insert(kid.clone(), std::sync::Arc::clone(&d));
                d
            }
        };
        // Times are checked against our clock below, not the library's.
        let mut validation = jsonwebtoken::Validation::new(alg);
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let data = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature
                | jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => Invalid::BadSignature,
                _ => Invalid::Malformed,
            })?;
        let claims = data.claims;
        if claims.get("iss").and_then(|v| v.as_str()) != Some(config.issuer()) {
            return Err(Invalid::WrongIssuer.into());
        }
        let exp = claims.get("exp").and_then(serde_json::Value::as_i64);
        if !expect.accept_expired && exp.is_none_or(|exp| exp <= now) {
            return Err(Invalid::Expired.into());
        }
        if let Some(want) = expect.audience {
            let holds = match claims.get("aud") {
                Some(serde_json::Value::String(a)) => a == want,
                Some(serde_json::Value::Array(a)) => a.iter().any(|v| v.as_str() == Some(want)),
                _ => false,
            };
            if !holds {
                return Err(Invalid::WrongAudience.into());
            }
        }
        Ok(claims)
    }
}

/// Verifies a JWT this server issued: its `kid` must be a key published
/// now (see [`published`]), its `alg` that key's algorithm (so never
/// `none`, never an HMAC keyed with a public key), its signature valid,
/// `iss` our issuer, `exp` in the future unless `expect.accept_expired`,
/// and `aud` and `typ` as `expect` says. Answers the claims. Reads the keys
/// from the database; a server verifies through a [`Keys`] cache.
pub async fn verify(
    db: &Db,
    clock: &Clock,
    config: &Config,
    token: &str,
    expect: Expect<'_>,
) -> Result<serde_json::Value, SigningError> {
    Keys::new().verify(db, clock, config, token, expect).await
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
