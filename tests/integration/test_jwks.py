"""Remote JWKS (jwksUri): the plugin fetches it through an Envoy cluster (`jwksClusters` maps each URI
to envoy.yaml's `jwks` cluster, which the harness points at its JWKS server).

- the first fetch is awaited: a request with a token that arrives before the keys is held, then
  decided; requests without a token are never held; a held request's body and trailers wait with
  it, also where Envoy hands a paused request's body to the filter (`allow_on_headers_stop_iteration`);
- a failed first fetch (error status, not a JWKS, over 1 MiB, connection closed, timeout, no such
  cluster) leaves no keys: tokens get 401 `Jwks remote fetch is failed` (reason jwks_unavailable),
  requests without a token pass, and the Envoy keeps serving; a later retry that succeeds brings
  the keys;
- a token whose kid no key has triggers one refetch (at most every 30 s): a rotated key is picked
  up; a failed refetch keeps the last good keys.
"""

from __future__ import annotations

import socket
import threading
import time

import pytest

from .harness import h2 as H
from .harness.envoy import WASM_FILTER
from .harness.expect import expect, expect_jwt_denied
from .harness.jwks import STARTUP_FETCHES
from .harness.jwt import b64url_json, jwks_doc, jwks_json, keys
from .harness.resources import jwt_rule, plugin_config, request_authn

JWKS_FAILED = "Jwks remote fetch is failed"
UNKNOWN_KEY = "Jwks doesn't have key to match kid or alg from Jwt"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def realm(envoy, path: str) -> str:
    return f"http://127.0.0.1:{envoy.port}{path}"


def no_panic(envoy) -> None:
    assert envoy.proc.poll() is None, f"Envoy exited with {envoy.proc.returncode}"
    log = envoy.log_text()
    assert "panic" not in log and "[critical]" not in log, envoy.log_problems()


# --- the first fetch is awaited ----------------------------------------------------------------------

FIRST_ISS = "https://first.test"
FIRST_PATH = "/first/jwks.json"
FIRST_DELAY = 2.0
LATE_FAIL_ISS = "https://late-failure.test"  # its first fetch fails, late
LATE_FAIL_PATH = "/first/late-failure.json"


