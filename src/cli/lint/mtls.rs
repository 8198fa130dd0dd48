//! PeerAuthentication: PERMISSIVE left in place (the seeds' "common mistake"), or unset, which
//! means PERMISSIVE; DISABLE.

use super::finding::{Code, Findings};
use crate::cli::input::Document;
use crate::config::spec::{MtlsMode, PeerAuthenticationSpec};
use crate::config::{Body, Resource};

fn has_selector(spec: &PeerAuthenticationSpec) -> bool {
    spec.selector
        .as_ref()
        .is_some_and(|s| !s.match_labels.is_empty())
}

pub fn check(resources: &[(Document, Resource)], root: &str, findings: &mut Findings) {
    let peers: Vec<(&Document, &Resource, &PeerAuthenticationSpec)> = resources
        .iter()
        .filter_map(|(d, r)| match &r.body {
            Body::PeerAuthentication(spec) => Some((d, r, spec)),
            _ => None,
        })
        .collect();
    let mesh: Vec<_> = peers
        .iter()
        .filter(|(_, r, spec)| r.meta.namespace == root && !has_selector(spec))
        .collect();
    if mesh.is_empty() {
        findings.add(
            Code::MtlsPermissive,
            "mesh",
            format!(
                "no mesh-wide PeerAuthentication (namespace {root}, no selector): mTLS is PERMISSIVE, \
                 so plaintext is accepted wherever no namespace or workload policy says STRICT; \
                 add one with `mtls: {{mode: STRICT}}` once every workload has a sidecar"
            ),
            Vec::new(),
        );
    }
    for (doc, r, spec) in peers {
        let mode = spec.mtls.as_ref().map_or(MtlsMode::Unset, |m| m.mode);
        let origin = vec![doc.origin.to_string()];
        let (scope, unset_inherits) = if r.meta.namespace == root {
            if has_selector(spec) {
                // Istio ignores it; MG010 says so.
                continue;
            }
            ("mesh-wide".to_string(), false)
        } else if has_selector(spec) {
            ("for the workloads it selects".to_string(), true)
        } else {
            (format!("in namespace {}", r.meta.namespace), true)
        };
        match mode {
            MtlsMode::Permissive => findings.add(
                Code::MtlsPermissive,
                r.id(),
                format!(
                    "mTLS is PERMISSIVE {scope}: plaintext is accepted; switch to STRICT once every client has a sidecar"
                ),
                origin.clone(),
            ),
            MtlsMode::Unset if !unset_inherits => findings.add(
                Code::MtlsPermissive,
                r.id(),
                format!(
                    "mTLS mode is unset {scope}, which means PERMISSIVE: plaintext is accepted; set STRICT"
                ),
                origin.clone(),
            ),
            MtlsMode::Disable => findings.add(
                Code::MtlsDisabled,
                r.id(),
                format!("mTLS is DISABLE {scope}: traffic is neither encrypted nor authenticated"),
                origin.clone(),
            ),
            MtlsMode::Unset | MtlsMode::Strict => {}
        }
        for (port, m) in spec.port_level_mtls.iter().flatten() {
            let (code, what) = match m.mode {
                MtlsMode::Permissive => (Code::MtlsPermissive, "PERMISSIVE: plaintext is accepted"),
                MtlsMode::Disable => (
                    Code::MtlsDisabled,
                    "DISABLE: neither encrypted nor authenticated",
                ),
                MtlsMode::Unset | MtlsMode::Strict => continue,
            };
            findings.add(
                code,
                r.id(),
                format!("port {port}: mTLS is {what}"),
                origin.clone(),
            );
        }
    }
}
