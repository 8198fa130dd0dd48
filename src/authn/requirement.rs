//! The per-request check, as Envoy's jwt_authn runs the requirement istiod writes:
//!
//! - one provider: `requires_any[origins-0, allow_missing]`;
//! - several: `requires_any[origins-0, .., origins-n, requires_all[requires_any[origins-i,
//!   allow_missing] for each i]]`.
//!
//! First, client copies of every provider's output headers are removed. Consulting a provider
//! (jwt_authn's `ProviderVerifierImpl`) looks for tokens in its own places only, and checks them
//! from the last found to the first, stopping at the first failure. Each verified token writes the
//! provider's output headers and, unless `forwardOriginalToken`, is removed from the request,
//! at once: a provider consulted later sees the request as changed. `requires_any` ends at the
//! first provider whose tokens all verify; otherwise it answers the last real error of its
//! children (the `requires_all` one last), else "issuer not configured", else "missing".
//! `requires_all` ends at the first child that fails. The request's identity is the payload of
//! the last token verified, whichever provider verified it.
//!
//! Hence Istio's answers, kept here on purpose: with several jwtRules, one provider whose
//! tokens verify is enough, whatever another provider's places hold (a token there is neither
//! checked nor removed); and the error answered is the last one in this order, not the first
//! token's.

use super::jwt::{self, JwtError, VerifiedJwt};
use super::request_authn::{Authn, AuthnState, HeaderOp, HeaderOps, RequestAuthn};
use super::tokens::{without_param, Place};
use crate::request::{JwtIdentity, Request};
use std::sync::Arc;

/// What a provider (or a requirement) answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    /// No token in the provider's places.
    Missing,
    Failed(JwtError),
}

/// One run of the requirement over one request.
struct Walk<'a> {
    authn: &'a RequestAuthn,
    base: &'a Request,
    /// The request as changed so far, kept only when a provider may read it after a change
    /// (several providers).
    view: Option<Request>,
    track_view: bool,
    /// `:path` as changed so far (a token removed from the query string).
    path: Option<String>,
    ops: HeaderOps,
    /// The last verified token and its provider.
    last: Option<(Arc<VerifiedJwt>, usize)>,
    all_cached: bool,
}

/// A remote key set must be fetched before the walk can go on.
struct Wait(usize);

impl RequestAuthn {
    /// Authenticates `r` at `now_ms`: the outcome, and the changes to make to the request.
    pub fn authenticate(
        &self,
        r: &Request,
        state: &mut AuthnState,
        now_ms: u64,
    ) -> (Authn, HeaderOps) {
        let mut w = Walk {
            authn: self,
            base: r,
            view: None,
            track_view: self.providers.len() > 1,
            path: None,
            ops: HeaderOps::default(),
            last: None,
            all_cached: true,
        };
        for op in self.sanitize(r).ops {
            w.push(op);
        }
        let status = match w.requirement(state, now_ms) {
            Ok(s) => s,
            Err(Wait(remote)) => return (Authn::Wait(remote), HeaderOps::default()),
        };
        let outcome = match (status, w.last) {
            (Status::Failed(e), _) => Authn::Failed(e),
            (_, None) => Authn::Anonymous,
            (_, Some((verified, i))) => {
                let space_delimited = self
                    .providers
                    .get(i)
                    .map(|p| p.space_delimited.clone())
                    .unwrap_or_default();
                Authn::Verified {
                    identity: JwtIdentity::new(verified.payload.clone(), space_delimited),
                    cached: w.all_cached,
                }
            }
        };
        (outcome, w.ops)
    }
}

impl Walk<'_> {
    fn requirement(&mut self, state: &mut AuthnState, now_ms: u64) -> Result<Status, Wait> {
        let n = self.authn.providers.len();
        if n == 0 {
            return Ok(Status::Ok);
        }
        if n == 1 {
            return Ok(match self.provider(0, state, now_ms)? {
                Status::Missing => Status::Ok,
                s => s,
            });
        }
        let mut children = Vec::with_capacity(n + 1);
        for i in 0..n {
            match self.provider(i, state, now_ms)? {
                Status::Ok => return Ok(Status::Ok),
                s => children.push(s),
            }
        }
        // requires_all[requires_any[origins-i, allow_missing]...]: every provider consulted
        // again, on the request as changed so far.
        let mut all = Status::Ok;
        for i in 0..n {
            match self.provider(i, state, now_ms)? {
                Status::Ok | Status::Missing => {}
                s => {
                    all = s;
                    break;
                }
            }
        }
        if all == Status::Ok {
            return Ok(Status::Ok);
        }
        children.push(all);
        Ok(any_failed(&children))
    }

    /// Consults provider `i`.
    fn provider(&mut self, i: usize, state: &mut AuthnState, now_ms: u64) -> Result<Status, Wait> {
        let authn = self.authn;
        let Some(p) = authn.providers.get(i) else {
            return Ok(Status::Missing);
        };
        let found = p.extractor.find(self.request());
        if found.is_empty() {
            return Ok(Status::Missing);
        }
        let now = now_ms / 1000;
        for f in found.iter().rev() {
            let (verified, hit) = match state.cache.get(i, &f.token, now) {
                Some(v) => (v, true),
                None => match authn.verify(i, p, &f.token, state, now_ms, now) {
                    Ok(v) => (v, false),
                    Err(Authn::Wait(remote)) => return Err(Wait(remote)),
                    Err(Authn::Failed(e)) => return Ok(Status::Failed(e)),
                    // verify answers nothing else.
                    Err(_) => return Ok(Status::Failed(JwtError::VerificationFail)),
                },
            };
            if let Some(h) = &p.payload_header {
                self.push(HeaderOp::Add(
                    h.clone(),
                    jwt::payload_header(&verified).to_string(),
                ));
            }
            for (h, v) in jwt::claim_headers(&verified, &p.claim_headers) {
                self.push(HeaderOp::Add(h, v));
            }
            if !p.forward_original_token {
                match &f.place {
                    Place::Header(name) => self.push(HeaderOp::Remove(name.clone())),
                    Place::Param(name) => {
                        let path = without_param(self.current_path(), name);
                        self.push(HeaderOp::Path(path));
                    }
                    Place::Cookie => {}
                }
            }
            self.all_cached &= hit;
            self.last = Some((verified, i));
        }
        Ok(Status::Ok)
    }

    fn request(&self) -> &Request {
        self.view.as_ref().unwrap_or(self.base)
    }

    fn current_path(&self) -> &str {
        self.path.as_deref().unwrap_or(&self.base.path)
    }

    fn push(&mut self, op: HeaderOp) {
        if let HeaderOp::Path(p) = &op {
            self.path = Some(p.clone());
        }
        if self.track_view {
            op.apply(self.view.get_or_insert_with(|| self.base.clone()));
        }
        self.ops.ops.push(op);
    }
}

/// `requires_any` when no child succeeded: the last error that is neither "missing" nor
/// "issuer not configured", else "issuer not configured" if a child said so, else "missing".
fn any_failed(children: &[Status]) -> Status {
    let mut out = Status::Missing;
    for &c in children {
        let weak = matches!(c, Status::Missing | Status::Failed(JwtError::UnknownIssuer));
        if !weak || out == Status::Missing {
            out = c;
        }
    }
    out
}
