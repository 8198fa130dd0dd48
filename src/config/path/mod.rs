//! The field path a configuration error names (`spec.rules[0].from[0].source.principalz`),
//! written the way operators read it: keys joined by `.`, array indices as `[i]`, `.` alone
//! for the document itself.
//!
//! Two sources, one format: [`crate::config::read`] collects the path of a resource's failing
//! value while the error travels out; [`bytes`] finds it afterwards in the raw plugin
//! configuration, from the position serde_json reports.

pub mod bytes;

use std::fmt::Write;

/// One step from the document down to the failing value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// An object member (or an enum's variant written as `{"VARIANT": ...}`).
    Key(String),
    /// An array element.
    Index(usize),
    /// An object member whose key could not be read (a syntax error in or around it).
    Unknown,
}

/// Writes `segments` as `a.b[0].c`; an empty path is `.`.
pub fn display(segments: &[Segment]) -> String {
    if segments.is_empty() {
        return ".".to_string();
    }
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate() {
        let dot = if i == 0 { "" } else { "." };
        // fmt::Write for String never fails.
        let _ = match segment {
            Segment::Key(key) => write!(out, "{dot}{key}"),
            Segment::Index(index) => write!(out, "[{index}]"),
            Segment::Unknown => write!(out, "{dot}?"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_like_a_field_path() {
        let key = |k: &str| Segment::Key(k.to_string());
        assert_eq!(display(&[]), ".");
        assert_eq!(display(&[Segment::Index(2)]), "[2]");
        assert_eq!(display(&[Segment::Index(2), key("a")]), "[2].a");
        assert_eq!(
            display(&[key("spec"), key("rules"), Segment::Index(0), key("to")]),
            "spec.rules[0].to"
        );
        assert_eq!(display(&[key("a"), Segment::Unknown]), "a.?");
        assert_eq!(display(&[key("")]), "");
        assert_eq!(
            display(&[key("a"), Segment::Index(0), Segment::Index(1)]),
            "a[0][1]"
        );
    }
}
