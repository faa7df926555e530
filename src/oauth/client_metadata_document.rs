//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! as the MCP authorization specification 2025-11-25 uses them): a client
//! whose `client_id` is an https URL, and whose registration is the JSON
//! document at that URL.
//!
//! [`ClientDocuments::resolve`] turns such an id into a [`Client`]: it checks
//! the URL ([`DocumentUrl::parse`]), fetches the document through
//! [`crate::fetch`] (the SSRF guard lives there), applies the draft's rules
//! and then the same registration rules every other client obeys
//! ([`registration::validate`]), and keeps the result for as long as the
//! document's `Cache-Control` allows, within the configured bounds.
//!
//! Such a client is always public (`token_endpoint_auth_method` `none`, PKCE
//! required like any public client), may use the authorization code and
//! refresh token grants, and is never verified: the consent page says so.
//!
//! Storage: nothing is written while a document is merely resolved, so a
//! refused or abandoned request leaves no trace. A `clients` row (the id is
//! the URL; `auth_method` `none`; no owner, no secret) is upserted by
//! [`persist`] once a signed-in user reaches the consent decision, because
//! authorization requests, consents, codes and tokens reference it. A later
//! fresh fetch updates that row when the document changed
//! ([`store::clients::refresh_document_client`]); the document, not the row,
//! is what every endpoint checks. Deleting the row (`oauthd client delete
//! <url>`) revokes every grant and token the client holds; its next request
//! fetches the document again and starts from nothing, like a new client.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Deserialize;
use tokio::sync::OnceCell;
use url::Url;

use super::registration::{self, AuthMethod, ClientMetadata, GrantType, Policy};
use crate::clock::Clock;
use crate::config::{ClientMetadataConfig, Config, Rate};
use crate::fetch::{FetchError, Fetcher};
use crate::store::clients::Client;
use crate::store::{self, Db};

/// Longest `client_id` URL accepted, in bytes.
pub const MAX_URL_LEN: usize = 2048;

/// True when `client_id` names a metadata document rather than a registered
/// client: it starts with `https://` (or `http://`, which [`DocumentUrl::parse`]
/// refuses unless loopback http is allowed). Registered clients have
/// server-chosen ids that never look like this.
pub fn is_document_id(client_id: &str) -> bool {
    let lower = |p: &str| {
        client_id
            .get(..p.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(p))
    };
    lower("https://") || lower("http://")
}

/// Why a document client cannot be used. Every text is safe to show and
/// names the rule that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocumentError {
    /// The `client_id` URL breaks the draft's URL rules.
    #[error("the client_id URL is not acceptable: {0}")]
    Url(&'static str),
    /// The fetch failed (the SSRF guard included).
    #[error("its client metadata document could not be fetched: {0}")]
    Fetch(#[from] FetchError),
    /// The body is not a JSON object of the expected shape.
    #[error("its client metadata document is not a valid JSON client metadata object")]
    Json,
    /// The document's `client_id` is not the URL it was fetched from.
    #[error(
        "the client_id in its client metadata document is not exactly the URL it was fetched from"
    )]
    ClientIdMismatch,
    /// The document asks for client authentication oauthd does not offer.
    #[error("its client metadata document must say token_endpoint_auth_method \"none\": {0}")]
    AuthMethod(&'static str),
    /// The document holds a shared secret.
    #[error("its client metadata document must not hold a client_secret")]
    Secret,
    /// The document asks for a grant other than the code and refresh grants.
    #[error(
        "its client metadata document may only use the authorization_code and refresh_token grant types"
    )]
    GrantTypes,
    /// Another registration rule failed.
    #[error("its client metadata document is not acceptable: {0}")]
    Metadata(String),
    /// The requester's address has made oauthd fetch too many documents
    /// lately (`limits.client_metadata_fetches_per_minute`). Not cached.
    #[error(
        "too many client metadata documents were fetched for your address; try again in a minute"
    )]
    TooManyFetches,
}

