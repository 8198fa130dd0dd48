//! `paths` / `notPaths` values: Istio string matches, or URI templates with `{*}` (one path
//! segment) and `{**}` (zero or more segments, the last operator), matched as Envoy's
//! `uri_template` matcher does. Both compare the path without its query string.

use super::matcher::StringMatch;

const MATCH_ONE: &str = "{*}";
const MATCH_ANY: &str = "{**}";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathMatch {
    Plain(StringMatch),
    Template(Vec<Token>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Literal(String),
    /// `{*}`: one or more literal characters, no `/`.
    One,
    /// `{**}`: zero or more literal characters or `/`.
    Any,
}

impl PathMatch {
    /// Validates as Istio's `CheckValidPathTemplate` does, then compiles.
    pub fn parse(value: &str) -> Result<Self, String> {
        let is_template = value.contains(MATCH_ONE) || value.contains(MATCH_ANY);
        let mut seen_any = false;
        for glob in value.trim_matches('/').split('/') {
            if glob == MATCH_ONE || glob == MATCH_ANY {
                if seen_any {
                    return Err(format!(
                        "invalid path {value}: {{**}} is not the last operator"
                    ));
                }
                seen_any = glob == MATCH_ANY;
                continue;
            }
            if glob.contains(['{', '}']) {
                return Err(format!(
                    "invalid path {value}: '{{' or '}}' outside a {{*}} or {{**}} segment"
                ));
            }
            if is_template && !glob.bytes().all(is_literal_byte) {
                return Err(format!(
                    "invalid path {value}: segment {glob:?} has characters a path template cannot match"
                ));
            }
        }
        if !is_template {
            return StringMatch::parse(value, false)
                .map(PathMatch::Plain)
                .map_err(|e| format!("{e} (path {value:?})"));
        }
        Ok(PathMatch::Template(tokenize(value)))
    }

    /// `url_path` is the request path with the query string already removed.
    pub fn matches(&self, url_path: &str) -> bool {
        match self {
            PathMatch::Plain(m) => m.matches(url_path),
            PathMatch::Template(tokens) => match_tokens(tokens, url_path),
        }
    }
}

fn tokenize(value: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut rest = value;
    while !rest.is_empty() {
        let next_any = rest.find(MATCH_ANY);
        let next_one = rest.find(MATCH_ONE);
        let (at, token, len) = match (next_any, next_one) {
            (Some(a), Some(o)) if a <= o => (a, Token::Any, MATCH_ANY.len()),
            (Some(a), None) => (a, Token::Any, MATCH_ANY.len()),
            (_, Some(o)) => (o, Token::One, MATCH_ONE.len()),
            (None, None) => {
                tokens.push(Token::Literal(rest.to_string()));
                break;
            }
        };
        let (literal, after) = rest.split_at(at);
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal.to_string()));
        }
        tokens.push(token);
        rest = after.get(len..).unwrap_or("");
    }
    tokens
}

/// What Istio's webhook lets a template's literal segments hold: RFC 3986 pchar without `*`
/// (unreserved, `%`, sub-delims but `*`, `:@=`).
fn is_literal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()+,;:@=".contains(&b)
}

/// What Envoy 1.40's `{*}` and `{**}` match in a request path: the literal bytes and `*` too
/// (measured against its uri_template matcher: `/t/{*}` matches `/t/a*b`).
fn is_glob_byte(b: u8) -> bool {
    is_literal_byte(b) || b == b'*'
}

fn match_tokens(tokens: &[Token], path: &str) -> bool {
    let Some((first, rest)) = tokens.split_first() else {
        return path.is_empty();
    };
    match first {
        Token::Literal(lit) => match path.strip_prefix(lit.as_str()) {
            Some(after) => match_tokens(rest, after),
            None => false,
        },
        Token::One => {
            // A `{*}` is a whole segment, so what follows it starts with `/` (or is the end):
            // the longest run of literal bytes is the only candidate.
            let run = path.bytes().take_while(|b| is_glob_byte(*b)).count();
            run > 0 && match_tokens(rest, path.get(run..).unwrap_or(""))
        }
        Token::Any => {
            // Validation leaves only literals after `{**}`: they must end the path.
            let tail: String = rest
                .iter()
                .map(|t| match t {
                    Token::Literal(l) => l.as_str(),
                    Token::One | Token::Any => "\u{0}",
                })
                .collect();
            match path.strip_suffix(tail.as_str()) {
                Some(middle) => middle.bytes().all(|b| b == b'/' || is_glob_byte(b)),
                None => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(v: &str) -> PathMatch {
        PathMatch::parse(v).unwrap()
    }

    #[test]
    fn plain_values_are_string_matches() {
        assert!(p("/api/v1/data").matches("/api/v1/data"));
        assert!(!p("/api/v1/data").matches("/api/v1/data/"));
        assert!(p("/api/*").matches("/api/x/y"));
        assert!(!p("/api/*").matches("/api"));
        assert!(!p("/api/*").matches("/API/x"));
        assert!(p("*.json").matches("/a/b.json"));
    }

    #[test]
    fn one_segment_template() {
        let t = p("/api/{*}/data");
        assert!(t.matches("/api/v1/data"));
        assert!(!t.matches("/api//data"));
        assert!(!t.matches("/api/v1/v2/data"));
        assert!(!t.matches("/api/v1/data/x"));
        let end = p("/users/{*}");
        assert!(end.matches("/users/alice"));
        assert!(!end.matches("/users/"));
        assert!(!end.matches("/users/a/b"));
        // Envoy 1.40's globs take `*` (measured), though a template's literals may not hold one.
        assert!(end.matches("/users/a*b"));
        assert!(p("/api/{**}").matches("/api/*/data/;v=1"));
    }

    #[test]
    fn any_segments_template() {
        let t = p("/api/{**}");
        assert!(t.matches("/api/"));
        assert!(t.matches("/api/a/b/c"));
        assert!(!t.matches("/api"));
        let mid = p("/api/{**}/edit");
        assert!(mid.matches("/api/a/b/edit"));
        assert!(mid.matches("/api//edit"));
        assert!(!mid.matches("/api/a/b/view"));
        let both = p("/{*}/files/{**}");
        assert!(both.matches("/alice/files/x/y.txt"));
        assert!(!both.matches("/files/x"));
    }

    #[test]
    fn validation_follows_istio() {
        assert!(PathMatch::parse("/a/{**}/{*}").is_err());
        assert!(PathMatch::parse("/a/{**}/{**}").is_err());
        assert!(PathMatch::parse("/a/x{*}").is_err());
        assert!(PathMatch::parse("/a/{x}").is_err());
        assert!(PathMatch::parse("/a/{*}/b c").is_err());
        assert!(PathMatch::parse("/a/{*}/b*").is_err());
        assert!(PathMatch::parse("").is_err());
        // Not a template: an inner `*` is an ordinary character, as istiod compares it.
        assert!(PathMatch::parse("/a/*/b").unwrap().matches("/a/*/b"));
        assert!(!PathMatch::parse("/a/*/b").unwrap().matches("/a/x/b"));
        assert!(PathMatch::parse("/a/{*}/b=1;c@d").is_ok());
    }
}
