//! The request `check` decides, built from the flags by the proxy adapter's own
//! `build_request` (the header map and connection facts Envoy would hand over).

use super::args::CheckArgs;
use super::Failure;
use crate::config::Workload;
use crate::host::decode::{build_request, Connection};
use crate::request::{Direction, Peer, Request, SPIFFE_PREFIX};

/// Builds the request. `direction` is the side the plugin runs on.
pub fn build(
    args: &CheckArgs,
    workload: &Workload,
    direction: Direction,
) -> Result<Request, Failure> {
    let (method, path) = args
        .request
        .trim()
        .split_once(' ')
        .map(|(m, p)| (m.trim(), p.trim()))
        .filter(|(m, p)| !m.is_empty() && !p.is_empty())
        .ok_or_else(|| {
            Failure(format!(
                "--request {:?}: expected '<METHOD> <path>', e.g. 'GET /api/v1/data'",
                args.request
            ))
        })?;
    if !path.starts_with('/') {
        return Err(Failure(format!(
            "--request {:?}: the path must start with /",
            args.request
        )));
    }
    let authority = args.host.clone().unwrap_or_else(|| default_host(workload));
    let mut headers: Vec<(Vec<u8>, Vec<u8>)> = vec![
        (b":method".to_vec(), method.as_bytes().to_vec()),
        (b":scheme".to_vec(), b"http".to_vec()),
        (b":path".to_vec(), path.as_bytes().to_vec()),
        (b":authority".to_vec(), authority.as_bytes().to_vec()),
    ];
    for h in &args.headers {
        let (name, value) = h
            .split_once('=')
            .filter(|(n, _)| !n.is_empty())
            .ok_or_else(|| Failure(format!("--header {h:?}: expected NAME=VALUE")))?;
        headers.push((name.as_bytes().to_vec(), value.as_bytes().to_vec()));
    }
    let peer = match &args.peer {
        Some(id) if id.starts_with(SPIFFE_PREFIX) => Peer::mtls(id),
        Some(id) => Peer::mtls(&format!("{SPIFFE_PREFIX}{id}")),
        None => Peer::plaintext(),
    };
    let connection = Connection {
        direction,
        peer,
        source_address: args
            .source_ip
            .map(|ip| format!("{}", std::net::SocketAddr::new(ip, 50000))),
        destination_address: None,
        sni: args.sni.clone(),
    };
    let mut r = build_request(headers.into_iter().collect(), connection).map_err(|why| {
        Failure(format!(
            "--request: the proxy could not read this request: {why}"
        ))
    })?;
    // The proxy reads these from the connection; offline they come from the flags.
    r.remote_ip = args.remote_ip.or(r.source_ip);
    r.destination_ip = args.destination_ip;
    r.destination_port = Some(
        args.port
            .or_else(|| crate::hostname::split_authority(&authority).1)
            .unwrap_or(80),
    );
    Ok(r)
}

/// `<app label>.<namespace>.svc.cluster.local`, the name a client would call the workload by.
fn default_host(w: &Workload) -> String {
    let service = w.labels.get("app").map_or("workload", String::as_str);
    format!("{service}.{}.svc.cluster.local", w.namespace)
}
