//! The configuration loader on arbitrary bytes: an error or an engine, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::config::{PluginConfig, Workload};
use meshguard::engine::Engine;

fuzz_target!(|data: &[u8]| {
    let node = Workload {
        namespace: "default".into(),
        labels: [("app".to_string(), "backend".to_string())].into(),
    };
    if let Ok(config) = PluginConfig::parse(data) {
        let _ = Engine::new(config, Some(node));
    }
});