/// A `client_id` that may name a metadata document (draft §3): https (or
/// loopback http when allowed), a path other than `/`, no fragment, no user
/// name or password, no dot segments, and already in the normal form the
/// fetch will use, so the URL fetched is byte for byte the `client_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentUrl(Url);

impl DocumentUrl {
    /// Applies the URL rules.
    pub fn parse(raw: &str, allow_http_loopback: bool) -> Result<Self, DocumentError> {
        use DocumentError::Url as Bad;
        if raw.len() > MAX_URL_LEN {
            return Err(Bad("it is longer than 2048 bytes"));
        }
        if raw.contains('#') {
            return Err(Bad("it must not have a fragment"));
        }
        let url = Url::parse(raw).map_err(|_| Bad("it is not an absolute URL"))?;
        match url.scheme() {
            "https" => {}
            "http" if allow_http_loopback => {}
            _ => return Err(Bad("it must use https")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Bad("it must not hold a user name or password"));
        }
        if url.path() == "/" {
            return Err(Bad("it must have a path (the document's own address)"));
        }
        if url.as_str() != raw {
            // Dot segments, upper-case scheme or host, default ports,
            // unencoded characters: the URL would be fetched under another
            // spelling than the client_id the document has to repeat.
            return Err(Bad(
                "it is not in normal form (no dot segments, lower-case scheme and host, no default port)",
            ));
        }
        Ok(Self(url))
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The host, for pages that show who the client claims to be.
    pub fn host(&self) -> &str {
        self.0.host_str().unwrap_or("")
    }
}

/// The members of a document oauthd reads (RFC 7591 §2 names). Others are
/// ignored; a document is not refused for carrying more.
#[derive(Debug, Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    client_uri: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    token_endpoint_auth_method: Option<String>,
    #[serde(default)]
    grant_types: Option<Vec<String>>,
    #[serde(default)]
    response_types: Option<Vec<String>>,
    #[serde(default)]
    scope: Option<String>,
    /// `web` or `native` (RFC 8252 rules), as in registration.
    #[serde(default)]
    application_type: Option<String>,
    #[serde(default)]
    client_secret: Option<serde_json::Value>,
    #[serde(default)]
    client_secret_expires_at: Option<serde_json::Value>,
}

/// Applies the draft's rules and then the registration rules to a fetched
/// body; `url` is where it came from.
pub fn check(body: &[u8], url: &DocumentUrl, policy: Policy<'_>) -> Result<Client, DocumentError> {
    let doc: Document = serde_json::from_slice(body).map_err(|_| DocumentError::Json)?;
    // Draft §4.1: simple string comparison, no normalisation.
    if doc.client_id != url.url().as_str() {
        return Err(DocumentError::ClientIdMismatch);
    }
    // Draft §4.1: no shared secret may be used or carried.
    if doc.client_secret.is_some() || doc.client_secret_expires_at.is_some() {
        return Err(DocumentError::Secret);
    }
    match doc.token_endpoint_auth_method.as_deref() {
        Some("none") => {}
        None => {
            return Err(DocumentError::AuthMethod(
                "it names none, and RFC 7591's default (client_secret_basic) needs a secret",
            ));
        }
        Some("private_key_jwt") => {
            return Err(DocumentError::AuthMethod(
                "private_key_jwt is not supported by this server",
            ));
        }
        Some("client_secret_basic" | "client_secret_post" | "client_secret_jwt") => {
            return Err(DocumentError::AuthMethod(
                "a shared-secret method cannot be used with a public document",
            ));
        }
        Some(_) => {
            return Err(DocumentError::AuthMethod(
                "this server supports no other method for such clients",
            ));
        }
    }
    if let Some(grants) = &doc.grant_types
        && grants.iter().any(|g| {
            !matches!(
                GrantType::parse(g),
                Some(GrantType::AuthorizationCode | GrantType::RefreshToken)
            )
        })
    {
        return Err(DocumentError::GrantTypes);
    }
    if doc.redirect_uris.is_empty() {
        return Err(DocumentError::Metadata(
            "it lists no redirect_uris".to_owned(),
        ));
    }
    let meta = ClientMetadata {
        client_name: doc.client_name,
        redirect_uris: doc.redirect_uris,
        scope: doc.scope,
        grant_types: doc.grant_types,
        response_types: doc.response_types,
        token_endpoint_auth_method: Some(AuthMethod::None.as_str().to_owned()),
        client_uri: doc.client_uri,
        allowed_origins: Vec::new(),
        application_type: doc.application_type,
        post_logout_redirect_uris: Vec::new(),
        subject_type: None,
    };
    let new = registration::validate(meta, policy)
        .map_err(|e| DocumentError::Metadata(e.description.into_owned()))?;
    Ok(Client {
        id: url.url().as_str().to_owned(),
        name: new.name,
        website: new.website,
        secret_hash: None,
        auth_method: new.auth_method,
        secret_methods: new.secret_methods,
        redirect_uris: new.redirect_uris,
        scopes: new.scopes,
        grant_types: new.grant_types,
        response_types: new.response_types.iter().map(|r| (*r).to_owned()).collect(),
        owner_id: None,
        may_introspect: false,
        application_type: new.application_type,
        access_token_format: crate::model::client::AccessTokenFormat::Opaque,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        pairwise_sector: None,
        created_at: 0,
        updated_at: 0,
    })
}

