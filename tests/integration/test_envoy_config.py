"""envoy/envoy.yaml and envoy/docker-compose.yaml, as users run them."""

import yaml

from .harness.envoy import ENVOY_YAML, REPO, Ports, render
from .harness.expect import expect

COMPOSE = REPO / "envoy" / "docker-compose.yaml"


def _hcm(chain):
    (f,) = chain["filters"]
    assert f["name"] == "envoy.filters.network.http_connection_manager"
    return f["typed_config"]


def test_inbound_listener_is_shaped_like_istio_permissive():
    doc = yaml.safe_load(ENVOY_YAML.read_text())
    (listener,) = doc["static_resources"]["listeners"]
    assert [f["name"] for f in listener["listener_filters"]] == ["envoy.filters.listener.tls_inspector"]
    chains = {c["name"]: c for c in listener["filter_chains"]}
    assert chains["mtls"]["filter_chain_match"] == {"transport_protocol": "tls"}
    assert chains["plaintext"]["filter_chain_match"] == {"transport_protocol": "raw_buffer"}
    tls = chains["mtls"]["transport_socket"]["typed_config"]
    assert tls["require_client_certificate"] is True
    for chain in chains.values():
        hcm = _hcm(chain)
        assert (hcm["normalize_path"], hcm["merge_slashes"], hcm["path_with_escaped_slashes_action"]) == (
            True, False, "KEEP_UNCHANGED")
        assert (hcm["use_remote_address"], hcm["xff_num_trusted_hops"]) == (False, 0)
        wasm, router = hcm["http_filters"]
        assert router["name"] == "envoy.filters.http.router"
        plugin = wasm["typed_config"]["config"]
        assert (plugin["name"], plugin["root_id"], plugin["failure_policy"]) == ("meshguard", "meshguard", "FAIL_CLOSED")
        assert plugin["vm_config"]["runtime"] == "envoy.wasm.runtime.v8"
        assert plugin["vm_config"]["code"]["local"]["filename"] == "target/wasm32-wasip1/release/meshguard.wasm"


def test_docker_compose_mounts_what_envoy_yaml_names():
    compose = yaml.safe_load(COMPOSE.read_text())
    envoy = compose["services"]["envoy"]
    assert envoy["image"].startswith("envoyproxy/envoy:v1.40")
    assert envoy["network_mode"] == "host" and envoy["working_dir"] == "/meshguard"
    mounts = {v.split(":")[1]: v.split(":")[0] for v in envoy["volumes"]}
    assert mounts["/meshguard/envoy"] == "./"
    assert mounts["/meshguard/target/wasm32-wasip1/release/meshguard.wasm"] == (
        "../target/wasm32-wasip1/release/meshguard.wasm")
    assert "envoy/envoy.yaml" in envoy["command"]
    assert compose["services"]["backend"]["environment"]["HTTP_PORT"] == "8080"


class TestShippedConfiguration:
    """The plugin configuration written in envoy/envoy.yaml, unchanged (config=None)."""

    config = None

    def test_frontend_reads_the_data(self, envoy):
        expect(envoy.request("GET", "/api/v1/data", peer=("default", "frontend")), 200, "allow_matched",
               policy="default.allow-frontend-get-data", rule=0)

    def test_other_namespace_is_denied_admin(self, envoy):
        expect(envoy.request("GET", "/admin/users", peer=("other", "frontend")), 403, "deny_matched",
               policy="default.deny-external-to-admin", rule=0)

    def test_plaintext_is_denied(self, envoy):
        expect(envoy.request("GET", "/api/v1/data"), 403, "no_allow_match", policy=None)


def test_jwks_cluster_is_static_and_follows_the_test_jwks_server(tmp_path):
    """envoy.yaml's `jwks` cluster (what `jwksClusters` names for a plain Envoy) reaches 127.0.0.1:8081;
    the harness points it at its JWKS server and leaves every other cluster alone."""
    doc = yaml.safe_load(ENVOY_YAML.read_text())
    clusters = {c["name"]: c for c in doc["static_resources"]["clusters"]}
    assert clusters["jwks"]["type"] == "STATIC"

    def address(c):
        return c["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]

    assert (address(clusters["jwks"])["address"], address(clusters["jwks"])["port_value"]) == ("127.0.0.1", 8081)
    rendered = render(ENVOY_YAML, Ports(admin=20000, listener=20001, backend=20002, jwks=20003), tmp_path)
    by_name = {c["name"]: c for c in rendered["static_resources"]["clusters"]}
    assert address(by_name["jwks"])["port_value"] == 20003
    assert address(by_name["backend"])["port_value"] == 20002
    unchanged = render(ENVOY_YAML, Ports(admin=20000, listener=20001, backend=20002), tmp_path)
    assert address({c["name"]: c for c in unchanged["static_resources"]["clusters"]}["jwks"])["port_value"] == 8081
