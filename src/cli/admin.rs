//! Operations behind the CLI's `user` and `client` commands.
//!
//! `main.rs` parses arguments and prints; these functions apply the same rules
//! as the HTTP surface (user names, passwords, registration) and talk to the
//! store. Errors say whether the input was wrong (exit code 2) or the
//! operation failed (exit code 1).

use serde::Serialize;

use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::Secret;
use crate::model::client::AccessTokenFormat;
use crate::oauth::account::{self, AccountError, Username, check_new_password};
use crate::oauth::registration::{self, ClientMetadata, Policy};
use crate::oauth::session::PasswordChecker;
use crate::oauth::{self, OAuthError, personal};
use crate::store::{self, Db, clients::Client, users::User};

/// Why a CLI operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input is not acceptable (exit code 2).
    #[error("{0}")]
    Usage(String),
    /// The operation failed (exit code 1).
    #[error("{0}")]
    Failed(String),
}

impl From<OAuthError> for AdminError {
    fn from(e: OAuthError) -> Self {
        Self::Usage(e.description.into_owned())
    }
}

impl From<store::Error> for AdminError {
    fn from(e: store::Error) -> Self {
        Self::Failed(match &e {
            store::Error::Conflict => e.to_string(),
            _ => crate::telemetry::error_chain(&e),
        })
    }
}

impl From<oauth::Error> for AdminError {
    fn from(e: oauth::Error) -> Self {
        match e {
            oauth::Error::Refused(e) => e.into(),
            oauth::Error::Store(e) => e.into(),
        }
    }
}

/// Adds a user with an argon2id-hashed password.
pub async fn add_user(
    db: &Db,
    clock: &Clock,
    name: &str,
    password: &str,
) -> Result<User, AdminError> {
    match account::create_user(db, clock, &cli_hasher(), name, password, false).await {
        Ok(user) => Ok(user),
        Err(AccountError::Refused(m)) => Err(AdminError::Usage(m)),
        Err(AccountError::Taken) => Err(AdminError::Failed(format!(
            "user {} already exists",
            name.trim().to_ascii_lowercase()
        ))),
        Err(AccountError::Failed(e)) => Err(e.into()),
        Err(AccountError::WrongPassword) => Err(AdminError::Failed(
            "no current password is asked here".into(),
        )),
    }
}

/// The CLI hashes one password at a time.
fn cli_hasher() -> PasswordChecker {
    PasswordChecker::new(1)
}

/// Replaces a user's password.
pub async fn set_password(
    db: &Db,
    clock: &Clock,
    name: &str,
    password: &str,
) -> Result<(), AdminError> {
    let username = Username::parse(name)?;
    check_new_password(password)?;
    let password_hash = hash(password).await?;
    if !store::users::set_password(db, username.as_str(), &password_hash, clock.now()).await? {
        return Err(no_user(&username));
    }
    Ok(())
}

/// Changes to a user's profile; `None` keeps the current value.
#[derive(Debug, Default)]
pub struct ProfileChange<'a> {
    /// The display name; empty removes it.
    pub name: Option<&'a str>,
    /// The email address; empty removes it.
    pub email: Option<&'a str>,
    /// Whether the operator vouches for the address.
    pub email_verified: Option<bool>,
}

/// Applies `change` to a user's profile and returns the user as stored.
/// Without an explicit `email_verified`, a changed address is unverified.
pub async fn set_user_profile(
    db: &Db,
    clock: &Clock,
    name: &str,
    change: &ProfileChange<'_>,
) -> Result<User, AdminError> {
    let username = Username::parse(name)?;
    let Some(user) = store::users::find_by_username(db, username.as_str()).await? else {
        return Err(no_user(&username));
    };
    let profile = account::Profile::parse(
        change.name.or(user.name.as_deref()).unwrap_or_default(),
        change.email.or(user.email.as_deref()).unwrap_or_default(),
    )?;
    if change.email_verified == Some(true) && profile.email.is_none() {
        return Err(AdminError::Usage(
            "--email-verified needs an email address".into(),
        ));
    }
    match account::set_profile(db, clock, &user, &profile, change.email_verified).await {
        Ok(_) | Err(AccountError::Taken | AccountError::WrongPassword) => {}
        Err(AccountError::Refused(m)) => return Err(AdminError::Usage(m)),
        Err(AccountError::Failed(e)) => return Err(e.into()),
    }
    store::users::find_by_username(db, username.as_str())
        .await?
        .ok_or_else(|| no_user(&username))
}

