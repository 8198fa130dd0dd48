//! AuthorizationPolicy spec -> compiled rules, with Istio's validation (the admission webhook's
//! checks) and meshguard's stricter ones. Every error names the field path under `spec`.

use super::identity::{
    NamespaceMatch, PrincipalMatch, RequestPrincipalMatch, ServiceAccountMatch, TrustDomainMatch,
    MAX_SERVICE_ACCOUNTS,
};
use super::ip::Cidr;
use super::matcher::StringMatch;
use super::path::PathMatch;
use super::rule::{Check, Clause, CompiledRule, Conjunction, Label};
use super::trust_domain::Bundle;
use crate::config::spec::{AuthorizationPolicySpec, Condition, Operation, Rule, Source, Values};

type Result<T> = std::result::Result<T, String>;

/// What a policy's values mean beyond their text: the namespace a bare `serviceAccounts` value
/// belongs to, and the trust domains `cluster.local` and the aliases stand for.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    pub namespace: &'a str,
    pub bundle: &'a Bundle,
}

pub fn compile_rules(rules: &[Rule], cx: Context<'_>) -> Result<Vec<CompiledRule>> {
    rules
        .iter()
        .enumerate()
        .map(|(i, r)| compile_rule(r, cx).map_err(|e| format!("rules[{i}].{e}")))
        .collect()
}

/// Rules of a policy in namespace `default` of a mesh whose trust domain is `cluster.local`.
#[cfg(test)]
pub fn compile_rules_default(rules: &[Rule]) -> Result<Vec<CompiledRule>> {
    let bundle = Bundle::default();
    compile_rules(
        rules,
        Context {
            namespace: "default",
            bundle: &bundle,
        },
    )
}

/// What the webhook refuses in a CUSTOM policy: no rules, no provider name, and the identity
/// attributes an external authorizer is not given (`From.Principals`, `source.principal`, ...).
pub fn check_custom(spec: &AuthorizationPolicySpec) -> Result<()> {
    let Some(rules) = spec.rules.as_ref().filter(|r| !r.is_empty()) else {
        return Err(
            "rules: a CUSTOM policy without rules is meaningless as it will never be \
                    triggered (Istio refuses it); add an empty rule `{}` to send every request"
                .into(),
        );
    };
    if spec.provider.as_ref().is_none_or(|p| p.name.is_empty()) {
        return Err("provider.name: must not be empty".into());
    }
    let unsupported = |what: &str| format!("{what} is currently not supported with CUSTOM action");
    for (i, rule) in rules.iter().enumerate() {
        for (j, from) in rule.from.iter().flatten().enumerate() {
            let Some(src) = &from.source else { continue };
            let fields: [(&Values, &str); 10] = [
                (&src.namespaces, "namespaces"),
                (&src.not_namespaces, "notNamespaces"),
                (&src.service_accounts, "serviceAccounts"),
                (&src.not_service_accounts, "notServiceAccounts"),
                (&src.trust_domains, "trustDomains"),
                (&src.not_trust_domains, "notTrustDomains"),
                (&src.principals, "principals"),
                (&src.not_principals, "notPrincipals"),
                (&src.request_principals, "requestPrincipals"),
                (&src.not_request_principals, "notRequestPrincipals"),
            ];
            if let Some((_, name)) = fields.iter().find(|(v, _)| has_values(v)) {
                return Err(format!(
                    "rules[{i}].from[{j}].source.{name}: {}",
                    unsupported(name)
                ));
            }
        }
        for (j, when) in rule.when.iter().flatten().enumerate() {
            let key = when.key.as_str();
            if matches!(
                key,
                "source.namespace"
                    | "source.serviceAccount"
                    | "source.trustDomain"
                    | "source.principal"
            ) || key.starts_with("request.auth.")
            {
                return Err(format!("rules[{i}].when[{j}].key: {}", unsupported(key)));
            }
        }
    }
    Ok(())
}

fn has_values(v: &Values) -> bool {
    v.as_ref().is_some_and(|l| !l.is_empty())
}

