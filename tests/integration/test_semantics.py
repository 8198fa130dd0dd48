"""Istio's AuthorizationPolicy semantics (shared/research/istio-semantics.md), one scenario per class.

The workload is default/app=backend unless a class says otherwise. Most scenarios hold only DENY
policies, each confined to its own paths, so a request that matches none of them is allowed with
reason `no_allow_policies`; ALLOW behaviour has its own scenarios.
"""

from .harness.expect import expect
from .harness.resources import authz, dry_run, plugin_config, resource

FRONTEND = ("default", "frontend")
XFF = {"X-Forwarded-For": "10.9.9.9"}


def deny(name, *rules, namespace="default", **spec):
    return authz(name, {"action": "DENY", "rules": list(rules), **spec}, namespace=namespace)


def to(**operation):
    return {"to": [{"operation": operation}]}


def rule(source=None, when=None, **operation):
    r = {}
    if source is not None:
        r["from"] = [{"source": source}]
    if operation:
        r["to"] = [{"operation": operation}]
    if when is not None:
        r["when"] = when
    return r


def _operations_config(ports):
    return plugin_config([
        deny("deny-host", to(hosts=["api.example.com"])),
        deny("deny-get", to(methods=["GET"], paths=["/method"])),
        deny("deny-paths",
             to(paths=["/admin"]),
             to(paths=["/tpl/{*}/data", "/deep/{**}"]),
             to(paths=["/pre/*", "*.secret"]),
             to(paths=["/np/*"], notPaths=["/np/public/*"])),
        deny("deny-this-port", to(ports=[str(ports.listener)], paths=["/port/this"])),
        deny("deny-other-port", to(ports=[str(ports.listener + 1)], paths=["/port/other"])),
    ])


class TestOperations:
    """hosts, methods, paths (query, templates, prefix/suffix, notPaths) and ports."""

    config = _operations_config

    def test_host_matches_case_insensitively(self, envoy):
        resp = envoy.request("GET", "/h", host="API.Example.COM")
        entry = expect(resp, 403, "deny_matched", policy="default.deny-host", rule=0, action="DENY")
        assert entry["host"].lower() == "api.example.com"

    def test_host_with_port_does_not_match_host_without(self, envoy):
        resp = envoy.request("GET", "/h", host="api.example.com:8080")
        expect(resp, 200, "no_allow_policies", policy=None)

    def test_method_is_matched_exactly(self, envoy):
        expect(envoy.request("GET", "/method"), 403, "deny_matched", policy="default.deny-get", rule=0)

    def test_head_is_not_get(self, envoy):
        expect(envoy.request("HEAD", "/method"), 200, "no_allow_policies", method="HEAD")

    def test_path_matches_without_query(self, envoy):
        resp = envoy.request("GET", "/admin?x=1")
        expect(resp, 403, "deny_matched", policy="default.deny-paths", rule=0, path="/admin")

    def test_path_is_matched_after_normalization(self, envoy):
        resp = envoy.request("GET", "/public/../admin?x=1")
        expect(resp, 403, "deny_matched", policy="default.deny-paths", rule=0, path="/admin")

    def test_exact_path_is_exact(self, envoy):
        expect(envoy.request("GET", "/admin/x"), 200, "no_allow_policies", path="/admin/x")

    def test_single_segment_template(self, envoy):
        expect(envoy.request("GET", "/tpl/a/data"), 403, "deny_matched", policy="default.deny-paths", rule=1)
        expect(envoy.request("GET", "/tpl/a/b/data"), 200, "no_allow_policies")

    def test_multi_segment_template(self, envoy):
        expect(envoy.request("GET", "/deep/a/b/c"), 403, "deny_matched", policy="default.deny-paths", rule=1)
        expect(envoy.request("GET", "/deeper"), 200, "no_allow_policies")

    def test_prefix_and_suffix(self, envoy):
        expect(envoy.request("GET", "/pre/x"), 403, "deny_matched", policy="default.deny-paths", rule=2)
        expect(envoy.request("GET", "/files/a.secret"), 403, "deny_matched", policy="default.deny-paths", rule=2)
        expect(envoy.request("GET", "/pre"), 200, "no_allow_policies")  # `/pre/*` does not match `/pre`

    def test_not_paths_excludes(self, envoy):
        expect(envoy.request("GET", "/np/secret"), 403, "deny_matched", policy="default.deny-paths", rule=3)
        expect(envoy.request("GET", "/np/public/x"), 200, "no_allow_policies")

    def test_port_is_the_listener_port(self, envoy):
        entry = expect(envoy.request("GET", "/port/this"), 403, "deny_matched", policy="default.deny-this-port")
        assert entry["destination"]["port"] == envoy.port
        expect(envoy.request("GET", "/port/other"), 200, "no_allow_policies")


