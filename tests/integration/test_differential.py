"""Differential test: meshguard against Envoy's native jwt_authn + rbac, configured as istiod would.

The same Istio resources run in two Envoys built from envoy/envoy.yaml: one with the plugin, one with
the wasm filter replaced by the filters istiod generates (harness/native.py). Every request goes to
both; their answers must agree (status; body for 401/403; www-authenticate for 401; what the
upstream received for 200).

- test_fixed_seeds_agree: the generator's (tests/differential/generator.py) scenarios for a fixed
  set of seeds, bounded to about half a minute. A failure lists each disagreement with its seed;
  `python -m tests.differential --seed N` replays and minimises it, `--show` prints the scenario.
- TestRegressions: every disagreement found so far, minimised, as a fixed case with the status
  (and body) Istio answers. The expectation is Istio's behaviour, i.e. what Envoy's filters do as
  istiod configures them: each case also checks that the native side still answers so.

`make difftest` runs the long randomized version (tests/differential/__main__.py).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import pytest

from tests.differential.generator import generate
from tests.differential.model import ISSUER_A, ISSUER_B, KeyStore, Request, Scenario, Token, TokenUse, resources_yaml
from tests.differential.runner import BatchResult, Lab

from .harness import edwards
from .harness.envoy import WASM
from .harness.jwt import ALL_ALGS as ALGORITHMS

FIXED_SEEDS = list(range(1, 37))
BATCH = 12
RBAC_DENIED = "RBAC: access denied"


@pytest.fixture(scope="module")
def lab(pki, echo, tmp_path_factory) -> Lab:
    if not WASM.exists():
        pytest.fail(f"{WASM} is missing: run `make build` first", pytrace=False)
    return Lab(tmp_path_factory.mktemp("differential"), pki, echo.port)


def _report(result: BatchResult, limit: int = 6) -> str:
    lines = []
    shown: set[int] = set()
    for i, why in result.refused.items():
        lines.append(f"{result.scenarios[i].origin}: meshguard refused the configuration: {why}")
    for e in result.disagreements[:limit]:
        sc = result.scenarios[e.scenario]
        req = sc.requests[e.request]
        lines.append(f"{sc.origin}, request {e.request}: {req.describe()}\n"
                     f"    native    {json.dumps(e.native.to_dict())[:400]}\n"
                     f"    meshguard {json.dumps(e.meshguard.to_dict())[:400]}\n"
                     f"    differs in {', '.join(e.diffs)}")
        if e.scenario not in shown:
            shown.add(e.scenario)
            lines.append(f"    resources of {sc.origin} (workload {sc.namespace} {sc.labels}):\n"
                         + "\n".join("      " + ln for ln in resources_yaml(sc.resources).splitlines()))
    more = len(result.disagreements) - limit
    if more > 0:
        lines.append(f"... and {more} more")
    return "\n".join(lines)


# Every disagreement these seeds ever showed is fixed and kept below as a Case; a new one fails
# the suite, and once understood becomes a Case too.
@pytest.mark.parametrize("first", FIXED_SEEDS[::BATCH], ids=lambda s: f"seeds-{s}-{s + BATCH - 1}")
def test_fixed_seeds_agree(lab, first):
    scenarios = [generate(seed, 10000) for seed in range(first, first + BATCH)]
    result = lab.run(scenarios)
    assert result.exchanges, "no request was compared"
    assert not result.refused and not result.disagreements, (
        f"{len(result.disagreements)} of {len(result.exchanges)} requests answered differently, "
        f"{len(result.refused)} configurations refused (replay and minimise one with "
        f"`python -m tests.differential --seed N`):\n" + _report(result))


# The same scenarios over HTTP/2 (h2c with prior knowledge, ALPN h2 for mTLS requests): headers
# arrive as HTTP/2 fields (`:authority`, lowercase names), decisions and answers must not change.
H2_SEEDS = FIXED_SEEDS[:BATCH]


@pytest.fixture(scope="module")
def h2_lab(pki, echo, tmp_path_factory) -> Lab:
    if not WASM.exists():
        pytest.fail(f"{WASM} is missing: run `make build` first", pytrace=False)
    return Lab(tmp_path_factory.mktemp("differential-h2"), pki, echo.port, protocol="h2")


@pytest.mark.parametrize("first", H2_SEEDS[::BATCH], ids=lambda s: f"h2-seeds-{s}-{s + BATCH - 1}")
def test_fixed_seeds_agree_over_http2(h2_lab, first):
    scenarios = [generate(seed, 10000) for seed in range(first, first + BATCH)]
    result = h2_lab.run(scenarios)
    assert result.exchanges, "no request was compared"
    answered = [e for e in result.exchanges if e.native.status is not None]
    assert len(answered) > len(result.exchanges) // 2, "most requests must get an HTTP/2 answer"
    assert not result.refused and not result.disagreements, (
        f"over HTTP/2, {len(result.disagreements)} of {len(result.exchanges)} requests answered differently, "
        f"{len(result.refused)} configurations refused (replay with "
        f"`python -m tests.differential --seed N --protocol h2`):\n" + _report(result))


# ---------------------------------------------------------------------------------------------------
# Regressions: minimised disagreements, with Istio's answer


def ap(name: str, spec: dict, ns: str = "default") -> dict:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def ra(name: str, *rules: dict, ns: str = "default") -> dict:
    return {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
            "metadata": {"name": name, "namespace": ns}, "spec": {"jwtRules": list(rules)}}


def jwt_rule(issuer: str, **fields) -> dict:
    ks = KeyStore.get()
    return {"issuer": issuer, "jwks": ks.jwks("a" if issuer == ISSUER_A else "b"), **fields}


def token(key: str = "a", variant: str = "valid", exp_in: int | None = 3600, nbf_in: int | None = None,
          **claims) -> Token:
    iss = claims.pop("iss", ISSUER_A if key == "a" else ISSUER_B)
    return Token(key, {"iss": iss, **claims}, variant, exp_in, nbf_in)


def bearer(t: Token, prefix: str = "Bearer ", header: str = "Authorization") -> TokenUse:
    return TokenUse(t, header=header, prefix=prefix)


def param(t: Token, name: str = "access_token") -> TokenUse:
    return TokenUse(t, param=name)


@dataclass
class Case:
    """One minimised disagreement: resources, a request, and what Istio answers."""

    id: str
    why: str  # what differs and why Istio answers `status`
    resources: list[dict]
    request: Request
    status: int
    body: str | None = None  # the 401/403 body Istio sends (None: not checked)
    upstream_path: str | None = None  # for 200: the path the upstream must receive
    upstream_absent: list[str] = field(default_factory=list)  # for 200: headers the upstream must not receive
    upstream_values: dict[str, list[str]] = field(default_factory=dict)  # for 200: a header's values, all of them


A, B = ISSUER_A, ISSUER_B
JWT_A = ra("jwt-a", jwt_rule(A))
ALLOW_NOTHING = ap("allow-nothing", {"action": "ALLOW", "rules": []})
EXPIRED = "Jwt is expired"
BAD_FORMAT = "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections"
AUDIENCES = "Audiences in Jwt are not allowed"
UNKNOWN_ISSUER = "Jwt issuer is not configured"

# 8. EdDSA as BoringSSL's ED25519_verify answers (jwt_authn's): the key decoded as it is (a small-
#    order point, a y at or above p, an x of 0 with the sign bit set), h reduced modulo L, and the
#    encoding of [S]B - [h]A compared with R's bytes exactly. The tokens come from
#    harness/edwards.py, which builds what signing libraries never produce.
ED_SIGNATURE_FAILS = "Jwt verification fails"


def _ed25519_case(case_id: str, why: str, key: bytes, sign, status: int) -> Case:
    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "EdDSA", "typ": "JWT"}).encode())
    payload = b64(json.dumps({"iss": A, "sub": "alice", "exp": 4102444800}).encode())
    signing_input = f"{header}.{payload}"
    jwks = json.dumps({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64(key)}]})
    token = f"{signing_input}.{b64(sign(signing_input.encode()))}"
    return Case(case_id, why, [ra("jwt-ed", {"issuer": A, "jwks": jwks})],
                Request(headers=[("Authorization", f"Bearer {token}")]),
                status, ED_SIGNATURE_FAILS if status == 401 else None)


def _ed25519_cases() -> list[Case]:
    e = edwards
    secret = 0x1234_5678_9abc_def0_1234_5678_9abc_def0_1234_5678_9abc_def0_1234_5678 % e.L
    key = e.encode(e.mul(secret, e.B))
    torsion = e.order8_point()
    small = e.encode(torsion)
    # The identity's encodings: y = 1 written as 1 + p, and y = 1 with x's sign bit set (x = 0).
    y_above_p = (1 + e.P).to_bytes(32, "little")
    zero_x_negative = (1 | 1 << 255).to_bytes(32, "little")
    return [
        _ed25519_case("ed25519-valid", "a signature as any library makes it verifies on both sides",
                      key, lambda m: e.sign(secret, m), 200),
        _ed25519_case("ed25519-r-with-torsion",
                      "R = [r]B + T (T of order 8), S = r + h a: [S]B - [h]A is [r]B, not R; a cofactored "
                      "check ([8](SB - hA - R) = 0, ed25519-compact's) accepts it (a wrong allow)",
                      key, lambda m: e.sign(secret, m, r_offset=torsion), 401),
        _ed25519_case("ed25519-s-not-reduced", "S + L in place of S: refused (S must be below L)",
                      key, lambda m: (lambda sig: sig[:32] + ((int.from_bytes(sig[32:], "little") + e.L)
                                                            .to_bytes(32, "little")))(e.sign(secret, m)), 401),
        _ed25519_case("ed25519-small-order-key",
                      "a key of order 8 signs for anyone ([h]A depends on h mod 8): BoringSSL takes it as a "
                      "key like any other and the forged token verifies",
                      small, lambda m: e.forge(small, torsion, 8, m), 200),
        _ed25519_case("ed25519-key-y-above-p",
                      "a key whose y is written as 1 + p (the identity): BoringSSL reduces it and accepts",
                      y_above_p, lambda m: e.forge(y_above_p, e.IDENTITY, 1, m), 200),
        _ed25519_case("ed25519-key-zero-x-sign-bit",
                      "the identity with x's sign bit set (x = 0 has no negative): BoringSSL accepts the key",
                      zero_x_negative, lambda m: e.forge(zero_x_negative, e.IDENTITY, 1, m), 200),
    ]


ED25519_CASES = _ed25519_cases()

CASES: list[Case] = [
    # 1. The token prefix is searched anywhere in the header value (Envoy's JwtLocation extractor:
    #    value.find(prefix)), so `Authorization: Basic x, Bearer <t>` (or two Authorization
    #    headers, which the HCM folds into one value joined by `,`) carries the token <t>.
    Case("bearer-prefix-inside-value-expired-token",
         "two Authorization headers (`Basic ...` and `Bearer <expired>`) are one value `Basic ...,Bearer <t>`; "
         "jwt_authn finds `Bearer ` inside it and rejects the expired token (meshguard: no token, 200)",
         [JWT_A], Request(headers=[("Authorization", "Basic dXNlcjpwYXNz")],
                          tokens=[bearer(token(exp_in=-3600, sub="alice"))]),
         401, EXPIRED),
    Case("bearer-prefix-inside-value-deny-principal",
         "DENY on requestPrincipals: the token after `Basic ...,Bearer ` is alice's, so the DENY matches "
         "(meshguard sees no token and lets the request through: a wrong allow)",
         [JWT_A, ap("deny-alice", {"action": "DENY", "rules": [{"from": [{"source": {"requestPrincipals": [f"{A}/alice"]}}]}]})],
         Request(headers=[("Authorization", "Basic dXNlcjpwYXNz")], tokens=[bearer(token(sub="alice"))]),
         403, RBAC_DENIED),
    Case("token-starts-at-first-jwt-character",
         "`Authorization: Bearer !!!.e30.c2ln`: the token starts at the first JWT character after the "
         "prefix, `.e30.c2ln`, which has two non-empty sections only (malformed)",
         [JWT_A], Request(headers=[("Authorization", "Bearer !!!.e30.c2ln")]), 401, BAD_FORMAT),
    Case("bearer-prefix-after-other-text",
         "`Authorization: xBearer <t>`: the prefix is found inside the value; <t> verifies and gives alice, "
         "whom the ALLOW names; the verified token's header is removed before the upstream",
         [JWT_A, ap("allow-alice", {"rules": [{"from": [{"source": {"requestPrincipals": [f"{A}/alice"]}}]}]})],
         Request(tokens=[bearer(token(sub="alice"), prefix="xBearer ")]),
         200, upstream_absent=["authorization"]),
    # 2. Several tokens for one provider: Envoy verifies the LAST one extracted first (query
    #    parameters come after headers), and answers with the first failure.
    Case("query-token-verified-before-header-token",
         "Authorization: Bearer <token without aud> and ?access_token=x: the query token is checked first "
         "and fails as malformed (401); meshguard answers the header token's audience failure (403)",
         [ra("jwt-a-aud", jwt_rule(A, audiences=["other"]))],
         Request(target="/admin?access_token=x", tokens=[bearer(token(sub="alice"))]),
         401, BAD_FORMAT),
    Case("query-token-error-wins-over-header-token-error",
         "a token of an unknown issuer in Authorization and a malformed ?access_token: the answer is the "
         "query token's (malformed), not the header token's (issuer not configured)",
         [ra("jwt-b", jwt_rule(B))],
         Request(target="/x?access_token=x", tokens=[bearer(token("a", sub="alice"))]),
         401, BAD_FORMAT),
    # 3. Several providers (istiod: requires_any[origins-0..n, requires_all[...]]): one provider
    #    whose token verifies satisfies the requirement, whatever the other locations hold.
    Case("one-provider-verifies-same-token-elsewhere",
         "jwtRules A (fromHeaders x-jwt) and B (default locations); A's token in x-jwt and in Authorization: "
         "origins-0 verifies x-jwt, requires_any is met (meshguard: 401 for the A token where only B reads)",
         [ra("jwt-ab", jwt_rule(A, fromHeaders=[{"name": "x-jwt"}]), jwt_rule(B))],
         Request(tokens=[bearer(token(sub="alice"), prefix="", header="x-jwt"), bearer(token(sub="alice"))]),
         200),
    Case("one-provider-verifies-other-location-invalid",
         "jwtRules A (fromParams token) and B (audiences backend): a valid A token in ?token and a token "
         "with a bad signature in Authorization: origins-0 verifies, requires_any is met",
         [ra("jwt-ab", jwt_rule(A, fromParams=["token"]), jwt_rule(B, audiences=["backend"]))],
         Request(tokens=[param(token(sub="alice"), "token"), bearer(token("b", "badsig", sub="bob"))]),
         200),
    Case("several-providers-error-of-the-last-requirement",
         "RequestAuthentications for B (default locations) and A (x-jwt, audiences other); ?access_token=x and "
         "a forged A token in x-jwt: Envoy answers the error of the last failed requirement (A's audience)",
         [ra("jwt-b", jwt_rule(B)), ra("jwt-a", jwt_rule(A, audiences=["other"], fromHeaders=[{"name": "x-jwt"}]))],
         Request(target="/admin?access_token=x", tokens=[bearer(token("a", "badsig"), prefix="", header="x-jwt")]),
         403, AUDIENCES),
    # 4. CUSTOM without a MeshConfig provider: istiod turns its rules into an rbac DENY filter placed
    #    BEFORE jwt_authn (listener_builder: CUSTOM, then authn, then AUDIT/DENY/ALLOW).
    Case("custom-deny-before-jwt",
         "a request matching a CUSTOM rule (provider unknown to istiod) is denied (403) before its token "
         "is looked at; meshguard answers the expired token's 401",
         [JWT_A, ap("ext", {"action": "CUSTOM", "provider": {"name": "ext-authz"}, "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}]})],
         Request(target="/admin/x", tokens=[bearer(token(exp_in=-3600))]),
         403, RBAC_DENIED),
    # 5. forwardOriginalToken false: a verified token is removed from the query string too.
    Case("query-token-removed-before-upstream",
         "?access_token=<valid> with forwardOriginalToken unset: jwt_authn removes the parameter; "
         "meshguard forwards the token to the upstream",
         [JWT_A], Request(target="/x?a=1", tokens=[param(token(sub="alice"))]),
         200, upstream_path="/x?a=1"),
    Case("custom-param-token-removed-before-upstream",
         "fromParams [token]: the verified ?token= parameter is removed (the only parameter: no `?` left)",
         [ra("jwt-a", jwt_rule(A, fromParams=["token"]))], Request(target="/x", tokens=[param(token(), "token")]),
         200, upstream_path="/x"),
    Case("same-token-twice-claims-written-twice",
         "one provider reading Authorization and x-jwt, the same token in both: both tokens verify and each "
         "writes its outputClaimToHeaders header, so the upstream gets x-jwt-sub twice",
         [ra("jwt-a", jwt_rule(A, fromHeaders=[{"name": "Authorization", "prefix": "Bearer "},
                                                {"name": "x-jwt", "prefix": "Token "}],
                                   outputClaimToHeaders=[{"header": "x-jwt-sub", "claim": "sub"}]))],
         Request(tokens=[bearer(token(sub="alice"), prefix="Token ", header="x-jwt"), bearer(token(sub="alice"))]),
         200, upstream_values={"x-jwt-sub": ["alice", "alice"]}, upstream_absent=["authorization", "x-jwt"]),
    Case("query-rewritten-after-token-removal",
         "removing the verified ?access_token, Envoy rebuilds the query from its decoded parameters "
         "sorted by name (a parameter without `=` gets one)",
         [JWT_A], Request(target="/x?z=1&b=%41&c", tokens=[param(token(sub="alice"))]),
         200, upstream_path="/x?b=A&c=&z=1"),
    Case("empty-query-token-is-malformed",
         "`?access_token=` carries an empty token, which is malformed (not an anonymous request)",
         [JWT_A], Request(target="/x?access_token="), 401, BAD_FORMAT),
    Case("bare-query-token-name-is-malformed",
         "`?access_token` without `=` is an empty token too",
         [JWT_A], Request(target="/x?a=1&access_token"), 401, BAD_FORMAT),
    # 6. The headers providers write: client copies are removed for every provider, whichever
    #    provider verifies, and on CORS preflights too (jwt_authn sanitizes before anything else).
    Case("other-provider-output-header-removed",
         "jwtRules for two issuers, only issuer-b's writes x-jwt-sub; a valid token of the other issuer "
         "(consulted first, as `origins-0`) satisfies the requirement, and the forged x-jwt-sub is removed",
         [ra("jwt-ab", jwt_rule(B, outputClaimToHeaders=[{"header": "x-jwt-sub", "claim": "sub"}]), jwt_rule(A))],
         Request(headers=[("x-jwt-sub", "admin")], tokens=[bearer(token(sub="carol"))]),
         200, upstream_absent=["x-jwt-sub"]),
    Case("preflight-output-header-removed",
         "a CORS preflight is not authenticated, but the forged copy of an output header is removed",
         [ra("jwt-a", jwt_rule(A, outputClaimToHeaders=[{"header": "x-role", "claim": "realm.role"}]))],
         Request(method="OPTIONS", target="/Admin", headers=[("x-role", "admin"), ("Origin", "https://web.example.com"),
                                                            ("Access-Control-Request-Method", "GET")]),
         200, upstream_absent=["x-role"]),
    # 7. outputClaimToHeaders with a list or object claim: Envoy writes the claim's JSON, base64-encoded.
    Case("claim-to-header-list-claim",
         "outputClaimToHeaders x-role <- realm.role, a token whose realm.role is a list: Envoy writes "
         "x-role (base64 of the JSON) and the DENY on request.headers[x-role] matches; meshguard writes "
         "nothing and lets the request through (a wrong allow)",
         [ra("jwt-a", jwt_rule(A, outputClaimToHeaders=[{"header": "x-role", "claim": "realm.role"}])),
          ap("deny-role-header", {"action": "DENY", "rules": [{"when": [{"key": "request.headers[x-role]", "values": ["*"]}]}]})],
         Request(tokens=[bearer(token(realm={"role": ["admin", "x"]}))]),
         403, RBAC_DENIED),
    Case("claim-to-header-object-claim",
         "outputClaimToHeaders x-realm <- realm (an object): Envoy writes it (base64 JSON) and an ALLOW "
         "that requires the header matches",
         [ra("jwt-a", jwt_rule(A, outputClaimToHeaders=[{"header": "x-realm", "claim": "realm"}])),
          ap("allow-realm", {"rules": [{"when": [{"key": "request.headers[x-realm]", "values": ["*"]}]}]})],
         Request(tokens=[bearer(token(realm={"role": "admin"}))]),
         200),
    *ED25519_CASES,
]


def _scenario(case: Case) -> Scenario:
    return Scenario("default", {"app": "backend"}, case.resources, [case.request], 10000, case.id)


@pytest.fixture(scope="module")
def regression_results(lab):
    """All cases in one pair of Envoys: {case id: Exchange}."""
    if not CASES:
        return {}
    result = lab.run([_scenario(c) for c in CASES])
    assert not result.refused, f"meshguard refused a regression case's configuration: {result.refused}"
    return {CASES[e.scenario].id: e for e in result.exchanges}


def _check(obs, case: Case, side: str) -> list[str]:
    problems = []
    if obs.status != case.status:
        problems.append(f"{side}: status {obs.status} {obs.body[:80]!r}, Istio answers {case.status}")
    elif case.body is not None and obs.body != case.body:
        problems.append(f"{side}: body {obs.body[:80]!r}, Istio answers {case.body!r}")
    elif case.status == 200 and obs.upstream is not None:
        if case.upstream_path is not None and obs.upstream["path"] != case.upstream_path:
            problems.append(f"{side}: the upstream got path {obs.upstream['path'][:120]!r}, "
                            f"Istio sends {case.upstream_path!r}")
        got = {h[0] for h in obs.upstream["headers"]}
        for name in case.upstream_absent:
            if name in got:
                problems.append(f"{side}: the upstream got header {name!r}, Istio removes it")
        for name, values in case.upstream_values.items():
            seen = sorted(v for k, v in obs.upstream["headers"] if k == name)
            if seen != sorted(values):
                problems.append(f"{side}: the upstream got {name}: {seen}, Istio sends {sorted(values)}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_regression(regression_results, case: Case):
    e = regression_results[case.id]
    native_problems = _check(e.native, case, "native Envoy")
    assert not native_problems, ("the native side no longer answers as this case says Istio does "
                                 f"(the case is wrong, or Envoy changed): {native_problems}")
    problems = _check(e.meshguard, case, "meshguard")
    assert not problems, (f"{case.id}: {case.why}\nrequest: {case.request.describe()}\n"
                          f"resources:\n{resources_yaml(case.resources)}\n" + "\n".join(problems))


# ---------------------------------------------------------------------------------------------------
# Every signature algorithm jwt_authn verifies, against the native chain


def _algorithm_scenario() -> Scenario:
    """One provider publishing a key of every algorithm (ES512 on P-521 included); an ALLOW that
    requires alice's token. Per algorithm: a valid token, one with a flipped signature bit, one
    with a zero signature; then cross-curve and cross-family tokens the key type must refuse."""
    from .harness.jwt import ALL_ALGS, b64url, forge, jwks_json, keys

    iss = "https://algs.example.com"
    ring = keys()
    resources = [
        ra("jwt-all", {"issuer": iss, "jwks": jwks_json(ring.all(ALL_ALGS))}),
        ap("allow-alice", {"rules": [{"from": [{"source": {"requestPrincipals": [f"{iss}/alice"]}}]}]}),
    ]

    def bearer_raw(t: str) -> Request:
        return Request(target="/algs", headers=[("Authorization", f"Bearer {t}")])

    def flip(t: str) -> str:
        head, payload, sig = t.split(".")
        raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
        raw[len(raw) // 2] ^= 0x01
        return f"{head}.{payload}.{b64url(bytes(raw))}"

    requests = []
    for alg in ALL_ALGS:
        key = ring.get(alg)
        good = key.sign({"iss": iss, "sub": "alice"})
        requests.append(bearer_raw(good))
        requests.append(bearer_raw(flip(good)))
        size = len(base64.urlsafe_b64decode(good.split(".")[2] + "=="))
        requests.append(bearer_raw(forge({"alg": alg, "kid": key.kid}, {"iss": iss, "sub": "alice"}, bytes(size))))
        requests.append(bearer_raw(key.sign({"iss": iss, "sub": "bob"})))
    claims = {"iss": iss, "sub": "alice"}
    # A P-521 signature announced as ES256, and a P-256 one as ES512, each under the other's kid.
    requests.append(bearer_raw(ring.get("ES512").sign(claims, {"alg": "ES256", "kid": "ec-p256"})))
    requests.append(bearer_raw(ring.get("ES256").sign(claims, {"alg": "ES512", "kid": "ec-p521"})))
    # ES512 without a kid: every key is tried.
    requests.append(bearer_raw(ring.get("ES512").sign(claims, {"kid": None})))
    requests.append(Request(target="/algs"))
    return Scenario("default", {"app": "backend"}, resources, requests, 10000, "every-algorithm")


def test_every_algorithm_agrees_with_native(lab):
    result = lab.run([_algorithm_scenario()])
    assert not result.refused, f"meshguard refused the configuration: {result.refused}"
    statuses = [e.native.status for e in result.exchanges]
    assert statuses.count(200) == len(ALGORITHMS) + 1, statuses  # each valid token, ES512 without kid
    assert not result.disagreements, _report(result)
