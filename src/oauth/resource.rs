//! Resource indicators (RFC 8707): which resource servers a token is for.
//!
//! A request names resources with `resource`, repeatable. Each must be an
//! absolute URI without a fragment. The names are kept exactly as sent (no
//! normalisation), in the order sent, duplicates dropped; the same strings
//! become the token's audience and are compared exactly later. A request
//! that names none keeps the behaviour from before resource indicators: a
//! token with no audience.

use std::fmt;

use super::error::{Error, OAuthError};
use crate::config::Config;
use crate::store::{self, Db};

/// Most resources one request may name.
pub const MAX_RESOURCES: usize = 10;
/// Longest resource URI accepted.
pub const MAX_RESOURCE_LEN: usize = 2048;

/// A set of resource URIs, in the order first named.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resources(Vec<String>);

impl Resources {
    /// The `resource` values of a request (empty values count as absent,
    /// RFC 6749 §3.1); `invalid_target` for a malformed one.
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a str>) -> Result<Self, OAuthError> {
        let mut out: Vec<String> = Vec::new();
        for value in values.into_iter().filter(|v| !v.is_empty()) {
            check_uri(value)?;
            if !out.iter().any(|r| r == value) {
                out.push(value.to_owned());
            }
            if out.len() > MAX_RESOURCES {
                return Err(OAuthError::invalid_target(format!(
                    "at most {MAX_RESOURCES} resources may be named"
                )));
            }
        }
        Ok(Self(out))
    }

    /// What a column holds (`None`: no resource).
    pub fn from_stored(stored: Option<&str>) -> Self {
        Self(
            stored
                .unwrap_or_default()
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
        )
    }

    /// The column's value: space-delimited, `None` when empty.
    pub fn to_stored(&self) -> Option<String> {
        (!self.0.is_empty()).then(|| self.0.join(" "))
    }

    /// True when no resource is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The URIs.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// True when `uri` is one of them.
    pub fn contains(&self, uri: &str) -> bool {
        self.0.iter().any(|r| r == uri)
    }

    /// These and `other`'s not yet here.
    pub fn union(&self, other: &Self) -> Self {
        let mut out = self.0.clone();
        for r in &other.0 {
            if !out.contains(r) {
                out.push(r.clone());
            }
        }
        Self(out)
    }

    /// True when every one of these is in `other`.
    pub fn is_subset_of(&self, other: &Self) -> bool {
        self.0.iter().all(|r| other.contains(r))
    }

    /// The audience of a token asked for with `requested` from a grant for
    /// these (RFC 8707 §2.2): all of them when nothing is requested, else the
    /// requested ones, which must all be granted.
    pub fn narrow(&self, requested: &Self) -> Result<Self, OAuthError> {
        if requested.is_empty() {
            return Ok(self.clone());
        }
        if let Some(extra) = requested.iter().find(|r| !self.contains(r)) {
            return Err(OAuthError::invalid_target(format!(
                "resource {extra} was not part of the grant"
            )));
        }
        Ok(requested.clone())
    }
}

impl fmt::Display for Resources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(" "))
    }
}

/// RFC 8707 §2: an absolute URI (RFC 3986 §4.3), no fragment. Spaces,
/// controls and non-ASCII are refused too, so a list of them stores as
/// space-delimited text and every value is safe to show.
fn check_uri(value: &str) -> Result<(), OAuthError> {
    if value.len() > MAX_RESOURCE_LEN {
        return Err(OAuthError::invalid_target(format!(
            "a resource may be at most {MAX_RESOURCE_LEN} bytes"
        )));
    }
    if !value.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OAuthError::invalid_target(
            "a resource must be an absolute URI (no spaces, controls or non-ASCII characters)",
        ));
    }
    if value.contains('#') {
        return Err(OAuthError::invalid_target(
            "a resource must not hold a fragment",
        ));
    }
    let scheme_ok = value.split_once(':').is_some_and(|(scheme, _)| {
        scheme
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
    });
    if !scheme_ok || url::Url::parse(value).is_err() {
        return Err(OAuthError::invalid_target(
            "a resource must be an absolute URI",
        ));
    }
    Ok(())
}

/// May `client_id` ask for `resources`? With `resource_indicators.registered_only`
/// each must be registered, and a client with an allow-list may name only
/// those. `invalid_target` otherwise.
pub async fn check_allowed(
    db: &Db,
    config: &Config,
    client_id: &str,
    resources: &Resources,
) -> Result<(), Error> {
    if resources.is_empty() {
        return Ok(());
    }
    if config.resource_indicators.registered_only {
        for r in resources.iter() {
            if store::resources::find(db, r).await?.is_none() {
                return Err(OAuthError::invalid_target(format!(
                    "resource {r} is not registered with this server"
                ))
                .into());
            }
        }
    }
    let allowed = store::resources::allowed_for(db, client_id).await?;
    if !allowed.is_empty()
        && let Some(r) = resources.iter().find(|r| !allowed.iter().any(|a| a == r))
    {
        return Err(OAuthError::invalid_target(format!(
            "resource {r} is not allowed for this client"
        ))
        .into());
    }
    Ok(())
}

/// How the consent page names each resource: its registered name, or its URI.
pub async fn display_names(db: &Db, resources: &Resources) -> Result<Vec<String>, store::Error> {
    let mut out = Vec::new();
    for r in resources.iter() {
        out.push(match store::resources::find(db, r).await? {
            Some(found) => found.name,
            None => r.to_owned(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_absolute_uris_without_fragments() {
        for ok in [
            "https://mcp.example/mcp",
            "https://mcp.example",
            "http://127.0.0.1:3000/",
            "urn:example:resource",
        ] {
            assert!(Resources::parse([ok]).is_ok(), "{ok}");
        }
        for bad in [
            "/relative",
            "mcp.example/mcp",
            "https://mcp.example/mcp#frag",
            "https://mcp.example/a b",
            "https://mcp.example/caf\u{e9}",
            "1http://x",
            "https://",
        ] {
            let e = Resources::parse([bad]).unwrap_err();
            assert_eq!(e.code.as_str(), "invalid_target", "{bad}");
        }
    }

    #[test]
    fn duplicates_collapse_and_empty_values_count_as_absent() {
        let r = Resources::parse(["https://a.example", "", "https://a.example"]).unwrap();
        assert_eq!(r.to_stored().as_deref(), Some("https://a.example"));
        assert!(Resources::parse([""]).unwrap().is_empty());
        assert_eq!(Resources::from_stored(None), Resources::default());
    }

    #[test]
    fn narrowing_takes_a_subset_or_everything() {
        let granted = Resources::parse(["https://a.example", "https://b.example"]).unwrap();
        let none = Resources::default();
        assert_eq!(granted.narrow(&none).unwrap(), granted);
        let a = Resources::parse(["https://a.example"]).unwrap();
        assert_eq!(granted.narrow(&a).unwrap(), a);
        let c = Resources::parse(["https://c.example"]).unwrap();
        assert_eq!(
            granted.narrow(&c).unwrap_err().code.as_str(),
            "invalid_target"
        );
        assert!(none.narrow(&a).is_err());
    }
}
