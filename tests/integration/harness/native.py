"""Istio resources -> Envoy's native `jwt_authn` + `rbac` HTTP filters, exactly as istiod builds them.

This is the oracle of the differential test (tests/differential, test_differential.py): the same
Istio resources run once through meshguard and once through Envoy's own filters configured the way
istiod configures a sidecar's inbound HTTP filter chain, and both Envoys must decide every request
alike. The translation follows istio/istio (snapshot 86c9f01f) line by line:

- scoping: pilot/pkg/model/{authorization,authentication,policyattachment}.go -- policies of the
  root namespace and of the workload's namespace; `selector.matchLabels` a subset of the workload's
  labels; a policy with `targetRef`/`targetRefs` never attaches to a sidecar (non-gateway) workload.
- filter order: pilot/pkg/networking/core/listener_builder.go -- CUSTOM (ext_authz, or here the
  deny rules istiod emits for a provider it does not know), then jwt_authn
  (pilot/pkg/networking/plugin/authn), then rbac AUDIT (action LOG), DENY, ALLOW
  (pilot/pkg/security/authz/builder/builder.go).
- rbac: builder.go (one Envoy policy `ns[<ns>]-policy[<name>]-rule[<i>]` per rule; a policy with
  no rules gets a never-matching Envoy policy; `istio.io/dry-run` parsed as Go's strconv.ParseBool
  puts it into `shadow_rules`), model/model.go (`when` merged into every principal/permission,
  insertFront order, values OR-ed, notValues as NOT(OR)), model/generator.go (one generator per
  field), model/{permission,principal,util}.go and matcher/{string,header,metadata,template}.go.
  A bad value (CIDR, port) drops the whole rule of an ALLOW policy and only that value of a
  DENY/AUDIT policy (model.go checkError), as istiod does when validation was bypassed.
- jwt_authn: pilot/pkg/security/authn/policy_applier.go convertToEnvoyJwtConfig -- jwtRules of
  every applicable RequestAuthentication, sorted by issuer (stable), one provider `origins-<i>`
  each; `requires_any[origins-0, allow_missing]` for one, `requires_any[origins-0..n,
  requires_all[requires_any[origins-i, allow_missing]...]]` for several; `forward`,
  `forward_payload_header`, `claim_to_headers`, `payload_in_metadata: payload`, space-delimited
  claims (always `permission` and `scope`), `bypass_cors_preflight`. Token locations are left
  empty unless the rule names some, so Envoy's defaults apply (`Authorization: Bearer ` and the
  `access_token` query parameter). Inline `jwks` become `local_jwks`; a `jwksUri` becomes
  `remote_jwks` through the cluster `outbound|<port>||<host>` (or the one `jwks_clusters` names),
  timeout from the rule (default 5 s), cache 5 minutes.

Only sidecar inbound HTTP is modelled (no TCP chains, no waypoints). Trust domains are
trustdomain/bundle.go's: `trust_domains` is meshConfig's trustDomain followed by its aliases.

    filters = native_http_filters(resources, namespace="default", labels={"app": "backend"})
    doc = render_native(ENVOY_YAML, ports, cert_dir, resources, "default", {"app": "backend"})
"""

from __future__ import annotations

import copy
import ipaddress
import re
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import urlsplit

from . import envoy as envoy_harness

JWT_FILTER = "envoy.filters.http.jwt_authn"
RBAC_FILTER = "envoy.filters.http.rbac"
PAYLOAD_KEY = "payload"  # filters.EnvoyJwtFilterPayload
SPIFFE = "spiffe://"
ROOT_NAMESPACE = "istio-system"
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"
DRY_RUN = "istio.io/dry-run"
BAD_CUSTOM_SUFFIX = "-deny-due-to-bad-CUSTOM-action"

_RBAC_TYPE = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
_JWT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
_URI_TEMPLATE_TYPE = "type.googleapis.com/envoy.extensions.path.match.uri_template.v3.UriTemplateMatchConfig"


class Untranslatable(ValueError):
    """A resource the translator does not model (so the native side can never silently differ)."""


# ---------------------------------------------------------------------------------------------------
# Scoping


def _labels_subset(selector: dict | None, labels: dict[str, str]) -> bool:
    match = (selector or {}).get("matchLabels") or {}
    return all(labels.get(k) == v for k, v in match.items())


def attaches(resource: dict, namespace: str, labels: dict[str, str], root_namespace: str = ROOT_NAMESPACE) -> bool:
    """Whether an AuthorizationPolicy or RequestAuthentication applies to the sidecar workload
    `namespace`/`labels` (WorkloadPolicyMatcher.ShouldAttachPolicy for a non-gateway workload)."""
    if GATEWAY_NAME_LABEL in labels:
        raise Untranslatable("gateway workloads (targetRef policies) are not modelled")
    if resource["metadata"]["namespace"] not in (namespace, root_namespace):
        return False
    spec = resource.get("spec") or {}
    if spec.get("targetRefs") or spec.get("targetRef"):
        return False
    selector = spec.get("selector")
    return selector is None or _labels_subset(selector, labels)


