//! The core benchmarks in V8: the same fixture as benches/core.rs (benches/common), timed with
//! the WASI clock. Prints one line per measurement: `name  µs/op  iterations`.
//!
//!     bench/v8/run.sh [counts, default 10,1000]
//!
//! `BUDGET_MS` sets each measurement's time (default 600); `BENCH_V8_ONLY_DECIDE=1` prints the
//! `decide/valid_token` lines alone (what `make bench` reads); `BENCH_V8_REQUEST_PATH=1` runs
//! the request path for a profile (bench/README.md).

#[path = "../../../benches/common/mod.rs"]
mod common;

use common::{config_bytes, decide_expect, fixture, request, Signer, NOW};
use meshguard::config::PluginConfig;
use meshguard::engine::Engine;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// Runs `f` on inputs made by `input` (not timed) for at least `budget`; best of 5 batches, µs/op.
fn time<I, O>(
    budget: Duration,
    mut input: impl FnMut() -> I,
    mut f: impl FnMut(&mut I) -> O,
) -> (f64, u64) {
    let mut best = f64::INFINITY;
    let mut total = 0u64;
    let start = Instant::now();
    for _ in 0..5 {
        let mut inputs: Vec<I> = Vec::new();
        let mut n = 0u64;
        let batch = Instant::now();
        let mut spent = Duration::ZERO;
        while batch.elapsed() < budget / 5 || n < 3 {
            let mut i = input();
            let t = Instant::now();
            black_box(f(&mut i));
            spent += t.elapsed();
            inputs.push(i);
            n += 1;
            if inputs.len() > 256 {
                inputs.clear();
            }
        }
        total += n;
        best = best.min(spent.as_secs_f64() * 1e6 / n as f64);
    }
    let _ = start;
    (best, total)
}

