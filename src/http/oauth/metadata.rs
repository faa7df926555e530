//! `GET /.well-known/oauth-authorization-server` (RFC 8414), and the
//! protected-resource metadata of oauthd's own API (RFC 9728).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::config::{Config, RegistrationPolicy};
use crate::http::error::HttpError;
use crate::http::state::AppState;
use crate::model::client::GrantType;

/// The authorization server metadata document (RFC 8414 §2).
#[derive(Debug, Serialize)]
pub struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    device_authorization_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    revocation_endpoint: String,
    introspection_endpoint: String,
    /// The JWK Set of the keys that sign ID tokens and JWT access tokens
    /// (RFC 8414 §2).
    jwks_uri: String,
    /// RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0 §2.1).
    end_session_endpoint: String,
    scopes_supported: Vec<String>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 4],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    code_challenge_methods_supported: Vec<&'static str>,
    authorization_response_iss_parameter_supported: bool,
    /// RFC 8707 `resource` is accepted at the authorization and token
    /// endpoints (a name used by other servers; RFC 8414 registers none).
    resource_indicators_supported: bool,
    /// The protected resources this server itself runs (RFC 9728): `/account`.
    protected_resources: [String; 1],
    /// draft-ietf-oauth-client-id-metadata-document: https URLs are
    /// accepted as `client_id`.
    client_id_metadata_document_supported: bool,
    service_documentation: String,
}

/// The server's metadata.
pub async fn metadata(State(state): State<AppState>) -> Json<Metadata> {
    Json(build(&state.config))
}

/// The metadata this configuration advertises; `oauthd config check` prints
/// the same document. Every URL is built from `public_url`, never from
/// request headers, so it is right behind any proxy (RFC 8414 §3.3).
pub fn build(config: &Config) -> Metadata {
    let issuer = config.issuer().to_owned();
    let url = |path: &str| format!("{issuer}{path}");
    let mut challenge_methods = vec!["S256"];
    if config.authorize.allow_plain_pkce {
        challenge_methods.push("plain");
    }
    Metadata {
        authorization_endpoint: url("/oauth/authorize"),
        token_endpoint: url("/oauth/token"),
        device_authorization_endpoint: url("/oauth/device_authorization"),
        // Advertised only when callers can use it.
        registration_endpoint: (config.registration.policy != RegistrationPolicy::Closed)
            .then(|| url("/api/client")),
        revocation_endpoint: url("/oauth/revoke"),
        introspection_endpoint: url("/oauth/introspect"),
        jwks_uri: url(JWKS_PATH),
        end_session_endpoint: url(END_SESSION_PATH),
        service_documentation: url("/"),
        scopes_supported: config
            .scopes
            .catalogue
            .keys()
            .map(|s| s.as_str().to_owned())
            .collect(),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: GrantType::ALL.map(GrantType::as_str),
        token_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        revocation_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
            "none",
        ],
        introspection_endpoint_auth_methods_supported: [
            "client_secret_basic",
            "client_secret_post",
        ],
        code_challenge_methods_supported: challenge_methods,
        authorization_response_iss_parameter_supported: true,
        resource_indicators_supported: true,
        protected_resources: [account_resource(config)],
        client_id_metadata_document_supported: config.client_metadata.enabled,
        issuer,
    }
}

/// The path, under `public_url`, of the end-session endpoint.
pub const END_SESSION_PATH: &str = "/oauth/logout";
/// The path of the OpenID Provider configuration (OIDC Discovery §4).
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";

/// The claims ID tokens and UserInfo may carry (OIDC Discovery §3).
pub const CLAIMS_SUPPORTED: [&str; 15] = [
    "sub",
    "iss",
    "aud",
    "exp",
    "iat",
    "auth_time",
    "nonce",
    "at_hash",
    "azp",
    "amr",
    "name",
    "preferred_username",
    "updated_at",
    "email",
    "email_verified",
];

/// The OpenID Provider configuration (OIDC Discovery 1.0 §3): the RFC 8414
/// document [`build`] makes, field for field, plus the OpenID fields, so the
/// two never disagree. `algs` are the algorithms ID tokens are signed with.
pub fn openid_configuration(config: &Config, algs: Vec<String>) -> serde_json::Value {
    let mut doc = match serde_json::to_value(build(config)) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let mut put = |key: &str, value: serde_json::Value| {
        doc.insert(key.to_owned(), value);
    };
    put(
        "userinfo_endpoint",
        crate::http::oauth::userinfo::userinfo_url(config).into(),
    );
    let subject_types = if config.oidc.pairwise_salt.is_some() {
        serde_json::json!(["public", "pairwise"])
    } else {
        serde_json::json!(["public"])
    };
    put("subject_types_supported", subject_types);
    put("id_token_signing_alg_values_supported", algs.into());
    put("claims_supported", serde_json::json!(CLAIMS_SUPPORTED));
    put("claim_types_supported", serde_json::json!(["normal"]));
    put(
        "prompt_values_supported",
        serde_json::json!(["none", "login", "consent"]),
    );
    // Their defaults (false, false, true, false) would claim more than is
    // supported for request_uri_parameter_supported; say so for all four.
    put("claims_parameter_supported", false.into());
    put("request_parameter_supported", false.into());
    put("request_uri_parameter_supported", false.into());
    put("require_request_uri_registration", false.into());
    serde_json::Value::Object(doc)
}

