//! Scope syntax (RFC 6749 §3.3) and the checks against the catalogue.

use std::collections::BTreeMap;
use std::fmt;

/// Longest scope name accepted.
const MAX_NAME_LEN: usize = 128;
/// Most scope names in one request.
const MAX_SCOPES: usize = 64;

/// Why a scope string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// A name holds a character outside RFC 6749's NQCHAR set.
    #[error("scope names may only hold printable ASCII other than space, \" and \\")]
    BadCharacter,
    /// A name is longer than the cap.
    #[error("a scope name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    /// Too many names.
    #[error("more than {MAX_SCOPES} scopes requested")]
    TooMany,
    /// A name is not in the catalogue.
    #[error("unknown scope `{0}`")]
    Unknown(String),
}

/// One scope name: 1*NQCHAR (RFC 6749 §3.3).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ScopeName(String);

impl ScopeName {
    /// Checks the syntax of one scope name.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        if raw.is_empty() || !raw.bytes().all(is_nqchar) {
            return Err(ScopeError::BadCharacter);
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(ScopeError::TooLong);
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ScopeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for ScopeName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// NQCHAR = %x21 / %x23-5B / %x5D-7E
fn is_nqchar(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e)
}

/// A set of scope names in first-seen order, duplicates collapsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scopes(Vec<ScopeName>);

impl Scopes {
    /// Parses a space-delimited scope string. Runs of spaces are tolerated;
    /// repeated names collapse into one. Work is linear in the input length.
    pub fn parse(raw: &str) -> Result<Self, ScopeError> {
        let mut names: Vec<ScopeName> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for part in raw.split(' ').filter(|p| !p.is_empty()) {
            if seen.len() >= MAX_SCOPES {
                return Err(ScopeError::TooMany);
            }
            let name = ScopeName::parse(part)?;
            if seen.insert(name.clone()) {
                names.push(name);
            }
        }
        Ok(Self(names))
    }

    /// True when no scope is named.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The names in order.
    pub fn iter(&self) -> impl Iterator<Item = &ScopeName> {
        self.0.iter()
    }

    /// True when `name` is one of these scopes.
    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|s| s.as_str() == name)
    }

    /// Fails with the first name that the catalogue does not hold.
    pub fn check_known<V>(&self, catalogue: &BTreeMap<ScopeName, V>) -> Result<(), ScopeError> {
        match self.0.iter().find(|s| !catalogue.contains_key(s.as_str())) {
            Some(unknown) => Err(ScopeError::Unknown(unknown.0.clone())),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, s) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(s.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_collapses_duplicates_in_order() {
        let s = Scopes::parse("b  a b").unwrap();
        assert_eq!(s.to_string(), "b a");
        assert!(Scopes::parse("").unwrap().is_empty());
        assert!(Scopes::parse("   ").unwrap().is_empty());
    }

    #[test]
    fn refuses_characters_outside_nqchar() {
        for bad in ["a\"b", "a\\b", "a\tb", "caf\u{e9}", "a\0", "a\u{7f}"] {
            assert_eq!(
                Scopes::parse(bad),
                Err(ScopeError::BadCharacter),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn caps_length_and_count() {
        assert_eq!(Scopes::parse(&"a".repeat(129)), Err(ScopeError::TooLong));
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert_eq!(Scopes::parse(&many.join(" ")), Err(ScopeError::TooMany));
        let dupes = vec!["same"; 10_000].join(" ");
        assert_eq!(Scopes::parse(&dupes).unwrap().to_string(), "same");
    }

    #[test]
    fn names_unknown_scopes() {
        let mut catalogue = BTreeMap::new();
        catalogue.insert(ScopeName::parse("a").unwrap(), ());
        assert!(Scopes::parse("a").unwrap().check_known(&catalogue).is_ok());
        assert_eq!(
            Scopes::parse("a b").unwrap().check_known(&catalogue),
            Err(ScopeError::Unknown("b".into()))
        );
    }
}
