"""wasmplugin/*.yaml: each WasmPlugin's pluginConfig, given to Envoy as the plugin configuration with
the workload from node metadata (as Istio's sidecar has it), loads and decides like its seed."""

from pathlib import Path

import pytest
import yaml

from . import seeds
from .harness.expect import expect

WASMPLUGIN_DIR = Path(__file__).resolve().parents[2] / "wasmplugin"

# file -> (the seed's resources it must hold, a request (method, path, peer), expected status/reason/policy)
CASES = {
    "seed-001-frontend-backend.yaml": (
        [seeds.SEED_001_DENY_ALL, seeds.SEED_001_ALLOW_FRONTEND_GET_DATA],
        ("GET", "/api/v1/data", ("default", "frontend")),
        (200, "allow_matched", "default.allow-frontend-get-data"),
    ),
    "seed-001-deny-wins.yaml": (
        [seeds.SEED_001_DENY_ALL_BACKEND, seeds.SEED_001_ALLOW_FRONTEND_GET_DATA],
        ("GET", "/api/v1/data", ("default", "frontend")),
        (403, "deny_matched", "default.deny-all-backend"),
    ),
    "seed-000-production.yaml": (
        seeds.SEED_000,
        ("GET", "/api/v1/x", ("production", "frontend")),
        (200, "allow_matched", "production.allow-frontend-to-api"),
    ),
}


def load(name: str) -> dict:
    return yaml.safe_load((WASMPLUGIN_DIR / name).read_text())


def test_every_file_is_covered():
    assert sorted(p.name for p in WASMPLUGIN_DIR.glob("*.yaml")) == sorted(CASES)


@pytest.mark.parametrize("name", list(CASES))
def test_wasmplugin_resource(name):
    doc = load(name)
    assert (doc["apiVersion"], doc["kind"]) == ("extensions.istio.io/v1alpha1", "WasmPlugin")
    spec = doc["spec"]
    assert spec["phase"] == "AUTHZ" and spec["failStrategy"] == "FAIL_CLOSE"
    assert spec["url"].startswith(("oci://", "file://"))
    assert spec["selector"]["matchLabels"]
    resources, _, _ = CASES[name]
    assert spec["pluginConfig"]["resources"] == resources, "the file's resources differ from the seed's"


@pytest.mark.parametrize("name", list(CASES))
def test_plugin_config_loads_and_decides(envoy_factory, name):
    doc = load(name)
    node = {"NAMESPACE": doc["metadata"]["namespace"], "LABELS": doc["spec"]["selector"]["matchLabels"]}
    _, (method, path, peer), (status, reason, policy) = CASES[name]
    with envoy_factory.start(doc["spec"]["pluginConfig"], node_metadata=node) as envoy:
        resp = envoy.request(method, path, peer=peer)
        expect(resp, status, reason, policy=policy, rule=0)
