//! The `audit_events` table.

use super::{Db, Error, Tx, on_db, on_tx};

/// One stored event.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct AuditRow {
    /// Unix seconds.
    pub at: i64,
    /// What happened.
    pub kind: String,
    /// The client involved.
    pub client_id: Option<String>,
    /// The client address, where known.
    pub ip: Option<String>,
    /// A short, secret-free detail.
    pub detail: Option<String>,
}

/// An event to store.
#[derive(Clone, Copy, Debug)]
pub struct NewEvent<'a> {
    /// Random id.
    pub id: &'a str,
    /// Unix seconds.
    pub at: i64,
    /// What happened.
    pub kind: &'a str,
    /// The user concerned.
    pub user_id: Option<&'a str>,
    /// The client concerned.
    pub client_id: Option<&'a str>,
    /// The client address.
    pub ip: Option<&'a str>,
    /// A short, secret-free detail.
    pub detail: Option<&'a str>,
}

const INSERT: &str = r"
insert into audit_events (id, at, kind, user_id, client_id, ip, detail)
values ($1, $2, $3, $4, $5, $6, $7)";

/// `INSERT` with a [`NewEvent`]'s values bound, for either backend.
macro_rules! insert_query {
    ($e:expr) => {
        sqlx::query(INSERT)
            .bind($e.id)
            .bind($e.at)
            .bind($e.kind)
            .bind($e.user_id)
            .bind($e.client_id)
            .bind($e.ip)
            .bind($e.detail)
    };
}

/// Stores one event.
pub async fn insert(db: &Db, e: NewEvent<'_>) -> Result<(), Error> {
    on_db!(db, pool => insert_query!(e).execute(pool).await.map(drop))?;
    Ok(())
}

/// Stores one event inside a transaction.
pub async fn insert_in(tx: &mut Tx, e: NewEvent<'_>) -> Result<(), Error> {
    on_tx!(tx, conn => insert_query!(e).execute(conn).await.map(drop))?;
    Ok(())
}

const LIST_FOR_USER: &str = r"
select at, kind, client_id, ip, detail from audit_events
where user_id = $1 order by at desc, id limit $2";

/// A user's most recent events.
pub async fn list_for_user(db: &Db, user_id: &str, limit: i64) -> Result<Vec<AuditRow>, Error> {
    Ok(on_db!(db, pool => sqlx::query_as(LIST_FOR_USER)
        .bind(user_id)
        .bind(limit)
        .fetch_all(pool)
        .await)?)
}
