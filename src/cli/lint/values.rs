//! Policy values that cannot do what they say: paths Envoy's normalization never leaves in a
//! request, hosts without their port form, the issuer a request principal names.

use crate::config::spec::Rule;
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
    // `*`, prefixes (`api.*`) and values with a port already cover it; `*.example.com:*` would
    // be the suffix `.example.com:*` compared literally, so suffix hosts have no `:*` form.
    if value.starts_with('*') || value.ends_with('*') || value.contains(':') {
        return false;
    }
    let with_port = format!("{value}:*");
    !list.iter().any(|h| h.eq_ignore_ascii_case(&with_port))
}

/// Whether `value` holds a `*` that Istio compares as an ordinary character: one that is not the
/// whole value, nor its first character, nor (with no leading one) its last.
pub fn literal_star(value: &str) -> bool {
    let rest = value
        .strip_prefix('*')
        .or_else(|| value.strip_suffix('*'))
        .unwrap_or(value);
    rest.contains('*')
}

/// The `(field, value)` pairs of one rule whose `*` is compared literally: every string-matched
/// field and `when` key (namespaces, where each `*` is a wildcard, and path templates excepted).
pub fn literal_stars(rule: &Rule) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut scan = |field: &str, values: &Option<Vec<String>>| {
        for v in values.iter().flatten().filter(|v| literal_star(v)) {
            out.push((field.to_string(), v.clone()));
        }
    };
    for (j, s) in rule.from.iter().flatten().enumerate() {
        let Some(s) = &s.source else { continue };
        let at = |f: &str| format!("from[{j}].source.{f}");
        scan(&at("principals"), &s.principals);
        scan(&at("notPrincipals"), &s.not_principals);
        scan(&at("requestPrincipals"), &s.request_principals);
        scan(&at("notRequestPrincipals"), &s.not_request_principals);
    }
    for (j, t) in rule.to.iter().flatten().enumerate() {
        let Some(o) = &t.operation else { continue };
        let at = |f: &str| format!("to[{j}].operation.{f}");
        scan(&at("hosts"), &o.hosts);
        scan(&at("notHosts"), &o.not_hosts);
        scan(&at("methods"), &o.methods);
        scan(&at("notMethods"), &o.not_methods);
        let plain = |v: &Option<Vec<String>>| {
            v.as_ref()
                .map(|l| l.iter().filter(|p| !p.contains('{')).cloned().collect())
        };
        scan(&at("paths"), &plain(&o.paths));
        scan(&at("notPaths"), &plain(&o.not_paths));
    }
    for c in rule.when.iter().flatten() {
        let string_matched = c.key.starts_with("request.headers")
            || c.key.starts_with("request.auth.")
            || matches!(c.key.as_str(), "source.principal" | "connection.sni");
        if string_matched {
            scan(&format!("when {}", c.key), &c.values);
            scan(&format!("when {} notValues", c.key), &c.not_values);
        }
    }
    out
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
    fn literal_stars_are_the_inner_ones() {
        for v in ["a*b", "*a*", "**", "/api/*/x", "a**"] {
            assert!(literal_star(v), "{v}");
        }
        for v in ["*", "a*", "*a", "abc", ""] {
            assert!(!literal_star(v), "{v}");
        }
        let rule: Rule = crate::config::read::from_value(&serde_json::json!({
            "from": [{"source": {"principals": ["td/ns/*/sa/a"], "namespaces": ["a*b"]}}],
            "to": [{"operation": {"paths": ["/a/*/b", "/a/{*}/b"], "methods": ["G*T"]}}],
            "when": [{"key": "request.headers[x]", "values": ["a*b"]},
                     {"key": "source.namespace", "values": ["a*b"]}]
        }))
        .unwrap();
        let found: Vec<String> = literal_stars(&rule).into_iter().map(|(f, _)| f).collect();
        assert_eq!(
            found,
            [
                "from[0].source.principals",
                "to[0].operation.methods",
                "to[0].operation.paths",
                "when request.headers[x]"
            ]
        );
    }

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
