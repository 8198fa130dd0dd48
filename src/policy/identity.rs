//! Identity matchers, as istiod translates them for Envoy's RBAC:
//! - principals: the peer's URI SAN with `spiffe://` prepended to the value;
//! - namespaces: the regex `.*/ns/<value>/.*` on that SAN, `*` in the value meaning `.*`;
//! - requestPrincipals: `<iss>/<sub>` split at the last `/`, matched on the verified token.

use super::matcher::StringMatch;
use crate::request::{Peer, SPIFFE_PREFIX};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalMatch(StringMatch);

impl PrincipalMatch {
    pub fn parse(value: &str) -> Result<Self, String> {
        StringMatch::parse(value, false)
            .map(PrincipalMatch)
            .map_err(|e| e.to_string())
    }

    pub fn matches(&self, peer: &Peer) -> bool {
        if !peer.authenticated {
            return false;
        }
        let Some(san) = peer.principal_name.as_deref() else {
            return false;
        };
        match &self.0 {
            StringMatch::Presence => !san.is_empty(),
            // `spiffe://.*<v>`
            StringMatch::Suffix(v) => san
                .strip_prefix(SPIFFE_PREFIX)
                .is_some_and(|rest| rest.ends_with(v.as_str())),
            StringMatch::Exact(v) => san.strip_prefix(SPIFFE_PREFIX) == Some(v.as_str()),
            StringMatch::Prefix(v) => san
                .strip_prefix(SPIFFE_PREFIX)
                .is_some_and(|rest| rest.starts_with(v.as_str())),
        }
    }
}

/// `*/ns/<value>/*` as a glob over the whole SAN (`*` = any run of characters, `/` included),
/// which is exactly what the regex istiod emits matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceMatch {
    glob: Vec<String>,
}

impl NamespaceMatch {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() {
            return Err("empty value not allowed".into());
        }
        // istiod pastes the value into a regex unescaped; a Kubernetes namespace name never
        // holds a regex metacharacter, so anything else is a mistake worth refusing.
        if !value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'*')
        {
            return Err(format!(
                "{value:?} is not a namespace name (letters, digits, '-' and '*' only)"
            ));
        }
        let pattern = format!("*/ns/{value}/*");
        Ok(NamespaceMatch {
            glob: pattern.split('*').map(str::to_string).collect(),
        })
    }

    pub fn matches(&self, peer: &Peer) -> bool {
        if !peer.authenticated {
            return false;
        }
        peer.principal_name
            .as_deref()
            .is_some_and(|san| glob_match(&self.glob, san))
    }
}

/// Matches `s` against literal pieces separated by `*` wildcards (`pieces` = pattern split at
/// `*`). Greedy-leftmost with the last piece anchored at the end: linear in practice.
fn glob_match(pieces: &[String], s: &str) -> bool {
    let Some((first, rest)) = pieces.split_first() else {
        return s.is_empty();
    };
    let Some(mut remaining) = s.strip_prefix(first.as_str()) else {
        return false;
    };
    let Some((last, middle)) = rest.split_last() else {
        return remaining.is_empty();
    };
    for piece in middle {
        match remaining.find(piece.as_str()) {
            Some(at) => remaining = remaining.get(at + piece.len()..).unwrap_or(""),
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last.as_str())
}

/// One `requestPrincipals` value compiled to matchers on `iss` and `sub`
/// (istiod's requestPrincipalGenerator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPrincipalMatch {
    iss: StringMatch,
    sub: StringMatch,
}

