//! The fixture of the core benchmarks, shared by benches/core.rs (native, divan) and bench/v8
//! (the same code compiled to wasm32-wasip1 and run in V8 by node): the policies as
//! bench/istio.py generates them for `make bench`, an RS256 signer, prepared requests.

#![allow(dead_code)]

use jwt_compact::alg::Rsa;
use jwt_compact::{Algorithm, AlgorithmSignature};
use meshguard::authn::request_authn::AuthnState;
use meshguard::config::PluginConfig;
use meshguard::engine::{Decision, Engine, Step};
use meshguard::request::{Peer, Request};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{json, Value};

pub const ISSUER: &str = "https://issuer.bench.local";
pub const KID: &str = "bench-rsa-2048";
pub const HOST: &str = "backend.default.svc.cluster.local";
/// The proxy's clock (seconds); tokens are valid for a day around it.
pub const NOW: u64 = 1_700_000_000;

/// A 2048-bit RSA key for the benchmark only (n, e, d, p, q, base64url).
pub const RSA_2048: [&str; 5] = [
    "odcUmDa3zMFGrKITQv3lJRs9uajn4b1Q_kKxh50_J4iBU-guexGFuK9e6l2ZkaebUsjXDaHzs80ZhmPFm5ARCNnal6z2jH6gwiSMguvYaCeRfJgCNcm-tfDMsQzIEUje9wc5tyctT923pPee1XAEQ3qytjcOsRb3m2bO0IFyBsBKDLPAjbMxHepftiiRuuZ0UUKpUIb8XrreXV8x4wX9g0mX2XuW622dQ_m1gh4ipK1EO8r5_I4tfgI9962Rx0VIodLNfJjh3UtTkJv0z8r87RVtq0TPbz9OlGmxRaaA-Kmx6WwJuCz1fYkZbkxUrQW48rG2UZZcDiYnXMhYUPcCow",
    "AQAB",
    "FLsjZTglJTJg5j5Ar2UslCtAJecwBOemV1uduBx5eYvv3Rqx0Yv2EClOxEDHKjRJHjqh6ZokSJTuPxvKtVmoBPU7HhDG6EpUN2pNIXwqlXT0Gvyx08gLCO1WmxtjCWvHO-eOChsXn9Jr8tLRYs_di_NMrzCwThj-EMcDmQvr2ldVIgoqZz19SheW4FBw_HbvkaS9-lsD7UaIsBOKPep0-f-_d2V3XGB2LwSxkEI47Y2S9qBAyPvtpkDHluR48sNokIHASUD4lhmYgmaXGY7JjvYZqTt4g5dnauCU0a8oCejCbfymn3232QEyW34d8O8IrI6YAZc7btUFBWEewQyFYQ",
    "2XPF9tldk8y-8gF0ygnEd8P8gru3c0G4sj1PwWBwTktE421XVc35ukzx0V94baJ1TDaOy4YhCzkbNVsu1QHSvKmLroA1LEy37EQIPm8sY3NF5jsq9DXVP2AhE2eM0zE5fqTxJ2iJuVLkBcB6QxTuZzvqCRZOFtf0hfjE7bX9Z_M",
    "voeRh22Ho7vP4q9i9fw2U0KVemBzvTBT7ca0dxU9vfbUctMfgTA-G6OpvMTDAaXWAVh6YJ5aJaYDjPd9AQp5y17CehpTvC4LA6TLSdAkCgnBHeMHuE5tadr3PI1SULVUrxzdi4zj7wY7tTeMjxOnqS8p2e4_D3K96KydtrbO1pE",
];

// ---------------------------------------------------------------------------------------------
// base64url and the signer

pub const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn b64(bytes: &[u8]) -> String {
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

pub fn unb64(s: &str) -> Vec<u8> {
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

pub struct Signer {
    pub key: RsaPrivateKey,
}

impl Signer {
    pub fn new() -> Self {
        let [n, e, d, p, q] = RSA_2048.map(|s| BigUint::from_bytes_be(&unb64(s)));
        let mut key = RsaPrivateKey::from_components(n, e, d, vec![p, q]).expect("RSA key");
        key.precompute().expect("RSA precompute");
        Signer { key }
    }

    pub fn jwks(&self) -> String {
        json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig",
                         "n": b64(&self.key.n().to_bytes_be()), "e": b64(&self.key.e().to_bytes_be())}]})
        .to_string()
    }

    pub fn token(&self, sub: &str, jti: &str) -> String {
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

pub fn split(n: usize) -> (usize, usize) {
    let deny = (n / 10).max(1);
    (n - deny, deny)
}

pub fn meta(name: String) -> Value {
    json!({"name": name, "namespace": "default"})
}

pub fn allow_policy(i: usize) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": meta(format!("allow-{i:05}")),
           "spec": {"selector": {"matchLabels": {"app": "backend"}}, "action": "ALLOW", "rules": [
               {"from": [{"source": {"requestPrincipals": [format!("{ISSUER}/svc-{i}"), format!("{ISSUER}/ops-{i}-*")]}}],
                "to": [{"operation": {"methods": ["GET", "POST"],
                                      "paths": [format!("/api/v1/svc-{i}/*"), format!("/api/v1/svc-{i}")]}}]},
               {"to": [{"operation": {"methods": ["GET"], "paths": [format!("/public/{i}/*")]}}]}]}})
}

pub fn deny_policy(j: usize) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": meta(format!("deny-{j:05}")),
           "spec": {"selector": {"matchLabels": {"app": "backend"}}, "action": "DENY", "rules": [
               {"from": [{"source": {"requestPrincipals": [format!("{ISSUER}/blocked-{j}")]}}]},
               {"to": [{"operation": {"paths": [format!("/admin/{j}/*")]}}]}]}})
}

pub fn config_bytes(n: usize, jwks: &str) -> Vec<u8> {
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
pub fn request(path: &str, token: Option<&str>) -> Request {
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
        headers: headers.into_iter().collect(),
        peer: Peer::plaintext(),
        source_ip: Some([127, 0, 0, 1].into()),
        remote_ip: Some([127, 0, 0, 1].into()),
        source_address: Some("127.0.0.1:40000".into()),
        destination_ip: Some([127, 0, 0, 1].into()),
        destination_port: Some(10000),
        ..Default::default()
    }
}

pub struct Fixture {
    pub engine: Engine,
    pub signer: Signer,
    pub valid: Request,
    pub anonymous: Request,
    pub denied: Request,
    pub allowed_subject: String,
    pub allowed_path: String,
}

pub fn fixture(n: usize) -> Fixture {
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

/// Decides `r` (which the engine may change: a verified token is removed) and returns the decision.
pub fn decide_expect(
    engine: &Engine,
    r: &mut Request,
    state: &mut AuthnState,
    allow: bool,
) -> Decision {
    match engine.decide(r, state, NOW * 1000) {
        Step::Done(d, _) => {
            assert_eq!(d.allow, allow, "unexpected decision {d:?}");
            d
        }
        Step::Wait(_) => panic!("inline keys never wait"),
    }
}
