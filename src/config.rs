//! Typed configuration, validated once at start-up.
//!
//! Load order: built-in defaults, then the TOML file (`--config PATH` or
//! `OAUTHD_CONFIG`), then the environment (`DATABASE_URL`, `OAUTHD_LISTEN`,
//! `OAUTHD_PUBLIC_URL`, and `OAUTHD_SECTION__KEY` for any other key). Every
//! error names the key (and the variable it came from) on one line. Nothing
//! else in the crate reads `std::env`; `config.example.toml` documents each key.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};
use url::Url;

use crate::oauth::scope::{ScopeName, Scopes};

/// Prefix of every environment variable that sets a config key.
const ENV_PREFIX: &str = "OAUTHD_";
/// The variable naming the config file; not itself a key.
const ENV_CONFIG_FILE: &str = "OAUTHD_CONFIG";

/// A config problem: which key, and what is wrong with it. Displays as one line.
#[derive(Debug, thiserror::Error)]
#[error("config error: {key}: {message}")]
pub struct ConfigError {
    /// The dotted key (with the variable or file it came from, where known).
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl ConfigError {
    fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Log output format.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (the default).
    Pretty,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Who may register clients at `POST /api/client`.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RegistrationPolicy {
    /// Anyone may register.
    Open,
    /// Callers must present the initial access token as a bearer token.
    Token,
    /// Registration over HTTP is off (the CLI still works).
    Closed,
}

/// The token endpoint's answer format when the client does not ask for one.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ResponseFormat {
    /// `application/json` (RFC 6749 §5.1).
    Json,
    /// `application/x-www-form-urlencoded`, as GitBook-style clients expect.
    Form,
}

/// The validated configuration every part of the server reads.
#[derive(Clone, Debug)]
pub struct Config {
    /// Socket address the HTTP server binds.
    pub listen: SocketAddr,
    /// The issuer and the base of every absolute URL oauthd builds.
    pub public_url: Url,
    /// Peers whose `X-Forwarded-For` / `Forwarded` headers are believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Storage settings.
    pub database: DatabaseConfig,
    /// Logging settings.
    pub log: LogConfig,
    /// Token and code lifetimes and the token endpoint's default format.
    pub tokens: TokenConfig,
    /// The scope catalogue.
    pub scopes: ScopeConfig,
    /// Client registration policy and redirect-URI rules.
    pub registration: RegistrationConfig,
    /// HTTP server limits.
    pub http: HttpConfig,
    /// Sign-in session lifetimes.
    pub sessions: SessionConfig,
    /// Authorization endpoint options.
    pub authorize: AuthorizeConfig,
    /// The device authorization grant (RFC 8628).
    pub device: DeviceConfig,
    /// The protected resource (`/account`).
    pub resource: ResourceConfig,
    /// Token introspection.
    pub introspection: IntrospectionConfig,
    /// Resource indicators (RFC 8707).
    pub resource_indicators: ResourceIndicatorsConfig,
    /// The background deletion of expired rows.
    pub janitor: JanitorConfig,
    /// What every page shows of the operator's product.
    pub ui: UiConfig,
    /// Who can get an account.
    pub accounts: AccountsConfig,
    /// Abuse limits.
    pub limits: LimitsConfig,
    /// The Prometheus endpoint.
    pub metrics: MetricsConfig,
    /// Client ID Metadata Documents: https URLs as `client_id`.
    pub client_metadata: ClientMetadataConfig,
    /// ID-token signing keys and their rotation.
    pub signing: SigningConfig,
    /// OpenID Connect options beyond signing.
    pub oidc: OidcConfig,
}

/// OpenID Connect options (`oauth::subject`).
#[derive(Clone, Default)]
pub struct OidcConfig {
    /// The secret pairwise subjects are derived under; `None`: clients
    /// cannot register `subject_type=pairwise`.
    pub pairwise_salt: Option<[u8; 32]>,
}

impl fmt::Debug for OidcConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OidcConfig")
            .field("pairwise_salt", &self.pairwise_salt.as_ref().map(|_| ".."))
            .finish()
    }
}

/// The algorithm new signing keys are generated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SigningAlgorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256, 2048-bit keys (OpenID Connect's
    /// mandatory algorithm).
    Rs256,
    /// ECDSA on P-256 with SHA-256.
    Es256,
    /// Ed25519.
    EdDsa,
}

impl SigningAlgorithm {
    /// The JOSE `alg` name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Parses a JOSE `alg` name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "RS256" => Some(Self::Rs256),
            "ES256" => Some(Self::Es256),
            "EdDSA" => Some(Self::EdDsa),
            _ => None,
        }
    }
}

/// ID-token signing keys (`crate::signing`).
#[derive(Clone)]
pub struct SigningConfig {
    /// The AES-256 key that seals private keys in the database; `None`: no
    /// key can be generated or used. Never stored, never printed.
    pub key_encryption_key: Option<[u8; 32]>,
    /// The algorithm of keys generated from now on.
    pub algorithm: SigningAlgorithm,
    /// How long a new key is published before it signs.
    pub prepublish: Duration,
    /// The longest lifetime of anything a key signs: a key stays published
    /// this long after it stops signing.
    pub max_token_lifetime: Duration,
    /// A key this old (counted from when it started signing) is replaced
    /// by a new one; `None`: only `oauthd keys rotate` rotates.
    pub rotate_after: Option<Duration>,
}

impl fmt::Debug for SigningConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningConfig")
            .field(
                "key_encryption_key",
                &self.key_encryption_key.as_ref().map(|_| ".."),
            )
            .field("algorithm", &self.algorithm)
            .field("prepublish", &self.prepublish)
            .field("max_token_lifetime", &self.max_token_lifetime)
            .field("rotate_after", &self.rotate_after)
            .finish()
    }
}

/// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document):
/// how oauthd fetches and keeps the document behind a URL `client_id`.
#[derive(Clone, Debug)]
pub struct ClientMetadataConfig {
    /// Whether an https URL is accepted as a `client_id` at all.
    pub enabled: bool,
    /// Allows `http://` documents and loopback addresses (development and
    /// tests only; logged loudly at start when on).
    pub allow_http_loopback: bool,
    /// Longest wait for the connection (TLS included).
    pub connect_timeout: Duration,
    /// Longest wait for the whole fetch, body included.
    pub timeout: Duration,
    /// Largest document accepted, in bytes.
    pub max_document_bytes: usize,
    /// Shortest time a fetched document is reused, whatever its
    /// `Cache-Control` says.
    pub cache_min: Duration,
    /// Longest time a fetched document is reused, whatever its
    /// `Cache-Control` says.
    pub cache_max: Duration,
    /// Most documents kept in memory (failed fetches included).
    pub cache_entries: usize,
    /// How long a failed fetch or a refused document is remembered, so a
    /// bad URL is not fetched again on every request; zero turns this off.
    pub failure_cache: Duration,
    /// Root certificates trusted for document fetches in addition to the
    /// built-in web PKI roots (private CAs and tests), read from the PEM
    /// files `client_metadata.extra_root_certificates` names.
    pub extra_roots: Vec<reqwest::Certificate>,
}

/// A rate: at most `requests` per `per`, refilled evenly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed per period (also the burst).
    pub requests: u32,
    /// The period.
    pub per: Duration,
}

/// Per-client-address rate limits and failure throttles.
#[derive(Clone, Debug)]
pub struct LimitsConfig {
    /// `POST /login` and `POST /signup`; `None` is off.
    pub login: Option<Rate>,
    /// The token endpoint and its aliases.
    pub token: Option<Rate>,
    /// `POST /oauth/introspect`.
    pub introspect: Option<Rate>,
    /// `POST /oauth/revoke`.
    pub revoke: Option<Rate>,
    /// `POST /api/client`.
    pub register: Option<Rate>,
    /// User codes entered at `POST /device`, per address and per session.
    pub device: Option<Rate>,
    /// New Client ID Metadata Document fetches a request from one address
    /// may start.
    pub client_metadata_fetch: Option<Rate>,
    /// Failed sign-ins per user name and address before each further try
    /// must wait (doubling, capped by `max_lockout`); 0 turns this off.
    pub free_failed_logins: u32,
    /// Failed client authentications per client and address before the same.
    pub free_failed_client_auths: u32,
    /// The longest wait a failure throttle imposes.
    pub max_lockout: Duration,
}

