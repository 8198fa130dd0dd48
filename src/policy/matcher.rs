//! Istio's string match: `abc` exact, `abc*` prefix, `*abc` suffix, `*` presence.
//!
//! Only a leading or a trailing `*` is special (pilot/pkg/security/authz/matcher/string.go): a
//! leading one is looked at first, and any other `*` is an ordinary character, compared
//! literally, exactly as istiod hands it to Envoy (`a*b` matches only `a*b`, `*a*` is the
//! suffix `a*`). Istio's webhook accepts such values, so meshguard does too; `meshguard lint`
//! points them out, as they are rarely what the author meant.

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
}

impl fmt::Display for MatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MatchError::Empty => f.write_str("empty value not allowed"),
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
        Ok(if let Some(rest) = v.strip_prefix('*') {
            StringMatch::Suffix(rest.to_string())
        } else if let Some(rest) = v.strip_suffix('*') {
            StringMatch::Prefix(rest.to_string())
        } else {
            StringMatch::Exact(v)
        })
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
    fn refuses_empty_and_compares_inner_wildcards_literally() {
        assert_eq!(StringMatch::parse("", false), Err(MatchError::Empty));
        assert_eq!(m("a*b"), StringMatch::Exact("a*b".into()));
        assert!(m("a*b").matches("a*b") && !m("a*b").matches("axb"));
        assert_eq!(m("*a*"), StringMatch::Suffix("a*".into()));
        assert_eq!(m("**"), StringMatch::Suffix("*".into()));
        assert_eq!(m("/api/*/x"), StringMatch::Exact("/api/*/x".into()));
        assert_eq!(m("a**"), StringMatch::Prefix("a*".into()));
    }
}
