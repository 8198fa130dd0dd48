"""A configuration the plugin must refuse: Envoy does not start (fail closed), and the log names the
resource (`<Kind> <namespace>/<name>`) and the field."""

import pytest

from .harness.resources import authz, plugin_config, resource

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
        resource("Gateway", "app-gateway", "production", {"selector": {"istio": "ingressgateway"}},
                 api_version="networking.istio.io/v1"),
        ["Gateway production/app-gateway"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_refused(envoy_factory, case):
    bad, needles = CASES[case]
    good = authz("allow-all", {"rules": [{}]})
    outcome = envoy_factory.start_expecting_failure(plugin_config([good, bad]), timeout=15)
    # Envoy exits (exit_code != 0), or stays up without serving: either way no request gets through.
    assert outcome.exit_code != 0, "Envoy exited 0"
    assert outcome.probe_status is None or outcome.probe_status >= 400, (
        f"Envoy came up and a request got through with status {outcome.probe_status}")
    missing = [n for n in needles if n not in outcome.log]
    assert not missing, f"the log does not name {missing}; error lines:\n" + "\n".join(
        line for line in outcome.log.splitlines() if "[error]" in line or "[critical]" in line)
