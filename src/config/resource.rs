//! One Istio resource as `kubectl get -o json` shows it: the envelope (apiVersion, kind,
//! metadata, status) is checked here and the `spec` is parsed by kind with its field path.

use super::read::{self, read_struct, Read};
use super::spec::{
    AuthorizationPolicySpec, GatewaySpec, PeerAuthenticationSpec, RequestAuthenticationSpec,
    ServiceEntrySpec,
};
use super::ConfigError;
use crate::map::SortedMap;

#[derive(Debug, Default)]
struct Envelope {
    api_version: String,
    kind: String,
    metadata: RawMeta,
    spec: Option<serde_json::Value>,
    /// Written by the cluster, never read.
    #[allow(dead_code)]
    status: Option<serde_json::Value>,
}
read_struct!(Envelope, Refuse {
    required "apiVersion" => api_version,
    required "kind" => kind,
    required "metadata" => metadata,
    "spec" => spec,
    "status" => status,
});

/// Kubernetes adds uid, resourceVersion, managedFields, labels... to metadata: all accepted,
/// only these are read.
#[derive(Debug, Default)]
struct RawMeta {
    name: Option<String>,
    namespace: Option<String>,
    annotations: SortedMap<String, String>,
}
read_struct!(RawMeta, Ignore {
    "name" => name,
    "namespace" => namespace,
    "annotations" => annotations,
});

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Meta {
    pub name: String,
    pub namespace: String,
    /// `istio.io/dry-run` parsed as Go's strconv.ParseBool, as istiod does.
    pub dry_run: bool,
}

#[derive(Debug, Clone)]
pub enum Body {
    AuthorizationPolicy(AuthorizationPolicySpec),
    RequestAuthentication(RequestAuthenticationSpec),
    PeerAuthentication(PeerAuthenticationSpec),
    ServiceEntry(ServiceEntrySpec),
    Gateway(GatewaySpec),
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub meta: Meta,
    pub body: Body,
}

const DRY_RUN_ANNOTATION: &str = "istio.io/dry-run";

impl Resource {
    pub fn kind_name(&self) -> &'static str {
        match self.body {
            Body::AuthorizationPolicy(_) => "AuthorizationPolicy",
            Body::RequestAuthentication(_) => "RequestAuthentication",
            Body::PeerAuthentication(_) => "PeerAuthentication",
            Body::ServiceEntry(_) => "ServiceEntry",
            Body::Gateway(_) => "Gateway",
        }
    }

    /// `Kind namespace/name`: how every message names this resource.
    pub fn id(&self) -> String {
        format!(
            "{} {}/{}",
            self.kind_name(),
            self.meta.namespace,
            self.meta.name
        )
    }

    pub(super) fn parse(index: usize, value: &serde_json::Value) -> Result<Self, ConfigError> {
        let at = format!("resources[{index}]");
        let env: Envelope = from_value_at(value, &at)?;
        let kind = env.kind.clone();
        let name = env.metadata.name.unwrap_or_default();
        let namespace = env.metadata.namespace.unwrap_or_default();
        let id = format!("{kind} {namespace}/{name} ({at})");
        if name.is_empty() {
            return Err(ConfigError(format!("{id}: metadata.name is required")));
        }
        if namespace.is_empty() {
            return Err(ConfigError(format!(
                "{id}: metadata.namespace is required (Istio scopes every policy by its namespace)"
            )));
        }
        let (group, version) = env.api_version.split_once('/').unwrap_or(("", ""));
        let security = group == "security.istio.io" && matches!(version, "v1" | "v1beta1");
        let networking =
            group == "networking.istio.io" && matches!(version, "v1" | "v1beta1" | "v1alpha3");
        let id = format!("{kind} {namespace}/{name}");
        let spec = env
            .spec
            .unwrap_or_else(|| serde_json::Value::Object(Default::default()));
        let body = match kind.as_str() {
            "AuthorizationPolicy" if security => {
                Body::AuthorizationPolicy(parse_spec(&spec, &id)?)
            }
            "RequestAuthentication" if security => {
                Body::RequestAuthentication(parse_spec(&spec, &id)?)
            }
            "PeerAuthentication" if security => Body::PeerAuthentication(parse_spec(&spec, &id)?),
            "ServiceEntry" if networking => Body::ServiceEntry(parse_spec(&spec, &id)?),
            "Gateway" if networking => Body::Gateway(parse_spec(&spec, &id)?),
            "AuthorizationPolicy" | "RequestAuthentication" | "PeerAuthentication"
            | "ServiceEntry" | "Gateway" => {
                return Err(ConfigError(format!(
                    "{id}: apiVersion {:?} is not one meshguard reads for this kind \
                     (security.istio.io/v1 or v1beta1; networking.istio.io/v1, v1beta1 or v1alpha3 for ServiceEntry and Gateway)",
                    env.api_version
                )))
            }
            _ => {
                return Err(ConfigError(format!(
                    "{id}: kind {kind:?} is not supported (AuthorizationPolicy, RequestAuthentication, \
                     PeerAuthentication, ServiceEntry, Gateway)"
                )))
            }
        };
        let dry_run = match env.metadata.annotations.get(DRY_RUN_ANNOTATION) {
            None => false,
            Some(v) => parse_go_bool(v).ok_or_else(|| {
                ConfigError(format!(
                    "{id}: metadata.annotations[{DRY_RUN_ANNOTATION}]: {v:?} is not a boolean (true or false)"
                ))
            })?,
        };
        Ok(Resource {
            meta: Meta {
                name,
                namespace,
                dry_run,
            },
            body,
        })
    }
}

