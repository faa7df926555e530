//! `oauthd export` and `oauthd import`: users and clients as one JSON
//! document, for moving a server from SQLite to Postgres (or back).
//!
//! The document carries what lets every client and user go on as before:
//! users with their argon2 password hashes, clients with their secret
//! digests, redirect URIs, scopes, grant types, CORS origins, application
//! type and resource allow-list, the resources the operator registered, the
//! consents users gave (so apps are not asked again), and refresh and
//! personal access tokens as digests with their audience (so apps and
//! scripts stay signed in, for the resources they were granted and no
//! others). It does not carry
//! what is short-lived or history: sessions (users sign in again), pending
//! authorization requests, codes, access tokens (clients refresh or ask
//! again) and the audit trail. It never holds a plaintext secret, but the
//! hashes it holds are worth guarding: treat the file like a database backup.
//!
//! Import checks the whole document before it writes, then writes it in one
//! transaction: a malformed document or a row that already exists leaves
//! the database as it was. No error message repeats a hash.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::clock::Clock;
use crate::crypto::Sha256Digest;
use crate::model::client::{AccessTokenFormat, ApplicationType, AuthMethod, GrantType};
use crate::model::scope::Scopes;
use crate::oauth::account::{Profile, Username};
use crate::oauth::resource::Resources;
use crate::store::bulk::{
    ClientResourceRow, ClientRow, ConsentRow, InsertError, OriginRow, ResourceRow, Rows, TokenRow,
    UserRow,
};
use crate::store::{self, Db, join_list, split_list};

/// The `format` member every export document carries.
pub const FORMAT: &str = "oauthd-export";
/// The document layout this oauthd writes and reads. Bump it when a member
/// changes meaning or a required member is added.
pub const VERSION: u32 = 1;

/// Why an export or import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum TransferError {
    /// The document is not one this oauthd can import (exit code 2).
    #[error("{0}")]
    Malformed(String),
    /// A row of the document exists in the database already (exit code 1).
    #[error("{0} already exists in this database; nothing was imported")]
    Conflict(String),
    /// Storage failed (exit code 1).
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// The export document.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// Always [`FORMAT`].
    pub format: String,
    /// The layout version, [`VERSION`].
    pub version: u32,
    /// Unix seconds.
    pub exported_at: i64,
    /// `sqlite` or `postgres`: where it came from (informational).
    pub source_backend: String,
    /// The newest migration applied to the source database (informational).
    pub source_schema: Option<i64>,
    /// Users.
    pub users: Vec<User>,
    /// Clients.
    pub clients: Vec<Client>,
    /// Consents: which user approved which client for which scopes.
    pub consents: Vec<Consent>,
    /// Refresh and personal access tokens, as digests.
    pub tokens: Vec<Token>,
    /// Resources the operator registered (absent in documents written
    /// before resource indicators: none).
    #[serde(default)]
    pub resources: Vec<Resource>,
}

/// A resource the operator registered (`oauthd resource add`).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Resource {
    /// The resource URI.
    pub uri: String,
    /// Display name for the consent page.
    pub name: String,
    /// The client that is this resource's server.
    pub client_id: Option<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// `opaque` or `jwt`: the format of tokens for it (absent in older
    /// documents: `opaque`).
    #[serde(default = "opaque")]
    pub access_token_format: String,
}

