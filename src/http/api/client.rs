//! `POST /api/client`: client registration in two shapes.
//!
//! - A form body (`client_name`, `redirect_uris`, `scopes`, `website`) is
//!   answered 200 with the flat JSON that Gancio-style clients read:
//!   `{"name", "scopes", "website", "client_secret", "redirect_uris", "client_id"}`.
//! - A JSON body in RFC 7591 form is answered 201 in RFC 7591 form.
//!
//! Both go through `oauth::registration`, so the rules are the same.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::config::RegistrationPolicy;
use crate::crypto;
use crate::http::error::{HttpError, no_store};
use crate::http::extract::{BearerHeader, FormParams, bearer_header, body_or_error, media_type};
use crate::http::state::AppState;
use crate::oauth::registration::{self, AuthMethod, ClientMetadata, Policy, Registered};
use crate::oauth::{ErrorCode, OAuthError};

/// Registers a client; see the module docs for the two shapes.
pub async fn register(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, HttpError> {
    check_policy(&state, &headers)?;
    let body = body_or_error(body, OAuthError::invalid_client_metadata)?;
    let policy = Policy::from_config(&state.config);
    let mut response = match media_type(&headers).as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let meta = form_metadata(&body)?;
            let registered =
                registration::register(&state.db, &state.clock, meta, policy, None).await?;
            (StatusCode::OK, Json(FlatResponse::from(&registered))).into_response()
        }
        Some("application/json") => {
            let (meta, id_token_alg) = json_metadata(&body)?;
            registration::check_id_token_alg(id_token_alg.as_deref(), &state.config)
                .map_err(HttpError::bad_request)?;
            let registered =
                registration::register(&state.db, &state.clock, meta, policy, None).await?;
            let mut answer = Rfc7591Response::from(&registered);
            // What its ID tokens are signed with, once oauthd can sign them.
            if crate::oauth::id_token::available(&state.config) {
                answer.id_token_signed_response_alg = Some(state.config.signing.algorithm.as_str());
            }
            (StatusCode::CREATED, Json(answer)).into_response()
        }
        _ => {
            return Err(HttpError::bad_request(OAuthError::invalid_client_metadata(
                "Content-Type must be application/x-www-form-urlencoded or application/json",
            )));
        }
    };
    // The body holds a client secret (RFC 7591 §3.2.1).
    no_store(&mut response);
    Ok(response)
}

/// `open` lets everyone in; `token` wants the initial access token as a bearer
/// token (RFC 7591 §3, errors per RFC 6750); `closed` refuses.
fn check_policy(state: &AppState, headers: &HeaderMap) -> Result<(), HttpError> {
    let registration = &state.config.registration;
    match registration.policy {
        RegistrationPolicy::Open => Ok(()),
        RegistrationPolicy::Closed => Err(HttpError::Api {
            status: StatusCode::FORBIDDEN,
            error: OAuthError::new(
                ErrorCode::AccessDenied,
                "client registration is closed on this server",
            ),
            www_authenticate: None,
        }),
        RegistrationPolicy::Token => {
            let expected = registration.initial_access_token.as_deref().unwrap_or("");
            let (error, challenge) = match bearer_header(headers) {
                BearerHeader::Token(t) if crypto::constant_time_eq(t, expected) => return Ok(()),
                BearerHeader::Absent => (
                    OAuthError::new(
                        ErrorCode::InvalidToken,
                        "registration needs an initial access token",
                    ),
                    HeaderValue::from_static("Bearer realm=\"oauthd\""),
                ),
                _ => (
                    OAuthError::new(
                        ErrorCode::InvalidToken,
                        "the initial access token is not valid",
                    ),
                    HeaderValue::from_static("Bearer realm=\"oauthd\", error=\"invalid_token\""),
                ),
            };
            Err(HttpError::Api {
                status: StatusCode::UNAUTHORIZED,
                error,
                www_authenticate: Some(challenge),
            })
        }
    }
}

