"""`make demo`: a short tour of what meshguard enforces, in real Envoys on 127.0.0.1.

Four Envoys, one after the other, each from one of the shipped envoy/*.yaml files (ports chosen
free, the test PKI's certificates, the built .wasm), with the seeds' policies:

1. a sidecar's inbound side (envoy/envoy.yaml, its own configuration: seed 001's frontend and
   backend);
2. the same listener with seed 000's production/app=api policies (STRICT mTLS, deny-by-default,
   `require-jwt` with its JWKS served locally) plus one dry-run policy;
3. a sidecar's outbound side (envoy/egress.yaml: seed 000's ServiceEntry under REGISTRY_ONLY);
4. an ingress gateway (envoy/gateway.yaml: seed 000's Gateway with its HTTPS redirect);

then `meshguard check` and `meshguard lint` on the same YAML as scene 2, so the command line is
seen to decide as the proxy did. Every request's status and audit entry is printed and checked;
the demo exits non-zero if any answer is not the expected one.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from typing import Callable

import yaml

from .harness.echo import EchoServer
from .harness.envoy import (BUILT_WASM as WASM, EGRESS_YAML, ENVOY_YAML, GATEWAY_YAML, REPO, EnvoyFactory,
                            EnvoyStartError)
from .harness.expect import expect
from .harness.jwks import JwksServer
from .harness.jwt import jwks_json, keys
from .harness.pki import TestPKI
from .harness.resources import from_yaml, plugin_config
from .seeds import SEED_000, SEED_000_WORKLOAD

CERTS = REPO / "envoy" / "certs"
WORKDIR = REPO / ".work" / "demo"
CLI = REPO / "target" / "debug" / "meshguard"

ISSUER = "https://auth.example.com"
JWKS_URI = "https://auth.example.com/.well-known/jwks.json"
FRONTEND = ("production", "frontend")
OTHER = ("production", "orders")  # a workload no ALLOW policy names: `require-jwt` lets it in

(DRY_RUN_POLICY,) = from_yaml("""
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: deny-delete
  namespace: production
  annotations:
    istio.io/dry-run: "true"
spec:
  selector:
    matchLabels:
      app: api
  action: DENY
  rules:
  - to:
    - operation:
        methods: ["DELETE"]
""")
SCENE_2_RESOURCES = [*SEED_000, DRY_RUN_POLICY]


def token(exp: int = 3600, **claims) -> str:
    """A token of the seed's issuer that expires `exp` seconds from now, signed with the key the
    demo's JWKS server serves."""
    return keys().get("RS256").sign({"iss": ISSUER, "sub": "alice", **claims}, exp=exp)


def bearer(t: str) -> dict:
    return {"Authorization": f"Bearer {t}"}


@dataclass
class Step:
    what: str
    method: str
    path: str
    status: int
    reason: str
    peer: tuple[str, str] | None = None
    headers: dict = field(default_factory=dict)
    host: str | None = None
    listener: str | None = None
    expect: dict = field(default_factory=dict)  # further audit fields the entry must have
    location: str | None = None  # the redirect's target


@dataclass
class Scene:
    title: str
    source: object  # the envoy/*.yaml file
    config: object  # the plugin configuration (None: the file's own)
    steps: list[Step]
    shows: str = ""