fn compile_rule(rule: &Rule, cx: Context<'_>) -> Result<CompiledRule> {
    let from = match &rule.from {
        None => None,
        Some(list) if list.is_empty() => return Err("from: must not be empty".into()),
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, f)| match &f.source {
                    None => Err(format!("from[{i}].source: must be set")),
                    Some(s) => {
                        compile_source(s, cx).map_err(|e| join(&format!("from[{i}].source"), &e))
                    }
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let to = match &rule.to {
        None => None,
        Some(list) if list.is_empty() => return Err("to: must not be empty".into()),
        Some(list) => Some(
            list.iter()
                .enumerate()
                .map(|(i, t)| match &t.operation {
                    None => Err(format!("to[{i}].operation: must be set")),
                    Some(o) => {
                        compile_operation(o).map_err(|e| join(&format!("to[{i}].operation"), &e))
                    }
                })
                .collect::<Result<Vec<_>>>()?,
        ),
    };
    let when = rule
        .when
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, c)| compile_condition(c, cx).map_err(|e| join(&format!("when[{i}]"), &e)))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    Ok(CompiledRule { from, to, when })
}

/// `prefix` + `.field[i]: msg`, or `prefix` + `: msg` for an error about the whole object.
fn join(prefix: &str, e: &str) -> String {
    if e.starts_with(':') {
        format!("{prefix}{e}")
    } else {
        format!("{prefix}.{e}")
    }
}

/// Adds the clause for `values` (and one for `not_values`) under `name`/`not_name`.
///
/// `parse` is a trait object and the values are read in a loop: generic, each of the ~20
/// callers compiled its own copy of this and of the iterator adapters (~18 KB of the .wasm,
/// all of it compiled by Envoy's V8 before the first request).
fn field(
    out: &mut Conjunction,
    name: &str,
    not_name: &str,
    values: &Values,
    not_values: &Values,
    parse: &dyn Fn(&str) -> Result<Check>,
) -> Result<()> {
    for (label, vals, negated) in [(name, values, false), (not_name, not_values, true)] {
        let Some(vals) = vals else { continue };
        if vals.is_empty() {
            // An empty list constrains nothing in istiod; keep it that way (no clause).
            continue;
        }
        let mut any_of = Vec::with_capacity(vals.len());
        for (i, v) in vals.iter().enumerate() {
            any_of.push(parse(v).map_err(|e| format!("{label}[{i}]: {e}"))?);
        }
        let label = Box::new(Label {
            field: label.to_string(),
            values: vals.clone(),
        });
        out.push(Clause {
            any_of,
            negated,
            label,
        });
    }
    Ok(())
}

/// [`field`] for values istiod rewrites (with the trust-domain bundle) before generating
/// Envoy's matchers: checked as written, so an error names the value's place in the list, then
/// matched as rewritten.
#[allow(clippy::too_many_arguments)]
fn rewritten_field(
    out: &mut Conjunction,
    name: &str,
    not_name: &str,
    values: &Values,
    not_values: &Values,
    rewrite: &dyn Fn(&[String]) -> Vec<String>,
    parse: &dyn Fn(&str) -> Result<Check>,
) -> Result<()> {
    field(&mut Vec::new(), name, not_name, values, not_values, parse)?;
    let values = values.as_deref().map(rewrite);
    let not_values = not_values.as_deref().map(rewrite);
    field(out, name, not_name, &values, &not_values, parse)
}

fn too_many_service_accounts(label: &str, values: &Values) -> Result<()> {
    match values {
        Some(v) if v.len() > MAX_SERVICE_ACCOUNTS => Err(format!(
            "{label}: may not have more than {MAX_SERVICE_ACCOUNTS} values"
        )),
        _ => Ok(()),
    }
}

