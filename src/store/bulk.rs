//! Whole-table reads and writes for `oauthd export` and `oauthd import`:
//! users, clients with their origins, consents, and the long-lived tokens
//! (refresh and personal), as stored. What to carry and how to check it is
//! `transfer`'s business; this module only moves rows.

use super::{Db, Error, Tx, on_tx};
use crate::crypto::Sha256Digest;

/// A `users` row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserRow {
    /// Opaque id.
    pub id: String,
    /// Lower-case login name.
    pub username: String,
    /// argon2 PHC string.
    pub password_hash: String,
    /// May manage every client.
    pub is_admin: bool,
    /// Cannot sign in.
    pub disabled: bool,
    /// Display name.
    pub name: Option<String>,
    /// Email address.
    pub email: Option<String>,
    /// Whether the operator vouches for the address.
    pub email_verified: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A `clients` row, lists as the space-delimited TEXT they are stored as.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientRow {
    /// The `client_id`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Home page.
    pub website: Option<String>,
    /// SHA-256 hex digest of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// Token endpoint auth method.
    pub auth_method: String,
    /// Space-delimited.
    pub redirect_uris: String,
    /// Space-delimited.
    pub scopes: String,
    /// Space-delimited.
    pub grant_types: String,
    /// Space-delimited.
    pub response_types: String,
    /// The portal user who owns it.
    pub owner_id: Option<String>,
    /// Whether it may introspect other clients' tokens.
    pub may_introspect: bool,
    /// `web` or `native`.
    pub application_type: String,
    /// The sector of its pairwise OpenID subjects; `None`: public.
    pub pairwise_sector: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// `opaque` or `jwt`.
    pub access_token_format: String,
    /// Space-delimited.
    pub post_logout_redirect_uris: String,
}

/// A `client_origins` row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct OriginRow {
    /// The client.
    pub client_id: String,
    /// A browser origin.
    pub origin: String,
}

/// A `consents` row.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ConsentRow {
    /// The user who granted.
    pub user_id: String,
    /// The client granted to.
    pub client_id: String,
    /// Space-delimited scopes.
    pub scope: String,
    /// Space-delimited resources granted; `None` when none was named.
    pub resources: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A `resources` row: a resource the operator registered.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ResourceRow {
    /// The resource URI.
    pub uri: String,
    /// Display name for the consent page.
    pub name: String,
    /// The client that is this resource's server.
    pub client_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// `opaque` or `jwt`.
    pub access_token_format: String,
}

/// A `client_resources` row: one resource a client may ask for.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ClientResourceRow {
    /// The client.
    pub client_id: String,
    /// A resource URI it may ask for.
    pub uri: String,
}

/// A `tokens` row, every column.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct TokenRow {
    /// SHA-256 hex digest of the token: the export document's form. The
    /// table holds the 32 bytes; reading and inserting convert.
    #[sqlx(try_from = "Sha256Digest")]
    pub token_hash: String,
    /// `refresh` or `personal` (access tokens are not carried).
    pub kind: String,
    /// The grant (refresh family).
    pub grant_id: Option<String>,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// The user it acts for.
    pub user_id: Option<String>,
    /// Space-delimited scopes.
    pub scope: String,
    /// A personal token's label.
    pub label: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
    /// Unix seconds.
    pub last_used_at: Option<i64>,
    /// Unix seconds a refresh token was exchanged.
    pub rotated_at: Option<i64>,
    /// A refresh family's absolute end.
    pub grant_expires_at: Option<i64>,
    /// A personal token's public id.
    pub public_id: Option<String>,
    /// Space-delimited resources it is for; `None` when none was named.
    pub audience: Option<String>,
}

/// Every row `export` carries.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    /// Users, by name.
    pub users: Vec<UserRow>,
    /// Clients, oldest first.
    pub clients: Vec<ClientRow>,
    /// Client origins.
    pub origins: Vec<OriginRow>,
    /// Consents.
    pub consents: Vec<ConsentRow>,
    /// Refresh and personal tokens.
    pub tokens: Vec<TokenRow>,
    /// Registered resources.
    pub resources: Vec<ResourceRow>,
    /// Per-client resource allow-lists.
    pub client_resources: Vec<ClientResourceRow>,
}

const USERS: &str = r"
select id, username, password_hash, is_admin, disabled, name, email, email_verified, created_at,
       updated_at
from users order by username";

const CLIENTS: &str = r"
select id, name, website, secret_hash, auth_method, redirect_uris, scopes, grant_types,
       response_types, owner_id, may_introspect, application_type, created_at, updated_at,
       access_token_format, post_logout_redirect_uris, pairwise_sector
