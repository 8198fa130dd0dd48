"""`make soak`: one Envoy with the plugin and the seeds' policies under a steady mix of requests for a
bounded time; every answer is checked and Envoy's memory is watched.

    python -m tests.soak        # SOAK_SECONDS (default 180), SOAK_MAX_GROWTH_MB (default 32)

The workload is seed 000's api (production/app=api: mesh-wide STRICT mTLS, deny-all, the frontend's
GET/POST on /api/v1/*, no /admin/* from outside the namespace, a JWT required through the seed's
jwksUri, served here by the tests' JWKS server); seed 001's resources are in the configuration too
(validated, not applying to this workload). SOAK_CLIENTS threads (default 4) send, in a fixed
random mix, requests of each kind in KINDS, every one with the status it must get. When wrk is
installed, it adds plaintext requests at a bounded rate (one every WRK_DELAY_MS per connection).

Memory (`server.memory_allocated` and the process's VmRSS) is sampled after a warm-up, every
SOAK_SAMPLE_SECONDS (default 30) and at the end. Exit code 1 when any answer was not the expected
one or either figure grew by more than SOAK_MAX_GROWTH_MB from the first sample to the last.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from tests.integration.harness.admin import MIB, Memory, memory, plugin_counters
from tests.integration.harness.echo import EchoServer
from tests.integration.harness.envoy import REPO, WASM, Envoy, EnvoyFactory, EnvoyStartError
from tests.integration.harness.jwks import JwksServer
from tests.integration.harness.jwt import jwks_json, keys
from tests.integration.harness.pki import TestPKI
from tests.integration.harness.resources import plugin_config
from tests.integration.seeds import SEED_000, SEED_000_WORKLOAD, SEED_001_ALLOW_FRONTEND_GET_DATA, \
    SEED_001_DENY_ALL_BACKEND

WORKDIR = REPO / ".work" / "soak"
ISSUER = "https://auth.example.com"  # seed 000's jwt-auth
JWKS_URI = "https://auth.example.com/.well-known/jwks.json"
JWKS_PATH = "/.well-known/jwks.json"
FRONTEND = ("production", "frontend")  # allowed on /api/v1/* by allow-frontend-to-api
OUTSIDER = ("other", "frontend")  # outside production: denied /admin/*
CALLER = ("default", "frontend")  # no ALLOW of its own: passes with a token (require-jwt)
HOT_TOKENS = 32  # tokens callers send again and again (cache hits)
FRESH_TOKENS = 600  # distinct tokens, more than the cache holds (first verifications, evictions)
WRK_DELAY_MS = 10
WRK_CONNECTIONS = 2
MISMATCHES_SHOWN = 10


def env_number(name: str, default: float) -> float:
    value = os.environ.get(name) or ""
    return float(value) if value.strip() else default


@dataclass(frozen=True)
class Kind:
    name: str
    weight: int
    expected: int
    send: Callable  # (envoy, rng, tokens) -> the Response


@dataclass
class Tally:
    """Requests and mismatches by kind; shared by the client threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: Counter = field(default_factory=Counter)
    mismatches: Counter = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)

    def record(self, kind: str, problem: str | None) -> None:
        with self.lock:
            self.sent[kind] += 1
            if problem is not None:
                self.mismatches[kind] += 1
                if len(self.examples) < MISMATCHES_SHOWN:
                    self.examples.append(f"{kind}: {problem}")


class Tokens:
    """Pre-signed tokens (signing RS256 in Python is slower than sending them)."""

    def __init__(self, lifetime: int):
        key = keys().get("RS256")
        self.hot = [key.sign({"iss": ISSUER, "sub": f"hot-{i}"}, exp=lifetime) for i in range(HOT_TOKENS)]
        self.fresh = [key.sign({"iss": ISSUER, "sub": f"fresh-{i}"}, exp=lifetime) for i in range(FRESH_TOKENS)]
        self.invalid = [
            key.sign({"iss": ISSUER, "sub": "late", "exp": int(time.time()) - 3600}),  # expired
            keys().rotated_rsa(key.kid).sign({"iss": ISSUER, "sub": "forged"}, exp=lifetime),  # bad signature
            key.sign({"iss": "https://elsewhere.test", "sub": "stranger"}, exp=lifetime),  # unknown issuer
        ]
        self._next = 0
        self._lock = threading.Lock()

    def valid(self, rng: random.Random) -> str:
        """Mostly a hot token; one in four the next fresh one (cycling: evicted by then)."""
        if rng.random() < 0.75:
            return rng.choice(self.hot)
        with self._lock:
            self._next = (self._next + 1) % len(self.fresh)
            return self.fresh[self._next]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def allowed(envoy: Envoy, rng: random.Random, tokens: Tokens):
    return envoy.request(rng.choice(["GET", "POST"]), "/api/v1/items", peer=FRONTEND)  # allow-frontend-to-api