fn compile_source(s: &Source, cx: Context<'_>) -> Result<Conjunction> {
    if [
        &s.principals,
        &s.not_principals,
        &s.namespaces,
        &s.not_namespaces,
    ]
    .into_iter()
    .any(has_values)
        && (has_values(&s.service_accounts) || has_values(&s.not_service_accounts))
    {
        return Err(": cannot set serviceAccounts with namespaces or principals".into());
    }
    too_many_service_accounts("serviceAccounts", &s.service_accounts)?;
    too_many_service_accounts("notServiceAccounts", &s.not_service_accounts)?;
    let mut out = Vec::new();
    rewritten_field(
        &mut out,
        "principals",
        "notPrincipals",
        &s.principals,
        &s.not_principals,
        &|v| cx.bundle.replace_aliases(v),
        &|v| PrincipalMatch::parse(v).map(Check::Principal),
    )?;
    field(
        &mut out,
        "requestPrincipals",
        "notRequestPrincipals",
        &s.request_principals,
        &s.not_request_principals,
        &|v| RequestPrincipalMatch::parse(v).map(Check::RequestPrincipal),
    )?;
    field(
        &mut out,
        "namespaces",
        "notNamespaces",
        &s.namespaces,
        &s.not_namespaces,
        &|v| NamespaceMatch::parse(v).map(Check::Namespace),
    )?;
    field(
        &mut out,
        "serviceAccounts",
        "notServiceAccounts",
        &s.service_accounts,
        &s.not_service_accounts,
        &|v| ServiceAccountMatch::parse(v, cx.namespace).map(Check::ServiceAccount),
    )?;
    rewritten_field(
        &mut out,
        "trustDomains",
        "notTrustDomains",
        &s.trust_domains,
        &s.not_trust_domains,
        &|v| cx.bundle.expand_aliases(v),
        &|v| TrustDomainMatch::parse(v, true).map(Check::TrustDomain),
    )?;
    field(
        &mut out,
        "ipBlocks",
        "notIpBlocks",
        &s.ip_blocks,
        &s.not_ip_blocks,
        &|v| Cidr::parse(v).map(Check::SourceIp),
    )?;
    field(
        &mut out,
        "remoteIpBlocks",
        "notRemoteIpBlocks",
        &s.remote_ip_blocks,
        &s.not_remote_ip_blocks,
        &|v| Cidr::parse(v).map(Check::RemoteIp),
    )?;
    if out.is_empty() {
        return Err(": must not be empty (Istio refuses an empty `from.source`)".into());
    }
    Ok(out)
}

fn compile_operation(o: &Operation) -> Result<Conjunction> {
    let mut out = Vec::new();
    field(
        &mut out,
        "hosts",
        "notHosts",
        &o.hosts,
        &o.not_hosts,
        string_check(true, Check::Host).as_ref(),
    )?;
    field(
        &mut out,
        "ports",
        "notPorts",
        &o.ports,
        &o.not_ports,
        &|v| parse_port(v).map(Check::DestinationPort),
    )?;
    field(
        &mut out,
        "methods",
        "notMethods",
        &o.methods,
        &o.not_methods,
        string_check(false, Check::Method).as_ref(),
    )?;
    field(
        &mut out,
        "paths",
        "notPaths",
        &o.paths,
        &o.not_paths,
        &|v| PathMatch::parse(v).map(Check::Path),
    )?;
    if out.is_empty() {
        return Err(": must not be empty (Istio refuses an empty `to.operation`)".into());
    }
    Ok(out)
}

fn parse_port(v: &str) -> Result<u16> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad port ({v}): a number from 0 to 65535"));
    }
    v.parse::<u16>()
        .map_err(|_| format!("bad port ({v}): a number from 0 to 65535"))
}

