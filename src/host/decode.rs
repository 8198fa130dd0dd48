//! Decoding what Envoy hands over: the proxy-wasm pairs encoding (header maps, map-valued
//! properties), property values by their known types, and the request built from headers.
//! Nothing here trusts a length or assumes UTF-8.

use crate::config::{DirectionSetting, Workload};
use crate::request::{Direction, Headers, Peer, Request};
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;

/// The proxy-wasm map encoding: u32 count, then (u32 key len, u32 value len) per entry, then
/// each key and value followed by a NUL. `None` if the buffer is truncated or inconsistent.
pub fn decode_pairs(bytes: &[u8]) -> Option<Vec<(&[u8], &[u8])>> {
    pair_ranges(bytes)?
        .into_iter()
        .map(|(k, v)| Some((bytes.get(k)?, bytes.get(v)?)))
        .collect()
}

/// The request headers, in the buffer the host call copied them into (no copy of any).
pub fn request_headers(buffer: Vec<u8>) -> Option<Headers> {
    let pairs = pair_ranges(&buffer)?;
    Headers::from_buffer(buffer, pairs)
}

/// Where each key and value of the pairs encoding lies in `bytes` (checked to be inside it).
fn pair_ranges(bytes: &[u8]) -> Option<Vec<(Range<usize>, Range<usize>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let u32_at = |at: usize| -> Option<usize> {
        let b: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(b)).ok()
    };
    let count = u32_at(0)?;
    // Each entry needs at least 8 bytes of sizes and 2 NULs: bound the allocation by the input.
    if count > bytes.len() / 10 {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut pos = 4usize.checked_add(count.checked_mul(8)?)?;
    let mut take = |len: usize| -> Option<Range<usize>> {
        let range = pos..pos.checked_add(len)?;
        bytes.get(range.clone())?;
        pos = range.end.checked_add(1)?;
        Some(range)
    };
    for n in 0..count {
        let sizes = 4 + n * 8;
        let key = take(u32_at(sizes)?)?;
        let value = take(u32_at(sizes + 4)?)?;
        out.push((key, value));
    }
    Some(out)
}

/// An int64 property (`destination.port`, `source.port`): 8 bytes, little endian.
pub fn decode_i64(bytes: &[u8]) -> Option<i64> {
    let b: [u8; 8] = bytes.try_into().ok()?;
    Some(i64::from_le_bytes(b))
}

/// A boolean property (`connection.mtls`): one byte.
pub fn decode_bool(bytes: &[u8]) -> Option<bool> {
    match bytes {
        [b] => Some(*b != 0),
        _ => None,
    }
}

/// `127.0.0.1:41336` or `[::1]:80`.
pub fn parse_socket_address(s: &str) -> Option<SocketAddr> {
    s.parse().ok()
}

/// The direct peer and the remote (client) address from Envoy's `source.address`.
/// Port 0 means Envoy took the address from X-Forwarded-For (use_remote_address false): it is
/// the remote address, and the direct peer is unknown.
pub fn source_ips(source_address: Option<&str>) -> (Option<IpAddr>, Option<IpAddr>) {
    match source_address.and_then(parse_socket_address) {
        Some(a) if a.port() == 0 => (None, Some(a.ip())),
        Some(a) => (Some(a.ip()), Some(a.ip())),
        None => (None, None),
    }
}

/// Envoy's `xds.listener_direction` (envoy.config.core.v3.TrafficDirection): 2 is OUTBOUND.
/// Unspecified (plain Envoy's default) and INBOUND mean inbound.
pub fn direction(setting: DirectionSetting, listener_direction: Option<i64>) -> Direction {
    match setting {
        DirectionSetting::Inbound => Direction::Inbound,
        DirectionSetting::Outbound => Direction::Outbound,
        DirectionSetting::Auto if listener_direction == Some(2) => Direction::Outbound,
        DirectionSetting::Auto => Direction::Inbound,
    }
}