def denied(envoy: Envoy, rng: random.Random, tokens: Tokens):
    if rng.random() < 0.5:
        return envoy.request("GET", "/admin/users", peer=OUTSIDER)  # deny-external-to-admin
    return envoy.request("DELETE", "/api/v1/items", peer=FRONTEND)  # no ALLOW rule matches


def jwt_valid(envoy: Envoy, rng: random.Random, tokens: Tokens):
    return envoy.request("GET", "/profile", peer=CALLER, headers=bearer(tokens.valid(rng)))  # require-jwt


def jwt_invalid(envoy: Envoy, rng: random.Random, tokens: Tokens):
    return envoy.request("GET", "/profile", peer=CALLER, headers=bearer(rng.choice(tokens.invalid)))


def plaintext(envoy: Envoy, rng: random.Random, tokens: Tokens):
    return envoy.request("GET", "/api/v1/items")  # mesh-wide STRICT: mtls_required


KINDS = [
    Kind("allowed (mTLS)", 3, 200, allowed),
    Kind("denied (mTLS)", 2, 403, denied),
    Kind("jwt valid (mTLS)", 3, 200, jwt_valid),
    Kind("jwt invalid (mTLS)", 1, 401, jwt_invalid),
    Kind("plaintext", 1, 403, plaintext),
]


def drive(envoy: Envoy, tokens: Tokens, tally: Tally, until: float, seed: int) -> None:
    """One client: requests of KINDS, in random order by weight, until the monotonic time `until`."""
    rng = random.Random(seed)
    weights = [k.weight for k in KINDS]
    while time.monotonic() < until:
        kind = rng.choices(KINDS, weights)[0]
        try:
            resp = kind.send(envoy, rng, tokens)
            problem = None if resp.status == kind.expected else f"{resp} (expected {kind.expected})"
        except OSError as e:
            problem = f"no answer: {e!r}"
        tally.record(kind.name, problem)


WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) responses = 0; mismatches = 0 end
function delay() return %d end
function response(status, headers, body)
  responses = responses + 1
  if status ~= 403 then mismatches = mismatches + 1 end
end
function done(summary, latency, requests)
  local r, m = 0, 0
  for _, t in ipairs(threads) do r = r + t:get("responses"); m = m + t:get("mismatches") end
  local e = summary.errors
  local errors = e.connect + e.read + e.write + e.timeout
  io.write(string.format("wrk responses=%%d mismatches=%%d errors=%%d\\n", r, m, errors))
