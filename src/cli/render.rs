//! `meshguard render`: the operator's resources as a ready WasmPlugin, or as the JSON
//! configuration of a plain Envoy's wasm filter. What is printed is what was loaded and
//! compiled: a configuration the proxy would refuse is never written.

use super::args::{Format, RenderArgs};
use super::input::{self, Document};
use super::plugin::{self, workload_name};
use super::Failure;
use crate::config::Workload;
use serde_json::{json, Value};

/// Where Istio pulls the plugin from by default: this version's image.
pub fn default_url() -> String {
    format!(
        "oci://ghcr.io/meshguard/meshguard:{}",
        env!("CARGO_PKG_VERSION")
    )
}

pub fn run(args: &RenderArgs) -> Result<String, Failure> {
    let inputs = input::read(&args.inputs.files)?;
    let workload = plugin::parse_workload(&args.workload)?;
    let docs: Vec<Document> = inputs.resources.iter().map(trimmed).collect();
    let mesh = args.inputs.mesh();
    // Validated as a plain Envoy's configuration (with the workload); Istio's sidecar gives
    // the same workload through its node metadata.
    let envoy = plugin::configuration(&docs, Some(&workload), mesh, Some(&args.settings));
    plugin::load(&envoy, &docs)?;
    match args.format {
        Format::Envoy => Ok(format!("{envoy:#}\n")),
        Format::Wasmplugin => {
            let config = plugin::configuration(&docs, None, mesh, Some(&args.settings));
            wasm_plugin(args, &workload, config)
        }
    }
}

fn wasm_plugin(args: &RenderArgs, workload: &Workload, config: Value) -> Result<String, Failure> {
    let name = args.name.clone().unwrap_or_else(|| {
        workload
            .labels
            .get("app")
            .map_or_else(|| "meshguard".to_string(), |app| format!("meshguard-{app}"))
    });
    let mut spec = serde_json::Map::new();
    if !workload.labels.is_empty() {
        spec.insert("selector".into(), json!({"matchLabels": workload.labels}));
    }
    spec.insert(
        "url".into(),
        json!(args.url.clone().unwrap_or_else(default_url)),
    );
    spec.insert("phase".into(), json!("AUTHZ"));
    spec.insert("failStrategy".into(), json!("FAIL_CLOSE"));
    spec.insert("pluginConfig".into(), config);
    let resource = json!({
        "apiVersion": "extensions.istio.io/v1alpha1",
        "kind": "WasmPlugin",
        "metadata": {"name": name, "namespace": workload.namespace},
        "spec": spec,
    });
    let yaml = serde_saphyr::to_string(&resource)
        .map_err(|e| Failure(format!("writing the WasmPlugin as YAML: {e}")))?;
    Ok(format!(
        "# meshguard {} for {}: kubectl apply -f <this file>\n{yaml}",
        env!("CARGO_PKG_VERSION"),
        workload_name(workload)
    ))
}

/// A resource as the plugin needs it: `kubectl get -o yaml` adds status and bookkeeping the
/// plugin ignores; dropping them keeps the configuration (an Envoy resource) small.
fn trimmed(doc: &Document) -> Document {
    let mut value = doc.value.clone();
    if let Some(obj) = value.as_object_mut() {
        obj.remove("status");
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.retain(|k, _| matches!(k.as_str(), "name" | "namespace" | "annotations"));
            if let Some(notes) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                notes.remove("kubectl.kubernetes.io/last-applied-configuration");
                if notes.is_empty() {
                    meta.remove("annotations");
                }
            }
        }
    }
    Document {
        origin: doc.origin.clone(),
        value,
    }
}
