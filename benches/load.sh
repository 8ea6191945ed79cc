#!/usr/bin/env bash
# Load benchmarks with wrk; prints wrk's numbers and ratios, never a verdict. Exits non-zero only
# when a server fails to start or answers errors.
#
#  1. /protected of the `login` example against two hand-written axum + jsonwebtoken floors: the
#     minimal one (benches/minimal_server.rs: bearer only, decode with leeway 0, a HashMap lookup,
#     a clone) and the fuller one (benches/handwritten_server.rs, which also issues tokens). All
#     answer identically, then alternating wrk rounds; the throughput ratio to each (of the sums,
#     and the median of the rounds' ratios) and the server's CPU time per request (from
#     /proc/PID/stat: it still tells the servers apart when wrk's core is the bottleneck); then
#     instructions per request of each under callgrind, which do not move with the machine's
#     load. With two or more
#     cores, servers run on core 0 and wrk on core 1 (taskset), so the load generator does not
#     steal the server's core; PIN=0 turns that off.
#  2. Login burst: p50/p99 of the `users` example's protected `/authenticated-route`, alone and
#     while 16 connections log in at once (argon2id runs off the async runtime, bounded).
#  3. /users/me on the `users` example per store and token strategy (benches/users_me.sh).
#
#   benches/load.sh                  # release build, 10 rounds of 2 s per server
#   ROUNDS=20 DURATION=3 benches/load.sh
#   SMOKE=1 benches/load.sh          # CI's smoke pass: debug build, one 1-second round of each
# Needs wrk and curl (apt-get install wrk curl), valgrind and python3 for the instruction counts; PostgreSQL/Redis rows of part 3 when they answer.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${SMOKE:-0}" = 1 ]; then
  : "${ROUNDS:=1}" "${DURATION:=1}" "${PROFILE:=dev}"
