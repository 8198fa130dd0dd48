//! Authentication: the mTLS mode PeerAuthentication gives each port, and where
//! RequestAuthentication says tokens are carried.

pub mod jwks_remote;
pub mod jwt;
pub mod mtls;
pub mod request_authn;
mod requirement;
pub mod tokens;
