//! Reading a resource's `serde_json::Value` into the spec types, field by field, with the
//! failing value's path in the error.
//!
//! Hand-written rather than derived: serde's derive compiles a visitor per type for every
//! shape of input, which made the configuration loader the largest part of the .wasm (and
//! Envoy's V8 compiles all of it before the first request). The messages keep serde's words
//! (`unknown field`, `missing field`, `invalid type: integer `1`, expected a string`), so
//! they read as before. What it accepts is what Istio's schema accepts: an object where the
//! schema has an object (not serde's struct-as-array), an enum as its name (not serde's
//! `{"VARIANT": null}`).

use super::path::{self, Segment};
use crate::map::SortedMap;
use serde_json::Value;

/// What is wrong, and where: the failing value's path below the value `read` started from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    message: String,
    /// Innermost first: each level adds its own segment as the error passes through it.
    segments: Vec<Segment>,
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    #[cold]
    pub fn new(message: String) -> Self {
        Error {
            message,
            segments: Vec::new(),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The failing value's path, `.` for the value itself.
    pub fn path(&self) -> String {
        let segments: Vec<Segment> = self.segments.iter().rev().cloned().collect();
        path::display(&segments)
    }

    #[cold]
    fn under_key(mut self, key: &str) -> Self {
        self.segments.push(Segment::Key(key.to_owned()));
        self
    }

    #[cold]
    fn under_index(mut self, index: usize) -> Self {
        self.segments.push(Segment::Index(index));
        self
    }
}

/// A type read from JSON as the Istio schema writes it.
pub trait Read: Sized {
    fn read(value: &Value) -> Result<Self>;
}

/// `T` from `value`, with the failing value's path in the error.
pub fn from_value<T: Read>(value: &Value) -> Result<T> {
    T::read(value)
}

/// How a value is named in `invalid type` messages (serde_json's words).
fn unexpected(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Bool(b) => format!("boolean `{b}`"),
        Value::Number(n) if n.is_f64() => format!("floating point `{n}`"),
        Value::Number(n) => format!("integer `{n}`"),
        Value::String(s) => format!("string {s:?}"),
        Value::Array(_) => "sequence".to_string(),
        Value::Object(_) => "map".to_string(),
    }
}

#[cold]
pub fn invalid_type(value: &Value, expected: &str) -> Error {
    Error::new(format!(
        "invalid type: {}, expected {expected}",
        unexpected(value)
    ))
}

/// serde's list of what was expected: "`a`", "`a` or `b`", "one of `a`, `b`, `c`".
fn one_of(names: &[&str]) -> String {
    match names {
        [] => "nothing".to_string(),
        [one] => format!("`{one}`"),
        [a, b] => format!("`{a}` or `{b}`"),
        _ => {
            let quoted: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
    }
}

impl Read for String {
    fn read(value: &Value) -> Result<Self> {
        match value {
            Value::String(s) => Ok(s.clone()),
            other => Err(invalid_type(other, "a string")),
        }
    }
}

impl Read for bool {
    fn read(value: &Value) -> Result<Self> {
        match value {
            Value::Bool(b) => Ok(*b),
            other => Err(invalid_type(other, "a boolean")),
        }
    }
}

impl Read for u32 {
    fn read(value: &Value) -> Result<Self> {
        match value {
            Value::Number(n) if !n.is_f64() => n
                .as_u64()
                .and_then(|u| u32::try_from(u).ok())
                .ok_or_else(|| Error::new(format!("invalid value: integer `{n}`, expected u32"))),
            other => Err(invalid_type(other, "u32")),
        }
    }
}

/// Kept as written (ServiceEntry endpoints are Envoy's business, never read).
impl Read for Value {
    fn read(value: &Value) -> Result<Self> {
        Ok(value.clone())
    }
}

/// `null` is the member left out, as in serde's `Option`.
impl<T: Read> Read for Option<T> {
    fn read(value: &Value) -> Result<Self> {
        match value {
            Value::Null => Ok(None),
            other => T::read(other).map(Some),
        }
    }
}

impl<T: Read> Read for Vec<T> {
    fn read(value: &Value) -> Result<Self> {
        match value {
            Value::Array(items) => {
                // A loop, not an iterator chain: one small body per element type.
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(T::read(item).map_err(|e| e.under_index(i))?);
                }
                Ok(out)
            }
            other => Err(invalid_type(other, "a sequence")),
        }
    }
}

impl<T: Read> Read for SortedMap<String, T> {
    fn read(value: &Value) -> Result<Self> {
        match value {
            Value::Object(members) => {
                // Inserted one by one: collecting would sort what is already in key order.
                let mut out = SortedMap::new();
                for (k, v) in members {
                    out.insert(k.clone(), T::read(v).map_err(|e| e.under_key(k))?);
                }
                Ok(out)
            }
            other => Err(invalid_type(other, "a map")),
        }
    }
}

