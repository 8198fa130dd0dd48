//! The pure core: `(Engine, Request) -> Decision`. Built once per configuration; the request
//! path only evaluates what was compiled here.

use crate::authn::mtls::MtlsPolicy;
use crate::authn::tokens::TokenLocations;
use crate::config::spec::{Action, MtlsMode};
use crate::config::{scope, AuditLog, Body, ConfigError, PluginConfig, Workload};
use crate::policy::{self, compile::compile_rules, AuthzReason, CompiledPolicy};
use crate::request::Request;

#[derive(Debug, Clone)]
pub struct Engine {
    pub workload: Workload,
    pub audit_log: AuditLog,
    /// AuthorizationPolicies that apply to this workload, in configuration order.
    policies: Vec<CompiledPolicy>,
    has_dry_run: bool,
    mtls: MtlsPolicy,
    /// Token locations of the RequestAuthentications that apply, if any.
    jwt_locations: Option<TokenLocations>,
    /// Some policy reads `connection.sni`: only then is the property worth a host call.
    pub needs_sni: bool,
}

/// Why a request was allowed or denied: the audit entry's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Authz(AuthzReason),
    /// Plaintext where PeerAuthentication requires mTLS.
    MtlsRequired,
    /// A token is present where a RequestAuthentication applies; verification is not built
    /// yet, so the token cannot be accepted.
    JwtNotImplemented,
    /// The request lacks something the decision needs (e.g. `:path`).
    BadRequest,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Authz(r) => r.as_str(),
            Reason::MtlsRequired => "mtls_required",
            Reason::JwtNotImplemented => "jwt_not_implemented",
            Reason::BadRequest => "bad_request",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub allow: bool,
    pub policy: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub reason: Reason,
    pub policy: Option<String>,
    pub rule: Option<usize>,
    pub action: Option<Action>,
    /// An AUDIT policy matched.
    pub audit: bool,
    /// Set when dry-run policies apply: the decision had they been enforced.
    pub dry_run: Option<DryRun>,
}

/// The local reply for a denial, as Envoy's native filters answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub body: &'static str,
    pub www_authenticate: Option<String>,
}

impl Decision {
    fn deny(reason: Reason) -> Self {
        Decision {
            allow: false,
            reason,
            policy: None,
            rule: None,
            action: None,
            audit: false,
            dry_run: None,
        }
    }

    /// A request that cannot be judged (missing pseudo-headers, undecodable values) is denied.
    pub fn bad_request() -> Self {
        Decision::deny(Reason::BadRequest)
    }

    pub fn reply(&self, r: &Request) -> Option<Reply> {
        if self.allow {
            return None;
        }
        Some(match self.reason {
            Reason::JwtNotImplemented => Reply {
                status: 401,
                body: "Jwt verification fails",
                www_authenticate: Some(format!(
                    "Bearer realm=\"http://{}{}\", error=\"invalid_token\"",
                    r.authority,
                    r.url_path()
                )),
            },
            _ => Reply {
                status: 403,
                body: "RBAC: access denied",
                www_authenticate: None,
            },
        })
    }
}

