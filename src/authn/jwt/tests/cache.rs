//! The verified-token cache.

use super::*;

// --- The cache ----------------------------------------------------------------------------

#[test]
fn cache_hits_and_expiry() {
    let mut cache = TokenCache::default();
    let t = es256(claims());
    let v = Arc::new(check(&t).unwrap());
    assert!(cache.get(0, &t, NOW).is_none());
    cache.insert(0, &t, Arc::clone(&v), NOW);
    assert_eq!(cache.get(0, &t, NOW).as_deref(), Some(&*v));
    // Another provider, another token: misses.
    assert!(cache.get(1, &t, NOW).is_none());
    assert!(cache
        .get(0, &es256(claims_with(json!({"sub": "bob"}))), NOW)
        .is_none());
    // Expiry with the skew: still there at exp + 60, gone after.
    assert!(cache.get(0, &t, NOW + 3600 + 60).is_some());
    assert!(cache.get(0, &t, NOW + 3600 + 61).is_none());
    assert!(cache.is_empty());
    // A token without exp stays.
    let forever = es256(claims_with(json!({"exp": null})));
    cache.insert(0, &forever, Arc::new(check(&forever).unwrap()), NOW);
    assert!(cache.get(0, &forever, u64::MAX).is_some());
}

#[test]
fn cache_is_bounded_and_evicts_least_recently_used() {
    let mut cache = TokenCache::new(4);
    let tokens: Vec<String> = (0..6)
        .map(|i| hs256(claims_with(json!({ "sub": format!("u{i}") }))))
        .collect();
    let verified: Vec<Arc<VerifiedJwt>> =
        tokens.iter().map(|t| Arc::new(check(t).unwrap())).collect();
    for i in 0..4 {
        cache.insert(0, &tokens[i], Arc::clone(&verified[i]), NOW);
    }
    assert!(cache.get(0, &tokens[0], NOW).is_some());
    cache.insert(0, &tokens[4], Arc::clone(&verified[4]), NOW);
    assert_eq!(cache.len(), 4);
    assert!(
        cache.get(0, &tokens[1], NOW).is_none(),
        "least recently used goes"
    );
    assert!(cache.get(0, &tokens[0], NOW).is_some());
    // Expired entries go before live ones.
    let short = hs256(claims_with(json!({"sub": "short", "exp": NOW + 1})));
    let mut cache = TokenCache::new(2);
    cache.insert(0, &short, Arc::new(check(&short).unwrap()), NOW);
    cache.insert(0, &tokens[0], Arc::clone(&verified[0]), NOW);
    cache.get(0, &short, NOW);
    cache.insert(0, &tokens[1], Arc::clone(&verified[1]), NOW + 100);
    assert!(cache.get(0, &tokens[0], NOW + 100).is_some());
    assert!(cache.get(0, &tokens[1], NOW + 100).is_some());
}

#[test]
fn a_full_cache_makes_room_from_expired_entries_first() {
    let token = |sub: &str, exp: u64| hs256(claims_with(json!({ "sub": sub, "exp": exp })));
    let (expired_new, live_old, expired_old) = (
        token("a", NOW + 1),
        token("b", NOW + 3600),
        token("c", NOW + 1),
    );
    let mut cache = TokenCache::new(3);
    for t in [&live_old, &expired_old, &expired_new] {
        cache.insert(0, t, Arc::new(check(t).unwrap()), NOW);
    }
    // Used in this order: the live one is the least recently used of the three.
    for t in [&live_old, &expired_old, &expired_new] {
        assert!(cache.get(0, t, NOW).is_some());
    }
    let later = NOW + 100;
    let (d, e, f) = (
        token("d", later + 3600),
        token("e", later + 3600),
        token("f", later + 3600),
    );
    // Room is made one entry at a time: the older of the two expired ones, then the other.
    cache.insert(0, &d, Arc::new(check(&d).unwrap()), later);
    assert_eq!(cache.len(), 3);
    cache.insert(0, &e, Arc::new(check(&e).unwrap()), later);
    assert!(
        cache.get(0, &live_old, later).is_some(),
        "live entries stay while expired ones go"
    );
    assert!(cache.get(0, &expired_old, later).is_none());
    assert!(cache.get(0, &expired_new, later).is_none());
    // With none expired, the least recently used goes: d (e and live_old were used since).
    assert!(cache.get(0, &e, later).is_some());
    cache.insert(0, &f, Arc::new(check(&f).unwrap()), later);
    assert!(cache.get(0, &d, later).is_none());
    for t in [&live_old, &e, &f] {
        assert!(cache.get(0, t, later).is_some());
    }
}

#[test]
fn cache_clears_a_provider_on_key_rotation() {
    let mut cache = TokenCache::default();
    let t = es256(claims());
    let v = Arc::new(check(&t).unwrap());
    cache.insert(0, &t, Arc::clone(&v), NOW);
    cache.insert(1, &t, Arc::clone(&v), NOW);
    cache.clear_provider(0);
    assert!(cache.get(0, &t, NOW).is_none());
    assert!(cache.get(1, &t, NOW).is_some());
    // Nothing of the token in its debug form.
    let shown = format!("{cache:?}");
    assert!(!shown.contains(&t[..20]), "{shown}");
    cache.clear();
    assert!(cache.is_empty());
}

#[test]
fn cache_hit_is_cheap() {
    // Not a benchmark: a guard against a hit doing real work (a signature check costs
    // milliseconds in a debug build).
    let mut cache = TokenCache::default();
    let tokens: Vec<String> = (0..DEFAULT_CAPACITY)
        .map(|i| hs256(claims_with(json!({ "sub": format!("u{i}") }))))
        .collect();
    for t in &tokens {
        cache.insert(0, t, Arc::new(check(t).unwrap()), NOW);
    }
    let last = tokens.last().unwrap();
    let start = std::time::Instant::now();
    for _ in 0..1000 {
        assert!(cache.get(0, last, NOW).is_some());
    }
    let per_hit = start.elapsed() / 1000;
    assert!(
        per_hit < std::time::Duration::from_micros(500),
        "{per_hit:?}"
    );
}
