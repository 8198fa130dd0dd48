"""What operators watch: the plugin's counters in Envoy's /stats and the decision in Envoy's
access log (envoy/envoy.yaml's JSON access log reads the filter state the plugin sets)."""

from __future__ import annotations

import json
import time

from .harness import jwt
from .harness.admin import plugin_counters
from .harness.expect import expect
from .harness.resources import authz, dry_run, jwt_rule, plugin_config, request_authn
from .seeds import SEED_001_ALLOW_FRONTEND_GET_DATA

FRONTEND = ("default", "frontend")
ISSUER = "https://issuer.observability.test"


def access_log(envoy, request_id: str, timeout: float = 5.0) -> dict:
    """The access log line (one JSON object per line in Envoy's output) of `request_id`."""
    deadline = time.monotonic() + timeout
    while True:
        for line in envoy.log_text().splitlines():
            if line.startswith("{") and request_id in line:
                entry = json.loads(line)
                if entry.get("request_id") == request_id:
                    return entry
        assert time.monotonic() < deadline, f"no access log line for {request_id}"
        time.sleep(0.05)


def _token(claims: dict) -> str:
    return jwt.keys().get("HS256").sign({"iss": ISSUER, **claims})


class TestCountersAndAccessLog:
    config = plugin_config([
        authz("deny-all", {}),
        SEED_001_ALLOW_FRONTEND_GET_DATA,
        authz("deny-admin", {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]}),
        dry_run(authz("dry-deny-data", {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/api/v1/data"]}}]}]})),
        authz("audit-all", {"action": "AUDIT", "rules": [{}]}),
        request_authn("jwt", [jwt_rule(ISSUER, jwks=jwt.jwks_json([jwt.keys().get("HS256")]))]),
    ], filter_state=True)

    def test_counters_follow_the_decisions(self, envoy):
        good = _token({"sub": "alice"})
        ok = envoy.request("GET", "/api/v1/data", peer=FRONTEND, headers={"authorization": f"Bearer {good}"})
        again = envoy.request("GET", "/api/v1/data", peer=FRONTEND, headers={"authorization": f"Bearer {good}"})
        post = envoy.request("POST", "/api/v1/data", peer=FRONTEND)
        admin = envoy.request("GET", "/admin", peer=FRONTEND)
        expired = envoy.request("GET", "/api/v1/data", peer=FRONTEND,
                                headers={"authorization": f"Bearer {_token({'sub': 'bob', 'exp': 1})}"})
        for resp in (ok, again):
            expect(resp, 200, "allow_matched", policy="default.allow-frontend-get-data", audit=True,
                   dry_run={"decision": "deny", "policy": "default.dry-deny-data"})
        expect(post, 403, "no_allow_match")
        expect(admin, 403, "deny_matched", policy="default.deny-admin")
        assert expired.status == 401
        s = plugin_counters(envoy)
        want = {
            "meshguard.requests.allowed": 2,
            "meshguard.requests.denied": 3,
            "meshguard.requests.denied.no_allow_match": 1,
            "meshguard.requests.denied.policy": 1,
            "meshguard.requests.denied.jwt": 1,
            "meshguard.dry_run.would_deny": 2,
            "meshguard.audit.matched": 4,
            "meshguard.jwt.verified": 2,
            "meshguard.jwt.cache_hit": 1,
            "meshguard.jwt.failed": 1,
            "meshguard.policy.default.allow-frontend-get-data.allowed": 2,
            "meshguard.policy.default.deny-admin.denied": 1,
        }
        wrong = {k: (s.get(k), v) for k, v in want.items() if s.get(k) != v}
        assert not wrong, f"counters (seen, expected): {wrong}\nall: {s}"

    def test_access_log_carries_the_decision(self, envoy):
        ok = envoy.request("GET", "/api/v1/data", peer=FRONTEND)
        admin = envoy.request("GET", "/admin", peer=FRONTEND)
        plain = envoy.request("GET", "/api/v1/data")
        line = access_log(envoy, ok.request_id)
        assert (line["meshguard_decision"], line["meshguard_reason"], line["meshguard_policy"]) == (
            "allow", "allow_matched", "default.allow-frontend-get-data")
        assert line["response_code"] == 200
        assert line["source_principal"] == "spiffe://cluster.local/ns/default/sa/frontend"
        line = access_log(envoy, admin.request_id)
        assert (line["meshguard_decision"], line["meshguard_reason"], line["meshguard_policy"], line["response_code"]) == (
            "deny", "deny_matched", "default.deny-admin", 403)
        line = access_log(envoy, plain.request_id)
        assert (line["meshguard_decision"], line["meshguard_reason"], line["meshguard_policy"]) == (
            "deny", "no_allow_match", "-")
        assert line["source_principal"] in (None, "-", ""), line


class TestNoFilterStateUnlessAsked:
    """Without `audit.filterState` the plugin sets no filter state (three host calls a request
    saved): the access log's meshguard fields are empty, the decision is the same."""

    config = plugin_config([authz("deny-all", {}), SEED_001_ALLOW_FRONTEND_GET_DATA])

    def test_access_log_has_no_decision_fields(self, envoy):
        ok = envoy.request("GET", "/api/v1/data", peer=FRONTEND)
        denied = envoy.request("GET", "/admin", peer=FRONTEND)
        expect(ok, 200, "allow_matched", policy="default.allow-frontend-get-data")
        expect(denied, 403, "no_allow_match")
        for resp, code in ((ok, 200), (denied, 403)):
            line = access_log(envoy, resp.request_id)
            assert line["response_code"] == code
            assert [line[k] for k in ("meshguard_decision", "meshguard_reason", "meshguard_policy")] == [None] * 3, line