class TestSources:
    """namespaces, principals, request headers, ipBlocks and remoteIpBlocks in DENY rules."""

    config = plugin_config([
        deny("deny-default-ns", rule(source={"namespaces": ["default"]}, paths=["/ns"])),
        deny("deny-any-principal", rule(source={"principals": ["*"]}, paths=["/authn"])),
        deny("deny-admin-role", rule(when=[{"key": "request.headers[x-role]", "values": ["admin"]}])),
        deny("deny-local-ip", rule(source={"ipBlocks": ["127.0.0.1/32"]}, paths=["/ip/local"])),
        deny("deny-doc-ip", rule(source={"ipBlocks": ["192.0.2.0/24"]}, paths=["/ip/doc"])),
        deny("deny-remote", rule(source={"remoteIpBlocks": ["10.9.9.0/24"]}, paths=["/remote"])),
    ])

    def test_namespace(self, envoy):
        entry = expect(envoy.request("GET", "/ns", peer=FRONTEND), 403, "deny_matched", policy="default.deny-default-ns")
        assert entry["source"]["namespace"] == "default"

    def test_lookalike_namespace_does_not_match(self, envoy):
        entry = expect(envoy.request("GET", "/ns", peer=("default-evil", "frontend")), 200, "no_allow_policies")
        assert entry["source"]["namespace"] == "default-evil"
        assert entry["source"]["principal"] == "cluster.local/ns/default-evil/sa/frontend"

    def test_plaintext_has_no_namespace(self, envoy):
        expect(envoy.request("GET", "/ns"), 200, "no_allow_policies")

    def test_any_principal_needs_mtls(self, envoy):
        expect(envoy.request("GET", "/authn", peer=("other", "x")), 403, "deny_matched",
               policy="default.deny-any-principal")
        entry = expect(envoy.request("GET", "/authn"), 200, "no_allow_policies")
        assert entry["source"]["principal"] is None

    def test_duplicate_headers_any_value_matches_deny(self, envoy):
        resp = envoy.request("GET", "/r", headers=[("x-role", "user"), ("x-role", "admin")])
        expect(resp, 403, "deny_matched", policy="default.deny-admin-role", rule=0)

    def test_header_condition(self, envoy):
        expect(envoy.request("GET", "/r", headers={"X-Role": "admin"}), 403, "deny_matched",
               policy="default.deny-admin-role")
        expect(envoy.request("GET", "/r", headers={"x-role": "user"}), 200, "no_allow_policies")
        expect(envoy.request("GET", "/r"), 200, "no_allow_policies")

    def test_ip_block_matches_the_peer(self, envoy):
        expect(envoy.request("GET", "/ip/local"), 403, "deny_matched", policy="default.deny-local-ip")

    def test_unknown_source_ip_matches_deny(self, envoy):
        # With X-Forwarded-For, Envoy 1.40 reports source.address as the XFF address with port 0:
        # the peer's IP is unknown, and a DENY on ipBlocks must then match (fail closed).
        expect(envoy.request("GET", "/ip/doc"), 200, "no_allow_policies")
        expect(envoy.request("GET", "/ip/doc", headers=XFF), 403, "deny_matched", policy="default.deny-doc-ip")

    def test_remote_ip_blocks_use_xff(self, envoy):
        expect(envoy.request("GET", "/remote", headers=XFF), 403, "deny_matched", policy="default.deny-remote")
        expect(envoy.request("GET", "/remote"), 200, "no_allow_policies")


class TestAllowSources:
    """ipBlocks, remoteIpBlocks and notPrincipals in ALLOW rules (the workload is ALLOW-listed)."""

    config = plugin_config([
        authz("allow-local-ip", {"rules": [rule(source={"ipBlocks": ["127.0.0.1/32"]}, paths=["/ip"])]}),
        authz("allow-remote", {"rules": [rule(source={"remoteIpBlocks": ["10.9.9.0/24"]}, paths=["/remote"])]}),
        authz("allow-not-frontend", {"action": "ALLOW", "rules": [
            rule(source={"notPrincipals": ["cluster.local/ns/default/sa/frontend"]}, paths=["/np"])]}),
    ])

    def test_ip_block_allows_the_peer(self, envoy):
        expect(envoy.request("GET", "/ip"), 200, "allow_matched", policy="default.allow-local-ip", rule=0)

    def test_unknown_source_ip_does_not_match_allow(self, envoy):
        expect(envoy.request("GET", "/ip", headers=XFF), 403, "no_allow_match", policy=None)

    def test_remote_ip_blocks_allow_by_xff(self, envoy):
        expect(envoy.request("GET", "/remote", headers=XFF), 200, "allow_matched", policy="default.allow-remote")
        expect(envoy.request("GET", "/remote"), 403, "no_allow_match")

    def test_not_principals_admits_plaintext(self, envoy):
        expect(envoy.request("GET", "/np"), 200, "allow_matched", policy="default.allow-not-frontend", rule=0)
        expect(envoy.request("GET", "/np", peer=("default", "other")), 200, "allow_matched",
               policy="default.allow-not-frontend")
        expect(envoy.request("GET", "/np", peer=FRONTEND), 403, "no_allow_match")