/// A `when` condition: one clause for `values`, one for `notValues` (both ANDed).
fn compile_condition(c: &Condition, cx: Context<'_>) -> Result<Vec<Clause>> {
    let key = c.key.as_str();
    if key.is_empty() {
        return Err("key: must not be empty".into());
    }
    if !has_values(&c.values) && !has_values(&c.not_values) {
        return Err(format!(
            ": at least one of `values` or `notValues` must be set for key {key}"
        ));
    }
    let parse = condition_parser(key, cx).map_err(|e| format!("key: {e}"))?;
    if key == "source.serviceAccount" {
        too_many_service_accounts("values", &c.values)?;
        too_many_service_accounts("notValues", &c.not_values)?;
    }
    let mut out = Vec::new();
    rewritten_field(
        &mut out,
        "values",
        "notValues",
        &c.values,
        &c.not_values,
        &|v| match key {
            "source.principal" => cx.bundle.replace_aliases(v),
            "source.trustDomain" => cx.bundle.expand_aliases(v),
            _ => v.to_vec(),
        },
        parse.as_ref(),
    )?;
    // Explanations name a condition by its key: `when request.headers[x-role]`.
    for clause in &mut out {
        clause.label.field = if clause.negated {
            format!("when {key} notValues")
        } else {
            format!("when {key}")
        };
    }
    Ok(out)
}

type ValueParser = Box<dyn Fn(&str) -> Result<Check>>;

fn string_check(fold_case: bool, make: impl Fn(StringMatch) -> Check + 'static) -> ValueParser {
    Box::new(move |v| {
        StringMatch::parse(v, fold_case)
            .map(&make)
            .map_err(|e| e.to_string())
    })
}

/// The `when` keys of Istio's conditions reference, each with the parser for its values.
fn condition_parser(key: &str, cx: Context<'_>) -> Result<ValueParser> {
    if let Some(inner) = bracketed(key, "request.headers") {
        let name = header_lookup_name(single_name(inner, key)?);
        return Ok(string_check(false, move |m| Check::Header(name.clone(), m)));
    }
    if let Some(inner) = bracketed(key, "request.auth.claims") {
        let path = nested_names(inner, key)?;
        return Ok(string_check(false, move |m| Check::Claim(path.clone(), m)));
    }
    Ok(match key {
        "source.ip" => Box::new(|v| Cidr::parse(v).map(Check::SourceIp)),
        "remote.ip" => Box::new(|v| Cidr::parse(v).map(Check::RemoteIp)),
        "destination.ip" => Box::new(|v| Cidr::parse(v).map(Check::DestinationIp)),
        "destination.port" => Box::new(|v| parse_port(v).map(Check::DestinationPort)),
        "source.namespace" => Box::new(|v| NamespaceMatch::parse(v).map(Check::Namespace)),
        "source.principal" => Box::new(|v| PrincipalMatch::parse(v).map(Check::Principal)),
        "request.auth.principal" => {
            Box::new(|v| RequestPrincipalMatch::parse(v).map(Check::RequestPrincipal))
        }
        "request.auth.audiences" => string_check(false, Check::Audience),
        "request.auth.presenter" => string_check(false, Check::Presenter),
        "connection.sni" => string_check(false, Check::Sni),
        "source.serviceAccount" => {
            let namespace = cx.namespace.to_string();
            Box::new(move |v| ServiceAccountMatch::parse(v, &namespace).map(Check::ServiceAccount))
        }
        "source.trustDomain" => {
            Box::new(|v| TrustDomainMatch::parse(v, false).map(Check::TrustDomain))
        }
        k if k.starts_with("experimental.envoy.filters.") => {
            return Err(format!(
                "{key}: another filter's metadata is not visible to a Wasm plugin"
            ))
        }
        "destination.namespace" => {
            return Err(format!("attribute {key} is replaced by metadata.namespace"))
        }
        k if k.starts_with("destination.labels") => {
            return Err(format!(
                "attribute {key} is replaced by the workload selector"
            ))
        }
        "destination.name" | "destination.user" => {
            return Err(format!(
                "deprecated attribute {key}: only supported in v1alpha1"
            ))
        }
        _ => return Err(format!("unknown attribute: {key}")),
    })
}

/// `prefix[inner]` -> `inner` (may itself hold `][`).
fn bracketed<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    key.strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')
        .or(Some(""))
}

