"""Per-algorithm JWT cost inside Envoy: first verification and verified-token cache hit.

    .venv/bin/python -m bench.jwt_algs [--requests 200]

One Envoy (--concurrency 1) with meshguard and a RequestAuthentication whose inline JWKS holds a
key of every algorithm; for each algorithm, N requests with distinct tokens (every one a first
verification) and N requests with one token (cache hits), plaintext over one kept-alive
connection. Envoy CPU µs per request (on-CPU time of all threads from /proc/<pid>/task/*/schedstat) minus the same with no
token gives the cost. Absolute figures follow the machine's load; compare rows. Driven by one
Python client, each figure carries about ±150 µs of noise (the Envoy CPU a slow client's idle
gaps add); a first verification of several hundred µs stands out of it, a cache hit does not.
"""

from __future__ import annotations

import argparse
import http.client
import tempfile
from pathlib import Path

from tests.integration.harness import jwt
from tests.integration.harness.echo import EchoServer
from tests.integration.harness.envoy import EnvoyFactory
from tests.integration.harness.pki import TestPKI
from tests.integration.harness.resources import jwt_rule, plugin_config, request_authn

ISSUER = "https://issuer.bench.test"


def cpu_seconds(pid: int) -> float:
    """On-CPU time of all Envoy's threads, in ns resolution (schedstat), as bench/run.py counts it."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


def run(port: int, pid: int, tokens: list[str | None]) -> float:
    """Envoy CPU µs per request for these requests (None: no token)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    start = cpu_seconds(pid)
    for t in tokens:
        headers = {"authorization": f"Bearer {t}"} if t else {}
        conn.request("GET", "/", headers=headers)
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, (resp.status, t)
    used = cpu_seconds(pid) - start
    conn.close()
    return used / len(tokens) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    n = args.requests
    ring = jwt.keys()
    signers = ring.all()
    config = plugin_config([request_authn("jwt", [jwt_rule(ISSUER, jwks=jwt.jwks_json(signers))])], audit="none")
    work = Path(tempfile.mkdtemp(prefix="meshguard-jwt-algs-"))
    pki = TestPKI(work / "pki")
    pki.server_cert()
    with EchoServer() as echo:
        factory = EnvoyFactory(pki, echo.port, work)
        envoy = factory.start(config)
        try:
            pid, port = envoy.proc.pid, envoy.port
            run(port, pid, [None] * 50)  # warm up
            base = run(port, pid, [None] * n)
            print(f"no token: {base:.1f} µs/request (Envoy CPU)\n")
            print("| alg | first verification, added µs | cache hit, added µs |")
            print("|---|---:|---:|")
            for key in signers:
                fresh = [key.sign({"iss": ISSUER, "sub": f"user-{i}"}) for i in range(n)]
                first = run(port, pid, fresh) - base
                one = key.sign({"iss": ISSUER, "sub": "steady"})
                run(port, pid, [one] * 5)
                hit = run(port, pid, [one] * n) - base
                print(f"| {key.alg} | {first:.0f} | {hit:.1f} |")
        finally:
            envoy.stop()


if __name__ == "__main__":
    main()