/// Reads `value` into `slot`. Not inlined, so there is one copy per field type: assigning in
/// place compiled the read and the old value's drop into every member of every struct, and
/// Envoy's V8 compiles all of the .wasm before the first request.
#[inline(never)]
pub fn read_into<T: Read>(slot: &mut T, value: &Value) -> Result<()> {
    *slot = T::read(value)?;
    Ok(())
}

/// Unknown members of an object: refused (Istio's resources, so a typo never becomes a rule
/// that matches more or less than written), or accepted and not read (Kubernetes metadata).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unknown {
    Refuse,
    Ignore,
}

/// Hands each member of the object `value` whose key is in `fields` to `member`, with the
/// key's index; refuses the rest, or skips them. `what` names the type in `invalid type`
/// messages (`struct Rule`). Returns which of `fields` were present, one bit each.
pub fn object(
    value: &Value,
    what: &str,
    fields: &[&str],
    unknown: Unknown,
    // `dyn`: one copy of this loop in the .wasm, not one per struct.
    member: &mut dyn FnMut(usize, &Value) -> Result<()>,
) -> Result<u64> {
    let Value::Object(members) = value else {
        return Err(invalid_type(value, what));
    };
    let mut seen = 0u64;
    for (key, v) in members {
        match fields.iter().position(|f| f == key) {
            Some(i) => {
                member(i, v).map_err(|e| e.under_key(key))?;
                seen |= 1 << (i % 64);
            }
            None if unknown == Unknown::Ignore => {}
            None => {
                return Err(Error::new(format!(
                    "unknown field `{key}`, expected {}",
                    one_of(fields)
                ))
                .under_key(key))
            }
        }
    }
    Ok(seen)
}

/// Refuses an object that lacks one of its required members (`required[i]` for `fields[i]`).
pub fn require(seen: u64, fields: &[&str], required: &[bool]) -> Result<()> {
    for (i, (name, &needed)) in fields.iter().zip(required).enumerate() {
        if needed && seen & (1 << (i % 64)) == 0 {
            return Err(Error::new(format!("missing field `{name}`")));
        }
    }
    Ok(())
}

/// An enum written as one of `names`; `variants` is in the same order.
pub fn variant<T: Copy>(value: &Value, names: &[&str], variants: &[T]) -> Result<T> {
    let Value::String(s) = value else {
        return Err(invalid_type(value, "a string"));
    };
    names
        .iter()
        .position(|n| n == s)
        .and_then(|i| variants.get(i).copied())
        .ok_or_else(|| Error::new(format!("unknown variant `{s}`, expected {}", one_of(names))))
}

/// `impl Read` for a struct from its JSON member names: `"matchLabels" => match_labels`, with
/// `required` before the members the struct cannot do without. Members left out keep the
/// struct's `Default`.
macro_rules! read_struct {
    (@required required) => { true };
    (@required) => { false };
    ($ty:ident, $unknown:ident { $($($required:ident)? $key:literal => $field:ident),* $(,)? }) => {
        impl $crate::config::read::Read for $ty {
            fn read(value: &serde_json::Value) -> $crate::config::read::Result<Self> {
                use $crate::config::read;
                const FIELDS: &[&str] = &[$($key),*];
                let mut out = Self::default();
                let seen = read::object(
                    value,
                    concat!("struct ", stringify!($ty)),
                    FIELDS,
                    read::Unknown::$unknown,
                    &mut |i, v| {
                        let mut _n = 0;
                        $(
                            if i == _n {
                                read::read_into(&mut out.$field, v)?;
                            }
                            _n += 1;
                        )*
                        Ok(())
                    },
                )?;
                // Which members are required, as constants: no list built per object read.
                const REQUIRED: &[bool] = &[$(read_struct!(@required $($required)?)),*];
                read::require(seen, FIELDS, REQUIRED)?;
                Ok(out)
            }
        }
    };
}

/// `impl Read` for a unit-only enum from its JSON names: `"ALLOW" => Allow`.
macro_rules! read_enum {
    ($ty:ident { $($name:literal => $variant:ident),* $(,)? }) => {
        impl $crate::config::read::Read for $ty {
            fn read(value: &serde_json::Value) -> $crate::config::read::Result<Self> {
                $crate::config::read::variant(value, &[$($name),*], &[$($ty::$variant),*])
            }
        }
    };
}

