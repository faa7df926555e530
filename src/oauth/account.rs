//! Rules for user accounts: what a user name and a password may be.

pub use super::credentials::{
    MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, Username, check_new_password,
};
use super::error::{Error, OAuthError};
use super::session::{CheckError, PasswordChecker};
use crate::clock::Clock;
use crate::crypto;
use crate::store::users::User;
use crate::store::{self, Db};

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
        name: None,
        email: None,
        email_verified: false,
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

/// A user's profile: what OpenID Connect's `profile` and `email` claims
/// tell relying parties. Both fields are optional.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// Display name.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
}

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 200;
/// Longest email address, in bytes (RFC 5321's limit on a path).
pub const MAX_EMAIL_LEN: usize = 254;

impl Profile {
    /// Checks a name and an email address as a form or the CLI sends them;
    /// blank means none.
    pub fn parse(name: &str, email: &str) -> Result<Self, OAuthError> {
        let name = name.trim();
        if name.chars().count() > MAX_DISPLAY_NAME_CHARS || name.chars().any(char::is_control) {
            return Err(OAuthError::invalid_request(format!(
                "a name is at most {MAX_DISPLAY_NAME_CHARS} characters, without control characters"
            )));
        }
        let email = email.trim();
        if !email.is_empty() && !is_email(email) {
            return Err(OAuthError::invalid_request(
                "that is not an email address (name@example.com)",
            ));
        }
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        Ok(Self {
            name: some(name),
            email: some(email),
        })
    }
}

/// `local@domain`: a local part of 1 to 64 bytes, a domain of dot-separated
/// non-empty labels, no whitespace or control characters anywhere. Not the
/// whole of RFC 5322 (which allows quoted local parts and comments), but
/// every address a mail system hands out today.
fn is_email(email: &str) -> bool {
    let Some((local, domain)) = email.rsplit_once('@') else {
        return false;
    };
    email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && (1..=64).contains(&local.len())
        && !local.contains('@')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_alphanumeric() || c == '-')
        })
}

/// Sets `user`'s profile and returns whether the address now counts as
/// verified. `email_verified` is the operator's word on the address; `None`
/// (a user editing their own profile) keeps the flag only while the address
/// stays the same.
pub async fn set_profile(
    db: &Db,
    clock: &Clock,
    user: &User,
    profile: &Profile,
    email_verified: Option<bool>,
) -> Result<bool, AccountError> {
    let verified = email_verified.unwrap_or(user.email_verified && profile.email == user.email)
        && profile.email.is_some();
    store::users::set_profile(
        db,
        &user.id,
        profile.name.as_deref(),
        profile.email.as_deref(),
        verified,
        clock.now(),
    )
    .await?;
    tracing::info!(user.id = %user.id, "profile of user {} changed", user.username);
    Ok(verified)
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
    fn profiles_take_a_bounded_name_and_a_plain_email_address() {
        let p = Profile::parse("  Alice Liddell ", " alice@example.com ").unwrap();
        assert_eq!(p.name.as_deref(), Some("Alice Liddell"));
        assert_eq!(p.email.as_deref(), Some("alice@example.com"));
        assert_eq!(Profile::parse("", "").unwrap(), Profile::default());
        for good in [
            "a@b",
            "a.b+c@mail.example.org",
            "x@xn--bcher-kva.example",
            "j@b\u{fc}cher.de",
        ] {
            assert!(Profile::parse("", good).is_ok(), "{good}");
        }
        for bad in [
            "alice",
            "@example.com",
            "alice@",
            "a b@example.com",
            "alice@example..com",
            "alice@-example.com",
            "alice@exa_mple.com",
            "a\u{0}@example.com",
            "a@b@example.com",
        ] {
            assert!(Profile::parse("", bad).is_err(), "{bad:?}");
        }
        assert!(Profile::parse(&"n".repeat(201), "").is_err());
        assert!(Profile::parse("a\u{7}b", "").is_err());
        let long_local = format!("{}@example.com", "l".repeat(65));
        assert!(Profile::parse("", &long_local).is_err());
    }
}
