//! `POST /oauth/token`: parse, authenticate the client, run the grant, answer
//! in the negotiated format (JSON by default, form-encoded on request).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::{Failure, authenticate_client, read_form};
use crate::config::ResponseFormat;
use crate::http::error::{HttpError, no_store};
use crate::http::limits::ClientIp;
use crate::http::state::AppState;
use crate::model::client::{DEVICE_CODE_GRANT, GrantType};
use crate::oauth::grant::authorization_code::{self, CodeRequest};
use crate::oauth::grant::refresh_token::{self, RefreshRequest};
use crate::oauth::grant::{client_credentials, device_code};
use crate::oauth::resource::Resources;
use crate::oauth::token::IssuedTokens;
use crate::oauth::{ErrorCode, OAuthError};

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    Extension(ClientIp(ip)): Extension<ClientIp>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let format = negotiate(&headers, state.config.tokens.response_format);
    match grant(&state, ip, &headers, &uri, body).await {
        Ok((grant_type, issued)) => {
            state.metrics.token_issued(grant_type);
            success(&issued, format)
        }
        Err(failure) => {
            state.metrics.token_error(failure.error_code());
            failure.into_response(uri.path(), format)
        }
    }
}

async fn grant(
    state: &AppState,
    ip: std::net::IpAddr,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<(&'static str, IssuedTokens), Failure> {
    let form = read_form(headers, uri, body)?;
    let single = |name: &str| {
        form.single(name)
            .map_err(|e| OAuthError::invalid_request(e.to_string()))
    };
    let grant_type = single("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    let Some(grant) = GrantType::parse(grant_type) else {
        let supported = GrantType::ALL.map(GrantType::as_str).join(", ");
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            format!("supported grant types: {supported}"),
        )
        .into());
    };
    let client = authenticate_client(state, ip, headers, &form).await?;
    let (db, clock, config) = (&state.db, &state.clock, &state.config);
    // RFC 8707 §2.2: the resources this token is for, repeatable.
    let resources = Resources::parse(form.all("resource"))?;
    Ok(match grant {
        GrantType::AuthorizationCode => {
            let code =
                single("code")?.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
            let request = CodeRequest {
                code,
                redirect_uri: single("redirect_uri")?,
                code_verifier: single("code_verifier")?,
                resources: &resources,
            };
            let issued = authorization_code::exchange(
                db,
                &state.writer,
                &state.keys,
                clock,
                config,
                &client,
                request,
            )
            .await?;
            ("authorization_code", issued)
        }
        GrantType::RefreshToken => {
            let refresh_token = single("refresh_token")?
                .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
            let request = RefreshRequest {
                refresh_token,
                scope: single("scope")?,
                resources: &resources,
            };
            let issued = refresh_token::exchange(
                db,
                &state.writer,
                &state.keys,
                clock,
                config,
                &client,
                request,
            )
            .await?;
            ("refresh_token", issued)
        }
        GrantType::DeviceCode => {
            let device_code = single("device_code")?
                .ok_or_else(|| OAuthError::invalid_request("device_code is required"))?;
            let cx = device_code::Context {
                db,
                writer: &state.writer,
                keys: &state.keys,
                clock,
                config,
                metrics: &state.metrics,
                polls: &state.polls,
            };
            let issued = device_code::exchange(cx, &client, device_code, &resources).await?;
            (DEVICE_CODE_GRANT, issued)
        }
        GrantType::ClientCredentials => {
            let scope = single("scope")?;
            let issued = client_credentials::issue(
                db,
                &state.writer,
                &state.keys,
                clock,
                config,
                &client,
                scope,
                &resources,
            )
            .await?;
            ("client_credentials", issued)
        }
    })
}

/// JSON unless the client prefers form encoding (or sends no preference and
/// the operator made form the default). `Accept: application/json` always wins.
fn negotiate(headers: &HeaderMap, default: ResponseFormat) -> ResponseFormat {
    let mut json = 0.0_f32;
    let mut form = 0.0_f32;
    for value in headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
    {
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/json" => json = json.max(q),
                "application/x-www-form-urlencoded" => form = form.max(q),
                _ => {}
            }
        }
    }
    if json > 0.0 && json >= form {
        ResponseFormat::Json
    } else if form > 0.0 {
        ResponseFormat::Form
    } else {
        default
    }
}

#[derive(Serialize)]
struct TokenBody<'a> {
    access_token: &'a str,
    token_type: &'a str,
    expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

fn success(issued: &IssuedTokens, format: ResponseFormat) -> Response {
    let body = TokenBody {
        access_token: issued.access_token.expose(),
        // GitBook-style clients read the form answer with a lower-case type;
        // RFC 6749 §5.1 makes it case-insensitive.
        token_type: match format {
            ResponseFormat::Json => "Bearer",
            ResponseFormat::Form => "bearer",
        },
        expires_in: issued.expires_in,
        refresh_token: issued.refresh_token.as_ref().map(|t| t.expose()),
        scope: issued.scope.to_string(),
        id_token: issued.id_token.as_deref(),
    };
    encode(StatusCode::OK, &body, format)
}

pub(super) fn encode<T: Serialize>(
    status: StatusCode,
    body: &T,
    format: ResponseFormat,
) -> Response {
    let encoded = match format {
        ResponseFormat::Json => serde_json::to_string(body).map(|s| (s, "application/json")),
        ResponseFormat::Form => serde_urlencoded::to_string(body)
            .map(|s| (s, "application/x-www-form-urlencoded"))
            .map_err(|e| serde_json::Error::io(std::io::Error::other(e))),
    };
    let mut response = match encoded {
        Ok((text, content_type)) => (
            status,
            [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
            text,
        )
            .into_response(),
        Err(e) => {
            HttpError::Internal(format!("token response encoding failed: {e}")).into_response()
        }
    };
    no_store(&mut response);
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(ACCEPT, v.parse().unwrap());
        h
    }

    #[test]
    fn negotiates_json_and_form() {
        use ResponseFormat::{Form, Json};
        assert_eq!(negotiate(&HeaderMap::new(), Json), Json);
        assert_eq!(negotiate(&HeaderMap::new(), Form), Form);
        assert_eq!(negotiate(&accept("application/json"), Form), Json);
        assert_eq!(
            negotiate(&accept("application/x-www-form-urlencoded"), Json),
            Form
        );
        assert_eq!(negotiate(&accept("*/*"), Form), Form);
        assert_eq!(
            negotiate(
                &accept("application/x-www-form-urlencoded, application/json;q=0.5"),
                Json
            ),
            Form
        );
        assert_eq!(
            negotiate(
                &accept("application/json, application/x-www-form-urlencoded"),
                Form
            ),
            Json
        );
    }
}
