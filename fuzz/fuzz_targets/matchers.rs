//! Every matcher's parser and matcher on arbitrary values and inputs.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::hostname::{split_authority, HostPattern};
use meshguard::policy::ip::Cidr;
use meshguard::policy::matcher::StringMatch;
use meshguard::policy::path::PathMatch;
use meshguard::policy::path_variant::lenient_variant;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (value, input) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(m) = StringMatch::parse(value, true) {
        let _ = m.matches(input);
    }
    if let Ok(p) = PathMatch::parse(value) {
        let _ = p.matches(input);
    }
    if let (Ok(c), Ok(ip)) = (Cidr::parse(value), input.parse()) {
        let _ = c.contains(&ip);
    }
    if let Ok(h) = HostPattern::parse(value) {
        let _ = h.matches(input);
    }
    let _ = split_authority(input);
    if let Some(v) = lenient_variant(input) {
        // The variant is stable: reading it leniently again changes nothing more.
        assert_eq!(lenient_variant(&v), None, "{input:?} -> {v:?}");
    }
});
