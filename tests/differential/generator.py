"""Seeded generator of random but valid Istio security resources and of requests aimed at them.

`generate(seed, port)` always gives the same scenario for the same seed (the listener port is only
a value policies may name). Everything generated passes Istio's admission webhook
(pkg/config/validation: non-empty sources/operations/values, valid CIDRs, ports and path
templates, `when` keys it knows, DENY with rules) and stays inside what meshguard supports.

Deliberate differences between meshguard and Istio (docs/semantics.md "Refused configuration", "Istio's
semantics") are excluded here, by construction, never filtered from the results:

- `ipBlocks`/`notIpBlocks`/`source.ip` with X-Forwarded-For: meshguard cannot see the direct peer
  once Envoy has rewritten the source address from XFF (use_remote_address: false) and fails
  closed; native RBAC still sees the TCP peer. A scenario whose policies use the direct peer
  address never sends X-Forwarded-For.
- Values meshguard refuses although Istio accepts them: `experimental.envoy.filters.*`, a
  non-boolean `istio.io/dry-run`, targetRef on a gateway. None is generated. (Inner `*` values,
  namespaces that are not Kubernetes names, `serviceAccounts`, `trustDomains` and a trust domain
  with aliases are generated: meshguard takes them as istiod does.)
- PeerAuthentication (plaintext on a STRICT port is a 403 in meshguard and a refused connection in
  Istio) is not generated: the listener is PERMISSIVE, as envoy/envoy.yaml.
- JWT: only inline `jwks` (a jwksUri depends on fetch timing), ES256 and RS256 keys (the README's
  "not reproduced" key/alg mixes are never made), `exp`/`nbf` far from the 60 s skew edge. Two
  *valid* tokens in one request are only ever the same token (Istio: with several tokens "the
  output principal is undefined").
- Request bytes the HCM would pass but meshguard cannot read (non-UTF-8 paths) are not sent.
"""

from __future__ import annotations

import ipaddress
import random
import re
from typing import Any, Callable

from .model import ISSUER_A, ISSUER_B, ISSUER_UNKNOWN, KeyStore, Request, Scenario, Token, TokenUse

ROOT_NS = "istio-system"
OTHER_NS = "elsewhere"  # policies here never apply

# mTLS peers: (namespace, service account, trust domain). Lookalikes on purpose.
PEERS: list[tuple[str, str, str]] = [
    ("default", "frontend", "cluster.local"),
    ("default", "admin", "cluster.local"),
    ("prod", "frontend", "cluster.local"),
    ("prod-eu", "api", "cluster.local"),
    ("default-evil", "frontend", "cluster.local"),
    ("istio-system", "ingress", "cluster.local"),
    ("default", "frontend", "td.example"),
    ("default", "frontend", "old.example"),
    ("a.b", "api", "cluster.local"),
    ("prod", "api", "td.example"),
]
SOURCE_IPS = ["127.0.0.1", "127.0.0.1", "127.0.0.1", "127.0.0.2", "127.0.0.9"]

PRINCIPALS = [
    "cluster.local/ns/default/sa/frontend", "cluster.local/ns/default/sa/admin",
    "cluster.local/ns/prod/sa/frontend", "cluster.local/ns/prod-eu/sa/api", "td.example/ns/default/sa/frontend",
    "cluster.local/ns/default/*", "*/sa/frontend", "*/ns/prod/sa/frontend", "*", "cluster.local/*",
    "cluster.local/ns/default/sa/front*", "*/sa/admin", "cluster.local/ns/default-evil/sa/frontend",
    "spiffe://cluster.local/ns/default/sa/frontend",
    "old.example/ns/default/sa/frontend", "td.example/ns/prod/sa/api", "cluster.local/ns/*/sa/frontend",
    "td*/ns/prod/sa/api",
]
NAMESPACES = ["default", "prod", "prod-eu", "istio-system", "default-evil", "prod*", "*-evil", "*", "*eu",
              "default*", "a.b", "a*b", "a.*"]
SERVICE_ACCOUNTS = ["frontend", "admin", "api", "default/frontend", "prod/frontend", "prod-eu/api", "a.b/api",
                    "front", "istio-system/ingress", "prod/api"]
TRUST_DOMAIN_VALUES = ["cluster.local", "td.example", "old.example", "*", "*.local", "td.*", "*.example",
                       "cluster.*", "other.test"]
# (trustDomain, trustDomainAliases) of a scenario's mesh.
MESH_TRUST_DOMAINS = [("cluster.local", []), ("cluster.local", []), ("td.example", []),
                      ("td.example", ["cluster.local"]), ("cluster.local", ["old.example", "td.example"])]