def applicable(resources: Iterable[dict], kind: str, namespace: str, labels: dict[str, str],
               root_namespace: str = ROOT_NAMESPACE) -> list[dict]:
    """The resources of `kind` that attach to the workload, in istiod's order: AuthorizationPolicies
    of the root namespace first, RequestAuthentications of the workload's namespace first; within a
    namespace in the given order (istiod: creation time; the tests list resources oldest first)."""
    chosen = [r for r in resources if r.get("kind") == kind and attaches(r, namespace, labels, root_namespace)]
    # ListAuthorizationPolicies looks in [root, workload]; getConfigsForWorkload (authn) in [workload, root].
    order = [root_namespace, namespace] if kind == "AuthorizationPolicy" else [namespace, root_namespace]
    if root_namespace == namespace:
        order = [namespace]
    return [r for ns in order for r in chosen if r["metadata"]["namespace"] == ns]


# ---------------------------------------------------------------------------------------------------
# Matchers (pilot/pkg/security/authz/matcher)


def _regex(regex: str) -> dict:
    return {"safe_regex": {"regex": regex}}


def _exact(v: str, ignore_case: bool = False) -> dict:
    return {"exact": v, "ignore_case": True} if ignore_case else {"exact": v}


def _prefix(v: str, ignore_case: bool = False) -> dict:
    return {"prefix": v, "ignore_case": True} if ignore_case else {"prefix": v}


def _suffix(v: str, ignore_case: bool = False) -> dict:
    return {"suffix": v, "ignore_case": True} if ignore_case else {"suffix": v}


def _go_quote_meta(s: str) -> str:
    """Go's regexp.QuoteMeta (RE2 syntax)."""
    return re.sub(r"([\\.+*?()|\[\]{}^$])", r"\\\1", s)


def string_matcher(v: str, prefix: str = "") -> dict:
    """matcher.StringMatcherWithPrefix: `*` -> regex `.+` (the prefix ignored), `*x` -> suffix (with a
    prefix: regex `<prefix>.*<x quoted>`), `x*` -> prefix, else exact."""
    if v == "*":
        return _regex(".+")
    if v.startswith("*"):
        if prefix == "":
            return _suffix(v[1:])
        return _regex(prefix + ".*" + _go_quote_meta(v[1:]))
    if v.endswith("*"):
        return _prefix(prefix + v[:-1])
    return _exact(prefix + v)


def _header_matcher(name: str, v: str, ignore_case: bool = False) -> dict:
    """matcher.HeaderMatcher / HostMatcher: `*` -> present_match, `*x` suffix, `x*` prefix, exact."""
    if v == "*":
        return {"name": name, "present_match": True}
    if v.startswith("*"):
        return {"name": name, "string_match": _suffix(v[1:], ignore_case)}
    if v.endswith("*"):
        return {"name": name, "string_match": _prefix(v[:-1], ignore_case)}
    return {"name": name, "string_match": _exact(v, ignore_case)}


def _value_string(m: dict) -> dict:
    return {"string_match": m}


def _value_or(matchers: list[dict]) -> dict:
    """matcher.OrMatcher: one matcher as is, several as or_match."""
    return matchers[0] if len(matchers) == 1 else {"or_match": {"value_matchers": matchers}}


def _string_or(values: list[str]) -> dict:
    """matcher.StringOrMatcher."""
    return _value_or([_value_string(string_matcher(v)) for v in values])


def _jwt_claim_matcher(claim: str, m: dict) -> dict:
    """MetadataStringMatcherForJWTClaim: payload.<claim> as a string."""
    return {"filter": JWT_FILTER, "path": [{"key": PAYLOAD_KEY}, {"key": claim}], "value": _value_string(m)}


def _jwt_claims_list_matcher(claims: list[str], value: dict) -> dict:
    """MetadataListValueMatcherForJWTClaims (useExtendedJwt): a list holding a match, or the value itself."""
    return {
        "filter": JWT_FILTER,
        "path": [{"key": k} for k in [PAYLOAD_KEY, *claims]],
        "value": {"or_match": {"value_matchers": [{"list_match": {"one_of": value}}, value]}},
    }


def _uri_template(path: str) -> dict:
    """matcher.PathTemplateMatcher: `{*}` -> `*`, `{**}` -> `**`."""
    template = path.replace("{**}", "**").replace("{*}", "*")
    return {"name": "uri-template", "typed_config": {"@type": _URI_TEMPLATE_TYPE, "path_template": template}}


