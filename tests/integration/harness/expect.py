"""One assertion for a response and its audit entry, with the whole entry in the failure message."""

from __future__ import annotations

import json

from .client import Response

RBAC_DENIED_BODY = "RBAC: access denied"
# Denials answered like Envoy's RBAC filter (plaintext on a STRICT port included: the design's 403).
_RBAC_REASONS = {"deny_matched", "no_allow_match", "custom_matched", "mtls_required"}
# Answers without a body: Istio's REGISTRY_ONLY black hole (502) and the Gateway's HTTPS redirect (301).
_EMPTY_BODY_REASONS = {"egress_not_registered", "https_redirect"}
ALLOW_REASONS = {"allow_matched", "no_allow_policies"}
_ANY = object()
_ABSENT = object()


def expect(resp: Response, status: int, reason: str, *, policy=_ANY, rule=_ANY, action=_ANY, **fields) -> dict:
    """Asserts the HTTP status and the audit entry: decision (implied by the reason), status, reason, and
    policy / rule / action / any other top-level field when given. Returns the entry.

    A 403 for an authorization reason (or mtls_required) must carry Envoy RBAC's body `RBAC: access denied`;
    an unregistered egress (502) and an HTTPS redirect (301) have an empty body.
    """
    entry = resp.audit()
    decision = "allow" if reason in ALLOW_REASONS else "deny"
    want = {"decision": decision, "status": status, "reason": reason}
    for key, value in (("policy", policy), ("rule", rule), ("action", action)):
        if value is not _ANY:
            want[key] = value
    want.update(fields)
    problems = [f"HTTP status {resp.status}, expected {status}"] if resp.status != status else []
    problems += [f"{k} = {entry.get(k, '<absent>')!r}, expected {v!r}"
                 for k, v in want.items() if entry.get(k, _ABSENT) != v]
    if status == 403 and reason in _RBAC_REASONS and resp.text != RBAC_DENIED_BODY:
        problems.append(f"body {resp.text[:80]!r}, expected {RBAC_DENIED_BODY!r}")
    if reason in _EMPTY_BODY_REASONS and resp.body:
        problems.append(f"body {resp.text[:80]!r}, expected an empty body")
    assert not problems, f"{resp}: " + "; ".join(problems) + "\naudit entry: " + json.dumps(entry, indent=1)
    return entry
