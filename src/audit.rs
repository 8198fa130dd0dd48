//! The audit entry: one JSON object per request, written when the stream completes.
//! It never carries header values, the query string, tokens or cookies.

use crate::config::AuditLog;
use crate::engine::Decision;
use crate::request::Request;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

/// `,"name":` before a member's value, as one constant: the member names are the entry's own,
/// nothing in them needs escaping, and one copy is cheaper than building it.
macro_rules! key {
    ($w:expr, $name:literal) => {
        $w.member(concat!(",\"", $name, "\":"))
    };
}

/// The entry as one line of JSON.
pub fn render(c: &Context<'_>) -> String {
    let mut line = String::new();
    render_into(c, &mut line);
    line
}

/// The entry as one line of JSON, written into `out` (cleared first), so the proxy can reuse one
/// buffer. Written by hand rather than through serde: this runs on every request, and the
/// fields are a fixed set of strings, integers, booleans and nulls (the tests check the result
/// against serde_json's reading of it).
pub fn render_into(c: &Context<'_>, out: &mut String) {
    let r = c.request;
    let d = c.decision;
    out.clear();
    let mut w = Writer { out };
    w.out.push_str("{\"time\":\"");
    rfc3339_into(c.now, w.out);
    w.out.push('"');
    key!(w, "request_id").opt_str(c.request_id);
    key!(w, "decision").word(decision_word(d.allow));
    key!(w, "status").opt_uint(c.status.map(u64::from));
    key!(w, "reason").word(d.reason.as_str());
    key!(w, "policy").opt_str(d.policy.as_deref());
    key!(w, "rule").opt_uint(d.rule.map(|n| n as u64));
    key!(w, "action").opt_str(d.action.map(|a| a.as_str()));
    key!(w, "audit").bool(d.audit);
    key!(w, "dry_run");
    match &d.dry_run {
        Some(dr) => {
            w.out.push_str("{\"decision\":");
            w.word(decision_word(dr.allow));
            key!(w, "policy").opt_str(dr.policy.as_deref());
            w.out.push('}');
        }
        None => w.null(),
    }
    key!(w, "method").str(&r.method);
    key!(w, "host").str(&r.authority);
    // null for a request without a :path (CONNECT).
    key!(w, "path").opt_str(r.url_path_opt());
    w.out.push_str(",\"source\":{\"address\":");
    w.opt_str(r.source_address.as_deref());
    key!(w, "principal").opt_str(r.peer.principal());
    key!(w, "namespace").opt_str(r.peer.namespace());
    w.out.push_str("},\"destination\":{\"address\":");
    w.opt_str(c.destination_address);
    key!(w, "port").opt_uint(r.destination_port.map(u64::from));
    w.out.push_str("},\"auth\":{\"principal\":");
    w.opt_str(d.auth.principal.as_deref());
    key!(w, "audiences");
    match &d.auth.audiences {
        Some(list) => {
            w.out.push('[');
            for (i, a) in list.iter().enumerate() {
                if i > 0 {
                    w.out.push(',');
                }
                w.str(a);
            }
            w.out.push(']');
        }
        None => w.null(),
    }
    key!(w, "error").opt_str(d.auth.error);
    w.out.push('}');
    key!(w, "direction").word(d.direction.as_str());
    key!(w, "mtls");
    match &d.mtls {
        Some(m) => {
            w.out.push_str("{\"mode\":");
            w.word(m.mode.as_str());
            key!(w, "violation").bool(m.violation);
            key!(w, "enforced").bool(m.enforced);
            w.out.push('}');
        }
        None => w.null(),
    }
    key!(w, "egress");
    match &d.egress {
        Some(e) => {
            w.out.push_str("{\"host\":");
            w.str(&e.host);
            key!(w, "port").opt_uint(e.port.map(u64::from));
            key!(w, "service_entry").opt_str(e.service_entry.as_deref());
            w.out.push('}');
        }
        None => w.null(),
    }
    w.out.push('}');
}

/// Appends JSON values to the line. `key!` writes the comma before a member, so every member
/// after the first goes through it.
struct Writer<'b> {
    out: &'b mut String,
}

impl Writer<'_> {
    /// Appends `member`, a `,"name":` that `key!` spelled out at compile time.
    fn member(&mut self, member: &'static str) -> &mut Self {
        self.out.push_str(member);
        self
    }

    /// One of meshguard's own words (a reason code, an action, a direction): plain ASCII,
    /// nothing to escape, so not scanned.
    fn word(&mut self, s: &'static str) {
        self.out.push('"');
        self.out.push_str(s);
        self.out.push('"');
    }

    fn null(&mut self) {
        self.out.push_str("null");
    }

    fn bool(&mut self, b: bool) {
        self.out.push_str(if b { "true" } else { "false" });
    }

    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.str(s),
            None => self.null(),
        }
    }

    fn opt_uint(&mut self, n: Option<u64>) {
        match n {
            Some(n) => push_uint(self.out, n, 1),
            None => self.null(),
        }
    }

    /// A JSON string: `"` and `\` escaped, control characters as `\n`, `\t`... or `\u00XX`,
    /// everything else (valid UTF-8 already) as it is. Runs without anything to escape (nearly
    /// every string) are found by one tight scan and copied whole.
    fn str(&mut self, s: &str) {
        self.out.push('"');
        let bytes = s.as_bytes();
        let mut plain = 0;
        while let Some(i) = bytes
            .get(plain..)
            .and_then(|rest| {
                rest.iter()
                    .position(|&b| b < 0x20 || b == b'"' || b == b'\\')
            })
            .map(|at| plain + at)
        {
            // `i` is at an ASCII byte, so both slices end on character boundaries.
            self.out.push_str(s.get(plain..i).unwrap_or_default());
            let b = bytes.get(i).copied().unwrap_or_default();
            let escaped = match b {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0x08 => "\\b",
                0x0c => "\\f",
                _ => "",
            };
            if escaped.is_empty() {
                self.out.push_str("\\u00");
                for nibble in [b >> 4, b & 0xf] {
                    self.out.extend(char::from_digit(u32::from(nibble), 16));
                }
            } else {
                self.out.push_str(escaped);
            }
            plain = i + 1;
        }
        self.out.push_str(s.get(plain..).unwrap_or_default());
        self.out.push('"');
    }
}

