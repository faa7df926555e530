//! The OpenAPI 3.1 description of every JSON and form endpoint, built with
//! utoipa and served at `GET /openapi.json`; `openapi.json` at the repository
//! root is the same document, checked in (a test keeps the two equal).
//!
//! The body schemas are Rust types with `#[derive(ToSchema)]`; the operations
//! are built with utoipa's builders, one function per endpoint, listing every
//! status the handler and the layers around it can answer with, and the
//! headers that come with each. The document never depends on the config, so
//! the served and the checked-in copies are byte for byte the same: where a
//! config key changes an answer (the registration policy, the token response
//! format), both outcomes are described.
//!
//! HTML pages (`/login`, `/oauth/authorize`, `/settings/…`) are not described:
//! they are for browsers, not API clients. Three checks keep the document
//! from drifting: the schemas are the request and response types themselves;
//! a test (`every_api_route_is_documented_and_every_operation_is_routed` in
//! `tests/it/openapi.rs`) holds the router's API routes and this document's
//! operations to the same set, methods included; and `schemathesis` (see
//! `.ci/`) checks a running server's answers against it.

use std::sync::LazyLock;

use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::http::error::ErrorBody;
use crate::model::client::GrantType;
use crate::oauth::ErrorCode;
use utoipa::openapi::path::{Operation, OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, Content, ContentBuilder, Header, HeaderBuilder, HttpMethod, InfoBuilder,
    ObjectBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required, Response, ResponseBuilder,
    Schema, SecurityRequirement, Type,
};

/// `GET /openapi.json`: this document, byte for byte the checked-in file
/// (built once; it never changes while the server runs).
pub async fn serve() -> impl IntoResponse {
    static TEXT: LazyLock<String> = LazyLock::new(pretty);
    (
        [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        TEXT.as_str(),
    )
}

/// The document as the pretty-printed text checked in as `openapi.json`
/// (with a trailing newline).
pub fn pretty() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// The document as JSON.
///
/// utoipa's `Header` has no `required` member, so it is added here: every
/// documented response header is required (always sent with that status)
/// unless its description starts with "Only", as in "Only when …".
pub fn document() -> Value {
    let mut doc = serde_json::to_value(build()).unwrap_or(Value::Null);
    mark_required_headers(&mut doc);
    doc
}

fn mark_required_headers(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(headers)) = map.get_mut("headers") {
                for header in headers.values_mut() {
                    if let Value::Object(h) = header {
                        let optional = h
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| d.starts_with("Only"));
                        if !optional {
                            h.insert("required".into(), Value::Bool(true));
                        }
                    }
                }
            }
            for v in map.values_mut() {
                mark_required_headers(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mark_required_headers),
        _ => {}
    }
}

// ---------------------------------------------------------------------------
// Schemas. Doc comments become descriptions. Optional members use
// `#[serde(default)]` (not `Option`), so the schema says "may be absent"
// rather than "may be null": the server never sends or reads a JSON null.

/// A token request (RFC 6749 §4.1.3, §6, §4.4). Client credentials go in
/// HTTP Basic or in `client_id` and `client_secret`, never both, and the way
/// the client registered (`client_secret_basic` or `client_secret_post`; a
/// client registered without naming one may use either); a public client
/// sends `client_id` alone.
#[derive(ToSchema, Deserialize)]
pub struct TokenRequest {
    /// The grant.
    pub grant_type: GrantType,
    /// `authorization_code`: the code from the redirect.
    #[serde(default)]
    pub code: String,
    /// `authorization_code`: the redirect URI the code was sent to.
    #[serde(default)]
    pub redirect_uri: String,
    /// `authorization_code`: the PKCE verifier (RFC 7636).
    #[serde(default)]
    pub code_verifier: String,
    /// `refresh_token`: the refresh token.
    #[serde(default)]
    pub refresh_token: String,
    /// `urn:ietf:params:oauth:grant-type:device_code`: the device code
    /// (RFC 8628 §3.4).
    #[serde(default)]
    pub device_code: String,
    /// `refresh_token`, `client_credentials`: space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// RFC 8707, repeatable: absolute URIs without a fragment, the resources
    /// the access token is for (within the grant's for a code or refresh
    /// token); else `invalid_target`.
    #[serde(default)]
    pub resource: Vec<String>,
    /// client_secret_post and public clients.
    #[serde(default)]
    pub client_id: String,
    /// client_secret_post.
    #[serde(default)]
    pub client_secret: String,
}

/// A device authorization request (RFC 8628 §3.1). Client authentication
/// as at the token endpoint; a public client sends `client_id` alone.
#[derive(ToSchema, Deserialize)]
pub struct DeviceAuthorizationRequest {
    /// Space-separated scopes; omitted means every scope the client has.
    #[serde(default)]
    pub scope: String,
    /// RFC 8707, repeatable: absolute URIs without a fragment, the
    /// resources the tokens are for; else `invalid_target`.
    #[serde(default)]
    pub resource: Vec<String>,
    /// client_secret_post and public clients.
    #[serde(default)]
    pub client_id: String,
    /// client_secret_post.
    #[serde(default)]
    pub client_secret: String,
}

/// A started device authorization (RFC 8628 §3.2).
#[derive(ToSchema, Deserialize)]
pub struct DeviceAuthorizationResponse {
    /// What the device sends to the token endpoint while it polls.
    pub device_code: String,
    /// What the user types at `verification_uri`: 8 letters, shown `XXXX-XXXX`.
    pub user_code: String,
    /// `/device` on this server.
    pub verification_uri: String,
    /// `verification_uri` with the user code filled in (the user still confirms).
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: i64,
    /// Seconds to wait between polls.
    pub interval: i64,
}

/// Issued tokens (RFC 6749 §5.1).
#[derive(ToSchema, Deserialize)]
pub struct TokenResponse {
    /// The bearer token.
    pub access_token: String,
    /// `Bearer` in JSON, `bearer` form-encoded (case-insensitive, §5.1).
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// A new refresh token (`authorization_code` and `refresh_token` grants).
    #[serde(default)]
    pub refresh_token: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// The OpenID Connect ID token (a JWS), when `openid` was granted: from
    /// the code exchange, and from a refresh of such a grant.
    #[serde(default)]
    pub id_token: String,
}