class TestFirstFetchIsAwaited:
    """The JWKS server answers the first fetch 2 s late: requests with a token wait for it."""

    config = plugin_config([request_authn("first", [
        jwt_rule(FIRST_ISS, jwks_uri=f"http://jwks.test{FIRST_PATH}"),
        jwt_rule(LATE_FAIL_ISS, jwks_uri=f"http://jwks.test{LATE_FAIL_PATH}"),
    ])], jwks_clusters={f"http://jwks.test{FIRST_PATH}": "jwks", f"http://jwks.test{LATE_FAIL_PATH}": "jwks"})

    @staticmethod
    def jwks_setup(server):
        server.serve(FIRST_PATH, jwks_json([keys().get("ES256")]), delay=FIRST_DELAY)
        server.fail(LATE_FAIL_PATH, 500, delay=FIRST_DELAY)

    def test_token_request_is_held_until_the_keys_arrive(self, envoy, jwks_server):
        token = keys().get("ES256").sign({"iss": FIRST_ISS, "sub": "alice"})
        failing = keys().get("ES256").sign({"iss": LATE_FAIL_ISS, "sub": "alice"})
        results: dict[str, object] = {}

        def held(name, timeout, jwt=token):
            start = time.monotonic()
            try:
                results[name] = envoy.request("GET", f"/{name}", timeout=timeout,
                                              headers={**bearer(jwt), "x-request-id": f"first-fetch-{name}"})
            except OSError as e:  # the impatient client gives up
                results[name] = e
            results[name + "_elapsed"] = time.monotonic() - start
            results[name + "_done"] = time.monotonic()

        threads = [threading.Thread(target=held, args=(f"held{i}", 10)) for i in range(3)]
        threads.append(threading.Thread(target=held, args=("impatient", 0.3)))
        threads.append(threading.Thread(target=held, args=("failing", 10, failing)))
        for t in threads:
            t.start()
        time.sleep(0.1)
        # Meanwhile a request without a token is not held: it is answered before the held ones.
        expect(envoy.request("GET", "/anonymous"), 200, "no_allow_policies")
        anonymous_done = time.monotonic()
        for t in threads:
            t.join(15)
        assert anonymous_done < min(results[f"held{i}_done"] for i in range(3)), "the anonymous request waited"
        for i in range(3):
            resp = results[f"held{i}"]
            entry = expect(resp, 200, "no_allow_policies")
            assert entry["auth"]["principal"] == f"{FIRST_ISS}/alice"
            assert results[f"held{i}_elapsed"] > 0.3, "the request was not held for the keys"
        assert isinstance(results["impatient"], (socket.timeout, TimeoutError, OSError)), results["impatient"]
        # Its stream ended while held: one audit entry, a denial that never reached the upstream.
        (record,) = envoy.audit_log.find("first-fetch-impatient")
        assert (record.entry["decision"], record.entry["reason"]) == ("deny", "undecided"), record.entry
        # Held too, then refused when the first fetch failed.
        expect_jwt_denied(results["failing"], "jwks_unavailable", JWKS_FAILED, realm=realm(envoy, "/failing"))
        assert results["failing_elapsed"] > 0.3, "the request was not held for the keys"
        assert jwks_server.count(FIRST_PATH) == STARTUP_FETCHES, "held requests share the startup fetch"

    def test_later_requests_use_the_fetched_keys(self, envoy, jwks_server):
        token = keys().get("ES256").sign({"iss": FIRST_ISS, "sub": "bob"})
        expect(envoy.request("GET", "/later", headers=bearer(token)), 200, "no_allow_policies")
        assert jwks_server.count(FIRST_PATH) == STARTUP_FETCHES
        no_panic(envoy)


HELD_BODY_ISS = "https://held-body.test"
HELD_BODY_PATH = "/first/held-body.json"
TRAILERS = [("x-checksum", "0")]


def stop_iteration_allowed(doc) -> None:
    """Turns on Envoy's `allow_on_headers_stop_iteration` for the wasm filter (off by default, and
    Istio never sets it): the body of a request whose headers the filter paused then reaches the
    filter, and a filter that lets the body go on lets the headers go with it."""
    stack = [doc]
    while stack:
        d = stack.pop()
        if isinstance(d, dict):
            if d.get("name") == WASM_FILTER:
                d["typed_config"]["config"]["allow_on_headers_stop_iteration"] = True
            stack.extend(d.values())
        elif isinstance(d, list):
            stack.extend(d)


