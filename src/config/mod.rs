//! The plugin configuration: the operator's Istio resources verbatim, plus where this proxy
//! sits (`workload`) and how it audits. Parsing and validation only; compilation into matchers
//! happens in [`crate::engine`].

mod path;
pub mod read;
mod resource;
pub mod scope;
pub mod spec;

pub use resource::{Body, Meta, Resource};

use crate::map::SortedMap;
use read::{read_enum, read_struct};
use std::fmt;

/// A configuration error: names the resource (`Kind namespace/name`) or the plugin setting,
/// and the field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Workload {
    pub namespace: String,
    pub labels: SortedMap<String, String>,
}
read_struct!(Workload, Refuse {
    required "namespace" => namespace,
    "labels" => labels,
});

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AuditLog {
    #[default]
    All,
    Deny,
    None,
}
read_enum!(AuditLog {
    "all" => All,
    "deny" => Deny,
    "none" => None,
});

#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    pub log: AuditLog,
    /// Also set the decision as Envoy filter state (`wasm.meshguard_decision`, `_reason`,
    /// `_policy`) for an access log to print. Off unless asked for: three host calls a request.
    pub filter_state: bool,
}
read_struct!(AuditConfig, Refuse {
    "log" => log,
    "filterState" => filter_state,
});

/// Which side of the proxy the plugin runs on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DirectionSetting {
    /// Envoy's `xds.listener_direction`: OUTBOUND means outbound, anything else inbound.
    #[default]
    Auto,
    Inbound,
    Outbound,
}
read_enum!(DirectionSetting {
    "auto" => Auto,
    "inbound" => Inbound,
    "outbound" => Outbound,
});

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutboundMode {
    #[default]
    AllowAny,
    RegistryOnly,
}
read_enum!(OutboundMode {
    "ALLOW_ANY" => AllowAny,
    "REGISTRY_ONLY" => RegistryOnly,
});

/// MeshConfig's outboundTrafficPolicy, for this proxy.
#[derive(Debug, Clone, Copy, Default)]
pub struct OutboundTrafficPolicy {
    pub mode: OutboundMode,
}
read_struct!(OutboundTrafficPolicy, Refuse {
    "mode" => mode,
});

/// What STRICT mTLS does to a plaintext request: refuse it, or only report it (the PERMISSIVE
/// migration: see who still talks plaintext before enforcing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StrictMtls {
    #[default]
    Enforce,
    Report,
}
read_enum!(StrictMtls {
    "enforce" => Enforce,
    "report" => Report,
});

/// The top level of the plugin configuration, before resources are checked one by one.
#[derive(Debug, Default)]
struct RawConfig {
    workload: Option<Workload>,
    root_namespace: Option<String>,
    trust_domain: Option<String>,
    trust_domain_aliases: Vec<String>,
    resources: Vec<serde_json::Value>,
    audit: AuditConfig,
    direction: DirectionSetting,
    outbound_traffic_policy: OutboundTrafficPolicy,
    strict_mtls: StrictMtls,
    gateway_ports: SortedMap<String, u32>,
    jwks_clusters: SortedMap<String, String>,
    deny_path_variants: bool,
}
read_struct!(RawConfig, Refuse {
    "workload" => workload,
    "rootNamespace" => root_namespace,
    "trustDomain" => trust_domain,
    "trustDomainAliases" => trust_domain_aliases,
    "resources" => resources,
    "audit" => audit,
    "direction" => direction,
    "outboundTrafficPolicy" => outbound_traffic_policy,
    "strictMtls" => strict_mtls,
    "gatewayPorts" => gateway_ports,
    "jwksClusters" => jwks_clusters,
    "denyPathVariants" => deny_path_variants,
});

#[derive(Debug, Clone)]
pub struct PluginConfig {
    pub workload: Option<Workload>,
    pub root_namespace: String,
    /// meshConfig's trustDomain and trustDomainAliases: what istiod rewrites `cluster.local`
    /// and aliased principals into (see policy::trust_domain).
    pub trust_domain: String,
    pub trust_domain_aliases: Vec<String>,
    pub resources: Vec<Resource>,
    pub audit: AuditConfig,
    pub direction: DirectionSetting,
    pub outbound_traffic_policy: OutboundTrafficPolicy,
    pub strict_mtls: StrictMtls,
    /// A Gateway server's port number -> the port the Envoy listener binds.
    pub gateway_ports: SortedMap<u16, u16>,
    /// A `jwksUri` -> the Envoy cluster that reaches it (default: Istio's
    /// `outbound|<port>||<host>`).
    pub jwks_clusters: SortedMap<String, String>,
    /// Hardening beyond Istio: DENY and CUSTOM rules also match the path with escaped slashes
    /// decoded, slashes merged and dot segments resolved. Only ever refuses more.
    pub deny_path_variants: bool,
}

