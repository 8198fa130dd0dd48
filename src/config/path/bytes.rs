//! The path to the value a serde_json error points at, found in the raw document.
//!
//! The plugin configuration is parsed from its bytes (crate::json) before it is read into the
//! settings, so an error in the JSON itself says `at line L column C`. The path is looked for
//! only after such a failure: a small scanner walks the bytes up to the error's position
//! (lines from 1, columns in bytes), keeping the key or index of every open container, and the
//! path is read off where it stopped, by where serde_json stands when it raises each kind of
//! error:
//!
//! - a repeated member name (`duplicate field`) names the object holding it; nesting too deep,
//!   a place inside the container that went one level too far;
//! - a syntax error inside a value names that value; one in or around a key, where no key could
//!   be read, ends with `?` (`workload.?`); a missing `:` names the object; a bad separator or
//!   end in an array names the array.

use super::Segment;
use serde_json::error::Category;

/// The path of the value `error` (from deserializing `input`) is about.
pub fn at_error(input: &[u8], error: &serde_json::Error) -> String {
    let Some(end) = offset(input, error.line(), error.column()) else {
        return super::display(&[]);
    };
    let segments = match error.classify() {
        // Reading ran out: the whole document is the prefix.
        Category::Eof => Scanner::over(input).syntax_path(input, None),
        // A data error is reported once the offending token is read, up to `end`.
        Category::Data => Scanner::over(prefix(input, end)).data_path(input),
        // A syntax error points at the offending byte, just before `end`.
        Category::Syntax | Category::Io => {
            let at = end.saturating_sub(1);
            Scanner::over(prefix(input, at)).syntax_path(input, input.get(at).copied())
        }
    };
    super::display(&segments)
}

/// The byte offset just past serde_json's position: lines count from 1, columns are bytes from
/// the line's start. `None` when the error carries no position.
fn offset(input: &[u8], line: usize, column: usize) -> Option<usize> {
    let line_start = match line {
        0 => return None,
        1 => 0,
        n => {
            input
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .nth(n - 2)?
                .0
                + 1
        }
    };
    Some((line_start + column).min(input.len()))
}

fn prefix(input: &[u8], end: usize) -> &[u8] {
    input.get(..end).unwrap_or(input)
}

/// Where the scanner stands between or inside tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// A value may start: at the top, after `:`, after `[`, after `,` in an array.
    Value {
        after_comma: bool,
    },
    /// After `{` or after `,` in an object: a key or `}`.
    Key,
    /// Inside a string; `key` when it is an object's key. `escape`: [`BACKSLASH`] just after
    /// a `\`, else how many hex digits of a `\u` escape are still to come.
    Str {
        key: bool,
        escape: u8,
    },
    Number(Num),
    /// Inside `true`, `false` or `null`, with this many letters to go.
    Literal(u8),
    /// After a key: `:`.
    Colon,
    /// After a value: `,` or the container's end.
    After,
}

/// [`State::Str`]'s `escape` just after a backslash.
const BACKSLASH: u8 = 5;

/// serde_json's number grammar, one state per position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Num {
    Minus,
    Zero,
    Int,
    Dot,
    Frac,
    Exp,
    ExpSign,
    ExpDigits,
}

impl Num {
    /// Whether serde_json reads `b` as part of this number: `Some(next)`, also when the
    /// number is then invalid (`1.x`, `01`), since the error is the number's. `None` when the
    /// number ended before `b`.
    fn step(self, b: u8) -> Option<Num> {
        let digit = b.is_ascii_digit();
        let exp = b == b'e' || b == b'E';
        match self {
            Num::Minus if b == b'0' => Some(Num::Zero),
            Num::Minus if digit => Some(Num::Int),
            Num::Zero | Num::Int if b == b'.' => Some(Num::Dot),
            Num::Zero | Num::Int | Num::Frac if exp => Some(Num::Exp),
            Num::Zero if digit => Some(Num::Zero),
            Num::Int if digit => Some(Num::Int),
            Num::Dot | Num::Frac if digit => Some(Num::Frac),
            Num::Exp if b == b'+' || b == b'-' => Some(Num::ExpSign),
            Num::Exp | Num::ExpSign | Num::ExpDigits if digit => Some(Num::ExpDigits),
            Num::Zero | Num::Int | Num::Frac | Num::ExpDigits => None,
            Num::Minus | Num::Dot | Num::Exp | Num::ExpSign => Some(self),
        }
    }

    fn complete(self) -> bool {
        matches!(self, Num::Zero | Num::Int | Num::Frac | Num::ExpDigits)
    }
}

