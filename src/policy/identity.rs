//! Identity matchers, as istiod translates them for Envoy's RBAC (pilot/pkg/security/authz/model
//! generator.go), all on the URI SAN of an authenticated peer:
//! - principals: `spiffe://` prepended to the value (exact, prefix, or the regex `spiffe://.*<v>`);
//! - namespaces: the regex `.*/ns/<value>/.*`, `*` in the value meaning `.*`;
//! - serviceAccounts: the regex `spiffe://.+/ns/<ns>/(.+/|)sa/<sa>(/.+)?`;
//! - trustDomains: the prefix `spiffe://<td>/`, or the regex `spiffe://<a>[^/]*<b>/.*` for `a*b`;
//! - requestPrincipals: `<iss>/<sub>` split at the last `/`, matched on the verified token.
//!
//! Every regex is RE2's full match with `.` refusing a newline ([`Pattern`]), so a SAN holding
//! `\n` is judged as Envoy judges it.

use super::matcher::StringMatch;
use super::pattern::{Pattern, Piece};
use crate::request::{Peer, SPIFFE_PREFIX};

/// The SAN of an authenticated peer: the only thing identity matchers ever look at.
fn authenticated_san(peer: &Peer) -> Option<&str> {
    if !peer.authenticated {
        return None;
    }
    peer.principal_name.as_deref()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrincipalMatch(StringMatch);

impl PrincipalMatch {
    pub fn parse(value: &str) -> Result<Self, String> {
        StringMatch::parse(value, false)
            .map(PrincipalMatch)
            .map_err(|e| e.to_string())
    }

    pub fn matches(&self, peer: &Peer) -> bool {
        let Some(san) = authenticated_san(peer) else {
            return false;
        };
        match &self.0 {
            // The regex `.+`.
            StringMatch::Presence => !san.is_empty() && !san.contains('\n'),
            // The regex `spiffe://.*<v>`: what comes before the suffix holds no newline.
            StringMatch::Suffix(v) => san.strip_prefix(SPIFFE_PREFIX).is_some_and(|rest| {
                rest.strip_suffix(v.as_str())
                    .is_some_and(|head| !head.contains('\n'))
            }),
            StringMatch::Exact(v) => san.strip_prefix(SPIFFE_PREFIX) == Some(v.as_str()),
            StringMatch::Prefix(v) => san
                .strip_prefix(SPIFFE_PREFIX)
                .is_some_and(|rest| rest.starts_with(v.as_str())),
        }
    }
}

/// `namespaces` and `source.namespace`: any non-empty value (the webhook checks nothing more),
/// quoted into the regex, each `*` a `.*`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespaceMatch(Pattern);

impl NamespaceMatch {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value.is_empty() {
            return Err("empty value not allowed".into());
        }
        let mut pieces = vec![Piece::AnyRun, Piece::Lit("/ns/".into())];
        for (i, part) in value.split('*').enumerate() {
            if i > 0 {
                pieces.push(Piece::AnyRun);
            }
            pieces.push(Piece::Lit(part.into()));
        }
        pieces.extend([Piece::Lit("/".into()), Piece::AnyRun]);
        Ok(NamespaceMatch(Pattern::new(&[pieces])))
    }

    pub fn matches(&self, peer: &Peer) -> bool {
        authenticated_san(peer).is_some_and(|san| self.0.matches(san))
    }
}

/// `serviceAccounts` and `source.serviceAccount`: `sa` (in the policy's namespace) or `ns/sa`,
/// checked as the webhook's CheckServiceAccount checks them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccountMatch(Pattern);

/// The most values one `serviceAccounts` list may hold (Istio's limit).
pub const MAX_SERVICE_ACCOUNTS: usize = 16;

