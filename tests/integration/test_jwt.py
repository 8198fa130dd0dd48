"""RequestAuthentication: JWT verification, token locations, the headers it writes and removes, and
authorization on the verified token, answered as Envoy's jwt_authn answers what istiod configures
(shared/research/istio-semantics.md sections 2 and 4; security.md rows 19-36).

The keys are the session's (harness/jwt.py); a jwksUri is served by the harness's JWKS server through
envoy.yaml's `jwks` cluster (`jwksClusters`). Remote behaviour (held requests, failures, rotation)
is in test_jwks.py.
"""

from __future__ import annotations

import base64
import functools
import json
import time

import pytest

from .harness.expect import expect, expect_jwt_denied
from .harness.jwks import STARTUP_FETCHES
from .harness.jwt import ALL_ALGS, ASYMMETRIC_ALGS, SigningKey, b64url, forge, jwks_json, keys, sign_raw
from .harness.resources import SECURITY_V1, authz, jwt_rule, plugin_config, request_authn

JWKS_HOST = "http://jwks.test"

# jwt_verify_lib's texts (Envoy's response bodies)
EXPIRED = "Jwt is expired"
NOT_YET_VALID = "Jwt not yet valid"
UNKNOWN_ISSUER = "Jwt issuer is not configured"
AUDIENCE = "Audiences in Jwt are not allowed"
BAD_SIGNATURE = "Jwt verification fails"
UNKNOWN_KEY = "Jwks doesn't have key to match kid or alg from Jwt"
BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
ALG_NOT_SUPPORTED = "Jwt header [alg] is not supported"


def realm(envoy, path: str, scheme: str = "http") -> str:
    """www-authenticate's realm for a request the client sent with its default Host: the path (query
    included) cut at 256 bytes, as Envoy's buildOriginalUri."""
    return f"{scheme}://127.0.0.1:{envoy.port}{path[:256]}"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upstream_headers(resp) -> dict[str, list[str]]:
    """The headers the echo server (the upstream) received, by lowercase name."""
    seen: dict[str, list[str]] = {}
    for name, value in resp.json()["headers"]:
        seen.setdefault(name.lower(), []).append(value)
    return seen


def verified(resp, principal: str | None, reason: str = "no_allow_policies", **fields) -> dict:
    """An allowed request whose token verified: auth.principal set, no error."""
    entry = expect(resp, 200, reason, **fields)
    assert entry["auth"]["error"] is None and entry["auth"]["principal"] == principal, entry["auth"]
    return entry


def anonymous(resp, reason: str = "no_allow_policies", **fields) -> dict:
    """An allowed request that carried no token (for the configured locations)."""
    entry = expect(resp, 200, reason, **fields)
    assert entry["auth"] == {"principal": None, "audiences": None, "error": None}, entry["auth"]
    return entry


# --- issuers of the main scenario ------------------------------------------------------------------

ISS = "https://issuer.test"  # inline jwks: every algorithm
REMOTE_ISS = "https://remote.test"  # jwksUri: every asymmetric algorithm
REMOTE_URI = f"{JWKS_HOST}/tokens/remote.json"
AUD_ISS = "https://aud.test"  # audiences set
B_ISS = "https://b.test"  # another issuer with its own key
FWD_ISS = "https://fwd.test"  # forwardOriginalToken: true
OUT_ISS = "https://out.test"  # outputPayloadToHeader / outputClaimToHeaders
OUT_HEADERS = [{"header": "x-user", "claim": "sub"}, {"header": "x-role", "claim": "realm.role"},
               {"header": "x-level", "claim": "level"}, {"header": "x-admin", "claim": "admin"}]


@functools.lru_cache(maxsize=None)
def key_b() -> SigningKey:
    return keys().fresh_ec("b-key")


def rsa_any() -> SigningKey:
    """The RS256 key published a second time without `alg` (kid rsa-any)."""
    return keys().get("RS256").with_kid("rsa-any", None)


def issuer_keys() -> list[SigningKey]:
    return [*keys().all(), rsa_any()]


def _tokens_config(ports):
    ring = keys()
    es256 = jwks_json([ring.get("ES256")])
    return plugin_config([
        request_authn("inline", [jwt_rule(ISS, jwks=jwks_json(issuer_keys()))]),
        request_authn("remote", [jwt_rule(REMOTE_ISS, jwks_uri=REMOTE_URI)]),
        request_authn("others", [
            jwt_rule(AUD_ISS, jwks=es256, audiences=["api.example.com", "backend"]),
            jwt_rule(B_ISS, jwks=jwks_json([key_b()])),
            jwt_rule(FWD_ISS, jwks=es256, forwardOriginalToken=True),
            jwt_rule(OUT_ISS, jwks=es256, outputPayloadToHeader="x-jwt-payload", outputClaimToHeaders=OUT_HEADERS),
        ]),
    ], jwks_clusters={REMOTE_URI: "jwks"})


