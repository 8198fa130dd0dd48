//! Host calls whose SDK wrappers panic on a status they do not expect (a panic kills the VM for
//! every request of this worker). These return the status instead.

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_remove_header_map_value(map_type: u32, key: *const u8, key_size: usize) -> u32;
    fn proxy_replace_header_map_value(
        map_type: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_add_header_map_value(
        map_type: u32,
        key: *const u8,
        key_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
    fn proxy_continue_stream(stream_type: u32) -> u32;
    fn proxy_set_effective_context(context_id: u32) -> u32;
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
    fn proxy_define_metric(
        metric_type: u32,
        name: *const u8,
        name_size: usize,
        id: *mut u32,
    ) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
    fn proxy_set_property(
        path: *const u8,
        path_size: usize,
        value: *const u8,
        value_size: usize,
    ) -> u32;
}

const OK: u32 = 0;
const HTTP_REQUEST_HEADERS: u32 = 0;
const STREAM_HTTP_REQUEST: u32 = 0;

pub fn remove_request_header(name: &str) -> bool {
    // SAFETY: pointer and length of a live &str; the host only reads them.
    unsafe { proxy_remove_header_map_value(HTTP_REQUEST_HEADERS, name.as_ptr(), name.len()) == OK }
}

type HeaderPairCall = unsafe extern "C" fn(u32, *const u8, usize, *const u8, usize) -> u32;

/// Calls a host function that takes a request header's name and value.
fn header_pair(call: HeaderPairCall, name: &str, value: &str) -> bool {
    // SAFETY: pointers and lengths of live &strs; the host only reads them.
    unsafe {
        call(
            HTTP_REQUEST_HEADERS,
            name.as_ptr(),
            name.len(),
            value.as_ptr(),
            value.len(),
        ) == OK
    }
}

/// Replaces every value of a request header with `value`.
pub fn set_request_header(name: &str, value: &str) -> bool {
    header_pair(proxy_replace_header_map_value, name, value)
}

/// Adds a value to a request header (another entry if the header is there already).
pub fn add_request_header(name: &str, value: &str) -> bool {
    header_pair(proxy_add_header_map_value, name, value)
}

pub fn resume_request() -> bool {
    // SAFETY: no memory crosses the call.
    unsafe { proxy_continue_stream(STREAM_HTTP_REQUEST) == OK }
}

/// Makes `context_id` the context later host calls act on; false if it is gone.
pub fn set_effective_context(context_id: u32) -> bool {
    // SAFETY: no memory crosses the call.
    unsafe { proxy_set_effective_context(context_id) == OK }
}

/// All request headers in one host call, in the proxy-wasm pairs encoding. The SDK's own
/// getters panic on a header value that is not UTF-8 (which Envoy lets through), so the pairs
/// are decoded by `decode::decode_pairs`, as bytes.
pub fn request_header_pairs() -> Option<Vec<u8>> {
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a buffer it allocated through this module's
    // proxy_on_memory_allocate (a Vec<u8> of capacity `size`), whose ownership passes to us.
    let status = unsafe { proxy_get_header_map_pairs(HTTP_REQUEST_HEADERS, &mut data, &mut size) };
    if status != OK {
        return None;
    }
    if data.is_null() || size == 0 {
        return Some(Vec::new());
    }
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

/// A counter in Envoy's stats; `None` if Envoy refused the name.
pub fn define_counter(name: &str) -> Option<u32> {
    const COUNTER: u32 = 0;
    let mut id = 0u32;
    // SAFETY: pointer and length of a live &str; the host writes one u32 into `id`.
    let status = unsafe { proxy_define_metric(COUNTER, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub fn increment(id: u32, by: u64) {
    // Envoy's counters are u64; the ABI takes a signed delta.
    let by = i64::try_from(by).unwrap_or(i64::MAX);
    // SAFETY: no memory crosses the call.
    unsafe {
        proxy_increment_metric(id, by);
    }
}

/// Sets Envoy filter state `wasm.<name>` for this stream (readable by the access log as
/// `%FILTER_STATE(wasm.<name>:PLAIN)%`).
pub fn set_filter_state(name: &str, value: &str) -> bool {
    // SAFETY: pointers and lengths of live &strs; the host only reads them.
    unsafe { proxy_set_property(name.as_ptr(), name.len(), value.as_ptr(), value.len()) == OK }
}
