//! Micro-benchmarks of meshguard's pure core (no Envoy, no V8): `make bench-core`.
//!
//! - `decide`: `Engine::decide` on a prepared request, for 10/100/1000/10000 policies, shaped
//!   as bench/istio.py generates them for `make bench` (about one DENY in ten, the rest ALLOW
//!   on requestPrincipals + methods + paths; one RequestAuthentication with an inline RS256
//!   2048-bit JWKS). Each request is decided by the LAST policy of its kind, so every policy
//!   that cannot match is evaluated: the growth with the policy count is the per-request cost
//!   of policies that cannot match.
//!     - `valid_token`: the same token every time (verified once, then from the token cache)
//!     - `no_token`: anonymous, no ALLOW matches (403)
//!     - `denied`: valid token, the last DENY policy matches (403)
//! - `first_verification`: a token the cache has not seen (RS256 signature check natively;
//!   inside V8 the same code runs ~10-20x slower).
//! - `load`: configuration load, `PluginConfig::parse` + `Engine::new` (and each on its own).
//!
//! Divan's options apply: `cargo bench --bench core -- decide` runs one group,
//! `-- --sample-count 20` trades precision for time.

use std::hint::black_box;

use jwt_compact::alg::Rsa;
use jwt_compact::{Algorithm, AlgorithmSignature};
use meshguard::config::PluginConfig;
use meshguard::engine::{Engine, Step};
use meshguard::request::{Peer, Request};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{json, Value};

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
const ISSUER: &str = "https://issuer.bench.local";
const KID: &str = "bench-rsa-2048";
const HOST: &str = "backend.default.svc.cluster.local";
/// The proxy's clock (seconds); tokens are valid for a day around it.
const NOW: u64 = 1_700_000_000;

/// A 2048-bit RSA key for the benchmark only (n, e, d, p, q, base64url).
const RSA_2048: [&str; 5] = [
    "odcUmDa3zMFGrKITQv3lJRs9uajn4b1Q_kKxh50_J4iBU-guexGFuK9e6l2ZkaebUsjXDaHzs80ZhmPFm5ARCNnal6z2jH6gwiSMguvYaCeRfJgCNcm-tfDMsQzIEUje9wc5tyctT923pPee1XAEQ3qytjcOsRb3m2bO0IFyBsBKDLPAjbMxHepftiiRuuZ0UUKpUIb8XrreXV8x4wX9g0mX2XuW622dQ_m1gh4ipK1EO8r5_I4tfgI9962Rx0VIodLNfJjh3UtTkJv0z8r87RVtq0TPbz9OlGmxRaaA-Kmx6WwJuCz1fYkZbkxUrQW48rG2UZZcDiYnXMhYUPcCow",
    "AQAB",
    "FLsjZTglJTJg5j5Ar2UslCtAJecwBOemV1uduBx5eYvv3Rqx0Yv2EClOxEDHKjRJHjqh6ZokSJTuPxvKtVmoBPU7HhDG6EpUN2pNIXwqlXT0Gvyx08gLCO1WmxtjCWvHO-eOChsXn9Jr8tLRYs_di_NMrzCwThj-EMcDmQvr2ldVIgoqZz19SheW4FBw_HbvkaS9-lsD7UaIsBOKPep0-f-_d2V3XGB2LwSxkEI47Y2S9qBAyPvtpkDHluR48sNokIHASUD4lhmYgmaXGY7JjvYZqTt4g5dnauCU0a8oCejCbfymn3232QEyW34d8O8IrI6YAZc7btUFBWEewQyFYQ",
    "2XPF9tldk8y-8gF0ygnEd8P8gru3c0G4sj1PwWBwTktE421XVc35ukzx0V94baJ1TDaOy4YhCzkbNVsu1QHSvKmLroA1LEy37EQIPm8sY3NF5jsq9DXVP2AhE2eM0zE5fqTxJ2iJuVLkBcB6QxTuZzvqCRZOFtf0hfjE7bX9Z_M",
    "voeRh22Ho7vP4q9i9fw2U0KVemBzvTBT7ca0dxU9vfbUctMfgTA-G6OpvMTDAaXWAVh6YJ5aJaYDjPd9AQp5y17CehpTvC4LA6TLSdAkCgnBHeMHuE5tadr3PI1SULVUrxzdi4zj7wY7tTeMjxOnqS8p2e4_D3K96KydtrbO1pE",
];

// ---------------------------------------------------------------------------------------------
// base64url and the signer

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn b64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + 2);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn unb64(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes() {
        let v = B64.iter().position(|&x| x == c).expect("base64url") as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

struct Signer {
    key: RsaPrivateKey,
}

impl Signer {
    fn new() -> Self {
        let [n, e, d, p, q] = RSA_2048.map(|s| BigUint::from_bytes_be(&unb64(s)));
        let mut key = RsaPrivateKey::from_components(n, e, d, vec![p, q]).expect("RSA key");
        key.precompute().expect("RSA precompute");
        Signer { key }
    }

    fn jwks(&self) -> String {
        json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig",
                         "n": b64(&self.key.n().to_bytes_be()), "e": b64(&self.key.e().to_bytes_be())}]})
        .to_string()
    }

    fn token(&self, sub: &str, jti: &str) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
        let payload = json!({"iss": ISSUER, "sub": sub, "aud": HOST, "iat": NOW, "exp": NOW + 86400,
                             "jti": jti, "scope": "read write"});
        let input = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(payload.to_string().as_bytes())
        );
        let sig = Rsa::rs256().sign(&self.key, input.as_bytes());
        format!("{input}.{}", b64(&sig.as_bytes()))
    }
}