/// Reads the flat form shape. `redirect_uris` is one or more URIs separated
/// by whitespace, and may also be repeated.
fn form_metadata(body: &[u8]) -> Result<ClientMetadata, HttpError> {
    let bad = |e: &dyn std::fmt::Display| {
        HttpError::bad_request(OAuthError::invalid_client_metadata(e.to_string()))
    };
    let form = FormParams::parse(body).map_err(|e| bad(&e))?;
    let client_name = form
        .single("client_name")
        .map_err(|e| bad(&e))?
        .ok_or_else(|| bad(&"client_name is required"))?;
    Ok(ClientMetadata {
        client_name: Some(client_name.to_owned()),
        redirect_uris: form
            .all("redirect_uris")
            .flat_map(str::split_whitespace)
            .map(str::to_owned)
            .collect(),
        scope: form
            .single("scopes")
            .map_err(|e| bad(&e))?
            .map(str::to_owned),
        client_uri: form
            .single("website")
            .map_err(|e| bad(&e))?
            .map(str::to_owned),
        ..ClientMetadata::default()
    })
}

/// RFC 7591 §2 request metadata. Unknown members are ignored (§2), and a
/// `client_id` or `client_secret` in the request is never used (RFC 9700 §4.15).
#[derive(Deserialize)]
struct Rfc7591Request {
    client_name: Option<String>,
    redirect_uris: Option<Vec<String>>,
    scope: Option<String>,
    grant_types: Option<Vec<String>>,
    response_types: Option<Vec<String>>,
    token_endpoint_auth_method: Option<String>,
    client_uri: Option<String>,
    /// oauthd extension: browser origins allowed to use CORS.
    allowed_origins: Option<Vec<String>>,
    /// `web` or `native`.
    application_type: Option<String>,
    /// OpenID Connect RP-Initiated Logout 1.0 §3.1.
    post_logout_redirect_uris: Option<Vec<String>>,
    /// OpenID Connect: `public` or `pairwise`.
    subject_type: Option<String>,
    /// OpenID Connect: only the algorithm oauthd signs with.
    id_token_signed_response_alg: Option<String>,
}

/// The metadata, and the `id_token_signed_response_alg` asked for (checked
/// by the caller against the config).
fn json_metadata(body: &[u8]) -> Result<(ClientMetadata, Option<String>), HttpError> {
    let refuse = |description: String| {
        HttpError::bad_request(OAuthError::invalid_client_metadata(description))
    };
    let not_metadata =
        || refuse("the body is not a JSON object of RFC 7591 client metadata".into());
    // RFC 7591 metadata is a JSON object; serde would also take an array.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(not_metadata());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let request: Rfc7591Request = match serde_path_to_error::deserialize(&mut de) {
        Ok(r) => r,
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner().to_string();
            // Name the field, never echo the value.
            return Err(if inner.starts_with("duplicate field") {
                refuse(
                    inner
                        .split(" at line")
                        .next()
                        .unwrap_or("duplicate field")
                        .to_owned(),
                )
            } else if path == "." || path == "?" || path.is_empty() {
                not_metadata()
            } else {
                refuse(format!("`{path}` has the wrong type or an invalid value"))
            });
        }
    };
    // Trailing bytes after the object make the whole body invalid.
    de.end().map_err(|_| not_metadata())?;
    let id_token_alg = request.id_token_signed_response_alg;
    let meta = ClientMetadata {
        client_name: request.client_name,
        redirect_uris: request.redirect_uris.unwrap_or_default(),
        scope: request.scope,
        grant_types: request.grant_types,
        response_types: request.response_types,
        // RFC 7591 §2: omitted means client_secret_basic, and the response
        // says so; the client is then held to it like any it names. A native
        // app is a public client (RFC 8252 §8.4): omitted means none.
        token_endpoint_auth_method: Some(request.token_endpoint_auth_method.unwrap_or_else(|| {
            if request.application_type.as_deref() == Some("native") {
                AuthMethod::None.as_str().to_owned()
            } else {
                AuthMethod::ClientSecretBasic.as_str().to_owned()
            }
        })),
        application_type: request.application_type,
        subject_type: request.subject_type,
        client_uri: request.client_uri,
        allowed_origins: request.allowed_origins.unwrap_or_default(),
        post_logout_redirect_uris: request.post_logout_redirect_uris.unwrap_or_default(),
    };
    Ok((meta, id_token_alg))
}

