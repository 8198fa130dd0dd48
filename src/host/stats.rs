//! Envoy counters for decisions and JWKS fetches. Counter ids are defined on first use and
//! cached. A request only adds to in-memory deltas; `flush` hands them to Envoy, from the root
//! context's tick (every 200 ms), so the host calls are per tick, not per counter per request.
//! Envoy itself publishes stats every few seconds, so nothing a dashboard sees is delayed.

use super::calls;
use crate::engine::{Decision, Engine};
use crate::map::SortedMap;
use crate::metrics;
use std::cell::RefCell;

/// A policy's (allowed, denied) counter ids.
type PolicyCounters = (Option<u32>, Option<u32>);

#[derive(Default)]
pub struct Stats {
    /// The fixed counters' ids: a dozen names at most, scanned (a name is found by its
    /// address first), which costs less per request than a map's string comparisons.
    ids: RefCell<Vec<(&'static str, Option<u32>)>>,
    /// Per deciding policy: its (allowed, denied) counters.
    policies: RefCell<SortedMap<String, PolicyCounters>>,
    /// Counter id -> what to add at the next flush.
    pending: RefCell<SortedMap<u32, u64>>,
}

impl Stats {
    pub fn increment(&self, name: &'static str) {
        let mut ids = self.ids.borrow_mut();
        let id = match ids
            .iter()
            .find(|(n, _)| std::ptr::eq(*n, name) || *n == name)
        {
            Some((_, id)) => *id,
            None => {
                let id = calls::define_counter(name);
                ids.push((name, id));
                id
            }
        };
        drop(ids);
        if let Some(id) = id {
            self.add(id);
        }
    }

    fn add(&self, id: u32) {
        let mut pending = self.pending.borrow_mut();
        pending.update(id, || 0, |n| *n = n.saturating_add(1));
    }

    /// Hands the deltas to Envoy: one host call per counter that changed.
    pub fn flush(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        for (id, n) in pending {
            calls::increment(id, n);
        }
    }

    /// The counters of one decision, and the filter state the access log reads (when asked).
    pub fn record(&self, engine: &Engine, d: &Decision) {
        for name in metrics::counters(d) {
            self.increment(name);
        }
        if let Some(policy) = d.policy.as_deref() {
            let mut policies = self.policies.borrow_mut();
            // Looked up by &str first: the name is allocated once per policy, not per request.
            let ids = match policies.get(policy) {
                Some(ids) => *ids,
                None => {
                    // Once per policy: its place in the configuration bounds the counters' number.
                    let rank = engine.policy_rank(policy);
                    let define = |allow: bool| {
                        metrics::policy_counter(policy, allow, rank)
                            .and_then(|n| calls::define_counter(&n))
                    };
                    let ids = (define(true), define(false));
                    policies.insert(policy.to_string(), ids);
                    ids
                }
            };
            if let Some(id) = if d.allow { ids.0 } else { ids.1 } {
                self.add(id);
            }
        }
        if engine.filter_state {
            calls::set_filter_state("meshguard_decision", if d.allow { "allow" } else { "deny" });
            calls::set_filter_state("meshguard_reason", d.reason.as_str());
            calls::set_filter_state("meshguard_policy", d.policy.as_deref().unwrap_or("-"));
        }
    }
}
