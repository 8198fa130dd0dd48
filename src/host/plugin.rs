//! The proxy-wasm contexts. Reads what Envoy knows into a `Request` once per request, asks the
//! engine, answers denials locally, and writes the audit entry when the stream completes.

use super::decode::{self, Connection};
use crate::audit;
use crate::config::{DirectionSetting, PluginConfig};
use crate::engine::{Decision, Engine};
use crate::request::{Direction, Peer, Request};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel};
use std::rc::Rc;

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    // After the SDK's own hook, so ours wins: a panic kills this worker's VM, so say so loudly.
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("meshguard: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { engine: None }) });
}}

struct Root {
    engine: Option<Rc<Engine>>,
}

impl Context for Root {}

impl RootContext for Root {
    fn on_configure(&mut self, _size: usize) -> bool {
        let bytes = hostcalls::get_buffer(BufferType::PluginConfiguration, 0, usize::MAX)
            .ok()
            .flatten()
            .unwrap_or_default();
        let node = decode::workload_from_node(
            property(&["xds", "node", "metadata", "NAMESPACE"]),
            property(&["xds", "node", "metadata", "LABELS"]),
        );
        match PluginConfig::parse(&bytes).and_then(|c| Engine::new(c, node)) {
            Ok(engine) => {
                let ids: Vec<&str> = engine.policy_ids().collect();
                log::info!(
                    "meshguard: configured for workload {} {:?}: {} authorization policies apply [{}]",
                    engine.workload.namespace,
                    engine.workload.labels,
                    ids.len(),
                    ids.join(", ")
                );
                self.engine = Some(Rc::new(engine));
                true
            }
            Err(e) => {
                // Refusing the configuration makes Envoy reject it: no request passes unchecked.
                log::error!("meshguard: configuration refused: {e}");
                self.engine = None;
                false
            }
        }
    }

    fn create_http_context(&self, _context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            engine: self.engine.clone(),
            judged: None,
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

struct Judged {
    request: Request,
    decision: Decision,
    destination_address: Option<String>,
}

struct Stream {
    engine: Option<Rc<Engine>>,
    judged: Option<Judged>,
}

impl Context for Stream {}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let needs_sni = self.engine.as_ref().is_some_and(|e| e.needs_sni);
        let setting = self
            .engine
            .as_ref()
            .map(|e| e.direction)
            .unwrap_or_default();
        let listener_direction = if setting == DirectionSetting::Auto {
            property(&["xds", "listener_direction"]).and_then(|b| decode::decode_i64(&b))
        } else {
            None
        };
        let direction = decode::direction(setting, listener_direction);
        let conn = connection(needs_sni, direction);
        let destination_address = conn.destination_address.clone();
        let source_address = conn.source_address.clone();
        let built = request_headers()
            .ok_or("request headers unreadable")
            .and_then(|h| decode::build_request(h, conn));
        let (request, decision) = match (built, &self.engine) {
            (Ok(r), Some(engine)) => {
                let d = engine.decide(&r);
                (r, d)
            }
            (Ok(r), None) => (r, Decision::bad_request(direction)),
            (Err(why), _) => {
                log::warn!("meshguard: denying a request it cannot judge: {why}");
                let r = Request {
                    direction,
                    source_address,
                    ..Default::default()
                };
                (r, Decision::bad_request(direction))
            }
        };
        let action = match decision.reply(&request) {
            None => Action::Continue,
            Some(reply) => {
                let headers = reply
                    .headers
                    .iter()
                    .map(|(k, v)| (*k, v.as_str()))
                    .collect();
                if hostcalls::send_http_response(reply.status, headers, Some(reply.body.as_bytes()))
                    .is_err()
                {
                    let _ = hostcalls::reset_http_request();
                }
                Action::Pause
            }
        };
        self.judged = Some(Judged {
            request,
            decision,
            destination_address,
        });
        action
    }

    fn on_log(&mut self) {
        let Some(j) = self.judged.as_ref() else {
            return;
        };
        let log_level = self
            .engine
            .as_ref()
            .map(|e| e.audit_log)
            .unwrap_or_default();
        if !audit::wanted(log_level, j.decision.allow) || !info_enabled() {
            return;
        }
        let status = property(&["response", "code"])
            .and_then(|b| decode::decode_i64(&b))
            .and_then(|c| u32::try_from(c).ok());
        let request_id = j
            .request
            .header("x-request-id")
            .and_then(|v| std::str::from_utf8(v).ok());
        let line = audit::render(&audit::Context {
            request: &j.request,
            decision: &j.decision,
            destination_address: j.destination_address.as_deref(),
            request_id,
            status,
            now: hostcalls::get_current_time().unwrap_or(std::time::UNIX_EPOCH),
        });
        let _ = hostcalls::log(LogLevel::Info, &line);
    }
}

/// Building the entry costs more than writing it: skip both when Envoy drops info lines.
fn info_enabled() -> bool {
    matches!(
        hostcalls::get_log_level(),
        Ok(LogLevel::Trace | LogLevel::Debug | LogLevel::Info)
    )
}

fn property(path: &[&str]) -> Option<Vec<u8>> {
    hostcalls::get_property(path.to_vec()).ok().flatten()
}

fn property_string(path: &[&str]) -> Option<String> {
    property(path).and_then(|b| String::from_utf8(b).ok())
}

/// The connection facts, read once per request by their known types.
fn connection(needs_sni: bool, direction: Direction) -> Connection {
    let uri_san = property_string(&["connection", "uri_san_peer_certificate"]);
    let peer = match uri_san {
        Some(san) => Peer {
            authenticated: true,
            principal_name: Some(san),
        },
        None => {
            let mtls = property(&["connection", "mtls"])
                .and_then(|b| decode::decode_bool(&b))
                .unwrap_or(false);
            // Envoy's RBAC falls back to the DNS SAN, then the subject, for a certificate
            // without a URI SAN: only `principals: ["*"]` can match those.
            let fallback = if mtls {
                property_string(&["connection", "dns_san_peer_certificate"])
                    .or_else(|| property_string(&["connection", "subject_peer_certificate"]))
            } else {
                None
            };
            Peer {
                authenticated: mtls,
                principal_name: fallback,
            }
        }
    };
    Connection {
        direction,
        sni: if needs_sni {
            property_string(&["connection", "requested_server_name"])
        } else {
            None
        },
        peer,
        source_address: property_string(&["source", "address"]),
        destination_address: property_string(&["destination", "address"]),
    }
}

#[link(wasm_import_module = "env")]
extern "C" {
    fn proxy_get_header_map_pairs(map_type: u32, data: *mut *mut u8, size: *mut usize) -> u32;
}

/// All request headers in one host call. The SDK's own getters panic on a header value that is
/// not UTF-8 (which Envoy lets through), so the pairs are decoded here, as bytes.
fn request_headers() -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    const HTTP_REQUEST_HEADERS: u32 = 0;
    let mut data: *mut u8 = std::ptr::null_mut();
    let mut size: usize = 0;
    // SAFETY: the host writes a buffer it allocated through this module's
    // proxy_on_memory_allocate (a Vec<u8> of capacity `size`), whose ownership passes to us.
    let status = unsafe { proxy_get_header_map_pairs(HTTP_REQUEST_HEADERS, &mut data, &mut size) };
    if status != 0 {
        return None;
    }
    if data.is_null() || size == 0 {
        return Some(Vec::new());
    }
    let bytes = unsafe { Vec::from_raw_parts(data, size, size) };
    decode::decode_pairs(&bytes)
}
