//! JWKS documents: every key type, every reason a key is skipped, every document error.

use super::*;

fn parse(doc: Value) -> Result<KeySet, JwksError> {
    KeySet::parse(doc.to_string().as_bytes())
}

/// The reason the only key of `keys: [jwk]` (next to a good one) was skipped.
fn skipped(jwk: Value) -> &'static str {
    let set = parse(json!({"keys": [hmac_jwk(b"ok", "good"), jwk]})).unwrap();
    assert_eq!(set.keys().len(), 1, "{jwk}");
    let s = set.skipped();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].index, 1);
    s[0].reason
}

fn rsa_parts(n: &[u8], e: &[u8]) -> Value {
    json!({"kty": "RSA", "n": encode(n), "e": encode(e)})
}

#[test]
fn every_key_type() {
    let set = keyset();
    let kinds: Vec<(Option<&str>, Option<&str>, String)> = set
        .keys()
        .iter()
        .map(|k| (k.kid.as_deref(), k.alg.as_deref(), format!("{:?}", k.key)))
        .collect();
    assert_eq!(
        kinds,
        [
            (Some("rsa"), None, "Rsa(2048 bits)".to_string()),
            (Some("rsa-small"), None, "Rsa(1024 bits)".to_string()),
            (Some("ec256"), None, "P256".to_string()),
            (Some("ec384"), Some("ES384"), "P384".to_string()),
            (Some("ec521"), None, "P521".to_string()),
            (Some("ed"), Some("EdDSA"), "Ed25519".to_string()),
            (Some("hmac"), None, "Oct(..)".to_string()),
            (Some("hmac-b"), None, "Oct(..)".to_string()),
        ]
    );
    assert!(set.skipped().is_empty());
}

#[test]
fn kty() {
    assert_eq!(skipped(json!({"n": "AQAB"})), "[kty] is missing in [keys]");
    assert_eq!(skipped(json!({"kty": 1})), "[kty] is bad in [keys]");
    for kty in ["rsa", "ec", "OCT", "X25519", ""] {
        assert_eq!(
            skipped(json!({ "kty": kty })),
            "[kty] is not supported in [keys]"
        );
    }
}

#[test]
fn rsa_keys() {
    let n = k().rsa.n().to_bytes_be();
    let e3 = parse(json!({"keys": [rsa_parts(&n, &[3])]})).unwrap();
    assert_eq!(e3.keys().len(), 1);
    // Leading zero bytes in n or e are just numbers.
    let padded = parse(json!({"keys": [rsa_parts(&[&[0, 0][..], &n].concat(), &[0, 1, 0, 1])]}));
    assert_eq!(padded.unwrap().keys().len(), 1);
    const PARSE: &str = "Jwks RSA [n] or [e] field is missing or has a parse error";
    for e in [&[5u8][..], &[1], &[], &[1, 0, 3]] {
        assert_eq!(skipped(rsa_parts(&n, e)), PARSE, "{e:?}");
    }
    let mut even = n.clone();
    *even.last_mut().unwrap() &= 0xfe;
    assert_eq!(skipped(rsa_parts(&even, &[1, 0, 1])), PARSE);
    assert_eq!(skipped(rsa_parts(&n[..60], &[1, 0, 1])), PARSE);
    assert_eq!(
        skipped(json!({"kty": "RSA", "n": "!!", "e": "AQAB"})),
        PARSE
    );
    assert_eq!(
        skipped(json!({"kty": "RSA", "e": "AQAB"})),
        "[n] field is missing for a RSA key"
    );
    assert_eq!(
        skipped(json!({"kty": "RSA", "n": 5, "e": "AQAB"})),
        "[n] field is not string for a RSA key"
    );
    assert_eq!(
        skipped(json!({"kty": "RSA", "n": encode(&n)})),
        "[e] field is missing for a RSA key"
    );
    assert_eq!(
        skipped(json!({"kty": "RSA", "n": encode(&n), "e": 65537})),
        "[e] field is not string for a RSA key"
    );
    assert_eq!(
        skipped(json!({"kty": "RSA", "alg": "HS256", "n": encode(&n), "e": "AQAB"})),
        "[alg] is not started with [RS] or [PS] for an RSA key"
    );
    let ps = parse(json!({"keys": [{"kty": "RSA", "alg": "PS512", "n": encode(&n), "e": "AQAB"}]}));
    assert_eq!(ps.unwrap().keys()[0].alg.as_deref(), Some("PS512"));
}

