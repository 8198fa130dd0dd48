"""A configuration the plugin must refuse: Envoy does not start (fail closed), and the log names the
resource (`<Kind> <namespace>/<name>`) and the field."""

import pytest

from .harness.jwt import ec_jwks_json
from .harness.resources import (NETWORKING_V1, authz, gateway, http_redirect_server, jwt_rule, plugin_config,
                                request_authn, resource)

ISSUER = "https://auth.example.com"
JWKS_URI = "https://auth.example.com/.well-known/jwks.json"

CASES = {
    "unknown field": (
        authz("typo", {"rules": [{"from": [{"source": {"principal": ["cluster.local/ns/default/sa/x"]}}]}]}),
        ["AuthorizationPolicy default/typo", "spec.rules[0].from[0].source.principal"],
    ),
    "bad CIDR": (
        authz("bad-cidr", {"action": "DENY", "rules": [{"from": [{"source": {"ipBlocks": ["10.0.0.0/33"]}}]}]}),
        ["AuthorizationPolicy default/bad-cidr", "spec.rules[0].from[0].source.ipBlocks"],
    ),
    "bad action": (
        authz("bad-action", {"action": "PERMIT", "rules": [{}]}),
        ["AuthorizationPolicy default/bad-action", "spec.action"],
    ),
    # Istio's webhook refuses a DENY policy that can never match (rules absent or `[]`, the same
    # protobuf value): an operator who writes one expects it to deny.
    "DENY without rules": (
        authz("deny-rules-absent", {"action": "DENY"}),
        ["AuthorizationPolicy default/deny-rules-absent", "spec.rules"],
    ),
    "DENY with empty rules": (
        authz("deny-rules-empty", {"action": "DENY", "rules": []}),
        ["AuthorizationPolicy default/deny-rules-empty", "spec.rules"],
    ),
    "unknown kind": (
        resource("EnvoyFilter", "patch", "production", {"configPatches": []}, api_version=NETWORKING_V1),
        ["EnvoyFilter production/patch"],
    ),
    "ServiceEntry without hosts": (
        resource("ServiceEntry", "no-hosts", "production",
                 {"ports": [{"number": 443, "name": "https", "protocol": "TLS"}], "location": "MESH_EXTERNAL"},
                 api_version=NETWORKING_V1),
        ["ServiceEntry production/no-hosts", "spec.hosts"],
    ),
    "ServiceEntry with a bad port": (
        resource("ServiceEntry", "bad-port", "production",
                 {"hosts": ["api.stripe.com"], "ports": [{"number": 70000, "name": "x", "protocol": "TLS"}]},
                 api_version=NETWORKING_V1),
        ["ServiceEntry production/bad-port", "spec.ports[0].number"],
    ),
    "Gateway server with port 0": (
        gateway("port-zero", [http_redirect_server(80, ["app.example.com"]),
                              http_redirect_server(0, ["app.example.com"])]),
        ["Gateway production/port-zero", "spec.servers[1].port.number"],
    ),
    "Gateway server without hosts": (
        gateway("no-hosts", [http_redirect_server(80, [])]),
        ["Gateway production/no-hosts", "spec.servers[0].hosts"],
    ),
    # RequestAuthentication: exactly one of jwks / jwksUri, a usable key set, an http(s) URI, and one
    # provider per issuer (istiod merges the rules of every applicable resource by issuer).
    "jwks and jwksUri both set": (
        request_authn("both", [jwt_rule(ISSUER, jwks=ec_jwks_json(), jwks_uri=JWKS_URI)]),
        ["RequestAuthentication default/both", "spec.jwtRules[0]", "jwksUri"],
    ),
    "neither jwks nor jwksUri": (
        request_authn("neither", [jwt_rule(ISSUER)]),
        ["RequestAuthentication default/neither", "spec.jwtRules[0]", "jwksUri"],
    ),
    "inline jwks that is not a JWKS": (
        request_authn("not-a-jwks", [jwt_rule(ISSUER, jwks='{"issuer": "https://auth.example.com"}')]),
        ["RequestAuthentication default/not-a-jwks", "spec.jwtRules[0].jwks"],
    ),
    "jwksUri with scheme ftp": (
        request_authn("ftp", [jwt_rule(ISSUER, jwks_uri="ftp://auth.example.com/jwks.json")]),
        ["RequestAuthentication default/ftp", "spec.jwtRules[0].jwksUri"],
    ),
    "same issuer configured differently": (
        [request_authn("first", [jwt_rule(ISSUER, jwks_uri=JWKS_URI)]),
         request_authn("second", [jwt_rule(ISSUER, jwks_uri=JWKS_URI, forwardOriginalToken=True)])],
        ["RequestAuthentication default/second", "spec.jwtRules[0]", ISSUER],
    ),
}

# Plugin settings (beside `resources`) with a bad value: the log names the setting.
SETTINGS = {
    "outboundTrafficPolicy.mode BLOCK": ({"outboundTrafficPolicy": {"mode": "BLOCK"}}, ["outboundTrafficPolicy.mode"]),
    "strictMtls maybe": ({"strictMtls": "maybe"}, ["strictMtls"]),
    "direction sideways": ({"direction": "sideways"}, ["direction"]),
    "gatewayPorts not a port": ({"gatewayPorts": {"80": 0}}, ["gatewayPorts"]),
}


GOOD = authz("allow-all", {"rules": [{}]})


@pytest.mark.parametrize("case", list(CASES))
def test_refused(envoy_factory, case):
    bad, needles = CASES[case]
    assert_refused(envoy_factory, plugin_config([GOOD, *(bad if isinstance(bad, list) else [bad])]), needles)


@pytest.mark.parametrize("case", list(SETTINGS))
def test_refused_setting(envoy_factory, case):
    settings, needles = SETTINGS[case]
    assert_refused(envoy_factory, {**plugin_config([GOOD]), **settings}, needles)


def assert_refused(envoy_factory, config, needles):
    outcome = envoy_factory.start_expecting_failure(config, timeout=15)
    # Envoy exits (exit_code != 0), or stays up without serving: either way no request gets through.
    assert outcome.exit_code != 0, "Envoy exited 0"
    assert outcome.probe_status is None or outcome.probe_status >= 400, (
        f"Envoy came up and a request got through with status {outcome.probe_status}")
    missing = [n for n in needles if n not in outcome.log]
    assert not missing, f"the log does not name {missing}; error lines:\n" + "\n".join(
        line for line in outcome.log.splitlines() if "[error]" in line or "[critical]" in line)
