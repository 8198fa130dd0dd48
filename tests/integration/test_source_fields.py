"""The newer source fields and trust domains, against Envoy's native rbac as istiod configures it.

`serviceAccounts`, `trustDomains`, their `not` forms and `when` keys, namespace values that are
not Kubernetes names, values with an inner `*` (compared literally), and a mesh whose trustDomain
has an alias: `cluster.local` principals are rewritten to the trust domain and every alias, and a
trust domain named in a policy stands for the whole bundle (pilot/pkg/security/trustdomain).

Two Envoys from envoy/envoy.yaml get the same configuration: one runs meshguard, the other the
rbac filters harness/native.py builds as istiod would (the same bundle). Every peer below (a real
mTLS client certificate with that URI SAN, or plaintext) asks for every path; the statuses must
agree, meshguard's audit entry must say the same, and the cases written out at the end must hold
on both (so a shared mistake fails too).
"""

from __future__ import annotations

import pytest

NS = "default"
TRUST_DOMAIN = "corp.example"
ALIASES = ["old.example"]


def _ap(name: str, spec: dict) -> dict:
    return {"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": NS}, "spec": spec}


def _to(path: str) -> list[dict]:
    return [{"operation": {"paths": [path]}}]


RESOURCES = [
    _ap("deny-blocked", {"action": "DENY", "rules": [
        {"from": [{"source": {"serviceAccounts": ["blocked"]}}]},
        {"from": [{"source": {"notTrustDomains": ["old.example", "*.partner"]}}], "to": _to("/td-only/*")},
    ]}),
    _ap("allow", {"action": "ALLOW", "rules": [
        {"from": [{"source": {"serviceAccounts": ["frontend", "prod/api"]}}], "to": _to("/sa/*")},
        {"from": [{"source": {"notServiceAccounts": ["frontend"]}}], "to": _to("/not-sa/*")},
        {"from": [{"source": {"trustDomains": ["old.example"]}}], "to": _to("/td/*")},
        {"from": [{"source": {"trustDomains": ["*.partner", "corp.*"]}}], "to": _to("/tdw/*")},
        {"to": _to("/td-only/*")},
        {"from": [{"source": {"principals": ["cluster.local/ns/default/sa/legacy"]}}], "to": _to("/legacy/*")},
        {"from": [{"source": {"principals": ["*/sa/frontend"]}}], "to": _to("/suffix/*")},
        {"from": [{"source": {"namespaces": ["a.b", "x+(y)*"]}}], "to": _to("/ns/*")},
        {"to": _to("/when-sa/*"), "when": [{"key": "source.serviceAccount", "values": ["default/frontend"]}]},
        {"to": _to("/when-td/*"), "when": [{"key": "source.trustDomain", "values": ["old.example"]}]},
        {"to": _to("/when-p/*"), "when": [{"key": "source.principal", "notValues": ["cluster.local/ns/default/sa/frontend"]}]},
        {"to": [{"operation": {"paths": ["/lit/*/x", "*a*"]}}]},
    ]}),
]
CONFIG = {"workload": {"namespace": NS, "labels": {"app": "backend"}}, "audit": {"log": "all"},
          "trustDomain": TRUST_DOMAIN, "trustDomainAliases": ALIASES, "resources": RESOURCES}

PEERS = [
    "spiffe://corp.example/ns/default/sa/frontend",
    "spiffe://old.example/ns/default/sa/frontend",
    "spiffe://cluster.local/ns/default/sa/frontend",
    "spiffe://corp.example/ns/default/sa/legacy",
    "spiffe://old.example/ns/default/sa/legacy",
    "spiffe://cluster.local/ns/default/sa/legacy",
    "spiffe://corp.example/ns/prod/k/v/sa/api/x/y",
    "spiffe://corp.example/ns/prod/sa/api-x",
    "spiffe://corp.example/ns/prod/sa/api/",
    "spiffe://x.partner/ns/default/sa/z",
    "spiffe://a/b.partner/ns/default/sa/z",
    "spiffe://corp.example/ns/a.b/sa/x",
    "spiffe://corp.example/ns/axb/sa/x",
    "spiffe://corp.example/ns/x+(y)-z/sa/x",
    "spiffe://corp.example/ns/default/sa/blocked",
    # A newline, which RE2's `.` never matches: the regex-based matchers refuse these SANs.
    "spiffe://evil\n/ns/default/sa/frontend",
    "spiffe://corp.example/ns/a.b/sa/frontend\n",
    None,
]
PATHS = ["/sa/1", "/not-sa/1", "/td/1", "/tdw/1", "/td-only/1", "/legacy/1", "/suffix/1", "/ns/1",
         "/when-sa/1", "/when-td/1", "/when-p/1", "/lit/*/x", "/lit/a/x", "/b*a*"]


