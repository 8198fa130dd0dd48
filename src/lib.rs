//! meshguard: Istio's AuthorizationPolicy, RequestAuthentication and PeerAuthentication,
//! enforced by a Proxy-Wasm filter inside Envoy.
//!
//! Everything but `host` is plain Rust, tested natively; `host` is the only code that talks
//! to the proxy.

pub mod audit;
pub mod authn;
pub mod config;
pub mod engine;
pub mod policy;
pub mod request;

pub mod host;
