//! `POST /oauth/token`: parse, authenticate the client, run the grant, answer
//! in the negotiated format (JSON by default, form-encoded on request).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::config::ResponseFormat;
use crate::http::error::{HttpError, no_store};
use crate::http::extract::{FormParams, client_credentials, media_type};
use crate::http::state::AppState;
use crate::oauth::client_auth::{self, AuthError};
use crate::oauth::grant::authorization_code::{self, CodeRequest};
use crate::oauth::token::IssuedTokens;
use crate::oauth::{self, ErrorCode, OAuthError};
use crate::store;

/// The token endpoint.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let format = negotiate(&headers, state.config.tokens.response_format);
    match grant(&state, &headers, &uri, body).await {
        Ok(issued) => success(&issued, format),
        Err(Failure::Refused { error, basic }) => refusal(&error, basic, format),
        Err(Failure::Store(e)) => HttpError::Store(e).into_response(),
    }
}

enum Failure {
    Refused { error: OAuthError, basic: bool },
    Store(store::Error),
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Self {
        Self::Refused {
            error,
            basic: false,
        }
    }
}

impl From<oauth::Error> for Failure {
    fn from(e: oauth::Error) -> Self {
        match e {
            oauth::Error::Refused(error) => error.into(),
            oauth::Error::Store(e) => Self::Store(e),
        }
    }
}

async fn grant(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    body: Result<Bytes, BytesRejection>,
) -> Result<IssuedTokens, Failure> {
    // OAuth 2.1 §2.4.1: credentials never in the URL. The value is not logged.
    if uri.query().is_some_and(|q| {
        FormParams::parse(q.as_bytes()).map_or(true, |p| p.all("client_secret").next().is_some())
    }) {
        return Err(
            OAuthError::invalid_request("client credentials must not be sent in the URL").into(),
        );
    }
    let body = body.map_err(|r| {
        OAuthError::invalid_request(if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            "the request body is too large"
        } else {
            "the request body could not be read"
        })
    })?;
    if media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(OAuthError::invalid_request(
            "the token request must be application/x-www-form-urlencoded",
        )
        .into());
    }
    let form = FormParams::parse(&body).map_err(|e| OAuthError::invalid_request(e.to_string()))?;
    let single = |name: &str| {
        form.single(name)
            .map_err(|e| OAuthError::invalid_request(e.to_string()))
    };
    let grant_type = single("grant_type")?
        .ok_or_else(|| OAuthError::invalid_request("grant_type is required"))?;
    if grant_type != "authorization_code" {
        return Err(OAuthError::new(
            ErrorCode::UnsupportedGrantType,
            "supported grant types: authorization_code",
        )
        .into());
    }
    let credentials = client_credentials(headers, &form).map_err(|e| Failure::Refused {
        error: e.error,
        basic: e.basic,
    })?;
    let basic = credentials.is_basic();
    let client = match client_auth::authenticate(&state.db, &credentials).await {
        Ok(c) => c,
        Err(AuthError::Refused(error)) => return Err(Failure::Refused { error, basic }),
        Err(AuthError::Store(e)) => return Err(Failure::Store(e)),
    };
    let code = single("code")?.ok_or_else(|| OAuthError::invalid_request("code is required"))?;
    let request = CodeRequest {
        code,
        redirect_uri: single("redirect_uri")?,
        code_verifier: single("code_verifier")?,
    };
    Ok(
        authorization_code::exchange(&state.db, &state.clock, &state.config, &client, request)
            .await?,
    )
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
    };
    encode(StatusCode::OK, &body, format)
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

/// RFC 6749 §5.2: 400, or 401 with a challenge for `invalid_client` when the
/// client used HTTP Basic.
fn refusal(error: &OAuthError, basic: bool, format: ResponseFormat) -> Response {
    let status = if error.code == ErrorCode::InvalidClient {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let mut response = encode(
        status,
        &ErrorBody {
            error: error.code.as_str(),
            error_description: &error.description,
        },
        format,
    );
    if error.code == ErrorCode::InvalidClient && basic {
        response.headers_mut().insert(
            WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"oauthd\", charset=\"UTF-8\""),
        );
    }
    response
}

fn encode<T: Serialize>(status: StatusCode, body: &T, format: ResponseFormat) -> Response {
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
