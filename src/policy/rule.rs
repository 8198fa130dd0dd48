//! Compiled rules and their evaluation.
//!
//! Evaluation is three-valued: an attribute the proxy could not establish (the direct peer
//! address after X-Forwarded-For rewrote it, a missing destination port) makes a check
//! `Unknown`. Kleene logic carries it up to the policy, and the policy's action turns it into
//! the safe answer: an ALLOW does not match, a DENY (or CUSTOM) does.

use super::identity::{
    NamespaceMatch, PrincipalMatch, RequestPrincipalMatch, ServiceAccountMatch, TrustDomainMatch,
};
use super::ip::Cidr;
use super::matcher::StringMatch;
use super::path::PathMatch;
use crate::request::{PolicyHost, Request};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tri {
    True,
    False,
    Unknown,
}

impl Tri {
    fn from_bool(b: bool) -> Self {
        if b {
            Tri::True
        } else {
            Tri::False
        }
    }

    fn not(self) -> Self {
        match self {
            Tri::True => Tri::False,
            Tri::False => Tri::True,
            Tri::Unknown => Tri::Unknown,
        }
    }

    /// Kleene AND over `items`, stopping at the first `False`.
    pub fn all<I: IntoIterator<Item = Tri>>(items: I) -> Tri {
        let mut out = Tri::True;
        for t in items {
            match t {
                Tri::False => return Tri::False,
                Tri::Unknown => out = Tri::Unknown,
                Tri::True => {}
            }
        }
        out
    }

    /// Kleene OR over `items`, stopping at the first `True`.
    pub fn any<I: IntoIterator<Item = Tri>>(items: I) -> Tri {
        let mut out = Tri::False;
        for t in items {
            match t {
                Tri::True => return Tri::True,
                Tri::Unknown => out = Tri::Unknown,
                Tri::False => {}
            }
        }
        out
    }
}

/// One attribute check: a single policy value against one request attribute.
#[derive(Debug, Clone)]
pub enum Check {
    Principal(PrincipalMatch),
    Namespace(NamespaceMatch),
    ServiceAccount(ServiceAccountMatch),
    TrustDomain(TrustDomainMatch),
    RequestPrincipal(RequestPrincipalMatch),
    SourceIp(Cidr),
    RemoteIp(Cidr),
    /// Lowercased value against the lowercased `:authority`.
    Host(StringMatch),
    Method(StringMatch),
    Path(PathMatch),
    DestinationPort(u16),
    DestinationIp(Cidr),
    Sni(StringMatch),
    /// `request.headers[name]`: each value of a repeated header is tried on its own.
    Header(String, StringMatch),
    Audience(StringMatch),
    Presenter(StringMatch),
    /// `request.auth.claims[a][b]`: the path into the payload.
    Claim(Vec<String>, StringMatch),
}

/// Space-delimited claims that istiod always splits into lists.
const SPACE_DELIMITED_CLAIMS: [&str; 2] = ["scope", "permission"];

impl Check {
    pub fn eval(&self, r: &Request, host: &PolicyHost) -> Tri {
        let known = |ip: Option<std::net::IpAddr>, c: &Cidr| match ip {
            Some(ip) => Tri::from_bool(c.contains(&ip)),
            None => Tri::Unknown,
        };
        match self {
            Check::Principal(m) => Tri::from_bool(m.matches(&r.peer)),
            Check::Namespace(m) => Tri::from_bool(m.matches(&r.peer)),
            Check::ServiceAccount(m) => Tri::from_bool(m.matches(&r.peer)),
            Check::TrustDomain(m) => Tri::from_bool(m.matches(&r.peer)),
            Check::RequestPrincipal(m) => Tri::from_bool(
                r.jwt
                    .as_ref()
                    .is_some_and(|j| m.matches(j.iss.as_deref(), j.sub.as_deref())),
            ),
            Check::SourceIp(c) => known(r.source_ip, c),
            Check::RemoteIp(c) => known(r.remote_ip, c),
            Check::DestinationIp(c) => known(r.destination_ip, c),
            Check::DestinationPort(p) => match r.port() {
                Some(port) => Tri::from_bool(port == *p),
                None => Tri::Unknown,
            },
            Check::Host(m) => Tri::from_bool(host.forms().any(|h| m.matches(h))),
            Check::Method(m) => Tri::from_bool(m.matches(&r.method)),
            // Envoy's RBAC path matcher is false when there is no :path (CONNECT), and a URI
            // template never matches the empty path.
            Check::Path(m) => Tri::from_bool(!r.no_path && m.matches(r.url_path())),
            Check::Sni(m) => Tri::from_bool(r.sni.as_deref().is_some_and(|s| m.matches(s))),
            Check::Header(name, m) => Tri::from_bool(r.header_values(name).any(|v| match m {
                // Envoy's present_match: the header exists, even with an empty value.
                StringMatch::Presence => true,
                _ => m.matches_bytes(v),
            })),
            Check::Audience(m) => {
                Tri::from_bool(claim_strings(r, &["aud"], false).any(|a| m.matches(a)))
            }
            Check::Presenter(m) => {
                Tri::from_bool(claim_strings(r, &["azp"], false).any(|a| m.matches(a)))
            }
            Check::Claim(path, m) => {
                let split = path.len() == 1
                    && path.first().is_some_and(|c| {
                        SPACE_DELIMITED_CLAIMS.contains(&c.as_str())
                            || r.jwt
                                .as_ref()
                                .is_some_and(|j| j.space_delimited.contains(c))
                    });
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                Tri::from_bool(claim_strings(r, &path, split).any(|v| m.matches(v)))
            }
        }
    }
}

