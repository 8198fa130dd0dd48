//! `meshguard lint`: the analysis the seeds ask for (PERMISSIVE left in place, deny-all
//! workloads, DENY rules that shadow ALLOW ones, values that never match...), each finding with
//! a stable code and a severity. Refusals are the plugin loader's own messages.

mod finding;
mod load;
mod mtls;
mod policies;
mod values;
mod workloads;

use super::args::{LintArgs, Output};
use super::input::{self, Document};
use super::{plugin, Failure};
use crate::config::{Body, Resource, Workload};
use crate::engine::Engine;
use finding::{Code, Findings};

/// Exit codes.
const CLEAN: u8 = 0;
const ERRORS: u8 = 1;

pub fn run(args: &LintArgs) -> Result<(u8, String), Failure> {
    let inputs = input::read(&args.inputs.files)?;
    let root = args.inputs.root_namespace.as_str();
    let given = args
        .workload
        .iter()
        .map(|w| plugin::parse_workload(w))
        .collect::<Result<Vec<_>, _>>()?;
    let mut findings = Findings::default();
    for doc in &inputs.skipped {
        skipped(doc, &mut findings);
    }
    let loaded = load::load(&inputs.resources, args.inputs.mesh(), &mut findings);
    mtls::check(&loaded.resources, root, &mut findings);
    policies::check(&loaded.resources, root, &given, &mut findings);
    if let Some(config) = &loaded.config {
        let checked = if given.is_empty() {
            selected(&loaded.resources, root)
        } else {
            given.clone()
        };
        // Namespace-wide workloads too, for errors only one workload's view shows (two
        // RequestAuthentications disagreeing on an issuer): their deny-all is the intent.
        let mut all = checked.clone();
        for ns in namespaces(&loaded.resources, root) {
            let w = Workload {
                namespace: ns,
                labels: Default::default(),
            };
            if !all.contains(&w) {
                all.push(w);
            }
        }
        for w in &all {
            match Engine::new(config.clone(), Some(w.clone())) {
                Err(e) => {
                    let (subject, message) =
                        e.0.split_once(": ").unwrap_or(("configuration", &e.0));
                    findings.add(
                        Code::ConfigRefused,
                        subject,
                        format!("{message} (for workload {})", plugin::workload_name(w)),
                        plugin::origins(&e.0, &inputs.resources),
                    );
                }
                Ok(engine) if checked.contains(w) => {
                    workloads::check(&engine, &inputs.resources, &mut findings)
                }
                Ok(_) => {}
            }
        }
    }
    let out = match args.output {
        Output::Text => findings.text(),
        Output::Json => findings.json(),
    };
    let code = if findings.has_errors() { ERRORS } else { CLEAN };
    Ok((code, out))
}

fn skipped(doc: &Document, findings: &mut Findings) {
    let api = doc
        .value
        .get("apiVersion")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let subject = match doc.namespace() {
        "" => format!("{} {}", doc.kind(), doc.name()),
        _ => doc.id(),
    };
    findings.add(
        Code::Skipped,
        subject.trim().to_string(),
        format!(
            "{} ({api}) is not a kind meshguard reads; skipped",
            doc.kind()
        ),
        vec![doc.origin.to_string()],
    );
}

/// One workload per selector seen outside the root namespace (a root-namespace selector
/// picks workloads in every namespace: no one workload stands for it).
fn selected(resources: &[(Document, Resource)], root: &str) -> Vec<Workload> {
    let mut out: Vec<Workload> = Vec::new();
    for (_, r) in resources {
        let selector = match &r.body {
            Body::AuthorizationPolicy(s) => s.selector.as_ref(),
            Body::RequestAuthentication(s) => s.selector.as_ref(),
            Body::PeerAuthentication(s) => s.selector.as_ref(),
            Body::ServiceEntry(_) | Body::Gateway(_) => None,
        };
        let Some(s) = selector.filter(|s| !s.match_labels.is_empty()) else {
            continue;
        };
        if r.meta.namespace == root {
            continue;
        }
        let w = Workload {
            namespace: r.meta.namespace.clone(),
            labels: s.match_labels.clone(),
        };
        if !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

fn namespaces(resources: &[(Document, Resource)], root: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, r) in resources {
        let ns = &r.meta.namespace;
        if ns != root && !out.contains(ns) {
            out.push(ns.clone());
        }
    }
    out
}
