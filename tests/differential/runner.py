"""Two Envoys side by side: meshguard (envoy/envoy.yaml as shipped, the wasm filter configured with
the scenario's resources) and native (the same file with the wasm filter replaced by the
jwt_authn + rbac filters istiod would generate, tests/integration/harness/native.py).

A batch of scenarios runs in one pair of Envoys: each scenario gets its own copy of the file's
listener (same TLS chains, same HCM, same path normalization and XFF settings, same echo
upstream) on its own port, so one start serves many scenarios. Every request is sent once to each
Envoy, with the same bytes (the same signed token, the same x-request-id, the same client source
address) and the two answers are compared: the status; for 401 and 403 the body (and for 401
`www-authenticate`); for 200 what the upstream received (path and headers, after jwt_authn's and
meshguard's header changes).
"""

from __future__ import annotations

import copy
import http.client
import json
import re
import shutil
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import h2.exceptions as h2_exceptions

from tests.integration.harness import envoy as envoy_harness
from tests.integration.harness import h2 as h2client
from tests.integration.harness import native
from tests.integration.harness.pki import TestPKI

from .model import Request, Scenario

REQUEST_TIMEOUT = 10.0
PROTOCOLS = ("http1", "h2")  # what the client speaks: HTTP/1.1, or HTTP/2 (h2c prior knowledge / ALPN h2)
# Headers the upstream sees that say nothing about the decision (identical on both sides anyway,
# except the request id Envoy may generate).
_UPSTREAM_IGNORED = {"x-request-id", "x-envoy-expected-rq-timeout-ms", "content-length"}


@dataclass
class Observation:
    status: int | None  # None: no HTTP answer (connection error)
    body: str = ""
    www_authenticate: str | None = None
    upstream: dict | None = None  # for 200: the echo's view {"method", "path", "headers"}
    error: str | None = None
    details: str | None = None  # Envoy's response code details (access log), when found

    def brief(self) -> str:
        if self.status is None:
            return f"no answer ({self.error})"
        text = f"{self.status}"
        if self.status in (401, 403) or (self.status >= 400 and self.body):
            text += f" {self.body[:80]!r}"
        return text

    def to_dict(self) -> dict:
        d = {"status": self.status}
        if self.body and self.status != 200:
            d["body"] = self.body[:200]
        if self.www_authenticate:
            d["www-authenticate"] = self.www_authenticate
        if self.error:
            d["error"] = self.error
        if self.details:
            d["details"] = self.details
        if self.upstream is not None:
            d["upstream"] = self.upstream
        return d


def compare(native_obs: Observation, mg: Observation) -> list[str]:
    """What differs, most important first: status, then body, www-authenticate, upstream view."""
    if native_obs.status != mg.status:
        return ["status"]
    diffs = []
    if native_obs.status in (401, 403) and native_obs.body != mg.body:
        diffs.append("body")
    if native_obs.status == 401 and native_obs.www_authenticate != mg.www_authenticate:
        diffs.append("www-authenticate")
    if native_obs.status == 200 and native_obs.upstream != mg.upstream:
        diffs.append("upstream")
    return diffs


@dataclass
class Exchange:
    scenario: int  # index in the batch
    request: int  # index in the scenario
    native: Observation
    meshguard: Observation
    diffs: list[str]
    wire: tuple[str, str, list[tuple[str, str]]] = field(default_factory=lambda: ("", "", []))
    request_id: str = ""

    def signature(self) -> tuple:
        """What a minimised case must keep: the kind of difference and both statuses (for an
        upstream difference: whether the path differs and which headers)."""
        diffs = list(self.diffs)
        if "upstream" in diffs:
            a, b = self.native.upstream or {}, self.meshguard.upstream or {}
            what = ["path"] if a.get("path") != b.get("path") else []
            ha, hb = {tuple(h) for h in a.get("headers", [])}, {tuple(h) for h in b.get("headers", [])}
            what += sorted({h[0] for h in ha ^ hb})
            diffs[diffs.index("upstream")] = "upstream(" + ",".join(what) + ")"
        return (tuple(diffs), self.native.status, self.meshguard.status)