def _tokens_jwks(server):
    server.serve("/tokens/remote.json", jwks_json(keys().all(ASYMMETRIC_ALGS)))


def token(alg: str = "ES256", iss: str = ISS, sub: str = "alice", **claims) -> str:
    return keys().get(alg).sign({"iss": iss, "sub": sub, **claims})


class TestTokens:
    """Verification, the default locations and the headers a token changes. No AuthorizationPolicy:
    a request with a good token or none is allowed (no_allow_policies), a bad token is refused."""

    config = _tokens_config
    jwks_setup = _tokens_jwks

    # --- every algorithm ---------------------------------------------------------------------------

    @pytest.mark.parametrize("alg", ALL_ALGS)
    def test_inline_jwks_verifies(self, envoy, alg):
        t = token(alg, aud="backend")
        resp = envoy.request("GET", "/alg", headers=bearer(t))
        entry = verified(resp, f"{ISS}/alice")
        assert entry["auth"]["audiences"] == ["backend"]
        assert t not in resp.audit_line(), "the token must never appear in the audit entry"

    @pytest.mark.parametrize("alg", ASYMMETRIC_ALGS)
    def test_remote_jwks_verifies(self, envoy, alg):
        verified(envoy.request("GET", "/alg", headers=bearer(token(alg, iss=REMOTE_ISS))), f"{REMOTE_ISS}/alice")

    def test_remote_jwks_is_fetched_at_startup_only_with_the_uris_authority(self, envoy, jwks_server):
        verified(envoy.request("GET", "/alg", headers=bearer(token("ES256", iss=REMOTE_ISS))), f"{REMOTE_ISS}/alice")
        assert jwks_server.wait_count("/tokens/remote.json", STARTUP_FETCHES) == STARTUP_FETCHES
        assert set(jwks_server.authorities["/tokens/remote.json"]) == {"jwks.test"}

    def test_key_published_without_alg_verifies(self, envoy):
        t = rsa_any().sign({"iss": ISS, "sub": "alice"})
        verified(envoy.request("GET", "/", headers=bearer(t)), f"{ISS}/alice")

    def test_token_without_kid_is_tried_against_every_key(self, envoy):
        t = keys().get("ES384").sign({"iss": ISS, "sub": "alice"}, {"kid": None})
        verified(envoy.request("GET", "/", headers=bearer(t)), f"{ISS}/alice")

    def test_token_without_sub_has_no_principal(self, envoy):
        t = keys().get("ES256").sign({"iss": ISS})
        entry = expect(envoy.request("GET", "/", headers=bearer(t)), 200, "no_allow_policies")
        assert entry["auth"]["principal"] is None and entry["auth"]["error"] is None, entry["auth"]

    # --- time ----------------------------------------------------------------------------------------

    def test_expired(self, envoy):
        t = token(exp=int(time.time()) - 120)
        expect_jwt_denied(envoy.request("GET", "/t?x=1", headers=bearer(t)), "jwt_expired", EXPIRED,
                          realm=realm(envoy, "/t?x=1"), token=t)

    def test_expired_within_the_60s_clock_skew_passes(self, envoy):
        verified(envoy.request("GET", "/t", headers=bearer(token(exp=int(time.time()) - 30))), f"{ISS}/alice")

    def test_not_yet_valid(self, envoy):
        t = token(nbf=int(time.time()) + 120)
        expect_jwt_denied(envoy.request("GET", "/t", headers=bearer(t)), "jwt_not_yet_valid", NOT_YET_VALID,
                          realm=realm(envoy, "/t"))

    def test_not_yet_valid_within_the_60s_clock_skew_passes(self, envoy):
        verified(envoy.request("GET", "/t", headers=bearer(token(nbf=int(time.time()) + 30))), f"{ISS}/alice")

    def test_no_exp_never_expires(self, envoy):
        t = keys().get("ES256").sign({"iss": ISS, "sub": "alice"}, exp=None)
        verified(envoy.request("GET", "/t", headers=bearer(t)), f"{ISS}/alice")

    def test_expiry_is_checked_before_the_signature(self, envoy):
        t = key_b().sign({"iss": ISS, "sub": "alice", "exp": int(time.time()) - 120})
        expect_jwt_denied(envoy.request("GET", "/t", headers=bearer(t)), "jwt_expired", EXPIRED,
                          realm=realm(envoy, "/t"))

    # --- issuer and audiences -------------------------------------------------------------------------

    @pytest.mark.parametrize("iss", ["https://unknown.test", ISS + "/", ISS.upper(), ""])
    def test_unknown_issuer(self, envoy, iss):
        claims = {"sub": "alice"} if iss == "" else {"iss": iss, "sub": "alice"}
        t = keys().get("ES256").sign(claims)
        expect_jwt_denied(envoy.request("GET", "/i", headers=bearer(t)), "jwt_unknown_issuer", UNKNOWN_ISSUER,
                          realm=realm(envoy, "/i"), token=t)

    @pytest.mark.parametrize("aud", ["api.example.com", ["other", "backend"]])
    def test_allowed_audience(self, envoy, aud):
        entry = verified(envoy.request("GET", "/a", headers=bearer(token(iss=AUD_ISS, aud=aud))), f"{AUD_ISS}/alice")
        assert entry["auth"]["audiences"] == (aud if isinstance(aud, list) else [aud])

    @pytest.mark.parametrize("aud", ["other", "API.EXAMPLE.COM", "api.example.com.evil", ["x", "y"], None])
    def test_audience_not_allowed_is_403(self, envoy, aud):
        claims = {} if aud is None else {"aud": aud}
        t = token(iss=AUD_ISS, **claims)
        expect_jwt_denied(envoy.request("GET", "/a", headers=bearer(t)), "jwt_audience", AUDIENCE, status=403,
                          realm=realm(envoy, "/a"))

    def test_audiences_not_configured_accept_any(self, envoy):
        entry = verified(envoy.request("GET", "/a", headers=bearer(token(aud=["whatever"]))), f"{ISS}/alice")
        assert entry["auth"]["audiences"] == ["whatever"]

    # --- signatures and keys -------------------------------------------------------------------------

    def test_bad_signature(self, envoy):
        good, other = token(sub="alice"), token(sub="mallory")
        head, _, signature = good.split(".")
        forged = f"{head}.{other.split('.')[1]}.{signature}"  # mallory's claims, alice's signature
        expect_jwt_denied(envoy.request("GET", "/s", headers=bearer(forged)), "jwt_bad_signature", BAD_SIGNATURE,
                          realm=realm(envoy, "/s"), token=forged)

    @pytest.mark.parametrize("alg", ["RS256", "PS384", "EdDSA", "HS512"])
    def test_bad_signature_per_family(self, envoy, alg):
        t = token(alg)
        head, _, sig = t.split(".")
        t2 = f"{head}.{b64url(json.dumps({'iss': ISS, 'sub': 'root'}).encode())}.{sig}"
        expect_jwt_denied(envoy.request("GET", "/s", headers=bearer(t2)), "jwt_bad_signature", BAD_SIGNATURE,
                          realm=realm(envoy, "/s"))

    def test_es256_zero_signature(self, envoy):
        t = forge({"alg": "ES256", "kid": "ec-p256"}, {"iss": ISS, "sub": "alice"}, bytes(64))
        expect_jwt_denied(envoy.request("GET", "/s", headers=bearer(t)), "jwt_bad_signature", BAD_SIGNATURE,
                          realm=realm(envoy, "/s"))

    @pytest.mark.parametrize("alg", ["none", "NONE", "nOnE"])
    def test_alg_none_is_refused(self, envoy, alg):
        t = forge({"alg": alg, "typ": "JWT"}, {"iss": ISS, "sub": "admin"}, b"sig")
        expect_jwt_denied(envoy.request("GET", "/n", headers=bearer(t)), "jwt_malformed", ALG_NOT_SUPPORTED,
                          realm=realm(envoy, "/n"))

    def test_alg_none_without_signature_is_malformed(self, envoy):
        t = forge({"alg": "none"}, {"iss": ISS, "sub": "admin"})  # "h.p." : two sections
        expect_jwt_denied(envoy.request("GET", "/n", headers=bearer(t)), "jwt_malformed", BAD_FORMAT,
                          realm=realm(envoy, "/n"))

    def test_rs256_key_as_hs256_secret_with_the_rsa_kid(self, envoy):
        # The JWK of kid rsa-rs256 says alg RS256: no key matches kid + HS256.
        confused = SigningKey(keys().rsa_public_pem(), "rsa-rs256", "HS256", None)
        t = confused.sign({"iss": ISS, "sub": "admin"})
        expect_jwt_denied(envoy.request("GET", "/c", headers=bearer(t)), "jwt_unknown_key", UNKNOWN_KEY,
                          realm=realm(envoy, "/c"))

    @pytest.mark.parametrize("kid", ["rsa-any", None])
    def test_rs256_key_as_hs256_secret(self, envoy, kid):
        # rsa-any has no alg (a candidate for any alg) and no kid tries every key: an RSA key is
        # never an HMAC secret, and the oct keys' secrets differ, so the signature fails.
        confused = SigningKey(keys().rsa_public_pem(), kid, "HS256", None)
        t = confused.sign({"iss": ISS, "sub": "admin"})
        expect_jwt_denied(envoy.request("GET", "/c", headers=bearer(t)), "jwt_bad_signature", BAD_SIGNATURE,
                          realm=realm(envoy, "/c"))

    def test_unknown_kid(self, envoy):
        t = keys().get("ES256").sign({"iss": ISS, "sub": "alice"}, {"kid": "nope"})
        expect_jwt_denied(envoy.request("GET", "/k", headers=bearer(t)), "jwt_unknown_key", UNKNOWN_KEY,
                          realm=realm(envoy, "/k"))

    def test_kid_of_another_alg(self, envoy):
        t = keys().get("ES384").sign({"iss": ISS, "sub": "alice"}, {"kid": "ec-p256"})
        expect_jwt_denied(envoy.request("GET", "/k", headers=bearer(t)), "jwt_unknown_key", UNKNOWN_KEY,
                          realm=realm(envoy, "/k"))

    def test_other_issuers_key_with_its_kid(self, envoy):
        t = key_b().sign({"iss": ISS, "sub": "admin"})  # kid b-key: only issuer B has it
        expect_jwt_denied(envoy.request("GET", "/x", headers=bearer(t)), "jwt_unknown_key", UNKNOWN_KEY,
                          realm=realm(envoy, "/x"))

    def test_other_issuers_key_without_kid(self, envoy):
        t = key_b().sign({"iss": ISS, "sub": "admin"}, {"kid": None})
        expect_jwt_denied(envoy.request("GET", "/x", headers=bearer(t)), "jwt_bad_signature", BAD_SIGNATURE,
                          realm=realm(envoy, "/x"))

    def test_other_issuers_key_is_good_for_its_own_issuer(self, envoy):
        verified(envoy.request("GET", "/x", headers=bearer(key_b().sign({"iss": B_ISS, "sub": "bob"}))),
                 f"{B_ISS}/bob")

    def test_embedded_jwk_is_not_a_key_source(self, envoy):
        mine = keys().fresh_ec("attacker")
        t = mine.sign({"iss": ISS, "sub": "admin"}, {"kid": None, "jwk": mine.jwk()})
        expect_jwt_denied(envoy.request("GET", "/x", headers=bearer(t)), "jwt_bad_signature", BAD_SIGNATURE,
                          realm=realm(envoy, "/x"))

    # --- malformed ----------------------------------------------------------------------------------------

    @staticmethod
    def _malformed():
        es = keys().get("ES256")
        sign = lambda payload: sign_raw({"alg": "ES256", "kid": "ec-p256"}, payload,  # noqa: E731
                                        lambda data: es.signature(data))
        es_header = b64url(b'{"alg":"ES256"}')
        return {
            "two segments": ("abc.def", BAD_FORMAT),
            "garbage": ("garbage", BAD_FORMAT),
            "four segments": (token() + ".x", BAD_FORMAT),
            "header not base64url": ("e!!.e30.c2ln", "Jwt header is an invalid Base64url encoded"),
            "header not JSON": (f"{b64url(b'nope')}.e30.c2ln", "Jwt header is an invalid JSON"),
            "payload not JSON": (f"{es_header}.{b64url(b'nope')}.c2ln",
                                 "Jwt payload is an invalid JSON"),
            "exp a string": (sign({"iss": ISS, "sub": "a", "exp": "9999999999"}),
                             "Jwt payload [exp] field is not an integer"),
            "duplicate sub": (sign('{"iss":"%s","sub":"alice","sub":"admin"}' % ISS),
                              "Jwt payload is an invalid JSON"),
        }

    @pytest.mark.parametrize("case", ["two segments", "garbage", "four segments", "header not base64url",
                                      "header not JSON", "payload not JSON", "exp a string", "duplicate sub"])
    def test_malformed(self, envoy, case):
        t, body = self._malformed()[case]
        expect_jwt_denied(envoy.request("GET", "/m", headers=bearer(t)), "jwt_malformed", body,
                          realm=realm(envoy, "/m"), token=t)

    def test_large_token_verifies(self, envoy):
        t = token(blob="x" * 20000, groups=[f"g{i}" for i in range(2000)])
        verified(envoy.request("GET", "/big", headers=bearer(t)), f"{ISS}/alice")

    def test_deeply_nested_payload_is_refused(self, envoy):
        nested: dict = {}
        for _ in range(200):
            nested = {"n": nested}
        t = token(deep=nested)
        expect_jwt_denied(envoy.request("GET", "/deep", headers=bearer(t)), "jwt_malformed",
                          "Jwt payload is an invalid JSON", realm=realm(envoy, "/deep"))

    # --- default locations ----------------------------------------------------------------------------

    def test_access_token_parameter(self, envoy):
        t = token()
        resp = envoy.request("GET", f"/q?a=1&access_token={t}")
        verified(resp, f"{ISS}/alice", path="/q")
        assert t not in resp.audit_line()

    def test_invalid_access_token_parameter(self, envoy):
        expect_jwt_denied(envoy.request("GET", "/q?access_token=garbage"), "jwt_malformed", BAD_FORMAT,
                          realm=realm(envoy, "/q?access_token=garbage"))

    @pytest.mark.parametrize("value", ["bearer {t}", "BEARER {t}", "Basic dXNlcjpwdw==", "Bearer ", "Bearer",
                                       "{t}", "Token {t}", "bearer garbage"])
    def test_not_a_bearer_token_is_anonymous(self, envoy, value):
        resp = envoy.request("GET", "/b", headers={"Authorization": value.format(t=token())})
        anonymous(resp)

    def test_spaces_after_bearer_are_skipped(self, envoy):
        verified(envoy.request("GET", "/b", headers={"Authorization": f"Bearer    {token()}"}), f"{ISS}/alice")

    def test_junk_after_the_token(self, envoy):
        # The token runs to the end of the value; base64url decoding skips the space (absl), so the
        # signature no longer verifies.
        resp = envoy.request("GET", "/b", headers={"Authorization": f"Bearer {token()} junk"})
        expect_jwt_denied(resp, "jwt_bad_signature", BAD_SIGNATURE, realm=realm(envoy, "/b"))

    def test_valid_header_token_with_invalid_query_token(self, envoy):
        resp = envoy.request("GET", "/b?access_token=garbage", headers=bearer(token()))
        expect_jwt_denied(resp, "jwt_malformed", BAD_FORMAT, realm=realm(envoy, "/b?access_token=garbage"))

    def test_valid_header_token_with_expired_query_token(self, envoy):
        path = f"/b?access_token={token(exp=int(time.time()) - 300)}"
        expect_jwt_denied(envoy.request("GET", path, headers=bearer(token())), "jwt_expired", EXPIRED,
                          realm=realm(envoy, path))

    def test_two_valid_tokens(self, envoy):
        resp = envoy.request("GET", f"/b?access_token={token(sub='bob')}", headers=bearer(token()))
        assert resp.status == 200, resp
        assert resp.audit()["auth"]["error"] is None

    def test_two_authorization_headers_are_folded_into_an_invalid_token(self, envoy):
        resp = envoy.request("GET", "/b", headers=[("Authorization", f"Bearer {token()}"),
                                                   ("Authorization", f"Bearer {token(sub='bob')}")])
        expect(resp, 401, "jwt_malformed")

    def test_realm_path_is_cut_at_256_bytes(self, envoy):
        path = "/" + "p" * 300 + "?q=1"
        resp = envoy.request("GET", path, headers=bearer("garbage"))
        expect_jwt_denied(resp, "jwt_malformed", BAD_FORMAT,
                          realm=f"http://127.0.0.1:{envoy.port}/{'p' * 255}")

    def test_realm_uses_the_host_header(self, envoy):
        resp = envoy.request("GET", "/r", host="api.example.com", headers=bearer("garbage"))
        expect_jwt_denied(resp, "jwt_malformed", BAD_FORMAT, realm="http://api.example.com/r")

    # --- headers for the upstream ---------------------------------------------------------------------

    def test_token_header_is_removed_by_default(self, envoy):
        resp = envoy.request("GET", "/h", headers=bearer(token()))
        verified(resp, f"{ISS}/alice")
        assert "authorization" not in upstream_headers(resp)

    def test_forward_original_token_keeps_it(self, envoy):
        t = token(iss=FWD_ISS)
        resp = envoy.request("GET", "/h", headers=bearer(t))
        verified(resp, f"{FWD_ISS}/alice")
        assert upstream_headers(resp)["authorization"] == [f"Bearer {t}"]

    def test_anonymous_authorization_header_is_kept(self, envoy):
        resp = envoy.request("GET", "/h", headers={"Authorization": "Basic dXNlcjpwdw=="})
        anonymous(resp)
        assert upstream_headers(resp)["authorization"] == ["Basic dXNlcjpwdw=="]

    def test_output_payload_and_claims_to_headers(self, envoy):
        t = token(iss=OUT_ISS, realm={"role": "editor"}, level=7, admin=True)
        resp = envoy.request("GET", "/h", headers=bearer(t))
        verified(resp, f"{OUT_ISS}/alice")
        seen = upstream_headers(resp)
        assert seen["x-jwt-payload"] == [t.split(".")[1]], seen
        assert json.loads(_unb64(seen["x-jwt-payload"][0]))["realm"] == {"role": "editor"}
        assert (seen["x-user"], seen["x-role"], seen["x-level"], seen["x-admin"]) == (
            ["alice"], ["editor"], ["7"], ["true"]), seen
        assert "authorization" not in seen

    def test_forged_output_headers_are_replaced(self, envoy):
        t = token(iss=OUT_ISS)  # no realm.role, level or admin claim
        forged = {"x-user": "root", "x-role": "admin", "x-level": "99", "x-admin": "true", "X-Jwt-Payload": "e30"}
        resp = envoy.request("GET", "/h", headers={**bearer(t), **forged})
        verified(resp, f"{OUT_ISS}/alice")
        seen = upstream_headers(resp)
        assert seen["x-user"] == ["alice"] and seen["x-jwt-payload"] == [t.split(".")[1]], seen
        assert not {"x-role", "x-level", "x-admin"} & seen.keys(), seen

    def test_forged_output_headers_are_removed_without_a_token(self, envoy):
        resp = envoy.request("GET", "/h", headers={"x-user": "root", "x-role": "admin", "x-jwt-payload": "e30"})
        anonymous(resp)
        assert not {"x-user", "x-role", "x-jwt-payload"} & upstream_headers(resp).keys()

    def test_forged_output_headers_are_removed_with_another_issuers_token(self, envoy):
        resp = envoy.request("GET", "/h", headers={**bearer(token()), "x-user": "root"})
        verified(resp, f"{ISS}/alice")
        assert "x-user" not in upstream_headers(resp)

    # --- CORS preflight -----------------------------------------------------------------------------

    def test_cors_preflight_is_not_authenticated(self, envoy):
        resp = envoy.request("OPTIONS", "/cors", headers={
            **bearer("garbage"), "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"})
        anonymous(resp, method="OPTIONS")

    def test_options_that_is_not_a_preflight_is_authenticated(self, envoy):
        resp = envoy.request("OPTIONS", "/cors", headers={**bearer("garbage"), "Origin": "https://app.example.com"})
        expect_jwt_denied(resp, "jwt_malformed", BAD_FORMAT, realm=realm(envoy, "/cors"))

    def test_envoy_stayed_up(self, envoy):
        assert envoy.proc.poll() is None
        assert "panic" not in envoy.log_text(), envoy.log_problems()


