"""An HTTP client for the Envoy under test, and the reader of the plugin's audit entries.

Every request carries a fresh `x-request-id`; the plugin copies it into its audit entry, so a test
finds the entry of its own request with `response.audit()`.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from .pki import TestPKI

AUDIT_TIMEOUT = 5.0
REQUEST_TIMEOUT = 10.0
_MARK = "wasm log"


@dataclass
class AuditRecord:
    line: str  # the raw Envoy log line
    entry: dict  # the JSON object after the log prefix


class AuditLog:
    """Reads Envoy's log incrementally and indexes the plugin's audit entries by request_id.

    An audit line is an Envoy log line of the `wasm` logger whose message (the text from the first
    `{` after "wasm log") is one JSON object with a `request_id`.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self._offset = 0
        self._partial = b""
        self.records: list[AuditRecord] = []
        self.by_request_id: dict[str, list[AuditRecord]] = {}

    def _read_new(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self._offset)
            data = f.read()
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for the next read
        for raw in lines:
            record = parse_audit_line(raw.decode("utf-8", "replace"))
            if record is not None:
                self.records.append(record)
                self.by_request_id.setdefault(str(record.entry.get("request_id")), []).append(record)

    def find(self, request_id: str, timeout: float = AUDIT_TIMEOUT) -> list[AuditRecord]:
        """The audit records of `request_id`, polling the log until one appears or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while True:
            self._read_new()
            found = self.by_request_id.get(request_id, [])
            if found or time.monotonic() >= deadline:
                return found
            time.sleep(0.02)

    def entries(self) -> list[dict]:
        self._read_new()
        return [r.entry for r in self.records]


def parse_audit_line(line: str) -> AuditRecord | None:
    at = line.find(_MARK)
    if at < 0:
        return None
    brace = line.find("{", at)
    if brace < 0:
        return None
    try:
        entry = json.loads(line[brace:])
    except ValueError:
        return None
    if not isinstance(entry, dict) or "request_id" not in entry:
        return None
    return AuditRecord(line, entry)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    request_id: str
    request_line: str  # e.g. "GET /api/v1/data (default/frontend, mTLS)", for messages
    audit_log: AuditLog | None = field(default=None, repr=False)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def audit_records(self, timeout: float = AUDIT_TIMEOUT) -> list[AuditRecord]:
        return self.audit_log.find(self.request_id, timeout)

    def audit(self, timeout: float = AUDIT_TIMEOUT) -> dict:
        """The one audit entry of this request (polls Envoy's log up to `timeout` seconds)."""
        records = self.audit_records(timeout)
        assert records, f"no audit entry for {self.request_line} (x-request-id {self.request_id}) within {timeout} s"
        assert len(records) == 1, f"{len(records)} audit entries for {self.request_line}: {[r.entry for r in records]}"
        return records[0].entry

    def audit_line(self, timeout: float = AUDIT_TIMEOUT) -> str:
        self.audit(timeout)
        return self.audit_records(0)[0].line

    def __str__(self) -> str:
        return f"{self.request_line} -> {self.status}"


SERVER_NAME = "localhost"  # the name the test server certificate is checked against by default


class _TLSConnection(http.client.HTTPConnection):
    """HTTPS to 127.0.0.1 with SNI and verification for `server_name` (a name of the server certificate)."""

    def __init__(self, port: int, context: ssl.SSLContext, timeout: float, server_name: str = SERVER_NAME):
        super().__init__("127.0.0.1", port, timeout=timeout)
        self._context = context
        self._server_name = server_name

    def connect(self) -> None:
        super().connect()
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self._server_name)


def server_tls_context(pki: TestPKI) -> ssl.SSLContext:
    """One-way TLS: the server is verified against the test CA; the client shows no certificate."""
    return ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca_cert_path))


def tls_context(pki: TestPKI, ns: str, sa: str | None = None, trust_domain: str = "cluster.local") -> ssl.SSLContext:
    """Mutual TLS with the workload certificate of <ns>/<sa>; with `ns` alone, `ns` is the whole
    SAN URI of the certificate."""
    pair = pki.client_cert(ns, sa, trust_domain) if sa is not None else pki.client_cert_uri(ns)
    ctx = server_tls_context(pki)
    ctx.load_cert_chain(str(pair.cert), str(pair.key))
    return ctx


Headers = dict[str, str] | list[tuple[str, str]] | None


def request(
    port: int,
    pki: TestPKI,
    method: str,
    path: str,
    peer: tuple[str, str] | tuple[str, str, str] | str | None = None,
    headers: Headers = None,
    host: str | None = None,
    body: bytes | None = None,
    audit_log: AuditLog | None = None,
    timeout: float = REQUEST_TIMEOUT,
    tls: bool = False,
    server_name: str = SERVER_NAME,
) -> Response:
    """One HTTP/1.1 request to the listener on 127.0.0.1:`port`. Redirects are not followed (the
    response is the redirect: see `Response.header("location")`).

    peer: (namespace, service account[, trust domain]) -> mTLS with that workload's certificate;
          a string -> mTLS with a certificate whose only SAN is that URI;
          None -> plaintext, or one-way TLS (no client certificate) with tls=True.
    server_name: the SNI sent and the name the server certificate is verified for (TLS only).
    headers: a dict, or a list of (name, value) pairs (the same name may repeat).
    host: the Host header (`:authority`); default 127.0.0.1:<port>.
    A fresh x-request-id is added unless the headers carry one; the response's x-request-id, if any,
    is the one the audit entry is looked up by.
    """
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    request_id = next((v for k, v in pairs if k.lower() == "x-request-id"), None)
    if request_id is None:
        request_id = str(uuid.uuid4())
        pairs.append(("x-request-id", request_id))
    if peer is not None:
        if isinstance(peer, str):
            conn = _TLSConnection(port, tls_context(pki, peer), timeout, server_name)
            who = f"{peer}, mTLS"
        else:
            conn = _TLSConnection(port, tls_context(pki, *peer), timeout, server_name)
            who = f"{peer[0]}/{peer[1]}, mTLS"
    elif tls:
        conn = _TLSConnection(port, server_tls_context(pki), timeout, server_name)
        who = f"TLS to {server_name}, no client certificate"
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        who = "plaintext"
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        conn.putheader("Host", host if host is not None else f"127.0.0.1:{port}")
        for k, v in pairs:
            conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        resp = conn.getresponse()
        data = resp.read()
        # At the edge (use_remote_address) Envoy replaces the client's x-request-id; a listener with
        # always_set_request_id_in_response tells which one it used (the audit entry's).
        request_id = resp.getheader("x-request-id") or request_id
        shown = f"{method} {path} ({who})" if host is None else f"{method} {path} (Host {host}, {who})"
        return Response(resp.status, resp.getheaders(), data, request_id, shown, audit_log)
    finally:
        conn.close()
