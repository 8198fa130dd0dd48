//! What `check` prints: the decision as the proxy would act on it, then each applicable
//! policy's rules with the first field that failed. Text for people, JSON for machines.

use crate::authn::request_authn::HeaderOps;
use crate::config::spec::Action;
use crate::engine::{Decision, Reason, Reply};
use crate::policy::explain::RuleExplanation;
use crate::policy::rule::Tri;
use crate::request::Request;
use serde_json::{json, Value};
use std::fmt::Write;

pub struct PolicyReport {
    pub id: String,
    pub action: Action,
    pub dry_run: bool,
    pub rules: Vec<RuleExplanation>,
}

pub struct Report<'a> {
    pub workload: String,
    pub request: &'a Request,
    pub decision: &'a Decision,
    pub reply: Option<&'a Reply>,
    pub ops: &'a HeaderOps,
    /// The header names the request carried before the proxy changed them.
    pub sent: Vec<String>,
    /// `None` when the request was refused before authorization.
    pub policies: Option<Vec<PolicyReport>>,
    pub notes: Vec<String>,
}

fn peer(r: &Request) -> String {
    match (r.peer.authenticated, r.peer.principal()) {
        (true, Some(p)) => format!("{p} (mTLS)"),
        (true, None) => format!(
            "{} (mTLS, not a SPIFFE identity)",
            r.peer.principal_name.as_deref().unwrap_or("")
        ),
        (false, _) => "plaintext (no client certificate)".into(),
    }
}

/// What a rule's result means for its policy, beyond the explanation itself.
fn note(p: &PolicyReport, rule: &RuleExplanation, d: &Decision) -> &'static str {
    let decided = d.policy.as_deref() == Some(p.id.as_str()) && d.rule == Some(rule.rule);
    // `Unknown` resolves to the safe side: a match for DENY, CUSTOM and AUDIT, none for ALLOW.
    let unknown = rule.result == Tri::Unknown;
    let fails_closed = p.action != Action::Allow;
    if decided {
        return if unknown {
            " (decided: an undecidable DENY rule counts as a match)"
        } else {
            " (decided)"
        };
    }
    if unknown {
        return if fails_closed {
            " (counts as a match: a DENY fails closed)"
        } else {
            " (counts as no match: an ALLOW fails closed)"
        };
    }
    if rule.result != Tri::True {
        ""
    } else if p.dry_run {
        " (dry-run: not enforced)"
    } else if p.action == Action::Audit {
        " (audit: the request is marked)"
    } else if p.action == Action::Allow
        && matches!(d.action, Some(Action::Deny) | Some(Action::Custom))
    {
        " (not consulted: DENY and CUSTOM are evaluated before ALLOW)"
    } else {
        ""
    }
}