def _unb64(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


# --- declared locations --------------------------------------------------------------------------

C_ISS = "https://custom.test"


def _custom_config(ports):
    return plugin_config([request_authn("custom", [jwt_rule(
        C_ISS, jwks=jwks_json([keys().get("ES256")]),
        fromHeaders=[{"name": "x-jwt-assertion", "prefix": "Token "}, {"name": "X-Raw-Jwt"}],
        fromParams=["jwt"], fromCookies=["session"])])])


class TestDeclaredLocations:
    """fromHeaders / fromParams / fromCookies replace `Authorization: Bearer` and `access_token`."""

    config = _custom_config

    @staticmethod
    def t(**claims):
        return token(iss=C_ISS, **claims)

    def test_authorization_header_is_not_read(self, envoy):
        t = self.t()
        resp = envoy.request("GET", "/", headers=bearer(t))
        anonymous(resp)
        assert upstream_headers(resp)["authorization"] == [f"Bearer {t}"], "an unread header stays"

    def test_invalid_authorization_token_is_not_read(self, envoy):
        anonymous(envoy.request("GET", "/", headers=bearer("garbage")))

    def test_access_token_parameter_is_not_read(self, envoy):
        anonymous(envoy.request("GET", "/?access_token=garbage"))

    def test_header_with_prefix(self, envoy):
        resp = envoy.request("GET", "/", headers={"x-jwt-assertion": f"Token {self.t()}"})
        verified(resp, f"{C_ISS}/alice")
        assert "x-jwt-assertion" not in upstream_headers(resp), "forwardOriginalToken false removes it"

    def test_header_without_its_prefix_is_anonymous(self, envoy):
        anonymous(envoy.request("GET", "/", headers={"x-jwt-assertion": f"Bearer {self.t()}"}))

    def test_header_without_prefix(self, envoy):
        resp = envoy.request("GET", "/", headers={"x-raw-jwt": self.t()})
        verified(resp, f"{C_ISS}/alice")
        assert "x-raw-jwt" not in upstream_headers(resp)

    def test_param(self, envoy):
        verified(envoy.request("GET", f"/p?x=1&jwt={self.t()}"), f"{C_ISS}/alice", path="/p")

    def test_cookie(self, envoy):
        resp = envoy.request("GET", "/", headers={"Cookie": f"a=b; session={self.t()}; c=d"})
        verified(resp, f"{C_ISS}/alice")

    @pytest.mark.parametrize("where", ["header", "param", "cookie"])
    def test_invalid_token_in_a_declared_location(self, envoy, where):
        t = self.t(exp=int(time.time()) - 300)
        path, headers = "/", {}
        if where == "header":
            headers = {"x-raw-jwt": t}
        elif where == "param":
            path = f"/?jwt={t}"
        else:
            headers = {"Cookie": f"session={t}"}
        expect_jwt_denied(envoy.request("GET", path, headers=headers), "jwt_expired", EXPIRED,
                          realm=realm(envoy, path), token=t)

    def test_default_issuer_token_in_declared_location_is_unknown(self, envoy):
        resp = envoy.request("GET", "/", headers={"x-raw-jwt": token(iss=ISS)})
        expect_jwt_denied(resp, "jwt_unknown_issuer", UNKNOWN_ISSUER, realm=realm(envoy, "/"))


# --- authorization on the verified token ---------------------------------------------------------

CL_ISS = "https://claims.test"


def _allow(name, path, when=None, source=None):
    rule = {"to": [{"operation": {"paths": [path]}}]}
    if when is not None:
        rule["when"] = when
    if source is not None:
        rule["from"] = [{"source": source}]
    return authz(name, {"action": "ALLOW", "rules": [rule]})


def _claims_config(ports):
    return plugin_config([
        request_authn("claims", [jwt_rule(CL_ISS, jwks=jwks_json([keys().get("ES256")]),
                                          spaceDelimitedClaims=["roles"],
                                          outputClaimToHeaders=[{"header": "x-user", "claim": "sub"}])]),
        _allow("principal", "/principal", source={"requestPrincipals": [f"{CL_ISS}/alice"]}),
        _allow("team", "/team", source={"requestPrincipals": [f"{CL_ISS}/team/alice"]}),
        _allow("any-principal", "/any", source={"requestPrincipals": ["*"]}),
        _allow("issuer-prefix", "/issuer", source={"requestPrincipals": [f"{CL_ISS}/*"]}),
        _allow("group", "/group", when=[{"key": "request.auth.claims[groups]", "values": ["admins"]}]),
        _allow("nested", "/nested", when=[{"key": "request.auth.claims[realm][role]", "values": ["editor"]}]),
        _allow("dotted", "/dotted", when=[{"key": "request.auth.claims[realm.role]", "values": ["editor"]}]),
        _allow("scope", "/scope", when=[{"key": "request.auth.claims[scope]", "values": ["write"]}]),
        _allow("roles", "/roles", when=[{"key": "request.auth.claims[roles]", "values": ["ops"]}]),
        _allow("flag", "/flag", when=[{"key": "request.auth.claims[admin]", "values": ["true"]}]),
        _allow("audience", "/aud", when=[{"key": "request.auth.audiences", "values": ["api"]},
                                         {"key": "request.auth.presenter", "values": ["web-client"]}]),
        _allow("auth-principal", "/ap", when=[{"key": "request.auth.principal", "values": [f"{CL_ISS}/alice"]}]),
        _allow("header", "/hdr", when=[{"key": "request.headers[x-user]", "values": ["alice"]}]),
        _allow("open", "/np"),
        authz("deny-anonymous", {"action": "DENY", "rules": [
            {"from": [{"source": {"notRequestPrincipals": ["*"]}}], "to": [{"operation": {"paths": ["/np"]}}]}]}),
        authz("deny-group", {"action": "DENY", "rules": [
            {"to": [{"operation": {"paths": ["/group"]}}],
             "when": [{"key": "request.auth.claims[groups]", "notValues": ["admins", "dev"]}]}]}),
    ])


def claims_token(**claims) -> str:
    claims.setdefault("sub", "alice")
    return keys().get("ES256").sign({"iss": CL_ISS, **claims})


class TestClaimsAuthorization:
    """requestPrincipals, notRequestPrincipals and request.auth.* conditions on the verified token."""

    config = _claims_config

    def allowed(self, envoy, path, policy, **claims):
        resp = envoy.request("GET", path, headers=bearer(claims_token(**claims)))
        return expect(resp, 200, "allow_matched", policy=f"default.{policy}", rule=0, action="ALLOW")

    def denied(self, envoy, path, token=None, reason="no_allow_match", policy=None, **claims):
        headers = bearer(token or claims_token(**claims)) if token is not False else {}
        return expect(envoy.request("GET", path, headers=headers), 403, reason, policy=policy)

    def test_request_principal(self, envoy):
        entry = self.allowed(envoy, "/principal", "principal")
        assert entry["auth"]["principal"] == f"{CL_ISS}/alice"

    def test_other_request_principal(self, envoy):
        self.denied(envoy, "/principal", sub="bob")

    def test_principal_is_split_at_the_last_slash(self, envoy):
        # `https://claims.test/team/alice` is iss `https://claims.test/team` + sub `alice`; a token of
        # iss `https://claims.test` with sub `team/alice` concatenates to the same string.
        self.denied(envoy, "/team", sub="team/alice")

    def test_no_token_has_no_request_principal(self, envoy):
        self.denied(envoy, "/principal", token=False)

    def test_any_principal_needs_a_sub(self, envoy):
        self.allowed(envoy, "/any", "any-principal")
        resp = envoy.request("GET", "/any", headers=bearer(keys().get("ES256").sign({"iss": CL_ISS})))
        expect(resp, 403, "no_allow_match")

    def test_issuer_wildcard(self, envoy):
        self.allowed(envoy, "/issuer", "issuer-prefix", sub="anyone")

    def test_auth_principal_condition(self, envoy):
        self.allowed(envoy, "/ap", "auth-principal")
        self.denied(envoy, "/ap", sub="bob")

    def test_list_claim(self, envoy):
        self.allowed(envoy, "/group", "group", groups=["dev", "admins"])

    def test_list_claim_without_the_value(self, envoy):
        self.denied(envoy, "/group", groups=["dev"])

    def test_deny_on_list_claim_not_values(self, envoy):
        self.denied(envoy, "/group", groups=["guests"], reason="deny_matched", policy="default.deny-group")

    def test_string_claim_is_not_split_on_commas(self, envoy):
        self.denied(envoy, "/group", groups="dev,admins", reason="deny_matched", policy="default.deny-group")

    def test_nested_claim(self, envoy):
        self.allowed(envoy, "/nested", "nested", realm={"role": "editor"})
        self.denied(envoy, "/nested", realm={"role": "viewer"})

    def test_dotted_key_is_one_claim(self, envoy):
        self.denied(envoy, "/dotted", realm={"role": "editor"})
        self.allowed(envoy, "/dotted", "dotted", **{"realm.role": "editor"})

    def test_scope_is_space_split(self, envoy):
        self.allowed(envoy, "/scope", "scope", scope="read write")
        self.denied(envoy, "/scope", scope="read writer")

    def test_space_delimited_claims(self, envoy):
        self.allowed(envoy, "/roles", "roles", roles="dev ops")

    def test_bool_claim_never_matches_a_string(self, envoy):
        self.denied(envoy, "/flag", admin=True)
        self.allowed(envoy, "/flag", "flag", admin="true")

    def test_audiences_and_presenter(self, envoy):
        entry = self.allowed(envoy, "/aud", "audience", aud=["web", "api"], azp="web-client")
        assert entry["auth"]["audiences"] == ["web", "api"]
        self.denied(envoy, "/aud", aud="api", azp="cli")

    def test_not_request_principals_denies_anonymous(self, envoy):
        expect(envoy.request("GET", "/np"), 403, "deny_matched", policy="default.deny-anonymous", rule=0)
        self.allowed(envoy, "/np", "open")

    def test_header_condition_sees_the_claim_header(self, envoy):
        self.allowed(envoy, "/hdr", "header")

    def test_header_condition_does_not_see_a_forged_header(self, envoy):
        resp = envoy.request("GET", "/hdr", headers={"x-user": "alice"})
        expect(resp, 403, "no_allow_match")
        resp = envoy.request("GET", "/hdr", headers={**bearer(claims_token(sub="bob")), "x-user": "alice"})
        expect(resp, 403, "no_allow_match")

    def test_invalid_token_is_401_whatever_the_policies(self, envoy):
        resp = envoy.request("GET", "/np", headers=bearer(claims_token(exp=int(time.time()) - 300)))
        expect_jwt_denied(resp, "jwt_expired", EXPIRED, realm=realm(envoy, "/np"))


# --- which RequestAuthentications apply ----------------------------------------------------------

SCOPES = {
    # issuer -> (RequestAuthentication name, namespace, selector, applies to default/app=backend)
    "https://root.test": ("root", "istio-system", None, True),
    "https://root-selected.test": ("root-selected", "istio-system", {"app": "backend"}, True),
    "https://namespace.test": ("namespace", "default", None, True),
    "https://v1beta1.test": ("v1beta1", "default", {"app": "backend"}, True),
    "https://other-namespace.test": ("other-namespace", "other", None, False),
    "https://other-app.test": ("other-app", "default", {"app": "payment"}, False),
    "https://more-labels.test": ("more-labels", "default", {"app": "backend", "version": "v2"}, False),
}
V1BETA1 = "security.istio.io/v1beta1"


def _scoping_config(ports):
    es256 = jwks_json([keys().get("ES256")])
    resources = [request_authn(name, [jwt_rule(iss, jwks=es256)], namespace=ns, selector=selector,
                               api_version=V1BETA1 if name == "v1beta1" else SECURITY_V1)
                 for iss, (name, ns, selector, _) in SCOPES.items()]
    resources.append(request_authn("waypoint", [jwt_rule("https://target-ref.test", jwks=es256)]))
    resources[-1]["spec"]["targetRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                            "name": "waypoint"}]
    return plugin_config(resources)


class TestScoping:
    """RequestAuthentications apply as AuthorizationPolicies do: root namespace (mesh-wide), the
    workload's namespace, a selector that is a subset of the workload's labels; targetRef policies are
    ignored by a sidecar. A token of an issuer only a non-applying resource names is unknown (401)."""

    config = _scoping_config

    @pytest.mark.parametrize("iss", [i for i, (*_, applies) in SCOPES.items() if applies])
    def test_applies(self, envoy, iss):
        verified(envoy.request("GET", "/", headers=bearer(token(iss=iss))), f"{iss}/alice")

    @pytest.mark.parametrize("iss", [i for i, (*_, applies) in SCOPES.items() if not applies]
                             + ["https://target-ref.test"])
    def test_does_not_apply(self, envoy, iss):
        expect_jwt_denied(envoy.request("GET", "/", headers=bearer(token(iss=iss))), "jwt_unknown_issuer",
                          UNKNOWN_ISSUER, realm=realm(envoy, "/"))
