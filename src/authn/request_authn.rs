//! RequestAuthentication for one workload: the merged jwtRules of every applicable resource
//! (one provider per issuer, as istiod builds jwt_authn's providers) and the per-request
//! check: no token anywhere is anonymous; every token found must verify for a provider that
//! reads the location it was found in.

use super::jwks_remote::{JwksSource, KeyStatus, RemoteJwks};
use super::jwt::{self, JwtError, KeySet, TokenCache, VerifiedJwt};
use super::tokens::{self, Location};
use crate::config::spec::{ClaimToHeader, JwtRule};
use crate::request::{JwtIdentity, Request};
use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Keys {
    Inline(Arc<KeySet>),
    /// Index into the remote key sets.
    Remote(usize),
}

#[derive(Debug, Clone)]
struct ProviderEntry {
    provider: jwt::Provider,
    keys: Keys,
    /// Indexes into `RequestAuthn::locations`.
    locations: Vec<usize>,
    forward_original_token: bool,
    payload_header: Option<String>,
    claim_headers: Vec<ClaimToHeader>,
    space_delimited: Vec<String>,
}

/// The compiled RequestAuthentication of a workload.
#[derive(Debug, Clone, Default)]
pub struct RequestAuthn {
    locations: Vec<Location>,
    providers: Vec<ProviderEntry>,
    /// Where the remote key sets come from, one per distinct jwksUri.
    sources: Vec<JwksSource>,
    /// Headers meshguard writes after verification: copies sent by the client are removed
    /// from every request, so none can be forged.
    output_headers: Vec<String>,
}

/// Header changes to make before authorization and before the request goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    pub remove: Vec<String>,
    pub set: Vec<(String, String)>,
}

