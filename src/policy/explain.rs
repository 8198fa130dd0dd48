//! Why a compiled policy's rules did or did not match a request, in the policy's own words:
//! for each rule that did not match, the first field that failed, its values as written and
//! what the request had instead (`methods [GET] does not match POST`).
//!
//! For operators' tools (`meshguard check`); the proxy never calls it. The verdict of each rule
//! is [`CompiledRule::eval`]'s, the very evaluation the proxy runs; this module only finds which
//! clause made it so, reading the labels the compiler kept beside each clause.

use super::rule::{Check, Clause, CompiledRule, Conjunction, Tri};
use super::CompiledPolicy;
use crate::request::{PolicyHost, Request};
use std::fmt;

/// One rule of a policy against one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleExplanation {
    pub rule: usize,
    /// The rule's result as the proxy computes it (`Unknown`: an attribute the proxy could not
    /// establish; the policy's action decides what that means).
    pub result: Tri,
    /// Empty when the rule matched. Otherwise the first failing field of the first failing
    /// part (`from`, `to`, `when`); for `from` or `to` with several entries (ORed), one per
    /// entry, since each of them failed.
    pub failures: Vec<FieldFailure>,
}

/// One field (or `when` condition) that did not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldFailure {
    /// Where the field sits in the rule: `from[0].source`, `to[1].operation` or `when`.
    pub at: String,
    /// The field as Istio writes it: `methods`, `notNamespaces`, `when request.headers[x]`.
    pub field: String,
    pub values: Vec<String>,
    /// A `notX` field (or `notValues`): it failed because the request matched a value.
    pub negated: bool,
    /// `False`, or `Unknown` when the request lacks what the field needs.
    pub result: Tri,
    /// What the request has for this field, as text.
    pub request: String,
}

impl fmt::Display for FieldFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let values = self.values.join(", ");
        match (self.result, self.negated) {
            (Tri::Unknown, _) => write!(
                f,
                "{} [{values}] cannot be decided: {}",
                self.field, self.request
            ),
            (_, false) => write!(
                f,
                "{} [{values}] does not match {}",
                self.field, self.request
            ),
            (_, true) => write!(f, "{} [{values}] matches {}", self.field, self.request),
        }
    }
}

impl RuleExplanation {
    pub fn matched(&self) -> bool {
        self.result == Tri::True
    }
}

impl fmt::Display for RuleExplanation {
    /// `matches`, or the failing field(s): `methods [GET] does not match POST`; entries of a
    /// multi-entry `from`/`to` are prefixed with where they sit.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.failures.as_slice() {
            [] if self.result == Tri::True => f.write_str("matches"),
            [] => f.write_str("does not match"),
            [only] => write!(f, "{only}"),
            many => {
                let parts: Vec<String> = many.iter().map(|x| format!("{}: {x}", x.at)).collect();
                f.write_str(&parts.join("; "))
            }
        }
    }
}

/// Explains every rule of `policy` for `r` (`host` is `r.policy_host()`).
pub fn explain(policy: &CompiledPolicy, r: &Request, host: &PolicyHost) -> Vec<RuleExplanation> {
    policy
        .rules
        .iter()
        .enumerate()
        .map(|(i, rule)| explain_rule(i, rule, r, host))
        .collect()
}

fn explain_rule(
    index: usize,
    rule: &CompiledRule,
    r: &Request,
    host: &PolicyHost,
) -> RuleExplanation {
    let result = rule.eval(r, host);
    let failures = if result == Tri::True {
        Vec::new()
    } else {
        // The rule is the AND of its parts: report the first part that is false, else (the
        // rule is unknown) the first that is unknown.
        let parts = [
            entries_failures(rule.from.as_deref(), "from", "source", r, host),
            entries_failures(rule.to.as_deref(), "to", "operation", r, host),
            conjunction_failure(&rule.when, "when", r, host)
                .into_iter()
                .collect::<Vec<_>>(),
        ];
        let first_with = |wanted: Tri| {
            parts
                .iter()
                .find(|p| !p.is_empty() && part_result(p) == wanted)
                .cloned()
        };
        first_with(Tri::False)
            .or_else(|| first_with(Tri::Unknown))
            .unwrap_or_default()
    };
    RuleExplanation {
        rule: index,
        result,
        failures,
    }
}

/// The result of a failing part: false when any of its failures is false. For `from`/`to`
/// (ORed entries) a part only fails when no entry holds, so failures exist for every entry;
/// the part is false when all are false.
fn part_result(failures: &[FieldFailure]) -> Tri {
    if failures.iter().all(|f| f.result == Tri::False) {
        Tri::False
    } else {
        Tri::Unknown
    }
}

