//! Request parsing with RFC-shaped failures.
//!
//! `application/x-www-form-urlencoded` bodies are decoded strictly here rather
//! than with a lenient decoder: a malformed escape, invalid UTF-8 or a control
//! character is refused instead of being silently replaced, and a repeated
//! parameter is visible so the endpoint can answer `invalid_request`
//! (RFC 6749 §3.1) instead of letting the first or last value win.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, Uri};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use super::error::HttpError;
use crate::oauth::authorize::{AuthorizeParams, Param};
use crate::oauth::client_auth::Credentials;
use crate::oauth::{ErrorCode, OAuthError};

/// Most parameters one form may carry.
pub const MAX_PARAMS: usize = 64;

/// Longest decoded value, in bytes, any one parameter may carry. Each field
/// has its own tighter rule where it is validated (state, redirect URIs,
/// scopes); this bounds what the parser holds before those rules run.
pub const MAX_VALUE_LEN: usize = 4096;

/// Why a form body was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    #[error("the form body holds a malformed percent-escape")]
    BadEscape,
    /// The decoded bytes are not UTF-8.
    #[error("the form body is not valid UTF-8")]
    NotUtf8,
    /// A control character (other than tab, CR and LF) or NUL.
    #[error("parameter `{0}` holds a control character")]
    ControlCharacter(String),
    /// More than [`MAX_PARAMS`] parameters.
    #[error("the form body holds too many parameters")]
    TooMany,
    /// A value longer than [`MAX_VALUE_LEN`].
    #[error("parameter `{0}` is too long")]
    TooLong(String),
    /// A parameter given more than once where one is allowed.
    #[error("parameter `{0}` is given more than once")]
    Duplicate(String),
}

/// Decoded form parameters in request order. Parameters with an empty value
/// are dropped: RFC 6749 §3.1 treats them as omitted.
#[derive(Debug, Default)]
pub struct FormParams(Vec<(String, String)>);

impl FormParams {
    /// Decodes an `application/x-www-form-urlencoded` body or query string.
    pub fn parse(raw: &[u8]) -> Result<Self, FormError> {
        let mut params = Vec::new();
        for pair in raw.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (key, value) = match pair.iter().position(|b| *b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            let key = decode(key)?;
            let value = decode(value)?;
            if key.is_empty() || value.is_empty() {
                continue;
            }
            if value.chars().chain(key.chars()).any(is_forbidden_control) {
                return Err(FormError::ControlCharacter(printable_key(&key)));
            }
            if params.len() == MAX_PARAMS {
                return Err(FormError::TooMany);
            }
            if value.len() > MAX_VALUE_LEN || key.len() > MAX_VALUE_LEN {
                return Err(FormError::TooLong(printable_key(&key)));
            }
            params.push((key, value));
        }
        Ok(Self(params))
    }

    /// The value of a parameter that may appear at most once.
    pub fn single(&self, key: &str) -> Result<Option<&str>, FormError> {
        let mut found = self
            .0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str());
        let first = found.next();
        if found.next().is_some() {
            return Err(FormError::Duplicate(key.to_owned()));
        }
        Ok(first)
    }

    /// Every value of a parameter, in order.
    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Tab, LF and CR may appear (lists of URIs are newline-separated); every
/// other C0 control, DEL, and NUL may not: Postgres refuses NUL in text, and
/// SQLite would store it, so refusing it here keeps both backends alike.
fn is_forbidden_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// A key safe to quote in an error message.
fn printable_key(key: &str) -> String {
    key.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(40)
        .collect()
}

impl FormParams {
    /// One parameter as the protocol layer sees it: absent, once, or repeated.
    pub fn param(&self, key: &str) -> Param {
        let mut found = self.all(key);
        match (found.next(), found.next()) {
            (None, _) => Param::Absent,
            (Some(v), None) => Param::One(v.to_owned()),
            (Some(_), Some(_)) => Param::Repeated,
        }
    }

    /// The parameters of an authorization request.
    pub fn authorize_params(&self) -> AuthorizeParams {
        AuthorizeParams {
            client_id: self.param("client_id"),
            redirect_uri: self.param("redirect_uri"),
            response_type: self.param("response_type"),
            scope: self.param("scope"),
            state: self.param("state"),
            code_challenge: self.param("code_challenge"),
            code_challenge_method: self.param("code_challenge_method"),
            prompt: self.param("prompt"),
            nonce: self.param("nonce"),
            max_age: self.param("max_age"),
            login_hint: self.param("login_hint"),
            id_token_hint: self.param("id_token_hint"),
            resource: self.all("resource").map(str::to_owned).collect(),
        }
    }
}

/// Strict `application/x-www-form-urlencoded` decoding of one name or value.
fn decode(raw: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = raw.get(i + 1).and_then(|b| hex(*b));
                let lo = raw.get(i + 2).and_then(|b| hex(*b));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(FormError::BadEscape),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// The media type of the request body, lower-cased, without parameters.
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = raw.split(';').next().unwrap_or("").trim();
    Some(essence.to_ascii_lowercase())
}

