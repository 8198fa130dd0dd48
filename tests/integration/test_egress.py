"""Egress control on a sidecar's outbound side (envoy/egress.yaml: listener `traffic_direction: OUTBOUND`).

Under outboundTrafficPolicy REGISTRY_ONLY, a request whose :authority host (port stripped,
case-insensitive) and port are in no ServiceEntry gets Istio's black hole: 502 with an empty body,
reason `egress_not_registered`. The port is the :authority's, else the listener's. A registered
request then goes to the AuthorizationPolicies, where `hosts` is the :authority and `ports` the egress
port (seed 000's `restrict-egress-stripe`). PeerAuthentication and RequestAuthentication do not
apply on this side. The echo server plays every external host.
"""

import json

import pytest
import yaml

from .harness.envoy import EGRESS_YAML, ENVOY_YAML
from .harness.expect import expect
from .harness.resources import NETWORKING_V1, plugin_config, resource, service_entry
from .seeds import (SEED_000, SEED_000_EGRESS_WORKLOAD, SEED_000_RESTRICT_EGRESS, SEED_000_SERVICE_ENTRY)

STRIPE = "api.stripe.com"
STRIPE_ENTRY = "production.allow-external-api"
STRIPE_POLICY = "production.restrict-egress-stripe"
GITHUB_ENTRY = service_entry("allow-github", ["api.github.com"], [443])


def egress(host: str, port: int, entry: str | None) -> dict:
    """The audit entry's `egress` on the outbound side."""
    return {"host": host, "port": port, "service_entry": entry}


def unregistered(resp, host: str, port: int) -> dict:
    return expect(resp, 502, "egress_not_registered", policy=None, rule=None, direction="outbound", mtls=None,
                  egress=egress(host, port, None))