/// `from` or `to`: entries are ORed, so the part fails only when every entry fails; then each
/// entry's first failing field is reported. Empty when the part holds (or is absent).
fn entries_failures(
    entries: Option<&[Conjunction]>,
    part: &str,
    inner: &str,
    r: &Request,
    host: &PolicyHost,
) -> Vec<FieldFailure> {
    let Some(entries) = entries else {
        return Vec::new();
    };
    let mut failures = Vec::new();
    for (i, conjunction) in entries.iter().enumerate() {
        match conjunction_failure(conjunction, &format!("{part}[{i}].{inner}"), r, host) {
            // One entry holds: the whole part does.
            None => return Vec::new(),
            Some(f) => failures.push(f),
        }
    }
    failures
}

/// The first clause of an AND that is false, else the first that is unknown; `None` when all
/// hold.
fn conjunction_failure(
    clauses: &[Clause],
    at: &str,
    r: &Request,
    host: &PolicyHost,
) -> Option<FieldFailure> {
    let results: Vec<(&Clause, Tri)> = clauses.iter().map(|c| (c, c.eval(r, host))).collect();
    let (clause, result) = results
        .iter()
        .find(|(_, t)| *t == Tri::False)
        .or_else(|| results.iter().find(|(_, t)| *t == Tri::Unknown))?;
    Some(FieldFailure {
        at: at.to_string(),
        field: clause.label.field.clone(),
        values: clause.label.values.clone(),
        negated: clause.negated,
        result: *result,
        request: clause
            .any_of
            .first()
            .map(|c| request_value(c, r, host))
            .unwrap_or_default(),
    })
}