def scenes() -> list[Scene]:
    valid, expired = token(aud="api"), token(exp=-3600)
    return [
        Scene("1. sidecar inbound: seed 001 (deny-all, then allow the frontend's GET /api/v1/data)",
              ENVOY_YAML, None, [
                  Step("the frontend reads the data", "GET", "/api/v1/data", 200, "allow_matched",
                       peer=("default", "frontend"), expect={"policy": "default.allow-frontend-get-data"}),
                  Step("the frontend may not write it", "POST", "/api/v1/data", 403, "no_allow_match",
                       peer=("default", "frontend")),
                  Step("another namespace on /admin/*", "GET", "/admin/users", 403, "deny_matched",
                       peer=("other", "frontend")),
              ], shows="envoy/envoy.yaml as shipped"),
        Scene("2. sidecar inbound: seed 000 (production/app=api) + a dry-run DENY of DELETE",
              ENVOY_YAML, plugin_config(SCENE_2_RESOURCES, **SEED_000_WORKLOAD, jwks_clusters={JWKS_URI: "jwks"}), [
                  Step("the frontend, allow-listed by principal", "GET", "/api/v1/users", 200, "allow_matched",
                       peer=FRONTEND, expect={"policy": "production.allow-frontend-to-api"}),
                  Step("another workload with a valid JWT (require-jwt)", "GET", "/orders", 200, "allow_matched",
                       peer=OTHER, headers=bearer(valid),
                       expect={"policy": "production.require-jwt",
                               "auth": {"principal": f"{ISSUER}/alice", "audiences": ["api"], "error": None}}),
                  Step("the same with an expired JWT", "GET", "/orders", 401, "jwt_expired",
                       peer=OTHER, headers=bearer(expired)),
                  Step("the same without a JWT", "GET", "/orders", 403, "no_allow_match", peer=OTHER),
                  Step("plaintext to a STRICT port (mesh-wide PeerAuthentication)", "GET", "/api/v1/users", 403,
                       "mtls_required"),
                  Step("DELETE with a valid JWT: allowed, and the dry-run DENY reports it would deny", "DELETE",
                       "/orders/7", 200, "allow_matched", peer=OTHER, headers=bearer(valid),
                       expect={"dry_run": {"decision": "deny", "policy": "production.deny-delete"}}),
              ], shows=f"envoy/envoy.yaml with the YAML in {(WORKDIR / 'policies.yaml').relative_to(REPO)}"),
        Scene("3. sidecar outbound: seed 000's ServiceEntry under REGISTRY_ONLY (payment-service)",
              EGRESS_YAML, None, [
                  Step("a host the ServiceEntry registers, on its port", "GET", "/v1/charges", 200, "allow_matched",
                       host="api.stripe.com:443", expect={"policy": "production.restrict-egress-stripe"}),
                  Step("a host no ServiceEntry registers", "GET", "/upload", 502, "egress_not_registered",
                       host="exfil.example.net:443"),
              ], shows="envoy/egress.yaml as shipped"),
        Scene("4. ingress gateway: seed 000's app-gateway, port 80 redirects to HTTPS",
              GATEWAY_YAML, None, [
                  Step("plain HTTP to app.example.com", "GET", "/login?next=/home", 301, "https_redirect",
                       host="app.example.com", listener="http", location="https://app.example.com/login?next=/home",
                       expect={"policy": "production.app-gateway"}),
              ], shows="envoy/gateway.yaml as shipped"),
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


def run_step(envoy, step: Step) -> tuple[bool, dict | None]:
    resp = envoy.request(step.method, step.path, listener=step.listener, peer=step.peer, headers=dict(step.headers),
                         host=step.host)
    who = f"{step.peer[0]}/{step.peer[1]} (mTLS)" if step.peer else "plaintext"
    shown_headers = "".join(f", {k}: {v[:7]}...{v[-6:]}" if len(v) > 20 else f", {k}: {v}"
                            for k, v in step.headers.items())
    problem, entry = None, None
    try:
        entry = expect(resp, step.status, step.reason, **step.expect)
        if step.location is not None and resp.header("location") != step.location:
            problem = f"location {resp.header('location')!r}, expected {step.location!r}"
    except AssertionError as e:
        problem = str(e).splitlines()[0]
    records = resp.audit_records(0)
    entry = entry or (records[0].entry if records else None)
    print(f"{'ok ' if problem is None else 'BAD'} {step.what}")
    print(f"    {step.method} {step.path} host {step.host or '127.0.0.1'} as {who}{shown_headers}")
    answer = f"    -> {resp.status}"
    if resp.header("location"):
        answer += f"  location: {resp.header('location')}"
    elif resp.status >= 400:
        answer += f"  {resp.text[:60]!r}"
    print(answer + ("" if problem is None else f"\n    PROBLEM: {problem}"))
    print("    audit: " + (pretty(entry) if entry else "(no audit entry)") + "\n")
    return problem is None, entry


def cli_section(policies, proxy_entry: dict | None) -> list[str]:
    """`meshguard check` on scene 2's request without a JWT, compared with the proxy's audit entry,
    and `meshguard lint` on the same YAML."""
    bad = []
    policies = policies.relative_to(REPO)
    check = [str(CLI.relative_to(REPO)), "check", "-f", str(policies), "--workload", "production/app=api",
             "--request", "GET /orders", "--peer", f"cluster.local/ns/{OTHER[0]}/sa/{OTHER[1]}"]
    print("5. the command line, on the YAML of scene 2\n")
    print("$ meshguard " + shlex.join(check[1:]))
    human = subprocess.run(check, capture_output=True, text=True, cwd=REPO)
    print(human.stdout.rstrip() + f"\n(exit {human.returncode})\n")
    verdict = json.loads(subprocess.run([*check, "-o", "json"], capture_output=True, text=True, cwd=REPO).stdout)
    agree = proxy_entry is not None and all(verdict[k] == proxy_entry[k] for k in ("decision", "reason", "policy"))
    print(f"{'ok ' if agree else 'BAD'} the CLI decides as the proxy did: "
          f"{verdict['decision']} / {verdict['reason']} (proxy: "
          f"{proxy_entry and proxy_entry['decision']} / {proxy_entry and proxy_entry['reason']})\n")
    if not agree or human.returncode != 1:
        bad.append("meshguard check")
    lint = [str(CLI.relative_to(REPO)), "lint", "-f", str(policies)]
    print("$ meshguard " + shlex.join(lint[1:]))
    out = subprocess.run(lint, capture_output=True, text=True, cwd=REPO)
    print(out.stdout.rstrip() + f"\n(exit {out.returncode})\n")
    if out.returncode != 0 or "MG013" not in out.stdout:  # clean of errors; the dry-run policy noted
        bad.append("meshguard lint")
    return bad


def main() -> int:
    for path, how in ((WASM, "make build"), (CLI, "cargo build --bin meshguard")):
        if not path.exists():
            print(f"{path} is missing: run `{how}`", file=sys.stderr)
            return 1
    pki = TestPKI(CERTS)  # keeps an existing envoy/certs, creates one otherwise
    pki.server_cert()
    WORKDIR.mkdir(parents=True, exist_ok=True)
    policies = WORKDIR / "policies.yaml"
    policies.write_text(yaml.safe_dump_all(SCENE_2_RESOURCES, sort_keys=False))

    bad: list[str] = []
    total = 0
    no_token_entry = None
    with EchoServer() as echo, JwksServer() as jwks:
        jwks.serve("/.well-known/jwks.json", jwks_json([keys().get("RS256")]))
        factory = EnvoyFactory(pki, echo.port, WORKDIR, jwks_port=jwks.port)
        try:
            for scene in scenes():
                print(f"=== {scene.title}\n    ({scene.shows})\n")
                try:
                    envoy = factory.start(scene.config, source=scene.source)
                except EnvoyStartError as e:
                    print(e, file=sys.stderr)
                    bad.append(f"Envoy for scene {scene.title[:2]}")
                    continue
                try:
                    for step in scene.steps:
                        total += 1
                        ok, entry = run_step(envoy, step)
                        if not ok:
                            bad.append(step.what)
                        if step.what == "the same without a JWT":
                            no_token_entry = entry
                finally:
                    envoy.stop()
        finally:
            factory.stop_all()
    bad += cli_section(policies, no_token_entry)
    print(f"(Envoy logs and bootstraps: {WORKDIR.relative_to(REPO)}/)")
    if bad:
        print(f"FAILED: {', '.join(bad)}", file=sys.stderr)
        return 1
    print(f"all {total} requests and the command line answered as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
