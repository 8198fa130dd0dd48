//! A deserializer for a `serde_json::Value` that names the failing field.
//!
//! It accepts exactly what `serde_json::from_value` accepts and fails with the same message
//! (every error is built by `serde_json::Error` itself); in addition the error collects, as it
//! travels out, the key or index of each value it leaves. Nothing is recorded while
//! deserialization succeeds.
//!
//! Map keys are handed to the visitor as strings only: every map in the configuration is
//! keyed by strings (serde_json would also parse numeric keys).

use super::Segment;
use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Unexpected, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;

/// serde_json's error for the value, and where that value is. Boxed, like serde_json's, so
/// that every `Result` the derived code passes around stays small.
#[derive(Debug)]
pub struct Error(Box<Located>);

#[derive(Debug)]
struct Located {
    error: serde_json::Error,
    /// Innermost first: each level pushes its own segment as the error passes through it.
    segments: Vec<Segment>,
}

impl Error {
    fn new(error: serde_json::Error) -> Self {
        Error(Box::new(Located {
            error,
            segments: Vec::new(),
        }))
    }

    /// serde_json's error, as `serde_json::from_value` would have returned it.
    pub fn inner(&self) -> &serde_json::Error {
        &self.0.error
    }

    /// The failing value's path, `.` for the document itself.
    pub fn path(&self) -> String {
        let mut segments = self.0.segments.clone();
        segments.reverse();
        super::display(&segments)
    }

    #[cold]
    fn under_key(mut self, key: &str) -> Self {
        self.0.segments.push(Segment::Key(key.to_owned()));
        self
    }

    #[cold]
    fn under_index(mut self, index: usize) -> Self {
        self.0.segments.push(Segment::Index(index));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.error.fmt(f)
    }
}

impl std::error::Error for Error {}

// serde_json's own constructors, so `invalid type: null, ...` and `floating point `1.0``
// read exactly as from `serde_json::from_value`. The other messages (missing field, unknown
// variant...) are serde's defaults, built through `custom` in both.
impl de::Error for Error {
    #[cold]
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(<serde_json::Error as de::Error>::custom(msg))
    }

    #[cold]
    fn invalid_type(unexp: Unexpected, exp: &dyn de::Expected) -> Self {
        Error::new(<serde_json::Error as de::Error>::invalid_type(unexp, exp))
    }

    #[cold]
    fn invalid_value(unexp: Unexpected, exp: &dyn de::Expected) -> Self {
        Error::new(<serde_json::Error as de::Error>::invalid_value(unexp, exp))
    }
}

/// `serde_json::from_value(value.clone())`, with the failing value's path in the error.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, Error> {
    T::deserialize(At(value))
}

/// Deserializer methods that do what `$target` does.
macro_rules! same_as {
    ($target:ident: $($method:ident)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
                self.$target(visitor)
            }
        )*
    };
}

/// The value being deserialized. Its path is not kept: an error learns it on the way out.
struct At<'de>(&'de Value);

// Each type-specific method looks at the value's type first and fails with `invalid type`
// right away, as serde_json's do: handing the visitor whatever the value is would fail with the
// same message, but compile every visitor for every JSON type.
impl<'de> de::Deserializer<'de> for At<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => visit_number(n, visitor),
            Value::String(s) => visitor.visit_borrowed_str(s),
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(o) => visit_object(o, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    /// `"VARIANT"` or `{"VARIANT": value}`, as serde_json reads enums.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(name) => visitor.visit_enum(Variant { name, value: None }),
            Value::Object(o) => {
                let mut members = o.iter();
                match (members.next(), members.next()) {
                    (Some((name, value)), None) => visitor.visit_enum(Variant {
                        name,
                        value: Some(value),
                    }),
                    _ => Err(de::Error::invalid_value(
                        Unexpected::Map,
                        &"map with a single key",
                    )),
                }
            }
            other => Err(invalid_type(other, &"string or map")),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_borrowed_str(s),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Bool(b) => visitor.visit_bool(*b),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Number(n) => visit_number(n, visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(a) => visit_array(a, visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(o) => visit_object(o, visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(a) => visit_array(a, visitor),
            Value::Object(o) => visit_object(o, visitor),
            other => Err(invalid_type(other, &visitor)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    // The other kinds, as serde_json reads them.
    same_as!(deserialize_u64: deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64
             deserialize_i128 deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u128
             deserialize_f32 deserialize_f64);
    same_as!(deserialize_str: deserialize_char deserialize_string deserialize_identifier);

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    serde::forward_to_deserialize_any! { bytes byte_buf }
}

#[cold]
fn invalid_type(value: &Value, expected: &dyn de::Expected) -> Error {
    de::Error::invalid_type(unexpected(value), expected)
}

/// How serde_json describes a value in `invalid type` messages.
fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => Unexpected::Unsigned(u),
            (None, Some(i)) => Unexpected::Signed(i),
            (None, None) => Unexpected::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Unexpected::Str(s),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

fn visit_number<'de, V: Visitor<'de>>(n: &Number, visitor: V) -> Result<V::Value, Error> {
    match (n.as_u64(), n.as_i64()) {
        (Some(u), _) => visitor.visit_u64(u),
        (None, Some(i)) => visitor.visit_i64(i),
        (None, None) => visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN)),
    }
}

fn visit_array<'de, V: Visitor<'de>>(array: &'de [Value], visitor: V) -> Result<V::Value, Error> {
    let mut elements = Elements(array.iter().enumerate());
    let out = visitor.visit_seq(&mut elements)?;
    if elements.0.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(
            array.len(),
            &"fewer elements in array",
        ))
    }
}

