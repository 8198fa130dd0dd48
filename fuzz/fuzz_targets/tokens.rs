//! Token extraction from arbitrary header values, query strings and cookies.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::authn::tokens::{find, Location};
use meshguard::request::Request;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (value, rest) = data.split_at(split);
    let path = String::from_utf8_lossy(rest).into_owned();
    let r = Request {
        path,
        headers: vec![
            ("authorization".into(), value.to_vec()),
            ("x-token".into(), value.to_vec()),
            ("cookie".into(), value.to_vec()),
        ],
        ..Default::default()
    };
    let locations = [
        Location::Header { name: "authorization".into(), prefix: "Bearer ".into() },
        Location::Header { name: "x-token".into(), prefix: String::new() },
        Location::Param("access_token".into()),
        Location::Cookie("session".into()),
    ];
    for found in find(&locations, &r) {
        assert!(found.location < locations.len());
    }
});