/// A step of the path: a key (as the byte range of its quoted token) or an index.
#[derive(Debug, Clone, Copy)]
enum Seg {
    Key(usize, usize),
    Index(usize),
}

struct Scanner {
    state: State,
    /// The open containers, innermost last: `true` for an object.
    open: Vec<bool>,
    /// The path of the current slot: the open containers' and, once a member's key (or an
    /// element's index) is known, the member's.
    segs: Vec<Seg>,
    /// The key just read, in state `Colon`; where the current key token started, in a key.
    key: (usize, usize),
}

impl Scanner {
    fn over(bytes: &[u8]) -> Scanner {
        let mut s = Scanner {
            state: State::Value { after_comma: false },
            open: Vec::new(),
            segs: Vec::new(),
            key: (0, 0),
        };
        for (at, b) in bytes.iter().enumerate() {
            match s.byte(at, *b) {
                Some(state) => s.state = state,
                None => break,
            }
        }
        s
    }

    /// The path of an error serde_json raised while reading the byte `next` (`None`: the
    /// input ended).
    fn syntax_path(&self, input: &[u8], next: Option<u8>) -> Vec<Segment> {
        let state = match self.state {
            // `12` followed by `x`: the number was read, the `x` is the container's error.
            State::Number(n) if n.complete() && next.and_then(|b| n.step(b)).is_none() => {
                State::After
            }
            state => state,
        };
        let in_array = self.open.last() == Some(&false);
        let (segs, unknown_key) = match state {
            // `[` or `,` then the end, or `,]`: the array's own error.
            State::Value { .. } if in_array && matches!(next, None | Some(b']')) => {
                (self.container(), false)
            }
            State::Key | State::Str { key: true, .. } => (self.segs.as_slice(), true),
            State::After => (self.container(), self.open.last() == Some(&true)),
            _ => (self.segs.as_slice(), false),
        };
        let mut path: Vec<Segment> = segs.iter().map(|s| segment(input, *s)).collect();
        if unknown_key {
            path.push(Segment::Unknown);
        }
        path
    }

    /// The path of a data error (a repeated member, nesting too deep), which is raised once
    /// the key, or the opening bracket, has been read.
    fn data_path(&self, input: &[u8]) -> Vec<Segment> {
        self.segs.iter().map(|s| segment(input, *s)).collect()
    }

    /// The path of the innermost open container: the object whose key is being read, or the
    /// object or array holding the current value.
    fn container(&self) -> &[Seg] {
        match self.state {
            State::Key | State::Colon | State::Str { key: true, .. } => &self.segs,
            _ if self.open.is_empty() => &self.segs,
            _ => self.segs.split_last().map_or(&[], |(_, rest)| rest),
        }
    }

    /// The state after byte `b` at offset `at`; `None` where the bytes stop being JSON (past
    /// the top-level value, or where serde_json consumed a closing bracket after an error).
    fn byte(&mut self, at: usize, b: u8) -> Option<State> {
        Some(match self.state {
            State::Str { key, escape } => self.string(at, b, key, escape),
            State::Literal(left) if left > 1 => State::Literal(left - 1),
            State::Literal(_) => State::After,
            State::Number(n) => match n.step(b) {
                Some(next) => State::Number(next),
                None => {
                    self.state = State::After;
                    return self.byte(at, b);
                }
            },
            // JSON's whitespace (not Rust's, which also has form feed).
            _ if matches!(b, b' ' | b'\n' | b'\t' | b'\r') => self.state,
            State::Value { after_comma } => self.value(b, after_comma)?,
            State::Key if b == b'"' => {
                self.key.0 = at;
                State::Str {
                    key: true,
                    escape: 0,
                }
            }
            State::Key if b == b'}' => self.close(false),
            State::Colon if b == b':' => {
                self.segs.push(Seg::Key(self.key.0, self.key.1));
                State::Value { after_comma: false }
            }
            State::After => self.after(b)?,
            State::Key | State::Colon => return None,
        })
    }

    fn value(&mut self, b: u8, after_comma: bool) -> Option<State> {
        Some(match b {
            b'{' => {
                self.open.push(true);
                State::Key
            }
            b'[' => {
                self.open.push(false);
                self.segs.push(Seg::Index(0));
                State::Value { after_comma: false }
            }
            b']' if !after_comma && self.open.last() == Some(&false) => self.close(true),
            b'"' => State::Str {
                key: false,
                escape: 0,
            },
            b'-' => State::Number(Num::Minus),
            b'0' => State::Number(Num::Zero),
            b'1'..=b'9' => State::Number(Num::Int),
            b't' | b'n' => State::Literal(3),
            b'f' => State::Literal(4),
            _ => return None,
        })
    }