class TestHeldBodyWaitsWithTheHeaders:
    """Held requests with a body, on an Envoy that hands a paused request's body to the plugin: the
    body is held with the headers, so nothing reaches the upstream before the decision, and a
    request the keys then refuse never reaches it (HTTP/1.1; HTTP/2, also with trailers)."""

    config = plugin_config([request_authn("held-body", [
        jwt_rule(HELD_BODY_ISS, jwks_uri=f"http://jwks.test{HELD_BODY_PATH}"),
    ])], jwks_clusters={f"http://jwks.test{HELD_BODY_PATH}": "jwks"})
    patch = staticmethod(stop_iteration_allowed)

    @staticmethod
    def jwks_setup(server):
        server.serve(HELD_BODY_PATH, jwks_json([keys().get("ES256")]), delay=FIRST_DELAY)

    def test_body_waits_for_the_keys(self, envoy, echo):
        key = keys().get("ES256")
        good = key.sign({"iss": HELD_BODY_ISS, "sub": "alice"})
        header, _, signature = good.split(".")
        # alice's signature over another payload: refused once the keys are there.
        forged = ".".join([header, b64url_json({"iss": HELD_BODY_ISS, "sub": "mallory"}), signature])
        body = b"x" * 4096
        results: dict[str, object] = {}
        start = time.monotonic()

        def http1(name, token):
            results[name] = envoy.request("POST", f"/{name}", body=body, timeout=10,
                                          headers={**bearer(token), "x-request-id": f"held-body-{name}"})

        threads = [threading.Thread(target=http1, args=("h1-good", good)),
                   threading.Thread(target=http1, args=("h1-forged", forged))]
        for t in threads:
            t.start()
        with H.H2Client(envoy.port) as c:
            streams = {name: c.send("POST", f"/{name}", f"127.0.0.1:{envoy.port}", body=body,
                                    headers=[("authorization", f"Bearer {token}")],
                                    request_id=f"held-body-{name}", trailers=trailers)
                       for name, token, trailers in (("h2-good", good, None), ("h2-forged", forged, None),
                                                     ("h2t-good", good, TRAILERS),
                                                     ("h2t-forged", forged, TRAILERS))}
            for name, response in zip(streams, c.wait(list(streams.values()))):
                results[name] = response
        for t in threads:
            t.join(15)
        for proto in ("h1", "h2", "h2t"):
            assert results[f"{proto}-good"].status == 200, (proto, results[f"{proto}-good"])
            (arrived,) = echo.arrivals(f"/{proto}-good")
            assert arrived - start > 0.3, f"{proto}: the request reached the upstream before the keys"
            assert results[f"{proto}-forged"].status == 401, (proto, results[f"{proto}-forged"])
            assert echo.arrivals(f"/{proto}-forged") == [], f"{proto}: a refused request reached the upstream"
            (record,) = envoy.audit_log.find(f"held-body-{proto}-forged")
            assert (record.entry["decision"], record.entry["reason"]) == ("deny", "jwt_bad_signature"), record.entry
        no_panic(envoy)


# --- failed fetches ------------------------------------------------------------------------------------

# issuer -> (jwksUri, how): `how` sets what the JWKS server answers on the URI's path (a function of
# the server and the path); None serves nothing there (404, or, for a URI jwksClusters does not map,
# Istio's cluster name `outbound|<port>||<host>`, which this Envoy lacks); "no-such-cluster" maps the
# URI to a cluster Envoy does not have.
BROKEN = {
    "https://e500.test": ("http://jwks.test/down/500.json", lambda s, p: s.fail(p, 500)),
    "https://e404.test": ("http://jwks.test/down/404.json", None),  # nothing served: 404
    "https://garbage.test": ("http://jwks.test/down/garbage.json", lambda s, p: s.garbage(p)),
    "https://nokeys.test": ("http://jwks.test/down/nokeys.json", lambda s, p: s.serve(p, {"issuer": "x"})),
    "https://emptykeys.test": ("http://jwks.test/down/empty.json", lambda s, p: s.serve(p, {"keys": []})),
    "https://huge.test": ("http://jwks.test/down/huge.json",
                          lambda s, p: s.huge(p, jwks_doc([keys().get("ES256")]))),
    "https://reset.test": ("http://jwks.test/down/reset.json", lambda s, p: s.reset(p)),
    "https://timeout.test": ("http://jwks.test/down/timeout.json",
                             lambda s, p: s.serve(p, jwks_json([keys().get("ES256")]), delay=2.5)),
    "https://nocluster.test": ("http://jwks.test/down/nocluster.json", "no-such-cluster"),
    "https://istio-cluster.test": ("https://jwks.istio.test/keys.json", None),  # outbound|443||jwks.istio.test
}
OK_ISS = "https://ok.test"
RECOVER_ISS = "https://recover.test"  # fails at startup, then the server answers
RECOVER_URI = "http://jwks.test/down/recover.json"


def _path(uri: str) -> str:
    return "/" + uri.split("://", 1)[1].split("/", 1)[1]


