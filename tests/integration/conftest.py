"""Fixtures: one PKI and echo server per session, one Envoy per scenario class.

A scenario is a test class with a `config` attribute (the plugin configuration, or a function of the
harness's chosen Ports, for policies that name the listener port; None keeps the file's own) and
optionally `node_metadata` and `envoy_yaml` (the envoy/*.yaml file to run; default envoy/envoy.yaml).
The class-scoped `envoy` fixture starts one Envoy for the whole class and stops it afterwards, so at
most one scenario's Envoy runs at a time.
"""

from __future__ import annotations

import pytest

from .harness.echo import EchoServer
from .harness.envoy import ENVOY_YAML, WASM, EnvoyFactory
from .harness.pki import TestPKI


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> TestPKI:
    pki = TestPKI(tmp_path_factory.mktemp("pki"))
    pki.server_cert()
    return pki


@pytest.fixture(scope="session")
def echo():
    with EchoServer() as server:
        yield server


@pytest.fixture(scope="session")
def envoy_factory(pki, echo, tmp_path_factory) -> EnvoyFactory:
    if not WASM.exists():
        pytest.fail(f"{WASM} is missing: run `make build` first", pytrace=False)
    factory = EnvoyFactory(pki, echo.port, tmp_path_factory.mktemp("envoy"))
    yield factory
    factory.stop_all()


@pytest.fixture(scope="class")
def envoy(request, envoy_factory):
    scenario = request.cls
    assert scenario is not None and hasattr(scenario, "config"), "the `envoy` fixture needs a class with `config`"
    proxy = envoy_factory.start(scenario.config, getattr(scenario, "node_metadata", None),
                                getattr(scenario, "envoy_yaml", ENVOY_YAML))
    yield proxy
    proxy.stop()
