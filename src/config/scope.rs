//! Which resources apply to this workload, by Istio's own rules
//! (pilot/pkg/model/authorization.go, policyattachment.go, authentication.go).

use super::spec::{PolicyTargetReference, WorkloadSelector};
use super::Workload;

/// Label that marks a workload as a Kubernetes Gateway (or waypoint): only those read targetRefs.
pub const GATEWAY_NAME_LABEL: &str = "gateway.networking.k8s.io/gateway-name";

/// AuthorizationPolicy and RequestAuthentication: policies of the root namespace (mesh-wide)
/// and of the workload's namespace; a selector must be a subset of the workload's labels; a
/// policy with targetRef(s) is ignored by a sidecar.
pub fn applies(
    policy_namespace: &str,
    selector: Option<&WorkloadSelector>,
    has_target_refs: bool,
    workload: &Workload,
    root_namespace: &str,
) -> bool {
    if policy_namespace != root_namespace && policy_namespace != workload.namespace {
        return false;
    }
    if has_target_refs {
        return false;
    }
    selector.is_none_or(|s| labels_match(s, workload))
}

pub fn labels_match(selector: &WorkloadSelector, workload: &Workload) -> bool {
    selector
        .match_labels
        .iter()
        .all(|(k, v)| workload.labels.get(k) == Some(v))
}

pub fn is_gateway(workload: &Workload) -> bool {
    workload.labels.contains_key(GATEWAY_NAME_LABEL)
}

/// Istio's webhook refuses a policy with both a selector and a targetRef.
pub fn target_refs_count(
    target_ref: Option<&PolicyTargetReference>,
    target_refs: Option<&Vec<PolicyTargetReference>>,
) -> usize {
    usize::from(target_ref.is_some()) + target_refs.map_or(0, Vec::len)
}

/// The level a PeerAuthentication takes for this workload, or `None` if it does not apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PeerLevel {
    Mesh,
    Namespace,
    Workload,
}

/// ComposePeerAuthentication: mesh = root namespace without selector; namespace = workload
/// namespace without selector; workload = with a matching selector, outside the root
/// namespace. A root-namespace policy with a selector is ignored.
pub fn peer_level(
    policy_namespace: &str,
    selector: Option<&WorkloadSelector>,
    workload: &Workload,
    root_namespace: &str,
) -> Option<PeerLevel> {
    let has_selector = selector.is_some_and(|s| !s.match_labels.is_empty());
    if policy_namespace == root_namespace && policy_namespace != workload.namespace {
        return (!has_selector).then_some(PeerLevel::Mesh);
    }
    if policy_namespace == root_namespace {
        // A workload that lives in the root namespace: its namespace policy is the mesh one.
        return (!has_selector).then_some(PeerLevel::Mesh);
    }
    if policy_namespace != workload.namespace {
        return None;
    }
    match selector {
        Some(s) if has_selector => labels_match(s, workload).then_some(PeerLevel::Workload),
        _ => Some(PeerLevel::Namespace),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wl(ns: &str, labels: &[(&str, &str)]) -> Workload {
        Workload {
            namespace: ns.into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn sel(labels: &[(&str, &str)]) -> WorkloadSelector {
        WorkloadSelector {
            match_labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn namespaces_and_selectors() {
        let w = wl("default", &[("app", "backend"), ("version", "v1")]);
        assert!(applies("default", None, false, &w, "istio-system"));
        assert!(applies("istio-system", None, false, &w, "istio-system"));
        assert!(!applies("other", None, false, &w, "istio-system"));
        assert!(applies(
            "default",
            Some(&sel(&[("app", "backend")])),
            false,
            &w,
            "istio-system"
        ));
        assert!(applies(
            "istio-system",
            Some(&sel(&[("app", "backend")])),
            false,
            &w,
            "istio-system"
        ));
        assert!(!applies(
            "default",
            Some(&sel(&[("app", "frontend")])),
            false,
            &w,
            "istio-system"
        ));
        assert!(!applies(
            "default",
            Some(&sel(&[("app", "backend"), ("tier", "x")])),
            false,
            &w,
            "istio-system"
        ));
        assert!(applies(
            "default",
            Some(&sel(&[])),
            false,
            &w,
            "istio-system"
        ));
        assert!(!applies("default", None, true, &w, "istio-system"));
        assert!(applies("custom-root", None, false, &w, "custom-root"));
    }

    #[test]
    fn peer_levels() {
        let w = wl("db", &[("app", "postgres")]);
        let root = "istio-system";
        assert_eq!(peer_level(root, None, &w, root), Some(PeerLevel::Mesh));
        assert_eq!(
            peer_level(root, Some(&sel(&[("app", "postgres")])), &w, root),
            None
        );
        assert_eq!(peer_level("db", None, &w, root), Some(PeerLevel::Namespace));
        assert_eq!(
            peer_level("db", Some(&sel(&[("app", "postgres")])), &w, root),
            Some(PeerLevel::Workload)
        );
        assert_eq!(
            peer_level("db", Some(&sel(&[("app", "redis")])), &w, root),
            None
        );
        assert_eq!(peer_level("other", None, &w, root), None);
    }
}
