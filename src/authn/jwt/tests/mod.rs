//! End-to-end tests with real keys and signed tokens, and what they share: the keys, a
//! signer that can disagree with the header on purpose, the provider and its key set.

mod cache;
mod jwks;
mod verify;

use super::base64url::{self, encode};
use super::*;
use jwt_compact::alg::{Ed25519, Hs256, Hs256Key, Hs384, Hs384Key, Hs512, Hs512Key, Rsa};
use jwt_compact::{Algorithm, AlgorithmSignature};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use serde_json::{json, Value};
use std::sync::{Arc, OnceLock};

/// A xorshift64 stream: reproducible test inputs (numbers, moduli, bytes) from a seed.
pub(super) fn xorshift(mut seed: u64) -> impl FnMut() -> u64 {
    move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    }
}

/// 2048-bit test key (generated for these tests only).
const RSA_2048: [&str; 5] = [
    "odcUmDa3zMFGrKITQv3lJRs9uajn4b1Q_kKxh50_J4iBU-guexGFuK9e6l2ZkaebUsjXDaHzs80ZhmPFm5ARCNnal6z2jH6gwiSMguvYaCeRfJgCNcm-tfDMsQzIEUje9wc5tyctT923pPee1XAEQ3qytjcOsRb3m2bO0IFyBsBKDLPAjbMxHepftiiRuuZ0UUKpUIb8XrreXV8x4wX9g0mX2XuW622dQ_m1gh4ipK1EO8r5_I4tfgI9962Rx0VIodLNfJjh3UtTkJv0z8r87RVtq0TPbz9OlGmxRaaA-Kmx6WwJuCz1fYkZbkxUrQW48rG2UZZcDiYnXMhYUPcCow",
    "AQAB",
    "FLsjZTglJTJg5j5Ar2UslCtAJecwBOemV1uduBx5eYvv3Rqx0Yv2EClOxEDHKjRJHjqh6ZokSJTuPxvKtVmoBPU7HhDG6EpUN2pNIXwqlXT0Gvyx08gLCO1WmxtjCWvHO-eOChsXn9Jr8tLRYs_di_NMrzCwThj-EMcDmQvr2ldVIgoqZz19SheW4FBw_HbvkaS9-lsD7UaIsBOKPep0-f-_d2V3XGB2LwSxkEI47Y2S9qBAyPvtpkDHluR48sNokIHASUD4lhmYgmaXGY7JjvYZqTt4g5dnauCU0a8oCejCbfymn3232QEyW34d8O8IrI6YAZc7btUFBWEewQyFYQ",
    "2XPF9tldk8y-8gF0ygnEd8P8gru3c0G4sj1PwWBwTktE421XVc35ukzx0V94baJ1TDaOy4YhCzkbNVsu1QHSvKmLroA1LEy37EQIPm8sY3NF5jsq9DXVP2AhE2eM0zE5fqTxJ2iJuVLkBcB6QxTuZzvqCRZOFtf0hfjE7bX9Z_M",
    "voeRh22Ho7vP4q9i9fw2U0KVemBzvTBT7ca0dxU9vfbUctMfgTA-G6OpvMTDAaXWAVh6YJ5aJaYDjPd9AQp5y17CehpTvC4LA6TLSdAkCgnBHeMHuE5tadr3PI1SULVUrxzdi4zj7wY7tTeMjxOnqS8p2e4_D3K96KydtrbO1pE",
];
/// 1024-bit test key (generated for these tests only).
/// 1025 bits: EMSA-PSS encodes into one byte fewer than the modulus when its size is 8k+1.
const RSA_1025: [&str; 5] = [
    "AdDeKT2tonT21cHQOufHp3BXEP14aRnHvLl2KYwG45lHFPrwPhNI1gZRxU8I8H5RCxCiioAhnQ9TqYWffFgjWmEbJTsH_kvtA8og54HX0rUn-_LXx7gRen6kv8w2yOPkZbJ-xAuPw6_UHmdAcu3HIhfplTQD01uIsfQUHjO3hNB5",
    "AQAB",
    "1Hom-YUaw0FrVKobsoNEWgnBv0lBKMJt1YtX1CP19cJSqZwTk3bwNHU9rTFV0zaxywmwKn6yriW8T1IlYJfQH1WUcCYvN9epbcBUmqnX9SZ6nUsnvQqlRQT7HAQ8MvQtkzOSNrcEQU0PWf07oVUA3F8hpiRNr8Iug0zH5n3eoN0",
    "AddVE8VScQaBJc1odXue2nLb_bsHfCeuUuokk925xYovtLZzEccysviHXU2Yuv0EBManGI9SaYRY7yKsXE8Jfj8",
    "_H0lmw-fZQRGY49c6ZFVCr4A37A5tIBGeetdrt5_dYdHcvZbwSyX5j3RDUnxbFJh7poSEmMEJy31rV1EvbPzRw",
];