@pytest.fixture(scope="module")
def pair(envoy_factory):
    native = envoy_factory.start_native(CONFIG)
    meshguard = envoy_factory.start(CONFIG)
    yield native, meshguard
    native.stop()
    meshguard.stop()


def _status(envoy, path: str, peer: str | None) -> int:
    return envoy.request("GET", path, peer=peer).status


@pytest.mark.parametrize("peer", PEERS, ids=lambda p: repr(p) if p else "plaintext")
def test_every_path_agrees_with_native(pair, peer):
    native, meshguard = pair
    disagreements = []
    for path in PATHS:
        want = _status(native, path, peer)
        got = meshguard.request("GET", path, peer=peer)
        if got.status != want:
            disagreements.append(f"{path}: native {want}, meshguard {got.status}")
            continue
        entry = got.audit()
        assert entry["decision"] == ("allow" if want == 200 else "deny"), entry
        if peer is not None:
            assert entry["source"]["principal"] == peer.removeprefix("spiffe://"), entry
    assert not disagreements, "\n".join(disagreements)


# (peer, path, status): what istiod's translation means, written out.
EXPECTED = [
    # serviceAccounts: `frontend` is default/frontend in any trust domain; `prod/api` with extra
    # segments, but not `api-x` and not a trailing `/` with nothing after it.
    (PEERS[0], "/sa/1", 200), (PEERS[2], "/sa/1", 200), (PEERS[6], "/sa/1", 200),
    (PEERS[7], "/sa/1", 403), (PEERS[8], "/sa/1", 403), (PEERS[3], "/sa/1", 403), (None, "/sa/1", 403),
    # notServiceAccounts: any peer but default/frontend, plaintext included (as in Envoy's RBAC,
    # the negation of an authenticated match).
    (PEERS[3], "/not-sa/1", 200), (PEERS[1], "/not-sa/1", 403), (None, "/not-sa/1", 200),
    # trustDomains: old.example stands for the bundle (corp.example too), never cluster.local.
    (PEERS[0], "/td/1", 200), (PEERS[1], "/td/1", 200), (PEERS[2], "/td/1", 403),
    (PEERS[9], "/tdw/1", 200), (PEERS[10], "/tdw/1", 403), (PEERS[0], "/tdw/1", 200),
    (PEERS[2], "/td-only/1", 403), (PEERS[9], "/td-only/1", 200), (PEERS[4], "/td-only/1", 200),
    # cluster.local in a principal means the trust domain and its aliases, and nothing else.
    (PEERS[3], "/legacy/1", 200), (PEERS[4], "/legacy/1", 200), (PEERS[5], "/legacy/1", 403),
    (PEERS[2], "/suffix/1", 200),
    # Namespaces: quoted, `*` a wildcard.
    (PEERS[11], "/ns/1", 200), (PEERS[12], "/ns/1", 403), (PEERS[13], "/ns/1", 200),
    (PEERS[0], "/when-sa/1", 200), (PEERS[3], "/when-sa/1", 403),
    (PEERS[0], "/when-td/1", 200), (PEERS[2], "/when-td/1", 403),
    # notValues cluster.local/ns/default/sa/frontend: rewritten to corp.example and old.example.
    (PEERS[0], "/when-p/1", 403), (PEERS[1], "/when-p/1", 403), (PEERS[2], "/when-p/1", 200),
    # An inner `*` is an ordinary character; `*a*` is the suffix `a*`.
    (None, "/lit/*/x", 200), (None, "/lit/a/x", 403), (None, "/b*a*", 200),
    (PEERS[14], "/lit/*/x", 403),
    (PEERS[15], "/suffix/1", 403), (PEERS[15], "/sa/1", 403), (PEERS[15], "/tdw/1", 403),
    (PEERS[16], "/ns/1", 403), (PEERS[16], "/tdw/1", 403),
    # ... but a trust domain without `*` is a plain prefix match.
    (PEERS[16], "/when-td/1", 200),
]


@pytest.mark.parametrize("peer,path,status", EXPECTED)
def test_istio_meaning(pair, peer, path, status):
    native, meshguard = pair
    assert (_status(native, path, peer), _status(meshguard, path, peer)) == (status, status)
