//! Micro-benchmarks of meshguard's pure core (no Envoy, no V8): `make bench-core`.
//!
//! - `decide`: `Engine::decide` on a prepared request, for 10/100/1000/10000 policies, shaped
//!   as bench/istio.py generates them for `make bench` (about one DENY in ten, the rest ALLOW
//!   on requestPrincipals + methods + paths; one RequestAuthentication with an inline RS256
//!   2048-bit JWKS). Each request is decided by the LAST policy of its kind: without the rule
//!   index (src/policy/index.rs) every policy that cannot match would be evaluated, so the
//!   growth with the policy count is what the index leaves of that cost.
//!     - `valid_token`: the same token every time (verified once, then from the token cache)
//!     - `no_token`: anonymous, no ALLOW matches (403)
//!     - `denied`: valid token, the last DENY policy matches (403)
//! - `first_verification`: a token the cache has not seen (RS256 signature check natively;
//!   inside V8 the same code runs several times slower: bench/v8).
//! - `audit_line`: one audit entry rendered as its JSON line.
//! - `load`: configuration load, `PluginConfig::parse` + `Engine::new` (and each on its own).
//!
//! Divan's options apply: `cargo bench --bench core -- decide` runs one group,
//! `-- --sample-count 20` trades precision for time.

mod common;

use std::hint::black_box;

use common::{config_bytes, decide_expect, fixture, request, Signer, NOW};
use meshguard::config::PluginConfig;
use meshguard::engine::Engine;

fn main() {
    divan::main();
}

/// Policy counts; `MESHGUARD_BENCH_COUNTS=10,1000` narrows them (e.g. under a profiler).
fn counts() -> Vec<usize> {
    std::env::var("MESHGUARD_BENCH_COUNTS")
        .ok()
        .map(|v| v.split(',').filter_map(|x| x.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![10, 100, 1000, 10000])
}

// ---------------------------------------------------------------------------------------------
// Benchmarks

#[divan::bench_group(max_time = 1.5)]
mod decide {
    use super::*;

    #[divan::bench(args = counts())]
    fn valid_token(bencher: divan::Bencher, n: usize) {
        let f = fixture(n);
        let mut state = f.engine.authn.new_state();
        decide_expect(&f.engine, &mut f.valid.clone(), &mut state, true); // verified once, cached
        bencher
            .with_inputs(|| f.valid.clone())
            .bench_local_refs(|r| black_box(f.engine.decide(r, &mut state, NOW * 1000)));
    }

    #[divan::bench(args = counts())]
    fn no_token(bencher: divan::Bencher, n: usize) {
        let f = fixture(n);
        let mut state = f.engine.authn.new_state();
        decide_expect(&f.engine, &mut f.anonymous.clone(), &mut state, false);
        bencher
            .with_inputs(|| f.anonymous.clone())
            .bench_local_refs(|r| black_box(f.engine.decide(r, &mut state, NOW * 1000)));
    }

    #[divan::bench(args = counts())]
    fn denied(bencher: divan::Bencher, n: usize) {
        let f = fixture(n);
        let mut state = f.engine.authn.new_state();
        decide_expect(&f.engine, &mut f.denied.clone(), &mut state, false);
        bencher
            .with_inputs(|| f.denied.clone())
            .bench_local_refs(|r| black_box(f.engine.decide(r, &mut state, NOW * 1000)));
    }
}

/// The audit entry of an allowed request with a verified token, rendered to its JSON line.
#[divan::bench(max_time = 1.5)]
fn audit_line(bencher: divan::Bencher) {
    let f = fixture(10);
    let mut state = f.engine.authn.new_state();
    let mut r = f.valid.clone();
    let d = decide_expect(&f.engine, &mut r, &mut state, true);
    let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(NOW);
    let ctx = meshguard::audit::Context {
        request: &r,
        decision: &d,
        destination_address: Some("127.0.0.1:15006"),
        request_id: Some("6f0c9d7e-8a1b-4c2d-9e3f-0a1b2c3d4e5f"),
        status: Some(200),
        now,
    };
    bencher.bench_local(|| black_box(meshguard::audit::render(black_box(&ctx))));
}

/// A token the cache has never seen: parse, RS256 verification, cache insert, authorization.
#[divan::bench(max_time = 1.5)]
fn first_verification(bencher: divan::Bencher) {
    let f = fixture(10);
    // Enough distinct tokens that none repeats within a sample.
    let tokens: Vec<String> = (0..64)
        .map(|i| f.signer.token(&f.allowed_subject, &format!("first-{i}")))
        .collect();
    let mut i = 0;
    bencher
        .with_inputs(|| {
            i = (i + 1) % tokens.len();
            (
                request(&f.allowed_path, Some(&tokens[i])),
                f.engine.authn.new_state(),
            )
        })
        .bench_local_refs(|(r, state)| black_box(f.engine.decide(r, state, NOW * 1000)));
}

#[divan::bench_group(max_time = 2, sample_count = 20)]
mod load {
    use super::*;

    /// `PluginConfig::parse` + `Engine::new`: what `on_configure` does.
    #[divan::bench(args = counts())]
    fn parse_and_compile(bencher: divan::Bencher, n: usize) {
        let bytes = config_bytes(n, &Signer::new().jwks());
        bencher
            .counter(divan::counter::BytesCount::new(bytes.len()))
            .bench_local(|| {
                black_box(
                    Engine::new(
                        PluginConfig::parse(black_box(&bytes)).expect("config"),
                        None,
                    )
                    .expect("engine"),
                )
            });
    }

    #[divan::bench(args = counts())]
    fn parse(bencher: divan::Bencher, n: usize) {
        let bytes = config_bytes(n, &Signer::new().jwks());
        bencher.bench_local(|| black_box(PluginConfig::parse(black_box(&bytes)).expect("config")));
    }

    #[divan::bench(args = counts())]
    fn compile(bencher: divan::Bencher, n: usize) {
        let config = PluginConfig::parse(&config_bytes(n, &Signer::new().jwks())).expect("config");
        bencher
            .with_inputs(|| config.clone())
            .bench_local_values(|c| black_box(Engine::new(c, None).expect("engine")));
    }
}
