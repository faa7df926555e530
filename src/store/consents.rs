//! The `consents` table: scopes a user has granted a client.

use super::{Db, Error, Tx, on_db, on_tx};

const FIND: &str = "select scope, resources from consents where user_id = $1 and client_id = $2";

/// What a user granted a client.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Granted {
    /// Space-delimited scopes.
    pub scope: String,
    /// Space-delimited resource URIs (RFC 8707); `None`: none.
    pub resources: Option<String>,
}

/// What `user_id` granted `client_id`, if anything.
pub async fn find(db: &Db, user_id: &str, client_id: &str) -> Result<Option<Granted>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(FIND)
        .bind(user_id)
        .bind(client_id)
        .fetch_optional(pool)
        .await)?)
}

const UPSERT: &str = r"
insert into consents (user_id, client_id, scope, created_at, updated_at, resources)
values ($1, $2, $3, $4, $4, $5)
on conflict (user_id, client_id) do update
set scope = excluded.scope, updated_at = excluded.updated_at, resources = excluded.resources";

/// Records that `user_id` granted `client_id` these scopes and resources.
pub async fn upsert(
    db: &Db,
    user_id: &str,
    client_id: &str,
    granted: &Granted,
    now: i64,
) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(UPSERT)
        .bind(user_id)
        .bind(client_id)
        .bind(&granted.scope)
        .bind(now)
        .bind(granted.resources.as_deref())
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

/// An application a user authorized, as the settings page lists it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Authorization {
    /// The client.
    pub client_id: String,
    /// Its name.
    pub client_name: String,
    /// Its home page.
    pub website: Option<String>,
    /// Scopes granted, space-delimited.
    pub scope: String,
    /// When the user last approved (unix seconds).
    pub granted_at: i64,
    /// The newest token the app got for this user (unix seconds).
    pub last_used_at: Option<i64>,
    /// Resource URIs granted (RFC 8707), space-delimited; `None`: none.
    pub resources: Option<String>,
}

const LIST_FOR_USER: &str = r"
select c.client_id, k.name as client_name, k.website, c.scope, c.updated_at as granted_at,
       (select max(t.created_at) from tokens t
        where t.user_id = c.user_id and t.client_id = c.client_id) as last_used_at,
       c.resources
from consents c join clients k on k.id = c.client_id
where c.user_id = $1
order by c.updated_at desc, c.client_id";

/// The applications a user has authorized, most recent first.
pub async fn list_for_user(db: &Db, user_id: &str) -> Result<Vec<Authorization>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(LIST_FOR_USER).bind(user_id).fetch_all(pool).await)?)
}

const DELETE: &str = "delete from consents where user_id = $1 and client_id = $2";

/// Forgets a user's consent for a client; false when there was none.
pub async fn delete(tx: &mut Tx, user_id: &str, client_id: &str) -> Result<bool, Error> {
    let n = on_tx!(tx, conn => sqlx::query(DELETE)
        .bind(user_id)
        .bind(client_id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}
