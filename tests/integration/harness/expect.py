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


def expect_jwt_denied(resp: Response, reason: str, body: str, *, realm: str, status: int = 401,
                      token: str | None = None) -> dict:
    """A request refused by RequestAuthentication, as Envoy's jwt_authn answers it: `status` (401, or
    403 for audiences), jwt_verify_lib's text as the body, `www-authenticate: Bearer realm="<realm>",
    error="invalid_token"`, and an audit entry with `reason` and `auth.error` = the body. `realm` is
    `<scheme>://<authority><path with query>` (path cut at 256 bytes). The token, if given, must not
    appear in the audit line."""
    entry = expect(resp, status, reason, policy=None, rule=None)
    problems = []
    if resp.text != body:
        problems.append(f"body {resp.text[:120]!r}, expected {body!r}")
    want = f'Bearer realm="{realm}", error="invalid_token"'
    if resp.header("www-authenticate") != want:
        problems.append(f"www-authenticate {resp.header('www-authenticate')!r}, expected {want!r}")
    if entry.get("auth") != {"principal": None, "audiences": None, "error": body}:
        problems.append(f"auth {entry.get('auth')!r}, expected error {body!r} and no principal")
    if token and token in resp.audit_line():
        problems.append("the token appears in the audit line")
    assert not problems, f"{resp}: " + "; ".join(problems) + "\naudit entry: " + json.dumps(entry, indent=1)
    return entry
