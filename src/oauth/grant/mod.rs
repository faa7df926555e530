//! The grants of the token endpoint, one module each.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
pub mod refresh_token;

use super::error::{ErrorCode, OAuthError};
use super::scope::Scopes;
use crate::store::clients::Client;

/// The scope a client asks for on its own behalf (client credentials, a
/// device authorization request): within its registered scopes, and all
/// of them when `scope` is omitted or empty.
pub fn client_scope(client: &Client, scope: Option<&str>) -> Result<Scopes, OAuthError> {
    match scope.map(Scopes::parse).transpose() {
        Err(e) => Err(OAuthError::new(ErrorCode::InvalidScope, e.to_string())),
        Ok(Some(s)) if !s.is_empty() => {
            if let Some(extra) = s.iter().find(|n| !client.scopes.contains(n.as_str())) {
                return Err(OAuthError::new(
                    ErrorCode::InvalidScope,
                    format!("scope `{extra}` is unknown or not allowed for this client"),
                ));
            }
            Ok(s)
        }
        Ok(_) => Ok(client.scopes.clone()),
    }
}
