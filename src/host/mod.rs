//! The thin host adapter: the only code that talks to proxy-wasm. `decode` and `connections`
//! are pure (and tested natively); `plugin` holds the contexts and is built for wasm32 only.

pub mod connections;
pub mod decode;

#[cfg(target_arch = "wasm32")]
mod calls;
#[cfg(target_arch = "wasm32")]
mod plugin;
#[cfg(target_arch = "wasm32")]
mod stats;