IP_BLOCKS = ["127.0.0.1", "127.0.0.1/32", "127.0.0.2/32", "127.0.0.0/30", "127.0.0.0/8", "10.0.0.0/8",
             "192.0.2.0/24", "127.0.0.9", "::1/128", "127.0.0.5/8", "::ffff:127.0.0.1", "0.0.0.0/0"]
REMOTE_IP_BLOCKS = ["10.1.2.3", "10.0.0.0/8", "192.0.2.0/24", "127.0.0.1/32", "127.0.0.0/8", "203.0.113.7",
                    "2001:db8::/32", "127.0.0.2"]
XFF_VALUES = ["10.1.2.3", "192.0.2.7", "203.0.113.7, 10.1.2.3", "10.1.2.3, 203.0.113.7", "unknown",
              "2001:db8::1", "127.0.0.2", "10.1.2.3,192.0.2.7"]

HOST_VALUES = ["api.example.com", "api.example.com:*", "*.example.com", "API.EXAMPLE.COM", "*", "api.example.*",
               "other.test", "api.example.com:8080", "*:8080", "Api.Example.Com"]
REQUEST_HOSTS = ["api.example.com", "API.Example.COM", "api.example.com:8080", "api.example.com:80",
                 "www.example.com", "api.example.com.", "other.test", "OTHER.TEST:8080", "Api.Example.Com:8080",
                 "example.com"]