const RSA_1024: [&str; 5] = [
    "27wL-VO_rOkgf8lCvYJN0dQI_-gycuJDozfP_ZKdDRTvZQeIC0lrKp2RtuaThizGC6bSeOk2ifuqObLoFQ27pahNzZnG0uTscjSciXG1ZPBkYpiop7mXXTPP9PKweZPlRhwb2c7_Bpa_HFkkDnuwRFj8SK-DSJSTqEy0OBWyMvE",
    "AQAB",
    "EHPNBbcSk_TEnSzJlXzrLLnOjrKpDFcKr27fYOIYZkFaB1uAATBXGNLBdUtgYlx526d6_NihX8V7ImTV4bWshgA425pKYwRqmoLoVH29LksuBrLTZ28tujeI_6gnQ3mwVp6DxKqkO_6jAKwElXgLtpKvYYbE3rwMR35jS36NWlE",
    "-qJtB8Gchlnav0fmMGQlzQA48fY_IQfAcxMM6-1Vf_9eEbvY0NShfFV-hynU0qW320JrunMKviY7B-XPOzBHXQ",
    "4HBG_8mQynsRCnEaGHwuX2w0CnD5LorYG-ukF7jHROVRA9VgtD7QAcnNc2EUbhRFujGin3u9CIKhxP_6QqXEpQ",
];

const ISS: &str = "https://issuer.example.com";
/// The secret of the provider's second HMAC key.
const HMAC_B: &[u8] = b"another secret, for the kid tests";
/// The proxy's clock in every test.
const NOW: u64 = 1_700_000_000;

struct TestKeys {
    rsa: RsaPrivateKey,
    rsa_small: RsaPrivateKey,
    p256: p256::ecdsa::SigningKey,
    p256_other: p256::ecdsa::SigningKey,
    p384: p384::ecdsa::SigningKey,
    p521: p521::ecdsa::SigningKey,
    ed: ed25519_compact::KeyPair,
    hmac: Vec<u8>,
}

fn k() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        rsa: rsa_key(RSA_2048),
        rsa_small: rsa_key(RSA_1024),
        p256: p256::ecdsa::SigningKey::from_slice(&[0x11; 32]).unwrap(),
        p256_other: p256::ecdsa::SigningKey::from_slice(&[0x22; 32]).unwrap(),
        p384: p384::ecdsa::SigningKey::from_slice(&[0x33; 48]).unwrap(),
        p521: p521::ecdsa::SigningKey::from_slice(&[[0x01].as_slice(), &[0x44; 65]].concat())
            .unwrap(),
        ed: ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new([7; 32])),
        hmac: b"a shared secret of thirty-two by".to_vec(),
    })
}

fn rsa_key(parts: [&str; 5]) -> RsaPrivateKey {
    let [n, e, d, p, q] =
        parts.map(|s| BigUint::from_bytes_be(&base64url::decode(s.as_bytes()).unwrap()));
    let mut key = RsaPrivateKey::from_components(n, e, d, vec![p, q]).unwrap();
    key.precompute().unwrap();
    key
}