pub const DEFAULT_ROOT_NAMESPACE: &str = "istio-system";
pub const DEFAULT_TRUST_DOMAIN: &str = "cluster.local";

impl PluginConfig {
    /// Parses the plugin configuration (a JSON object). An empty configuration is refused:
    /// a filter with nothing to enforce is far more likely a deployment mistake than intent.
    pub fn parse(bytes: &[u8]) -> Result<Self, ConfigError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ConfigError(
                "meshguard configuration is empty: expected a JSON object with `resources`".into(),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = crate::json::read_value(&mut de).map_err(|e| {
            let path = path::bytes::at_error(bytes, &e);
            if path == "." {
                ConfigError(format!("meshguard configuration: {e}"))
            } else {
                ConfigError(format!("meshguard configuration: {path}: {e}"))
            }
        })?;
        // Text after the object is refused, not ignored: it is a configuration nobody checked.
        de.end().map_err(|e| {
            ConfigError(format!(
                "meshguard configuration: text after the configuration object ({e})"
            ))
        })?;
        let raw: RawConfig = read::from_value(&value).map_err(|e| {
            let path = e.path();
            if path == "." {
                ConfigError(format!("meshguard configuration: {}", e.message()))
            } else {
                ConfigError(format!("meshguard configuration: {path}: {}", e.message()))
            }
        })?;
        let root_namespace = non_empty(raw.root_namespace, "rootNamespace")?
            .unwrap_or_else(|| DEFAULT_ROOT_NAMESPACE.to_string());
        let trust_domain = non_empty(raw.trust_domain, "trustDomain")?
            .unwrap_or_else(|| DEFAULT_TRUST_DOMAIN.to_string());
        check_trust_domain(&trust_domain)
            .map_err(|e| ConfigError(format!("meshguard configuration: trustDomain: {e}")))?;
        for (i, alias) in raw.trust_domain_aliases.iter().enumerate() {
            check_trust_domain(alias).map_err(|e| {
                ConfigError(format!(
                    "meshguard configuration: trustDomainAliases[{i}]: {e}"
                ))
            })?;
        }
        if let Some(w) = &raw.workload {
            if w.namespace.is_empty() {
                return Err(ConfigError(
                    "meshguard configuration: workload.namespace must not be empty".into(),
                ));
            }
        }
        let resources = raw
            .resources
            .iter()
            .enumerate()
            .map(|(i, v)| Resource::parse(i, v))
            .collect::<Result<Vec<_>, _>>()?;
        // The first resource, in order, whose kind, namespace and name an earlier one has: of
        // equal keys the stable sort keeps the order given, so each later one follows its twin.
        let mut keys: Vec<((&str, &str, &str), usize)> = resources
            .iter()
            .enumerate()
            .map(|(i, r)| {
                (
                    (
                        r.kind_name(),
                        r.meta.namespace.as_str(),
                        r.meta.name.as_str(),
                    ),
                    i,
                )
            })
            .collect();
        crate::sort::sort_by(&mut keys, |a, b| a.0.cmp(&b.0));
        let repeated = keys
            .windows(2)
            .filter_map(|w| match w {
                [(a, _), (b, i)] if a == b => Some(*i),
                _ => None,
            })
            .min();
        if let Some(r) = repeated.and_then(|i| resources.get(i)) {
            return Err(ConfigError(format!(
                "{}: appears twice in resources (a cluster holds one object per kind, namespace and name)",
                r.id()
            )));
        }
        let mut gateway_ports = SortedMap::new();
        for (from, to) in &raw.gateway_ports {
            let port = |v: u32| u16::try_from(v).ok().filter(|p| *p > 0);
            match (from.parse::<u32>().ok().and_then(port), port(*to)) {
                (Some(f), Some(t)) => {
                    gateway_ports.insert(f, t);
                }
                _ => {
                    return Err(ConfigError(format!(
                        "meshguard configuration: gatewayPorts.{from}: ports must be numbers from 1 to 65535"
                    )))
                }
            }
        }
        Ok(PluginConfig {
            workload: raw.workload,
            root_namespace,
            trust_domain,
            trust_domain_aliases: raw.trust_domain_aliases,
            resources,
            audit: raw.audit,
            direction: raw.direction,
            outbound_traffic_policy: raw.outbound_traffic_policy,
            strict_mtls: raw.strict_mtls,
            gateway_ports,
            jwks_clusters: raw.jwks_clusters,
            deny_path_variants: raw.deny_path_variants,
        })
    }
}

