//! Loading for lint: each document on its own first, so every refused resource is reported
//! (the plugin stops at the first), then all the accepted ones together.

use super::finding::{Code, Findings};
use crate::cli::input::Document;
use crate::cli::plugin::{self, Mesh};
use crate::config::spec::Action;
use crate::config::{Body, PluginConfig, Resource, Workload};
use crate::engine::Engine;
use std::collections::BTreeSet;

pub struct Loaded {
    /// The resources the loader accepts, each with the document it was read from.
    pub resources: Vec<(Document, Resource)>,
    /// All of them together (later copies of a duplicate dropped); `None` if still refused.
    pub config: Option<PluginConfig>,
}

/// The subject and message of a loader error about `doc`: the loader names the resource
/// first (`Kind ns/name: spec...`), which becomes the finding's subject.
fn split(doc: &Document, message: &str) -> (String, String) {
    let id = doc.id();
    let rest = message
        .strip_prefix(&format!("{id}: "))
        .or_else(|| message.strip_prefix(&format!("{id} (resources[0]): ")));
    match rest {
        Some(rest) if !doc.kind().is_empty() => (id, rest.to_string()),
        _ => (doc.origin.to_string(), message.to_string()),
    }
}

fn deny_without_rules(r: &Resource) -> bool {
    match &r.body {
        Body::AuthorizationPolicy(spec) => {
            spec.action == Some(Action::Deny) && spec.rules.as_ref().is_none_or(Vec::is_empty)
        }
        _ => false,
    }
}

/// A CUSTOM policy with rules but no provider name (the engine refuses it, as Istio does).
fn custom_without_provider(r: &Resource) -> bool {
    match &r.body {
        Body::AuthorizationPolicy(spec) => {
            spec.action == Some(Action::Custom)
                && spec.provider.as_ref().is_none_or(|p| p.name.is_empty())
        }
        _ => false,
    }
}

pub fn load(docs: &[Document], mesh: Mesh<'_>, findings: &mut Findings) -> Loaded {
    let mut resources = Vec::new();
    for doc in docs {
        let one = plugin::configuration(std::slice::from_ref(doc), None, mesh, None);
        let origin = vec![doc.origin.to_string()];
        let parsed = match PluginConfig::parse(one.to_string().as_bytes()) {
            Ok(c) => c,
            Err(e) => {
                let (subject, message) = split(doc, &e.0);
                findings.add(Code::ConfigRefused, subject, message, origin);
                continue;
            }
        };
        let Some(resource) = parsed.resources.first().cloned() else {
            continue;
        };
        // Compiling checks the rest (rules, keys, ports); the workload does not matter here.
        let workload = Workload {
            namespace: resource.meta.namespace.clone(),
            labels: Default::default(),
        };
        if let Err(e) = Engine::new(parsed, Some(workload)) {
            let (subject, message) = split(doc, &e.0);
            let code = if deny_without_rules(&resource) {
                Code::DenyWithoutRules
            } else if custom_without_provider(&resource) && e.0.contains("provider.name") {
                Code::CustomWithoutProvider
            } else {
                Code::ConfigRefused
            };
            findings.add(code, subject, message, origin);
            continue;
        }
        resources.push((doc.clone(), resource));
    }
    let accepted: Vec<Document> = resources.iter().map(|(d, _)| d.clone()).collect();
    let config = match parse_all(&accepted, mesh) {
        Ok(c) => Some(c),
        Err(message) => {
            let subject = message
                .split_once(':')
                .map_or("configuration", |(s, _)| s)
                .to_string();
            let text = message
                .strip_prefix(&format!("{subject}: "))
                .unwrap_or(&message)
                .to_string();
            findings.add(
                Code::ConfigRefused,
                subject,
                text,
                plugin::origins(&message, &accepted),
            );
            // Each resource passed alone: what is left is a duplicate. Keep the first copy.
            let mut seen = BTreeSet::new();
            let unique: Vec<Document> = accepted
                .iter()
                .filter(|d| seen.insert(d.id()))
                .cloned()
                .collect();
            resources.retain(|(d, _)| unique.iter().any(|u| u.origin == d.origin));
            parse_all(&unique, mesh).ok()
        }
    };
    Loaded { resources, config }
}

fn parse_all(docs: &[Document], mesh: Mesh<'_>) -> Result<PluginConfig, String> {
    let all = plugin::configuration(docs, None, mesh, None);
    PluginConfig::parse(all.to_string().as_bytes()).map_err(|e| e.0)
}
