"""Seed 001: a frontend and a backend in the default namespace (workload default, app=backend)."""

from .harness.expect import expect
from .harness.resources import plugin_config
from .seeds import SEED_001_ALLOW_FRONTEND_GET_DATA, SEED_001_DENY_ALL_BACKEND

FRONTEND = ("default", "frontend")
FRONTEND_PRINCIPAL = "cluster.local/ns/default/sa/frontend"
ALLOW_POLICY = "default.allow-frontend-get-data"


class TestAllowFrontendGetData:
    """`allow-frontend-get-data` alone: the backend is ALLOW-listed, only GET /api/v1/data from the frontend."""

    config = plugin_config([SEED_001_ALLOW_FRONTEND_GET_DATA])

    def test_frontend_get_data_is_allowed(self, envoy):
        resp = envoy.request("GET", "/api/v1/data", peer=FRONTEND)
        entry = expect(resp, 200, "allow_matched", policy=ALLOW_POLICY, rule=0, action="ALLOW",
                       method="GET", path="/api/v1/data", audit=False, dry_run=None)
        assert entry["source"]["principal"] == FRONTEND_PRINCIPAL
        assert entry["source"]["namespace"] == "default"
        assert resp.json()["path"] == "/api/v1/data"  # the backend got the request

    def test_bearer_token_is_ignored_without_request_authentication(self, envoy):
        resp = envoy.request("GET", "/api/v1/data", peer=FRONTEND, headers={"Authorization": "Bearer x.y.z"})
        expect(resp, 200, "allow_matched", policy=ALLOW_POLICY, rule=0)

    def test_frontend_post_is_denied(self, envoy):
        resp = envoy.request("POST", "/api/v1/data", peer=FRONTEND, body=b"{}")
        expect(resp, 403, "no_allow_match", policy=None, rule=None, method="POST")

    def test_frontend_other_path_is_denied(self, envoy):
        resp = envoy.request("GET", "/api/v1/other", peer=FRONTEND)
        expect(resp, 403, "no_allow_match", policy=None, path="/api/v1/other")

    def test_other_service_account_is_denied(self, envoy):
        resp = envoy.request("GET", "/api/v1/data", peer=("default", "other"))
        entry = expect(resp, 403, "no_allow_match", policy=None)
        assert entry["source"]["principal"] == "cluster.local/ns/default/sa/other"
        assert entry["source"]["namespace"] == "default"

    def test_plaintext_is_denied(self, envoy):
        resp = envoy.request("GET", "/api/v1/data")
        entry = expect(resp, 403, "no_allow_match", policy=None)
        assert entry["source"]["principal"] is None
        assert entry["source"]["namespace"] is None


class TestDenyAllBackendWins:
    """`deny-all-backend` (DENY, rules [{}]) added: DENY is evaluated first and matches every request.

    The seed says the frontend's GET would then be allowed; under Istio's semantics it is denied.
    """

    config = plugin_config([SEED_001_DENY_ALL_BACKEND, SEED_001_ALLOW_FRONTEND_GET_DATA])

    def test_frontend_get_data_is_denied_by_deny_all_backend(self, envoy):
        resp = envoy.request("GET", "/api/v1/data", peer=FRONTEND)
        entry = expect(resp, 403, "deny_matched", policy="default.deny-all-backend", rule=0, action="DENY")
        assert entry["source"]["principal"] == FRONTEND_PRINCIPAL

    def test_plaintext_is_denied_by_deny_all_backend(self, envoy):
        resp = envoy.request("GET", "/anything")
        expect(resp, 403, "deny_matched", policy="default.deny-all-backend", rule=0, action="DENY")