/// Istio's mesh configuration check for a trust domain: dot-separated DNS-1123 labels, the
/// last of which may be empty (`example.com.`).
fn check_trust_domain(domain: &str) -> Result<(), String> {
    if domain.is_empty() {
        return Err("empty domain name not allowed".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let last = labels.len() - 1;
    for (i, label) in labels.iter().enumerate() {
        if i == last && label.is_empty() {
            break;
        }
        if !crate::hostname::is_dns1123_label(label) {
            return Err(format!("trust domain name {domain:?} invalid"));
        }
    }
    Ok(())
}

fn non_empty(v: Option<String>, field: &str) -> Result<Option<String>, ConfigError> {
    match v {
        Some(s) if s.is_empty() => Err(ConfigError(format!(
            "meshguard configuration: {field} must not be empty"
        ))),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        PluginConfig::parse(json.as_bytes()).unwrap_err().0
    }

    #[test]
    fn defaults() {
        let c = PluginConfig::parse(br#"{"resources": []}"#).unwrap();
        assert_eq!(c.root_namespace, "istio-system");
        assert_eq!(c.trust_domain, "cluster.local");
        assert_eq!(c.audit.log, AuditLog::All);
        assert!(!c.audit.filter_state);
        assert!(c.workload.is_none());
    }

    #[test]
    fn top_level_errors_name_the_setting() {
        assert!(err("").contains("empty"));
        assert!(err("{").contains("meshguard configuration"));
        assert!(err(r#"{"resourcez": []}"#).contains("unknown field `resourcez`"));
        let e = err(r#"{"audit": {"log": "verbose"}}"#);
        assert!(e.contains("audit.log") && e.contains("verbose"), "{e}");
        let c = PluginConfig::parse(br#"{"audit": {"filterState": true}}"#).unwrap();
        assert!(c.audit.filter_state && c.audit.log == AuditLog::All);
        assert!(err(r#"{"audit": {"filterState": "yes"}}"#).contains("audit.filterState"));
        assert!(err(r#"{"rootNamespace": ""}"#).contains("rootNamespace"));
        assert!(err(r#"{"trustDomain": "a/b"}"#).contains("trustDomain: trust domain name"));
        assert!(err(r#"{"trustDomain": "A.com"}"#).contains("trustDomain"));
        let e = err(r#"{"trustDomainAliases": ["ok.td", "*.td"]}"#);
        assert!(e.contains("trustDomainAliases[1]"), "{e}");
        let c = PluginConfig::parse(br#"{"trustDomain": "td.", "trustDomainAliases": ["a-1.b"]}"#)
            .unwrap();
        assert_eq!(c.trust_domain_aliases, ["a-1.b"]);
        assert!(err(r#"{"workload": {"namespace": ""}}"#).contains("workload.namespace"));
        let e = err(r#"{"workload": {"namespace": "a", "labels": {"x": 1}}}"#);
        assert!(e.contains("workload.labels.x"), "{e}");
    }

    #[test]
    fn knobs() {
        let c = PluginConfig::parse(
            br#"{"direction": "outbound", "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
                 "strictMtls": "report", "gatewayPorts": {"80": 8080}}"#,
        )
        .unwrap();
        assert_eq!(c.direction, DirectionSetting::Outbound);
        assert_eq!(c.outbound_traffic_policy.mode, OutboundMode::RegistryOnly);
        assert_eq!(c.strict_mtls, StrictMtls::Report);
        assert_eq!(c.gateway_ports.get(&80), Some(&8080));
        let e = err(r#"{"outboundTrafficPolicy": {"mode": "BLOCK"}}"#);
        assert!(
            e.contains("outboundTrafficPolicy.mode") && e.contains("BLOCK"),
            "{e}"
        );
        assert!(err(r#"{"strictMtls": "maybe"}"#).contains("strictMtls"));
        assert!(err(r#"{"direction": "sideways"}"#).contains("direction"));
        assert!(err(r#"{"gatewayPorts": {"80": 0}}"#).contains("gatewayPorts.80"));
        assert!(err(r#"{"gatewayPorts": {"http": 80}}"#).contains("gatewayPorts.http"));
    }

    /// Every message names the exact path of the offending value; an error in the JSON itself
    /// also its position.
    #[test]
    fn setting_errors_name_the_exact_path() {
        const FIELDS: &str = "expected one of `workload`, `rootNamespace`, `trustDomain`, \
            `trustDomainAliases`, `resources`, `audit`, `direction`, `outboundTrafficPolicy`, `strictMtls`, \
            `gatewayPorts`, `jwksClusters`, `denyPathVariants`";
        let cases = [
            (
                r#"{"audit": {"log": "verbose"}}"#,
                "audit.log: unknown variant `verbose`, expected one of `all`, `deny`, `none`",
            ),
            (
                r#"{"resourcez": []}"#,
                "resourcez: unknown field `resourcez`, FIELDS",
            ),
            (r#"{"a": 1}"#, "a: unknown field `a`, FIELDS"),
            (r#"{"": 1}"#, ": unknown field ``, FIELDS"),
            (
                r#"{"workload": {"labels": {}}}"#,
                "workload: missing field `namespace`",
            ),
            (
                r#"{"workload": {"namespace": "a", "namespace": "b"}}"#,
                "workload: duplicate field `namespace` at line 1 column 43",
            ),
            (
                r#"{"workload": {"namespace": "a", "labels": {"x": 1}}}"#,
                "workload.labels.x: invalid type: integer `1`, expected a string",
            ),
            (
                r#"{"wor\u006bload": 5}"#,
                "workload: invalid type: integer `5`, expected struct Workload",
            ),
            (
                r#"{"gatewayPorts": {"80": 1.}}"#,
                "gatewayPorts.80: invalid number at line 1 column 27",
            ),
            (
                r#"{"gatewayPorts": {"80": -1}}"#,
                "gatewayPorts.80: invalid value: integer `-1`, expected u32",
            ),
            (
                "{\n  \"direction\": \"inbound\",\n  \"strictMtls\": \"maybe\"\n}",
                "strictMtls: unknown variant `maybe`, expected `enforce` or `report`",
            ),
            ("[1]", "invalid type: sequence, expected struct RawConfig"),
            (
                r#""x""#,
                r#"invalid type: string "x", expected struct RawConfig"#,
            ),
            // Syntax errors: in a value, in or around a key (`?`), in an array's punctuation.
            (
                r#"{"resources": [{"a": }]}"#,
                "resources[0].a: expected value at line 1 column 22",
            ),
            (
                r#"{"resources": [{"a": [1, 2}]}"#,
                "resources[0].a: expected `,` or `]` at line 1 column 27",
            ),
            (
                r#"{"resources": [{"k": "\x"}]}"#,
                "resources[0].k: invalid escape at line 1 column 24",
            ),
            (
                r#"{"resources": [{"k\x": 1}]}"#,
                "resources[0].?: invalid escape at line 1 column 20",
            ),
            (
                r#"{"resources": [1,]}"#,
                "resources: trailing comma at line 1 column 18",
            ),
            (
                r#"{"resources": [] x"#,
                "?: expected `,` or `}` at line 1 column 18",
            ),
            ("{", "?: EOF while parsing an object at line 1 column 1"),
        ];
        for (json, expected) in cases {
            let expected = expected.replace("FIELDS", FIELDS);
            assert_eq!(
                err(json),
                format!("meshguard configuration: {expected}"),
                "{json}"
            );
        }
        // Text after the top-level object is refused; whitespace is not text.
        let e = PluginConfig::parse(br#"{"resources": []} trailing"#).unwrap_err();
        assert!(
            e.0.starts_with("meshguard configuration: text after the configuration object"),
            "{}",
            e.0
        );
        assert!(PluginConfig::parse(b"{\"resources\": []}\n  ").is_ok());
    }

    /// `"action": "DENY"` then `"action": "ALLOW"` in one object: which one holds is a JSON
    /// parser's choice, so neither is taken.
    #[test]
    fn repeated_member_names_are_refused() {
        let e = err(r#"{"resources": [{"apiVersion": "security.istio.io/v1",
            "kind": "AuthorizationPolicy", "metadata": {"name": "a", "namespace": "n"},
            "spec": {"action": "DENY", "rules": [{}], "action": "ALLOW"}}]}"#);
        assert!(
            e.starts_with("meshguard configuration: resources[0].spec: duplicate field `action`"),
            "{e}"
        );
        assert!(err(r#"{"audit": {}, "audit": {}}"#).contains("duplicate field `audit`"));
    }

    #[test]
    fn duplicate_resources_are_refused() {
        let r = r#"{"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                    "metadata": {"name": "a", "namespace": "n"}, "spec": {}}"#;
        let e = err(&format!(r#"{{"resources": [{r}, {r}]}}"#));
        assert!(e.contains("AuthorizationPolicy n/a: appears twice"), "{e}");
        // Of two repeated objects, the one repeated first in the list is named.
        let b = r.replace(r#""name": "a""#, r#""name": "b""#);
        let e = err(&format!(r#"{{"resources": [{r}, {b}, {b}, {r}]}}"#));
        assert!(e.contains("AuthorizationPolicy n/b: appears twice"), "{e}");
        let e = err(&format!(r#"{{"resources": [{r}, {b}, {r}, {b}]}}"#));
        assert!(e.contains("AuthorizationPolicy n/a: appears twice"), "{e}");
        // Same namespace and name, another kind or namespace: not the same object.
        let pa = r#"{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                     "metadata": {"name": "a", "namespace": "n"}, "spec": {}}"#;
        let other_ns = r.replace(r#""namespace": "n""#, r#""namespace": "m""#);
        let ok = format!(r#"{{"resources": [{r}, {pa}, {other_ns}]}}"#);
        assert!(PluginConfig::parse(ok.as_bytes()).is_ok());
    }
}
