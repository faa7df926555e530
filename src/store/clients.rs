//! The `clients` table: registered OAuth clients.

use super::{Db, Error, Tx, join_list, on_db, on_tx, split_list};
use crate::model::client::{
    AccessTokenFormat, ApplicationType, AuthMethod, GrantType, NewClient, SecretMethods,
};
use crate::model::redirect_uri::RedirectUri;
use crate::model::scope::Scopes;

/// A registered client as the protocol code sees it.
#[derive(Clone, Debug)]
pub struct Client {
    /// The `client_id`.
    pub id: String,
    /// Display name; may be empty for RFC 7591 registrations without one.
    pub name: String,
    /// Home page.
    pub website: Option<String>,
    /// SHA-256 hex digest of the secret; `None` for public clients.
    pub secret_hash: Option<String>,
    /// How it authenticates at the token endpoint.
    pub auth_method: AuthMethod,
    /// Whether it is held to `auth_method` or may send its secret either way.
    pub secret_methods: SecretMethods,
    /// Redirect URIs exactly as registered.
    pub redirect_uris: Vec<RedirectUri>,
    /// Scopes it may ask for.
    pub scopes: Scopes,
    /// Grant types it may use.
    pub grant_types: Vec<GrantType>,
    /// Response types it may use.
    pub response_types: Vec<String>,
    /// The portal user who owns it, if any.
    pub owner_id: Option<String>,
    /// Whether the operator lets it introspect every token, not only its own
    /// (RFC 7662 §4; see `oauth::introspect::may_see`).
    pub may_introspect: bool,
    /// `web` or `native` (RFC 7591, RFC 8252).
    pub application_type: ApplicationType,
    /// Whether its access tokens are opaque or JWTs (RFC 9068); set by the
    /// operator (`oauthd client update --token-format`).
    pub access_token_format: AccessTokenFormat,
    /// Where RP-initiated logout may send the browser back to, exactly as
    /// registered.
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// The sector of its pairwise OpenID subjects; `None`: public subjects.
    pub pairwise_sector: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl Client {
    /// True for clients without a secret.
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }
}

#[derive(sqlx::FromRow)]
struct ClientRow {
    id: String,
    name: String,
    website: Option<String>,
    secret_hash: Option<String>,
    auth_method: String,
    redirect_uris: String,
    scopes: String,
    grant_types: String,
    response_types: String,
    owner_id: Option<String>,
    may_introspect: bool,
    application_type: String,
    pairwise_sector: Option<String>,
    created_at: i64,
    updated_at: i64,
    access_token_format: String,
    post_logout_redirect_uris: String,
}

impl TryFrom<ClientRow> for Client {
    type Error = Error;

