//! The engine end to end on native Rust: configuration JSON in, decisions out.

use super::*;
use crate::config::spec::MtlsMode;
use crate::request::{Direction, Peer, Request};
use serde_json::{json, Value};

/// Decides with a fresh authentication state at a fixed clock.
trait Check {
    fn check(&self, r: &Request) -> Decision;
}

impl Check for Engine {
    fn check(&self, r: &Request) -> Decision {
        let mut state = self.authn.new_state();
        match self.decide(&mut r.clone(), &mut state, NOW_MS) {
            Step::Done(d, _) => d,
            Step::Wait(i) => panic!("waits for remote JWKS {i}"),
        }
    }
}

const NOW_MS: u64 = 1_700_000_000_000;

fn engine_for(ns: &str, labels: Value, resources: Value) -> Result<Engine, String> {
    let cfg = json!({"workload": {"namespace": ns, "labels": labels}, "resources": resources});
    let parsed = PluginConfig::parse(cfg.to_string().as_bytes()).map_err(|e| e.0)?;
    Engine::new(parsed, None).map_err(|e| e.0)
}

fn engine(resources: Value) -> Engine {
    engine_for("default", json!({"app": "backend"}), resources).unwrap()
}

fn ap(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn req(method: &str, path: &str, peer: Option<&str>) -> Request {
    let peer = match peer {
        Some(p) => Peer::mtls(&format!("spiffe://cluster.local/{p}")),
        None => Peer::plaintext(),
    };
    Request {
        method: method.into(),
        path: path.into(),
        authority: "backend.default.svc.cluster.local".into(),
        peer,
        source_ip: Some("127.0.0.1".parse().unwrap()),
        remote_ip: Some("127.0.0.1".parse().unwrap()),
        destination_port: Some(15006),
        ..Default::default()
    }
}

const FRONTEND: Option<&str> = Some("ns/default/sa/frontend");

fn seed_allow() -> Value {
    ap(
        "default",
        "allow-frontend-get-data",
        json!({
        "selector": {"matchLabels": {"app": "backend"}}, "action": "ALLOW",
        "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/frontend"]}}],
                   "to": [{"operation": {"methods": ["GET"], "paths": ["/api/v1/data"]}}]}]}),
    )
}

fn seed_deny_all_backend() -> Value {
    json!({"apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
           "metadata": {"name": "deny-all-backend", "namespace": "default"},
           "spec": {"selector": {"matchLabels": {"app": "backend"}}, "action": "DENY", "rules": [{}]}})
}

fn outcome(d: &Decision) -> (bool, &'static str, Option<&str>, Option<usize>) {
    (d.allow, d.reason.as_str(), d.policy.as_deref(), d.rule)
}

#[test]
fn seed_001_frontend_to_backend() {
    let e = engine(json!([seed_allow()]));
    let p = Some("default.allow-frontend-get-data");
    assert_eq!(
        outcome(&e.check(&req("GET", "/api/v1/data", FRONTEND))),
        (true, "allow_matched", p, Some(0))
    );
    assert_eq!(
        outcome(&e.check(&req("GET", "/api/v1/data?x=1", FRONTEND))),
        (true, "allow_matched", p, Some(0))
    );
    assert_eq!(
        outcome(&e.check(&req("POST", "/api/v1/data", FRONTEND))),
        (false, "no_allow_match", None, None)
    );
    assert_eq!(
        outcome(&e.check(&req("GET", "/api/v1/other", FRONTEND))),
        (false, "no_allow_match", None, None)
    );
    assert!(
        !e.check(&req("GET", "/api/v1/data", Some("ns/default/sa/other")))
            .allow
    );
    assert!(!e.check(&req("GET", "/api/v1/data", None)).allow);
}

#[test]
fn seed_001_deny_wins_over_allow() {
    let e = engine(json!([seed_deny_all_backend(), seed_allow()]));
    let d = e.check(&req("GET", "/api/v1/data", FRONTEND));
    assert_eq!(
        outcome(&d),
        (
            false,
            "deny_matched",
            Some("default.deny-all-backend"),
            Some(0)
        )
    );
    assert_eq!(d.action, Some(Action::Deny));
    let reply = d.reply(&req("GET", "/", None)).unwrap();
    assert_eq!((reply.status, reply.body), (403, "RBAC: access denied"));
}