/// The algorithms ID tokens are signed with: those of the keys in the
/// JWKS, and the configured one (the next key's).
pub fn id_token_algs(
    rows: &[crate::store::signing_keys::SigningKeyRow],
    now: i64,
    config: &Config,
) -> Vec<String> {
    let mut algs: Vec<String> = crate::signing::published(rows, now, &config.signing)
        .into_iter()
        .map(|k| k.alg.clone())
        .collect();
    algs.push(config.signing.algorithm.as_str().to_owned());
    // RS256 first when present: the algorithm every relying party knows.
    algs.sort_by_key(|a| (a != "RS256", a.clone()));
    algs.dedup();
    algs
}

/// `GET /.well-known/openid-configuration`. Without a key-encryption key
/// nothing can sign ID tokens, so oauthd is no OpenID Provider: 404.
pub async fn openid(State(state): State<AppState>) -> Result<Response, HttpError> {
    if !crate::oauth::id_token::available(&state.config) {
        return Ok(crate::http::error::json_error(
            axum::http::StatusCode::NOT_FOUND,
            crate::oauth::ErrorCode::InvalidRequest,
            Some("OpenID Connect is not enabled: no signing.key_encryption_key is configured"),
        ));
    }
    let rows = crate::store::signing_keys::list(&state.db).await?;
    let algs = id_token_algs(&rows, state.clock.now(), &state.config);
    Ok(Json(openid_configuration(&state.config, algs)).into_response())
}

/// The path, under `public_url`, of the JWK Set.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// `GET /.well-known/jwks.json`: every key a verifier needs now (keys about
/// to sign, the one signing, and retired ones while what they signed can
/// still be valid). Cacheable for five minutes: a new key is published
/// `signing.prepublish_secs` before it signs, which should be longer.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, HttpError> {
    let rows = crate::store::signing_keys::list(&state.db).await?;
    let doc = crate::signing::jwks(&rows, state.clock.now(), &state.config.signing);
    let mut response = Json(doc).into_response();
    response.headers_mut().insert(
        CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    Ok(response)
}

/// The path, under `public_url`, of the protected resource `/account`: its
/// resource identifier is `issuer` + this (RFC 9728 §1.2).
pub const ACCOUNT_PATH: &str = "/account";

/// The path of the protected-resource metadata of `/account`, the one the
/// `resource_metadata` parameter of its challenges names.
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// The resource identifier of `/account` (RFC 8707 §2, RFC 9728 §1.2).
pub fn account_resource(config: &Config) -> String {
    format!("{}{ACCOUNT_PATH}", config.issuer())
}

/// The absolute URL of the protected-resource metadata of `/account`.
pub fn resource_metadata_url(config: &Config) -> String {
    format!("{}{RESOURCE_METADATA_PATH}", config.issuer())
}

/// Protected-resource metadata (RFC 9728 §2) of oauthd's own API.
#[derive(Debug, Serialize)]
pub struct ResourceMetadata {
    resource: String,
    authorization_servers: [String; 1],
    scopes_supported: [String; 1],
    bearer_methods_supported: [&'static str; 3],
    resource_name: String,
    resource_documentation: String,
}

/// `GET /.well-known/oauth-protected-resource` (and the same document at
/// `/.well-known/oauth-protected-resource/account`, the location RFC 9728
/// §3.1 derives from the resource identifier).
pub async fn protected_resource(State(state): State<AppState>) -> Json<ResourceMetadata> {
    Json(resource_metadata(&state.config))
}

/// The protected-resource metadata of `/account` under this configuration.
pub fn resource_metadata(config: &Config) -> ResourceMetadata {
    let issuer = config.issuer().to_owned();
    ResourceMetadata {
        resource: account_resource(config),
        scopes_supported: [config.resource.account_scope.as_str().to_owned()],
        bearer_methods_supported: ["header", "body", "query"],
        resource_name: format!("{} account API", config.ui.product_name),
        resource_documentation: format!("{issuer}/"),
        authorization_servers: [issuer],
    }
}
