//! Checks of what a workload ends up with, from the policies the engine compiled for it: every
//! request denied, and ALLOW policies a DENY rule shadows (seed 001's `deny-all-backend` with
//! `rules: [{}]` beside `allow-frontend-get-data`).

use super::finding::{Code, Findings};
use crate::cli::input::Document;
use crate::cli::plugin::workload_name;
use crate::config::spec::Action;
use crate::engine::Engine;
use crate::policy::rule::CompiledRule;
use crate::policy::CompiledPolicy;

/// A rule without `from`, `to` or `when` (`{}`): it matches every request.
fn unconditional(rule: &CompiledRule) -> bool {
    rule.from.is_none() && rule.to.is_none() && rule.when.is_empty()
}

/// `default.allow-x` -> `AuthorizationPolicy default/allow-x` (namespaces have no dots).
fn resource_id(policy: &CompiledPolicy) -> String {
    let (ns, name) = policy.id.split_once('.').unwrap_or(("", &policy.id));
    format!("AuthorizationPolicy {ns}/{name}")
}

pub fn check(engine: &Engine, docs: &[Document], findings: &mut Findings) {
    let workload = format!("workload {}", workload_name(&engine.workload));
    let origin = |p: &CompiledPolicy| -> Vec<String> {
        let id = resource_id(p);
        docs.iter()
            .filter(|d| d.id() == id)
            .map(|d| d.origin.to_string())
            .collect()
    };
    let enforced: Vec<&CompiledPolicy> = engine.policies().iter().filter(|p| !p.dry_run).collect();
    // DENY (and CUSTOM, which meshguard denies) are evaluated before any ALLOW.
    let blocker = enforced.iter().find_map(|p| {
        let denies = matches!(p.action, Action::Deny | Action::Custom);
        p.rules
            .iter()
            .position(unconditional)
            .filter(|_| denies)
            .map(|i| (*p, i))
    });
    let allows: Vec<&CompiledPolicy> = enforced
        .iter()
        .copied()
        .filter(|p| p.action == Action::Allow)
        .collect();
    if let Some((deny, i)) = blocker {
        findings.add(
            Code::WorkloadDeniesAll,
            workload.clone(),
            format!(
                "every request is denied: {} {} rule {i} is `{{}}`, which matches every request",
                deny.action.as_str(),
                deny.id
            ),
            origin(deny),
        );
        for allow in allows.iter().filter(|p| !p.rules.is_empty()) {
            let mut origins = origin(allow);
            origins.extend(origin(deny));
            findings.add(
                Code::AllowShadowedByDeny,
                resource_id(allow),
                format!(
                    "can never allow a request to {}: {} {} rule {i} (`{{}}`) matches every request, and DENY is \
                     evaluated before ALLOW, whatever the ALLOW says. For deny-by-default, replace the DENY with an \
                     ALLOW policy without rules (`spec: {{}}`)",
                    workload_name(&engine.workload),
                    deny.action.as_str(),
                    deny.id
                ),
                origins,
            );
        }
    } else if !allows.is_empty() && allows.iter().all(|p| p.rules.is_empty()) {
        let names: Vec<&str> = allows.iter().map(|p| p.id.as_str()).collect();
        let origins = allows.iter().flat_map(|p| origin(p)).collect();
        findings.add(
            Code::WorkloadDeniesAll,
            workload,
            format!(
                "every request is denied: the ALLOW policies that apply ({}) have no rules, and no other ALLOW \
                 policy applies",
                names.join(", ")
            ),
            origins,
        );
    }
}
