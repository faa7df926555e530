//! Scope parsing: no input panics; what parses is NQCHAR names without
//! duplicates and prints back to the same set.

#![no_main]

use libfuzzer_sys::fuzz_target;
use oauthd::oauth::scope::Scopes;

fuzz_target!(|raw: &str| {
    if let Ok(scopes) = Scopes::parse(raw) {
        let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        for name in &names {
            assert!(
                !name.is_empty()
                    && name
                        .bytes()
                        .all(|b| matches!(b, 0x21 | 0x23..=0x5b | 0x5d..=0x7e))
            );
        }
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "duplicates collapse");
        assert_eq!(Scopes::parse(&scopes.to_string()), Ok(scopes));
    }
});