/// The OpenID Connect UserInfo answer (Core §5.3): `sub` always, the rest
/// by the token's scopes.
#[derive(ToSchema, Deserialize)]
pub struct UserInfo {
    /// The subject: the same `sub` as in the client's ID tokens.
    pub sub: String,
    /// `profile`: the display name, when the user gave one.
    #[serde(default)]
    pub name: String,
    /// `profile`: the user name.
    #[serde(default)]
    pub preferred_username: String,
    /// `profile`: Unix seconds of the last change to the user.
    #[serde(default)]
    pub updated_at: i64,
    /// `email`: the address, when the user gave one.
    #[serde(default)]
    pub email: String,
    /// `email`: whether the operator vouches for it (with `email`).
    #[serde(default)]
    pub email_verified: bool,
}

/// A token to revoke (RFC 7009 §2.1) or introspect (RFC 7662 §2.1).
#[derive(ToSchema, Deserialize)]
pub struct TokenReference {
    /// The token. An empty value counts as absent (RFC 6749 §3.1).
    #[schema(min_length = 1)]
    pub token: String,
    /// A hint; any token kind is found without it.
    #[serde(default)]
    pub token_type_hint: String,
    /// client_secret_post and public clients.
    #[serde(default)]
    pub client_id: String,
    /// client_secret_post.
    #[serde(default)]
    pub client_secret: String,
}

/// RFC 7662 §2.2. An inactive, unknown or revoked token, and a token the
/// caller may not see, answers `{"active": false}` and nothing else.
#[derive(ToSchema, Deserialize)]
pub struct Introspection {
    /// Whether the token is active.
    pub active: bool,
    /// Its scopes, space-separated.
    #[serde(default)]
    pub scope: String,
    /// The client it was issued to (absent for personal access tokens).
    #[serde(default)]
    pub client_id: String,
    /// The user it acts for, if any.
    #[serde(default)]
    pub username: String,
    /// The user's id, if any.
    #[serde(default)]
    pub sub: String,
    /// `Bearer` or `refresh_token`.
    #[serde(default)]
    pub token_type: String,
    /// Expiry, unix seconds (absent when it never expires).
    #[serde(default)]
    pub exp: i64,
    /// Issue time, unix seconds.
    #[serde(default)]
    pub iat: i64,
    /// The issuer.
    #[serde(default)]
    pub iss: String,
    /// The token's audience (RFC 8707): one resource URI, or a list of
    /// several; absent when the token names none.
    #[serde(default)]
    pub aud: Option<Audience>,
}

/// One resource URI, or several.
#[derive(ToSchema, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// One resource.
    One(String),
    /// Several resources.
    Many(Vec<String>),
}

/// The protected resource: the token owner's account.
#[derive(ToSchema, Deserialize)]
pub struct Account {
    /// The user id.
    pub id: String,
    /// The user name.
    pub username: String,
    /// The token's scopes, space-separated.
    pub scope: String,
}

/// `POST /account` with the token in the body (RFC 6750 §2.2).
#[derive(ToSchema, Deserialize)]
pub struct AccountForm {
    /// The access token; send it in one place only.
    #[serde(default)]
    pub access_token: String,
}