impl Engine {
    /// Compiles `config` for the workload it names or, failing that, `node_workload` (what
    /// Istio put in Envoy's node metadata).
    pub fn new(config: PluginConfig, node_workload: Option<Workload>) -> Result<Self, ConfigError> {
        let workload = config.workload.clone().or(node_workload).ok_or_else(|| {
            ConfigError(
                "meshguard configuration: workload is not set and Envoy's node metadata has no NAMESPACE: \
                 set `workload: {namespace, labels}`"
                    .into(),
            )
        })?;
        let root = config.root_namespace.as_str();
        let gateway = scope::is_gateway(&workload);
        let mut policies = Vec::new();
        let mut peer_auth = Vec::new();
        let mut jwt_rules = Vec::new();
        let mut any_request_authn = false;
        for res in &config.resources {
            let id = res.id();
            let ns = res.meta.namespace.as_str();
            match &res.body {
                Body::AuthorizationPolicy(spec) => {
                    let refs = scope::target_refs_count(
                        spec.target_ref.as_ref(),
                        spec.target_refs.as_ref(),
                    );
                    if refs > 0 && spec.selector.is_some() {
                        return Err(ConfigError(format!(
                            "{id}: spec: only one of selector or targetRef(s) can be set"
                        )));
                    }
                    let action = spec.action.unwrap_or(Action::Allow);
                    if spec.provider.is_some() && action != Action::Custom {
                        return Err(ConfigError(format!(
                            "{id}: spec.provider: must not be set with action {}",
                            action.as_str()
                        )));
                    }
                    // `rules: []` and no rules are the same protobuf value: the webhook refuses both.
                    if action == Action::Deny && spec.rules.as_ref().is_none_or(Vec::is_empty) {
                        return Err(ConfigError(format!(
                            "{id}: spec.rules: a DENY policy without rules is meaningless (Istio refuses it); \
                             add an empty rule `{{}}` to deny every request"
                        )));
                    }
                    // Compile every policy, applicable or not, so a bad one is always reported.
                    let rules = compile_rules(spec.rules.as_deref().unwrap_or(&[]))
                        .map_err(|e| ConfigError(format!("{id}: spec.{e}")))?;
                    if refs > 0 && gateway && (ns == root || ns == workload.namespace) {
                        return Err(ConfigError(format!(
                            "{id}: spec.targetRef: policies attached to a Gateway by targetRef are not supported by meshguard yet"
                        )));
                    }
                    if scope::applies(ns, spec.selector.as_ref(), refs > 0, &workload, root) {
                        policies.push(CompiledPolicy {
                            id: format!("{}.{}", res.meta.namespace, res.meta.name),
                            action,
                            dry_run: res.meta.dry_run,
                            rules,
                        });
                    }
                }
                Body::RequestAuthentication(spec) => {
                    let refs = scope::target_refs_count(
                        spec.target_ref.as_ref(),
                        spec.target_refs.as_ref(),
                    );
                    for (i, rule) in spec.jwt_rules.iter().enumerate() {
                        if rule.issuer.is_empty()
                            && rule.jwks_uri.as_deref().unwrap_or("").is_empty()
                        {
                            return Err(ConfigError(format!(
                                "{id}: spec.jwtRules[{i}]: issuer or jwksUri must be non-empty"
                            )));
                        }
                        for (j, h) in rule.from_headers.iter().enumerate() {
                            if h.name.is_empty() {
                                return Err(ConfigError(format!(
                                    "{id}: spec.jwtRules[{i}].fromHeaders[{j}].name: must be non-empty"
                                )));
                            }
                        }
                    }
                    if scope::applies(ns, spec.selector.as_ref(), refs > 0, &workload, root) {
                        any_request_authn = true;
                        jwt_rules.extend(spec.jwt_rules.iter().cloned());
                    }
                }
                Body::PeerAuthentication(spec) => peer_auth.push((ns, id, spec)),
                Body::ServiceEntry(_) => {}
            }
        }
        let mtls = MtlsPolicy::resolve(peer_auth, &workload, root).map_err(ConfigError)?;
        let has_dry_run = policies.iter().any(|p| p.dry_run);
        let needs_sni = policies
            .iter()
            .any(|p| p.uses(|c| matches!(c, policy::rule::Check::Sni(_))));
        Ok(Engine {
            workload,
            audit_log: config.audit.log,
            policies,
            has_dry_run,
            mtls,
            jwt_locations: any_request_authn.then(|| TokenLocations::from_rules(&jwt_rules)),
            needs_sni,
        })
    }

    pub fn decide(&self, r: &Request) -> Decision {
        if self.mtls.mode_for(r.destination_port) == MtlsMode::Strict && !r.peer.authenticated {
            return Decision::deny(Reason::MtlsRequired);
        }
        if let Some(locations) = &self.jwt_locations {
            if !is_cors_preflight(r) && locations.token_present(r) {
                return Decision::deny(Reason::JwtNotImplemented);
            }
        }
        let enforced = policy::authorize(&self.policies, r, false);
        let dry_run = self.has_dry_run.then(|| {
            let shadow = policy::authorize(&self.policies, r, true);
            DryRun {
                allow: shadow.reason.allows(),
                policy: shadow.policy.map(|(id, _)| id),
            }
        });
        let (policy, rule) = match enforced.policy {
            Some((id, i)) => (Some(id), Some(i)),
            None => (None, None),
        };
        Decision {
            allow: enforced.reason.allows(),
            reason: Reason::Authz(enforced.reason),
            policy,
            rule,
            action: enforced.action,
            audit: policy::audited(&self.policies, r),
            dry_run,
        }
    }

    /// The policies that apply to this workload, for logging at configure time.
    pub fn policy_ids(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.id.as_str())
    }
}

/// Istio sets jwt_authn's bypass_cors_preflight: such requests are not authenticated.
fn is_cors_preflight(r: &Request) -> bool {
    r.method == "OPTIONS"
        && r.header("origin").is_some()
        && r.header("access-control-request-method").is_some()
}

#[cfg(test)]
mod tests;