/// `n` in decimal, zero-padded to at least `width` digits (no formatting machinery): the
/// digits are made last to first in a buffer of zeros and copied once.
fn push_uint(out: &mut String, mut n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut len = 0;
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    let len = len.max(width).min(buf.len());
    let digits = buf.get(buf.len() - len..).unwrap_or_default();
    out.push_str(std::str::from_utf8(digits).unwrap_or_default());
}

/// `2026-11-23T16:38:16.123Z`
pub fn rfc3339(t: SystemTime) -> String {
    let mut out = String::with_capacity(24);
    rfc3339_into(t, &mut out);
    out
}

fn rfc3339_into(t: SystemTime, out: &mut String) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = d.as_secs();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, day) = civil_from_days(days);
    push_uint(out, y.max(0) as u64, 4);
    out.push('-');
    push_uint(out, m.into(), 2);
    out.push('-');
    push_uint(out, day.into(), 2);
    out.push('T');
    push_uint(out, rem / 3600, 2);
    out.push(':');
    push_uint(out, (rem / 60) % 60, 2);
    out.push(':');
    push_uint(out, rem % 60, 2);
    out.push('.');
    push_uint(out, d.subsec_millis().into(), 3);
    out.push('Z');
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
            headers: [
                ("authorization", &b"Bearer SECRET"[..]),
                ("cookie", &b"s=SECRET"[..]),
            ]
            .into_iter()
            .collect::<crate::request::Headers>(),
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
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let mut samples: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        samples.extend(
            [
                "",
                "plain",
                "a\"b\\c",
                "\u{1f}x\u{7f}",
                "é/ü\u{2028}日本",
                "\r\n\t\u{8}\u{c}",
            ]
            .map(String::from),
        );
        samples.push(samples.concat());
        for s in &samples {
            let mut line = String::new();
            Writer { out: &mut line }.str(s);
            assert_eq!(line, serde_json::to_string(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn integers_and_times() {
        for (n, width, want) in [
            (0, 1, "0"),
            (7, 2, "07"),
            (2026, 4, "2026"),
            (15006, 1, "15006"),
        ] {
            let mut out = String::new();
            push_uint(&mut out, n, width);
            assert_eq!(out, want);
        }
        let mut out = String::new();
        push_uint(&mut out, u64::MAX, 1);
        assert_eq!(out, u64::MAX.to_string());
        let t = UNIX_EPOCH + Duration::from_millis(253_402_300_799_999); // 9999-12-31
        assert_eq!(rfc3339(t), "9999-12-31T23:59:59.999Z");
    }

    #[test]
    fn every_field_in_order_with_nulls_and_lists() {
        let r = Request {
            method: "POST".into(),
            path: "/p".into(),
            authority: "h".into(),
            ..Default::default()
        };
        let d = Decision {
            allow: true,
            reason: Reason::Authz(AuthzReason::NoAllowPolicies),
            policy: None,
            rule: None,
            action: None,
            audit: false,
            dry_run: None,
            direction: crate::request::Direction::Outbound,
            mtls: None,
            egress: Some(crate::engine::EgressReport {
                host: "api.stripe.com".into(),
                port: Some(443),
                service_entry: None,
            }),
            auth: crate::engine::AuthReport {
                principal: Some("iss/sub".into()),
                audiences: Some(vec!["a".into(), "b\"".into()]),
                error: None,
                cached: false,
            },
        };
        let mut line = String::from("left over from the last request");
        render_into(
            &Context {
                request: &r,
                decision: &d,
                destination_address: None,
                request_id: None,
                status: None,
                now: UNIX_EPOCH,
            },
            &mut line,
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "time": "1970-01-01T00:00:00.000Z", "request_id": null, "decision": "allow",
                "status": null, "reason": "no_allow_policies", "policy": null, "rule": null,
                "action": null, "audit": false, "dry_run": null, "method": "POST", "host": "h",
                "path": "/p", "source": {"address": null, "principal": null, "namespace": null},
                "destination": {"address": null, "port": null},
                "auth": {"principal": "iss/sub", "audiences": ["a", "b\""], "error": null},
                "direction": "outbound", "mtls": null,
                "egress": {"host": "api.stripe.com", "port": 443, "service_entry": null}
            })
        );
        let order = [
            "time",
            "request_id",
            "decision",
            "status",
            "reason",
            "policy",
            "rule",
            "action",
            "audit",
            "dry_run",
            "method",
            "host",
            "path",
            "source",
            "destination",
            "auth",
            "direction",
            "mtls",
            "egress",
        ];
        let at: Vec<usize> = order
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(at.windows(2).all(|w| w[0] < w[1]), "{line}");
    }

    #[test]
    fn log_levels() {
        assert!(wanted(AuditLog::All, true));
        assert!(!wanted(AuditLog::Deny, true));
        assert!(wanted(AuditLog::Deny, false));
        assert!(!wanted(AuditLog::None, false));
    }
}