/// How a test token is signed; the header's `alg` is written separately, so the two can
/// disagree on purpose.
enum Signer<'a> {
    Rsa(Rsa, &'a RsaPrivateKey),
    Es256(&'a p256::ecdsa::SigningKey),
    Es384(&'a p384::ecdsa::SigningKey),
    Es512(&'a p521::ecdsa::SigningKey),
    Ed(&'a ed25519_compact::SecretKey),
    Hs256(&'a [u8]),
    Hs384(&'a [u8]),
    Hs512(&'a [u8]),
    /// These exact signature bytes.
    Raw(Vec<u8>),
}

fn signature(signer: Signer<'_>, input: &[u8]) -> Vec<u8> {
    match signer {
        Signer::Rsa(alg, key) => alg.sign(key, input).as_bytes().into_owned(),
        Signer::Es256(key) => {
            let sig: p256::ecdsa::Signature = p256::ecdsa::signature::Signer::sign(key, input);
            sig.to_bytes().to_vec()
        }
        Signer::Es384(key) => {
            let sig: p384::ecdsa::Signature = p384::ecdsa::signature::Signer::sign(key, input);
            sig.to_bytes().to_vec()
        }
        Signer::Es512(key) => {
            let sig: p521::ecdsa::Signature = p521::ecdsa::signature::Signer::sign(key, input);
            sig.to_bytes().to_vec()
        }
        Signer::Ed(key) => Ed25519.sign(key, input).as_bytes().into_owned(),
        Signer::Hs256(key) => Hs256
            .sign(&Hs256Key::new(key), input)
            .as_bytes()
            .into_owned(),
        Signer::Hs384(key) => Hs384
            .sign(&Hs384Key::new(key), input)
            .as_bytes()
            .into_owned(),
        Signer::Hs512(key) => Hs512
            .sign(&Hs512Key::new(key), input)
            .as_bytes()
            .into_owned(),
        Signer::Raw(sig) => sig,
    }
}

/// A token from header and payload JSON text as given (duplicates, odd spacing and all).
fn token_raw(header: &str, payload: &str, signer: Signer<'_>) -> String {
    let input = format!(
        "{}.{}",
        encode(header.as_bytes()),
        encode(payload.as_bytes())
    );
    let sig = signature(signer, input.as_bytes());
    format!("{input}.{}", encode(&sig))
}

fn token(header: Value, payload: Value, signer: Signer<'_>) -> String {
    token_raw(&header.to_string(), &payload.to_string(), signer)
}

/// Claims that pass every check of `provider()` at `NOW`.
fn claims() -> Value {
    json!({"iss": ISS, "sub": "alice", "aud": "api", "iat": NOW, "exp": NOW + 3600})
}

/// `claims()` with these members set (a `null` here removes the member).
fn claims_with(changes: Value) -> Value {
    let mut c = claims();
    for (name, value) in changes.as_object().unwrap() {
        if value.is_null() {
            c.as_object_mut().unwrap().remove(name);
        } else {
            c[name] = value.clone();
        }
    }
    c
}

fn rs256(payload: Value) -> String {
    token(
        json!({"alg": "RS256", "kid": "rsa", "typ": "JWT"}),
        payload,
        Signer::Rsa(Rsa::rs256(), &k().rsa),
    )
}

fn es256(payload: Value) -> String {
    token(
        json!({"alg": "ES256", "kid": "ec256"}),
        payload,
        Signer::Es256(&k().p256),
    )
}

fn hs256(payload: Value) -> String {
    token(
        json!({"alg": "HS256", "kid": "hmac"}),
        payload,
        Signer::Hs256(&k().hmac),
    )
}

fn rsa_jwk(key: &RsaPrivateKey, kid: &str) -> Value {
    json!({"kty": "RSA", "kid": kid, "use": "sig",
           "n": encode(&key.n().to_bytes_be()), "e": encode(&key.e().to_bytes_be())})
}

fn p256_jwk(key: &p256::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-256", "kid": kid,
           "x": encode(point.x().unwrap()), "y": encode(point.y().unwrap())})
}

fn p384_jwk(key: &p384::ecdsa::SigningKey, kid: &str) -> Value {
    let point = key.verifying_key().to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-384", "alg": "ES384", "kid": kid,
           "x": encode(point.x().unwrap()), "y": encode(point.y().unwrap())})
}

fn p521_jwk(key: &p521::ecdsa::SigningKey, kid: &str) -> Value {
    let point = p521::ecdsa::VerifyingKey::from(key).to_encoded_point(false);
    json!({"kty": "EC", "crv": "P-521", "kid": kid,
           "x": encode(point.x().unwrap()), "y": encode(point.y().unwrap())})
}

fn ed_jwk(kid: &str) -> Value {
    json!({"kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "kid": kid,
           "x": encode(k().ed.pk.as_ref())})
}

fn hmac_jwk(secret: &[u8], kid: &str) -> Value {
    json!({"kty": "oct", "kid": kid, "k": encode(secret)})
}

fn jwks(keys: Vec<Value>) -> KeySet {
    KeySet::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

/// The provider's keys: one of every type, each with a `kid`.
fn keyset() -> &'static KeySet {
    static SET: OnceLock<KeySet> = OnceLock::new();
    SET.get_or_init(|| {
        jwks(vec![
            rsa_jwk(&k().rsa, "rsa"),
            rsa_jwk(&k().rsa_small, "rsa-small"),
            p256_jwk(&k().p256, "ec256"),
            p384_jwk(&k().p384, "ec384"),
            p521_jwk(&k().p521, "ec521"),
            ed_jwk("ed"),
            hmac_jwk(&k().hmac, "hmac"),
            hmac_jwk(HMAC_B, "hmac-b"),
        ])
    })
}

fn provider() -> Provider {
    Provider::new(ISS, &["api".to_string()])
}

fn check(token: &str) -> Result<VerifiedJwt, JwtError> {
    verify(token, &provider(), keyset(), NOW)
}

fn err(token: &str) -> JwtError {
    check(token).unwrap_err()
}

/// Replaces the signature segment.
fn with_signature(token: &str, sig: &str) -> String {
    let (signed, _) = token.rsplit_once('.').unwrap();
    format!("{signed}.{sig}")
}
