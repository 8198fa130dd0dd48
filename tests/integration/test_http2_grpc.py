"""HTTP/2, gRPC and CONNECT: meshguard against Envoy's native jwt_authn + rbac chain.

Two Envoys from envoy/envoy.yaml with the same Istio resources, one with the plugin and one with
the filters istiod generates (harness/native.py), both with what gRPC and CONNECT need on top
(harness/h2.py: a gRPC route to an HTTP/2 upstream, CONNECT accepted and tunnelled to the echo
server). Every request goes to both, over h2c (prior knowledge), TLS with ALPN h2 (one-way and
with a workload's client certificate), HTTP/1.1 where it matters, and as real gRPC calls
(grpcio); the answers must agree (status, grpc-status and grpc-message, body of a denial,
www-authenticate) and match what Istio answers, and meshguard's audit entry must say what the
native access log says (request_id, method, host, path, status) and name the policy native
RBAC names in its response code details.

Measured on Envoy 1.40.0 (the venv's envoy), natively, and asserted below:
- a denied gRPC call is answered HTTP 200, content-type application/grpc, grpc-status 7
  (PERMISSION_DENIED), grpc-message "RBAC: access denied"; a JWT failure grpc-status 16
  (UNAUTHENTICATED) with jwt_authn's text as grpc-message and its www-authenticate header.
- over HTTP/2, a `host` header next to `:authority` is dropped by Envoy's codec: the
  `:authority` is what every matcher (and the upstream) sees.
- a CONNECT has no :path: `paths` never match it, `notPaths` always do, and jwt_authn does not
  authenticate it (istiod's rule matches `prefix: /`), so a bad token is not refused.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from .harness import h2 as H
from .harness.client import request as http1_request
from .harness.jwt import jwks_json, keys

ISS = "https://issuer.test"
NS = "default"
FRONTEND = ("default", "frontend")
RBAC_DENIED = "RBAC: access denied"


def _ap(name: str, spec: dict) -> dict:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


RESOURCES = [
    {"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
     "metadata": {"name": "jwt", "namespace": NS},
     "spec": {"jwtRules": [{"issuer": ISS, "jwks": jwks_json([keys().get("ES256")])}]}},
    _ap("deny-evil-host", {"action": "DENY", "rules": [
        {"when": [{"key": "request.headers[host]", "values": ["evil.example.com"]}]}]}),
    _ap("deny-admin", {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin*"]}}]}]}),
    _ap("deny-connect-db", {"action": "DENY", "rules": [
        {"to": [{"operation": {"methods": ["CONNECT"], "hosts": ["db.internal:5432"]}}]}]}),
    _ap("allow-app", {"action": "ALLOW", "rules": [
        # 0: the API, for readers only
        {"to": [{"operation": {"paths": ["/api/*"]}}],
         "when": [{"key": "request.headers[x-role]", "values": ["reader"]}]},
        # 1: gRPC, with a verified token only
        {"from": [{"source": {"requestPrincipals": [f"{ISS}/*"]}}],
         "to": [{"operation": {"paths": ["/echo.Echo/*"]}}]},
        # 2: anything public
        {"to": [{"operation": {"paths": ["/public/*"]}}]},
        # 3: CONNECT tunnels
        {"to": [{"operation": {"methods": ["CONNECT"]}}]},
        # 4: an ALLOW on the host header: only for trusted.example.com
        {"to": [{"operation": {"paths": ["/host-only/*"]}}],
         "when": [{"key": "request.headers[Host]", "values": ["trusted.example.com"]}]},
    ]}),
]
CONFIG = {"workload": {"namespace": NS, "labels": {"app": "backend"}}, "audit": {"log": "all"},
          "resources": RESOURCES}


def _token(**claims) -> str:
    return keys().get("ES256").sign({"iss": ISS, "sub": "alice", **claims})


def _stranger_token() -> str:
    """Signed by a key the provider does not have (same kid): a bad signature."""
    return keys().fresh_ec(keys().get("ES256").kid).sign({"iss": ISS, "sub": "alice"})


@pytest.fixture(scope="module")
def grpc_echo():
    with H.GrpcEcho() as server:
        yield server


@pytest.fixture(scope="module")
def pair(envoy_factory, grpc_echo):
    """(native, meshguard): the two Envoys for RESOURCES."""
    patch = lambda doc: H.with_grpc_and_connect(doc, grpc_echo.port)  # noqa: E731
    native = envoy_factory.start_native(CONFIG, patch=patch)
    meshguard = envoy_factory.start(CONFIG, patch=patch)
    yield native, meshguard
    native.stop()
    meshguard.stop()


# ---------------------------------------------------------------------------------------------------
# What each side logged


def _access_log(envoy, request_id: str, timeout: float = 5.0) -> dict:
    """The native (or meshguard) Envoy's access log entry of a request (envoy.yaml's json_format)."""
    deadline = time.monotonic() + timeout
    while True:
        for line in envoy.log_text().splitlines():
            if f'"request_id":"{request_id}"' in line and '"response_code"' in line:
                return json.loads(line[line.index("{"):])
        if time.monotonic() > deadline:
            raise AssertionError(f"no access log entry for {request_id} in {envoy.log_path}")
        time.sleep(0.05)


_NATIVE_POLICY = re.compile(r"rbac_access_denied_matched_policy\[ns\[([^\]]+)\]-policy\[([^\]]+)\]-rule\[\d+\]\]")


def _native_policy(details: str) -> str | None:
    m = _NATIVE_POLICY.fullmatch(details or "")
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _check_audit(native, meshguard, request_id: str, policy: str | None, decision: str) -> dict:
    """meshguard's audit entry agrees with the native access log, and names `policy`."""
    entry = next(r.entry for r in meshguard.audit_log.find(request_id))
    nat = _access_log(native, request_id)
    assert entry["request_id"] == request_id
    assert entry["method"] == nat["method"]
    assert entry["host"] == nat["authority"]
    assert entry["path"] == (nat["path"].split("?")[0] if nat["path"] is not None else None)
    assert entry["status"] == nat["response_code"]
    assert entry["decision"] == decision, entry
    assert entry["policy"] == policy, entry
    if decision == "deny" and entry["reason"] == "deny_matched":
        assert _native_policy(nat["response_code_details"]) == policy, nat
    return entry


