//! Host names as ServiceEntry and Gateway write them (`api.example.com`, `*.example.com`, `*`)
//! and the host and port of a request's `:authority`.

/// A host pattern, compared ignoring case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostPattern {
    Any,
    /// `*.example.com`: stored as `.example.com`; any subdomain, not `example.com` itself.
    Subdomain(String),
    Exact(String),
}

impl HostPattern {
    pub fn parse(value: &str) -> Result<Self, String> {
        if value == "*" {
            return Ok(HostPattern::Any);
        }
        let lower = value.to_ascii_lowercase();
        let (pattern, name) = match lower.strip_prefix('*') {
            Some(rest) if rest.starts_with('.') && rest.len() > 1 => (
                HostPattern::Subdomain(rest.to_string()),
                rest.get(1..).unwrap_or(""),
            ),
            Some(_) => return Err(format!("{value:?}: a wildcard host is `*` or `*.<domain>`")),
            None => (HostPattern::Exact(lower.clone()), lower.as_str()),
        };
        let valid = !name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            return Err(format!("{value:?} is not a host name"));
        }
        Ok(pattern)
    }

    /// `host` is already lowercased and without a port.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            HostPattern::Any => true,
            HostPattern::Subdomain(suffix) => {
                host.len() > suffix.len() && host.ends_with(suffix.as_str())
            }
            HostPattern::Exact(h) => host == h,
        }
    }
}

/// `Host:8080` -> (`host`, Some(8080)); `[::1]:80` -> (`::1`, Some(80)); `host.` keeps its dot.
/// A port that is not a number leaves the whole authority as the host, which then matches no
/// pattern with a port requirement.
pub fn split_authority(authority: &str) -> (String, Option<u16>) {
    let lower = authority.to_ascii_lowercase();
    if let Some(rest) = lower.strip_prefix('[') {
        if let Some((host, after)) = rest.split_once(']') {
            let port = after.strip_prefix(':').and_then(|p| p.parse().ok());
            return (host.to_string(), port);
        }
    }
    match lower.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse::<u16>() {
            Ok(p) => (host.to_string(), Some(p)),
            Err(_) => (lower.clone(), None),
        },
        _ => (lower, None),
    }
}

/// A DNS-1123 label (Kubernetes' IsDNS1123Label): 1 to 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit.
pub fn is_dns1123_label(label: &str) -> bool {
    let b = label.as_bytes();
    let edge = |c: Option<&u8>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    b.len() <= 63
        && edge(b.first())
        && edge(b.last())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns1123_labels() {
        assert!(is_dns1123_label("a") && is_dns1123_label("a-1") && is_dns1123_label("9"));
        assert!(!is_dns1123_label("") && !is_dns1123_label("-a") && !is_dns1123_label("a-"));
        assert!(!is_dns1123_label("A") && !is_dns1123_label("a_b") && !is_dns1123_label("*"));
        assert!(is_dns1123_label(&"a".repeat(63)) && !is_dns1123_label(&"a".repeat(64)));
    }

    #[test]
    fn patterns() {
        let p = |v: &str| HostPattern::parse(v).unwrap();
        assert!(p("api.stripe.com").matches("api.stripe.com"));
        assert!(p("API.Stripe.com").matches("api.stripe.com"));
        assert!(!p("api.stripe.com").matches("api.stripe.com.evil"));
        assert!(p("*.example.com").matches("a.example.com"));
        assert!(p("*.example.com").matches("a.b.example.com"));
        assert!(!p("*.example.com").matches("example.com"));
        assert!(!p("*.example.com").matches("badexample.com"));
        assert!(p("*").matches("anything"));
        for bad in ["", "*example.com", "a*.com", "a..b", "*.", "a b", "ns/host"] {
            assert!(HostPattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn authorities() {
        assert_eq!(
            split_authority("API.Stripe.com:443"),
            ("api.stripe.com".into(), Some(443))
        );
        assert_eq!(
            split_authority("api.stripe.com"),
            ("api.stripe.com".into(), None)
        );
        assert_eq!(split_authority("[::1]:8080"), ("::1".into(), Some(8080)));
        assert_eq!(split_authority("[::1]"), ("::1".into(), None));
        assert_eq!(split_authority("h:http"), ("h:http".into(), None));
        assert_eq!(split_authority("h:99999"), ("h:99999".into(), None));
        assert_eq!(split_authority(""), ("".into(), None));
    }
}