def _contains_path_template(v: str) -> bool:
    return "{*}" in v or "{**}" in v


def _cidr(v: str) -> dict:
    """util.AddrStrToCidrRange (Go netip: a CIDR keeps the bits it was written with; an address is /32 or /128)."""
    if not v:
        raise ValueError("empty address")
    if "/" in v:
        addr, _, bits = v.partition("/")
        ip = ipaddress.ip_address(addr)
        if not bits.isdigit() or (len(bits) > 1 and bits[0] == "0") or int(bits) > ip.max_prefixlen:
            raise ValueError(f"bad CIDR {v}")
        return {"address_prefix": str(ip), "prefix_len": int(bits)}
    if "%" in v:
        raise ValueError(f"zoned address {v}")
    ip = ipaddress.ip_address(v)
    return {"address_prefix": str(ip), "prefix_len": ip.max_prefixlen}


def _port(v: str) -> int:
    """convertToPort: strconv.ParseUint(v, 10, 32) <= 65535."""
    if not v or not v.isdigit() or not v.isascii():
        raise ValueError(f"invalid port {v}")
    p = int(v)
    if p > 65535:
        raise ValueError(f"invalid port {v}")
    return p


def _names_in_nested_brackets(s: str) -> list[str]:
    """model/util.go extractNameInNestedBrackets (s = the key after `request.auth.claims`)."""
    def end_bracket(begin: int) -> int:
        if begin >= len(s) or s[begin] != "[":
            return -1
        for i in range(begin + 1, len(s)):
            if s[i] == "[":
                return -1
            if s[i] == "]":
                return i
        return -1

    claims: list[str] = []
    begin = 0
    while begin < len(s):
        end = end_bracket(begin)
        if end == -1:
            return [_name_in_brackets(s)]
        claims.append(s[begin + 1:end])
        begin = end + 1
    return claims


def _name_in_brackets(s: str) -> str:
    if not (s.startswith("[") and s.endswith("]")):
        raise ValueError(f"expecting format [<NAME>], but found {s}")
    return s[1:-1]


# ---------------------------------------------------------------------------------------------------
# Generators (model/generator.go). Each returns an Envoy Permission or Principal for ONE value
# (plain generators) or for the whole value list (extended generators).


def _principal_authenticated(m: dict) -> dict:
    return {"authenticated": {"principal_name": m}}


def _request_principal(values: list[str]) -> dict:
    """requestPrincipalGenerator.extendedPrincipal: each value split at its LAST `/` into iss and sub."""
    match_any = _regex(".+")
    ors = []
    for value in values:
        idx = value.rfind("/")
        found = idx >= 0
        iss, sub = (value[:idx], value[idx + 1:]) if found else (value, "")
        if value == "*":
            m_iss, m_sub = match_any, match_any
        elif value.startswith("*"):
            if found:
                m_iss = match_any if iss == "*" else _suffix(iss[1:])
                m_sub = _exact(sub)
            else:
                m_iss, m_sub = match_any, _suffix(value[1:])
        elif value.endswith("*"):
            if found:
                m_iss = _exact(iss)
                m_sub = match_any if sub == "*" else _prefix(sub[:-1])
            else:
                m_iss, m_sub = _prefix(value[:-1]), match_any
        else:
            m_iss, m_sub = _exact(iss), _exact(sub)
        ors.append({"and_ids": {"ids": [{"metadata": _jwt_claim_matcher("iss", m_iss)},
                                        {"metadata": _jwt_claim_matcher("sub", m_sub)}]}})
    if len(ors) == 1:
        return ors[0]
    return {"or_ids": {"ids": ors}}


def _service_account_regex(default_ns: str, value: str) -> str:
    ns, sep, sa = value.partition("/")
    if not sep:
        ns, sa = default_ns, value
    return f"spiffe://.+/ns/{_go_quote_meta(ns)}/(.+/|)sa/{_go_quote_meta(sa)}(/.+)?"


def _trust_domain_matcher(value: str) -> dict:
    if value == "*":
        return _prefix("spiffe://")
    if "*" not in value:
        return _prefix(f"spiffe://{value}/")
    a, b = value.split("*", 1)
    return _regex(f"spiffe://{_go_quote_meta(a)}[^/]*{_go_quote_meta(b)}/.*")


class _Gen:
    """One field's generator: `principal(value)` / `permission(value)` for plain generators,
    `principal_ext(values)` / `permission_ext(values)` for extended ones; errors are ValueError."""

    extended = False

    def __init__(self, key: str, policy_ns: str = ""):
        self.key = key
        self.policy_ns = policy_ns

    def principal(self, value: str) -> dict:
        raise ValueError("unimplemented")

    def permission(self, value: str) -> dict:
        raise ValueError("unimplemented")