class TestActions:
    """AUDIT marks without deciding, dry-run DENY only reports, CUSTOM denies what it matches."""

    config = plugin_config([
        authz("audit-audited", {"action": "AUDIT", "rules": [to(paths=["/audited/*"])]}),
        deny("deny-audited-secret", to(paths=["/audited/secret"])),
        dry_run(deny("dry-deny", to(paths=["/dry/*"]))),
        authz("custom-ext", {"action": "CUSTOM", "provider": {"name": "ext-authz"},
                             "rules": [to(paths=["/custom/*"])]}),
    ])

    def test_nothing_matches(self, envoy):
        expect(envoy.request("GET", "/x"), 200, "no_allow_policies", policy=None, audit=False,
               dry_run={"decision": "allow", "policy": None})

    def test_audit_policy_marks_without_deciding(self, envoy):
        expect(envoy.request("GET", "/audited/x"), 200, "no_allow_policies", audit=True)

    def test_audit_policy_marks_a_denial_too(self, envoy):
        expect(envoy.request("GET", "/audited/secret"), 403, "deny_matched", policy="default.deny-audited-secret",
               audit=True)

    def test_dry_run_deny_only_reports(self, envoy):
        expect(envoy.request("GET", "/dry/x"), 200, "no_allow_policies", policy=None,
               dry_run={"decision": "deny", "policy": "default.dry-deny"})

    def test_custom_denies_what_it_matches(self, envoy):
        expect(envoy.request("GET", "/custom/x"), 403, "custom_matched", policy="default.custom-ext", rule=0,
               action="CUSTOM")


class TestDryRunAllowOnly:
    """A dry-run ALLOW policy does not make the workload deny-by-default."""

    config = plugin_config([dry_run(authz("dry-allow", {"action": "ALLOW", "rules": [to(paths=["/only"])]}))])

    def test_unmatched_request_is_allowed_but_would_be_denied(self, envoy):
        expect(envoy.request("GET", "/x"), 200, "no_allow_policies", policy=None,
               dry_run={"decision": "deny", "policy": None})

    def test_matched_request_would_be_allowed(self, envoy):
        expect(envoy.request("GET", "/only"), 200, "no_allow_policies", policy=None,
               dry_run={"decision": "allow", "policy": "default.dry-allow"})


