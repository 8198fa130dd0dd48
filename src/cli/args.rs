//! The command line, as clap derives it: every flag, its help and its checks.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::net::IpAddr;
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "meshguard",
    version,
    about = "Istio's AuthorizationPolicy, RequestAuthentication and PeerAuthentication, decided offline by the engine the meshguard proxy plugin runs",
    long_about = "Istio's AuthorizationPolicy, RequestAuthentication and PeerAuthentication, decided \
offline by the engine the meshguard proxy plugin runs.\n\n\
Every command reads the operator's Istio YAML as written (files, directories, `-` for stdin; \
several documents per file) and builds the plugin's configuration from it, so the same loader \
validates it and gives the same messages.\n\n\
Exit codes: 0 allowed (check) or no error (lint); 1 denied (check) or errors found (lint); \
2 usage, input or configuration error."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide one request as the proxy would, and explain why.
    #[command(
        long_about = "Decide one request as the proxy would, and explain why: allow or \
deny, the status and body the proxy answers, the reason and deciding policy and rule, and for \
every other AuthorizationPolicy that applies to the workload, each rule's first field that did \
not match.\n\nExit code: 0 allowed, 1 denied, 2 usage or configuration error."
    )]
    Check(Box<CheckArgs>),
    /// Find mistakes in Istio security resources (severities, stable codes).
    #[command(long_about = LINT_HELP)]
    Lint(LintArgs),
    /// Write the WasmPlugin resource (or the Envoy configuration) for a workload.
    #[command(
        long_about = "Write the WasmPlugin resource for a workload (phase AUTHZ, \
failStrategy FAIL_CLOSE, selector from the workload's labels, the resources as pluginConfig), \
or with --format envoy the JSON configuration for a plain Envoy's wasm filter. The \
configuration is loaded by the plugin's own loader and compiled before anything is printed.\n\n\
Exit code: 0 written, 2 usage or configuration error."
    )]
    Render(RenderArgs),
}

const LINT_HELP: &str = "Find mistakes in Istio security resources.\n\n\
Findings (code, default severity):\n\
  MG001 error    the configuration is refused (unknown field, bad value...): the loader's message\n\
  MG002 warning  mTLS PERMISSIVE (or unset, which means PERMISSIVE) mesh-wide, in a namespace, a workload or a port\n\
  MG003 warning  mTLS DISABLE\n\
  MG004 error    a DENY policy without rules (Istio and meshguard refuse it)\n\
  MG005 warning  a workload every request to which is denied\n\
  MG006 warning  an ALLOW policy that can never allow anything: a DENY rule matching every request applies too\n\
  MG007 warning  requestPrincipals naming an issuer no RequestAuthentication configures\n\
  MG008 warning  a path that can never match after Envoy's path normalization\n\
  MG009 warning  a host listed without its `host:*` form\n\
  MG010 warning  a policy that can never apply (selector, namespace, targetRef)\n\
  MG011 error    a CUSTOM policy without provider\n\
  MG012 info     a CUSTOM policy: meshguard has no extension provider and denies what it matches\n\
  MG013 info     a dry-run policy: evaluated and reported, never enforced\n\
  MG014 info     a document meshguard does not read (Deployment, VirtualService...)\n\
  MG015 warning  a `*` inside a value, which Istio compares as the character `*`\n\n\
Workloads are the --workload values, or else one per selector seen.\n\n\
Exit code: 0 no error found, 1 errors found, 2 usage or input error.";

/// The YAML to read and the mesh settings every command needs.
#[derive(Debug, Args)]
pub struct Inputs {
    /// Istio YAML or JSON: files, directories (read recursively for *.yaml, *.yml, *.json) or `-` for stdin
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,

    /// MeshConfig's root namespace: its policies apply mesh-wide
    #[arg(long, value_name = "NS", default_value = "istio-system")]
    pub root_namespace: String,

    /// MeshConfig's trust domain: `cluster.local` principals in policies mean this one
    #[arg(long, value_name = "DOMAIN")]
    pub trust_domain: Option<String>,

    /// One of MeshConfig's trust domain aliases, repeatable
    #[arg(long = "trust-domain-alias", value_name = "DOMAIN")]
    pub trust_domain_aliases: Vec<String>,
}

impl Inputs {
    /// The mesh settings to put in every plugin configuration built from these inputs.
    pub fn mesh(&self) -> crate::cli::plugin::Mesh<'_> {
        crate::cli::plugin::Mesh {
            root_namespace: &self.root_namespace,
            trust_domain: self.trust_domain.as_deref(),
            trust_domain_aliases: &self.trust_domain_aliases,
        }
    }
}

