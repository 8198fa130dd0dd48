//! The proxy-wasm contexts. Reads what Envoy knows into a `Request` once per request, asks the
//! engine, answers denials locally, fetches JWKS for the engine, and writes the audit entry
//! when the stream completes.

use super::calls;
use super::connections::ConnectionCache;
use super::decode::{self, Connection};
use super::stats::Stats;
use crate::audit;
use crate::authn::jwks_remote::MAX_BODY;
use crate::authn::request_authn::{AuthnState, HeaderOp, HeaderOps};
use crate::config::{DirectionSetting, PluginConfig};
use crate::engine::{Decision, Engine, Step};
use crate::map::SortedMap;
use crate::metrics;
use crate::request::{Peer, Request};
use proxy_wasm::hostcalls;
use proxy_wasm::traits::{Context, HttpContext, RootContext};
use proxy_wasm::types::{Action, BufferType, ContextType, LogLevel, MapType};
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

proxy_wasm::main! {{
    proxy_wasm::set_log_level(LogLevel::Trace);
    // After the SDK's own hook, so ours wins: a panic kills this worker's VM, so say so loudly.
    std::panic::set_hook(Box::new(|info| {
        let _ = hostcalls::log(LogLevel::Critical, &format!("meshguard: panic: {info}"));
    }));
    proxy_wasm::set_root_context(|_| -> Box<dyn RootContext> { Box::new(Root { shared: None }) });
}}

/// How often the root context flushes its counters and looks at JWKS refreshes and lost fetches.
const TICK: Duration = Duration::from_millis(200);

/// What the root context and the streams of one configuration share. Everything runs on the
/// VM's single thread; borrows never outlive a callback.
struct Shared {
    engine: Engine,
    authn: RefCell<AuthnState>,
    /// Requests waiting for a remote JWKS.
    held: RefCell<Vec<Held>>,
    /// In-flight JWKS fetches: call token -> remote index.
    calls: RefCell<SortedMap<u32, usize>>,
    stats: Stats,
    /// The facts of the connections recent requests came on (see `connection_facts`).
    connections: RefCell<ConnectionCache<ConnectionFacts>>,
    /// The audit line's buffer, reused from request to request (its capacity stays).
    audit_line: RefCell<String>,
}

/// What cannot change within a connection: read once per connection, not per request.
/// (`source.address` is not among them: Envoy rewrites it per request from X-Forwarded-For.)
#[derive(Clone)]
struct ConnectionFacts {
    listener_direction: Option<i64>,
    peer: Peer,
    destination_address: Option<String>,
    sni: Option<String>,
}

struct Held {
    context_id: u32,
    remote: usize,
    stream: Rc<RefCell<StreamState>>,
}

#[derive(Default)]
struct StreamState {
    /// The request as read, before authentication changed it (kept to decide again).
    request: Option<Request>,
    destination_address: Option<String>,
    decided: Option<(Request, Decision)>,
    /// When it was decided: the clock the decision read is the audit entry's time too.
    decided_at: Option<SystemTime>,
}

struct Root {
    shared: Option<Rc<Shared>>,
}

impl Context for Root {
    /// The VM is going away: what the counters gathered since the last tick still counts.
    fn on_done(&mut self) -> bool {
        if let Some(shared) = self.shared.as_ref() {
            shared.stats.flush();
        }
        true
    }