/// True when this client's registration is a metadata document.
pub fn is_document_client(client: &Client) -> bool {
    is_document_id(&client.id)
}

/// The redirect-URI rule for document clients: the requested URI must be in
/// the document exactly (no loopback port exception: the document is the
/// registration, byte for byte).
pub fn redirect_uri_listed(client: &Client, requested: &str) -> bool {
    client.redirect_uris.iter().any(|r| r.as_str() == requested)
}

/// What the cache remembers about a URL.
#[derive(Clone)]
enum Cached {
    /// A fetched and accepted document.
    Client(Arc<Client>),
    /// A failed fetch or a refused document, kept `failure_cache` long.
    Failed(DocumentError),
}

struct Entry {
    cached: Cached,
    /// Unix seconds (the app clock).
    expires_at: i64,
}

/// The outcome of one fetch, shared by everyone who waited for it. `None`
/// as the error: storage failed, which only the fetching caller reports.
type Shared = Result<Arc<Client>, Option<DocumentError>>;

/// One caller's hold on a fetch under way; see [`ClientDocuments::resolve`].
struct InFlight<'a> {
    table: &'a Mutex<HashMap<String, Arc<OnceCell<Shared>>>>,
    key: &'a str,
    cell: Arc<OnceCell<Shared>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if table
            .get(self.key)
            .is_some_and(|c| Arc::ptr_eq(c, &self.cell))
        {
            table.remove(self.key);
        }
    }
}

/// Fetches, checks and caches documents. One per server.
pub struct ClientDocuments {
    config: ClientMetadataConfig,
    fetcher: Fetcher,
    cache: Mutex<HashMap<String, Entry>>,
    /// Fetches under way, one per URL: concurrent first uses of an uncached
    /// URL wait for the one fetch instead of making their own.
    in_flight: Mutex<HashMap<String, Arc<OnceCell<Shared>>>>,
    /// New fetches per requesting address: what keeps anyone from making
    /// oauthd send a GET to a new URL of their choosing on every request.
    fetches: Option<FetchLimiter>,
}

type FetchLimiter = governor::RateLimiter<
    IpAddr,
    governor::state::keyed::DefaultKeyedStateStore<IpAddr>,
    governor::clock::DefaultClock,
>;

/// Addresses the fetch limiter remembers before it forgets the idle ones.
const FETCH_LIMITER_ADDRESSES: usize = 10_000;

fn fetch_limiter(rate: Rate) -> Option<FetchLimiter> {
    let burst = NonZeroU32::new(rate.requests)?;
    let quota =
        governor::Quota::with_period(rate.per.checked_div(rate.requests)?)?.allow_burst(burst);
    Some(governor::RateLimiter::keyed(quota))
}