/// Plugin settings that change decisions, passed to the configuration as written.
#[derive(Debug, Args)]
pub struct Settings {
    /// Which side of the proxy the plugin runs on (the plugin's `direction`)
    #[arg(long, value_enum)]
    pub direction: Option<DirectionArg>,

    /// MeshConfig's outboundTrafficPolicy.mode, for an outbound listener
    #[arg(long, value_name = "MODE", value_enum)]
    pub outbound_traffic_policy: Option<OutboundArg>,

    /// What STRICT mTLS does to a plaintext request (the plugin's `strictMtls`)
    #[arg(long, value_enum)]
    pub strict_mtls: Option<StrictArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DirectionArg {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OutboundArg {
    AllowAny,
    RegistryOnly,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StrictArg {
    Enforce,
    Report,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Output {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub inputs: Inputs,

    /// The workload receiving the request: <namespace>[/<label>=<value>,...]
    #[arg(long, value_name = "NS[/K=V,...]")]
    pub workload: String,

    /// The request: '<METHOD> <path>' (the path may carry a query string)
    #[arg(long, value_name = "'METHOD PATH'")]
    pub request: String,

    /// The :authority [default: <app label>.<namespace>.svc.cluster.local]
    #[arg(long, value_name = "HOST[:PORT]")]
    pub host: Option<String>,

    /// The port the connection reaches (`ports`, `destination.port`, portLevelMtls) [default: the
    /// --host port, else 80]
    #[arg(long, value_name = "N")]
    pub port: Option<u16>,

    /// The client's mTLS identity: cluster.local/ns/<ns>/sa/<sa> (or spiffe://...)
    #[arg(long, value_name = "IDENTITY", conflicts_with = "plaintext")]
    pub peer: Option<String>,

    /// The client has no certificate (the default when --peer is not given)
    #[arg(long)]
    pub plaintext: bool,

    /// A request header, repeatable: name=value
    #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
    pub headers: Vec<String>,

    /// A verified JWT payload (JSON): the token is taken as signed by the provider for its
    /// `iss`; issuer, time and audience are still checked
    #[arg(long, value_name = "JSON", conflicts_with = "jwt")]
    pub jwt_claims: Option<String>,

    /// A JWT, verified for real (placed where its issuer's RequestAuthentication reads tokens)
    #[arg(long, value_name = "TOKEN")]
    pub jwt: Option<String>,

    /// The JWKS a jwksUri serves (a file), for --jwt
    #[arg(long, value_name = "FILE", requires = "jwt")]
    pub jwks: Option<PathBuf>,

    /// The direct peer's address (`ipBlocks`, `source.ip`) [default: unknown]
    #[arg(long, value_name = "IP")]
    pub source_ip: Option<IpAddr>,

    /// The client address from X-Forwarded-For (`remoteIpBlocks`) [default: --source-ip]
    #[arg(long, value_name = "IP")]
    pub remote_ip: Option<IpAddr>,

    /// The address the connection reaches (`destination.ip`) [default: unknown]
    #[arg(long, value_name = "IP")]
    pub destination_ip: Option<IpAddr>,

    /// The TLS SNI (`connection.sni`)
    #[arg(long, value_name = "NAME")]
    pub sni: Option<String>,

    #[command(flatten)]
    pub settings: Settings,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub inputs: Inputs,

    /// A workload to check, repeatable: <namespace>[/<label>=<value>,...] [default: one per
    /// selector seen]
    #[arg(long, value_name = "NS[/K=V,...]")]
    pub workload: Vec<String>,

    /// Output format
    #[arg(short = 'o', long, value_enum, default_value_t)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// An extensions.istio.io/v1alpha1 WasmPlugin (YAML)
    #[default]
    Wasmplugin,
    /// The JSON configuration of Envoy's wasm filter (`configuration` value)
    Envoy,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub inputs: Inputs,

    /// The workload the plugin runs for: <namespace>[/<label>=<value>,...]
    #[arg(long, value_name = "NS[/K=V,...]")]
    pub workload: String,

    /// What to write
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,

    /// The WasmPlugin's name [default: meshguard-<app label>, or meshguard]
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The plugin image [default: oci://ghcr.io/meshguard/meshguard:<this version>]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    #[command(flatten)]
    pub settings: Settings,
}
