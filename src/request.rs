//! The request attributes the core decides on. The host adapter fills this once per request;
//! the core never reads a header or a property itself.

use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;

/// Which side of the proxy the request is on: inbound (to this workload) or outbound (from it,
/// to a host it calls).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Direction {
    #[default]
    Inbound,
    Outbound,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Request {
    pub direction: Direction,
    pub method: String,
    /// `:scheme` (`http` when absent), for the realm of a JWT failure's www-authenticate.
    pub scheme: String,
    /// `:path` as Envoy's connection manager hands it over (normalized, query included); empty
    /// when `no_path`.
    pub path: String,
    /// The request has no `:path`: a CONNECT (HTTP/1.1, or HTTP/2 where `:path` is forbidden).
    /// Envoy's path matchers then match nothing, so `paths` is False and `notPaths` True.
    pub no_path: bool,
    /// `:authority` as received; hosts are matched on its lowercased form.
    pub authority: String,
    /// Every request header, names lowercased, repeated headers kept as separate entries.
    pub headers: Headers,
    pub peer: Peer,
    /// The direct TCP peer. `None` when Envoy replaced it with an X-Forwarded-For address
    /// (it then reports port 0) or did not report it: the peer is unknown.
    pub source_ip: Option<IpAddr>,
    /// The client address Envoy derived from X-Forwarded-For, or the peer without it.
    pub remote_ip: Option<IpAddr>,
    /// `source.address` as Envoy reported it, for the audit entry.
    pub source_address: Option<String>,
    pub destination_ip: Option<IpAddr>,
    pub destination_port: Option<u16>,
    /// TLS SNI; `None` on plaintext.
    pub sni: Option<String>,
    /// The verified JWT, once RequestAuthentication has run.
    pub jwt: Option<JwtIdentity>,
}

/// The TLS peer. `principal_name` is what Envoy's RBAC calls the authenticated principal:
/// the peer certificate's URI SAN (`spiffe://td/ns/x/sa/y`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// A client certificate was presented and verified (mTLS).
    pub authenticated: bool,
    pub principal_name: Option<String>,
}

impl Peer {
    pub fn plaintext() -> Self {
        Peer::default()
    }

    pub fn mtls(uri_san: &str) -> Self {
        Peer {
            authenticated: true,
            principal_name: Some(uri_san.to_string()),
        }
    }

    /// The principal as policies write it: the SAN without `spiffe://`.
    pub fn principal(&self) -> Option<&str> {
        self.principal_name
            .as_deref()
            .and_then(|san| san.strip_prefix(SPIFFE_PREFIX))
    }

    /// The namespace of a `spiffe://<td>/ns/<ns>/sa/<sa>` identity.
    pub fn namespace(&self) -> Option<&str> {
        let rest = self.principal()?;
        let mut parts = rest.split('/');
        let _trust_domain = parts.next()?;
        match (parts.next(), parts.next()) {
            (Some("ns"), Some(ns)) if !ns.is_empty() => Some(ns),
            _ => None,
        }
    }
}

pub const SPIFFE_PREFIX: &str = "spiffe://";

/// Bytes from the wire as text, invalid UTF-8 replaced (as `String::from_utf8_lossy`). Valid
/// UTF-8, nearly every header, takes the word-at-a-time check instead of the lossy decoder's
/// byte-by-byte one, which showed in a profile of the request path inside V8.
pub fn text_lossy(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The host forms `hosts` and `notHosts` are matched against, lowercased; computed once per
/// request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyHost {
    host: String,
    with_port: Option<String>,
}

impl PolicyHost {
    pub fn of(host: &str) -> Self {
        PolicyHost {
            host: host.to_string(),
            with_port: None,
        }
    }

    pub fn forms(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.host.as_str()).chain(self.with_port.as_deref())
    }
}

/// What a verified token contributes to authorization.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JwtIdentity {
    pub payload: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The provider's `spaceDelimitedClaims` (split like `scope` and `permission`).
    pub space_delimited: Vec<String>,
    /// `iss` and `sub` when they are strings: read once, compared by every requestPrincipals.
    pub iss: Option<String>,
    pub sub: Option<String>,
}

