//! Verifying a JWT for one provider, in the order Envoy's `jwt_authn` does it
//! (`source/extensions/filters/http/jwt_authn/authenticator.cc`, `startVerify` and
//! `verifyKey`): form, issuer, `nbf`/`exp`, audiences, and only then keys and signature. The
//! order decides which error a token with several faults gets (an expired token with a bad
//! signature is "Jwt is expired"), so it is kept.

use serde_json::{Map, Value};
use std::sync::Arc;

use super::alg::{self, Check};
use super::error::JwtError;
use super::jwks::KeySet;
use super::token::Jwt;
use crate::config::spec::JwtRule;

/// jwt_verify_lib's `kClockSkewInSecond`: Istio leaves `clock_skew_seconds` unset.
pub const CLOCK_SKEW_SECONDS: u64 = 60;

/// What a RequestAuthentication `jwtRule` asks of a token, its keys aside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    issuer: String,
    audiences: Audiences,
}

impl Provider {
    pub fn new(issuer: impl Into<String>, audiences: &[String]) -> Self {
        Provider {
            issuer: issuer.into(),
            audiences: Audiences::new(audiences),
        }
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The checks that need no key, in Envoy's order: `iss`, time, `aud`.
    pub fn check_claims(&self, jwt: &Jwt, now: u64) -> Result<(), JwtError> {
        // An empty issuer accepts any (Envoy's JwtIssuerChecker); istiod always sets one
        // unless the rule has only a jwksUri.
        if !self.issuer.is_empty() && jwt.iss != self.issuer {
            return Err(JwtError::UnknownIssuer);
        }
        check_time(jwt.nbf, jwt.exp, now)?;
        if !self.audiences.allow(&jwt.audiences) {
            return Err(JwtError::AudienceNotAllowed);
        }
        Ok(())
    }

    /// Verifies `token` for this provider with its `keys` at `now` (Unix seconds).
    pub fn verify(&self, token: &str, keys: &KeySet, now: u64) -> Result<VerifiedJwt, JwtError> {
        let jwt = Jwt::parse(token)?;
        self.check_claims(&jwt, now)?;
        verify_signature(&jwt, keys)?;
        Ok(VerifiedJwt::from(jwt))
    }
}

impl From<&JwtRule> for Provider {
    fn from(rule: &JwtRule) -> Self {
        Provider::new(rule.issuer.clone(), &rule.audiences)
    }
}

/// `nbf` and `exp` against `now`, with the clock skew (jwt_verify_lib
/// `Jwt::verifyTimeConstraint`). `exp` 0 means no expiry; `iat` is never compared.
pub fn check_time(nbf: u64, exp: u64, now: u64) -> Result<(), JwtError> {
    if now.saturating_add(CLOCK_SKEW_SECONDS) < nbf {
        return Err(JwtError::NotYetValid);
    }
    if exp != 0 && now > exp.saturating_add(CLOCK_SKEW_SECONDS) {
        return Err(JwtError::Expired);
    }
    Ok(())
}

/// Finds the keys that may have signed `jwt` and checks its signature (jwt_verify_lib
/// `verifyJwtWithoutTimeChecking`).
///
/// A key is a candidate when its `kid` matches the token's (a key or token without `kid`
/// matches any) and its `alg`, if it has one, equals the token's. No candidate at all is
/// "Jwks doesn't have key to match kid or alg from Jwt"; candidates that all fail are
/// "Jwt verification fails". Of the candidates, only keys of the algorithm's type are tried:
/// jwt_verify_lib picks the check by the key's type and lets the token's `alg` choose only the
/// hash, so it would also verify an EC signature under `alg: RS256`; we refuse that mismatch
/// (with the same error text as a bad signature).
pub fn verify_signature(jwt: &Jwt, keys: &KeySet) -> Result<(), JwtError> {
    let mut candidate = false;
    for jwk in keys.keys() {
        if let (Some(want), Some(have)) = (jwt.kid.as_deref(), jwk.kid.as_deref()) {
            if want != have {
                continue;
            }
        }
        if jwk.alg.as_deref().is_some_and(|a| a != jwt.alg.as_str()) {
            continue;
        }
        candidate = true;
        if !jwt.alg.fits(&jwk.key) {
            continue;
        }
        match alg::check(jwt.alg, &jwk.key, jwt.signing_input(), &jwt.signature) {
            Check::Valid => return Ok(()),
            Check::Invalid => {}
            Check::Ed25519WrongLength => return Err(JwtError::Ed25519SignatureWrongLength),
        }
    }
    Err(if candidate {
        JwtError::VerificationFail
    } else {
        JwtError::KidAlgMismatch
    })
}

/// A token whose signature, issuer, time and audience checked out.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJwt {
    /// The payload, for `request.auth.claims` and friends; shared with every request that
    /// presents the token again (a cache hit clones the pointer, not the claims).
    pub payload: Arc<Map<String, Value>>,
    /// `iss` ("" when absent and the provider accepts any issuer).
    pub iss: String,
    pub sub: Option<String>,
    /// `aud` as a list (a string `aud` is a list of one).
    pub audiences: Vec<String>,
    /// When it expires (Unix seconds); `None` when it never does.
    pub exp: Option<u64>,
    /// The payload segment as sent, for `outputPayloadToHeader`.
    pub(crate) payload_b64: String,
}

impl VerifiedJwt {
    /// Istio's request principal, `<iss>/<sub>`; none without `sub`.
    pub fn principal(&self) -> Option<String> {
        self.sub.as_ref().map(|sub| format!("{}/{sub}", self.iss))
    }
}

impl From<Jwt> for VerifiedJwt {
    fn from(jwt: Jwt) -> Self {
        let payload_b64 = jwt.payload_b64().to_owned();
        VerifiedJwt {
            payload: Arc::new(jwt.payload),
            iss: jwt.iss,
            sub: jwt.sub,
            audiences: jwt.audiences,
            exp: (jwt.exp != 0).then_some(jwt.exp),
            payload_b64,
        }
    }
}

/// A provider's `audiences`, compared as jwt_verify_lib's `CheckAudience` does
/// (`src/check_audience.cc`): on both sides a leading `http://` or `https://` and one trailing
/// `/` are dropped before an exact, case-sensitive comparison, so `https://api.example.com/`
/// and `api.example.com` are the same audience. No configured audience: `aud` is not checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Audiences(Vec<String>);

impl Audiences {
    pub fn new(configured: &[String]) -> Self {
        let mut list: Vec<String> = configured
            .iter()
            .map(|a| sanitize_audience(a).to_owned())
            .collect();
        crate::sort::sort(&mut list);
        list.dedup();
        Audiences(list)
    }

    pub fn allow(&self, token_audiences: &[String]) -> bool {
        self.0.is_empty()
            || token_audiences
                .iter()
                .any(|aud| self.0.iter().any(|c| c == sanitize_audience(aud)))
    }
}

fn sanitize_audience(aud: &str) -> &str {
    let rest = aud
        .strip_prefix("http://")
        .or_else(|| aud.strip_prefix("https://"))
        .unwrap_or(aud);
    rest.strip_suffix('/').unwrap_or(rest)
}
