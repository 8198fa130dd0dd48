//! Every rule of verification, and every token attack of `shared/research/security.md`
//! rows 19-36 (each test names its row).

use super::*;

// --- Every algorithm, and what a verified token gives -------------------------------------

#[test]
fn every_algorithm_verifies() {
    let c = claims();
    let rsa = |name: &str, alg: Rsa| {
        token(
            json!({"alg": name, "kid": "rsa"}),
            c.clone(),
            Signer::Rsa(alg, &k().rsa),
        )
    };
    let tokens = [
        rsa("RS256", Rsa::rs256()),
        rsa("RS384", Rsa::rs384()),
        rsa("RS512", Rsa::rs512()),
        rsa("PS256", Rsa::ps256()),
        rsa("PS384", Rsa::ps384()),
        rsa("PS512", Rsa::ps512()),
        es256(c.clone()),
        token(
            json!({"alg": "ES384", "kid": "ec384"}),
            c.clone(),
            Signer::Es384(&k().p384),
        ),
        token(
            json!({"alg": "ES512", "kid": "ec521"}),
            c.clone(),
            Signer::Es512(&k().p521),
        ),
        token(json!({"alg": "EdDSA"}), c.clone(), Signer::Ed(&k().ed.sk)),
        hs256(c.clone()),
        token(
            json!({"alg": "HS384", "kid": "hmac"}),
            c.clone(),
            Signer::Hs384(&k().hmac),
        ),
        token(json!({"alg": "HS512"}), c.clone(), Signer::Hs512(&k().hmac)),
    ];
    for t in &tokens {
        let v = check(t).unwrap_or_else(|e| panic!("{e}: {t}"));
        assert_eq!(v.iss, ISS);
    }
}

#[test]
fn verified_token_gives_claims() {
    let t = es256(claims_with(
        json!({"aud": ["web", "api"], "groups": ["a", "b"]}),
    ));
    let v = check(&t).unwrap();
    assert_eq!(v.iss, ISS);
    assert_eq!(v.sub.as_deref(), Some("alice"));
    assert_eq!(v.audiences, ["web", "api"]);
    assert_eq!(v.exp, Some(NOW + 3600));
    assert_eq!(
        v.principal().as_deref(),
        Some("https://issuer.example.com/alice")
    );
    assert_eq!(v.payload["groups"], json!(["a", "b"]));
    // outputPayloadToHeader forwards the payload segment as sent.
    let segment = t.split('.').nth(1).unwrap();
    assert_eq!(payload_header(&v), segment);
    // No sub: no principal, claims still there.
    let v = check(&es256(claims_with(json!({"sub": null})))).unwrap();
    assert_eq!(v.principal(), None);
    assert_eq!(v.payload["aud"], "api");
}

#[test]
fn claim_headers_from_a_verified_token() {
    let t = es256(claims_with(
        json!({"org": {"team": "blue"}, "level": 3, "admin": true}),
    ));
    let v = check(&t).unwrap();
    let rules: Vec<crate::config::spec::ClaimToHeader> = crate::config::read::from_value(&json!([
        {"header": "X-Team", "claim": "org.team"},
        {"header": "x-level", "claim": "level"},
        {"header": "x-admin", "claim": "admin"},
        {"header": "x-missing", "claim": "nope"},
        {"header": "x-aud", "claim": "aud"}
    ]))
    .unwrap();
    let headers = claim_headers(&v, &rules);
    assert_eq!(
        headers,
        [
            ("x-team".to_string(), "blue".to_string()),
            ("x-level".to_string(), "3".to_string()),
            ("x-admin".to_string(), "true".to_string()),
            ("x-aud".to_string(), "api".to_string()),
        ]
    );
}

#[test]
fn unverified_issuer_routes_without_trusting() {
    assert_eq!(unverified_issuer(&es256(claims())).as_deref(), Some(ISS));
    // Forged signature: still readable for routing, never verified.
    let forged = with_signature(&es256(claims_with(json!({"iss": "https://b"}))), "AAAA");
    assert_eq!(unverified_issuer(&forged).as_deref(), Some("https://b"));
    for garbage in [
        "", ".", "..", "a.b.c", "a.b", "\u{0}", "ey.ey.ey", "a.b.c.d",
    ] {
        assert_eq!(unverified_issuer(garbage), None, "{garbage:?}");
    }
    assert_eq!(
        unverified_issuer(&es256(claims_with(json!({"iss": null})))),
        None
    );
}

// --- Row 19: alg none --------------------------------------------------------------------

#[test]
fn alg_none_in_any_spelling_is_refused() {
    for alg in ["none", "NONE", "nOnE", "None", ""] {
        let header = json!({"alg": alg}).to_string();
        // With an empty signature segment jwt_verify_lib sees two sections.
        let unsigned = format!(
            "{}.{}.",
            encode(header.as_bytes()),
            encode(claims().to_string().as_bytes())
        );
        assert_eq!(err(&unsigned), JwtError::BadFormat, "{alg}");
        let with_sig = token(json!({"alg": alg}), claims(), Signer::Raw(b"x".to_vec()));
        assert_eq!(err(&with_sig), JwtError::HeaderNotImplementedAlg, "{alg}");
        assert_eq!(err(&with_sig).status(), 401);
    }
    let lower = token(
        json!({"alg": "rs256", "kid": "rsa"}),
        claims(),
        Signer::Rsa(Rsa::rs256(), &k().rsa),
    );
    assert_eq!(err(&lower), JwtError::HeaderNotImplementedAlg);
    let missing = token(
        json!({"kid": "rsa"}),
        claims(),
        Signer::Rsa(Rsa::rs256(), &k().rsa),
    );
    assert_eq!(err(&missing), JwtError::HeaderBadAlg);
    assert_eq!(
        err(&missing).body(),
        "Jwt header [alg] field is required and must be a string"
    );
    for alg in [
        json!(256),
        json!(null),
        json!(["RS256"]),
        json!({"name": "RS256"}),
    ] {
        let t = token(
            json!({"alg": alg}),
            claims(),
            Signer::Rsa(Rsa::rs256(), &k().rsa),
        );
        assert_eq!(err(&t), JwtError::HeaderBadAlg);
    }
}