class _SrcIP(_Gen):
    def principal(self, value):
        return {"direct_remote_ip": _cidr(value)}


class _RemoteIP(_Gen):
    def principal(self, value):
        return {"remote_ip": _cidr(value)}


class _SrcNamespace(_Gen):
    def principal(self, value):
        regex_ns = ".*".join(_go_quote_meta(p) for p in value.split("*"))
        return _principal_authenticated(_regex(f".*/ns/{regex_ns}/.*"))


class _SrcServiceAccount(_Gen):
    def principal(self, value):
        return _principal_authenticated(_regex(_service_account_regex(self.policy_ns, value)))


class _SrcTrustDomain(_Gen):
    def principal(self, value):
        return _principal_authenticated(_trust_domain_matcher(value))


class _SrcPrincipal(_Gen):
    def principal(self, value):
        return _principal_authenticated(string_matcher(value, SPIFFE))


class _RequestHeader(_Gen):
    def principal(self, value):
        name = _name_in_brackets(self.key[len("request.headers"):])
        return {"header": _header_matcher(name, value)}


class _Host(_Gen):
    def permission(self, value):
        return {"header": _header_matcher(":authority", value, ignore_case=True)}


class _Method(_Gen):
    def permission(self, value):
        return {"header": _header_matcher(":method", value)}


class _Path(_Gen):
    def permission(self, value):
        if _contains_path_template(value):
            return {"uri_template": _uri_template(value)}
        return {"url_path": {"path": string_matcher(value)}}


class _DestPort(_Gen):
    def permission(self, value):
        return {"destination_port": _port(value)}


class _DestIP(_Gen):
    def permission(self, value):
        return {"destination_ip": _cidr(value)}


class _ConnSNI(_Gen):
    def permission(self, value):
        return {"requested_server_name": string_matcher(value)}


class _RequestPrincipal(_Gen):
    extended = True

    def principal_ext(self, values):
        return _request_principal(values)


class _RequestAudiences(_Gen):
    extended = True

    def principal_ext(self, values):
        return {"metadata": _jwt_claims_list_matcher(["aud"], _string_or(values))}


class _RequestPresenter(_Gen):
    extended = True

    def principal_ext(self, values):
        return {"metadata": _jwt_claims_list_matcher(["azp"], _string_or(values))}


class _RequestClaim(_Gen):
    extended = True

    def principal_ext(self, values):
        claims = _names_in_nested_brackets(self.key[len("request.auth.claims"):])
        return {"metadata": _jwt_claims_list_matcher(claims, _string_or(values))}


class _EnvoyFilter(_Gen):
    extended = True

    def permission_ext(self, values):
        inner = self.key[len("experimental."):]
        if inner.endswith("]"):
            inner = inner[:-1]
        parts = inner.split("[", 1)
        if len(parts) != 2:
            raise ValueError(f"invalid key: {self.key}")
        matchers = []
        for v in values:
            if v.startswith("[") and v.endswith("]"):
                matchers.append({"list_match": {"one_of": _value_string(string_matcher(v.strip("[]")))}})
            else:
                matchers.append(_value_string(string_matcher(v)))
        return {"metadata": {"filter": parts[0], "path": [{"key": parts[1]}], "value": _value_or(matchers)}}


_PERMISSION_KEYS = {"destination.ip": _DestIP, "destination.port": _DestPort, "connection.sni": _ConnSNI}
_PRINCIPAL_KEYS = {
    "source.ip": _SrcIP, "remote.ip": _RemoteIP, "source.namespace": _SrcNamespace,
    "source.trustDomain": _SrcTrustDomain, "source.serviceAccount": _SrcServiceAccount,
    "source.principal": _SrcPrincipal, "request.auth.principal": _RequestPrincipal,
    "request.auth.audiences": _RequestAudiences, "request.auth.presenter": _RequestPresenter,
}


class _Rule:
    """model.rule: one key with its values and notValues and its generator."""

    def __init__(self, gen: _Gen, values: list[str] | None, not_values: list[str] | None):
        self.gen = gen
        self.values = list(values or [])
        self.not_values = list(not_values or [])

    def _build(self, kind: str, action: str) -> list[dict]:
        """rule.permission / rule.principal; a generator error is raised for ALLOW, and for
        DENY/AUDIT only that value (plain) or that list (extended) is skipped (checkError)."""
        out: list[dict] = []
        for values, negate in ((self.values, False), (self.not_values, True)):
            if not values:
                continue
            if self.gen.extended:
                try:
                    p = getattr(self.gen, f"{kind}_ext")(values)
                except (ValueError, AttributeError) as e:
                    if action == "ALLOW":
                        raise ValueError(str(e)) from e
                    continue
                out.append(_not(kind, p) if negate else p)
            else:
                ors = []
                for v in values:
                    try:
                        ors.append(getattr(self.gen, kind)(v))
                    except ValueError:
                        if action == "ALLOW":
                            raise
                if ors:
                    joined = _or(kind, ors)
                    out.append(_not(kind, joined) if negate else joined)
        return out