impl ServiceAccountMatch {
    pub fn parse(value: &str, policy_namespace: &str) -> Result<Self, String> {
        const FORMAT: &str = "expected format 'serviceAccount' or 'namespace/serviceAccount'";
        if value.is_empty() {
            return Err("empty value not allowed".into());
        }
        if value.contains('*') {
            return Err("wildcard not allowed".into());
        }
        if value.matches('/').count() > 1 {
            return Err(format!("{FORMAT}, found {value:?}"));
        }
        if value.len() > 320 {
            return Err(format!(
                "value cannot exceed 320 characters, found {value:?}"
            ));
        }
        let (ns, sa) = value.split_once('/').unwrap_or((policy_namespace, value));
        if ns.is_empty() {
            return Err(format!("{FORMAT}, found empty namespace {value:?}"));
        }
        if sa.is_empty() {
            return Err(format!("{FORMAT}, found empty serviceAccount {value:?}"));
        }
        let lit = |s: String| Piece::Lit(s);
        let head = vec![
            lit(SPIFFE_PREFIX.into()),
            Piece::Any,
            Piece::AnyRun,
            lit(format!("/ns/{ns}/")),
        ];
        // `(.+/|)` before `sa/<sa>`, `(/.+)?` after it: four alternatives.
        let mut alternatives = Vec::new();
        for middle in [vec![], vec![Piece::Any, Piece::AnyRun, lit("/".into())]] {
            for tail in [vec![], vec![lit("/".into()), Piece::Any, Piece::AnyRun]] {
                let mut a = head.clone();
                a.extend(middle.iter().cloned());
                a.push(lit(format!("sa/{sa}")));
                a.extend(tail);
                alternatives.push(a);
            }
        }
        Ok(ServiceAccountMatch(Pattern::new(&alternatives)))
    }

    pub fn matches(&self, peer: &Peer) -> bool {
        authenticated_san(peer).is_some_and(|san| self.0.matches(san))
    }
}

/// `trustDomains` and `source.trustDomain`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustDomainMatch {
    /// `*`, or a value without `*`: the SAN starts with this.
    Prefix(String),
    /// `a*b`: `spiffe://a[^/]*b/.*`.
    Pattern(Pattern),
}

impl TrustDomainMatch {
    /// `field` says whether this is the `trustDomains` field, where the webhook also refuses a
    /// `/`; the `source.trustDomain` condition has only the wildcard checks.
    pub fn parse(value: &str, field: bool) -> Result<Self, String> {
        if value.is_empty() {
            return Err("empty value not allowed".into());
        }
        let stars = value.matches('*').count();
        if stars > 1 {
            return Err(format!("at most one wildcard is allowed, found {value:?}"));
        }
        if stars == 1 && !value.starts_with('*') && !value.ends_with('*') {
            return Err(format!(
                "wildcard is only allowed at the start or end, found {value:?}"
            ));
        }
        if field && value.contains('/') {
            return Err(format!(
                "trust domain must not contain '/', found {value:?}"
            ));
        }
        Ok(match value.split_once('*') {
            _ if value == "*" => TrustDomainMatch::Prefix(SPIFFE_PREFIX.into()),
            None => TrustDomainMatch::Prefix(format!("{SPIFFE_PREFIX}{value}/")),
            Some((a, b)) => TrustDomainMatch::Pattern(Pattern::new(&[vec![
                Piece::Lit(format!("{SPIFFE_PREFIX}{a}")),
                Piece::NonSlashRun,
                Piece::Lit(format!("{b}/")),
                Piece::AnyRun,
            ]])),
        })
    }