fn visit_object<'de, V: Visitor<'de>>(
    object: &'de Map<String, Value>,
    visitor: V,
) -> Result<V::Value, Error> {
    let mut members = Members {
        iter: object.iter(),
        value: None,
    };
    let out = visitor.visit_map(&mut members)?;
    if members.iter.len() == 0 {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(
            object.len(),
            &"fewer elements in map",
        ))
    }
}

struct Elements<'de>(std::iter::Enumerate<std::slice::Iter<'de, Value>>);

impl<'de> de::SeqAccess<'de> for Elements<'de> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        match self.0.next() {
            Some((index, value)) => seed
                .deserialize(At(value))
                .map(Some)
                .map_err(|e| e.under_index(index)),
            None => Ok(None),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Members<'de> {
    iter: serde_json::map::Iter<'de>,
    /// The member whose key was just read.
    value: Option<(&'de str, &'de Value)>,
}

impl<'de> de::MapAccess<'de> for Members<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
                    .map_err(|e: Error| e.under_key(key))
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        match self.value.take() {
            Some((key, value)) => seed.deserialize(At(value)).map_err(|e| e.under_key(key)),
            None => Err(de::Error::custom("value is missing")),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

/// An enum's variant name and, in the `{"VARIANT": value}` form, its value.
struct Variant<'de> {
    name: &'de str,
    value: Option<&'de Value>,
}

impl<'de> de::EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.name))?;
        Ok((variant, self))
    }
}