/// What the request has for the attribute `check` reads, as an operator would want to see it.
fn request_value(check: &Check, r: &Request, host: &PolicyHost) -> String {
    let no_peer = || "no peer identity (plaintext)".to_string();
    let ip = |ip: Option<std::net::IpAddr>, what: &str| match ip {
        Some(ip) => ip.to_string(),
        None => format!("the {what} is unknown"),
    };
    let claim = |path: &[&str]| -> String {
        let Some(jwt) = r.jwt.as_ref() else {
            return "no verified JWT".into();
        };
        match jwt.claim(path) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => format!("no claim {}", path.join(".")),
        }
    };
    match check {
        Check::Principal(_) | Check::ServiceAccount(_) | Check::TrustDomain(_) => {
            r.peer.principal().map_or_else(no_peer, str::to_string)
        }
        Check::Namespace(_) => r.peer.namespace().map_or_else(no_peer, str::to_string),
        Check::RequestPrincipal(_) => match r.jwt.as_ref() {
            None => "no verified JWT".into(),
            Some(j) => j
                .principal()
                .unwrap_or_else(|| "a JWT without iss and sub".into()),
        },
        Check::SourceIp(_) => ip(r.source_ip, "source address"),
        Check::RemoteIp(_) => ip(r.remote_ip, "remote address"),
        Check::DestinationIp(_) => ip(r.destination_ip, "destination address"),
        Check::DestinationPort(_) => r
            .port()
            .map_or_else(|| "the port is unknown".into(), |p| p.to_string()),
        Check::Host(_) => host.forms().collect::<Vec<_>>().join(" or "),
        Check::Method(_) => r.method.clone(),
        Check::Path(_) => r
            .url_path_opt()
            .map_or_else(|| "no path (CONNECT)".into(), str::to_string),
        Check::Sni(_) => r.sni.clone().unwrap_or_else(|| "no SNI".into()),
        Check::Header(name, _) => {
            let values: Vec<String> = r
                .header_values(name)
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .collect();
            if values.is_empty() {
                format!("no {name} header")
            } else {
                values.join(", ")
            }
        }
        Check::Audience(_) => claim(&["aud"]),
        Check::Presenter(_) => claim(&["azp"]),
        Check::Claim(path, _) => {
            let path: Vec<&str> = path.iter().map(String::as_str).collect();
            claim(&path)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::spec::{Action, Rule};
    use crate::policy::compile::compile_rules_default;
    use crate::request::{JwtIdentity, Peer};
    use serde_json::json;

    fn policy(action: Action, rules: serde_json::Value) -> CompiledPolicy {
        let rules: Vec<Rule> = crate::config::read::from_value(&rules).unwrap();
        CompiledPolicy {
            id: "default.p".into(),
            action,
            dry_run: false,
            rules: compile_rules_default(&rules).unwrap(),
        }
    }

    fn req(method: &str, path: &str, peer: Peer) -> Request {
        Request {
            method: method.into(),
            path: path.into(),
            authority: "backend".into(),
            peer,
            destination_port: Some(8080),
            ..Default::default()
        }
    }

    fn texts(p: &CompiledPolicy, r: &Request) -> Vec<String> {
        explain(p, r, &r.policy_host())
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const FRONTEND: &str = "spiffe://cluster.local/ns/default/sa/frontend";

    #[test]
    fn first_failing_field_of_each_rule() {
        let p = policy(
            Action::Allow,
            json!([{"from": [{"source": {"principals": ["cluster.local/ns/default/sa/frontend"]}}],
                    "to": [{"operation": {"methods": ["GET"], "paths": ["/api/v1/data"]}}]},
                   {"to": [{"operation": {"paths": ["/healthz"], "notMethods": ["POST"]}}]}]),
        );
        let post = req("POST", "/api/v1/data?x=1", Peer::mtls(FRONTEND));
        assert_eq!(
            texts(&p, &post),
            [
                "methods [GET] does not match POST",
                // Fields are checked in the compiled order: hosts, ports, methods, paths.
                "notMethods [POST] matches POST"
            ]
        );
        let plain = req("GET", "/api/v1/data", Peer::plaintext());
        assert_eq!(
            texts(&p, &plain)[0],
            "principals [cluster.local/ns/default/sa/frontend] does not match no peer identity (plaintext)"
        );
        let get = req("GET", "/api/v1/data", Peer::mtls(FRONTEND));
        let e = explain(&p, &get, &get.policy_host());
        assert!(e[0].matched() && e[0].failures.is_empty());
        assert_eq!(e[0].to_string(), "matches");
    }

    #[test]
    fn negated_fields_and_several_entries() {
        let p = policy(
            Action::Deny,
            json!([{"from": [{"source": {"notNamespaces": ["production"]}},
                             {"source": {"principals": ["cluster.local/ns/x/sa/y"]}}],
                    "to": [{"operation": {"paths": ["/admin/*"]}}]}]),
        );
        let r = req(
            "GET",
            "/admin/x",
            Peer::mtls("spiffe://cluster.local/ns/production/sa/a"),
        );
        let e = explain(&p, &r, &r.policy_host());
        assert_eq!(e[0].failures.len(), 2);
        assert_eq!(
            e[0].to_string(),
            "from[0].source: notNamespaces [production] matches production; \
             from[1].source: principals [cluster.local/ns/x/sa/y] does not match cluster.local/ns/production/sa/a"
        );
        // `from` holds through its first entry: `to` is what fails.
        let other = req(
            "GET",
            "/public",
            Peer::mtls("spiffe://cluster.local/ns/other/sa/a"),
        );
        assert_eq!(
            texts(&p, &other),
            ["paths [/admin/*] does not match /public"]
        );
    }

    #[test]
    fn conditions_and_unknowns() {
        let p = policy(
            Action::Allow,
            json!([{"when": [{"key": "request.headers[x-role]", "values": ["admin"]},
                             {"key": "request.auth.claims[groups]", "notValues": ["banned"]}]},
                   {"from": [{"source": {"ipBlocks": ["10.0.0.0/8"]}}]},
                   {"from": [{"source": {"requestPrincipals": ["https://auth.example.com/*"]}}]}]),
        );
        let mut r = req("GET", "/", Peer::plaintext());
        r.headers = [("x-role", &b"user"[..])]
            .into_iter()
            .collect::<crate::request::Headers>();
        assert_eq!(
            texts(&p, &r),
            [
                "when request.headers[x-role] [admin] does not match user",
                "ipBlocks [10.0.0.0/8] cannot be decided: the source address is unknown",
                "requestPrincipals [https://auth.example.com/*] does not match no verified JWT"
            ]
        );
        r.headers = [("x-role", &b"admin"[..])]
            .into_iter()
            .collect::<crate::request::Headers>();
        r.jwt = Some(JwtIdentity::new(
            json!({"iss": "i", "sub": "s", "groups": ["a", "banned"]})
                .as_object()
                .unwrap()
                .clone(),
            Vec::new(),
        ));
        assert_eq!(
            texts(&p, &r)[0],
            r#"when request.auth.claims[groups] notValues [banned] matches ["a","banned"]"#
        );
        assert_eq!(
            texts(&p, &r)[2],
            "requestPrincipals [https://auth.example.com/*] does not match i/s"
        );
    }

    #[test]
    fn verdicts_are_the_engines() {
        let p = policy(
            Action::Allow,
            json!([{}, {"to": [{"operation": {"ports": ["8080"], "hosts": ["backend"]}}]}]),
        );
        let r = req("GET", "/", Peer::plaintext());
        let e = explain(&p, &r, &r.policy_host());
        for (x, rule) in e.iter().zip(&p.rules) {
            assert_eq!(x.result, rule.eval(&r, &r.policy_host()));
        }
        assert!(e.iter().all(RuleExplanation::matched));
    }
}
