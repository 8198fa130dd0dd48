//! The pure core: `(Engine, Request) -> Decision`. Built once per configuration; the request
//! path only evaluates what was compiled here.

use crate::authn::jwt::{original_uri, JwtError};
use crate::authn::mtls::MtlsPolicy;
use crate::authn::request_authn::{Authn, AuthnState, HeaderOps, RequestAuthn};
use crate::config::spec::{Action, MtlsMode, PolicyTargetReference, WorkloadSelector};
use crate::config::{
    scope, AuditLog, Body, ConfigError, DirectionSetting, OutboundMode, PluginConfig, StrictMtls,
    Workload,
};
use crate::egress::Registry;
use crate::gateway::{self, Redirects};
use crate::hostname::split_authority;
use crate::policy::compile::{check_custom, compile_rules, Context};
use crate::policy::trust_domain::Bundle;
use crate::policy::{self, path_variant, AuthzReason, CompiledPolicy};
use crate::request::{Direction, Request};

#[derive(Debug, Clone)]
pub struct Engine {
    pub workload: Workload,
    pub audit_log: AuditLog,
    /// `audit.filterState`: the decision is also set as Envoy filter state.
    pub filter_state: bool,
    pub direction: DirectionSetting,
    /// AuthorizationPolicies that apply to this workload, in configuration order.
    policies: Vec<CompiledPolicy>,
    /// Which of their rules can match a request (the same policies, indexed).
    indexes: policy::Indexes,
    has_dry_run: bool,
    mtls: MtlsPolicy,
    strict_mtls: StrictMtls,
    /// The RequestAuthentications that apply, merged.
    pub authn: RequestAuthn,
    registry: Registry,
    outbound_mode: OutboundMode,
    redirects: Redirects,
    /// Some Gateway selects this workload: it is a gateway, and PeerAuthentication (which
    /// governs sidecars' inbound traffic) does not apply to it.
    is_gateway: bool,
    /// Some policy reads `connection.sni`: only then is the property worth a host call.
    pub needs_sni: bool,
    /// Some policy matches the source or remote IP: only then is `source.address` read before
    /// the decision (the audit entry reads it after, when it is written).
    pub needs_source_address: bool,
    /// DENY and CUSTOM rules also see the path as a lenient backend would read it.
    deny_path_variants: bool,
}

/// Why a request was allowed or denied: the audit entry's `reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Authz(AuthzReason),
    /// Plaintext where PeerAuthentication requires mTLS.
    MtlsRequired,
    /// A token that did not verify (or whose audience is not allowed).
    Jwt(JwtError),
    /// REGISTRY_ONLY and no ServiceEntry registers the request's host and port.
    EgressNotRegistered,
    /// A Gateway server with `tls.httpsRedirect` sends the client to HTTPS.
    HttpsRedirect,
    /// The request lacks something the decision needs (e.g. `:path`).
    BadRequest,
    /// The stream ended while the request waited for keys: it never went upstream.
    Undecided,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Authz(r) => r.as_str(),
            Reason::MtlsRequired => "mtls_required",
            Reason::Jwt(e) => e.code(),
            Reason::EgressNotRegistered => "egress_not_registered",
            Reason::HttpsRedirect => "https_redirect",
            Reason::BadRequest => "bad_request",
            Reason::Undecided => "undecided",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DryRun {
    pub allow: bool,
    pub policy: Option<String>,
}

/// What PeerAuthentication said about an inbound request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MtlsReport {
    pub mode: MtlsMode,
    /// Plaintext where the mode is STRICT.
    pub violation: bool,
    /// STRICT refuses (false: `strictMtls: report` only reports).
    pub enforced: bool,
}