/// Connection facts, read from properties by the adapter.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub direction: Direction,
    pub peer: Peer,
    pub source_address: Option<String>,
    pub destination_address: Option<String>,
    pub sni: Option<String>,
}

/// Builds the core's request from the header map and the connection. `Err` names what is
/// missing or malformed: the request cannot be judged and is denied.
pub fn build_request(headers: Headers, conn: Connection) -> Result<Request, &'static str> {
    let mut method = None;
    let mut scheme = None;
    let mut path = None;
    let mut authority = None;
    for (name, value) in headers.iter() {
        match name {
            b":method" => method = Some(utf8(value, "a :method that is not UTF-8")?),
            b":scheme" => scheme = std::str::from_utf8(value).ok().map(str::to_string),
            b":path" => path = Some(utf8(value, "a :path that is not UTF-8")?),
            b":authority" => authority = Some(utf8(value, "an :authority that is not UTF-8")?),
            _ => {}
        }
    }
    let (source_ip, remote_ip) = source_ips(conn.source_address.as_deref());
    let destination = conn
        .destination_address
        .as_deref()
        .and_then(parse_socket_address);
    let method = method.ok_or("no :method")?;
    // Only a CONNECT comes without a :path (Envoy's codecs refuse any other request without
    // one); it is judged like any request, with path matchers that match nothing.
    let no_path = path.is_none() && method == "CONNECT";
    Ok(Request {
        direction: conn.direction,
        method,
        scheme: scheme.unwrap_or_else(|| "http".to_string()),
        path: if no_path {
            String::new()
        } else {
            path.ok_or("no :path")?
        },
        no_path,
        authority: authority.unwrap_or_default(),
        headers,
        peer: conn.peer,
        source_ip,
        remote_ip,
        source_address: conn.source_address,
        destination_ip: destination.map(|d| d.ip()),
        destination_port: destination.map(|d| d.port()),
        sni: conn.sni.filter(|s| !s.is_empty()),
        jwt: None,
    })
}

