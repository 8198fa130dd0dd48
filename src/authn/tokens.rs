//! Where RequestAuthentication reads tokens (Istio's JWTRule locations), and whether a request
//! carries one there.

use crate::config::spec::JwtRule;
use crate::request::Request;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenLocations {
    /// (lowercased header name, value prefix)
    pub headers: Vec<(String, String)>,
    pub params: Vec<String>,
    pub cookies: Vec<String>,
}

impl TokenLocations {
    /// The union of every rule's locations; a rule that declares none reads Istio's defaults,
    /// `Authorization: Bearer <token>` and the `access_token` query parameter.
    pub fn from_rules<'a>(rules: impl IntoIterator<Item = &'a JwtRule>) -> Self {
        let mut out = TokenLocations::default();
        for rule in rules {
            let defaults = rule.from_headers.is_empty()
                && rule.from_params.is_empty()
                && rule.from_cookies.is_empty();
            if defaults {
                push(
                    &mut out.headers,
                    ("authorization".to_string(), "Bearer ".to_string()),
                );
                push(&mut out.params, "access_token".to_string());
            }
            for h in &rule.from_headers {
                push(
                    &mut out.headers,
                    (
                        h.name.to_ascii_lowercase(),
                        h.prefix.clone().unwrap_or_default(),
                    ),
                );
            }
            for p in &rule.from_params {
                push(&mut out.params, p.clone());
            }
            for c in &rule.from_cookies {
                push(&mut out.cookies, c.clone());
            }
        }
        out
    }

    /// Whether the request carries something in a token location. A header without the
    /// configured prefix, or with nothing after it, is not a token (Envoy treats it as absent).
    pub fn token_present(&self, r: &Request) -> bool {
        let in_header = self.headers.iter().any(|(name, prefix)| {
            r.header_values(name).any(|v| {
                v.strip_prefix(prefix.as_bytes())
                    .is_some_and(|rest| rest.iter().any(|b| !b.is_ascii_whitespace()))
            })
        });
        let query = r.path.split_once('?').map(|(_, q)| q).unwrap_or("");
        let in_param = query.split('&').any(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            !value.is_empty() && self.params.iter().any(|p| percent_decode_eq(name, p))
        });
        let in_cookie = !self.cookies.is_empty()
            && r.header_values("cookie").any(|v| {
                String::from_utf8_lossy(v).split(';').any(|c| {
                    let (name, value) = c.trim().split_once('=').unwrap_or(("", ""));
                    !value.is_empty() && self.cookies.iter().any(|k| k == name)
                })
            });
        in_header || in_param || in_cookie
    }
}

fn push<T: PartialEq>(v: &mut Vec<T>, item: T) {
    if !v.contains(&item) {
        v.push(item);
    }
}

/// Query parameter names are compared after percent-decoding (`access%5Ftoken`).
fn percent_decode_eq(raw: &str, name: &str) -> bool {
    let bytes = raw.as_bytes();
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
    out == name.as_bytes()
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

    #[test]
    fn default_locations() {
        let l = TokenLocations::from_rules(&[rule(json!({"issuer": "i"}))]);
        assert!(l.token_present(&req("/", &[("authorization", "Bearer abc")])));
        assert!(!l.token_present(&req("/", &[("authorization", "Basic abc")])));
        assert!(!l.token_present(&req("/", &[("authorization", "bearer abc")])));
        assert!(!l.token_present(&req("/", &[("authorization", "Bearer ")])));
        assert!(l.token_present(&req("/x?a=1&access_token=t", &[])));
        assert!(l.token_present(&req("/x?access%5Ftoken=t", &[])));
        assert!(!l.token_present(&req("/x?access_token=", &[])));
        assert!(!l.token_present(&req("/x", &[])));
    }

    #[test]
    fn declared_locations_replace_defaults() {
        let l = TokenLocations::from_rules(&[rule(json!({"issuer": "i",
            "fromHeaders": [{"name": "X-Jwt"}], "fromCookies": ["session"]}))]);
        assert!(!l.token_present(&req("/", &[("authorization", "Bearer abc")])));
        assert!(l.token_present(&req("/", &[("x-jwt", "abc")])));
        assert!(l.token_present(&req("/", &[("cookie", "a=b; session=tok")])));
        assert!(!l.token_present(&req("/?access_token=x", &[])));
    }
}