def _broken_config(ports):
    clusters = {}
    rules = []
    for iss, (uri, how) in BROKEN.items():
        extra = {"timeout": "1s"} if iss == "https://timeout.test" else {}
        rules.append(jwt_rule(iss, jwks_uri=uri, **extra))
        if how == "no-such-cluster":
            clusters[uri] = "no-such-cluster"
        elif uri.startswith("http://jwks.test/"):
            clusters[uri] = "jwks"
    rules.append(jwt_rule(OK_ISS, jwks=jwks_json([keys().get("ES256")])))
    rules.append(jwt_rule(RECOVER_ISS, jwks_uri=RECOVER_URI))
    clusters[RECOVER_URI] = "jwks"
    return plugin_config([request_authn("broken", rules)], jwks_clusters=clusters)


def _broken_jwks(server):
    for uri, how in BROKEN.values():
        if callable(how):
            how(server, _path(uri))
    server.fail(_path(RECOVER_URI), 503)


class TestJwksUnavailable:
    """Every provider's JWKS fails in its own way at startup; one inline provider works."""

    config = _broken_config
    jwks_setup = _broken_jwks

    @pytest.mark.parametrize("iss", list(BROKEN))
    def test_token_is_refused(self, envoy, iss):
        token = keys().get("ES256").sign({"iss": iss, "sub": "alice"})
        expect_jwt_denied(envoy.request("GET", "/t?x", headers=bearer(token)), "jwks_unavailable", JWKS_FAILED,
                          realm=realm(envoy, "/t?x"), token=token)

    def test_expired_token_is_expired_before_keys_are_needed(self, envoy):
        token = keys().get("ES256").sign({"iss": "https://e500.test", "sub": "a", "exp": int(time.time()) - 300})
        expect_jwt_denied(envoy.request("GET", "/t", headers=bearer(token)), "jwt_expired", "Jwt is expired",
                          realm=realm(envoy, "/t"))

    def test_request_without_token_passes(self, envoy):
        entry = expect(envoy.request("GET", "/anonymous"), 200, "no_allow_policies")
        assert entry["auth"]["error"] is None

    def test_inline_provider_still_verifies(self, envoy):
        token = keys().get("ES256").sign({"iss": OK_ISS, "sub": "alice"})
        expect(envoy.request("GET", "/ok", headers=bearer(token)), 200, "no_allow_policies")

    def test_servers_were_asked(self, envoy, jwks_server):
        for iss, (uri, how) in BROKEN.items():
            if uri.startswith("http://jwks.test/") and how != "no-such-cluster":
                assert jwks_server.count(_path(uri)) >= 1, f"{iss}: {uri} was never fetched"
        assert jwks_server.count("/down/nocluster.json") == 0

    def test_keys_arrive_after_a_failed_first_fetch(self, envoy, jwks_server):
        token = keys().get("ES256").sign({"iss": RECOVER_ISS, "sub": "alice"})
        expect(envoy.request("GET", "/r", headers=bearer(token)), 401, "jwks_unavailable")
        jwks_server.serve(_path(RECOVER_URI), jwks_json([keys().get("ES256")]))
        deadline = time.monotonic() + 10
        while True:
            resp = envoy.request("GET", "/r", headers=bearer(token))
            if resp.status == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        expect(resp, 200, "no_allow_policies")

    def test_envoy_keeps_serving(self, envoy):
        for _ in range(3):
            expect(envoy.request("GET", "/still-up"), 200, "no_allow_policies")
        assert envoy._admin_get("/ready").strip() == b"LIVE"
        no_panic(envoy)


# --- key rotation ----------------------------------------------------------------------------------

ROT_ISS = "https://rotate.test"
ROT_URI = "http://jwks.test:8443/rotate/jwks.json"  # a port: the :authority keeps it
ROT_PATH = "/rotate/jwks.json"
KEEP_ISS = "https://keep.test"
KEEP_URI = "http://jwks.test/keep/jwks.json"
KEEP_PATH = "/keep/jwks.json"


def rot_key(kid):
    return keys().get("RS256").with_kid(kid)