fn parse_spec<T: Read>(spec: &serde_json::Value, id: &str) -> Result<T, ConfigError> {
    from_value_at(spec, &format!("{id}: spec"))
}

/// Reads with the failing field's path in the message: `<at>.rules[0].from[0].source: ...`.
fn from_value_at<T: Read>(value: &serde_json::Value, at: &str) -> Result<T, ConfigError> {
    read::from_value(value).map_err(|e| {
        let path = e.path();
        if path == "." {
            ConfigError(format!("{at}: {}", e.message()))
        } else {
            ConfigError(format!("{at}.{path}: {}", e.message()))
        }
    })
}

/// Go's strconv.ParseBool, which istiod applies to the dry-run annotation.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: serde_json::Value) -> Result<Resource, String> {
        Resource::parse(0, &v).map_err(|e| e.0)
    }

    fn ap(spec: serde_json::Value) -> serde_json::Value {
        json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
               "metadata": {"name": "p", "namespace": "default"}, "spec": spec})
    }

    #[test]
    fn accepts_kubectl_output() {
        let r = parse(json!({
            "apiVersion": "security.istio.io/v1beta1", "kind": "AuthorizationPolicy",
            "metadata": {"name": "p", "namespace": "default", "uid": "x", "resourceVersion": "1",
                         "generation": 2, "labels": {"a": "b"}, "managedFields": [{}],
                         "annotations": {"istio.io/dry-run": "true", "kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "spec": {"action": "DENY", "rules": [{}]},
            "status": {"validationMessages": []}
        }))
        .unwrap();
        assert!(r.meta.dry_run);
        assert_eq!(r.id(), "AuthorizationPolicy default/p");
    }

    #[test]
    fn unknown_fields_name_resource_and_path() {
        let e = parse(ap(
            json!({"rules": [{"from": [{"source": {"principalz": ["x"]}}]}]}),
        ))
        .unwrap_err();
        assert!(
            e.starts_with("AuthorizationPolicy default/p: spec.rules[0].from[0].source"),
            "{e}"
        );
        assert!(e.contains("principalz"), "{e}");
        let e = parse(ap(json!({"action": "REJECT"}))).unwrap_err();
        assert!(e.contains("spec.action") && e.contains("REJECT"), "{e}");
        let e = parse(ap(
            json!({"rules": [{"to": [{"operation": {"paths": "/x"}}]}]}),
        ))
        .unwrap_err();
        assert!(e.contains("spec.rules[0].to[0].operation.paths"), "{e}");
    }

    /// The exact messages: the resource, the path from `spec` (or from the resource's index
    /// for the envelope), serde_json's words.
    #[test]
    fn errors_name_the_exact_path() {
        const FIELDS: &str = "expected one of `principals`, `notPrincipals`, \
            `requestPrincipals`, `notRequestPrincipals`, `namespaces`, `notNamespaces`, \
            `ipBlocks`, `notIpBlocks`, `remoteIpBlocks`, `notRemoteIpBlocks`, `serviceAccounts`, \
            `notServiceAccounts`, `trustDomains`, `notTrustDomains`";
        let cases = [
            (
                json!({"rules": [{"from": [{"source": {"principalz": ["x"]}}]}]}),
                "spec.rules[0].from[0].source.principalz: unknown field `principalz`, FIELDS",
            ),
            (
                json!({"rules": [{}, {"from": [{}, {"source": {"": 1}}]}]}),
                "spec.rules[1].from[1].source.: unknown field ``, FIELDS",
            ),
            (
                json!({"rules": [{"to": [{"operation": {"paths": "/x"}}]}]}),
                r#"spec.rules[0].to[0].operation.paths: invalid type: string "/x", expected a sequence"#,
            ),
            (
                json!({"rules": [{"when": [{"values": ["a"]}]}]}),
                "spec.rules[0].when[0]: missing field `key`",
            ),
            (
                json!({"action": "REJECT"}),
                "spec.action: unknown variant `REJECT`, expected one of `ALLOW`, `DENY`, `AUDIT`, `CUSTOM`",
            ),
            // An enum is its name and a struct an object, as in Istio's schema (serde would
            // also take `{"ALLOW": null}` and a struct's fields as an array).
            (
                json!({"action": {"ALLOW": null}}),
                "spec.action: invalid type: map, expected a string",
            ),
            (
                json!({"action": 5}),
                "spec.action: invalid type: integer `5`, expected a string",
            ),
            (
                json!({"provider": ["p"]}),
                "spec.provider: invalid type: sequence, expected struct ExtensionProvider",
            ),
            (
                json!({"targetRef": ["Gateway"]}),
                "spec.targetRef: invalid type: sequence, expected struct PolicyTargetReference",
            ),
            (
                json!({"selector": {"matchLabels": {"app": 1.5}}}),
                "spec.selector.matchLabels.app: invalid type: floating point `1.5`, expected a string",
            ),
            (
                json!("x"),
                r#"spec: invalid type: string "x", expected struct AuthorizationPolicySpec"#,
            ),
        ];
        for (spec, expected) in cases {
            let expected = expected.replace("FIELDS", FIELDS);
            let e = parse(ap(spec.clone())).unwrap_err();
            assert_eq!(
                e,
                format!("AuthorizationPolicy default/p: {expected}"),
                "{spec}"
            );
        }

        let resource = |kind: &str, api: &str, spec: serde_json::Value| {
            json!({"apiVersion": api, "kind": kind,
                   "metadata": {"name": "p", "namespace": "n"}, "spec": spec})
        };
        let pa = json!({"portLevelMtls": {"8080": {"mode": "STRICTER"}}});
        assert_eq!(
            parse(resource("PeerAuthentication", "security.istio.io/v1", pa)).unwrap_err(),
            "PeerAuthentication n/p: spec.portLevelMtls.8080.mode: unknown variant `STRICTER`, \
             expected one of `UNSET`, `DISABLE`, `PERMISSIVE`, `STRICT`"
        );
        for (number, expected) in [
            (json!(-1), "invalid value: integer `-1`, expected u32"),
            (
                json!(1.5),
                "invalid type: floating point `1.5`, expected u32",
            ),
            (json!(null), "invalid type: null, expected u32"),
        ] {
            let se = json!({"hosts": ["a"], "ports": [{"number": number}]});
            assert_eq!(
                parse(resource("ServiceEntry", "networking.istio.io/v1", se)).unwrap_err(),
                format!("ServiceEntry n/p: spec.ports[0].number: {expected}")
            );
        }

        let envelope = |v| Resource::parse(3, &v).unwrap_err().0;
        assert_eq!(
            envelope(json!({"kind": "x", "metadata": {}})),
            "resources[3]: missing field `apiVersion`"
        );
        assert_eq!(
            envelope(json!({"apiVersion": "v", "kind": 1, "metadata": {}})),
            "resources[3].kind: invalid type: integer `1`, expected a string"
        );
        assert_eq!(
            envelope(json!({"apiVersion": "v", "kind": "k", "metadata": {"name": 1}})),
            "resources[3].metadata.name: invalid type: integer `1`, expected a string"
        );
    }

    #[test]
    fn envelope_errors() {
        let e = parse(
            json!({"apiVersion": "security.istio.io/v1", "kind": "Sidecar",
                             "metadata": {"name": "s", "namespace": "n"}}),
        )
        .unwrap_err();
        assert!(
            e.contains("Sidecar n/s") && e.contains("not supported"),
            "{e}"
        );
        let e = parse(
            json!({"apiVersion": "security.istio.io/v2", "kind": "AuthorizationPolicy",
                             "metadata": {"name": "s", "namespace": "n"}}),
        )
        .unwrap_err();
        assert!(e.contains("apiVersion"), "{e}");
        let e = parse(
            json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                             "metadata": {"name": "s"}}),
        )
        .unwrap_err();
        assert!(e.contains("metadata.namespace is required"), "{e}");
        let e =
            parse(json!({"kind": "AuthorizationPolicy", "metadata": {"name": "s"}})).unwrap_err();
        assert!(
            e.contains("resources[0]") && e.contains("apiVersion"),
            "{e}"
        );
        let e = parse(
            json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
                             "metadata": {"name": "s", "namespace": "n",
                                          "annotations": {"istio.io/dry-run": "yes"}}}),
        )
        .unwrap_err();
        assert!(e.contains("istio.io/dry-run"), "{e}");
    }

    #[test]
    fn go_bool() {
        assert_eq!(parse_go_bool("T"), Some(true));
        assert_eq!(parse_go_bool("0"), Some(false));
        assert_eq!(parse_go_bool("yes"), None);
    }
}