/// A user as stored.
pub async fn show_user(db: &Db, name: &str) -> Result<User, AdminError> {
    let username = Username::parse(name)?;
    store::users::find_by_username(db, username.as_str())
        .await?
        .ok_or_else(|| no_user(&username))
}

/// Stops a user from signing in.
pub async fn disable_user(db: &Db, clock: &Clock, name: &str) -> Result<(), AdminError> {
    let username = Username::parse(name)?;
    if !store::users::disable(db, username.as_str(), clock.now()).await? {
        return Err(no_user(&username));
    }
    Ok(())
}

/// Lets a disabled user sign in again.
pub async fn enable_user(db: &Db, clock: &Clock, name: &str) -> Result<(), AdminError> {
    let username = Username::parse(name)?;
    if !store::users::enable(db, username.as_str(), clock.now()).await? {
        return Err(no_user(&username));
    }
    Ok(())
}

fn no_user(username: &Username) -> AdminError {
    AdminError::Failed(format!("no user named {}", username.as_str()))
}

async fn hash(password: &str) -> Result<String, AdminError> {
    cli_hasher()
        .hash(password)
        .await
        .map_err(|e| AdminError::Failed(e.to_string()))
}

/// What `client add` and `client rotate-secret` print: the secret appears here
/// and nowhere else.
#[derive(Debug, Serialize)]
pub struct IssuedClient {
    /// The client as stored.
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret, shown once; absent for public clients.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

/// A client as the CLI shows it (never with a secret).
#[derive(Debug, Serialize)]
pub struct ClientView {
    /// The `client_id`.
    pub client_id: String,
    /// Display name.
    pub client_name: String,
    /// Home page.
    pub client_uri: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Space-delimited scopes.
    pub scope: String,
    /// Grant types.
    pub grant_types: Vec<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`, or
    /// `client_secret_basic_or_post` for a client that named no method when
    /// it registered and may send its secret either way.
    pub token_endpoint_auth_method: String,
    /// Browser origins allowed to use CORS.
    pub allowed_origins: Vec<String>,
    /// Whether it may introspect every token, not only its own.
    pub may_introspect: bool,
    /// `opaque` or `jwt`: the format of its access tokens.
    pub access_token_format: &'static str,
    /// Where RP-initiated logout may return to.
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect `public` or `pairwise`.
    pub subject_type: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl ClientView {
    async fn load(db: &Db, c: &Client) -> Result<Self, AdminError> {
        let mut view = Self::from(c);
        view.allowed_origins = store::clients::origins(db, &c.id).await?;
        Ok(view)
    }
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        Self {
            client_id: c.id.clone(),
            client_name: c.name.clone(),
            client_uri: c.website.clone(),
            redirect_uris: c.redirect_uris.iter().map(ToString::to_string).collect(),
            scope: c.scopes.to_string(),
            grant_types: c.grant_types.iter().map(ToString::to_string).collect(),
            token_endpoint_auth_method: c.secret_methods.stored(c.auth_method).to_owned(),
            allowed_origins: Vec::new(),
            may_introspect: c.may_introspect,
            access_token_format: c.access_token_format.as_str(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(ToString::to_string)
                .collect(),
            subject_type: if c.pairwise_sector.is_some() {
                "pairwise".into()
            } else {
                "public".into()
            },
            created_at: c.created_at,
        }
    }
}

/// The arguments of `client add`.
#[derive(Clone, Debug, Default)]
pub struct NewClientArgs {
    /// `--name`.
    pub name: String,
    /// `--redirect-uri`, repeated.
    pub redirect_uris: Vec<String>,
    /// `--scope`.
    pub scope: Option<String>,
    /// `--website`.
    pub website: Option<String>,
    /// `--public`.
    pub public: bool,
    /// `--allowed-origin`, repeated.
    pub allowed_origins: Vec<String>,
    /// `--introspect`: may introspect every token.
    pub introspect: bool,
    /// `--grant-type`, repeated; empty means authorization code with refresh.
    pub grant_types: Vec<String>,
    /// `--auth-method`: an RFC 7591 `token_endpoint_auth_method`; absent
    /// means either way of sending the secret (or `none` with `--public`).
    pub auth_method: Option<String>,
    /// `--application-type`: `web` or `native`.
    pub application_type: Option<String>,
    /// `--post-logout-redirect-uri`, repeated.
    pub post_logout_redirect_uris: Vec<String>,
    /// `--subject-type`: OpenID Connect `public` or `pairwise`.
    pub subject_type: Option<String>,
}

/// Registers a client under the same rules as `POST /api/client`.
pub async fn add_client(
    db: &Db,
    clock: &Clock,
    config: &Config,
    args: NewClientArgs,
) -> Result<IssuedClient, AdminError> {
    if args.name.trim().is_empty() {
        return Err(AdminError::Usage("--name must not be empty".into()));
    }
    let meta = ClientMetadata {
        client_name: Some(args.name),
        redirect_uris: args.redirect_uris,
        scope: args.scope,
        client_uri: args.website,
        token_endpoint_auth_method: args
            .auth_method
            .or_else(|| args.public.then(|| "none".to_owned())),
        allowed_origins: args.allowed_origins,
        grant_types: (!args.grant_types.is_empty()).then_some(args.grant_types),
        application_type: args.application_type,
        post_logout_redirect_uris: args.post_logout_redirect_uris,
        subject_type: args.subject_type,
        ..ClientMetadata::default()
    };
    let mut client = registration::validate(meta, Policy::from_config(config))?;
    if args.introspect {
        client = client.allowing_introspection()?;
    }
    let registered = registration::store_new(db, clock, client, None).await?;
    let client = find_client(db, &registered.client_id).await?;
    Ok(IssuedClient {
        client: ClientView::load(db, &client).await?,
        client_secret: registered.secret.as_ref().map(|s| s.expose().to_owned()),
    })
}

/// Every client.
pub async fn list_clients(db: &Db) -> Result<Vec<ClientView>, AdminError> {
    Ok(store::clients::list(db)
        .await?
        .iter()
        .map(ClientView::from)
        .collect())
}

/// One client, without its secret.
pub async fn show_client(db: &Db, client_id: &str) -> Result<ClientView, AdminError> {
    ClientView::load(db, &find_client(db, client_id).await?).await
}

/// Removes a client.
pub async fn remove_client(db: &Db, client_id: &str) -> Result<(), AdminError> {
    if !store::clients::delete(db, client_id).await? {
        return Err(no_client(client_id));
    }
    tracing::info!(client.id = %client_id, "removed client {client_id}");
    Ok(())
}

/// Issues a new secret for a confidential client.
pub async fn rotate_client_secret(
    db: &Db,
    clock: &Clock,
    client_id: &str,
) -> Result<IssuedClient, AdminError> {
    let client = find_client(db, client_id).await?;
    if client.is_public() {
        return Err(AdminError::Failed(format!(
            "client {client_id} is public and has no secret"
        )));
    }
    let secret: Secret = registration::rotate_secret(db, clock, client_id).await?;
    Ok(IssuedClient {
        client: ClientView::load(db, &client).await?,
        client_secret: Some(secret.expose().to_owned()),
    })
}

/// Lets a confidential client introspect every token (`allowed`), or only
/// its own again; returns the client as it now is.
pub async fn set_introspection(
    db: &Db,
    clock: &Clock,
    client_id: &str,
    allowed: bool,
) -> Result<ClientView, AdminError> {
    let client = find_client(db, client_id).await?;
    oauth::introspect::set_permission(db, clock, &client, allowed).await?;
    show_client(db, client_id).await
}

/// A registered resource (RFC 8707) as the CLI prints it.
#[derive(Debug, Serialize)]
pub struct ResourceView {
    /// Its URI: the audience of tokens for it.
    pub uri: String,
    /// What the consent page calls it.
    pub name: String,
    /// The client that is this resource server, if any.
    pub client_id: Option<String>,
    /// `opaque` or `jwt`: the format of tokens for it.
    pub access_token_format: String,
}

impl From<store::resources::Resource> for ResourceView {
    fn from(r: store::resources::Resource) -> Self {
        Self {
            uri: r.uri,
            name: r.name,
            client_id: r.client_id,
            access_token_format: r.access_token_format,
        }
    }
}

/// Registers a resource: its URI (an absolute URI without a fragment), the
/// name the consent page shows, and optionally the client that is its
/// resource server (it may then introspect tokens for it).
pub async fn add_resource(
    db: &Db,
    clock: &Clock,
    uri: &str,
    name: &str,
    client_id: Option<&str>,
) -> Result<ResourceView, AdminError> {
    let parsed = oauth::resource::Resources::parse([uri])?;
    if parsed.is_empty() {
        return Err(AdminError::Usage("the resource URI is empty".into()));
    }
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AdminError::Usage(
            "the name must be 1 to 100 characters, without control characters".into(),
        ));
    }
    if let Some(id) = client_id {
        find_client(db, id).await?;
    }
    let resource = store::resources::Resource {
        uri: uri.to_owned(),
        name: name.to_owned(),
        client_id: client_id.map(str::to_owned),
        created_at: clock.now(),
        access_token_format: AccessTokenFormat::Opaque.as_str().to_owned(),
    };
    match store::resources::insert(db, &resource).await {
        Ok(()) => {}
        Err(store::Error::Conflict) => {
            return Err(AdminError::Failed(format!(
                "resource {uri} is already registered"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(resource = %uri, "registered resource {uri}");
    Ok(resource.into())
}

/// Parses `--token-format`: `opaque` or `jwt`.
pub fn parse_token_format(raw: &str) -> Result<AccessTokenFormat, AdminError> {
    AccessTokenFormat::parse(raw)
        .ok_or_else(|| AdminError::Usage("--token-format must be opaque or jwt".into()))
}

/// Sets whether tokens for a registered resource are opaque or JWTs
/// (RFC 9068): a token is a JWT when any resource of its audience says so.
pub async fn set_resource_token_format(
    db: &Db,
    uri: &str,
    format: AccessTokenFormat,
) -> Result<ResourceView, AdminError> {
    if !store::resources::set_access_token_format(db, uri, format.as_str()).await? {
        return Err(AdminError::Failed(format!("no resource {uri}")));
    }
    tracing::info!(resource = %uri, format = format.as_str(), "set the token format of resource {uri}");
    let found = store::resources::find(db, uri)
        .await?
        .ok_or_else(|| AdminError::Failed(format!("no resource {uri}")))?;
    Ok(found.into())
}

/// Sets whether a client's access tokens are opaque or JWTs (RFC 9068).
pub async fn set_client_token_format(
    db: &Db,
    clock: &Clock,
    client_id: &str,
    format: AccessTokenFormat,
) -> Result<ClientView, AdminError> {
    find_client(db, client_id).await?;
    if !store::clients::set_access_token_format(db, client_id, format, clock.now()).await? {
        return Err(AdminError::Failed(format!("no client {client_id}")));
    }
    tracing::info!(client.id = %client_id, format = format.as_str(), "set the token format of client {client_id}");
    show_client(db, client_id).await
}

/// Every registered resource.
pub async fn list_resources(db: &Db) -> Result<Vec<ResourceView>, AdminError> {
    Ok(store::resources::list(db)
        .await?
        .into_iter()
        .map(ResourceView::from)
        .collect())
}

/// Forgets a registered resource (tokens already issued for it keep their
/// audience).
pub async fn remove_resource(db: &Db, uri: &str) -> Result<(), AdminError> {
    if !store::resources::delete(db, uri).await? {
        return Err(AdminError::Failed(format!("no resource {uri}")));
    }
    tracing::info!(resource = %uri, "removed resource {uri}");
    Ok(())
}

/// Sets the resources a client may ask for (`uris` empty: any), and returns
/// them.
pub async fn set_client_resources(
    db: &Db,
    client_id: &str,
    uris: &[String],
) -> Result<Vec<String>, AdminError> {
    find_client(db, client_id).await?;
    let parsed = oauth::resource::Resources::parse(uris.iter().map(String::as_str))?;
    let list: Vec<String> = parsed.iter().map(str::to_owned).collect();
    store::resources::set_allowed(db, client_id, &list).await?;
    Ok(list)
}

/// The resources a client may ask for (empty: any).
pub async fn client_resources(db: &Db, client_id: &str) -> Result<Vec<String>, AdminError> {
    find_client(db, client_id).await?;
    Ok(store::resources::allowed_for(db, client_id).await?)
}

async fn find_client(db: &Db, client_id: &str) -> Result<Client, AdminError> {
    store::clients::find(db, client_id)
        .await?
        .ok_or_else(|| no_client(client_id))
}

fn no_client(client_id: &str) -> AdminError {
    AdminError::Failed(format!("no client with id {client_id}"))
}

/// A personal access token as the CLI prints it.
#[derive(Debug, Serialize)]
pub struct PersonalTokenView {
    /// Public id (for `token revoke`).
    pub id: String,
    /// The owner's label.
    pub label: Option<String>,
    /// Space-delimited scopes.
    pub scope: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `None` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds of the last use.
    pub last_used_at: Option<i64>,
    /// `active`, `revoked` or `expired`.
    pub status: &'static str,
    /// The token, only right after creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// Makes a personal access token for a user.
pub async fn create_token(
    db: &Db,
    clock: &Clock,
    config: &Config,
    user: &str,
    scope: &str,
    label: Option<&str>,
    expires_in_days: Option<u32>,
) -> Result<PersonalTokenView, AdminError> {
    let owner = token_owner(db, user).await?;
    let created =
        personal::create(db, clock, config, &owner, scope, label, expires_in_days).await?;
    Ok(PersonalTokenView {
        id: created.public_id,
        label: label.map(str::to_owned),
        scope: created.scope,
        created_at: clock.now(),
        expires_at: created.expires_at,
        last_used_at: None,
        status: "active",
        token: Some(created.token.expose().to_owned()),
    })
}

/// A user's personal access tokens.
pub async fn list_tokens(
    db: &Db,
    clock: &Clock,
    user: &str,
) -> Result<Vec<PersonalTokenView>, AdminError> {
    let owner = token_owner(db, user).await?;
    let now = clock.now();
    Ok(personal::list(db, &owner)
        .await?
        .into_iter()
        .map(|t| PersonalTokenView {
            id: t.public_id,
            label: t.label,
            scope: t.scope,
            created_at: t.created_at,
            expires_at: t.expires_at,
            last_used_at: t.last_used_at,
            status: token_status(t.revoked_at, t.expires_at, now),
            token: None,
        })
        .collect())
}

/// `active`, `revoked` or `expired`.
fn token_status(revoked_at: Option<i64>, expires_at: Option<i64>, now: i64) -> &'static str {
    if revoked_at.is_some() {
        "revoked"
    } else if expires_at.is_some_and(|e| e <= now) {
        "expired"
    } else {
        "active"
    }
}

/// The enabled user a token is for; an unknown name is a failed operation
/// (exit 1), as for the `user` commands.
async fn token_owner(db: &Db, name: &str) -> Result<User, AdminError> {
    let username = Username::parse(name)?;
    match store::users::find_by_username(db, username.as_str()).await? {
        Some(u) if !u.disabled => Ok(u),
        _ => Err(AdminError::Failed(format!(
            "no enabled user named {}",
            username.as_str()
        ))),
    }
}

/// Revokes a personal access token by id.
pub async fn revoke_token(db: &Db, clock: &Clock, id: &str) -> Result<(), AdminError> {
    if !personal::revoke(db, clock, id).await? {
        return Err(AdminError::Failed(format!(
            "no live personal access token with id {id}"
        )));
    }
    Ok(())
}