/// Authorization server metadata (RFC 8414 §2).
#[derive(ToSchema, Deserialize)]
pub struct ServerMetadata {
    /// The issuer identifier: `public_url` without a trailing slash.
    pub issuer: String,
    /// `/oauth/authorize`.
    pub authorization_endpoint: String,
    /// `/oauth/token`.
    pub token_endpoint: String,
    /// `/oauth/device_authorization` (RFC 8628 §4).
    pub device_authorization_endpoint: String,
    /// `/api/client`; absent when registration is closed.
    #[serde(default)]
    pub registration_endpoint: String,
    /// `/oauth/revoke`.
    pub revocation_endpoint: String,
    /// `/oauth/introspect`.
    pub introspection_endpoint: String,
    /// `/.well-known/jwks.json`: the keys that sign ID tokens and JWT
    /// access tokens.
    pub jwks_uri: String,
    /// `/oauth/logout`: RP-initiated logout (OpenID Connect RP-Initiated
    /// Logout 1.0).
    pub end_session_endpoint: String,
    /// The scope catalogue.
    pub scopes_supported: Vec<String>,
    /// `["code"]`.
    pub response_types_supported: Vec<String>,
    /// `["query"]`.
    pub response_modes_supported: Vec<String>,
    /// The four grants.
    pub grant_types_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, `none`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`, `none`.
    pub revocation_endpoint_auth_methods_supported: Vec<String>,
    /// `client_secret_basic`, `client_secret_post`.
    pub introspection_endpoint_auth_methods_supported: Vec<String>,
    /// `S256`, and `plain` when the config allows it.
    pub code_challenge_methods_supported: Vec<String>,
    /// Always true (RFC 9207).
    pub authorization_response_iss_parameter_supported: bool,
    /// Always true: `resource` (RFC 8707) is accepted.
    pub resource_indicators_supported: bool,
    /// The resource identifier of `/account` (RFC 9728).
    pub protected_resources: Vec<String>,
    /// Whether an https URL is accepted as `client_id`, naming a Client ID
    /// Metadata Document (`client_metadata.enabled`).
    pub client_id_metadata_document_supported: bool,
    /// The server's home page.
    pub service_documentation: String,
}

/// Protected-resource metadata of `/account` (RFC 9728 §2).
#[derive(ToSchema, Deserialize)]
pub struct ResourceMetadata {
    /// The resource identifier of `/account`: `public_url` + `/account`.
    pub resource: String,
    /// oauthd itself (its issuer).
    pub authorization_servers: Vec<String>,
    /// The scope `/account` needs (`resource.account_scope`).
    pub scopes_supported: Vec<String>,
    /// `header`, `body`, `query` (RFC 6750 §2).
    pub bearer_methods_supported: Vec<String>,
    /// A name for people.
    pub resource_name: String,
    /// The server's home page.
    pub resource_documentation: String,
}

/// Registration in the flat form shape (Gancio-style clients).
#[derive(ToSchema, Deserialize)]
pub struct RegistrationForm {
    /// The name shown on consent pages. An empty value counts as absent.
    #[schema(min_length = 1)]
    pub client_name: String,
    /// Redirect URIs separated by spaces; the field may also repeat.
    #[serde(default)]
    pub redirect_uris: String,
    /// Space-separated scopes (default: `scopes.default_scopes`).
    #[serde(default)]
    pub scopes: String,
    /// The client's home page.
    #[serde(default)]
    pub website: String,
}

/// The answer to a form registration, field for field as Gancio reads it.
#[derive(ToSchema, Deserialize)]
pub struct FlatClient {
    /// The client name.
    pub name: String,
    /// Its scopes, space-separated.
    pub scopes: String,
    /// Its home page, or null.
    pub website: Option<String>,
    /// The secret, shown this once.
    pub client_secret: Option<String>,
    /// Its redirect URIs, space-separated.
    pub redirect_uris: String,
    /// The client id.
    pub client_id: String,
}

/// RFC 7591 §2 client metadata. Unknown members are ignored; a `client_id`
/// or `client_secret` sent here is never used.
#[derive(ToSchema, Deserialize)]
pub struct ClientMetadata {
    /// The name shown on consent pages.
    #[serde(default)]
    pub client_name: String,
    /// Redirect URIs (at most 10; https, or http on loopback).
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Space-separated scopes.
    #[serde(default)]
    pub scope: String,
    /// `authorization_code`, `refresh_token`, `client_credentials`.
    #[serde(default)]
    pub grant_types: Vec<String>,
    /// `code`.
    #[serde(default)]
    pub response_types: Vec<String>,
    /// `client_secret_basic` (default), `client_secret_post` or `none`.
    #[serde(default)]
    pub token_endpoint_auth_method: String,
    /// The client's home page.
    #[serde(default)]
    pub client_uri: String,
    /// oauthd extension: browser origins allowed to use CORS.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `web` or `native` (RFC 8252). Absent: `native` for a public client
    /// with a private-use scheme redirect URI, else `web`. A native app that
    /// names no `token_endpoint_auth_method` is public (`none`).
    #[serde(default)]
    pub application_type: String,
    /// Where RP-initiated logout may return to (OpenID Connect
    /// RP-Initiated Logout 1.0 §3.1); the rules of `redirect_uris`.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect: `public` (absent; `sub` is the user id) or
    /// `pairwise` (a `sub` of its own per user, derived for the one host of
    /// its redirect URIs; needs `oidc.pairwise_salt`, refused with
    /// `invalid_client_metadata` otherwise or when the URIs span hosts).
    #[serde(default)]
    pub subject_type: String,
    /// OpenID Connect: the algorithm of its ID tokens; only the one oauthd
    /// signs with (`signing.algorithm`) is accepted, another is
    /// `invalid_client_metadata`.
    #[serde(default)]
    pub id_token_signed_response_alg: String,
}

/// RFC 7591 §3.2.1: the registered client.
#[derive(ToSchema, Deserialize)]
pub struct RegisteredClient {
    /// The client id, chosen by the server.
    pub client_id: String,
    /// The secret, shown this once (absent for public clients).
    #[serde(default)]
    pub client_secret: String,
    /// Registration time, unix seconds.
    pub client_id_issued_at: i64,
    /// 0: the secret does not expire (absent for public clients).
    #[serde(default)]
    pub client_secret_expires_at: i64,
    /// The client name (absent when empty).
    #[serde(default)]
    pub client_name: String,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Scopes, space-separated.
    pub scope: String,
    /// Grants.
    pub grant_types: Vec<String>,
    /// Response types.
    pub response_types: Vec<String>,
    /// How the client authenticates at the token endpoint.
    pub token_endpoint_auth_method: String,
    /// The client's home page.
    #[serde(default)]
    pub client_uri: String,
    /// Browser origins allowed to use CORS.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// `web` or `native`.
    pub application_type: String,
    /// Where RP-initiated logout may return to (absent when none).
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// OpenID Connect `public` or `pairwise`.
    pub subject_type: String,
    /// The algorithm its ID tokens are signed with (absent while oauthd has
    /// no key-encryption key and so issues none).
    #[serde(default)]
    pub id_token_signed_response_alg: String,
}

/// `/healthz` and `/readyz` answers.
#[derive(ToSchema, Deserialize)]
pub struct Health {
    /// `ok`, `ready` or `unavailable`.
    pub status: String,
    /// Why not ready.
    #[serde(default)]
    pub reason: String,
}

// ---------------------------------------------------------------------------
// Operations.

const FORM: &str = "application/x-www-form-urlencoded";
const JSON: &str = "application/json";

/// Security scheme names.
const CLIENT_BASIC: &str = "clientBasic";
const BEARER: &str = "bearerToken";
const INITIAL_TOKEN: &str = "initialAccessToken";

fn build() -> OpenApi {
    let mut paths = Paths::new();
    let token = token();
    for path in ["/oauth/token", "/oauth/access_token", "/oauth2/token/"] {
        let mut op = token.clone();
        if path != "/oauth/token" {
            op.operation_id = Some(format!("token_alias_{}", alias_id(path)));
            op.summary = Some("Alias of POST /oauth/token".into());
        }
        paths.add_path_operation(path, vec![HttpMethod::Post], op);
    }
    paths.add_path_operation(
        "/oauth/device_authorization",
        vec![HttpMethod::Post],
        device_authorization(),
    );
    paths.add_path_operation("/oauth/revoke", vec![HttpMethod::Post], revoke());
    paths.add_path_operation("/oauth/introspect", vec![HttpMethod::Post], introspect());
    paths.add_path_operation("/oauth/userinfo", vec![HttpMethod::Get], userinfo(false));
    paths.add_path_operation("/oauth/userinfo", vec![HttpMethod::Post], userinfo(true));
    paths.add_path_operation("/account", vec![HttpMethod::Get], account_get());
    paths.add_path_operation("/account", vec![HttpMethod::Post], account_post());
    for path in [
        "/oauth/token",
        "/oauth/access_token",
        "/oauth2/token/",
        "/oauth/revoke",
        "/oauth/introspect",
        "/oauth/userinfo",
        "/account",
    ] {
        paths.add_path_operation(path, vec![HttpMethod::Options], preflight(path));
    }
    paths.add_path_operation("/api/client", vec![HttpMethod::Post], register());
    paths.add_path_operation(
        "/.well-known/oauth-authorization-server",
        vec![HttpMethod::Get],
        metadata(),
    );
    paths.add_path_operation(
        "/.well-known/openid-configuration",
        vec![HttpMethod::Get],
        openid_configuration(),
    );
    paths.add_path_operation("/.well-known/jwks.json", vec![HttpMethod::Get], jwks());
    for (path, id) in [
        ("/.well-known/oauth-protected-resource", "resource_metadata"),
        (
            "/.well-known/oauth-protected-resource/account",
            "resource_metadata_account",
        ),
    ] {
        paths.add_path_operation(path, vec![HttpMethod::Get], resource_metadata(id));
    }
    paths.add_path_operation("/healthz", vec![HttpMethod::Get], healthz());
    paths.add_path_operation("/readyz", vec![HttpMethod::Get], readyz());
    paths.add_path_operation("/metrics", vec![HttpMethod::Get], metrics());
    paths.add_path_operation("/openapi.json", vec![HttpMethod::Get], openapi_json());
    with_request_head_answers(&mut paths);

    let components = ComponentsBuilder::new()
        .schema_from::<ErrorBody>()
        .schema_from::<ErrorCode>()
        .schema_from::<TokenRequest>()
        .schema_from::<GrantType>()
        .schema_from::<TokenResponse>()
        .schema_from::<DeviceAuthorizationRequest>()
        .schema_from::<DeviceAuthorizationResponse>()
        .schema_from::<TokenReference>()
        .schema_from::<Introspection>()
        .schema_from::<Audience>()
        .schema_from::<Account>()
        .schema_from::<AccountForm>()
        .schema_from::<UserInfo>()
        .schema_from::<ServerMetadata>()
        .schema_from::<ResourceMetadata>()
        .schema_from::<RegistrationForm>()
        .schema_from::<FlatClient>()
        .schema_from::<ClientMetadata>()
        .schema_from::<RegisteredClient>()
        .schema_from::<Health>()
        .response("RequestTimeout", timeout())
        .response("UriTooLong", uri_too_long())
        .response("BadRequestHead", bad_request_head())
        .response("HeadersTooLarge", headers_too_large())
        .response("ServerError", server_error())
        .response("Unavailable", unavailable())
        .security_scheme(
            CLIENT_BASIC,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Basic)
                    .description(Some(
                        "Client authentication (client_secret_basic): the client id and secret, \
                         each form-urlencoded (RFC 6749 §2.3.1).",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            BEARER,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An access token or personal access token (RFC 6750 §2.1). \
                         `/account` also takes it as `access_token` in the form body or query.",
                    ))
                    .build(),
            ),
        )
        .security_scheme(
            INITIAL_TOKEN,
            SecurityScheme::Http(
                Http::builder()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The initial access token (RFC 7591 §3) when `registration.policy` is \
                         `token`; ignored under `open`.",
                    ))
                    .build(),
            ),
        )
        .build();

    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("oauthd")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "A standalone OAuth 2.0 authorization server: the JSON and form endpoints. \
                     HTML pages (`/`, `/login`, `/logout`, `/signup`, `/oauth/authorize` and \
                     its aliases, `/oauth/logout` (RP-initiated logout), `/settings/…`) are for \
                     browsers and not described here.\n\n\
                     Every response also carries `X-Request-Id` and the security headers \
                     (`Content-Security-Policy`, `X-Frame-Options`, `Referrer-Policy`, \
                     `X-Content-Type-Options`, and `Strict-Transport-Security` when \
                     `public_url` is https).",
                ))
                .build(),
        )
        .paths(paths)
        .components(Some(components))
        .tags(Some([
            tag("oauth", "The OAuth 2.0 protocol endpoints."),
            tag("registration", "Dynamic client registration (RFC 7591)."),
            tag("resource", "The protected resource."),
            tag("operations", "Health, readiness and this document."),
        ]))
        .build()
}

fn alias_id(path: &str) -> String {
    path.trim_matches('/').replace(['/', '.'], "_")
}

fn tag(name: &str, description: &str) -> utoipa::openapi::Tag {
    TagBuilder::new()
        .name(name)
        .description(Some(description))
        .build()
}

// Building blocks.

fn schema_ref(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

fn content(schema: &str) -> Content {
    ContentBuilder::new()
        .schema(Some(schema_ref(schema)))
        .build()
}

fn string_schema() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn header(schema: ObjectBuilder, description: &str) -> Header {
    HeaderBuilder::new()
        .schema(schema)
        .description(Some(description))
        .build()
}

fn no_store() -> Header {
    header(
        string_schema().enum_values(Some(["no-store"])),
        "`no-store` (RFC 6749 §5.1).",
    )
}

fn pragma() -> Header {
    header(
        string_schema().enum_values(Some(["no-cache"])),
        "`no-cache`.",
    )
}

fn retry_after(description: &str) -> Header {
    header(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(1)),
        description,
    )
}

/// What the CORS layer adds to every answer of a CORS route.
fn with_cors(response: ResponseBuilder) -> ResponseBuilder {
    response
        .header(
            "Vary",
            header(
                string_schema().pattern(Some("Origin")),
                "Includes `Origin`.",
            ),
        )
        .header(
            "Access-Control-Allow-Origin",
            header(
                string_schema(),
                "Only when the request's `Origin` is one a client registered: that exact origin.",
            ),
        )
}

/// A JSON error answer with the no-store headers.
fn error_response(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content(JSON, content("Error"))
        .header("Cache-Control", no_store())
        .header("Pragma", pragma())
}

fn too_many(description: &str) -> ResponseBuilder {
    error_response(description).header(
        "Retry-After",
        retry_after("Seconds until the next attempt may succeed."),
    )
}

fn bearer_challenge(description: &str) -> Header {
    header(
        string_schema().pattern(Some("^Bearer realm=\"oauthd\"")),
        description,
    )
}

fn timeout() -> Response {
    error_response("The request took longer than `http.request_timeout_secs` (`invalid_request`).")
        .build()
}

fn uri_too_long() -> Response {
    error_response("The request target is over 8 KiB (`invalid_request`).").build()
}

fn bad_request_head() -> Response {
    error_response(
        "An HTTP/1.1 request without exactly one `Host` header of the form `host[:port]` \
         (RFC 9112 §3.2; `invalid_request`).",
    )
    .build()
}

fn headers_too_large() -> Response {
    error_response(
        "The header fields are over `http.max_header_bytes`, 16 KiB by default \
         (`invalid_request`). A head far over it gets this status with no body.",
    )
    .build()
}

/// What every operation can get from the request-head checks before any
/// route runs: 431, and 400 where the operation has no 400 of its own (an
/// operation that has one answers a bad `Host` in the same JSON shape).
fn with_request_head_answers(paths: &mut Paths) {
    for item in paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.post,
            &mut item.options,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            let responses = &mut op.responses.responses;
            responses
                .entry("400".into())
                .or_insert_with(|| response_ref("BadRequestHead"));
            responses.insert("431".into(), response_ref("HeadersTooLarge"));
        }
    }
}

fn server_error() -> Response {
    error_response("An unexpected failure (`server_error`); the description names the request id.")
        .build()
}

fn unavailable() -> Response {
    error_response("Storage is unreachable (`temporarily_unavailable`).")
        .header(
            "Retry-After",
            retry_after("Seconds to wait before trying again."),
        )
        .build()
}

fn response_ref(name: &str) -> RefOr<Response> {
    Ref::from_response_name(name).into()
}

/// The answers any operation can get from the layers around the handler:
/// the request timeout, the URL length cap, and a caught panic.
fn layers(op: OperationBuilder) -> OperationBuilder {
    op.response("408", response_ref("RequestTimeout"))
        .response("414", response_ref("UriTooLong"))
        .response("500", response_ref("ServerError"))
}

/// [`layers`], and 503 for operations that touch storage.
fn common(op: OperationBuilder) -> OperationBuilder {
    layers(op).response("503", response_ref("Unavailable"))
}

fn form_body(schema: &str, description: &str) -> utoipa::openapi::request_body::RequestBody {
    RequestBodyBuilder::new()
        .description(Some(description))
        .required(Some(Required::True))
        .content(FORM, content(schema))
        .build()
}

fn origin_parameter() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("Origin")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "A browser client's origin; a registered one gets `Access-Control-Allow-Origin`.",
        ))
        .schema(Some(string_schema()))
        .build()
}

fn security(alternatives: &[Option<&str>]) -> Vec<SecurityRequirement> {
    alternatives
        .iter()
        .map(|a| match a {
            Some(name) => SecurityRequirement::new(*name, Vec::<String>::new()),
            None => SecurityRequirement::default(),
        })
        .collect()
}

/// The failures the token, revocation and introspection endpoints share:
/// 413 and 429 (rate limit or failed-authentication throttle).
fn token_like_failures(op: OperationBuilder) -> OperationBuilder {
    op.response(
        "413",
        with_cors(error_response(
            "The body is over 64 KiB (`invalid_request`).",
        ))
        .build(),
    )
    .response(
        "429",
        with_cors(too_many(
            "Too many requests from this address, or too many failed client authentications \
             for this client id from it (`slow_down`).",
        ))
        .build(),
    )
}

fn token() -> Operation {
    // The token endpoint answers in the negotiated format: JSON unless
    // `Accept` prefers application/x-www-form-urlencoded, or names neither and
    // `tokens.response_format` is "form".
    let both = |r: ResponseBuilder, schema: &str| {
        r.content(JSON, content(schema))
            .content(FORM, content(schema))
    };
    let answer = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .header("Cache-Control", no_store())
            .header("Pragma", pragma())
    };
    let op = OperationBuilder::new()
        .tag("oauth")
        .operation_id(Some("token"))
        .summary(Some("Token endpoint (RFC 6749 §3.2)"))
        .description(Some(
            "Swaps a code, a refresh token, client credentials or an approved device code for \
             tokens. The answer is \
             JSON unless `Accept` prefers `application/x-www-form-urlencoded` (or names \
             neither and `tokens.response_format` is `form`); errors come in the same format. \
             Credentials in the query string are refused.",
        ))
        .request_body(Some(form_body(
            "TokenRequest",
            "The grant and its parameters (RFC 6749 §4.1.3, §6, §4.4).",
        )))
        .parameter(origin_parameter())
        .securities(Some(security(&[Some(CLIENT_BASIC), None])))
        .response(
            "200",
            with_cors(both(
                answer("Tokens issued (RFC 6749 §5.1)."),
                "TokenResponse",
            ))
            .build(),
        )
        .response(
            "400",
            with_cors(both(
                answer(
                    "Refused (RFC 6749 §5.2): `invalid_request` (missing, repeated or malformed \
                     parameters, a body that is not form-encoded, credentials in the URL, two \
                     authentication methods), `invalid_grant`, `unauthorized_client`, \
                     `unsupported_grant_type`, `invalid_scope`; for the device code grant \
                     (RFC 8628 §3.5) also `authorization_pending`, `slow_down`, \
                     `access_denied` and `expired_token`.",
                ),
                "Error",
            ))
            .build(),
        )
        .response(
            "401",
            with_cors(both(
                answer(
                    "Client authentication failed (`invalid_client`): an unknown client, a \
                     wrong secret, or credentials sent another way than the client registered.",
                ),
                "Error",
            ))
            .header(
                "WWW-Authenticate",
                header(
                    string_schema().pattern(Some("^Basic realm=\"oauthd\"")),
                    "Only when the client used HTTP Basic (RFC 6749 §5.2).",
                ),
            )
            .build(),
        );
    common(token_like_failures(op)).build()
}

fn device_authorization() -> Operation {
    let op = OperationBuilder::new()
        .tag("oauth")
        .operation_id(Some("device_authorization"))
        .summary(Some("Device authorization endpoint (RFC 8628 §3.1)"))
        .description(Some(
            "A device without a browser starts a request: it gets a device code to poll the \
             token endpoint with (`grant_type=urn:ietf:params:oauth:grant-type:device_code`) \
             and a user code for the user to enter at `verification_uri`. The client must be \
             registered for the device code grant. Credentials in the query string are refused.",
        ))
        .request_body(Some(form_body(
            "DeviceAuthorizationRequest",
            "The requested scope and the client's authentication.",
        )))
        .securities(Some(security(&[Some(CLIENT_BASIC), None])))
        .response(
            "200",
            ResponseBuilder::new()
                .description("Started (RFC 8628 §3.2).")
                .content(JSON, content("DeviceAuthorizationResponse"))
                .header("Cache-Control", no_store())
                .header("Pragma", pragma())
                .build(),
        )
        .response(
            "400",
            error_response(
                "Refused: `invalid_request` (missing, repeated or malformed parameters, a body \
                 that is not form-encoded, credentials in the URL), `unauthorized_client` (not \
                 registered for the device code grant), `invalid_scope`.",
            )
            .build(),
        )
        .response(
            "401",
            error_response("Client authentication failed (`invalid_client`).")
                .header(
                    "WWW-Authenticate",
                    header(
                        string_schema().pattern(Some("^Basic realm=\"oauthd\"")),
                        "Only when the client used HTTP Basic (RFC 6749 §5.2).",
                    ),
                )
                .build(),
        )
        .response(
            "413",
            error_response("The body is over 64 KiB (`invalid_request`).").build(),
        )
        .response(
            "429",
            too_many(
                "Too many requests from this address, or too many failed client \
                 authentications for this client id from it (`slow_down`).",
            )
            .build(),
        );
    common(op).build()
}

fn revoke() -> Operation {
    let op = OperationBuilder::new()
        .tag("oauth")
        .operation_id(Some("revoke"))
        .summary(Some("Token revocation (RFC 7009)"))
        .description(Some(
            "Revokes an access or refresh token of the calling client. Unknown, foreign and \
             already revoked tokens also get 200 (RFC 7009 §2.2).",
        ))
        .request_body(Some(form_body("TokenReference", "The token to revoke.")))
        .parameter(origin_parameter())
        .securities(Some(security(&[Some(CLIENT_BASIC), None])))
        .response(
            "200",
            with_cors(
                ResponseBuilder::new()
                    .description("Revoked, or nothing to revoke; an empty body.")
                    .header("Cache-Control", no_store())
                    .header("Pragma", pragma()),
            )
            .build(),
        )
        .response(
            "400",
            with_cors(error_response(
                "`invalid_request`: a missing or repeated parameter, or a body that is not \
                 form-encoded.",
            ))
            .build(),
        )
        .response("401", client_auth_failed());
    common(token_like_failures(op)).build()
}

fn client_auth_failed() -> RefOr<Response> {
    with_cors(error_response(
        "Client authentication failed (`invalid_client`): an unknown client, a wrong \
         secret, or credentials sent another way than the client registered.",
    ))
    .header(
        "WWW-Authenticate",
        header(
            string_schema().pattern(Some("^(Basic|Bearer) realm=\"oauthd\"")),
            "Only when the client used HTTP Basic (a Basic challenge) or, at introspection, \
                 a bearer token (a Bearer challenge).",
        ),
    )
    .build()
    .into()
}

fn introspect() -> Operation {
    let op = OperationBuilder::new()
        .tag("oauth")
        .operation_id(Some("introspect"))
        .summary(Some("Token introspection (RFC 7662)"))
        .description(Some(
            "For resource servers: a confidential client (HTTP Basic or client_secret_post), or \
             a bearer token holding `introspection.bearer_scope` (standing for the client it was \
             issued to), asks about a token. A token is active only to the client it was issued \
             to and to clients the operator allowed to introspect (RFC 7662 §4); to anyone else \
             it answers `{\"active\": false}`, exactly as an unknown token does.",
        ))
        .request_body(Some(form_body("TokenReference", "The token to look up.")))
        .parameter(origin_parameter())
        .securities(Some(security(&[Some(CLIENT_BASIC), Some(BEARER), None])))
        .response(
            "200",
            with_cors(
                ResponseBuilder::new()
                    .description("The token's state.")
                    .content(JSON, content("Introspection"))
                    .header("Cache-Control", no_store())
                    .header("Pragma", pragma()),
            )
            .build(),
        )
        .response(
            "400",
            with_cors(error_response(
                "`invalid_request`: a missing or repeated parameter, or a body that is not \
                 form-encoded.",
            ))
            .build(),
        )
        .response("401", client_auth_failed())
        .response(
            "403",
            with_cors(error_response(
                "The bearer token lacks the introspection scope, or is a personal access token, \
                 which stands for no client (`insufficient_scope`).",
            ))
            .header(
                "WWW-Authenticate",
                bearer_challenge("A Bearer challenge with `error=\"insufficient_scope\"`."),
            )
            .build(),
        );
    common(token_like_failures(op)).build()
}