@dataclass
class BatchResult:
    scenarios: list[Scenario]
    exchanges: list[Exchange]
    refused: dict[int, str]  # scenario index -> why meshguard's Envoy would not start with it
    seconds: float
    start_seconds: float = 0.0  # of which waiting for the Envoys to be ready

    @property
    def disagreements(self) -> list[Exchange]:
        return [e for e in self.exchanges if e.diffs]


# ---------------------------------------------------------------------------------------------------
# The client


class _Client:
    """Sends Requests; caches one TLS context per peer identity (server certificate not verified,
    so any SNI can be sent)."""

    def __init__(self, pki: TestPKI, protocol: str = "http1"):
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol {protocol!r}: one of {PROTOCOLS}")
        self.pki = pki
        self.protocol = protocol
        self._contexts: dict[tuple, ssl.SSLContext] = {}
        self._lock = threading.Lock()

    def _context(self, peer: tuple[str, str, str]) -> ssl.SSLContext:
        with self._lock:
            ctx = self._contexts.get(peer)
            if ctx is None:
                ns, sa, td = peer[:3]  # a 4th item keys the HTTP/2 context apart
                pair = self.pki.client_cert(ns, sa, td)
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                ctx.load_cert_chain(str(pair.cert), str(pair.key))
                self._contexts[peer] = ctx
            return ctx

    def send(self, port: int, req: Request, wire: tuple[str, str, list[tuple[str, str]]], request_id: str,
             timeout: float = REQUEST_TIMEOUT) -> Observation:
        if self.protocol == "h2":
            return self._send_h2(port, req, wire, request_id, timeout)
        method, target, headers = wire
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=(req.source_ip, 0))
        try:
            if req.peer is not None:
                ctx = self._context(req.peer)
                conn.connect()
                conn.sock = ctx.wrap_socket(conn.sock, server_hostname=req.sni)
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            if req.host is not None:
                conn.putheader("Host", req.host)
            for k, v in headers:
                conn.putheader(k, v)
            conn.putheader("x-request-id", request_id)
            conn.endheaders()
            resp = conn.getresponse()
            data = resp.read()
            obs = Observation(resp.status, data.decode("utf-8", "replace"), resp.getheader("www-authenticate"))
            if resp.status == 200 and resp.getheader("content-type") == "application/json":
                obs.upstream = _upstream_view(data)
            return obs
        except (OSError, http.client.HTTPException, ValueError) as e:
            return Observation(None, error=type(e).__name__)
        finally:
            conn.close()


    def _send_h2(self, port: int, req: Request, wire: tuple[str, str, list[tuple[str, str]]], request_id: str,
                 timeout: float) -> Observation:
        """The same request over HTTP/2: h2c with prior knowledge, or TLS with ALPN h2 (a context
        of its own: the HTTP/1.1 one offers no ALPN). Header names are lowercased, as HTTP/2
        requires; the Host becomes :authority. A request the h2 library refuses to encode is
        refused alike for both sides (no answer)."""
        method, target, headers = wire
        ctx = None
        if req.peer is not None:
            ctx = self._context((*req.peer, "h2"))
        pairs = [(k.lower(), v) for k, v in headers] + [("x-request-id", request_id)]
        try:
            with h2client.H2Client(port, context=ctx, server_name=req.sni, timeout=timeout,
                                   source_ip=req.source_ip) as c:
                resp = c.request(method, target, req.host, pairs)
        except (OSError, ValueError, h2_exceptions.H2Error) as e:
            return Observation(None, error=type(e).__name__)
        if resp.status is None:
            return Observation(None, error=f"stream reset ({resp.reset})")
        obs = Observation(resp.status, resp.body.decode("utf-8", "replace"), resp.header("www-authenticate"))
        if resp.status == 200 and resp.header("content-type") == "application/json":
            obs.upstream = _upstream_view(resp.body)
        return obs