/// Where an outbound request goes and which ServiceEntry registers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressReport {
    pub host: String,
    pub port: Option<u16>,
    pub service_entry: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allow: bool,
    pub reason: Reason,
    /// The deciding resource (`<namespace>.<name>`): a policy, or the redirecting Gateway.
    pub policy: Option<String>,
    /// The matching rule of that policy (or the Gateway's server index).
    pub rule: Option<usize>,
    pub action: Option<Action>,
    /// An AUDIT policy matched.
    pub audit: bool,
    /// Set when dry-run policies apply: the decision had they been enforced.
    pub dry_run: Option<DryRun>,
    pub direction: Direction,
    pub mtls: Option<MtlsReport>,
    pub egress: Option<EgressReport>,
    /// The request's JWT identity, or why its token failed.
    pub auth: AuthReport,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthReport {
    /// `<iss>/<sub>` of the verified token.
    pub principal: Option<String>,
    pub audiences: Option<Vec<String>>,
    /// Envoy's text for the token's failure.
    pub error: Option<&'static str>,
    /// The token was found in the verified-token cache (for the metrics, not the audit entry).
    pub cached: bool,
}

/// The outcome of [`Engine::decide`].
// Returned by value once per request; boxing the decision would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Decided. The header changes (token removal, claim headers, removal of client copies of
    /// them) are made before the request goes on.
    Done(Decision, HeaderOps),
    /// The keys of this remote JWKS are being fetched: hold the request, decide again when
    /// they arrive.
    Wait(usize),
}

/// The local reply for a request that is not forwarded, as Envoy and Istio answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u32,
    pub body: &'static str,
    pub headers: Vec<(&'static str, String)>,
}

impl Decision {
    fn deny(reason: Reason, direction: Direction) -> Self {
        Decision {
            allow: false,
            reason,
            policy: None,
            rule: None,
            action: None,
            audit: false,
            dry_run: None,
            direction,
            mtls: None,
            egress: None,
            auth: AuthReport::default(),
        }
    }

    /// A request that cannot be judged (missing pseudo-headers, undecodable values) is denied.
    pub fn bad_request(direction: Direction) -> Self {
        Decision::deny(Reason::BadRequest, direction)
    }

    /// What the audit entry says of a request whose stream ended while it was held.
    pub fn undecided(direction: Direction) -> Self {
        Decision::deny(Reason::Undecided, direction)
    }

    pub fn reply(&self, r: &Request) -> Option<Reply> {
        if self.allow {
            return None;
        }
        let (status, body, headers) = match self.reason {
            // As jwt_authn: 401 (403 for audiences) with its text and a www-authenticate.
            Reason::Jwt(e) => (
                u32::from(e.status()),
                e.body(),
                vec![(
                    "www-authenticate",
                    // Envoy's original URI is empty without a :path (CONNECT): realm="".
                    e.www_authenticate(&if r.no_path {
                        String::new()
                    } else {
                        original_uri(&r.scheme, &r.authority, &r.path)
                    }),
                )],
            ),
            // Istio routes unregistered hosts to its `block_all` route: a bare 502.
            Reason::EgressNotRegistered => (502, "", Vec::new()),
            Reason::HttpsRedirect => {
                let (host, _) = split_authority(&r.authority);
                (
                    301,
                    "",
                    vec![("location", format!("https://{host}{}", r.path))],
                )
            }
            Reason::Authz(_) | Reason::MtlsRequired | Reason::BadRequest | Reason::Undecided => {
                (403, "RBAC: access denied", Vec::new())
            }
        };
        Some(Reply {
            status,
            body,
            headers,
        })
    }
}

fn err(id: &str, e: impl std::fmt::Display) -> ConfigError {
    ConfigError(format!("{id}: spec.{e}"))
}

