//! jwt_authn's requirement as istiod writes it, through the engine: which token is checked
//! first, which error is answered, when one provider is enough, what reaches the upstream,
//! and CUSTOM before authentication. Each case was first seen as a disagreement with Envoy's
//! native filters (tests/integration/test_differential.py keeps them against a real Envoy).

use super::tests_jwt::{ap, bearer, decide, engine, inline, ra, req, token, ISS, NOW};
use super::Reason;
use crate::authn::jwt::JwtError;
use crate::authn::request_authn::HeaderOp;
use serde_json::json;

const ISS_B: &str = "issuer-b";

fn token_b(sub: &str) -> String {
    token(json!({"iss": ISS_B, "sub": sub}))
}

fn jwt_error(reason: Reason) -> Option<JwtError> {
    match reason {
        Reason::Jwt(e) => Some(e),
        _ => None,
    }
}

#[test]
fn the_last_token_found_is_checked_first() {
    // Authorization (audience refused) and ?access_token (malformed): Envoy checks the query
    // token first and answers its error.
    let e = engine(json!([ra(
        "jwt",
        json!([inline(json!({"audiences": ["other"]}))])
    )]))
    .unwrap();
    let (d, _, _) = decide(
        &e,
        &req(
            "/x?access_token=x",
            &[("authorization", &bearer(&token(json!({}))))],
        ),
    );
    assert_eq!(jwt_error(d.reason), Some(JwtError::BadFormat));
    let (d, _, _) = decide(
        &e,
        &req("/x", &[("authorization", &bearer(&token(json!({}))))]),
    );
    assert_eq!(jwt_error(d.reason), Some(JwtError::AudienceNotAllowed));
}

#[test]
fn an_empty_query_token_is_malformed_not_anonymous() {
    let e = engine(json!([ra("jwt", json!([inline(json!({}))]))])).unwrap();
    for path in ["/x?access_token=", "/x?access_token"] {
        let (d, _, _) = decide(&e, &req(path, &[]));
        assert_eq!(jwt_error(d.reason), Some(JwtError::BadFormat), "{path}");
    }
}

#[test]
fn one_provider_whose_tokens_verify_is_enough() {
    // A reads x-jwt, B the default places; A's valid token in x-jwt, a bad one in Authorization:
    // origins-0 (A) verifies and the requirement is met; Authorization is neither checked nor
    // removed, and the identity is A's.
    let e = engine(json!([ra(
        "jwt",
        json!([
            inline(json!({"fromHeaders": [{"name": "x-jwt"}]})),
            inline(json!({"issuer": ISS_B}))
        ])
    )]))
    .unwrap();
    let (d, ops, r) = decide(
        &e,
        &req(
            "/",
            &[
                ("x-jwt", &token(json!({}))),
                ("authorization", "Bearer not.a.token"),
            ],
        ),
    );
    assert!(d.allow, "{}", d.reason.as_str());
    assert_eq!(d.auth.principal, Some(format!("{ISS}/alice")));
    assert_eq!(ops.removed(), vec!["x-jwt"]);
    assert!(r.header("authorization").is_some());
    // B's token alone verifies through origins-1.
    let (d, _, _) = decide(
        &e,
        &req("/", &[("authorization", &bearer(&token_b("bob")))]),
    );
    assert_eq!(d.auth.principal, Some(format!("{ISS_B}/bob")));
    // Neither verifies: the last real error of requires_any's children (requires_all's, which
    // stops at A's bad token in x-jwt).
    let (d, _, _) = decide(
        &e,
        &req(
            "/",
            &[("x-jwt", "x.y"), ("authorization", "Bearer not.a.token")],
        ),
    );
    assert_eq!(jwt_error(d.reason), Some(JwtError::BadFormat));
    // A token of an unknown issuer where both read: "issuer not configured".
    let (d, _, _) = decide(
        &e,
        &req(
            "/",
            &[("authorization", &bearer(&token(json!({"iss": "other"}))))],
        ),
    );
    assert_eq!(jwt_error(d.reason), Some(JwtError::UnknownIssuer));
}

#[test]
fn a_verified_query_token_is_removed_and_the_query_rebuilt() {
    let e = engine(json!([ra("jwt", json!([inline(json!({}))]))])).unwrap();
    let t = token(json!({}));
    let (d, ops, r) = decide(&e, &req(&format!("/x?z=1&access_token={t}&b=%41&c"), &[]));
    assert!(d.allow);
    assert_eq!(r.path, "/x?b=A&c=&z=1");
    assert_eq!(ops.path(), Some("/x?b=A&c=&z=1"));
    let (_, _, r) = decide(&e, &req(&format!("/x?access_token={t}"), &[]));
    assert_eq!(r.path, "/x");
    // forwardOriginalToken keeps it.
    let e = engine(json!([ra(
        "jwt",
        json!([inline(json!({"forwardOriginalToken": true}))])
    )]))
    .unwrap();
    let (_, ops, r) = decide(&e, &req(&format!("/x?access_token={t}"), &[]));
    assert_eq!(
        (ops.path(), r.path.as_str()),
        (None, &*format!("/x?access_token={t}"))
    );
}

#[test]
fn every_verified_token_writes_its_claims() {
    let e = engine(json!([ra("jwt", json!([inline(json!({
        "fromHeaders": [{"name": "authorization", "prefix": "Bearer "}, {"name": "x-jwt", "prefix": "Token "}],
        "outputClaimToHeaders": [{"header": "x-jwt-sub", "claim": "sub"}]}))]))]))
    .unwrap();
    let t = token(json!({}));
    let (d, ops, r) = decide(
        &e,
        &req(
            "/",
            &[
                ("x-jwt-sub", "forged"),
                ("authorization", &bearer(&t)),
                ("x-jwt", &format!("Token {t}")),
            ],
        ),
    );
    assert!(d.allow);
    let subs: Vec<&[u8]> = r.header_values("x-jwt-sub").collect();
    assert_eq!(subs, vec![&b"alice"[..], &b"alice"[..]]);
    assert_eq!(ops.ops.first(), Some(&HeaderOp::Remove("x-jwt-sub".into())));
}

#[test]
fn custom_denies_before_authentication() {
    // CUSTOM comes before jwt_authn: an expired token on a path CUSTOM covers gets 403. A
    // CUSTOM rule on request principals could never match (no identity yet): Istio refuses it.
    let e = engine(json!([
        ra("jwt", json!([inline(json!({}))])),
        ap(
            "ext",
            json!({"action": "CUSTOM", "provider": {"name": "ext-authz"},
                         "rules": [{"to": [{"operation": {"paths": ["/admin/*"]}}]}]})
        )
    ]))
    .unwrap();
    let refused = engine(json!([ap(
        "ext",
        json!({"action": "CUSTOM", "provider": {"name": "ext-authz"},
               "rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]})
    )]))
    .err()
    .unwrap();
    assert!(
        refused.contains("requestPrincipals is currently not supported with CUSTOM action"),
        "{}",
        refused
    );
    let expired = token(json!({"exp": NOW - 3600}));
    let (d, ops, _) = decide(
        &e,
        &req("/admin/x", &[("authorization", &bearer(&expired))]),
    );
    assert_eq!(
        (d.allow, d.reason.as_str(), d.policy.as_deref()),
        (false, "custom_matched", Some("default.ext"))
    );
    assert!(ops.is_empty() && d.auth.error.is_none());
    let (d, _, _) = decide(
        &e,
        &req("/api", &[("authorization", &bearer(&token(json!({}))))]),
    );
    assert!(d.allow, "{}", d.reason.as_str());
}