    fn on_http_call_response(
        &mut self,
        token: u32,
        _headers: usize,
        body_size: usize,
        _trailers: usize,
    ) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        let Some(remote) = shared.calls.borrow_mut().remove(&token) else {
            return;
        };
        let status = hostcalls::get_map_value(MapType::HttpCallResponseHeaders, ":status")
            .ok()
            .flatten()
            .and_then(|s| s.parse::<u32>().ok());
        // A body over the limit is refused unread: a JWKS is a few kilobytes.
        let body = if body_size > MAX_BODY {
            None
        } else {
            hostcalls::get_buffer(BufferType::HttpCallResponseBody, 0, body_size)
                .ok()
                .flatten()
        };
        let now = now_ms();
        {
            let mut state = shared.authn.borrow_mut();
            let Some(r) = state.remotes.get_mut(remote) else {
                return;
            };
            let uri = r.source.uri.clone();
            let outcome = if body_size > MAX_BODY {
                r.failed(
                    format!("response of {body_size} bytes is over the {MAX_BODY} byte limit"),
                    now,
                );
                Err(r.last_error.clone().unwrap_or_default())
            } else {
                r.completed(status, body.as_deref(), now)
            };
            shared.stats.increment(if outcome.is_ok() {
                metrics::JWKS_FETCH_SUCCESS
            } else {
                metrics::JWKS_FETCH_FAILURE
            });
            match outcome {
                Ok(()) => {
                    log::info!("meshguard: JWKS {uri} fetched");
                    shared.engine.authn.keys_changed(&mut state, remote);
                }
                Err(e) => log::warn!(
                    "meshguard: JWKS {uri} fetch failed ({e}); keeping the last good keys, if any"
                ),
            }
        }
        release(&shared, remote);
    }
}

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
                // Written out rather than `{:?}` of the map: the same text, without the
                // formatter's map builder in the .wasm.
                let labels: Vec<String> = engine
                    .workload
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k:?}: {v:?}"))
                    .collect();
                log::info!(
                    "meshguard: configured for workload {} {{{}}}: {} authorization policies apply [{}]; {} remote JWKS",
                    engine.workload.namespace,
                    labels.join(", "),
                    ids.len(),
                    ids.join(", "),
                    engine.authn.sources().len()
                );
                // The tick flushes the counters and drives the JWKS fetches.
                if hostcalls::set_tick_period(TICK).is_err() {
                    log::error!("meshguard: configuration refused: cannot set the plugin's timer");
                    return false;
                }
                let authn = RefCell::new(engine.authn.new_state());
                let shared = Rc::new(Shared {
                    engine,
                    authn,
                    held: RefCell::new(Vec::new()),
                    calls: RefCell::new(SortedMap::new()),
                    stats: Stats::default(),
                    connections: RefCell::new(ConnectionCache::default()),
                    audit_line: RefCell::new(String::with_capacity(1024)),
                });
                // Requests held by the previous configuration are decided by this one.
                let previous = self.shared.replace(shared.clone());
                if let Some(old) = previous {
                    old.stats.flush();
                    let held = std::mem::take(&mut *old.held.borrow_mut());
                    for h in held {
                        resume_held(&shared, h);
                    }
                }
                true
            }
            Err(e) => {
                // Refusing the configuration makes Envoy reject it, and a configuration this
                // context already had stays in force: no request passes unchecked.
                log::error!("meshguard: configuration refused: {e}");
                false
            }
        }
    }

    fn on_tick(&mut self) {
        let Some(shared) = self.shared.clone() else {
            return;
        };
        shared.stats.flush();
        let now = now_ms();
        let mut lost = Vec::new();
        let mut due = Vec::new();
        {
            let mut state = shared.authn.borrow_mut();
            for (i, r) in state.remotes.iter_mut().enumerate() {
                if r.overdue(now) {
                    r.failed("no response within the timeout".into(), now);
                    lost.push(i);
                }
                if r.due(now) {
                    due.push(i);
                }
            }
        }
        // Calls that never answered: forget their tokens, release their requests.
        shared.calls.borrow_mut().retain(|_, r| !lost.contains(r));
        for i in lost {
            release(&shared, i);
        }
        for i in due {
            fetch(&shared, i, now);
        }
    }

    fn create_http_context(&self, context_id: u32) -> Option<Box<dyn HttpContext>> {
        Some(Box::new(Stream {
            context_id,
            shared: self.shared.clone(),
            state: Rc::new(RefCell::new(StreamState::default())),
        }))
    }

    fn get_type(&self) -> Option<ContextType> {
        Some(ContextType::HttpContext)
    }
}

/// Starts fetching remote JWKS `i` through its cluster.
fn fetch(shared: &Shared, i: usize, now: u64) {
    let mut state = shared.authn.borrow_mut();
    let Some(r) = state.remotes.get_mut(i) else {
        return;
    };
    let s = r.source.clone();
    let headers = vec![
        (":method", "GET"),
        (":path", s.path.as_str()),
        (":authority", s.authority.as_str()),
        ("accept", "application/json"),
    ];
    match hostcalls::dispatch_http_call(
        &s.cluster,
        headers,
        None,
        vec![],
        Duration::from_millis(s.timeout_ms),
    ) {
        Ok(token) => {
            r.started(now);
            shared.calls.borrow_mut().insert(token, i);
        }
        Err(status) => {
            r.failed(
                format!("cannot call cluster {:?}: {status:?}", s.cluster),
                now,
            );
            drop(state);
            shared.stats.increment(metrics::JWKS_FETCH_FAILURE);
            log::warn!(
                "meshguard: JWKS {} cannot be fetched: no usable cluster {:?} (set jwksClusters to name one)",
                s.uri,
                s.cluster
            );
            release(shared, i);
        }
    }
}