def _or(kind: str, items: list[dict]) -> dict:
    return {"or_rules": {"rules": items}} if kind == "permission" else {"or_ids": {"ids": items}}


def _and(kind: str, items: list[dict]) -> dict:
    return {"and_rules": {"rules": items}} if kind == "permission" else {"and_ids": {"ids": items}}


def _not(kind: str, item: dict) -> dict:
    return {"not_rule": item} if kind == "permission" else {"not_id": item}


def _when_generator(key: str, policy_ns: str) -> tuple[str, _Gen]:
    """model.New: which list (permission or principal) a `when` key joins, and its generator."""
    if key in _PERMISSION_KEYS:
        return "permission", _PERMISSION_KEYS[key](key, policy_ns)
    if key.startswith("experimental.envoy.filters."):
        return "permission", _EnvoyFilter(key, policy_ns)
    if key in _PRINCIPAL_KEYS:
        return "principal", _PRINCIPAL_KEYS[key](key, policy_ns)
    if key.startswith("request.headers"):
        return "principal", _RequestHeader(key, policy_ns)
    if key.startswith("request.auth.claims"):
        return "principal", _RequestClaim(key, policy_ns)
    raise ValueError(f"unknown attribute {key}")


DEFAULT_TRUST_DOMAINS = ("cluster.local",)


def _td_string_match(a: str, candidates) -> bool:
    """trustdomain.stringMatch."""
    def prefix(x, pat):
        return pat.endswith("*") and x.startswith(pat[:-1])

    def suffix(x, pat):
        return pat.startswith("*") and x.endswith(pat[1:])
    return any(a == s or s == "*" or prefix(a, s) or prefix(s, a) or suffix(a, s) or suffix(s, a)
               for s in candidates)


def replace_trust_domain_aliases(bundle, principals: list[str]) -> list[str]:
    """Bundle.ReplaceTrustDomainAliases."""
    out: list[str] = []
    for p in principals:
        parts = p.split("/")
        if len(parts) != 5 or parts[0] == "*":
            out.append(p)
            continue
        td = parts[0]
        if not (_td_string_match(td, bundle) or td == "cluster.local"):
            out.append(p)
            continue
        replaced: list[str] = []
        for btd in bundle:
            new = p if (td.startswith("*") and btd.endswith(td[1:])) else "/".join([btd, *parts[1:]])
            if new not in replaced:
                replaced.append(new)
        out.extend(replaced)
    return out


def expand_trust_domain_aliases(bundle, values: list[str]) -> list[str]:
    """Bundle.ExpandTrustDomainAliases."""
    out: list[str] = []
    for v in values:
        for x in (list(bundle) if v in bundle else [v]):
            if x not in out:
                out.append(x)
    return out


def _migrate_trust_domain(rule_lists: list[list["_Rule"]], bundle) -> None:
    """Model.MigrateTrustDomain, once per rule object (`when` rules are shared by every `from`)."""
    seen: set[int] = set()
    for rl in rule_lists:
        for r in rl:
            if id(r) in seen:
                continue
            seen.add(id(r))
            if isinstance(r.gen, _SrcPrincipal):
                r.values = replace_trust_domain_aliases(bundle, r.values) if r.values else r.values
                r.not_values = replace_trust_domain_aliases(bundle, r.not_values) if r.not_values else r.not_values
            elif isinstance(r.gen, _SrcTrustDomain):
                r.values = expand_trust_domain_aliases(bundle, r.values) if r.values else r.values
                r.not_values = expand_trust_domain_aliases(bundle, r.not_values) if r.not_values else r.not_values