/// Branding on every page.
#[derive(Clone, Debug)]
pub struct UiConfig {
    /// The operator's product name, shown beside "oauthd".
    pub product_name: String,
    /// A logo image URL (https, or a path on this server); `None`: no logo.
    pub logo_url: Option<String>,
}

/// Account creation.
#[derive(Clone, Debug)]
pub struct AccountsConfig {
    /// Whether `/signup` lets anyone make an account.
    pub signup: bool,
    /// Whether `serve` makes an `admin` user when there are no users at all.
    pub create_admin_on_first_run: bool,
}

/// Token introspection (RFC 7662).
#[derive(Clone, Debug)]
pub struct IntrospectionConfig {
    /// A bearer token with this scope may introspect, as the client it was
    /// issued to (personal access tokens are refused); `None`: only client
    /// authentication.
    pub bearer_scope: Option<ScopeName>,
}

/// Resource indicators (RFC 8707).
#[derive(Clone, Debug, Default)]
pub struct ResourceIndicatorsConfig {
    /// Only resources registered with `oauthd resource add` may be asked for.
    pub registered_only: bool,
}

/// The janitor: batched deletion of expired and long-revoked rows.
#[derive(Clone, Debug)]
pub struct JanitorConfig {
    /// Whether `serve` runs it.
    pub enabled: bool,
    /// Time between passes.
    pub interval: Duration,
    /// Rows deleted per statement.
    pub batch_size: u32,
    /// How long used codes, retired refresh tokens and revoked tokens are
    /// kept past their end, so replays and reuse are recognised as such.
    pub retention: Duration,
    /// How long audit events are kept; `None` keeps them forever.
    pub audit_retention: Option<Duration>,
}

/// Sign-in session lifetimes.
#[derive(Clone, Debug)]
pub struct SessionConfig {
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after sign-in, used or not.
    pub absolute_lifetime: Duration,
    /// Most password checks (argon2id) running at once; the rest wait.
    pub max_concurrent_password_checks: usize,
}

/// Authorization endpoint options.
#[derive(Clone, Debug)]
pub struct AuthorizeConfig {
    /// Accept `code_challenge_method=plain` (RFC 7636 §4.2); off by default as
    /// RFC 9700 §2.1.1 advises.
    pub allow_plain_pkce: bool,
    /// How long a shown consent page stays valid.
    pub request_lifetime: Duration,
}

/// The device authorization grant (RFC 8628).
#[derive(Clone, Debug)]
pub struct DeviceConfig {
    /// How long a device code and its user code stay valid.
    pub code_lifetime: Duration,
    /// The polling interval a device is told to keep (raised by `slow_down`).
    pub interval: Duration,
    /// Wrong user codes a pending device code absorbs before it can no longer
    /// be approved (RFC 8628 §5.1).
    pub max_failed_guesses: u32,
}

/// Where `GET /metrics` is served.
#[derive(Clone, Debug)]
pub struct MetricsConfig {
    /// Serve `/metrics` at all.
    pub enabled: bool,
    /// A separate address for `/metrics` alone (then the main listener does
    /// not serve it); [`DEFAULT_METRICS_LISTEN`] unless configured. `None`
    /// (`metrics.listen = ""`) serves it on the main listener.
    pub listen: Option<SocketAddr>,
}

/// The protected resource.
#[derive(Clone, Debug)]
pub struct ResourceConfig {
    /// The scope a token needs for `GET /account`.
    pub account_scope: ScopeName,
}

/// Storage settings.
#[derive(Clone)]
pub struct DatabaseConfig {
    /// `sqlite://path` or `postgres://…`. Contains a password in production, so
    /// `Debug` prints only the scheme.
    pub url: String,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long a request waits for a pooled connection before giving up.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before answering busy.
    pub sqlite_busy_timeout: Duration,
    /// How token writes are coalesced into shared transactions.
    pub writes: WriteConfig,
}

/// The batch writers that store issued tokens (`store::writer`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteConfig {
    /// Writer tasks, each with its own queue and one transaction at a time.
    pub writers: usize,
    /// The most token requests one transaction carries.
    pub batch_size: usize,
    /// How long a writer holding fewer than `batch_size` requests waits for
    /// more before it writes; zero writes whatever is queued at once.
    pub batch_wait: Duration,
    /// Requests a writer's queue holds; a request finding it full gets 503.
    pub queue_size: usize,
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = self.url.split(':').next().unwrap_or("");
        f.debug_struct("DatabaseConfig")
            .field("url", &format_args!("{scheme}:…"))
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("sqlite_busy_timeout", &self.sqlite_busy_timeout)
            .field("writes", &self.writes)
            .finish()
    }
}

impl DatabaseConfig {
    /// True when the URL names a Postgres server.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres:") || self.url.starts_with("postgresql:")
    }

    /// The URL with any password replaced, fit for a message.
    pub fn shown_url(&self) -> String {
        redact_url(&self.url)
    }
}

/// Logging settings.
#[derive(Clone, Debug)]
pub struct LogConfig {
    /// Pretty or JSON lines.
    pub format: LogFormat,
    /// An `EnvFilter` directive such as `info` or `oauthd=debug,sqlx=warn`.
    pub level: String,
}

/// Token and code lifetimes.
#[derive(Clone, Debug)]
pub struct TokenConfig {
    /// Access-token lifetime.
    pub access_token_lifetime: Duration,
    /// Authorization-code lifetime.
    pub code_lifetime: Duration,
    /// Refresh-token lifetime, counted from the original grant (absolute).
    pub refresh_token_lifetime: Duration,
    /// A refresh token unused this long expires; `None` turns the idle limit off.
    pub refresh_token_idle: Option<Duration>,
    /// How long a just-rotated refresh token may be presented again without
    /// counting as reuse (for clients retrying after a lost response).
    pub refresh_grace: Duration,
    /// Token endpoint answer format when the client's `Accept` names none.
    pub response_format: ResponseFormat,
    /// Lifetime of a JWT access token (RFC 9068), shorter than an opaque
    /// one's: a JWT cannot be recalled before it expires.
    pub jwt_access_token_lifetime: Duration,
}

/// The scope catalogue and the scopes granted when a request names none.
#[derive(Clone, Debug)]
pub struct ScopeConfig {
    /// Scope name → the description shown on consent pages.
    pub catalogue: BTreeMap<ScopeName, String>,
    /// Used when a client registers or asks for no scope.
    pub default_scopes: Scopes,
}

/// Client registration settings.
#[derive(Clone)]
pub struct RegistrationConfig {
    /// Open, token-protected or closed.
    pub policy: RegistrationPolicy,
    /// The bearer token `policy = "token"` requires. Never printed.
    pub initial_access_token: Option<String>,
    /// Allow `http://` redirect URIs for hosts that are not loopback.
    pub allow_http_redirect_uris: bool,
}

impl fmt::Debug for RegistrationConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistrationConfig")
            .field("policy", &self.policy)
            .field(
                "initial_access_token",
                &self.initial_access_token.as_ref().map(|_| ".."),
            )
            .field("allow_http_redirect_uris", &self.allow_http_redirect_uris)
            .finish()
    }
}

/// HTTP server limits.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    /// Whole-request deadline; a request still running after it gets 408.
    pub request_timeout: Duration,
    /// How long a client may take to send a request's headers (slowloris);
    /// the connection is closed after it.
    pub header_read_timeout: Duration,
    /// How long graceful shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// Most bytes a request's header fields may take together (names,
    /// values and separators; the request line not counted): more is 431.
    pub max_header_bytes: usize,
}