impl HeaderOps {
    /// Applies the changes to the request the core decides on (the host applies them to
    /// Envoy's header map).
    pub fn apply(&self, r: &mut Request) {
        r.headers
            .retain(|(n, _)| !self.remove.iter().any(|x| x == n));
        for (name, value) in &self.set {
            r.headers.retain(|(n, _)| n != name);
            r.headers.push((name.clone(), value.as_bytes().to_vec()));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.set.is_empty()
    }
}

#[derive(Debug, Clone)]
pub enum Authn {
    /// No token in any location: no request principal, not an error.
    Anonymous,
    /// `cached`: every token was found in the verified-token cache.
    Verified {
        identity: JwtIdentity,
        cached: bool,
    },
    Failed(JwtError),
    /// The keys of this remote set are being fetched for the first time (or refetched for an
    /// unknown `kid`): decide again when they arrive.
    Wait(usize),
}

/// The mutable side of authentication, one per VM: fetched keys and verified tokens.
#[derive(Debug, Default)]
pub struct AuthnState {
    pub remotes: Vec<RemoteJwks>,
    pub cache: TokenCache,
}

impl RequestAuthn {
    /// `rules`: (resource id, rule index, rule) of every applicable RequestAuthentication.
    pub fn new<'a>(
        rules: impl IntoIterator<Item = (String, usize, &'a JwtRule)>,
        clusters: &BTreeMap<String, String>,
    ) -> Result<Self, String> {
        let mut out = RequestAuthn::default();
        let mut by_issuer: BTreeMap<String, (String, &JwtRule)> = BTreeMap::new();
        for (id, i, rule) in rules {
            let at = format!("{id}: spec.jwtRules[{i}]");
            if let Some((first, earlier)) = by_issuer.get(&rule.issuer) {
                if *earlier != rule {
                    return Err(format!(
                        "{at}: issuer {:?} is also configured, differently, by {first}; \
                         Istio keeps one provider per issuer, so the two must agree",
                        rule.issuer
                    ));
                }
                continue;
            }
            by_issuer.insert(rule.issuer.clone(), (at.clone(), rule));
            let keys = match (rule.jwks.as_deref(), rule.jwks_uri.as_deref()) {
                (Some(inline), None) => Keys::Inline(Arc::new(
                    KeySet::parse(inline.as_bytes()).map_err(|e| format!("{at}.jwks: {e}"))?,
                )),
                (None, Some(uri)) => {
                    let source = JwksSource::new(uri, rule.timeout.as_deref(), clusters)
                        .map_err(|e| format!("{at}.jwksUri: {e}"))?;
                    let index = match out.sources.iter().position(|s| s.uri == source.uri) {
                        Some(i) => i,
                        None => {
                            out.sources.push(source);
                            out.sources.len() - 1
                        }
                    };
                    Keys::Remote(index)
                }
                (Some(_), Some(_)) => return Err(format!("{at}: only one of jwks or jwksUri can be set")),
                (None, None) => {
                    return Err(format!(
                        "{at}: jwks or jwksUri is required (meshguard does not read OpenID discovery documents)"
                    ))
                }
            };
            for (j, a) in rule.audiences.iter().enumerate() {
                if a.is_empty() {
                    return Err(format!("{at}.audiences[{j}]: audience must be non-empty"));
                }
            }
            for (j, c) in rule.output_claim_to_headers.iter().enumerate() {
                if c.header.is_empty() || c.claim.is_empty() || !is_header_name(&c.header) {
                    return Err(format!(
                        "{at}.outputClaimToHeaders[{j}]: header and claim must be non-empty, the header a valid header name"
                    ));
                }
            }
            if let Some(h) = &rule.output_payload_to_header {
                if !is_header_name(h) {
                    return Err(format!(
                        "{at}.outputPayloadToHeader: {h:?} is not a valid header name"
                    ));
                }
            }
            let locations = Location::of_rule(rule)
                .into_iter()
                .map(|loc| match out.locations.iter().position(|l| *l == loc) {
                    Some(i) => i,
                    None => {
                        out.locations.push(loc);
                        out.locations.len() - 1
                    }
                })
                .collect();
            let payload_header = rule
                .output_payload_to_header
                .as_ref()
                .map(|h| h.to_ascii_lowercase());
            let claim_headers: Vec<ClaimToHeader> = rule
                .output_claim_to_headers
                .iter()
                .map(|c| ClaimToHeader {
                    header: c.header.to_ascii_lowercase(),
                    claim: c.claim.clone(),
                })
                .collect();
            for h in payload_header
                .iter()
                .chain(claim_headers.iter().map(|c| &c.header))
            {
                if !out.output_headers.contains(h) {
                    out.output_headers.push(h.clone());
                }
            }
            out.providers.push(ProviderEntry {
                provider: jwt::Provider::new(rule.issuer.clone(), &rule.audiences),
                keys,
                locations,
                forward_original_token: rule.forward_original_token,
                payload_header,
                claim_headers,
                space_delimited: rule.space_delimited_claims.clone(),
            });
        }
        Ok(out)
    }

    /// Only the removal of client copies of the output headers (for requests that are not
    /// authenticated).
    pub fn sanitize_only(&self) -> HeaderOps {
        HeaderOps {
            remove: self.output_headers.clone(),
            set: Vec::new(),
        }
    }

    /// The provider for `issuer`: its index (the token cache's key), its claim checks and the
    /// locations it reads, in Istio's order. For tools that hand the engine a token where the
    /// proxy would find it (`meshguard check`).
    pub fn provider_for(&self, issuer: &str) -> Option<(usize, &jwt::Provider, Vec<&Location>)> {
        let (index, p) = self
            .providers
            .iter()
            .enumerate()
            .find(|(_, p)| p.provider.issuer() == issuer)?;
        let locations = p
            .locations
            .iter()
            .filter_map(|l| self.locations.get(*l))
            .collect();
        Some((index, &p.provider, locations))
    }

    pub fn sources(&self) -> &[JwksSource] {
        &self.sources
    }

    pub fn new_state(&self) -> AuthnState {
        AuthnState {
            remotes: self.sources.iter().cloned().map(RemoteJwks::new).collect(),
            cache: TokenCache::default(),
        }
    }