METHOD_VALUES = ["GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "G*", "*T", "*", "get", "PATCH", "G*T"]
REQUEST_METHODS = ["GET", "GET", "GET", "POST", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]
PATH_VALUES = ["/api/*/data", "/admin", "/admin/*", "/api/*", "*/secret", "*.json", "/public*", "/api/v1/{*}/data",
               "/api/{**}", "/api/v1/{*}", "*", "/Admin", "/admin/", "/", "/admin%2Fsettings", "/api/v1/data",
               "/{*}/admin", "/api/v1/{**}", "/admin/{**}", "/static/*"]
REQUEST_PATHS = [
    "/admin", "/admin/", "/admin/x", "/Admin/x", "//admin/x", "/a/../admin/x", "/a/%2e%2e/admin",
    "/admin%2Fx", "/admin%2fx", "/adm%69n/x", "/admin/./x", "/admin;x=1", "/admin%3Fq", "/api", "/api/",
    "/api/v1/x/data", "/api/v1/x/y/data", "/api/v1//data", "/api/v1/data", "/x/secret", "/x/secret/",
    "/x.json", "/public", "/publicity", "/public/../admin", "/\\admin", "/a\\..\\admin/x", "/",
    "/%61pi/v1/x/data", "/api/v1/x/data?x=/admin", "/index.html", "/admin%2Fsettings", "/admin%2fsettings",
    "/static/a.css", "/static/x/a.css", "/x/admin", "/x/y/admin", "/api/v1/%2e%2e/v2/x", "/API/v1/x/data",
    "/admin/x#frag", "/admin/x%23frag", "/api/v1/x", "/api/v1/", "/..", "/admin/..", "/admin%2e",
    "/%2e%2e/admin", "/api/v1/x/data/", "/admin/.%2e/api/v1/x/data", "/api/*/data",
]
PORT_CHOICES: list[Callable[[int], str]] = [lambda p: str(p), lambda p: str(p), lambda p: str(p + 1),
                                            lambda p: "8080", lambda p: "80"]

REQUEST_PRINCIPALS = [
    f"{ISSUER_A}/alice", f"{ISSUER_A}/*", "*/alice", "*", "*lice", "https://auth*", f"{ISSUER_B}/bob",
    f"{ISSUER_A}/team/alice", f"{ISSUER_A}/bo*", "*.com/alice", f"{ISSUER_B}/*", "issuer-*", f"{ISSUER_A}/bob",
]
SUBJECTS = ["alice", "alice", "bob", "team/alice", "carol", None, ""]
HEADER_KEYS = ["request.headers[x-role]", "request.headers[X-Role]", "request.headers[x-team]",
               "request.headers[authorization]", "request.headers[x-jwt-sub]", "request.headers[x-jwt-payload]",
               "request.headers[user-agent]", "request.headers[:method]", "request.headers[x-forwarded-for]",
               # Envoy files `host` under :authority (HTTP/1.1 Host, HTTP/2 :authority)
               "request.headers[host]", "request.headers[:authority]"]
HEADER_VALUES = ["admin", "user", "ad*", "*min", "*", "Admin", "GET", "curl*", "Bearer*", "alice", "10.1.2.3"]
CLAIM_KEYS = ["request.auth.claims[groups]", "request.auth.claims[scope]", "request.auth.claims[realm][role]",
              "request.auth.claims[a.b]", "request.auth.claims[admin]", "request.auth.claims[sub]",
              "request.auth.claims[iss]", "request.auth.claims[realm]"]
CLAIM_VALUES = ["admin", "dev", "ad*", "read", "write", "read write", "x", "true", "alice", "*", ISSUER_A, "*ice"]


def _glob(value: str, text: str) -> bool:
    """Istio's string match: exact, `x*` prefix, `*x` suffix, `*` non-empty."""
    if value == "*":
        return text != ""
    if value.startswith("*"):
        return text.endswith(value[1:])
    if value.endswith("*"):
        return text.startswith(value[:-1])
    return text == value


def _spiffe_matches(kind: str, value: str, peer: tuple[str, str, str]) -> bool:
    ns, sa, td = peer
    if kind == "principal":
        return _glob(value, f"{td}/ns/{ns}/sa/{sa}")
    if kind == "sa":
        want_ns, _, want_sa = value.rpartition("/")
        return sa == want_sa and ns == (want_ns or ns)
    if kind == "td":
        return _glob(value, td)
    return re.fullmatch(".*".join(re.escape(p) for p in value.split("*")), ns) is not None


def _in_cidr(address: str, cidr: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False


def _address_in(cidr: str, rng: random.Random) -> str | None:
    """An address inside `cidr` (its first, last or a random one)."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return None
    span = net.num_addresses
    return str(net.network_address + rng.choice([0, span - 1, rng.randrange(span)]))


def _pick(rng: random.Random, pool: list, lo: int = 1, hi: int = 2) -> list:
    return rng.sample(pool, rng.randint(lo, min(hi, len(pool))))


# Features that can be left out (for exploring past a known disagreement; the default is all):
FEATURES = {
    "custom": "CUSTOM policies",
    "multi-token": "requests with two tokens",
    "multi-issuer": "RequestAuthentications with two issuers",
    "jwt": "RequestAuthentication and tokens altogether",
    "extra-authorization": "Authorization headers besides the token's",
    "junk-query-token": "the `?access_token=x` path decoration",
}


class Generator:
    """One scenario per seed. `port` is the listener port (values only: the structure of the
    scenario depends on the seed alone). `without`: FEATURES left out (another random stream)."""

    def __init__(self, seed: int, port: int, without: frozenset[str] = frozenset()):
        unknown = set(without) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {sorted(FEATURES)}")
        self.without = frozenset(without)
        self.seed = seed
        self.rng = random.Random(seed)
        self.port = port
        self.uses_direct_ip = False  # ipBlocks/notIpBlocks/source.ip anywhere: no XFF (see module doc)
        self.names: set[str] = set()
        self.jwt_rules: list[dict] = []  # the rules that apply to the workload (request generation aims at them)
        self.aims: dict[str, list[str]] = {}  # policy values by kind (path, host, header:<name>...)

    # --- resources ------------------------------------------------------------------------------

    def _name(self, stem: str) -> str:
        i = 0
        while f"{stem}-{i}" in self.names:
            i += 1
        self.names.add(f"{stem}-{i}")
        return f"{stem}-{i}"

    def _aim(self, kind: str, values: list[str]) -> None:
        """Remember policy values, so that requests can be aimed at them (and just beside them)."""
        self.aims.setdefault(kind, []).extend(values)

    def _aimed(self, kind: str, p: float = 0.5) -> str | None:
        """A policy value of `kind` to aim a request at (with probability p), or None."""
        values = [k for k in self.aims if k == kind or k.startswith(kind + ":")]
        if not values or self.rng.random() >= p:
            return None
        key = self.rng.choice(values)
        return self.rng.choice(self.aims[key]) if key == kind else key + "=" + self.rng.choice(self.aims[key])

    def _values(self, pool: list, lo: int = 1, hi: int = 3) -> list[str]:
        return _pick(self.rng, pool, lo, hi)

    def source(self) -> dict:
        rng = self.rng
        fields = ["principals", "notPrincipals", "namespaces", "notNamespaces", "ipBlocks", "notIpBlocks",
                  "remoteIpBlocks", "notRemoteIpBlocks", "requestPrincipals", "notRequestPrincipals",
                  "serviceAccounts", "notServiceAccounts", "trustDomains", "notTrustDomains"]
        weights = [5, 2, 4, 2, 2, 1, 2, 1, 4, 2, 3, 1, 3, 1]
        # The webhook refuses serviceAccounts next to principals or namespaces.
        identity = {"principals", "notPrincipals", "namespaces", "notNamespaces"}
        accounts = {"serviceAccounts", "notServiceAccounts"}
        chosen: dict[str, list[str]] = {}
        for _ in range(rng.choice([1, 1, 1, 2, 2, 3])):
            f = rng.choices(fields, weights)[0]
            if (f in identity and accounts & chosen.keys()) or (f in accounts and identity & chosen.keys()):
                continue
            pool = {"principals": PRINCIPALS, "namespaces": NAMESPACES, "ipBlocks": IP_BLOCKS,
                    "remoteIpBlocks": REMOTE_IP_BLOCKS, "requestPrincipals": REQUEST_PRINCIPALS,
                    "serviceAccounts": SERVICE_ACCOUNTS, "trustDomains": TRUST_DOMAIN_VALUES}
            base = f[3].lower() + f[4:] if f.startswith("not") else f
            chosen[f] = self._values(pool[base])
            self._aim({"principals": "principal", "namespaces": "namespace", "ipBlocks": "ip",
                       "remoteIpBlocks": "remote", "requestPrincipals": "rp", "serviceAccounts": "sa",
                       "trustDomains": "td"}[base], chosen[f])
            if base == "ipBlocks":
                self.uses_direct_ip = True
        return chosen

    def operation(self) -> dict:
        rng = self.rng
        fields = ["hosts", "notHosts", "methods", "notMethods", "paths", "notPaths", "ports", "notPorts"]
        weights = [3, 1, 4, 1, 6, 2, 2, 1]
        chosen: dict[str, list[str]] = {}
        for _ in range(rng.choice([1, 1, 2, 2, 3])):
            f = rng.choices(fields, weights)[0]
            base = f[3].lower() + f[4:] if f.startswith("not") else f
            if base == "ports":
                chosen[f] = sorted({choice(self.port) for choice in _pick(rng, PORT_CHOICES, 1, 2)})
            else:
                chosen[f] = self._values({"hosts": HOST_VALUES, "methods": METHOD_VALUES, "paths": PATH_VALUES}[base])
                self._aim(base[:-1], chosen[f])
        return chosen

    def condition(self, custom: bool = False) -> dict:
        rng = self.rng
        kinds = ["header", "source.ip", "remote.ip", "source.namespace", "source.principal", "destination.port",
                 "claims", "request.auth.principal", "request.auth.audiences", "request.auth.presenter",
                 "connection.sni", "source.serviceAccount", "source.trustDomain"]
        weights = [6, 1, 2, 2, 2, 2, 5, 2, 1, 1, 1, 1, 1]
        if custom:  # the webhook refuses identity keys in CUSTOM rules
            kinds, weights = ["header", "source.ip", "remote.ip", "destination.port"], [4, 1, 2, 2]
        kind = rng.choices(kinds, weights)[0]
        if kind == "header":
            key, pool = rng.choice(HEADER_KEYS), HEADER_VALUES
        elif kind == "claims":
            key, pool = rng.choice(CLAIM_KEYS), CLAIM_VALUES
        else:
            key = kind
            pool = {"source.ip": IP_BLOCKS, "remote.ip": REMOTE_IP_BLOCKS, "source.namespace": NAMESPACES,
                    "source.principal": PRINCIPALS, "request.auth.principal": REQUEST_PRINCIPALS,
                    "source.serviceAccount": SERVICE_ACCOUNTS, "source.trustDomain": TRUST_DOMAIN_VALUES,
                    "request.auth.audiences": ["backend", "other", "back*", "*"],
                    "request.auth.presenter": ["frontend", "front*", "*"],
                    "connection.sni": ["localhost", "*.example.com", "app.example.com", "LOCALHOST", "*"],
                    "destination.port": None}[kind]
        if kind == "source.ip":
            self.uses_direct_ip = True
        cond: dict[str, Any] = {"key": key}

        def vals():
            if kind == "destination.port":
                return sorted({c(self.port) for c in _pick(rng, PORT_CHOICES, 1, 2)})
            return self._values(pool, 1, 2)
        form = rng.choices(["values", "notValues", "both"], [6, 3, 1])[0]
        if form in ("values", "both"):
            cond["values"] = vals()
        if form in ("notValues", "both"):
            cond["notValues"] = vals()
        aim = {"source.ip": "ip", "remote.ip": "remote", "source.namespace": "namespace",
               "source.principal": "principal", "request.auth.principal": "rp",
               "source.serviceAccount": "sa", "source.trustDomain": "td", "request.auth.audiences": "aud",
               "request.auth.presenter": "azp", "connection.sni": "sni"}.get(kind)
        if kind == "header":
            aim = "header:" + key[len("request.headers["):-1]
        elif kind == "claims":
            aim = "claim:" + key[len("request.auth.claims["):-1]
        if aim is not None:
            self._aim(aim, cond.get("values", []) + cond.get("notValues", []))
        return cond

    def rule(self, action: str) -> dict:
        rng = self.rng
        custom = action == "CUSTOM"
        r: dict[str, Any] = {}
        while not r:
            if rng.random() < 0.55 and not custom:
                r["from"] = [{"source": self.source()} for _ in range(rng.choice([1, 1, 1, 2]))]
            elif custom and rng.random() < 0.3:
                src = {}
                f = rng.choice(["ipBlocks", "remoteIpBlocks", "notRemoteIpBlocks"])
                src[f] = self._values(IP_BLOCKS if f == "ipBlocks" else REMOTE_IP_BLOCKS)
                self.uses_direct_ip |= f == "ipBlocks"
                r["from"] = [{"source": src}]
            if rng.random() < 0.65:
                r["to"] = [{"operation": self.operation()} for _ in range(rng.choice([1, 1, 1, 2]))]
            if rng.random() < 0.35:
                r["when"] = [self.condition(custom) for _ in range(rng.choice([1, 1, 2]))]
            if not r and rng.random() < 0.06:
                return {}  # the empty rule: matches everything
        return r

    def authorization_policy(self, workload_ns: str, labels: dict[str, str]) -> dict:
        rng = self.rng
        action = rng.choices(["ALLOW", "DENY", "AUDIT", "CUSTOM"], [45, 35, 10, 0 if "custom" in self.without else 6])[0]
        ns = rng.choices([workload_ns, ROOT_NS, OTHER_NS], [80, 13, 7])[0]
        spec: dict[str, Any] = {}
        sel = rng.random()
        if sel < 0.3:
            spec["selector"] = {"matchLabels": dict(labels)}
        elif sel < 0.4:
            spec["selector"] = {"matchLabels": {"app": "backend"}}
        elif sel < 0.5:
            spec["selector"] = {"matchLabels": {"app": "other"}}
        if action != "ALLOW" or rng.random() < 0.7:
            spec["action"] = action
        if action == "CUSTOM":
            spec["provider"] = {"name": "ext-authz"}  # no such MeshConfig provider: istiod denies what it matches
        n = rng.choices([0, 1, 2, 3], [8, 55, 27, 10])[0] if action in ("ALLOW", "AUDIT") else rng.choice([1, 1, 2, 3])
        if n or rng.random() < 0.5:
            spec["rules"] = [self.rule(action) for _ in range(n)]
        metadata: dict[str, Any] = {"name": self._name(action.lower()), "namespace": ns}
        if rng.random() < 0.12:
            # Go strconv.ParseBool spellings only: meshguard refuses other values (Istio: "not dry-run").
            metadata["annotations"] = {"istio.io/dry-run": rng.choice(["true", "True", "1", "T", "false", "0"])}
        return {"apiVersion": rng.choice(["security.istio.io/v1", "security.istio.io/v1beta1"]),
                "kind": "AuthorizationPolicy", "metadata": metadata, "spec": spec}

    def jwt_rule(self, issuer: str) -> dict:
        rng = self.rng
        ks = KeyStore.get()
        rule: dict[str, Any] = {"issuer": issuer, "jwks": ks.jwks("a" if issuer == ISSUER_A else "b")}
        if rng.random() < 0.3:
            rule["audiences"] = rng.choice([["backend"], ["backend", "other"], ["other"]])
        if rng.random() < 0.15:
            rule["fromHeaders"] = rng.choice([
                [{"name": "x-jwt"}],
                [{"name": "Authorization", "prefix": "Bearer "}, {"name": "x-jwt", "prefix": "Token "}],
                [{"name": "x-jwt", "prefix": "Bearer "}],
            ])
        if rng.random() < 0.12:
            rule["fromParams"] = rng.choice([["token"], ["access_token", "token"]])
        if rng.random() < 0.3:
            rule["forwardOriginalToken"] = rng.random() < 0.7
        if rng.random() < 0.15:
            rule["outputPayloadToHeader"] = "x-jwt-payload"
        if rng.random() < 0.2:
            rule["outputClaimToHeaders"] = rng.choice([[{"header": "x-jwt-sub", "claim": "sub"}],
                                                       [{"header": "x-jwt-sub", "claim": "sub"},
                                                        {"header": "x-role", "claim": "realm.role"}]])
        if rng.random() < 0.1:
            rule["spaceDelimitedClaims"] = ["groups"]
        return rule

    def request_authentications(self, workload_ns: str, labels: dict[str, str]) -> list[dict]:
        rng = self.rng
        out = []
        issuers_used: dict[str, dict] = {}
        only = [rng.choice([ISSUER_A, ISSUER_B])] if "multi-issuer" in self.without else None
        for _ in range(rng.choices([1, 2], [80, 20])[0]):
            ns = rng.choices([workload_ns, ROOT_NS, OTHER_NS], [75, 17, 8])[0]
            spec: dict[str, Any] = {}
            sel = rng.random()
            applies = ns != OTHER_NS
            if sel < 0.25:
                spec["selector"] = {"matchLabels": dict(labels)}
            elif sel < 0.33:
                spec["selector"] = {"matchLabels": {"app": "other"}}
                applies = False
            rules = []
            for issuer in only or _pick(rng, [ISSUER_A, ISSUER_B], 1, 2):
                if issuer in issuers_used:
                    # meshguard merges rules of one issuer and refuses two that differ; istiod makes
                    # two providers. Only identical copies are generated.
                    rules.append(dict(issuers_used[issuer]))
                    continue
                rule = self.jwt_rule(issuer)
                issuers_used[issuer] = rule
                rules.append(rule)
            spec["jwtRules"] = rules
            if applies:
                self.jwt_rules.extend(rules)
            out.append({"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
                        "metadata": {"name": self._name("jwt"), "namespace": ns}, "spec": spec})
        return out

    # --- requests -------------------------------------------------------------------------------

    def _concrete(self, value: str, filler: list[str], tail: list[str] | None = None) -> str:
        """A string that a policy value (exact, `x*`, `*x`, `*`) matches, or nearly matches;
        `filler` replaces a leading `*` (and a lone one), `tail` (default filler) a trailing one."""
        rng = self.rng
        if value == "*":
            return rng.choice(filler)
        if value.startswith("*"):
            return rng.choice(filler + [""]) + value[1:]
        if value.endswith("*"):
            return value[:-1] + rng.choice((tail or filler) + [""])
        return value

    def _case_flip(self, v: str) -> str:
        if self.rng.random() < 0.3:
            return self.rng.choice([v.upper(), v.lower(), v.title()])
        return v

    def token(self) -> Token:
        rng = self.rng
        key = rng.choice(["a", "a", "b"])
        iss = ISSUER_A if key == "a" else ISSUER_B
        claims: dict[str, Any] = {}
        sub = rng.choice(SUBJECTS)
        aimed = self._aimed("rp", 0.6)
        if aimed is not None:
            idx = aimed.rfind("/")
            a_iss, a_sub = (aimed[:idx], aimed[idx + 1:]) if idx >= 0 else (aimed, None)
            if a_iss.startswith("*") or a_iss.endswith("*") or a_iss not in (ISSUER_A, ISSUER_B):
                a_iss = ISSUER_B if "issuer" in a_iss else ISSUER_A
            key = "a" if a_iss == ISSUER_A else "b"
            iss = a_iss
            if a_sub is not None:
                sub = self._concrete(a_sub, ["alice", "bob", "x"]) if rng.random() < 0.8 else rng.choice(SUBJECTS)
            elif aimed.startswith("*"):
                sub = aimed[1:] if rng.random() < 0.7 else "x" + aimed[1:]
        if rng.random() < 0.06:
            iss = ISSUER_UNKNOWN
        claims["iss"] = iss
        if sub is not None:
            claims["sub"] = sub
        if rng.random() < 0.6:
            claims["aud"] = rng.choice(["backend", ["backend", "other"], "other", ["x", "y"]])
        if rng.random() < 0.5:
            claims["groups"] = rng.choice([["admin", "dev"], "admin", ["dev"], "admin dev"])
        if rng.random() < 0.4:
            claims["scope"] = rng.choice(["read write", "read", "write admin"])
        if rng.random() < 0.3:
            claims["realm"] = rng.choice([{"role": "admin"}, {"role": ["admin", "x"]}, {"role": "user"}])
        if rng.random() < 0.2:
            claims["a.b"] = "x"
        if rng.random() < 0.2:
            claims["azp"] = rng.choice(["frontend", "other"])
        if rng.random() < 0.15:
            claims["admin"] = True
        for kind, claim in (("aud", "aud"), ("azp", "azp")):
            v = self._aimed(kind, 0.5)
            if v is not None:
                c = self._concrete(v, ["backend", "frontend", "x"])
                claims[claim] = [c, "other"] if rng.random() < 0.3 else c
        v = self._aimed("claim", 0.6)
        if v is not None:
            path, value = v.split("=", 1)
            names = path[len("claim:"):].split("][")
            c = self._concrete(value, ["admin", "read", "x"])
            shape = rng.random()
            leaf: Any = [c, "other"] if shape < 0.3 else (True if c == "true" and shape < 0.4 else c)
            node = claims
            for name in names[:-1]:
                if not isinstance(node.get(name), dict):
                    node[name] = {}
                node = node[name]
            node[names[-1]] = leaf
        variant = rng.choices(["valid", "badsig", "nokid", "wrongkid", "none", "malformed", "truncated"],
                              [75, 6, 4, 3, 3, 3, 2])[0]
        exp_in: int | None = 3600
        nbf_in = None
        r = rng.random()
        if r < 0.08:
            exp_in = -3600  # expired, far from the 60 s skew
        elif r < 0.12:
            exp_in = None  # no exp: never expires
        elif r < 0.15:
            nbf_in = 3600  # not yet valid
        return Token(key, claims, variant, exp_in, nbf_in)

    def token_use(self, token: Token) -> TokenUse:
        rng = self.rng
        locations: list[TokenUse] = [TokenUse(token, header="Authorization", prefix="Bearer ")] * 6
        locations += [TokenUse(token, param="access_token")] * 2
        locations += [TokenUse(token, header="Authorization", prefix="bearer "),
                      TokenUse(token, header="Authorization", prefix="Bearer  "),
                      TokenUse(token, header="Authorization", prefix="")]
        for rule in self.jwt_rules:
            for h in rule.get("fromHeaders") or []:
                locations += [TokenUse(token, header=h["name"], prefix=h.get("prefix", ""))] * 3
            for p in rule.get("fromParams") or []:
                locations += [TokenUse(token, param=p)] * 2
        use = rng.choice(locations)
        return TokenUse(use.token, use.header, use.prefix, use.param)

    def path(self) -> str:
        rng = self.rng
        p = rng.choice(REQUEST_PATHS)
        aimed = self._aimed("path", 0.6)
        if aimed is not None:
            p = aimed.replace("{**}", rng.choice(["", "x", "x/y"])).replace("{*}", rng.choice(["x", "a.b", ""]))
            p = self._concrete(p, ["/x", "/admin", "x", "/api/v1/x/data", ""])
            if not p.startswith("/"):
                p = "/" + p
        for _ in range(rng.choices([0, 1, 2], [55, 33, 12])[0]):
            m = rng.randrange(10)
            if m == 0 and "?" not in p:
                p += rng.choice(["?q=1", "?a=b&c=d", "?x=/admin", "?"]
                                + ([] if "junk-query-token" in self.without else ["?access_token=x"]))
            elif m == 1:
                p = "/x/.." + p if p.startswith("/") else p
            elif m == 2:
                p = "/" + p
            elif m == 3:
                p = p.replace("a", "%61", 1)
            elif m == 4:
                p = p.replace("/", "/./", 1)
            elif m == 5:
                p = p.rstrip("/") + "/"
            elif m == 6 and p.count("/") > 1:
                at = p.index("/", 1)
                p = p[:at] + rng.choice(["%2F", "%2f", "%5C"]) + p[at + 1:]
            elif m == 7:
                p = p.upper() if rng.random() < 0.3 else p.replace("i", "I", 1)
            elif m == 8:
                p += ";v=1"
            elif m == 9:
                p = p.replace("/", "//", 1) if rng.random() < 0.5 else p.replace(".", "%2e", 1)
        if "?" not in p and rng.random() < 0.2:
            p += rng.choice(["?q=1", "?a=b&c=d", "?x=/admin", "?", "?%2F", "?/"])
        return p

    def _peer(self) -> tuple[str, str, str] | None:
        rng = self.rng
        for kind in ("principal", "namespace", "sa", "td"):
            v = self._aimed(kind, 0.35)
            if v is None:
                continue
            matching = [p for p in PEERS if _spiffe_matches(kind, v, p)]
            if matching and rng.random() < 0.8:
                return rng.choice(matching)
        return rng.choice(PEERS) if rng.random() < 0.8 else None

    def request(self) -> Request:
        rng = self.rng
        req = Request()
        req.method = rng.choice(REQUEST_METHODS)
        m = self._aimed("method", 0.5)
        if m is not None:
            known = ["GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "PATCH"]
            matching = [k for k in known if _glob(m, k)]
            if matching and rng.random() < 0.85:
                req.method = rng.choice(matching)
        req.target = self.path()
        if rng.random() < 0.03:
            req.target = "http://" + rng.choice(REQUEST_HOSTS) + req.target  # absolute-form
        r = rng.random()
        req.host = None if r < 0.01 else rng.choice(REQUEST_HOSTS)
        h = self._aimed("host", 0.6)
        if h is not None and req.host is not None:
            req.host = self._case_flip(self._concrete(h, ["api.example.com", "x.", "api"], ["com", "com:8080", "8080"]))
        if rng.random() < 0.03:
            req.headers.append(("Host", rng.choice(REQUEST_HOSTS)))  # a second Host header
        req.peer = self._peer()
        if req.peer is not None and rng.random() < 0.15:
            sni = self._aimed("sni", 0.7)
            req.sni = (self._concrete(sni, ["app.example.com", "x.example.com", "localhost"]) if sni
                       else rng.choice(["app.example.com", "LOCALHOST", "other.test"]))
            if not req.sni or req.sni.startswith("."):
                req.sni = "x" + req.sni  # an SNI is a host name
        req.source_ip = rng.choice(SOURCE_IPS)
        ip = self._aimed("ip", 0.5)
        if ip is not None:
            inside = [a for a in set(SOURCE_IPS) if _in_cidr(a, ip)]
            if inside:
                req.source_ip = rng.choice(inside)
        for _ in range(rng.choices([0, 1, 2], [55, 35, 10])[0]):
            req.headers.append(("x-role", rng.choice(["admin", "user", "Admin", "", "admin,user", " admin "])))
        for _ in range(rng.choices([0, 1, 2], [50, 40, 10])[0]):
            hv = self._aimed("header", 1.0)
            if hv is not None:
                key, value = hv.split("=", 1)
                name = key[len("header:"):]
                if name.lower() in ("host", ":authority"):
                    if req.host is not None:  # the authority itself (one Host header only)
                        req.host = self._concrete(value, ["x", "api.example.com"])
                    continue
                if name.startswith(":"):
                    continue  # pseudo-headers come from the request line
                if name.lower() == "authorization" and "extra-authorization" in self.without:
                    continue
                if name.lower() == "x-forwarded-for" and self.uses_direct_ip:
                    continue  # the direct peer must stay known to meshguard (see module doc)
                name = self._case_flip(name)
                req.headers.append((name, self._concrete(value, ["x", "", "", "admin", "Bearer x"])))
        if rng.random() < 0.2:
            req.headers.append(("X-Team", rng.choice(["core", "admin"])))
        if rng.random() < 0.15:
            req.headers.append(("x-jwt-sub", rng.choice(["alice", "admin"])))  # forged jwt_authn output
        if rng.random() < 0.08:
            req.headers.append(("x-jwt-payload", "e30"))
        if rng.random() < 0.15:
            req.headers.append(("User-Agent", rng.choice(["curl/8.0", "evil"])))
        if not self.uses_direct_ip and rng.random() < 0.35:
            for _ in range(rng.choice([1, 1, 2])):
                remote = self._aimed("remote", 0.6)
                xff = _address_in(remote, rng) if remote else None
                if xff and rng.random() < 0.3:
                    xff = rng.choice(["203.0.113.9, ", "unknown, "]) + xff
                req.headers.append(("X-Forwarded-For", xff or rng.choice(XFF_VALUES)))
        if req.method == "OPTIONS" and rng.random() < 0.5:
            req.headers += [("Origin", "https://web.example.com"), ("Access-Control-Request-Method", "GET")]
        n_tokens = rng.choices([0, 1, 2], [40, 52, 0 if "multi-token" in self.without else 8])[0]
        if "jwt" in self.without:
            n_tokens = 0
        if n_tokens:
            first = self.token()
            req.tokens.append(self.token_use(first))
            if n_tokens == 2:
                second = self.token()
                if first.variant == "valid" and second.variant == "valid":
                    second = first  # two valid tokens: only the same one (see module doc)
                req.tokens.append(self.token_use(second))
        return req

    # --- the scenario ---------------------------------------------------------------------------

    def scenario(self, n_requests: int | None = None) -> Scenario:
        rng = self.rng
        ns = rng.choice(["default", "default", "prod"])
        labels = {"app": "backend"}
        if rng.random() < 0.4:
            labels["version"] = rng.choice(["v1", "v2"])
        resources: list[dict] = []
        if rng.random() < 0.55 and "jwt" not in self.without:
            resources += self.request_authentications(ns, labels)
        for _ in range(rng.choices([1, 2, 3, 4, 5], [25, 30, 25, 12, 8])[0]):
            resources.append(self.authorization_policy(ns, labels))
        rng.shuffle(resources)
        n = n_requests if n_requests is not None else rng.randint(40, 60)
        requests = [self.request() for _ in range(n)]
        origin = f"seed {self.seed}" + (f" without {','.join(sorted(self.without))}" if self.without else "")
        # A stream of its own, so the mesh's trust domains do not reshuffle the rest of the seed.
        trust_domain, aliases = random.Random(self.seed * 7919 + 13).choice(MESH_TRUST_DOMAINS)
        return Scenario(ns, labels, resources, requests, port=self.port, origin=origin,
                        trust_domain=trust_domain, trust_domain_aliases=list(aliases))


def generate(seed: int, port: int, n_requests: int | None = None, without: frozenset[str] = frozenset()) -> Scenario:
    """The scenario of `seed` for a listener on `port`."""
    return Generator(seed, port, without).scenario(n_requests)
