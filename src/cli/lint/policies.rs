//! Checks of each resource on its own: values that can never match, issuers nobody verifies,
//! CUSTOM and dry-run policies, and policies that can never apply.

use super::finding::{Code, Findings};
use super::values::{host_without_port, issuer_pattern, literal_stars, path_problem};
use crate::cli::input::Document;
use crate::cli::plugin::workload_name;
use crate::config::scope;
use crate::config::spec::{Action, AuthorizationPolicySpec, WorkloadSelector};
use crate::config::{Body, Resource, Workload};

pub fn check(
    resources: &[(Document, Resource)],
    root: &str,
    given: &[Workload],
    findings: &mut Findings,
) {
    for (doc, r) in resources {
        let origin = vec![doc.origin.to_string()];
        let id = r.id();
        match &r.body {
            Body::AuthorizationPolicy(spec) => {
                if r.meta.dry_run {
                    findings.add(
                        Code::DryRun,
                        id.clone(),
                        "istio.io/dry-run: evaluated and reported in audit entries (`dry_run`), never enforced",
                        origin.clone(),
                    );
                }
                authorization(resources, root, r, spec, &origin, findings);
                let refs =
                    scope::target_refs_count(spec.target_ref.as_ref(), spec.target_refs.as_ref());
                applies(
                    r,
                    spec.selector.as_ref(),
                    refs,
                    root,
                    given,
                    &origin,
                    findings,
                );
            }
            Body::RequestAuthentication(spec) => {
                let refs =
                    scope::target_refs_count(spec.target_ref.as_ref(), spec.target_refs.as_ref());
                applies(
                    r,
                    spec.selector.as_ref(),
                    refs,
                    root,
                    given,
                    &origin,
                    findings,
                );
            }
            Body::PeerAuthentication(spec) => {
                let selector = spec
                    .selector
                    .as_ref()
                    .filter(|s| !s.match_labels.is_empty());
                if r.meta.namespace == root && selector.is_some() {
                    findings.add(
                        Code::NeverApplies,
                        id,
                        format!(
                            "a PeerAuthentication in the root namespace ({root}) with a selector is ignored by Istio; \
                             put it in the workloads' namespace"
                        ),
                        origin,
                    );
                } else if r.meta.namespace != root {
                    applies(r, selector, 0, root, given, &origin, findings);
                }
            }
            Body::ServiceEntry(_) | Body::Gateway(_) => {}
        }
    }
}

fn authorization(
    resources: &[(Document, Resource)],
    root: &str,
    r: &Resource,
    spec: &AuthorizationPolicySpec,
    origin: &[String],
    findings: &mut Findings,
) {
    let id = r.id();
    let mut add = |code, message: String| findings.add(code, id.clone(), message, origin.to_vec());
    let action = spec.action.unwrap_or(Action::Allow);
    // A CUSTOM policy without a provider never gets here: loading refused it (MG011).
    if let (Action::Custom, Some(p)) = (action, &spec.provider) {
        add(
            Code::CustomDenies,
            format!(
                "CUSTOM provider {:?}: meshguard has no extension provider, so requests matching the rules are denied \
                 (as Istio does when the provider is missing)",
                p.name
            ),
        );
    }
    // The issuers whose tokens can give this policy's workloads a request principal.
    let issuers: Vec<&str> = resources
        .iter()
        .filter(|(_, other)| {
            other.meta.namespace == r.meta.namespace || other.meta.namespace == root
        })
        .filter_map(|(_, other)| match &other.body {
            Body::RequestAuthentication(ra) => Some(ra.jwt_rules.iter().map(|j| j.issuer.as_str())),
            _ => None,
        })
        .flatten()
        .collect();
    for (i, rule) in spec.rules.iter().flatten().enumerate() {
        for (field, value) in literal_stars(rule) {
            add(
                Code::LiteralWildcard,
                format!(
                    "rules[{i}].{field} {value:?}: only a leading or trailing `*` is a wildcard; this one is \
                     compared as the character `*` (as Istio does)"
                ),
            );
        }
        let sources = rule.from.iter().flatten().filter_map(|f| f.source.as_ref());
        let principals = sources
            .flat_map(|s| s.request_principals.iter().flatten())
            .map(|v| ("requestPrincipals", v));
        let conditions = rule
            .when
            .iter()
            .flatten()
            .filter(|c| c.key == "request.auth.principal")
            .flat_map(|c| c.values.iter().flatten())
            .map(|v| ("when request.auth.principal", v));
        for (field, value) in principals.chain(conditions) {
            let known = match issuer_pattern(value) {
                None => !issuers.is_empty(),
                Some(m) => issuers.iter().any(|iss| m.matches(iss)),
            };
            if !known {
                let have = if issuers.is_empty() {
                    format!(
                        "none configures any issuer in {} or {root}",
                        r.meta.namespace
                    )
                } else {
                    format!("configured issuers: {}", issuers.join(", "))
                };
                add(
                    Code::UnknownIssuer,
                    format!(
                        "rules[{i}] {field} {value:?}: no RequestAuthentication verifies tokens of this issuer ({have}), \
                         so no request ever has this principal"
                    ),
                );
            }
        }
        for (j, op) in rule
            .to
            .iter()
            .flatten()
            .enumerate()
            .filter_map(|(j, t)| t.operation.as_ref().map(|o| (j, o)))
        {
            let at = format!("rules[{i}].to[{j}].operation");
            for (field, values) in [("paths", &op.paths), ("notPaths", &op.not_paths)] {
                for v in values.iter().flatten() {
                    if let Some(why) = path_problem(v) {
                        add(
                            Code::PathNeverMatches,
                            format!("{at}.{field} {v:?} never matches a request: {why}"),
                        );
                    }
                }
            }
            for (field, values) in [("hosts", &op.hosts), ("notHosts", &op.not_hosts)] {
                let list = values.as_deref().unwrap_or(&[]);
                for v in list {
                    if host_without_port(v, list) {
                        add(
                            Code::HostWithoutPort,
                            format!(
                                "{at}.{field} lists {v:?} without \"{v}:*\": a request whose :authority carries a port \
                                 ({v}:8080) does not match it; list both"
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// Whether the policy can apply to a sidecar workload at all, and to any of the workloads
/// given on the command line.
fn applies(
    r: &Resource,
    selector: Option<&WorkloadSelector>,
    target_refs: usize,
    root: &str,
    given: &[Workload],
    origin: &[String],
    findings: &mut Findings,
) {
    let mut add =
        |message: String| findings.add(Code::NeverApplies, r.id(), message, origin.to_vec());
    if target_refs > 0 {
        add(
            "targetRef: sidecars ignore a policy attached by targetRef (it is for a Kubernetes Gateway or waypoint, \
             which meshguard does not enforce yet)"
                .into(),
        );
        return;
    }
    if given.is_empty() {
        return;
    }
    let ns = r.meta.namespace.as_str();
    let in_scope: Vec<&Workload> = given
        .iter()
        .filter(|w| ns == root || w.namespace == ns)
        .collect();
    let names = |ws: &[&Workload]| {
        ws.iter()
            .map(|w| workload_name(w))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if in_scope.is_empty() {
        add(format!(
            "namespace {ns} is neither the root namespace nor the namespace of any given workload ({})",
            names(&given.iter().collect::<Vec<_>>())
        ));
        return;
    }
    if let Some(s) = selector {
        if !in_scope.iter().any(|w| scope::labels_match(s, w)) {
            let labels: Vec<String> = s
                .match_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            add(format!(
                "selector {} matches none of the given workloads ({})",
                labels.join(","),
                names(&in_scope)
            ));
        }
    }
}
