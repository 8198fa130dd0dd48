//! From the operator's documents to the plugin: the configuration JSON the proxy would be
//! given, loaded by the plugin's own loader (`PluginConfig::parse`) and compiled by
//! `Engine::new`, so every refusal is the proxy's, word for word.

use super::args::{DirectionArg, OutboundArg, Settings, StrictArg};
use super::input::Document;
use super::Failure;
use crate::config::{PluginConfig, Workload};
use crate::engine::Engine;
use serde_json::{json, Map, Value};

/// `<namespace>[/<label>=<value>,...]`.
pub fn parse_workload(text: &str) -> Result<Workload, Failure> {
    let bad = |why: &str| {
        Failure(format!(
            "--workload {text:?}: {why} (expected <namespace>[/<label>=<value>,...])"
        ))
    };
    let (namespace, labels) = text.split_once('/').unwrap_or((text, ""));
    if namespace.is_empty() {
        return Err(bad("no namespace"));
    }
    let mut out = Workload {
        namespace: namespace.to_string(),
        labels: Default::default(),
    };
    for pair in labels.split(',').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.labels.insert(k.to_string(), v.to_string());
            }
            _ => return Err(bad(&format!("label {pair:?} is not <label>=<value>"))),
        }
    }
    Ok(out)
}

/// `default/app=backend`, as messages name a workload.
pub fn workload_name(w: &Workload) -> String {
    let labels: Vec<String> = w.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    if labels.is_empty() {
        w.namespace.clone()
    } else {
        format!("{}/{}", w.namespace, labels.join(","))
    }
}

/// MeshConfig's settings the plugin configuration repeats: the root namespace and trust domains.
#[derive(Debug, Clone, Copy)]
pub struct Mesh<'a> {
    pub root_namespace: &'a str,
    pub trust_domain: Option<&'a str>,
    pub trust_domain_aliases: &'a [String],
}

/// The plugin configuration for `docs`: `workload` when given (a plain Envoy's configuration
/// carries it; Istio's comes from the sidecar's node metadata), the mesh settings and the
/// settings given on the command line, and the resources as written.
pub fn configuration(
    docs: &[Document],
    workload: Option<&Workload>,
    mesh: Mesh<'_>,
    settings: Option<&Settings>,
) -> Value {
    let mut config = Map::new();
    if let Some(w) = workload {
        config.insert(
            "workload".into(),
            json!({"namespace": w.namespace, "labels": w.labels}),
        );
    }
    config.insert("rootNamespace".into(), json!(mesh.root_namespace));
    if let Some(td) = mesh.trust_domain {
        config.insert("trustDomain".into(), json!(td));
    }
    if !mesh.trust_domain_aliases.is_empty() {
        config.insert(
            "trustDomainAliases".into(),
            json!(mesh.trust_domain_aliases),
        );
    }
    if let Some(s) = settings {
        if let Some(d) = s.direction {
            let d = match d {
                DirectionArg::Inbound => "inbound",
                DirectionArg::Outbound => "outbound",
            };
            config.insert("direction".into(), json!(d));
        }
        if let Some(m) = s.outbound_traffic_policy {
            let m = match m {
                OutboundArg::AllowAny => "ALLOW_ANY",
                OutboundArg::RegistryOnly => "REGISTRY_ONLY",
            };
            config.insert("outboundTrafficPolicy".into(), json!({"mode": m}));
        }
        if let Some(m) = s.strict_mtls {
            let m = match m {
                StrictArg::Enforce => "enforce",
                StrictArg::Report => "report",
            };
            config.insert("strictMtls".into(), json!(m));
        }
    }
    let resources: Vec<Value> = docs.iter().map(|d| d.value.clone()).collect();
    config.insert("resources".into(), Value::Array(resources));
    Value::Object(config)
}

/// Loads `config` (built from `docs`) as the plugin does. A refusal carries the loader's
/// message and where the resource it names was read.
pub fn load(config: &Value, docs: &[Document]) -> Result<(PluginConfig, Engine), Failure> {
    let refused = |message: String| Failure(refusal(&message, docs));
    let parsed = PluginConfig::parse(config.to_string().as_bytes()).map_err(|e| refused(e.0))?;
    let engine = Engine::new(parsed.clone(), None).map_err(|e| refused(e.0))?;
    Ok((parsed, engine))
}

/// `configuration refused: <loader's message>`, then where each resource it names was read.
pub fn refusal(message: &str, docs: &[Document]) -> String {
    let mut out = format!("configuration refused: {message}");
    for origin in origins(message, docs) {
        out.push_str(&format!("\n  in {origin}"));
    }
    out
}

/// The documents a loader message is about: the one at `resources[i]` when it says so, else
/// those whose `Kind namespace/name` starts the message.
pub fn origins(message: &str, docs: &[Document]) -> Vec<String> {
    if let Some(doc) = resource_index(message).and_then(|i| docs.get(i)) {
        return vec![doc.origin.to_string()];
    }
    docs.iter()
        .filter(|d| {
            message
                .strip_prefix(d.id().as_str())
                .is_some_and(|rest| rest.starts_with(':') || rest.starts_with(' '))
        })
        .map(|d| d.origin.to_string())
        .collect()
}

/// `... (resources[3]) ...` -> 3.
fn resource_index(message: &str) -> Option<usize> {
    let (_, rest) = message.split_once("resources[")?;
    let (n, _) = rest.split_once(']')?;
    n.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::input::Origin;

    #[test]
    fn workloads() {
        let w = parse_workload("default/app=backend,version=v1").unwrap();
        assert_eq!(w.namespace, "default");
        assert_eq!(w.labels.get("version").map(String::as_str), Some("v1"));
        assert_eq!(workload_name(&w), "default/app=backend,version=v1");
        assert!(parse_workload("prod").unwrap().labels.is_empty());
        assert!(parse_workload("/app=x").is_err());
        assert!(parse_workload("ns/app").is_err());
    }

    fn doc(file: &str, v: Value) -> Document {
        Document {
            origin: Origin {
                file: file.into(),
                line: 1,
                item: None,
            },
            value: v,
        }
    }

    #[test]
    fn refusals_say_where_the_resource_was_read() {
        let docs = [
            doc(
                "a.yaml",
                json!({"kind": "AuthorizationPolicy", "metadata": {"name": "p", "namespace": "n"}}),
            ),
            doc(
                "b.yaml",
                json!({"kind": "AuthorizationPolicy", "metadata": {"name": "p2", "namespace": "n"}}),
            ),
        ];
        assert_eq!(
            origins("AuthorizationPolicy n/p2: spec.rules: bad", &docs),
            ["b.yaml:1"]
        );
        assert_eq!(
            origins("AuthorizationPolicy n/p (resources[0]): metadata", &docs),
            ["a.yaml:1"]
        );
        assert!(origins("meshguard configuration: x", &docs).is_empty());
    }
}