#[test]
fn rsa_modulus_size_is_bounded() {
    let modulus = |bits: usize| {
        let mut n = vec![0x5a; bits / 8];
        n[0] = 0x80;
        *n.last_mut().unwrap() |= 1;
        n
    };
    assert_eq!(
        parse(json!({"keys": [rsa_parts(&modulus(8192), &[1, 0, 1])]}))
            .unwrap()
            .keys()
            .len(),
        1
    );
    assert_eq!(
        skipped(rsa_parts(&modulus(8200), &[1, 0, 1])),
        "RSA modulus is over 8192 bits"
    );
    assert_eq!(
        skipped(rsa_parts(&modulus(65536), &[1, 0, 1])),
        "RSA modulus is over 8192 bits"
    );
}

#[test]
fn ec_keys() {
    let jwk = p256_jwk(&k().p256, "a");
    let (x, y) = (jwk["x"].clone(), jwk["y"].clone());
    // Neither crv nor alg: P-256.
    let bare = parse(json!({"keys": [{"kty": "EC", "x": x, "y": y}]})).unwrap();
    assert_eq!(format!("{:?}", bare.keys()[0].key), "P256");
    // alg alone names the curve.
    let p384 = p384_jwk(&k().p384, "b");
    let by_alg =
        parse(json!({"keys": [{"kty": "EC", "alg": "ES384", "x": p384["x"], "y": p384["y"]}]}));
    assert_eq!(format!("{:?}", by_alg.unwrap().keys()[0].key), "P384");
    assert_eq!(
        skipped(json!({"kty": "EC", "alg": "ES256", "crv": "P-384", "x": x, "y": y})),
        "[crv] field specified is not compatible with [alg] for an EC key"
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "alg": "RS256", "x": x, "y": y})),
        "[alg] is not started with [ES] for an EC key"
    );
    // P-521, by crv or alg; a P-256 point is not on it.
    let p521 = p521_jwk(&k().p521, "c");
    let by_crv = parse(json!({"keys": [p521.clone()]})).unwrap();
    assert_eq!(format!("{:?}", by_crv.keys()[0].key), "P521");
    let by_alg =
        parse(json!({"keys": [{"kty": "EC", "alg": "ES512", "x": p521["x"], "y": p521["y"]}]}));
    assert_eq!(format!("{:?}", by_alg.unwrap().keys()[0].key), "P521");
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "P-521", "x": x, "y": y})),
        "Jwks EC [x] and [y] fields have a parse error."
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "secp256k1", "x": x, "y": y})),
        "[crv] or [alg] field is not supported for an EC key"
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": 256, "x": x, "y": y})),
        "[crv] field is not string for an EC key"
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "P-256", "y": y})),
        "[x] field is missing for an EC key"
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "P-256", "x": x, "y": [1]})),
        "[y] field is not string for an EC key"
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "P-256", "x": "+/", "y": y})),
        "Jwks EC [x] or [y] field is an invalid Base64."
    );
    // A point that is not on the curve, and coordinates too long to be one.
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "P-256", "x": x, "y": x})),
        "Jwks EC [x] and [y] fields have a parse error."
    );
    assert_eq!(
        skipped(json!({"kty": "EC", "crv": "P-256", "x": encode(&[1; 33]), "y": y})),
        "Jwks EC [x] and [y] fields have a parse error."
    );
    // Coordinates are numbers: an extra leading zero byte changes nothing.
    let x_bytes = base64url::decode(x.as_str().unwrap().as_bytes()).unwrap();
    let long_x = encode(&[&[0][..], &x_bytes].concat());
    let set = parse(json!({"keys": [{"kty": "EC", "crv": "P-256", "x": long_x, "y": y}]}));
    assert!(verify(&es256(claims()), &provider(), &set.unwrap(), NOW).is_ok());
}

#[test]
fn okp_and_oct_keys() {
    let x = encode(k().ed.pk.as_ref());
    assert_eq!(
        skipped(json!({"kty": "OKP", "x": x})),
        "[crv] field is missing for an OKP key"
    );
    assert_eq!(
        skipped(json!({"kty": "OKP", "crv": ["Ed25519"], "x": x})),
        "[crv] field is not string for an OKP key"
    );
    assert_eq!(
        skipped(json!({"kty": "OKP", "crv": "X25519", "x": x})),
        "[crv] field is not supported for an OKP key"
    );
    assert_eq!(
        skipped(json!({"kty": "OKP", "crv": "Ed25519", "alg": "ES256", "x": x})),
        "[alg] is not [EdDSA] for an OKP key"
    );
    assert_eq!(
        skipped(json!({"kty": "OKP", "crv": "Ed25519", "x": encode(&[1; 31])})),
        "Jwks OKP [x] field is wrong length."
    );
    assert_eq!(
        skipped(json!({"kty": "OKP", "crv": "Ed25519"})),
        "[x] field is missing for an OKP key"
    );
    assert_eq!(
        skipped(json!({"kty": "oct", "k": ""})),
        "Jwks Oct key is an invalid Base64"
    );
    assert_eq!(
        skipped(json!({"kty": "oct", "k": "a+b"})),
        "Jwks Oct key is an invalid Base64"
    );
    assert_eq!(
        skipped(json!({"kty": "oct"})),
        "[k] field is missing for an HMAC key"
    );
    assert_eq!(
        skipped(json!({"kty": "oct", "alg": "RS256", "k": "c2VjcmV0"})),
        "[alg] does not start with [HS] for an HMAC key"
    );
    // The secret never shows in debug output.
    let set = parse(json!({"keys": [{"kty": "oct", "k": encode(b"hunter2-hunter2")}]})).unwrap();
    let shown = format!("{set:?}");
    assert!(
        !shown.contains("hunter2") && !shown.contains("104, 117"),
        "{shown}"
    );
}