    fn try_from(row: ClientRow) -> Result<Self, Error> {
        let corrupt = |what: &str| Error::Corrupt(format!("client {}: {what}", row.id));
        let (auth_method, secret_methods) =
            SecretMethods::parse_stored(&row.auth_method).ok_or_else(|| corrupt("auth_method"))?;
        let scopes = Scopes::parse(&row.scopes).map_err(|_| corrupt("scopes"))?;
        let application_type = ApplicationType::parse(&row.application_type)
            .ok_or_else(|| corrupt("application_type"))?;
        let access_token_format = AccessTokenFormat::parse(&row.access_token_format)
            .ok_or_else(|| corrupt("access_token_format"))?;
        let grant_types = split_list(&row.grant_types)
            .map(|g| GrantType::parse(g).ok_or_else(|| corrupt("grant_types")))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            redirect_uris: split_list(&row.redirect_uris)
                .map(|u| RedirectUri::from_stored(u.to_owned()))
                .collect(),
            post_logout_redirect_uris: split_list(&row.post_logout_redirect_uris)
                .map(|u| RedirectUri::from_stored(u.to_owned()))
                .collect(),
            access_token_format,
            response_types: split_list(&row.response_types).map(str::to_owned).collect(),
            id: row.id,
            name: row.name,
            website: row.website,
            secret_hash: row.secret_hash,
            auth_method,
            secret_methods,
            scopes,
            grant_types,
            owner_id: row.owner_id,
            may_introspect: row.may_introspect,
            application_type,
            pairwise_sector: row.pairwise_sector,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

const INSERT: &str = r"
insert into clients (id, name, website, secret_hash, auth_method, redirect_uris, scopes,
                     grant_types, response_types, owner_id, may_introspect, created_at,
                     updated_at, application_type, post_logout_redirect_uris, pairwise_sector)
values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12, $13, $14, $15)";

/// Where a new client row comes from.
#[derive(Clone, Copy, Debug)]
pub struct Insert<'a> {
    /// The server-chosen `client_id`.
    pub id: &'a str,
    /// Validated metadata.
    pub client: &'a NewClient,
    /// Digest of the secret, for confidential clients.
    pub secret_hash: Option<&'a str>,
    /// Owning portal user.
    pub owner_id: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// Stores a new client and its allowed origins in one transaction.
pub async fn insert(db: &Db, new: Insert<'_>) -> Result<(), Error> {
    let mut tx = db.begin().await?;
    insert_row(&mut tx, new).await?;
    for origin in &new.client.allowed_origins {
        on_tx!(&mut tx, conn => sqlx::query(INSERT_ORIGIN)
            .bind(new.id)
            .bind(origin)
            .execute(conn)
            .await
            .map(drop))?;
    }
    tx.commit().await
}

const INSERT_ORIGIN: &str = "insert into client_origins (client_id, origin) values ($1, $2)";

async fn insert_row(tx: &mut Tx, new: Insert<'_>) -> Result<(), Error> {
    let c = new.client;
    let redirect_uris = join_list(c.redirect_uris.iter().map(RedirectUri::as_str));
    let scopes = c.scopes.to_string();
    let grant_types = join_list(c.grant_types.iter().map(|g| g.as_str()));
    let response_types = join_list(c.response_types.iter().copied());
    on_tx!(tx, conn => sqlx::query(INSERT)
        .bind(new.id)
        .bind(&c.name)
        .bind(c.website.as_deref())
        .bind(new.secret_hash)
        .bind(c.secret_methods.stored(c.auth_method))
        .bind(&redirect_uris)
        .bind(&scopes)
        .bind(&grant_types)
        .bind(&response_types)
        .bind(new.owner_id)
        .bind(c.may_introspect)
        .bind(new.now)
        .bind(c.application_type.as_str())
        .bind(join_list(
            c.post_logout_redirect_uris.iter().map(RedirectUri::as_str),
        ))
        .bind(c.pairwise_sector.as_deref())
        .execute(conn)
        .await
        .map(drop))?;
    Ok(())
}

const FIND: &str = r"
select id, name, website, secret_hash, auth_method, redirect_uris, scopes, grant_types,
       response_types, owner_id, may_introspect, application_type, created_at, updated_at,
       access_token_format, post_logout_redirect_uris, pairwise_sector
from clients where id = $1";

/// The client with this id.
pub async fn find(db: &Db, id: &str) -> Result<Option<Client>, Error> {
    let row: Option<ClientRow> =
        on_db!(db, pool => sqlx::query_as(FIND).bind(id).fetch_optional(pool).await)?;
    row.map(Client::try_from).transpose()
}

const LIST: &str = r"
select id, name, website, secret_hash, auth_method, redirect_uris, scopes, grant_types,
       response_types, owner_id, may_introspect, application_type, created_at, updated_at,
       access_token_format, post_logout_redirect_uris, pairwise_sector
from clients order by created_at, id";

/// Every client, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Client>, Error> {
    let rows: Vec<ClientRow> = on_db!(db, pool => sqlx::query_as(LIST).fetch_all(pool).await)?;
    rows.into_iter().map(Client::try_from).collect()
}

const DELETE: &str = "delete from clients where id = $1";

/// Removes a client; false when there was none.
pub async fn delete(db: &Db, id: &str) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(DELETE)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const SET_SECRET: &str = r"
update clients set secret_hash = $1, updated_at = $2
where id = $3 and secret_hash is not null";

/// Replaces a confidential client's secret digest; false when there is no
/// such confidential client.
pub async fn set_secret_hash(
    db: &Db,
    id: &str,
    secret_hash: &str,
    now: i64,
) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(SET_SECRET)
        .bind(secret_hash)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const COUNT: &str = "select count(*) from clients";