/// The string values of a claim: a string, or the strings of a list of strings
/// (space-split for `scope`/`permission`). Numbers and booleans never match, as in Envoy.
fn claim_strings<'a>(
    r: &'a Request,
    path: &[&str],
    split_spaces: bool,
) -> Box<dyn Iterator<Item = &'a str> + 'a> {
    let Some(jwt) = r.jwt.as_ref() else {
        return Box::new(std::iter::empty());
    };
    match jwt.claim(path) {
        Some(serde_json::Value::String(s)) if split_spaces => {
            Box::new(s.split(' ').filter(|p| !p.is_empty()))
        }
        Some(serde_json::Value::String(s)) => Box::new(std::iter::once(s.as_str())),
        Some(serde_json::Value::Array(items)) => {
            Box::new(items.iter().filter_map(serde_json::Value::as_str))
        }
        _ => Box::new(std::iter::empty()),
    }
}

/// A field (or a `when` condition): its values are ORed; `negated` for notX / notValues.
#[derive(Debug, Clone)]
pub struct Clause {
    pub any_of: Vec<Check>,
    pub negated: bool,
    /// The field as the policy wrote it, kept for explanations (`policy::explain`) only:
    /// evaluation never reads it, and boxing keeps it to one pointer per clause.
    pub label: Box<Label>,
}

/// Where a clause came from: the field name as Istio writes it and its values as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Label {
    /// `methods`, `notNamespaces`, `when request.headers[x-role]`, `when <key> notValues`.
    pub field: String,
    pub values: Vec<String>,
}

impl Clause {
    pub fn eval(&self, r: &Request, host: &PolicyHost) -> Tri {
        let t = Tri::any(self.any_of.iter().map(|c| c.eval(r, host)));
        if self.negated {
            t.not()
        } else {
            t
        }
    }
}

/// The fields of one `source`, `operation` or a rule's `when` list: ANDed.
pub type Conjunction = Vec<Clause>;

fn eval_all(c: &Conjunction, r: &Request, host: &PolicyHost) -> Tri {
    Tri::all(c.iter().map(|cl| cl.eval(r, host)))
}

#[derive(Debug, Clone, Default)]
pub struct CompiledRule {
    /// `from` entries, ORed; `None` when the rule has no `from`.
    pub from: Option<Vec<Conjunction>>,
    /// `to` entries, ORed; `None` when the rule has no `to`.
    pub to: Option<Vec<Conjunction>>,
    pub when: Conjunction,
}

