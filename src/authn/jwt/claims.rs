//! What a verified token writes into request headers: `outputClaimToHeaders` and
//! `outputPayloadToHeader`, valued as Envoy's `jwt_authn` values them
//! (`authenticator.cc`, `addJWTClaimToHeader` and `handleGoodJwt`).

use serde_json::{Map, Value};

use super::verify::VerifiedJwt;
use crate::config::spec::ClaimToHeader;

/// The header value for `claim`: a string as is, a number as Envoy prints the double it holds
/// (`7` for an integer in 0..2^64, else printf's `%f`: `1.500000`, `-3.000000`), a bool as
/// `true`/`false`, a list or an object as the base64 of its JSON (Envoy does so, and a header
/// condition on it must see it). `a.b` walks into nested objects. Null, an empty string and a
/// missing claim give no header.
pub fn claim_value(payload: &Map<String, Value>, claim: &str) -> Option<String> {
    let mut names = claim.split('.');
    let mut value = payload.get(names.next()?)?;
    for name in names {
        value = value.as_object()?.get(name)?;
    }
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number_text(n.as_f64()?),
        Value::Array(_) | Value::Object(_) => standard_base64(&serde_json::to_vec(value).ok()?),
        Value::Null => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// Standard base64 with padding (Envoy's `Base64::encode`), from our base64url.
fn standard_base64(bytes: &[u8]) -> String {
    let mut out: String = super::base64url::encode(bytes)
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            c => c,
        })
        .collect();
    while !out.len().is_multiple_of(4) {
        out.push('=');
    }
    out
}

/// Envoy's `convertClaimDoubleToString`.
fn number_text(v: f64) -> String {
    if v < 0.0 || v >= u64::MAX as f64 || v.fract() != 0.0 {
        format!("{v:.6}")
    } else {
        (v as u64).to_string()
    }
}

/// The `(header, value)` pairs `outputClaimToHeaders` adds for `jwt`, header names lowercased,
/// in rule order; claims without a value are left out.
pub fn claim_headers(jwt: &VerifiedJwt, rules: &[ClaimToHeader]) -> Vec<(String, String)> {
    rules
        .iter()
        .filter_map(|r| {
            claim_value(&jwt.payload, &r.claim).map(|v| (r.header.to_ascii_lowercase(), v))
        })
        .collect()
}

/// The `outputPayloadToHeader` value: the payload segment exactly as the client sent it
/// (base64url, no padding added), as Envoy forwards `payload_str_base64url_`.
pub fn payload_header(jwt: &VerifiedJwt) -> &str {
    &jwt.payload_b64
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn payload(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!(),
        }
    }

    #[test]
    fn claim_values() {
        let p = payload(json!({
            "s": "str", "i": 42, "neg": -3, "f": 1.5, "big": 12345678901234567891u64,
            "huge": 1e20, "t": true, "fa": false, "n": null, "l": ["a"], "o": {"x": "y"},
            "e": "", "nested": {"a": {"b": 7}}, "a.b": "dotted", "z": 0, "fint": 2.0
        }));
        let v = |c: &str| claim_value(&p, c);
        assert_eq!(v("s").as_deref(), Some("str"));
        assert_eq!(v("i").as_deref(), Some("42"));
        assert_eq!(v("z").as_deref(), Some("0"));
        assert_eq!(v("fint").as_deref(), Some("2"));
        assert_eq!(v("neg").as_deref(), Some("-3.000000"));
        assert_eq!(v("f").as_deref(), Some("1.500000"));
        // Held as a double, as protobuf's Struct holds it.
        assert_eq!(v("big").as_deref(), Some("12345678901234567168"));
        assert_eq!(v("huge").as_deref(), Some("100000000000000000000.000000"));
        assert_eq!(v("t").as_deref(), Some("true"));
        assert_eq!(v("fa").as_deref(), Some("false"));
        assert_eq!(v("n"), None);
        // Lists and objects: base64 of their JSON, as Envoy writes them.
        assert_eq!(v("l").as_deref(), Some("WyJhIl0="));
        assert!(v("o").is_some());
        assert_eq!(v("e"), None);
        assert_eq!(v("missing"), None);
        assert_eq!(v("nested.a.b").as_deref(), Some("7"));
        assert_eq!(v("o.x").as_deref(), Some("y"));
        assert_eq!(v("s.x"), None);
        // `a.b` is a path, never the claim literally named "a.b".
        assert_eq!(v("a.b"), None);
    }
}
