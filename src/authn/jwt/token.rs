//! A JWT taken apart, checked only for form: what jwt_verify_lib's `Jwt::parseFromString`
//! (`src/jwt.cc`) checks, in its order, so the first problem found gives Envoy's text.
//! Nothing here is trusted until [`super::verify`] has checked the signature.

use serde_json::{Map, Value};
use std::fmt;

use super::alg::Alg;
use super::base64url;
use super::error::JwtError;
use crate::json;

/// A JWT whose form is valid: three segments, JSON header and payload with the registered
/// claims of the right types. Not yet verified.
#[derive(Clone)]
pub struct Jwt {
    /// `header.payload` as sent: the signed bytes.
    signing_input: String,
    /// Where the payload segment starts in `signing_input`.
    payload_at: usize,
    pub(crate) alg: Alg,
    /// `kid`, when it is a non-empty string (jwt_verify_lib treats "" as no kid).
    pub(crate) kid: Option<String>,
    pub(crate) payload: Map<String, Value>,
    /// `iss`, "" when absent.
    pub(crate) iss: String,
    pub(crate) sub: Option<String>,
    /// `nbf`, 0 when absent.
    pub(crate) nbf: u64,
    /// `exp`; 0 (absent, or written as 0) means the token does not expire.
    pub(crate) exp: u64,
    pub(crate) audiences: Vec<String>,
    pub(crate) signature: Vec<u8>,
}

impl Jwt {
    /// Takes `token` apart, or says what jwt_verify_lib would say of it.
    pub fn parse(token: &str) -> Result<Jwt, JwtError> {
        // jwt_verify_lib splits with absl::SkipEmpty: `h.p..s` and `.h.p.s` are 3 sections.
        let mut sections = token.split('.').filter(|s| !s.is_empty());
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            sections.next(),
            sections.next(),
            sections.next(),
            sections.next(),
        ) else {
            return Err(JwtError::BadFormat);
        };

        let header = base64url::decode(header_b64.as_bytes()).ok_or(JwtError::HeaderBadBase64)?;
        let header = json::parse_object(&header).ok_or(JwtError::HeaderBadJson)?;
        let alg = match header.get("alg") {
            Some(Value::String(name)) => {
                Alg::parse(name).ok_or(JwtError::HeaderNotImplementedAlg)?
            }
            _ => return Err(JwtError::HeaderBadAlg),
        };
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(kid)) => Some(kid.clone()).filter(|k| !k.is_empty()),
            Some(_) => return Err(JwtError::HeaderBadKid),
        };
        // `jwk`, `jku`, `x5u`, `x5c`: a token never names its own key; they are not read.

        let payload =
            base64url::decode(payload_b64.as_bytes()).ok_or(JwtError::PayloadBadBase64)?;
        let payload = json::parse_object(&payload).ok_or(JwtError::PayloadBadJson)?;
        let iss = optional_string(&payload, "iss", JwtError::IssNotString)?.unwrap_or_default();
        let sub = optional_string(&payload, "sub", JwtError::SubNotString)?;
        // `iat` is only type-checked, as in jwt_verify_lib; its value is never compared.
        numeric_date(
            &payload,
            "iat",
            JwtError::IatNotInteger,
            JwtError::IatOutOfRange,
        )?;
        let nbf = numeric_date(
            &payload,
            "nbf",
            JwtError::NbfNotInteger,
            JwtError::NbfOutOfRange,
        )?;
        let exp = numeric_date(
            &payload,
            "exp",
            JwtError::ExpNotInteger,
            JwtError::ExpOutOfRange,
        )?;
        optional_string(&payload, "jti", JwtError::JtiNotString)?;
        let audiences = match payload.get("aud") {
            None => Vec::new(),
            Some(Value::String(aud)) => vec![aud.clone()],
            Some(Value::Array(list)) => list
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(JwtError::AudNotString)?,
            Some(_) => return Err(JwtError::AudNotString),
        };

        let signature =
            base64url::decode(signature_b64.as_bytes()).ok_or(JwtError::SignatureBadBase64)?;

        let mut signing_input = String::with_capacity(header_b64.len() + 1 + payload_b64.len());
        signing_input.push_str(header_b64);
        signing_input.push('.');
        let payload_at = signing_input.len();
        signing_input.push_str(payload_b64);
        Ok(Jwt {
            signing_input,
            payload_at,
            alg,
            kid,
            payload,
            iss,
            sub,
            nbf,
            exp,
            audiences,
            signature,
        })
    }

    /// The token's `iss`, unverified ("" when absent): which provider should verify it.
    pub fn issuer(&self) -> &str {
        &self.iss
    }

    pub fn alg(&self) -> Alg {
        self.alg
    }

    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The bytes the signature covers: the header and payload segments joined by a dot.
    pub(crate) fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The payload segment exactly as the client sent it.
    pub(crate) fn payload_b64(&self) -> &str {
        self.signing_input.get(self.payload_at..).unwrap_or("")
    }
}

impl fmt::Debug for Jwt {
    // A token is a bearer credential: its debug form leaves out the signed text and signature.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwt")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("iss", &self.iss)
            .field("sub", &self.sub)
            .field("nbf", &self.nbf)
            .field("exp", &self.exp)
            .field("audiences", &self.audiences)
            .finish_non_exhaustive()
    }
}

/// The issuer a token claims, read without verifying anything: which provider to hand it to.
/// `None` when the token does not parse (any provider would answer with the parse error) or
/// has no string `iss`.
pub fn unverified_issuer(token: &str) -> Option<String> {
    Jwt::parse(token)
        .ok()
        .map(|jwt| jwt.iss)
        .filter(|iss| !iss.is_empty())
}

fn optional_string(
    payload: &Map<String, Value>,
    name: &str,
    wrong_type: JwtError,
) -> Result<Option<String>, JwtError> {
    match payload.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong_type),
    }
}

/// A NumericDate as jwt_verify_lib's `StructUtils::GetUInt64` reads it: any JSON number (the
/// protobuf Struct holds a double, so 1.5 is 1 and a float is fine), non-negative and below
/// 2^64; 0 when absent.
fn numeric_date(
    payload: &Map<String, Value>,
    name: &str,
    wrong_type: JwtError,
    out_of_range: JwtError,
) -> Result<u64, JwtError> {
    let Some(value) = payload.get(name) else {
        return Ok(0);
    };
    let seconds = value.as_f64().ok_or(wrong_type)?;
    // `u64::MAX as f64` rounds up to 2^64, the first value out of range.
    if seconds < 0.0 || seconds >= u64::MAX as f64 {
        return Err(out_of_range);
    }
    Ok(seconds as u64)
}
