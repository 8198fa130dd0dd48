//! Istio Gateway servers with `tls.httpsRedirect`: plaintext requests for their hosts on their
//! port are redirected to HTTPS, as Istio's gateway answers them (301).

use crate::config::spec::GatewaySpec;
use crate::hostname::HostPattern;
use crate::map::SortedMap;

#[derive(Debug, Clone)]
struct RedirectServer {
    /// `<namespace>.<name>` of the Gateway and the server's index in it.
    gateway: String,
    index: usize,
    /// The listener port this server's port number maps to.
    port: u16,
    hosts: Vec<HostPattern>,
}

#[derive(Debug, Clone, Default)]
pub struct Redirects {
    servers: Vec<RedirectServer>,
}

/// Checks a Gateway's servers; `Err` is `field: message` under `spec`.
pub fn validate(spec: &GatewaySpec) -> Result<(), String> {
    if spec.servers.is_empty() {
        return Err("servers: at least one server is required".into());
    }
    for (i, server) in spec.servers.iter().enumerate() {
        let number = server.port.as_ref().map(|p| p.number);
        if !number.is_some_and(|n| (1..=65535).contains(&n)) {
            return Err(format!(
                "servers[{i}].port.number: a port from 1 to 65535 is required"
            ));
        }
        if server.hosts.is_empty() {
            return Err(format!("servers[{i}].hosts: at least one host is required"));
        }
        for (j, h) in server.hosts.iter().enumerate() {
            HostPattern::parse(strip_namespace(h))
                .map_err(|e| format!("servers[{i}].hosts[{j}]: {e}"))?;
        }
    }
    Ok(())
}

/// `namespace/host` (which restricts the VirtualServices a server binds) -> `host`.
fn strip_namespace(host: &str) -> &str {
    host.split_once('/').map_or(host, |(_, h)| h)
}

impl Redirects {
    /// Adds the redirecting servers of a Gateway that applies to this workload.
    pub fn add(&mut self, gateway: String, spec: &GatewaySpec, port_map: &SortedMap<u16, u16>) {
        for (index, server) in spec.servers.iter().enumerate() {
            let redirect = server.tls.as_ref().is_some_and(|t| t.https_redirect);
            let number = server
                .port
                .as_ref()
                .and_then(|p| u16::try_from(p.number).ok());
            let (true, Some(number)) = (redirect, number) else {
                continue;
            };
            let hosts = server
                .hosts
                .iter()
                .filter_map(|h| HostPattern::parse(strip_namespace(h)).ok())
                .collect();
            self.servers.push(RedirectServer {
                gateway: gateway.clone(),
                index,
                port: port_map.get(&number).copied().unwrap_or(number),
                hosts,
            });
        }
    }

    /// The server (gateway id, index) that redirects a request for `host` reaching `port`.
    pub fn find(&self, host: &str, port: Option<u16>) -> Option<(&str, usize)> {
        let port = port?;
        self.servers
            .iter()
            .find(|s| s.port == port && s.hosts.iter().any(|h| h.matches(host)))
            .map(|s| (s.gateway.as_str(), s.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn seed_gateway() -> GatewaySpec {
        crate::config::read::from_value(&json!({
            "selector": {"istio": "ingressgateway"},
            "servers": [
                {"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                 "tls": {"mode": "SIMPLE", "credentialName": "app-tls-cert"}, "hosts": ["app.example.com"]},
                {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
                 "tls": {"httpsRedirect": true}, "hosts": ["production/app.example.com"]}
            ]}))
        .unwrap()
    }

    #[test]
    fn redirecting_server() {
        let spec = seed_gateway();
        assert!(validate(&spec).is_ok());
        let mut r = Redirects::default();
        r.add(
            "production.app-gateway".into(),
            &spec,
            &SortedMap::from([(80, 18080)]),
        );
        assert_eq!(
            r.find("app.example.com", Some(18080)),
            Some(("production.app-gateway", 1))
        );
        assert_eq!(r.find("app.example.com", Some(80)), None);
        assert_eq!(r.find("other.example.com", Some(18080)), None);
        assert_eq!(r.find("app.example.com", Some(443)), None);
    }

    #[test]
    fn validation() {
        let bad = |v: serde_json::Value| {
            validate(&crate::config::read::from_value(&v).unwrap()).unwrap_err()
        };
        assert!(bad(json!({"servers": []})).starts_with("servers:"));
        assert!(
            bad(json!({"servers": [{"port": {"number": 0}, "hosts": ["a"]}]}))
                .starts_with("servers[0].port.number")
        );
        assert!(bad(json!({"servers": [{"hosts": ["a"]}]})).starts_with("servers[0].port.number"));
        assert!(
            bad(json!({"servers": [{"port": {"number": 80}, "hosts": []}]}))
                .starts_with("servers[0].hosts")
        );
        assert!(
            bad(json!({"servers": [{"port": {"number": 80}, "hosts": ["a b"]}]}))
                .starts_with("servers[0].hosts[0]")
        );
    }
}
