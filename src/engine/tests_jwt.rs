//! RequestAuthentication through the engine: merged providers, token locations, responses,
//! header changes, remote keys and the verified-token cache. Tokens are HS256 (fast to make);
//! the algorithms themselves are tested in `authn::jwt`.

use super::*;
use crate::authn::request_authn::{AuthnState, HeaderOp};
use crate::request::{Peer, Request};
use jwt_compact::alg::{Hs256, Hs256Key};
use jwt_compact::{Algorithm, AlgorithmSignature};
use serde_json::{json, Value};

pub(super) const NOW: u64 = 1_700_000_000;
pub(super) const ISS: &str = "https://auth.example.com";
const SECRET: &[u8] = b"a shared secret of thirty-two by";
/// base64url("a shared secret of thirty-two by")
const SECRET_B64: &str = "YSBzaGFyZWQgc2VjcmV0IG9mIHRoaXJ0eS10d28gYnk";

fn b64(bytes: &[u8]) -> String {
    crate::authn::jwt::base64url::encode(bytes)
}

pub(super) fn sign(payload: Value, kid: &str) -> String {
    let header = json!({"alg": "HS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        b64(header.to_string().as_bytes()),
        b64(payload.to_string().as_bytes())
    );
    let sig = Hs256.sign(&Hs256Key::new(SECRET), input.as_bytes());
    format!("{input}.{}", b64(&sig.as_bytes()))
}

pub(super) fn token(extra: Value) -> String {
    let mut p = json!({"iss": ISS, "sub": "alice", "aud": "api", "exp": NOW + 600, "groups": ["dev", "ops"], "scope": "read write"});
    if let (Some(p), Some(x)) = (p.as_object_mut(), extra.as_object()) {
        p.extend(x.clone());
    }
    sign(p, "k1")
}

pub(super) fn jwks() -> String {
    json!({"keys": [{"kty": "oct", "kid": "k1", "alg": "HS256", "k": SECRET_B64}]}).to_string()
}

pub(super) fn ra(name: &str, rules: Value) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "RequestAuthentication",
           "metadata": {"name": name, "namespace": "default"}, "spec": {"jwtRules": rules}})
}

pub(super) fn ap(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
           "metadata": {"name": name, "namespace": "default"}, "spec": spec})
}

pub(super) fn engine(resources: Value) -> Result<Engine, String> {
    let cfg = json!({"workload": {"namespace": "default", "labels": {"app": "api"}}, "resources": resources,
                     "jwksClusters": {"http://keys.local/jwks": "jwks"}});
    Engine::new(
        PluginConfig::parse(cfg.to_string().as_bytes()).map_err(|e| e.0)?,
        None,
    )
    .map_err(|e| e.0)
}

pub(super) fn inline(extra: Value) -> Value {
    let mut rule = json!({"issuer": ISS, "jwks": jwks()});
    if let (Some(r), Some(x)) = (rule.as_object_mut(), extra.as_object()) {
        r.extend(x.clone());
    }
    rule
}

pub(super) fn req(path: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        scheme: "http".into(),
        path: path.into(),
        authority: "api.local".into(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()))
            .collect(),
        peer: Peer::plaintext(),
        destination_port: Some(8080),
        ..Default::default()
    }
}

pub(super) fn bearer(t: &str) -> String {
    format!("Bearer {t}")
}

/// Decides at NOW with `state`; panics if the request would wait.
pub(super) fn done(e: &Engine, r: &mut Request, state: &mut AuthnState) -> (Decision, HeaderOps) {
    match e.decide(r, state, NOW * 1000) {
        Step::Done(d, ops) => (d, ops),
        Step::Wait(i) => panic!("waits for remote JWKS {i}"),
    }
}

pub(super) fn decide(e: &Engine, r: &Request) -> (Decision, HeaderOps, Request) {
    let mut r = r.clone();
    let mut state = e.authn.new_state();
    let (d, ops) = done(e, &mut r, &mut state);
    (d, ops, r)
}

