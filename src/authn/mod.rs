//! Authentication: the mTLS mode PeerAuthentication gives each port, and where
//! RequestAuthentication says tokens are carried.

pub mod mtls;
pub mod tokens;
