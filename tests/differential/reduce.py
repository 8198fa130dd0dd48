"""Minimising a disagreement: greedy one-step reductions of the resources and the request, each
batch of candidates run in one pair of Envoys, keeping the first candidate that still disagrees the
same way (same kind of difference, same native and meshguard statuses), until none does.

Only candidates that stay valid for Istio's webhook (and inside the generator's space) are tried:
a source or operation never becomes empty, a DENY/CUSTOM policy keeps at least one rule, a `when`
condition keeps values or notValues.
"""

from __future__ import annotations

import copy
from typing import Iterator

from .model import Request, Scenario
from .runner import Exchange, Lab

MAX_ROUNDS = 40
MAX_BATCH = 48


def _list_removals(lst: list) -> Iterator[list]:
    for i in range(len(lst)):
        yield lst[:i] + lst[i + 1:]


def _source_ok(src: dict) -> bool:
    return any(src.get(k) for k in src)


def _rule_candidates(rule: dict, action: str) -> Iterator[dict]:
    """One-step reductions of a rule."""
    for key in ("from", "to", "when"):
        if key in rule:
            r = dict(rule)
            del r[key]
            yield r
    for key, inner in (("from", "source"), ("to", "operation")):
        entries = rule.get(key) or []
        if len(entries) > 1:
            for rest in _list_removals(entries):
                yield {**rule, key: rest}
        for i, entry in enumerate(entries):
            body = entry.get(inner) or {}
            for field in list(body):
                values = body[field]
                if len(body) > 1:
                    smaller = {k: v for k, v in body.items() if k != field}
                    yield {**rule, key: entries[:i] + [{inner: smaller}] + entries[i + 1:]}
                if isinstance(values, list) and len(values) > 1:
                    for rest in _list_removals(values):
                        smaller = {**body, field: rest}
                        yield {**rule, key: entries[:i] + [{inner: smaller}] + entries[i + 1:]}
    conds = rule.get("when") or []
    if len(conds) > 1:
        for rest in _list_removals(conds):
            yield {**rule, "when": rest}
    for i, cond in enumerate(conds):
        for part in ("values", "notValues"):
            other = "notValues" if part == "values" else "values"
            if part in cond and cond.get(other):
                c = {k: v for k, v in cond.items() if k != part}
                yield {**rule, "when": conds[:i] + [c] + conds[i + 1:]}
            if len(cond.get(part) or []) > 1:
                for rest in _list_removals(cond[part]):
                    yield {**rule, "when": conds[:i] + [{**cond, part: rest}] + conds[i + 1:]}


def resource_candidates(resources: list[dict]) -> Iterator[list[dict]]:
    for rest in _list_removals(resources):
        yield rest
    for i, res in enumerate(resources):
        spec = res.get("spec") or {}

        def replace(new_spec: dict, new_meta: dict | None = None) -> list[dict]:
            r = copy.deepcopy(res)
            r["spec"] = new_spec
            if new_meta is not None:
                r["metadata"] = new_meta
            return resources[:i] + [r] + resources[i + 1:]

        if "selector" in spec:
            yield replace({k: v for k, v in spec.items() if k != "selector"})
        if (res.get("metadata") or {}).get("annotations"):
            yield replace(spec, {k: v for k, v in res["metadata"].items() if k != "annotations"})
        if res["kind"] == "AuthorizationPolicy":
            action = spec.get("action", "ALLOW")
            rules = spec.get("rules") or []
            if len(rules) > 1 or (rules and action in ("ALLOW", "AUDIT")):
                for rest in _list_removals(rules):
                    yield replace({**spec, "rules": rest})
            for j, rule in enumerate(rules):
                for smaller in _rule_candidates(rule, action):
                    yield replace({**spec, "rules": rules[:j] + [smaller] + rules[j + 1:]})
        elif res["kind"] == "RequestAuthentication":
            jrules = spec.get("jwtRules") or []
            if len(jrules) > 1:
                for rest in _list_removals(jrules):
                    yield replace({**spec, "jwtRules": rest})
            for j, jr in enumerate(jrules):
                for key in list(jr):
                    if key in ("issuer", "jwks"):
                        continue
                    smaller = {k: v for k, v in jr.items() if k != key}
                    yield replace({**spec, "jwtRules": jrules[:j] + [smaller] + jrules[j + 1:]})
                    if isinstance(jr[key], list) and len(jr[key]) > 1:
                        for rest in _list_removals(jr[key]):
                            yield replace({**spec, "jwtRules": jrules[:j] + [{**jr, key: rest}] + jrules[j + 1:]})


def request_candidates(req: Request) -> Iterator[Request]:
    for rest in _list_removals(req.headers):
        r = copy.deepcopy(req)
        r.headers = rest
        yield r
    for rest in _list_removals(req.tokens):
        r = copy.deepcopy(req)
        r.tokens = rest
        yield r
    for i, use in enumerate(req.tokens):
        for claim in list(use.token.claims):
            if claim == "iss":
                continue
            r = copy.deepcopy(req)
            del r.tokens[i].token.claims[claim]
            yield r
    simpler = [("source_ip", "127.0.0.1"), ("sni", "localhost"), ("host", "api.example.com"), ("method", "GET"),
               ("peer", None)]
    for attr, value in simpler:
        if getattr(req, attr) != value:
            r = copy.deepcopy(req)
            setattr(r, attr, value)
            yield r
    if "?" in req.target:
        r = copy.deepcopy(req)
        r.target = req.target.split("?", 1)[0]
        yield r


def minimise(lab: Lab, scenario: Scenario, request: Request, signature: tuple, log=print) -> tuple[Scenario, Request, Exchange | None]:
    """The smallest (scenario resources, request) found that still disagrees with `signature`.
    Returns the last reproducing exchange (None if the original does not reproduce alone)."""
    current = Scenario(scenario.namespace, scenario.labels, copy.deepcopy(scenario.resources), [request],
                       scenario.port, scenario.origin + " (minimised)", scenario.root_namespace,
                       scenario.trust_domain, scenario.trust_domain_aliases)
    first = lab.run([current])
    if first.refused or not first.exchanges or first.exchanges[0].signature() != signature:
        log(f"    does not reproduce alone: {first.exchanges[0].signature() if first.exchanges else first.refused}")
        return current, request, None
    last = first.exchanges[0]
    for _round in range(MAX_ROUNDS):
        candidates: list[Scenario] = []
        for res in resource_candidates(current.resources):
            candidates.append(Scenario(current.namespace, current.labels, res, [current.requests[0]], current.port,
                                       current.origin, current.root_namespace, current.trust_domain,
                                       current.trust_domain_aliases))
        for req in request_candidates(current.requests[0]):
            candidates.append(Scenario(current.namespace, current.labels, current.resources, [req], current.port,
                                       current.origin, current.root_namespace, current.trust_domain,
                                       current.trust_domain_aliases))
        found = None
        for start in range(0, len(candidates), MAX_BATCH):
            chunk = candidates[start:start + MAX_BATCH]
            result = lab.run(chunk)
            hits = [e for e in result.exchanges if e.signature() == signature]
            if hits:
                hit = min(hits, key=lambda e: e.scenario)
                found = (chunk[hit.scenario], hit)
                break
        if found is None:
            break
        current, last = found
    return current, current.requests[0], last