/// How many targetRefs a policy has; Istio's webhook refuses one with a selector as well.
fn attachments(
    id: &str,
    selector: Option<&WorkloadSelector>,
    target_ref: Option<&PolicyTargetReference>,
    target_refs: Option<&Vec<PolicyTargetReference>>,
) -> Result<usize, ConfigError> {
    let refs = scope::target_refs_count(target_ref, target_refs);
    if refs > 0 && selector.is_some() {
        return Err(ConfigError(format!(
            "{id}: spec: only one of selector or targetRef(s) can be set"
        )));
    }
    Ok(refs)
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
        let bundle = Bundle::new(&config.trust_domain, &config.trust_domain_aliases);
        let k8s_gateway = scope::is_gateway(&workload);
        let mut policies = Vec::new();
        let mut peer_auth = Vec::new();
        let mut jwt_rules = Vec::new();
        let mut registry = Registry::default();
        let mut redirects = Redirects::default();
        let mut is_gateway = false;
        for res in &config.resources {
            let id = res.id();
            let ns = res.meta.namespace.as_str();
            let name = format!("{}.{}", res.meta.namespace, res.meta.name);
            match &res.body {
                Body::AuthorizationPolicy(spec) => {
                    let refs = attachments(
                        &id,
                        spec.selector.as_ref(),
                        spec.target_ref.as_ref(),
                        spec.target_refs.as_ref(),
                    )?;
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
                    if action == Action::Custom {
                        check_custom(spec).map_err(|e| err(&id, e))?;
                    }
                    // Compile every policy, applicable or not, so a bad one is always reported.
                    let cx = Context {
                        namespace: ns,
                        bundle: &bundle,
                    };
                    let rules = compile_rules(spec.rules.as_deref().unwrap_or(&[]), cx)
                        .map_err(|e| err(&id, e))?;
                    if refs > 0 && k8s_gateway && (ns == root || ns == workload.namespace) {
                        return Err(ConfigError(format!(
                            "{id}: spec.targetRef: policies attached to a Gateway by targetRef are not supported by meshguard yet"
                        )));
                    }
                    if scope::applies(ns, spec.selector.as_ref(), refs > 0, &workload, root) {
                        policies.push(CompiledPolicy {
                            id: name,
                            action,
                            dry_run: res.meta.dry_run,
                            rules,
                        });
                    }
                }
                Body::RequestAuthentication(spec) => {
                    let refs = attachments(
                        &id,
                        spec.selector.as_ref(),
                        spec.target_ref.as_ref(),
                        spec.target_refs.as_ref(),
                    )?;
                    for (i, rule) in spec.jwt_rules.iter().enumerate() {
                        if rule.issuer.is_empty() {
                            return Err(err(
                                &id,
                                format!("jwtRules[{i}].issuer: must be non-empty"),
                            ));
                        }
                        for (j, h) in rule.from_headers.iter().enumerate() {
                            if h.name.is_empty() {
                                return Err(err(
                                    &id,
                                    format!(
                                        "jwtRules[{i}].fromHeaders[{j}].name: must be non-empty"
                                    ),
                                ));
                            }
                        }
                        if rule
                            .from_params
                            .iter()
                            .chain(&rule.from_cookies)
                            .any(String::is_empty)
                        {
                            return Err(err(&id, format!("jwtRules[{i}]: fromParams and fromCookies entries must be non-empty")));
                        }
                    }
                    // Check every resource on its own, applicable or not, so a bad one is reported.
                    let own = spec
                        .jwt_rules
                        .iter()
                        .enumerate()
                        .map(|(i, r)| (id.clone(), i, r))
                        .collect();
                    RequestAuthn::new(own, &config.jwks_clusters).map_err(ConfigError)?;
                    if scope::applies(ns, spec.selector.as_ref(), refs > 0, &workload, root) {
                        jwt_rules.extend(
                            spec.jwt_rules
                                .iter()
                                .enumerate()
                                .map(|(i, r)| (id.clone(), i, r)),
                        );
                    }
                }
                Body::PeerAuthentication(spec) => peer_auth.push((ns, id, spec)),
                // exportTo is not consulted: a plugin configuration is already per workload.
                Body::ServiceEntry(spec) => registry.add(name, spec).map_err(|e| err(&id, e))?,
                Body::Gateway(spec) => {
                    gateway::validate(spec).map_err(|e| err(&id, e))?;
                    // A Gateway selects gateway pods in any namespace by their labels.
                    let selects = !spec.selector.is_empty()
                        && spec
                            .selector
                            .iter()
                            .all(|(k, v)| workload.labels.get(k) == Some(v));
                    if selects {
                        is_gateway = true;
                        redirects.add(name, spec, &config.gateway_ports);
                    }
                }
            }
        }
        let mtls = MtlsPolicy::resolve(peer_auth, &workload, root).map_err(ConfigError)?;
        let has_dry_run = policies.iter().any(|p| p.dry_run);
        let needs_sni = policies
            .iter()
            .any(|p| p.uses(|c| matches!(c, policy::rule::Check::Sni(_))));
        let needs_source_address = policies.iter().any(|p| {
            p.uses(|c| {
                matches!(
                    c,
                    policy::rule::Check::SourceIp(_) | policy::rule::Check::RemoteIp(_)
                )
            })
        });
        Ok(Engine {
            workload,
            audit_log: config.audit.log,
            filter_state: config.audit.filter_state,
            direction: config.direction,
            indexes: policy::Indexes::new(&policies),
            policies,
            has_dry_run,
            mtls,
            strict_mtls: config.strict_mtls,
            authn: RequestAuthn::new(jwt_rules, &config.jwks_clusters).map_err(ConfigError)?,
            registry,
            outbound_mode: config.outbound_traffic_policy.mode,
            redirects,
            is_gateway,
            needs_sni,
            needs_source_address,
            deny_path_variants: config.deny_path_variants,
        })
    }

    /// Decides `r`. Authentication may add, remove or replace headers (`r` is updated, so
    /// authorization sees them, as Istio's RBAC sees jwt_authn's output) and may need keys
    /// being fetched. `now_ms` is the proxy's clock.
    pub fn decide(&self, r: &mut Request, state: &mut AuthnState, now_ms: u64) -> Step {
        let direction = r.direction;
        let (host, authority_port) = split_authority(&r.authority);
        let redirect = self.redirects.find(&host, r.destination_port);
        let mut mtls = None;
        let mut egress = None;
        match direction {
            Direction::Outbound => {
                let port = authority_port.or(r.destination_port);
                let service_entry = self.registry.lookup(&host, port).map(str::to_string);
                let unregistered =
                    service_entry.is_none() && self.outbound_mode == OutboundMode::RegistryOnly;
                egress = Some(EgressReport {
                    host,
                    port,
                    service_entry,
                });
                if unregistered {
                    let mut d = Decision::deny(Reason::EgressNotRegistered, direction);
                    d.egress = egress;
                    return Step::Done(d, HeaderOps::default());
                }
            }
            Direction::Inbound => {
                if !self.is_gateway {
                    let mode = self.mtls.mode_for(r.destination_port);
                    let report = MtlsReport {
                        mode,
                        violation: mode == MtlsMode::Strict && !r.peer.authenticated,
                        enforced: self.strict_mtls == StrictMtls::Enforce,
                    };
                    mtls = Some(report);
                    if report.violation && report.enforced {
                        let mut d = Decision::deny(Reason::MtlsRequired, direction);
                        d.mtls = mtls;
                        return Step::Done(d, HeaderOps::default());
                    }
                }
            }
        }
        let policy_host = r.policy_host();
        // CUSTOM comes before authentication in Istio's filter chain: it sees the request as
        // the client sent it, with no JWT identity.
        let lenient = self.lenient(r);
        let custom = policy::custom(self.policy_set(), r, lenient.as_ref(), &policy_host, false);
        let shadow_custom = if self.has_dry_run {
            policy::custom(self.policy_set(), r, lenient.as_ref(), &policy_host, true)
        } else {
            None
        };
        let dry_run_of = |shadow: &policy::AuthzDecision| DryRun {
            allow: shadow.reason.allows(),
            policy: shadow.policy.as_ref().map(|(id, _)| id.clone()),
        };
        if let Some(hit) = custom {
            // Dry-run CUSTOM policies are checked at the same place (the shadow answer then
            // includes the enforced one's match).
            let dry_run = self
                .has_dry_run
                .then(|| dry_run_of(shadow_custom.as_ref().unwrap_or(&hit)));
            let mut d = Decision::deny(Reason::Authz(hit.reason), direction);
            (d.policy, d.rule) = match hit.policy {
                Some((id, i)) => (Some(id), Some(i)),
                None => (None, None),
            };
            d.action = hit.action;
            d.mtls = mtls;
            d.egress = egress;
            d.dry_run = dry_run;
            return Step::Done(d, HeaderOps::default());
        }
        let mut auth = AuthReport::default();
        let mut ops = HeaderOps::default();
        if direction == Direction::Inbound {
            // Istio sets jwt_authn's bypass_cors_preflight: a preflight is not authenticated
            // (client-sent copies of the output headers are still removed). Nor is a request
            // without a :path (CONNECT): istiod's jwt_authn rule matches `prefix: /`, which
            // needs a path, so no requirement applies and no token is read (measured, Envoy
            // 1.40: a bad token on a CONNECT is not refused, a good one gives no principal).
            let (outcome, header_ops) = if is_cors_preflight(r) || r.no_path {
                (Authn::Anonymous, self.authn.sanitize(r))
            } else {
                self.authn.authenticate(r, state, now_ms)
            };
            ops = header_ops;
            match outcome {
                Authn::Wait(remote) => return Step::Wait(remote),
                Authn::Failed(e) => {
                    let mut d = Decision::deny(Reason::Jwt(e), direction);
                    d.mtls = mtls;
                    d.auth.error = Some(e.body());
                    return Step::Done(d, ops);
                }
                Authn::Verified { identity, cached } => {
                    auth.principal = identity.principal();
                    auth.audiences = Some(identity.audiences());
                    auth.cached = cached;
                    r.jwt = Some(identity);
                }
                Authn::Anonymous => {}
            }
            ops.apply(r);
        }
        // Authentication may have changed the headers and the path's query: look again.
        let lenient = if ops.is_empty() {
            lenient
        } else {
            self.lenient(r)
        };
        let enforced =
            policy::authorize(self.policy_set(), r, lenient.as_ref(), &policy_host, false);
        let dry_run = self.has_dry_run.then(|| match &shadow_custom {
            Some(hit) => dry_run_of(hit),
            None => dry_run_of(&policy::authorize(
                self.policy_set(),
                r,
                lenient.as_ref(),
                &policy_host,
                true,
            )),
        });
        let (policy, rule) = match enforced.policy {
            Some((id, i)) => (Some(id), Some(i)),
            None => (None, None),
        };
        let audit = policy::audited(&self.policies, r, &policy_host);
        // The gateway's redirect is a route: Envoy's RBAC filter runs before the router, so an
        // authorization denial wins over the redirect, as in Istio.
        if let (true, Some((gw, index))) = (enforced.reason.allows(), redirect) {
            let mut d = Decision::deny(Reason::HttpsRedirect, direction);
            d.policy = Some(gw.to_string());
            d.rule = Some(index);
            d.audit = audit;
            d.dry_run = dry_run;
            d.auth = auth;
            return Step::Done(d, ops);
        }
        let decision = Decision {
            allow: enforced.reason.allows(),
            reason: Reason::Authz(enforced.reason),
            policy,
            rule,
            action: enforced.action,
            audit,
            dry_run,
            direction,
            mtls,
            egress,
            auth,
        };
        Step::Done(decision, ops)
    }

    /// The request with its path as a lenient backend would read it, when `denyPathVariants`
    /// is on and that differs.
    fn lenient(&self, r: &Request) -> Option<Request> {
        if !self.deny_path_variants || r.no_path {
            return None;
        }
        path_variant::lenient_variant(&r.path).map(|path| Request { path, ..r.clone() })
    }

    fn policy_set(&self) -> (&[CompiledPolicy], &policy::Indexes) {
        (&self.policies, &self.indexes)
    }

    /// The policies that apply to this workload, for logging at configure time.
    pub fn policy_ids(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.id.as_str())
    }

    /// The compiled policies that apply to this workload, in configuration order: what
    /// `meshguard check` explains.
    pub fn policies(&self) -> &[CompiledPolicy] {
        &self.policies
    }

    /// A policy's place in the configuration, which bounds the per-policy counters.
    pub fn policy_rank(&self, id: &str) -> Option<usize> {
        self.policies.iter().position(|p| p.id == id)
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
#[cfg(test)]
mod tests_jwt;
#[cfg(test)]
mod tests_requirement;
