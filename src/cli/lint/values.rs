//! Policy values that cannot do what they say: paths Envoy's normalization never leaves in a
//! request, hosts without their port form, the issuer a request principal names.

use crate::policy::matcher::StringMatch;

/// Why a `paths`/`notPaths` value never matches a request path as Envoy hands it over (normalized
/// with Istio's default, BASE: RFC 3986 normalization, unreserved characters decoded, `//`
/// kept), or `None`.
pub fn path_problem(value: &str) -> Option<String> {
    if value == "*" {
        return None;
    }
    // `abc*` compares a prefix and `*abc` a suffix: that end may continue into anything.
    let (core, open_end, open_start) = match (value.strip_suffix('*'), value.strip_prefix('*')) {
        (Some(prefix), _) => (prefix, true, false),
        (None, Some(suffix)) => (suffix, false, true),
        (None, None) => (value, false, false),
    };
    if !open_start && !core.starts_with('/') {
        return Some("request paths start with `/`".into());
    }
    if core.contains('?') {
        return Some("`?` starts the query string, and paths are compared without it".into());
    }
    if core.contains('#') {
        return Some("clients never send the `#fragment`".into());
    }
    let segments: Vec<&str> = core.split('/').collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        // A segment cut by the open end may go on (`/a/.*` matches `/a/.well-known`).
        if (open_end && i == last) || (open_start && i == 0) {
            continue;
        }
        if matches!(*segment, "." | "..") {
            return Some(format!(
                "Envoy's path normalization resolves `{segment}` segments before the match"
            ));
        }
    }
    encoded_unreserved(core).map(|(escape, c)| {
        format!(
            "Envoy's path normalization decodes `{escape}` to `{c}` before the match; write `{c}`"
        )
    })
}

/// The first `%XX` escape of an unreserved character (RFC 3986: letters, digits, `-._~`).
fn encoded_unreserved(s: &str) -> Option<(String, char)> {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().find_map(|(i, b)| {
        if *b != b'%' {
            return None;
        }
        let hex = bytes.get(i + 1..i + 3)?;
        let text = std::str::from_utf8(hex).ok()?;
        let c = char::from(u8::from_str_radix(text, 16).ok()?);
        (c.is_ascii_alphanumeric() || "-._~".contains(c)).then(|| (format!("%{text}"), c))
    })
}

/// A host value matched against the whole `:authority`, which carries the port when it is not
/// the scheme's default, and the list lacks `<host>:*` beside it (Istio's advice).
pub fn host_without_port(value: &str, list: &[String]) -> bool {
    // `*`, prefixes (`api.*`) and values with a port already cover it; `*.example.com:*` is an
    // inner wildcard, refused, so suffix hosts have no `:*` form to suggest.
    if value.starts_with('*') || value.ends_with('*') || value.contains(':') {
        return false;
    }
    let with_port = format!("{value}:*");
    !list.iter().any(|h| h.eq_ignore_ascii_case(&with_port))
}

/// The issuer part of a `requestPrincipals` value (`<iss>/<sub>`, split at the last `/`, as
/// the engine splits it), as a match on the issuer; `None` when any issuer fits.
pub fn issuer_pattern(value: &str) -> Option<StringMatch> {
    if value == "*" {
        return None;
    }
    match value.rfind('/') {
        Some(at) => {
            let issuer = value.get(..at).unwrap_or("");
            match issuer.strip_prefix('*') {
                _ if issuer == "*" => None,
                Some(suffix) => Some(StringMatch::Suffix(suffix.to_string())),
                None => Some(StringMatch::Exact(issuer.to_string())),
            }
        }
        None if value.starts_with('*') => None,
        None => match value.strip_suffix('*') {
            Some(prefix) => Some(StringMatch::Prefix(prefix.to_string())),
            None => Some(StringMatch::Exact(value.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        for ok in [
            "/api/v1/*",
            "/healthz",
            "*",
            "*.json",
            "/a//b",
            "/a/.*",
            "/{*}/x",
            "/a%2Fb",
        ] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("/a/../admin", "`..`"),
            ("/a/./b", "`.`"),
            ("/admin/.", "`.`"),
            ("/search?q=x", "query"),
            ("/a#frag", "fragment"),
            ("/%61dmin", "`%61` to `a`"),
            ("/a%2eb", "`%2e` to `.`"),
            ("api/v1", "start with `/`"),
        ] {
            let got = path_problem(bad).unwrap_or_default();
            assert!(got.contains(why), "{bad}: {got}");
        }
    }

    #[test]
    fn hosts() {
        let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(host_without_port(
            "api.example.com",
            &list(&["api.example.com"])
        ));
        assert!(!host_without_port(
            "api.example.com",
            &list(&["api.example.com", "API.example.com:*"])
        ));
        for skip in ["*", "api.*", "*.example.com", "api.example.com:443"] {
            assert!(!host_without_port(skip, &list(&[skip])), "{skip}");
        }
    }

    #[test]
    fn issuers() {
        let m = |v: &str| issuer_pattern(v);
        assert_eq!(
            m("https://auth.example.com/*"),
            Some(StringMatch::Exact("https://auth.example.com".into()))
        );
        assert_eq!(m("*"), None);
        assert_eq!(m("*/alice"), None);
        assert_eq!(m("*@example.com"), None);
        assert_eq!(
            m("*.example.com/alice"),
            Some(StringMatch::Suffix(".example.com".into()))
        );
        assert_eq!(m("https*"), Some(StringMatch::Prefix("https".into())));
    }
}