# ---------------------------------------------------------------------------------------------------
# Plain HTTP/2 requests: (method, path, authority, headers) -> status, deciding policy

ALLOW_APP = f"{NS}.allow-app"
CASES = [
    ("GET", "/api/items", "good.example.com", [("x-role", "reader")], 200, ALLOW_APP),
    ("GET", "/api/items", "good.example.com", [("x-role", "writer")], 403, None),
    ("GET", "/api/items", "evil.example.com", [("x-role", "reader")], 403, f"{NS}.deny-evil-host"),
    ("GET", "/public/a", "evil.example.com", [], 403, f"{NS}.deny-evil-host"),
    ("GET", "/public/a", "EVIL.example.com", [], 200, ALLOW_APP),  # header values are case-sensitive
    ("GET", "/public/a", "evil.example.com:8080", [], 200, ALLOW_APP),  # the whole :authority
    ("GET", "/public/a?x=1", "good.example.com", [], 200, ALLOW_APP),
    ("GET", "/admin/x", "good.example.com", [], 403, f"{NS}.deny-admin"),
    ("GET", "/host-only/a", "trusted.example.com", [], 200, ALLOW_APP),
    ("GET", "/host-only/a", "other.example.com", [], 403, None),
    ("POST", "/public/b", "good.example.com", [("content-type", "text/plain")], 200, ALLOW_APP),
    ("GET", "/elsewhere", "good.example.com", [], 403, None),
]


def _decision(status: int) -> str:
    return "allow" if status == 200 else "deny"


# TLS without a client certificate is refused by envoy.yaml's mTLS chain (require_client_certificate).
@pytest.mark.parametrize("transport", ["h2c", "h2-mtls"])
def test_http2_requests_agree(pair, pki, transport):
    native, meshguard = pair
    kw = {"h2c": {}, "h2-mtls": {"peer": FRONTEND}}[transport]
    with H.H2Client(native.port, pki, **kw) as nc, H.H2Client(meshguard.port, pki, **kw) as mc:
        for c in (nc, mc):
            assert c.alpn == (None if transport == "h2c" else "h2")
        for method, path, authority, headers, status, policy in CASES:
            body = b"hello" if method == "POST" else b""
            rid = str(uuid.uuid4())
            what = f"{method} {path} {authority} {headers}"
            nat = nc.request(method, path, authority, headers, body, request_id=rid)
            mg = mc.request(method, path, authority, headers, body, request_id=rid)
            assert (nat.status, mg.status) == (status, status), what
            if status == 403:
                assert nat.body == mg.body == RBAC_DENIED.encode(), what
            else:
                assert nat.json()["path"] == mg.json()["path"] == path, what
            _check_audit(native, meshguard, rid, policy, _decision(status))


