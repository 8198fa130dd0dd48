//! JWKS documents (RFC 7517) into the keys of one provider.
//!
//! Follows jwt_verify_lib `src/jwks.cc` (`Jwks::createFromJwksCore`, `extractJwk*`): a key
//! that cannot be used is skipped with the reason jwt_verify_lib would give, and the document
//! fails only when it is not a JWKS or leaves no usable key. Differences, all refusals of
//! keys Envoy would take: RSA moduli over 8192 bits (BoringSSL allows
//! 16384), and the legacy `{"kid": "<PEM certificate>"}` document.

use super::ecdsa::{Curve, EcKey};
use super::ed25519::Ed25519Key;
use super::rsa_verify::Montgomery;
use serde_json::{Map, Value};
use std::fmt;

use super::base64url;
use crate::json;

/// A fetched or inline JWKS larger than this is refused before parsing.
pub const MAX_JWKS_BYTES: usize = 1 << 20;
/// Largest RSA modulus accepted. Verification cost grows with the square of the size, and no
/// issuer uses more than 4096 bits.
pub const MAX_RSA_BITS: usize = 8192;
/// BoringSSL's `rsa_check_public_key` refuses moduli under 512 bits.
pub const MIN_RSA_BITS: usize = 512;

/// The keys of one provider. A key set belongs to one issuer: providers never share keys, so
/// a key of issuer A cannot sign for issuer B.
#[derive(Debug, Clone)]
pub struct KeySet {
    keys: Vec<Jwk>,
    skipped: Vec<SkippedKey>,
}

/// One usable key.
#[derive(Debug, Clone)]
pub struct Jwk {
    /// `kid` when it is a string (jwt_verify_lib ignores a `kid` of another type).
    pub kid: Option<String>,
    /// `alg` when it is a string; a token's `alg` must then equal it.
    pub alg: Option<String>,
    pub key: PublicKey,
}

/// The public key material, by type.
#[derive(Clone)]
pub enum PublicKey {
    Rsa(RsaKey),
    /// A P-256, P-384 or P-521 point.
    Ec(Box<EcKey>),
    Ed25519(Ed25519Key),
    /// An HMAC secret (`kty: oct`), never empty.
    Oct(Vec<u8>),
}

/// An RSA key, in the Montgomery form RS* and PS* verification use.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaKey {
    pub mont: Montgomery,
}

impl fmt::Debug for PublicKey {
    // The secret of an oct key must not reach a log line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self {
            PublicKey::Rsa(k) => return write!(f, "Rsa({} bits)", k.mont.bits()),
            PublicKey::Ec(k) => return write!(f, "{k:?}"),
            PublicKey::Ed25519(_) => "Ed25519",
            PublicKey::Oct(_) => "Oct(..)",
        };
        f.write_str(kind)
    }
}

/// A key of the document that is not used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// Position in `keys`.
    pub index: usize,
    pub kid: Option<String>,
    pub reason: &'static str,
}

/// A document that gives no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksError {
    TooLarge(usize),
    /// Not a JSON object (or invalid UTF-8, duplicate members, nested too deeply).
    NotJson,
    /// No `keys` member.
    NoKeys,
    /// `keys` is not an array.
    KeysNotArray,
    /// `keys` holds no usable key; the skipped ones and why.
    NoValidKeys(Vec<SkippedKey>),
}

