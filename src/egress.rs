//! Egress control: the hosts and ports ServiceEntries register, and the REGISTRY_ONLY check.

use crate::config::spec::ServiceEntrySpec;
use crate::hostname::HostPattern;

#[derive(Debug, Clone)]
struct Entry {
    /// `<namespace>.<name>`
    id: String,
    hosts: Vec<HostPattern>,
    /// Empty: any port.
    ports: Vec<u16>,
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    entries: Vec<Entry>,
}

impl Registry {
    /// Adds one ServiceEntry; `Err` is `field: message` under `spec`.
    pub fn add(&mut self, id: String, spec: &ServiceEntrySpec) -> Result<(), String> {
        if spec.hosts.is_empty() {
            return Err("hosts: at least one host is required".into());
        }
        let hosts = spec
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| HostPattern::parse(h).map_err(|e| format!("hosts[{i}]: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if hosts.contains(&HostPattern::Any) {
            return Err("hosts: `*` is not a host a ServiceEntry can register".into());
        }
        let ports = spec
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                u16::try_from(p.number)
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        format!("ports[{i}].number: {} is not a port (1 to 65535)", p.number)
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.entries.push(Entry { id, hosts, ports });
        Ok(())
    }

    /// The first ServiceEntry that registers `host` (lowercased, no port) on `port`.
    pub fn lookup(&self, host: &str, port: Option<u16>) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| {
                e.hosts.iter().any(|h| h.matches(host))
                    && (e.ports.is_empty() || port.is_some_and(|p| e.ports.contains(&p)))
            })
            .map(|e| e.id.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn registry(entries: &[(&str, serde_json::Value)]) -> Result<Registry, String> {
        let mut r = Registry::default();
        for (id, v) in entries {
            r.add(
                id.to_string(),
                &crate::config::read::from_value(&v.clone()).unwrap(),
            )?;
        }
        Ok(r)
    }

    #[test]
    fn lookup_by_host_and_port() {
        let r = registry(&[
            ("production.stripe", json!({"hosts": ["api.stripe.com"], "ports": [{"number": 443, "name": "https", "protocol": "TLS"}]})),
            ("production.wild", json!({"hosts": ["*.example.com"]})),
        ])
        .unwrap();
        assert_eq!(
            r.lookup("api.stripe.com", Some(443)),
            Some("production.stripe")
        );
        assert_eq!(r.lookup("api.stripe.com", Some(80)), None);
        assert_eq!(r.lookup("api.stripe.com", None), None);
        assert_eq!(
            r.lookup("a.example.com", Some(1234)),
            Some("production.wild")
        );
        assert_eq!(r.lookup("example.com", Some(80)), None);
        assert_eq!(r.lookup("evil.com", Some(443)), None);
    }

    #[test]
    fn bad_entries() {
        assert!(registry(&[("a.b", json!({}))])
            .unwrap_err()
            .starts_with("hosts:"));
        assert!(registry(&[("a.b", json!({"hosts": ["*"]}))])
            .unwrap_err()
            .starts_with("hosts:"));
        assert!(
            registry(&[("a.b", json!({"hosts": ["x.com"], "ports": [{"number": 0}]}))])
                .unwrap_err()
                .starts_with("ports[0].number")
        );
        assert!(registry(&[("a.b", json!({"hosts": ["x.com", "a b"]}))])
            .unwrap_err()
            .starts_with("hosts[1]"));
    }
}