fn account_responses(op: OperationBuilder) -> OperationBuilder {
    let challenge = |description: &str| {
        with_cors(error_response(description))
            .header(
                "WWW-Authenticate",
                bearer_challenge(
                    "The RFC 6750 §3 challenge, with `resource_metadata` (RFC 9728 §5.1).",
                ),
            )
            .build()
    };
    let op = op
        .parameter(origin_parameter())
        .securities(Some(security(&[Some(BEARER), None])))
        .response(
            "200",
            with_cors(
                ResponseBuilder::new()
                    .description("The account.")
                    .content(JSON, content("Account"))
                    .header("Cache-Control", no_store()),
            )
            .build(),
        )
        .response(
            "400",
            challenge(
                "`invalid_request`: the token sent more than one way, a malformed \
                 `Authorization` header, or a malformed query or body.",
            ),
        )
        .response(
            "401",
            challenge("No token (`invalid_token`), or an invalid, expired or revoked one."),
        )
        .response(
            "403",
            challenge(
                "The token lacks the account scope or belongs to no user (`insufficient_scope`).",
            ),
        )
        .response(
            "413",
            with_cors(error_response(
                "The body is over 64 KiB (`invalid_request`).",
            ))
            .build(),
        );
    common(op)
}

fn account_get() -> Operation {
    account_responses(
        OperationBuilder::new()
            .tag("resource")
            .operation_id(Some("account"))
            .summary(Some("The token owner's account"))
            .description(Some(
                "Needs a token with `resource.account_scope`, in the `Authorization` header or \
                 the `access_token` query parameter (RFC 6750 §2.1, §2.3), never both.",
            ))
            .parameter(
                ParameterBuilder::new()
                    .name("access_token")
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .description(Some("The access token (RFC 6750 §2.3)."))
                    .schema(Some(string_schema())),
            ),
    )
    .build()
}

