#!/usr/bin/env bash
# Runs every fuzz target for $1 seconds (default 60) on the nightly toolchain, with the seeds in
# fuzz/seeds/<target> and the growing corpus in fuzz/corpus/<target>. A crash stops the run
# (its input is in fuzz/artifacts/<target>/); the executions per target are printed.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
targets=(config jwt jwks tokens matchers decode engine)
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
mkdir -p .work
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  log=".work/fuzz-$t.log"
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FAILED after ${runs:-?} executions (see $log and fuzz/artifacts/$t/)"
    grep -E "panicked|ERROR|SUMMARY" "$log" | head -5
    exit 1
  fi
  echo "fuzz $t: ${runs:-?} executions in ${seconds} s, no crash"
done
