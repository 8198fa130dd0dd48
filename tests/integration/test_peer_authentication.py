"""PeerAuthentication on the inbound side (envoy/envoy.yaml): which mode applies to the workload and
port, what a plaintext request on a STRICT port gets, and the `mtls` field of the audit entry.

Istio's composition (shared/research/istio-semantics.md, section 3): mesh (root namespace, no
selector) < namespace (workload namespace, no selector) < workload (selector, not in the root
namespace); UNSET inherits; portLevelMtls counts on the workload-level policy only, keyed by the
port the listener sees (here: the harness's listener port). envoy/envoy.yaml's listener is
PERMISSIVE at the TLS level (an mTLS chain and a plaintext chain): meshguard decides what STRICT means.

A plaintext request on a STRICT port is refused (403 `RBAC: access denied`, reason `mtls_required`)
before authorization; with `strictMtls: "report"` it is only reported and goes on to authorization.
"""

import copy

from .harness.expect import expect
from .harness.resources import authz, peer_authn, plugin_config
from .seeds import SEED_000, SEED_000_DB_STRICT, SEED_000_MESH_STRICT, SEED_000_WORKLOAD

FRONTEND = ("default", "frontend")
PROD_FRONTEND = ("production", "frontend")
BACKEND = {"app": "backend"}
ALLOW_ALL = authz("allow-all", {"action": "ALLOW", "rules": [{}]})


def mtls(mode: str, violation: bool = False, enforced: bool = True) -> dict:
    """The audit entry's `mtls` on the inbound side."""
    return {"mode": mode, "violation": violation, "enforced": enforced}


def refused(resp, mode="STRICT"):
    """A plaintext request refused for want of mTLS: before authorization, so no policy decided."""
    return expect(resp, 403, "mtls_required", policy=None, rule=None, direction="inbound",
                  mtls=mtls(mode, violation=True), egress=None)


def on_port(pa: dict, port: int) -> dict:
    """A PeerAuthentication whose (single) portLevelMtls entry is moved to `port`."""
    pa = copy.deepcopy(pa)
    (mode,) = pa["spec"]["portLevelMtls"].values()
    pa["spec"]["portLevelMtls"] = {str(port): mode}
    return pa


# --- seed 000 ---------------------------------------------------------------------------------------


class TestSeed000MeshWideStrict:
    """Seed 000's `default` in istio-system (mesh-wide STRICT), for production/app=api with the seed's
    authorization policies."""

    config = plugin_config(SEED_000, **SEED_000_WORKLOAD)

    def test_plaintext_is_refused(self, envoy):
        entry = refused(envoy.request("GET", "/api/v1/x"))
        assert entry["source"]["principal"] is None

    def test_refusal_comes_before_authorization(self, envoy):
        # Plaintext has no namespace, so `deny-external-to-admin` (notNamespaces [production]) would
        # match /admin/*: the mTLS check answers first.
        refused(envoy.request("GET", "/admin/x"))

    def test_mtls_peer_goes_on_to_authorization(self, envoy):
        expect(envoy.request("GET", "/api/v1/x", peer=PROD_FRONTEND), 200, "allow_matched",
               policy="production.allow-frontend-to-api", rule=0, direction="inbound",
               mtls=mtls("STRICT"), egress=None)

    def test_mtls_does_not_grant_authorization(self, envoy):
        expect(envoy.request("PUT", "/api/v1/x", peer=PROD_FRONTEND, body=b"{}"), 403, "no_allow_match",
               policy=None, mtls=mtls("STRICT"))


class TestSeed000DbStrict:
    """Seed 000's `db-strict` (database, app=postgres, STRICT, portLevelMtls STRICT on the listener's
    port instead of 5432) for database/app=postgres, over a namespace-wide PERMISSIVE."""

    @staticmethod
    def config(ports):
        return plugin_config([
            SEED_000_MESH_STRICT,
            peer_authn("default", "database", "PERMISSIVE"),
            on_port(SEED_000_DB_STRICT, ports.listener),
        ], namespace="database", labels={"app": "postgres"})

    def test_plaintext_is_refused_on_the_port(self, envoy):
        entry = refused(envoy.request("GET", "/"))
        assert entry["destination"]["port"] == envoy.port

    def test_mtls_is_accepted(self, envoy):
        expect(envoy.request("GET", "/", peer=FRONTEND), 200, "no_allow_policies", policy=None,
               mtls=mtls("STRICT"))


# --- portLevelMtls --------------------------------------------------------------------------------


class TestPortLevelStrict:
    """Workload PERMISSIVE, portLevelMtls STRICT on the listener's port: that port is STRICT."""

    @staticmethod
    def config(ports):
        return plugin_config([peer_authn("backend", "default", "PERMISSIVE", selector=BACKEND,
                                         port_level={ports.listener: "STRICT"})])

    def test_plaintext_is_refused(self, envoy):
        refused(envoy.request("GET", "/"))

    def test_mtls_is_accepted(self, envoy):
        expect(envoy.request("GET", "/", peer=FRONTEND), 200, "no_allow_policies", mtls=mtls("STRICT"))


