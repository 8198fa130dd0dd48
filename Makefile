# meshguard: build, test and demo. Everything a fresh machine lacks is installed by `make venv`
# (Python side) and .ci/run (toolchain side).

VENV    ?= .venv
PY      := $(VENV)/bin/python
TARGET  := wasm32-wasip1
WASM    := target/$(TARGET)/release/meshguard.wasm
# binaryen 108 (Debian) needs these features enabled to read what current rustc emits.
WASM_OPT_FLAGS := -Oz --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                  --enable-mutable-globals --enable-multivalue --enable-reference-types

.PHONY: build venv test unit integration demo lint certs clean dist image

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE   ?= ghcr.io/meshguard/meshguard:$(VERSION)

build:
	cargo build --release --target $(TARGET) --lib
	@if command -v wasm-opt >/dev/null 2>&1; then \
	  wasm-opt $(WASM_OPT_FLAGS) $(WASM) -o $(WASM).opt && mv $(WASM).opt $(WASM); \
	else echo "wasm-opt not found: skipping the size pass"; fi
	@ls -l $(WASM) | awk '{print "built $(WASM): " $$5 " bytes"}'

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Test certificates for envoy/envoy.yaml (a CA, Envoy's server certificate, SPIFFE clients).
certs: venv
	$(PY) -m tests.integration.harness.pki envoy/certs

test: unit integration

unit:
	cargo test

integration: build venv
	$(PY) -m pytest -q tests/integration

demo: build venv
	$(PY) -m tests.integration.demo

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	cargo clippy --release --target $(TARGET) --lib -- -D warnings

# The .wasm and its sha256 (for WasmPlugin `url: https://...` with `sha256`).
dist: build
	mkdir -p dist
	cp $(WASM) dist/meshguard.wasm
	cd dist && sha256sum meshguard.wasm > meshguard.wasm.sha256 && cat meshguard.wasm.sha256

# The OCI image (Istio's compat variant): with a Docker engine, `docker build`; without one, the
# same image as an OCI layout in dist/oci, ready for skopeo/crane/oras to push.
image: build
	@if docker info >/dev/null 2>&1; then \
	  docker build -f packaging/Dockerfile -t $(IMAGE) . ; \
	else \
	  echo "no Docker engine: writing an OCI layout to dist/oci"; \
	  python3 packaging/oci_image.py $(WASM) dist/oci $(VERSION); \
	fi

clean:
	cargo clean
	rm -rf $(VENV) envoy/certs .work dist
