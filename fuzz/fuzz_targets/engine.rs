//! The engine on arbitrary requests against the seeds' policies: never a panic, the
//! denyPathVariants hardening never allows what the default configuration denies, and the
//! decision (found through the rule index) is the one a plain scan of every rule gives.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::config::spec::Action;
use meshguard::config::PluginConfig;
use meshguard::engine::{Engine, Step};
use meshguard::host::decode::{build_request, Connection};
use meshguard::request::Peer;
use std::sync::OnceLock;

const CONFIG: &str = r#"{"workload": {"namespace": "production", "labels": {"app": "api"}}, "resources": [
 {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "allow-frontend-to-api", "namespace": "production"},
  "spec": {"selector": {"matchLabels": {"app": "api"}}, "action": "ALLOW", "rules": [
   {"from": [{"source": {"principals": ["cluster.local/ns/production/sa/frontend"]}}],
    "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/api/v1/*", "/healthz", "/files/{*}/raw"]}}]},
   {"to": [{"operation": {"hosts": ["*.example.com"], "notPaths": ["/admin/*"]}}], "when": [{"key": "request.headers[x-role]", "values": ["ops"]}]}]}},
 {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy", "metadata": {"name": "deny-external-to-admin", "namespace": "production"},
  "spec": {"action": "DENY", "rules": [{"from": [{"source": {"notNamespaces": ["production"]}}], "to": [{"operation": {"paths": ["/admin/*"]}}]},
   {"to": [{"operation": {"paths": ["/secret*"]}}]}]}}]}"#;

fn engines() -> &'static (Engine, Engine) {
    static E: OnceLock<(Engine, Engine)> = OnceLock::new();
    E.get_or_init(|| {
        let base = PluginConfig::parse(CONFIG.as_bytes()).and_then(|c| Engine::new(c, None));
        let hardened = CONFIG.replacen('{', r#"{"denyPathVariants": true, "#, 1);
        let hardened = PluginConfig::parse(hardened.as_bytes()).and_then(|c| Engine::new(c, None));
        match (base, hardened) {
            (Ok(b), Ok(h)) => (b, h),
            _ => std::process::abort(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(4, |b| *b == 0);
    let (Some(path), Some(host), Some(role), mtls) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return;
    };
    let headers = vec![
        (b":method".to_vec(), b"GET".to_vec()),
        (b":path".to_vec(), path.to_vec()),
        (b":authority".to_vec(), host.to_vec()),
        (b"x-role".to_vec(), role.to_vec()),
    ];
    let conn = Connection {
        peer: match mtls {
            Some(ns) => Peer::mtls(&format!("spiffe://cluster.local/ns/{}/sa/frontend", String::from_utf8_lossy(ns))),
            None => Peer::plaintext(),
        },
        source_address: Some("127.0.0.1:5000".into()),
        destination_address: Some("127.0.0.1:15006".into()),
        ..Default::default()
    };
    let Ok(request) = build_request(headers.into_iter().collect(), conn) else {
        return;
    };
    let (base, hardened) = engines();
    let decide = |e: &Engine| match e.decide(&mut request.clone(), &mut e.authn.new_state(), 0) {
        Step::Done(d, _) => d.allow,
        Step::Wait(_) => false,
    };
    let (b, h) = (decide(base), decide(hardened));
    assert!(!h || b, "hardening allowed {request:?}");
    assert_eq!(b, linear(base, &request), "the index disagrees with a scan: {request:?}");
});

/// Istio's order over every rule of every policy, without the index: CUSTOM, DENY, then ALLOW.
fn linear(e: &Engine, r: &meshguard::request::Request) -> bool {
    let host = r.policy_host();
    let matches = |action: Action| {
        e.policies()
            .iter()
            .filter(|p| p.action == action && !p.dry_run)
            .any(|p| p.first_match(r, &host).is_some())
    };
    if matches(Action::Custom) || matches(Action::Deny) {
        return false;
    }
    let allows = e.policies().iter().any(|p| p.action == Action::Allow && !p.dry_run);
    !allows || matches(Action::Allow)
}