#[test]
fn seed_000_production() {
    let resources = json!([
        ap("production", "deny-all", json!({})),
        ap(
            "production",
            "allow-frontend-to-api",
            json!({
            "selector": {"matchLabels": {"app": "api"}}, "action": "ALLOW",
            "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/production/sa/frontend"]}}],
                       "to": [{"operation": {"methods": ["GET", "POST"], "paths": ["/api/v1/*", "/healthz"]}}]}]})
        ),
        ap(
            "production",
            "deny-external-to-admin",
            json!({
            "selector": {"matchLabels": {"app": "api"}}, "action": "DENY",
            "rules": [{"from": [{"source": {"notNamespaces": ["production"]}}],
                       "to": [{"operation": {"paths": ["/admin/*"]}}]}]})
        ),
        ap(
            "production",
            "restrict-egress-stripe",
            json!({
            "selector": {"matchLabels": {"app": "payment-service"}}, "action": "ALLOW",
            "rules": [{"to": [{"operation": {"hosts": ["api.stripe.com"], "ports": ["443"]}}]}]})
        ),
    ]);
    let e = engine_for("production", json!({"app": "api"}), resources).unwrap();
    let fe = Some("ns/production/sa/frontend");
    assert!(e.check(&req("GET", "/api/v1/users", fe)).allow);
    assert!(e.check(&req("POST", "/api/v1/users", fe)).allow);
    assert!(e.check(&req("GET", "/healthz", fe)).allow);
    assert_eq!(
        e.check(&req("PUT", "/api/v1/users", fe)).reason.as_str(),
        "no_allow_match"
    );
    let d = e.check(&req("GET", "/admin/x", Some("ns/other/sa/frontend")));
    assert_eq!(
        outcome(&d),
        (
            false,
            "deny_matched",
            Some("production.deny-external-to-admin"),
            Some(0)
        )
    );
    // Plaintext has no namespace: notNamespaces matches it, so the DENY catches it.
    assert_eq!(
        e.check(&req("GET", "/admin/x", None)).reason.as_str(),
        "deny_matched"
    );
    assert_eq!(
        e.check(&req("GET", "/admin/x", fe)).reason.as_str(),
        "no_allow_match"
    );
    assert_eq!(
        e.policy_ids().collect::<Vec<_>>(),
        [
            "production.deny-all",
            "production.allow-frontend-to-api",
            "production.deny-external-to-admin"
        ]
    );
}

