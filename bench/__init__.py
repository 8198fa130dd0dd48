"""meshguard's benchmark against Envoy's native jwt_authn + rbac: `make bench` runs bench/run.py."""
