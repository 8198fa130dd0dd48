"""Builders for the plugin configuration and the Istio resources inside it."""

from __future__ import annotations

from typing import Any

import yaml

SECURITY_V1 = "security.istio.io/v1"
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
                  root_namespace: str = "istio-system", trust_domain: str = "cluster.local") -> dict:
    """The plugin's configuration. namespace=None leaves `workload` out (read from node metadata)."""
    config: dict[str, Any] = {
        "rootNamespace": root_namespace,
        "trustDomain": trust_domain,
        "resources": resources,
        "audit": {"log": audit},
    }
    if namespace is not None:
        config["workload"] = {"namespace": namespace, "labels": labels if labels is not None else {"app": "backend"}}
    return config
