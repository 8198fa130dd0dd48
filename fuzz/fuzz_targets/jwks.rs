//! JWKS documents (inline or fetched) on arbitrary bytes: keys or an error, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::authn::jwt::KeySet;

fuzz_target!(|data: &[u8]| {
    let _ = KeySet::parse(data);
});
