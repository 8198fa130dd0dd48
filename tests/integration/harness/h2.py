"""HTTP/2 and gRPC for the tests.

- H2Client: HTTP/2 to the Envoy under test, in cleartext with prior knowledge (h2c) or over TLS
  with ALPN h2 (optionally with a workload's client certificate), built on the `h2` library so a
  test controls every stream: many requests multiplexed on one connection, CONNECT (no :path).
- GrpcEcho: the gRPC application behind the sidecar (grpcio with a generic handler, so no
  protoc step): every unary method answers with the method and the metadata it received, as
  JSON bytes; `/echo.Echo/Fail` answers grpc-status 9 (FAILED_PRECONDITION) from the upstream.
- with_grpc_and_connect: what an Envoy bootstrap needs for gRPC and CONNECT on top of
  envoy/envoy.yaml (a route for gRPC requests to an HTTP/2 upstream cluster, CONNECT accepted
  over HTTP/1.1 and HTTP/2 and routed to the echo server as a TCP tunnel).
"""

from __future__ import annotations

import json
import socket
import ssl
import uuid
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import h2.config
import h2.connection
import h2.events

from .pki import TestPKI

TIMEOUT = 10.0
GRPC_CLUSTER = "grpc_backend"
ECHO_METHOD = "/echo.Echo/Call"
FAIL_METHOD = "/echo.Echo/Fail"


# ---------------------------------------------------------------------------------------------------
# The client


@dataclass
class H2Response:
    stream_id: int
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    reset: int | None = None  # the RST_STREAM error code, if the stream was reset
    request_id: str = ""

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k == name), None)

    def trailer(self, name: str) -> str | None:
        return next((v for k, v in self.trailers if k == name), None)

    @property
    def grpc_status(self) -> str | None:
        """grpc-status from the trailers, or from the headers of a trailers-only answer."""
        return self.trailer("grpc-status") or self.header("grpc-status")

    @property
    def grpc_message(self) -> str | None:
        return self.trailer("grpc-message") or self.header("grpc-message")

    def json(self):
        return json.loads(self.body)


def _decode(pairs) -> list[tuple[str, str]]:
    return [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
            for k, v in pairs]


