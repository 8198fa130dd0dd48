"""Envoy with its listeners in a watched LDS file, so a test can change the plugin configuration of a
running Envoy, as istiod does when it pushes a new listener.

The bootstrap is envoy/envoy.yaml rendered as usual (envoy.render), with its listeners moved from
`static_resources` into `listeners.json` beside it; `dynamic_resources.lds_config` reads that file and
watches its directory. A reconfiguration writes a temporary file in that directory and renames it
over `listeners.json`: Envoy reloads on the rename, never on a half-written file.

    with start_lds(envoy_factory, good_config) as envoy:
        assert envoy.reconfigure(bad_config) == "rejected"   # Envoy keeps the listener it had
        assert envoy.reconfigure(other_config) == "accepted"  # new connections see the new policy

`reconfigure` also takes the configuration string itself (`str`), to send text that is not JSON.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
from pathlib import Path

from .admin import stat
from .envoy import ENVOY_YAML, WASM_FILTER, Envoy, EnvoyFactory, Ports, _walk, listener_names, render

LISTENER_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener"
LDS_FILE = "listeners.json"
RELOAD_TIMEOUT = 15.0  # seconds for Envoy to accept or reject a new LDS file (measured: well under 1 s)
_dirs = itertools.count(1)


def set_plugin_configuration(listeners: list[dict], config: dict | str) -> None:
    """Gives every meshguard filter of `listeners` this configuration (a dict is sent as JSON, a str as is)."""
    text = config if isinstance(config, str) else json.dumps(config)
    seen: set[int] = set()  # a YAML anchor's node is met once per alias
    for d in _walk(listeners):
        if id(d) not in seen and d.get("name") == WASM_FILTER:
            seen.add(id(d))
            d["typed_config"]["config"]["configuration"]["value"] = text


class LdsEnvoy(Envoy):
    """An Envoy whose listeners come from `lds_path` (see the module's docstring)."""

    def __init__(self, bootstrap: Path, ports: Ports, pki, log_path: Path, lds_path: Path, listeners: list[dict]):
        super().__init__(bootstrap, ports, pki, log_path)
        self.lds_path = lds_path
        self.listeners = listeners  # as last written: a reconfiguration changes only the plugin's part
        self.version = 0

    def write_listeners(self, listeners: list[dict]) -> None:
        """Replaces the LDS file by a rename in its directory, the event Envoy's directory watch reacts to."""
        self.version += 1
        doc = {"version_info": str(self.version),
               "resources": [{"@type": LISTENER_TYPE, **listener} for listener in listeners]}
        tmp = self.lds_path.with_name(f".{LDS_FILE}.{self.version}.tmp")
        tmp.write_text(json.dumps(doc, indent=1))
        os.replace(tmp, self.lds_path)
        self.listeners = listeners

    def lds_updates(self) -> tuple[int, int]:
        """(accepted, rejected) LDS updates so far."""
        return stat(self, "listener_manager.lds.update_success"), stat(self, "listener_manager.lds.update_rejected")

    def reconfigure(self, config: dict | str, timeout: float = RELOAD_TIMEOUT) -> str:
        """Sends the listeners again with this plugin configuration; "accepted" once Envoy has applied
        them (no listener left warming), or "rejected"."""
        listeners = copy.deepcopy(self.listeners)
        set_plugin_configuration(listeners, config)
        return self.reload(listeners, timeout)

    def reload(self, listeners: list[dict], timeout: float = RELOAD_TIMEOUT) -> str:
        accepted, rejected = self.lds_updates()
        self.write_listeners(listeners)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            now_accepted, now_rejected = self.lds_updates()
            if now_rejected > rejected:
                return "rejected"
            if now_accepted > accepted and stat(self, "listener_manager.total_listeners_warming") == 0:
                return "accepted"
            if self.proc.poll() is not None:
                raise AssertionError(f"Envoy exited with {self.proc.returncode} on LDS version {self.version}:\n"
                                     f"{self.log_problems()}")
            time.sleep(0.05)
        raise AssertionError(f"Envoy neither accepted nor rejected LDS version {self.version} within {timeout} s")


def render_lds(ports: Ports, cert_dir: Path, plugin_config: dict | str, wasm: Path, lds_path: Path,
               source: Path = ENVOY_YAML) -> tuple[dict, list[dict]]:
    """(bootstrap, listeners): `source` rendered for the test, its listeners taken out for the LDS file."""
    doc = render(source, ports, cert_dir, plugin_config if isinstance(plugin_config, dict) else None, None, wasm)
    listeners = doc["static_resources"].pop("listeners")
    if isinstance(plugin_config, str):
        set_plugin_configuration(listeners, plugin_config)
    doc["dynamic_resources"] = {"lds_config": {
        "resource_api_version": "V3",
        "path_config_source": {"path": str(lds_path), "watched_directory": {"path": str(lds_path.parent)}},
    }}
    return doc, listeners


def start_lds(factory: EnvoyFactory, plugin_config: dict | str, source: Path = ENVOY_YAML) -> LdsEnvoy:
    """An LdsEnvoy from `source` (the factory's PKI, backend, JWKS server and wasm), LIVE and serving."""
    workdir = factory.workdir / f"lds-{next(_dirs)}"
    workdir.mkdir()
    ports = Ports.free(factory.backend_port, listener_names(source), factory.jwks_port)
    lds_path = workdir / LDS_FILE
    doc, listeners = render_lds(ports, factory.pki.dir, plugin_config, factory.wasm, lds_path, source)
    bootstrap = workdir / "bootstrap.json"
    bootstrap.write_text(json.dumps(doc, indent=1))
    envoy = LdsEnvoy(bootstrap, ports, factory.pki, workdir / "envoy.log", lds_path, listeners)
    envoy.write_listeners(listeners)
    envoy.start()
    try:
        # /ready is LIVE once the first LDS file is applied; an active listener means it was accepted.
        envoy.wait_ready()
        if stat(envoy, "listener_manager.total_listeners_active") != len(listeners):
            raise AssertionError(f"the first LDS file was not applied:\n{envoy.log_problems()}")
    except BaseException:
        envoy.stop()
        raise
    return envoy
