"""Builders for the plugin configuration and the Istio resources inside it."""

from __future__ import annotations

from typing import Any

import yaml

SECURITY_V1 = "security.istio.io/v1"
NETWORKING_V1 = "networking.istio.io/v1"
DRY_RUN = "istio.io/dry-run"


def resource(kind: str, name: str, namespace: str, spec: dict, api_version: str = SECURITY_V1,
             annotations: dict[str, str] | None = None) -> dict:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": api_version, "kind": kind, "metadata": metadata, "spec": spec}


def authz(name: str, spec: dict, namespace: str = "default", **kw) -> dict:
    """An AuthorizationPolicy; `spec` as written in YAML (action, selector, rules...)."""
    return resource("AuthorizationPolicy", name, namespace, spec, **kw)


def peer_authn(name: str, namespace: str, mode: str | None = None, selector: dict[str, str] | None = None,
               port_level: dict[int, str] | None = None) -> dict:
    """A PeerAuthentication: `mode` (None: no `mtls`), `selector` (matchLabels), `port_level`
    ({port: mode}, written as `portLevelMtls: {"<port>": {"mode": ...}}`)."""
    spec: dict[str, Any] = {}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    if mode is not None:
        spec["mtls"] = {"mode": mode}
    if port_level is not None:
        spec["portLevelMtls"] = {str(port): {"mode": m} for port, m in port_level.items()}
    return resource("PeerAuthentication", name, namespace, spec)


def request_authn(name: str, rules: list[dict], namespace: str = "default",
                  selector: dict[str, str] | None = None, **kw) -> dict:
    """A RequestAuthentication with these `jwtRules` (see `jwt_rule`), optionally a selector."""
    spec: dict[str, Any] = {}
    if selector is not None:
        spec["selector"] = {"matchLabels": selector}
    spec["jwtRules"] = rules
    return resource("RequestAuthentication", name, namespace, spec, **kw)


def jwt_rule(issuer: str, *, jwks: str | None = None, jwks_uri: str | None = None, **fields) -> dict:
    """A jwtRule: `issuer`, `jwks` (inline JSON text) or `jwks_uri`, and any other field by its
    YAML name (audiences, fromHeaders, fromParams, fromCookies, forwardOriginalToken,
    outputPayloadToHeader, outputClaimToHeaders, timeout, spaceDelimitedClaims)."""
    rule: dict[str, Any] = {"issuer": issuer}
    if jwks is not None:
        rule["jwks"] = jwks
    if jwks_uri is not None:
        rule["jwksUri"] = jwks_uri
    rule.update(fields)
    return rule


def service_entry(name: str, hosts: list[str], ports: list[int] | None = None, namespace: str = "production",
                  **spec) -> dict:
    """A MESH_EXTERNAL ServiceEntry (networking.istio.io/v1); ports None leaves `ports` out (any port)."""
    body: dict[str, Any] = {"hosts": hosts, "location": "MESH_EXTERNAL", "resolution": "DNS", **spec}
    if ports is not None:
        body["ports"] = [{"number": p, "name": f"tcp-{p}", "protocol": "TLS" if p == 443 else "HTTP"} for p in ports]
    return resource("ServiceEntry", name, namespace, body, api_version=NETWORKING_V1)


def gateway(name: str, servers: list[dict], namespace: str = "production",
            selector: dict[str, str] | None = None) -> dict:
    """A Gateway (networking.istio.io/v1); the selector defaults to Istio's ingress gateway."""
    spec = {"selector": selector if selector is not None else {"istio": "ingressgateway"}, "servers": servers}
    return resource("Gateway", name, namespace, spec, api_version=NETWORKING_V1)


def http_redirect_server(port: int, hosts: list[str], name: str = "http") -> dict:
    """A Gateway server: plaintext HTTP on `port`, redirecting `hosts` to HTTPS."""
    return {"port": {"number": port, "name": name, "protocol": "HTTP"}, "tls": {"httpsRedirect": True},
            "hosts": hosts}


def dry_run(policy: dict) -> dict:
    """The same policy with the `istio.io/dry-run: "true"` annotation."""
    policy = {**policy, "metadata": {**policy["metadata"]}}
    policy["metadata"]["annotations"] = {**policy["metadata"].get("annotations", {}), DRY_RUN: "true"}
    return policy


def from_yaml(text: str) -> list[dict]:
    """Resources from a multi-document YAML text (as an operator would `kubectl apply` them)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def plugin_config(resources: list[dict], namespace: str | None = "default",
                  labels: dict[str, str] | None = None, audit: str = "all",
                  root_namespace: str = "istio-system", trust_domain: str = "cluster.local", *,
                  direction: str | None = None, outbound: str | None = None, strict_mtls: str | None = None,
                  gateway_ports: dict[int, int] | None = None,
                  jwks_clusters: dict[str, str] | None = None, filter_state: bool | None = None) -> dict:
    """The plugin's configuration. namespace=None leaves `workload` out (read from node metadata).

    The other settings are left out (the plugin's defaults) unless given: `direction`
    ("auto"/"inbound"/"outbound"), `outbound` (outboundTrafficPolicy.mode: "ALLOW_ANY"/"REGISTRY_ONLY"),
    `strict_mtls` ("enforce"/"report"), `gateway_ports` ({Gateway server port: listener port}),
    `jwks_clusters` ({jwksUri: Envoy cluster name}), `filter_state` (audit.filterState).
    """
    config: dict[str, Any] = {
        "rootNamespace": root_namespace,
        "trustDomain": trust_domain,
        "resources": resources,
        "audit": {"log": audit},
    }
    if namespace is not None:
        config["workload"] = {"namespace": namespace, "labels": labels if labels is not None else {"app": "backend"}}
    if direction is not None:
        config["direction"] = direction
    if outbound is not None:
        config["outboundTrafficPolicy"] = {"mode": outbound}
    if strict_mtls is not None:
        config["strictMtls"] = strict_mtls
    if gateway_ports is not None:
        config["gatewayPorts"] = {str(k): v for k, v in gateway_ports.items()}
    if jwks_clusters is not None:
        config["jwksClusters"] = jwks_clusters
    if filter_state is not None:
        config["audit"]["filterState"] = filter_state
    return config
