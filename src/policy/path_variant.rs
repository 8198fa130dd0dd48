//! The path as a lenient backend might read it, for the opt-in `denyPathVariants` hardening:
//! escaped slashes and backslashes decoded, `\` taken as `/`, repeated slashes merged and dot
//! segments resolved. Istio's default (BASE) normalization leaves `%2F`, `%5C` and `//` alone,
//! so a DENY on `/admin/*` misses `/admin%2Fx` and `//admin/x`, which many backends serve as
//! `/admin/x`. Only DENY and CUSTOM rules see this form; ALLOW rules never do, so the option can
//! only refuse more.

/// The variant of `path` (query kept as is), or `None` when it reads the same.
pub fn lenient_variant(path: &str) -> Option<String> {
    let (p, query) = match path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path, None),
    };
    let decoded = decode_slashes(p);
    let mut segments: Vec<&str> = Vec::new();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = format!("/{}", segments.join("/"));
    if decoded.ends_with('/') && out != "/" {
        out.push('/');
    }
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    (out != path).then_some(out)
}

/// `%2F`, `%5C` (any case) decoded, then every `\` made `/`.
fn decode_slashes(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    let mut rest = p;
    while let Some(i) = rest.find('%') {
        out.push_str(rest.get(..i).unwrap_or(""));
        let code = rest.get(i + 1..i + 3).map(str::to_ascii_uppercase);
        match code.as_deref() {
            Some("2F") | Some("5C") => {
                out.push('/');
                rest = rest.get(i + 3..).unwrap_or("");
            }
            _ => {
                out.push('%');
                rest = rest.get(i + 1..).unwrap_or("");
            }
        }
    }
    out.push_str(rest);
    out.replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants() {
        let v = |p: &str| lenient_variant(p);
        assert_eq!(v("/admin/x"), None);
        assert_eq!(v("//admin/x").as_deref(), Some("/admin/x"));
        assert_eq!(v("/admin%2Fx").as_deref(), Some("/admin/x"));
        assert_eq!(v("/admin%2fx?y=%2F").as_deref(), Some("/admin/x?y=%2F"));
        assert_eq!(v("/a%5C..%5Cadmin").as_deref(), Some("/admin"));
        assert_eq!(v("/a/..%2Fadmin/").as_deref(), Some("/admin/"));
        assert_eq!(
            v("/p/%2e%2e/x"),
            None,
            "other escapes are the HCM's business"
        );
        assert_eq!(v("/%").as_deref(), None);
        assert_eq!(v("/a%2").as_deref(), None);
        assert_eq!(v("/../../").as_deref(), Some("/"));
    }
}
