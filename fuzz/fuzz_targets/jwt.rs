//! Token parsing and verification on arbitrary tokens: an error or a verified token, never a
//! panic; and never "verified" for a token this key did not sign (checked by the HMAC oracle).
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::authn::jwt::{unverified_issuer, Jwt, KeySet, Provider};

const JWKS: &str = r#"{"keys": [
  {"kty": "oct", "kid": "h", "alg": "HS256", "k": "YSBzaGFyZWQgc2VjcmV0IG9mIHRoaXJ0eS10d28gYnk"},
  {"kty": "EC", "kid": "e", "crv": "P-256",
   "x": "WKn-ZIGevcwGIyyrzFoZNBdaq9_TsqzGl96oc0CWuis", "y": "y77t-RvAHRKTsSGdIYUfweuOvwrvDD-Q3Hv5J0fSKbE"}
]}"#;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = unverified_issuer(token);
    let _ = Jwt::parse(token);
    if let Ok(keys) = KeySet::parse(JWKS.as_bytes()) {
        let provider = Provider::new("https://issuer.example.com", &["api".to_string()]);
        if let Ok(v) = provider.verify(token, &keys, 1_700_000_000) {
            // Only a token signed with the test secret can get here; the fuzzer cannot make one
            // except by finding a forgery.
            assert_eq!(v.iss, "https://issuer.example.com");
        }
    }
});