#[test]
fn empty_policies() {
    // No policy: allowed.
    assert_eq!(
        engine(json!([]))
            .check(&req("GET", "/", None))
            .reason
            .as_str(),
        "no_allow_policies"
    );
    // spec {} = ALLOW with no rules: deny everything.
    assert_eq!(
        engine(json!([ap("default", "deny-all", json!({}))]))
            .check(&req("GET", "/", FRONTEND))
            .reason
            .as_str(),
        "no_allow_match"
    );
    // ALLOW rules [{}]: allow everything, plaintext too.
    let e = engine(json!([ap("default", "all", json!({"rules": [{}]}))]));
    assert_eq!(
        outcome(&e.check(&req("DELETE", "/x", None))),
        (true, "allow_matched", Some("default.all"), Some(0))
    );
    // DENY without rules is refused like Istio's webhook does.
    let err = engine_for(
        "default",
        json!({}),
        json!([ap("default", "d", json!({"action": "DENY"}))]),
    )
    .unwrap_err();
    assert!(
        err.contains("AuthorizationPolicy default/d: spec.rules"),
        "{err}"
    );
    // DENY with rules: [] never matches and does not make the workload deny-by-default.
    let err = engine_for(
        "default",
        json!({}),
        json!([ap("default", "d", json!({"action": "DENY", "rules": []}))]),
    )
    .unwrap_err();
    assert!(err.contains("spec.rules"), "{err}");
    // A DENY that matches nothing does not make the workload deny-by-default.
    let e = engine(json!([ap(
        "default",
        "d",
        json!({"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["TRACE"]}}]}]})
    )]));
    assert_eq!(
        e.check(&req("GET", "/", None)).reason.as_str(),
        "no_allow_policies"
    );
}

#[test]
fn scoping() {
    let deny = |ns: &str, name: &str, extra: Value| {
        let mut spec = json!({"action": "DENY", "rules": [{}]});
        if let (Some(s), Some(x)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(x.clone());
        }
        ap(ns, name, spec)
    };
    let e = engine(json!([
        deny("other", "other-ns", json!({})),
        deny(
            "default",
            "other-app",
            json!({"selector": {"matchLabels": {"app": "frontend"}}})
        ),
        deny(
            "default",
            "by-ref",
            json!({"targetRef": {"kind": "Gateway", "group": "gateway.networking.k8s.io", "name": "gw"}})
        ),
    ]));
    assert!(e.check(&req("GET", "/", None)).allow);
    assert_eq!(e.policy_ids().count(), 0);
    let e = engine(json!([deny("istio-system", "mesh-wide", json!({}))]));
    assert_eq!(
        e.check(&req("GET", "/", None)).policy.as_deref(),
        Some("istio-system.mesh-wide")
    );
    let e = engine(json!([deny(
        "istio-system",
        "mesh-selected",
        json!({"selector": {"matchLabels": {"app": "backend"}}})
    )]));
    assert!(!e.check(&req("GET", "/", None)).allow);
    let err = engine_for(
        "default",
        json!({}),
        json!([deny(
            "default",
            "both",
            json!({
        "selector": {"matchLabels": {"a": "b"}}, "targetRef": {"kind": "Service", "name": "s"}})
        )]),
    )
    .unwrap_err();
    assert!(err.contains("only one of selector or targetRef"), "{err}");
}

#[test]
fn custom_audit_and_dry_run() {
    let custom = ap(
        "default",
        "ext",
        json!({"action": "CUSTOM", "provider": {"name": "opa"},
        "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}),
    );
    let e = engine(json!([custom]));
    assert_eq!(
        outcome(&e.check(&req("GET", "/admin", FRONTEND))),
        (false, "custom_matched", Some("default.ext"), Some(0))
    );
    assert!(e.check(&req("GET", "/public", FRONTEND)).allow);
    let err = engine_for(
        "default",
        json!({}),
        json!([ap(
            "default",
            "p",
            json!({"action": "ALLOW", "provider": {"name": "x"}, "rules": [{}]})
        )]),
    )
    .unwrap_err();
    assert!(err.contains("spec.provider"), "{err}");

    let audit = ap(
        "default",
        "audit-admin",
        json!({"action": "AUDIT", "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]}),
    );
    let e = engine(json!([audit]));
    let d = e.check(&req("GET", "/admin", None));
    assert!(d.allow && d.audit && d.reason.as_str() == "no_allow_policies");
    assert!(!e.check(&req("GET", "/other", None)).audit);

    let mut dry_deny = ap(
        "default",
        "dry-deny",
        json!({"action": "DENY", "rules": [{"to": [{"operation": {"methods": ["DELETE"]}}]}]}),
    );
    dry_deny["metadata"]["annotations"] = json!({"istio.io/dry-run": "true"});
    let e = engine(json!([dry_deny]));
    let d = e.check(&req("DELETE", "/x", None));
    assert!(d.allow);
    assert_eq!(
        d.dry_run,
        Some(DryRun {
            allow: false,
            policy: Some("default.dry-deny".into())
        })
    );
    assert_eq!(
        e.check(&req("GET", "/x", None)).dry_run,
        Some(DryRun {
            allow: true,
            policy: None
        })
    );

    // A dry-run ALLOW does not make the workload deny-by-default.
    let mut dry_allow = seed_allow();
    dry_allow["metadata"]["annotations"] = json!({"istio.io/dry-run": "1"});
    let e = engine(json!([dry_allow]));
    let d = e.check(&req("POST", "/x", None));
    assert_eq!(d.reason.as_str(), "no_allow_policies");
    assert!(d.allow);
    assert_eq!(
        d.dry_run,
        Some(DryRun {
            allow: false,
            policy: None
        })
    );
    // No dry-run policy: no dry_run field.
    assert_eq!(
        engine(json!([seed_allow()]))
            .check(&req("GET", "/", None))
            .dry_run,
        None
    );
}

#[test]
fn unknown_source_ip_fails_closed() {
    let allow = engine(json!([ap(
        "default",
        "lan",
        json!({"rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]}]})
    )]));
    let deny = engine(json!([ap(
        "default",
        "block",
        json!({"action": "DENY", "rules": [{"from": [{"source": {"notIpBlocks": ["127.0.0.1"]}}]}]})
    )]));
    let mut r = req("GET", "/", None);
    r.source_ip = Some("10.1.2.3".parse().unwrap());
    assert!(allow.check(&r).allow);
    assert!(deny.check(&r).reason.as_str() == "deny_matched");
    // X-Forwarded-For rewrote the source: the peer is unknown.
    r.source_ip = None;
    r.remote_ip = Some("10.1.2.3".parse().unwrap());
    assert_eq!(allow.check(&r).reason.as_str(), "no_allow_match");
    assert_eq!(deny.check(&r).reason.as_str(), "deny_matched");
    // remoteIpBlocks read the XFF-derived address.
    let remote = engine(json!([ap(
        "default",
        "remote",
        json!({"rules": [{"from": [{"source": {"remoteIpBlocks": ["10.0.0.0/8"]}}]}]})
    )]));
    assert!(remote.check(&r).allow);
}

#[test]
fn operations_and_conditions() {
    let e = engine(json!([ap(
        "default",
        "ops",
        json!({"rules": [
            {"to": [{"operation": {"hosts": ["API.example.com"], "methods": ["GET"]}}]},
            {"to": [{"operation": {"ports": ["15006"], "paths": ["/files/{*}/raw", "/static/{**}"], "notPaths": ["/static/secret/{**}"]}}]},
            {"when": [{"key": "request.headers[X-Role]", "values": ["admin"]}, {"key": "destination.port", "notValues": ["9999"]}]},
            {"from": [{"source": {"notPrincipals": ["cluster.local/ns/default/sa/evil"]}}], "to": [{"operation": {"methods": ["PATCH"]}}]}
        ]})
    )]));
    let with_host = |h: &str, m: &str| {
        let mut r = req(m, "/nope", None);
        r.authority = h.into();
        e.check(&r)
    };
    assert_eq!(with_host("api.EXAMPLE.com", "GET").rule, Some(0));
    assert!(!with_host("api.example.com:8080", "GET").allow);
    assert!(!with_host("api.example.com", "HEAD").allow);
    assert_eq!(e.check(&req("GET", "/files/a/raw", None)).rule, Some(1));
    assert!(!e.check(&req("GET", "/files/a/b/raw", None)).allow);
    assert_eq!(e.check(&req("GET", "/static/a/b.css", None)).rule, Some(1));
    assert!(!e.check(&req("GET", "/static/secret/k", None)).allow);
    let mut r = req("GET", "/nope", None);
    r.destination_port = Some(8080);
    assert!(!e.check(&r).allow);
    r.headers = [("x-role", &b"user"[..]), ("x-role", &b"admin"[..])]
        .into_iter()
        .collect::<crate::request::Headers>();
    assert_eq!(e.check(&r).rule, Some(2));
    // notPrincipals alone admits plaintext (Istio's quirk, kept).
    assert_eq!(e.check(&req("PATCH", "/nope", None)).rule, Some(3));
    assert!(
        !e.check(&req("PATCH", "/nope", Some("ns/default/sa/evil")))
            .allow
    );
}

#[test]
fn namespace_lookalikes_and_principal_wildcards() {
    let e = engine(json!([
        ap(
            "default",
            "ns",
            json!({"rules": [{"from": [{"source": {"namespaces": ["default"]}}]}]})
        ),
        ap(
            "default",
            "any-peer",
            json!({"rules": [{"from": [{"source": {"principals": ["*"]}}], "to": [{"operation": {"paths": ["/mtls-only"]}}]}]})
        )
    ]));
    assert!(e.check(&req("GET", "/", Some("ns/default/sa/x"))).allow);
    assert!(
        !e.check(&req("GET", "/", Some("ns/default-evil/sa/x")))
            .allow
    );
    assert!(!e.check(&req("GET", "/", Some("ns/other/sa/default"))).allow);
    assert!(
        e.check(&req("GET", "/mtls-only", Some("ns/other/sa/x")))
            .allow
    );
    assert!(!e.check(&req("GET", "/mtls-only", None)).allow);
}

#[test]
fn peer_authentication_strict() {
    let pa = |ns: &str, spec: Value| {
        json!({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                                             "metadata": {"name": "default", "namespace": ns}, "spec": spec})
    };
    let e = engine(json!([pa(
        "istio-system",
        json!({"mtls": {"mode": "STRICT"}})
    )]));
    let d = e.check(&req("GET", "/", None));
    assert_eq!((d.allow, d.reason.as_str()), (false, "mtls_required"));
    assert_eq!(d.reply(&req("GET", "/", None)).map(|r| r.status), Some(403));
    assert!(e.check(&req("GET", "/", FRONTEND)).allow);
    let e = engine(json!([
        pa("istio-system", json!({"mtls": {"mode": "STRICT"}})),
        pa("default", json!({"mtls": {"mode": "PERMISSIVE"}}))
    ]));
    assert!(e.check(&req("GET", "/", None)).allow);
    let err = engine_for(
        "default",
        json!({}),
        json!([pa(
            "default",
            json!({"portLevelMtls": {"80": {"mode": "STRICT"}}})
        )]),
    )
    .unwrap_err();
    assert!(
        err.contains("PeerAuthentication default/default: spec.portLevelMtls"),
        "{err}"
    );
}

#[test]
fn workload_comes_from_config_or_node() {
    let cfg = PluginConfig::parse(br#"{"resources": []}"#).unwrap();
    let err = Engine::new(cfg.clone(), None).unwrap_err();
    assert!(err.0.contains("workload"), "{err}");
    let node = Workload {
        namespace: "prod".into(),
        labels: Default::default(),
    };
    assert_eq!(
        Engine::new(cfg, Some(node)).unwrap().workload.namespace,
        "prod"
    );
}

#[test]
fn bad_policies_are_reported_even_when_they_do_not_apply() {
    let err = engine_for(
        "default",
        json!({}),
        json!([ap(
            "elsewhere",
            "p",
            json!({"rules": [{"from": [{"source": {"ipBlocks": ["nope"]}}]}]})
        )]),
    )
    .unwrap_err();
    assert_eq!(err, "AuthorizationPolicy elsewhere/p: spec.rules[0].from[0].source.ipBlocks[0]: bad IP address (nope)");
}

#[test]
fn sni_is_read_only_when_a_policy_uses_it() {
    assert!(!engine(json!([seed_allow()])).needs_sni);
    let e = engine(json!([ap(
        "default",
        "sni",
        json!({"action": "DENY", "rules": [{"when": [{"key": "connection.sni", "values": ["*.internal"]}]}]})
    )]));
    assert!(e.needs_sni);
    let mut r = req("GET", "/", FRONTEND);
    r.sni = Some("db.internal".into());
    assert_eq!(e.check(&r).reason.as_str(), "deny_matched");
    r.sni = None;
    assert!(e.check(&r).allow);
}

fn pa(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "security.istio.io/v1beta1", "kind": "PeerAuthentication",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn se(ns: &str, name: &str, spec: Value) -> Value {
    json!({"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
           "metadata": {"name": name, "namespace": ns}, "spec": spec})
}

fn with(mut cfg: Value, extra: Value) -> Engine {
    if let (Some(c), Some(x)) = (cfg.as_object_mut(), extra.as_object()) {
        c.extend(x.clone());
    }
    Engine::new(
        PluginConfig::parse(cfg.to_string().as_bytes()).unwrap(),
        None,
    )
    .unwrap()
}

fn config(ns: &str, labels: Value, resources: Value) -> Value {
    json!({"workload": {"namespace": ns, "labels": labels}, "resources": resources})
}

#[test]
fn strict_mtls_report_mode_lets_plaintext_through_and_says_so() {
    let cfg = config(
        "default",
        json!({"app": "backend"}),
        json!([pa(
            "istio-system",
            "default",
            json!({"mtls": {"mode": "STRICT"}})
        )]),
    );
    let enforce = with(cfg.clone(), json!({}));
    let d = enforce.check(&req("GET", "/", None));
    assert_eq!(d.reason.as_str(), "mtls_required");
    assert_eq!(
        d.mtls,
        Some(MtlsReport {
            mode: MtlsMode::Strict,
            violation: true,
            enforced: true
        })
    );
    let report = with(cfg, json!({"strictMtls": "report"}));
    let d = report.check(&req("GET", "/", None));
    assert!(d.allow);
    assert_eq!(
        d.mtls,
        Some(MtlsReport {
            mode: MtlsMode::Strict,
            violation: true,
            enforced: false
        })
    );
    let d = report.check(&req("GET", "/", FRONTEND));
    assert_eq!(
        d.mtls,
        Some(MtlsReport {
            mode: MtlsMode::Strict,
            violation: false,
            enforced: false
        })
    );
}

#[test]
fn seed_db_strict_port_level() {
    let db_strict = pa(
        "database",
        "db-strict",
        json!({"selector": {"matchLabels": {"app": "postgres"}},
        "mtls": {"mode": "STRICT"}, "portLevelMtls": {"5432": {"mode": "STRICT"}}}),
    );
    let e = engine_for("database", json!({"app": "postgres"}), json!([db_strict])).unwrap();
    let mut r = req("GET", "/", None);
    r.destination_port = Some(5432);
    assert_eq!(e.check(&r).reason.as_str(), "mtls_required");
    let permissive_port = pa(
        "database",
        "db",
        json!({"selector": {"matchLabels": {"app": "postgres"}},
        "mtls": {"mode": "PERMISSIVE"}, "portLevelMtls": {"5432": {"mode": "STRICT"}}}),
    );
    let e = engine_for(
        "database",
        json!({"app": "postgres"}),
        json!([permissive_port]),
    )
    .unwrap();
    assert_eq!(e.check(&r).reason.as_str(), "mtls_required");
    r.destination_port = Some(8080);
    assert!(e.check(&r).allow);
}

#[test]
fn egress_registry_only() {
    let resources = json!([
        se(
            "production",
            "allow-external-api",
            json!({"hosts": ["api.stripe.com"],
            "ports": [{"number": 443, "name": "https", "protocol": "TLS"}], "resolution": "DNS", "location": "MESH_EXTERNAL"})
        ),
        se(
            "production",
            "github",
            json!({"hosts": ["api.github.com"], "ports": [{"number": 443, "name": "https", "protocol": "TLS"}]})
        ),
        ap(
            "production",
            "restrict-egress-stripe",
            json!({"selector": {"matchLabels": {"app": "payment-service"}}, "action": "ALLOW",
            "rules": [{"to": [{"operation": {"hosts": ["api.stripe.com"], "ports": ["443"]}}]}]})
        ),
    ]);
    let cfg = config("production", json!({"app": "payment-service"}), resources);
    let e = with(
        cfg.clone(),
        json!({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}),
    );
    let out = |authority: &str| {
        let mut r = req("GET", "/v1/charges", None);
        r.direction = Direction::Outbound;
        r.authority = authority.into();
        r.destination_port = Some(15001);
        r
    };
    let d = e.check(&out("api.stripe.com:443"));
    assert_eq!(
        outcome(&d),
        (
            true,
            "allow_matched",
            Some("production.restrict-egress-stripe"),
            Some(0)
        )
    );
    assert_eq!(
        d.egress,
        Some(EgressReport {
            host: "api.stripe.com".into(),
            port: Some(443),
            service_entry: Some("production.allow-external-api".into())
        })
    );
    assert_eq!(d.mtls, None);
    assert_eq!(
        e.check(&out("API.Stripe.COM:443")).reason.as_str(),
        "allow_matched"
    );
    let d = e.check(&out("evil.example.com"));
    assert_eq!(d.reason.as_str(), "egress_not_registered");
    let reply = d.reply(&out("evil.example.com")).unwrap();
    assert_eq!((reply.status, reply.body), (502, ""));
    assert_eq!(
        e.check(&out("api.stripe.com:80")).reason.as_str(),
        "egress_not_registered"
    );
    // Without a port in :authority, the listener's port counts.
    assert_eq!(
        e.check(&out("api.stripe.com")).reason.as_str(),
        "egress_not_registered"
    );
    assert_eq!(
        e.check(&out("api.github.com:443")).reason.as_str(),
        "no_allow_match"
    );
    // A policy naming the port still matches the called host outbound.
    let with_port = with(
        config(
            "production",
            json!({}),
            json!([
                se("production", "s", json!({"hosts": ["api.stripe.com"]})),
                ap(
                    "production",
                    "p",
                    json!({"rules": [{"to": [{"operation": {"hosts": ["api.stripe.com:443"]}}]}]})
                )
            ]),
        ),
        json!({"outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"}}),
    );
    assert!(with_port.check(&out("api.stripe.com:443")).allow);
    assert!(!with_port.check(&out("api.stripe.com:8443")).allow);
    // ALLOW_ANY: nothing is refused for want of a ServiceEntry.
    let any = with(cfg, json!({}));
    let d = any.check(&out("evil.example.com:443"));
    assert_eq!(d.reason.as_str(), "no_allow_match");
    assert_eq!(d.egress.and_then(|e| e.service_entry), None);
    // PeerAuthentication and RequestAuthentication do not apply outbound.
    let strict = with(
        config(
            "production",
            json!({}),
            json!([pa(
                "istio-system",
                "default",
                json!({"mtls": {"mode": "STRICT"}})
            )]),
        ),
        json!({}),
    );
    assert!(strict.check(&out("x:80")).allow);
}

#[test]
fn gateway_https_redirect() {
    let gw = json!({"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "app-gateway", "namespace": "production"},
        "spec": {"selector": {"istio": "ingressgateway"}, "servers": [
            {"port": {"number": 443, "name": "https", "protocol": "HTTPS"},
             "tls": {"mode": "SIMPLE", "credentialName": "app-tls-cert"}, "hosts": ["app.example.com"]},
            {"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "tls": {"httpsRedirect": true}, "hosts": ["app.example.com"]}]}});
    let mesh_strict = pa(
        "istio-system",
        "default",
        json!({"mtls": {"mode": "STRICT"}}),
    );
    let cfg = config(
        "istio-system",
        json!({"istio": "ingressgateway"}),
        json!([
            gw,
            mesh_strict,
            ap(
                "istio-system",
                "deny-admin",
                json!({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]})
            )
        ]),
    );
    let e = with(cfg, json!({"gatewayPorts": {"80": 18080, "443": 18443}}));
    let at = |authority: &str, port: u16| {
        let mut r = req("GET", "/x?y=1", None);
        r.authority = authority.into();
        r.destination_port = Some(port);
        r
    };
    let d = e.check(&at("App.example.com:18080", 18080));
    assert_eq!(
        outcome(&d),
        (
            false,
            "https_redirect",
            Some("production.app-gateway"),
            Some(1)
        )
    );
    let reply = d.reply(&at("App.example.com:18080", 18080)).unwrap();
    assert_eq!(reply.status, 301);
    assert_eq!(
        reply.headers,
        vec![("location", "https://app.example.com/x?y=1".to_string())]
    );
    // Other hosts are not redirected; the mesh's STRICT mTLS does not apply to a gateway.
    let d = e.check(&at("other.example.com", 18080));
    assert_eq!(d.reason.as_str(), "no_allow_policies");
    assert_eq!(d.mtls, None);
    assert!(e.check(&at("app.example.com", 18443)).allow);
    // Authorization runs before the redirect (RBAC filter before the router).
    let mut admin = at("app.example.com", 18080);
    admin.path = "/admin".into();
    assert_eq!(e.check(&admin).reason.as_str(), "deny_matched");
    let err = engine_for("default", json!({}), json!([{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
        "metadata": {"name": "g", "namespace": "default"}, "spec": {"servers": [{"port": {"number": 0}, "hosts": ["a"]}]}}])).unwrap_err();
    assert!(
        err.contains("Gateway default/g: spec.servers[0].port.number"),
        "{err}"
    );
    let err = engine_for(
        "default",
        json!({}),
        json!([se("default", "s", json!({"ports": [{"number": 443}]}))]),
    )
    .unwrap_err();
    assert!(err.contains("ServiceEntry default/s: spec.hosts"), "{err}");
}

#[test]
fn deny_path_variants_only_refuse_more() {
    let resources = json!([
        ap(
            "default",
            "deny-admin",
            json!({"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin/*", "/admin"]}}]}]})
        ),
        ap(
            "default",
            "allow-public",
            json!({"rules": [{"to": [{"operation": {"paths": ["/public/*"]}}]}, {"to": [{"operation": {"notPaths": ["/public/*"]}}]}]})
        ),
    ]);
    let base = engine(resources.clone());
    let hardened = with(
        config("default", json!({"app": "backend"}), resources),
        json!({"denyPathVariants": true}),
    );
    let paths = [
        "/admin/x",
        "//admin/x",
        "/admin%2Fx",
        "/admin%2fx",
        "/public/..%2Fadmin",
        "/public%2F..%2Fadmin/x",
        "/public/x",
        "/public//x",
        "/x%5C..%5Cadmin",
        "/Admin/x",
        "/public/a%2Fb",
        "/?q=/admin/x",
        "/public/%2e%2e/admin",
    ];
    for p in paths {
        let (b, h) = (
            base.check(&req("GET", p, None)),
            hardened.check(&req("GET", p, None)),
        );
        assert!(
            !h.allow || b.allow,
            "{p}: the hardened engine allowed what the default denies"
        );
    }
    for p in [
        "//admin/x",
        "/admin%2Fx",
        "/public/..%2Fadmin",
        "/public%2F..%2Fadmin/x",
    ] {
        assert!(
            base.check(&req("GET", p, None)).allow,
            "{p} passes Istio's default"
        );
        let d = hardened.check(&req("GET", p, None));
        assert_eq!(
            (d.allow, d.policy.as_deref()),
            (false, Some("default.deny-admin")),
            "{p}"
        );
    }
    assert!(hardened.check(&req("GET", "/public/a%2Fb", None)).allow);
}

/// A request as the adapter builds it from Envoy's header map (pseudo-headers included).
fn wire_req(pairs: &[(&str, &str)]) -> Request {
    let headers = pairs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()));
    let conn = crate::host::decode::Connection {
        source_address: Some("127.0.0.1:40000".into()),
        destination_address: Some("127.0.0.1:15006".into()),
        ..Default::default()
    };
    crate::host::decode::build_request(headers.collect(), conn).unwrap()
}

#[test]
fn request_headers_host_is_the_authority() {
    // Envoy's header map files `host` under `:authority`: a DENY on request.headers[host] fires
    // for the authority whatever the protocol, and an ALLOW on it matches.
    let deny = |key: &str| {
        engine(json!([ap(
            "default",
            "deny-evil-host",
            json!({"action": "DENY",
            "rules": [{"when": [{"key": key, "values": ["evil.example.com"]}]}]})
        )]))
    };
    let evil = wire_req(&[
        (":method", "GET"),
        (":path", "/"),
        (":authority", "evil.example.com"),
    ]);
    let good = wire_req(&[
        (":method", "GET"),
        (":path", "/"),
        (":authority", "good.example.com"),
    ]);
    for key in [
        "request.headers[host]",
        "request.headers[Host]",
        "request.headers[HOST]",
        "request.headers[:authority]",
    ] {
        let e = deny(key);
        let d = e.check(&evil);
        assert_eq!(
            (d.allow, d.policy.as_deref()),
            (false, Some("default.deny-evil-host")),
            "{key}"
        );
        assert!(e.check(&good).allow, "{key}");
    }
    let allow = engine(json!([ap(
        "default",
        "allow-good-host",
        json!({
        "rules": [{"when": [{"key": "request.headers[host]", "values": ["good.*"]}]}]})
    )]));
    assert!(allow.check(&good).allow);
    assert!(!allow.check(&evil).allow);
    // Header values compare case-sensitively (a header matcher, not `hosts`).
    let upper = wire_req(&[
        (":method", "GET"),
        (":path", "/"),
        (":authority", "Good.example.com"),
    ]);
    assert!(!allow.check(&upper).allow);
}

#[test]
fn request_headers_reads_pseudo_headers() {
    // The other pseudo-headers are in Envoy's header map under their own names, as native RBAC
    // sees them: `:method`, `:path` (query included), `:scheme`.
    let e = engine(json!([ap(
        "default",
        "deny-pseudo",
        json!({"action": "DENY",
        "rules": [{"when": [{"key": "request.headers[:method]", "values": ["DELETE"]}]},
                  {"when": [{"key": "request.headers[:path]", "values": ["*?debug=1"]}]}]})
    )]));
    let r = |m: &str, p: &str| wire_req(&[(":method", m), (":path", p), (":authority", "h")]);
    assert_eq!(e.check(&r("DELETE", "/x")).rule, Some(0));
    assert!(!e.check(&r("DELETE", "/x")).allow);
    assert_eq!(e.check(&r("GET", "/x?debug=1")).rule, Some(1));
    assert!(e.check(&r("GET", "/x?debug=2")).allow);
}

fn connect(authority: &str) -> Request {
    wire_req(&[
        (":method", "CONNECT"),
        (":authority", authority),
        ("x-request-id", "r-1"),
    ])
}

#[test]
fn connect_has_no_path_and_path_rules_see_none() {
    // Envoy's RBAC: a path matcher is false without a :path, so `paths` (even `*`) never
    // matches a CONNECT and `notPaths` always does.
    let allow_paths = engine(json!([ap(
        "default",
        "allow-api",
        json!({
        "rules": [{"to": [{"operation": {"paths": ["/api/*", "*", "/{**}"]}}]}]})
    )]));
    let d = allow_paths.check(&connect("db.example.com:5432"));
    assert_eq!(outcome(&d), (false, "no_allow_match", None, None));
    let allow_not_paths = engine(json!([ap(
        "default",
        "allow-not-admin",
        json!({
        "rules": [{"to": [{"operation": {"notPaths": ["/admin"]}}]}]})
    )]));
    assert!(allow_not_paths.check(&connect("db.example.com:5432")).allow);
    let deny_not_paths = engine(json!([ap(
        "default",
        "deny-outside-api",
        json!({"action": "DENY",
        "rules": [{"to": [{"operation": {"notPaths": ["/api/*"]}}]}]})
    )]));
    let d = deny_not_paths.check(&connect("db.example.com:5432"));
    assert_eq!(
        (d.allow, d.policy.as_deref()),
        (false, Some("default.deny-outside-api"))
    );
    // A DENY on paths does not catch a CONNECT (as natively); methods and hosts do.
    let deny = engine(json!([
        ap(
            "default",
            "deny-admin",
            json!({"action": "DENY",
            "rules": [{"to": [{"operation": {"paths": ["*"]}}]}]})
        ),
        ap(
            "default",
            "deny-connect-db",
            json!({"action": "DENY",
            "rules": [{"to": [{"operation": {"methods": ["CONNECT"], "hosts": ["db.*"]}}]}]})
        ),
    ]));
    assert!(deny.check(&connect("web.example.com:443")).allow);
    let d = deny.check(&connect("db.example.com:5432"));
    assert_eq!(
        (d.allow, d.policy.as_deref()),
        (false, Some("default.deny-connect-db"))
    );
    // The indexed path (exact and prefix paths guard a rule) skips nothing it should not.
    let indexed = engine(json!([ap(
        "default",
        "allow-exact",
        json!({
        "rules": [{"to": [{"operation": {"paths": ["/a", "/b/*"]}}]},
                  {"to": [{"operation": {"methods": ["CONNECT"]}}]}]})
    )]));
    let d = indexed.check(&connect("x:1"));
    assert_eq!(
        outcome(&d),
        (true, "allow_matched", Some("default.allow-exact"), Some(1))
    );
}

#[test]
fn connect_audit_entry() {
    let e = engine(json!([ap(
        "default",
        "deny-all-connect",
        json!({"action": "DENY",
        "rules": [{"to": [{"operation": {"methods": ["CONNECT"]}}]}]})
    )]));
    let r = connect("db.example.com:5432");
    let d = e.check(&r);
    let line = crate::audit::render(&crate::audit::Context {
        request: &r,
        decision: &d,
        destination_address: None,
        request_id: r
            .header("x-request-id")
            .and_then(|v| std::str::from_utf8(v).ok()),
        status: Some(403),
        now: std::time::UNIX_EPOCH,
    });
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["request_id"], "r-1");
    assert_eq!(v["method"], "CONNECT");
    assert_eq!(v["host"], "db.example.com:5432");
    assert_eq!(v["path"], Value::Null);
    assert_eq!(v["policy"], "default.deny-all-connect");
}
