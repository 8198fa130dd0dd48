"""Seed 000: the api workload (production, app=api) under the seed's mesh-wide STRICT mTLS,
deny-by-default, frontend allow-list, admin DENY, JWT resources and an egress policy for another app."""

from .harness.expect import expect
from .harness.resources import plugin_config
from .seeds import SEED_000, SEED_000_WORKLOAD

FRONTEND = ("production", "frontend")
ALLOW_POLICY = "production.allow-frontend-to-api"


class TestProductionApi:
    config = plugin_config(SEED_000, **SEED_000_WORKLOAD)

    def test_frontend_get_api_is_allowed(self, envoy):
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND)
        entry = expect(resp, 200, "allow_matched", policy=ALLOW_POLICY, rule=0, action="ALLOW")
        assert entry["source"]["principal"] == "cluster.local/ns/production/sa/frontend"
        assert entry["source"]["namespace"] == "production"

    def test_frontend_post_api_is_allowed(self, envoy):
        resp = envoy.request("POST", "/api/v1/x", peer=FRONTEND, body=b"{}")
        expect(resp, 200, "allow_matched", policy=ALLOW_POLICY, rule=0, method="POST")

    def test_frontend_get_healthz_is_allowed(self, envoy):
        resp = envoy.request("GET", "/healthz", peer=FRONTEND)
        expect(resp, 200, "allow_matched", policy=ALLOW_POLICY, rule=0, path="/healthz")

    def test_frontend_put_is_denied(self, envoy):
        resp = envoy.request("PUT", "/api/v1/x", peer=FRONTEND, body=b"{}")
        expect(resp, 403, "no_allow_match", policy=None, rule=None, method="PUT")

    def test_other_namespace_to_admin_is_denied_by_deny_rule(self, envoy):
        resp = envoy.request("GET", "/admin/x", peer=("other", "frontend"))
        entry = expect(resp, 403, "deny_matched", policy="production.deny-external-to-admin", rule=0, action="DENY")
        assert entry["source"]["namespace"] == "other"

    def test_frontend_to_admin_is_not_allow_listed(self, envoy):
        resp = envoy.request("GET", "/admin/x", peer=FRONTEND)
        expect(resp, 403, "no_allow_match", policy=None)

    def test_plaintext_is_refused_by_strict_mtls(self, envoy):
        resp = envoy.request("GET", "/api/v1/x")
        entry = expect(resp, 403, "mtls_required")
        assert entry["source"]["principal"] is None

    def test_bearer_token_is_rejected_until_jwt_is_implemented(self, envoy):
        token = "x.y.z"
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND, headers={"Authorization": f"Bearer {token}"})
        expect(resp, 401, "jwt_not_implemented")
        assert resp.text == "Jwt verification fails"
        assert token not in resp.audit_line(), "the token must never appear in the audit entry"

    def test_access_token_parameter_is_a_token_too(self, envoy):
        resp = envoy.request("GET", "/api/v1/x?access_token=a.b.c", peer=FRONTEND)
        expect(resp, 401, "jwt_not_implemented", path="/api/v1/x")
        assert "a.b.c" not in resp.audit_line(), "the token must never appear in the audit entry"

    def test_basic_credentials_are_not_a_bearer_token(self, envoy):
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND, headers={"Authorization": "Basic dXNlcjpwdw=="})
        expect(resp, 200, "allow_matched", policy=ALLOW_POLICY)
