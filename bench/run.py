"""`make bench`: meshguard against Envoy's native jwt_authn + rbac and against no filter, in one run.

Every Envoy is `--concurrency 1`, pinned to core 0 (wrk to core 1) when `taskset` exists, on
127.0.0.1, with a plaintext listener whose only route is a `direct_response` 200 (no upstream),
and the HTTP connection manager settings of envoy/envoy.yaml (Istio's BASE path normalization).
The variants:

  no filter        the floor
  noop wasm        a Rust Proxy-Wasm filter that does nothing (bench/noop), built into /tmp
  native           jwt_authn + rbac as istiod configures them for the same resources (bench/istio.py)
  native+cache     the same with jwt_authn's jwt_cache_config (Istio does not set it)
  meshguard        envoy/envoy.yaml's wasm filter with target/wasm32-wasip1/release/meshguard.wasm,
                   the same resources verbatim, audit "all" (entries at info, Envoy started with
                   --component-log-level wasm:info, logging to a file) or audit "none"

Scenarios, each for 10 and 1000 generated policies (bench/istio.py): a valid token (the same
token on every request: steady state), a new token per request (a wrk Lua script cycling through
more distinct tokens than meshguard's 256-entry cache holds: every request is a first
verification), no token (403: no ALLOW matches), a denied request (valid token, a DENY matches).

The figure to trust is Envoy's CPU time per request: the process's threads' on-CPU time
(/proc/<pid>/task/*/schedstat, nanoseconds; utime+stime is recorded too) over the run, divided by
the requests Envoy counted (admin stats). req/s and latencies (wrk -t1 -cC at saturation, then
-c1) swing ±15% on a shared 2-core machine.

The cost of more policies is also measured where this machine resolves it: the decision alone
(a cached token) in V8, bench/v8 run by node at each policy count. Only the decision depends on
the number of policies, and Envoy's figures swing by more than the 1 µs the target allows.

    python -m bench.run [--duration S] [--conn-duration S] [--policies 10,1000] [--quick] ...
"""

from __future__ import annotations

import argparse
import copy
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.integration.harness import envoy as harness

from . import istio

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
NOOP_CRATE = BENCH / "noop"
NOOP_TARGET = Path(os.environ.get("BENCH_NOOP_TARGET", "/tmp/meshguard-bench-noop"))
WASM_OPT_FLAGS = ["-Os", "--enable-bulk-memory", "--enable-sign-ext", "--enable-nontrapping-float-to-int",
                  "--enable-mutable-globals", "--enable-multivalue", "--enable-reference-types"]
STAT_PREFIX = "bench"
HOST = "backend.default.svc.cluster.local"
ENVOY_CORE, WRK_CORE = "0", "1"