def test_host_header_next_to_authority_is_dropped(pair, pki):
    """Over HTTP/2 Envoy keeps :authority and drops a differing host header (measured): the DENY
    on request.headers[host] follows :authority on both sides, and so does the upstream."""
    native, meshguard = pair
    rids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for envoy in (native, meshguard):
        with H.H2Client(envoy.port, validate=False) as c:
            r = c.request("GET", "/public/a", "good.example.com", [("host", "evil.example.com")], request_id=rids[0])
            assert r.status == 200
            assert [h for h in r.json()["headers"] if h[0].lower() == "host"] == [["host", "good.example.com"]]
            r = c.request("GET", "/public/a", "evil.example.com", [("host", "good.example.com")], request_id=rids[1])
            assert r.status == 403
    _check_audit(native, meshguard, rids[0], ALLOW_APP, "allow")
    _check_audit(native, meshguard, rids[1], f"{NS}.deny-evil-host", "deny")


def test_http1_host_header_is_the_authority(pair, pki):
    """The same key over HTTP/1.1: Host is :authority there too."""
    native, meshguard = pair
    rids = [str(uuid.uuid4()), str(uuid.uuid4())]
    for envoy in (native, meshguard):
        r = http1_request(envoy.port, pki, "GET", "/public/a", host="evil.example.com",
                          headers={"x-request-id": rids[0]})
        assert r.status == 403 and r.text == RBAC_DENIED
        r2 = http1_request(envoy.port, pki, "GET", "/host-only/x", host="trusted.example.com",
                           headers={"x-request-id": rids[1]})
        assert r2.status == 200
    _check_audit(native, meshguard, rids[0], f"{NS}.deny-evil-host", "deny")
    _check_audit(native, meshguard, rids[1], ALLOW_APP, "allow")


def test_multiplexed_streams_keep_their_own_decisions(pair, pki):
    """50 streams at once on one connection, allowed and denied by path, header and host, sent
    before any answer is read: each stream gets its own answer and its own audit entry."""
    native, meshguard = pair
    plan = [CASES[i % len(CASES)] for i in range(50)]
    rids = [str(uuid.uuid4()) for _ in plan]
    answers = {}
    for envoy in (native, meshguard):
        with H.H2Client(envoy.port, pki, peer=FRONTEND) as c:
            sids = [c.send(m, p, a, h, b"x" if m == "POST" else b"", request_id=rid)
                    for (m, p, a, h, _, _), rid in zip(plan, rids)]
            answers[envoy is meshguard] = c.wait(sids)
    for case, nat, mg in zip(plan, answers[False], answers[True]):
        method, path, authority, headers, status, policy = case
        assert (nat.status, mg.status) == (status, status), case
        assert mg.body == nat.body or status == 200, case
        if status == 200:
            assert mg.json()["path"] == path and nat.json()["path"] == path
        _check_audit(native, meshguard, mg.request_id, policy, _decision(status))


# ---------------------------------------------------------------------------------------------------
# gRPC: real calls (grpcio) with metadata and JWTs

GRPC_CASES = [
    # (name, method, metadata, expected code, expected details, deciding policy)
    ("token", H.ECHO_METHOD, lambda: [("authorization", f"Bearer {_token()}"), ("x-role", "reader")],
     grpc.StatusCode.OK, None, ALLOW_APP),
    ("no token", H.ECHO_METHOD, lambda: [], grpc.StatusCode.PERMISSION_DENIED, RBAC_DENIED, None),
    ("expired", H.ECHO_METHOD, lambda: [("authorization", f"Bearer {keys().get('ES256').sign({'iss': ISS, 'sub': 'a'}, exp=-3600)}")],
     grpc.StatusCode.UNAUTHENTICATED, "Jwt is expired", None),
    ("bad signature", H.ECHO_METHOD, lambda: [("authorization", f"Bearer {_stranger_token()}")],
     grpc.StatusCode.UNAUTHENTICATED, "Jwt verification fails", None),
    ("malformed", H.ECHO_METHOD, lambda: [("authorization", "Bearer not-a-jwt")],
     grpc.StatusCode.UNAUTHENTICATED, "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
     None),
    ("other service", "/other.Svc/Do", lambda: [("authorization", f"Bearer {_token()}")],
     grpc.StatusCode.PERMISSION_DENIED, RBAC_DENIED, None),
    ("evil host", H.ECHO_METHOD, lambda: [("authorization", f"Bearer {_token()}")],
     grpc.StatusCode.PERMISSION_DENIED, RBAC_DENIED, f"{NS}.deny-evil-host"),
    ("upstream error", H.FAIL_METHOD, lambda: [("authorization", f"Bearer {_token()}")],
     grpc.StatusCode.FAILED_PRECONDITION, "upstream says no", ALLOW_APP),
]


