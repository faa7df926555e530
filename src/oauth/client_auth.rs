//! Client authentication at the token endpoint (RFC 6749 §2.3, §3.2.1).

use super::error::{ErrorCode, OAuthError};
use crate::crypto;
use std::sync::Arc;

use crate::store::client_cache::ClientCache;
use crate::store::clients::Client;
use crate::store::{self, Db};

/// How the client presented itself.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: `client_secret_basic`.
    Basic {
        /// The client id.
        id: String,
        /// The secret.
        secret: String,
    },
    /// `client_id` and `client_secret` in the body: `client_secret_post`.
    Post {
        /// The client id.
        id: String,
        /// The secret.
        secret: String,
    },
    /// `client_id` alone: a public client.
    IdOnly {
        /// The client id.
        id: String,
    },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { id, .. } => write!(f, "Basic({id}, ..)"),
            Self::Post { id, .. } => write!(f, "Post({id}, ..)"),
            Self::IdOnly { id } => write!(f, "IdOnly({id})"),
        }
    }
}

impl Credentials {
    /// The client id the caller claims.
    pub fn client_id(&self) -> &str {
        match self {
            Self::Basic { id, .. } | Self::Post { id, .. } | Self::IdOnly { id } => id,
        }
    }

    /// True when the client used HTTP Basic (the 401 then carries a challenge).
    pub fn is_basic(&self) -> bool {
        matches!(self, Self::Basic { .. })
    }
}

/// The one refusal for every authentication failure: an unknown client and a
/// wrong secret must look the same.
pub fn failed() -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClient, "client authentication failed")
}

/// Finds the client and checks its secret, and that it came the way the
/// client registered (RFC 7591 §2 `token_endpoint_auth_method`): a
/// `client_secret_basic` client must use HTTP Basic, a `client_secret_post`
/// client the body, and a client that named no method either; a public client
/// (`none`) sends its id alone, and a confidential one never does.
///
/// Every refusal is the same [`failed`]: a client that used the wrong way
/// learns no more than one that sent a wrong secret.
pub async fn authenticate(
    db: &Db,
    cache: &ClientCache,
    credentials: &Credentials,
) -> Result<Arc<Client>, AuthError> {
    let (id, secret) = match credentials {
        Credentials::Basic { id, secret } | Credentials::Post { id, secret } => {
            (id, Some(secret.as_str()))
        }
        Credentials::IdOnly { id } => (id, None),
    };
    let Some(client) = cache.find(db, id).await? else {
        return Err(AuthError::Refused(failed()));
    };
    let secret_ok = match (&client.secret_hash, secret) {
        (Some(stored), Some(given)) => crypto::constant_time_eq(stored, &crypto::sha256_hex(given)),
        (None, None) => true,
        _ => false,
    };
    if !secret_ok {
        tracing::info!(client.id = %client.id, "client authentication failed");
        return Err(AuthError::Refused(failed()));
    }
    let way_ok = match credentials {
        Credentials::IdOnly { .. } => client.is_public(),
        _ => client
            .secret_methods
            .allow(client.auth_method, credentials.is_basic()),
    };
    if !way_ok {
        tracing::info!(
            client.id = %client.id,
            client.auth_method = client.auth_method.as_str(),
            "client authentication failed: the secret was sent another way than the client registered"
        );
        return Err(AuthError::Refused(failed()));
    }
    Ok(client)
}

/// Why authentication did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// `invalid_client`.
    #[error(transparent)]
    Refused(OAuthError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] store::Error),
}
