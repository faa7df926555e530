//! `GET /.well-known/oauth-authorization-server` (RFC 8414).

use axum::Json;
use axum::extract::State;
use serde::Serialize;

use crate::config::{Config, RegistrationPolicy};
use crate::http::state::AppState;

/// The authorization server metadata document (RFC 8414 §2).
#[derive(Debug, Serialize)]
pub struct Metadata {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    registration_endpoint: Option<String>,
    revocation_endpoint: String,
    introspection_endpoint: String,
    scopes_supported: Vec<String>,
    response_types_supported: [&'static str; 1],
    response_modes_supported: [&'static str; 1],
    grant_types_supported: [&'static str; 3],
    token_endpoint_auth_methods_supported: [&'static str; 3],
    revocation_endpoint_auth_methods_supported: [&'static str; 3],
    introspection_endpoint_auth_methods_supported: [&'static str; 2],
    code_challenge_methods_supported: Vec<&'static str>,
    authorization_response_iss_parameter_supported: bool,
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
        // Advertised only when callers can use it.
        registration_endpoint: (config.registration.policy != RegistrationPolicy::Closed)
            .then(|| url("/api/client")),
        revocation_endpoint: url("/oauth/revoke"),
        introspection_endpoint: url("/oauth/introspect"),
        service_documentation: url("/"),
        scopes_supported: config
            .scopes
            .catalogue
            .keys()
            .map(|s| s.as_str().to_owned())
            .collect(),
        response_types_supported: ["code"],
        response_modes_supported: ["query"],
        grant_types_supported: ["authorization_code", "refresh_token", "client_credentials"],
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
        client_id_metadata_document_supported: config.client_metadata.enabled,
        issuer,
    }
}
