//! JSON parsed as strictly as Envoy parses JWT headers, payloads and JWKS; the plugin
//! configuration is read the same way.
//!
//! jwt_verify_lib reads them with protobuf's JSON parser into a `google.protobuf.Struct`,
//! which refuses a member name that appears twice in one object and more than 100 nested
//! objects and arrays (protobuf `json/internal/lexer.h`, `ParseOptions::kDefaultDepth`).
//! serde_json alone would keep the last of two `"sub"` members, so a signed token could say
//! one thing to a backend that keeps the first and another to us: both are refused here. In a
//! configuration, a repeated member (`"action": "DENY"` ... `"action": "ALLOW"`) is one nobody
//! can tell the meaning of, so it is refused too.

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// Objects and arrays open at once, the top-level object included.
pub const MAX_DEPTH: usize = 100;

/// The JSON object in `bytes`, or `None` when it is not one object (another JSON type,
/// trailing data, invalid UTF-8), repeats a member name, or nests deeper than [`MAX_DEPTH`].
pub fn parse_object(bytes: &[u8]) -> Option<Map<String, Value>> {
    match parse(bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// The one JSON value in `bytes`, or serde_json's error (with its position) for the first
/// thing wrong: a syntax error, a repeated member name (`duplicate field `x``), nesting
/// deeper than [`MAX_DEPTH`], text after the value.
pub fn parse(bytes: &[u8]) -> Result<Value, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = read_value(&mut de)?;
    de.end()?;
    Ok(value)
}

/// The next JSON value from `de`, as strictly as [`parse`]; what follows it is the caller's.
pub fn read_value(
    de: &mut serde_json::Deserializer<serde_json::de::SliceRead<'_>>,
) -> Result<Value, serde_json::Error> {
    Strict { depth: 0 }.deserialize(de)
}

/// One JSON value at `depth` containers below the top.
struct Strict {
    depth: usize,
}

impl Strict {
    fn enter<E: de::Error>(&self) -> Result<Strict, E> {
        let depth = self.depth + 1;
        if depth > MAX_DEPTH {
            return Err(E::custom("JSON nested too deeply"));
        }
        Ok(Strict { depth })
    }
}

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict { depth: inner.depth })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key_seed(Key)? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let value = map.next_value_seed(Strict { depth: inner.depth })?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

/// An object's member name. Read through `deserialize_any`, which serde_json answers with the
/// string itself: `String`'s own `Deserialize` would also compile serde's message for every
/// other JSON type, float formatting included, into the .wasm.
struct Key;

impl<'de> DeserializeSeed<'de> for Key {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<String, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E>(self, v: String) -> Result<String, E> {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> String {
        // `depth` containers in all: the top-level object, then arrays.
        format!(
            "{{\"a\":{}1{}}}",
            "[".repeat(depth - 1),
            "]".repeat(depth - 1)
        )
    }

    #[test]
    fn objects_only() {
        assert!(parse_object(br#"{"a":1,"b":[true,null,"x",1.5,-2]}"#).is_some());
        assert!(parse_object(b" { } ").is_some());
        assert_eq!(parse_object(b"[1]"), None);
        assert_eq!(parse_object(b"\"a\""), None);
        assert_eq!(parse_object(b"null"), None);
        assert_eq!(parse_object(b"{} x"), None);
        assert_eq!(parse_object(b"{}{}"), None);
        assert_eq!(parse_object(b"{\"a\":1,}"), None);
        assert_eq!(parse_object(b"{'a':1}"), None);
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), None);
        assert_eq!(parse_object(b"{\"a\":1e400}"), None);
        assert_eq!(parse_object(b""), None);
    }

    #[test]
    fn duplicate_members_anywhere() {
        assert_eq!(parse_object(br#"{"sub":"alice","sub":"admin"}"#), None);
        assert_eq!(parse_object(br#"{"a":{"x":1,"x":1}}"#), None);
        assert_eq!(parse_object(br#"{"a":[{"x":1,"y":2,"x":3}]}"#), None);
        // An escape that spells the same name is the same name.
        assert_eq!(parse_object(br#"{"sub":"a","s\u0075b":"b"}"#), None);
        assert!(parse_object(br#"{"a":{"x":1},"b":{"x":1}}"#).is_some());
    }

    #[test]
    fn depth_limit() {
        assert!(parse_object(nested(MAX_DEPTH).as_bytes()).is_some());
        assert_eq!(parse_object(nested(MAX_DEPTH + 1).as_bytes()), None);
        assert_eq!(parse_object(nested(1000).as_bytes()), None);
        let objects = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
        assert_eq!(parse_object(objects.as_bytes()), None);
    }
}
