"""A JWKS server for the tests: what each path answers is set by the test, and requests are counted.

The Envoy under test reaches it through envoy/envoy.yaml's `jwks` cluster (the harness points that
cluster at this server's port); the plugin configuration's `jwksClusters` maps each jwksUri to that
cluster, and the server answers by the URI's path:

    server.serve("/a.json", jwks_json(keys))     # 200 with the document
    server.serve("/slow.json", doc, delay=1.5)   # the same, 1.5 s late
    server.fail("/b.json", 500)                  # an error status
    server.garbage("/c.json")                    # 200, not JSON
    server.huge("/d.json")                       # 200, a valid JWKS padded over 1 MiB
    server.reset("/e.json")                      # the connection closes without an answer (server down)
    server.count("/a.json")                      # GETs received on that path so far

A path nobody set answers 404. Setting a path again replaces its behaviour (key rotation).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .echo import LoopbackServer

MIB = 1 << 20
# Each Wasm VM fetches on its own: with --concurrency 1 the plugin has a root context on Envoy's main
# thread and one on its worker, and both fetch every jwksUri at startup (only the worker's keys serve
# requests). A worker's refetch (unknown kid) adds one.
STARTUP_FETCHES = 2


@dataclass(frozen=True)
class Route:
    status: int = 200
    body: bytes = b""
    delay: float = 0.0  # seconds before answering
    reset: bool = False  # close the connection without answering
    content_type: str = "application/json"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        route = self.server.owner._hit(path, self.headers.get("host"))
        if route is None:
            route = Route(status=404, body=b"no such JWKS")
        if route.delay:
            time.sleep(route.delay)
        if route.reset:
            self.close_connection = True
            return
        self.send_response(route.status)
        self.send_header("content-type", route.content_type)
        self.send_header("content-length", str(len(route.body)))
        self.end_headers()
        try:
            self.wfile.write(route.body)
        except OSError:  # the client (Envoy's timeout) went away
            pass

    def log_message(self, format, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "JwksServer"


class JwksServer(LoopbackServer):
    """A threaded HTTP server on 127.0.0.1 (a free port) serving JWKS documents per path."""

    def __init__(self):
        server = _Server(("127.0.0.1", 0), _Handler)
        server.owner = self
        super().__init__(server, "jwks")
        self._lock = threading.Lock()
        self._routes: dict[str, Route] = {}
        self._counts: dict[str, int] = {}
        self.authorities: dict[str, list[str]] = {}  # path -> the Host (:authority) of each request

    def _hit(self, path: str, host: str | None) -> Route | None:
        with self._lock:
            self._counts[path] = self._counts.get(path, 0) + 1
            self.authorities.setdefault(path, []).append(host or "")
            return self._routes.get(path)

    # --- behaviours -----------------------------------------------------------------------------

    def route(self, path: str, route: Route) -> None:
        with self._lock:
            self._routes[path] = route

    def serve(self, path: str, document: str | bytes | dict, delay: float = 0.0) -> None:
        if isinstance(document, dict):
            document = json.dumps(document)
        if isinstance(document, str):
            document = document.encode()
        self.route(path, Route(200, document, delay))

    def fail(self, path: str, status: int = 500, delay: float = 0.0) -> None:
        self.route(path, Route(status, b"internal error", delay, content_type="text/plain"))

    def garbage(self, path: str) -> None:
        self.route(path, Route(200, b"<html>this is not a JWKS</html>\x00\xff", content_type="text/html"))

    def huge(self, path: str, document: str | dict, size: int = MIB + 4096) -> None:
        """A JWKS that would verify the tokens, padded with whitespace to `size` bytes (> 1 MiB)."""
        text = json.dumps(document) if isinstance(document, dict) else document
        self.route(path, Route(200, (text + " " * max(0, size - len(text))).encode()))

    def reset(self, path: str) -> None:
        self.route(path, Route(reset=True))

    # --- observations ---------------------------------------------------------------------------

    def count(self, path: str) -> int:
        with self._lock:
            return self._counts.get(path, 0)

    def wait_count(self, path: str, at_least: int, timeout: float = 5.0) -> int:
        """Polls until `path` was requested `at_least` times (or `timeout`); the count."""
        deadline = time.monotonic() + timeout
        while self.count(path) < at_least and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.count(path)
