#!/usr/bin/env bash
# Saturation soak of the `users` example on SQLite: registers ACCOUNTS users and logs each in,
# then wrk drives the mix of benches/soak.lua (GET and PATCH /users/me, bad and missing tokens,
# logins right and wrong, logouts, forgot-password, registrations, 404s) with CONNECTIONS
# connections for DURATION seconds, while the server's resident memory (VmRSS of
# /proc/<pid>/status) is sampled every second. Prints the throughput, the answers by status
# (non-2xx other than 5xx are expected: bad tokens, wrong passwords, 429s of the login and mail
# throttle, 404s), and the RSS after warm-up (the sample at 20% of the run), at the end and the
# growth between them.
#
# Fails (exit 1) when:
#   - any answer is a 5xx, or wrk reports socket errors (connect, read, write, timeout: 30 s), or
#     the server dies or no longer serves GET /users/me after the run;
#   - the RSS grows after warm-up by more than 20% AND by more than 10 MB (end vs. the 20% sample;
#     both must hold, so a small server's few-MB jitter and a big one's few-% jitter both pass).
#
#   benches/soak.sh                  # release build, 60 s
#   DURATION=300 benches/soak.sh     # longer
#   PROFILE=dev benches/soak.sh      # a debug build
#   SMOKE=1 benches/soak.sh          # CI's smoke pass: debug build, 10 s
# Knobs: CONNECTIONS (64), THREADS (wrk threads, 2), ACCOUNTS (32), PORT (8197).
# Needs wrk and curl (apt-get install wrk curl); Linux (/proc).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SMOKE:-0}" = 1 ]; then
  : "${DURATION:=10}" "${PROFILE:=dev}"
fi
DURATION="${DURATION:-60}"; PROFILE="${PROFILE:-release}"
CONNECTIONS="${CONNECTIONS:-64}"; THREADS="${THREADS:-2}"; ACCOUNTS="${ACCOUNTS:-32}"
PORT="${PORT:-8197}"
PASSWORD=soak-password-1
GROWTH_PERCENT=20; GROWTH_KB=10240
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed (apt-get install curl)" >&2; exit 1; }
if [ "$PROFILE" = release ]; then
  cargo build --release -p users-example -q; bin=target/release/users
else
  cargo build -p users-example -q; bin=target/debug/users
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT

env -u REDIS_URL -u BEARER_STRATEGY -u COOKIE_STRATEGY -u JWT_REVOCATION \
  DATABASE_URL="sqlite://$work/users.db" SECRET=soak-secret-soak-secret-0123456789abcd PORT="$PORT" \
  RUST_LOG=warn NO_COLOR=1 "$bin" >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 100); do curl -s "localhost:$PORT/x" >/dev/null 2>&1 && break; sleep 0.1; done
kill -0 "$pid" 2>/dev/null || { echo "the server did not start:" >&2; cat "$work/stderr" >&2; exit 1; }

# The accounts: "email token" lines for the Lua script.
for i in $(seq 1 "$ACCOUNTS"); do
  email="soak-user-$i@example.com"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/json' \
    -d "{\"email\":\"$email\",\"password\":\"$PASSWORD\"}" "localhost:$PORT/auth/register")
  [ "$code" = 201 ] || { echo "registering $email: $code" >&2; cat "$work/stderr" >&2; exit 1; }
  token=$(curl -s -d "username=$email" -d "password=$PASSWORD" "localhost:$PORT/auth/jwt/login" \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || { echo "logging $email in failed" >&2; cat "$work/stderr" >&2; exit 1; }
  echo "$email $token" >>"$work/accounts"
done

rss() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0; }
echo "== soak: users example ($PROFILE, SQLite), $DURATION s, wrk -t$THREADS -c$CONNECTIONS, $ACCOUNTS accounts"
echo "RSS before the load: $(rss) kB"
( while kill -0 "$pid" 2>/dev/null; do rss >>"$work/rss"; sleep 1; done ) &
sampler=$!
wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 30s --latency -s benches/soak.lua \
  "http://127.0.0.1:$PORT" -- "$work/accounts" "$PASSWORD" >"$work/wrk" 2>&1 || true
kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null || true
status=0

requests=$(awk '/requests in/ {print $1}' "$work/wrk")
rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk")
p50=$(awk '$1=="50%" {print $2}' "$work/wrk"); p99=$(awk '$1=="99%" {print $2}' "$work/wrk")
echo "throughput: ${rps:-?} req/s (${requests:-?} requests; latency p50 ${p50:-?}, p99 ${p99:-?})"
echo "answers by status: $(awk '$1=="status" {printf "%s%s: %s", sep, $2, $3; sep=", "}' "$work/wrk")"
ok=$(awk '$1=="status" && $2<300 {n+=$3} END {print n+0}' "$work/wrk")
expected=$(awk '$1=="status" && $2>=300 && $2<500 {n+=$3} END {print n+0}' "$work/wrk")
errors=$(awk '$1=="status" && $2>=500 {n+=$3} END {print n+0}' "$work/wrk")
echo "2xx: $ok; other non-2xx (expected): $expected; 5xx: $errors"
if [ -z "$requests" ] || [ "$ok" = 0 ]; then echo "FAIL: wrk did not run:" >&2; cat "$work/wrk" >&2; status=1; fi
[ "$errors" = 0 ] || { echo "FAIL: $errors answers were 5xx; server log:" >&2; grep -m 20 -i error "$work/stderr" >&2 || true; status=1; }
if grep -q 'Socket errors' "$work/wrk"; then echo "FAIL: $(grep 'Socket errors' "$work/wrk")" >&2; status=1; fi

if ! kill -0 "$pid" 2>/dev/null; then
  echo "FAIL: the server died; its stderr:" >&2; tail -20 "$work/stderr" >&2; exit 1
fi
token=$(awk 'NR==1 {print $2}' "$work/accounts")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "localhost:$PORT/users/me")
[ "$code" = 200 ] || { echo "FAIL: GET /users/me after the run: $code" >&2; status=1; }

samples=$(wc -l <"$work/rss")
warm_at=$(( (DURATION + 4) / 5 )); [ "$warm_at" -ge 1 ] || warm_at=1
if [ "$samples" -le "$warm_at" ]; then
  echo "FAIL: only $samples RSS samples" >&2; exit 1
fi
warm=$(sed -n "${warm_at}p" "$work/rss"); end=$(tail -1 "$work/rss")
peak=$(sort -n "$work/rss" | tail -1)
growth=$((end - warm))
echo "RSS: after warm-up (${warm_at} s) ${warm} kB, at the end ${end} kB, growth ${growth} kB" \
  "($(awk -v g="$growth" -v w="$warm" 'BEGIN {printf "%+.1f", 100 * g / w}')%), peak ${peak} kB"
echo "RSS per 10 s: $(awk 'NR % 10 == 1 {printf "%s%d", sep, $1 / 1024; sep=" "}' "$work/rss") MB"
if [ "$growth" -gt "$GROWTH_KB" ] && [ $((growth * 100)) -gt $((warm * GROWTH_PERCENT)) ]; then
  echo "FAIL: RSS grew by more than ${GROWTH_PERCENT}% and more than $((GROWTH_KB / 1024)) MB after warm-up" >&2
  status=1
fi
[ "$status" = 0 ] && echo "PASS"
exit $status
