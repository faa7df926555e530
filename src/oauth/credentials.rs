//! What a user name and a new password may be: rules with no storage, shared
//! by account management (`account`) and sign-in (`session`).

use super::error::OAuthError;

/// Shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted, in bytes: hashing cost must stay bounded.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A user name: 1 to 64 characters of `a-z 0-9 . _ -`, starting with a letter
/// or digit. Input is lower-cased first, so `Alice` and `alice` are one user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Lower-cases and checks a user name.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let name = raw.trim().to_ascii_lowercase();
        let ok_start = name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let ok_rest = name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
        if !ok_start || !ok_rest || name.len() > 64 {
            return Err(OAuthError::invalid_request(
                "user names are 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit",
            ));
        }
        Ok(Self(name))
    }

    /// The lower-case name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Checks a new password's length: at least 8 characters, at most 1 KiB.
pub fn check_new_password(password: &str) -> Result<(), OAuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(OAuthError::invalid_request(
            "passwords must be at least 8 characters long",
        ));
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(OAuthError::invalid_request(
            "passwords must be at most 1024 bytes long",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_lower_cased_and_restricted() {
        assert_eq!(Username::parse("Alice").unwrap().as_str(), "alice");
        assert_eq!(
            Username::parse("bob.smith-2").unwrap().as_str(),
            "bob.smith-2"
        );
        for bad in ["", "-x", ".x", "a b", "al\u{ee}ce", "a\0", &"a".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_have_a_floor_and_a_ceiling() {
        assert!(check_new_password("short").is_err());
        assert!(check_new_password("long enough").is_ok());
        assert!(check_new_password(&"x".repeat(1025)).is_err());
    }
}
