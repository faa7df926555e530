//! Secrets: generation from the OS CSPRNG with a kind prefix, SHA-256 digests
//! for storage, constant-time comparison, and argon2id for human passwords.
//!
//! High-entropy secrets (256 random bits) are stored as a fast SHA-256 digest:
//! guessing is hopeless, so a slow hash would only slow the token endpoint.
//! argon2id is for passwords, which people choose.

use std::fmt;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::TryRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What a generated secret is for; its prefix lets a leaked value be
/// recognised by secret scanners and a value of the wrong kind be refused early.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// A client secret.
    ClientSecret,
    /// An authorization code.
    AuthCode,
    /// An access token.
    AccessToken,
    /// A refresh token.
    RefreshToken,
    /// A personal access token.
    PersonalToken,
    /// A sign-in session id (the cookie value).
    Session,
    /// A pending authorization request, referenced by the consent form.
    Request,
    /// The double-submit token of the sign-in form.
    LoginCsrf,
    /// A device code (RFC 8628), held by the device while it polls.
    DeviceCode,
}

impl SecretKind {
    /// The prefix, including its trailing underscore.
    pub fn prefix(self) -> &'static str {
        match self {
            Self::ClientSecret => "ocs_",
            Self::AuthCode => "oac_",
            Self::AccessToken => "oat_",
            Self::RefreshToken => "ort_",
            Self::PersonalToken => "opt_",
            Self::Session => "oss_",
            Self::Request => "orq_",
            Self::LoginCsrf => "olc_",
            Self::DeviceCode => "odc_",
        }
    }

    /// True when `value` looks like a secret of this kind: the prefix and 43
    /// base64url characters. Lets the wrong kind be refused before any lookup.
    pub fn matches(self, value: &str) -> bool {
        value.strip_prefix(self.prefix()).is_some_and(|rest| {
            rest.len() == 43
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
    }
}

/// Longest JWT access token looked up; ours are well under 2 KiB.
pub const MAX_JWT_LEN: usize = 8192;

/// True when `value` has the shape of a compact JWS (three base64url parts
/// joined by dots, the last may be empty), as a JWT access token this
/// server signed has (RFC 9068): such a value is looked up by its digest
/// like a prefixed token. Says nothing about its signature.
pub fn looks_like_jwt(value: &str) -> bool {
    let b64 = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    let mut parts = value.split('.');
    value.len() <= MAX_JWT_LEN
        && value.starts_with("eyJ")
        && matches!(
            (parts.next(), parts.next(), parts.next(), parts.next()),
            (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() && b64(h) && b64(p) && b64(s)
        )
}

/// A freshly generated secret. It has no `Display` and a redacting `Debug`:
/// the raw value leaves only through [`Secret::expose`], to be shown once.
pub struct Secret(String);

impl Secret {
    /// A new secret of `kind`: the prefix and 256 random bits in base64url.
    pub fn generate(kind: SecretKind) -> Self {
        Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(random_bytes::<32>())
        ))
    }

    /// A token this server signed (a JWT access token, RFC 9068), held
    /// like a generated secret: no `Display`, a redacting `Debug`.
    pub fn from_signed(value: String) -> Self {
        Self(value)
    }

    /// The raw value, for the one response that shows it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The digest to store, as hex text.
    pub fn digest(&self) -> String {
        sha256_hex(&self.0)
    }

    /// The digest to store, as bytes (the `tokens` table's key).
    pub fn sha256(&self) -> Sha256Digest {
        Sha256Digest::of(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// `N` bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    #[expect(
        clippy::expect_used,
        reason = "without OS randomness no secret can be made; stopping is the only safe answer"
    )]
    rand::rngs::SysRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random number generator failed");
    buf
}

