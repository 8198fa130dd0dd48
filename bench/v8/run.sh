#!/bin/sh
# The core benchmarks in V8 (node): builds bench/v8 into /tmp and runs it. Args: policy counts.
set -e
here=$(cd "$(dirname "$0")" && pwd)
target=${BENCH_V8_TARGET:-/tmp/meshguard-bench-v8}
(cd "$here" && CARGO_TARGET_DIR="$target" cargo build --quiet --release --target wasm32-wasip1)
exec node --no-warnings "$here/run.mjs" "$target/wasm32-wasip1/release/meshguard-bench-v8.wasm" "$@"