impl std::fmt::Debug for ClientDocuments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDocuments")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientDocuments {
    /// The resolver the configuration describes, allowing each requesting
    /// address `fetch_rate` new document fetches (`None`: no limit).
    pub fn new(config: &ClientMetadataConfig, fetch_rate: Option<Rate>) -> Self {
        if config.enabled && config.allow_http_loopback {
            tracing::warn!(
                "client_metadata.allow_http_loopback is ON: client_id URLs may use http:// and documents are fetched from this host's loopback addresses. For development and tests only; never in production"
            );
        }
        if config.enabled && !config.extra_roots.is_empty() {
            tracing::warn!(
                roots = config.extra_roots.len(),
                "client_metadata.extra_root_certificates: document fetches trust extra root certificates besides the built-in ones"
            );
        }
        Self {
            config: config.clone(),
            fetcher: Fetcher::new(config),
            cache: Mutex::new(HashMap::new()),
            in_flight: Mutex::new(HashMap::new()),
            fetches: fetch_rate.and_then(fetch_limiter),
        }
    }

    /// Whether URL client ids are accepted.
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Documents (and remembered failures) currently cached.
    pub fn cached(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Fetches under way (for tests: none once every caller is done).
    pub fn fetches_under_way(&self) -> usize {
        self.lock_in_flight().len()
    }

    fn lock_in_flight(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Shared>>>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The client a document `client_id` names: from the cache while it is
    /// fresh, else fetched and checked. A failure is remembered for
    /// `failure_cache` and answered from memory meanwhile. Concurrent
    /// callers for one uncached URL share one fetch: the first fetches, the
    /// others await its outcome. On a fresh fetch an existing `clients` row
    /// is brought in line with the document; nothing is inserted here (see
    /// [`persist`]).
    ///
    /// `from` is the requesting address: a request that would start a new
    /// fetch counts against its `limits.client_metadata_fetches_per_minute`.
    pub async fn resolve(
        &self,
        db: &Db,
        clock: &Clock,
        config: &Config,
        client_id: &str,
        from: Option<IpAddr>,
    ) -> Result<Arc<Client>, ResolveFailure> {
        if let Some(cached) = self.fresh(client_id, clock.now()) {
            return match cached {
                Cached::Client(c) => Ok(c),
                Cached::Failed(e) => Err(e.into()),
            };
        }
        let url = DocumentUrl::parse(client_id, self.config.allow_http_loopback)?;
        if let (Some(limiter), Some(ip)) = (&self.fetches, from) {
            let joins_a_fetch = self.lock_in_flight().contains_key(client_id);
            if limiter.len() > FETCH_LIMITER_ADDRESSES {
                limiter.retain_recent();
            }
            if !joins_a_fetch && limiter.check_key(&ip).is_err() {
                tracing::info!(client.ip = %ip, client.id = client_id, "client metadata document fetch limit hit");
                return Err(DocumentError::TooManyFetches.into());
            }
        }
        let cell = Arc::clone(
            self.lock_in_flight()
                .entry(client_id.to_owned())
                .or_insert_with(|| Arc::new(OnceCell::new())),
        );
        // Takes the flight off the table when this caller is done, or is
        // dropped half-way (a client that went away): no entry outlives
        // its callers. (A waiter dropped half-way lets later callers start
        // a second flight: rare, and only ever one more fetch.)
        let flight = InFlight {
            table: &self.in_flight,
            key: client_id,
            cell: Arc::clone(&cell),
        };
        let mut own_store_error = None;
        let store_slot = &mut own_store_error;
        let url_ref = &url;
        let shared = cell
            .get_or_init(move || async move {
                // A flight that ended between this caller's cache check and
                // its joining the table has cached its outcome: use it.
                match self.fresh(client_id, clock.now()) {
                    Some(Cached::Client(c)) => return Ok(c),
                    Some(Cached::Failed(e)) => return Err(Some(e)),
                    None => {}
                }
                // The outcome is cached before the waiters see it, so a
                // caller arriving after this flight ends finds the cache.
                match self.fetch_and_remember(db, clock, config, url_ref).await {
                    Ok(client) => Ok(client),
                    Err(ResolveFailure::Document(e)) => Err(Some(e)),
                    Err(ResolveFailure::Store(e)) => {
                        *store_slot = Some(e);
                        Err(None)
                    }
                }
            })
            .await
            .clone();
        drop(flight);
        match shared {
            Ok(client) => Ok(client),
            Err(Some(e)) => Err(e.into()),
            Err(None) => match own_store_error {
                Some(e) => Err(e.into()),
                // The fetch this caller waited for could not store its
                // outcome: try once on its own.
                None => self.fetch_and_remember(db, clock, config, &url).await,
            },
        }
    }

    fn fresh(&self, client_id: &str, now: i64) -> Option<Cached> {
        self.lock()
            .get(client_id)
            .filter(|e| e.expires_at > now)
            .map(|e| e.cached.clone())
    }

    async fn fetch_and_remember(
        &self,
        db: &Db,
        clock: &Clock,
        config: &Config,
        url: &DocumentUrl,
    ) -> Result<Arc<Client>, ResolveFailure> {
        let client_id = url.url().as_str();
        let now = clock.now();
        let checked = match self.fetcher.get(url.url()).await {
            Ok(fetched) => check(&fetched.body, url, Policy::from_config(config))
                .map(|client| (client, fetched.max_age)),
            Err(e) => Err(DocumentError::from(e)),
        };
        let (mut client, max_age) = match checked {
            Ok(ok) => ok,
            Err(e) => {
                let ttl = self.config.failure_cache.as_secs();
                if ttl > 0 {
                    let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
                    self.remember(client_id, Cached::Failed(e.clone()), expires_at, now);
                }
                tracing::info!(
                    client.id = client_id,
                    reason = %e,
                    cache_secs = ttl,
                    "client metadata document refused"
                );
                return Err(e.into());
            }
        };
        client.created_at = now;
        client.updated_at = now;
        store::clients::refresh_document_client(db, &client, now).await?;
        let client = Arc::new(client);
        let ttl = max_age.unwrap_or(0).clamp(
            self.config.cache_min.as_secs(),
            self.config.cache_max.as_secs(),
        );
        let expires_at = now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX));
        if ttl > 0 {
            self.remember(
                client_id,
                Cached::Client(Arc::clone(&client)),
                expires_at,
                now,
            );
        } else {
            // An earlier failure must not outlive a success.
            self.lock().remove(client_id);
        }
        tracing::info!(
            client.id = %client.id,
            cache_secs = ttl,
            "fetched client metadata document"
        );
        Ok(client)
    }

    fn remember(&self, client_id: &str, cached: Cached, expires_at: i64, now: i64) {
        let mut cache = self.lock();
        if !cache.contains_key(client_id) && cache.len() >= self.config.cache_entries {
            cache.retain(|_, e| e.expires_at > now);
            while cache.len() >= self.config.cache_entries {
                let Some(soonest) = cache
                    .iter()
                    .min_by_key(|(_, e)| e.expires_at)
                    .map(|(k, _)| k.clone())
                else {
                    break;
                };
                cache.remove(&soonest);
            }
        }
        cache.insert(client_id.to_owned(), Entry { cached, expires_at });
    }

    /// Forgets a cached document or failure.
    pub fn forget(&self, client_id: &str) {
        self.lock().remove(client_id);
    }
}

