//! Where RequestAuthentication reads tokens (Istio's JWTRule locations) and what a request
//! carries there, as Envoy's jwt_authn extractor finds it.

use crate::config::spec::JwtRule;
use crate::request::{text_lossy, Request};
use crate::sort::{sort, sort_by};

/// One place a token can be carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A header (name lowercased) whose value starts with `prefix` (case-sensitive).
    Header {
        name: String,
        prefix: String,
    },
    Param(String),
    Cookie(String),
}

impl Location {
    /// The locations a rule reads: its own, or Istio's defaults when it declares none
    /// (`Authorization: Bearer <token>` and the `access_token` query parameter).
    pub fn of_rule(rule: &JwtRule) -> Vec<Location> {
        if rule.from_headers.is_empty()
            && rule.from_params.is_empty()
            && rule.from_cookies.is_empty()
        {
            return vec![
                Location::Header {
                    name: "authorization".into(),
                    prefix: "Bearer ".into(),
                },
                Location::Param("access_token".into()),
            ];
        }
        let headers = rule.from_headers.iter().map(|h| Location::Header {
            name: h.name.to_ascii_lowercase(),
            prefix: h.prefix.clone().unwrap_or_default(),
        });
        let params = rule.from_params.iter().cloned().map(Location::Param);
        let cookies = rule.from_cookies.iter().cloned().map(Location::Cookie);
        headers.chain(params).chain(cookies).collect()
    }
}

/// Where one provider's tokens are looked for, in the order Envoy's jwt_authn extractor walks
/// them: headers sorted by name and prefix, then query parameters sorted by name, then cookies
/// sorted by name (its `std::map`s), each place once however often the rule names it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extractor {
    headers: Vec<(String, String)>,
    params: Vec<String>,
    cookies: Vec<String>,
}

/// Where a token was found: what removing it (`forwardOriginalToken: false`) changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// The whole header goes, every value of it.
    Header(String),
    /// The parameter goes from the query string.
    Param(String),
    /// Envoy leaves cookies in place.
    Cookie,
}

/// A token found in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub place: Place,
    pub token: String,
}

impl Extractor {
    pub fn new(locations: &[Location]) -> Self {
        let mut e = Extractor::default();
        for loc in locations {
            match loc {
                Location::Header { name, prefix } => e.headers.push((name.clone(), prefix.clone())),
                Location::Param(name) => e.params.push(name.clone()),
                Location::Cookie(name) => e.cookies.push(name.clone()),
            }
        }
        // Envoy keys its header map by name + prefix.
        sort_by(&mut e.headers, |(n1, p1), (n2, p2)| {
            format!("{n1}{p1}").cmp(&format!("{n2}{p2}"))
        });
        e.headers.dedup();
        sort(&mut e.params);
        e.params.dedup();
        sort(&mut e.cookies);
        e.cookies.dedup();
        e
    }

    /// Every token the request carries in these places, in Envoy's order: every value of each
    /// header (a value without the prefix carries none), the first value of each parameter, the
    /// first cookie of each name. An empty value is a token too (a malformed one), as in Envoy.
    pub fn find(&self, r: &Request) -> Vec<Found> {
        let mut out = Vec::new();
        for (name, prefix) in &self.headers {
            for value in r.header_values(name) {
                if let Some(token) = from_header(value, prefix) {
                    out.push(Found {
                        place: Place::Header(name.clone()),
                        token,
                    });
                }
            }
        }
        if !self.params.is_empty() {
            let params = query_params(&r.path);
            for name in &self.params {
                if let Some((_, value)) =
                    params.iter().find(|(k, _)| k.as_bytes() == name.as_bytes())
                {
                    out.push(Found {
                        place: Place::Param(name.clone()),
                        token: value.clone(),
                    });
                }
            }
        }
        for name in &self.cookies {
            if let Some(token) = r.header_values("cookie").find_map(|v| cookie(v, name)) {
                out.push(Found {
                    place: Place::Cookie,
                    token,
                });
            }
        }
        out
    }
}

