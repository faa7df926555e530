//! A registered redirect URI, as stored and compared. The rules that decide
//! which URIs may be registered live in `oauth::redirect_uri`.

use std::fmt;

/// A redirect URI that passed the registration rules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// Wraps a URI that `oauth::redirect_uri` has just checked.
    pub(crate) fn checked(raw: String) -> Self {
        Self(raw)
    }

    /// Wraps a URI read back from storage, where it was validated on the way in.
    pub fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RedirectUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
