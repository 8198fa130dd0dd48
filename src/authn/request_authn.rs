//! RequestAuthentication for one workload: the merged jwtRules of every applicable resource,
//! one provider per issuer sorted by issuer (istiod's `origins-<i>`), each with the places it
//! reads tokens from and the headers it writes. The per-request check, jwt_authn's requirement
//! as istiod writes it, is in `requirement.rs`.

use super::jwks_remote::{JwksSource, KeyStatus, RemoteJwks};
use super::jwt::{self, JwtError, KeySet, TokenCache, VerifiedJwt};
use super::tokens::{Extractor, Location};
use crate::config::spec::{ClaimToHeader, JwtRule};
use crate::map::SortedMap;
use crate::request::{JwtIdentity, Request};
use std::sync::Arc;

#[derive(Debug, Clone)]
enum Keys {
    Inline(Arc<KeySet>),
    /// Index into the remote key sets.
    Remote(usize),
}

#[derive(Debug, Clone)]
pub(super) struct ProviderEntry {
    pub(super) provider: jwt::Provider,
    keys: Keys,
    /// The rule's locations in its own order (Istio's defaults when it declares none).
    locations: Vec<Location>,
    /// The same places in the order Envoy looks at them.
    pub(super) extractor: Extractor,
    pub(super) forward_original_token: bool,
    pub(super) payload_header: Option<String>,
    pub(super) claim_headers: Vec<ClaimToHeader>,
    pub(super) space_delimited: Vec<String>,
}

/// The compiled RequestAuthentication of a workload.
#[derive(Debug, Clone, Default)]
pub struct RequestAuthn {
    /// Sorted by issuer, as istiod numbers them.
    pub(super) providers: Vec<ProviderEntry>,
    /// Where the remote key sets come from, one per distinct jwksUri.
    sources: Vec<JwksSource>,
    /// The headers the providers write: client copies are removed from every request before
    /// anything else (CORS preflights included), as Envoy 1.40's jwt_authn does, so none can
    /// be forged.
    pub(super) output_headers: Vec<String>,
}

/// One change authentication makes to the request, in the order jwt_authn makes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderOp {
    /// Every value of the header goes.
    Remove(String),
    /// One more value (another entry if the header is there already).
    Add(String, String),
    /// `:path` replaced: a verified token removed from the query string.
    Path(String),
}

/// Header changes to make before authorization and before the request goes upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderOps {
    pub ops: Vec<HeaderOp>,
}

impl HeaderOp {
    pub fn apply(&self, r: &mut Request) {
        match self {
            HeaderOp::Remove(name) => r
                .headers
                .retain(|n, _| !n.eq_ignore_ascii_case(name.as_bytes())),
            HeaderOp::Add(name, value) => r.headers.push(name.as_bytes(), value.as_bytes()),
            HeaderOp::Path(path) => r.path.clone_from(path),
        }
    }
}

impl HeaderOps {
    /// Applies the changes to the request the core decides on (the host applies them to
    /// Envoy's header map).
    pub fn apply(&self, r: &mut Request) {
        for op in &self.ops {
            op.apply(r);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// The headers removed, each once.
    pub fn removed(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for op in &self.ops {
            if let HeaderOp::Remove(n) = op {
                if !out.contains(&n.as_str()) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// The headers added, each once.
    pub fn added(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for op in &self.ops {
            if let HeaderOp::Add(n, _) = op {
                if !out.contains(&n.as_str()) {
                    out.push(n);
                }
            }
        }
        out
    }

    /// The new `:path`, if a token was removed from the query string.
    pub fn path(&self) -> Option<&str> {
        self.ops.iter().rev().find_map(|op| match op {
            HeaderOp::Path(p) => Some(p.as_str()),
            _ => None,
        })
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
    /// `rules` is a Vec, not any iterator: one copy of this (large) function in the .wasm.
    pub fn new(
        rules: Vec<(String, usize, &JwtRule)>,
        clusters: &SortedMap<String, String>,
    ) -> Result<Self, String> {
        let mut out = RequestAuthn::default();
        let mut by_issuer: SortedMap<String, (String, &JwtRule)> = SortedMap::new();
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
            let locations = Location::of_rule(rule);
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
                extractor: Extractor::new(&locations),
                locations,
                forward_original_token: rule.forward_original_token,
                payload_header,
                claim_headers,
                space_delimited: rule.space_delimited_claims.clone(),
            });
        }
        // istiod sorts the rules by issuer (stably) before numbering them `origins-<i>`:
        // the order in which jwt_authn consults them, which decides whose error is answered.
        crate::sort::sort_by(&mut out.providers, |a, b| {
            a.provider.issuer().cmp(b.provider.issuer())
        });
        Ok(out)
    }

    /// The removal of client copies of the output headers, all that happens to a request
    /// that is not authenticated (a CORS preflight).
    pub fn sanitize(&self, r: &Request) -> HeaderOps {
        HeaderOps {
            ops: self
                .output_headers
                .iter()
                .filter(|h| r.header(h).is_some())
                .map(|h| HeaderOp::Remove(h.clone()))
                .collect(),
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
        Some((index, &p.provider, p.locations.iter().collect()))
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

    /// Checks a token not found in the cache for provider `index`, in Envoy's order: form,
    /// issuer, time, audiences, keys (fetched first if remote), signature.
    pub(super) fn verify(
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
