"""The differential test's command line: meshguard against Envoy's native jwt_authn + rbac.

    python -m tests.differential                          # seeds 1..200, at most 10 minutes
    python -m tests.differential --seeds 1000 --start random --time-limit 1800
    python -m tests.differential --without custom,multi-token   # leave features out, to isolate a disagreement
    python -m tests.differential --seed 42 --show         # one seed: its resources and requests
    python -m tests.differential --replay case.yaml       # a saved (minimised) case, both Envoys

Every disagreement is grouped by its kind (status / body / www-authenticate / upstream view and
the two statuses); the first few of each kind are minimised and written, with the seed, the
resources (YAML), the request and both answers, to --out (default .work/difftest/). Exit code 1
when any disagreement or refused configuration was found, 0 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import yaml

from tests.integration.harness.echo import EchoServer
from tests.integration.harness.envoy import REPO, WASM
from tests.integration.harness.pki import TestPKI

from .generator import FEATURES, generate
from .model import Scenario, resources_yaml
from .reduce import minimise
from .runner import Exchange, Lab


def case_document(scenario: Scenario, exchange: Exchange, original: Scenario | None = None) -> dict:
    req = scenario.requests[0] if len(scenario.requests) == 1 else scenario.requests[exchange.request]
    doc = {
        "origin": scenario.origin,
        "differs_in": exchange.diffs,
        "native": exchange.native.to_dict(),
        "meshguard": exchange.meshguard.to_dict(),
        "workload": {"namespace": scenario.namespace, "labels": scenario.labels},
        "listener_port": scenario.port,
        "rootNamespace": scenario.root_namespace,
        "trustDomain": scenario.trust_domain,
        "trustDomainAliases": scenario.trust_domain_aliases,
        "request": req.to_dict(),
        "sent": {"method": exchange.wire[0], "target": exchange.wire[1],
                 "headers": [list(h) for h in exchange.wire[2]]},
        "resources": scenario.resources,
    }
    if original is not None:
        doc["original_resources_count"] = len(original.resources)
    return doc


def print_case(doc: dict, out=sys.stdout) -> None:
    print(f"  {doc['origin']}: differs in {', '.join(doc['differs_in'])}", file=out)
    print(f"    native:    {json.dumps(doc['native'])[:600]}", file=out)
    print(f"    meshguard: {json.dumps(doc['meshguard'])[:600]}", file=out)
    print(f"    workload {doc['workload']}, listener port {doc['listener_port']}", file=out)
    print(f"    request: {json.dumps(doc['request'])}", file=out)
    print("    resources:", file=out)
    for line in resources_yaml(doc["resources"]).splitlines():
        print(f"      {line}", file=out)


def coverage_class(e: Exchange) -> str:
    """A coarse class of the native decision, for the coverage line of the summary."""
    d = e.native.details or ""
    if e.native.status is None:
        return "no answer"
    if d.startswith("rbac_access_denied_matched_policy[none]"):
        return "403 no ALLOW matched"
    if "deny-due-to-bad-CUSTOM" in d:
        return "403 CUSTOM matched"
    if d.startswith("rbac_access_denied"):
        return "403 DENY matched"
    if d.startswith("jwt_authn_access_denied"):
        return f"{e.native.status} jwt"
    if e.native.status == 200:
        return "200"
    return f"{e.native.status} {d.split('{')[0] or 'other'}"


def upstream_delta(e: Exchange) -> str:
    a, b = e.native.upstream or {}, e.meshguard.upstream or {}
    out = []
    if a.get("path") != b.get("path"):
        out.append(f"path {a.get('path')!r} vs {b.get('path')!r}")
    ha, hb = {tuple(h) for h in a.get("headers", [])}, {tuple(h) for h in b.get("headers", [])}
    if ha - hb:
        out.append(f"only native upstream got {sorted(ha - hb)}")
    if hb - ha:
        out.append(f"only meshguard upstream got {sorted(hb - ha)}")
    return "; ".join(out)


def run(args) -> int:
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="difftest-", dir=out_dir))
    deadline = time.monotonic() + args.time_limit
    if args.start == "random":
        args.start = random.SystemRandom().randrange(1, 10**9)
        print(f"first seed {args.start} (--start {args.start} repeats this run)")
    args.start = int(args.start)
    seeds = [args.seed] if args.seed is not None else list(range(args.start, args.start + args.seeds))
    without = frozenset(x for x in (args.without or "").split(",") if x)
    stats = {"scenarios": 0, "requests": 0, "disagreements": 0, "refused": 0, "batches": 0}
    groups: dict[tuple, list[tuple[Scenario, Exchange]]] = defaultdict(list)
    decided: dict[str, int] = defaultdict(int)  # how the native side decided (coverage)
    refusals: list[tuple[Scenario, str]] = []
    t0 = time.monotonic()
    with EchoServer() as echo:
        lab = Lab(work, TestPKI(work / "pki"), echo.port, Path(args.wasm) if args.wasm else None,
                  workers=args.workers, protocol=args.protocol)
        if args.replay:
            return replay(lab, Path(args.replay))
        if args.show:
            sc = generate(seeds[0], 15006, args.requests, without)
            print(resources_yaml(sc.resources))
            for r in sc.requests:
                print(r.describe())
            return 0
        for start in range(0, len(seeds), args.batch):
            if time.monotonic() > deadline:
                print(f"time limit reached after {stats['scenarios']} scenarios")
                break
            chunk = seeds[start:start + args.batch]
            scenarios = [generate(s, 10000, args.requests, without) for s in chunk]
            result = lab.run(scenarios)
            stats["batches"] += 1
            stats["scenarios"] += len(scenarios)
            stats["requests"] += len(result.exchanges)
            for i, why in result.refused.items():
                refusals.append((scenarios[i], why))
                stats["refused"] += 1
            for e in result.exchanges:
                decided[coverage_class(e)] += 1
            for e in result.disagreements:
                stats["disagreements"] += 1
                groups[e.signature()].append((result.scenarios[e.scenario], e))
            print(f"seeds {chunk[0]}..{chunk[-1]}: {len(result.exchanges)} requests, "
                  f"{len(result.disagreements)} disagreements, {len(result.refused)} refused "
                  f"({result.seconds:.1f} s)", flush=True)
        total = sum(decided.values()) or 1
        print("\nhow the native side decided: " + ", ".join(
            f"{k} {100 * v / total:.1f}%" for k, v in sorted(decided.items(), key=lambda kv: -kv[1])))
        minimise_budget = args.minimise
        print()
        print(f"{stats['scenarios']} scenarios, {stats['requests']} requests compared in {stats['batches']} Envoy pairs, "
              f"{time.monotonic() - t0:.0f} s: {stats['disagreements']} disagreements in {len(groups)} kinds, "
              f"{stats['refused']} configurations refused by meshguard")
        n = 0
        for sig, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            diffs, ns, ms = sig
            print(f"\n== {len(items)} x {'/'.join(diffs)}: native {ns} vs meshguard {ms}")
            for sc, e in items[:args.examples]:
                req = sc.requests[e.request]
                extra = f" -- {upstream_delta(e)}" if "upstream" in diffs else ""
                print(f"  {sc.origin}: native {e.native.brief()} [{e.native.details}] / meshguard "
                      f"{e.meshguard.brief()}{extra}\n    {req.describe()}")
            for sc, e in items[:args.minimise_per_kind]:
                if minimise_budget <= 0 or time.monotonic() > deadline + args.minimise_time:
                    break
                minimise_budget -= 1
                print(f"  minimising {sc.origin} request {e.request}...", flush=True)
                small, _req, last = minimise(lab, sc, sc.requests[e.request], sig,
                                             log=lambda m: print(m, flush=True))
                if last is None:
                    continue
                n += 1
                doc = case_document(small, last, sc)
                doc["origin"] = f"{sc.origin}, request {e.request} (minimised)"
                (out_dir / f"case-{n:03d}.yaml").write_text(yaml.safe_dump(doc, sort_keys=False, width=110))
                print_case(doc)
        for sc, why in refusals[:args.examples]:
            print(f"\n== refused: {sc.origin}: {why}")
    print(f"\nlogs and bootstraps: {work}; minimised cases: {out_dir}/case-*.yaml")
    return 1 if stats["disagreements"] or stats["refused"] else 0


def replay(lab: Lab, path: Path) -> int:
    doc = yaml.safe_load(path.read_text())
    from .model import Request
    sc = Scenario(doc["workload"]["namespace"], doc["workload"]["labels"], doc["resources"],
                  [Request.from_dict(doc["request"])], doc.get("listener_port", 0), str(path),
                  doc.get("rootNamespace", "istio-system"), doc.get("trustDomain", "cluster.local"),
                  list(doc.get("trustDomainAliases") or []))
    result = lab.run([sc])
    if result.refused:
        print(f"refused: {result.refused}")
        return 1
    e = result.exchanges[0]
    print(f"native:    {json.dumps(e.native.to_dict())}\nmeshguard: {json.dumps(e.meshguard.to_dict())}\n"
          f"differs in: {e.diffs or 'nothing'}")
    return 1 if e.diffs else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.differential", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=200, help="how many seeds (default 200)")
    p.add_argument("--start", default="1", help="first seed, or `random` (default 1)")
    p.add_argument("--seed", type=int, help="just this seed")
    p.add_argument("--requests", type=int, help="requests per scenario (default: 40-60, from the seed)")
    p.add_argument("--batch", type=int, default=12, help="scenarios per Envoy pair (default 12)")
    p.add_argument("--workers", type=int, default=4, help="client threads (default 4)")
    p.add_argument("--time-limit", type=float, default=600, help="seconds for the comparison (default 600)")
    p.add_argument("--minimise", type=int, default=8, help="disagreements to minimise in all (default 8)")
    p.add_argument("--minimise-per-kind", type=int, default=2, help="per kind of disagreement (default 2)")
    p.add_argument("--minimise-time", type=float, default=300, help="extra seconds for minimising (default 300)")
    p.add_argument("--examples", type=int, default=3, help="examples printed per kind (default 3)")
    p.add_argument("--out", default=str(REPO / ".work" / "difftest"), help="where cases and logs go")
    p.add_argument("--wasm", help=f"the plugin (default {WASM})")
    p.add_argument("--protocol", choices=["http1", "h2"], default="http1",
                   help="what the client speaks: HTTP/1.1, or HTTP/2 (h2c prior knowledge, ALPN h2 over mTLS)")
    p.add_argument("--without", help="leave features out, comma-separated (to isolate a disagreement): "
                   + ", ".join(f"{k} ({v})" for k, v in FEATURES.items()))
    p.add_argument("--show", action="store_true", help="print the seed's scenario and exit")
    p.add_argument("--replay", help="run one saved case (YAML written by a previous run)")
    args = p.parse_args(argv)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