def shipped_configuration() -> dict:
    doc = yaml.safe_load(EGRESS_YAML.read_text())
    (listener,) = doc["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    wasm = hcm["typed_config"]["http_filters"][0]
    return json.loads(wasm["typed_config"]["config"]["configuration"]["value"])


# --- the file -------------------------------------------------------------------------------------


def test_egress_yaml_is_a_sidecar_outbound_listener():
    doc = yaml.safe_load(EGRESS_YAML.read_text())
    inbound = yaml.safe_load(ENVOY_YAML.read_text())
    assert doc["admin"]["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 15000}
    (listener,) = doc["static_resources"]["listeners"]
    assert listener["address"]["socket_address"] == {"address": "127.0.0.1", "port_value": 15001}
    assert listener["traffic_direction"] == "OUTBOUND"
    (chain,) = listener["filter_chains"]
    assert "transport_socket" not in chain, "the application talks plaintext HTTP to its sidecar"
    (hcm,) = chain["filters"]
    hcm = hcm["typed_config"]
    inbound_hcm = inbound["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    for key in ("normalize_path", "merge_slashes", "path_with_escaped_slashes_action", "use_remote_address",
                "xff_num_trusted_hops"):
        assert hcm[key] == inbound_hcm[key], key
    wasm, router = hcm["http_filters"]
    assert router["name"] == "envoy.filters.http.router"
    (inbound_wasm, _) = inbound_hcm["http_filters"]
    for key in ("name", "root_id", "failure_policy", "vm_config"):
        assert wasm["typed_config"]["config"][key] == inbound_wasm["typed_config"]["config"][key], key
    (route,) = hcm["route_config"]["virtual_hosts"][0]["routes"]
    assert route["route"]["cluster"] == "backend"


def test_egress_yaml_holds_the_seed_000_egress_scenario():
    config = shipped_configuration()
    assert config["workload"] == SEED_000_EGRESS_WORKLOAD
    assert config["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    assert config["resources"] == [SEED_000_SERVICE_ENTRY, SEED_000_RESTRICT_EGRESS]


# --- the shipped file, as it is -------------------------------------------------------------------


class TestShippedEgress:
    """envoy/egress.yaml unchanged: production/app=payment-service may call api.stripe.com:443 only."""

    envoy_yaml = EGRESS_YAML
    config = None

    def test_stripe_on_443_is_allowed(self, envoy):
        resp = envoy.request("GET", "/v1/charges?limit=3", host=f"{STRIPE}:443")
        expect(resp, 200, "allow_matched", policy=STRIPE_POLICY, rule=0, action="ALLOW", direction="outbound",
               mtls=None, egress=egress(STRIPE, 443, STRIPE_ENTRY))
        assert resp.json()["path"] == "/v1/charges?limit=3"  # the "external host" got the request
        assert ["host", f"{STRIPE}:443"] in [[k.lower(), v] for k, v in resp.json()["headers"]]

    def test_unregistered_host_is_black_holed(self, envoy):
        unregistered(envoy.request("GET", "/", host="evil.example.com"), "evil.example.com", envoy.port)

    def test_unregistered_host_with_registered_port_is_black_holed(self, envoy):
        unregistered(envoy.request("GET", "/", host="evil.example.com:443"), "evil.example.com", 443)

    def test_registered_host_on_unregistered_port_is_black_holed(self, envoy):
        unregistered(envoy.request("GET", "/", host=f"{STRIPE}:80"), STRIPE, 80)

    def test_host_without_port_is_checked_on_the_listener_port(self, envoy):
        unregistered(envoy.request("GET", "/", host=STRIPE), STRIPE, envoy.port)

    def test_host_is_case_insensitive(self, envoy):
        resp = envoy.request("GET", "/", host="API.Stripe.COM:443")
        entry = expect(resp, 200, "allow_matched", policy=STRIPE_POLICY, rule=0, direction="outbound")
        assert entry["egress"]["host"].lower() == STRIPE, entry["egress"]
        assert (entry["egress"]["port"], entry["egress"]["service_entry"]) == (443, STRIPE_ENTRY), entry["egress"]

    def test_post_is_checked_too(self, envoy):
        unregistered(envoy.request("POST", "/upload", host="evil.example.com:443", body=b"secret"),
                     "evil.example.com", 443)


# --- other scenarios on the same file -------------------------------------------------------------


class TestSeed000Outbound:
    """All of seed 000 (mesh-wide STRICT mTLS, deny-all in production, JWT for app=api...) plus a
    RequestAuthentication for payment-service and a second ServiceEntry (api.github.com:443) that
    `restrict-egress-stripe` does not allow, on payment-service's outbound side."""

    envoy_yaml = EGRESS_YAML
    config = plugin_config(
        [*SEED_000, GITHUB_ENTRY,
         resource("RequestAuthentication", "payment-jwt", "production", {
             "selector": {"matchLabels": {"app": "payment-service"}},
             "jwtRules": [{"issuer": "https://auth.example.com",
                           "jwksUri": "https://auth.example.com/.well-known/jwks.json"}]})],
        **SEED_000_EGRESS_WORKLOAD, outbound="REGISTRY_ONLY")

    def test_plaintext_is_not_refused_by_strict_peer_authentication(self, envoy):
        expect(envoy.request("GET", "/", host=f"{STRIPE}:443"), 200, "allow_matched", policy=STRIPE_POLICY,
               rule=0, direction="outbound", mtls=None, egress=egress(STRIPE, 443, STRIPE_ENTRY))

    def test_registered_host_not_allowed_by_policy_is_denied(self, envoy):
        expect(envoy.request("GET", "/", host="api.github.com:443"), 403, "no_allow_match", policy=None,
               direction="outbound", egress=egress("api.github.com", 443, "production.allow-github"))

    def test_request_authentication_does_not_apply(self, envoy):
        resp = envoy.request("GET", "/", host=f"{STRIPE}:443", headers={"Authorization": "Bearer x.y.z"})
        entry = expect(resp, 200, "allow_matched", policy=STRIPE_POLICY)
        assert entry["auth"]["error"] is None, entry["auth"]

    def test_unregistered_host_is_black_holed(self, envoy):
        unregistered(envoy.request("GET", "/", host="evil.example.com:443"), "evil.example.com", 443)


class TestServiceEntryHosts:
    """A wildcard ServiceEntry (`*.example.com`: any subdomain, not example.com itself) and one
    without ports (any port), with no AuthorizationPolicy."""

    envoy_yaml = EGRESS_YAML
    config = plugin_config([
        service_entry("wildcard", ["*.example.com"], [443]),
        service_entry("any-port", ["files.internal.test"], None, namespace="shared"),
        service_entry("two-hosts", ["a.test", "b.test"], [8443, 9443]),
        # Every field a ServiceEntry may have (v1beta1 this time): only hosts and ports decide.
        resource("ServiceEntry", "internal-db", "production", {
            "hosts": ["db.internal.test"], "addresses": ["10.1.2.3/32"],
            "ports": [{"number": 5432, "protocol": "TCP", "name": "tcp-pg", "targetPort": 15432}],
            "location": "MESH_INTERNAL", "resolution": "STATIC",
            "endpoints": [{"address": "10.1.2.3", "ports": {"tcp-pg": 15432}, "labels": {"app": "pg"}}],
            "exportTo": ["."], "subjectAltNames": ["spiffe://cluster.local/ns/database/sa/postgres"],
        }, api_version="networking.istio.io/v1beta1"),
        resource("ServiceEntry", "vm", "production", {
            "hosts": ["vm.internal.test"], "ports": [{"number": 8080, "protocol": "HTTP", "name": "http"}],
            "location": "MESH_INTERNAL", "resolution": "STATIC", "workloadSelector": {"labels": {"app": "vm"}},
        }, api_version=NETWORKING_V1),
    ], **SEED_000_EGRESS_WORKLOAD, outbound="REGISTRY_ONLY")

    @pytest.mark.parametrize("host", ["a.example.com", "deep.a.example.com", "A.EXAMPLE.com"])
    def test_subdomain_is_registered(self, envoy, host):
        entry = expect(envoy.request("GET", "/", host=f"{host}:443"), 200, "no_allow_policies", policy=None,
                       direction="outbound")
        assert entry["egress"]["host"].lower() == host.lower(), entry["egress"]
        assert entry["egress"]["service_entry"] == "production.wildcard", entry["egress"]

    def test_apex_is_not_registered(self, envoy):
        unregistered(envoy.request("GET", "/", host="example.com:443"), "example.com", 443)

    def test_lookalike_is_not_registered(self, envoy):
        unregistered(envoy.request("GET", "/", host="a.example.com.evil.test:443"), "a.example.com.evil.test", 443)

    def test_wildcard_entry_keeps_its_port(self, envoy):
        unregistered(envoy.request("GET", "/", host="a.example.com:80"), "a.example.com", 80)

    @pytest.mark.parametrize("port", [80, 443, 5432])
    def test_entry_without_ports_matches_any_port(self, envoy, port):
        expect(envoy.request("GET", "/", host=f"files.internal.test:{port}"), 200, "no_allow_policies",
               egress=egress("files.internal.test", port, "shared.any-port"))

    def test_entry_without_ports_matches_the_listener_port(self, envoy):
        expect(envoy.request("GET", "/", host="files.internal.test"), 200, "no_allow_policies",
               egress=egress("files.internal.test", envoy.port, "shared.any-port"))

    def test_every_host_and_port_of_an_entry(self, envoy):
        for host in ("a.test", "b.test"):
            for port in (8443, 9443):
                expect(envoy.request("GET", "/", host=f"{host}:{port}"), 200, "no_allow_policies",
                       egress=egress(host, port, "production.two-hosts"))
        unregistered(envoy.request("GET", "/", host="a.test:443"), "a.test", 443)


    def test_entry_with_every_field(self, envoy):
        expect(envoy.request("GET", "/", host="db.internal.test:5432"), 200, "no_allow_policies",
               egress=egress("db.internal.test", 5432, "production.internal-db"))
        expect(envoy.request("GET", "/", host="vm.internal.test:8080"), 200, "no_allow_policies",
               egress=egress("vm.internal.test", 8080, "production.vm"))

    def test_target_port_is_not_the_service_port(self, envoy):
        unregistered(envoy.request("GET", "/", host="db.internal.test:15432"), "db.internal.test", 15432)


class TestAllowAny:
    """ALLOW_ANY (Istio's default): nothing is black-holed; the registry is still reported."""

    envoy_yaml = EGRESS_YAML
    config = plugin_config([SEED_000_SERVICE_ENTRY], **SEED_000_EGRESS_WORKLOAD, outbound="ALLOW_ANY")

    def test_unregistered_host_is_allowed(self, envoy):
        expect(envoy.request("GET", "/", host="evil.example.com"), 200, "no_allow_policies", policy=None,
               direction="outbound", mtls=None, egress=egress("evil.example.com", envoy.port, None))

    def test_registered_host_names_its_entry(self, envoy):
        expect(envoy.request("GET", "/", host=f"{STRIPE}:443"), 200, "no_allow_policies",
               egress=egress(STRIPE, 443, STRIPE_ENTRY))


class TestAllowAnyIsTheDefault:
    """No outboundTrafficPolicy at all: ALLOW_ANY."""

    envoy_yaml = EGRESS_YAML
    config = plugin_config([SEED_000_SERVICE_ENTRY], **SEED_000_EGRESS_WORKLOAD)

    def test_unregistered_host_is_allowed(self, envoy):
        expect(envoy.request("GET", "/", host="evil.example.com:443"), 200, "no_allow_policies",
               direction="outbound", egress=egress("evil.example.com", 443, None))


# --- the direction setting ------------------------------------------------------------------------


class TestDirectionInboundOverride:
    """egress.yaml's configuration with "direction": "inbound" on the OUTBOUND listener: no egress
    check; `restrict-egress-stripe` then governs what reaches payment-service, as on an inbound side."""

    envoy_yaml = EGRESS_YAML
    config = plugin_config([SEED_000_SERVICE_ENTRY, SEED_000_RESTRICT_EGRESS], **SEED_000_EGRESS_WORKLOAD,
                           outbound="REGISTRY_ONLY", direction="inbound")

    def test_unregistered_host_is_not_black_holed(self, envoy):
        entry = expect(envoy.request("GET", "/", host="evil.example.com"), 403, "no_allow_match", policy=None,
                       direction="inbound", egress=None)
        assert entry["mtls"] is not None and entry["mtls"]["violation"] is False, entry["mtls"]


class TestDirectionOutboundOverride:
    """envoy/envoy.yaml (no traffic_direction) with "direction": "outbound": the egress check runs."""

    config = plugin_config([SEED_000_SERVICE_ENTRY], **SEED_000_EGRESS_WORKLOAD, outbound="REGISTRY_ONLY",
                           direction="outbound")

    def test_unregistered_host_is_black_holed(self, envoy):
        unregistered(envoy.request("GET", "/", host="evil.example.com:443"), "evil.example.com", 443)

    def test_registered_host_passes(self, envoy):
        expect(envoy.request("GET", "/", host=f"{STRIPE}:443"), 200, "no_allow_policies", direction="outbound",
               mtls=None, egress=egress(STRIPE, 443, STRIPE_ENTRY))
