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
        fixed6(v)
    } else {
        (v as u64).to_string()
    }
}

/// `format!("{v:.6}")` for a finite `v`, written out here: core's float formatting is ~18 KB
/// of .wasm for this one use. The exact binary value is rounded at the sixth decimal, half to
/// even, as core does.
fn fixed6(v: f64) -> String {
    let bits = v.to_bits();
    let biased = i32::try_from((bits >> 52) & 0x7ff).unwrap_or(0);
    let fraction = bits & ((1 << 52) - 1);
    // v = ±m × 2^e
    let (m, e) = match biased {
        0 => (fraction, -1074),
        _ => (fraction | 1 << 52, biased - 1075),
    };
    let mut digits = if e >= 0 {
        // An integer: its digits, then six zeros.
        let mut limbs = vec![0u32; e.unsigned_abs() as usize / 32 + 3];
        let shift = e.unsigned_abs() % 32;
        let wide = u128::from(m) << shift;
        for (i, limb) in limbs
            .iter_mut()
            .skip(e.unsigned_abs() as usize / 32)
            .take(3)
            .enumerate()
        {
            *limb = (wide >> (32 * i)) as u32;
        }
        let mut d = decimal(limbs);
        d.push_str("000000");
        d
    } else {
        // v × 10^6 = m × 10^6 / 2^k, which fits in 73 bits before the division.
        let k = e.unsigned_abs();
        let scaled = u128::from(m) * 1_000_000;
        let q = if k >= 128 {
            0 // below 2^-54: rounds to zero
        } else {
            let q = scaled >> k;
            let rem = scaled & ((1u128 << k) - 1);
            let half = 1u128 << (k - 1);
            q + u128::from(rem > half || (rem == half && q & 1 == 1))
        };
        decimal((0..3).map(|i| (q >> (32 * i)) as u32).collect())
    };
    while digits.len() < 7 {
        digits.insert(0, '0');
    }
    digits.insert(digits.len() - 6, '.');
    if bits >> 63 == 1 {
        digits.insert(0, '-');
    }
    digits
}

/// The decimal digits of the little-endian base-2^32 number `limbs` (`0` for zero).
fn decimal(mut limbs: Vec<u32>) -> String {
    let mut groups = Vec::new();
    while limbs.iter().any(|&l| l != 0) {
        let mut rem = 0u64;
        for limb in limbs.iter_mut().rev() {
            let cur = rem << 32 | u64::from(*limb);
            *limb = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        groups.push(rem as u32);
    }
    let mut out = groups
        .last()
        .map_or_else(|| "0".to_string(), u32::to_string);
    for g in groups.iter().rev().skip(1) {
        let g = g.to_string();
        out.push_str(&"000000000"[g.len()..]);
        out.push_str(&g);
    }
    out
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

    #[test]
    fn six_decimals_as_core_writes_them() {
        let mut next = crate::authn::jwt::tests::xorshift(0x5eed);
        let mut values = vec![
            0.0078125, // 7812.5 millionths: a tie, to even
            0.0234375,
            1.0 / 1024.0,
            5e-7,
            4.9999999e-7,
            1e-7,
            -1e-9,
            f64::MIN_POSITIVE,
            5e-324,
            -2.5,
            1e20,
            -1e300,
            f64::MAX,
            f64::MIN,
            18446744073709551616.0,
            123456.0000005,
            0.9999995,
            -0.0,
        ];
        for _ in 0..20_000 {
            let v = f64::from_bits(next());
            if v.is_finite() {
                values.push(v);
            }
            // Moderate magnitudes, where claims live.
            let x = (next() >> 11) as f64 / (1u64 << (next() % 64)) as f64;
            values.push(if next() & 1 == 1 { -x } else { x });
        }
        for v in values {
            assert_eq!(fixed6(v), format!("{v:.6}"), "{v:e}");
        }
    }
}