class H2Client:
    """One HTTP/2 connection to 127.0.0.1:`port`: h2c with prior knowledge, or TLS with ALPN h2
    when `tls` or `peer` is given (peer = (namespace, service account): that workload's
    certificate, mTLS), or `context` (a ready SSL context). `validate` False sends header blocks
    the h2 library would refuse; `source_ip` binds the client's address (127.0.0.0/8)."""

    def __init__(self, port: int, pki: TestPKI | None = None, peer: tuple[str, str] | None = None,
                 tls: bool = False, server_name: str = "localhost", timeout: float = TIMEOUT,
                 validate: bool = True, context: ssl.SSLContext | None = None,
                 source_ip: str | None = None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                        source_address=(source_ip, 0) if source_ip else None)
        self.alpn = None
        if tls or peer is not None or context is not None:
            ctx = context
            if ctx is None:
                assert pki is not None, "TLS needs the test PKI"
                ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca_cert_path))
                if peer is not None:
                    pair = pki.client_cert(*peer)
                    ctx.load_cert_chain(str(pair.cert), str(pair.key))
            ctx.set_alpn_protocols(["h2"])
            sock = ctx.wrap_socket(sock, server_hostname=server_name)
            self.alpn = sock.selected_alpn_protocol()
            if self.alpn != "h2":
                sock.close()
                raise AssertionError(f"the server did not choose h2 by ALPN (chose {self.alpn!r})")
        self.sock = sock
        # validate=False: send header blocks the h2 library would refuse (a host header that
        # differs from :authority), to see what Envoy does with them.
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=True, header_encoding=None, validate_outbound_headers=validate,
            normalize_outbound_headers=validate))
        self.conn.initiate_connection()
        self._flush()
        self._responses: dict[int, H2Response] = {}
        self._done: set[int] = set()
        self._headers_only: set[int] = set()  # CONNECT: done once the response headers arrive

    def _flush(self) -> None:
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send(self, method: str, path: str | None, authority: str | None, headers: list[tuple[str, str]] | None = None,
             body: bytes = b"", scheme: str = "http", request_id: str | None = None,
             trailers: list[tuple[str, str]] | None = None) -> int:
        """Opens a stream and sends one request on it; returns the stream id. `path` None: a
        CONNECT (no :scheme, no :path); `authority` None: no :authority; `trailers` end the stream
        after the body. An x-request-id is added unless `headers` has one."""
        pairs = list(headers or [])
        rid = next((v for k, v in pairs if k == "x-request-id"), None) or request_id or str(uuid.uuid4())
        if not any(k == "x-request-id" for k, _ in pairs):
            pairs.append(("x-request-id", rid))
        pseudo = [(":method", method)] + ([(":authority", authority)] if authority is not None else [])
        if path is not None:
            pseudo += [(":scheme", scheme), (":path", path)]
        sid = self.conn.get_next_available_stream_id()
        tunnel = path is None
        self.conn.send_headers(sid, pseudo + pairs, end_stream=not body and not tunnel and not trailers)
        if body:
            self.conn.send_data(sid, body, end_stream=not trailers)
        if trailers:
            self.conn.send_headers(sid, trailers, end_stream=True)
        self._flush()
        self._responses[sid] = H2Response(sid, request_id=rid)
        if tunnel:
            self._headers_only.add(sid)
        return sid

    def wait(self, stream_ids: list[int]) -> list[H2Response]:
        """Reads until every stream in `stream_ids` has ended (or was reset); their responses in order."""
        pending = set(stream_ids) - self._done
        while pending:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"connection closed with streams {sorted(pending)} unanswered")
            for event in self.conn.receive_data(data):
                self._on(event)
            self._flush()
            pending -= self._done
        return [self._responses[s] for s in stream_ids]

    def _on(self, event) -> None:
        sid = getattr(event, "stream_id", None)
        r = self._responses.get(sid) if sid else None
        if isinstance(event, h2.events.ResponseReceived) and r is not None:
            headers = _decode(event.headers)
            r.status = int(dict(headers)[":status"])
            r.headers = [(k, v) for k, v in headers if not k.startswith(":")]
            if sid in self._headers_only:
                self._done.add(sid)
        elif isinstance(event, h2.events.DataReceived) and r is not None:
            r.body += event.data
            self.conn.acknowledge_received_data(event.flow_controlled_length, sid)
        elif isinstance(event, h2.events.TrailersReceived) and r is not None:
            r.trailers = _decode(event.headers)
        elif isinstance(event, h2.events.StreamEnded) and r is not None:
            self._done.add(sid)
        elif isinstance(event, h2.events.StreamReset) and r is not None:
            r.reset = event.error_code
            self._done.add(sid)

    def request(self, method: str, path: str | None, authority: str | None, headers: list[tuple[str, str]] | None = None,
                body: bytes = b"", **kw) -> H2Response:
        return self.wait([self.send(method, path, authority, headers, body, **kw)])[0]

    def close(self) -> None:
        try:
            self.conn.close_connection()
            self._flush()
        except OSError:
            pass
        self.sock.close()

    def __enter__(self) -> "H2Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def http1_connect(port: int, authority: str, headers: list[tuple[str, str]] | None = None,
                  timeout: float = TIMEOUT) -> tuple[int, str]:
    """An HTTP/1.1 CONNECT (request target = authority); (status, the head's text)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        lines = [f"CONNECT {authority} HTTP/1.1", f"Host: {authority}"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            if not chunk:
                break
            head += chunk
    text = head.decode(errors="replace")
    return int(text.split(" ", 2)[1]), text


# ---------------------------------------------------------------------------------------------------
# The gRPC upstream


class _EchoHandler(grpc.GenericRpcHandler):
    def service(self, details):
        method = details.method

        def call(request: bytes, context: grpc.ServicerContext) -> bytes:
            if method == FAIL_METHOD:
                context.abort(grpc.StatusCode.FAILED_PRECONDITION, "upstream says no")
            return json.dumps({"method": method, "metadata": [list(m) for m in context.invocation_metadata()],
                               "request": request.decode(errors="replace")}).encode()
        return grpc.unary_unary_rpc_method_handler(call)


class GrpcEcho:
    """A gRPC server on 127.0.0.1 (a free port) answering every unary method; a context manager."""

    def __init__(self):
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8), handlers=[_EchoHandler()])
        self.port = self._server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> "GrpcEcho":
        self._server.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop(grace=None)


def grpc_channel(port: int, pki: TestPKI | None = None, peer: tuple[str, str] | None = None,
                 authority: str | None = None) -> grpc.Channel:
    """A grpcio channel to the Envoy listener: h2c, or mTLS with `peer`'s certificate. No HTTP proxy
    from the environment is used."""
    options = [("grpc.enable_http_proxy", 0), ("grpc.enable_retries", 0)]
    if authority is not None:
        options.append(("grpc.default_authority", authority))
    target = f"127.0.0.1:{port}"
    if peer is None:
        return grpc.insecure_channel(target, options=options)
    pair = pki.client_cert(*peer)
    creds = grpc.ssl_channel_credentials(root_certificates=pki.ca_cert_path.read_bytes(),
                                         private_key=pair.key.read_bytes(), certificate_chain=pair.cert.read_bytes())
    options.append(("grpc.ssl_target_name_override", "localhost"))
    return grpc.secure_channel(target, creds, options=options)


@dataclass
class GrpcResult:
    code: grpc.StatusCode
    details: str | None
    reply: dict | None  # the echo's answer when OK
    request_id: str


def grpc_call(channel: grpc.Channel, method: str = ECHO_METHOD, metadata: list[tuple[str, str]] | None = None,
              request_id: str | None = None, timeout: float = TIMEOUT) -> GrpcResult:
    """One unary call; the status as the gRPC client sees it."""
    rid = request_id or str(uuid.uuid4())
    md = list(metadata or []) + [("x-request-id", rid)]
    stub = channel.unary_unary(method)
    try:
        reply = stub(b"ping", metadata=md, timeout=timeout)
        return GrpcResult(grpc.StatusCode.OK, None, json.loads(reply), rid)
    except grpc.RpcError as e:
        return GrpcResult(e.code(), e.details(), None, rid)


# ---------------------------------------------------------------------------------------------------
# The bootstrap


def with_grpc_and_connect(doc: dict, grpc_port: int) -> dict:
    """envoy/envoy.yaml as rendered for a test, plus: a cluster for the gRPC upstream (HTTP/2), a
    route sending gRPC requests (content-type application/grpc) to it, and CONNECT accepted
    (HCM `upgrade_configs` for HTTP/1.1, `http2_protocol_options.allow_connect` for HTTP/2) with
    a `connect_matcher` route that tunnels to the echo server. Changes `doc` and returns it."""
    from .native import hcms  # noqa: PLC0415 (native imports envoy, which imports this package)

    doc["static_resources"]["clusters"].append({
        "name": GRPC_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "typed_extension_protocol_options": {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                "explicit_http_config": {"http2_protocol_options": {}},
            }
        },
        "load_assignment": {"cluster_name": GRPC_CLUSTER, "endpoints": [{"lb_endpoints": [{"endpoint": {
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": grpc_port}}}}]}]},
    })
    for hcm in hcms(doc):
        config = hcm["typed_config"]
        config["upgrade_configs"] = [{"upgrade_type": "CONNECT"}]
        config["http2_protocol_options"] = {"allow_connect": True}
        for vhost in config["route_config"]["virtual_hosts"]:
            vhost["routes"][0:0] = [
                {"match": {"connect_matcher": {}},
                 "route": {"cluster": "backend", "upgrade_configs": [{"upgrade_type": "CONNECT",
                                                                     "connect_config": {}}]}},
                {"match": {"prefix": "/", "grpc": {}}, "route": {"cluster": GRPC_CLUSTER}},
            ]
    return doc
