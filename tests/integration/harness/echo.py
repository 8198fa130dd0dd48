"""The application behind the sidecar: answers every request 200 with what it received, as JSON.

    python -m tests.integration.harness.echo [PORT]   # serves on 127.0.0.1:PORT (default 8080)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Envoy's upstream connection pool expects
    # The head and the body are two writes: with Nagle's algorithm the body waits for Envoy's delayed
    # ACK of the head (~40 ms per proxied request).
    disable_nagle_algorithm = True

    def _answer(self) -> None:
        self.server.arrived(self.path)
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        body = json.dumps(
            {"method": self.command, "path": self.path, "headers": [[k, v] for k, v in self.headers.items()]}
        ).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _answer

    def log_message(self, format, *args):  # quiet: the tests read Envoy's log, not this one
        pass


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 run in a background thread (port 0: a free port);
    a context manager that starts and stops it."""

    def __init__(self, server: ThreadingHTTPServer, name: str):
        self._server = server
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, name=name, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Server(ThreadingHTTPServer):
    # Many streams of one HTTP/2 connection become as many upstream connections at once: with
    # the default backlog of 5, connections beyond it wait for a SYN retry and Envoy's 1 s
    # connect timeout answers 502.
    request_queue_size = 128

    def __init__(self, *args):
        super().__init__(*args)
        self._lock = threading.Lock()
        self.seen: list[tuple[str, float]] = []

    def arrived(self, path: str) -> None:
        with self._lock:
            self.seen.append((path, time.monotonic()))


class EchoServer(LoopbackServer):
    """The echo upstream on 127.0.0.1; port 0 picks a free port."""

    def __init__(self, port: int = 0):
        super().__init__(_Server(("127.0.0.1", port), _Handler), "echo")

    def arrivals(self, path: str) -> list[float]:
        """When (time.monotonic()) each request for `path` reached the upstream, in order."""
        with self._server._lock:
            return [at for p, at in self._server.seen if p == path]

if __name__ == "__main__":
    server = EchoServer(int(sys.argv[1]) if len(sys.argv) > 1 else 8080)
    print(f"echo server on 127.0.0.1:{server.port}")
    try:
        server._server.serve_forever()
    except KeyboardInterrupt:
        pass