/// Decides again the requests held for remote JWKS `remote`, now that it answered or failed.
fn release(shared: &Shared, remote: usize) {
    let ready: Vec<Held> = {
        let mut held = shared.held.borrow_mut();
        let (ready, waiting) = held.drain(..).partition(|h| h.remote == remote);
        *held = waiting;
        ready
    };
    for h in ready {
        resume_held(shared, h);
    }
}

/// Decides a held request again and, if it may go on, resumes it.
fn resume_held(shared: &Shared, h: Held) {
    // The stream may be gone (client disconnected): then there is nothing to resume.
    if !calls::set_effective_context(h.context_id) {
        return;
    }
    let Some(request) = h.stream.borrow().request.clone() else {
        return;
    };
    if let Some(Action::Continue) = run(shared, h.context_id, &h.stream, request) {
        calls::resume_request();
    }
}

/// Decides `request` for the stream and carries the decision out in the current effective
/// context: header changes, then a local reply or going on. `None` when the request is held.
fn run(
    shared: &Shared,
    context_id: u32,
    stream: &Rc<RefCell<StreamState>>,
    request: Request,
) -> Option<Action> {
    let mut r = request;
    let now = hostcalls::get_current_time().unwrap_or(UNIX_EPOCH);
    let step = {
        let mut state = shared.authn.borrow_mut();
        shared.engine.decide(&mut r, &mut state, unix_ms(now))
    };
    match step {
        Step::Wait(remote) => {
            shared.held.borrow_mut().push(Held {
                context_id,
                remote,
                stream: stream.clone(),
            });
            None
        }
        Step::Done(decision, ops) => {
            apply_headers(&ops);
            shared.stats.record(&shared.engine, &decision);
            let action = reply(&decision, &r);
            let mut stream = stream.borrow_mut();
            stream.decided = Some((r, decision));
            stream.decided_at = Some(now);
            Some(action)
        }
    }
}

/// Makes authentication's changes to Envoy's header map, in order.
fn apply_headers(ops: &HeaderOps) {
    for op in &ops.ops {
        match op {
            HeaderOp::Remove(name) => calls::remove_request_header(name),
            HeaderOp::Add(name, value) => calls::add_request_header(name, value),
            HeaderOp::Path(path) => calls::set_request_header(":path", path),
        };
    }
}

/// Sends the local reply for a denial; `Continue` when the request goes on.
fn reply(decision: &Decision, r: &Request) -> Action {
    match decision.reply(r) {
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
    }
}

struct Stream {
    context_id: u32,
    shared: Option<Rc<Shared>>,
    state: Rc<RefCell<StreamState>>,
}

impl Context for Stream {}

impl Stream {
    /// `Continue` once the request is decided and allowed; `Pause` while it waits for keys and
    /// after a denial (whose local reply ends the stream).
    fn go_on_once_allowed(&self) -> Action {
        match &self.state.borrow().decided {
            Some((_, d)) if d.allow => Action::Continue,
            _ => Action::Pause,
        }
    }
}

impl HttpContext for Stream {
    fn on_http_request_headers(&mut self, _num_headers: usize, _end_of_stream: bool) -> Action {
        let engine = self.shared.as_ref().map(|s| &s.engine);
        let setting = engine.map(|e| e.direction).unwrap_or_default();
        let facts = connection_facts(self.shared.as_deref(), setting);
        let direction = decode::direction(setting, facts.listener_direction);
        let conn = Connection {
            direction,
            peer: facts.peer,
            // Without a policy on IPs, the audit entry reads it, if one is written.
            source_address: if engine.is_none_or(|e| e.needs_source_address) {
                property_string(&["source", "address"])
            } else {
                None
            },
            destination_address: facts.destination_address,
            sni: facts.sni,
        };
        self.state.borrow_mut().destination_address = conn.destination_address.clone();
        let source_address = conn.source_address.clone();
        let built = calls::request_header_pairs()
            .and_then(decode::request_headers)
            .ok_or("request headers unreadable")
            .and_then(|h| decode::build_request(h, conn));
        let (request, shared) = match (built, &self.shared) {
            (Ok(r), Some(shared)) => (r, shared.clone()),
            (built, _) => {
                if let Err(why) = &built {
                    log::warn!("meshguard: denying a request it cannot judge: {why}");
                }
                let r = built.unwrap_or_else(|_| Request {
                    direction,
                    source_address,
                    ..Default::default()
                });
                let d = Decision::bad_request(direction);
                if let Some(shared) = &self.shared {
                    shared.stats.record(&shared.engine, &d);
                }
                let action = reply(&d, &r);
                self.state.borrow_mut().decided = Some((r, d));
                return action;
            }
        };
        // Kept to decide again only when a request may wait for remote keys.
        if !shared.engine.authn.sources().is_empty() {
            self.state.borrow_mut().request = Some(request.clone());
        }
        run(&shared, self.context_id, &self.state, request).unwrap_or(Action::Pause)
    }