fn account_post() -> Operation {
    account_responses(
        OperationBuilder::new()
            .tag("resource")
            .operation_id(Some("account_post"))
            .summary(Some("The token owner's account (token in the form body)"))
            .description(Some(
                "As `GET /account`, with the token also accepted as `access_token` in a \
                 form-encoded body (RFC 6750 §2.2).",
            ))
            .request_body(Some(
                RequestBodyBuilder::new()
                    .description(Some("The token, when not in the header."))
                    .content(FORM, content("AccountForm"))
                    .build(),
            )),
    )
    .build()
}

fn preflight(path: &str) -> Operation {
    let cors = |description: &str| header(string_schema(), description);
    let op = OperationBuilder::new()
        .tag(if path == "/account" {
            "resource"
        } else {
            "oauth"
        })
        .operation_id(Some(format!("preflight_{}", alias_id(path))))
        .summary(Some("CORS preflight"))
        .description(Some(
            "Browser clients' preflight. A registered origin gets the allow headers; any other \
             origin gets none, so the browser blocks the call.",
        ))
        .parameter(origin_parameter())
        .response(
            "204",
            ResponseBuilder::new()
                .description("Preflight answered.")
                .header(
                    "Vary",
                    header(
                        string_schema().pattern(Some("Origin")),
                        "Includes `Origin`.",
                    ),
                )
                .header(
                    "Access-Control-Allow-Origin",
                    cors("Only for a registered origin: that origin."),
                )
                .header(
                    "Access-Control-Allow-Methods",
                    cors("Only for a registered origin: `GET, POST`."),
                )
                .header(
                    "Access-Control-Allow-Headers",
                    cors("Only for a registered origin: `authorization, content-type, accept`."),
                )
                .header(
                    "Access-Control-Max-Age",
                    cors("Only for a registered origin: `600`."),
                )
                .build(),
        )
        .response("503", response_ref("Unavailable"));
    layers(op).build()
}

