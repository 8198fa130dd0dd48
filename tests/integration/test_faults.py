"""Faults a proxy meets in production, not in a policy's semantics.

- A flood of distinct tokens (every caller a new JWT, valid ones interleaved with forged, expired and
  foreign ones): every token is decided on its own, never by a cached neighbour; the token cache
  stays bounded (its counters show recent tokens hit and older ones were evicted); Envoy's memory
  does not grow with the flood.
- The plugin configuration changed in a running Envoy (a listener pushed again through LDS, as
  istiod does): a configuration the plugin refuses is rejected with its reason in Envoy's log, and
  the previous one keeps enforcing; a good one takes effect, looser or stricter.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from .harness.admin import MIB, memory, plugin_counters
from .harness.expect import expect, expect_jwt_denied
from .harness.jwt import jwks_json, keys
from .harness.lds import start_lds
from .harness.resources import authz, jwt_rule, plugin_config, request_authn

# --- a flood of distinct tokens ------------------------------------------------------------------------

ISSUER = "https://flood.test"
CACHE_CAPACITY = 256  # src/authn/jwt/cache.rs DEFAULT_CAPACITY, per worker (the tests run one worker)
WARM_UP = 300  # distinct valid tokens before memory is first measured: the cache is full by then
FLOOD = 3000  # distinct valid tokens in the flood
INVALID_EVERY = 4  # one invalid token after every 4 valid ones: 750 invalid
CLIENTS = 4
# Slack for the order in which 4 concurrent clients' requests reach the cache.
IN_FLIGHT = CLIENTS
RECENT = 200  # the last RECENT valid tokens of the flood are still cached (RECENT + IN_FLIGHT < capacity)
EVICTED = range(FLOOD - 400, FLOOD - 300)  # these were followed by >= 300 inserts: evicted
# Measured: under 1 MiB. The cache's bound is read from its counters; this catches what leaks per request.
FLOOD_MAX_GROWTH = 16 * MIB

# kind -> (audit reason, Envoy's 401 body)
INVALID = {
    "bad_signature": ("jwt_bad_signature", "Jwt verification fails"),
    "expired": ("jwt_expired", "Jwt is expired"),
    "wrong_issuer": ("jwt_unknown_issuer", "Jwt issuer is not configured"),
}


@dataclass(frozen=True)
class Call:
    kind: str  # "valid" or a key of INVALID
    sub: str
    token: str


def _signing_key():
    return keys().get("RS256")


def valid_call(sub: str) -> Call:
    return Call("valid", sub, _signing_key().sign({"iss": ISSUER, "sub": sub, "jti": sub}))


def invalid_call(kind: str, sub: str) -> Call:
    claims = {"iss": ISSUER, "sub": sub, "jti": sub}
    if kind == "bad_signature":  # another RSA key under the published kid
        token = keys().rotated_rsa(_signing_key().kid).sign(claims)
    elif kind == "expired":  # well past the 60 s of clock skew
        token = _signing_key().sign({**claims, "exp": int(time.time()) - 3600})
    else:
        token = _signing_key().sign({**claims, "iss": "https://elsewhere.test"})
    return Call(kind, sub, token)


def flood_calls() -> list[Call]:
    """FLOOD distinct valid tokens, each INVALID_EVERY-th followed by a distinct invalid one."""
    kinds = list(INVALID)
    calls = []
    for i in range(FLOOD):
        calls.append(valid_call(f"flood-{i}"))
        if i % INVALID_EVERY == INVALID_EVERY - 1:
            kind = kinds[(i // INVALID_EVERY) % len(kinds)]
            calls.append(invalid_call(kind, f"invalid-{i}"))
    return calls


def send_all(envoy, calls: list[Call], clients: int = CLIENTS) -> list:
    """Each call's response, in the calls' order, sent by `clients` concurrent clients."""
    def send(call: Call):
        return envoy.request("GET", f"/flood/{call.sub}", headers={"authorization": f"Bearer {call.token}"})

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(send, calls))


def check_decided(envoy, calls: list[Call], responses: list) -> None:
    """Every valid token allowed as its own principal, every invalid one refused for its own reason."""
    for call, resp in zip(calls, responses):
        if call.kind == "valid":
            entry = expect(resp, 200, "allow_matched", policy="default.require-jwt")
            assert entry["auth"]["principal"] == f"{ISSUER}/{call.sub}", f"{resp}: {entry['auth']}"
        else:
            reason, body = INVALID[call.kind]
            expect_jwt_denied(resp, reason, body, realm=f"http://127.0.0.1:{envoy.port}/flood/{call.sub}")


def cache_counts(envoy) -> tuple[int, int]:
    """(verified tokens, of which cache hits)."""
    c = plugin_counters(envoy)
    return c.get("meshguard.jwt.verified", 0), c.get("meshguard.jwt.cache_hit", 0)


class TestTokenFlood:
    config = plugin_config([
        request_authn("jwt", [jwt_rule(ISSUER, jwks=jwks_json([_signing_key()]))]),
        authz("require-jwt", {"rules": [{"from": [{"source": {"requestPrincipals": [f"{ISSUER}/*"]}}]}]}),
    ])

    def test_distinct_tokens_are_decided_each_on_its_own_and_the_cache_stays_bounded(self, envoy):
        warm_up = [valid_call(f"warm-{i}") for i in range(WARM_UP)]
        calls = flood_calls()
        valid = [c for c in calls if c.kind == "valid"]

        responses = send_all(envoy, warm_up)
        before = memory(envoy)
        responses += send_all(envoy, calls)
        after = memory(envoy)
        check_decided(envoy, warm_up + calls, responses)
        # All distinct: every valid token was verified, none came from the cache.
        assert cache_counts(envoy) == (WARM_UP + FLOOD, 0), plugin_counters(envoy)
        assert plugin_counters(envoy).get("meshguard.jwt.failed") == len(calls) - FLOOD

        # The last tokens of the flood are still cached: sent again, each is a hit.
        verified, hits = cache_counts(envoy)
        again = valid[-RECENT:]
        check_decided(envoy, again, send_all(envoy, again, clients=1))
        assert cache_counts(envoy) == (verified + RECENT, hits + RECENT), "recent tokens were not cached"
        # Older ones were evicted: verified again, no hit. The cache holds about CACHE_CAPACITY, not the flood.
        verified, hits = cache_counts(envoy)
        old = [valid[i] for i in EVICTED]
        assert FLOOD - EVICTED.stop > CACHE_CAPACITY + IN_FLIGHT
        check_decided(envoy, old, send_all(envoy, old, clients=1))
        assert cache_counts(envoy) == (verified + len(old), hits), "tokens older than the cache's capacity hit"

        growth = after.growth_since(before)
        assert growth.allocated < FLOOD_MAX_GROWTH and growth.rss < FLOOD_MAX_GROWTH, (
            f"memory grew by {growth} over {len(calls)} requests (before: {before}, after: {after})")
        assert envoy.proc.poll() is None and "[critical]" not in envoy.log_text(), envoy.log_problems()


# --- the plugin configuration changed in a running Envoy -------------------------------------------------

LISTENER = "virtualInbound"  # envoy.yaml's listener, pushed again on each change


def deny_paths(name: str, paths: list[str], *extra: dict) -> dict:
    return plugin_config([authz(name, {"action": "DENY", "rules": [{"to": [{"operation": {"paths": paths}}]}]}),
                          *extra])


DENY_ADMIN = deny_paths("deny-admin", ["/admin"])
# What the plugin refuses -> what Envoy's log must say about it.
REFUSED = {
    "not JSON": ("{resources: [", ["meshguard: configuration refused: meshguard configuration"]),
    "unknown field": (
        plugin_config([authz("typo", {"action": "DENY", "rules": [{"to": [{"operation": {"path": ["/x"]}}]}]})]),
        ["meshguard: configuration refused: AuthorizationPolicy default/typo", "spec.rules[0].to[0].operation.path"],
    ),
}
ENVOY_REJECTED = f"lds: listener '{LISTENER}' config rejected: Unable to create Wasm plugin meshguard"


class Prober:
    """GET `path` over and over from one thread while a reload happens; keeps every response. The
    probing starts before the reload (a first answer is awaited) and ends after it (one more answer)."""

    def __init__(self, envoy, path: str):
        self.envoy, self.path = envoy, path
        self.responses: list = []
        self.error: Exception | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self.responses.append(self.envoy.request("GET", self.path))
                self._stop.wait(0.01)
        except OSError as e:  # a connection refused or reset during the reload is a finding too
            self.error = e

    def _wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.responses) < count and self.error is None and time.monotonic() < deadline:
            time.sleep(0.005)

    def __enter__(self) -> "Prober":
        self._thread.start()
        self._wait_for(1)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self._wait_for(len(self.responses) + 1)
        self._stop.set()
        self._thread.join(15)
        if exc_type is not None:  # the reload's own failure says more
            return
        assert self.error is None, f"GET {self.path} during the reload: {self.error!r}"
        assert len(self.responses) >= 2, f"GET {self.path}: no answer around the reload"


@pytest.fixture
def lds_envoy(envoy_factory):
    """An Envoy whose listener comes from a watched LDS file, first with DENY_ADMIN."""
    envoy = start_lds(envoy_factory, DENY_ADMIN)
    yield envoy
    envoy.stop()


def test_refused_configuration_leaves_the_previous_one_enforcing(lds_envoy):
    envoy = lds_envoy
    expect(envoy.request("GET", "/admin"), 403, "deny_matched", policy="default.deny-admin")
    expect(envoy.request("GET", "/other"), 200, "no_allow_policies")
    for case, (config, needles) in REFUSED.items():
        log_before = len(envoy.log_text())
        # Requests keep arriving while Envoy loads the refused configuration: none may pass /admin.
        with Prober(envoy, "/admin") as prober:
            assert envoy.reconfigure(config) == "rejected", f"{case}: Envoy accepted it"
        log = envoy.log_text()[log_before:]
        missing = [n for n in [*needles, ENVOY_REJECTED] if n not in log]
        assert not missing, f"{case}: Envoy's log does not say {missing}:\n{envoy.log_problems()}"
        for resp in prober.responses:
            expect(resp, 403, "deny_matched", policy="default.deny-admin")
        # The previous configuration still decides, and its audit entries say so.
        expect(envoy.request("GET", "/admin"), 403, "deny_matched", policy="default.deny-admin")
        expect(envoy.request("GET", "/other"), 200, "no_allow_policies")
    # A good configuration after the refused ones takes effect.
    assert envoy.reconfigure(deny_paths("deny-other", ["/other"])) == "accepted"
    expect(envoy.request("GET", "/other"), 403, "deny_matched", policy="default.deny-other")
    expect(envoy.request("GET", "/admin"), 200, "no_allow_policies")
    assert envoy.lds_updates() == (2, len(REFUSED)), "(accepted, rejected) LDS updates: the first and the last"


def test_stricter_configuration_takes_effect(lds_envoy):
    envoy = lds_envoy
    expect(envoy.request("GET", "/other"), 200, "no_allow_policies")
    # Stricter: /admin still denied, and only GET /api/* allowed at all.
    stricter = deny_paths("deny-admin", ["/admin"], authz("allow-api", {"rules": [{"to": [{"operation": {
        "methods": ["GET"], "paths": ["/api/*"]}}]}]}))
    with Prober(envoy, "/admin") as prober:
        assert envoy.reconfigure(stricter) == "accepted"
    for resp in prober.responses:  # denied by the old configuration or the new one, never passed
        expect(resp, 403, "deny_matched", policy="default.deny-admin")
    expect(envoy.request("GET", "/other"), 403, "no_allow_match", policy=None)
    expect(envoy.request("POST", "/api/x"), 403, "no_allow_match", policy=None)
    expect(envoy.request("GET", "/api/x"), 200, "allow_matched", policy="default.allow-api")
    expect(envoy.request("GET", "/admin"), 403, "deny_matched", policy="default.deny-admin")
    assert envoy.lds_updates() == (2, 0), "(accepted, rejected) LDS updates"
    assert envoy.proc.poll() is None and "[critical]" not in envoy.log_text(), envoy.log_problems()