fn utf8(v: &[u8], what: &'static str) -> Result<String, &'static str> {
    std::str::from_utf8(v).map(str::to_string).map_err(|_| what)
}

/// The workload Istio describes in the node metadata: `NAMESPACE` and the `LABELS` map.
pub fn workload_from_node(namespace: Option<Vec<u8>>, labels: Option<Vec<u8>>) -> Option<Workload> {
    let namespace = String::from_utf8(namespace?)
        .ok()
        .filter(|n| !n.is_empty())?;
    let labels = labels
        .as_deref()
        .and_then(decode_pairs)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| {
            let text = |b: &[u8]| std::str::from_utf8(b).ok().map(str::to_string);
            Some((text(k)?, text(v)?))
        })
        .collect();
    Some(Workload { namespace, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        let mut out = (pairs.len() as u32).to_le_bytes().to_vec();
        for (k, v) in pairs {
            out.extend((k.len() as u32).to_le_bytes());
            out.extend((v.len() as u32).to_le_bytes());
        }
        for (k, v) in pairs {
            out.extend(*k);
            out.push(0);
            out.extend(*v);
            out.push(0);
        }
        out
    }

    #[test]
    fn pairs_roundtrip_and_garbage() {
        let b = encode(&[
            (b":path", b"/a"),
            (b"x-role", b"\xff\xfe"),
            (b"x-role", b""),
        ]);
        let p = decode_pairs(&b).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p[1].1, b"\xff\xfe");
        assert_eq!(decode_pairs(&[]).unwrap(), vec![]);
        for cut in 1..b.len() {
            // Truncated buffers never panic; most are refused.
            let _ = decode_pairs(&b[..cut]);
        }
        assert!(decode_pairs(&[255, 255, 255, 255]).is_none());
        assert!(decode_pairs(&[1, 0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0]).is_none());
    }

    #[test]
    fn typed_properties() {
        assert_eq!(decode_i64(&15006i64.to_le_bytes()), Some(15006));
        // An 8-character string is not an int64 to us unless the property is one.
        assert_eq!(
            decode_i64(b"/api/tls"),
            Some(i64::from_le_bytes(*b"/api/tls"))
        );
        assert_eq!(decode_i64(b"short"), None);
        assert_eq!(decode_bool(&[1]), Some(true));
        assert_eq!(decode_bool(&[0]), Some(false));
        assert_eq!(decode_bool(&[]), None);
    }

    #[test]
    fn xff_rewritten_source_is_not_the_peer() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(
            source_ips(Some("127.0.0.1:41336")),
            (ip("127.0.0.1"), ip("127.0.0.1"))
        );
        assert_eq!(source_ips(Some("10.9.9.9:0")), (None, ip("10.9.9.9")));
        assert_eq!(source_ips(Some("[::1]:80")), (ip("::1"), ip("::1")));
        assert_eq!(source_ips(Some("garbage")), (None, None));
        assert_eq!(source_ips(None), (None, None));
    }

    #[test]
    fn request_from_headers() {
        let h = |pairs: &[(&str, &[u8])]| {
            pairs
                .iter()
                .map(|(k, v)| (k.as_bytes(), *v))
                .collect::<Headers>()
        };
        let conn = Connection {
            source_address: Some("127.0.0.1:5000".into()),
            destination_address: Some("127.0.0.1:15006".into()),
            ..Default::default()
        };
        let r = build_request(
            h(&[
                (":method", b"GET"),
                (":path", b"/a?b"),
                (":authority", b"Backend"),
                ("X-Role", b"\xff"),
            ]),
            conn.clone(),
        )
        .unwrap();
        assert_eq!(r.url_path(), "/a");
        assert_eq!(r.authority, "Backend");
        assert_eq!(r.destination_port, Some(15006));
        assert_eq!(r.header("x-role"), Some(&b"\xff"[..]));
        assert!(build_request(h(&[(":method", b"GET")]), conn.clone()).is_err());
        assert!(
            build_request(h(&[(":method", b"GET"), (":path", b"/\xff")]), conn.clone()).is_err()
        );
        // A CONNECT has no :path: judged, with no path.
        let c = build_request(
            h(&[
                (":method", b"CONNECT"),
                (":authority", b"db.example.com:5432"),
            ]),
            conn.clone(),
        )
        .unwrap();
        assert!(c.no_path);
        assert_eq!(c.url_path_opt(), None);
        assert_eq!(c.authority, "db.example.com:5432");
        // An extended CONNECT (RFC 8441, websockets over HTTP/2) has one.
        let ws = build_request(
            h(&[
                (":method", b"CONNECT"),
                (":path", b"/chat"),
                (":protocol", b"websocket"),
            ]),
            conn,
        )
        .unwrap();
        assert!(!ws.no_path);
        assert_eq!(ws.url_path_opt(), Some("/chat"));
    }

    #[test]
    fn directions() {
        assert_eq!(
            direction(DirectionSetting::Auto, Some(2)),
            Direction::Outbound
        );
        assert_eq!(
            direction(DirectionSetting::Auto, Some(1)),
            Direction::Inbound
        );
        assert_eq!(
            direction(DirectionSetting::Auto, Some(0)),
            Direction::Inbound
        );
        assert_eq!(direction(DirectionSetting::Auto, None), Direction::Inbound);
        assert_eq!(
            direction(DirectionSetting::Inbound, Some(2)),
            Direction::Inbound
        );
        assert_eq!(
            direction(DirectionSetting::Outbound, None),
            Direction::Outbound
        );
    }

    #[test]
    fn node_workload() {
        let labels = encode(&[(b"app", b"backend"), (b"version", b"v1")]);
        let w = workload_from_node(Some(b"default".to_vec()), Some(labels)).unwrap();
        assert_eq!(w.namespace, "default");
        assert_eq!(w.labels.get("app").map(String::as_str), Some("backend"));
        assert!(workload_from_node(None, None).is_none());
        assert!(workload_from_node(Some(vec![]), None).is_none());
    }
}
