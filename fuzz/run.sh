#!/usr/bin/env bash
# Runs every cargo-fuzz target of login-runtime for SECONDS each (default 600), one after another,
# and prints per target libFuzzer's execution count and whether it crashed. Exits 1 on any crash
# (the crashing input is in fuzz/artifacts/<target>/), 2 when a tool is missing or the build fails.
#
#   fuzz/run.sh [SECONDS] [TARGET...]      e.g. fuzz/run.sh 10 (the CI smoke pass), fuzz/run.sh 600 decode
#
# Stable Rust: cargo fuzz passes nightly-only `-Z` flags (sanitizer, coverage instrumentation);
# RUSTC_BOOTSTRAP=1 lets the stable compiler accept them. The sanitizer is AddressSanitizer, whose
# runtime ships with the stable rust-std component. FUZZ_SANITIZER=none drops it (usually faster,
# not measured here); the code under test is safe Rust, so ASan watches the dependencies' unsafe.
# Environment: FUZZ_SANITIZER (address | none, default address), CARGO_BUILD_JOBS (build parallelism),
# FUZZ_RSS_LIMIT_MB (default 2048).
set -uo pipefail

seconds=${1:-600}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(decode header extract roundtrip)
[[ $seconds =~ ^[0-9]+$ && $seconds -gt 0 ]] || { echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2; }

cd "$(dirname "$0")"
missing=0
command -v cargo >/dev/null || { echo "missing: cargo (rustup)" >&2; missing=1; }
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "missing: cargo-fuzz; install it with: cargo install cargo-fuzz --locked" >&2
  missing=1
fi
command -v c++ >/dev/null || command -v g++ >/dev/null || command -v clang++ >/dev/null ||
  { echo "missing: a C++ compiler for libFuzzer (apt-get install g++)" >&2; missing=1; }
[[ $missing -eq 0 ]] || exit 2

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
rss_limit=${FUZZ_RSS_LIMIT_MB:-2048}
logs=target/fuzz-logs
mkdir -p "$logs"

start=$(date +%s)
echo "== building the fuzz targets (sanitizer: $sanitizer)"
# All targets at once: they share every dependency, so the others cost seconds.
if ! cargo fuzz build -O --sanitizer "$sanitizer" >"$logs/build.log" 2>&1; then
  tail -n 40 "$logs/build.log" >&2
  echo "build failed (log: fuzz/$logs/build.log)" >&2
  exit 2
fi
echo "   built in $(($(date +%s) - start)) s"

crashed=0
printf '%-10s %8s %14s %8s  %s\n' target seconds executions exec/s result
for t in "${targets[@]}"; do
  # New inputs go to a scratch corpus under target/; the committed seeds in corpus/<t> stay as they are.
  work=target/corpus/$t
  mkdir -p "$work" "artifacts/$t"
  log=$logs/$t.log
  t0=$(date +%s)
  cargo fuzz run -O --sanitizer "$sanitizer" "$t" "$work" "corpus/$t" -- \
    -max_total_time="$seconds" -print_final_stats=1 -rss_limit_mb="$rss_limit" -timeout=10 \
    >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - t0))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  artifact=$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | sed 's/Test unit written to //')
  if [[ $rc -eq 0 ]]; then
    result=ok
  elif ! grep -q "^INFO: Seed:" "$log"; then
    crashed=1
    result="NOT RUN (exit $rc: build or start failed); log: fuzz/$log"
  else
    crashed=1
    result="CRASH (exit $rc)${artifact:+: $artifact}; log: fuzz/$log"
  fi
  printf '%-10s %8s %14s %8s  %s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "$result"
  [[ $rc -eq 0 ]] || grep -m 4 -A 1 -E "panicked at|ERROR: (libFuzzer|AddressSanitizer)" "$log" | sed 's/^/    /'
done
echo "total $(($(date +%s) - start)) s"
exit $crashed
