//! The audit entry: one JSON object per request, written when the stream completes.
//! It never carries header values, the query string, tokens or cookies.

use crate::config::AuditLog;
use crate::engine::Decision;
use crate::request::Request;
use serde::Serialize;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug, Serialize)]
pub struct Entry<'a> {
    pub time: String,
    pub request_id: Option<&'a str>,
    pub decision: &'static str,
    pub status: Option<u32>,
    pub reason: &'static str,
    pub policy: Option<&'a str>,
    pub rule: Option<usize>,
    pub action: Option<&'static str>,
    pub audit: bool,
    pub dry_run: Option<DryRunEntry<'a>>,
    pub method: &'a str,
    pub host: &'a str,
    pub path: &'a str,
    pub source: Source<'a>,
    pub destination: Destination<'a>,
    pub auth: Auth<'a>,
    pub direction: &'static str,
    pub mtls: Option<Mtls>,
    pub egress: Option<Egress<'a>>,
}

#[derive(Debug, Serialize)]
pub struct Mtls {
    pub mode: &'static str,
    pub violation: bool,
    pub enforced: bool,
}

#[derive(Debug, Serialize)]
pub struct Egress<'a> {
    pub host: &'a str,
    pub port: Option<u16>,
    pub service_entry: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct DryRunEntry<'a> {
    pub decision: &'static str,
    pub policy: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct Source<'a> {
    pub address: Option<&'a str>,
    pub principal: Option<&'a str>,
    pub namespace: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct Destination<'a> {
    pub address: Option<&'a str>,
    pub port: Option<u16>,
}

#[derive(Debug, Serialize)]
pub struct Auth<'a> {
    pub principal: Option<&'a str>,
    pub audiences: Option<Vec<&'a str>>,
    pub error: Option<&'a str>,
}

fn decision_word(allow: bool) -> &'static str {
    if allow {
        "allow"
    } else {
        "deny"
    }
}

/// Whether `log` asks for an entry for this decision.
pub fn wanted(log: AuditLog, allow: bool) -> bool {
    match log {
        AuditLog::All => true,
        AuditLog::Deny => !allow,
        AuditLog::None => false,
    }
}

pub struct Context<'a> {
    pub request: &'a Request,
    pub decision: &'a Decision,
    pub destination_address: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub status: Option<u32>,
    pub now: SystemTime,
}

/// The entry as one line of JSON.
pub fn render(c: &Context<'_>) -> String {
    let r = c.request;
    let d = c.decision;
    let entry = Entry {
        time: rfc3339(c.now),
        request_id: c.request_id,
        decision: decision_word(d.allow),
        status: c.status,
        reason: d.reason.as_str(),
        policy: d.policy.as_deref(),
        rule: d.rule,
        action: d.action.map(|a| a.as_str()),
        audit: d.audit,
        dry_run: d.dry_run.as_ref().map(|dr| DryRunEntry {
            decision: decision_word(dr.allow),
            policy: dr.policy.as_deref(),
        }),
        method: &r.method,
        host: &r.authority,
        path: r.url_path(),
        source: Source {
            address: r.source_address.as_deref(),
            principal: r.peer.principal(),
            namespace: r.peer.namespace(),
        },
        destination: Destination {
            address: c.destination_address,
            port: r.destination_port,
        },
        auth: Auth {
            principal: d.auth.principal.as_deref(),
            audiences: d
                .auth
                .audiences
                .as_ref()
                .map(|a| a.iter().map(String::as_str).collect()),
            error: d.auth.error,
        },
        direction: d.direction.as_str(),
        mtls: d.mtls.map(|m| Mtls {
            mode: m.mode.as_str(),
            violation: m.violation,
            enforced: m.enforced,
        }),
        egress: d.egress.as_ref().map(|e| Egress {
            host: &e.host,
            port: e.port,
            service_entry: e.service_entry.as_deref(),
        }),
    };
    // Serializing plain strings, numbers and options cannot fail; keep a valid line anyway.
    serde_json::to_string(&entry)
        .unwrap_or_else(|_| r#"{"decision":"deny","reason":"audit_unavailable"}"#.to_string())
}

/// `2026-11-23T16:38:16.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Days since 1970-01-01 -> (year, month, day) in the proleptic Gregorian calendar
/// (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Decision, DryRun, Reason};
    use crate::policy::AuthzReason;
    use crate::request::Peer;

    #[test]
    fn time_format() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_795_451_896_123);
        assert_eq!(rfc3339(t), "2026-11-23T16:38:16.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn entry_shape_and_no_secrets() {
        let r = Request {
            method: "GET".into(),
            path: "/api/v1/data?access_token=SECRET".into(),
            authority: "backend\"\n".into(),
            headers: vec![
                ("authorization".into(), b"Bearer SECRET".to_vec()),
                ("cookie".into(), b"s=SECRET".to_vec()),
            ],
            peer: Peer::mtls("spiffe://cluster.local/ns/default/sa/frontend"),
            source_address: Some("127.0.0.1:5000".into()),
            destination_port: Some(15006),
            ..Default::default()
        };
        let d = Decision {
            allow: false,
            reason: Reason::Authz(AuthzReason::DenyMatched),
            policy: Some("default.deny-all".into()),
            rule: Some(0),
            action: Some(crate::config::spec::Action::Deny),
            audit: true,
            dry_run: Some(DryRun {
                allow: true,
                policy: None,
            }),
            direction: crate::request::Direction::Inbound,
            mtls: Some(crate::engine::MtlsReport {
                mode: crate::config::spec::MtlsMode::Strict,
                violation: false,
                enforced: true,
            }),
            egress: None,
            auth: crate::engine::AuthReport::default(),
        };
        let line = render(&Context {
            request: &r,
            decision: &d,
            destination_address: Some("127.0.0.1:15006"),
            request_id: Some("rid-1"),
            status: Some(403),
            now: UNIX_EPOCH,
        });
        assert!(!line.contains('\n'));
        assert!(!line.contains("SECRET"), "{line}");
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["decision"], "deny");
        assert_eq!(v["status"], 403);
        assert_eq!(v["reason"], "deny_matched");
        assert_eq!(v["policy"], "default.deny-all");
        assert_eq!(v["rule"], 0);
        assert_eq!(v["action"], "DENY");
        assert_eq!(v["audit"], true);
        assert_eq!(v["dry_run"]["decision"], "allow");
        assert_eq!(v["path"], "/api/v1/data");
        assert_eq!(v["host"], "backend\"\n");
        assert_eq!(
            v["source"]["principal"],
            "cluster.local/ns/default/sa/frontend"
        );
        assert_eq!(v["source"]["namespace"], "default");
        assert_eq!(v["destination"]["port"], 15006);
        assert_eq!(v["request_id"], "rid-1");
        assert!(v["auth"]["principal"].is_null());
        assert_eq!(v["direction"], "inbound");
        assert_eq!(
            v["mtls"],
            serde_json::json!({"mode": "STRICT", "violation": false, "enforced": true})
        );
        assert!(v["egress"].is_null());
    }

    #[test]
    fn log_levels() {
        assert!(wanted(AuditLog::All, true));
        assert!(!wanted(AuditLog::Deny, true));
        assert!(wanted(AuditLog::Deny, false));
        assert!(!wanted(AuditLog::None, false));
    }
}