// --- Row 20: algorithm confusion and psychic signatures -----------------------------------

#[test]
fn rs256_to_hs256_with_the_public_key_as_secret_fails() {
    let rsa_only = jwks(vec![rsa_jwk(&k().rsa, "rsa")]);
    let public_key_forms: Vec<Vec<u8>> = vec![
        k().rsa.n().to_bytes_be(),
        rsa_jwk(&k().rsa, "rsa").to_string().into_bytes(),
        json!({"keys": [rsa_jwk(&k().rsa, "rsa")]})
            .to_string()
            .into_bytes(),
    ];
    for secret in &public_key_forms {
        for kid in [Some("rsa"), None] {
            let mut header = json!({"alg": "HS256"});
            if let Some(kid) = kid {
                header["kid"] = json!(kid);
            }
            let t = token(header, claims(), Signer::Hs256(secret));
            let e = verify(&t, &provider(), &rsa_only, NOW).unwrap_err();
            assert_eq!(e, JwtError::VerificationFail);
            assert_eq!(e.body(), "Jwt verification fails");
        }
    }
    // A key that names its algorithm is not even a candidate for HS256.
    let named = jwks(vec![json!({"kty": "RSA", "alg": "RS256", "kid": "rsa",
        "n": encode(&k().rsa.n().to_bytes_be()), "e": "AQAB"})]);
    let t = token(
        json!({"alg": "HS256", "kid": "rsa"}),
        claims(),
        Signer::Hs256(&k().rsa.n().to_bytes_be()),
    );
    assert_eq!(
        verify(&t, &provider(), &named, NOW).unwrap_err(),
        JwtError::KidAlgMismatch
    );
}