/// A user.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// Opaque id (tokens, consents and clients refer to it).
    pub id: String,
    /// Lower-case login name.
    pub username: String,
    /// The argon2 PHC string; the password itself is never stored.
    pub password_hash: String,
    /// The first-run admin.
    pub is_admin: bool,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Display name (absent in older documents).
    #[serde(default)]
    pub name: Option<String>,
    /// Email address (absent in older documents).
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the operator vouches for the address.
    #[serde(default)]
    pub email_verified: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A client.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Client {
    /// The `client_id`.
    pub client_id: String,
    /// Display name.
    pub client_name: String,
    /// Home page.
    pub client_uri: Option<String>,
    /// SHA-256 hex digest of the secret; `null` for public clients.
    pub secret_hash: Option<String>,
    /// `client_secret_basic`, `client_secret_post` or `none`.
    pub token_endpoint_auth_method: String,
    /// Redirect URIs, exactly as registered.
    pub redirect_uris: Vec<String>,
    /// Scopes it may ask for.
    pub scopes: Vec<String>,
    /// Grant types it may use.
    pub grant_types: Vec<String>,
    /// Response types it may use.
    pub response_types: Vec<String>,
    /// Browser origins allowed to use CORS.
    pub allowed_origins: Vec<String>,
    /// The portal user who registered it.
    pub owner_id: Option<String>,
    /// Whether it may introspect other clients' tokens (absent in documents
    /// written before the permission existed: false).
    #[serde(default)]
    pub may_introspect: bool,
    /// `web` or `native` (absent in older documents: `web`).
    #[serde(default = "web")]
    pub application_type: String,
    /// OpenID Connect pairwise subjects: the sector (host) its `sub` values
    /// are derived for; absent: public subjects (the user id). Carried as
    /// is, so a client's subjects survive export and import (under the
    /// same `oidc.pairwise_salt`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pairwise_sector: Option<String>,
    /// The resources it may ask for; empty: any (absent in older documents).
    #[serde(default)]
    pub allowed_resources: Vec<String>,
    /// `opaque` or `jwt`: the format of its access tokens (absent in older
    /// documents: `opaque`).
    #[serde(default = "opaque")]
    pub access_token_format: String,
    /// Where RP-initiated logout may return to (absent in older documents:
    /// none).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A consent.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    /// The user.
    pub user_id: String,
    /// The client.
    pub client_id: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// Resources granted; empty when none was named.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

/// A refresh or personal access token, as its digest.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Token {
    /// `refresh` or `personal`.
    pub kind: String,
    /// SHA-256 hex digest of the token.
    pub token_hash: String,
    /// A personal token's public id.
    pub public_id: Option<String>,
    /// A personal token's label.
    pub label: Option<String>,
    /// The grant a refresh token belongs to (its family).
    pub grant_id: Option<String>,
    /// The client it was issued to.
    pub client_id: Option<String>,
    /// The user it acts for.
    pub user_id: Option<String>,
    /// Scopes.
    pub scopes: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds; `null` never expires.
    pub expires_at: Option<i64>,
    /// Unix seconds.
    pub revoked_at: Option<i64>,
    /// Unix seconds.
    pub last_used_at: Option<i64>,
    /// Unix seconds a refresh token was exchanged for its successor.
    pub rotated_at: Option<i64>,
    /// A refresh family's absolute end.
    pub grant_expires_at: Option<i64>,
    /// The resources it is for; empty when none was named.
    #[serde(default)]
    pub audience: Vec<String>,
}

fn web() -> String {
    ApplicationType::Web.as_str().to_owned()
}

fn opaque() -> String {
    AccessTokenFormat::Opaque.as_str().to_owned()
}

/// How many rows of each kind a document holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Users.
    pub users: usize,
    /// Clients.
    pub clients: usize,
    /// Consents.
    pub consents: usize,
    /// Refresh and personal tokens.
    pub tokens: usize,
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} users, {} clients, {} consents, {} refresh and personal tokens",
            self.users, self.clients, self.consents, self.tokens
        )
    }
}

impl Document {
    /// How many rows of each kind it holds.
    pub fn counts(&self) -> Counts {
        Counts {
            users: self.users.len(),
            clients: self.clients.len(),
            consents: self.consents.len(),
            tokens: self.tokens.len(),
        }
    }
}