// ---------------------------------------------------------------------------
// The file/environment shape. Field names are the config keys.

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    listen: String,
    public_url: Option<String>,
    #[serde(deserialize_with = "string_or_list")]
    trusted_proxies: Vec<String>,
    database: RawDatabase,
    log: RawLog,
    tokens: RawTokens,
    scopes: RawScopes,
    registration: RawRegistration,
    http: RawHttp,
    sessions: RawSessions,
    authorize: RawAuthorize,
    device: RawDevice,
    resource: RawResource,
    introspection: RawIntrospection,
    resource_indicators: RawResourceIndicators,
    janitor: RawJanitor,
    ui: RawUi,
    accounts: RawAccounts,
    limits: RawLimits,
    metrics: RawMetrics,
    client_metadata: RawClientMetadata,
    signing: RawSigning,
    oidc: RawOidc,
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawOidc {
    pairwise_salt: String,
    pairwise_salt_file: String,
}

impl RawOidc {
    fn validate(self) -> Result<OidcConfig, ConfigError> {
        let pairwise_salt = match (
            self.pairwise_salt.is_empty(),
            self.pairwise_salt_file.is_empty(),
        ) {
            (true, true) => None,
            (false, false) => {
                return Err(ConfigError::new(
                    "oidc.pairwise_salt",
                    "set either pairwise_salt or pairwise_salt_file, not both",
                ));
            }
            (false, true) => Some(parse_kek("oidc.pairwise_salt", &self.pairwise_salt)?),
            (true, false) => {
                let key = "oidc.pairwise_salt_file";
                let text = std::fs::read_to_string(&self.pairwise_salt_file).map_err(|e| {
                    ConfigError::new(
                        key,
                        format!("cannot read `{}`: {e}", self.pairwise_salt_file),
                    )
                })?;
                Some(parse_kek(key, &text)?)
            }
        };
        Ok(OidcConfig { pairwise_salt })
    }
}

impl Default for RawConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            public_url: None,
            trusted_proxies: Vec::new(),
            database: RawDatabase::default(),
            log: RawLog::default(),
            tokens: RawTokens::default(),
            scopes: RawScopes::default(),
            registration: RawRegistration::default(),
            http: RawHttp::default(),
            sessions: RawSessions::default(),
            authorize: RawAuthorize::default(),
            device: RawDevice::default(),
            resource: RawResource::default(),
            introspection: RawIntrospection::default(),
            resource_indicators: RawResourceIndicators::default(),
            janitor: RawJanitor::default(),
            ui: RawUi::default(),
            accounts: RawAccounts::default(),
            limits: RawLimits::default(),
            metrics: RawMetrics::default(),
            client_metadata: RawClientMetadata::default(),
            signing: RawSigning::default(),
            oidc: RawOidc::default(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawSigning {
    key_encryption_key: String,
    key_encryption_key_file: String,
    algorithm: String,
    prepublish_secs: u64,
    max_token_lifetime_secs: u64,
    rotate_after_days: u64,
}

impl Default for RawSigning {
    fn default() -> Self {
        Self {
            key_encryption_key: String::new(),
            key_encryption_key_file: String::new(),
            algorithm: "RS256".into(),
            prepublish_secs: 3600,
            max_token_lifetime_secs: 3600,
            rotate_after_days: 90,
        }
    }
}

impl RawSigning {
    fn validate(self) -> Result<SigningConfig, ConfigError> {
        let algorithm = SigningAlgorithm::parse(&self.algorithm).ok_or_else(|| {
            ConfigError::new("signing.algorithm", "must be RS256, ES256 or EdDSA")
        })?;
        within(
            "signing.max_token_lifetime_secs",
            self.max_token_lifetime_secs,
            60,
            30 * 86_400,
        )?;
        within(
            "signing.prepublish_secs",
            self.prepublish_secs,
            0,
            30 * 86_400,
        )?;
        let key_encryption_key = match (
            self.key_encryption_key.is_empty(),
            self.key_encryption_key_file.is_empty(),
        ) {
            (true, true) => None,
            (false, false) => {
                return Err(ConfigError::new(
                    "signing.key_encryption_key",
                    "set either key_encryption_key or key_encryption_key_file, not both",
                ));
            }
            (false, true) => Some(parse_kek(
                "signing.key_encryption_key",
                &self.key_encryption_key,
            )?),
            (true, false) => {
                let key = "signing.key_encryption_key_file";
                let text = std::fs::read_to_string(&self.key_encryption_key_file).map_err(|e| {
                    ConfigError::new(
                        key,
                        format!("cannot read `{}`: {e}", self.key_encryption_key_file),
                    )
                })?;
                Some(parse_kek(key, &text)?)
            }
        };
        Ok(SigningConfig {
            key_encryption_key,
            algorithm,
            prepublish: Duration::from_secs(self.prepublish_secs),
            max_token_lifetime: Duration::from_secs(self.max_token_lifetime_secs),
            rotate_after: (self.rotate_after_days > 0)
                .then(|| Duration::from_secs(self.rotate_after_days.saturating_mul(86_400))),
        })
    }
}

/// 32 bytes in standard base64 (`openssl rand -base64 32`). The message
/// never repeats the value.
fn parse_kek(key: &str, raw: &str) -> Result<[u8; 32], ConfigError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(raw.trim())
        .map_err(|_| {
            ConfigError::new(
                key,
                "is not base64 (make one with `openssl rand -base64 32`)",
            )
        })?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        ConfigError::new(
            key,
            format!(
                "must be 32 bytes in base64, not {} (make one with `openssl rand -base64 32`)",
                bytes.len()
            ),
        )
    })
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawClientMetadata {
    enabled: bool,
    allow_http_loopback: bool,
    connect_timeout_ms: u64,
    timeout_ms: u64,
    max_document_bytes: u64,
    cache_min_secs: u64,
    cache_max_secs: u64,
    cache_entries: u64,
    failure_cache_secs: u64,
    extra_root_certificates: Vec<String>,
}