// ---------------------------------------------------------------------------------------------
// The policies (as bench/istio.py generates them)

fn split(n: usize) -> (usize, usize) {
    let deny = (n / 10).max(1);
    (n - deny, deny)
}

fn meta(name: String) -> Value {
    json!({"name": name, "namespace": "default"})
}

fn allow_policy(i: usize) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": meta(format!("allow-{i:05}")),
           "spec": {"selector": {"matchLabels": {"app": "backend"}}, "action": "ALLOW", "rules": [
               {"from": [{"source": {"requestPrincipals": [format!("{ISSUER}/svc-{i}"), format!("{ISSUER}/ops-{i}-*")]}}],
                "to": [{"operation": {"methods": ["GET", "POST"],
                                      "paths": [format!("/api/v1/svc-{i}/*"), format!("/api/v1/svc-{i}")]}}]},
               {"to": [{"operation": {"methods": ["GET"], "paths": [format!("/public/{i}/*")]}}]}]}})
}

fn deny_policy(j: usize) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": meta(format!("deny-{j:05}")),
           "spec": {"selector": {"matchLabels": {"app": "backend"}}, "action": "DENY", "rules": [
               {"from": [{"source": {"requestPrincipals": [format!("{ISSUER}/blocked-{j}")]}}]},
               {"to": [{"operation": {"paths": [format!("/admin/{j}/*")]}}]}]}})
}

fn config_bytes(n: usize, jwks: &str) -> Vec<u8> {
    let (allow, deny) = split(n);
    let mut resources: Vec<Value> = (0..allow).map(allow_policy).collect();
    resources.extend((0..deny).map(deny_policy));
    resources.push(
        json!({"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
        "metadata": meta("bench-jwt".into()),
        "spec": {"selector": {"matchLabels": {"app": "backend"}}, "jwtRules": [{
            "issuer": ISSUER, "jwks": jwks,
            "fromHeaders": [{"name": "Authorization", "prefix": "Bearer "}],
            "fromParams": ["access_token"]}]}}),
    );
    json!({"workload": {"namespace": "default", "labels": {"app": "backend"}},
           "rootNamespace": "istio-system", "trustDomain": "cluster.local",
           "audit": {"log": "all"}, "resources": resources})
    .to_string()
    .into_bytes()
}

/// A request as the host adapter builds it from Envoy's headers (what wrk sends, plus what
/// Envoy's connection manager adds).
fn request(path: &str, token: Option<&str>) -> Request {
    let mut headers: Vec<(String, Vec<u8>)> = vec![
        (":authority".into(), HOST.into()),
        (":path".into(), path.into()),
        (":method".into(), b"GET".to_vec()),
        (":scheme".into(), b"http".to_vec()),
        ("x-forwarded-proto".into(), b"http".to_vec()),
        (
            "x-request-id".into(),
            b"3f1c8e0a-6b2d-4c51-9d7e-0a1b2c3d4e5f".to_vec(),
        ),
    ];
    if let Some(t) = token {
        headers.push(("authorization".into(), format!("Bearer {t}").into_bytes()));
    }
    Request {
        method: "GET".into(),
        scheme: "http".into(),
        path: path.into(),
        authority: HOST.into(),
        headers,
        peer: Peer::plaintext(),
        source_ip: Some([127, 0, 0, 1].into()),
        remote_ip: Some([127, 0, 0, 1].into()),
        source_address: Some("127.0.0.1:40000".into()),
        destination_ip: Some([127, 0, 0, 1].into()),
        destination_port: Some(10000),
        ..Default::default()
    }
}

struct Fixture {
    engine: Engine,
    signer: Signer,
    valid: Request,
    anonymous: Request,
    denied: Request,
    allowed_subject: String,
    allowed_path: String,
}

fn fixture(n: usize) -> Fixture {
    let signer = Signer::new();
    let bytes = config_bytes(n, &signer.jwks());
    let engine = Engine::new(PluginConfig::parse(&bytes).expect("config"), None).expect("engine");
    let (allow, deny) = split(n);
    let allowed_subject = format!("svc-{}", allow - 1);
    let allowed_path = format!("/api/v1/svc-{}/items", allow - 1);
    let token = signer.token(&allowed_subject, "steady");
    Fixture {
        valid: request(&allowed_path, Some(&token)),
        anonymous: request(&allowed_path, None),
        denied: request(&format!("/admin/{}/panel", deny - 1), Some(&token)),
        engine,
        signer,
        allowed_subject,
        allowed_path,
    }
}

fn decide_expect(
    engine: &Engine,
    r: &mut Request,
    state: &mut meshguard::authn::request_authn::AuthnState,
    allow: bool,
) {
    match engine.decide(r, state, NOW * 1000) {
        Step::Done(d, _) => assert_eq!(d.allow, allow, "unexpected decision {d:?}"),
        Step::Wait(_) => panic!("inline keys never wait"),
    }
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