    fn string(&mut self, at: usize, b: u8, key: bool, escape: u8) -> State {
        let escape = match (escape, b) {
            // `\u` is followed by four hex digits, whatever they turn out to be (a `"` among
            // them is serde_json's error, not the string's end).
            (BACKSLASH, b'u') => 4,
            (BACKSLASH, _) => 0,
            (1..=4, _) => escape - 1,
            (_, b'\\') => BACKSLASH,
            (_, b'"') if key => {
                self.key.1 = at + 1;
                return State::Colon;
            }
            (_, b'"') => return State::After,
            _ => 0,
        };
        State::Str { key, escape }
    }

    fn after(&mut self, b: u8) -> Option<State> {
        Some(match (self.open.last(), b) {
            (Some(true), b',') => {
                self.segs.pop();
                State::Key
            }
            (Some(false), b',') => {
                if let Some(Seg::Index(i)) = self.segs.last_mut() {
                    *i += 1;
                }
                State::Value { after_comma: true }
            }
            (Some(true), b'}') | (Some(false), b']') => self.close(true),
            _ => return None,
        })
    }

    /// Ends the innermost container; `member` when a member's (or element's) segment is on
    /// the path.
    fn close(&mut self, member: bool) -> State {
        if member {
            self.segs.pop();
        }
        self.open.pop();
        State::After
    }
}

fn segment(input: &[u8], seg: Seg) -> Segment {
    match seg {
        Seg::Index(i) => Segment::Index(i),
        Seg::Key(start, end) => {
            let token = input.get(start..end).unwrap_or_default();
            // The key as serde_json decodes it (escapes and all).
            let key = match crate::json::parse(token) {
                Ok(serde_json::Value::String(key)) => key,
                _ => String::from_utf8_lossy(token).into_owned(),
            };
            Segment::Key(key)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(json: &str) -> String {
        let e = crate::json::parse(json.as_bytes()).unwrap_err();
        at_error(json.as_bytes(), &e)
    }

    #[test]
    fn positions_count_lines_and_bytes() {
        assert_eq!(path("{\n \"audit\":\n  {\"log\": x}}"), "audit.log");
        assert_eq!(
            path("{\"workload\": {\"namespace\": \"é\", \"labels\": {\"ü\": tru}}}"),
            "workload.labels.ü"
        );
        assert_eq!(offset(b"ab\ncd\n", 2, 1), Some(4));
        assert_eq!(offset(b"ab", 1, 9), Some(2));
        assert_eq!(offset(b"ab", 0, 0), None);
    }

    #[test]
    fn numbers_end_where_serde_json_ends_them() {
        for bad in ["1.", "1e", "1e+", "01", "-", "1.x", "1e400"] {
            assert_eq!(
                path(&format!("{{\"gatewayPorts\": {{\"80\": {bad}}}}}")),
                "gatewayPorts.80",
                "{bad}"
            );
        }
        // The number was fine; what follows it is the object's error.
        assert_eq!(path(r#"{"gatewayPorts": {"80": 12x}}"#), "gatewayPorts.?");
        assert_eq!(path(r#"{"resources": [1.5.2]}"#), "resources");
    }

    #[test]
    fn strings_end_at_their_unescaped_quote() {
        assert_eq!(
            path(r#"{"resources": [{"a\"b": [1, }]}]}"#),
            "resources[0].a\"b[1]"
        );
        assert_eq!(path(r#"{"resources": [{"a": "\u12"}]}"#), "resources[0].a");
        assert_eq!(
            path(r#"{"resources": [{"a\u0041": {"x": tru}}]}"#),
            "resources[0].aA.x"
        );
        assert_eq!(path(r#"{"resources": [{"k": "a\"}]"}], "x": tru}"#), "x");
    }

    #[test]
    fn repeated_members_name_their_object() {
        assert_eq!(
            path(r#"{"resources": [{"spec": {"action": "DENY", "action": "ALLOW"}}]}"#),
            "resources[0].spec"
        );
        assert_eq!(path(r#"{"audit": {}, "audit": {}}"#), ".");
        let deep = format!("{{\"resources\": {}{}}}", "[".repeat(100), "]".repeat(100));
        // The 101st container open at once (the top-level object is the first) is refused;
        // the path ends inside it.
        assert_eq!(path(&deep), "resources".to_string() + &"[0]".repeat(99));
    }
}