/// Characters a JWT is made of (base64url and the dots).
fn is_jwt_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.'
}

/// The token in a header value, as Envoy's extractor reads it. Without a prefix, the whole
/// value. With one, Envoy looks for the prefix anywhere in the value (two Authorization headers
/// arrive folded, `Basic ...,Bearer <t>`) and takes everything from the first JWT character
/// after it; with no such character, the whole value (a malformed token). Junk after the
/// token stays with it and makes it malformed.
fn from_header(value: &[u8], prefix: &str) -> Option<String> {
    let p = prefix.as_bytes();
    if p.is_empty() {
        return Some(text_lossy(value));
    }
    let at = value.windows(p.len()).position(|w| w == p)?;
    let rest = value.get(at + p.len()..).unwrap_or_default();
    let token = match rest.iter().position(|b| is_jwt_char(*b)) {
        Some(start) => rest.get(start..).unwrap_or_default(),
        None => value,
    };
    Some(text_lossy(token))
}

/// The query string's parameters, names and values percent-decoded, as Envoy's
/// `parseAndDecodeQueryString` splits them: at every `&`, a parameter without `=` has an empty
/// value. In order of appearance.
pub fn query_params(path: &str) -> Vec<(String, String)> {
    let Some((_, query)) = path.split_once('?') else {
        return Vec::new();
    };
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (
                text_lossy(&percent_decode(k)),
                text_lossy(&percent_decode(v)),
            )
        })
        .collect()
}