pub(crate) use {read_enum, read_struct};

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Default, PartialEq)]
    struct Inner {
        name: String,
        port: Option<u32>,
    }
    read_struct!(Inner, Refuse { required "name" => name, "port" => port });

    #[derive(Debug, Default, PartialEq)]
    struct Outer {
        items: Vec<Inner>,
        labels: SortedMap<String, String>,
        on: bool,
        mode: Option<Mode>,
    }
    read_struct!(Outer, Refuse { "items" => items, "labels" => labels, "on" => on, "mode" => mode });

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Mode {
        A,
        B,
        C,
    }
    read_enum!(Mode { "A" => A, "B" => B, "C" => C });

    #[derive(Debug, Default, PartialEq)]
    struct Lenient {
        name: Option<String>,
    }
    read_struct!(Lenient, Ignore { "name" => name });

    fn err<T: Read + std::fmt::Debug>(v: Value) -> String {
        let e = from_value::<T>(&v).unwrap_err();
        format!("{}: {}", e.path(), e.message())
    }

    #[test]
    fn reads_members_and_keeps_defaults() {
        let v = json!({"items": [{"name": "a", "port": 80}, {"name": "b", "port": null}],
                       "labels": {"x": "y"}, "on": true, "mode": "B"});
        let o: Outer = from_value(&v).unwrap();
        assert_eq!(
            o.items,
            [
                Inner {
                    name: "a".into(),
                    port: Some(80)
                },
                Inner {
                    name: "b".into(),
                    port: None
                }
            ]
        );
        assert_eq!(o.labels.get("x").map(String::as_str), Some("y"));
        assert!(o.on);
        assert_eq!(o.mode, Some(Mode::B));
        assert_eq!(from_value::<Outer>(&json!({})).unwrap(), Outer::default());
        let l: Lenient = from_value(&json!({"name": "n", "uid": 5})).unwrap();
        assert_eq!(l.name.as_deref(), Some("n"));
    }

    #[test]
    fn messages_name_the_path_in_serdes_words() {
        let cases = [
            (
                json!({"itemz": 1}),
                "itemz: unknown field `itemz`, expected one of `items`, `labels`, `on`, `mode`",
            ),
            (
                json!({"items": [{"name": "a"}, {"port": 1}]}),
                "items[1]: missing field `name`",
            ),
            (
                json!({"items": [{"name": "a", "x": 1}]}),
                "items[0].x: unknown field `x`, expected `name` or `port`",
            ),
            (
                json!({"items": [{"name": 1}]}),
                "items[0].name: invalid type: integer `1`, expected a string",
            ),
            (
                json!({"items": [{"name": "a", "port": -1}]}),
                "items[0].port: invalid value: integer `-1`, expected u32",
            ),
            (
                json!({"items": [{"name": "a", "port": 4294967296u64}]}),
                "items[0].port: invalid value: integer `4294967296`, expected u32",
            ),
            (
                json!({"items": [{"name": "a", "port": 1.5}]}),
                "items[0].port: invalid type: floating point `1.5`, expected u32",
            ),
            (
                json!({"items": [{"name": "a", "port": 2.0}]}),
                "items[0].port: invalid type: floating point `2.0`, expected u32",
            ),
            (
                json!({"items": "x"}),
                r#"items: invalid type: string "x", expected a sequence"#,
            ),
            (
                json!({"items": null}),
                "items: invalid type: null, expected a sequence",
            ),
            (
                json!({"items": [["a"]]}),
                "items[0]: invalid type: sequence, expected struct Inner",
            ),
            (
                json!({"labels": {"a": false}}),
                "labels.a: invalid type: boolean `false`, expected a string",
            ),
            (
                json!({"labels": []}),
                "labels: invalid type: sequence, expected a map",
            ),
            (
                json!({"on": "yes"}),
                r#"on: invalid type: string "yes", expected a boolean"#,
            ),
            (
                json!({"mode": "D"}),
                "mode: unknown variant `D`, expected one of `A`, `B`, `C`",
            ),
            (
                json!({"mode": {"A": null}}),
                "mode: invalid type: map, expected a string",
            ),
            (
                json!({"mode": 1}),
                "mode: invalid type: integer `1`, expected a string",
            ),
            (
                json!("x\"y"),
                r#".: invalid type: string "x\"y", expected struct Outer"#,
            ),
            (
                json!({"": 1}),
                ": unknown field ``, expected one of `items`, `labels`, `on`, `mode`",
            ),
        ];
        for (v, expected) in cases {
            assert_eq!(err::<Outer>(v.clone()), expected, "{v}");
        }
        assert_eq!(one_of(&["a"]), "`a`");
        assert_eq!(
            err::<Lenient>(json!([])),
            ".: invalid type: sequence, expected struct Lenient"
        );
    }
}