/// The flat answer to a form registration, field for field as Gancio documents it.
#[derive(Serialize)]
struct FlatResponse<'a> {
    name: &'a str,
    scopes: String,
    website: Option<&'a str>,
    client_secret: Option<&'a str>,
    redirect_uris: String,
    client_id: &'a str,
}

impl<'a> From<&'a Registered> for FlatResponse<'a> {
    fn from(r: &'a Registered) -> Self {
        Self {
            name: &r.client.name,
            scopes: r.client.scopes.to_string(),
            website: r.client.website.as_deref(),
            client_secret: r.secret.as_ref().map(crypto::Secret::expose),
            redirect_uris: r
                .client
                .redirect_uris
                .iter()
                .map(|u| u.as_str())
                .collect::<Vec<_>>()
                .join(" "),
            client_id: &r.client_id,
        }
    }
}

/// The RFC 7591 §3.2.1 answer.
#[derive(Serialize)]
struct Rfc7591Response<'a> {
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret: Option<&'a str>,
    client_id_issued_at: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_secret_expires_at: Option<i64>,
    #[serde(skip_serializing_if = "str::is_empty")]
    client_name: &'a str,
    redirect_uris: Vec<&'a str>,
    scope: String,
    grant_types: Vec<&'static str>,
    response_types: &'a [&'static str],
    token_endpoint_auth_method: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    allowed_origins: &'a [String],
    application_type: &'static str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    post_logout_redirect_uris: Vec<&'a str>,
    subject_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token_signed_response_alg: Option<&'static str>,
}

impl<'a> From<&'a Registered> for Rfc7591Response<'a> {
    fn from(r: &'a Registered) -> Self {
        let c = &r.client;
        Self {
            client_id: &r.client_id,
            client_secret: r.secret.as_ref().map(crypto::Secret::expose),
            client_id_issued_at: r.issued_at,
            // 0: the secret does not expire (RFC 7591 §3.2.1).
            client_secret_expires_at: r.secret.as_ref().map(|_| 0),
            client_name: &c.name,
            redirect_uris: c.redirect_uris.iter().map(|u| u.as_str()).collect(),
            scope: c.scopes.to_string(),
            grant_types: c.grant_types.iter().map(|g| g.as_str()).collect(),
            response_types: &c.response_types,
            token_endpoint_auth_method: c.auth_method.as_str(),
            client_uri: c.website.as_deref(),
            allowed_origins: &c.allowed_origins,
            application_type: c.application_type.as_str(),
            post_logout_redirect_uris: c
                .post_logout_redirect_uris
                .iter()
                .map(|u| u.as_str())
                .collect(),
            subject_type: if c.pairwise_sector.is_some() {
                "pairwise"
            } else {
                "public"
            },
            id_token_signed_response_alg: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_errors_name_the_field_not_the_value() {
        for (body, expect) in [
            (
                &br#"{"redirect_uris": "https://a.example/cb"}"#[..],
                "`redirect_uris`",
            ),
            (br#"{"client_name": 5}"#, "`client_name`"),
            (br#"[1]"#, "not a JSON object"),
            (br#"{"client_name": "a"} trailing"#, "not a JSON object"),
            (
                br#"{"client_name": "a", "client_name": "b"}"#,
                "client_name",
            ),
        ] {
            let Err(HttpError::Api { error, .. }) = json_metadata(body) else {
                panic!("{body:?} must be refused");
            };
            assert_eq!(error.code, ErrorCode::InvalidClientMetadata);
            assert!(error.description.contains(expect), "{}", error.description);
        }
    }

    #[test]
    fn ignores_unknown_members_and_a_requested_client_id() {
        let (meta, _) =
            json_metadata(br#"{"client_id": "mine", "logo_uri": "x", "client_name": "A"}"#)
                .unwrap();
        assert_eq!(meta.client_name.as_deref(), Some("A"));
    }
}
