//! The `spec` of each supported Istio resource, field for field as istio/api defines it
//! (security/v1beta1 and v1 share one schema). Unknown fields are refused so a typo never turns
//! into a rule that silently matches more or less than the operator wrote.

use super::read::{read_enum, read_struct};
use crate::map::SortedMap;

#[derive(Debug, Clone, Default)]
pub struct WorkloadSelector {
    pub match_labels: SortedMap<String, String>,
}
read_struct!(WorkloadSelector, Refuse {
    "matchLabels" => match_labels,
});

#[derive(Debug, Clone, Default)]
pub struct PolicyTargetReference {
    pub group: Option<String>,
    pub kind: String,
    pub name: String,
    pub namespace: Option<String>,
}
read_struct!(PolicyTargetReference, Refuse {
    "group" => group,
    required "kind" => kind,
    required "name" => name,
    "namespace" => namespace,
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Allow,
    Deny,
    Audit,
    Custom,
}
read_enum!(Action {
    "ALLOW" => Allow,
    "DENY" => Deny,
    "AUDIT" => Audit,
    "CUSTOM" => Custom,
});

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Audit => "AUDIT",
            Action::Custom => "CUSTOM",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuthorizationPolicySpec {
    pub selector: Option<WorkloadSelector>,
    pub target_ref: Option<PolicyTargetReference>,
    pub target_refs: Option<Vec<PolicyTargetReference>>,
    pub action: Option<Action>,
    pub provider: Option<ExtensionProvider>,
    pub rules: Option<Vec<Rule>>,
}
read_struct!(AuthorizationPolicySpec, Refuse {
    "selector" => selector,
    "targetRef" => target_ref,
    "targetRefs" => target_refs,
    "action" => action,
    "provider" => provider,
    "rules" => rules,
});

#[derive(Debug, Clone, Default)]
pub struct ExtensionProvider {
    pub name: String,
}
read_struct!(ExtensionProvider, Refuse {
    required "name" => name,
});

#[derive(Debug, Clone, Default)]
pub struct Rule {
    pub from: Option<Vec<From>>,
    pub to: Option<Vec<To>>,
    pub when: Option<Vec<Condition>>,
}
read_struct!(Rule, Refuse {
    "from" => from,
    "to" => to,
    "when" => when,
});

#[derive(Debug, Clone, Default)]
pub struct From {
    pub source: Option<Source>,
}
read_struct!(From, Refuse {
    "source" => source,
});

#[derive(Debug, Clone, Default)]
pub struct To {
    pub operation: Option<Operation>,
}
read_struct!(To, Refuse {
    "operation" => operation,
});

pub type Values = Option<Vec<String>>;

#[derive(Debug, Clone, Default)]
pub struct Source {
    pub principals: Values,
    pub not_principals: Values,
    pub request_principals: Values,
    pub not_request_principals: Values,
    pub namespaces: Values,
    pub not_namespaces: Values,
    pub ip_blocks: Values,
    pub not_ip_blocks: Values,
    pub remote_ip_blocks: Values,
    pub not_remote_ip_blocks: Values,
    pub service_accounts: Values,
    pub not_service_accounts: Values,
    pub trust_domains: Values,
    pub not_trust_domains: Values,
}
read_struct!(Source, Refuse {
    "principals" => principals,
    "notPrincipals" => not_principals,
    "requestPrincipals" => request_principals,
    "notRequestPrincipals" => not_request_principals,
    "namespaces" => namespaces,
    "notNamespaces" => not_namespaces,
    "ipBlocks" => ip_blocks,
    "notIpBlocks" => not_ip_blocks,
    "remoteIpBlocks" => remote_ip_blocks,
    "notRemoteIpBlocks" => not_remote_ip_blocks,
    "serviceAccounts" => service_accounts,
    "notServiceAccounts" => not_service_accounts,
    "trustDomains" => trust_domains,
    "notTrustDomains" => not_trust_domains,
});

#[derive(Debug, Clone, Default)]
pub struct Operation {
    pub hosts: Values,
    pub not_hosts: Values,
    pub ports: Values,
    pub not_ports: Values,
    pub methods: Values,
    pub not_methods: Values,
    pub paths: Values,
    pub not_paths: Values,
}
read_struct!(Operation, Refuse {
    "hosts" => hosts,
    "notHosts" => not_hosts,
    "ports" => ports,
    "notPorts" => not_ports,
    "methods" => methods,
    "notMethods" => not_methods,
    "paths" => paths,
    "notPaths" => not_paths,
});

#[derive(Debug, Clone, Default)]
pub struct Condition {
    pub key: String,
    pub values: Values,
    pub not_values: Values,
}
read_struct!(Condition, Refuse {
    required "key" => key,
    "values" => values,
    "notValues" => not_values,
});

#[derive(Debug, Clone, Default)]
pub struct RequestAuthenticationSpec {
    pub selector: Option<WorkloadSelector>,
    pub target_ref: Option<PolicyTargetReference>,
    pub target_refs: Option<Vec<PolicyTargetReference>>,
    pub jwt_rules: Vec<JwtRule>,
}
read_struct!(RequestAuthenticationSpec, Refuse {
    "selector" => selector,
    "targetRef" => target_ref,
    "targetRefs" => target_refs,
    "jwtRules" => jwt_rules,
});

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtRule {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    pub jwks: Option<String>,
    pub from_headers: Vec<JwtHeader>,
    pub from_params: Vec<String>,
    pub from_cookies: Vec<String>,
    pub output_payload_to_header: Option<String>,
    pub forward_original_token: bool,
    pub output_claim_to_headers: Vec<ClaimToHeader>,
    pub timeout: Option<String>,
    pub space_delimited_claims: Vec<String>,
}
read_struct!(JwtRule, Refuse {
    "issuer" => issuer,
    "audiences" => audiences,
    "jwksUri" => jwks_uri,
    "jwks" => jwks,
    "fromHeaders" => from_headers,
    "fromParams" => from_params,
    "fromCookies" => from_cookies,
    "outputPayloadToHeader" => output_payload_to_header,
    "forwardOriginalToken" => forward_original_token,
    "outputClaimToHeaders" => output_claim_to_headers,
    "timeout" => timeout,
    "spaceDelimitedClaims" => space_delimited_claims,
});

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JwtHeader {
    pub name: String,
    pub prefix: Option<String>,
}
read_struct!(JwtHeader, Refuse {
    required "name" => name,
    "prefix" => prefix,
});

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClaimToHeader {
    pub header: String,
    pub claim: String,
}
read_struct!(ClaimToHeader, Refuse {
    required "header" => header,
    required "claim" => claim,
});

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MtlsMode {
    #[default]
    Unset,
    Disable,
    Permissive,
    Strict,
}
read_enum!(MtlsMode {
    "UNSET" => Unset,
    "DISABLE" => Disable,
    "PERMISSIVE" => Permissive,
    "STRICT" => Strict,
});

impl MtlsMode {
    pub fn as_str(self) -> &'static str {
        match self {
            MtlsMode::Unset => "UNSET",
            MtlsMode::Disable => "DISABLE",
            MtlsMode::Permissive => "PERMISSIVE",
            MtlsMode::Strict => "STRICT",
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Mtls {
    pub mode: MtlsMode,
}
read_struct!(Mtls, Refuse {
    "mode" => mode,
});

#[derive(Debug, Clone, Default)]
pub struct PeerAuthenticationSpec {
    pub selector: Option<WorkloadSelector>,
    pub mtls: Option<Mtls>,
    /// Keys are port numbers written as strings (JSON object keys).
    pub port_level_mtls: Option<SortedMap<String, Mtls>>,
}
read_struct!(PeerAuthenticationSpec, Refuse {
    "selector" => selector,
    "mtls" => mtls,
    "portLevelMtls" => port_level_mtls,
});

#[derive(Debug, Clone, Default)]
pub struct ServicePort {
    pub number: u32,
    pub protocol: Option<String>,
    pub name: Option<String>,
    pub target_port: Option<u32>,
}
read_struct!(ServicePort, Refuse {
    required "number" => number,
    "protocol" => protocol,
    "name" => name,
    "targetPort" => target_port,
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    MeshExternal,
    MeshInternal,
}
read_enum!(Location {
    "MESH_EXTERNAL" => MeshExternal,
    "MESH_INTERNAL" => MeshInternal,
});

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    None,
    Static,
    Dns,
    DnsRoundRobin,
}
read_enum!(Resolution {
    "NONE" => None,
    "STATIC" => Static,
    "DNS" => Dns,
    "DNS_ROUND_ROBIN" => DnsRoundRobin,
});

#[derive(Debug, Clone, Default)]
pub struct LabelSelector {
    pub labels: SortedMap<String, String>,
}
read_struct!(LabelSelector, Refuse {
    "labels" => labels,
});

/// networking.istio.io ServiceEntry. Only `hosts` and `ports` decide egress; the rest is
/// type-checked and kept (endpoints are Envoy's routing business, not a filter's).
#[derive(Debug, Clone, Default)]
pub struct ServiceEntrySpec {
    pub hosts: Vec<String>,
    pub addresses: Vec<String>,
    pub ports: Vec<ServicePort>,
    pub location: Option<Location>,
    pub resolution: Option<Resolution>,
    pub endpoints: Vec<serde_json::Value>,
    pub workload_selector: Option<LabelSelector>,
    /// Ignored: a plugin configuration is already per workload.
    pub export_to: Vec<String>,
    pub subject_alt_names: Vec<String>,
}
read_struct!(ServiceEntrySpec, Refuse {
    "hosts" => hosts,
    "addresses" => addresses,
    "ports" => ports,
    "location" => location,
    "resolution" => resolution,
    "endpoints" => endpoints,
    "workloadSelector" => workload_selector,
    "exportTo" => export_to,
    "subjectAltNames" => subject_alt_names,
});

/// networking.istio.io Gateway.
#[derive(Debug, Clone, Default)]
pub struct GatewaySpec {
    pub selector: SortedMap<String, String>,
    pub servers: Vec<Server>,
}
read_struct!(GatewaySpec, Refuse {
    "selector" => selector,
    "servers" => servers,
});

#[derive(Debug, Clone, Default)]
pub struct Server {
    pub port: Option<ServicePort>,
    pub bind: Option<String>,
    pub hosts: Vec<String>,
    pub tls: Option<ServerTls>,
    pub default_endpoint: Option<String>,
    pub name: Option<String>,
}
read_struct!(Server, Refuse {
    "port" => port,
    "bind" => bind,
    "hosts" => hosts,
    "tls" => tls,
    "defaultEndpoint" => default_endpoint,
    "name" => name,
});

/// Gateway TLS settings. Only `httpsRedirect` is the plugin's to act on; terminating TLS
/// (`mode`, certificates) is the Envoy listener's job.
#[derive(Debug, Clone, Default)]
pub struct ServerTls {
    pub https_redirect: bool,
    pub mode: Option<String>,
    pub server_certificate: Option<String>,
    pub private_key: Option<String>,
    pub ca_certificates: Option<String>,
    pub ca_crl: Option<String>,
    pub credential_name: Option<String>,
    pub credential_names: Vec<String>,
    pub subject_alt_names: Vec<String>,
    pub verify_certificate_spki: Vec<String>,
    pub verify_certificate_hash: Vec<String>,
    pub min_protocol_version: Option<String>,
    pub max_protocol_version: Option<String>,
    pub cipher_suites: Vec<String>,
}
read_struct!(ServerTls, Refuse {
    "httpsRedirect" => https_redirect,
    "mode" => mode,
    "serverCertificate" => server_certificate,
    "privateKey" => private_key,
    "caCertificates" => ca_certificates,
    "caCrl" => ca_crl,
    "credentialName" => credential_name,
    "credentialNames" => credential_names,
    "subjectAltNames" => subject_alt_names,
    "verifyCertificateSpki" => verify_certificate_spki,
    "verifyCertificateHash" => verify_certificate_hash,
    "minProtocolVersion" => min_protocol_version,
    "maxProtocolVersion" => max_protocol_version,
    "cipherSuites" => cipher_suites,
});