impl fmt::Display for JwksError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwksError::TooLarge(n) => {
                write!(f, "Jwks is {n} bytes, over the {MAX_JWKS_BYTES} byte limit")
            }
            JwksError::NotJson => f.write_str("Jwks is an invalid JSON"),
            JwksError::NoKeys => f.write_str("Jwks does not have [keys] field"),
            JwksError::KeysNotArray => f.write_str("[keys] in Jwks is not an array"),
            JwksError::NoValidKeys(skipped) => {
                f.write_str("Jwks doesn't have any valid public key")?;
                for s in skipped {
                    write!(f, "; keys[{}]", s.index)?;
                    if let Some(kid) = &s.kid {
                        write!(f, " (kid {kid:?})")?;
                    }
                    write!(f, ": {}", s.reason)?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for JwksError {}

impl KeySet {
    /// Parses a JWKS document: an inline `jwks` string or a fetched body.
    pub fn parse(doc: &[u8]) -> Result<KeySet, JwksError> {
        if doc.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge(doc.len()));
        }
        let top = json::parse_object(doc).ok_or(JwksError::NotJson)?;
        let keys = match top.get("keys") {
            None => return Err(JwksError::NoKeys),
            Some(Value::Array(keys)) => keys,
            Some(_) => return Err(JwksError::KeysNotArray),
        };
        let mut set = KeySet {
            keys: Vec::new(),
            skipped: Vec::new(),
        };
        for (index, entry) in keys.iter().enumerate() {
            // jwt_verify_lib passes over entries that are not objects without a word.
            let Value::Object(jwk) = entry else {
                continue;
            };
            match parse_jwk(jwk) {
                Ok(key) => set.keys.push(key),
                Err(reason) => set.skipped.push(SkippedKey {
                    index,
                    kid: string(jwk, "kid").map(str::to_owned),
                    reason,
                }),
            }
        }
        if set.keys.is_empty() {
            return Err(JwksError::NoValidKeys(set.skipped));
        }
        Ok(set)
    }

    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// Keys of the document that were not usable, for a configuration warning.
    pub fn skipped(&self) -> &[SkippedKey] {
        &self.skipped
    }
}

type Reason = &'static str;

fn parse_jwk(jwk: &Map<String, Value>) -> Result<Jwk, Reason> {
    let kty = match jwk.get("kty") {
        None => return Err("[kty] is missing in [keys]"),
        Some(Value::String(kty)) => kty.as_str(),
        Some(_) => return Err("[kty] is bad in [keys]"),
    };
    let alg = string(jwk, "alg").filter(|a| !a.is_empty());
    let key = match kty {
        "RSA" => rsa_key(jwk, alg)?,
        "EC" => ec_key(jwk, alg)?,
        "oct" => oct_key(jwk, alg)?,
        "OKP" => okp_key(jwk, alg)?,
        _ => return Err("[kty] is not supported in [keys]"),
    };
    Ok(Jwk {
        kid: string(jwk, "kid")
            .filter(|k| !k.is_empty())
            .map(str::to_owned),
        alg: alg.map(str::to_owned),
        key,
    })
}

/// A member that is a string; `None` when missing or of another type.
fn string<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    jwk.get(name).and_then(Value::as_str)
}

/// A required string member: missing and wrong-typed are different reasons.
fn field<'a>(
    jwk: &'a Map<String, Value>,
    name: &str,
    missing: Reason,
    bad: Reason,
) -> Result<&'a str, Reason> {
    match jwk.get(name) {
        None => Err(missing),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(bad),
    }
}

fn rsa_key(jwk: &Map<String, Value>, alg: Option<&str>) -> Result<PublicKey, Reason> {
    if alg.is_some_and(|a| !a.starts_with("RS") && !a.starts_with("PS")) {
        return Err("[alg] is not started with [RS] or [PS] for an RSA key");
    }
    let n = field(
        jwk,
        "n",
        "[n] field is missing for a RSA key",
        "[n] field is not string for a RSA key",
    )?;
    let e = field(
        jwk,
        "e",
        "[e] field is missing for a RSA key",
        "[e] field is not string for a RSA key",
    )?;
    const PARSE: Reason = "Jwks RSA [n] or [e] field is missing or has a parse error";
    let n_bytes = base64url::decode(n.as_bytes()).ok_or(PARSE)?;
    let odd = n_bytes.last().is_some_and(|b| b & 1 == 1);
    let e_bytes = base64url::decode(e.as_bytes()).ok_or(PARSE)?;
    // jwt_verify_lib takes only the two exponents anyone uses (leading zero bytes allowed,
    // as a big-endian number has them).
    let e = match e_bytes.get(e_bytes.iter().take_while(|b| **b == 0).count()..) {
        Some([3]) => 3,
        Some([1, 0, 1]) => 65537,
        _ => return Err(PARSE),
    };
    let bits = magnitude_bits(&n_bytes);
    if bits > MAX_RSA_BITS {
        return Err("RSA modulus is over 8192 bits");
    }
    // What BoringSSL's RSA_check_key asks of a public key.
    if bits < MIN_RSA_BITS || !odd {
        return Err(PARSE);
    }
    let mont = Montgomery::new(&n_bytes, e).ok_or(PARSE)?;
    Ok(PublicKey::Rsa(RsaKey { mont }))
}