#[test]
fn a_valid_token_gives_the_request_principal() {
    let e = engine(json!([
        ra("jwt", json!([inline(json!({}))])),
        ap(
            "require-jwt",
            json!({"rules": [{"from": [{"source": {"requestPrincipals": [format!("{ISS}/*")]}}]}]})
        )
    ]))
    .unwrap();
    let (d, ops, r) = decide(
        &e,
        &req("/", &[("authorization", &bearer(&token(json!({}))))]),
    );
    assert_eq!((d.allow, d.reason.as_str()), (true, "allow_matched"));
    assert_eq!(
        d.auth.principal.as_deref(),
        Some("https://auth.example.com/alice")
    );
    assert_eq!(d.auth.audiences, Some(vec!["api".to_string()]));
    // forwardOriginalToken is false by default: the header that carried the token goes.
    assert!(ops.removed().contains(&"authorization"));
    assert!(r.header("authorization").is_none());
    // No token: anonymous, and the ALLOW on requestPrincipals denies.
    let (d, _, _) = decide(&e, &req("/", &[]));
    assert_eq!((d.allow, d.reason.as_str()), (false, "no_allow_match"));
    assert_eq!(d.auth, AuthReport::default());
}

#[test]
fn failures_answer_as_jwt_authn() {
    let e = engine(json!([ra(
        "jwt",
        json!([inline(json!({"audiences": ["api", "web"]}))])
    )]))
    .unwrap();
    let cases = [
        (token(json!({"exp": NOW - 61})), 401, "Jwt is expired"),
        (token(json!({"nbf": NOW + 61})), 401, "Jwt not yet valid"),
        (
            token(json!({"iss": "https://other.example.com"})),
            401,
            "Jwt issuer is not configured",
        ),
        (
            token(json!({"aud": "other"})),
            403,
            "Audiences in Jwt are not allowed",
        ),
        (
            "a.b".to_string(),
            401,
            "Jwt is not in the form of Header.Payload.Signature with two dots and 3 sections",
        ),
        (
            format!("{}x", token(json!({}))),
            401,
            "Jwt verification fails",
        ),
    ];
    for (t, status, body) in cases {
        let r = req("/p?q=1", &[("authorization", &bearer(&t))]);
        let (d, _, _) = decide(&e, &r);
        let reply = d.reply(&r).unwrap();
        assert_eq!((reply.status, reply.body), (status, body), "{t}");
        assert_eq!(d.auth.error, Some(body));
        assert_eq!(
            reply.headers,
            vec![(
                "www-authenticate",
                "Bearer realm=\"http://api.local/p?q=1\", error=\"invalid_token\"".to_string()
            )]
        );
        assert!(
            d.reason.as_str().starts_with("jwt") || d.reason.as_str().starts_with("jwks"),
            "{}",
            d.reason.as_str()
        );
    }
    // Within the clock skew.
    assert!(
        decide(
            &e,
            &req(
                "/",
                &[("authorization", &bearer(&token(json!({"exp": NOW - 59}))))]
            )
        )
        .0
        .allow
    );
    // A header without the prefix carries no token: anonymous, not 401.
    assert!(
        decide(&e, &req("/", &[("authorization", "Basic abc")]))
            .0
            .allow
    );
    // A valid header token and an invalid query token: every token must verify.
    let r = req(
        &format!("/?access_token={}", token(json!({"exp": NOW - 100}))),
        &[("authorization", &bearer(&token(json!({}))))],
    );
    assert_eq!(decide(&e, &r).0.reason.as_str(), JwtError::Expired.code());
}

#[test]
fn cors_preflight_is_not_authenticated() {
    let e = engine(json!([ra("jwt", json!([inline(json!({}))]))])).unwrap();
    let r = req(
        "/",
        &[
            ("authorization", "Bearer garbage"),
            ("origin", "https://a"),
            ("access-control-request-method", "GET"),
        ],
    );
    let mut preflight = r.clone();
    preflight.method = "OPTIONS".into();
    assert!(decide(&e, &preflight).0.allow);
    assert!(!decide(&e, &r).0.allow);
}

#[test]
fn connect_is_not_authenticated() {
    // istiod's jwt_authn rule matches `prefix: /`: a CONNECT (no :path) meets no requirement,
    // so a bad token is not refused and a good one gives no principal (Envoy 1.40, measured).
    let e = engine(json!([
        ra("jwt", json!([inline(json!({}))])),
        ap(
            "require-jwt",
            json!({"rules": [{"from": [{"source": {"requestPrincipals": ["*"]}}]}]})
        )
    ]))
    .unwrap();
    let connect = |auth: &str| {
        let mut r = req("", &[("authorization", auth)]);
        r.method = "CONNECT".into();
        r.no_path = true;
        r
    };
    let (d, _, _) = decide(&e, &connect("Bearer garbage"));
    assert_eq!((d.allow, d.reason.as_str()), (false, "no_allow_match"));
    let (d, _, _) = decide(&e, &connect(&bearer(&token(json!({})))));
    assert_eq!((d.allow, d.reason.as_str()), (false, "no_allow_match"));
    assert_eq!(d.auth.principal, None);
    // The same good token on a request with a path is verified.
    assert!(
        decide(
            &e,
            &req("/", &[("authorization", &bearer(&token(json!({}))))])
        )
        .0
        .allow
    );
}