end
""" % WRK_DELAY_MS


def start_wrk(envoy: Envoy, seconds: float) -> subprocess.Popen | None:
    """wrk on plaintext requests (403, mtls_required) at a bounded rate, or None without wrk."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return None
    script = WORKDIR / "plaintext.lua"
    script.write_text(WRK_SCRIPT)
    cmd = [wrk, "-t1", f"-c{WRK_CONNECTIONS}", f"-d{max(1, round(seconds))}s", "--timeout", "5s", "-s", str(script),
           f"http://127.0.0.1:{envoy.port}/api/v1/items"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish_wrk(proc: subprocess.Popen, tally: Tally) -> None:
    out, _ = proc.communicate(timeout=60)
    found = re.search(r"wrk responses=(\d+) mismatches=(\d+) errors=(\d+)", out)
    with tally.lock:
        if found is None:
            tally.mismatches["plaintext (wrk)"] += 1
            tally.examples.append(f"plaintext (wrk): no summary; wrk said: {out.strip()[-300:]}")
            return
        responses, mismatches, errors = map(int, found.groups())
        tally.sent["plaintext (wrk)"] += responses + errors
        tally.mismatches["plaintext (wrk)"] += mismatches + errors
        if mismatches or errors:
            tally.examples.append(f"plaintext (wrk): {mismatches} answers other than 403, {errors} socket errors")


def soak_config() -> dict:
    resources = [*SEED_000, SEED_001_DENY_ALL_BACKEND, SEED_001_ALLOW_FRONTEND_GET_DATA]
    return plugin_config(resources, SEED_000_WORKLOAD["namespace"], SEED_000_WORKLOAD["labels"],
                         jwks_clusters={JWKS_URI: "jwks"})


def run(envoy: Envoy, seconds: float, warm_up: float, sample_every: float, clients: int,
        tokens: Tokens) -> tuple[Tally, list[tuple[float, Memory]]]:
    """Warm-up, then `seconds` of load; memory samples as (seconds since the warm-up's end, Memory)."""
    tally = Tally()
    start = time.monotonic()
    until = start + warm_up + seconds
    threads = [threading.Thread(target=drive, args=(envoy, tokens, tally, until, i), daemon=True)
               for i in range(clients)]
    for t in threads:
        t.start()
    wrk = start_wrk(envoy, warm_up + seconds)
    samples: list[tuple[float, Memory]] = []
    measured_from = start + warm_up
    next_sample = measured_from
    while (now := time.monotonic()) < until:
        if now >= next_sample:
            samples.append((now - measured_from, memory(envoy)))
            next_sample += sample_every
        time.sleep(min(0.5, max(0.0, min(next_sample, until) - now)))
    for t in threads:
        t.join(30)
    if wrk is not None:
        finish_wrk(wrk, tally)
    samples.append((time.monotonic() - measured_from, memory(envoy)))
    return tally, samples


def report(tally: Tally, samples: list[tuple[float, Memory]], counters: dict[str, int], bound: int) -> bool:
    """Prints the tables; True when every answer was expected and memory stayed within `bound`."""
    print(f"\n{'requests':<22}{'sent':>9}{'mismatches':>12}")
    for kind in sorted(tally.sent):
        print(f"{kind:<22}{tally.sent[kind]:>9}{tally.mismatches[kind]:>12}")
    print(f"{'total':<22}{sum(tally.sent.values()):>9}{sum(tally.mismatches.values()):>12}")
    for example in tally.examples:
        print(f"  mismatch: {example}")
    print(f"\n{'memory at':<14}{'allocated MiB':>15}{'rss MiB':>10}")
    for at, m in samples:
        print(f"{at:>10.0f} s  {m.allocated / MIB:>15.1f}{m.rss / MIB:>10.1f}")
    growth = samples[-1][1].growth_since(samples[0][1])
    print(f"growth: allocated {growth.allocated / MIB:+.1f} MiB, rss {growth.rss / MIB:+.1f} MiB "
          f"(bound {bound / MIB:.0f} MiB)")
    shown = ("requests.allowed", "requests.denied", "requests.denied.jwt", "requests.denied.mtls",
             "jwt.verified", "jwt.cache_hit", "jwt.failed", "jwks.fetch_success", "jwks.fetch_failure")
    print("plugin counters: " + ", ".join(f"{n} {counters.get('meshguard.' + n, 0)}" for n in shown))
    memory_ok = growth.allocated <= bound and growth.rss <= bound
    counted = counters_agree(tally, counters)
    if not counted:
        print("the plugin's counters do not add up to the answers the clients received")
    return memory_ok and counted and sum(tally.mismatches.values()) == 0 and sum(tally.sent.values()) > 0


def counters_agree(tally: Tally, counters: dict[str, int]) -> bool:
    """The plugin counted as many allowed and denied requests as the clients received 200s and refusals."""
    ok = {k.name for k in KINDS if k.expected == 200}
    allowed = sum(n for kind, n in tally.sent.items() if kind in ok)
    denied = sum(tally.sent.values()) - allowed
    return (counters.get("meshguard.requests.allowed"), counters.get("meshguard.requests.denied")) == (allowed, denied)


def main() -> int:
    seconds = env_number("SOAK_SECONDS", 180)
    bound = int(env_number("SOAK_MAX_GROWTH_MB", 32) * MIB)
    sample_every = env_number("SOAK_SAMPLE_SECONDS", 30)
    clients = int(env_number("SOAK_CLIENTS", 4))
    warm_up = min(15.0, max(3.0, seconds / 10))
    if not WASM.exists():
        print(f"{WASM} is missing: run `make build`", file=sys.stderr)
        return 1
    shutil.rmtree(WORKDIR, ignore_errors=True)
    WORKDIR.mkdir(parents=True)
    pki = TestPKI(WORKDIR / "pki")
    pki.server_cert()
    for peer in (FRONTEND, OUTSIDER, CALLER):  # issued now, not by racing client threads
        pki.client_cert(*peer)
    tokens = Tokens(lifetime=int(warm_up + seconds) + 3600)
    with EchoServer() as echo, JwksServer() as jwks:
        jwks.serve(JWKS_PATH, jwks_json([keys().get("RS256")]))
        factory = EnvoyFactory(pki, echo.port, WORKDIR, jwks_port=jwks.port)
        try:
            envoy = factory.start(soak_config())
        except EnvoyStartError as e:
            print(e, file=sys.stderr)
            return 1
        try:
            print(f"soak: {seconds:.0f} s after {warm_up:.0f} s of warm-up, {clients} clients"
                  f"{' + wrk (plaintext)' if shutil.which('wrk') else ''}; Envoy pid {envoy.proc.pid}, "
                  f"log {envoy.log_path}")
            tally, samples = run(envoy, seconds, warm_up, sample_every, clients, tokens)
            alive = envoy.proc.poll() is None
            ok = report(tally, samples, plugin_counters(envoy), bound) and alive
            if not alive:
                print(f"Envoy exited with {envoy.proc.returncode}:\n{envoy.log_problems()}")
        finally:
            factory.stop_all()
    print("soak: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
