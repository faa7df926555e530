//! The `sessions` table: who is signed in. The cookie holds the raw id; only
//! its digest is stored.

use super::users::User;
use super::{Db, Error, on_db};

const INSERT: &str = r"
insert into sessions (id_hash, user_id, created_at, last_seen_at, expires_at)
values ($1, $2, $3, $3, $4)";

/// Stores a new session for `user_id`, valid until `expires_at` at the latest.
pub async fn insert(
    db: &Db,
    id_hash: &str,
    user_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(INSERT)
        .bind(id_hash)
        .bind(user_id)
        .bind(now)
        .bind(expires_at)
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

/// A live session and its user.
#[derive(Debug, Clone)]
pub struct SessionUser {
    /// The session's digest.
    pub id_hash: String,
    /// Unix seconds of the sign-in that started it (OpenID `auth_time`).
    pub created_at: i64,
    /// Unix seconds of the last request that used it.
    pub last_seen_at: i64,
    /// The signed-in user.
    pub user: User,
}

#[derive(sqlx::FromRow)]
struct Row {
    id_hash: String,
    session_created_at: i64,
    last_seen_at: i64,
    #[sqlx(flatten)]
    user: User,
}

const FIND_LIVE: &str = r"
select s.id_hash, s.created_at as session_created_at, s.last_seen_at,
       u.id, u.username, u.password_hash, u.is_admin, u.disabled, u.name, u.email,
       u.email_verified, u.created_at, u.updated_at
from sessions s join users u on u.id = s.user_id
where s.id_hash = $1 and s.expires_at > $2 and s.last_seen_at > $3 and not u.disabled";

/// The session with this digest if it has neither expired nor been idle since
/// `idle_since`, and its user is enabled.
pub async fn find_live(
    db: &Db,
    id_hash: &str,
    now: i64,
    idle_since: i64,
) -> Result<Option<SessionUser>, Error> {
    let row: Option<Row> = on_db!(db, pool => sqlx::query_as(FIND_LIVE)
        .bind(id_hash)
        .bind(now)
        .bind(idle_since)
        .fetch_optional(pool)
        .await)?;
    Ok(row.map(|r| SessionUser {
        id_hash: r.id_hash,
        created_at: r.session_created_at,
        last_seen_at: r.last_seen_at,
        user: r.user,
    }))
}

const TOUCH: &str = "update sessions set last_seen_at = $1 where id_hash = $2";

/// Records use of a session (keeps it from going idle).
pub async fn touch(db: &Db, id_hash: &str, now: i64) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(TOUCH).bind(now).bind(id_hash).execute(pool).await.map(drop))?;
    Ok(())
}

const DELETE: &str = "delete from sessions where id_hash = $1";

/// Ends a session.
pub async fn delete(db: &Db, id_hash: &str) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(DELETE).bind(id_hash).execute(pool).await.map(drop))?;
    Ok(())
}

const DELETE_OTHERS: &str = "delete from sessions where user_id = $1 and id_hash <> $2";

/// Ends every session of a user except one.
pub async fn delete_others(db: &Db, user_id: &str, keep: &str) -> Result<u64, Error> {
    Ok(on_db!(db, pool => sqlx::query(DELETE_OTHERS)
        .bind(user_id)
        .bind(keep)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
}
