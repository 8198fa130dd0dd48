//! Envoy counters for decisions and JWKS fetches, defined once per VM and configuration.

use super::calls;
use crate::engine::{Decision, Engine};
use crate::metrics;
use std::cell::RefCell;
use std::collections::BTreeMap;

#[derive(Default)]
pub struct Stats {
    ids: RefCell<BTreeMap<String, Option<u32>>>,
}

impl Stats {
    pub fn increment(&self, name: &str) {
        let mut ids = self.ids.borrow_mut();
        let id = match ids.get(name) {
            Some(id) => *id,
            None => {
                let id = calls::define_counter(name);
                ids.insert(name.to_string(), id);
                id
            }
        };
        if let Some(id) = id {
            calls::increment(id);
        }
    }

    /// The counters of one decision, and the filter state the access log reads.
    pub fn record(&self, engine: &Engine, d: &Decision) {
        for name in metrics::counters(d) {
            self.increment(name);
        }
        let rank = d.policy.as_deref().and_then(|p| engine.policy_rank(p));
        if let Some(name) = metrics::policy_counter(d, rank) {
            self.increment(&name);
        }
        calls::set_filter_state("meshguard_decision", if d.allow { "allow" } else { "deny" });
        calls::set_filter_state("meshguard_reason", d.reason.as_str());
        calls::set_filter_state("meshguard_policy", d.policy.as_deref().unwrap_or("-"));
    }
}