/// Reads every carried row (one consistent snapshot) into a document.
pub async fn export(db: &Db, clock: &Clock) -> Result<Document, TransferError> {
    let source_schema = db.newest_applied_migration().await?;
    let rows = store::bulk::read_all(db).await?;
    let list = |raw: &str| split_list(raw).map(str::to_owned).collect::<Vec<_>>();
    let clients = rows
        .clients
        .into_iter()
        .map(|c| Client {
            allowed_origins: rows
                .origins
                .iter()
                .filter(|o| o.client_id == c.id)
                .map(|o| o.origin.clone())
                .collect(),
            allowed_resources: rows
                .client_resources
                .iter()
                .filter(|r| r.client_id == c.id)
                .map(|r| r.uri.clone())
                .collect(),
            redirect_uris: list(&c.redirect_uris),
            post_logout_redirect_uris: list(&c.post_logout_redirect_uris),
            access_token_format: c.access_token_format,
            scopes: list(&c.scopes),
            grant_types: list(&c.grant_types),
            response_types: list(&c.response_types),
            client_id: c.id,
            client_name: c.name,
            client_uri: c.website,
            secret_hash: c.secret_hash,
            token_endpoint_auth_method: c.auth_method,
            owner_id: c.owner_id,
            may_introspect: c.may_introspect,
            application_type: c.application_type,
            pairwise_sector: c.pairwise_sector,
            created_at: c.created_at,
            updated_at: c.updated_at,
        })
        .collect();
    let stored_list = |raw: Option<&str>| {
        Resources::from_stored(raw)
            .iter()
            .map(str::to_owned)
            .collect()
    };
    Ok(Document {
        format: FORMAT.to_owned(),
        version: VERSION,
        exported_at: clock.now(),
        source_backend: db.backend().to_owned(),
        source_schema,
        users: rows
            .users
            .into_iter()
            .map(|u| User {
                id: u.id,
                username: u.username,
                password_hash: u.password_hash,
                is_admin: u.is_admin,
                disabled: u.disabled,
                name: u.name,
                email: u.email,
                email_verified: u.email_verified,
                created_at: u.created_at,
                updated_at: u.updated_at,
            })
            .collect(),
        clients,
        consents: rows
            .consents
            .into_iter()
            .map(|c| Consent {
                scopes: list(&c.scope),
                resources: stored_list(c.resources.as_deref()),
                user_id: c.user_id,
                client_id: c.client_id,
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
            .collect(),
        tokens: rows
            .tokens
            .into_iter()
            .map(|t| Token {
                scopes: list(&t.scope),
                audience: stored_list(t.audience.as_deref()),
                kind: t.kind,
                token_hash: t.token_hash,
                public_id: t.public_id,
                label: t.label,
                grant_id: t.grant_id,
                client_id: t.client_id,
                user_id: t.user_id,
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
                last_used_at: t.last_used_at,
                rotated_at: t.rotated_at,
                grant_expires_at: t.grant_expires_at,
            })
            .collect(),
        resources: rows
            .resources
            .into_iter()
            .map(|r| Resource {
                uri: r.uri,
                name: r.name,
                client_id: r.client_id,
                created_at: r.created_at,
                access_token_format: r.access_token_format,
            })
            .collect(),
    })
}

/// Parses an export document: the format and version first (so a document
/// from a newer oauthd says so), then every member, then the rules in
/// [`check`]. Messages name where the problem is, never a hash.
pub fn parse(text: &str) -> Result<Document, TransferError> {
    let malformed = |m: String| TransferError::Malformed(format!("malformed export document: {m}"));
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        malformed(format!(
            "not JSON (line {}, column {})",
            e.line(),
            e.column()
        ))
    })?;
    match value.get("format").and_then(serde_json::Value::as_str) {
        Some(FORMAT) => {}
        _ => {
            return Err(malformed(format!(
                "`format` must be \"{FORMAT}\"; is this an oauthd export?"
            )));
        }
    }
    match value.get("version").and_then(serde_json::Value::as_u64) {
        Some(v) if v == u64::from(VERSION) => {}
        Some(v) => {
            return Err(TransferError::Malformed(format!(
                "the export document is version {v}; this oauthd reads version {VERSION} (import it with the oauthd that wrote it, or a newer one)"
            )));
        }
        None => return Err(malformed("`version` is missing or not a number".into())),
    }
    let doc: Document = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        malformed(format!(
            "{path}: {}",
            without_quoted(&e.into_inner().to_string())
        ))
    })?;
    check(&doc)?;
    Ok(doc)
}