from clients order by created_at, id";

const ORIGINS: &str = "select client_id, origin from client_origins order by client_id, origin";

const CONSENTS: &str = r"
select user_id, client_id, scope, resources, created_at, updated_at
from consents order by user_id, client_id";

// Access tokens live an hour at most; clients get new ones. Refresh and
// personal tokens are what keeps apps and scripts working across a move.
const TOKENS: &str = r"
select token_hash, kind, grant_id, client_id, user_id, scope, label, created_at, expires_at,
       revoked_at, last_used_at, rotated_at, grant_expires_at, public_id, audience
from tokens where kind in ('refresh', 'personal') order by created_at, token_hash";

const RESOURCES: &str =
    "select uri, name, client_id, created_at, access_token_format from resources order by uri";

const CLIENT_RESOURCES: &str =
    "select client_id, uri from client_resources order by client_id, uri";

// Postgres reads each statement at its own snapshot by default; one
// repeatable-read transaction makes the five reads agree. SQLite's deferred
// transaction already reads one snapshot from its first select on.
const PG_SNAPSHOT: &str = "set transaction isolation level repeatable read, read only";

/// Reads every carried row in one transaction, so the tables agree.
pub async fn read_all(db: &Db) -> Result<Rows, Error> {
    let mut tx = db.begin().await?;
    if let Tx::Postgres(..) = &tx {
        on_tx!(&mut tx, conn => sqlx::query(PG_SNAPSHOT).execute(conn).await.map(drop))?;
    }
    let rows = Rows {
        users: on_tx!(&mut tx, conn => sqlx::query_as(USERS).fetch_all(conn).await)?,
        clients: on_tx!(&mut tx, conn => sqlx::query_as(CLIENTS).fetch_all(conn).await)?,
        origins: on_tx!(&mut tx, conn => sqlx::query_as(ORIGINS).fetch_all(conn).await)?,
        consents: on_tx!(&mut tx, conn => sqlx::query_as(CONSENTS).fetch_all(conn).await)?,
        tokens: on_tx!(&mut tx, conn => sqlx::query_as(TOKENS).fetch_all(conn).await)?,
        resources: on_tx!(&mut tx, conn => sqlx::query_as(RESOURCES).fetch_all(conn).await)?,
        client_resources: on_tx!(&mut tx, conn => sqlx::query_as(CLIENT_RESOURCES)
            .fetch_all(conn)
            .await)?,
    };
    // Nothing was written; dropping the transaction rolls it back.
    drop(tx);
    Ok(rows)
}

/// Why [`insert_all`] wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    /// A row with the same key exists already; names the row, never a hash.
    #[error("{0} already exists in this database")]
    Conflict(String),
    /// Any other storage failure.
    #[error(transparent)]
    Store(#[from] Error),
}

const INSERT_USER: &str = r"
insert into users (id, username, password_hash, is_admin, disabled, name, email, email_verified,
                   created_at, updated_at)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";

const INSERT_CLIENT: &str = r"
insert into clients (id, name, website, secret_hash, auth_method, redirect_uris, scopes,
                     grant_types, response_types, owner_id, may_introspect, application_type,
                     created_at, updated_at, access_token_format, post_logout_redirect_uris,
                     pairwise_sector)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)";

const INSERT_ORIGIN: &str = "insert into client_origins (client_id, origin) values ($1, $2)";

const INSERT_CONSENT: &str = r"
insert into consents (user_id, client_id, scope, resources, created_at, updated_at)
values ($1, $2, $3, $4, $5, $6)";

const INSERT_RESOURCE: &str = "insert into resources \
    (uri, name, client_id, created_at, access_token_format) values ($1, $2, $3, $4, $5)";

const INSERT_CLIENT_RESOURCE: &str =
    "insert into client_resources (client_id, uri) values ($1, $2)";

const INSERT_TOKEN: &str = r"
insert into tokens (token_hash, kind, grant_id, client_id, user_id, scope, label, created_at,
                    expires_at, revoked_at, last_used_at, rotated_at, grant_expires_at,
                    public_id, audience)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)";

// The grant row of every refresh family just inserted (the export carries
// tokens; a family's grant is what issuance from it claims).
const INSERT_GRANTS: &str = r"
insert into grants (id, client_id, user_id, created_at, issued_at, expires_at, revoked_at)
select grant_id, min(client_id), min(user_id), min(created_at), null,
       coalesce(max(coalesce(grant_expires_at, expires_at)), 0), null
from tokens
where grant_id is not null and client_id is not null and user_id is not null
  and grant_id not in (select id from grants)
group by grant_id";