/// The bit length of a big-endian unsigned number (leading zero bytes ignored).
fn magnitude_bits(be: &[u8]) -> usize {
    let mut digits = be.iter().skip_while(|b| **b == 0);
    match digits.next() {
        Some(top) => 8 * digits.count() + (8 - top.leading_zeros() as usize),
        None => 0,
    }
}

fn ec_key(jwk: &Map<String, Value>, alg: Option<&str>) -> Result<PublicKey, Reason> {
    if alg.is_some_and(|a| !a.starts_with("ES")) {
        return Err("[alg] is not started with [ES] for an EC key");
    }
    let crv = match jwk.get("crv") {
        None => "",
        Some(Value::String(c)) => c.as_str(),
        Some(_) => return Err("[crv] field is not string for an EC key"),
    };
    if let Some(alg) = alg {
        if !crv.is_empty()
            && !matches!(
                (alg, crv),
                ("ES256", "P-256") | ("ES384", "P-384") | ("ES512", "P-521")
            )
        {
            return Err("[crv] field specified is not compatible with [alg] for an EC key");
        }
    }
    // Either one names the curve; neither means P-256.
    let curve = match (alg.unwrap_or(""), crv) {
        ("ES256", _) | (_, "P-256") | ("", "") => Curve::P256,
        ("ES384", _) | (_, "P-384") => Curve::P384,
        ("ES512", _) | (_, "P-521") => Curve::P521,
        _ => return Err("[crv] or [alg] field is not supported for an EC key"),
    };
    let x = field(
        jwk,
        "x",
        "[x] field is missing for an EC key",
        "[x] field is not string for an EC key",
    )?;
    let y = field(
        jwk,
        "y",
        "[y] field is missing for an EC key",
        "[y] field is not string for an EC key",
    )?;
    const BASE64: Reason = "Jwks EC [x] or [y] field is an invalid Base64.";
    const POINT: Reason = "Jwks EC [x] and [y] fields have a parse error.";
    let x = base64url::decode(x.as_bytes()).ok_or(BASE64)?;
    let y = base64url::decode(y.as_bytes()).ok_or(BASE64)?;
    let size = curve.coordinate_bytes();
    // BoringSSL reads coordinates as numbers, so leading zero bytes may be missing or extra.
    let x = left_pad(&x, size).ok_or(POINT)?;
    let y = left_pad(&y, size).ok_or(POINT)?;
    EcKey::new(curve, &x, &y)
        .map(|k| PublicKey::Ec(Box::new(k)))
        .ok_or(POINT)
}

/// Big-endian `bytes` as exactly `size` bytes, or `None` when the number needs more.
fn left_pad(bytes: &[u8], size: usize) -> Option<Vec<u8>> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    let digits = bytes.get(first..)?;
    if digits.len() > size {
        return None;
    }
    let mut out = vec![0; size - digits.len()];
    out.extend_from_slice(digits);
    Some(out)
}

fn oct_key(jwk: &Map<String, Value>, alg: Option<&str>) -> Result<PublicKey, Reason> {
    if alg.is_some_and(|a| !matches!(a, "HS256" | "HS384" | "HS512")) {
        return Err("[alg] does not start with [HS] for an HMAC key");
    }
    let k = field(
        jwk,
        "k",
        "[k] field is missing for an HMAC key",
        "[k] field is not string for an HMAC key",
    )?;
    match base64url::decode(k.as_bytes()) {
        Some(secret) if !secret.is_empty() => Ok(PublicKey::Oct(secret)),
        _ => Err("Jwks Oct key is an invalid Base64"),
    }
}

fn okp_key(jwk: &Map<String, Value>, alg: Option<&str>) -> Result<PublicKey, Reason> {
    if alg.is_some_and(|a| a != "EdDSA") {
        return Err("[alg] is not [EdDSA] for an OKP key");
    }
    let crv = field(
        jwk,
        "crv",
        "[crv] field is missing for an OKP key",
        "[crv] field is not string for an OKP key",
    )?;
    if crv != "Ed25519" {
        return Err("[crv] field is not supported for an OKP key");
    }
    let x = field(
        jwk,
        "x",
        "[x] field is missing for an OKP key",
        "[x] field is not string for an OKP key",
    )?;
    let x = base64url::decode(x.as_bytes()).ok_or("Jwks OKP [x] field is an invalid Base64.")?;
    Ed25519Key::from_slice(&x)
        .map(PublicKey::Ed25519)
        .ok_or("Jwks OKP [x] field is wrong length.")
}