/// The buffered body, or a JSON 413/400 error in the RFC shape `make` builds.
pub fn body_or_error(
    body: Result<Bytes, BytesRejection>,
    make: fn(String) -> OAuthError,
) -> Result<Bytes, HttpError> {
    body.map_err(|rejection| {
        let status = rejection.status();
        let (status, text) = if status == StatusCode::PAYLOAD_TOO_LARGE {
            (status, "the request body is too large")
        } else {
            (
                StatusCode::BAD_REQUEST,
                "the request body could not be read",
            )
        };
        HttpError::Api {
            status,
            error: make(text.to_owned()),
            www_authenticate: None,
        }
    })
}

/// How a request presented a bearer token in its `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub enum BearerHeader<'a> {
    /// No `Authorization` header.
    Absent,
    /// `Authorization: Bearer <token>` (scheme case-insensitive).
    Token(&'a str),
    /// Some other scheme, several headers, or a malformed value.
    Malformed,
}

/// Reads the RFC 6750 §2.1 `Authorization: Bearer` header.
pub fn bearer_header(headers: &HeaderMap) -> BearerHeader<'_> {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return BearerHeader::Absent;
    };
    if values.next().is_some() {
        return BearerHeader::Malformed;
    }
    let Ok(value) = value.to_str() else {
        return BearerHeader::Malformed;
    };
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer")
                && !token.is_empty()
                && token.bytes().all(is_b64token_char) =>
        {
            BearerHeader::Token(token)
        }
        _ => BearerHeader::Malformed,
    }
}

/// A client-authentication failure, and whether the client tried HTTP Basic
/// (RFC 6749 §5.2: then the 401 carries a `WWW-Authenticate` challenge).
#[derive(Debug)]
pub struct CredentialsError {
    /// The RFC error.
    pub error: OAuthError,
    /// The request carried an `Authorization` header.
    pub basic: bool,
}

/// Reads client credentials from HTTP Basic or the body (RFC 6749 §2.3.1).
/// Basic values are form-urlencoded before base64 and decoded strictly here.
/// Using both methods at once is `invalid_request` (OAuth 2.1 §2.4).
pub fn client_credentials(
    headers: &HeaderMap,
    params: &FormParams,
) -> Result<Credentials, CredentialsError> {
    let invalid_request = |d: &'static str, basic: bool| CredentialsError {
        error: OAuthError::invalid_request(d),
        basic,
    };
    let duplicate = |e: FormError, basic: bool| CredentialsError {
        error: OAuthError::invalid_request(e.to_string()),
        basic,
    };
    let mut auth = headers.get_all(AUTHORIZATION).iter();
    let header = auth.next();
    if auth.next().is_some() {
        return Err(invalid_request("send one Authorization header", true));
    }
    let body_id = params
        .single("client_id")
        .map_err(|e| duplicate(e, header.is_some()))?;
    let body_secret = params
        .single("client_secret")
        .map_err(|e| duplicate(e, header.is_some()))?;
    if let Some(value) = header {
        let Some((id, secret)) = value.to_str().ok().and_then(parse_basic) else {
            return Err(CredentialsError {
                error: crate::oauth::client_auth::failed(),
                basic: true,
            });
        };
        if body_secret.is_some() {
            return Err(invalid_request(
                "use one client authentication method, not HTTP Basic and client_secret together",
                true,
            ));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(invalid_request(
                "client_id differs from the HTTP Basic user",
                true,
            ));
        }
        return Ok(Credentials::Basic { id, secret });
    }
    let Some(id) = body_id else {
        return Err(CredentialsError {
            error: OAuthError::new(
                ErrorCode::InvalidClient,
                "client authentication is required",
            ),
            basic: false,
        });
    };
    Ok(match body_secret {
        Some(secret) => Credentials::Post {
            id: id.to_owned(),
            secret: secret.to_owned(),
        },
        None => Credentials::IdOnly { id: id.to_owned() },
    })
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = STANDARD.decode(encoded.trim()).ok()?;
    let colon = raw.iter().position(|b| *b == b':')?;
    let id = decode(&raw[..colon]).ok()?;
    let secret = decode(&raw[colon + 1..]).ok()?;
    if id.is_empty() || id.chars().chain(secret.chars()).any(is_forbidden_control) {
        return None;
    }
    Some((id, secret))
}

/// The value of one cookie in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// One path segment that names a row (a client id, a token id): decoded
/// UTF-8 without control characters, or the 404 page a wrong id gets anyway.
/// axum's own `Path` rejection is plain text, and a NUL would reach the
/// database, where Postgres refuses it in text and SQLite looks it up; this
/// keeps both backends' answers alike.
#[derive(Debug)]
pub struct PathId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathId {
    type Rejection = HttpError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, HttpError> {
        let not_found = || HttpError::Page {
            status: StatusCode::NOT_FOUND,
            title: "Not found",
            message: "There is nothing here, or it is not yours.".into(),
        };
        let Path(id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| not_found())?;
        if id.chars().any(char::is_control) {
            return Err(not_found());
        }
        Ok(Self(id))
    }
}

/// RFC 6750 §2.1 b64token characters.
fn is_b64token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/' | b'=')
}

