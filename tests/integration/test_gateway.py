"""An ingress gateway (envoy/gateway.yaml: listeners "http" and "https") serving Istio Gateways.

A Gateway applies when its `selector` labels are a subset of the workload's (any namespace). A server
with `tls.httpsRedirect: true` answers a request on its port (its port.number, mapped by
`gatewayPorts` to the listener's port) for one of its hosts with 301 to https://<host without port>
<path and query>, empty body, reason `https_redirect`, policy <ns>.<gateway>, rule = the server's
index. TLS termination (the HTTPS server, tls.mode SIMPLE) is Envoy's. PeerAuthentication does not
apply to a gateway's clients.
"""

import json
import ssl

import pytest
import yaml

from .harness.envoy import GATEWAY_YAML, Ports, render
from .harness.expect import expect
from .harness.resources import authz, gateway, http_redirect_server, peer_authn, plugin_config
from .seeds import SEED_000_GATEWAY, SEED_000_GATEWAY_WORKLOAD

APP = "app.example.com"
APP_GATEWAY = "production.app-gateway"
REDIRECT_SERVER = 1  # the seed's port-80 server is servers[1]


def redirected(resp, location: str, policy: str = APP_GATEWAY, rule: int = REDIRECT_SERVER) -> dict:
    """A 301 to `location` (compared case-insensitively: the host's case is the client's)."""
    entry = expect(resp, 301, "https_redirect", policy=policy, rule=rule, direction="inbound", egress=None)
    assert (resp.header("location") or "").lower() == location.lower(), (
        f"{resp}: location {resp.header('location')!r}, expected {location!r}")
    return entry


def passed(resp) -> dict:
    """Not redirected: the echo server answered, no policy decided."""
    entry = expect(resp, 200, "no_allow_policies", policy=None, direction="inbound", egress=None)
    assert resp.header("location") is None
    resp.json()  # the echo server's answer
    return entry


def no_mtls_violation(entry: dict) -> None:
    """PeerAuthentication does not apply to a gateway: nothing to report, whatever the mesh says."""
    assert entry["mtls"] is None or entry["mtls"]["violation"] is False, entry["mtls"]


def https(envoy, path: str, host: str = APP, server_name: str = APP, **kw):
    """One-way TLS (no client certificate) to the "https" listener."""
    return envoy.request("GET", path, listener="https", tls=True, server_name=server_name, host=host, **kw)


def seed_gateway_config(ports, extra: list[dict] = ()) -> dict:
    return plugin_config([SEED_000_GATEWAY, *extra], **SEED_000_GATEWAY_WORKLOAD,
                         gateway_ports={80: ports.listeners["http"], 443: ports.listeners["https"]})


# --- the file -------------------------------------------------------------------------------------


def _doc():
    return yaml.safe_load(GATEWAY_YAML.read_text())


def _hcm(listener):
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    return chain, hcm["typed_config"]