/// Errors past the variant name are the variant's: their path ends with its name.
impl<'de> de::VariantAccess<'de> for Variant<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.value {
            Some(value) => de::Deserialize::deserialize(At(value)),
            None => Ok(()),
        }
        .map_err(|e| e.under_key(self.name))
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        match self.value {
            Some(value) => seed.deserialize(At(value)),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"newtype variant",
            )),
        }
        .map_err(|e| e.under_key(self.name))
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Some(Value::Array(a)) if a.is_empty() => visitor.visit_unit(),
            Some(Value::Array(a)) => visit_array(a, visitor),
            Some(other) => Err(de::Error::invalid_type(unexpected(other), &"tuple variant")),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"tuple variant",
            )),
        }
        .map_err(|e| e.under_key(self.name))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Some(Value::Object(o)) => visit_object(o, visitor),
            Some(other) => Err(de::Error::invalid_type(
                unexpected(other),
                &"struct variant",
            )),
            None => Err(de::Error::invalid_type(
                Unexpected::UnitVariant,
                &"struct variant",
            )),
        }
        .map_err(|e| e.under_key(self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::*;
    use serde_json::json;

    /// Same result as serde_json, or the same message.
    fn agrees<T: DeserializeOwned + fmt::Debug>(v: &Value) {
        let ours = from_value::<T>(v)
            .map(|t| format!("{t:?}"))
            .map_err(|e| e.inner().to_string());
        let theirs = serde_json::from_value::<T>(v.clone())
            .map(|t| format!("{t:?}"))
            .map_err(|e| e.to_string());
        assert_eq!(ours, theirs, "{v}");
    }

    /// JSON pointers to every value in `v`.
    fn pointers(v: &Value, here: String, out: &mut Vec<String>) {
        match v {
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    pointers(x, format!("{here}/{i}"), out);
                }
            }
            Value::Object(o) => {
                for (k, x) in o {
                    let k = k.replace('~', "~0").replace('/', "~1");
                    pointers(x, format!("{here}/{k}"), out);
                }
            }
            _ => {}
        }
        out.push(here);
    }

    /// Every value of a complete spec replaced, in turn, by values of every JSON type.
    fn each_variant(seed: Value, check: fn(&Value)) {
        let palette = [
            json!(null),
            json!(true),
            json!(0),
            json!(-1),
            json!(1.5),
            json!(70000),
            json!(18446744073709551615u64),
            json!("x"),
            json!("ALLOW"),
            json!("STRICT"),
            json!([]),
            json!(["a"]),
            json!([1, "a"]),
            json!([{}]),
            json!({}),
            json!({"x": 1}),
            json!({"ALLOW": null}),
            json!({"STRICT": 1}),
            json!({"a": 1, "b": 2}),
            json!({"name": "n", "number": 1, "key": "k", "kind": "k"}),
        ];
        check(&seed);
        let mut all = Vec::new();
        pointers(&seed, String::new(), &mut all);
        for pointer in all {
            for replacement in &palette {
                let mut v = seed.clone();
                if let Some(node) = v.pointer_mut(&pointer) {
                    *node = replacement.clone();
                }
                check(&v);
            }
        }
    }

    #[test]
    fn accepts_and_refuses_as_serde_json_does() {
        each_variant(
            json!({"selector": {"matchLabels": {"app": "web"}}, "action": "ALLOW",
                   "provider": {"name": "p"},
                   "targetRefs": [{"kind": "Gateway", "name": "g", "group": "x"}],
                   "rules": [{"from": [{"source": {"principals": ["a"], "ipBlocks": ["10.0.0.0/8"]}}],
                              "to": [{"operation": {"methods": ["GET"], "ports": ["80"]}}],
                              "when": [{"key": "request.headers[x]", "values": ["y"]}]}]}),
            agrees::<AuthorizationPolicySpec>,
        );
        each_variant(
            json!({"jwtRules": [{"issuer": "iss", "audiences": ["a"], "jwksUri": "https://x",
                                 "fromHeaders": [{"name": "x", "prefix": "Bearer "}],
                                 "outputClaimToHeaders": [{"header": "h", "claim": "c"}],
                                 "forwardOriginalToken": true}],
                   "targetRef": {"kind": "Gateway", "name": "g"}}),
            agrees::<RequestAuthenticationSpec>,
        );
        each_variant(
            json!({"mtls": {"mode": "STRICT"}, "portLevelMtls": {"8080": {"mode": "DISABLE"}}}),
            agrees::<PeerAuthenticationSpec>,
        );
        each_variant(
            json!({"hosts": ["a"], "ports": [{"number": 443, "name": "https", "targetPort": 1}],
                   "location": "MESH_EXTERNAL", "resolution": "DNS",
                   "endpoints": [{"address": "1.2.3.4", "ports": {"x": [1.5, -2, null]}}],
                   "workloadSelector": {"labels": {"a": "b"}}}),
            agrees::<ServiceEntrySpec>,
        );
        each_variant(
            json!({"selector": {"istio": "ingressgateway"},
                   "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                                "hosts": ["*"], "tls": {"httpsRedirect": true, "credentialNames": ["c"]}}]}),
            agrees::<GatewaySpec>,
        );
    }

    #[test]
    fn paths_lead_to_the_failing_value() {
        let path = |v: Value| {
            from_value::<AuthorizationPolicySpec>(&v)
                .unwrap_err()
                .path()
        };
        assert_eq!(path(json!("x")), ".");
        assert_eq!(
            path(json!({"rules": [{}, {"to": [{"operation": {"hosts": [1]}}]}]})),
            "rules[1].to[0].operation.hosts[0]"
        );
        assert_eq!(path(json!({"rules": [{"when": [{}]}]})), "rules[0].when[0]");
        assert_eq!(
            path(json!({"selector": {"matchLabels": {"a.b/c": 1}}})),
            "selector.matchLabels.a.b/c"
        );
        assert_eq!(path(json!({"action": {"DENY": []}})), "action.DENY");
        assert_eq!(path(json!({"action": "NONE"})), "action");
    }
}
