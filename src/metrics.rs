//! The counters the plugin keeps in Envoy's stats (`/stats`, and so Prometheus through
//! Istio). Names only; the host adapter defines and increments them. Envoy shows them under
//! `wasmcustom.` (e.g. `wasmcustom.meshguard.requests.allowed`).

use crate::engine::{Decision, Reason};
use crate::policy::AuthzReason;

pub const ALLOWED: &str = "meshguard.requests.allowed";
pub const DENIED: &str = "meshguard.requests.denied";
pub const DRY_RUN_WOULD_DENY: &str = "meshguard.dry_run.would_deny";
pub const AUDIT_MATCHED: &str = "meshguard.audit.matched";
pub const MTLS_VIOLATION: &str = "meshguard.mtls.violation";
pub const JWT_VERIFIED: &str = "meshguard.jwt.verified";
pub const JWT_FAILED: &str = "meshguard.jwt.failed";
pub const JWT_CACHE_HIT: &str = "meshguard.jwt.cache_hit";
pub const JWKS_FETCH_SUCCESS: &str = "meshguard.jwks.fetch_success";
pub const JWKS_FETCH_FAILURE: &str = "meshguard.jwks.fetch_failure";
/// Policies past this many share one set of counters, so a configuration of thousands of
/// policies cannot flood Envoy's stats.
pub const MAX_POLICY_COUNTERS: usize = 100;
pub const OTHER_POLICIES: &str = "_other";

/// Why a request was denied, in the classes operators alert on.
fn denied_class(reason: Reason) -> &'static str {
    match reason {
        Reason::Authz(AuthzReason::DenyMatched | AuthzReason::CustomMatched) => {
            "meshguard.requests.denied.policy"
        }
        Reason::Authz(AuthzReason::NoAllowMatch) => "meshguard.requests.denied.no_allow_match",
        Reason::Authz(AuthzReason::AllowMatched | AuthzReason::NoAllowPolicies) => {
            "meshguard.requests.denied.other"
        }
        Reason::Jwt(_) => "meshguard.requests.denied.jwt",
        Reason::MtlsRequired => "meshguard.requests.denied.mtls",
        Reason::EgressNotRegistered => "meshguard.requests.denied.egress",
        Reason::HttpsRedirect => "meshguard.requests.denied.https_redirect",
        Reason::BadRequest | Reason::Undecided => "meshguard.requests.denied.bad_request",
    }
}

/// Every counter a decision increments (the per-policy one aside).
pub fn counters(d: &Decision) -> Vec<&'static str> {
    let mut out = Vec::with_capacity(6);
    if d.allow {
        out.push(ALLOWED);
    } else {
        out.push(DENIED);
        out.push(denied_class(d.reason));
    }
    // What enforcing the dry-run policies would change: allowed now, denied then.
    if d.allow && d.dry_run.as_ref().is_some_and(|dr| !dr.allow) {
        out.push(DRY_RUN_WOULD_DENY);
    }
    if d.audit {
        out.push(AUDIT_MATCHED);
    }
    if d.mtls.is_some_and(|m| m.violation) {
        out.push(MTLS_VIOLATION);
    }
    if matches!(d.reason, Reason::Jwt(_)) {
        out.push(JWT_FAILED);
    }
    if d.auth.principal.is_some() || d.auth.audiences.is_some() {
        out.push(JWT_VERIFIED);
    }
    if d.auth.cached {
        out.push(JWT_CACHE_HIT);
    }
    out
}

/// `meshguard.policy.<namespace>.<name>.allowed|denied` for a deciding policy: the first
/// MAX_POLICY_COUNTERS policies by `rank` (their order in the configuration) get their own, the
/// rest share `_other`.
pub fn policy_counter(policy: &str, allow: bool, rank: Option<usize>) -> Option<String> {
    let outcome = if allow { "allowed" } else { "denied" };
    Some(match rank {
        Some(r) if r < MAX_POLICY_COUNTERS => format!("meshguard.policy.{policy}.{outcome}"),
        _ => format!("meshguard.policy.{OTHER_POLICIES}.{outcome}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authn::jwt::JwtError;
    use crate::engine::{AuthReport, DryRun, MtlsReport};
    use crate::request::Direction;

    fn decision(allow: bool, reason: Reason) -> Decision {
        Decision {
            allow,
            reason,
            policy: Some("default.p".into()),
            rule: Some(0),
            action: None,
            audit: false,
            dry_run: None,
            direction: Direction::Inbound,
            mtls: None,
            egress: None,
            auth: AuthReport::default(),
        }
    }

    #[test]
    fn counters_per_decision() {
        let mut d = decision(false, Reason::Authz(AuthzReason::DenyMatched));
        assert_eq!(counters(&d), [DENIED, "meshguard.requests.denied.policy"]);
        d.dry_run = Some(DryRun {
            allow: false,
            policy: None,
        });
        d.audit = true;
        assert_eq!(
            counters(&d),
            [DENIED, "meshguard.requests.denied.policy", AUDIT_MATCHED],
            "denied anyway: dry-run changes nothing"
        );
        d.allow = true;
        assert!(counters(&d).contains(&DRY_RUN_WOULD_DENY));
        let d = decision(false, Reason::Jwt(JwtError::Expired));
        assert_eq!(
            counters(&d),
            [DENIED, "meshguard.requests.denied.jwt", JWT_FAILED]
        );
        let mut d = decision(true, Reason::Authz(AuthzReason::AllowMatched));
        d.auth = AuthReport {
            principal: Some("i/s".into()),
            audiences: Some(vec![]),
            error: None,
            cached: true,
        };
        d.mtls = Some(MtlsReport {
            mode: crate::config::spec::MtlsMode::Strict,
            violation: true,
            enforced: false,
        });
        assert_eq!(
            counters(&d),
            [ALLOWED, MTLS_VIOLATION, JWT_VERIFIED, JWT_CACHE_HIT]
        );
        assert!(counters(&decision(false, Reason::MtlsRequired))
            .contains(&"meshguard.requests.denied.mtls"));
        assert!(counters(&decision(false, Reason::EgressNotRegistered))
            .contains(&"meshguard.requests.denied.egress"));
    }

    #[test]
    fn policy_counters_are_bounded() {
        assert_eq!(
            policy_counter("default.p", true, Some(3)).as_deref(),
            Some("meshguard.policy.default.p.allowed")
        );
        assert_eq!(
            policy_counter("default.p", false, Some(MAX_POLICY_COUNTERS)).as_deref(),
            Some("meshguard.policy._other.denied")
        );
    }
}