fi
ROUNDS="${ROUNDS:-10}"; DURATION="${DURATION:-2}"; CONNECTIONS="${CONNECTIONS:-32}"
PROFILE="${PROFILE:-release}"
export PROFILE DURATION
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [ "$PROFILE" = release ]; then dir=release; build=(--release); else dir=debug; build=(); fi
cargo build "${build[@]}" -q -p login-example -p users-example
cargo build "${build[@]}" -q --bench handwritten_server --bench minimal_server
floor=$(ls -t target/$dir/deps/handwritten_server-* | grep -v '\.d$' | head -1)
minimal=$(ls -t target/$dir/deps/minimal_server-* | grep -v '\.d$' | head -1)
server_cpu=(); client_cpu=()
if [ "${PIN:-1}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 0); client_cpu=(taskset -c 1)
fi
export SECRET=load-secret-load-secret-0123456789abcd RUST_LOG=warn
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
declare -A pid_of=()
PORT=8195 "${server_cpu[@]}" "target/$dir/login" >"$work/login.log" 2>&1 & pid_of[8195]=$!
PORT=8196 "${server_cpu[@]}" "$floor" --serve >"$work/floor.log" 2>&1 & pid_of[8196]=$!
PORT=8194 "${server_cpu[@]}" "$floor" --serve >"$work/floor2.log" 2>&1 & pid_of[8194]=$!  # the A/A control
PORT=8193 "${server_cpu[@]}" "$minimal" --serve >"$work/minimal.log" 2>&1 & pid_of[8193]=$!
# CPU time a server has used (user + system), in clock ticks.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick_us=$((1000000 / $(getconf CLK_TCK)))

token_of() {  # port path username password
  for _ in $(seq 1 100); do
    t=$(curl -s -d "username=$3" -d "password=$4" "localhost:$1$2" \
      | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p') && [ -n "$t" ] && { echo "$t"; return; }
    sleep 0.1
  done
  echo "the server on port $1 did not log in" >&2; cat "$work"/*.log >&2; exit 1
}
wrk_run() {  # wrk arguments... -> "req/s p50 p99"; fails on non-2xx or socket errors
  out=$("${client_cpu[@]}" wrk -t1 --latency "$@")
  if grep -qE 'Non-2xx|Socket errors' <<<"$out"; then echo "$out" >&2; exit 1; fi
  echo "$(awk '/Requests\/sec/ {print $2}' <<<"$out") $(awk '$1=="50%" {print $2}' <<<"$out") $(awk '$1=="99%" {print $2}' <<<"$out")"
}

echo "== 1. /protected: login example vs minimal and fuller hand-written (wrk -t1 -c$CONNECTIONS, ${DURATION}s rounds, $PROFILE${server_cpu:+, pinned})"
# Both servers get the crate's token (same secret): the same bytes are verified on both sides.
token=$(token_of 8195 /auth/token johndoe@e.mail hunter2)
token_of 8196 /auth/token johndoe@e.mail hunter2 >/dev/null
token_of 8194 /auth/token johndoe@e.mail hunter2 >/dev/null
for port in 8196 8193; do
  [ "$(curl -s -H "Authorization: Bearer $token" localhost:8195/protected)" = \
    "$(curl -s -H "Authorization: Bearer $token" localhost:$port/protected)" ] \
    || { echo "the crate and the server on port $port answer /protected differently" >&2; exit 1; }
done
# Each round runs the crate, the minimal floor, the fuller floor and a second copy of the fuller
# floor (an A/A control: the spread of its ratio is the noise of this machine), in a rotating order.
crate_ratios=(); minimal_ratios=(); control_ratios=(); cpu_ratios=(); sum_crate=0; sum_floor=0; sum_control=0; sum_minimal=0
printf '%-6s %12s %9s %12s %9s %12s %9s %12s %9s %7s %7s %7s %9s\n' round "crate req/s" p99 "minimal" p99 \
  "floor req/s" p99 "copy req/s" p99 "/min" "/floor" "A/A" "cpu/min"
for r in $(seq 1 "$ROUNDS"); do
  declare -A rps=() p99=() cpu=()
  ports=(8195 8193 8196 8194)
  for i in 0 1 2 3; do
    port=${ports[$(((i + r) % 4))]}
    before=$(cpu_ticks "${pid_of[$port]}")
    read -r rps[$port] _ p99[$port] <<<"$(wrk_run -c"$CONNECTIONS" -d"${DURATION}s" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/protected")"
    # The server's CPU time per request, in microseconds.
    cpu[$port]=$(awk -v t="$(( $(cpu_ticks "${pid_of[$port]}") - before ))" -v us="$tick_us" -v r="${rps[$port]}" \
      -v d="$DURATION" 'BEGIN {printf "%.3f", t * us / (r * d)}')
  done
  c=${rps[8195]} f=${rps[8196]} a=${rps[8194]} m=${rps[8193]}
  ratio=$(awk -v a="$c" -v b="$f" 'BEGIN {printf "%.3f", a / b}')
  minimal_ratio=$(awk -v a="$c" -v b="$m" 'BEGIN {printf "%.3f", a / b}')
  control=$(awk -v a="$a" -v b="$f" 'BEGIN {printf "%.3f", a / b}')
  cpu_ratio=$(awk -v a="${cpu[8195]}" -v b="${cpu[8193]}" 'BEGIN {printf "%.3f", a / b}')
  crate_ratios+=("$ratio"); minimal_ratios+=("$minimal_ratio"); control_ratios+=("$control"); cpu_ratios+=("$cpu_ratio")
  printf '%-6s %12s %9s %12s %9s %12s %9s %12s %9s %7s %7s %7s %9s\n' "$r" "$c" "${p99[8195]}" "$m" "${p99[8193]}" \
    "$f" "${p99[8196]}" "$a" "${p99[8194]}" "$minimal_ratio" "$ratio" "$control" "$cpu_ratio"
  sum_crate=$(awk -v a="$sum_crate" -v b="$c" 'BEGIN {print a + b}')
  sum_minimal=$(awk -v a="$sum_minimal" -v b="$m" 'BEGIN {print a + b}')
  sum_floor=$(awk -v a="$sum_floor" -v b="$f" 'BEGIN {print a + b}')
  sum_control=$(awk -v a="$sum_control" -v b="$a" 'BEGIN {print a + b}')
done
median() { printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
awk -v a="$sum_crate" -v b="$sum_minimal" -v m="$(median "${minimal_ratios[@]}")" \
  'BEGIN {printf "/protected throughput, crate / minimal hand-written: %.3f (ratio of sums), %.3f (median of rounds)\n", a / b, m}'
awk -v a="$sum_crate" -v b="$sum_floor" -v m="$(median "${crate_ratios[@]}")" \
  'BEGIN {printf "/protected throughput, crate / hand-written: %.3f (ratio of sums), %.3f (median of rounds)\n", a / b, m}'
awk -v a="$sum_control" -v b="$sum_floor" -v m="$(median "${control_ratios[@]}")" \
  'BEGIN {printf "A/A control, hand-written copy / hand-written: %.3f (ratio of sums), %.3f (median of rounds)\n", a / b, m}'
echo "/protected server CPU time per request, crate / minimal hand-written: $(median "${cpu_ratios[@]}") (median of rounds; lower is better)"
kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true

# Instructions per request under callgrind: repeatable whatever else the machine does, unlike req/s.
if command -v valgrind >/dev/null && command -v python3 >/dev/null; then
  requests=$([ "${SMOKE:-0}" = 1 ] && echo 50 || echo 2000)
  instructions() {  # port n binary args... -> instructions counted
    port=$1 n=$2; shift 2
    PORT=$port valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>"$work/cg.log" >/dev/null &
    pid=$!
    python3 - "$port" "$n" "$token" <<'PY'
import http.client, sys, time
port, n, token = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
headers = {"Authorization": "Bearer " + token}
for _ in range(600):  # valgrind starts slowly
    try:
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", "/protected", headers=headers)
        c.getresponse().read()
        break
    except OSError:
        time.sleep(0.1)
for _ in range(n):
    c.request("GET", "/protected", headers=headers)
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
PY
    kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
    awk '/Collected/ {gsub(",", "", $4); print $4}' "$work/cg.log"
  }
  per_request() {  # binary args... -> instructions per request, start-up and first request removed
    a=$(instructions 8198 0 "$@"); b=$(instructions 8199 "$requests" "$@")
    awk -v a="$a" -v b="$b" -v n="$requests" 'BEGIN {printf "%.0f", (b - a) / n}'
  }
  ci=$(per_request "target/$dir/login"); fi_=$(per_request "$floor" --serve)
  mi=$(per_request "$minimal" --serve)
  awk -v c="$ci" -v m="$mi" -v n="$requests" \
    'BEGIN {printf "/protected instructions per request (callgrind, %d requests): crate %d, minimal hand-written %d, ratio %.3f\n", n, c, m, c / m}'
  awk -v c="$ci" -v f="$fi_" -v n="$requests" \
    'BEGIN {printf "/protected instructions per request (callgrind, %d requests): crate %d, hand-written %d, ratio %.3f\n", n, c, f, c / f}'
else
  echo "# valgrind or python3 is not installed: instruction counts skipped (apt-get install valgrind)"
fi

echo "== 2. login burst: users example /authenticated-route (wrk -c4) alone and during 16 concurrent logins"
burst_db="sqlite://$work/burst.db"
# 16 accounts, one per login connection: the login throttle makes concurrent attempts at one
# account from one address wait for each other (they count as failures to come), which would
# leave fewer than 16 hashes running.
for i in $(seq 1 16); do
  DATABASE_URL="$burst_db" "target/$dir/users" create-user --email "burst$i@example.com" \
    --password burst-password >/dev/null
done
DATABASE_URL="$burst_db" PORT=8197 "target/$dir/users" >"$work/users.log" 2>&1 &
token=$(token_of 8197 /auth/jwt/login burst1@example.com burst-password)
cat >"$work/login.lua" <<'EOF'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local n = 0
request = function()
  n = n % 16 + 1
  return wrk.format(nil, nil, nil, "username=burst" .. n .. "%40example.com&password=burst-password")
end
EOF
protected=(-c4 -d"${DURATION}s" -H "Authorization: Bearer $token" http://127.0.0.1:8197/authenticated-route)
read -r q qp50 qp99 <<<"$(wrk_run "${protected[@]}")"
# The burst runs a second longer on each side than the measured window, so it covers all of it.
wrk -t1 -c16 -d"$((DURATION + 2))s" --timeout 30s -s "$work/login.lua" http://127.0.0.1:8197/auth/jwt/login >"$work/burst.out" &
burst=$!
sleep 1
read -r b bp50 bp99 <<<"$(wrk_run "${protected[@]}")"
wait "$burst"
grep -qE 'Non-2xx|Socket errors' "$work/burst.out" && { cat "$work/burst.out" >&2; exit 1; }
logins=$(awk '/Requests\/sec/ {print $2}' "$work/burst.out")
printf '%-34s %10s %9s %9s\n' "" "req/s" p50 p99
printf '%-34s %10s %9s %9s\n' "alone" "$q" "$qp50" "$qp99"
printf '%-34s %10s %9s %9s\n' "during 16 concurrent logins" "$b" "$bp50" "$bp99"
echo "logins answered during the burst: $logins/s"
kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true

echo "== 3. /users/me per store and token strategy"
bash benches/users_me.sh
