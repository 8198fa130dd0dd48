//! What Envoy hands over, decoded: header map pairs, typed properties, node metadata.
#![no_main]
use libfuzzer_sys::fuzz_target;
use meshguard::host::decode::{build_request, decode_bool, decode_i64, decode_pairs, request_headers, source_ips, workload_from_node, Connection};

fuzz_target!(|data: &[u8]| {
    // The same pairs, borrowed and taken over in place, must agree.
    let borrowed = decode_pairs(data);
    let owned = request_headers(data.to_vec());
    assert_eq!(borrowed.as_ref().map(Vec::len), owned.as_ref().map(|h| h.len()));
    if let Some(headers) = owned {
        let _ = build_request(headers, Connection::default());
    }
    let _ = decode_i64(data);
    let _ = decode_bool(data);
    let _ = source_ips(std::str::from_utf8(data).ok());
    let _ = workload_from_node(Some(data.to_vec()), Some(data.to_vec()));
});