# Scenario -> (expected status class, needs a token pool)
SCENARIOS = {
    "valid token": "2xx",
    "new token each request": "2xx",
    "no token": "4xx",
    "denied request": "4xx",
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Envoy bootstraps, built from envoy/envoy.yaml's own pieces


def _shipped() -> tuple[dict, dict, dict]:
    """(node, HCM typed_config, meshguard's wasm filter) as envoy/envoy.yaml writes them."""
    doc = yaml.safe_load(harness.ENVOY_YAML.read_text())
    hcm = wasm = None
    for d in harness._walk(doc):
        if d.get("name") == "envoy.filters.network.http_connection_manager" and hcm is None:
            hcm = d["typed_config"]
        if d.get("name") == harness.WASM_FILTER and wasm is None:
            wasm = d
    if hcm is None or wasm is None:
        raise RuntimeError(f"{harness.ENVOY_YAML}: no HTTP connection manager or wasm filter")
    return doc["node"], hcm, wasm


def wasm_filter(wasm_path: Path, config: dict | None, name: str = "meshguard") -> dict:
    _, _, shipped = _shipped()
    f = copy.deepcopy(shipped)
    cfg = f["typed_config"]["config"]
    cfg["name"] = name
    cfg["root_id"] = name
    cfg["vm_config"]["code"]["local"]["filename"] = str(wasm_path)
    if config is None:
        cfg.pop("configuration", None)
    else:
        cfg["configuration"]["value"] = json.dumps(config, separators=(",", ":"))
    return f


def bootstrap(http_filters: list[dict], admin_port: int, port: int) -> dict:
    node, shipped_hcm, _ = _shipped()
    hcm = copy.deepcopy(shipped_hcm)
    hcm["stat_prefix"] = STAT_PREFIX
    hcm["route_config"] = {
        "name": "bench",
        "virtual_hosts": [{"name": "bench", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok\n"}}}]}],
    }
    hcm["http_filters"] = http_filters + [{
        "name": "envoy.filters.http.router",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"},
    }]
    return {
        "node": node,
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {"listeners": [{
            "name": "bench",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
            "filter_chains": [{"name": "plaintext", "filters": [{
                "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
        }]},
    }


class BenchEnvoy(harness.Envoy):
    """The harness's Envoy, started pinned to one core, at Istio's sidecar log levels."""

    def __init__(self, name: str, bootstrap_path: Path, ports: harness.Ports, log_path: Path):
        super().__init__(bootstrap_path, ports, None, log_path)
        self.name = name
        self.started_at = 0.0
        self.ready_s: float | None = None

    def start(self) -> "BenchEnvoy":
        cmd = [harness.envoy_binary(), "-c", str(self.bootstrap), "--concurrency", "1",
               "--log-level", "warning", "--component-log-level", "wasm:info", "--disable-hot-restart"]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", ENVOY_CORE] + cmd
        self.started_at = time.monotonic()
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_live(self, timeout: float = harness.START_TIMEOUT) -> "BenchEnvoy":
        """Polls /ready every 5 ms: exec-to-LIVE is the start time reported."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise harness.EnvoyStartError(f"{self.name}: Envoy exited ({self.proc.returncode}); "
                                              f"log {self.log_path}:\n{self.log_problems()}")
            if self._admin_get("/ready").strip() == b"LIVE":
                self.ready_s = time.monotonic() - self.started_at
                return self
            time.sleep(0.005)
        self.stop()
        raise harness.EnvoyStartError(f"{self.name}: not LIVE after {timeout} s; log {self.log_path}")

    def stats(self) -> dict[str, int]:
        text = self._admin_get(f"/stats?filter=^http\\.{STAT_PREFIX}\\.downstream_rq_").decode()
        out = {}
        for line in text.splitlines():
            k, _, v = line.partition(": ")
            if v.strip().isdigit():
                out[k.strip().removeprefix(f"http.{STAT_PREFIX}.")] = int(v)
        return out

    def cpu(self) -> tuple[int, float]:
        """(on-CPU ns of all threads from schedstat, utime+stime seconds from /proc/pid/stat)."""
        pid = self.proc.pid
        ns = 0
        for task in os.listdir(f"/proc/{pid}/task"):
            try:
                ns += int(Path(f"/proc/{pid}/task/{task}/schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
        return ns, ticks / os.sysconf("SC_CLK_TCK")

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def get(self, path: str, headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("GET", path, headers={"host": HOST, **headers})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()


# ---------------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    errors: str | None


_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _latency_ms(text: str, pct: str) -> float | None:
    m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def run_wrk(url: str, connections: int, duration: float, headers: dict[str, str], script: Path | None,
            script_args: list[str]) -> WrkResult:
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "5s"]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", WRK_CORE] + cmd
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    if script:
        cmd += ["-s", str(script)]
    cmd.append(url)
    if script_args:
        cmd += ["--"] + script_args
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    text = out.stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    if out.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr.strip() or text}")
    seconds = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[m.group(3)]
    errors = re.search(r"Socket errors:.*|Non-2xx or 3xx responses: \d+", text)
    return WrkResult(int(m.group(1)), seconds, int(m.group(1)) / seconds if seconds else 0.0,
                     _latency_ms(text, "50"), _latency_ms(text, "99"),
                     errors.group(0) if errors and "Socket" in errors.group(0) else None)


WRK_POOL_SCRIPT = """-- Each request carries the next token of a pool (args[1]: one token a line), cycling.
local tokens = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
end
function request()
  i = i % #tokens + 1
  return wrk.format(nil, nil, {["Host"] = "HOST", ["Authorization"] = "Bearer " .. tokens[i]})
end
""".replace("HOST", HOST)


# ---------------------------------------------------------------------------------------------
# The run


@dataclass
class Variant:
    key: str
    label: str
    policies: int | None  # None: independent of the policy count
    filters: list[dict]
    envoy: BenchEnvoy | None = None
    start_times: list[float] = field(default_factory=list)


@dataclass
class Measurement:
    variant: str
    label: str
    policies: int | None
    scenario: str
    requests: int
    cpu_us_per_req: float
    cpu_us_per_req_ticks: float
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    c1_rps: float | None
    c1_p50_ms: float | None
    c1_p99_ms: float | None
    c1_cpu_us_per_req: float | None
    rss_mib: float
    status_ok: bool
    status_note: str
    rounds_cpu_us_per_req: list[float] = field(default_factory=list)
    rounds_rps: list[int] = field(default_factory=list)


def build_noop(work: Path) -> Path | None:
    """bench/noop built into NOOP_TARGET (never the repository), wasm-opt'd when `make build` was
    (WASM_OPT names the wasm-opt binary), so both modules get the same treatment."""
    if not shutil.which("cargo"):
        log("cargo not found: skipping the noop wasm reference")
        return None
    env = {**os.environ, "CARGO_TARGET_DIR": str(NOOP_TARGET)}
    out = subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1"],
                         cwd=NOOP_CRATE, env=env, capture_output=True, text=True)
    if out.returncode != 0:
        log(f"noop wasm build failed, skipping it:\n{out.stderr[-2000:]}")
        return None
    built = NOOP_TARGET / "wasm32-wasip1" / "release" / "meshguard_bench_noop.wasm"
    dest = work / "noop.wasm"
    wasm_opt = os.environ.get("WASM_OPT")
    if wasm_opt:
        subprocess.run([wasm_opt, *WASM_OPT_FLAGS, str(built), "-o", str(dest)], check=True)
    else:
        shutil.copy(built, dest)
    return dest


def measure(v: Variant, scenario: str, args, path: str, headers: dict, script: Path | None,
            script_args: list[str], first_round: bool) -> Measurement:
    e = v.envoy
    url = f"http://127.0.0.1:{e.port}{path}"
    hdrs = {"Host": HOST, **headers}
    if first_round and args.warmup > 0:
        run_wrk(url, args.connections, args.warmup, hdrs, script, script_args)  # JIT, caches, pools

    def window(connections: int, duration: float):
        s0, (ns0, t0) = e.stats(), e.cpu()
        w = run_wrk(url, connections, duration, hdrs, script, script_args)
        (ns1, t1), s1 = e.cpu(), e.stats()
        served = s1.get("downstream_rq_total", 0) - s0.get("downstream_rq_total", 0)
        codes = {k: s1.get(f"downstream_rq_{k}", 0) - s0.get(f"downstream_rq_{k}", 0)
                 for k in ("2xx", "3xx", "4xx", "5xx")}
        return w, served, (ns1 - ns0) / 1e3, (t1 - t0) * 1e6, codes

    w, served, cpu_us, tick_us, codes = window(args.connections, args.duration)
    expected = "2xx" if v.policies is None else SCENARIOS[scenario]
    # The counters are read while the last responses complete: allow a few in flight.
    others = sum(c for k, c in codes.items() if k != expected)
    ok = served > 0 and others == 0 and codes.get(expected, 0) >= served - args.connections
    note = "" if ok else f"expected all {expected}, got {codes} of {served}"
    c1 = window(1, args.conn_duration) if first_round and args.conn_duration > 0 else None
    return Measurement(
        variant=v.key, label=v.label, policies=v.policies, scenario=scenario, requests=served,
        cpu_us_per_req=cpu_us / served if served else float("nan"),
        cpu_us_per_req_ticks=tick_us / served if served else float("nan"),
        rps=served / w.seconds if w.seconds else 0.0, p50_ms=w.p50_ms, p99_ms=w.p99_ms,
        c1_rps=(c1[1] / c1[0].seconds) if c1 else None, c1_p50_ms=c1[0].p50_ms if c1 else None,
        c1_p99_ms=c1[0].p99_ms if c1 else None,
        c1_cpu_us_per_req=(c1[2] / c1[1]) if c1 and c1[1] else None,
        rss_mib=e.rss_mib(), status_ok=ok, status_note=note,
    )


def best_of(rounds: list[Measurement]) -> Measurement:
    """The round with the least CPU per request (interference from other work only adds), with the
    one-connection figures of the round that measured them and every round's CPU kept."""
    best = min(rounds, key=lambda m: m.cpu_us_per_req)
    first = rounds[0]
    merged = Measurement(**{**best.__dict__,
                            **{k: getattr(first, k) for k in ("c1_rps", "c1_p50_ms", "c1_p99_ms", "c1_cpu_us_per_req")}})
    merged.status_ok = all(m.status_ok for m in rounds)
    merged.status_note = "; ".join(m.status_note for m in rounds if m.status_note)
    merged.rounds_cpu_us_per_req = [round(m.cpu_us_per_req, 2) for m in rounds]
    merged.rounds_rps = [round(m.rps) for m in rounds]
    return merged


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    envoy_version = subprocess.run([harness.envoy_binary(), "--version"], capture_output=True, text=True).stdout
    m = re.search(r"version: \S+/([\d.]+)", envoy_version)
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "envoy": m.group(1) if m else envoy_version.strip()[:80],
            "loadavg_at_start": os.getloadavg()[0], "pinned": bool(shutil.which("taskset"))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=float(os.environ.get("BENCH_DURATION", 1)),
                    help="seconds of each saturation run (whole seconds; default 1)")
    ap.add_argument("--rounds", type=int, default=int(os.environ.get("BENCH_ROUNDS", 3)),
                    help="saturation runs per variant and scenario, interleaved; the least CPU counts (default 3)")
    ap.add_argument("--conn-duration", type=float, default=float(os.environ.get("BENCH_CONN_DURATION", 1)),
                    help="seconds of the one-connection run, first round only (0: skip; default 1)")
    ap.add_argument("--warmup", type=float, default=1, help="seconds of warm-up before each scenario (first round)")
    ap.add_argument("--connections", type=int, default=8, help="connections at saturation (default 8)")
    ap.add_argument("--policies", default=os.environ.get("BENCH_POLICIES", "10,1000"),
                    help="policy counts, comma-separated (default 10,1000)")
    ap.add_argument("--token-pool", type=int, default=1000,
                    help="distinct tokens for the new-token scenario (> meshguard's 256-entry cache)")
    ap.add_argument("--start-rounds", type=int, default=5, help="starts per variant for the start time")
    ap.add_argument("--quick", action="store_true", help="1 s runs, no one-connection runs, 10 policies")
    ap.add_argument("--wasm", type=Path, default=harness.BUILT_WASM)
    ap.add_argument("--out", type=Path, default=RESULTS)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (bootstraps, logs)")
    args = ap.parse_args(argv)
    if args.quick:
        args.duration, args.conn_duration, args.warmup, args.start_rounds, args.rounds = 1, 0, 1, 1, 1
        args.policies = "10"
    counts = [int(x) for x in str(args.policies).split(",") if x.strip()]
    if not args.wasm.exists():
        print(f"{args.wasm} does not exist: run `make build`", file=sys.stderr)
        return 2
    if not shutil.which("wrk"):
        print("wrk not found: `apt-get install wrk` (make bench does it)", file=sys.stderr)
        return 2

    t_start = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="meshguard-bench-"))
    log(f"work directory {work}")
    noop = build_noop(work)
    signer = istio.Signer()
    (work / "jwks.json").write_text(json.dumps(signer.jwks))

    # Variants
    variants: list[Variant] = [Variant("nofilter", "no filter", None, [])]
    if noop:
        variants.append(Variant("noop", "noop wasm", None, [wasm_filter(noop, None, name="noop")]))
    workloads = {n: istio.generate(n, signer.jwks) for n in counts}
    for n, wl in workloads.items():
        variants += [
            Variant(f"native-{n}", "native jwt_authn+rbac", n, istio.native_filters(wl)),
            Variant(f"native-cache-{n}", "native, jwt cache on", n, istio.native_filters(wl, jwt_cache=True)),
            Variant(f"meshguard-info-{n}", "meshguard, audit info", n,
                    [wasm_filter(args.wasm, istio.plugin_config(wl, "all"))]),
            Variant(f"meshguard-off-{n}", "meshguard, audit off", n,
                    [wasm_filter(args.wasm, istio.plugin_config(wl, "none"))]),
        ]
    for v in variants:
        admin, port = harness.free_ports(2)
        boot = work / f"{v.key}.json"
        boot.write_text(json.dumps(bootstrap(v.filters, admin, port), indent=1))
        v.envoy = BenchEnvoy(v.key, boot, harness.Ports(admin=admin, listener=port, backend=0), work / f"{v.key}.log")

    # Tokens
    steady = {n: signer.token(wl.allowed_subject(), f"steady-{n}") for n, wl in workloads.items()}
    pools = {}
    for n, wl in workloads.items():
        p = work / f"tokens-{n}.txt"
        p.write_text("\n".join(signer.token(wl.allowed_subject(), f"pool-{n}-{i}") for i in range(args.token_pool)) + "\n")
        pools[n] = p
    script = work / "token-pool.lua"
    script.write_text(WRK_POOL_SCRIPT)
    log(f"{len(variants)} Envoy variants, policies {counts}, {args.token_pool} pool tokens per count")

    results: list[Measurement] = []
    try:
        # Start times: `start_rounds` rounds, each starting every variant once, so that a slow
        # spell of the machine falls on all of them rather than on one variant's every start
        # (the ratio to the noop filter's start is a target). The last start stays up.
        for r in range(args.start_rounds):
            for v in variants:
                v.envoy.start().wait_live()
                v.start_times.append(v.envoy.ready_s)
                if r < args.start_rounds - 1:
                    v.envoy.stop()
        for v in variants:
            log(f"{v.key}: LIVE in {statistics.median(v.start_times) * 1000:.0f} ms (median of {len(v.start_times)})")

        # Sanity: each variant answers each scenario as expected before any load.
        for v in variants:
            n = v.policies or counts[0]
            wl = workloads[n]
            for scenario, path, hdrs in scenario_requests(wl, steady[n], pools[n]):
                status = v.envoy.get(path, hdrs)
                want = 200 if v.policies is None or SCENARIOS[scenario] == "2xx" else 403
                if status != want:
                    raise RuntimeError(f"{v.key} / {scenario}: status {status}, expected {want}; log {v.envoy.log_path}")

        # Load: for each policy count and scenario, every variant back to back, `rounds` times.
        for n in counts:
            wl = workloads[n]
            for scenario, path, hdrs in scenario_requests(wl, steady[n], pools[n]):
                use_pool = scenario == "new token each request"
                chosen = [v for v in variants if wanted(v, n, counts, scenario)]
                per_variant: dict[str, list[Measurement]] = {v.key: [] for v in chosen}
                for r in range(args.rounds):
                    for v in chosen:
                        m = measure(v, scenario, args, path, {} if use_pool else hdrs,
                                    script if use_pool else None, [str(pools[n])] if use_pool else [], r == 0)
                        per_variant[v.key].append(m)
                        log(f"n={n} {scenario:24s} {v.key:22s} round {r + 1}: {m.cpu_us_per_req:8.1f} µs/req "
                            f"{m.rps:8.0f} req/s" + ("" if m.status_ok else f"  !! {m.status_note}"))
                results += [best_of(ms) for ms in per_variant.values()]
    finally:
        for v in variants:
            if v.envoy:
                v.envoy.stop()

    core_v8 = decisions_in_v8(counts) if len(counts) > 1 else {}
    report = build_report(args, counts, variants, results, t_start, core_v8)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    md = render_markdown(report)
    (args.out / f"{stamp}.json").write_text(json.dumps(report, indent=1))
    (args.out / f"{stamp}.md").write_text(md)
    (args.out / "latest.json").write_text(json.dumps(report, indent=1))
    (args.out / "latest.md").write_text(md)
    print(md)
    log(f"wrote {args.out}/{stamp}.json and .md (and latest.*) in {time.monotonic() - t_start:.0f} s")
    if args.keep:
        log(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(m.status_ok for m in results) else 1


def wanted(v: Variant, n: int, counts: list[int], scenario: str) -> bool:
    """Which variants run a scenario: the floors once (they do not depend on the policy count), the
    noop filter and native-with-cache for the steady state only."""
    if v.policies is None:
        return n == counts[0] and (v.key != "noop" or scenario == "valid token")
    if v.policies != n:
        return False
    return not v.key.startswith("native-cache") or scenario == "valid token"


def scenario_requests(wl: istio.Workload, steady_token: str, pool: Path):
    """(scenario, path, headers) for one workload; the new-token scenario's header comes from the pool."""
    bearer = {"Authorization": f"Bearer {steady_token}"}
    first = pool.read_text().split("\n", 1)[0]
    return [
        ("valid token", wl.allowed_path(), bearer),
        ("new token each request", wl.allowed_path(), {"Authorization": f"Bearer {first}"}),
        ("no token", wl.allowed_path(), {}),
        ("denied request", wl.denied_path(), bearer),
    ]


# ---------------------------------------------------------------------------------------------
# Report


def _find(results: list[Measurement], key_prefix: str, n: int | None, scenario: str) -> Measurement | None:
    for m in results:
        if m.scenario == scenario and (m.variant == key_prefix or m.variant == f"{key_prefix}-{n}"):
            return m
    return None


def decisions_in_v8(counts: list[int]) -> dict[int, float]:
    """µs per decision (valid cached token) at each policy count, from bench/v8 in node: the best
    batch of a 2 s budget per measurement."""
    log(f"the decision in V8 (bench/v8) at {counts} policies")
    env = {**os.environ, "BUDGET_MS": "2000", "BENCH_V8_ONLY_DECIDE": "1"}
    out = subprocess.run(["sh", str(BENCH / "v8" / "run.sh"), ",".join(map(str, counts))], env=env,
                         check=True, capture_output=True, text=True).stdout
    found = {}
    for line in out.splitlines():
        m = re.match(r"decide/valid_token/(\d+)\t([\d.]+)\t", line)
        if m:
            found[int(m.group(1))] = float(m.group(2))
    missing = [n for n in counts if n not in found]
    if missing:
        raise RuntimeError(f"bench/v8 printed no decide/valid_token for {missing}:\n{out}")
    return found


def build_report(args, counts, variants, results: list[Measurement], t_start: float,
                 core_v8: dict[int, float]) -> dict:
    rows = []
    # The floor: the least no-filter CPU of the run. Without a filter Envoy does the same work in
    # every scenario (a 200 from the route; a token header is ~0.6 KB more to parse), so the spread
    # between scenarios is interference, which only adds.
    floors = [m for m in results if m.variant == "nofilter"]
    common_floor = min(floors, key=lambda m: m.cpu_us_per_req) if floors else None
    for m in results:
        n = m.policies if m.policies is not None else None
        floor = common_floor
        native = _find(results, "native", m.policies, m.scenario) if m.policies else None
        added = m.cpu_us_per_req - floor.cpu_us_per_req if floor else None
        native_added = native.cpu_us_per_req - floor.cpu_us_per_req if native and floor else None
        rows.append({**m.__dict__, "policies": n, "added_us": added,
                     "x_nofilter": m.cpu_us_per_req / floor.cpu_us_per_req if floor else None,
                     "added_vs_native": (added / native_added) if added is not None and native_added else None})
    wasm_size = args.wasm.stat().st_size
    noop_size = None
    starts = {v.key: {"median_ms": statistics.median(v.start_times) * 1000 if v.start_times else None,
                      "all_ms": [round(t * 1000, 1) for t in v.start_times]} for v in variants}
    for v in variants:
        if v.key == "noop":
            noop_size = Path(v.filters[0]["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"]).stat().st_size
    targets = evaluate_targets(counts, results, wasm_size, starts, core_v8)
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "make bench" + ("" if len(sys.argv) <= 1 else " BENCH_ARGS='" + " ".join(sys.argv[1:]) + "'"),
        "machine": machine(),
        "settings": {"duration_s": args.duration, "conn_duration_s": args.conn_duration, "warmup_s": args.warmup,
                     "connections": args.connections, "policies": counts, "token_pool": args.token_pool,
                     "rounds": args.rounds},
        "wasm": {"path": str(args.wasm), "bytes": wasm_size, "noop_bytes": noop_size},
        "start_ms": starts,
        "decide_v8_us": {str(n): us for n, us in core_v8.items()},
        "rows": rows,
        "targets": targets,
        "elapsed_s": round(time.monotonic() - t_start, 1),
    }


def evaluate_targets(counts, results, wasm_size: int, starts: dict, core_v8: dict[int, float]) -> list[dict]:
    out = []

    def cpu(key, n, scenario):
        m = _find(results, key, n, scenario)
        return m.cpu_us_per_req if m else None

    def add(name, measured, limit, unit, detail):
        met = None if measured is None or limit is None else measured <= limit
        out.append({"target": name, "measured": measured, "limit": limit, "unit": unit, "met": met, "detail": detail})

    floors = [m.cpu_us_per_req for m in results if m.variant == "nofilter"]
    floor_valid = floor_new = min(floors) if floors else None
    lo = min(counts)
    if floor_valid is not None:
        mg = cpu("meshguard-info", lo, "valid token")
        nat = cpu("native", lo, "valid token")
        cached = cpu("native-cache", lo, "valid token")
        if mg is not None and nat is not None:
            add(f"steady state, audit at info, {lo} policies: added ≤ 0.5 × native's added",
                (mg - floor_valid) / (nat - floor_valid), 0.5, "× native",
                f"meshguard +{mg - floor_valid:.1f} µs, native +{nat - floor_valid:.1f} µs")
        if mg is not None and cached is not None:
            add(f"steady state, audit at info, {lo} policies: added ≤ 2 × native-with-jwt-cache's added",
                (mg - floor_valid) / (cached - floor_valid), 2.0, "× native+cache",
                f"meshguard +{mg - floor_valid:.1f} µs, native+cache +{cached - floor_valid:.1f} µs")
        off = cpu("meshguard-off", lo, "valid token")
        if off is not None and cached is not None:
            add(f"steady state, audit off, {lo} policies: added ≤ 1.5 × native-with-jwt-cache's added",
                (off - floor_valid) / (cached - floor_valid), 1.5, "× native+cache",
                f"meshguard +{off - floor_valid:.1f} µs, native+cache +{cached - floor_valid:.1f} µs")
    if len(counts) > 1:
        hi = max(counts)
        for key, label in (("meshguard-info", "audit at info"), ("meshguard-off", "audit off")):
            a, b = cpu(key, lo, "valid token"), cpu(key, hi, "valid token")
            nat_a, nat_b = cpu("native", lo, "valid token"), cpu("native", hi, "valid token")
            if a is not None and b is not None:
                add(f"{hi} policies cost ≤ 1 µs more than {lo} (steady state, {label})", b - a, 1.0, "µs",
                    f"meshguard {a:.1f} → {b:.1f} µs/req; native {nat_a:.1f} → {nat_b:.1f} µs/req"
                    if nat_a is not None and nat_b is not None else f"meshguard {a:.1f} → {b:.1f} µs/req")
        if lo in core_v8 and hi in core_v8:
            add(f"{hi} policies cost ≤ 1 µs more than {lo} (the decision alone, in V8: bench/v8)",
                core_v8[hi] - core_v8[lo], 1.0, "µs",
                f"decide/valid_token {core_v8[lo]:.2f} → {core_v8[hi]:.2f} µs")
    if floor_new is not None:
        mg = cpu("meshguard-info", lo, "new token each request")
        nat = cpu("native", lo, "new token each request")
        if mg is not None and nat is not None:
            add(f"first verification (RS256 2048), {lo} policies: added ≤ 2 × native's added",
                (mg - floor_new) / (nat - floor_new), 2.0, "× native",
                f"meshguard +{mg - floor_new:.1f} µs, native +{nat - floor_new:.1f} µs")
    add(".wasm size ≤ 300 KB", wasm_size / 1000, 300.0, "KB", f"{wasm_size:,} bytes")
    mg_start = starts.get(f"meshguard-info-{lo}", {}).get("median_ms")
    noop_start = starts.get("noop", {}).get("median_ms")
    if mg_start and noop_start:
        add(f"start to ready ≤ 2 × the noop filter's ({lo} policies)", mg_start / noop_start, 2.0, "× noop",
            f"meshguard {mg_start:.0f} ms, noop {noop_start:.0f} ms, no filter "
            f"{starts.get('nofilter', {}).get('median_ms') or 0:.0f} ms")
    return out


def _f(x, fmt="{:.1f}", none="–"):
    return none if x is None else fmt.format(x)


def render_markdown(r: dict) -> str:
    mach = r["machine"]
    s = r["settings"]
    lines = [
        f"# meshguard benchmark — {r['date']}",
        "",
        f"`{r['command']}` on {mach['cpu'] or 'unknown CPU'} ({mach['cores']} cores, Linux {mach['kernel']}), "
        f"Envoy {mach['envoy']} `--concurrency 1`{' pinned to core 0, wrk to core 1' if mach['pinned'] else ''}; "
        f"load average {mach['loadavg_at_start']:.2f} at start. Saturation: wrk -t1 -c{s['connections']} "
        f"for {s['duration_s']:g} s, best of {s.get('rounds', 1)} interleaved rounds, after {s['warmup_s']:g} s of "
        f"warm-up; one connection: -c1 for "
        f"{s['conn_duration_s']:g} s. direct_response 200, plaintext, GET with a 2048-bit RS256 token "
        f"(new-token scenario: a pool of {s['token_pool']} distinct tokens, cycled). meshguard "
        f"{r['wasm']['bytes']:,} bytes.",
        "",
        "CPU µs/req = Envoy's on-CPU time (all threads) over the requests it served, at saturation: the "
        "figure to trust here (req/s and latencies swing ±15%). *added* = minus the floor (the least "
        "no-filter CPU µs/req of the run; without a filter Envoy does the same in every scenario); "
        "*vs native* = added ÷ native jwt_authn+rbac's added in the same scenario.",
        "",
        "| policies | scenario | variant | CPU µs/req | added µs | × no filter | added vs native | req/s | p50 ms | p99 ms | 1 conn req/s | 1 conn p50 ms | 1 conn p99 ms | RSS MiB |",
        "|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        flag = "" if row["status_ok"] else f" ⚠ {row['status_note']}"
        lines.append(
            f"| {row['policies'] if row['policies'] is not None else '–'} | {row['scenario']} | {row['label']}{flag} "
            f"| {_f(row['cpu_us_per_req'])} | {_f(row['added_us'], '{:+.1f}')} | {_f(row['x_nofilter'], '{:.2f}')} "
            f"| {_f(row['added_vs_native'], '{:.2f}')} | {_f(row['rps'], '{:.0f}')} | {_f(row['p50_ms'], '{:.2f}')} "
            f"| {_f(row['p99_ms'], '{:.2f}')} | {_f(row['c1_rps'], '{:.0f}')} | {_f(row['c1_p50_ms'], '{:.3f}')} "
            f"| {_f(row['c1_p99_ms'], '{:.3f}')} | {_f(row['rss_mib'])} |")
    lines += ["", "Start to ready (exec → admin /ready LIVE, median of "
              f"{max((len(v['all_ms']) for v in r['start_ms'].values()), default=0)}):", ""]
    lines.append("| variant | ms |")
    lines.append("|---|---:|")
    for k, v in r["start_ms"].items():
        lines.append(f"| {k} | {_f(v['median_ms'], '{:.0f}')} |")
    lines += ["", "## Targets", "", "| target | measured | limit | met | detail |", "|---|---:|---:|---|---|"]
    for t in r["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        lines.append(f"| {t['target']} | {_f(t['measured'], '{:.2f}')} {t['unit']} | {_f(t['limit'], '{:g}')} {t['unit']} "
                     f"| {met} | {t['detail']} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