/// serde's messages quote the offending value (`invalid type: string
/// "…"`), which could be a hash; keep the rest.
fn without_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut inside = false;
    for c in message.chars() {
        if c == '"' {
            if !inside {
                out.push_str("(value)");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

/// The rules a document must keep before anything is written: names and
/// hashes in the stored shapes, known methods, grant types and scopes,
/// unique keys, and every reference resolved inside the document.
pub fn check(doc: &Document) -> Result<(), TransferError> {
    let bad = |m: String| {
        Err(TransferError::Malformed(format!(
            "malformed export document: {m}"
        )))
    };
    let mut user_ids = HashSet::new();
    let mut usernames = HashSet::new();
    for (i, u) in doc.users.iter().enumerate() {
        let at = format!("users[{i}]");
        if !is_id(&u.id) {
            return bad(format!(
                "{at}.id must be 1 to 128 characters without spaces"
            ));
        }
        match Username::parse(&u.username) {
            Ok(name) if name.as_str() == u.username => {}
            _ => return bad(format!("{at}.username is not a valid lower-case user name")),
        }
        if !u.password_hash.starts_with("$argon2") {
            return bad(format!(
                "{at}.password_hash (user {}) is not an argon2 PHC string",
                u.username
            ));
        }
        let profile = Profile::parse(
            u.name.as_deref().unwrap_or_default(),
            u.email.as_deref().unwrap_or_default(),
        );
        if profile.is_err() {
            return bad(format!(
                "{at}.name or .email (user {}) breaks the profile rules",
                u.username
            ));
        }
        if u.email_verified && u.email.is_none() {
            return bad(format!(
                "{at}.email_verified (user {}): there is no email to verify",
                u.username
            ));
        }
        if !user_ids.insert(u.id.as_str()) {
            return bad(format!("{at}: user id {} appears twice", u.id));
        }
        if !usernames.insert(u.username.as_str()) {
            return bad(format!("{at}: user name {} appears twice", u.username));
        }
    }
    let mut client_ids = HashSet::new();
    for (i, c) in doc.clients.iter().enumerate() {
        let at = format!("clients[{i}]");
        if !is_id(&c.client_id) {
            return bad(format!(
                "{at}.client_id must be 1 to 128 characters without spaces"
            ));
        }
        let id = &c.client_id;
        let Some(method) = AuthMethod::parse(&c.token_endpoint_auth_method) else {
            return bad(format!(
                "{at}.token_endpoint_auth_method (client {id}) must be client_secret_basic, client_secret_post, client_secret_basic_or_post or none"
            ));
        };
        match (&c.secret_hash, method) {
            (None, AuthMethod::None) => {}
            (Some(h), AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost)
                if is_sha256_hex(h) => {}
            (Some(_), AuthMethod::None) => {
                return bad(format!(
                    "{at}.secret_hash (client {id}): a public client has no secret"
                ));
            }
            _ => {
                return bad(format!(
                    "{at}.secret_hash (client {id}) must be a SHA-256 hex digest for a confidential client"
                ));
            }
        }
        if let Some(g) = c.grant_types.iter().find(|g| GrantType::parse(g).is_none()) {
            return bad(format!(
                "{at}.grant_types (client {id}): unknown grant type {g}"
            ));
        }
        if Scopes::parse(&c.scopes.join(" ")).is_err() || c.scopes.iter().any(|s| s.contains(' ')) {
            return bad(format!("{at}.scopes (client {id}) holds an invalid scope"));
        }
        for (member, list) in [
            ("redirect_uris", &c.redirect_uris),
            ("post_logout_redirect_uris", &c.post_logout_redirect_uris),
            ("response_types", &c.response_types),
            ("allowed_origins", &c.allowed_origins),
        ] {
            if !list.iter().all(|v| is_list_item(v)) {
                return bad(format!(
                    "{at}.{member} (client {id}): items must be non-empty and hold no whitespace"
                ));
            }
        }
        let unique: HashSet<&String> = c.allowed_origins.iter().collect();
        if unique.len() != c.allowed_origins.len() {
            return bad(format!(
                "{at}.allowed_origins (client {id}) lists an origin twice"
            ));
        }
        if c.may_introspect && method == AuthMethod::None {
            return bad(format!(
                "{at}.may_introspect (client {id}): a public client cannot introspect"
            ));
        }
        if let Some(owner) = &c.owner_id
            && !user_ids.contains(owner.as_str())
        {
            return bad(format!(
                "{at}.owner_id (client {id}): no user with id {owner} in the document"
            ));
        }
        if c.pairwise_sector.as_deref().is_some_and(|s| {
            s.is_empty()
                || s.len() > 253
                || s.chars().any(|ch| ch.is_control() || ch.is_whitespace())
        }) {
            return bad(format!(
                "{at}.pairwise_sector (client {id}) must be a host name"
            ));
        }
        if ApplicationType::parse(&c.application_type).is_none() {
            return bad(format!(
                "{at}.application_type (client {id}) must be web or native"
            ));
        }
        if AccessTokenFormat::parse(&c.access_token_format).is_none() {
            return bad(format!(
                "{at}.access_token_format (client {id}) must be opaque or jwt"
            ));
        }
        if !is_resource_list(&c.allowed_resources) {
            return bad(format!(
                "{at}.allowed_resources (client {id}) must be distinct absolute URIs without a fragment"
            ));
        }
        if !client_ids.insert(id.as_str()) {
            return bad(format!("{at}: client id {id} appears twice"));
        }
    }
    let mut uris = HashSet::new();
    for (i, r) in doc.resources.iter().enumerate() {
        let at = format!("resources[{i}]");
        if !is_resource_list(std::slice::from_ref(&r.uri)) {
            return bad(format!(
                "{at}.uri must be an absolute URI without a fragment"
            ));
        }
        if r.name.trim().is_empty() {
            return bad(format!("{at}.name (resource {}) must not be empty", r.uri));
        }
        if AccessTokenFormat::parse(&r.access_token_format).is_none() {
            return bad(format!(
                "{at}.access_token_format (resource {}) must be opaque or jwt",
                r.uri
            ));
        }
        if let Some(c) = &r.client_id
            && !client_ids.contains(c.as_str())
        {
            return bad(format!(
                "{at}.client_id: no client with id {c} in the document"
            ));
        }
        if !uris.insert(r.uri.as_str()) {
            return bad(format!("{at}: resource {} appears twice", r.uri));
        }
    }
    let mut pairs = HashSet::new();
    for (i, c) in doc.consents.iter().enumerate() {
        let at = format!("consents[{i}]");
        if !user_ids.contains(c.user_id.as_str()) {
            return bad(format!(
                "{at}.user_id: no user with id {} in the document",
                c.user_id
            ));
        }
        if !client_ids.contains(c.client_id.as_str()) {
            return bad(format!(
                "{at}.client_id: no client with id {} in the document",
                c.client_id
            ));
        }
        if Scopes::parse(&c.scopes.join(" ")).is_err() {
            return bad(format!("{at}.scopes holds an invalid scope"));
        }
        if !is_resource_list(&c.resources) {
            return bad(format!(
                "{at}.resources must be distinct absolute URIs without a fragment"
            ));
        }
        if !pairs.insert((c.user_id.as_str(), c.client_id.as_str())) {
            return bad(format!(
                "{at}: a second consent of user {} for client {}",
                c.user_id, c.client_id
            ));
        }
    }
    let mut hashes = HashSet::new();
    let mut public_ids = HashSet::new();
    for (i, t) in doc.tokens.iter().enumerate() {
        let at = format!("tokens[{i}]");
        match (t.kind.as_str(), &t.public_id) {
            ("personal", Some(id)) if is_id(id) => {
                if !public_ids.insert(id.as_str()) {
                    return bad(format!("{at}: public id {id} appears twice"));
                }
                if t.user_id.is_none() {
                    return bad(format!(
                        "{at}.user_id: personal access token {id} needs its user"
                    ));
                }
            }
            ("personal", _) => {
                return bad(format!("{at}.public_id: a personal token needs one"));
            }
            ("refresh", None) => {
                if t.client_id.is_none() || t.grant_id.is_none() {
                    return bad(format!(
                        "{at}: a refresh token needs its client_id and grant_id"
                    ));
                }
            }
            ("refresh", Some(_)) => {
                return bad(format!("{at}.public_id: only personal tokens have one"));
            }
            _ => return bad(format!("{at}.kind must be refresh or personal")),
        }
        if !is_sha256_hex(&t.token_hash) {
            return bad(format!("{at}.token_hash must be a SHA-256 hex digest"));
        }
        if !hashes.insert(t.token_hash.as_str()) {
            return bad(format!("{at}: the same token appears twice"));
        }
        if let Some(u) = &t.user_id
            && !user_ids.contains(u.as_str())
        {
            return bad(format!("{at}.user_id: no user with id {u} in the document"));
        }
        if let Some(c) = &t.client_id
            && !client_ids.contains(c.as_str())
        {
            return bad(format!(
                "{at}.client_id: no client with id {c} in the document"
            ));
        }
        if Scopes::parse(&t.scopes.join(" ")).is_err() {
            return bad(format!("{at}.scopes holds an invalid scope"));
        }
        if !is_resource_list(&t.audience) {
            return bad(format!(
                "{at}.audience must be distinct absolute URIs without a fragment"
            ));
        }
    }
    Ok(())
}

/// Distinct resource URIs that each pass the `resource` parameter's rules.
fn is_resource_list(list: &[String]) -> bool {
    let distinct: HashSet<&String> = list.iter().collect();
    distinct.len() == list.len()
        && list
            .iter()
            .all(|uri| Resources::parse([uri.as_str()]).is_ok_and(|parsed| parsed.contains(uri)))
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_list_item(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn is_sha256_hex(s: &str) -> bool {
    Sha256Digest::from_hex(s).is_some()
}

/// Writes a checked document in one transaction; on a conflict nothing is
/// written.
pub async fn import(db: &Db, doc: &Document) -> Result<Counts, TransferError> {
    check(doc)?;
    let rows = Rows {
        users: doc
            .users
            .iter()
            .map(|u| UserRow {
                id: u.id.clone(),
                username: u.username.clone(),
                password_hash: u.password_hash.clone(),
                is_admin: u.is_admin,
                disabled: u.disabled,
                name: u.name.clone(),
                email: u.email.clone(),
                email_verified: u.email_verified,
                created_at: u.created_at,
                updated_at: u.updated_at,
            })
            .collect(),
        clients: doc
            .clients
            .iter()
            .map(|c| ClientRow {
                id: c.client_id.clone(),
                name: c.client_name.clone(),
                website: c.client_uri.clone(),
                secret_hash: c.secret_hash.clone(),
                auth_method: c.token_endpoint_auth_method.clone(),
                redirect_uris: join(&c.redirect_uris),
                scopes: join(&c.scopes),
                grant_types: join(&c.grant_types),
                response_types: join(&c.response_types),
                owner_id: c.owner_id.clone(),
                may_introspect: c.may_introspect,
                application_type: c.application_type.clone(),
                pairwise_sector: c.pairwise_sector.clone(),
                created_at: c.created_at,
                updated_at: c.updated_at,
                access_token_format: c.access_token_format.clone(),
                post_logout_redirect_uris: join(&c.post_logout_redirect_uris),
            })
            .collect(),
        origins: doc
            .clients
            .iter()
            .flat_map(|c| {
                c.allowed_origins.iter().map(|o| OriginRow {
                    client_id: c.client_id.clone(),
                    origin: o.clone(),
                })
            })
            .collect(),
        consents: doc
            .consents
            .iter()
            .map(|c| ConsentRow {
                user_id: c.user_id.clone(),
                client_id: c.client_id.clone(),
                scope: join(&c.scopes),
                resources: stored(&c.resources),
                created_at: c.created_at,
                updated_at: c.updated_at,
            })
            .collect(),
        tokens: doc
            .tokens
            .iter()
            .map(|t| TokenRow {
                token_hash: t.token_hash.clone(),
                kind: t.kind.clone(),
                grant_id: t.grant_id.clone(),
                client_id: t.client_id.clone(),
                user_id: t.user_id.clone(),
                scope: join(&t.scopes),
                label: t.label.clone(),
                created_at: t.created_at,
                expires_at: t.expires_at,
                revoked_at: t.revoked_at,
                last_used_at: t.last_used_at,
                rotated_at: t.rotated_at,
                grant_expires_at: t.grant_expires_at,
                public_id: t.public_id.clone(),
                audience: stored(&t.audience),
            })
            .collect(),
        resources: doc
            .resources
            .iter()
            .map(|r| ResourceRow {
                uri: r.uri.clone(),
                name: r.name.clone(),
                client_id: r.client_id.clone(),
                created_at: r.created_at,
                access_token_format: r.access_token_format.clone(),
            })
            .collect(),
        client_resources: doc
            .clients
            .iter()
            .flat_map(|c| {
                c.allowed_resources.iter().map(|uri| ClientResourceRow {
                    client_id: c.client_id.clone(),
                    uri: uri.clone(),
                })
            })
            .collect(),
    };
    match store::bulk::insert_all(db, &rows).await {
        Ok(()) => Ok(doc.counts()),
        Err(InsertError::Conflict(row)) => Err(TransferError::Conflict(row)),
        Err(InsertError::Store(e)) => Err(e.into()),
    }
}

fn join(items: &[String]) -> String {
    join_list(items.iter().map(String::as_str))
}

/// A resource list's column value: `None` when empty.
fn stored(items: &[String]) -> Option<String> {
    (!items.is_empty()).then(|| join(items))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_messages_lose_their_quoted_values() {
        assert_eq!(
            without_quoted(r#"invalid type: string "$argon2id$v=19$secret", expected a boolean"#),
            "invalid type: string (value), expected a boolean"
        );
        assert_eq!(
            without_quoted("missing field `users`"),
            "missing field `users`"
        );
    }

    #[test]
    fn only_lower_case_sha256_hex_digests_pass() {
        assert!(is_sha256_hex(&"a".repeat(64)));
        assert!(!is_sha256_hex(&"A".repeat(64)));
        assert!(!is_sha256_hex(&"a".repeat(63)));
    }
}