/// How many clients exist.
pub async fn count(db: &Db) -> Result<i64, Error> {
    Ok(on_db!(db, pool => sqlx::query_scalar(COUNT).fetch_one(pool).await)?)
}

const ORIGINS: &str = "select origin from client_origins where client_id = $1 order by origin";

/// The browser origins a client registered.
pub async fn origins(db: &Db, client_id: &str) -> Result<Vec<String>, Error> {
    Ok(on_db!(db, pool => sqlx::query_scalar(ORIGINS).bind(client_id).fetch_all(pool).await)?)
}

const ORIGIN_KNOWN: &str = "select count(*) from client_origins where origin = $1";

/// True when some client registered this browser origin.
pub async fn origin_allowed(db: &Db, origin: &str) -> Result<bool, Error> {
    let n: i64 =
        on_db!(db, pool => sqlx::query_scalar(ORIGIN_KNOWN).bind(origin).fetch_one(pool).await)?;
    Ok(n > 0)
}

const LIST_OWNED: &str = r"
select id, name, website, secret_hash, auth_method, redirect_uris, scopes, grant_types,
       response_types, owner_id, may_introspect, application_type, created_at, updated_at,
       access_token_format, post_logout_redirect_uris, pairwise_sector
from clients where owner_id = $1 order by created_at, id";

/// The clients a portal user registered, oldest first.
pub async fn list_owned(db: &Db, owner_id: &str) -> Result<Vec<Client>, Error> {
    let rows: Vec<ClientRow> =
        on_db!(db, pool => sqlx::query_as(LIST_OWNED).bind(owner_id).fetch_all(pool).await)?;
    rows.into_iter().map(Client::try_from).collect()
}

const LIST_UNOWNED: &str = r"
select id, name, website, secret_hash, auth_method, redirect_uris, scopes, grant_types,
       response_types, owner_id, may_introspect, application_type, created_at, updated_at,
       access_token_format, post_logout_redirect_uris, pairwise_sector
from clients where owner_id is null order by created_at, id";

/// The clients registered through the API or the CLI, oldest first.
pub async fn list_unowned(db: &Db) -> Result<Vec<Client>, Error> {
    let rows: Vec<ClientRow> =
        on_db!(db, pool => sqlx::query_as(LIST_UNOWNED).fetch_all(pool).await)?;
    rows.into_iter().map(Client::try_from).collect()
}

const UPDATE: &str = r"
update clients set name = $1, website = $2, redirect_uris = $3, post_logout_redirect_uris = $4,
                   updated_at = $5
where id = $6";