impl Default for RawClientMetadata {
    fn default() -> Self {
        Self {
            enabled: true,
            allow_http_loopback: false,
            connect_timeout_ms: 2000,
            timeout_ms: 5000,
            max_document_bytes: 5120,
            cache_min_secs: 300,
            cache_max_secs: 3600,
            cache_entries: 1000,
            failure_cache_secs: 30,
            extra_root_certificates: Vec::new(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawDatabase {
    url: String,
    max_connections: u32,
    acquire_timeout_secs: u64,
    sqlite_busy_timeout_ms: u64,
    writers: u64,
    write_batch_size: u64,
    write_batch_wait_us: u64,
    write_queue_size: u64,
}

impl Default for RawDatabase {
    fn default() -> Self {
        Self {
            url: "sqlite://oauthd.db".into(),
            max_connections: 10,
            acquire_timeout_secs: 5,
            sqlite_busy_timeout_ms: 5000,
            writers: 1,
            write_batch_size: 64,
            write_batch_wait_us: 0,
            write_queue_size: 4096,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawLog {
    format: LogFormat,
    level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: LogFormat::Pretty,
            level: "info".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawTokens {
    access_token_lifetime_secs: u64,
    code_lifetime_secs: u64,
    refresh_token_lifetime_secs: u64,
    refresh_token_idle_secs: u64,
    refresh_grace_secs: u64,
    response_format: ResponseFormat,
    jwt_access_token_lifetime_secs: u64,
}

impl Default for RawTokens {
    fn default() -> Self {
        Self {
            access_token_lifetime_secs: 3600,
            code_lifetime_secs: 600,
            refresh_token_lifetime_secs: 30 * 24 * 3600,
            refresh_token_idle_secs: 0,
            refresh_grace_secs: 10,
            response_format: ResponseFormat::Json,
            jwt_access_token_lifetime_secs: 300,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawScopes {
    catalogue: BTreeMap<String, String>,
    #[serde(deserialize_with = "string_or_list")]
    default_scopes: Vec<String>,
}

impl Default for RawScopes {
    fn default() -> Self {
        let catalogue = [
            ("account:read", "Read your account: your user name and id"),
            ("event:write", "Add and update events on your behalf"),
            ("openid", "Sign you in: learn who you are (a stable id)"),
            ("profile", "See your name and user name"),
            ("email", "See your email address"),
        ];
        Self {
            catalogue: catalogue
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            default_scopes: vec!["account:read".into(), "event:write".into()],
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawRegistration {
    policy: RegistrationPolicy,
    initial_access_token: Option<String>,
    allow_http_redirect_uris: bool,
}

impl Default for RawRegistration {
    fn default() -> Self {
        Self {
            policy: RegistrationPolicy::Open,
            initial_access_token: None,
            allow_http_redirect_uris: false,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawHttp {
    request_timeout_secs: u64,
    header_read_timeout_secs: u64,
    shutdown_grace_secs: u64,
    max_header_bytes: u64,
}

impl Default for RawHttp {
    fn default() -> Self {
        Self {
            request_timeout_secs: 30,
            header_read_timeout_secs: 10,
            shutdown_grace_secs: 30,
            max_header_bytes: 16 * 1024,
        }
    }
}

/// Where `/metrics` is served unless `metrics.listen` says otherwise: on
/// loopback only, away from the public listener.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// Smallest and largest `http.max_header_bytes`: browsers send a few KiB of
/// headers (cookies, user agent), and hyper's own default buffer is 400 KiB.
const HEADER_BYTES_RANGE: std::ops::RangeInclusive<u64> = 1024..=1024 * 1024;

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawSessions {
    idle_timeout_secs: u64,
    absolute_lifetime_secs: u64,
    max_concurrent_password_checks: usize,
}

impl Default for RawSessions {
    fn default() -> Self {
        Self {
            idle_timeout_secs: 8 * 3600,
            absolute_lifetime_secs: 7 * 24 * 3600,
            max_concurrent_password_checks: 0,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawAuthorize {
    allow_plain_pkce: bool,
    request_lifetime_secs: u64,
}

impl Default for RawAuthorize {
    fn default() -> Self {
        Self {
            allow_plain_pkce: false,
            request_lifetime_secs: 600,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawDevice {
    code_lifetime_secs: u64,
    interval_secs: u64,
    max_failed_guesses: u32,
}

impl Default for RawDevice {
    fn default() -> Self {
        Self {
            code_lifetime_secs: 600,
            interval_secs: 5,
            max_failed_guesses: 20,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawResource {
    account_scope: String,
}

impl Default for RawResource {
    fn default() -> Self {
        Self {
            account_scope: "account:read".into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawMetrics {
    enabled: bool,
    listen: String,
}

impl Default for RawMetrics {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: DEFAULT_METRICS_LISTEN.into(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawIntrospection {
    bearer_scope: String,
}

impl Default for RawIntrospection {
    fn default() -> Self {
        Self {
            bearer_scope: "introspect".into(),
        }
    }
}

#[derive(Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawResourceIndicators {
    registered_only: bool,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawJanitor {
    enabled: bool,
    interval_secs: u64,
    batch_size: u32,
    retention_secs: u64,
    audit_retention_days: u64,
}

impl Default for RawJanitor {
    fn default() -> Self {
        Self {
            enabled: true,
            interval_secs: 300,
            batch_size: 1000,
            retention_secs: 1800,
            audit_retention_days: 365,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawUi {
    product_name: String,
    logo_url: String,
}

impl Default for RawUi {
    fn default() -> Self {
        Self {
            product_name: "oauthd".into(),
            logo_url: String::new(),
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawAccounts {
    signup: bool,
    create_admin_on_first_run: bool,
}

impl Default for RawAccounts {
    fn default() -> Self {
        Self {
            signup: false,
            create_admin_on_first_run: true,
        }
    }
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
struct RawLimits {
    enabled: bool,
    login_per_minute: u32,
    token_per_minute: u32,
    introspect_per_minute: u32,
    revoke_per_minute: u32,
    register_per_minute: u32,
    device_per_minute: u32,
    client_metadata_fetches_per_minute: u32,
    free_failed_logins: u32,
    free_failed_client_auths: u32,
    max_lockout_secs: u64,
}

impl Default for RawLimits {
    fn default() -> Self {
        Self {
            enabled: true,
            login_per_minute: 30,
            token_per_minute: 1200,
            introspect_per_minute: 6000,
            revoke_per_minute: 600,
            register_per_minute: 10,
            device_per_minute: 10,
            client_metadata_fetches_per_minute: 30,
            free_failed_logins: 5,
            free_failed_client_auths: 10,
            max_lockout_secs: 900,
        }
    }
}

/// Accepts a TOML list or one string of items separated by spaces or commas
/// (the natural form for an environment variable).
fn string_or_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Either::deserialize(d)? {
        Either::One(s) => s
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Either::Many(v) => v,
    })
}

// ---------------------------------------------------------------------------
// Loading.

impl Config {
    /// Loads the configuration from the process environment and, when given or
    /// named by `OAUTHD_CONFIG`, a file.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_from(file, &env)
    }

    /// Loads the configuration from a file and an explicit environment map.
    pub fn load_from(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        load_raw(file, env)?.validate()
    }

    /// Loads the configuration exactly as [`Config::load`] does, and also
    /// returns every key's effective value in the file's own shape, with
    /// secrets redacted (for `oauthd config check`).
    pub fn load_effective(file: Option<&Path>) -> Result<(Self, toml::Table), ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::load_effective_from(file, &env)
    }

    /// [`Config::load_effective`] with an explicit environment map.
    pub fn load_effective_from(
        file: Option<&Path>,
        env: &HashMap<String, String>,
    ) -> Result<(Self, toml::Table), ConfigError> {
        let raw = load_raw(file, env)?;
        let mut table = toml::Table::try_from(&raw)
            .map_err(|e| ConfigError::new("(all)", one_line(&e.to_string())))?;
        let config = raw.validate()?;
        // Values the validation derives: show what the server will use
        // (`public_url` as the issuer and every endpoint URL start with it,
        // without a trailing slash).
        table.insert(
            "public_url".into(),
            toml::Value::String(config.issuer().to_owned()),
        );
        if let Some(toml::Value::Table(sessions)) = table.get_mut("sessions") {
            let checks =
                i64::try_from(config.sessions.max_concurrent_password_checks).unwrap_or(i64::MAX);
            sessions.insert(
                "max_concurrent_password_checks".into(),
                toml::Value::Integer(checks),
            );
        }
        redact(&mut table);
        Ok((config, table))
    }
}

/// What redacted values print as.
pub const REDACTED: &str = "REDACTED";

/// Hides secrets in an effective-config table: the password in
/// `database.url` (userinfo or `?password=`), and every string under a key
/// that names a secret (`initial_access_token`, and any later `*_token`,
/// `*_secret`, `*password*` or `*_key` key).
fn redact(table: &mut toml::Table) {
    for (key, value) in table.iter_mut() {
        match value {
            toml::Value::Table(inner) => redact(inner),
            toml::Value::String(s) if key == "url" => *s = redact_url(s),
            toml::Value::String(s) if names_a_secret(key) && !s.is_empty() => {
                *s = REDACTED.to_owned();
            }
            _ => {}
        }
    }
}

fn names_a_secret(key: &str) -> bool {
    key.ends_with("_token")
        || key.ends_with("_secret")
        || key.ends_with("_key")
        || key.contains("password")
}

/// A URL with any password replaced; an unparsable URL keeps only its scheme.
fn redact_url(raw: &str) -> String {
    let Ok(mut url) = Url::parse(raw) else {
        let scheme = raw.split(':').next().unwrap_or("");
        return format!("{scheme}:{REDACTED}");
    };
    if url.password().is_some() && url.set_password(Some(REDACTED)).is_err() {
        return format!("{}:{REDACTED}", url.scheme());
    }
    if url
        .query_pairs()
        .any(|(k, _)| names_a_secret(&k) || k == "password")
    {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| {
                let v = if names_a_secret(&k) || k == "password" {
                    REDACTED.to_owned()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
    }
    url.to_string()
}

/// Defaults, then the file, then the environment, before validation.
fn load_raw(file: Option<&Path>, env: &HashMap<String, String>) -> Result<RawConfig, ConfigError> {
    let file_path = file
        .map(Path::to_path_buf)
        .or_else(|| env.get(ENV_CONFIG_FILE).map(Into::into));
    let mut table = match &file_path {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                ConfigError::new(path.display().to_string(), format!("cannot read: {e}"))
            })?;
            text.parse::<toml::Table>()
                .map_err(|e| ConfigError::new(path.display().to_string(), one_line(e.message())))?
        }
        None => toml::Table::new(),
    };
    let sources = overlay_env(&mut table, env)?;
    let raw: RawConfig =
        serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(|e| {
            let key = e.path().to_string();
            let key = match sources.get(&key) {
                Some(var) => format!("{key} (from {var})"),
                None => key,
            };
            ConfigError::new(key, one_line(&e.into_inner().to_string()))
        })?;
    Ok(raw)
}

impl Config {
    /// The default configuration (no file, no environment).
    pub fn defaults() -> Self {
        match RawConfig::default().validate() {
            Ok(c) => c,
            Err(e) => unreachable!("built-in defaults are valid: {e}"),
        }
    }

    /// The issuer identifier (RFC 8414 §2): `public_url` without a trailing slash.
    pub fn issuer(&self) -> &str {
        self.public_url.as_str().trim_end_matches('/')
    }
}

/// Sets keys from `DATABASE_URL` and `OAUTHD_*` variables. Returns which
/// variable set which dotted key, so errors can name the variable.
fn overlay_env(
    table: &mut toml::Table,
    env: &HashMap<String, String>,
) -> Result<HashMap<String, String>, ConfigError> {
    let mut sources = HashMap::new();
    let mut vars: Vec<(&String, &String)> = env.iter().collect();
    vars.sort();
    for (name, raw) in vars {
        let path: Vec<String> = if name == "DATABASE_URL" {
            vec!["database".into(), "url".into()]
        } else if name == ENV_CONFIG_FILE {
            continue;
        } else if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
            rest.split("__").map(str::to_ascii_lowercase).collect()
        } else {
            continue;
        };
        if path.iter().any(String::is_empty) {
            return Err(ConfigError::new(name.as_str(), "not a config key"));
        }
        let dotted = path.join(".");
        let value = env_value(raw);
        let (last, parents) = path.split_last().unwrap_or((&dotted, &[]));
        let mut node = &mut *table;
        for part in parents {
            let entry = node
                .entry(part.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            node = match entry {
                toml::Value::Table(t) => t,
                _ => {
                    return Err(ConfigError::new(
                        format!("{dotted} (from {name})"),
                        format!("`{part}` is not a section"),
                    ));
                }
            };
        }
        node.insert(last.clone(), value);
        sources.insert(dotted, name.clone());
    }
    Ok(sources)
}

/// An environment value is read as a TOML value when it is one (`10`, `true`,
/// `["a", "b"]`, `"quoted"`), and as a plain string otherwise.
fn env_value(raw: &str) -> toml::Value {
    match format!("v = {raw}").parse::<toml::Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.into()),
    }
}

/// Reads the PEM certificates in `path` for
/// `client_metadata.extra_root_certificates`, and checks that the TLS stack
/// accepts each one as a trust anchor. The error is one line naming the file.
pub fn read_root_certificates(path: &Path) -> Result<Vec<reqwest::Certificate>, String> {
    let shown = path.display();
    let pem = std::fs::read(path).map_err(|e| format!("cannot read `{shown}`: {e}"))?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem)
        .map_err(|_| format!("`{shown}` is not a PEM certificate file"))?;
    if certs.is_empty() {
        return Err(format!("`{shown}` holds no PEM certificate"));
    }
    let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
    for cert in &certs {
        builder = builder.add_root_certificate(cert.clone());
    }
    builder.build().map_err(|e| {
        format!(
            "`{shown}` holds a certificate that cannot be trusted: {}",
            one_line(&e.to_string())
        )
    })?;
    Ok(certs)
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl RawConfig {
    fn validate(self) -> Result<Config, ConfigError> {
        let signing = self.signing.validate()?;
        let oidc = self.oidc.validate()?;
        let listen: SocketAddr = self.listen.parse().map_err(|_| {
            ConfigError::new(
                "listen",
                format!("`{}` is not an IP address with a port", self.listen),
            )
        })?;
        let metrics = validate_metrics(&self.metrics, listen)?;
        let public_url = match &self.public_url {
            Some(u) => parse_public_url(u)?,
            None => derived_public_url(listen)?,
        };
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .map(|p| {
                p.parse::<IpNet>()
                    .or_else(|_| p.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::new(
                            "trusted_proxies",
                            format!("`{p}` is not an IP address or CIDR block"),
                        )
                    })
            })
            .collect::<Result<_, _>>()?;

        let db = self.database;
        if !(db.url.starts_with("sqlite:")
            || db.url.starts_with("postgres:")
            || db.url.starts_with("postgresql:"))
        {
            return Err(ConfigError::new(
                "database.url",
                "must start with sqlite: or postgres:",
            ));
        }
        positive("database.max_connections", u64::from(db.max_connections))?;
        positive("database.acquire_timeout_secs", db.acquire_timeout_secs)?;
        within("database.writers", db.writers, 1, 64)?;
        within("database.write_batch_size", db.write_batch_size, 1, 1024)?;
        within(
            "database.write_batch_wait_us",
            db.write_batch_wait_us,
            0,
            100_000,
        )?;
        within("database.write_queue_size", db.write_queue_size, 1, 1 << 20)?;

        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log.level) {
            return Err(ConfigError::new("log.level", one_line(&e.to_string())));
        }

        let t = &self.tokens;
        positive(
            "tokens.access_token_lifetime_secs",
            t.access_token_lifetime_secs,
        )?;
        positive("tokens.code_lifetime_secs", t.code_lifetime_secs)?;
        positive(
            "tokens.jwt_access_token_lifetime_secs",
            t.jwt_access_token_lifetime_secs,
        )?;
        // The key that signed a JWT stays in the JWKS this long after it
        // stops signing; a longer-lived token would outlive its key.
        if t.jwt_access_token_lifetime_secs > signing.max_token_lifetime.as_secs() {
            return Err(ConfigError::new(
                "tokens.jwt_access_token_lifetime_secs",
                "must not exceed signing.max_token_lifetime_secs",
            ));
        }
        positive(
            "tokens.refresh_token_lifetime_secs",
            t.refresh_token_lifetime_secs,
        )?;

        let scopes = validate_scopes(self.scopes)?;

        let reg = self.registration;
        let initial_access_token = reg.initial_access_token.filter(|t| !t.is_empty());
        if reg.policy == RegistrationPolicy::Token {
            match &initial_access_token {
                None => {
                    return Err(ConfigError::new(
                        "registration.initial_access_token",
                        "required when registration.policy = \"token\"",
                    ));
                }
                Some(t) if t.len() < 16 => {
                    return Err(ConfigError::new(
                        "registration.initial_access_token",
                        "must be at least 16 characters",
                    ));
                }
                // RFC 6750 §2.1 b64token: anything else could never be sent.
                Some(t)
                    if !t
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b)) =>
                {
                    return Err(ConfigError::new(
                        "registration.initial_access_token",
                        "may only hold letters, digits and - . _ ~ + / = (it is sent as a bearer token)",
                    ));
                }
                Some(_) => {}
            }
        }
        positive("http.request_timeout_secs", self.http.request_timeout_secs)?;
        positive(
            "http.header_read_timeout_secs",
            self.http.header_read_timeout_secs,
        )?;
        positive("http.shutdown_grace_secs", self.http.shutdown_grace_secs)?;
        let max_header_bytes = self.http.max_header_bytes;
        if !HEADER_BYTES_RANGE.contains(&max_header_bytes) {
            return Err(ConfigError::new(
                "http.max_header_bytes",
                format!(
                    "must be from {} to {}",
                    HEADER_BYTES_RANGE.start(),
                    HEADER_BYTES_RANGE.end()
                ),
            ));
        }
        positive(
            "sessions.idle_timeout_secs",
            self.sessions.idle_timeout_secs,
        )?;
        positive(
            "sessions.absolute_lifetime_secs",
            self.sessions.absolute_lifetime_secs,
        )?;
        positive(
            "authorize.request_lifetime_secs",
            self.authorize.request_lifetime_secs,
        )?;
        within(
            "device.code_lifetime_secs",
            self.device.code_lifetime_secs,
            60,
            3600,
        )?;
        within("device.interval_secs", self.device.interval_secs, 1, 60)?;
        positive(
            "device.max_failed_guesses",
            u64::from(self.device.max_failed_guesses),
        )?;
        let account_scope = ScopeName::parse(&self.resource.account_scope)
            .map_err(|e| ConfigError::new("resource.account_scope", e.to_string()))?;
        if !scopes.catalogue.contains_key(account_scope.as_str()) {
            return Err(ConfigError::new(
                "resource.account_scope",
                format!("`{account_scope}` is not in scopes.catalogue"),
            ));
        }
        let bearer_scope = match self.introspection.bearer_scope.as_str() {
            "" => None,
            raw => Some(
                ScopeName::parse(raw)
                    .map_err(|e| ConfigError::new("introspection.bearer_scope", e.to_string()))?,
            ),
        };
        positive("janitor.interval_secs", self.janitor.interval_secs)?;
        let product_name = self.ui.product_name.trim().to_owned();
        if product_name.is_empty()
            || product_name.chars().count() > 60
            || product_name.chars().any(char::is_control)
        {
            return Err(ConfigError::new(
                "ui.product_name",
                "must be 1 to 60 characters without control characters",
            ));
        }
        let logo_url = match self.ui.logo_url.trim() {
            "" => None,
            raw if raw.starts_with('/') && !raw.starts_with("//") => Some(raw.to_owned()),
            raw => match Url::parse(raw) {
                Ok(u) if u.scheme() == "https" && u.host().is_some() => Some(raw.to_owned()),
                _ => {
                    return Err(ConfigError::new(
                        "ui.logo_url",
                        "must be an https URL or a path on this server (the pages allow no other images)",
                    ));
                }
            },
        };
        positive("janitor.batch_size", u64::from(self.janitor.batch_size))?;
        let cm = &self.client_metadata;
        within(
            "client_metadata.connect_timeout_ms",
            cm.connect_timeout_ms,
            100,
            30_000,
        )?;
        within("client_metadata.timeout_ms", cm.timeout_ms, 100, 60_000)?;
        within(
            "client_metadata.max_document_bytes",
            cm.max_document_bytes,
            512,
            65_536,
        )?;
        within(
            "client_metadata.cache_max_secs",
            cm.cache_max_secs,
            0,
            604_800,
        )?;
        within(
            "client_metadata.cache_min_secs",
            cm.cache_min_secs,
            0,
            cm.cache_max_secs,
        )?;
        within(
            "client_metadata.cache_entries",
            cm.cache_entries,
            1,
            1_000_000,
        )?;
        within(
            "client_metadata.failure_cache_secs",
            cm.failure_cache_secs,
            0,
            3600,
        )?;
        let mut extra_roots = Vec::new();
        for path in &cm.extra_root_certificates {
            extra_roots.extend(
                read_root_certificates(Path::new(path))
                    .map_err(|e| ConfigError::new("client_metadata.extra_root_certificates", e))?,
            );
        }
        let l = &self.limits;
        let rate = |per_minute: u32| {
            (l.enabled && per_minute > 0).then_some(Rate {
                requests: per_minute,
                per: Duration::from_secs(60),
            })
        };
        let limits = LimitsConfig {
            login: rate(l.login_per_minute),
            token: rate(l.token_per_minute),
            introspect: rate(l.introspect_per_minute),
            revoke: rate(l.revoke_per_minute),
            register: rate(l.register_per_minute),
            device: rate(l.device_per_minute),
            client_metadata_fetch: rate(l.client_metadata_fetches_per_minute),
            free_failed_logins: if l.enabled { l.free_failed_logins } else { 0 },
            free_failed_client_auths: if l.enabled {
                l.free_failed_client_auths
            } else {
                0
            },
            max_lockout: Duration::from_secs(l.max_lockout_secs),
        };
        positive("limits.max_lockout_secs", l.max_lockout_secs)?;
        // 0 means one per CPU: argon2id is CPU-bound, more only queue in memory.
        let max_checks = match self.sessions.max_concurrent_password_checks {
            0 => std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
            n => n,
        };

        Ok(Config {
            listen,
            public_url,
            trusted_proxies,
            database: DatabaseConfig {
                url: db.url,
                max_connections: db.max_connections,
                acquire_timeout: Duration::from_secs(db.acquire_timeout_secs),
                sqlite_busy_timeout: Duration::from_millis(db.sqlite_busy_timeout_ms),
                // In range (checked above), so the conversions cannot fail.
                writes: WriteConfig {
                    writers: usize::try_from(db.writers).unwrap_or(1),
                    batch_size: usize::try_from(db.write_batch_size).unwrap_or(1),
                    batch_wait: Duration::from_micros(db.write_batch_wait_us),
                    queue_size: usize::try_from(db.write_queue_size).unwrap_or(1),
                },
            },
            log: LogConfig {
                format: self.log.format,
                level: self.log.level,
            },
            tokens: TokenConfig {
                access_token_lifetime: Duration::from_secs(t.access_token_lifetime_secs),
                code_lifetime: Duration::from_secs(t.code_lifetime_secs),
                refresh_token_lifetime: Duration::from_secs(t.refresh_token_lifetime_secs),
                refresh_token_idle: (t.refresh_token_idle_secs > 0)
                    .then(|| Duration::from_secs(t.refresh_token_idle_secs)),
                refresh_grace: Duration::from_secs(t.refresh_grace_secs),
                response_format: t.response_format,
                jwt_access_token_lifetime: Duration::from_secs(t.jwt_access_token_lifetime_secs),
            },
            scopes,
            registration: RegistrationConfig {
                policy: reg.policy,
                initial_access_token,
                allow_http_redirect_uris: reg.allow_http_redirect_uris,
            },
            http: HttpConfig {
                request_timeout: Duration::from_secs(self.http.request_timeout_secs),
                header_read_timeout: Duration::from_secs(self.http.header_read_timeout_secs),
                shutdown_grace: Duration::from_secs(self.http.shutdown_grace_secs),
                max_header_bytes: usize::try_from(max_header_bytes).unwrap_or(usize::MAX),
            },
            sessions: SessionConfig {
                idle_timeout: Duration::from_secs(self.sessions.idle_timeout_secs),
                absolute_lifetime: Duration::from_secs(self.sessions.absolute_lifetime_secs),
                max_concurrent_password_checks: max_checks,
            },
            authorize: AuthorizeConfig {
                allow_plain_pkce: self.authorize.allow_plain_pkce,
                request_lifetime: Duration::from_secs(self.authorize.request_lifetime_secs),
            },
            device: DeviceConfig {
                code_lifetime: Duration::from_secs(self.device.code_lifetime_secs),
                interval: Duration::from_secs(self.device.interval_secs),
                max_failed_guesses: self.device.max_failed_guesses,
            },
            resource: ResourceConfig { account_scope },
            metrics,
            introspection: IntrospectionConfig { bearer_scope },
            resource_indicators: ResourceIndicatorsConfig {
                registered_only: self.resource_indicators.registered_only,
            },
            limits,
            ui: UiConfig {
                product_name,
                logo_url,
            },
            accounts: AccountsConfig {
                signup: self.accounts.signup,
                create_admin_on_first_run: self.accounts.create_admin_on_first_run,
            },
            client_metadata: ClientMetadataConfig {
                enabled: cm.enabled,
                allow_http_loopback: cm.allow_http_loopback,
                connect_timeout: Duration::from_millis(cm.connect_timeout_ms),
                timeout: Duration::from_millis(cm.timeout_ms),
                max_document_bytes: usize::try_from(cm.max_document_bytes).unwrap_or(usize::MAX),
                cache_min: Duration::from_secs(cm.cache_min_secs),
                cache_max: Duration::from_secs(cm.cache_max_secs),
                cache_entries: usize::try_from(cm.cache_entries).unwrap_or(usize::MAX),
                failure_cache: Duration::from_secs(cm.failure_cache_secs),
                extra_roots,
            },
            janitor: JanitorConfig {
                enabled: self.janitor.enabled,
                interval: Duration::from_secs(self.janitor.interval_secs),
                batch_size: self.janitor.batch_size,
                retention: Duration::from_secs(self.janitor.retention_secs),
                audit_retention: (self.janitor.audit_retention_days > 0).then(|| {
                    Duration::from_secs(self.janitor.audit_retention_days.saturating_mul(86_400))
                }),
            },
            signing,
            oidc,
        })
    }
}

fn within(key: &str, value: u64, min: u64, max: u64) -> Result<(), ConfigError> {
    if !(min..=max).contains(&value) {
        return Err(ConfigError::new(
            key,
            format!("must be between {min} and {max}"),
        ));
    }
    Ok(())
}

fn positive(key: &str, value: u64) -> Result<(), ConfigError> {
    if value == 0 {
        return Err(ConfigError::new(key, "must be greater than 0"));
    }
    Ok(())
}

fn parse_public_url(raw: &str) -> Result<Url, ConfigError> {
    let err = |m: &str| ConfigError::new("public_url", m.to_owned());
    let url = Url::parse(raw).map_err(|e| err(&format!("`{raw}` is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err("must be an http or https URL"));
    }
    if url.host().is_none() {
        return Err(err("must have a host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(err("must not have a query or fragment (RFC 8414 §2)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(err("must not contain user information"));
    }
    Ok(url)
}

fn validate_metrics(raw: &RawMetrics, listen: SocketAddr) -> Result<MetricsConfig, ConfigError> {
    let separate = match raw.listen.trim() {
        "" => None,
        text => {
            let addr: SocketAddr = text.parse().map_err(|_| {
                ConfigError::new(
                    "metrics.listen",
                    format!("`{text}` is not an IP address with a port"),
                )
            })?;
            // Port 0 asks for any free port: two such binds never collide.
            if addr == listen && addr.port() != 0 {
                return Err(ConfigError::new(
                    "metrics.listen",
                    "must differ from `listen` (set it to \"\" to serve /metrics there)",
                ));
            }
            Some(addr)
        }
    };
    Ok(MetricsConfig {
        enabled: raw.enabled,
        listen: separate,
    })
}

fn derived_public_url(listen: SocketAddr) -> Result<Url, ConfigError> {
    let host = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let raw = format!("http://{}/", SocketAddr::new(host, listen.port()));
    Url::parse(&raw).map_err(|e| ConfigError::new("public_url", e.to_string()))
}

fn validate_scopes(raw: RawScopes) -> Result<ScopeConfig, ConfigError> {
    if raw.catalogue.is_empty() {
        return Err(ConfigError::new(
            "scopes.catalogue",
            "must name at least one scope",
        ));
    }
    let mut catalogue = BTreeMap::new();
    for (name, description) in raw.catalogue {
        let scope = ScopeName::parse(&name)
            .map_err(|e| ConfigError::new(format!("scopes.catalogue.{name}"), e.to_string()))?;
        if description.trim().is_empty() {
            return Err(ConfigError::new(
                format!("scopes.catalogue.{name}"),
                "needs a description (it is shown on consent pages)",
            ));
        }
        catalogue.insert(scope, description);
    }
    let default_scopes = Scopes::parse(&raw.default_scopes.join(" "))
        .map_err(|e| ConfigError::new("scopes.default_scopes", e.to_string()))?;
    if default_scopes.is_empty() {
        return Err(ConfigError::new(
            "scopes.default_scopes",
            "must name at least one scope",
        ));
    }
    if let Some(unknown) = default_scopes.iter().find(|s| !catalogue.contains_key(*s)) {
        return Err(ConfigError::new(
            "scopes.default_scopes",
            format!("`{unknown}` is not in scopes.catalogue"),
        ));
    }
    Ok(ScopeConfig {
        catalogue,
        default_scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_match_the_documented_values() {
        let c = Config::defaults();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:8080/");
        assert_eq!(c.issuer(), "http://127.0.0.1:8080");
        assert_eq!(c.database.url, "sqlite://oauthd.db");
        assert_eq!(
            c.database.writes,
            WriteConfig {
                writers: 1,
                batch_size: 64,
                batch_wait: Duration::ZERO,
                queue_size: 4096,
            }
        );
        assert_eq!(c.tokens.access_token_lifetime, Duration::from_secs(3600));
        assert_eq!(c.tokens.code_lifetime, Duration::from_secs(600));
        assert_eq!(
            c.tokens.refresh_token_lifetime,
            Duration::from_secs(2_592_000)
        );
        assert_eq!(c.registration.policy, RegistrationPolicy::Open);
        assert!(!c.registration.allow_http_redirect_uris);
        assert_eq!(c.tokens.response_format, ResponseFormat::Json);
        assert_eq!(c.log.format, LogFormat::Pretty);
        assert_eq!(c.http.max_header_bytes, 16 * 1024);
        assert_eq!(c.device.code_lifetime, Duration::from_secs(600));
        assert_eq!(c.device.interval, Duration::from_secs(5));
        assert_eq!(c.device.max_failed_guesses, 20);
        assert_eq!(
            c.limits.device,
            Some(Rate {
                requests: 10,
                per: Duration::from_secs(60)
            })
        );
        assert!(c.metrics.enabled);
        assert_eq!(
            c.metrics.listen,
            Some(DEFAULT_METRICS_LISTEN.parse().unwrap()),
            "/metrics is on loopback, not on the main listener"
        );
    }

    #[test]
    fn one_line_puts_metrics_back_on_the_main_listener() {
        let c = Config::load_from(None, &env(&[("OAUTHD_METRICS__LISTEN", "")])).unwrap();
        assert_eq!(c.metrics.listen, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauthd.toml");
        std::fs::write(&path, "[metrics]\nlisten = \"\"\n").unwrap();
        let c = Config::load_from(Some(&path), &env(&[])).unwrap();
        assert_eq!(c.metrics.listen, None);
        let c = Config::load_from(
            None,
            &env(&[
                ("OAUTHD_LISTEN", "127.0.0.1:0"),
                ("OAUTHD_METRICS__LISTEN", "127.0.0.1:0"),
            ]),
        )
        .unwrap();
        assert_eq!(c.metrics.listen, Some("127.0.0.1:0".parse().unwrap()));
    }

    #[test]
    fn environment_overrides_keys_with_typed_values() {
        let c = Config::load_from(
            None,
            &env(&[
                ("OAUTHD_LISTEN", "0.0.0.0:9000"),
                ("DATABASE_URL", "postgres://postgres@127.0.0.1/x"),
                ("OAUTHD_DATABASE__MAX_CONNECTIONS", "3"),
                ("OAUTHD_LOG__FORMAT", "json"),
                ("OAUTHD_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1"),
                ("OAUTHD_SCOPES__DEFAULT_SCOPES", "account:read"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.public_url.as_str(), "http://127.0.0.1:9000/");
        assert!(c.database.is_postgres());
        assert_eq!(c.database.max_connections, 3);
        assert_eq!(c.log.format, LogFormat::Json);
        assert_eq!(c.trusted_proxies.len(), 2);
        assert_eq!(c.scopes.default_scopes.to_string(), "account:read");
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("OAUTHD_LISTEN", "nowhere")], "listen"),
            (&[("OAUTHD_PUBLIC_URL", "ftp://x")], "public_url"),
            (&[("OAUTHD_PUBLIC_URL", "https://x/?q")], "public_url"),
            (&[("DATABASE_URL", "mysql://x")], "database.url"),
            (
                &[("OAUTHD_DATABASE__MAX_CONNECTIONS", "many")],
                "database.max_connections (from OAUTHD_DATABASE__MAX_CONNECTIONS)",
            ),
            (
                &[("OAUTHD_DATABASE__MAX_CONNECTIONS", "0")],
                "database.max_connections",
            ),
            (&[("OAUTHD_DATABASE__WRITERS", "0")], "database.writers"),
            (&[("OAUTHD_DATABASE__WRITERS", "65")], "database.writers"),
            (
                &[("OAUTHD_DATABASE__WRITE_BATCH_SIZE", "0")],
                "database.write_batch_size",
            ),
            (
                &[("OAUTHD_DATABASE__WRITE_BATCH_WAIT_US", "100001")],
                "database.write_batch_wait_us",
            ),
            (
                &[("OAUTHD_DATABASE__WRITE_QUEUE_SIZE", "0")],
                "database.write_queue_size",
            ),
            (&[("OAUTHD_LOG__FORMAT", "xml")], "log.format"),
            (&[("OAUTHD_LOG__LEVEL", "=[")], "log.level"),
            (
                &[("OAUTHD_TOKENS__CODE_LIFETIME_SECS", "0")],
                "tokens.code_lifetime_secs",
            ),
            (
                &[("OAUTHD_TOKENS__JWT_ACCESS_TOKEN_LIFETIME_SECS", "0")],
                "tokens.jwt_access_token_lifetime_secs",
            ),
            (
                &[
                    ("OAUTHD_TOKENS__JWT_ACCESS_TOKEN_LIFETIME_SECS", "7200"),
                    ("OAUTHD_SIGNING__MAX_TOKEN_LIFETIME_SECS", "3600"),
                ],
                "tokens.jwt_access_token_lifetime_secs",
            ),
            (
                &[("OAUTHD_REGISTRATION__POLICY", "token")],
                "registration.initial_access_token",
            ),
            (
                &[("OAUTHD_REGISTRATION__POLICY", "sometimes")],
                "registration.policy",
            ),
            (
                &[("OAUTHD_TRUSTED_PROXIES", "proxy.local")],
                "trusted_proxies",
            ),
            (
                &[("OAUTHD_SCOPES__DEFAULT_SCOPES", "nope")],
                "scopes.default_scopes",
            ),
            (&[("OAUTHD_NOT_A_KEY", "1")], "not_a_key"),
            (
                &[("OAUTHD_HTTP__MAX_HEADER_BYTES", "512")],
                "http.max_header_bytes",
            ),
            (
                &[("OAUTHD_HTTP__MAX_HEADER_BYTES", "2000000")],
                "http.max_header_bytes",
            ),
            (
                &[
                    ("OAUTHD_LISTEN", "127.0.0.1:9464"),
                    ("OAUTHD_METRICS__LISTEN", "127.0.0.1:9464"),
                ],
                "metrics.listen",
            ),
            (&[("OAUTHD_METRICS__LISTEN", "loopback")], "metrics.listen"),
            (&[("OAUTHD_DATABASE__URLL", "x")], "database.urll"),
        ];
        for (vars, key) in cases {
            let err = Config::load_from(None, &env(vars)).unwrap_err();
            assert!(
                err.key.starts_with(key),
                "{vars:?}: expected key {key}, got {err}"
            );
            assert!(!err.to_string().contains('\n'), "one line: {err}");
        }
    }

    #[test]
    fn extra_root_certificates_are_read_and_bad_files_refused() {
        let dir = tempfile::tempdir().unwrap();
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params.self_signed(&key).unwrap();
        let good = dir.path().join("ca.pem");
        std::fs::write(&good, ca.pem()).unwrap();
        let bundle = dir.path().join("bundle.pem");
        std::fs::write(&bundle, format!("{}{}", ca.pem(), ca.pem())).unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let broken = dir.path().join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let missing = dir.path().join("missing.pem");
        let list = |paths: &[&std::path::Path]| {
            let quoted: Vec<String> = paths
                .iter()
                .map(|p| format!("{:?}", p.display().to_string()))
                .collect();
            format!("[{}]", quoted.join(", "))
        };
        let var = "OAUTHD_CLIENT_METADATA__EXTRA_ROOT_CERTIFICATES";

        assert!(Config::defaults().client_metadata.extra_roots.is_empty());
        let c = Config::load_from(None, &env(&[(var, &list(&[&good, &bundle]))])).unwrap();
        assert_eq!(
            c.client_metadata.extra_roots.len(),
            3,
            "one, then a bundle of two"
        );

        for (path, says) in [
            (&missing, "cannot read"),
            (&empty, "holds no PEM certificate"),
            (&broken, "cannot be trusted"),
        ] {
            let err = Config::load_from(None, &env(&[(var, &list(&[&good, path]))])).unwrap_err();
            let text = err.to_string();
            assert!(
                err.key
                    .starts_with("client_metadata.extra_root_certificates"),
                "{text}"
            );
            assert!(text.contains(says), "{path:?}: {text}");
            assert!(
                text.contains(&path.display().to_string()),
                "names the file: {text}"
            );
            assert!(!text.contains('\n'), "one line: {text}");
        }
    }

    #[test]
    fn file_values_sit_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("oauthd.toml");
        std::fs::write(
            &path,
            "listen = \"127.0.0.1:7000\"\npublic_url = \"https://auth.example\"\n\
             [database]\nmax_connections = 4\n",
        )
        .unwrap();
        let c = Config::load_from(
            Some(&path),
            &env(&[("OAUTHD_DATABASE__MAX_CONNECTIONS", "6")]),
        )
        .unwrap();
        assert_eq!(c.listen.port(), 7000);
        assert_eq!(c.issuer(), "https://auth.example");
        assert_eq!(c.database.max_connections, 6);
    }

    #[test]
    fn effective_values_hide_passwords_and_tokens() {
        assert_eq!(
            redact_url("postgres://u:pw@db:5432/x?sslmode=require&password=pw2"),
            "postgres://u:REDACTED@db:5432/x?sslmode=require&password=REDACTED"
        );
        assert_eq!(redact_url("sqlite://oauthd.db"), "sqlite://oauthd.db");
        assert_eq!(redact_url("postgres://u:pw@db:port/x"), "postgres:REDACTED");
        let (_, table) = Config::load_effective_from(
            None,
            &env(&[
                ("OAUTHD_REGISTRATION__POLICY", "token"),
                (
                    "OAUTHD_REGISTRATION__INITIAL_ACCESS_TOKEN",
                    "sekrit-sekrit-sekrit",
                ),
            ]),
        )
        .unwrap();
        assert!(!table.to_string().contains("sekrit"));
        assert_eq!(
            table["registration"]["initial_access_token"].as_str(),
            Some(REDACTED)
        );
        assert_eq!(table["public_url"].as_str(), Some("http://127.0.0.1:8080"));
    }

    #[test]
    fn debug_output_hides_database_credentials_and_tokens() {
        let c = Config::load_from(
            None,
            &env(&[
                ("DATABASE_URL", "postgres://u:hunter2hunter2@db/x"),
                ("OAUTHD_REGISTRATION__POLICY", "token"),
                (
                    "OAUTHD_REGISTRATION__INITIAL_ACCESS_TOKEN",
                    "sekrit-sekrit-sekrit",
                ),
            ]),
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("hunter2"));
        assert!(!shown.contains("sekrit"));
    }
}
