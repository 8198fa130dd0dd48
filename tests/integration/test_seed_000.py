"""Seed 000: the api workload (production, app=api) under the seed's mesh-wide STRICT mTLS,
deny-by-default, frontend allow-list, admin DENY, JWT resources and an egress policy for another app.
TestProductionApi runs the seed as written (its JWKS unreachable from a plain Envoy);
TestProductionApiWithJwks maps its jwksUri to the tests' JWKS server."""

from .harness.expect import expect, expect_jwt_denied
from .harness.jwt import jwks_json, keys
from .harness.resources import plugin_config
from .seeds import SEED_000, SEED_000_WORKLOAD

FRONTEND = ("production", "frontend")
OTHER = ("production", "other")  # a workload no ALLOW policy names: it needs the seed's JWT
ALLOW_POLICY = "production.allow-frontend-to-api"
REQUIRE_JWT = "production.require-jwt"
SEED_ISSUER = "https://auth.example.com"
SEED_JWKS_URI = "https://auth.example.com/.well-known/jwks.json"


def seed_token(**claims) -> str:
    """A token of the seed's issuer, signed with the key TestProductionApiWithJwks serves."""
    return keys().get("RS256").sign({"iss": SEED_ISSUER, "sub": "alice", **claims})


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

    # The seed's jwt-auth fetches https://auth.example.com/.well-known/jwks.json through Istio's cluster
    # `outbound|443||auth.example.com`, which this Envoy does not have: the fetch fails, so a token of
    # that issuer cannot be verified (401, as Envoy answers when its remote JWKS fetch failed). Requests
    # without a token are unaffected (see TestProductionApiWithJwks for the seed with reachable keys).
    def test_token_is_refused_when_the_jwks_cannot_be_fetched(self, envoy):
        token = seed_token()
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND, headers={"Authorization": f"Bearer {token}"})
        expect_jwt_denied(resp, "jwks_unavailable", "Jwks remote fetch is failed",
                          realm=f"https://127.0.0.1:{envoy.port}/api/v1/x", token=token)

    def test_access_token_parameter_is_a_token_too(self, envoy):
        token = seed_token()
        resp = envoy.request("GET", f"/api/v1/x?access_token={token}", peer=FRONTEND)
        entry = expect(resp, 401, "jwks_unavailable", path="/api/v1/x")
        assert entry["auth"]["error"] == "Jwks remote fetch is failed"
        assert token not in resp.audit_line(), "the token must never appear in the audit entry"

    def test_malformed_token_is_refused_before_any_key_is_needed(self, envoy):
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND, headers={"Authorization": "Bearer x.y.z"})
        expect_jwt_denied(resp, "jwt_malformed", "Jwt header is an invalid Base64url encoded",
                          realm=f"https://127.0.0.1:{envoy.port}/api/v1/x", token="x.y.z")

    def test_basic_credentials_are_not_a_bearer_token(self, envoy):
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND, headers={"Authorization": "Basic dXNlcjpwdw=="})
        expect(resp, 200, "allow_matched", policy=ALLOW_POLICY)


class TestProductionApiWithJwks:
    """Seed 000 where the issuer's JWKS is reachable: a plain Envoy maps the seed's jwksUri to its
    `jwks` cluster (`jwksClusters`), served by the tests' JWKS server. `require-jwt` then admits any
    mTLS workload that presents a token of https://auth.example.com with a subject."""

    config = plugin_config(SEED_000, **SEED_000_WORKLOAD, jwks_clusters={SEED_JWKS_URI: "jwks"})

    @staticmethod
    def jwks_setup(server):
        server.serve("/.well-known/jwks.json", jwks_json([keys().get("RS256")]))

    def test_token_of_the_issuer_satisfies_require_jwt(self, envoy, jwks_server):
        token = seed_token(aud="api")
        resp = envoy.request("GET", "/orders", peer=OTHER, headers={"Authorization": f"Bearer {token}"})
        entry = expect(resp, 200, "allow_matched", policy=REQUIRE_JWT, rule=0, action="ALLOW")
        assert entry["auth"] == {"principal": f"{SEED_ISSUER}/alice", "audiences": ["api"], "error": None}
        assert jwks_server.authorities["/.well-known/jwks.json"][0] == "auth.example.com"
        # forwardOriginalToken: true keeps the token; outputPayloadToHeader adds the payload.
        upstream = {k.lower(): v for k, v in resp.json()["headers"]}
        assert upstream["authorization"] == f"Bearer {token}"
        assert upstream["x-jwt-payload"] == token.split(".")[1]

    def test_without_a_token_require_jwt_denies(self, envoy):
        expect(envoy.request("GET", "/orders", peer=OTHER), 403, "no_allow_match", policy=None)

    def test_token_without_a_subject_has_no_principal(self, envoy):
        token = keys().get("RS256").sign({"iss": SEED_ISSUER})
        resp = envoy.request("GET", "/orders", peer=OTHER, headers={"Authorization": f"Bearer {token}"})
        entry = expect(resp, 403, "no_allow_match", policy=None)
        assert entry["auth"]["principal"] is None and entry["auth"]["error"] is None

    def test_token_of_another_issuer_is_refused(self, envoy):
        token = keys().get("RS256").sign({"iss": "https://evil.example.com", "sub": "alice"})
        resp = envoy.request("GET", "/orders", peer=OTHER, headers={"Authorization": f"Bearer {token}"})
        expect_jwt_denied(resp, "jwt_unknown_issuer", "Jwt issuer is not configured",
                          realm=f"https://127.0.0.1:{envoy.port}/orders")

    def test_forged_payload_header_is_removed(self, envoy):
        resp = envoy.request("GET", "/api/v1/x", peer=FRONTEND, headers={"x-jwt-payload": "eyJzdWIiOiJyb290In0"})
        expect(resp, 200, "allow_matched", policy=ALLOW_POLICY)
        assert "x-jwt-payload" not in {k.lower() for k, _ in resp.json()["headers"]}

    def test_frontend_still_needs_no_token(self, envoy):
        expect(envoy.request("GET", "/api/v1/x", peer=FRONTEND), 200, "allow_matched", policy=ALLOW_POLICY)

    def test_token_does_not_open_admin_to_other_namespaces(self, envoy):
        resp = envoy.request("GET", "/admin/x", peer=("other", "frontend"),
                             headers={"Authorization": f"Bearer {seed_token()}"})
        expect(resp, 403, "deny_matched", policy="production.deny-external-to-admin", rule=0)

    def test_plaintext_with_a_token_is_still_refused_by_strict_mtls(self, envoy):
        resp = envoy.request("GET", "/orders", headers={"Authorization": f"Bearer {seed_token()}"})
        expect(resp, 403, "mtls_required")
