//! The AuthorizationPolicy engine: compiled policies and Istio's evaluation order
//! (CUSTOM, then DENY, then ALLOW; AUDIT only marks).

pub mod compile;
pub mod explain;
pub mod identity;
pub mod index;
pub mod ip;
pub mod matcher;
pub mod path;
pub mod path_variant;
pub mod pattern;
pub mod rule;
pub mod trust_domain;

use crate::config::spec::Action;
use crate::request::{PolicyHost, Request};
use rule::{CompiledRule, Tri};

#[derive(Debug, Clone)]
pub struct CompiledPolicy {
    /// `<namespace>.<name>`, as the audit entry names it.
    pub id: String,
    pub action: Action,
    pub dry_run: bool,
    pub rules: Vec<CompiledRule>,
}

impl CompiledPolicy {
    /// Whether any check of any rule satisfies `pred` (to read only the properties needed).
    pub fn uses(&self, pred: impl Fn(&rule::Check) -> bool) -> bool {
        self.rules.iter().any(|r| {
            r.from
                .iter()
                .chain(r.to.iter())
                .flatten()
                .chain(std::iter::once(&r.when))
                .flatten()
                .flat_map(|clause| clause.any_of.iter())
                .any(&pred)
        })
    }

    /// The index of the first matching rule. `Unknown` resolves to the safe side: a match for
    /// policies that deny (DENY, CUSTOM) or mark (AUDIT), no match for ALLOW.
    pub fn first_match(&self, r: &Request, host: &PolicyHost) -> Option<usize> {
        self.rules
            .iter()
            .position(|rule| self.rule_matches(rule, r, host))
    }

    /// Whether `rule` (one of this policy's) matches, `Unknown` resolved as above.
    pub fn rule_matches(&self, rule: &CompiledRule, r: &Request, host: &PolicyHost) -> bool {
        match rule.eval(r, host) {
            Tri::True => true,
            Tri::False => false,
            Tri::Unknown => self.action != Action::Allow,
        }
    }
}

/// The rule indexes of the actions [`custom`] and [`authorize`] evaluate, built once per
/// configuration from the same policies.
#[derive(Debug, Clone, Default)]
pub struct Indexes {
    custom: index::RuleIndex,
    deny: index::RuleIndex,
    allow: index::RuleIndex,
}

impl Indexes {
    pub fn new(policies: &[CompiledPolicy]) -> Self {
        Indexes {
            custom: index::RuleIndex::new(policies, Action::Custom),
            deny: index::RuleIndex::new(policies, Action::Deny),
            allow: index::RuleIndex::new(policies, Action::Allow),
        }
    }

    fn of(&self, action: Action) -> &index::RuleIndex {
        match action {
            Action::Custom => &self.custom,
            Action::Deny => &self.deny,
            // AUDIT is not decided through an index.
            Action::Allow | Action::Audit => &self.allow,
        }
    }
}

/// Why the authorization decision came out as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthzReason {
    /// A CUSTOM policy matched; meshguard has no extension provider, so it denies.
    CustomMatched,
    DenyMatched,
    AllowMatched,
    /// No ALLOW policy applies to the workload: allowed.
    NoAllowPolicies,
    /// ALLOW policies apply and none matched.
    NoAllowMatch,
}

impl AuthzReason {
    pub fn allows(self) -> bool {
        matches!(
            self,
            AuthzReason::AllowMatched | AuthzReason::NoAllowPolicies
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            AuthzReason::CustomMatched => "custom_matched",
            AuthzReason::DenyMatched => "deny_matched",
            AuthzReason::AllowMatched => "allow_matched",
            AuthzReason::NoAllowPolicies => "no_allow_policies",
            AuthzReason::NoAllowMatch => "no_allow_match",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzDecision {
    pub reason: AuthzReason,
    /// The deciding policy (`ns.name`) and rule index.
    pub policy: Option<(String, usize)>,
    pub action: Option<Action>,
}

/// The first policy of `action` with a rule that matches `r` (or, for the actions that deny,
/// `lenient`: the request with its path as a lenient backend would read it), and that rule.
/// `include_dry_run` counts dry-run policies as enforced.
fn first_match(
    set: (&[CompiledPolicy], &Indexes),
    action: Action,
    r: &Request,
    lenient: Option<&Request>,
    host: &PolicyHost,
    include_dry_run: bool,
) -> Option<(String, usize)> {
    let (policies, indexes) = set;
    let in_request = |r: &Request| {
        indexes
            .of(action)
            .candidates(r)
            .into_iter()
            .find_map(|(p, i)| {
                let policy = policies.get(p)?;
                let rule = policy.rules.get(i)?;
                let active = include_dry_run || !policy.dry_run;
                (active && policy.rule_matches(rule, r, host)).then(|| (policy.id.clone(), i))
            })
    };
    let denies = action != Action::Allow;
    in_request(r).or_else(|| lenient.filter(|_| denies).and_then(in_request))
}

/// CUSTOM policies. Istio places them before authentication, so they see the request as the
/// client sent it, without a JWT identity: call this before authenticating. `None` when none
/// matches.
pub fn custom(
    set: (&[CompiledPolicy], &Indexes),
    r: &Request,
    lenient: Option<&Request>,
    host: &PolicyHost,
    include_dry_run: bool,
) -> Option<AuthzDecision> {
    first_match(set, Action::Custom, r, lenient, host, include_dry_run).map(|hit| AuthzDecision {
        reason: AuthzReason::CustomMatched,
        policy: Some(hit),
        action: Some(Action::Custom),
    })
}

/// Evaluates the DENY and ALLOW policies (already scoped to the workload) in Istio's order,
/// after authentication; CUSTOM ones are [`custom`]'s. `include_dry_run` treats dry-run
/// policies as enforced: the answer to "what would happen without dry-run". `host` is
/// `r.policy_host()`, computed once by the caller. `lenient`, when set, is the request with
/// its path as a lenient backend would read it: DENY policies are checked against it too
/// (never ALLOW ones).
pub fn authorize(
    set: (&[CompiledPolicy], &Indexes),
    r: &Request,
    lenient: Option<&Request>,
    host: &PolicyHost,
    include_dry_run: bool,
) -> AuthzDecision {
    let policies = set.0;
    let first = |action| first_match(set, action, r, lenient, host, include_dry_run);
    let decided = |reason, policy, action| AuthzDecision {
        reason,
        policy,
        action,
    };
    if let Some(hit) = first(Action::Deny) {
        return decided(AuthzReason::DenyMatched, Some(hit), Some(Action::Deny));
    }
    if !policies
        .iter()
        .filter(|p| include_dry_run || !p.dry_run)
        .any(|p| p.action == Action::Allow)
    {
        return decided(AuthzReason::NoAllowPolicies, None, None);
    }
    match first(Action::Allow) {
        Some(hit) => decided(AuthzReason::AllowMatched, Some(hit), Some(Action::Allow)),
        None => decided(AuthzReason::NoAllowMatch, None, None),
    }
}

/// Whether an enforced AUDIT policy matches: the request is marked, the decision unchanged.
pub fn audited(policies: &[CompiledPolicy], r: &Request, host: &PolicyHost) -> bool {
    policies
        .iter()
        .filter(|p| p.action == Action::Audit && !p.dry_run)
        .any(|p| p.first_match(r, host).is_some())
}