fn main() {
    let counts: Vec<usize> = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "10,1000".into())
        .split(',')
        .filter_map(|x| x.trim().parse().ok())
        .collect();
    let budget = Duration::from_millis(
        std::env::var("BUDGET_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    );
    let now = NOW * 1000;
    if std::env::var_os("BENCH_V8_REQUEST_PATH").is_some() {
        return request_path(budget);
    }
    if std::env::var_os("BENCH_V8_SIGNATURES").is_some() {
        return signature_checks(budget);
    }
    // `make bench` asks for the decision alone, the part that depends on the policy count.
    let only_decide = std::env::var_os("BENCH_V8_ONLY_DECIDE").is_some();
    for &n in &counts {
        let f = fixture(n);
        let mut state = f.engine.authn.new_state();
        decide_expect(&f.engine, &mut f.valid.clone(), &mut state, true);
        let (us, it) = time(
            budget,
            || f.valid.clone(),
            |r| f.engine.decide(r, &mut state, now),
        );
        println!("decide/valid_token/{n}\t{us:.2}\t{it}");
        if only_decide {
            continue;
        }
        let (us, it) = time(
            budget,
            || f.anonymous.clone(),
            |r| f.engine.decide(r, &mut state, now),
        );
        println!("decide/no_token/{n}\t{us:.2}\t{it}");
        let (us, it) = time(
            budget,
            || f.denied.clone(),
            |r| f.engine.decide(r, &mut state, now),
        );
        println!("decide/denied/{n}\t{us:.2}\t{it}");
        let bytes = config_bytes(n, &f.signer.jwks());
        let (us, it) = time(
            budget,
            || (),
            |_| Engine::new(PluginConfig::parse(&bytes).expect("config"), None).expect("engine"),
        );
        println!("load/parse_and_compile/{n}\t{us:.2}\t{it}");
    }
    if only_decide {
        return;
    }
    let f = fixture(10);
    let tokens: Vec<String> = (0..32)
        .map(|i| f.signer.token(&f.allowed_subject, &format!("first-{i}")))
        .collect();
    let mut i = 0;
    let (us, it) = time(
        budget,
        || {
            i = (i + 1) % tokens.len();
            (
                request(&f.allowed_path, tokens.get(i).map(String::as_str)),
                f.engine.authn.new_state(),
            )
        },
        |(r, state)| f.engine.decide(r, state, now),
    );
    println!("first_verification/10\t{us:.2}\t{it}");
    signature_checks(budget);
    modexp(budget);
}

/// The signature check alone (`verify_signature` on a parsed token): the elliptic-curve
/// algorithms, whose cost no Envoy figure isolates, and RS256, the exponentiation that makes
/// up most of a first verification.
fn signature_checks(budget: Duration) {
    use meshguard::authn::jwt::{verify_signature, Jwt, KeySet};
    let payload = common::b64(br#"{"iss":"https://issuer.bench.local","sub":"s"}"#);
    let ed = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32]));
    let p256_key = p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).expect("P-256 key");
    let p384_key = p384::ecdsa::SigningKey::from_slice(&[0x33; 48]).expect("P-384 key");
    let ec_jwk = |crv: &str, point: &[u8]| {
        // Uncompressed SEC1: 0x04, x, y.
        let half = (point.len() - 1) / 2;
        serde_json::json!({"kty": "EC", "crv": crv, "x": common::b64(&point[1..1 + half]),
                           "y": common::b64(&point[1 + half..])})
    };
    let jwks = serde_json::json!({"keys": [
        {"kty": "OKP", "crv": "Ed25519", "x": common::b64(ed.pk.as_ref())},
        ec_jwk("P-256", p256_key.verifying_key().to_encoded_point(false).as_bytes()),
        ec_jwk("P-384", p384_key.verifying_key().to_encoded_point(false).as_bytes()),
    ]})
    .to_string();
    let keys = KeySet::parse(jwks.as_bytes()).expect("JWKS");
    for alg in ["EdDSA", "ES256", "ES384"] {
        let input = format!("{}.{payload}", common::b64(format!(r#"{{"alg":"{alg}"}}"#).as_bytes()));
        let sig = match alg {
            "EdDSA" => ed.sk.sign(input.as_bytes(), None).to_vec(),
            "ES256" => {
                let s: p256::ecdsa::Signature =
                    p256::ecdsa::signature::Signer::sign(&p256_key, input.as_bytes());
                s.to_bytes().to_vec()
            }
            _ => {
                let s: p384::ecdsa::Signature =
                    p384::ecdsa::signature::Signer::sign(&p384_key, input.as_bytes());
                s.to_bytes().to_vec()
            }
        };
        let token = format!("{input}.{}", common::b64(&sig));
        let jwt = Jwt::parse(&token).expect("token");
        assert!(verify_signature(&jwt, &keys).is_ok(), "{alg}");
        let (us, it) = time(budget, || (), |_| verify_signature(&jwt, &keys));
        println!("signature/{alg}\t{us:.2}\t{it}");
    }
    // RS256 (2048-bit key, e = 65537): the exponentiation a first verification is made of.
    let signer = Signer::new();
    let keys = KeySet::parse(signer.jwks().as_bytes()).expect("JWKS");
    let token = signer.token("s", "signature");
    let jwt = Jwt::parse(&token).expect("token");
    assert!(verify_signature(&jwt, &keys).is_ok(), "RS256");
    let (us, it) = time(budget, || (), |_| verify_signature(&jwt, &keys));
    println!("signature/RS256\t{us:.2}\t{it}");
}

/// The wasm side of one request as the plugin runs it, minus the host calls: the header map
/// decoded from the proxy-wasm pairs encoding, the request built, decided (cached token) and
/// its audit line rendered; repeated for `budget`, for `node --cpu-prof` (bench/README.md).
fn request_path(budget: Duration) {
    use meshguard::host::decode::{build_request, request_headers, Connection};
    let f = fixture(10);
    let mut state = f.engine.authn.new_state();
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = f
        .valid
        .headers
        .iter()
        .map(|(k, v)| (k.to_vec(), v.to_vec()))
        .collect();
    pairs.push((b"user-agent".to_vec(), b"wrk".to_vec()));
    let mut encoded = (pairs.len() as u32).to_le_bytes().to_vec();
    for (k, v) in &pairs {
        encoded.extend((k.len() as u32).to_le_bytes());
        encoded.extend((v.len() as u32).to_le_bytes());
    }
    for (k, v) in &pairs {
        encoded.extend(k);
        encoded.push(0);
        encoded.extend(v);
        encoded.push(0);
    }
    let conn = Connection {
        source_address: Some("127.0.0.1:40000".into()),
        destination_address: Some("127.0.0.1:10000".into()),
        ..Default::default()
    };
    let mut line = String::new();
    let (us, it) = time(
        budget,
        || (),
        |_| {
            // The host call hands over a buffer of the module's own: a copy here too.
            let h = request_headers(encoded.clone()).expect("pairs");
            let mut r = build_request(h, conn.clone()).expect("request");
            let step = f.engine.decide(&mut r, &mut state, NOW * 1000);
            let meshguard::engine::Step::Done(d, _) = step else {
                panic!("held")
            };
            meshguard::audit::render_into(
                &meshguard::audit::Context {
                    request: &r,
                    decision: &d,
                    destination_address: conn.destination_address.as_deref(),
                    request_id: r
                        .header("x-request-id")
                        .and_then(|v| std::str::from_utf8(v).ok()),
                    status: Some(200),
                    now: std::time::UNIX_EPOCH + Duration::from_secs(NOW),
                },
                &mut line,
            );
            line.len()
        },
    );
    println!("request_path/valid_token/10\t{us:.2}\t{it}");
}

/// RS256's core, `sig^65537 mod n` for a 2048-bit n: num-bigint-dig's `modpow` (what the `rsa`
/// crate runs) against a fixed-size, allocation-free Montgomery prototype (CIOS, 32-bit limbs:
/// wasm multiplies 32x32->64 natively), to size what a dedicated verifier would save.
fn modexp(budget: Duration) {
    use rsa::traits::PublicKeyParts;
    use rsa::BigUint;
    let key = Signer::new().key;
    let n = key.n().clone();
    let e = key.e().clone();
    let x = BigUint::from_bytes_be(&[0x5a; 255]);
    let expect = x.modpow(&e, &n);
    let (us, it) = time(budget, || (), |_| x.modpow(&e, &n));
    println!("modexp_2048_e65537/num-bigint-dig\t{us:.2}\t{it}");
    let m = limbs(&n);
    let r2 = limbs(&((BigUint::from(1u32) << (64 * 32 * 2)) % &n));
    let m0inv = {
        // -m[0]^-1 mod 2^32 by Newton's iteration.
        let m0 = m[0];
        let mut inv: u32 = 1;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(m0.wrapping_mul(inv)));
        }
        inv.wrapping_neg()
    };
    let xs = limbs(&x);
    let run = || {
        let xm = mont_mul(&xs, &r2, &m, m0inv);
        let mut acc = xm;
        for _ in 0..16 {
            acc = mont_mul(&acc, &acc, &m, m0inv);
        }
        acc = mont_mul(&acc, &xm, &m, m0inv);
        let mut one = [0u32; L];
        one[0] = 1;
        mont_mul(&acc, &one, &m, m0inv)
    };
    assert_eq!(
        run(),
        limbs(&expect),
        "prototype disagrees with num-bigint-dig"
    );
    let (us, it) = time(budget, || (), |_| run());
    println!("modexp_2048_e65537/montgomery-prototype\t{us:.2}\t{it}");
}