#[test]
fn kid_and_alg_of_other_types_are_ignored() {
    // jwt_verify_lib reads them with GetString and ignores a wrong type: no constraint.
    let set = parse(json!({"keys": [{"kty": "oct", "k": encode(&k().hmac), "kid": 7, "alg": 1}]}))
        .unwrap();
    assert_eq!(set.keys()[0].kid, None);
    assert_eq!(set.keys()[0].alg, None);
    let t = token(
        json!({"alg": "HS512", "kid": "any"}),
        claims(),
        Signer::Hs512(&k().hmac),
    );
    assert!(verify(&t, &provider(), &set, NOW).is_ok());
}

#[test]
fn documents() {
    let e = |doc: &[u8]| KeySet::parse(doc).unwrap_err();
    assert_eq!(e(b"not json"), JwksError::NotJson);
    assert_eq!(
        e(b"-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"),
        JwksError::NotJson
    );
    assert_eq!(e(b"[]"), JwksError::NotJson);
    assert_eq!(e(br#"{"keys": [], "keys": []}"#), JwksError::NotJson);
    assert_eq!(e(br#"{"keys": []} x"#), JwksError::NotJson);
    assert_eq!(e(b"{}"), JwksError::NoKeys);
    // Google's legacy `{kid: PEM certificate}` form, which Envoy also reads: refused.
    assert_eq!(
        e(br#"{"k1": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}"#),
        JwksError::NoKeys
    );
    assert_eq!(e(br#"{"keys": {"kty": "oct"}}"#), JwksError::KeysNotArray);
    assert_eq!(e(br#"{"keys": []}"#), JwksError::NoValidKeys(vec![]));
    assert_eq!(
        e(br#"{"keys": [1, "x", null]}"#),
        JwksError::NoValidKeys(vec![])
    );
    let all_bad = e(br#"{"keys": [{"kty": "EC", "kid": "k1"}, {"kty": "foo"}]}"#);
    assert_eq!(
        all_bad.to_string(),
        "Jwks doesn't have any valid public key; \
         keys[0] (kid \"k1\"): [x] field is missing for an EC key; \
         keys[1]: [kty] is not supported in [keys]"
    );
    assert_eq!(JwksError::NotJson.to_string(), "Jwks is an invalid JSON");
    // Entries that are not objects are passed over, silently.
    let set = KeySet::parse(
        json!({"keys": [1, "x", hmac_jwk(b"s", "k")]})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!((set.keys().len(), set.skipped().len()), (1, 0));
    // Size bound.
    let mut big = br#"{"keys": [], "pad": ""#.to_vec();
    big.resize(MAX_JWKS_BYTES + 1, b'a');
    big.extend_from_slice(b"\"}");
    assert_eq!(e(&big), JwksError::TooLarge(MAX_JWKS_BYTES + 3));
}

#[test]
fn a_fetched_jwks_with_many_keys() {
    // Key rotation overlap: several keys, the right one found by kid or by trying them all.
    let mut keys: Vec<Value> = (0..50)
        .map(|i| hmac_jwk(format!("secret-{i}").as_bytes(), &format!("k{i}")))
        .collect();
    keys.push(p256_jwk(&k().p256, "current"));
    let set = jwks(keys);
    let by_kid = token(
        json!({"alg": "ES256", "kid": "current"}),
        claims(),
        Signer::Es256(&k().p256),
    );
    assert!(verify(&by_kid, &provider(), &set, NOW).is_ok());
    let no_kid = token(
        json!({"alg": "HS256"}),
        claims(),
        Signer::Hs256(b"secret-42"),
    );
    assert!(verify(&no_kid, &provider(), &set, NOW).is_ok());
}