    /// Authenticates `r` at `now` (ms). Client copies of the output headers are always removed.
    pub fn authenticate(
        &self,
        r: &Request,
        state: &mut AuthnState,
        now_ms: u64,
    ) -> (Authn, HeaderOps) {
        let mut ops = HeaderOps {
            remove: self.output_headers.clone(),
            set: Vec::new(),
        };
        let now = now_ms / 1000;
        let mut identity: Option<JwtIdentity> = None;
        let mut all_cached = true;
        for found in tokens::find(&self.locations, r) {
            let readers = || {
                self.providers
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.locations.contains(&found.location))
            };
            // A token seen before is found without parsing it (finding its issuer costs a
            // full parse).
            let cached =
                readers().find_map(|(i, p)| state.cache.get(i, &found.token, now).map(|v| (p, v)));
            all_cached &= cached.is_some();
            let (p, verified) = match cached {
                Some(hit) => hit,
                None => {
                    let issuer = jwt::unverified_issuer(&found.token).unwrap_or_default();
                    let Some((index, p)) = readers().find(|(_, p)| p.provider.issuer() == issuer)
                    else {
                        // The form is checked before the issuer, as Envoy does.
                        let error = match jwt::Jwt::parse(&found.token) {
                            Err(e) => e,
                            Ok(_) => JwtError::UnknownIssuer,
                        };
                        return (Authn::Failed(error), ops);
                    };
                    match self.verify(index, p, &found.token, state, now_ms, now) {
                        Ok(v) => (p, v),
                        Err(outcome) => return (outcome, ops),
                    }
                }
            };
            if let Some(Location::Header { name, .. }) = self.locations.get(found.location) {
                if !p.forward_original_token {
                    ops.remove.push(name.clone());
                }
            }
            if let Some(h) = &p.payload_header {
                ops.set
                    .push((h.clone(), jwt::payload_header(&verified).to_string()));
            }
            ops.set
                .extend(jwt::claim_headers(&verified, &p.claim_headers));
            identity.get_or_insert_with(|| {
                JwtIdentity::new(verified.payload.clone(), p.space_delimited.clone())
            });
        }
        match identity {
            Some(identity) => (
                Authn::Verified {
                    identity,
                    cached: all_cached,
                },
                ops,
            ),
            None => (Authn::Anonymous, ops),
        }
    }

    fn verify(
        &self,
        index: usize,
        p: &ProviderEntry,
        token: &str,
        state: &mut AuthnState,
        now_ms: u64,
        now: u64,
    ) -> Result<Arc<VerifiedJwt>, Authn> {
        let parsed = jwt::Jwt::parse(token).map_err(Authn::Failed)?;
        // Claims before keys, as Envoy: an expired token is "expired" even with no keys yet.
        p.provider
            .check_claims(&parsed, now)
            .map_err(Authn::Failed)?;
        let keys = match &p.keys {
            Keys::Inline(k) => k.clone(),
            Keys::Remote(i) => match state.remotes.get_mut(*i).map(RemoteJwks::use_keys) {
                Some(KeyStatus::Ready(k)) => k,
                Some(KeyStatus::Waiting) => return Err(Authn::Wait(*i)),
                Some(KeyStatus::Unavailable) | None => {
                    return Err(Authn::Failed(JwtError::JwksFetchFail))
                }
            },
        };
        match jwt::verify_signature(&parsed, &keys) {
            Ok(()) => {
                let verified = Arc::new(VerifiedJwt::from(parsed));
                state.cache.insert(index, token, verified.clone(), now);
                Ok(verified)
            }
            Err(JwtError::KidAlgMismatch) => match &p.keys {
                // Keys may have rotated: one early refetch, then decide again.
                Keys::Remote(i)
                    if state
                        .remotes
                        .get_mut(*i)
                        .is_some_and(|r| r.refetch_for_unknown_kid(now_ms)) =>
                {
                    Err(Authn::Wait(*i))
                }
                _ => Err(Authn::Failed(JwtError::KidAlgMismatch)),
            },
            Err(e) => Err(Authn::Failed(e)),
        }
    }

    /// Drops cached tokens of the providers that use remote set `remote` (its keys changed).
    pub fn keys_changed(&self, state: &mut AuthnState, remote: usize) {
        for (i, p) in self.providers.iter().enumerate() {
            if matches!(p.keys, Keys::Remote(r) if r == remote) {
                state.cache.clear_provider(i);
            }
        }
    }
}

/// RFC 7230 token characters, lowercase or not.
fn is_header_name(h: &str) -> bool {
    !h.is_empty()
        && h.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
