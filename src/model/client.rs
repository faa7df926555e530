//! What a client is, as both the registration rules and the `clients` table
//! see it: how it authenticates, which grants it may use, how it runs.

use std::fmt;

use super::redirect_uri::RedirectUri;
use super::scope::Scopes;

/// Whether the client can keep a secret (RFC 6749 §2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientType {
    /// Has a secret and authenticates with it.
    Confidential,
    /// A native or browser app without a secret; must use PKCE.
    Public,
}

/// How a client authenticates at the token endpoint (RFC 7591 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the form-urlencoded id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the request body.
    ClientSecretPost,
    /// A public client: no secret.
    None,
}

/// The stored method of a confidential client that named none when it
/// registered (the form shape, the developer pages, the CLI, and every client
/// stored before methods were enforced): it may send its secret either way,
/// and is announced as `client_secret_basic`. Not an RFC 7591 name, so no
/// registration can ask for it.
pub const EITHER_SECRET_METHOD: &str = "client_secret_basic_or_post";

impl AuthMethod {
    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::None => "none",
        }
    }

    /// Parses an RFC 7591 name, as a registration sends it.
    pub fn from_name(raw: &str) -> Option<Self> {
        match raw {
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "none" => Some(Self::None),
            _ => None,
        }
    }

    /// Parses a stored method (a `clients.auth_method` value, or an export
    /// document's `token_endpoint_auth_method`): an RFC 7591 name, or
    /// [`EITHER_SECRET_METHOD`], read as `client_secret_basic`.
    pub fn parse(raw: &str) -> Option<Self> {
        SecretMethods::parse_stored(raw).map(|(method, _)| method)
    }

    /// Whether a client using this method is public or confidential.
    pub fn client_type(self) -> ClientType {
        match self {
            Self::None => ClientType::Public,
            _ => ClientType::Confidential,
        }
    }
}

/// Which ways of sending its secret a client may use at the token,
/// revocation and introspection endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretMethods {
    /// Only its registered `auth_method` (RFC 7591 §2). Public clients
    /// (`none`) send no secret at all.
    Registered,
    /// HTTP Basic or the body: the client named no method when it
    /// registered (see [`EITHER_SECRET_METHOD`]).
    Either,
}

impl SecretMethods {
    /// The `clients.auth_method` value for a client with this method.
    pub fn stored(self, method: AuthMethod) -> &'static str {
        match (self, method) {
            (Self::Either, AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost) => {
                EITHER_SECRET_METHOD
            }
            _ => method.as_str(),
        }
    }

    /// Reads a stored `clients.auth_method` value back.
    pub fn parse_stored(raw: &str) -> Option<(AuthMethod, Self)> {
        if raw == EITHER_SECRET_METHOD {
            return Some((AuthMethod::ClientSecretBasic, Self::Either));
        }
        AuthMethod::from_name(raw).map(|m| (m, Self::Registered))
    }

    /// Whether a client registered with `method` may authenticate with a
    /// secret sent by HTTP Basic (`basic`) or in the body.
    pub fn allow(self, method: AuthMethod, basic: bool) -> bool {
        match (self, method) {
            (_, AuthMethod::None) => false,
            (Self::Either, _) => true,
            (Self::Registered, AuthMethod::ClientSecretBasic) => basic,
            (Self::Registered, AuthMethod::ClientSecretPost) => !basic,
        }
    }
}

/// RFC 7591 / OpenID registration `application_type`: how the client runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ApplicationType {
    /// A web application (the default).
    #[default]
    Web,
    /// A native app (RFC 8252): private-use scheme, loopback or claimed https
    /// redirect URIs only.
    Native,
}

impl ApplicationType {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses a registered name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// How a client's (or a resource's) access tokens are made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AccessTokenFormat {
    /// A random `oat_` string that only oauthd can resolve (introspection).
    #[default]
    Opaque,
    /// A signed JWT (RFC 9068) a resource server verifies with the JWKS.
    Jwt,
}

impl AccessTokenFormat {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Opaque => "opaque",
            Self::Jwt => "jwt",
        }
    }

    /// Parses a stored name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "opaque" => Some(Self::Opaque),
            "jwt" => Some(Self::Jwt),
            _ => None,
        }
    }
}

/// The RFC 8628 grant type name.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

// The one list of grant types: the token endpoint, the registration rules,
// the metadata document and the OpenAPI document's `GrantType` schema (the
// doc comment is its description) all read it.
/// The grant types oauthd supports.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// RFC 6749 §4.1.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 8628: the device authorization grant.
    #[serde(rename = "urn:ietf:params:oauth:grant-type:device_code")]
    DeviceCode,
}

impl GrantType {
    /// Every grant type oauthd supports, in the order metadata lists them.
    pub const ALL: [Self; 4] = [
        Self::AuthorizationCode,
        Self::RefreshToken,
        Self::ClientCredentials,
        Self::DeviceCode,
    ];

    /// The RFC name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
            Self::DeviceCode => DEVICE_CODE_GRANT,
        }
    }

    /// Parses an RFC name; implicit and password grants are not offered.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            DEVICE_CODE_GRANT => Some(Self::DeviceCode),
            _ => None,
        }
    }
}

impl fmt::Display for GrantType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Validated metadata, ready to be stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewClient {
    /// Display name; empty when the caller gave none.
    pub name: String,
    /// Home page.
    pub website: Option<String>,
    /// Redirect URIs, exactly as registered, without duplicates.
    pub redirect_uris: Vec<RedirectUri>,
    /// Scopes the client may ask for.
    pub scopes: Scopes,
    /// Grant types the client may use, sorted.
    pub grant_types: Vec<GrantType>,
    /// `["code"]` when the code grant is registered, else empty.
    pub response_types: Vec<&'static str>,
    /// How the client authenticates.
    pub auth_method: AuthMethod,
    /// Whether it is held to `auth_method` or may send its secret either way.
    pub secret_methods: SecretMethods,
    /// Browser origins allowed to use CORS.
    pub allowed_origins: Vec<String>,
    /// Whether it may introspect every token. Only the operator grants this
    /// (`NewClient::allowing_introspection`): registration always says no,
    /// and `store::clients::update` never changes it.
    pub may_introspect: bool,
    /// `web` or `native`.
    pub application_type: ApplicationType,
    /// Where RP-initiated logout may return to, exactly as registered,
    /// without duplicates (the rules of `redirect_uris`).
    pub post_logout_redirect_uris: Vec<RedirectUri>,
    /// OpenID Connect pairwise subjects: the sector (the one host of its
    /// redirect URIs) its `sub` values are derived for; `None`: public
    /// subjects (the user id).
    pub pairwise_sector: Option<String>,
}

impl NewClient {
    /// Public clients have no secret.
    pub fn is_public(&self) -> bool {
        self.auth_method == AuthMethod::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_types_serialize_as_their_rfc_names() {
        for grant in GrantType::ALL {
            assert_eq!(serde_json::to_value(grant).unwrap(), grant.as_str());
            assert_eq!(GrantType::parse(grant.as_str()), Some(grant));
        }
    }
}