def _grpc_decision(code: grpc.StatusCode, name: str) -> str:
    return "allow" if code in (grpc.StatusCode.OK, grpc.StatusCode.FAILED_PRECONDITION) else "deny"


@pytest.mark.parametrize("peer", [None, FRONTEND], ids=["h2c", "mtls"])
def test_grpc_calls_agree(pair, pki, peer):
    native, meshguard = pair
    for name, method, metadata, code, details, policy in GRPC_CASES:
        md = metadata()
        rid = str(uuid.uuid4())
        results = []
        for envoy in (native, meshguard):
            authority = "evil.example.com" if name == "evil host" else "good.example.com"
            channel = H.grpc_channel(envoy.port, pki, peer, authority=authority)
            try:
                results.append(H.grpc_call(channel, method, md, request_id=rid))
            finally:
                channel.close()
        nat, mg = results
        assert (nat.code, nat.details) == (code, details), f"native, {name}"
        assert (mg.code, mg.details) == (code, details), f"meshguard, {name}"
        if code == grpc.StatusCode.OK:
            # The verified token is removed before the upstream (forwardOriginalToken false),
            # the other metadata reaches it.
            for side in (nat, mg):
                seen = {k for k, _ in side.reply["metadata"]}
                assert "authorization" not in seen and "x-role" in seen, (name, side.reply)
        entry = _check_audit(native, meshguard, mg.request_id, policy, _grpc_decision(code, name))
        if code == grpc.StatusCode.UNAUTHENTICATED:
            assert entry["auth"]["error"] == details
        if code == grpc.StatusCode.OK:
            assert entry["auth"]["principal"] == f"{ISS}/alice"


def test_grpc_denials_have_the_native_shape(pair, pki):
    """The raw HTTP/2 answers: HTTP 200, application/grpc, grpc-status 7 or 16 in a trailers-only
    response, the same grpc-message and www-authenticate on both sides."""
    native, meshguard = pair
    grpc_headers = [("content-type", "application/grpc"), ("te", "trailers")]
    frame = b"\0\0\0\0\0"  # one empty message
    calls = [
        ("/other.Svc/Do", [], "7", RBAC_DENIED),
        ("/echo.Echo/Call", [], "7", RBAC_DENIED),
        ("/echo.Echo/Call", [("authorization", "Bearer a.b.c")], "16", None),
        ("/echo.Echo/Call", [("authorization", f"Bearer {keys().get('ES256').sign({'iss': ISS}, exp=-3600)}")],
         "16", "Jwt is expired"),
    ]
    for path, headers, status, message in calls:
        answers = []
        for envoy in (native, meshguard):
            with H.H2Client(envoy.port) as c:
                answers.append(c.request("POST", path, "good.example.com", grpc_headers + headers, frame))
        nat, mg = answers
        for r in answers:
            assert r.status == 200 and r.header("content-type") == "application/grpc", (path, r)
            assert r.grpc_status == status, (path, r)
            if message is not None:
                assert r.grpc_message == message
        assert mg.grpc_message == nat.grpc_message
        assert mg.header("www-authenticate") == nat.header("www-authenticate")
        if status == "16":
            assert nat.header("www-authenticate") == \
                'Bearer realm="http://good.example.com/echo.Echo/Call", error="invalid_token"'


