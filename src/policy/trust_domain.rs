//! The trust-domain bundle: the mesh's trust domain and its aliases, as istiod rewrites
//! policies with them (pilot/pkg/security/trustdomain/bundle.go) before Envoy sees them.
//!
//! - `principals`, `notPrincipals` and `source.principal`: a value `<td>/ns/<ns>/sa/<sa>` whose
//!   trust domain is one of the bundle's (wildcards compared as istiod compares them) or
//!   `cluster.local` is replaced by one value per trust domain of the bundle. So with
//!   `trustDomain: example.com`, `cluster.local/ns/a/sa/b` means `example.com/ns/a/sa/b`.
//! - `trustDomains`, `notTrustDomains` and `source.trustDomain`: a value equal to a bundle
//!   member stands for the whole bundle.

/// Istio's default trust domain, which istiod always treats as a pointer to the current one.
const CLUSTER_LOCAL: &str = "cluster.local";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// The trust domain first, then its aliases.
    trust_domains: Vec<String>,
}

impl Default for Bundle {
    fn default() -> Self {
        Bundle::new(CLUSTER_LOCAL, &[])
    }
}

impl Bundle {
    pub fn new(trust_domain: &str, aliases: &[String]) -> Self {
        let mut trust_domains = vec![trust_domain.to_string()];
        trust_domains.extend(aliases.iter().cloned());
        Bundle { trust_domains }
    }

    /// The principal values Envoy gets for `values`.
    pub fn replace_aliases(&self, values: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for value in values {
            let parts: Vec<&str> = value.split('/').collect();
            let td = match parts.as_slice() {
                [td, _, _, _, _] if *td != "*" => *td,
                _ => {
                    out.push(value.clone());
                    continue;
                }
            };
            if td != CLUSTER_LOCAL && !self.trust_domains.iter().any(|s| loosely_equal(td, s)) {
                out.push(value.clone());
                continue;
            }
            let rest = parts.get(1..).unwrap_or_default().join("/");
            let mut replaced: Vec<String> = Vec::new();
            for bundle_td in &self.trust_domains {
                let v = if suffix_match(bundle_td, td) {
                    value.clone()
                } else {
                    format!("{bundle_td}/{rest}")
                };
                if !replaced.contains(&v) {
                    replaced.push(v);
                }
            }
            out.extend(replaced);
        }
        out
    }

    /// The trust-domain values Envoy gets for `values`.
    pub fn expand_aliases(&self, values: &[String]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for value in values {
            let expanded = if self.trust_domains.contains(value) {
                self.trust_domains.as_slice()
            } else {
                std::slice::from_ref(value)
            };
            for v in expanded {
                if !out.contains(v) {
                    out.push(v.clone());
                }
            }
        }
        out
    }
}

/// istiod's `stringMatch` for one pair: equal, either a `*`-prefix or `*`-suffix pattern of
/// the other, or `s` is `*`.
fn loosely_equal(a: &str, s: &str) -> bool {
    a == s
        || s == "*"
        || prefix_match(a, s)
        || prefix_match(s, a)
        || suffix_match(a, s)
        || suffix_match(s, a)
}

fn prefix_match(a: &str, pattern: &str) -> bool {
    pattern.strip_suffix('*').is_some_and(|p| a.starts_with(p))
}

/// `a` ends with `pattern` minus its leading `*` (false when `pattern` has none).
fn suffix_match(a: &str, pattern: &str) -> bool {
    pattern.strip_prefix('*').is_some_and(|p| a.ends_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cluster_local_points_at_the_trust_domain() {
        let b = Bundle::new("example.com", &[]);
        assert_eq!(
            b.replace_aliases(&v(&["cluster.local/ns/a/sa/b"])),
            v(&["example.com/ns/a/sa/b"])
        );
        // Not a five-part SPIFFE principal, a `*` trust domain, or another trust domain: kept.
        for kept in [
            "*/ns/a/sa/b",
            "cluster.local/ns/a/*",
            "other/ns/a/sa/b",
            "*",
        ] {
            assert_eq!(b.replace_aliases(&v(&[kept])), v(&[kept]), "{kept}");
        }
        let default = Bundle::default();
        assert_eq!(
            default.replace_aliases(&v(&["cluster.local/ns/a/sa/b"])),
            v(&["cluster.local/ns/a/sa/b"])
        );
    }

    #[test]
    fn aliases_multiply_principals() {
        let b = Bundle::new("td1", &v(&["td2", "*.td3"]));
        assert_eq!(
            b.replace_aliases(&v(&["td2/ns/a/sa/b"])),
            v(&["td1/ns/a/sa/b", "td2/ns/a/sa/b", "*.td3/ns/a/sa/b"])
        );
        // `x.td3` matches the alias `*.td3`, which replaces it like any other.
        assert_eq!(
            b.replace_aliases(&v(&["x.td3/ns/a/sa/b"])),
            v(&["td1/ns/a/sa/b", "td2/ns/a/sa/b", "*.td3/ns/a/sa/b"])
        );
        // A `*.td` value is kept for the bundle members it already covers.
        let c = Bundle::new("x.td1", &v(&["td2"]));
        assert_eq!(
            c.replace_aliases(&v(&["*.td1/ns/a/sa/b"])),
            v(&["*.td1/ns/a/sa/b", "td2/ns/a/sa/b"])
        );
        assert_eq!(
            b.replace_aliases(&v(&["td*/ns/a/sa/b"])),
            v(&["td1/ns/a/sa/b", "td2/ns/a/sa/b", "*.td3/ns/a/sa/b"])
        );
    }

    #[test]
    fn trust_domain_values_expand_to_the_bundle() {
        let b = Bundle::new("td1", &v(&["td2"]));
        assert_eq!(b.expand_aliases(&v(&["td2", "x"])), v(&["td1", "td2", "x"]));
        assert_eq!(b.expand_aliases(&v(&["td*"])), v(&["td*"]));
        assert_eq!(b.expand_aliases(&v(&["td1", "td2"])), v(&["td1", "td2"]));
    }
}
