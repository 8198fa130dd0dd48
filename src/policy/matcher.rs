//! Istio's string match: `abc` exact, `abc*` prefix, `*abc` suffix, `*` presence.
//!
//! Only a leading or a trailing `*` is special (pilot/pkg/security/authz/matcher/string.go).
//! Values with a `*` anywhere else are refused at configuration time by [`StringMatch::parse`],
//! because Istio would compare them literally, which silently narrows a DENY rule.

use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StringMatch {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Presence,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchError {
    Empty,
    InnerWildcard,
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchError::Empty => f.write_str("empty value not allowed"),
            MatchError::InnerWildcard => f.write_str(
                "'*' is only allowed as the whole value, its first or its last character",
            ),
        }
    }
}

impl StringMatch {
    /// Parses one policy value. `fold_case` lowercases it for case-insensitive fields (hosts).
    pub fn parse(value: &str, fold_case: bool) -> Result<Self, MatchError> {
        if value.is_empty() {
            return Err(MatchError::Empty);
        }
        if value == "*" {
            return Ok(StringMatch::Presence);
        }
        let v = if fold_case {
            value.to_ascii_lowercase()
        } else {
            value.to_string()
        };
        let (matcher, rest) = if let Some(rest) = v.strip_prefix('*') {
            (StringMatch::Suffix(rest.to_string()), rest)
        } else if let Some(rest) = v.strip_suffix('*') {
            (StringMatch::Prefix(rest.to_string()), rest)
        } else {
            (StringMatch::Exact(v.clone()), v.as_str())
        };
        if rest.contains('*') {
            return Err(MatchError::InnerWildcard);
        }
        Ok(matcher)
    }

    /// Matches `s`; for case-insensitive fields the caller passes `s` already lowercased.
    pub fn matches(&self, s: &str) -> bool {
        self.matches_bytes(s.as_bytes())
    }

    /// Byte-wise, as Envoy compares header values (which need not be UTF-8).
    /// `*` becomes the regex `.+` in istiod, so it needs a non-empty value; header presence
    /// (where an empty value counts) is decided by the caller, which knows the header exists.
    pub fn matches_bytes(&self, s: &[u8]) -> bool {
        match self {
            StringMatch::Exact(v) => s == v.as_bytes(),
            StringMatch::Prefix(v) => s.starts_with(v.as_bytes()),
            StringMatch::Suffix(v) => s.ends_with(v.as_bytes()),
            StringMatch::Presence => !s.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(v: &str) -> StringMatch {
        StringMatch::parse(v, false).unwrap()
    }

    #[test]
    fn forms() {
        assert!(m("abc").matches("abc"));
        assert!(!m("abc").matches("abcd"));
        assert!(!m("abc").matches("ABC"));
        assert!(m("abc*").matches("abcd"));
        assert!(m("abc*").matches("abc"));
        assert!(!m("abc*").matches("xabc"));
        assert!(m("*abc").matches("xabc"));
        assert!(m("*abc").matches("abc"));
        assert!(!m("*abc").matches("abcx"));
        assert!(!m("*").matches(""));
        assert!(m("*").matches("anything"));
        assert!(m("ab*").matches_bytes(b"ab\xff"));
        assert!(!m("ab").matches_bytes(b"ab\xff"));
    }

    #[test]
    fn case_folding_is_for_the_caller_to_choose() {
        let host = StringMatch::parse("API.Example.com", true).unwrap();
        assert!(host.matches("api.example.com"));
        assert!(!m("API").matches("api"));
        let suffix = StringMatch::parse("*.Example.COM", true).unwrap();
        assert!(suffix.matches("www.example.com"));
    }

    #[test]
    fn refuses_empty_and_inner_wildcards() {
        assert_eq!(StringMatch::parse("", false), Err(MatchError::Empty));
        assert_eq!(
            StringMatch::parse("a*b", false),
            Err(MatchError::InnerWildcard)
        );
        assert_eq!(
            StringMatch::parse("*a*", false),
            Err(MatchError::InnerWildcard)
        );
        assert_eq!(
            StringMatch::parse("**", false),
            Err(MatchError::InnerWildcard)
        );
        assert_eq!(
            StringMatch::parse("/api/*/x", false),
            Err(MatchError::InnerWildcard)
        );
    }
}