/// Changes a client's name, website, redirect URIs and post-logout redirect
/// URIs; false when it is gone.
pub async fn update(db: &Db, id: &str, client: &NewClient, now: i64) -> Result<bool, Error> {
    let redirect_uris = join_list(client.redirect_uris.iter().map(RedirectUri::as_str));
    let post_logout = join_list(
        client
            .post_logout_redirect_uris
            .iter()
            .map(RedirectUri::as_str),
    );
    let n = on_db!(db, pool => sqlx::query(UPDATE)
        .bind(&client.name)
        .bind(client.website.as_deref())
        .bind(&redirect_uris)
        .bind(&post_logout)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const SET_TOKEN_FORMAT: &str =
    "update clients set access_token_format = $1, updated_at = $2 where id = $3";

/// Sets whether a client's access tokens are opaque or JWTs; false when it
/// is gone.
pub async fn set_access_token_format(
    db: &Db,
    id: &str,
    format: AccessTokenFormat,
    now: i64,
) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(SET_TOKEN_FORMAT)
        .bind(format.as_str())
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

const SET_MAY_INTROSPECT: &str =
    "update clients set may_introspect = $1, updated_at = $2 where id = $3";

/// Sets whether a client may introspect every token; false when it is gone.
/// On Postgres the `clients_changed` trigger evicts the cached row on every
/// replica.
pub async fn set_may_introspect(
    db: &Db,
    id: &str,
    may_introspect: bool,
    now: i64,
) -> Result<bool, Error> {
    let n = on_db!(db, pool => sqlx::query(SET_MAY_INTROSPECT)
        .bind(may_introspect)
        .bind(now)
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

// Client ID Metadata Documents (`oauth::client_metadata_document`): the row
// of a client whose id is its document's URL. Public (no secret, method
// `none`), no owner, no browser origins; name, website, redirect URIs,
// scopes and grants are the document's. The update happens only when
// something differs, so a refetch of an unchanged document writes nothing
// (and, on Postgres, wakes no client-cache eviction).

const UPSERT_DOCUMENT: &str = r"
insert into clients (id, name, website, secret_hash, auth_method, redirect_uris, scopes,
                     grant_types, response_types, owner_id, may_introspect, created_at,
                     updated_at, application_type)
values ($1, $2, $3, null, $4, $5, $6, $7, $8, null, false, $9, $9, $10)
on conflict (id) do update set
    name = excluded.name, website = excluded.website, secret_hash = null,
    auth_method = excluded.auth_method, redirect_uris = excluded.redirect_uris,
    scopes = excluded.scopes, grant_types = excluded.grant_types,
    response_types = excluded.response_types, updated_at = excluded.updated_at,
    application_type = excluded.application_type
where clients.name <> excluded.name
   or coalesce(clients.website, '') <> coalesce(excluded.website, '')
   or clients.secret_hash is not null
   or clients.auth_method <> excluded.auth_method
   or clients.redirect_uris <> excluded.redirect_uris
   or clients.scopes <> excluded.scopes
   or clients.grant_types <> excluded.grant_types
   or clients.response_types <> excluded.response_types
   or clients.application_type <> excluded.application_type";

/// Inserts a document client's row, or brings an existing one in line with
/// the document.
pub async fn upsert_document_client(db: &Db, client: &Client, now: i64) -> Result<(), Error> {
    let row = DocumentRow::of(client);
    on_db!(db, pool => sqlx::query(UPSERT_DOCUMENT)
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.website.as_deref())
        .bind(client.auth_method.as_str())
        .bind(&row.redirect_uris)
        .bind(&row.scopes)
        .bind(&row.grant_types)
        .bind(&row.response_types)
        .bind(now)
        .bind(client.application_type.as_str())
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

const REFRESH_DOCUMENT: &str = r"
update clients set
    name = $2, website = $3, secret_hash = null, auth_method = $4, redirect_uris = $5,
    scopes = $6, grant_types = $7, response_types = $8, updated_at = $9,
    application_type = $10
where id = $1
  and (name <> $2
   or coalesce(website, '') <> coalesce($3, '')
   or secret_hash is not null
   or auth_method <> $4
   or redirect_uris <> $5
   or scopes <> $6
   or grant_types <> $7
   or response_types <> $8
   or application_type <> $10)";

/// Brings an existing document client's row in line with a freshly fetched
/// document; inserts nothing.
pub async fn refresh_document_client(db: &Db, client: &Client, now: i64) -> Result<(), Error> {
    let row = DocumentRow::of(client);
    on_db!(db, pool => sqlx::query(REFRESH_DOCUMENT)
        .bind(&client.id)
        .bind(&client.name)
        .bind(client.website.as_deref())
        .bind(client.auth_method.as_str())
        .bind(&row.redirect_uris)
        .bind(&row.scopes)
        .bind(&row.grant_types)
        .bind(&row.response_types)
        .bind(now)
        .bind(client.application_type.as_str())
        .execute(pool)
        .await
        .map(drop))?;
    Ok(())
}

/// A document client's list columns as stored.
struct DocumentRow {
    redirect_uris: String,
    scopes: String,
    grant_types: String,
    response_types: String,
}

impl DocumentRow {
    fn of(client: &Client) -> Self {
        Self {
            redirect_uris: join_list(client.redirect_uris.iter().map(RedirectUri::as_str)),
            scopes: client.scopes.to_string(),
            grant_types: join_list(client.grant_types.iter().map(|g| g.as_str())),
            response_types: join_list(client.response_types.iter().map(String::as_str)),
        }
    }
}
