"""Fixtures: one PKI, echo server and JWKS server per session, one Envoy per scenario class.

A scenario is a test class with a `config` attribute (the plugin configuration, or a function of the
harness's chosen Ports, for policies that name the listener port; None keeps the file's own) and
optionally `node_metadata`, `envoy_yaml` (the envoy/*.yaml file to run; default envoy/envoy.yaml),
`patch` (a function that changes the rendered bootstrap in place) and `jwks_setup` (a function of the
JwksServer, called before the Envoy starts: what its jwksUris answer at startup). The class-scoped `envoy` fixture starts one Envoy for the whole class and stops it
afterwards, so at most one scenario's Envoy runs at a time.
"""

from __future__ import annotations

import pytest

from .harness.echo import EchoServer
from .harness.envoy import ENVOY_YAML, WASM, EnvoyFactory
from .harness.jwks import JwksServer
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
def jwks_server():
    """The JWKS server behind envoy.yaml's `jwks` cluster (each test class sets its paths)."""
    with JwksServer() as server:
        yield server


@pytest.fixture(scope="session")
def envoy_factory(pki, echo, jwks_server, tmp_path_factory) -> EnvoyFactory:
    if not WASM.exists():
        pytest.fail(f"{WASM} is missing: run `make build` first", pytrace=False)
    factory = EnvoyFactory(pki, echo.port, tmp_path_factory.mktemp("envoy"), jwks_port=jwks_server.port)
    yield factory
    factory.stop_all()


@pytest.fixture(scope="class")
def envoy(request, envoy_factory, jwks_server):
    scenario = request.cls
    assert scenario is not None and hasattr(scenario, "config"), "the `envoy` fixture needs a class with `config`"
    setup = getattr(scenario, "jwks_setup", None)
    if setup is not None:
        setup(jwks_server)
    proxy = envoy_factory.start(scenario.config, getattr(scenario, "node_metadata", None),
                                getattr(scenario, "envoy_yaml", ENVOY_YAML), getattr(scenario, "patch", None))
    yield proxy
    proxy.stop()
