"""The audit entry: its log line, its fields, and the `audit.log` setting."""

import json
import re
import uuid

from .harness.expect import expect
from .harness.resources import authz, plugin_config

ALLOW_OK = authz("allow-ok", {"action": "ALLOW", "rules": [{"to": [{"operation": {"paths": ["/ok"]}}]}]})
FIELDS = {"time", "request_id", "decision", "status", "reason", "policy", "rule", "action", "audit", "dry_run",
          "method", "host", "path", "source", "destination", "auth"}
LINE = re.compile(r"^\[[^\]]+\]\[\d+\]\[info\]\[wasm\] .*wasm log [^{]*: (\{.*\})$")


class TestAuditEntry:
    config = plugin_config([ALLOW_OK])

    def test_one_info_line_of_the_wasm_logger_holding_one_json_object(self, envoy):
        resp = envoy.request("GET", "/ok")
        line = resp.audit_line()
        match = LINE.match(line)
        assert match, f"not an info line of the wasm logger ending in one JSON object: {line}"
        assert json.loads(match.group(1))["request_id"] == resp.request_id

    def test_fields(self, envoy):
        resp = envoy.request("GET", "/ok?token=secret-value", peer=("default", "frontend"), host="backend.default")
        entry = expect(resp, 200, "allow_matched", policy="default.allow-ok", rule=0, action="ALLOW",
                       audit=False, dry_run=None, method="GET", host="backend.default", path="/ok")
        assert FIELDS <= entry.keys(), f"missing fields {FIELDS - entry.keys()}"
        assert isinstance(entry["time"], str) and entry["time"]
        assert entry["request_id"] == resp.request_id
        assert entry["source"]["principal"] == "cluster.local/ns/default/sa/frontend"
        assert entry["source"]["namespace"] == "default"
        assert "127.0.0.1" in entry["source"]["address"]
        assert "127.0.0.1" in entry["destination"]["address"]
        assert entry["destination"]["port"] == envoy.port
        assert entry["auth"]["principal"] is None
        assert entry["auth"]["error"] is None
        assert "secret-value" not in resp.audit_line(), "the query string must not be logged"

    def test_source_address_without_ip_policies_is_envoys(self, envoy):
        # No policy matches on IPs, so the address is read when the entry is written, not
        # before the decision: it must still be the one Envoy reports for this request (the
        # X-Forwarded-For client, port 0), not a stale or a missing one.
        forwarded = envoy.request("GET", "/ok", headers={"x-forwarded-for": "10.9.9.9"})
        assert expect(forwarded, 200, "allow_matched")["source"]["address"] == "10.9.9.9:0"
        direct = expect(envoy.request("GET", "/ok"), 200, "allow_matched")
        assert re.fullmatch(r"127\.0\.0\.1:\d+", direct["source"]["address"])
        assert not direct["source"]["address"].endswith(":0")

    def test_denial_status_is_the_final_status(self, envoy):
        expect(envoy.request("POST", "/no", body=b"x"), 403, "no_allow_match", policy=None, rule=None, action=None)

    def test_own_request_id_is_kept(self, envoy):
        rid = f"test-{uuid.uuid4()}"
        resp = envoy.request("GET", "/ok", headers={"x-request-id": rid})
        assert resp.request_id == rid
        expect(resp, 200, "allow_matched", request_id=rid)


class TestAuditLogDeny:
    """audit.log "deny": denials only."""

    config = plugin_config([ALLOW_OK], audit="deny")

    def test_logs_denials_only(self, envoy):
        allowed = envoy.request("GET", "/ok")
        denied = envoy.request("GET", "/no")
        assert allowed.status == 200
        expect(denied, 403, "no_allow_match")
        # One worker logs streams in order: once the later denial is logged, the allowed one would be too.
        assert allowed.audit_records(timeout=0) == [], "an allowed request was logged with audit.log=deny"


class TestAuditLogNone:
    """audit.log "none": nothing is logged, decisions still enforced."""

    config = plugin_config([ALLOW_OK], audit="none")

    def test_logs_nothing(self, envoy):
        allowed = envoy.request("GET", "/ok")
        denied = envoy.request("GET", "/no")
        assert (allowed.status, denied.status, denied.text) == (200, 403, "RBAC: access denied")
        # Nothing to wait for: give the log a moment, then require silence.
        assert denied.audit_records(timeout=1.0) == [] and allowed.audit_records(timeout=0) == []
        assert envoy.audit_log.entries() == []
