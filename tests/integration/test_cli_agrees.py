"""`meshguard check` and the plugin in Envoy decide the same requests the same way: both run the
one engine, and this keeps it so (the CLI's request building, the proxy's decoding)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from .harness.envoy import REPO
from .harness.resources import plugin_config
from .seeds import SEED_000, SEED_000_WORKLOAD, SEED_001_ALLOW_FRONTEND_GET_DATA, SEED_001_DENY_ALL_BACKEND

CLI = REPO / "target" / "debug" / "meshguard"

# (method, path, peer (ns, sa) or None for plaintext, extra headers)
SEED_000_REQUESTS = [
    ("GET", "/api/v1/users", ("production", "frontend"), {}),
    ("POST", "/api/v1/users", ("production", "frontend"), {}),
    ("PUT", "/api/v1/users", ("production", "frontend"), {}),
    ("GET", "/healthz", ("production", "frontend"), {}),
    ("GET", "/admin/users", ("other", "frontend"), {}),
    ("GET", "/admin/users", ("production", "frontend"), {}),
    ("GET", "/api/v1/users?x=/admin", ("production", "frontend"), {}),
    ("GET", "/api/v1/users", None, {}),
    ("GET", "/api/v1/users", ("production", "frontend"), {"authorization": "Bearer x.y.z"}),
]
SEED_001_REQUESTS = [
    ("GET", "/api/v1/data", ("default", "frontend"), {}),
    ("POST", "/api/v1/data", ("default", "other"), {}),
]


@pytest.fixture(scope="module")
def cli():
    subprocess.run(["cargo", "build", "--quiet", "--bin", "meshguard"], cwd=REPO, check=True)
    return CLI


def check(cli, tmp_path, resources, workload, method, path, peer, headers, host, port) -> dict:
    policies = tmp_path / "policies.yaml"
    policies.write_text(yaml.safe_dump_all(resources))
    labels = ",".join(f"{k}={v}" for k, v in workload["labels"].items())
    args = [str(cli), "check", "-f", str(policies), "--workload", f"{workload['namespace']}/{labels}",
            "--request", f"{method} {path}", "--host", host, "--port", str(port), "-o", "json"]
    args += ["--peer", f"cluster.local/ns/{peer[0]}/sa/{peer[1]}"] if peer else ["--plaintext"]
    for k, v in headers.items():
        args += ["-H", f"{k}={v}"]
    out = subprocess.run(args, capture_output=True, text=True)
    assert out.returncode in (0, 1), out.stderr
    return json.loads(out.stdout)


def agree(envoy, cli, tmp_path, resources, workload, requests):
    for method, path, peer, headers in requests:
        resp = envoy.request(method, path, peer=peer, headers=headers)
        entry = resp.audit()
        verdict = check(cli, tmp_path, resources, workload, method, path, peer, headers,
                        host=entry["host"], port=envoy.port)
        seen = {k: entry[k] for k in ("decision", "reason", "policy", "rule")} | {"status": resp.status}
        said = {k: verdict[k] for k in ("decision", "reason", "policy", "rule")}
        said["status"] = verdict["reply"]["status"] if verdict["reply"] else 200
        assert seen == said, f"{method} {path} {peer} {headers}: Envoy {seen}, check {said}"


class TestSeed000:
    config = plugin_config(SEED_000, **SEED_000_WORKLOAD)

    def test_check_agrees_with_envoy(self, envoy, cli, tmp_path):
        agree(envoy, cli, tmp_path, SEED_000, SEED_000_WORKLOAD, SEED_000_REQUESTS)


class TestSeed001DenyWins:
    workload = {"namespace": "default", "labels": {"app": "backend"}}
    resources = [SEED_001_DENY_ALL_BACKEND, SEED_001_ALLOW_FRONTEND_GET_DATA]
    config = plugin_config(resources)

    def test_check_agrees_with_envoy(self, envoy, cli, tmp_path):
        agree(envoy, cli, tmp_path, self.resources, self.workload, SEED_001_REQUESTS)
