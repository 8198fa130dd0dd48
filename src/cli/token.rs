//! The JWT side of `check`: a token goes where its issuer's RequestAuthentication reads tokens,
//! and the engine authenticates it as the proxy does.
//!
//! - `--jwt` is verified for real; a `jwksUri`'s keys come from `--jwks` (what the proxy
//!   would have fetched), inline `jwks` from the configuration.
//! - `--jwt-claims` becomes an unsigned token that is entered in the engine's verified-token
//!   cache, the way a token the proxy verified before is found: only the signature check is
//!   skipped. Issuer, `nbf`/`exp` and audiences are checked first by the provider's own
//!   checks; a token failing them is left out of the cache, so the engine refuses it with
//!   Envoy's words.

use super::Failure;
use crate::authn::jwt::{unverified_issuer, Jwt, VerifiedJwt};
use crate::authn::request_authn::AuthnState;
use crate::authn::tokens::Location;
use crate::engine::Engine;
use crate::request::Request;
use base64ct::{Base64UrlUnpadded, Encoding};
use std::sync::Arc;

/// Adds `token` to the request where the provider for `issuer` reads tokens first (Istio's
/// default, `Authorization: Bearer`, when no provider has that issuer). Returns a note when no
/// provider has it: the proxy then refuses the token, or ignores it if no provider reads that
/// header at all.
fn place(engine: &Engine, r: &mut Request, issuer: &str, token: &str) -> Option<String> {
    let provider = engine.authn.provider_for(issuer);
    let note = provider.is_none().then(|| {
        format!(
            "no RequestAuthentication that applies to this workload configures issuer {issuer:?}: \
             the token is sent as `Authorization: Bearer`"
        )
    });
    let first = provider.and_then(|(_, _, locations)| locations.first().map(|l| (*l).clone()));
    match first {
        Some(Location::Param(name)) => {
            let sep = if r.path.contains('?') { '&' } else { '?' };
            r.path = format!("{}{sep}{name}={token}", r.path);
        }
        Some(Location::Cookie(name)) => r
            .headers
            .push(b"cookie", format!("{name}={token}").as_bytes()),
        Some(Location::Header { name, prefix }) => r
            .headers
            .push(name.as_bytes(), format!("{prefix}{token}").as_bytes()),
        None => r
            .headers
            .push(b"authorization", format!("Bearer {token}").as_bytes()),
    }
    note
}

/// `--jwt`: placed for its (unverified) issuer; verification is the engine's.
pub fn add_token(engine: &Engine, r: &mut Request, token: &str) -> Option<String> {
    let issuer = unverified_issuer(token).unwrap_or_default();
    place(engine, r, &issuer, token)
}

/// `--jwks`: the keys every `jwksUri` of the workload's providers serves. `Ok(false)` when no
/// provider fetches keys (their `jwks` are inline).
pub fn feed_jwks(state: &mut AuthnState, jwks: &[u8], now_ms: u64) -> Result<bool, String> {
    for remote in &mut state.remotes {
        remote.started(now_ms);
        remote.completed(Some(200), Some(jwks), now_ms)?;
    }
    Ok(!state.remotes.is_empty())
}

/// `--jwt-claims`: an unsigned token carrying `claims`, trusted as verified when the provider
/// for its `iss` accepts its claims. `Ok(Some(note))` when no provider has that issuer.
pub fn add_claims(
    engine: &Engine,
    state: &mut AuthnState,
    r: &mut Request,
    claims: &str,
    now_ms: u64,
) -> Result<Option<String>, Failure> {
    let payload: serde_json::Value = serde_json::from_str(claims)
        .map_err(|e| Failure(format!("--jwt-claims: not JSON: {e}")))?;
    if !payload.is_object() {
        return Err(Failure(
            "--jwt-claims: expected a JSON object (the token's payload)".into(),
        ));
    }
    let header = br#"{"alg":"RS256","typ":"JWT"}"#;
    let token = format!(
        "{}.{}.{}",
        Base64UrlUnpadded::encode_string(header),
        Base64UrlUnpadded::encode_string(payload.to_string().as_bytes()),
        // Never checked: the cache entry stands for a verified signature.
        Base64UrlUnpadded::encode_string(b"meshguard check: unsigned"),
    );
    let issuer = payload
        .get("iss")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    let now = now_ms / 1000;
    if let Some((index, provider, _)) = engine.authn.provider_for(issuer) {
        if let Ok(jwt) = Jwt::parse(&token) {
            if provider.check_claims(&jwt, now).is_ok() {
                state
                    .cache
                    .insert(index, &token, Arc::new(VerifiedJwt::from(jwt)), now);
            }
        }
    }
    Ok(place(engine, r, issuer, &token))
}
