//! The `consents` table: scopes a user has granted a client.

use super::{Db, Error, on_db};

const FIND: &str = "select scope from consents where user_id = $1 and client_id = $2";

/// The space-delimited scopes `user_id` granted `client_id`, if any.
pub async fn find(db: &Db, user_id: &str, client_id: &str) -> Result<Option<String>, Error> {
    Ok(on_db!(db, pool => sqlx::query_scalar(FIND)
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(pool)
        .await)?)
}

const UPSERT: &str = r"
insert into consents (user_id, client_id, scope, created_at, updated_at)
values ($1, $2, $3, $4, $4)
on conflict (user_id, client_id) do update set scope = excluded.scope, updated_at = excluded.updated_at";

/// Records that `user_id` granted `client_id` these scopes.
pub async fn upsert(
    db: &Db,
    user_id: &str,
    client_id: &str,
    scope: &str,
    now: i64,
) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(UPSERT)
        .bind(user_id)
        .bind(client_id)
        .bind(scope)
        .bind(now)
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}
