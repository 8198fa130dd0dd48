//! Where RequestAuthentication reads tokens (Istio's JWTRule locations) and what a request
//! carries there, as Envoy's jwt_authn extractor finds it.

use crate::config::spec::JwtRule;
use crate::request::Request;

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

/// A token found in the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Index into the location list it was found with.
    pub location: usize,
    pub token: String,
}

/// Every token the request carries in `locations`, at most one per location (the first header
/// value, query parameter or cookie with that name, as Envoy takes them).
pub fn find(locations: &[Location], r: &Request) -> Vec<Found> {
    let query = r.path.split_once('?').map(|(_, q)| q).unwrap_or("");
    locations
        .iter()
        .enumerate()
        .filter_map(|(i, loc)| {
            let token = match loc {
                Location::Header { name, prefix } => {
                    r.header_values(name).find_map(|v| from_header(v, prefix))
                }
                Location::Param(name) => query_param(query, name),
                Location::Cookie(name) => r.header_values("cookie").find_map(|v| cookie(v, name)),
            }?;
            Some(Found { location: i, token })
        })
        .collect()
}

/// The value after the prefix, leading spaces skipped. Envoy looks for the prefix anywhere in
/// the value (two Authorization headers arrive folded, `Basic ...,Bearer <t>`), so we do too:
/// a token it would verify must not go unseen here. A value without the prefix, or with
/// nothing after it, carries no token. What follows is the token as written: junk after it
/// makes it malformed, which verification reports.
fn from_header(value: &[u8], prefix: &str) -> Option<String> {
    let p = prefix.as_bytes();
    let at = if p.is_empty() {
        0
    } else {
        value.windows(p.len()).position(|w| w == p)?
    };
    let rest = value.get(at + p.len()..)?;
    let start = rest.iter().position(|b| *b != b' ')?;
    let token = rest.get(start..)?;
    Some(String::from_utf8_lossy(token).into_owned())
}

/// The first `name=value` of the query string; names and values percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name.as_bytes() && !v.is_empty())
            .then(|| String::from_utf8_lossy(&percent_decode(v)).into_owned())
    })
}

fn cookie(header: &[u8], name: &str) -> Option<String> {
    String::from_utf8_lossy(header).split(';').find_map(|c| {
        let (k, v) = c.trim().split_once('=')?;
        (k == name && !v.is_empty()).then(|| v.trim_matches('"').to_string())
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
        serde_json::from_value(v).unwrap()
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

    fn tokens(locs: &[Location], r: &Request) -> Vec<(usize, String)> {
        find(locs, r)
            .into_iter()
            .map(|f| (f.location, f.token))
            .collect()
    }

    #[test]
    fn default_locations() {
        let l = Location::of_rule(&rule(json!({"issuer": "i"})));
        let t = |path: &str, h: &[(&str, &str)]| tokens(&l, &req(path, h));
        assert_eq!(
            t("/", &[("authorization", "Bearer abc")]),
            vec![(0, "abc".into())]
        );
        assert_eq!(
            t("/", &[("authorization", "Bearer    abc")]),
            vec![(0, "abc".into())]
        );
        assert_eq!(
            t("/", &[("authorization", "Bearer a.b.c junk")]),
            vec![(0, "a.b.c junk".into())]
        );
        assert_eq!(
            t("/", &[("authorization", "Basic dXNlcg==,Bearer abc")]),
            vec![(0, "abc".into())]
        );
        assert_eq!(
            t("/", &[("authorization", "xBearer abc")]),
            vec![(0, "abc".into())]
        );
        for anonymous in [
            "Basic abc",
            "bearer abc",
            "BEARER abc",
            "Bearer\tabc",
            "Bearer ",
            "Bearer    ",
            "abc",
        ] {
            assert!(
                t("/", &[("authorization", anonymous)]).is_empty(),
                "{anonymous}"
            );
        }
        assert_eq!(
            t("/x?a=1&access_token=t1&access_token=t2", &[]),
            vec![(1, "t1".into())]
        );
        assert_eq!(t("/x?access%5Ftoken=a%2Eb", &[]), vec![(1, "a.b".into())]);
        assert!(t("/x?access_token=", &[]).is_empty());
        assert_eq!(
            t("/x?access_token=q", &[("authorization", "Bearer h")]),
            vec![(0, "h".into()), (1, "q".into())]
        );
    }

    #[test]
    fn declared_locations_replace_defaults() {
        let l = Location::of_rule(&rule(json!({"issuer": "i",
            "fromHeaders": [{"name": "X-Jwt"}, {"name": "X-Auth", "prefix": "Token "}],
            "fromParams": ["jwt"], "fromCookies": ["session"]})));
        let t = |path: &str, h: &[(&str, &str)]| tokens(&l, &req(path, h));
        assert!(t("/?access_token=x", &[("authorization", "Bearer abc")]).is_empty());
        assert_eq!(t("/", &[("x-jwt", "abc")]), vec![(0, "abc".into())]);
        assert_eq!(t("/", &[("x-auth", "Token abc")]), vec![(1, "abc".into())]);
        assert_eq!(t("/?jwt=p", &[]), vec![(2, "p".into())]);
        assert_eq!(
            t("/", &[("cookie", "a=b; session=tok")]),
            vec![(3, "tok".into())]
        );
        assert!(t("/", &[("cookie", "sessionx=tok")]).is_empty());
    }
}