#[test]
fn output_headers_are_written_and_cannot_be_forged() {
    let rule = inline(
        json!({"forwardOriginalToken": true, "outputPayloadToHeader": "x-jwt-payload",
        "outputClaimToHeaders": [{"header": "x-jwt-sub", "claim": "sub"}]}),
    );
    let e = engine(json!([ra("jwt", json!([rule])),
        ap("deny-forged", json!({"action": "DENY", "rules": [{"when": [{"key": "request.headers[x-jwt-sub]", "values": ["admin"]}]}]}))])).unwrap();
    let t = token(json!({}));
    let (d, ops, r) = decide(
        &e,
        &req(
            "/",
            &[("authorization", &bearer(&t)), ("x-jwt-sub", "admin")],
        ),
    );
    assert!(
        d.allow,
        "the forged header is replaced before authorization"
    );
    assert_eq!(r.header("x-jwt-sub"), Some(&b"alice"[..]));
    assert!(
        r.header("authorization").is_some(),
        "forwardOriginalToken keeps it"
    );
    let payload = t.split('.').nth(1).unwrap();
    assert_eq!(r.header("x-jwt-payload"), Some(payload.as_bytes()));
    assert!(ops
        .ops
        .contains(&HeaderOp::Add("x-jwt-sub".into(), "alice".into())));
    // Without a token the client's copy is removed, not trusted.
    let (d, ops, r) = decide(
        &e,
        &req("/", &[("x-jwt-sub", "admin"), ("x-jwt-payload", "forged")]),
    );
    assert!(d.allow);
    assert!(r.header("x-jwt-sub").is_none() && r.header("x-jwt-payload").is_none());
    assert!(ops.removed().contains(&"x-jwt-sub"));
}

#[test]
fn claims_in_conditions() {
    let rule = inline(json!({"spaceDelimitedClaims": ["roles"]}));
    let e = engine(json!([ra("jwt", json!([rule])), ap("claims", json!({"rules": [
        {"to": [{"operation": {"paths": ["/groups"]}}], "when": [{"key": "request.auth.claims[groups]", "values": ["ops"]}]},
        {"to": [{"operation": {"paths": ["/scope"]}}], "when": [{"key": "request.auth.claims[scope]", "values": ["write"]}]},
        {"to": [{"operation": {"paths": ["/roles"]}}], "when": [{"key": "request.auth.claims[roles]", "values": ["admin"]}]},
        {"to": [{"operation": {"paths": ["/aud"]}}], "when": [{"key": "request.auth.audiences", "values": ["api"]}]},
        {"to": [{"operation": {"paths": ["/principal"]}}], "when": [{"key": "request.auth.principal", "values": [format!("{ISS}/alice")]}]}
    ]}))])).unwrap();
    let t = token(json!({"roles": "reader admin"}));
    for path in ["/groups", "/scope", "/roles", "/aud", "/principal"] {
        let (d, _, _) = decide(&e, &req(path, &[("authorization", &bearer(&t))]));
        assert!(d.allow, "{path}: {}", d.reason.as_str());
        assert!(
            !decide(&e, &req(path, &[])).0.allow,
            "{path} without a token"
        );
    }
}

#[test]
fn providers_share_a_location_by_issuer() {
    let other = json!({"issuer": "https://other.example.com", "jwks": jwks()});
    let e = engine(json!([
        ra("a", json!([inline(json!({}))])),
        ra("b", json!([other]))
    ]))
    .unwrap();
    let t = token(json!({"iss": "https://other.example.com"}));
    let (d, _, _) = decide(&e, &req("/", &[("authorization", &bearer(&t))]));
    assert_eq!(
        d.auth.principal.as_deref(),
        Some("https://other.example.com/alice")
    );
    // A provider reading another header does not read Authorization.
    let e = engine(json!([ra(
        "a",
        json!([inline(json!({"fromHeaders": [{"name": "x-token"}]}))])
    )]))
    .unwrap();
    assert!(
        decide(&e, &req("/", &[("authorization", "Bearer garbage")]))
            .0
            .allow
    );
    assert!(!decide(&e, &req("/", &[("x-token", "garbage")])).0.allow);
}

