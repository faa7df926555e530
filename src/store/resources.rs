//! The `resources` table (resources the operator registered, RFC 8707) and
//! `client_resources` (the resources a client may ask for).

use super::{Db, Error, on_db};

/// A registered resource.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct Resource {
    /// Its absolute URI, the audience tokens for it carry.
    pub uri: String,
    /// What the consent page calls it.
    pub name: String,
    /// The client that is this resource server, if any.
    pub client_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// `opaque` or `jwt`: a token whose audience names this resource is a
    /// JWT (RFC 9068) when this is `jwt`.
    pub access_token_format: String,
}

const INSERT: &str = "insert into resources (uri, name, client_id, created_at, access_token_format) \
    values ($1, $2, $3, $4, $5)";

/// Registers a resource; [`Error::Conflict`] when the URI is registered.
pub async fn insert(db: &Db, r: &Resource) -> Result<(), Error> {
    on_db!(db, pool => sqlx::query(INSERT)
        .bind(&r.uri)
        .bind(&r.name)
        .bind(r.client_id.as_deref())
        .bind(r.created_at)
        .bind(&r.access_token_format)
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

const LIST: &str = "select uri, name, client_id, created_at, access_token_format \
    from resources order by uri";

/// Every registered resource, by URI.
pub async fn list(db: &Db) -> Result<Vec<Resource>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(LIST).fetch_all(pool).await)?)
}

const FIND: &str = "select uri, name, client_id, created_at, access_token_format \
    from resources where uri = $1";

/// The registered resource with this URI.
pub async fn find(db: &Db, uri: &str) -> Result<Option<Resource>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(FIND).bind(uri).fetch_optional(pool).await)?)
}

const SET_FORMAT: &str = "update resources set access_token_format = $1 where uri = $2";

/// Sets the format of tokens for a resource (`opaque` or `jwt`); false when
/// there is no such resource.
pub async fn set_access_token_format(db: &Db, uri: &str, format: &str) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(SET_FORMAT)
        .bind(format)
        .bind(uri)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const ANY_JWT: &str =
    "select count(*) from resources where uri = $1 and access_token_format = 'jwt'";

/// True when any of `uris` is a registered resource whose tokens are JWTs.
pub async fn any_wants_jwt(db: &Db, uris: &[&str]) -> Result<bool, Error> {
    for uri in uris {
        let n: i64 =
            on_db!(db, pool => sqlx::query_scalar(ANY_JWT).bind(*uri).fetch_one(pool).await)?;
        if n > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

const DELETE: &str = "delete from resources where uri = $1";

/// Forgets a registered resource; false when there was none.
pub async fn delete(db: &Db, uri: &str) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(DELETE)
        .bind(uri)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const SERVED_BY: &str = "select uri from resources where client_id = $1 order by uri";

/// The resources whose resource server is `client_id`.
pub async fn served_by(db: &Db, client_id: &str) -> Result<Vec<String>, Error> {
    Ok(on_db!(db, pool => sqlx::query_scalar(SERVED_BY)
        .bind(client_id)
        .fetch_all(pool)
        .await)?)
}

const ALLOWED: &str = "select uri from client_resources where client_id = $1 order by uri";

/// The resources `client_id` may ask for; empty means any.
pub async fn allowed_for(db: &Db, client_id: &str) -> Result<Vec<String>, Error> {
    Ok(on_db!(db, pool => sqlx::query_scalar(ALLOWED)
        .bind(client_id)
        .fetch_all(pool)
        .await)?)
}

const CLEAR_ALLOWED: &str = "delete from client_resources where client_id = $1";
const ADD_ALLOWED: &str = "insert into client_resources (client_id, uri) values ($1, $2)";

/// Replaces the resources `client_id` may ask for (empty: any), in one
/// transaction.
pub async fn set_allowed(db: &Db, client_id: &str, uris: &[String]) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    super::on_tx!(&mut tx, conn => sqlx::query(CLEAR_ALLOWED)
        .bind(client_id)
        .execute(conn)
        .await
        .map(drop))?;
    for uri in uris {
        super::on_tx!(&mut tx, conn => sqlx::query(ADD_ALLOWED)
            .bind(client_id)
            .bind(uri)
            .execute(conn)
            .await
            .map(drop))?;
    }
    tx.commit().await?;
    Ok(())
}