    pub fn matches(&self, peer: &Peer) -> bool {
        authenticated_san(peer).is_some_and(|san| match self {
            TrustDomainMatch::Prefix(p) => san.starts_with(p.as_str()),
            TrustDomainMatch::Pattern(p) => p.matches(san),
        })
    }
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
    fn principal_wildcards_refuse_a_newline_as_the_regex_does() {
        let m = |v: &str| PrincipalMatch::parse(v).unwrap();
        assert!(!m("*/sa/frontend").matches(&peer("spiffe://evil\n/ns/x/sa/frontend")));
        assert!(!m("*").matches(&peer("spiffe://a\nb")));
        // A prefix is Envoy's prefix matcher, not a regex: anything may follow.
        assert!(m("cluster.local/*").matches(&peer("spiffe://cluster.local/\n")));
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
        // Any value the webhook accepts, regex metacharacters quoted.
        assert!(m("a.b").matches(&peer("spiffe://td/ns/a.b/sa/x")));
        assert!(!m("a.b").matches(&peer("spiffe://td/ns/axb/sa/x")));
        assert!(m("a+(b)").matches(&peer("spiffe://td/ns/a+(b)/sa/x")));
        assert!(!m("prod").matches(&peer("spiffe://td/ns/prod/sa/x\n")));
        assert!(NamespaceMatch::parse("").is_err());
    }

    #[test]
    fn service_accounts() {
        let m = |v: &str| ServiceAccountMatch::parse(v, "default").unwrap();
        let fe = peer("spiffe://cluster.local/ns/default/sa/frontend");
        assert!(m("frontend").matches(&fe));
        assert!(m("default/frontend").matches(&fe));
        assert!(!m("prod/frontend").matches(&fe));
        assert!(!m("front").matches(&fe));
        assert!(!m("frontend").matches(&peer("spiffe://cluster.local/ns/default/sa/frontend-x")));
        assert!(m("frontend").matches(&peer("spiffe://td/ns/default/k/v/sa/frontend/x/y")));
        assert!(!m("frontend").matches(&peer("spiffe://td/ns/default/sa/frontend/")));
        assert!(!m("frontend").matches(&peer("spiffe:///ns/default/sa/frontend")));
        assert!(!m("frontend").matches(&peer("spiffe://td/ns/default/sa/frontend\n")));
        assert!(m("a.b").matches(&peer("spiffe://td/ns/default/sa/a.b")));
        assert!(!m("a.b").matches(&peer("spiffe://td/ns/default/sa/axb")));
        assert!(!m("frontend").matches(&Peer::plaintext()));
        let e = |v: &str| ServiceAccountMatch::parse(v, "default").unwrap_err();
        assert_eq!(e(""), "empty value not allowed");
        assert_eq!(e("a*"), "wildcard not allowed");
        assert!(e("a/b/c").starts_with("expected format"));
        assert!(e("/sa").contains("empty namespace"));
        assert!(e("ns/").contains("empty serviceAccount"));
        assert!(e(&"x".repeat(321)).starts_with("value cannot exceed 320"));
        assert!(ServiceAccountMatch::parse(&"x".repeat(320), "d").is_ok());
    }

    #[test]
    fn trust_domains() {
        let m = |v: &str| TrustDomainMatch::parse(v, true).unwrap();
        let fe = peer("spiffe://cluster.local/ns/default/sa/frontend");
        assert!(m("cluster.local").matches(&fe));
        assert!(!m("cluster").matches(&fe));
        assert!(!m("cluster.local").matches(&peer("spiffe://cluster.local.evil/ns/a/sa/b")));
        assert!(m("*").matches(&fe));
        assert!(m("*.local").matches(&fe));
        assert!(m("cluster.*").matches(&fe));
        assert!(!m("*.local").matches(&peer("spiffe://a/b.local/ns/x")));
        assert!(m("*.local").matches(&peer("spiffe://.local/ns/x")));
        assert!(!m("*.local").matches(&peer("spiffe://x.local/ns\n")));
        assert!(!m("*").matches(&Peer::plaintext()));
        let e = |v: &str, f: bool| TrustDomainMatch::parse(v, f).unwrap_err();
        assert!(e("a*b", true).contains("start or end"));
        assert!(e("*a*", true).contains("at most one"));
        assert!(e("a/b", true).contains("must not contain '/'"));
        assert!(TrustDomainMatch::parse("a/b", false).is_ok());
        assert_eq!(e("", true), "empty value not allowed");
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