def _upstream_view(data: bytes) -> dict | None:
    try:
        echo = json.loads(data)
    except ValueError:
        return None
    headers = sorted((k.lower(), v) for k, v in echo.get("headers", []) if k.lower() not in _UPSTREAM_IGNORED)
    return {"method": echo.get("method"), "path": echo.get("path"), "headers": [list(h) for h in headers]}


# ---------------------------------------------------------------------------------------------------
# Envoys


class Lab:
    """The fixed parts: PKI, echo server port, a work directory and a snapshot of the plugin (so a
    rebuild while a long run is going does not change the plugin under test mid-run)."""

    def __init__(self, workdir: Path, pki: TestPKI, echo_port: int, wasm: Path | None = None,
                 log=print, workers: int = 4, keep_logs: bool = False, protocol: str = "http1"):
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.pki = pki
        self.pki.server_cert()
        self.echo_port = echo_port
        source = Path(wasm) if wasm else envoy_harness.WASM
        if not source.exists():
            raise FileNotFoundError(f"{source} is missing: run `make build` first")
        self.wasm = self.workdir / "meshguard-under-test.wasm"
        shutil.copyfile(source, self.wasm)
        self.client = _Client(pki, protocol)
        self.log = log
        self.workers = workers
        self.keep_logs = keep_logs
        self._count = 0
        self.envoy_starts = 0

    # --- rendering ------------------------------------------------------------------------------

    def _base(self, ports: envoy_harness.Ports) -> dict:
        return envoy_harness.render(envoy_harness.ENVOY_YAML, ports, self.pki.dir, plugin_config={}, wasm=self.wasm)

    def render(self, scenarios: list[Scenario], ports: list[int], admin: int, side: str) -> dict:
        """The bootstrap for `side` ("meshguard" or "native"): one listener per scenario."""
        doc = self._base(envoy_harness.Ports(admin=admin, listener=ports[0], backend=self.echo_port))
        template = doc["static_resources"]["listeners"][0]
        listeners = []
        for i, (sc, port) in enumerate(zip(scenarios, ports)):
            listener = copy.deepcopy(template)  # keeps the chains' shared HCM shared
            listener["name"] = f"scenario-{i}"
            listener["address"]["socket_address"]["port_value"] = port
            for hcm in native.hcms(listener):
                if side == "meshguard":
                    for f in hcm["typed_config"]["http_filters"]:
                        if f.get("name") == envoy_harness.WASM_FILTER:
                            f["typed_config"]["config"]["configuration"]["value"] = json.dumps(sc.plugin_config())
                else:
                    filters = native.native_http_filters(sc.resources, sc.namespace, sc.labels, sc.root_namespace,
                                                         trust_domains=sc.trust_domains)
                    native.replace_wasm_filter(hcm, filters)
            listeners.append(listener)
        doc["static_resources"]["listeners"] = listeners
        return doc

    def _start(self, doc: dict, ports: envoy_harness.Ports, side: str) -> envoy_harness.Envoy:
        self._count += 1
        self.envoy_starts += 1
        bootstrap = self.workdir / f"{side}-{self._count}.json"
        bootstrap.write_text(json.dumps(doc, indent=1))
        proxy = envoy_harness.Envoy(bootstrap, ports, self.pki, self.workdir / f"{side}-{self._count}.log")
        return proxy.start()

    # --- running --------------------------------------------------------------------------------

    def run(self, scenarios: list[Scenario], _split_on_refusal: bool = True) -> BatchResult:
        """Runs a batch; a batch meshguard refuses is split until the refused scenarios are found
        (they are reported in `refused`, their requests not sent)."""
        t0 = time.monotonic()
        n = len(scenarios)
        all_ports = envoy_harness.free_ports(2 * n + 2)
        mg_ports, nat_ports = all_ports[:n], all_ports[n:2 * n]
        mg_admin, nat_admin = all_ports[2 * n], all_ports[2 * n + 1]
        # Policies may name the listener port: regenerate their port values for the chosen ports.
        mg_sc = [s.with_port(p) for s, p in zip(scenarios, mg_ports)]
        nat_sc = [s.with_port(p) for s, p in zip(scenarios, nat_ports)]
        nat_doc = self.render(nat_sc, nat_ports, nat_admin, "native")
        mg_doc = self.render(mg_sc, mg_ports, mg_admin, "meshguard")
        nat_p = envoy_harness.Ports(admin=nat_admin, listener=nat_ports[0], backend=self.echo_port,
                                    listeners={f"scenario-{i}": p for i, p in enumerate(nat_ports)})
        mg_p = envoy_harness.Ports(admin=mg_admin, listener=mg_ports[0], backend=self.echo_port,
                                   listeners={f"scenario-{i}": p for i, p in enumerate(mg_ports)})
        nat = self._start(nat_doc, nat_p, "native")
        mg = self._start(mg_doc, mg_p, "meshguard")
        try:
            nat_state = nat.wait_started()
            if nat_state != "live":
                raise RuntimeError(f"the native Envoy did not start ({nat_state}): a translator bug? "
                                   f"log {nat.log_path}:\n{nat.log_problems()}")
            mg_state = mg.wait_started()
            if mg_state != "live":
                reason = _refusal(mg.log_text()) or f"Envoy {mg_state}"
                nat.stop()
                mg.stop()
                if n == 1 or not _split_on_refusal:
                    return BatchResult(scenarios, [], {i: reason for i in range(n)}, time.monotonic() - t0)
                half = n // 2
                a = self.run(scenarios[:half])
                b = self.run(scenarios[half:])
                refused = {**a.refused, **{half + k: v for k, v in b.refused.items()}}
                exchanges = a.exchanges + [Exchange(e.scenario + half, e.request, e.native, e.meshguard, e.diffs,
                                                    e.wire, e.request_id) for e in b.exchanges]
                return BatchResult(scenarios, exchanges, refused, time.monotonic() - t0)
            t_ready = time.monotonic() - t0
            exchanges = self._exchange(scenarios, nat_ports, mg_ports)
            _attach_details(exchanges, nat, mg)
            result = BatchResult(scenarios, exchanges, {}, time.monotonic() - t0, t_ready)
            if not result.disagreements and not self.keep_logs:
                nat.stop()
                mg.stop()
                for proxy in (nat, mg):
                    for f in (proxy.bootstrap, proxy.log_path):
                        f.unlink(missing_ok=True)
            return result
        finally:
            nat.stop()
            mg.stop()

    def _exchange(self, scenarios: list[Scenario], nat_ports: list[int], mg_ports: list[int]) -> list[Exchange]:
        tasks = [(i, j) for i, s in enumerate(scenarios) for j in range(len(s.requests))]
        now = int(time.time())

        def one(task):
            i, j = task
            req = scenarios[i].requests[j]
            wire = req.wire(now)
            rid = str(uuid.uuid4())
            a = self.client.send(nat_ports[i], req, wire, rid)
            b = self.client.send(mg_ports[i], req, wire, rid)
            return Exchange(i, j, a, b, compare(a, b), wire, rid)

        with ThreadPoolExecutor(self.workers) as pool:
            return list(pool.map(one, tasks))


_REFUSED = re.compile(r"meshguard: configuration refused: (.*)")


def _refusal(log: str) -> str | None:
    m = _REFUSED.search(log)
    return m.group(1).strip() if m else None


def _attach_details(exchanges: list[Exchange], nat: envoy_harness.Envoy, mg: envoy_harness.Envoy) -> None:
    """Envoy's response code details from the access logs (which policy decided, natively)."""
    bad = exchanges
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:  # the access log is flushed every 100 ms
        if nat.log_text().count('"response_code_details"') >= len(exchanges):
            break
        time.sleep(0.05)

    def details(proxy) -> dict[tuple[str, str], str]:
        out = {}
        for line in proxy.log_text().splitlines():
            if '"response_code_details"' not in line:
                continue
            try:
                entry = json.loads(line[line.index("{"):])
            except ValueError:
                continue
            out[entry.get("request_id")] = entry.get("response_code_details")
        return out
    nd, md = details(nat), details(mg)
    for e in bad:
        e.native.details = nd.get(e.request_id)
        e.meshguard.details = md.get(e.request_id)
