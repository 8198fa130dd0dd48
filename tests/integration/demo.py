"""`make demo`: meshguard in a plain Envoy, started from envoy/envoy.yaml exactly as it is.

Starts the echo backend (127.0.0.1:8080) and Envoy (listener 127.0.0.1:15006, admin 15000), sends a
few requests as different workloads, and prints each request, its status and its audit entry.
Exits non-zero if a request is not decided as expected.
"""

from __future__ import annotations

import json
import sys

from .harness.echo import EchoServer
from .harness.envoy import BUILT_WASM as WASM, ENVOY_YAML, REPO, Envoy, EnvoyStartError, Ports
from .harness.pki import DEFAULT_CLIENTS, TestPKI

CERTS = REPO / "envoy" / "certs"
PORTS = Ports(admin=15000, listener=15006, backend=8080)  # as written in envoy/envoy.yaml
WORKDIR = REPO / ".work"

# (what it shows, method, path, peer, expected status and reason)
REQUESTS = [
    ("the frontend reads the data", "GET", "/api/v1/data", ("default", "frontend"), 200, "allow_matched"),
    ("the frontend may not write it", "POST", "/api/v1/data", ("default", "frontend"), 403, "no_allow_match"),
    ("a frontend from another namespace", "GET", "/api/v1/data", ("other", "frontend"), 403, "no_allow_match"),
    ("another namespace on /admin/*", "GET", "/admin/users", ("other", "frontend"), 403, "deny_matched"),
    ("a plaintext client (no workload identity)", "GET", "/api/v1/data", None, 403, "no_allow_match"),
]


def pretty(entry: dict, width: int = 100, indent: str = " " * 12) -> str:
    """The audit entry as JSON, its top-level fields packed into lines of about `width` characters."""
    lines, line = [], ""
    for key, value in entry.items():
        item = f"{json.dumps(key)}: {json.dumps(value)}"
        if line and len(line) + len(item) + 2 > width:
            lines.append(line + ",")
            line = ""
        line = f"{line}, {item}" if line else item
    lines.append(line)
    return "{" + f"\n{indent}".join(lines) + "}"


def main() -> int:
    if not WASM.exists():
        print(f"{WASM} is missing: run `make build`", file=sys.stderr)
        return 1
    pki = TestPKI(CERTS)  # keeps an existing envoy/certs, creates one otherwise
    pki.server_cert()
    for ns, sa in DEFAULT_CLIENTS:
        pki.client_cert(ns, sa)
    WORKDIR.mkdir(exist_ok=True)

    try:
        echo = EchoServer(PORTS.backend).start()
    except OSError as e:
        print(f"cannot serve the echo backend on 127.0.0.1:{PORTS.backend}: {e}", file=sys.stderr)
        return 1
    envoy = Envoy(ENVOY_YAML, PORTS, pki, WORKDIR / "demo-envoy.log")
    bad = []
    try:
        envoy.start().wait_ready()
        print(f"Envoy: {ENVOY_YAML.relative_to(REPO)} + {WASM.relative_to(REPO)}, listening on 127.0.0.1:{PORTS.listener}")
        print(f"(its log: {envoy.log_path.relative_to(REPO)})\n")
        for what, method, path, peer, expected, reason in REQUESTS:
            resp = envoy.request(method, path, peer=peer)
            records = resp.audit_records()
            who = f"{peer[0]}/{peer[1]} (mTLS)" if peer else "plaintext"
            ok = resp.status == expected and bool(records) and records[0].entry.get("reason") == reason
            if not ok:
                bad.append(what)
            print(f"{'ok ' if ok else 'BAD'} {what}: {method} {path} as {who}")
            body = f"  {resp.text[:60]}" if resp.status >= 400 else ""
            print(f"    -> {resp.status}{body}" + ("" if ok else f"   (expected {expected}, {reason})"))
            print("    audit: " + (pretty(records[0].entry) if records else "(no audit entry)") + "\n")
    except EnvoyStartError as e:
        print(e, file=sys.stderr)
        bad.append("Envoy did not start")
    finally:
        envoy.stop()
        echo.stop()
    if bad:
        print(f"FAILED: {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"all {len(REQUESTS)} requests decided as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
