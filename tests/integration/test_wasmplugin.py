"""wasmplugin/*.yaml: each WasmPlugin's pluginConfig, given to Envoy as the plugin configuration with
the workload from node metadata (as Istio's sidecar has it), loads and decides like its seed."""

from pathlib import Path

import pytest
import yaml

from . import seeds
from .harness.envoy import EGRESS_YAML, ENVOY_YAML, GATEWAY_YAML
from .harness.expect import expect

WASMPLUGIN_DIR = Path(__file__).resolve().parents[2] / "wasmplugin"

# file -> (the seed's resources it must hold, a request (method, path, peer[, host, listener]),
# expected status/reason/policy)
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
    "egress-payment-service.yaml": (
        [seeds.SEED_000_SERVICE_ENTRY, seeds.SEED_000_RESTRICT_EGRESS],
        ("GET", "/v1/charges", None, "api.stripe.com:443"),
        (200, "allow_matched", "production.restrict-egress-stripe"),
    ),
    "gateway-app.yaml": (
        [seeds.SEED_000_GATEWAY],
        ("GET", "/x", None, "app.example.com", "http"),
        (301, "https_redirect", "production.app-gateway"),
    ),
}

# Where each WasmPlugin's traffic runs: match mode CLIENT is a sidecar's outbound side; the gateway's
# selector picks Istio's ingress gateway.
ENVOY_FOR = {"egress-payment-service.yaml": EGRESS_YAML, "gateway-app.yaml": GATEWAY_YAML}


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
    assert spec["url"].startswith(("oci://", "https://"))
    if spec["url"].startswith("https://"):
        assert "sha256" in spec, "an https url needs the module's sha256"
    assert spec["imagePullPolicy"] in ("IfNotPresent", "Always")
    assert spec["selector"]["matchLabels"]
    modes = {m["mode"] for m in spec.get("match", [])}
    assert modes <= {"SERVER", "CLIENT"}
    resources, _, _ = CASES[name]
    assert spec["pluginConfig"]["resources"] == resources, "the file's resources differ from the seed's"


@pytest.mark.parametrize("name", list(CASES))
def test_plugin_config_loads_and_decides(envoy_factory, name):
    doc = load(name)
    node = {"NAMESPACE": doc["metadata"]["namespace"], "LABELS": doc["spec"]["selector"]["matchLabels"]}
    _, (method, path, peer, *where), (status, reason, policy) = CASES[name]
    host, listener = (where + [None, None])[:2]
    source = ENVOY_FOR.get(name, ENVOY_YAML)
    config = doc["spec"]["pluginConfig"]
    if source == GATEWAY_YAML:
        # The gateway's container ports in the file stand for the listeners the test chose.
        def config(ports, config=config):
            return {**config, "gatewayPorts": {"80": ports.listeners["http"], "443": ports.listeners["https"]}}
    with envoy_factory.start(config, node_metadata=node, source=source) as envoy:
        kw = {"listener": listener} if listener else {}
        resp = envoy.request(method, path, peer=peer, host=host, **kw) if host else envoy.request(method, path, peer=peer)
        expect(resp, status, reason, policy=policy, rule=1 if reason == "https_redirect" else 0)