def rbac_policy(rule: dict, policy_ns: str, action: str, trust_domains=DEFAULT_TRUST_DOMAINS) -> dict:
    """model.New + Model.Generate for one rule (HTTP, authenticated principals). Raises ValueError
    where istiod skips the rule."""
    base_perm: list[_Rule] = []
    base_princ: list[_Rule] = []
    for cond in rule.get("when") or []:
        kind, gen = _when_generator(cond["key"], policy_ns)
        r = _Rule(gen, cond.get("values"), cond.get("notValues"))
        if r.values or r.not_values:
            (base_perm if kind == "permission" else base_princ).append(r)

    def front(lst: list[_Rule], gen: _Gen, values, not_values) -> list[_Rule]:
        if not values and not not_values:
            return lst
        return [_Rule(gen, values, not_values), *lst]

    principals_rl: list[list[_Rule]] = []
    for f in rule.get("from") or []:
        merged = list(base_princ)
        s = f.get("source")
        if s is not None:
            merged = front(merged, _SrcIP("source.ip"), s.get("ipBlocks"), s.get("notIpBlocks"))
            merged = front(merged, _RemoteIP("remote.ip"), s.get("remoteIpBlocks"), s.get("notRemoteIpBlocks"))
            merged = front(merged, _SrcNamespace("source.namespace"), s.get("namespaces"), s.get("notNamespaces"))
            merged = front(merged, _SrcTrustDomain("source.trustDomain"), s.get("trustDomains"),
                           s.get("notTrustDomains"))
            merged = front(merged, _SrcServiceAccount("source.serviceAccount", policy_ns),
                           s.get("serviceAccounts"), s.get("notServiceAccounts"))
            merged = front(merged, _RequestPrincipal("request.auth.principal"), s.get("requestPrincipals"),
                           s.get("notRequestPrincipals"))
            merged = front(merged, _SrcPrincipal("source.principal"), s.get("principals"), s.get("notPrincipals"))
        principals_rl.append(merged)
    if not rule.get("from"):
        principals_rl.append(base_princ)
    _migrate_trust_domain(principals_rl, list(trust_domains))

    permissions_rl: list[list[_Rule]] = []
    for t in rule.get("to") or []:
        merged = list(base_perm)
        o = t.get("operation")
        if o is not None:
            merged = front(merged, _DestPort("destination.port"), o.get("ports"), o.get("notPorts"))
            merged = front(merged, _Path("path"), o.get("paths"), o.get("notPaths"))
            merged = front(merged, _Method(":method"), o.get("methods"), o.get("notMethods"))
            merged = front(merged, _Host(":authority"), o.get("hosts"), o.get("notHosts"))
        permissions_rl.append(merged)
    if not rule.get("to"):
        permissions_rl.append(base_perm)

    def generate(rl: list[_Rule], kind: str) -> dict:
        items: list[dict] = []
        for r in rl:
            items.extend(r._build(kind, action))
        if not items:
            items = [{"any": True}]
        return _and(kind, items)

    permissions = [generate(rl, "permission") for rl in permissions_rl]
    principals = [generate(rl, "principal") for rl in principals_rl]
    return {"permissions": permissions, "principals": principals}


_NEVER = {
    "permissions": [{"not_rule": {"any": True}}],
    "principals": [{"not_id": {"any": True}}],
}

_GO_BOOL = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
            "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def is_dry_run(policy: dict) -> bool:
    """builder.isDryRun: strconv.ParseBool of the annotation; a parse error means not dry-run."""
    value = ((policy.get("metadata") or {}).get("annotations") or {}).get(DRY_RUN)
    return _GO_BOOL.get(value, False) if value is not None else False


def _policy_name(ns: str, name: str, i: int) -> str:
    return f"ns[{ns}]-policy[{name}]-rule[{i}]"


def _build_rules(policies: list[dict], action: str,
                 trust_domains=DEFAULT_TRUST_DOMAINS) -> tuple[dict | None, dict | None]:
    """builder.build for one action: (enforced rules, shadow rules), each None when no policy of
    that kind exists."""
    rules = {"action": action, "policies": {}}
    shadow = {"action": action, "policies": {}}
    has_enforce = has_dry = False
    for policy in policies:
        target = shadow if is_dry_run(policy) else rules
        if target is shadow:
            has_dry = True
        else:
            has_enforce = True
        ns, name = policy["metadata"]["namespace"], policy["metadata"]["name"]
        spec_rules = (policy.get("spec") or {}).get("rules") or []
        for i, rule in enumerate(spec_rules):
            if rule is None:
                continue
            try:
                generated = rbac_policy(rule, ns, "ALLOW" if action == "ALLOW" else "DENY", trust_domains)
            except ValueError:
                continue  # istiod: "skipped invalid rule"
            target["policies"][_policy_name(ns, name, i)] = generated
        if not spec_rules:
            target["policies"][_policy_name(ns, name, 0)] = copy.deepcopy(_NEVER)
    return (rules if has_enforce else None), (shadow if has_dry else None)


def _rbac_filter(rules: dict | None, shadow: dict | None) -> dict:
    config: dict[str, Any] = {"@type": _RBAC_TYPE}
    if rules is not None:
        config["rules"] = rules
    if shadow is not None:
        config["shadow_rules"] = shadow
        prefix = {"ALLOW": "istio_dry_run_allow_", "DENY": "istio_dry_run_deny_"}.get(shadow["action"], "")
        if prefix:
            config["shadow_rules_stat_prefix"] = prefix
    return {"name": RBAC_FILTER, "typed_config": config}


