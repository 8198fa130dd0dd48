//! meshguard: Istio's AuthorizationPolicy, RequestAuthentication and PeerAuthentication,
//! enforced by a Proxy-Wasm filter inside Envoy.
//!
//! Everything but `host` is plain Rust, tested natively; `host` is the only code that talks
//! to the proxy.

// A panic in the proxy takes the worker's VM down with it: no unwrap, expect, panic or
// unchecked indexing outside tests.
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod audit;
pub mod authn;
pub mod config;
pub mod egress;
pub mod engine;
pub mod gateway;
pub mod hostname;
pub mod json;
pub mod map;
pub mod metrics;
pub mod policy;
pub mod request;
pub mod sort;

pub mod host;

// The native `meshguard` command line: the same core, driven offline.
#[cfg(not(target_arch = "wasm32"))]
pub mod cli;