/// The name Envoy's header matcher looks up for `request.headers[name]`: lowercased, and `host`
/// is `:authority`. Envoy's request header map files a `host` header under `:authority` (its
/// lookup table maps the legacy name onto the inline `:authority` entry), on every protocol:
/// HTTP/1.1's `Host`, HTTP/2's `:authority` and a `host` header sent over HTTP/2 all end up there,
/// so a rule on `request.headers[host]` sees the authority and nothing else.
pub(crate) fn header_lookup_name(name: String) -> String {
    let name = name.to_ascii_lowercase();
    if name == "host" {
        ":authority".to_string()
    } else {
        name
    }
}

fn single_name(inner: &str, key: &str) -> Result<String> {
    if inner.is_empty() || inner.contains(['[', ']']) {
        return Err(format!("bad key ({key}): should have format a[b]"));
    }
    Ok(inner.to_string())
}

/// `a][b` (from `claims[a][b]`) -> [a, b]. `[a.b]` stays one claim named `a.b`.
fn nested_names(inner: &str, key: &str) -> Result<Vec<String>> {
    let parts: Vec<String> = inner.split("][").map(str::to_string).collect();
    if parts.iter().any(|p| p.is_empty() || p.contains(['[', ']'])) {
        return Err(format!(
            "bad key ({key}): should have format a[b] or a[b][c]"
        ));
    }
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rules(v: serde_json::Value) -> Result<Vec<CompiledRule>> {
        let rules: Vec<Rule> = crate::config::read::from_value(&v).unwrap();
        compile_rules_default(&rules)
    }

    fn err(v: serde_json::Value) -> String {
        rules(v).unwrap_err()
    }

    #[test]
    fn empty_rule_is_fine() {
        let r = rules(json!([{}])).unwrap();
        assert!(r[0].from.is_none() && r[0].to.is_none() && r[0].when.is_empty());
    }

    #[test]
    fn structural_errors_follow_the_webhook() {
        assert_eq!(
            err(json!([{"from": []}])),
            "rules[0].from: must not be empty"
        );
        assert_eq!(
            err(json!([{"from": [{}]}])),
            "rules[0].from[0].source: must be set"
        );
        assert!(err(json!([{}, {"from": [{"source": {}}]}]))
            .starts_with("rules[1].from[0].source: must not be empty"));
        assert!(err(json!([{"to": [{"operation": {}}]}]))
            .starts_with("rules[0].to[0].operation: must not be empty"));
        assert_eq!(
            err(json!([{"to": [{}]}])),
            "rules[0].to[0].operation: must be set"
        );
        assert!(err(json!([{"when": [{"key": "source.ip"}]}])).contains("at least one of"));
    }

    #[test]
    fn value_errors_name_the_field() {
        let e = err(json!([{"from": [{"source": {"ipBlocks": ["10.0.0.0/8", "10.0.0.0/33"]}}]}]));
        assert_eq!(
            e,
            "rules[0].from[0].source.ipBlocks[1]: bad CIDR range (10.0.0.0/33)"
        );
        let e = err(json!([{"to": [{"operation": {"ports": ["http"]}}]}]));
        assert!(
            e.starts_with("rules[0].to[0].operation.ports[0]: bad port"),
            "{e}"
        );
        let e = err(json!([{"to": [{"operation": {"notPorts": ["70000"]}}]}]));
        assert!(e.starts_with("rules[0].to[0].operation.notPorts[0]"), "{e}");
        let e = err(json!([{"to": [{"operation": {"paths": ["/a/{x}/b"]}}]}]));
        assert!(e.starts_with("rules[0].to[0].operation.paths[0]"), "{e}");
        let e = err(json!([{"from": [{"source": {"principals": [""]}}]}]));
        assert!(e.contains("principals[0]: empty value"), "{e}");
        let e = err(
            json!([{"when": [{"key": "request.headers[x]", "values": ["a"], "notValues": [""]}]}]),
        );
        assert!(e.starts_with("rules[0].when[0].notValues[0]"), "{e}");
        let e = err(json!([{"from": [{"source": {"serviceAccounts": ["a", "a/b/c"]}}]}]));
        assert!(
            e.starts_with("rules[0].from[0].source.serviceAccounts[1]: expected format"),
            "{e}"
        );
        let e = err(json!([{"from": [{"source": {"notTrustDomains": ["a/b"]}}]}]));
        assert!(
            e.starts_with(
                "rules[0].from[0].source.notTrustDomains[0]: trust domain must not contain '/'"
            ),
            "{e}"
        );
    }

    #[test]
    fn service_accounts_follow_the_webhook() {
        let e =
            err(json!([{"from": [{"source": {"serviceAccounts": ["a"], "namespaces": ["x"]}}]}]));
        assert_eq!(
            e,
            "rules[0].from[0].source: cannot set serviceAccounts with namespaces or principals"
        );
        let e = err(
            json!([{"from": [{"source": {"notServiceAccounts": ["a"], "principals": ["x"]}}]}]),
        );
        assert!(e.contains("cannot set serviceAccounts"), "{e}");
        // Empty lists count for nothing, as in the webhook.
        assert!(rules(
            json!([{"from": [{"source": {"serviceAccounts": ["a"], "namespaces": []}}]}])
        )
        .is_ok());
        let many: Vec<String> = (0..17).map(|i| format!("sa{i}")).collect();
        let e = err(json!([{"from": [{"source": {"serviceAccounts": many}}]}]));
        assert_eq!(
            e,
            "rules[0].from[0].source.serviceAccounts: may not have more than 16 values"
        );
        let e = err(json!([{"when": [{"key": "source.serviceAccount", "values": many}]}]));
        assert_eq!(
            e,
            "rules[0].when[0].values: may not have more than 16 values"
        );
        assert!(rules(json!([{"from": [{"source": {"trustDomains": ["td"]}}]}])).is_ok());
        // `source.trustDomain` has only the wildcard checks: a `/` is accepted.
        assert!(
            rules(json!([{"when": [{"key": "source.trustDomain", "values": ["a/b"]}]}])).is_ok()
        );
        let e = err(json!([{"when": [{"key": "source.trustDomain", "values": ["a*b"]}]}]));
        assert!(
            e.starts_with("rules[0].when[0].values[0]: wildcard is only allowed"),
            "{e}"
        );
    }

    #[test]
    fn trust_domain_bundle_rewrites_principals_and_trust_domains() {
        let bundle = Bundle::new("td1", &["td2".to_string()]);
        let cx = Context {
            namespace: "default",
            bundle: &bundle,
        };
        let labels = |v: serde_json::Value| -> Vec<Vec<String>> {
            let rules: Vec<Rule> = crate::config::read::from_value(&v).unwrap();
            let c = compile_rules(&rules, cx).unwrap();
            let r = c.first().unwrap();
            r.from
                .iter()
                .flatten()
                .flatten()
                .chain(r.when.iter())
                .map(|c| c.label.values.clone())
                .collect()
        };
        assert_eq!(
            labels(json!([{"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b"]}}]}])),
            [["td1/ns/a/sa/b", "td2/ns/a/sa/b"]]
        );
        assert_eq!(
            labels(
                json!([{"when": [{"key": "source.principal", "notValues": ["td2/ns/a/sa/b"]}]}])
            ),
            [["td1/ns/a/sa/b", "td2/ns/a/sa/b"]]
        );
        assert_eq!(
            labels(json!([{"from": [{"source": {"notTrustDomains": ["td1"]}}]}])),
            [["td1", "td2"]]
        );
        assert_eq!(
            labels(json!([{"when": [{"key": "source.trustDomain", "values": ["td2", "x"]}]}])),
            [["td1", "td2", "x"]]
        );
        // An error names the value's place as written, before the rewrite.
        let rules: Vec<Rule> = crate::config::read::from_value(
            &json!([{"from": [{"source": {"principals": ["cluster.local/ns/a/sa/b", ""]}}]}]),
        )
        .unwrap();
        let e = compile_rules(&rules, cx).unwrap_err();
        assert!(
            e.starts_with("rules[0].from[0].source.principals[1]"),
            "{e}"
        );
    }

    #[test]
    fn custom_follows_the_webhook() {
        let spec = |v: serde_json::Value| -> AuthorizationPolicySpec {
            crate::config::read::from_value(&v).unwrap()
        };
        let e = check_custom(&spec(
            json!({"action": "CUSTOM", "provider": {"name": "x"}}),
        ));
        assert!(e
            .unwrap_err()
            .starts_with("rules: a CUSTOM policy without rules"));
        let e = check_custom(&spec(json!({"action": "CUSTOM", "rules": [{}]})));
        assert_eq!(e.unwrap_err(), "provider.name: must not be empty");
        let e = check_custom(&spec(
            json!({"action": "CUSTOM", "provider": {"name": ""}, "rules": [{}]}),
        ));
        assert_eq!(e.unwrap_err(), "provider.name: must not be empty");
        for field in [
            "namespaces",
            "notNamespaces",
            "serviceAccounts",
            "notServiceAccounts",
            "trustDomains",
            "notTrustDomains",
            "principals",
            "notPrincipals",
            "requestPrincipals",
            "notRequestPrincipals",
        ] {
            let e = check_custom(&spec(json!({"action": "CUSTOM", "provider": {"name": "x"},
                "rules": [{}, {"from": [{"source": {"ipBlocks": ["1.2.3.4"]}}, {"source": {field: ["a"]}}]}]})));
            assert_eq!(
                e.unwrap_err(),
                format!("rules[1].from[1].source.{field}: {field} is currently not supported with CUSTOM action")
            );
        }
        for key in [
            "source.namespace",
            "source.serviceAccount",
            "source.trustDomain",
            "source.principal",
            "request.auth.claims[x]",
            "request.auth.principal",
        ] {
            let e = check_custom(&spec(json!({"action": "CUSTOM", "provider": {"name": "x"},
                "rules": [{"when": [{"key": key, "values": ["a"]}]}]})));
            assert_eq!(
                e.unwrap_err(),
                format!(
                    "rules[0].when[0].key: {key} is currently not supported with CUSTOM action"
                )
            );
        }
        assert!(
            check_custom(&spec(json!({"action": "CUSTOM", "provider": {"name": "x"},
            "rules": [{"from": [{"source": {"ipBlocks": ["1.2.3.4"]}}],
                       "when": [{"key": "request.headers[x]", "values": ["a"]}]}]})))
            .is_ok()
        );
    }

    #[test]
    fn condition_keys() {
        for ok in [
            "request.headers[x-a]",
            "source.ip",
            "remote.ip",
            "source.namespace",
            "source.principal",
            "source.serviceAccount",
            "source.trustDomain",
            "request.auth.principal",
            "request.auth.audiences",
            "request.auth.presenter",
            "request.auth.claims[groups]",
            "request.auth.claims[a][b]",
            "destination.ip",
            "destination.port",
            "connection.sni",
        ] {
            let v = if ok.ends_with(".ip") {
                "10.0.0.1"
            } else if ok.ends_with("port") {
                "80"
            } else {
                "x"
            };
            assert!(
                rules(json!([{"when": [{"key": ok, "values": [v]}]}])).is_ok(),
                "{ok}"
            );
        }
        for bad in [
            "request.headers",
            "request.headers[]",
            "request.auth.claims[a][]",
            "experimental.envoy.filters.x[y]",
            "destination.labels[v]",
            "source.user",
            "request.headers[a",
        ] {
            let e = err(json!([{"when": [{"key": bad, "values": ["x"]}]}]));
            assert!(e.starts_with("rules[0].when[0].key"), "{bad}: {e}");
        }
        let e = err(json!([{"when": [{"key": "destination.port", "values": ["x"]}]}]));
        assert!(e.starts_with("rules[0].when[0].values[0]: bad port"), "{e}");
    }
}