impl JwtIdentity {
    pub fn new(
        payload: impl Into<Arc<serde_json::Map<String, serde_json::Value>>>,
        space_delimited: Vec<String>,
    ) -> Self {
        let payload = payload.into();
        let get = |k: &str| {
            payload
                .get(k)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        JwtIdentity {
            iss: get("iss"),
            sub: get("sub"),
            payload,
            space_delimited,
        }
    }

    /// The claim at `path` (`["a", "b"]` for `claims[a][b]`: nested objects).
    pub fn claim(&self, path: &[&str]) -> Option<&serde_json::Value> {
        let (first, rest) = path.split_first()?;
        rest.iter()
            .try_fold(self.payload.get(*first)?, |node, key| node.get(*key))
    }

    /// Istio's request principal `<iss>/<sub>`; none without both as strings.
    pub fn principal(&self) -> Option<String> {
        Some(format!("{}/{}", self.iss.as_deref()?, self.sub.as_deref()?))
    }

    /// `aud` as a list (a string is a list of one).
    pub fn audiences(&self) -> Vec<String> {
        match self.payload.get("aud") {
            Some(serde_json::Value::String(s)) => vec![s.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl Request {
    /// The port `ports` and `destination.port` compare: the port the connection reached, or
    /// for an outbound request the port it is going to (the `:authority`'s, else the listener's).
    pub fn port(&self) -> Option<u16> {
        match self.direction {
            Direction::Inbound => self.destination_port,
            Direction::Outbound => crate::hostname::split_authority(&self.authority)
                .1
                .or(self.destination_port),
        }
    }

    /// What `hosts` compare, lowercased: inbound, the whole `:authority` (port included, as
    /// Istio does); outbound, the host being called, with and without its port (an extension
    /// of meshguard's: `ports` checks the port, so `api.example.com` must match
    /// `api.example.com:443`, and a policy that names the port still matches).
    pub fn policy_host(&self) -> PolicyHost {
        match self.direction {
            Direction::Inbound => PolicyHost::of(&self.authority.to_ascii_lowercase()),
            Direction::Outbound => {
                let (host, _) = crate::hostname::split_authority(&self.authority);
                let with_port = self.port().map(|p| format!("{host}:{p}"));
                PolicyHost { host, with_port }
            }
        }
    }

    /// The path without the query string, when there is one (none for a CONNECT).
    pub fn url_path_opt(&self) -> Option<&str> {
        (!self.no_path).then(|| self.url_path())
    }

    /// The path without the query string: what `paths` and `notPaths` compare (empty when
    /// the request has none; check `no_path` first where that matters).
    pub fn url_path(&self) -> &str {
        match self.path.split_once('?') {
            Some((p, _)) => p,
            None => &self.path,
        }
    }

    /// Every value of a header (name compared case-insensitively).
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.headers.values(name)
    }

    pub fn header<'a>(&'a self, name: &'a str) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

/// A request's headers: names lowercased, repeated headers kept as separate entries, in the
/// order Envoy hands them over. They live in one buffer, which the adapter takes over from the
/// host call that copied Envoy's header map into the module: the entries point into it, so no
/// header is copied per request (copying each one, twice, showed in a V8 profile).
#[derive(Debug, Clone, Default)]
pub struct Headers {
    buf: Vec<u8>,
    entries: Vec<HeaderEntry>,
}

#[derive(Debug, Clone)]
struct HeaderEntry {
    name: Range<usize>,
    value: Range<usize>,
}

impl Headers {
    /// Takes over `buf`, whose `(name, value)` ranges are `pairs`, and lowercases the names in
    /// place. `None` when a range is not inside `buf`.
    pub fn from_buffer(mut buf: Vec<u8>, pairs: Vec<(Range<usize>, Range<usize>)>) -> Option<Self> {
        let mut entries = Vec::with_capacity(pairs.len());
        for (name, value) in pairs {
            buf.get_mut(name.clone())?.make_ascii_lowercase();
            buf.get(value.clone())?;
            entries.push(HeaderEntry { name, value });
        }
        Some(Headers { buf, entries })
    }

    /// Adds a header after the others (its name lowercased).
    pub fn push(&mut self, name: &[u8], value: &[u8]) {
        let start = self.buf.len();
        self.buf.extend_from_slice(name);
        let mid = self.buf.len();
        if let Some(n) = self.buf.get_mut(start..mid) {
            n.make_ascii_lowercase();
        }
        self.buf.extend_from_slice(value);
        self.entries.push(HeaderEntry {
            name: start..mid,
            value: mid..self.buf.len(),
        });
    }

    /// Every header, as (lowercased name, value).
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries.iter().map(|e| {
            (
                self.buf.get(e.name.clone()).unwrap_or_default(),
                self.buf.get(e.value.clone()).unwrap_or_default(),
            )
        })
    }

    /// Every value of the header `name` (compared case-insensitively).
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v)
    }

    /// Drops every header `keep` says no to (their bytes stay in the buffer, unreferenced).
    pub fn retain(&mut self, mut keep: impl FnMut(&[u8], &[u8]) -> bool) {
        let buf = &self.buf;
        self.entries.retain(|e| {
            keep(
                buf.get(e.name.clone()).unwrap_or_default(),
                buf.get(e.value.clone()).unwrap_or_default(),
            )
        });
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<N: AsRef<[u8]>, V: AsRef<[u8]>> FromIterator<(N, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (N, V)>>(pairs: I) -> Self {
        let mut h = Headers::default();
        for (n, v) in pairs {
            h.push(n.as_ref(), v.as_ref());
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_in_one_buffer() {
        // Pairs as ranges of a buffer: names lowercased in place, values untouched.
        let buf = b"X-Role\0Admin\0:path\0/a\0".to_vec();
        let mut h = Headers::from_buffer(buf, vec![(0..6, 7..12), (13..18, 19..21)]).unwrap();
        assert_eq!(h.values("x-role").collect::<Vec<_>>(), vec![&b"Admin"[..]]);
        assert_eq!(h.values("X-ROLE").count(), 1);
        h.push(b"X-Role", b"user");
        assert_eq!(h.values("x-role").count(), 2);
        assert_eq!(h.iter().last(), Some((&b"x-role"[..], &b"user"[..])));
        h.retain(|n, _| n != b"x-role");
        assert_eq!(h.len(), 1);
        assert_eq!(h.values(":path").next(), Some(&b"/a"[..]));
        // A range outside the buffer is refused, not read.
        assert!(Headers::from_buffer(b"ab".to_vec(), vec![(0..1, 1..3)]).is_none());
        assert!(
            Headers::from_buffer(b"ab".to_vec(), vec![(Range { start: 1, end: 0 }, 0..1)])
                .is_none()
        );
    }

    #[test]
    fn url_path_drops_the_query_only() {
        let mut r = Request {
            path: "/admin?x=/y".into(),
            ..Default::default()
        };
        assert_eq!(r.url_path(), "/admin");
        r.path = "/a%3Fb".into();
        assert_eq!(r.url_path(), "/a%3Fb");
    }

    #[test]
    fn peer_identity_parts() {
        let p = Peer::mtls("spiffe://cluster.local/ns/default/sa/frontend");
        assert_eq!(p.principal(), Some("cluster.local/ns/default/sa/frontend"));
        assert_eq!(p.namespace(), Some("default"));
        let odd = Peer::mtls("https://example.com/x");
        assert_eq!(odd.principal(), None);
        assert_eq!(odd.namespace(), None);
        assert_eq!(Peer::plaintext().namespace(), None);
    }

    #[test]
    fn repeated_headers_are_kept() {
        let r = Request {
            headers: [("x-role", "user"), ("x-role", "admin")]
                .into_iter()
                .collect(),
            ..Default::default()
        };
        assert_eq!(r.header_values("X-Role").count(), 2);
        assert_eq!(r.header("x-role"), Some(&b"user"[..]));
    }
}
