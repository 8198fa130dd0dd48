//! Tokens already verified, so a repeated token skips the signature check (RSA inside V8
//! costs ~640 µs; a hit costs a hash, a short scan and a compare).
//!
//! Entries are keyed by (provider index, token): the same token verified for one provider
//! says nothing about another. The full token is kept and compared, so a hash collision is
//! only a miss. Tokens are secrets: nothing here prints them.

use std::fmt;
use std::sync::Arc;

use super::verify::{check_time, VerifiedJwt};

/// Entries kept by default: enough for the distinct callers one worker sees between key
/// rotations; the scan over them costs well under a microsecond.
pub const DEFAULT_CAPACITY: usize = 256;

pub struct TokenCache {
    entries: Vec<Entry>,
    capacity: usize,
    /// Counts lookups and inserts, to find the least recently used entry.
    tick: u64,
}

struct Entry {
    provider: usize,
    hash: u64,
    /// The token's `exp` (0: none), here so that choosing what to evict reads the entries
    /// alone rather than every verified token behind its pointer, which a full cache did for
    /// each new token (~1.5 µs per first verification in Envoy).
    exp: u64,
    token: Box<str>,
    verified: Arc<VerifiedJwt>,
    last_used: u64,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(DEFAULT_CAPACITY)
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl TokenCache {
    pub fn new(capacity: usize) -> Self {
        TokenCache {
            entries: Vec::new(),
            capacity: capacity.max(1),
            tick: 0,
        }
    }

    /// The verified token, unless it has expired by `now` (with the clock skew); an expired
    /// entry is dropped. Issuer, signature, `nbf` and audiences held when it was inserted and
    /// cannot change for the same provider and keys; only time moves.
    pub fn get(&mut self, provider: usize, token: &str, now: u64) -> Option<Arc<VerifiedJwt>> {
        let hash = hash(token);
        let i = self
            .entries
            .iter()
            .position(|e| e.hash == hash && e.provider == provider && same(&e.token, token))?;
        let expired = self
            .entries
            .get(i)
            .is_some_and(|e| check_time(0, e.exp, now).is_err());
        if expired {
            self.entries.swap_remove(i);
            return None;
        }
        self.tick += 1;
        let entry = self.entries.get_mut(i)?;
        entry.last_used = self.tick;
        Some(Arc::clone(&entry.verified))
    }

    /// Remembers that `token` verified for `provider`. When full, one entry makes room: an
    /// expired one if there is one, else the least recently used.
    pub fn insert(&mut self, provider: usize, token: &str, verified: Arc<VerifiedJwt>, now: u64) {
        let hash = hash(token);
        self.tick += 1;
        if let Some(entry) = self
            .entries
            .iter_mut()
            .find(|e| e.hash == hash && e.provider == provider && same(&e.token, token))
        {
            entry.exp = verified.exp.unwrap_or(0);
            entry.verified = verified;
            entry.last_used = self.tick;
            return;
        }
        if self.entries.len() >= self.capacity {
            // `false` (expired) orders first, then the least recently used.
            if let Some(victim) = self
                .entries
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| (check_time(0, e.exp, now).is_ok(), e.last_used))
                .map(|(i, _)| i)
            {
                self.entries.swap_remove(victim);
            }
        }
        self.entries.push(Entry {
            provider,
            hash,
            exp: verified.exp.unwrap_or(0),
            token: token.into(),
            verified,
            last_used: self.tick,
        });
    }

    /// Forgets every token of `provider`: its keys changed (rotation, a new fetch).
    pub fn clear_provider(&mut self, provider: usize) {
        self.entries.retain(|e| e.provider != provider);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// A fingerprint, not a hash of the whole token: its length and its last 16 bytes, which are
/// signature bytes for any token that verified (tokens of one issuer share their first bytes,
/// the header). Hashing ~1 KB per request cost more inside V8 than the rest of a cache hit; a
/// fingerprint shared by two tokens only costs a compare, since the full token is compared.
fn hash(token: &str) -> u64 {
    let b = token.as_bytes();
    let tail = |from_end: usize| {
        let end = b.len().saturating_sub(from_end);
        let mut w = [0u8; 8];
        for (d, s) in w
            .iter_mut()
            .zip(b.get(end.saturating_sub(8)..end).unwrap_or_default())
        {
            *d = *s;
        }
        u64::from_le_bytes(w)
    };
    (b.len() as u64) ^ tail(0) ^ tail(8).rotate_left(29)
}

/// Byte equality eight bytes at a time: the module's `memcmp` goes byte by byte, and a hit
/// compares the whole token.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let (wa, wb) = (a.chunks_exact(8), b.chunks_exact(8));
    let rest = wa.remainder() == wb.remainder();
    rest && wa.zip(wb).all(|(x, y)| {
        let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
        word(x) == word(y)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_only_byte_for_byte() {
        let t = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2lnbmF0dXJlLWJ5dGVz";
        assert!(same(t, t));
        // Every single-byte change, and every length change, is another token, whatever the
        // fingerprint says (the middle of a token is not in it).
        for i in 0..t.len() {
            let mut b = t.as_bytes().to_vec();
            b[i] ^= 1;
            let other = String::from_utf8(b).unwrap();
            assert!(!same(t, &other), "byte {i}");
        }
        assert!(!same(t, &t[..t.len() - 1]));
        assert!(!same("", "a"));
        assert!(same("", ""));
        // Same tail, same length: one fingerprint, still two tokens.
        let (a, b) = ("xa.b.signature-tail-16", "xb.b.signature-tail-16");
        assert_eq!(hash(a), hash(b));
        assert!(!same(a, b));
        assert_ne!(hash("a.b.c"), hash("a.b.cc"));
    }
}