/// Inserts every row in one transaction, parents before children: either
/// all of them are stored or none is.
pub async fn insert_all(db: &Db, rows: &Rows) -> Result<(), InsertError> {
    let mut tx = db.begin().await?;
    for u in &rows.users {
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_USER)
            .bind(&u.id)
            .bind(&u.username)
            .bind(&u.password_hash)
            .bind(u.is_admin)
            .bind(u.disabled)
            .bind(u.name.as_deref())
            .bind(u.email.as_deref())
            .bind(u.email_verified)
            .bind(u.created_at)
            .bind(u.updated_at)
            .execute(conn)
            .await
            .map(drop));
        named(done, || {
            format!("a user named {} or with id {}", u.username, u.id)
        })?;
    }
    for c in &rows.clients {
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_CLIENT)
            .bind(&c.id)
            .bind(&c.name)
            .bind(c.website.as_deref())
            .bind(c.secret_hash.as_deref())
            .bind(&c.auth_method)
            .bind(&c.redirect_uris)
            .bind(&c.scopes)
            .bind(&c.grant_types)
            .bind(&c.response_types)
            .bind(c.owner_id.as_deref())
            .bind(c.may_introspect)
            .bind(&c.application_type)
            .bind(c.created_at)
            .bind(c.updated_at)
            .bind(&c.access_token_format)
            .bind(&c.post_logout_redirect_uris)
            .bind(c.pairwise_sector.as_deref())
            .execute(conn)
            .await
            .map(drop));
        named(done, || format!("client {}", c.id))?;
    }
    for r in &rows.resources {
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_RESOURCE)
            .bind(&r.uri)
            .bind(&r.name)
            .bind(r.client_id.as_deref())
            .bind(r.created_at)
            .bind(&r.access_token_format)
            .execute(conn)
            .await
            .map(drop));
        named(done, || format!("resource {}", r.uri))?;
    }
    for r in &rows.client_resources {
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_CLIENT_RESOURCE)
            .bind(&r.client_id)
            .bind(&r.uri)
            .execute(conn)
            .await
            .map(drop));
        named(done, || {
            format!("resource {} of client {}", r.uri, r.client_id)
        })?;
    }
    for o in &rows.origins {
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_ORIGIN)
            .bind(&o.client_id)
            .bind(&o.origin)
            .execute(conn)
            .await
            .map(drop));
        named(done, || {
            format!("origin {} of client {}", o.origin, o.client_id)
        })?;
    }
    for c in &rows.consents {
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_CONSENT)
            .bind(&c.user_id)
            .bind(&c.client_id)
            .bind(&c.scope)
            .bind(c.resources.as_deref())
            .bind(c.created_at)
            .bind(c.updated_at)
            .execute(conn)
            .await
            .map(drop));
        named(done, || {
            format!(
                "the consent of user {} for client {}",
                c.user_id, c.client_id
            )
        })?;
    }
    for t in &rows.tokens {
        let hash = Sha256Digest::from_hex(&t.token_hash).ok_or_else(|| {
            Error::Corrupt(format!(
                "the digest of a {} token of client {} is not SHA-256 hex",
                t.kind,
                t.client_id.as_deref().unwrap_or("-")
            ))
        })?;
        let done = on_tx!(&mut tx, conn => sqlx::query(INSERT_TOKEN)
            .bind(hash)
            .bind(&t.kind)
            .bind(t.grant_id.as_deref())
            .bind(t.client_id.as_deref())
            .bind(t.user_id.as_deref())
            .bind(&t.scope)
            .bind(t.label.as_deref())
            .bind(t.created_at)
            .bind(t.expires_at)
            .bind(t.revoked_at)
            .bind(t.last_used_at)
            .bind(t.rotated_at)
            .bind(t.grant_expires_at)
            .bind(t.public_id.as_deref())
            .bind(t.audience.as_deref())
            .execute(conn)
            .await
            .map(drop));
        named(done, || match &t.public_id {
            Some(id) => format!("personal access token {id}"),
            None => format!(
                "a {} token of client {} (the same token)",
                t.kind,
                t.client_id.as_deref().unwrap_or("-")
            ),
        })?;
    }
    on_tx!(&mut tx, conn => sqlx::query(INSERT_GRANTS).execute(conn).await.map(drop))
        .map_err(Error::from)?;
    tx.commit().await?;
    Ok(())
}

/// Names the row a unique constraint refused.
fn named(done: Result<(), sqlx::Error>, row: impl FnOnce() -> String) -> Result<(), InsertError> {
    match done.map_err(Error::from) {
        Ok(()) => Ok(()),
        Err(Error::Conflict) => Err(InsertError::Conflict(row())),
        Err(e) => Err(e.into()),
    }
}