/// A random identifier (not a secret): 128 bits as 32 lower-case hex digits.
/// Hex, not base64url: an id starting with `-` would read as a flag on the
/// command line.
pub fn random_id() -> String {
    hex(&random_bytes::<16>())
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

/// Lower-case hex SHA-256 of `value`.
pub fn sha256_hex(value: &str) -> String {
    Sha256Digest::of(value).to_hex()
}

/// A SHA-256 digest as its 32 bytes: the key of the `tokens` table, half the
/// size of the hex text the other tables keep. Its `Debug` shows the hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sha256Digest([u8; 32]);

impl Sha256Digest {
    /// The digest of `value`.
    pub fn of(value: &str) -> Self {
        Self(Sha256::digest(value.as_bytes()).into())
    }

    /// The digest held in `bytes`; `None` unless they are exactly 32.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The digest written as 64 lower-case hex digits; `None` for anything else.
    pub fn from_hex(text: &str) -> Option<Self> {
        let text = text.as_bytes();
        if text.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
            *byte = (hex_value(pair[0])? << 4) | hex_value(pair[1])?;
        }
        Some(Self(out))
    }

    /// The 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lower-case hex digits, as [`sha256_hex`] writes them.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }
}

impl From<Sha256Digest> for String {
    /// The hex form, for the places that keep digests as text.
    fn from(digest: Sha256Digest) -> Self {
        digest.to_hex()
    }
}

impl fmt::Debug for Sha256Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sha256Digest({})", self.to_hex())
    }
}

/// The value of one lower-case hex digit.
fn hex_value(digit: u8) -> Option<u8> {
    HEX.iter()
        .position(|&d| d == digit)
        .and_then(|i| u8::try_from(i).ok())
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Compares two strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// Why hashing a password failed.
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed")]
pub struct PasswordHashError;

/// argon2id hash in PHC string form (`$argon2id$…`), with the crate's default
/// parameters (m=19 MiB, t=2, p=1, as OWASP recommends). CPU-heavy: call it
/// off the async workers.
pub fn hash_password(password: &str) -> Result<String, PasswordHashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| PasswordHashError)
}

/// Checks `password` against a stored PHC hash; a malformed hash never matches.
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_carry_their_prefix_and_256_bits() {
        let s = Secret::generate(SecretKind::ClientSecret);
        assert!(s.expose().starts_with("ocs_"));
        assert_eq!(s.expose().len(), 4 + 43);
        assert_ne!(
            s.expose(),
            Secret::generate(SecretKind::ClientSecret).expose()
        );
        assert_eq!(format!("{s:?}"), "Secret(..)");
        assert_eq!(s.digest(), sha256_hex(s.expose()));
    }

    #[test]
    fn kinds_are_told_apart_by_prefix() {
        let code = Secret::generate(SecretKind::AuthCode);
        assert!(SecretKind::AuthCode.matches(code.expose()));
        assert!(!SecretKind::AccessToken.matches(code.expose()));
        assert!(!SecretKind::AuthCode.matches("oac_short"));
        assert!(!SecretKind::AuthCode.matches(&format!("{}!", &code.expose()[..46])));
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn digests_round_trip_between_bytes_and_hex() {
        let d = Sha256Digest::of("abc");
        assert_eq!(d.to_hex(), sha256_hex("abc"));
        assert_eq!(Sha256Digest::from_hex(&d.to_hex()), Some(d));
        assert_eq!(Sha256Digest::from_bytes(d.as_bytes()), Some(d));
        assert_eq!(String::from(d), d.to_hex());
        assert_eq!(d.as_bytes()[..3], [0xba, 0x78, 0x16]);
        let s = Secret::generate(SecretKind::AccessToken);
        assert_eq!(s.sha256().to_hex(), s.digest());
        // Upper case, a wrong length or a stray character is not a digest.
        assert_eq!(Sha256Digest::from_hex(&d.to_hex().to_uppercase()), None);
        assert_eq!(Sha256Digest::from_hex(&d.to_hex()[1..]), None);
        assert_eq!(
            Sha256Digest::from_hex(&format!("{}g", &d.to_hex()[1..])),
            None
        );
        assert_eq!(Sha256Digest::from_bytes(&d.as_bytes()[1..]), None);
    }

    #[test]
    fn passwords_verify_only_with_the_right_input() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn constant_time_eq_compares_exactly() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }
}