fn register() -> Operation {
    let created = |description: &str, schema: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(JSON, content(schema))
            .header("Cache-Control", no_store())
            .header("Pragma", pragma())
            .build()
    };
    let op = OperationBuilder::new()
        .tag("registration")
        .operation_id(Some("register_client"))
        .summary(Some("Client registration (RFC 7591)"))
        .description(Some(
            "Registers a client. A form body gets 200 and the flat answer; an RFC 7591 JSON \
             body gets 201 and the RFC 7591 answer. `registration.policy` decides who may: \
             `open` (anyone), `token` (the initial access token as a bearer token, else 401), \
             `closed` (403).",
        ))
        .request_body(Some(
            RequestBodyBuilder::new()
                .required(Some(Required::True))
                .content(FORM, content("RegistrationForm"))
                .content(JSON, content("ClientMetadata"))
                .build(),
        ))
        .securities(Some(security(&[Some(INITIAL_TOKEN), None])))
        .response(
            "200",
            created(
                "Registered (form shape). The secret is shown only here.",
                "FlatClient",
            ),
        )
        .response(
            "201",
            created(
                "Registered (RFC 7591 §3.2.1). The secret is shown only here.",
                "RegisteredClient",
            ),
        )
        .response(
            "400",
            error_response(
                "Refused (RFC 7591 §3.2.2): `invalid_redirect_uri`, `invalid_client_metadata` \
                 (including a `Content-Type` other than form or JSON, and a body that cannot \
                 be read).",
            )
            .build(),
        )
        .response(
            "401",
            error_response(
                "`registration.policy` is `token` and the initial access token is missing or \
                 wrong (`invalid_token`).",
            )
            .header(
                "WWW-Authenticate",
                bearer_challenge(
                    "The RFC 6750 §3 challenge, with `resource_metadata` (RFC 9728 §5.1).",
                ),
            )
            .build(),
        )
        .response(
            "403",
            error_response("`registration.policy` is `closed` (`access_denied`).").build(),
        )
        .response(
            "413",
            error_response("The body is over 64 KiB (`invalid_client_metadata`).").build(),
        )
        .response(
            "429",
            too_many("Too many registrations from this address (`slow_down`).").build(),
        );
    common(op).build()
}

