//! Client registration rules (RFC 7591 §2): what metadata a client may hold.
//!
//! `POST /api/client` (both shapes) and `oauthd client add` all end here, so
//! every way of registering a client obeys the same rules.

use url::Url;

use super::error::{Error, ErrorCode, OAuthError};
use super::redirect_uri::{self, ClientType, RedirectUri};
use super::scope::Scopes;
use crate::audit::{Event, Kind};
use crate::clock::Clock;
use crate::config::{Config, ScopeConfig};
use crate::crypto::{self, Secret, SecretKind};
pub use crate::model::client::{
    ApplicationType, AuthMethod, DEVICE_CODE_GRANT, EITHER_SECRET_METHOD, GrantType, NewClient,
    SecretMethods,
};
use crate::store::{self, Db};

/// Longest client name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Longest website URL, in bytes.
pub const MAX_WEBSITE_LEN: usize = 2048;

/// Registration metadata as a caller sent it, before any rule is applied.
#[derive(Clone, Debug, Default)]
pub struct ClientMetadata {
    /// Display name shown on consent pages.
    pub client_name: Option<String>,
    /// Redirect URIs; empty means out-of-band codes.
    pub redirect_uris: Vec<String>,
    /// Space-delimited scopes; absent or empty means `default_scopes`.
    pub scope: Option<String>,
    /// Grant types; absent means authorization code with refresh.
    pub grant_types: Option<Vec<String>>,
    /// Response types; absent means `code` when the code grant is registered.
    pub response_types: Option<Vec<String>>,
    /// Token endpoint authentication method. Absent means a confidential
    /// client that may send its secret either way (RFC 7591 JSON, whose
    /// default is `client_secret_basic`, fills it in before it gets here).
    pub token_endpoint_auth_method: Option<String>,
    /// The client's home page.
    pub client_uri: Option<String>,
    /// Browser origins allowed to call the token endpoint and friends with
    /// CORS (an oauthd extension: RFC 7591 has no such member).
    pub allowed_origins: Vec<String>,
    /// `web` or `native`; absent means `native` for a public client with a
    /// private-use scheme redirect URI, else `web`.
    pub application_type: Option<String>,
    /// Where RP-initiated logout may return to (OpenID Connect RP-Initiated
    /// Logout 1.0 §3.1); the rules of `redirect_uris`.
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect `subject_type`: `public` (absent) or `pairwise`.
    pub subject_type: Option<String>,
}

/// The rules registration applies that come from config.
#[derive(Clone, Copy, Debug)]
pub struct Policy<'a> {
    /// The scope catalogue and defaults.
    pub scopes: &'a ScopeConfig,
    /// Whether `http://` redirect URIs are allowed for non-loopback hosts.
    pub allow_http_redirect_uris: bool,
    /// Whether pairwise subjects can be served (`oidc.pairwise_salt` set).
    pub pairwise: bool,
}

impl NewClient {
    /// The same client, allowed to introspect every token (an operator's
    /// decision). Refused for a public client, which cannot authenticate at
    /// the introspection endpoint.
    pub fn allowing_introspection(self) -> Result<Self, OAuthError> {
        if self.is_public() {
            return Err(super::introspect::public_client_refused());
        }
        Ok(Self {
            may_introspect: true,
            ..self
        })
    }
}

