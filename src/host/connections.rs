//! What the adapter knows about the connections requests arrive on, by Envoy's connection id.
//!
//! The facts of a connection (peer certificate, destination, listener direction, SNI) cost a
//! host call each, ~1 µs apiece, and cannot change while the connection lasts; a stream only
//! learns its connection's id. Envoy numbers connections from one process-wide counter, so an
//! id is never reused and a cached entry can never describe another connection.
//!
//! A worker interleaves requests from many connections (a load balancer's or a client pool's),
//! so one remembered connection misses on nearly every request; this keeps the most recent
//! `CAPACITY` and forgets the oldest first. A forgotten connection is read again, never
//! guessed. An HTTP filter is not told when a connection closes, hence the bound.

/// Connections remembered per configuration and worker.
pub const CAPACITY: usize = 64;

/// The last `CAPACITY` connections' facts, oldest replaced first.
#[derive(Debug)]
pub struct ConnectionCache<T> {
    /// Scanned on every request: kept apart from the entries, so the scan reads ids only.
    ids: Vec<i64>,
    entries: Vec<T>,
    /// The slot the next new connection takes once full.
    next: usize,
}

impl<T> Default for ConnectionCache<T> {
    fn default() -> Self {
        ConnectionCache {
            ids: Vec::with_capacity(CAPACITY),
            entries: Vec::with_capacity(CAPACITY),
            next: 0,
        }
    }
}

impl<T> ConnectionCache<T> {
    pub fn get(&self, id: i64) -> Option<&T> {
        let slot = self.ids.iter().position(|&i| i == id)?;
        self.entries.get(slot)
    }

    /// Remembers `facts` for `id` (not already present: `get` missed), replacing the oldest
    /// entry when full.
    pub fn insert(&mut self, id: i64, facts: T) {
        if self.ids.len() < CAPACITY {
            self.ids.push(id);
            self.entries.push(facts);
            return;
        }
        if let (Some(i), Some(e)) = (self.ids.get_mut(self.next), self.entries.get_mut(self.next)) {
            *i = id;
            *e = facts;
        }
        self.next = (self.next + 1) % CAPACITY;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_connections_and_forgets_the_oldest_first() {
        let mut c = ConnectionCache::default();
        assert_eq!(c.get(1), None);
        for id in 0..CAPACITY as i64 {
            c.insert(id, id * 10);
        }
        for id in 0..CAPACITY as i64 {
            assert_eq!(c.get(id), Some(&(id * 10)), "{id}");
        }
        // Full: each new connection takes the oldest one's place.
        let n = CAPACITY as i64;
        c.insert(n, n * 10);
        assert_eq!(c.get(0), None);
        assert_eq!(c.get(1), Some(&10));
        assert_eq!(c.get(n), Some(&(n * 10)));
        c.insert(n + 1, 7);
        assert_eq!(c.get(1), None);
        assert_eq!(c.get(n + 1), Some(&7));
        // A whole second round: only the newest CAPACITY remain, each with its own facts.
        for id in 1000..1000 + 2 * n {
            c.insert(id, id);
        }
        for id in 1000..1000 + n {
            assert_eq!(c.get(id), None, "{id}");
        }
        for id in 1000 + n..1000 + 2 * n {
            assert_eq!(c.get(id), Some(&id), "{id}");
        }
    }
}