def test_concurrent_grpc_calls_on_one_channel(pair, pki):
    """40 calls in flight at once on one grpcio channel (one HTTP/2 connection), good tokens,
    bad tokens and no tokens mixed: every call gets its own verdict."""
    native, meshguard = pair
    good, bad = _token(), _stranger_token()
    plan = [(["good", "bad", "none", "other"][i % 4]) for i in range(40)]

    def md(kind: str) -> list[tuple[str, str]]:
        return {"good": [("authorization", f"Bearer {good}")], "bad": [("authorization", f"Bearer {bad}")],
                "none": [], "other": [("authorization", f"Bearer {good}")]}[kind]

    expected = {"good": grpc.StatusCode.OK, "bad": grpc.StatusCode.UNAUTHENTICATED,
                "none": grpc.StatusCode.PERMISSION_DENIED, "other": grpc.StatusCode.PERMISSION_DENIED}
    for envoy in (native, meshguard):
        channel = H.grpc_channel(envoy.port, pki, FRONTEND)
        try:
            with ThreadPoolExecutor(16) as pool:
                results = list(pool.map(
                    lambda k: H.grpc_call(channel, "/other.Svc/Do" if k == "other" else H.ECHO_METHOD, md(k)), plan))
        finally:
            channel.close()
        for kind, res in zip(plan, results):
            assert res.code == expected[kind], (kind, res)
            if envoy is meshguard:
                entry = next(r.entry for r in meshguard.audit_log.find(res.request_id))
                assert entry["decision"] == ("allow" if kind == "good" else "deny"), (kind, entry)
                assert entry["auth"]["principal"] == (f"{ISS}/alice" if kind in ("good", "other") else None)


# ---------------------------------------------------------------------------------------------------
# CONNECT


def test_connect_over_http2_and_http1(pair, pki, echo):
    native, meshguard = pair
    cases = [
        ("web.example.com:443", [], 200, ALLOW_APP),
        ("db.internal:5432", [], 403, f"{NS}.deny-connect-db"),
        ("evil.example.com", [], 403, f"{NS}.deny-evil-host"),
        # jwt_authn does not look at a CONNECT (no :path for istiod's `prefix: /` rule): a bad
        # token is not refused.
        ("web.example.com:443", [("authorization", "Bearer not-a-jwt")], 200, ALLOW_APP),
    ]
    for authority, headers, status, policy in cases:
        answers = []
        rid = str(uuid.uuid4())
        for envoy in (native, meshguard):
            with H.H2Client(envoy.port, pki, peer=FRONTEND) as c:
                answers.append(c.request("CONNECT", None, authority, headers, request_id=rid))
        nat, mg = answers
        assert (nat.status, mg.status) == (status, status), authority
        if status == 403:
            assert nat.body == mg.body == RBAC_DENIED.encode()
        entry = _check_audit(native, meshguard, mg.request_id, policy, _decision(status))
        assert entry["method"] == "CONNECT" and entry["host"] == authority and entry["path"] is None
    # HTTP/1.1: the request target is the authority.
    for envoy in (native, meshguard):
        assert H.http1_connect(envoy.port, f"127.0.0.1:{echo.port}")[0] == 200
        assert H.http1_connect(envoy.port, "db.internal:5432")[0] == 403


def test_grpc_audience_denial(envoy_factory, grpc_echo, pki):
    """A token whose audience the rule does not allow: jwt_authn's 403, which gRPC sees as
    grpc-status 7 with jwt_authn's text, on both sides (measured)."""
    config = {"workload": {"namespace": NS, "labels": {"app": "backend"}}, "audit": {"log": "all"},
              "resources": [{"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
                             "metadata": {"name": "jwt-aud", "namespace": NS},
                             "spec": {"jwtRules": [{"issuer": ISS, "audiences": ["expected"],
                                                    "jwks": jwks_json([keys().get("ES256")])}]}}]}
    patch = lambda doc: H.with_grpc_and_connect(doc, grpc_echo.port)  # noqa: E731
    native = envoy_factory.start_native(config, patch=patch)
    meshguard = envoy_factory.start(config, patch=patch)
    try:
        for aud, code, details in [("other", grpc.StatusCode.PERMISSION_DENIED, "Audiences in Jwt are not allowed"),
                                   ("expected", grpc.StatusCode.OK, None)]:
            md = [("authorization", f"Bearer {_token(aud=aud)}")]
            rid = str(uuid.uuid4())
            for envoy in (native, meshguard):
                channel = H.grpc_channel(envoy.port, pki, authority="good.example.com")
                try:
                    res = H.grpc_call(channel, H.ECHO_METHOD, md, request_id=rid)
                finally:
                    channel.close()
                assert (res.code, res.details) == (code, details), (envoy is meshguard, aud)
            entry = _check_audit(native, meshguard, rid, None, "allow" if code == grpc.StatusCode.OK else "deny")
            assert entry["auth"]["error"] == details
    finally:
        native.stop()
        meshguard.stop()