/// The token from exactly one of header, form body and query; `Err` when
/// several are used at once or the header is malformed (RFC 6750 §3.1).
pub fn presented_token(
    method: &Method,
    headers: &HeaderMap,
    uri: &Uri,
    body: &[u8],
) -> Result<Option<String>, &'static str> {
    let mut found: Vec<String> = Vec::new();
    match bearer_header(headers) {
        BearerHeader::Absent => {}
        BearerHeader::Token(t) => found.push(t.to_owned()),
        BearerHeader::Malformed => {
            return Err("the Authorization header is not a valid Bearer credential");
        }
    }
    if let Some(q) = uri.query() {
        let params =
            FormParams::parse(q.as_bytes()).map_err(|_| "the query string is malformed")?;
        let mut values = params.all("access_token");
        if let Some(v) = values.next() {
            found.push(v.to_owned());
        }
        if values.next().is_some() {
            return Err("access_token is given more than once");
        }
    }
    if method == Method::POST
        && media_type(headers).as_deref() == Some("application/x-www-form-urlencoded")
    {
        let params = FormParams::parse(body).map_err(|_| "the form body is malformed")?;
        let mut values = params.all("access_token");
        if let Some(v) = values.next() {
            found.push(v.to_owned());
        }
        if values.next().is_some() {
            return Err("access_token is given more than once");
        }
    }
    if found.len() > 1 {
        return Err("use one way to send the access token");
    }
    Ok(found.pop())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_forms_strictly() {
        let p = FormParams::parse(b"a=1+2&b=%41%62&&=x&c&d=").unwrap();
        assert_eq!(p.single("a").unwrap(), Some("1 2"));
        assert_eq!(p.single("b").unwrap(), Some("Ab"));
        assert_eq!(p.single("c").unwrap(), None, "no value means omitted");
        assert_eq!(p.single("d").unwrap(), None, "empty value means omitted");
        assert_eq!(
            FormParams::parse(b"a=%ZZ").unwrap_err(),
            FormError::BadEscape
        );
        assert_eq!(FormParams::parse(b"a=%").unwrap_err(), FormError::BadEscape);
        assert_eq!(
            FormParams::parse(b"a=%E2%82").unwrap_err(),
            FormError::NotUtf8
        );
        assert_eq!(FormParams::parse(b"a=%FF").unwrap_err(), FormError::NotUtf8);
        assert!(matches!(
            FormParams::parse(b"a=x%00y").unwrap_err(),
            FormError::ControlCharacter(_)
        ));
        assert!(FormParams::parse(b"a=line1%0Aline2").is_ok());
    }

    #[test]
    fn repeated_parameters_are_visible() {
        let p = FormParams::parse(b"a=1&a=2&b=3").unwrap();
        assert_eq!(p.single("a").unwrap_err(), FormError::Duplicate("a".into()));
        assert_eq!(p.all("a").collect::<Vec<_>>(), ["1", "2"]);
    }

    #[test]
    fn caps_the_parameter_count() {
        let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("k{i}=v")).collect();
        assert_eq!(
            FormParams::parse(many.join("&").as_bytes()).unwrap_err(),
            FormError::TooMany
        );
    }

    #[test]
    fn caps_the_length_of_one_value() {
        let at_cap = format!("state={}", "s".repeat(MAX_VALUE_LEN));
        assert!(FormParams::parse(at_cap.as_bytes()).is_ok());
        let over = format!("state={}", "s".repeat(MAX_VALUE_LEN + 1));
        assert_eq!(
            FormParams::parse(over.as_bytes()).unwrap_err(),
            FormError::TooLong("state".into())
        );
    }

    #[test]
    fn reads_basic_credentials_form_urlencoded() {
        let encode = |s: &str| STANDARD.encode(s);
        assert_eq!(
            parse_basic(&format!("Basic {}", encode("my%3Aid:s%2Bcr%25t+x"))),
            Some(("my:id".into(), "s+cr%t x".into()))
        );
        assert_eq!(
            parse_basic(&format!("basic {}", encode("id:"))),
            Some(("id".into(), String::new()))
        );
        for bad in [
            "Basic !!!".to_owned(),
            format!("Basic {}", encode("no-colon")),
            format!("Basic {}", encode(":secret")),
            format!("Bearer {}", encode("id:secret")),
            format!("Basic {}", STANDARD.encode([0xff, b':', b'x'])),
            format!("Basic {}", encode("id:%ZZ")),
            "Basic".to_owned(),
        ] {
            assert_eq!(parse_basic(&bad), None, "{bad}");
        }
    }

    #[test]
    fn reads_bearer_headers() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer_header(&h), BearerHeader::Absent);
        h.insert(AUTHORIZATION, "bearer abc.DEF-123".parse().unwrap());
        assert_eq!(bearer_header(&h), BearerHeader::Token("abc.DEF-123"));
        for bad in [
            "Basic abc",
            "Bearer",
            "Bearer ",
            "Bearer a b",
            "Bearer a\tb",
        ] {
            h.insert(AUTHORIZATION, bad.parse().unwrap());
            assert_eq!(bearer_header(&h), BearerHeader::Malformed, "{bad:?}");
        }
    }
}