/// `path` without the parameter `name`, as Envoy rewrites it when it removes a verified token:
/// the remaining parameters sorted by name (stably), written back decoded, `?` only if any
/// remain.
pub fn without_param(path: &str, name: &str) -> String {
    let base = path.split_once('?').map_or(path, |(p, _)| p);
    let mut params = query_params(path);
    params.retain(|(k, _)| k != name);
    sort_by(&mut params, |(a, _), (b, _)| a.cmp(b));
    let mut out = base.to_string();
    for (i, (k, v)) in params.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// A cookie's value as Envoy's `parseCookies` reads it: `;`-separated `name=value` pairs,
/// spaces before the name skipped, surrounding double quotes removed; the first of a name
/// wins, an empty value included.
fn cookie(header: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(header).split(';').find_map(|c| {
        let (k, v) = c.trim_start_matches(' ').split_once('=')?;
        if k != name {
            return None;
        }
        let v = match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => inner,
            None => v,
        };
        Some(v.to_string())
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |j: usize| bytes.get(j).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(i + 1), hex(i + 2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(v: serde_json::Value) -> JwtRule {
        crate::config::read::from_value(&v).unwrap()
    }

    fn req(path: &str, headers: &[(&str, &str)]) -> Request {
        Request {
            path: path.into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
                .collect(),
            ..Default::default()
        }
    }

    fn tokens(locs: &[Location], r: &Request) -> Vec<(Place, String)> {
        Extractor::new(locs)
            .find(r)
            .into_iter()
            .map(|f| (f.place, f.token))
            .collect()
    }

    fn header(name: &str, token: &str) -> (Place, String) {
        (Place::Header(name.into()), token.into())
    }

    fn param(name: &str, token: &str) -> (Place, String) {
        (Place::Param(name.into()), token.into())
    }

    #[test]
    fn default_locations() {
        let l = Location::of_rule(&rule(json!({"issuer": "i"})));
        let t = |path: &str, h: &[(&str, &str)]| tokens(&l, &req(path, h));
        let auth = |token: &str| vec![header("authorization", token)];
        assert_eq!(t("/", &[("authorization", "Bearer abc")]), auth("abc"));
        assert_eq!(t("/", &[("authorization", "Bearer    abc")]), auth("abc"));
        assert_eq!(t("/", &[("authorization", "Bearer ,\"abc")]), auth("abc"));
        assert_eq!(
            t("/", &[("authorization", "Bearer a.b.c junk")]),
            auth("a.b.c junk")
        );
        assert_eq!(
            t("/", &[("authorization", "Basic dXNlcg==,Bearer abc")]),
            auth("abc")
        );
        assert_eq!(t("/", &[("authorization", "xBearer abc")]), auth("abc"));
        // The prefix with no token character after it: the whole value, a malformed token.
        assert_eq!(t("/", &[("authorization", "Bearer  ,")]), auth("Bearer  ,"));
        for anonymous in [
            "Basic abc",
            "bearer abc",
            "BEARER abc",
            "Bearer\tabc",
            "abc",
        ] {
            assert!(
                t("/", &[("authorization", anonymous)]).is_empty(),
                "{anonymous}"
            );
        }
        assert_eq!(
            t("/x?a=1&access_token=t1&access_token=t2", &[]),
            vec![param("access_token", "t1")]
        );
        assert_eq!(
            t("/x?access%5Ftoken=a%2Eb", &[]),
            vec![param("access_token", "a.b")]
        );
        // A parameter with an empty value, or none, carries an empty (malformed) token.
        assert_eq!(t("/x?access_token=", &[]), vec![param("access_token", "")]);
        assert_eq!(t("/x?access_token", &[]), vec![param("access_token", "")]);
        assert_eq!(
            t("/x?access_token=q", &[("authorization", "Bearer h")]),
            vec![header("authorization", "h"), param("access_token", "q")]
        );
    }

    #[test]
    fn declared_locations_replace_defaults() {
        let l = Location::of_rule(&rule(json!({"issuer": "i",
            "fromHeaders": [{"name": "X-Jwt"}, {"name": "X-Auth", "prefix": "Token "}],
            "fromParams": ["jwt", "a"], "fromCookies": ["session"]})));
        let t = |path: &str, h: &[(&str, &str)]| tokens(&l, &req(path, h));
        assert!(t("/?access_token=x", &[("authorization", "Bearer abc")]).is_empty());
        assert_eq!(t("/", &[("x-jwt", "abc")]), vec![header("x-jwt", "abc")]);
        assert_eq!(t("/", &[("x-jwt", "")]), vec![header("x-jwt", "")]);
        assert_eq!(
            t("/", &[("x-auth", "Token abc")]),
            vec![header("x-auth", "abc")]
        );
        assert_eq!(t("/?jwt=p", &[]), vec![param("jwt", "p")]);
        assert_eq!(
            t("/", &[("cookie", "a=b; session=tok")]),
            vec![(Place::Cookie, "tok".into())]
        );
        assert_eq!(
            t("/", &[("cookie", "session=\"tok\"; session=other")]),
            vec![(Place::Cookie, "tok".into())]
        );
        assert!(t("/", &[("cookie", "sessionx=tok")]).is_empty());
        // Envoy's order: headers by name and prefix (every value), parameters by name, cookies.
        assert_eq!(
            t(
                "/?jwt=1&a=2",
                &[
                    ("x-jwt", "3"),
                    ("x-auth", "Token 4"),
                    ("x-jwt", "5"),
                    ("cookie", "session=6")
                ]
            ),
            vec![
                header("x-auth", "4"),
                header("x-jwt", "3"),
                header("x-jwt", "5"),
                param("a", "2"),
                param("jwt", "1"),
                (Place::Cookie, "6".into()),
            ]
        );
    }

    #[test]
    fn removing_a_parameter_rewrites_the_query_as_envoy() {
        assert_eq!(without_param("/x?access_token=t", "access_token"), "/x");
        assert_eq!(
            without_param("/x?a=1&access_token=t", "access_token"),
            "/x?a=1"
        );
        assert_eq!(
            without_param("/x?z=1&access_token=t&b=%2F&c", "access_token"),
            "/x?b=/&c=&z=1"
        );
        assert_eq!(without_param("/x", "access_token"), "/x");
    }
}