class TestPortLevelStrictOnAnotherPort:
    """Workload PERMISSIVE, portLevelMtls STRICT on another port: this port stays PERMISSIVE."""

    @staticmethod
    def config(ports):
        return plugin_config([peer_authn("backend", "default", "PERMISSIVE", selector=BACKEND,
                                         port_level={ports.listener + 1: "STRICT"})])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/"), 200, "no_allow_policies", policy=None, direction="inbound",
               mtls=mtls("PERMISSIVE"), egress=None)


class TestPortLevelPermissiveUnderStrict:
    """Workload STRICT, portLevelMtls PERMISSIVE on the listener's port (say, a metrics port)."""

    @staticmethod
    def config(ports):
        return plugin_config([peer_authn("backend", "default", "STRICT", selector=BACKEND,
                                         port_level={ports.listener: "PERMISSIVE"})])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/"), 200, "no_allow_policies", mtls=mtls("PERMISSIVE"))


# --- precedence -------------------------------------------------------------------------------------


class TestNamespacePermissiveOverridesMeshStrict:
    config = plugin_config([
        peer_authn("default", "istio-system", "STRICT"),
        peer_authn("default", "default", "PERMISSIVE"),
    ])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/"), 200, "no_allow_policies", mtls=mtls("PERMISSIVE"))

    def test_mtls_is_accepted(self, envoy):
        expect(envoy.request("GET", "/", peer=FRONTEND), 200, "no_allow_policies", mtls=mtls("PERMISSIVE"))


class TestNamespaceStrictOverridesMeshPermissive:
    config = plugin_config([
        peer_authn("default", "istio-system", "PERMISSIVE"),
        peer_authn("default", "default", "STRICT"),
    ])

    def test_plaintext_is_refused(self, envoy):
        refused(envoy.request("GET", "/"))


class TestWorkloadUnsetInherits:
    """A workload-level policy with mode UNSET inherits the namespace's STRICT."""

    config = plugin_config([
        peer_authn("default", "default", "STRICT"),
        peer_authn("backend", "default", "UNSET", selector=BACKEND),
    ])

    def test_plaintext_is_refused(self, envoy):
        refused(envoy.request("GET", "/"))


class TestWorkloadDisableOverridesNamespaceStrict:
    config = plugin_config([
        peer_authn("default", "default", "STRICT"),
        peer_authn("backend", "default", "DISABLE", selector=BACKEND),
    ])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/"), 200, "no_allow_policies", mtls=mtls("DISABLE"))


class TestRootNamespacePolicyWithSelectorIsIgnored:
    """"PeerAuthentication policies with workload selectors are ignored when deployed in the root
    namespace": no mesh policy, no namespace policy -> PERMISSIVE."""

    config = plugin_config([peer_authn("backend-strict", "istio-system", "STRICT", selector=BACKEND)])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/"), 200, "no_allow_policies", mtls=mtls("PERMISSIVE"))


class TestPoliciesForOtherWorkloadsAreIgnored:
    """STRICT in another namespace, and STRICT for other labels in the workload's namespace."""

    config = plugin_config([
        peer_authn("default", "other", "STRICT"),
        peer_authn("backend", "other", "STRICT", selector=BACKEND),
        peer_authn("payment", "default", "STRICT", selector={"app": "payment"}),
        peer_authn("backend-v2", "default", "STRICT", selector={"app": "backend", "version": "v2"}),
    ])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/"), 200, "no_allow_policies", mtls=mtls("PERMISSIVE"))


# --- strictMtls: "report" -------------------------------------------------------------------------


class TestReportModeAllowAll:
    """strictMtls "report": a plaintext request on a STRICT port is reported, not refused."""

    config = plugin_config([SEED_000_MESH_STRICT, ALLOW_ALL], strict_mtls="report")

    def test_plaintext_goes_on_to_authorization(self, envoy):
        expect(envoy.request("GET", "/"), 200, "allow_matched", policy="default.allow-all", rule=0,
               direction="inbound", mtls=mtls("STRICT", violation=True, enforced=False))

    def test_mtls_is_no_violation(self, envoy):
        entry = expect(envoy.request("GET", "/", peer=FRONTEND), 200, "allow_matched", policy="default.allow-all")
        assert (entry["mtls"]["mode"], entry["mtls"]["violation"]) == ("STRICT", False), entry["mtls"]


class TestReportModeDenyAll:
    """strictMtls "report" does not let anything through that authorization denies."""

    config = plugin_config([SEED_000_MESH_STRICT, authz("deny-all", {})], strict_mtls="report")

    def test_plaintext_is_denied_by_authorization(self, envoy):
        expect(envoy.request("GET", "/"), 403, "no_allow_match", policy=None,
               mtls=mtls("STRICT", violation=True, enforced=False))