def _rotation_config(ports):
    return plugin_config([request_authn("rotation", [jwt_rule(ROT_ISS, jwks_uri=ROT_URI),
                                                     jwt_rule(KEEP_ISS, jwks_uri=KEEP_URI)])],
                         jwks_clusters={ROT_URI: "jwks", KEEP_URI: "jwks"})


class TestKeyRotation:
    """The issuer rotates its key: a token with the new kid makes the plugin refetch once."""

    config = _rotation_config

    @staticmethod
    def jwks_setup(server):
        server.serve(ROT_PATH, jwks_json([rot_key("rot-1")]))
        server.serve(KEEP_PATH, jwks_json([keys().get("ES256").with_kid("keep-1")]))

    def test_token_of_the_served_key(self, envoy, jwks_server):
        token = rot_key("rot-1").sign({"iss": ROT_ISS, "sub": "alice"})
        expect(envoy.request("GET", "/", headers=bearer(token)), 200, "no_allow_policies")
        assert jwks_server.wait_count(ROT_PATH, STARTUP_FETCHES) == STARTUP_FETCHES
        assert jwks_server.authorities[ROT_PATH][0] == "jwks.test:8443"

    def test_new_kid_is_fetched_once(self, envoy, jwks_server):
        new = keys().rotated_rsa("rot-2")
        jwks_server.serve(ROT_PATH, jwks_json([new]))
        token = new.sign({"iss": ROT_ISS, "sub": "alice"})
        entry = expect(envoy.request("GET", "/", headers=bearer(token)), 200, "no_allow_policies")
        assert entry["auth"]["principal"] == f"{ROT_ISS}/alice"
        assert jwks_server.count(ROT_PATH) == STARTUP_FETCHES + 1
        # The same token again: no further fetch.
        expect(envoy.request("GET", "/", headers=bearer(token)), 200, "no_allow_policies")
        assert jwks_server.count(ROT_PATH) == STARTUP_FETCHES + 1

    def test_retired_key_no_longer_verifies(self, envoy, jwks_server):
        token = rot_key("rot-1").sign({"iss": ROT_ISS, "sub": "mallory"})
        expect_jwt_denied(envoy.request("GET", "/", headers=bearer(token)), "jwt_unknown_key", UNKNOWN_KEY,
                          realm=realm(envoy, "/"))
        assert jwks_server.count(ROT_PATH) == STARTUP_FETCHES + 1, "a second unknown kid within 30 s does not refetch"

    def test_unknown_kid_refetch_is_rate_limited(self, envoy, jwks_server):
        for kid in ("rot-3", "rot-4"):
            token = keys().rotated_rsa(kid).sign({"iss": ROT_ISS, "sub": "alice"})
            expect(envoy.request("GET", "/", headers=bearer(token)), 401, "jwt_unknown_key")
        assert jwks_server.count(ROT_PATH) == STARTUP_FETCHES + 1

    def test_failed_refetch_keeps_the_last_good_keys(self, envoy, jwks_server):
        good = keys().get("ES256").with_kid("keep-1").sign({"iss": KEEP_ISS, "sub": "alice"})
        expect(envoy.request("GET", "/", headers=bearer(good)), 200, "no_allow_policies")
        assert jwks_server.wait_count(KEEP_PATH, STARTUP_FETCHES) == STARTUP_FETCHES
        jwks_server.fail(KEEP_PATH, 500)
        unknown = keys().get("ES256").with_kid("keep-2").sign({"iss": KEEP_ISS, "sub": "alice"})
        expect_jwt_denied(envoy.request("GET", "/", headers=bearer(unknown)), "jwt_unknown_key", UNKNOWN_KEY,
                          realm=realm(envoy, "/"))
        assert jwks_server.count(KEEP_PATH) == STARTUP_FETCHES + 1, "the unknown kid triggered one refetch"
        fresh = keys().get("ES256").with_kid("keep-1").sign({"iss": KEEP_ISS, "sub": "bob"})
        expect(envoy.request("GET", "/", headers=bearer(fresh)), 200, "no_allow_policies")
        no_panic(envoy)