impl RequestPrincipalMatch {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() {
            return Err("empty value not allowed".into());
        }
        let (iss, sub, found) = match value.rfind('/') {
            Some(i) => (
                value.get(..i).unwrap_or(""),
                value.get(i + 1..).unwrap_or(""),
                true,
            ),
            None => (value, "", false),
        };
        let any = StringMatch::Presence;
        let (iss_m, sub_m) = if value == "*" {
            (any.clone(), any)
        } else if let Some(stripped) = value.strip_prefix('*') {
            if found {
                let iss_m = if iss == "*" {
                    any
                } else {
                    StringMatch::Suffix(iss.trim_start_matches('*').to_string())
                };
                (iss_m, StringMatch::Exact(sub.to_string()))
            } else {
                (any, StringMatch::Suffix(stripped.to_string()))
            }
        } else if value.ends_with('*') {
            if found {
                let sub_m = if sub == "*" {
                    any
                } else {
                    StringMatch::Prefix(sub.trim_end_matches('*').to_string())
                };
                (StringMatch::Exact(iss.to_string()), sub_m)
            } else {
                (
                    StringMatch::Prefix(value.trim_end_matches('*').to_string()),
                    any,
                )
            }
        } else {
            (
                StringMatch::Exact(iss.to_string()),
                StringMatch::Exact(sub.to_string()),
            )
        };
        Ok(RequestPrincipalMatch {
            iss: iss_m,
            sub: sub_m,
        })
    }

    /// The `iss` and `sub` this value names exactly (no wildcard), for the rule index.
    pub fn exact(&self) -> Option<(&str, &str)> {
        match (&self.iss, &self.sub) {
            (StringMatch::Exact(i), StringMatch::Exact(s)) => Some((i, s)),
            _ => None,
        }
    }

    /// `iss` and `sub` of the verified token; a token without either never matches.
    pub fn matches(&self, iss: Option<&str>, sub: Option<&str>) -> bool {
        match (iss, sub) {
            (Some(i), Some(s)) => self.iss.matches(i) && self.sub.matches(s),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(san: &str) -> Peer {
        Peer::mtls(san)
    }

    #[test]
    fn principals() {
        let fe = peer("spiffe://cluster.local/ns/default/sa/frontend");
        let m = |v: &str| PrincipalMatch::parse(v).unwrap();
        assert!(m("cluster.local/ns/default/sa/frontend").matches(&fe));
        assert!(!m("cluster.local/ns/default/sa/front").matches(&fe));
        assert!(!m("cluster.local/ns/default/sa/frontend-admin")
            .matches(&peer("spiffe://cluster.local/ns/default/sa/frontend")));
        assert!(m("cluster.local/ns/default/*").matches(&fe));
        assert!(m("*/sa/frontend").matches(&fe));
        assert!(!m("*/sa/frontend").matches(&peer(
            "spiffe://cluster.local/ns/default/sa/frontend-backup"
        )));
        assert!(m("*").matches(&fe));
        assert!(!m("*").matches(&Peer::plaintext()));
        assert!(!m("cluster.local/ns/default/sa/frontend").matches(&Peer::plaintext()));
        assert!(!m("other.td/ns/default/sa/frontend").matches(&fe));
        // A SAN that is not SPIFFE only satisfies presence.
        assert!(!m("*frontend").matches(&peer("https://frontend")));
        assert!(m("*").matches(&peer("https://frontend")));
    }

    #[test]
    fn namespaces() {
        let m = |v: &str| NamespaceMatch::parse(v).unwrap();
        let prod = peer("spiffe://cluster.local/ns/prod/sa/api");
        assert!(m("prod").matches(&prod));
        assert!(!m("prod").matches(&peer("spiffe://cluster.local/ns/prod-eu/sa/api")));
        assert!(!m("prod").matches(&peer("spiffe://cluster.local/ns/default/sa/prod")));
        assert!(m("prod").matches(&peer("spiffe://other-td/ns/prod/sa/api")));
        assert!(m("prod*").matches(&peer("spiffe://cluster.local/ns/prod-eu/sa/api")));
        assert!(m("*-eu").matches(&peer("spiffe://cluster.local/ns/prod-eu/sa/api")));
        assert!(!m("*-eu").matches(&prod));
        assert!(m("*").matches(&prod));
        assert!(!m("*").matches(&Peer::plaintext()));
        assert!(!m("default").matches(&peer("spiffe://cluster.local/ns/default-evil/sa/x")));
        assert!(NamespaceMatch::parse("a.b").is_err());
        assert!(NamespaceMatch::parse("").is_err());
    }

    #[test]
    fn globs() {
        let g = |p: &str| p.split('*').map(str::to_string).collect::<Vec<_>>();
        assert!(glob_match(&g("*/ns/a/*"), "x/ns/a/y"));
        assert!(glob_match(&g("*/ns/a/*"), "/ns/a/"));
        assert!(!glob_match(&g("*/ns/a/*"), "/ns/a"));
        assert!(glob_match(&g("a*b*c"), "abbc"));
        assert!(!glob_match(&g("a*b*c"), "acb"));
        assert!(glob_match(&g("ab"), "ab"));
        assert!(!glob_match(&g("ab"), "abc"));
    }

    #[test]
    fn request_principals() {
        let m = |v: &str| RequestPrincipalMatch::parse(v).unwrap();
        let iss = Some("https://auth.example.com");
        assert!(m("https://auth.example.com/alice").matches(iss, Some("alice")));
        assert!(!m("https://auth.example.com/alice").matches(iss, Some("bob")));
        assert!(m("https://auth.example.com/*").matches(iss, Some("bob")));
        assert!(!m("https://auth.example.com/*").matches(iss, Some("")));
        assert!(m("*").matches(iss, Some("x")));
        assert!(!m("*").matches(iss, None));
        assert!(m("*/alice").matches(iss, Some("alice")));
        assert!(m("*@example.com").matches(Some("x"), Some("alice@example.com")));
        assert!(!m("*@example.com").matches(Some("x@example.com"), Some("alice")));
        assert!(m("https*").matches(iss, Some("alice")));
        // Istio splits at the last `/` even inside the issuer's scheme: iss "https:/", sub "auth*".
        assert!(!m("https://auth*").matches(iss, Some("alice")));
        assert!(m("https://auth*").matches(Some("https:/"), Some("author")));
        // `sub` containing a slash: split at the last one.
        assert!(m("https://auth.example.com/team/alice")
            .matches(Some("https://auth.example.com/team"), Some("alice")));
        assert!(!m("https://auth.example.com/team/alice").matches(iss, Some("team/alice")));
    }
}