impl CompiledRule {
    pub fn eval(&self, r: &Request, host: &PolicyHost) -> Tri {
        let any_entry = |entries: &Option<Vec<Conjunction>>| match entries {
            None => Tri::True,
            Some(list) => Tri::any(list.iter().map(|c| eval_all(c, r, host))),
        };
        // Lazily: a `from` that does not match spares evaluating `to` and `when`.
        let parts: [&dyn Fn() -> Tri; 3] =
            [&|| any_entry(&self.from), &|| any_entry(&self.to), &|| {
                eval_all(&self.when, r, host)
            }];
        Tri::all(parts.iter().map(|part| part()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::{JwtIdentity, Peer};
    use serde_json::json;

    #[test]
    fn kleene() {
        use Tri::*;
        assert_eq!(Tri::all([True, Unknown]), Unknown);
        assert_eq!(Tri::all([False, Unknown]), False);
        assert_eq!(Tri::any([False, Unknown]), Unknown);
        assert_eq!(Tri::any([True, Unknown]), True);
        assert_eq!(Unknown.not(), Unknown);
        assert_eq!(Tri::all([]), True);
        assert_eq!(Tri::any([]), False);
    }

    fn req() -> Request {
        Request {
            method: "GET".into(),
            path: "/x".into(),
            authority: "h".into(),
            peer: Peer::plaintext(),
            ..Default::default()
        }
    }

    #[test]
    fn unknown_source_ip() {
        let c = Check::SourceIp(Cidr::parse("10.0.0.0/8").unwrap());
        assert_eq!(c.eval(&req(), &PolicyHost::of("h")), Tri::Unknown);
        let mut r = req();
        r.source_ip = Some("10.1.1.1".parse().unwrap());
        assert_eq!(c.eval(&r, &PolicyHost::of("h")), Tri::True);
        let negated = Clause {
            any_of: vec![c],
            negated: true,
            label: Box::default(),
        };
        assert_eq!(negated.eval(&req(), &PolicyHost::of("h")), Tri::Unknown);
    }

    #[test]
    fn headers_value_by_value() {
        let mut r = req();
        r.headers = [
            ("x-role", &b"user"[..]),
            ("x-role", &b"admin"[..]),
            ("x-empty", &b""[..]),
        ]
        .into_iter()
        .collect::<crate::request::Headers>();
        let admin = Check::Header("x-role".into(), StringMatch::parse("admin", false).unwrap());
        assert_eq!(admin.eval(&r, &PolicyHost::of("h")), Tri::True);
        let joined = Check::Header(
            "x-role".into(),
            StringMatch::parse("user,admin", false).unwrap(),
        );
        assert_eq!(joined.eval(&r, &PolicyHost::of("h")), Tri::False);
        let present = Check::Header("X-Empty".into(), StringMatch::Presence);
        assert_eq!(present.eval(&r, &PolicyHost::of("h")), Tri::True);
        let absent = Check::Header("x-none".into(), StringMatch::Presence);
        assert_eq!(absent.eval(&r, &PolicyHost::of("h")), Tri::False);
    }

    #[test]
    fn claims() {
        let mut r = req();
        let payload = json!({"iss": "i", "sub": "s", "aud": ["a1", "a2"], "azp": "web",
            "scope": "read write", "groups": ["g1", "g2"], "nested": {"k": "v"}, "admin": true, "a.b": "dot"});
        r.jwt = Some(JwtIdentity::new(
            payload.as_object().unwrap().clone(),
            vec!["roles".into()],
        ));
        let s = |v: &str| StringMatch::parse(v, false).unwrap();
        let claim = |p: &[&str], v: &str| {
            Check::Claim(p.iter().map(|x| x.to_string()).collect(), s(v))
                .eval(&r, &PolicyHost::of("h"))
        };
        assert_eq!(
            Check::Audience(s("a2")).eval(&r, &PolicyHost::of("h")),
            Tri::True
        );
        assert_eq!(
            Check::Presenter(s("web")).eval(&r, &PolicyHost::of("h")),
            Tri::True
        );
        assert_eq!(claim(&["scope"], "write"), Tri::True);
        assert_eq!(claim(&["groups"], "g2"), Tri::True);
        assert_eq!(claim(&["nested", "k"], "v"), Tri::True);
        assert_eq!(claim(&["admin"], "true"), Tri::False);
        assert_eq!(claim(&["a.b"], "dot"), Tri::True);
        assert_eq!(claim(&["a", "b"], "dot"), Tri::False);
        assert_eq!(
            Check::RequestPrincipal(RequestPrincipalMatch::parse("i/s").unwrap())
                .eval(&r, &PolicyHost::of("h")),
            Tri::True
        );
        assert_eq!(
            Check::RequestPrincipal(RequestPrincipalMatch::parse("*").unwrap())
                .eval(&req(), &PolicyHost::of("h")),
            Tri::False
        );
    }
}