#[test]
fn configuration_errors() {
    let err = |rules: Value| engine(json!([ra("bad", rules)])).unwrap_err();
    assert!(err(json!([{"issuer": ISS}])).contains(
        "RequestAuthentication default/bad: spec.jwtRules[0]: jwks or jwksUri is required"
    ));
    assert!(
        err(json!([{"issuer": ISS, "jwks": jwks(), "jwksUri": "http://keys.local/jwks"}]))
            .contains("only one of")
    );
    assert!(err(json!([{"issuer": ISS, "jwks": "{}"}])).contains("spec.jwtRules[0].jwks"));
    assert!(
        err(json!([{"issuer": ISS, "jwksUri": "ftp://x/j"}])).contains("spec.jwtRules[0].jwksUri")
    );
    assert!(
        err(json!([{"issuer": ISS, "jwks": jwks(), "audiences": [""]}])).contains("audiences[0]")
    );
    assert!(err(json!([{"issuer": ISS, "jwks": jwks(), "outputClaimToHeaders": [{"header": "bad header", "claim": "sub"}]}])).contains("outputClaimToHeaders[0]"));
    assert!(err(json!([{"issuer": "", "jwks": jwks()}])).contains("issuer"));
    let e = engine(json!([
        ra("a", json!([inline(json!({}))])),
        ra("b", json!([inline(json!({"audiences": ["x"]}))]))
    ]))
    .unwrap_err();
    assert!(
        e.contains("RequestAuthentication default/b: spec.jwtRules[0]: issuer")
            && e.contains("default/a"),
        "{e}"
    );
    // The same rule twice is one provider.
    assert!(engine(json!([
        ra("a", json!([inline(json!({}))])),
        ra("b", json!([inline(json!({}))]))
    ]))
    .is_ok());
}

#[test]
fn remote_keys_are_waited_for_then_cached() {
    let e = engine(json!([ra(
        "jwt",
        json!([{"issuer": ISS, "jwksUri": "http://keys.local/jwks"}])
    )]))
    .unwrap();
    assert_eq!(e.authn.sources()[0].cluster, "jwks");
    let mut state = e.authn.new_state();
    let t = token(json!({}));
    let mut r = req("/", &[("authorization", &bearer(&t))]);
    // An expired token fails without waiting for keys (claims first, as Envoy).
    let mut expired = req(
        "/",
        &[("authorization", &bearer(&token(json!({"exp": NOW - 100}))))],
    );
    assert_eq!(
        done(&e, &mut expired, &mut state).0.reason.as_str(),
        JwtError::Expired.code()
    );
    assert_eq!(
        e.decide(&mut r.clone(), &mut state, NOW * 1000),
        Step::Wait(0)
    );
    state.remotes[0].started(NOW * 1000);
    state.remotes[0]
        .completed(Some(200), Some(jwks().as_bytes()), NOW * 1000)
        .unwrap();
    let (d, _) = done(&e, &mut r, &mut state);
    assert!(d.allow);
    assert_eq!(state.cache.len(), 1);
    // A token signed with a key the set does not have: one refetch is waited for, then 401.
    let unknown = sign(json!({"iss": ISS, "sub": "bob", "exp": NOW + 600}), "k2");
    let mut r2 = req("/", &[("authorization", &bearer(&unknown))]);
    assert_eq!(
        e.decide(&mut r2.clone(), &mut state, NOW * 1000),
        Step::Wait(0)
    );
    assert!(state.remotes[0].due(NOW * 1000));
    state.remotes[0].started(NOW * 1000);
    state.remotes[0]
        .completed(Some(200), Some(jwks().as_bytes()), NOW * 1000 + 10)
        .unwrap();
    e.authn.keys_changed(&mut state, 0);
    assert_eq!(
        state.cache.len(),
        0,
        "new keys drop the provider's cached tokens"
    );
    let (d, _) = done(&e, &mut r2, &mut state);
    assert_eq!(d.auth.error, Some(JwtError::KidAlgMismatch.body()));
}

#[test]
fn unavailable_keys_fail_the_token() {
    let e = engine(json!([ra(
        "jwt",
        json!([{"issuer": ISS, "jwksUri": "http://keys.local/jwks"}])
    )]))
    .unwrap();
    let mut state = e.authn.new_state();
    state.remotes[0].started(0);
    state.remotes[0].completed(Some(503), None, 0).unwrap_err();
    let mut r = req("/", &[("authorization", &bearer(&token(json!({}))))]);
    let (d, _) = done(&e, &mut r, &mut state);
    let reply = d.reply(&r).unwrap();
    assert_eq!(
        (reply.status, reply.body),
        (401, "Jwks remote fetch is failed")
    );
    // Without a token nothing waits or fails.
    assert!(done(&e, &mut req("/", &[]), &mut state).0.allow);
}