fn metadata() -> Operation {
    layers(
        OperationBuilder::new()
            .tag("oauth")
            .operation_id(Some("server_metadata"))
            .summary(Some("Authorization server metadata (RFC 8414)"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description("The metadata; every URL is built from `public_url`.")
                    .content(JSON, content("ServerMetadata"))
                    .build(),
            ),
    )
    .build()
}

fn userinfo(post: bool) -> Operation {
    let challenge = |description: &str| {
        with_cors(error_response(description))
            .header(
                "WWW-Authenticate",
                bearer_challenge(
                    "The RFC 6750 §3 challenge (`scope=\"openid\"` with `insufficient_scope`).",
                ),
            )
            .build()
    };
    let op = OperationBuilder::new()
        .tag("oauth")
        .operation_id(Some(if post { "userinfo_post" } else { "userinfo" }))
        .summary(Some(if post {
            "OpenID Connect UserInfo (token in the form body)"
        } else {
            "OpenID Connect UserInfo"
        }))
        .description(Some(
            "The claims of the token's user (OpenID Connect Core §5.3): `sub` always; with              `profile`, `name`, `preferred_username` and `updated_at`; with `email`, `email`              and `email_verified`. Needs an access token holding `openid`, in the              `Authorization` header, the `access_token` query parameter or (POST) a              form-encoded body, one way only.",
        ))
        .parameter(origin_parameter())
        .securities(Some(security(&[Some(BEARER), None])))
        .response(
            "200",
            with_cors(
                ResponseBuilder::new()
                    .description("The claims.")
                    .content(JSON, content("UserInfo"))
                    .header("Cache-Control", no_store()),
            )
            .build(),
        )
        .response(
            "400",
            challenge(
                "`invalid_request`: the token sent more than one way, a malformed                  `Authorization` header, or a malformed query or body.",
            ),
        )
        .response(
            "401",
            challenge(
                "No token (`invalid_token`), or an invalid, expired or revoked one, or one                  that is not a client's access token.",
            ),
        )
        .response(
            "403",
            challenge("The token does not hold `openid` (`insufficient_scope`)."),
        )
        .response(
            "413",
            with_cors(error_response(
                "The body is over 64 KiB (`invalid_request`).",
            ))
            .build(),
        );
    let op = if post {
        op.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some("The token, when not in the header."))
                .content(FORM, content("AccountForm"))
                .build(),
        ))
    } else {
        op.parameter(
            ParameterBuilder::new()
                .name("access_token")
                .parameter_in(ParameterIn::Query)
                .required(Required::False)
                .description(Some("The access token (RFC 6750 §2.3)."))
                .schema(Some(string_schema())),
        )
    };
    common(op).build()
}

