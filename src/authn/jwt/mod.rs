//! JWT verification for RequestAuthentication, answering as Envoy's `jwt_authn` (with
//! jwt_verify_lib b59e8075, as Envoy 1.40 builds it) answers the same token.
//!
//! Pure Rust, no proxy-wasm types. One [`Provider`] and one [`KeySet`] per `jwtRule`
//! (keys are never shared across issuers). The flow, as Envoy runs it:
//!
//! ```text
//! let keys = KeySet::parse(jwks_json_or_fetched_body)?;          // JwksError
//! let provider = Provider::new(&rule.issuer, &rule.audiences);
//! // per request, per token found in the provider's locations:
//! if let Some(hit) = cache.get(index, token, now) { ... }         // Arc<VerifiedJwt>
//! let jwt = Jwt::parse(token)?;                                   // form errors first
//! provider.check_claims(&jwt, now)?;                              // iss, nbf/exp, aud
//! //   (fetch the JWKS here if it is remote and not cached: JwtError::JwksFetchFail)
//! verify_signature(&jwt, &keys)?;                                 // kid/alg, signature
//! let verified = Arc::new(VerifiedJwt::from(jwt));
//! cache.insert(index, token, verified.clone(), now);
//! // or all at once: provider.verify(token, &keys, now)
//! ```
//!
//! A failure is a [`JwtError`]: `status()` (401, or 403 for audiences), `body()` (Envoy's
//! text), `code()` (the audit reason), `www_authenticate(&original_uri(..))`.
//! [`unverified_issuer`] tells which provider a token claims to come from. A verified token
//! gives [`VerifiedJwt`] (`payload`, `iss`, `sub`, `audiences`, `exp`, `principal()`), and
//! [`claim_headers`] / [`payload_header`] the headers `outputClaimToHeaders` and
//! `outputPayloadToHeader` add.
//!
//! Where this refuses what Envoy accepts (tokens and keys no compliant issuer produces): a
//! key is tried only for its own algorithm family and curve; ECDSA signatures must be exactly
//! `r || s` of the curve's size; PS* salts must be the hash length; RSA moduli over 8192 bits and the legacy `{"kid": "<PEM certificate>"}` JWKS are not read;
//! JSON must be RFC 8259 (protobuf's parser also takes single-quoted strings).

mod alg;
pub(crate) mod base64url;
mod cache;
mod claims;
mod ecdsa;
mod ed25519;
mod error;
mod jwks;
mod modexp;
mod modular;
mod nist_field;
mod rsa_verify;
mod sha;
mod token;
mod verify;
mod window;

#[cfg(test)]
mod tests;

pub use alg::Alg;
pub use cache::{TokenCache, DEFAULT_CAPACITY};
pub use claims::{claim_headers, claim_value, payload_header};
pub use error::{original_uri, JwtError};
pub use jwks::{
    Jwk, JwksError, KeySet, PublicKey, RsaKey, SkippedKey, MAX_JWKS_BYTES, MAX_RSA_BITS,
};
pub use token::{unverified_issuer, Jwt};
pub use verify::{verify_signature, Audiences, Provider, VerifiedJwt, CLOCK_SKEW_SECONDS};

/// Verifies `token` for `provider` with its `keys` at `now` (Unix seconds, the proxy's clock).
pub fn verify(
    token: &str,
    provider: &Provider,
    keys: &KeySet,
    now: u64,
) -> Result<VerifiedJwt, JwtError> {
    provider.verify(token, keys, now)
}