def rbac_filters(policies: list[dict], trust_domains=DEFAULT_TRUST_DOMAINS) -> list[dict]:
    """The rbac filters istiod builds from the applicable AuthorizationPolicies: AUDIT (LOG), DENY,
    ALLOW, each only if a policy of that action exists. CUSTOM is not included (see custom_filters)."""
    by_action: dict[str, list[dict]] = {"AUDIT": [], "DENY": [], "ALLOW": []}
    for p in policies:
        action = (p.get("spec") or {}).get("action", "ALLOW")
        if action in by_action:
            by_action[action].append(p)
        elif action != "CUSTOM":
            raise Untranslatable(f"action {action}")
    filters = []
    for action, envoy_action in (("AUDIT", "LOG"), ("DENY", "DENY"), ("ALLOW", "ALLOW")):
        if by_action[action]:
            rules, shadow = _build_rules(by_action[action], envoy_action, trust_domains)
            filters.append(_rbac_filter(rules, shadow))
    return filters


def custom_filters(policies: list[dict], trust_domains=DEFAULT_TRUST_DOMAINS) -> list[dict]:
    """CUSTOM policies without a MeshConfig extension provider: istiod logs an error and builds an
    rbac DENY filter of the enforced CUSTOM rules renamed `...-deny-due-to-bad-CUSTOM-action`
    (getBadCustomDenyRules), placed before jwt_authn. With several providers, one filter each."""
    custom = [p for p in policies if (p.get("spec") or {}).get("action") == "CUSTOM"]
    if not custom:
        return []
    providers: dict[str, list[dict]] = {}
    for p in custom:
        providers.setdefault(((p["spec"].get("provider") or {}).get("name") or ""), []).append(p)
    filters = []
    for provider in sorted(providers):
        rules, _shadow = _build_rules(providers[provider], "DENY", trust_domains)
        policies_ = {}
        if rules is not None:
            for name, pol in rules["policies"].items():
                # CUSTOM policy names carry the ext_authz prefix (builder.policyName, IsCustomBuilder).
                policies_[f"istio-ext-authz-{provider}-{name}{BAD_CUSTOM_SUFFIX}"] = pol
        filters.append(_rbac_filter({"action": "DENY", "policies": policies_}, None))
    return filters


# ---------------------------------------------------------------------------------------------------
# jwt_authn (pilot/pkg/security/authn/policy_applier.go)


def _space_delimited(claims: list[str] | None) -> list[str]:
    if claims is None:
        return ["permission", "scope"]
    return sorted(set(claims) | {"permission", "scope"})


def _jwks_cluster(uri: str) -> str:
    u = urlsplit(uri)
    if u.scheme not in ("http", "https"):
        raise Untranslatable(f"jwksUri scheme {u.scheme!r}")
    port = u.port or (443 if u.scheme == "https" else 80)
    return f"outbound|{port}||{u.hostname}"


def _duration(value: str | None) -> str:
    return value if value else "5s"


def jwt_provider(rule: dict, jwks_clusters: dict[str, str] | None = None) -> dict:
    provider: dict[str, Any] = {
        "issuer": rule.get("issuer", ""),
        "payload_in_metadata": PAYLOAD_KEY,
        "normalize_payload_in_metadata": {"space_delimited_claims": _space_delimited(rule.get("spaceDelimitedClaims"))},
    }
    if rule.get("audiences"):
        provider["audiences"] = list(rule["audiences"])
    if rule.get("forwardOriginalToken"):
        provider["forward"] = True
    if rule.get("outputPayloadToHeader"):
        provider["forward_payload_header"] = rule["outputPayloadToHeader"]
    if rule.get("outputClaimToHeaders"):
        provider["claim_to_headers"] = [{"header_name": c["header"], "claim_name": c["claim"]}
                                        for c in rule["outputClaimToHeaders"]]
    if rule.get("fromHeaders"):
        provider["from_headers"] = [{"name": h["name"], **({"value_prefix": h["prefix"]} if h.get("prefix") else {})}
                                    for h in rule["fromHeaders"]]
    if rule.get("fromParams"):
        provider["from_params"] = list(rule["fromParams"])
    if rule.get("fromCookies"):
        provider["from_cookies"] = list(rule["fromCookies"])
    if rule.get("jwksUri") and not rule.get("jwks"):
        uri = rule["jwksUri"]
        cluster = (jwks_clusters or {}).get(uri) or _jwks_cluster(uri)
        provider["remote_jwks"] = {
            "http_uri": {"uri": uri, "cluster": cluster, "timeout": _duration(rule.get("timeout"))},
            "cache_duration": "300s",
        }
    elif rule.get("jwks"):
        provider["local_jwks"] = {"inline_string": rule["jwks"]}
    else:
        # istiod would fetch the issuer's OpenID discovery document and inline the keys.
        raise Untranslatable(f"jwtRule for {rule.get('issuer')!r} without jwks or jwksUri (OpenID discovery)")
    return provider