#[test]
fn ecdsa_zero_signatures_fail() {
    let zero = vec![0u8; 64];
    let mut r_zero = signature(Signer::Es256(&k().p256), b"x");
    r_zero[..32].fill(0);
    let mut s_zero = signature(Signer::Es256(&k().p256), b"x");
    s_zero[32..].fill(0);
    for sig in [zero, r_zero, s_zero] {
        let t = token(
            json!({"alg": "ES256", "kid": "ec256"}),
            claims(),
            Signer::Raw(sig),
        );
        assert_eq!(err(&t), JwtError::VerificationFail);
    }
    let t = token(
        json!({"alg": "ES384", "kid": "ec384"}),
        claims(),
        Signer::Raw(vec![0; 96]),
    );
    assert_eq!(err(&t), JwtError::VerificationFail);
    // r = s = n (the group order) reduces to zero too.
    let n = hex_bytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
    let t = token(
        json!({"alg": "ES256", "kid": "ec256"}),
        claims(),
        Signer::Raw([n.clone(), n].concat()),
    );
    assert_eq!(err(&t), JwtError::VerificationFail);
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn signature_encodings_and_lengths() {
    let good = es256(claims());
    let sig = base64url::decode(good.rsplit('.').next().unwrap().as_bytes()).unwrap();
    // DER instead of JOSE r||s, truncated, extended: all just fail.
    let der = p256::ecdsa::Signature::from_slice(&sig).unwrap().to_der();
    for bad in [
        der.as_bytes().to_vec(),
        sig[..63].to_vec(),
        [&sig[..], &[0]].concat(),
    ] {
        assert_eq!(
            err(&with_signature(&good, &encode(&bad))),
            JwtError::VerificationFail
        );
    }
    // Ed25519 of the wrong length: Envoy's own text.
    let ed = token(
        json!({"alg": "EdDSA", "kid": "ed"}),
        claims(),
        Signer::Raw(vec![1; 63]),
    );
    assert_eq!(err(&ed), JwtError::Ed25519SignatureWrongLength);
    assert_eq!(err(&ed).body(), "Jwt ED25519 signature is wrong length");
    // HMAC of the wrong length.
    let hs = token(
        json!({"alg": "HS256", "kid": "hmac"}),
        claims(),
        Signer::Raw(vec![1; 31]),
    );
    assert_eq!(err(&hs), JwtError::VerificationFail);
    // RSA signature of the wrong length.
    let rs = token(
        json!({"alg": "RS256", "kid": "rsa"}),
        claims(),
        Signer::Raw(vec![1; 255]),
    );
    assert_eq!(err(&rs), JwtError::VerificationFail);
}

#[test]
fn the_key_type_decides_not_the_token() {
    // An ES256 signature presented as RS256: the EC key is a candidate but not of the type.
    let t = token(
        json!({"alg": "RS256", "kid": "ec256"}),
        claims(),
        Signer::Es256(&k().p256),
    );
    assert_eq!(err(&t), JwtError::VerificationFail);
    // ES256 header, P-384 key: no curve mix-ups.
    let t = token(
        json!({"alg": "ES256", "kid": "ec384"}),
        claims(),
        Signer::Es384(&k().p384),
    );
    assert_eq!(err(&t), JwtError::KidAlgMismatch);
    // ES512 with a P-256 key's kid: the key is a candidate but not of the curve.
    let t = token(
        json!({"alg": "ES512", "kid": "ec256"}),
        claims(),
        Signer::Es512(&k().p521),
    );
    assert_eq!(err(&t), JwtError::VerificationFail);
    // ES256 announced, P-521 signature, P-521 key's kid.
    let t = token(
        json!({"alg": "ES256", "kid": "ec521"}),
        claims(),
        Signer::Es512(&k().p521),
    );
    assert_eq!(err(&t), JwtError::VerificationFail);
    // RS256 signed by the right key but announced as PS256.
    let t = token(
        json!({"alg": "PS256", "kid": "rsa"}),
        claims(),
        Signer::Rsa(Rsa::rs256(), &k().rsa),
    );
    assert_eq!(err(&t), JwtError::VerificationFail);
}

// --- Row 21: kid --------------------------------------------------------------------------

#[test]
fn kid_selects_keys() {
    let hs = |header: Value, secret: &[u8]| token(header, claims(), Signer::Hs256(secret));
    for kid in [
        "unknown",
        "../../../../etc/passwd",
        "' OR '1'='1",
        "hmac\0",
        "HMAC",
        "hmac ",
    ] {
        let t = hs(json!({"alg": "HS256", "kid": kid}), &k().hmac);
        assert_eq!(err(&t), JwtError::KidAlgMismatch, "{kid:?}");
        assert_eq!(
            err(&t).body(),
            "Jwks doesn't have key to match kid or alg from Jwt"
        );
        assert_eq!(err(&t).status(), 401);
    }
    // The kid of another key of the right type: that key alone is tried.
    let t = hs(json!({"alg": "HS256", "kid": "hmac-b"}), &k().hmac);
    assert_eq!(err(&t), JwtError::VerificationFail);
    // The kid of a key of another type: a candidate that cannot check it.
    let t = hs(json!({"alg": "HS256", "kid": "rsa"}), &k().hmac);
    assert_eq!(err(&t), JwtError::VerificationFail);
    // No kid, or an empty one: every key of the issuer is tried.
    for header in [json!({"alg": "HS256"}), json!({"alg": "HS256", "kid": ""})] {
        assert!(check(&hs(header.clone(), &k().hmac)).is_ok());
        assert!(check(&hs(header, HMAC_B)).is_ok());
    }
    let small = token(
        json!({"alg": "RS256"}),
        claims(),
        Signer::Rsa(Rsa::rs256(), &k().rsa_small),
    );
    assert!(check(&small).is_ok());
    // A key without kid answers to any kid (jwt_verify_lib).
    let anonymous = jwks(vec![json!({"kty": "oct", "k": encode(&k().hmac)})]);
    let t = hs(json!({"alg": "HS256", "kid": "whatever"}), &k().hmac);
    assert!(verify(&t, &provider(), &anonymous, NOW).is_ok());
}

#[test]
fn kid_must_be_a_string() {
    for kid in [
        json!(1),
        json!(null),
        json!(["rsa"]),
        json!({"kid": "rsa"}),
        json!(true),
    ] {
        let t = token(
            json!({"alg": "RS256", "kid": kid}),
            claims(),
            Signer::Rsa(Rsa::rs256(), &k().rsa),
        );
        assert_eq!(err(&t), JwtError::HeaderBadKid);
        assert_eq!(err(&t).body(), "Jwt header [kid] field is not a string");
    }
}

#[test]
fn jwk_alg_must_equal_the_token_alg() {
    let keys = jwks(vec![json!({"kty": "RSA", "alg": "RS384", "kid": "rsa",
        "n": encode(&k().rsa.n().to_bytes_be()), "e": "AQAB"})]);
    let rs256 = rs256(claims());
    assert_eq!(
        verify(&rs256, &provider(), &keys, NOW).unwrap_err(),
        JwtError::KidAlgMismatch
    );
    let rs384 = token(
        json!({"alg": "RS384", "kid": "rsa"}),
        claims(),
        Signer::Rsa(Rsa::rs384(), &k().rsa),
    );
    assert!(verify(&rs384, &provider(), &keys, NOW).is_ok());
}

// --- Row 22: keys belong to their issuer --------------------------------------------------

#[test]
fn issuer_b_key_cannot_sign_for_issuer_a() {
    let provider_a = Provider::new("https://a.example.com", &[]);
    let provider_b = Provider::new("https://b.example.com", &[]);
    let keys_a = jwks(vec![p256_jwk(&k().p256, "shared-kid")]);
    let keys_b = jwks(vec![p256_jwk(&k().p256_other, "shared-kid")]);
    let forged = token(
        json!({"alg": "ES256", "kid": "shared-kid"}),
        claims_with(json!({"iss": "https://a.example.com"})),
        Signer::Es256(&k().p256_other),
    );
    assert_eq!(
        verify(&forged, &provider_a, &keys_a, NOW).unwrap_err(),
        JwtError::VerificationFail
    );
    assert_eq!(
        verify(&forged, &provider_b, &keys_b, NOW).unwrap_err(),
        JwtError::UnknownIssuer
    );
    let genuine = token(
        json!({"alg": "ES256", "kid": "shared-kid"}),
        claims_with(json!({"iss": "https://a.example.com"})),
        Signer::Es256(&k().p256),
    );
    assert!(verify(&genuine, &provider_a, &keys_a, NOW).is_ok());
}

// --- Row 23: iss --------------------------------------------------------------------------

#[test]
fn issuer_must_match_exactly() {
    for iss in [
        json!("https://issuer.example.com/"),
        json!("https://ISSUER.example.com"),
        json!("HTTPS://issuer.example.com"),
        json!("http://issuer.example.com"),
        json!("issuer.example.com"),
        json!("https://issuer.example.com "),
        json!(null),
        json!(""),
    ] {
        let t = es256(claims_with(json!({ "iss": iss })));
        assert_eq!(err(&t), JwtError::UnknownIssuer, "{iss}");
        assert_eq!(err(&t).body(), "Jwt issuer is not configured");
    }
    for iss in [json!(1), json!(["https://issuer.example.com"]), json!({})] {
        let t = es256(claims_with(json!({ "iss": iss })));
        assert_eq!(err(&t), JwtError::IssNotString);
    }
    // The issuer is checked before the signature: an unknown issuer with garbage signature.
    let t = with_signature(&es256(claims_with(json!({"iss": "https://evil"}))), "AAAA");
    assert_eq!(err(&t), JwtError::UnknownIssuer);
    // A provider without issuer accepts any (Envoy's JwtIssuerChecker).
    let any = Provider::new("", &[]);
    assert!(verify(
        &es256(claims_with(json!({"iss": "https://other"}))),
        &any,
        keyset(),
        NOW
    )
    .is_ok());
    assert!(verify(
        &es256(claims_with(json!({"iss": null}))),
        &any,
        keyset(),
        NOW
    )
    .is_ok());
}

// --- Row 24: aud --------------------------------------------------------------------------

#[test]
fn audiences() {
    for aud in [json!("api"), json!(["web", "api"]), json!(["api"])] {
        assert!(
            check(&es256(claims_with(json!({ "aud": aud })))).is_ok(),
            "{aud}"
        );
    }
    for aud in [
        json!("API"),
        json!("ap"),
        json!("api-x"),
        json!("xapi"),
        json!([]),
        json!(["web"]),
        json!(null),
    ] {
        let e = err(&es256(claims_with(json!({ "aud": aud }))));
        assert_eq!(e, JwtError::AudienceNotAllowed, "{aud}");
        assert_eq!(
            (e.status(), e.body()),
            (403, "Audiences in Jwt are not allowed")
        );
        assert_eq!(e.code(), "jwt_audience");
    }
    for aud in [
        json!(1),
        json!(true),
        json!({"a": "api"}),
        json!(["api", 1]),
        json!([null]),
    ] {
        let e = err(&es256(claims_with(json!({ "aud": aud }))));
        assert_eq!(e, JwtError::AudNotString, "{aud}");
        assert_eq!(e.status(), 401);
    }
    // Checked before the signature, as Envoy does.
    let forged = with_signature(&es256(claims_with(json!({"aud": "other"}))), "AAAA");
    assert_eq!(err(&forged), JwtError::AudienceNotAllowed);
    // The same provider built from the RequestAuthentication rule.
    let rule: crate::config::spec::JwtRule = crate::config::read::from_value(
        &json!({"issuer": ISS, "audiences": ["api"], "jwks": "{}"}),
    )
    .unwrap();
    assert_eq!(Provider::from(&rule), provider());
    // No audiences configured: aud is not looked at.
    let open = Provider::new(ISS, &[]);
    for aud in [json!("anything"), json!(null), json!([])] {
        assert!(verify(
            &es256(claims_with(json!({ "aud": aud }))),
            &open,
            keyset(),
            NOW
        )
        .is_ok());
    }
}

#[test]
fn audiences_compare_as_check_audience_does() {
    let p = Provider::new(
        ISS,
        &["https://api.example.com/".to_string(), "bare".to_string()],
    );
    for aud in [
        "api.example.com",
        "http://api.example.com",
        "https://api.example.com/",
        "http://bare/",
        "bare",
    ] {
        let t = es256(claims_with(json!({ "aud": aud })));
        assert!(verify(&t, &p, keyset(), NOW).is_ok(), "{aud}");
    }
    for aud in [
        "api.example.com//",
        "ftp://api.example.com",
        "https://api.example.com/x",
        "API.example.com",
    ] {
        let t = es256(claims_with(json!({ "aud": aud })));
        assert_eq!(
            verify(&t, &p, keyset(), NOW).unwrap_err(),
            JwtError::AudienceNotAllowed,
            "{aud}"
        );
    }
}

// --- Row 25: exp / nbf / iat --------------------------------------------------------------

#[test]
fn time_claims_and_skew() {
    let ok = |c: Value| check(&es256(claims_with(c)));
    assert!(ok(json!({"exp": NOW - 60})).is_ok());
    assert_eq!(ok(json!({"exp": NOW - 61})).unwrap_err(), JwtError::Expired);
    assert_eq!(
        ok(json!({"exp": NOW - 61})).unwrap_err().body(),
        "Jwt is expired"
    );
    assert!(ok(json!({"nbf": NOW + 60})).is_ok());
    assert_eq!(
        ok(json!({"nbf": NOW + 61})).unwrap_err(),
        JwtError::NotYetValid
    );
    assert_eq!(
        ok(json!({"nbf": NOW + 61})).unwrap_err().body(),
        "Jwt not yet valid"
    );
    // No exp, or exp 0: never expires (Envoy).
    assert_eq!(ok(json!({"exp": null})).unwrap().exp, None);
    assert_eq!(ok(json!({"exp": 0})).unwrap().exp, None);
    assert!(ok(json!({"exp": 0.5})).is_ok());
    // Floats are read as Envoy reads them (truncated).
    assert!(ok(json!({"exp": (NOW - 60) as f64 + 0.9})).is_ok());
    assert_eq!(
        ok(json!({"exp": (NOW - 61) as f64 + 0.9})).unwrap_err(),
        JwtError::Expired
    );
    assert!(ok(json!({"exp": 1.7e10, "nbf": 1.0e9})).is_ok());
    // Far future, up to just below 2^64.
    assert!(ok(json!({"exp": u64::MAX / 2})).is_ok());
    assert!(ok(json!({"exp": 1.8e19})).is_ok());
    // iat is type-checked only.
    assert!(ok(json!({"iat": NOW + 1_000_000})).is_ok());
    assert!(ok(json!({"iat": 0})).is_ok());
}

#[test]
fn time_claims_of_the_wrong_type_or_range() {
    let e = |c: Value| err(&es256(claims_with(c)));
    for bad in [
        json!("1700003600"),
        json!(true),
        json!(null),
        json!([NOW]),
        json!({"t": 1}),
    ] {
        // `null` here means "remove": spell it out in the JSON instead.
        let t = if bad.is_null() {
            token_raw(
                r#"{"alg":"ES256","kid":"ec256"}"#,
                &format!(r#"{{"iss":"{ISS}","aud":"api","exp":null}}"#),
                Signer::Es256(&k().p256),
            )
        } else {
            es256(claims_with(json!({ "exp": bad })))
        };
        assert_eq!(err(&t), JwtError::ExpNotInteger, "{bad}");
    }
    assert_eq!(
        e(json!({"exp": "x"})).body(),
        "Jwt payload [exp] field is not an integer"
    );
    assert_eq!(e(json!({"nbf": "x"})), JwtError::NbfNotInteger);
    assert_eq!(e(json!({"iat": "x"})), JwtError::IatNotInteger);
    assert_eq!(e(json!({"exp": -1})), JwtError::ExpOutOfRange);
    assert_eq!(e(json!({"exp": -0.5})), JwtError::ExpOutOfRange);
    assert_eq!(
        e(json!({"exp": -1})).body(),
        "Jwt payload [exp] field is not a positive 64 bit integer"
    );
    assert_eq!(
        e(json!({"exp": 1.8446744073709552e19})),
        JwtError::ExpOutOfRange
    );
    assert_eq!(e(json!({"exp": 1e300})), JwtError::ExpOutOfRange);
    assert_eq!(e(json!({"nbf": -5})), JwtError::NbfOutOfRange);
    assert_eq!(e(json!({"iat": -5})), JwtError::IatOutOfRange);
    let huge_int = token_raw(
        r#"{"alg":"ES256","kid":"ec256"}"#,
        &format!(r#"{{"iss":"{ISS}","aud":"api","exp":18446744073709551615}}"#),
        Signer::Es256(&k().p256),
    );
    assert_eq!(err(&huge_int), JwtError::ExpOutOfRange);
    let beyond = token_raw(
        r#"{"alg":"ES256","kid":"ec256"}"#,
        &format!(r#"{{"iss":"{ISS}","aud":"api","exp":123456789012345678901234567890}}"#),
        Signer::Es256(&k().p256),
    );
    assert_eq!(err(&beyond), JwtError::ExpOutOfRange);
}

#[test]
fn envoy_check_order() {
    // Form before issuer, issuer before time, time before audience, all before signature.
    let bad_sig = |c: Value| with_signature(&es256(claims_with(c)), "AAAA");
    assert_eq!(err(&bad_sig(json!({"exp": NOW - 100}))), JwtError::Expired);
    assert_eq!(
        err(&bad_sig(json!({"nbf": NOW + 100}))),
        JwtError::NotYetValid
    );
    assert_eq!(
        err(&bad_sig(json!({"exp": NOW - 100, "aud": "x"}))),
        JwtError::Expired
    );
    assert_eq!(
        err(&bad_sig(json!({"exp": NOW - 100, "iss": "x"}))),
        JwtError::UnknownIssuer
    );
    assert_eq!(
        err(&bad_sig(json!({"exp": "x", "iss": "x"}))),
        JwtError::ExpNotInteger
    );
    assert_eq!(
        err(&bad_sig(json!({"sub": 1, "exp": "x"}))),
        JwtError::SubNotString
    );
    assert_eq!(
        err(&bad_sig(json!({"jti": 1, "aud": 1}))),
        JwtError::JtiNotString
    );
    assert_eq!(err(&bad_sig(json!({}))), JwtError::VerificationFail);
}

// --- Row 26: malformed tokens -------------------------------------------------------------

#[test]
fn malformed_tokens() {
    let good = es256(claims());
    let parts: Vec<&str> = good.split('.').collect();
    let (h, p, s) = (parts[0], parts[1], parts[2]);
    let cases: Vec<(String, JwtError)> = vec![
        (String::new(), JwtError::BadFormat),
        (format!("{h}.{p}"), JwtError::BadFormat),
        (format!("{h}.{p}.{s}.{s}"), JwtError::BadFormat),
        (format!("{h}..{s}"), JwtError::BadFormat),
        (format!("{h}.{p}."), JwtError::BadFormat),
        ("..".to_string(), JwtError::BadFormat),
        (format!("{h}+.{p}.{s}"), JwtError::HeaderBadBase64),
        (format!("{h}.{p}/.{s}"), JwtError::PayloadBadBase64),
        (format!("{h}.{p}.{s}+"), JwtError::SignatureBadBase64),
        (format!("{h}.{p}.AAA{s}"), JwtError::SignatureBadBase64),
        (format!("{h}.{p}.{s}="), JwtError::SignatureBadBase64),
        (
            format!("{}.{p}.{s}", encode(b"not json")),
            JwtError::HeaderBadJson,
        ),
        (
            format!("{}.{p}.{s}", encode(br#"["ES256"]"#)),
            JwtError::HeaderBadJson,
        ),
        (
            format!("{h}.{}.{s}", encode(b"not json")),
            JwtError::PayloadBadJson,
        ),
        (
            format!("{h}.{}.{s}", encode(b"[1,2]")),
            JwtError::PayloadBadJson,
        ),
        (
            format!("{h}.{}.{s}", encode(b"\"sub\"")),
            JwtError::PayloadBadJson,
        ),
        (
            format!("{h}.{}.{s}", encode(b"{\"sub\":\"\xff\"}")),
            JwtError::PayloadBadJson,
        ),
        (
            format!("{h}.{}.{s}", encode(b"{} {}")),
            JwtError::PayloadBadJson,
        ),
        // A header re-encoded with padding is another signed text: the signature fails.
        (format!("{h}=.{p}.{s}"), JwtError::VerificationFail),
    ];
    for (t, want) in cases {
        assert_eq!(err(&t), want, "{t}");
        assert_eq!(err(&t).status(), 401);
    }
    // Flipped signature bit, and a signature of another token.
    let mut sig = base64url::decode(s.as_bytes()).unwrap();
    sig[10] ^= 1;
    assert_eq!(
        err(&format!("{h}.{p}.{}", encode(&sig))),
        JwtError::VerificationFail
    );
    let other = es256(claims_with(json!({"sub": "admin"})));
    assert_eq!(err(&with_signature(&other, s)), JwtError::VerificationFail);
}

#[test]
fn base64_leniency_matches_envoy() {
    let good = es256(claims());
    let (signed, s) = good.rsplit_once('.').unwrap();
    // Abseil accepts exact padding and whitespace in a segment: same bytes, same answer.
    let pad = "=".repeat((4 - s.len() % 4) % 4);
    assert!(check(&format!("{signed}.{s}{pad}")).is_ok());
    // absl::StrSplit with SkipEmpty: empty sections are ignored, the signed text is h.p.
    let (h, p) = signed.split_once('.').unwrap();
    assert!(check(&format!("{h}.{p}..{s}")).is_ok());
    assert!(check(&format!(".{h}.{p}.{s}.")).is_ok());
    // Anything after the token in the same header value breaks it (security.md row 29).
    assert_eq!(err(&format!("{good} junk")), JwtError::VerificationFail);
    assert_eq!(err(&format!("{good},Bearer {good}")), JwtError::BadFormat);
}

#[test]
fn sub_and_jti_must_be_strings() {
    for sub in [
        json!(1),
        json!(["alice"]),
        json!({"id": "alice"}),
        json!(false),
    ] {
        let e = err(&es256(claims_with(json!({ "sub": sub }))));
        assert_eq!(e, JwtError::SubNotString);
        assert_eq!(e.body(), "Jwt payload [sub] field is not a string");
    }
    assert_eq!(
        err(&es256(claims_with(json!({"jti": 5})))),
        JwtError::JtiNotString
    );
    // A sub with slashes stays one string (the principal splits at the last '/').
    let v = check(&es256(claims_with(json!({"sub": "team/alice"})))).unwrap();
    assert_eq!(v.sub.as_deref(), Some("team/alice"));
}

#[test]
fn garbage_never_panics() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let alphabet = b"AZaz09-_.=+/ {}\"\\\0\xff";
    for _ in 0..3000 {
        let len = (next() % 120) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() % alphabet.len() as u64) as usize])
            .collect();
        let s = String::from_utf8_lossy(&bytes);
        let _ = check(&s);
        let _ = unverified_issuer(&s);
    }
    // Random well-formed segments too.
    for _ in 0..300 {
        let seg = |n: u64| {
            encode(
                &(0..n % 80)
                    .map(|i| (i * 7) as u8 ^ n as u8)
                    .collect::<Vec<_>>(),
            )
        };
        let t = format!("{}.{}.{}", seg(next()), seg(next()), seg(next()));
        let _ = check(&t);
    }
}

// --- Row 27: duplicate members ------------------------------------------------------------

#[test]
fn duplicate_members_are_refused_even_when_signed() {
    let h = r#"{"alg":"ES256","kid":"ec256"}"#;
    let dup_sub = format!(r#"{{"iss":"{ISS}","aud":"api","sub":"alice","sub":"admin"}}"#);
    let t = token_raw(h, &dup_sub, Signer::Es256(&k().p256));
    assert_eq!(err(&t), JwtError::PayloadBadJson);
    assert_eq!(err(&t).body(), "Jwt payload is an invalid JSON");
    let dup_iss = format!(r#"{{"iss":"https://evil","aud":"api","iss":"{ISS}"}}"#);
    assert_eq!(
        err(&token_raw(h, &dup_iss, Signer::Es256(&k().p256))),
        JwtError::PayloadBadJson
    );
    let nested = format!(r#"{{"iss":"{ISS}","aud":"api","org":{{"role":"user","role":"admin"}}}}"#);
    assert_eq!(
        err(&token_raw(h, &nested, Signer::Es256(&k().p256))),
        JwtError::PayloadBadJson
    );
    let dup_alg = r#"{"alg":"none","alg":"ES256","kid":"ec256"}"#;
    let t = token_raw(dup_alg, &claims().to_string(), Signer::Es256(&k().p256));
    assert_eq!(err(&t), JwtError::HeaderBadJson);
    let escaped = format!(r#"{{"iss":"{ISS}","aud":"api","sub":"alice","s\u0075b":"admin"}}"#);
    assert_eq!(
        err(&token_raw(h, &escaped, Signer::Es256(&k().p256))),
        JwtError::PayloadBadJson
    );
}

// --- Row 28: keys embedded in the token ---------------------------------------------------

#[test]
fn embedded_keys_are_never_used() {
    let attacker = &k().p256_other;
    let attacker_jwk = p256_jwk(attacker, "ec256");
    let headers = [
        json!({"alg": "ES256", "jwk": attacker_jwk}),
        json!({"alg": "ES256", "kid": "ec256", "jwk": attacker_jwk}),
        json!({"alg": "ES256", "jku": "https://evil.example.com/jwks.json"}),
        json!({"alg": "ES256", "x5u": "https://evil.example.com/cert.pem"}),
        json!({"alg": "ES256", "x5c": ["MIIBszCCAVmgAwIBAgIUEvil"]}),
    ];
    for h in &headers {
        let t = token(h.clone(), claims(), Signer::Es256(attacker));
        assert_eq!(err(&t), JwtError::VerificationFail, "{h}");
        // The same header on a token signed by the provider's key is fine: ignored, not refused.
        let t = token(h.clone(), claims(), Signer::Es256(&k().p256));
        assert!(check(&t).is_ok(), "{h}");
    }
    // crit and typ are not checked either (Envoy answers 200).
    let t = token(
        json!({"alg": "ES256", "crit": ["exp"], "typ": "at+jwt"}),
        claims(),
        Signer::Es256(&k().p256),
    );
    assert!(check(&t).is_ok());
}

// --- Row 36: huge and deep tokens ---------------------------------------------------------

#[test]
fn huge_tokens_verify() {
    let list: Vec<String> = (0..2000).map(|i| format!("group-{i}")).collect();
    let t = es256(claims_with(
        json!({"groups": list, "blob": "x".repeat(10_000)}),
    ));
    assert!(t.len() > 30_000);
    let v = check(&t).unwrap();
    assert_eq!(v.payload["groups"].as_array().unwrap().len(), 2000);
}

#[test]
fn deep_nesting_is_refused() {
    let deep = |levels: usize| {
        let text = claims().to_string();
        let body = format!(
            "{},\"deep\":{}1{}}}",
            &text[..text.len() - 1],
            "[".repeat(levels),
            "]".repeat(levels)
        );
        token_raw(
            r#"{"alg":"ES256","kid":"ec256"}"#,
            &body,
            Signer::Es256(&k().p256),
        )
    };
    assert!(check(&deep(99)).is_ok());
    assert_eq!(err(&deep(100)), JwtError::PayloadBadJson);
    assert_eq!(err(&deep(200)), JwtError::PayloadBadJson);
    assert_eq!(err(&deep(5000)), JwtError::PayloadBadJson);
    let deep_header = format!(
        r#"{{"alg":"ES256","x":{}1{}}}"#,
        "{\"a\":".repeat(150),
        "}".repeat(150)
    );
    let t = token_raw(
        &deep_header,
        &claims().to_string(),
        Signer::Es256(&k().p256),
    );
    assert_eq!(err(&t), JwtError::HeaderBadJson);
}

#[test]
fn a_megabyte_of_garbage_is_just_refused() {
    let big = "A".repeat(1 << 20);
    assert_eq!(err(&big), JwtError::BadFormat);
    assert_eq!(err(&format!("{big}.{big}.{big}")), JwtError::HeaderBadJson);
}

// --- Key sets -----------------------------------------------------------------------------

#[test]
fn no_usable_key_for_the_provider() {
    // A provider whose only key is another type: not a candidate by alg, so kid/alg mismatch.
    let ed_only = jwks(vec![ed_jwk("ed")]);
    assert_eq!(
        verify(&rs256(claims()), &provider(), &ed_only, NOW).unwrap_err(),
        JwtError::KidAlgMismatch
    );
    // Without jwk alg the key is a candidate of the wrong type.
    let ec_only = jwks(vec![p256_jwk(&k().p256, "rsa")]);
    assert_eq!(
        verify(&rs256(claims()), &provider(), &ec_only, NOW).unwrap_err(),
        JwtError::VerificationFail
    );
}

#[test]
fn ecdsa_high_s_is_accepted_as_boringssl_does() {
    // (r, n - s) is the same signature to ECDSA; BoringSSL accepts it, so must we.
    let good = es256(claims());
    let sig = base64url::decode(good.rsplit('.').next().unwrap().as_bytes()).unwrap();
    let n = BigUint::from_bytes_be(&hex_bytes(
        "ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551",
    ));
    let s = BigUint::from_bytes_be(&sig[32..]);
    let flipped = (&n - &s).to_bytes_be();
    let mut high = sig[..32].to_vec();
    high.extend(std::iter::repeat_n(0, 32 - flipped.len()));
    high.extend(flipped);
    assert!(check(&with_signature(&good, &encode(&high))).is_ok());
}

#[test]
fn debug_forms_leave_the_token_out() {
    let t = es256(claims());
    let sig = t.rsplit('.').next().unwrap();
    let shown = format!("{:?}", Jwt::parse(&t).unwrap());
    assert!(!shown.contains(sig) && !shown.contains(&t[..30]), "{shown}");
    assert!(shown.contains("alice"));
}

/// RS* and PS* run on meshguard's own Montgomery exponentiation: they must answer as the `rsa`
/// crate (through jwt-compact) does, for valid signatures and every kind of tampering.
#[test]
fn rsa_montgomery_agrees_with_the_rsa_crate() {
    use super::super::alg::{check as check_key, Check};
    use super::super::jwks::{PublicKey, RsaKey};
    use super::super::Alg;
    use jwt_compact::Algorithm;
    for private in [&k().rsa, &k().rsa_small] {
        let public = private.to_public_key();
        let key = PublicKey::Rsa(RsaKey {
            mont: super::super::rsa_verify::Montgomery::new(
                &rsa::traits::PublicKeyParts::n(&public).to_bytes_be(),
                65537,
            )
            .unwrap(),
        });
        for (name, alg, jc) in [
            ("RS256", Alg::Rs256, Rsa::rs256()),
            ("RS384", Alg::Rs384, Rsa::rs384()),
            ("RS512", Alg::Rs512, Rsa::rs512()),
            ("PS256", Alg::Ps256, Rsa::ps256()),
            ("PS384", Alg::Ps384, Rsa::ps384()),
            ("PS512", Alg::Ps512, Rsa::ps512()),
        ] {
            // PSS needs room for the hash and an as long salt: not PS512 in 1024 bits.
            if name == "PS512" && rsa::traits::PublicKeyParts::size(&public) < 2 * 64 + 2 {
                continue;
            }
            let message = format!("header.payload-{name}");
            let good = signature(Signer::Rsa(jc, private), message.as_bytes());
            let mut variants = vec![good.clone()];
            for i in [0, 1, good.len() / 2, good.len() - 1] {
                let mut bad = good.clone();
                bad[i] ^= 0x01;
                variants.push(bad);
            }
            variants.push(good[1..].to_vec());
            variants.push([&[0u8][..], &good].concat());
            variants.push(vec![0u8; good.len()]);
            variants.push(vec![0xffu8; good.len()]);
            for (i, sig) in variants.iter().enumerate() {
                let crate_says = <Rsa as Algorithm>::Signature::try_from_slice(sig)
                    .is_ok_and(|s| jc.verify_signature(&s, &public, message.as_bytes()));
                let ours = check_key(alg, &key, message.as_bytes(), sig) == Check::Valid;
                assert_eq!(ours, crate_says, "{name} variant {i}");
                assert_eq!(ours, i == 0, "{name} variant {i}");
            }
            // Another message with the good signature fails.
            assert_ne!(check_key(alg, &key, b"other", &good), Check::Valid);
        }
    }
}

/// PS*: the salt is exactly as long as the hash (JWA; BoringSSL as jwt_verify_lib calls it),
/// and a modulus of 8k+1 bits (EM one byte shorter than the signature) verifies.
#[test]
fn pss_salt_length_and_odd_modulus_sizes() {
    use super::super::alg::{check as check_key, Check};
    use super::super::jwks::{PublicKey, RsaKey};
    use super::super::Alg;
    use rsa::traits::PublicKeyParts;
    use rsa::Pss;
    use sha2::{Digest, Sha256, Sha384, Sha512};
    let odd = super::rsa_key(super::RSA_1025);
    assert_eq!(odd.n().bits(), 1025);
    for private in [&k().rsa, &k().rsa_small, &odd] {
        let key = PublicKey::Rsa(RsaKey {
            mont: super::super::rsa_verify::Montgomery::new(&private.n().to_bytes_be(), 65537)
                .unwrap(),
        });
        let message = b"header.payload";
        let sign = |scheme: Pss, digest: Vec<u8>| {
            private
                .sign_with_rng(&mut rsa::rand_core::OsRng, scheme, &digest)
                .unwrap()
        };
        type Scheme = fn(usize) -> Pss;
        let cases: [(Alg, usize, Scheme, Vec<u8>); 3] = [
            (
                Alg::Ps256,
                32,
                Pss::new_with_salt::<Sha256>,
                Sha256::digest(message).to_vec(),
            ),
            (
                Alg::Ps384,
                48,
                Pss::new_with_salt::<Sha384>,
                Sha384::digest(message).to_vec(),
            ),
            (
                Alg::Ps512,
                64,
                Pss::new_with_salt::<Sha512>,
                Sha512::digest(message).to_vec(),
            ),
        ];
        for (alg, h_len, scheme, digest) in cases {
            let bits = private.n().bits();
            // The longest salt the modulus leaves room for, capped at the hash length.
            let room = bits.div_ceil(8) - h_len - 2 - usize::from(bits % 8 == 1);
            let good = sign(scheme(h_len.min(room)), digest.clone());
            let want = if h_len <= room {
                Check::Valid
            } else {
                Check::Invalid
            };
            assert_eq!(
                check_key(alg, &key, message, &good),
                want,
                "{alg:?} {bits} bits"
            );
            for salt in [0, h_len / 2, h_len + 1] {
                if salt > room {
                    continue;
                }
                let other = sign(scheme(salt), digest.clone());
                assert_eq!(
                    check_key(alg, &key, message, &other),
                    if salt == h_len { want } else { Check::Invalid },
                    "{alg:?} {bits} bits, salt {salt}"
                );
            }
        }
    }
}