/// Applies every registration rule to `meta`.
pub fn validate(meta: ClientMetadata, policy: Policy<'_>) -> Result<NewClient, OAuthError> {
    let (auth_method, secret_methods) = match meta.token_endpoint_auth_method.as_deref() {
        None => (AuthMethod::ClientSecretBasic, SecretMethods::Either),
        Some(raw) => match AuthMethod::from_name(raw) {
            Some(method) => (method, SecretMethods::Registered),
            None => {
                return Err(OAuthError::invalid_client_metadata(
                    "token_endpoint_auth_method must be client_secret_basic, client_secret_post or none",
                ));
            }
        },
    };

    let name = match meta.client_name {
        None => String::new(),
        Some(raw) => check_name(&raw)?,
    };
    let website = meta.client_uri.as_deref().map(check_website).transpose()?;

    let mut grant_types = match meta.grant_types {
        None => vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        Some(raw) => raw
            .iter()
            .map(|g| {
                GrantType::parse(g).ok_or_else(|| {
                    OAuthError::invalid_client_metadata(
                        "grant_types may only hold authorization_code, refresh_token, client_credentials and urn:ietf:params:oauth:grant-type:device_code",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?,
    };
    grant_types.sort();
    grant_types.dedup();
    if grant_types.is_empty() {
        return Err(OAuthError::invalid_client_metadata(
            "grant_types must name at least one grant type",
        ));
    }
    let code_grant = grant_types.contains(&GrantType::AuthorizationCode);

    // RFC 7591 §2.1: grant_types and response_types must agree.
    let response_types: Vec<&'static str> = match meta.response_types {
        None if code_grant => vec!["code"],
        None => Vec::new(),
        Some(raw) => {
            if raw.iter().any(|r| r != "code") {
                return Err(OAuthError::invalid_client_metadata(
                    "response_types may only hold code",
                ));
            }
            if raw.is_empty() {
                Vec::new()
            } else {
                vec!["code"]
            }
        }
    };
    if code_grant == response_types.is_empty() {
        return Err(OAuthError::invalid_client_metadata(
            "response_types code goes with grant_types authorization_code, and only with it",
        ));
    }
    if grant_types == [GrantType::RefreshToken] {
        return Err(OAuthError::invalid_client_metadata(
            "refresh_token needs authorization_code beside it",
        ));
    }
    if auth_method == AuthMethod::None && grant_types.contains(&GrantType::ClientCredentials) {
        return Err(OAuthError::invalid_client_metadata(
            "client_credentials needs a confidential client",
        ));
    }

    let application_type = match meta.application_type.as_deref() {
        None if auth_method == AuthMethod::None
            && meta.redirect_uris.iter().any(|u| is_private_use(u)) =>
        {
            ApplicationType::Native
        }
        None => ApplicationType::Web,
        Some(raw) => ApplicationType::parse(raw).ok_or_else(|| {
            OAuthError::invalid_client_metadata("application_type must be web or native")
        })?,
    };
    // RFC 8252 §7.1: private-use schemes are for native apps, which are
    // public clients (§8.4) unless the operator vouches for one; a web
    // application registers https (or, for development, loopback http).
    let client_type = match application_type {
        ApplicationType::Native => ClientType::Public,
        ApplicationType::Web => auth_method.client_type(),
    };
    let mut redirect_uris: Vec<RedirectUri> = Vec::new();
    for raw in &meta.redirect_uris {
        if application_type == ApplicationType::Web
            && meta.application_type.is_some()
            && is_private_use(raw)
        {
            return Err(OAuthError::invalid_redirect_uri(
                "private-use URI schemes are for native apps (application_type native)",
            ));
        }
        // RFC 8252 §7.3, §8.3: a native app's http redirect is loopback only,
        // whatever registration.allow_http_redirect_uris says.
        let allow_http =
            policy.allow_http_redirect_uris && application_type == ApplicationType::Web;
        let uri = RedirectUri::parse_registered(raw, client_type, allow_http)?;
        if !redirect_uris.contains(&uri) {
            redirect_uris.push(uri);
        }
    }
    if redirect_uris.len() > redirect_uri::MAX_PER_CLIENT {
        return Err(OAuthError::invalid_redirect_uri(
            "at most 10 redirect URIs may be registered",
        ));
    }
    if !code_grant && !redirect_uris.is_empty() {
        return Err(OAuthError::invalid_client_metadata(
            "redirect_uris are only used with the authorization_code grant",
        ));
    }

    // The same rules as redirect_uris: exact strings, https (or loopback
    // http, or a native app's private-use scheme), no fragment.
    let mut post_logout_redirect_uris: Vec<RedirectUri> = Vec::new();
    for raw in &meta.post_logout_redirect_uris {
        let allow_http =
            policy.allow_http_redirect_uris && application_type == ApplicationType::Web;
        let uri = RedirectUri::parse_registered(raw, client_type, allow_http)?;
        if !post_logout_redirect_uris.contains(&uri) {
            post_logout_redirect_uris.push(uri);
        }
    }
    if post_logout_redirect_uris.len() > redirect_uri::MAX_PER_CLIENT {
        return Err(OAuthError::invalid_redirect_uri(
            "at most 10 post_logout_redirect_uris may be registered",
        ));
    }

    let scopes = match meta.scope.as_deref().map(Scopes::parse).transpose() {
        Err(e) => return Err(OAuthError::invalid_client_metadata(e.to_string())),
        Ok(Some(s)) if !s.is_empty() => s,
        Ok(_) => policy.scopes.default_scopes.clone(),
    };
    scopes
        .check_known(&policy.scopes.catalogue)
        .map_err(|e| OAuthError::invalid_client_metadata(e.to_string()))?;

    let mut allowed_origins: Vec<String> = Vec::new();
    for raw in &meta.allowed_origins {
        let origin = check_origin(raw, policy.allow_http_redirect_uris)?;
        if !allowed_origins.contains(&origin) {
            allowed_origins.push(origin);
        }
    }
    if allowed_origins.len() > MAX_ORIGINS {
        return Err(OAuthError::invalid_client_metadata(
            "at most 10 allowed_origins may be registered",
        ));
    }

    let pairwise_sector = match meta.subject_type.as_deref() {
        None | Some("public") => None,
        Some("pairwise") if !policy.pairwise => {
            return Err(OAuthError::invalid_client_metadata(
                "pairwise subjects are not enabled on this server (oidc.pairwise_salt)",
            ));
        }
        Some("pairwise") => Some(super::subject::sector(&redirect_uris)?),
        Some(_) => {
            return Err(OAuthError::invalid_client_metadata(
                "subject_type must be public or pairwise",
            ));
        }
    };

    Ok(NewClient {
        name,
        website,
        redirect_uris,
        scopes,
        grant_types,
        response_types,
        auth_method,
        secret_methods,
        allowed_origins,
        may_introspect: false,
        application_type,
        post_logout_redirect_uris,
        pairwise_sector,
    })
}

/// A URI whose scheme holds a dot: a private-use scheme (RFC 8252 §7.1).
fn is_private_use(raw: &str) -> bool {
    raw.split_once(':')
        .is_some_and(|(scheme, _)| scheme.contains('.') && !scheme.contains('/'))
}

/// Most browser origins one client may register.
pub const MAX_ORIGINS: usize = 10;

/// A browser origin exactly as browsers send it: `scheme://host[:port]`, no
/// path, no trailing slash; https, or http on loopback (or where config allows).
fn check_origin(raw: &str, allow_http: bool) -> Result<String, OAuthError> {
    let refuse = || {
        Err(OAuthError::invalid_client_metadata(
            "allowed_origins holds scheme://host[:port] origins (https, or http on loopback), without a path",
        ))
    };
    let Ok(url) = Url::parse(raw) else {
        return refuse();
    };
    let origin = url.origin().ascii_serialization();
    if origin != raw {
        return refuse();
    }
    let loopback = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match url.scheme() {
        "https" => Ok(origin),
        "http" if loopback || allow_http => Ok(origin),
        _ => refuse(),
    }
}

impl<'a> Policy<'a> {
    /// The policy the configuration sets.
    pub fn from_config(config: &'a Config) -> Self {
        Self {
            scopes: &config.scopes,
            allow_http_redirect_uris: config.registration.allow_http_redirect_uris,
            pairwise: config.oidc.pairwise_salt.is_some(),
        }
    }
}

/// OpenID Connect Registration §2 `id_token_signed_response_alg`: every ID
/// token is signed by the active key, of `signing.algorithm`, so a client
/// may name that algorithm and no other (absent: whatever oauthd signs with).
pub fn check_id_token_alg(requested: Option<&str>, config: &Config) -> Result<(), OAuthError> {
    match requested {
        None => Ok(()),
        Some(alg) if alg == config.signing.algorithm.as_str() => Ok(()),
        Some(_) => Err(OAuthError::invalid_client_metadata(format!(
            "id_token_signed_response_alg must be {}, the algorithm this server signs ID tokens with",
            config.signing.algorithm.as_str()
        ))),
    }
}

/// A client that was just stored, with its secret (shown once).
#[derive(Debug)]
pub struct Registered {
    /// The server-chosen `client_id`.
    pub client_id: String,
    /// The secret for confidential clients; never stored raw.
    pub secret: Option<Secret>,
    /// The metadata as stored.
    pub client: NewClient,
    /// Unix seconds (RFC 7591 `client_id_issued_at`).
    pub issued_at: i64,
}

/// Validates `meta`, picks the `client_id` and secret, and stores the client.
/// The caller never chooses the id (RFC 9700 §4.15).
pub async fn register(
    db: &Db,
    clock: &Clock,
    meta: ClientMetadata,
    policy: Policy<'_>,
    owner_id: Option<&str>,
) -> Result<Registered, Error> {
    store_new(db, clock, validate(meta, policy)?, owner_id).await
}

/// Picks the `client_id` and secret for an already validated client and
/// stores it (for the CLI, which may add the operator's permissions first).
pub async fn store_new(
    db: &Db,
    clock: &Clock,
    client: NewClient,
    owner_id: Option<&str>,
) -> Result<Registered, Error> {
    let client_id = crypto::random_id();
    let secret = (!client.is_public()).then(|| Secret::generate(SecretKind::ClientSecret));
    let secret_hash = secret.as_ref().map(Secret::digest);
    let now = clock.now();
    store::clients::insert(
        db,
        store::clients::Insert {
            id: &client_id,
            client: &client,
            secret_hash: secret_hash.as_deref(),
            owner_id,
            now,
        },
    )
    .await?;
    tracing::debug!(client.id = %client_id, client.public = client.is_public(), "registered client {client_id}");
    Event::new(Kind::ClientRegistered)
        .maybe_user(owner_id)
        .client(&client_id)
        .detail(client.name.clone())
        .record(db, clock)
        .await;
    if client.may_introspect {
        Event::new(Kind::IntrospectionAllowed)
            .maybe_user(owner_id)
            .client(&client_id)
            .record(db, clock)
            .await;
    }
    Ok(Registered {
        client_id,
        secret,
        client,
        issued_at: now,
    })
}

/// Gives a confidential client a new secret; the old one stops working at once.
pub async fn rotate_secret(db: &Db, clock: &Clock, client_id: &str) -> Result<Secret, Error> {
    let secret = Secret::generate(SecretKind::ClientSecret);
    if !store::clients::set_secret_hash(db, client_id, &secret.digest(), clock.now()).await? {
        return Err(OAuthError::new(
            ErrorCode::InvalidClient,
            "no confidential client has that client_id",
        )
        .into());
    }
    tracing::debug!(client.id = %client_id, "rotated the secret of client {client_id}");
    Event::new(Kind::SecretRotated)
        .client(client_id)
        .record(db, clock)
        .await;
    Ok(secret)
}

/// What the owner of a client may change on its page (`/settings/developers`).
#[derive(Clone, Debug)]
pub struct AppChange<'a> {
    /// The display name.
    pub name: &'a str,
    /// The home page; `None` removes it.
    pub website: Option<&'a str>,
    /// The redirect URIs, replacing the registered ones.
    pub redirect_uris: Vec<String>,
    /// Where RP-initiated logout may return to, replacing the registered ones.
    pub post_logout_redirect_uris: Vec<String>,
}

/// Changes a client's name, website and redirect URIs under the registration
/// rules; the rest of its registration stays as it was.
pub async fn update(
    db: &Db,
    clock: &Clock,
    policy: Policy<'_>,
    client: &crate::store::clients::Client,
    change: AppChange<'_>,
) -> Result<NewClient, Error> {
    let AppChange {
        name,
        website,
        redirect_uris,
        post_logout_redirect_uris,
    } = change;
    let meta = ClientMetadata {
        client_name: Some(name.to_owned()),
        redirect_uris,
        scope: Some(client.scopes.to_string()),
        grant_types: Some(
            client
                .grant_types
                .iter()
                .map(|g| g.as_str().to_owned())
                .collect(),
        ),
        response_types: Some(client.response_types.clone()),
        token_endpoint_auth_method: (client.secret_methods == SecretMethods::Registered)
            .then(|| client.auth_method.as_str().to_owned()),
        client_uri: website.map(str::to_owned),
        allowed_origins: Vec::new(),
        application_type: Some(client.application_type.as_str().to_owned()),
        post_logout_redirect_uris,
        subject_type: client
            .pairwise_sector
            .as_ref()
            .map(|_| "pairwise".to_owned()),
    };
    let updated = validate(meta, policy)?;
    // A pairwise client's subjects are derived from its sector: its
    // redirect URIs stay on that host, or every `sub` it knows would change.
    if updated.pairwise_sector != client.pairwise_sector {
        return Err(OAuthError::invalid_redirect_uri(
            "a client with pairwise subjects keeps its redirect URIs on the same host",
        )
        .into());
    }
    store::clients::update(db, &client.id, &updated, clock.now()).await?;
    tracing::info!(client.id = %client.id, "updated client {}", client.id);
    Ok(updated)
}

/// Deletes a client; its codes, tokens and consents go with it.
pub async fn delete(db: &Db, client_id: &str) -> Result<bool, Error> {
    let deleted = store::clients::delete(db, client_id).await?;
    if deleted {
        tracing::info!(client.id = %client_id, "deleted client {client_id}");
    }
    Ok(deleted)
}

/// A client name: trimmed, 1 to 200 characters, no control or bidi-override
/// characters (they can make a consent page lie about who is asking).
fn check_name(raw: &str) -> Result<String, OAuthError> {
    let name = raw.trim();
    if name.is_empty() {
        return Err(OAuthError::invalid_client_metadata("client_name is empty"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(OAuthError::invalid_client_metadata(
            "client_name is longer than 200 characters",
        ));
    }
    if name.chars().any(is_deceptive_char) {
        return Err(OAuthError::invalid_client_metadata(
            "client_name holds control or direction-changing characters",
        ));
    }
    Ok(name.to_owned())
}

fn is_deceptive_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// A website: an absolute `http` or `https` URL with a host, nothing else
/// (it is rendered as a link on consent pages).
fn check_website(raw: &str) -> Result<String, OAuthError> {
    let refuse = || {
        Err(OAuthError::invalid_client_metadata(
            "website must be an absolute http or https URL",
        ))
    };
    if raw.len() > MAX_WEBSITE_LEN || !raw.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
        return refuse();
    }
    let Ok(url) = Url::parse(raw) else {
        return refuse();
    };
    if !matches!(url.scheme(), "http" | "https")
        || url.host().is_none()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return refuse();
    }
    Ok(raw.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::oauth::ErrorCode;

    fn run(meta: ClientMetadata) -> Result<NewClient, OAuthError> {
        let config = Config::defaults();
        validate(
            meta,
            Policy {
                scopes: &config.scopes,
                allow_http_redirect_uris: false,
                pairwise: true,
            },
        )
    }

    fn named(name: &str) -> ClientMetadata {
        ClientMetadata {
            client_name: Some(name.into()),
            redirect_uris: vec!["https://app.example/cb".into()],
            ..ClientMetadata::default()
        }
    }

    #[test]
    fn fills_in_defaults() {
        let c = run(named("Demo")).unwrap();
        assert_eq!(c.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(c.secret_methods, SecretMethods::Either, "no method named");
        assert_eq!(
            c.grant_types,
            [GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        assert_eq!(c.response_types, ["code"]);
        assert_eq!(c.scopes.to_string(), "account:read event:write");
    }

    #[test]
    fn refuses_bad_metadata_with_the_rfc_7591_code() {
        use ErrorCode::{InvalidClientMetadata as Meta, InvalidRedirectUri as Uri};
        let cases: Vec<(ClientMetadata, ErrorCode, &str)> = vec![
            (named(""), Meta, "empty name"),
            (named(&"n".repeat(201)), Meta, "long name"),
            (named("a\u{202e}b"), Meta, "bidi override"),
            (named("a\0b"), Meta, "NUL"),
            (
                ClientMetadata {
                    client_uri: Some("javascript:alert(1)".into()),
                    ..named("x")
                },
                Meta,
                "javascript website",
            ),
            (
                ClientMetadata {
                    scope: Some("admin".into()),
                    ..named("x")
                },
                Meta,
                "unknown scope",
            ),
            (
                ClientMetadata {
                    scope: Some("a\"b".into()),
                    ..named("x")
                },
                Meta,
                "bad scope syntax",
            ),
            (
                ClientMetadata {
                    grant_types: Some(vec!["password".into()]),
                    ..named("x")
                },
                Meta,
                "password grant",
            ),
            (
                ClientMetadata {
                    grant_types: Some(vec!["implicit".into()]),
                    ..named("x")
                },
                Meta,
                "implicit grant",
            ),
            (
                ClientMetadata {
                    response_types: Some(vec!["token".into()]),
                    ..named("x")
                },
                Meta,
                "token response type",
            ),
            (
                ClientMetadata {
                    token_endpoint_auth_method: Some("private_key_jwt".into()),
                    ..named("x")
                },
                Meta,
                "unsupported auth method",
            ),
            (
                ClientMetadata {
                    token_endpoint_auth_method: Some(EITHER_SECRET_METHOD.into()),
                    ..named("x")
                },
                Meta,
                "the stored name for either way is no RFC 7591 method",
            ),
            (
                ClientMetadata {
                    token_endpoint_auth_method: Some("none".into()),
                    grant_types: Some(vec!["client_credentials".into()]),
                    redirect_uris: vec![],
                    ..named("x")
                },
                Meta,
                "public client_credentials",
            ),
            (
                ClientMetadata {
                    redirect_uris: vec!["javascript:x".into()],
                    ..named("x")
                },
                Uri,
                "javascript redirect",
            ),
            (
                ClientMetadata {
                    redirect_uris: (0..11).map(|i| format!("https://a.example/{i}")).collect(),
                    ..named("x")
                },
                Uri,
                "too many redirect URIs",
            ),
        ];
        for (meta, code, why) in cases {
            let err = run(meta).unwrap_err();
            assert_eq!(err.code, code, "{why}: {err}");
        }
    }

    #[test]
    fn client_credentials_clients_need_no_redirect_uri() {
        let c = run(ClientMetadata {
            grant_types: Some(vec!["client_credentials".into()]),
            redirect_uris: vec![],
            ..named("svc")
        })
        .unwrap();
        assert!(c.response_types.is_empty());
    }

    #[test]
    fn a_named_method_is_held_to_and_stored_as_named() {
        for (name, method, stored) in [
            (
                Some("client_secret_basic"),
                AuthMethod::ClientSecretBasic,
                "client_secret_basic",
            ),
            (
                Some("client_secret_post"),
                AuthMethod::ClientSecretPost,
                "client_secret_post",
            ),
            (Some("none"), AuthMethod::None, "none"),
            (None, AuthMethod::ClientSecretBasic, EITHER_SECRET_METHOD),
        ] {
            let c = run(ClientMetadata {
                token_endpoint_auth_method: name.map(str::to_owned),
                ..named("x")
            })
            .unwrap();
            assert_eq!(c.auth_method, method, "{name:?}");
            let written = c.secret_methods.stored(c.auth_method);
            assert_eq!(written, stored, "{name:?}");
            assert_eq!(
                SecretMethods::parse_stored(written),
                Some((c.auth_method, c.secret_methods)),
                "{name:?}: reads back"
            );
            assert_eq!(AuthMethod::parse(written), Some(method), "{name:?}");
        }
        assert_eq!(SecretMethods::parse_stored("private_key_jwt"), None);
    }

    #[test]
    fn each_method_allows_its_own_way_of_sending_the_secret() {
        use AuthMethod::{ClientSecretBasic as B, ClientSecretPost as P};
        use SecretMethods::{Either, Registered};
        for (methods, method, basic, allowed) in [
            (Registered, B, true, true),
            (Registered, B, false, false),
            (Registered, P, true, false),
            (Registered, P, false, true),
            (Registered, AuthMethod::None, true, false),
            (Registered, AuthMethod::None, false, false),
            (Either, B, true, true),
            (Either, B, false, true),
        ] {
            assert_eq!(
                methods.allow(method, basic),
                allowed,
                "{methods:?} {method:?}, basic: {basic}"
            );
        }
    }
}