    // A paused request's body and trailers stay paused until the request is allowed. By default
    // Envoy holds them itself (proxy-wasm turns a paused header callback into
    // StopAllIterationAndWatermark), but with the Wasm filter's `allow_on_headers_stop_iteration`
    // it hands them to the filter, and a body let go lets the held headers go upstream with it,
    // before the decision.
    fn on_http_request_body(&mut self, _body_size: usize, _end_of_stream: bool) -> Action {
        self.go_on_once_allowed()
    }

    fn on_http_request_trailers(&mut self, _num_trailers: usize) -> Action {
        self.go_on_once_allowed()
    }

    fn on_log(&mut self) {
        let Some(shared) = self.shared.as_ref() else {
            return;
        };
        // A held request whose stream ended is no longer waited for.
        shared
            .held
            .borrow_mut()
            .retain(|h| h.context_id != self.context_id);
        let mut guard = self.state.borrow_mut();
        let state = &mut *guard;
        let undecided;
        let (request, decision) = match (&mut state.decided, &mut state.request) {
            (Some((r, d)), _) => (r, &*d),
            (None, Some(r)) => {
                undecided = Decision::undecided(r.direction);
                (r, &undecided)
            }
            (None, None) => return,
        };
        if !audit::wanted(shared.engine.audit_log, decision.allow) || !info_enabled() {
            return;
        }
        if request.source_address.is_none() && !shared.engine.needs_source_address {
            request.source_address = property_string(&["source", "address"]);
        }
        let request = &*request;
        let status = property(&["response", "code"])
            .and_then(|b| decode::decode_i64(&b))
            .and_then(|c| u32::try_from(c).ok());
        let request_id = request
            .header("x-request-id")
            .and_then(|v| std::str::from_utf8(v).ok());
        let mut line = shared.audit_line.borrow_mut();
        audit::render_into(
            &audit::Context {
                request,
                decision,
                destination_address: state.destination_address.as_deref(),
                request_id,
                status,
                now: match state.decided_at {
                    Some(at) => at,
                    None => hostcalls::get_current_time().unwrap_or(UNIX_EPOCH),
                },
            },
            &mut line,
        );
        let _ = hostcalls::log(LogLevel::Info, &line);
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn now_ms() -> u64 {
    unix_ms(hostcalls::get_current_time().unwrap_or(UNIX_EPOCH))
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

/// The facts of the request's connection: those of the previous request when it came on the
/// same connection (`connection.id`), else read by their known types.
fn connection_facts(shared: Option<&Shared>, setting: DirectionSetting) -> ConnectionFacts {
    let id = property(&["connection", "id"]).and_then(|b| decode::decode_i64(&b));
    if let (Some(id), Some(shared)) = (id, shared) {
        if let Some(facts) = shared.connections.borrow().get(id) {
            return facts.clone();
        }
    }
    let needs_sni = shared.is_some_and(|s| s.engine.needs_sni);
    // Without an id nothing is cached.
    let facts = ConnectionFacts {
        listener_direction: if setting == DirectionSetting::Auto {
            property(&["xds", "listener_direction"]).and_then(|b| decode::decode_i64(&b))
        } else {
            None
        },
        peer: peer(),
        destination_address: property_string(&["destination", "address"]),
        sni: if needs_sni {
            property_string(&["connection", "requested_server_name"])
        } else {
            None
        },
    };
    if let (Some(id), Some(shared)) = (id, shared) {
        shared.connections.borrow_mut().insert(id, facts.clone());
    }
    facts
}

/// The peer identity from the connection's client certificate.
fn peer() -> Peer {
    let uri_san = property_string(&["connection", "uri_san_peer_certificate"]);
    match uri_san {
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
    }
}