fn openid_configuration() -> Operation {
    common(
        OperationBuilder::new()
            .tag("oauth")
            .operation_id(Some("openid_configuration"))
            .summary(Some("OpenID Provider configuration (OIDC Discovery 1.0)"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description(
                        "Every field of the RFC 8414 metadata, with the same values, plus                          `userinfo_endpoint`, `subject_types_supported`,                          `id_token_signing_alg_values_supported` (the algorithms of the keys                          in the JWKS and of `signing.algorithm`), `claims_supported`,                          `claim_types_supported`, `prompt_values_supported`, and the                          request-object and claims-parameter flags (all false).",
                    )
                    .content(
                        JSON,
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                            .build(),
                    )
                    .build(),
            )
            .response(
                "404",
                error_response(
                    "No `signing.key_encryption_key` is configured: nothing can sign ID                      tokens, so oauthd is no OpenID Provider.",
                )
                .build(),
            ),
    )
    .build()
}

fn jwks() -> Operation {
    layers(
        OperationBuilder::new()
            .tag("oauth")
            .operation_id(Some("jwks"))
            .summary(Some("The JWK Set of the ID-token signing keys (RFC 7517)"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description(
                        "`{\"keys\": [...]}`: public keys only, each with `kid`, `alg` and \
                         `use: sig`: keys about to sign, the signing key, and replaced keys \
                         while what they signed can still be valid. Empty when no \
                         key-encryption key is configured. `Cache-Control: public, max-age=300`.",
                    )
                    .content(
                        "application/jwk-set+json",
                        ContentBuilder::new()
                            .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                            .build(),
                    )
                    .build(),
            )
            .response("503", response_ref("Unavailable")),
    )
    .build()
}

fn resource_metadata(id: &str) -> Operation {
    layers(
        OperationBuilder::new()
            .tag("resource")
            .operation_id(Some(id))
            .summary(Some("Protected-resource metadata of /account (RFC 9728)"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description(
                        "The metadata of `/account`; every URL is built from `public_url`. \
                         The same document at both paths.",
                    )
                    .content(JSON, content("ResourceMetadata"))
                    .build(),
            ),
    )
    .build()
}

fn healthz() -> Operation {
    OperationBuilder::new()
        .tag("operations")
        .operation_id(Some("healthz"))
        .summary(Some("Liveness"))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The process is up: `{\"status\":\"ok\"}`.")
                .content(JSON, content("Health"))
                .build(),
        )
        .response("408", response_ref("RequestTimeout"))
        .response("414", response_ref("UriTooLong"))
        .response("500", response_ref("ServerError"))
        .build()
}

fn readyz() -> Operation {
    OperationBuilder::new()
        .tag("operations")
        .operation_id(Some("readyz"))
        .summary(Some("Readiness"))
        .response(
            "200",
            ResponseBuilder::new()
                .description("The database answers: `{\"status\":\"ready\"}`.")
                .content(JSON, content("Health"))
                .build(),
        )
        .response(
            "503",
            ResponseBuilder::new()
                .description("The database does not answer: `{\"status\":\"unavailable\", …}`.")
                .content(JSON, content("Health"))
                .build(),
        )
        .response("408", response_ref("RequestTimeout"))
        .response("414", response_ref("UriTooLong"))
        .response("500", response_ref("ServerError"))
        .build()
}

fn metrics() -> Operation {
    let text = || {
        ContentBuilder::new()
            .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
            .build()
    };
    layers(
        OperationBuilder::new()
            .tag("operations")
            .operation_id(Some("metrics"))
            .summary(Some("Prometheus metrics"))
            .response(
                "200",
                ResponseBuilder::new()
                    .description(
                        "Every metric: OpenMetrics text when `Accept` asks for \
                         `application/openmetrics-text`, else the Prometheus text format 0.0.4.",
                    )
                    .content("text/plain", text())
                    .content("application/openmetrics-text", text())
                    .header("Cache-Control", no_store())
                    .build(),
            )
            .response(
                "404",
                ResponseBuilder::new()
                    .description(
                        "Metrics are off (`metrics.enabled = false`), or served on \
                         `metrics.listen` (by default 127.0.0.1:9464, a listener of their own) \
                         rather than here.",
                    )
                    .content(JSON, content("Error"))
                    .build(),
            ),
    )
    .build()
}

fn openapi_json() -> Operation {
    OperationBuilder::new()
        .tag("operations")
        .operation_id(Some("openapi"))
        .summary(Some("This document"))
        .response(
            "200",
            ResponseBuilder::new()
                .description(
                    "The OpenAPI 3.1 document, the same as `openapi.json` in the repository.",
                )
                .content(
                    JSON,
                    ContentBuilder::new()
                        .schema(Some(ObjectBuilder::new().schema_type(Type::Object)))
                        .build(),
                )
                .build(),
        )
        .response("408", response_ref("RequestTimeout"))
        .response("414", response_ref("UriTooLong"))
        .response("500", response_ref("ServerError"))
        .build()
}