pub fn text(rep: &Report) -> String {
    let d = rep.decision;
    let r = rep.request;
    let mut out = String::new();
    let mut line = |k: &str, v: String| {
        let _ = writeln!(out, "{k:<9} {v}");
    };
    line("decision:", if d.allow { "allow" } else { "deny" }.into());
    match rep.reply {
        None => line("status:", "forwarded upstream".into()),
        Some(reply) if reply.body.is_empty() => {
            line("status:", format!("{} (empty body)", reply.status))
        }
        Some(reply) => line("status:", format!("{} {}", reply.status, reply.body)),
    }
    for (name, value) in rep.reply.map(|x| x.headers.as_slice()).unwrap_or(&[]) {
        line("header:", format!("{name}: {value}"));
    }
    line("reason:", d.reason.as_str().into());
    if let Some(policy) = &d.policy {
        let index = d.rule.map_or(String::new(), |i| i.to_string());
        let text = match (d.reason, d.action) {
            (Reason::HttpsRedirect, _) => format!("{policy} server {index} (Gateway)"),
            (_, Some(action)) => format!("{policy} rule {index} ({})", action.as_str()),
            (_, None) => format!("{policy} rule {index}"),
        };
        line("policy:", text);
    }
    line("workload:", rep.workload.clone());
    let port = r.port().map_or_else(|| "unknown".into(), |p| p.to_string());
    line(
        "request:",
        format!(
            "{} {} host {} port {port}",
            r.method,
            r.url_path(),
            r.authority
        ),
    );
    line("peer:", peer(r));
    if let Some(m) = &d.mtls {
        let mut v = m.mode.as_str().to_string();
        if m.violation {
            v.push_str(if m.enforced {
                ": plaintext refused"
            } else {
                ": plaintext reported (strictMtls: report)"
            });
        }
        line("mtls:", v);
    }
    if let Some(e) = &d.egress {
        let port = e.port.map_or_else(|| "unknown".into(), |p| p.to_string());
        let se = e.service_entry.as_deref().unwrap_or("no ServiceEntry");
        line("egress:", format!("{}:{port} ({se})", e.host));
    }
    match (&d.auth.principal, d.auth.error) {
        (_, Some(error)) => line("jwt:", format!("refused: {error}")),
        (Some(p), None) => line("jwt:", format!("verified: {p}")),
        (None, None) if r.jwt.is_some() => line("jwt:", "verified (no iss and sub)".into()),
        (None, None) => {}
    }
    let (removed, added) = (rep.ops.removed(), rep.ops.added());
    if !added.is_empty() || removed.iter().any(|h| rep.sent.iter().any(|s| s == h)) {
        // Client copies of a header the proxy then writes are removed first: show the net change.
        let mut changes: Vec<String> = removed
            .iter()
            .filter(|h| !added.contains(h) && rep.sent.iter().any(|s| s == *h))
            .map(|h| format!("-{h}"))
            .collect();
        changes.extend(added.iter().map(|h| format!("+{h}")));
        line("headers:", changes.join(" "));
    }
    if let Some(path) = rep.ops.path() {
        line("path:", format!("{path} (token removed from the query)"));
    }
    if d.audit {
        line("audit:", "an AUDIT policy matched".into());
    }
    if let Some(dry) = &d.dry_run {
        let verdict = if dry.allow { "allow" } else { "deny" };
        let by = dry
            .policy
            .as_deref()
            .map(|p| format!(" ({p})"))
            .unwrap_or_default();
        line(
            "dry-run:",
            format!("enforcing dry-run policies would {verdict}{by}"),
        );
    }
    for n in &rep.notes {
        line("note:", n.clone());
    }
    match &rep.policies {
        None => {
            let _ = writeln!(
                out,
                "policies: not evaluated: the request was refused before authorization"
            );
        }
        Some(list) if list.is_empty() => {
            let _ = writeln!(
                out,
                "policies: no AuthorizationPolicy applies to this workload"
            );
        }
        Some(list) => {
            let _ = writeln!(out, "policies:");
            for p in list {
                let action = p.action.as_str();
                let dry = if p.dry_run { " [dry-run]" } else { "" };
                if p.rules.is_empty() {
                    let _ = writeln!(
                        out,
                        "  {action:<6} {}{dry}: no rules (matches no request)",
                        p.id
                    );
                }
                for rule in &p.rules {
                    let _ = writeln!(
                        out,
                        "  {action:<6} {}{dry} rule {}: {rule}{}",
                        p.id,
                        rule.rule,
                        note(p, rule, rep.decision)
                    );
                }
            }
        }
    }
    out
}

fn tri(t: Tri) -> &'static str {
    match t {
        Tri::True => "match",
        Tri::False => "no_match",
        Tri::Unknown => "unknown",
    }
}

pub fn json(rep: &Report) -> String {
    let d = rep.decision;
    let r = rep.request;
    let reply = rep.reply.map(|x| {
        let headers: serde_json::Map<String, Value> = x
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        json!({"status": x.status, "body": x.body, "headers": headers})
    });
    let policies = rep.policies.as_ref().map(|list| {
        list.iter()
            .map(|p| {
                let rules: Vec<Value> = p
                    .rules
                    .iter()
                    .map(|rule| {
                        let failures: Vec<Value> = rule
                            .failures
                            .iter()
                            .map(|f| {
                                json!({"at": f.at, "field": f.field, "values": f.values,
                                       "negated": f.negated, "result": tri(f.result),
                                       "request": f.request, "text": f.to_string()})
                            })
                            .collect();
                        json!({"rule": rule.rule, "result": tri(rule.result),
                               "text": format!("{rule}{}", note(p, rule, d)),
                               "failures": failures})
                    })
                    .collect();
                json!({"policy": p.id, "action": p.action.as_str(), "dry_run": p.dry_run,
                       "rules": rules})
            })
            .collect::<Vec<_>>()
    });
    let out = json!({
        "decision": if d.allow { "allow" } else { "deny" },
        "reply": reply,
        "reason": d.reason.as_str(),
        "policy": d.policy,
        "rule": d.rule,
        "action": d.action.map(Action::as_str),
        "audit": d.audit,
        "dry_run": d.dry_run.as_ref().map(|x| json!({
            "decision": if x.allow { "allow" } else { "deny" }, "policy": x.policy})),
        "workload": rep.workload,
        "request": {
            "method": r.method, "host": r.authority, "path": r.url_path(), "port": r.port(),
            "direction": r.direction.as_str(),
            "peer": r.peer.principal_name.as_deref().map(|p| p.trim_start_matches("spiffe://")),
        },
        "mtls": d.mtls.map(|m| json!({"mode": m.mode.as_str(), "violation": m.violation,
                                       "enforced": m.enforced})),
        "egress": d.egress.as_ref().map(|e| json!({"host": e.host, "port": e.port,
                                                    "service_entry": e.service_entry})),
        "auth": {"principal": d.auth.principal, "audiences": d.auth.audiences,
                 "error": d.auth.error},
        "headers": {"removed": rep.ops.removed(), "added": rep.ops.added(),
                    "path": rep.ops.path()},
        "policies": policies,
        "notes": rep.notes,
    });
    format!("{out:#}\n")
}
