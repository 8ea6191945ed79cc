#!/usr/bin/env bash
# /protected of the `login` example against the hand-written axum + jsonwebtoken floor
# (benches/handwritten_server.rs), alternating, with wrk; prints wrk's numbers and the ratio.
# Exits non-zero only when a server fails or answers errors.
#   benches/load.sh                       # 3 rounds of 5 s each per server
#   ROUNDS=1 DURATION=1 benches/load.sh   # a smoke pass
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS="${ROUNDS:-3}"; DURATION="${DURATION:-5}"; CONNECTIONS="${CONNECTIONS:-32}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
cargo build --release -q --example login --bench handwritten_server
floor=$(ls -t target/release/deps/handwritten_server-* | grep -v '\.d$' | head -1)
export SECRET=load-secret-load-secret-0123456789abcd RUST_LOG=warn
work=$(mktemp -d)
PORT=8195 target/release/examples/login >"$work/login.log" 2>&1 &
PORT=8196 "$floor" --serve >"$work/floor.log" 2>&1 &
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
token_of() {
  for _ in $(seq 1 50); do
    t=$(curl -s -d username=johndoe@e.mail -d password=hunter2 "localhost:$1/auth/token" \
      | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p') && [ -n "$t" ] && { echo "$t"; return; }
    sleep 0.1
  done
  echo "the server on port $1 did not log in" >&2; exit 1
}
crate_token=$(token_of 8195); floor_token=$(token_of 8196)
[ "$(curl -s -H "Authorization: Bearer $crate_token" localhost:8195/protected)" = \
  "$(curl -s -H "Authorization: Bearer $floor_token" localhost:8196/protected)" ] \
  || { echo "the two servers answer /protected differently" >&2; exit 1; }
run() {  # port token -> req/s, and fails on non-2xx
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $2" "http://127.0.0.1:$1/protected")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "$out" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}
total_crate=0; total_floor=0
printf '%-6s %14s %10s %14s %10s\n' round "crate req/s" "p99" "floor req/s" "p99"
for r in $(seq 1 "$ROUNDS"); do
  read -r c cp <<<"$(run 8195 "$crate_token")"
  read -r f fp <<<"$(run 8196 "$floor_token")"
  printf '%-6s %14s %10s %14s %10s\n' "$r" "$c" "$cp" "$f" "$fp"
  total_crate=$(awk -v a="$total_crate" -v b="$c" 'BEGIN {print a + b}')
  total_floor=$(awk -v a="$total_floor" -v b="$f" 'BEGIN {print a + b}')
done
awk -v a="$total_crate" -v b="$total_floor" 'BEGIN {printf "/protected throughput, crate / hand-written: %.3f\n", a / b}'