class TestScoping:
    """Which policies apply to default/app=backend: namespace, root namespace, selector, targetRef."""

    config = plugin_config([
        deny("in-namespace", to(paths=["/scope/ns"])),
        deny("other-namespace", to(paths=["/scope/other-ns"]), namespace="other"),
        deny("other-app", to(paths=["/scope/selector"]), selector={"matchLabels": {"app": "payment"}}),
        deny("more-labels", to(paths=["/scope/superset"]),
             selector={"matchLabels": {"app": "backend", "version": "v2"}}),
        deny("root", to(paths=["/scope/root"]), namespace="istio-system"),
        deny("root-selected", to(paths=["/scope/root-selected"]), namespace="istio-system",
             selector={"matchLabels": {"app": "backend"}}),
        deny("waypoint", to(paths=["/scope/target-ref"]),
             targetRef={"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "waypoint"}),
        # RequestAuthentications scope the same way; none of these applies, so no token is read.
        resource("RequestAuthentication", "other-namespace-jwt", "other",
                 {"jwtRules": [{"issuer": "https://other.test", "jwksUri": "https://other.test/jwks.json"}]}),
        resource("RequestAuthentication", "other-app-jwt", "default",
                 {"selector": {"matchLabels": {"app": "payment"}},
                  "jwtRules": [{"issuer": "https://payment.test", "jwksUri": "https://payment.test/jwks.json"}]}),
    ])

    def test_policy_in_workload_namespace_applies(self, envoy):
        expect(envoy.request("GET", "/scope/ns"), 403, "deny_matched", policy="default.in-namespace")

    def test_policy_in_other_namespace_is_ignored(self, envoy):
        expect(envoy.request("GET", "/scope/other-ns"), 200, "no_allow_policies", policy=None)

    def test_policy_with_other_selector_is_ignored(self, envoy):
        expect(envoy.request("GET", "/scope/selector"), 200, "no_allow_policies", policy=None)

    def test_selector_must_be_a_subset_of_the_labels(self, envoy):
        expect(envoy.request("GET", "/scope/superset"), 200, "no_allow_policies", policy=None)

    def test_root_namespace_policy_applies(self, envoy):
        expect(envoy.request("GET", "/scope/root"), 403, "deny_matched", policy="istio-system.root")

    def test_root_namespace_policy_with_selector_applies(self, envoy):
        expect(envoy.request("GET", "/scope/root-selected"), 403, "deny_matched", policy="istio-system.root-selected")

    def test_policy_with_target_ref_is_ignored(self, envoy):
        expect(envoy.request("GET", "/scope/target-ref"), 200, "no_allow_policies", policy=None)

    def test_request_authentication_that_does_not_apply_reads_no_token(self, envoy):
        resp = envoy.request("GET", "/scope/jwt?access_token=garbage", headers={"Authorization": "Bearer garbage"})
        entry = expect(resp, 200, "no_allow_policies", policy=None)
        assert entry["auth"] == {"principal": None, "audiences": None, "error": None}
        assert resp.json()["headers"] and any(k.lower() == "authorization" for k, _ in resp.json()["headers"])


class TestKubectlOutput:
    """What `kubectl get -o json` adds around a spec (status, uid, managedFields...) is accepted."""

    config = plugin_config([{
        "apiVersion": "security.istio.io/v1",
        "kind": "AuthorizationPolicy",
        "metadata": {
            "name": "from-kubectl", "namespace": "default", "uid": "0b6c1f7e-7d7e-4c55-9a43-1c3e2f6a9d10",
            "resourceVersion": "123456", "generation": 2, "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {"team": "payments"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "managedFields": [{"manager": "kubectl", "operation": "Update", "apiVersion": "security.istio.io/v1",
                               "time": "2026-01-02T03:04:05Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"action": "DENY", "rules": [to(paths=["/kubectl"])]},
        "status": {"validationMessages": [], "observedGeneration": "2"},
    }])

    def test_policy_applies(self, envoy):
        expect(envoy.request("GET", "/kubectl"), 403, "deny_matched", policy="default.from-kubectl", rule=0)
        expect(envoy.request("GET", "/other"), 200, "no_allow_policies")


class TestAllowWithoutRules:
    """An ALLOW policy without rules matches nothing: the workload denies everything."""

    config = plugin_config([authz("allow-nothing", {"action": "ALLOW"})])

    def test_denies_mtls(self, envoy):
        expect(envoy.request("GET", "/x", peer=FRONTEND), 403, "no_allow_match", policy=None)

    def test_denies_plaintext(self, envoy):
        expect(envoy.request("GET", "/x"), 403, "no_allow_match", policy=None)


class TestAllowEmptyRule:
    """`rules: [{}]` allows everything, plaintext included."""

    config = plugin_config([authz("allow-all", {"action": "ALLOW", "rules": [{}]})])

    def test_allows_plaintext(self, envoy):
        expect(envoy.request("DELETE", "/anything"), 200, "allow_matched", policy="default.allow-all", rule=0)

    def test_allows_mtls(self, envoy):
        expect(envoy.request("GET", "/x", peer=FRONTEND), 200, "allow_matched", policy="default.allow-all", rule=0)


class TestWorkloadFromNodeMetadata:
    """Without `workload` in the configuration, the plugin takes NAMESPACE and LABELS from the node."""

    node_metadata = {"NAMESPACE": "shop", "LABELS": {"app": "cart", "version": "v1"}}
    config = plugin_config([
        deny("deny-cart", to(paths=["/meta/cart"]), namespace="shop", selector={"matchLabels": {"app": "cart"}}),
        deny("deny-backend", to(paths=["/meta/backend"]), selector={"matchLabels": {"app": "backend"}}),
    ], namespace=None)

    def test_selector_scoped_policy_applies(self, envoy):
        expect(envoy.request("GET", "/meta/cart"), 403, "deny_matched", policy="shop.deny-cart", rule=0)

    def test_policy_for_another_workload_is_ignored(self, envoy):
        expect(envoy.request("GET", "/meta/backend"), 200, "no_allow_policies", policy=None)


class TestPeerAuthenticationOverride:
    """A namespace PeerAuthentication (PERMISSIVE) overrides the mesh-wide STRICT one."""

    config = plugin_config([
        resource("PeerAuthentication", "default", "istio-system", {"mtls": {"mode": "STRICT"}}),
        resource("PeerAuthentication", "default", "default", {"mtls": {"mode": "PERMISSIVE"}}),
    ])

    def test_plaintext_is_accepted(self, envoy):
        expect(envoy.request("GET", "/x"), 200, "no_allow_policies", policy=None)

    def test_mtls_is_accepted(self, envoy):
        expect(envoy.request("GET", "/x", peer=FRONTEND), 200, "no_allow_policies", policy=None)
