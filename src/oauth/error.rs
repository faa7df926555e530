//! RFC error codes and the one error type protocol rules return.

use std::borrow::Cow;
use std::fmt;

// The one list of codes: error bodies serialize it, and the OpenAPI
// document's `ErrorCode` schema is derived from it (with the doc comment as
// its description).
/// The error codes of RFC 6749 §4.1.2.1 and §5.2, RFC 6750 §3.1, RFC 7591
/// §3.2.2, RFC 8707 §2 and RFC 8628 §3.5.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A parameter is missing, repeated, malformed or not allowed.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (code, refresh token) is invalid, expired, revoked or not this client's.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported.
    UnsupportedGrantType,
    /// The authorization endpoint does not support this response type.
    UnsupportedResponseType,
    /// The requested scope is invalid, unknown or exceeds what was granted.
    InvalidScope,
    /// The resource owner or the server denied the request.
    AccessDenied,
    /// A bearer token is missing its mark: expired, revoked or unknown (RFC 6750).
    InvalidToken,
    /// The token lacks a scope the resource needs (RFC 6750).
    InsufficientScope,
    /// A redirect URI in a registration request is not acceptable (RFC 7591).
    InvalidRedirectUri,
    /// Some other registration metadata is not acceptable (RFC 7591).
    InvalidClientMetadata,
    /// The server hit an unexpected condition.
    ServerError,
    /// The server is overloaded or its storage is unreachable; try again later.
    TemporarilyUnavailable,
    /// A `resource` is malformed, unknown, not allowed for the client, or
    /// outside what was granted (RFC 8707 §2).
    InvalidTarget,
    /// Too many requests from this client; wait before trying again
    /// (RFC 8628 §3.5, registered in the OAuth error registry).
    SlowDown,
    /// RFC 8628 §3.5: the user has not answered yet; poll again.
    AuthorizationPending,
    /// RFC 8628 §3.5: the device code expired; start again.
    ExpiredToken,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the user is not
    /// signed in (or must sign in again).
    LoginRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the user has not
    /// approved this request.
    ConsentRequired,
    /// OpenID Connect Core §3.1.2.6: `prompt=none`, and the request needs
    /// the user for some other reason.
    InteractionRequired,
}

impl ErrorCode {
    /// Every code, for checks that walk the list.
    pub const ALL: [Self; 21] = [
        Self::InvalidRequest,
        Self::InvalidClient,
        Self::InvalidGrant,
        Self::UnauthorizedClient,
        Self::UnsupportedGrantType,
        Self::UnsupportedResponseType,
        Self::InvalidScope,
        Self::AccessDenied,
        Self::InvalidToken,
        Self::InsufficientScope,
        Self::InvalidRedirectUri,
        Self::InvalidClientMetadata,
        Self::ServerError,
        Self::TemporarilyUnavailable,
        Self::InvalidTarget,
        Self::SlowDown,
        Self::AuthorizationPending,
        Self::ExpiredToken,
        Self::LoginRequired,
        Self::ConsentRequired,
        Self::InteractionRequired,
    ];

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::UnsupportedResponseType => "unsupported_response_type",
            Self::InvalidScope => "invalid_scope",
            Self::AccessDenied => "access_denied",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::ServerError => "server_error",
            Self::TemporarilyUnavailable => "temporarily_unavailable",
            Self::InvalidTarget => "invalid_target",
            Self::SlowDown => "slow_down",
            Self::AuthorizationPending => "authorization_pending",
            Self::ExpiredToken => "expired_token",
            Self::LoginRequired => "login_required",
            Self::ConsentRequired => "consent_required",
            Self::InteractionRequired => "interaction_required",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A protocol outcome: an RFC error code and a short description safe to show.
///
/// Descriptions never echo a presented secret, and keep to the characters
/// RFC 6749 §5.2 allows in `error_description` (`%x20-21 / %x23-5B / %x5D-7E`).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// Human-readable detail for the developer.
    pub description: Cow<'static, str>,
}

impl OAuthError {
    /// An error with a description; characters outside the RFC 6749 §5.2 set
    /// are replaced so the description is always safe to send.
    pub fn new(code: ErrorCode, description: impl Into<Cow<'static, str>>) -> Self {
        let description = description.into();
        let description = if description.chars().all(allowed_description_char) {
            description
        } else {
            Cow::Owned(
                description
                    .chars()
                    .map(|c| if allowed_description_char(c) { c } else { '?' })
                    .collect(),
            )
        };
        Self { code, description }
    }

    /// `invalid_request` with a description.
    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_target` with a description (RFC 8707).
    pub fn invalid_target(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidTarget, description)
    }

    /// `invalid_client_metadata` with a description.
    pub fn invalid_client_metadata(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidClientMetadata, description)
    }

    /// `invalid_redirect_uri` with a description.
    pub fn invalid_redirect_uri(description: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::InvalidRedirectUri, description)
    }
}

/// RFC 6749 §5.2: `error_description` = 1*( %x20-21 / %x23-5B / %x5D-7E ).
fn allowed_description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// What a protocol operation can fail with: a refusal the caller should see,
/// or a storage failure the HTTP layer turns into 503 or 500.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A refusal with an RFC error code.
    #[error(transparent)]
    Refused(#[from] OAuthError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_serialize_as_their_wire_names() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        }
    }

    #[test]
    fn descriptions_keep_to_the_rfc_character_set() {
        let e = OAuthError::invalid_request("bad \"value\"\n\\ é");
        assert_eq!(e.description, "bad ?value??? ?");
        let e = OAuthError::invalid_request("plain words: ok");
        assert_eq!(e.description, "plain words: ok");
    }
}