def test_gateway_yaml_listeners():
    doc = _doc()
    assert doc["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 15000}
    listeners = {listener["name"]: listener for listener in doc["static_resources"]["listeners"]}
    assert sorted(listeners) == ["http", "https"]
    assert listeners["http"]["address"]["socket_address"]["port_value"] == 18080
    assert listeners["https"]["address"]["socket_address"]["port_value"] == 18443
    http_chain, _ = _hcm(listeners["http"])
    assert "transport_socket" not in http_chain
    https_chain, _ = _hcm(listeners["https"])
    tls = https_chain["transport_socket"]["typed_config"]
    assert tls["@type"].endswith("DownstreamTlsContext")
    assert not tls.get("require_client_certificate", False), "tls.mode SIMPLE asks for no client certificate"
    (pair,) = tls["common_tls_context"]["tls_certificates"]
    assert (pair["certificate_chain"]["filename"], pair["private_key"]["filename"]) == (
        "envoy/certs/server.crt", "envoy/certs/server.key")
    assert https_chain["filter_chain_match"]["server_names"] == [APP]
    for listener in listeners.values():
        assert "traffic_direction" not in listener
        _, hcm = _hcm(listener)
        assert (hcm["use_remote_address"], hcm["xff_num_trusted_hops"]) == (True, 0), "the gateway is the edge"
        assert hcm["always_set_request_id_in_response"] is True, "clients learn the audit entry's request_id"
        wasm, router = hcm["http_filters"]
        assert router["name"] == "envoy.filters.http.router"
        plugin = wasm["typed_config"]["config"]
        assert (plugin["name"], plugin["root_id"], plugin["failure_policy"]) == ("meshguard", "meshguard", "FAIL_CLOSED")
        assert plugin["vm_config"]["code"]["local"]["filename"] == "target/wasm32-wasip1/release/meshguard.wasm"


def test_gateway_yaml_holds_the_seed_000_gateway():
    doc = _doc()
    ports = {listener["name"]: listener["address"]["socket_address"]["port_value"]
             for listener in doc["static_resources"]["listeners"]}
    for listener in doc["static_resources"]["listeners"]:
        _, hcm = _hcm(listener)
        config = json.loads(hcm["http_filters"][0]["typed_config"]["config"]["configuration"]["value"])
        assert config["resources"] == [SEED_000_GATEWAY]
        assert config["workload"] == SEED_000_GATEWAY_WORKLOAD
        assert config["gatewayPorts"] == {"80": ports["http"], "443": ports["https"]}


def test_rendering_moves_gateway_ports_with_the_listeners(tmp_path):
    ports = Ports(admin=20000, listener=20001, backend=20002, listeners={"http": 20001, "https": 20003})
    doc = render(GATEWAY_YAML, ports, tmp_path)
    listeners = {listener["name"]: listener for listener in doc["static_resources"]["listeners"]}
    assert listeners["http"]["address"]["socket_address"]["port_value"] == 20001
    assert listeners["https"]["address"]["socket_address"]["port_value"] == 20003
    for listener in listeners.values():
        _, hcm = _hcm(listener)
        config = json.loads(hcm["http_filters"][0]["typed_config"]["config"]["configuration"]["value"])
        assert config["gatewayPorts"] == {"80": 20001, "443": 20003}
        assert config["resources"] == [SEED_000_GATEWAY]


# --- the shipped file, as it is -------------------------------------------------------------------


class TestShippedGateway:
    """envoy/gateway.yaml unchanged (the harness moves its listeners, and gatewayPorts with them)."""

    envoy_yaml = GATEWAY_YAML
    config = None

    def test_http_is_redirected_to_https(self, envoy):
        resp = envoy.request("GET", "/x?y=1", listener="http", host=APP)
        redirected(resp, f"https://{APP}/x?y=1")
        assert resp.body == b""

    def test_redirect_drops_the_port(self, envoy):
        port = envoy.ports.of("http")
        redirected(envoy.request("GET", "/x", listener="http", host=f"{APP}:{port}"), f"https://{APP}/x")

    def test_host_is_case_insensitive(self, envoy):
        redirected(envoy.request("GET", "/", listener="http", host="APP.Example.COM"), f"https://{APP}/")

    def test_every_method_is_redirected(self, envoy):
        redirected(envoy.request("POST", "/form", listener="http", host=APP, body=b"a=1"), f"https://{APP}/form")

    def test_other_host_is_not_redirected(self, envoy):
        passed(envoy.request("GET", "/x", listener="http", host="other.example.com"))

    def test_https_reaches_the_application(self, envoy):
        resp = https(envoy, "/x?y=1")
        passed(resp)
        assert resp.json()["path"] == "/x?y=1"

    def test_client_request_id_is_replaced_and_returned(self, envoy):
        resp = envoy.request("GET", "/x", listener="http", host=APP, headers={"x-request-id": "chosen-by-client"})
        assert resp.request_id != "chosen-by-client", "at the edge Envoy makes its own x-request-id"
        redirected(resp, f"https://{APP}/x")

    def test_https_for_another_name_gets_no_handshake(self, envoy):
        # Envoy's job (filter_chain_match.server_names = the server's hosts), as Istio's gateway does.
        with pytest.raises((ssl.SSLError, ConnectionError)):
            https(envoy, "/", host="other.example.com", server_name="localhost", timeout=5)


# --- other scenarios on the same file -------------------------------------------------------------


class TestGatewayUnderMeshWideStrict:
    """Seed 000's Gateway and its mesh-wide STRICT PeerAuthentication, plus Gateways that must not
    apply: one selecting the egress gateway, one on a server port that no listener has."""

    envoy_yaml = GATEWAY_YAML

    @staticmethod
    def config(ports):
        return seed_gateway_config(ports, [
            peer_authn("default", "istio-system", "STRICT"),
            gateway("egress-gateway", [http_redirect_server(80, ["*"])], selector={"istio": "egressgateway"}),
            gateway("unmapped-port", [http_redirect_server(8081, ["*"])]),
        ])

    def test_plaintext_is_redirected_not_refused(self, envoy):
        no_mtls_violation(redirected(envoy.request("GET", "/x?y=1", listener="http", host=APP),
                                     f"https://{APP}/x?y=1"))

    def test_plaintext_for_other_host_is_not_refused(self, envoy):
        no_mtls_violation(passed(envoy.request("GET", "/x", listener="http", host="other.example.com")))

    def test_https_without_client_certificate_is_not_refused(self, envoy):
        no_mtls_violation(passed(https(envoy, "/x")))


class TestGatewayHosts:
    """Server hosts: `ns/` prefix, `*.example.org` (subdomains, not the apex), exact, `*`; a server port
    equal to the listener's needs no gatewayPorts; a Gateway in any namespace applies."""

    envoy_yaml = GATEWAY_YAML

    @staticmethod
    def config(ports):
        port = ports.listeners["http"]
        edge = gateway("edge-gateway", [
            http_redirect_server(port, ["edge/*.example.org", "exact.test"], name="http-named"),
            http_redirect_server(port, ["*"], name="http-any"),
            # An HTTPS server with every TLS field: TLS is Envoy's, the server never redirects.
            {"port": {"number": ports.listeners["https"], "name": "https", "protocol": "HTTPS"},
             "bind": "127.0.0.1", "name": "https-any", "hosts": ["*"],
             "tls": {"mode": "SIMPLE", "credentialName": "edge-cert", "minProtocolVersion": "TLSV1_2",
                     "cipherSuites": ["ECDHE-ECDSA-AES128-GCM-SHA256"]}},
        ], namespace="edge")
        edge["apiVersion"] = "networking.istio.io/v1beta1"
        return plugin_config([edge], **SEED_000_GATEWAY_WORKLOAD)

    @pytest.mark.parametrize("host", ["a.example.org", "deep.a.example.org", "exact.test", "EXACT.test"])
    def test_named_hosts(self, envoy, host):
        redirected(envoy.request("GET", "/p?q", listener="http", host=host), f"https://{host}/p?q",
                   policy="edge.edge-gateway", rule=0)

    @pytest.mark.parametrize("host", ["example.org", "sub.exact.test", "127.0.0.1"])
    def test_other_hosts_fall_to_the_wildcard_server(self, envoy, host):
        redirected(envoy.request("GET", "/p", listener="http", host=host), f"https://{host}/p",
                   policy="edge.edge-gateway", rule=1)

    def test_host_port_is_dropped(self, envoy):
        port = envoy.ports.of("http")
        redirected(envoy.request("GET", "/", listener="http", host=f"exact.test:{port}"), "https://exact.test/",
                   policy="edge.edge-gateway", rule=0)

    def test_https_server_does_not_redirect(self, envoy):
        passed(https(envoy, "/"))


class TestAuthorizationBeforeRedirect:
    """The redirect is a route: in Istio the RBAC filter runs before the router, so a DENY on the
    gateway answers 403 where the same request would otherwise be redirected."""

    envoy_yaml = GATEWAY_YAML

    @staticmethod
    def config(ports):
        deny_admin = authz("deny-admin", {"action": "DENY", "rules": [{"to": [{"operation": {"paths": ["/admin"]}}]}]},
                           namespace="istio-system")
        return seed_gateway_config(ports, [deny_admin])

    def test_denied_request_is_not_redirected(self, envoy):
        resp = envoy.request("GET", "/admin", listener="http", host=APP)
        expect(resp, 403, "deny_matched", policy="istio-system.deny-admin", rule=0, direction="inbound")
        assert resp.header("location") is None

    def test_allowed_request_is_redirected(self, envoy):
        redirected(envoy.request("GET", "/x", listener="http", host=APP), f"https://{APP}/x")
