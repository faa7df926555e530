//! Rules for user accounts: what a user name and a password may be.

use super::error::{Error, OAuthError};
use super::session::{CheckError, PasswordChecker};
use crate::clock::Clock;
use crate::crypto;
use crate::store::users::User;
use crate::store::{self, Db};

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

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The input broke a rule; the message is safe to show.
    #[error("{0}")]
    Refused(String),
    /// The user name is taken.
    #[error("that user name is taken")]
    Taken,
    /// The current password given to confirm a change is wrong.
    #[error("the current password is not right")]
    WrongPassword,
    /// Storage or hashing failed.
    #[error(transparent)]
    Failed(#[from] Error),
}

impl From<OAuthError> for AccountError {
    fn from(e: OAuthError) -> Self {
        Self::Refused(e.description.into_owned())
    }
}

impl From<store::Error> for AccountError {
    fn from(e: store::Error) -> Self {
        Self::Failed(e.into())
    }
}

impl From<CheckError> for AccountError {
    fn from(e: CheckError) -> Self {
        match e {
            CheckError::Store(e) => e.into(),
            CheckError::Interrupted => Self::Failed(
                store::Error::Corrupt("password hashing was interrupted".into()).into(),
            ),
        }
    }
}

/// Makes an account with an argon2id-hashed password.
pub async fn create_user(
    db: &Db,
    clock: &Clock,
    passwords: &PasswordChecker,
    name: &str,
    password: &str,
    is_admin: bool,
) -> Result<User, AccountError> {
    let username = Username::parse(name)?;
    check_new_password(password)?;
    let password_hash = passwords.hash(password).await?;
    let now = clock.now();
    let user = User {
        id: crypto::random_id(),
        username: username.as_str().to_owned(),
        password_hash,
        is_admin,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    match store::users::insert(db, &user).await {
        Err(store::Error::Conflict) => Err(AccountError::Taken),
        other => {
            other?;
            tracing::info!(user.id = %user.id, "created user {}", user.username);
            Ok(user)
        }
    }
}

/// Changes a signed-in user's password after checking the current one, and
/// ends every other session of theirs (someone else may know the old one).
pub async fn change_password(
    db: &Db,
    clock: &Clock,
    passwords: &PasswordChecker,
    user: &User,
    keep_session: &str,
    current: &str,
    new: &str,
) -> Result<(), AccountError> {
    if passwords
        .verify(db, &user.username, current)
        .await?
        .is_none()
    {
        return Err(AccountError::WrongPassword);
    }
    check_new_password(new)?;
    let hash = passwords.hash(new).await?;
    store::users::set_password_by_id(db, &user.id, &hash, clock.now()).await?;
    let ended = store::sessions::delete_others(db, &user.id, keep_session).await?;
    tracing::info!(user.id = %user.id, sessions.ended = ended, "user changed their password");
    Ok(())
}

/// On a database with no users, makes an `admin` account with a random
/// password and returns it, to be shown once. `None` when users exist.
pub async fn first_run_admin(
    db: &Db,
    clock: &Clock,
    passwords: &PasswordChecker,
) -> Result<Option<String>, AccountError> {
    if store::users::count(db).await? > 0 {
        return Ok(None);
    }
    let password = crypto::random_id();
    match create_user(db, clock, passwords, "admin", &password, true).await {
        Ok(_) => Ok(Some(password)),
        // Another replica won the race.
        Err(AccountError::Taken) => Ok(None),
        Err(e) => Err(e),
    }
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
