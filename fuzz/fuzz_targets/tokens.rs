//! Token extraction from arbitrary header values, query strings and cookies, and the query
//! rewritten when a verified token is removed from it.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::authn::tokens::{without_param, Extractor, Location, Place};
use meshguard::request::Request;

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (value, rest) = data.split_at(split);
    let path = String::from_utf8_lossy(rest).into_owned();
    let r = Request {
        path,
        headers: [("authorization", value), ("x-token", value), ("cookie", value)]
            .into_iter()
            .collect(),
        ..Default::default()
    };
    let locations = [
        Location::Header { name: "authorization".into(), prefix: "Bearer ".into() },
        Location::Header { name: "x-token".into(), prefix: String::new() },
        Location::Param("access_token".into()),
        Location::Cookie("session".into()),
    ];
    for found in Extractor::new(&locations).find(&r) {
        if let Place::Param(name) = &found.place {
            let rewritten = without_param(&r.path, name);
            // The path before the query is kept as it was.
            let base = r.path.split('?').next().unwrap_or("");
            assert!(rewritten.starts_with(base), "{rewritten:?} from {:?}", r.path);
        }
    }
});