def jwt_authn_filter(request_authentications: list[dict], jwks_clusters: dict[str, str] | None = None) -> dict | None:
    """convertToEnvoyJwtConfig over the applicable RequestAuthentications (None: no jwtRules)."""
    rules = [r for ra in request_authentications for r in ((ra.get("spec") or {}).get("jwtRules") or [])]
    if not rules:
        return None
    rules = sorted(rules, key=lambda r: r.get("issuer", ""))  # slices.SortBy is stable
    providers: dict[str, dict] = {}
    inner_and: list[dict] = []
    outer_or: list[dict] = []
    for i, rule in enumerate(rules):
        name = f"origins-{i}"
        providers[name] = jwt_provider(rule, jwks_clusters)
        inner_and.append({"requires_any": {"requirements": [{"provider_name": name}, {"allow_missing": {}}]}})
        outer_or.append({"provider_name": name})
    if len(inner_and) == 1:
        requires = inner_and[0]
    else:
        requires = {"requires_any": {"requirements": [*outer_or, {"requires_all": {"requirements": inner_and}}]}}
    return {
        "name": JWT_FILTER,
        "typed_config": {
            "@type": _JWT_TYPE,
            "providers": providers,
            "rules": [{"match": {"prefix": "/"}, "requires": requires}],
            "bypass_cors_preflight": True,
        },
    }


# ---------------------------------------------------------------------------------------------------
# The whole chain


def native_http_filters(resources: list[dict], namespace: str, labels: dict[str, str],
                        root_namespace: str = ROOT_NAMESPACE,
                        jwks_clusters: dict[str, str] | None = None,
                        trust_domains=DEFAULT_TRUST_DOMAINS) -> list[dict]:
    """The HTTP filters istiod puts before the router on a sidecar's inbound chain for `resources`
    (Istio YAML as applied) and the workload `namespace`/`labels`: CUSTOM-as-deny, jwt_authn, rbac
    AUDIT, DENY, ALLOW. Kinds other than AuthorizationPolicy and RequestAuthentication are ignored
    (PeerAuthentication belongs to the listener's TLS settings, not to these filters)."""
    policies = applicable(resources, "AuthorizationPolicy", namespace, labels, root_namespace)
    ras = applicable(resources, "RequestAuthentication", namespace, labels, root_namespace)
    filters = custom_filters(policies, trust_domains)
    jwt = jwt_authn_filter(ras, jwks_clusters)
    if jwt is not None:
        filters.append(jwt)
    filters.extend(rbac_filters(policies, trust_domains))
    return filters


def replace_wasm_filter(hcm: dict, filters: list[dict]) -> None:
    """In an HttpConnectionManager config, put `filters` where the meshguard wasm filter was."""
    http_filters = hcm["typed_config"]["http_filters"]
    at = [i for i, f in enumerate(http_filters) if f.get("name") == envoy_harness.WASM_FILTER]
    if len(at) != 1:
        raise ValueError(f"expected one {envoy_harness.WASM_FILTER} filter, found {len(at)}")
    http_filters[at[0]:at[0] + 1] = copy.deepcopy(filters)


def hcms(doc: dict) -> list[dict]:
    """Every HttpConnectionManager of a bootstrap (a YAML anchor shared by filter chains: once)."""
    seen: set[int] = set()
    out = []
    for d in envoy_harness._walk(doc):
        if d.get("name") == "envoy.filters.network.http_connection_manager" and id(d) not in seen:
            seen.add(id(d))
            out.append(d)
    return out


def render_native(source: Path, ports: "envoy_harness.Ports", cert_dir: Path, resources: list[dict],
                  namespace: str, labels: dict[str, str], root_namespace: str = ROOT_NAMESPACE,
                  jwks_clusters: dict[str, str] | None = None,
                  trust_domains=DEFAULT_TRUST_DOMAINS) -> dict:
    """`source` (an envoy/*.yaml file) rendered for the test like harness.envoy.render, with the
    wasm filter of every HCM replaced by the native filters for `resources`. The listener, TLS,
    path normalization, XFF settings, routes and upstream stay the file's own."""
    doc = envoy_harness.render(source, ports, cert_dir, plugin_config={})
    filters = native_http_filters(resources, namespace, labels, root_namespace, jwks_clusters,
                                  trust_domains)
    for hcm in hcms(doc):
        if any(f.get("name") == envoy_harness.WASM_FILTER for f in hcm["typed_config"]["http_filters"]):
            replace_wasm_filter(hcm, filters)
    # No wasm left: drop the VM's file reference so the native Envoy never loads the plugin.
    return doc