/// Why [`ClientDocuments::resolve`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveFailure {
    /// The document (or its URL) is not acceptable; say why.
    #[error(transparent)]
    Document(#[from] DocumentError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}

/// Stores (or refreshes) the `clients` row of a document client, so that
/// the rows that reference clients can point at it. Called once a signed-in
/// user is about to decide on (or has already granted) the request.
pub async fn persist(db: &Db, client: &Client, now: i64) -> Result<(), store::Error> {
    store::clients::upsert_document_client(db, client, now).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(config: &Config) -> Policy<'_> {
        Policy::from_config(config)
    }

    #[test]
    fn document_ids_are_urls() {
        assert!(is_document_id("https://app.example/client.json"));
        assert!(is_document_id("HTTPS://app.example/client.json"));
        assert!(is_document_id("http://127.0.0.1/c"));
        assert!(!is_document_id("oauthd_abc"));
        assert!(!is_document_id("https:/x"));
        assert!(!is_document_id(""));
    }

    #[test]
    fn url_rules_follow_the_draft() {
        assert!(DocumentUrl::parse("https://app.example/client.json", false).is_ok());
        assert!(DocumentUrl::parse("https://app.example:8443/c?v=1", false).is_ok());
        for (raw, why) in [
            ("http://app.example/c", "http"),
            ("https://app.example/", "no path"),
            ("https://app.example", "no path, not normal"),
            ("https://app.example/c#frag", "fragment"),
            ("https://user@app.example/c", "user name"),
            ("https://user:pw@app.example/c", "password"),
            ("https://app.example/a/../c", "dot segments"),
            ("https://app.example/./c", "dot segment"),
            ("https://APP.example/c", "upper-case host"),
            ("https://app.example:443/c", "default port"),
            ("https://app.example/c d", "space"),
            ("not a url", "relative"),
        ] {
            assert!(DocumentUrl::parse(raw, false).is_err(), "{why}: {raw}");
        }
        assert!(DocumentUrl::parse("http://127.0.0.1:1234/c", true).is_ok());
    }

    fn doc(extra: &serde_json::Value) -> Vec<u8> {
        let mut base = serde_json::json!({
            "client_id": "https://app.example/client.json",
            "client_name": "Agent",
            "redirect_uris": ["https://app.example/cb"],
            "token_endpoint_auth_method": "none",
        });
        if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::to_vec(&base).unwrap_or_default()
    }

    #[test]
    fn documents_are_checked() {
        let config = Config::defaults();
        let url = DocumentUrl::parse("https://app.example/client.json", false).unwrap();
        let client = check(&doc(&serde_json::json!({})), &url, policy(&config)).unwrap();
        assert_eq!(client.id, "https://app.example/client.json");
        assert_eq!(client.name, "Agent");
        assert!(client.is_public());
        assert_eq!(
            client.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert!(redirect_uri_listed(&client, "https://app.example/cb"));
        assert!(!redirect_uri_listed(&client, "https://app.example/cb/"));
        use serde_json::json;
        for (extra, expected) in [
            (
                json!({"client_id": "https://app.example/client.json/"}),
                DocumentError::ClientIdMismatch,
            ),
            (
                json!({"token_endpoint_auth_method": "private_key_jwt"}),
                DocumentError::AuthMethod("private_key_jwt is not supported by this server"),
            ),
            (json!({"client_secret": "s"}), DocumentError::Secret),
            (
                json!({"grant_types": ["client_credentials"]}),
                DocumentError::GrantTypes,
            ),
            (json!({"redirect_uris": 5}), DocumentError::Json),
        ] {
            assert_eq!(
                check(&doc(&extra), &url, policy(&config)).unwrap_err(),
                expected,
                "{extra}"
            );
        }
        for extra in [
            json!({"token_endpoint_auth_method": null}),
            json!({"token_endpoint_auth_method": "client_secret_basic"}),
            json!({"redirect_uris": []}),
            json!({"redirect_uris": ["https://app.example/cb#x"]}),
            json!({"scope": "no-such-scope"}),
        ] {
            assert!(
                check(&doc(&extra), &url, policy(&config)).is_err(),
                "{extra}"
            );
        }
        assert_eq!(
            check(b"not json", &url, policy(&config)).unwrap_err(),
            DocumentError::Json
        );
    }
}