const L: usize = 64;

fn limbs(v: &rsa::BigUint) -> [u32; L] {
    let mut out = [0u32; L];
    for (i, chunk) in v.to_bytes_le().chunks(4).enumerate().take(L) {
        let mut b = [0u8; 4];
        b[..chunk.len()].copy_from_slice(chunk);
        out[i] = u32::from_le_bytes(b);
    }
    out
}

/// a * b * R^-1 mod m (CIOS), inputs and output < m.
fn mont_mul(a: &[u32; L], b: &[u32; L], m: &[u32; L], m0inv: u32) -> [u32; L] {
    let mut t = [0u32; L + 2];
    for &bi in b.iter() {
        let mut c: u64 = 0;
        for j in 0..L {
            let s = t[j] as u64 + a[j] as u64 * bi as u64 + c;
            t[j] = s as u32;
            c = s >> 32;
        }
        let s = t[L] as u64 + c;
        t[L] = s as u32;
        t[L + 1] = (s >> 32) as u32;
        let q = t[0].wrapping_mul(m0inv);
        let mut c = (t[0] as u64 + q as u64 * m[0] as u64) >> 32;
        for j in 1..L {
            let s = t[j] as u64 + q as u64 * m[j] as u64 + c;
            t[j - 1] = s as u32;
            c = s >> 32;
        }
        let s = t[L] as u64 + c;
        t[L - 1] = s as u32;
        t[L] = t[L + 1] + (s >> 32) as u32;
    }
    let mut out = [0u32; L];
    out.copy_from_slice(&t[..L]);
    // Subtract m once if t >= m.
    let ge = t[L] != 0 || {
        let mut ge = true;
        for j in (0..L).rev() {
            if out[j] != m[j] {
                ge = out[j] > m[j];
                break;
            }
        }
        ge
    };
    if ge {
        let mut borrow = 0i64;
        for j in 0..L {
            let d = out[j] as i64 - m[j] as i64 - borrow;
            out[j] = d as u32;
            borrow = (d < 0) as i64;
        }
    }
    out
}
