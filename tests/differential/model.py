"""What the differential test sends: scenarios (a workload, its Istio resources, its requests) and
requests (method, target, Host, headers, the TLS peer, the client's source address and symbolic
JWTs that are signed when the request is sent, so `exp` is always relative to the sending time).
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from typing import Any

import yaml

from tests.integration.harness import jwt as jwtlib

# ---------------------------------------------------------------------------------------------------
# Keys: one per issuer of the generator, made once per process (RSA keys come from the harness's
# session key ring). Tokens name a key by its role; the JWKS in the resources name it the same way.

ISSUER_A = "https://auth.example.com"   # ES256, kid a-1 (an issuer with `/`: requestPrincipals split at the last `/`)
ISSUER_B = "issuer-b"                    # RS256, kid b-1 (no `/` at all)
ISSUER_UNKNOWN = "https://auth.example.com/"  # configured nowhere (a trailing-slash lookalike of A)


class KeyStore:
    """The generator's keys: `a` (ISSUER_A), `b` (ISSUER_B) and `rogue` (never published; signs
    tokens whose signature must fail)."""

    _instance: "KeyStore | None" = None

    def __init__(self) -> None:
        ring = jwtlib.keys()
        self.a = ring.fresh_ec("a-1")
        self.b = ring.get("RS256").with_kid("b-1")
        self.rogue_ec = ring.fresh_ec("a-1")  # same kid as a: a forged signature
        self.rogue_rsa = ring.rotated_rsa("b-1")  # same kid as b

    @classmethod
    def get(cls) -> "KeyStore":
        if cls._instance is None:
            cls._instance = KeyStore()
        return cls._instance

    def jwks(self, issuer_key: str) -> str:
        return jwtlib.jwks_json([self.a if issuer_key == "a" else self.b])


@dataclass
class Token:
    """A symbolic JWT: `key` (a, b), `claims` (iss, sub...; exp/nbf as offsets in seconds from
    the sending time under `exp_in`/`nbf_in`), and a `variant`:
    valid | badsig (signed by an unpublished key under the same kid) | nokid (no kid header) |
    wrongkid (a kid the JWKS lacks) | none (alg none) | malformed (garbage) | truncated (no signature)."""

    key: str
    claims: dict
    variant: str = "valid"
    exp_in: int | None = 3600
    nbf_in: int | None = None

    def compact(self, now: int | None = None) -> str:
        ks = KeyStore.get()
        now = int(time.time()) if now is None else now
        claims = dict(self.claims)
        if self.exp_in is not None:
            claims["exp"] = now + self.exp_in
        if self.nbf_in is not None:
            claims["nbf"] = now + self.nbf_in
        claims.setdefault("iat", now)
        signer = ks.a if self.key == "a" else ks.b
        if self.variant == "malformed":
            return "not-a-jwt.x"
        if self.variant == "none":
            return jwtlib.forge({"alg": "none", "typ": "JWT"}, claims)
        if self.variant == "badsig":
            signer = ks.rogue_ec if self.key == "a" else ks.rogue_rsa
        header: dict[str, Any] = {}
        if self.variant == "nokid":
            header["kid"] = None
        elif self.variant == "wrongkid":
            header["kid"] = "unknown-kid"
        token = signer.sign(claims, header, exp=None, iat=False)
        if self.variant == "truncated":
            token = token.rsplit(".", 1)[0] + "."
        return token

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"key": self.key, "claims": self.claims, "variant": self.variant}
        if self.exp_in != 3600:
            d["exp_in"] = self.exp_in
        if self.nbf_in is not None:
            d["nbf_in"] = self.nbf_in
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Token":
        return cls(d["key"], dict(d["claims"]), d.get("variant", "valid"), d.get("exp_in", 3600), d.get("nbf_in"))


@dataclass
class TokenUse:
    """Where a token is carried: `header` (name) with `prefix`, or `param` (query parameter name)."""

    token: Token
    header: str | None = None
    prefix: str = ""
    param: str | None = None

    def describe(self) -> str:
        t = self.token
        where = f"{self.header}: {self.prefix!r}+token" if self.header is not None else f"?{self.param}=token"
        times = []
        if t.exp_in != 3600:
            times.append("no exp" if t.exp_in is None else f"exp {t.exp_in:+d}s")
        if t.nbf_in is not None:
            times.append(f"nbf {t.nbf_in:+d}s")
        return (f"<{t.variant}{' ' + ', '.join(times) if times else ''} key {t.key} "
                f"{json.dumps(t.claims, separators=(',', ':'))} in {where}>")

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"token": self.token.to_dict()}
        if self.header is not None:
            d["header"] = self.header
            d["prefix"] = self.prefix
        if self.param is not None:
            d["param"] = self.param
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TokenUse":
        return cls(Token.from_dict(d["token"]), d.get("header"), d.get("prefix", ""), d.get("param"))


@dataclass
class Request:
    """One HTTP/1.1 request. `target` is the request-target exactly as sent (path, query, escapes;
    absolute-form allowed); `host` None sends no Host header. `peer` (namespace, service account,
    trust domain) means mTLS with that SPIFFE certificate, None plaintext; `sni` the TLS server
    name. `source_ip` the client's bind address (a 127.0.0.0/8 address: the direct peer Envoy sees)."""

    method: str = "GET"
    target: str = "/"
    host: str | None = "api.example.com"
    headers: list[tuple[str, str]] = field(default_factory=list)
    peer: tuple[str, str, str] | None = None
    sni: str = "localhost"
    source_ip: str = "127.0.0.1"
    tokens: list[TokenUse] = field(default_factory=list)

    def wire(self, now: int | None = None) -> tuple[str, str, list[tuple[str, str]]]:
        """(method, target, headers) with the tokens signed and placed."""
        target = self.target
        headers = list(self.headers)
        for use in self.tokens:
            token = use.token.compact(now)
            if use.header is not None:
                headers.append((use.header, use.prefix + token))
            if use.param is not None:
                sep = "&" if "?" in target else "?"
                if "#" in target:
                    base, frag = target.split("#", 1)
                    target = f"{base}{'&' if '?' in base else '?'}{use.param}={token}#{frag}"
                else:
                    target = f"{target}{sep}{use.param}={token}"
        return self.method, target, headers

    def to_dict(self) -> dict:
        d: dict[str, Any] = {"method": self.method, "target": self.target}
        if self.host is not None:
            d["host"] = self.host
        else:
            d["host"] = None
        if self.headers:
            d["headers"] = [list(h) for h in self.headers]
        d["peer"] = None if self.peer is None else "/".join((self.peer[2], "ns", self.peer[0], "sa", self.peer[1]))
        if self.peer is not None and self.sni != "localhost":
            d["sni"] = self.sni
        if self.source_ip != "127.0.0.1":
            d["source_ip"] = self.source_ip
        if self.tokens:
            d["tokens"] = [u.to_dict() for u in self.tokens]
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Request":
        peer = None
        if d.get("peer"):
            td, _ns, ns, _sa, sa = d["peer"].split("/")
            peer = (ns, sa, td)
        return cls(d.get("method", "GET"), d.get("target", "/"), d.get("host"),
                   [tuple(h) for h in d.get("headers") or []], peer, d.get("sni", "localhost"),
                   d.get("source_ip", "127.0.0.1"), [TokenUse.from_dict(t) for t in d.get("tokens") or []])

    def describe(self) -> str:
        who = "plaintext" if self.peer is None else f"mTLS {self.peer[2]}/ns/{self.peer[0]}/sa/{self.peer[1]}"
        extra = [f"{k}: {v}" for k, v in self.headers]
        extra += [f"token {u.describe()}" for u in self.tokens]
        return (f"{self.method} {self.target} Host={self.host!r} ({who} from {self.source_ip})"
                + (f" [{'; '.join(extra)}]" if extra else ""))


