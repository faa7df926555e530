//! The `users` table: accounts that sign in to approve requests.

use super::{Db, Error, on_db};

/// A stored user.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    /// Opaque id, referenced by tokens and clients.
    pub id: String,
    /// Lower-case login name, unique.
    pub username: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// May manage every client.
    pub is_admin: bool,
    /// Disabled users cannot sign in.
    pub disabled: bool,
    /// Display name, if they gave one.
    pub name: Option<String>,
    /// Email address, if they gave one.
    pub email: Option<String>,
    /// Whether the operator vouches for `email`.
    pub email_verified: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

const INSERT: &str = r"
insert into users (id, username, password_hash, is_admin, disabled, name, email, email_verified,
                   created_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)";

/// Adds a user; [`Error::Conflict`] when the name is taken.
pub async fn insert(db: &Db, user: &User) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(INSERT)
        .bind(&user.id)
        .bind(&user.username)
        .bind(&user.password_hash)
        .bind(user.is_admin)
        .bind(user.disabled)
        .bind(user.name.as_deref())
        .bind(user.email.as_deref())
        .bind(user.email_verified)
        .bind(user.created_at)
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

const FIND_BY_USERNAME: &str = r"
select id, username, password_hash, is_admin, disabled, name, email, email_verified, created_at,
       updated_at
from users where username = $1";

/// The user with this (already lower-cased) name.
pub async fn find_by_username(db: &Db, username: &str) -> Result<Option<User>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(FIND_BY_USERNAME)
        .bind(username)
        .fetch_optional(pool)
        .await)?)
}

const FIND_BY_ID: &str = r"
select id, username, password_hash, is_admin, disabled, name, email, email_verified, created_at,
       updated_at
from users where id = $1";

/// The user with this id.
pub async fn find_by_id(db: &Db, id: &str) -> Result<Option<User>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(FIND_BY_ID)
        .bind(id)
        .fetch_optional(pool)
        .await)?)
}

const LIST: &str = r"
select id, username, password_hash, is_admin, disabled, name, email, email_verified, created_at,
       updated_at
from users order by username";

/// Every user, by name.
pub async fn list(db: &Db) -> Result<Vec<User>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(LIST).fetch_all(pool).await)?)
}

const SET_PASSWORD: &str =
    "update users set password_hash = $1, updated_at = $2 where username = $3";

/// Replaces a user's password hash; false when no such user.
pub async fn set_password(
    db: &Db,
    username: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, Error> {
    let done = on_db!(db, pool => sqlx::query(SET_PASSWORD)
        .bind(password_hash)
        .bind(now)
        .bind(username)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

const SET_DISABLED: &str = "update users set disabled = $1, updated_at = $2 where username = $3";

/// Stops a user from signing in; false when no such user.
pub async fn disable(db: &Db, username: &str, now: i64) -> Result<bool, Error> {
    set_disabled(db, username, true, now).await
}

/// Lets a disabled user sign in again; false when no such user.
pub async fn enable(db: &Db, username: &str, now: i64) -> Result<bool, Error> {
    set_disabled(db, username, false, now).await
}

async fn set_disabled(db: &Db, username: &str, disabled: bool, now: i64) -> Result<bool, Error> {
    let done = on_db!(db, pool => sqlx::query(SET_DISABLED)
        .bind(disabled)
        .bind(now)
        .bind(username)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(done > 0)
}

const COUNT: &str = "select count(*) from users";

/// How many users exist.
pub async fn count(db: &Db) -> Result<i64, Error> {
    Ok(on_db!(db, pool => sqlx::query_scalar(COUNT).fetch_one(pool).await)?)
}

const SET_PASSWORD_BY_ID: &str =
    "update users set password_hash = $1, updated_at = $2 where id = $3";

/// Replaces the password hash of the user with this id.
pub async fn set_password_by_id(
    db: &Db,
    id: &str,
    password_hash: &str,
    now: i64,
) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(SET_PASSWORD_BY_ID)
        .bind(password_hash)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const SET_PROFILE: &str = r"
update users set name = $1, email = $2, email_verified = $3, updated_at = $4 where id = $5";

/// Replaces the profile of the user with this id; false when no such user.
pub async fn set_profile(
    db: &Db,
    id: &str,
    name: Option<&str>,
    email: Option<&str>,
    email_verified: bool,
    now: i64,
) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(SET_PROFILE)
        .bind(name)
        .bind(email)
        .bind(email_verified)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
