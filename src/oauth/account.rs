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