@dataclass
class Scenario:
    """A workload, the Istio resources meshguard is given (verbatim) and the native side is
    translated from, and the requests both Envoys receive. `port` is the listener port the
    resources were generated for (policies may name it); `origin` says where it came from."""

    namespace: str
    labels: dict[str, str]
    resources: list[dict]
    requests: list[Request]
    port: int = 0
    origin: str = ""
    root_namespace: str = "istio-system"
    # meshConfig's trustDomain and trustDomainAliases (istiod's trust-domain bundle).
    trust_domain: str = "cluster.local"
    trust_domain_aliases: list[str] = field(default_factory=list)

    @property
    def trust_domains(self) -> list[str]:
        return [self.trust_domain, *self.trust_domain_aliases]

    def plugin_config(self) -> dict:
        config = {
            "workload": {"namespace": self.namespace, "labels": dict(self.labels)},
            "rootNamespace": self.root_namespace,
            "trustDomain": self.trust_domain,
            "audit": {"log": "none"},
            "resources": copy.deepcopy(self.resources),
        }
        if self.trust_domain_aliases:
            config["trustDomainAliases"] = list(self.trust_domain_aliases)
        return config

    def with_port(self, port: int) -> "Scenario":
        """The same scenario for a listener on `port` (policy ports naming the old port follow)."""
        if port == self.port or not self.port:
            s = copy.deepcopy(self)
            s.port = port
            return s
        text = json.dumps(self.resources)
        old, new = str(self.port), str(port)
        text = text.replace(f'"{old}"', f'"{new}"').replace(f'"{self.port + 1}"', f'"{port + 1}"')
        s = copy.deepcopy(self)
        s.resources = json.loads(text)
        s.port = port
        return s

    def to_dict(self) -> dict:
        return {"origin": self.origin, "workload": {"namespace": self.namespace, "labels": self.labels},
                "rootNamespace": self.root_namespace, "port": self.port,
                "trustDomain": self.trust_domain, "trustDomainAliases": self.trust_domain_aliases,
                "resources": self.resources, "requests": [r.to_dict() for r in self.requests]}

    @classmethod
    def from_dict(cls, d: dict) -> "Scenario":
        return cls(d["workload"]["namespace"], dict(d["workload"]["labels"]), d["resources"],
                   [Request.from_dict(r) for r in d.get("requests") or []], d.get("port", 0),
                   d.get("origin", ""), d.get("rootNamespace", "istio-system"),
                   d.get("trustDomain", "cluster.local"), list(d.get("trustDomainAliases") or []))


def resources_yaml(resources: list[dict]) -> str:
    """Multi-document YAML, as an operator would apply it (inline JWKS shortened for reading)."""
    shown = copy.deepcopy(resources)
    for r in shown:
        for rule in (r.get("spec") or {}).get("jwtRules") or []:
            if isinstance(rule.get("jwks"), str) and len(rule["jwks"]) > 80:
                kid = ",".join(k.get("kid", "?") for k in json.loads(rule["jwks"]).get("keys", []))
                rule["jwks"] = f"<inline JWKS, kid {kid}>"
    return yaml.safe_dump_all(shown, sort_keys=False, default_flow_style=None, width=110)
