#!/usr/bin/env bash
# Requests per second of GET /users/me on the `users` example, per store and token strategy, and of
# POST /auth/jwt/refresh (REFRESH_TOKENS=on) per place the families are kept; then GET /users/me of
# FastAPI Users 15.0.5 itself under uvicorn (one worker, SQLite: benches/fastapi_users_app.py)
# against the SQLite + revocation configuration, in alternating rounds, and the median of their
# ratios. FastAPI Users is installed from PyPI into target/fastapi-users-venv (the venv .ci/run
# makes) when missing; FASTAPI_USERS=0 skips it. The servers and wrk share the cores, as in the
# issue's measurement; PIN=1 puts the servers on core 0 and wrk on core 1 (uvicorn uses one core
# either way; the example's tokio workers and sqlx's SQLite thread then share one). Prints wrk's
# numbers; exits non-zero only when a server fails or answers errors.
#
#   benches/users_me.sh                 # every configuration whose services answer, 5 s each
#   DURATION=2 benches/users_me.sh      # shorter
#   ROWS=0 ROUNDS=9 benches/users_me.sh # only the comparison with FastAPI Users, 9 rounds
#   PROFILE=dev benches/users_me.sh     # a debug build (CI's smoke pass)
#   BIN=path/to/users benches/users_me.sh   # another build of the example (before/after a change)
#   REFRESH_CLIENTS=4 benches/users_me.sh   # refresh rows: clients (wrk threads, one connection
#                                           # and one family each; a refresh spends its token)
# Needs wrk (apt-get install wrk); PostgreSQL at DATABASE_URL and Redis at REDIS_URL for those rows.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-5}"
CONNECTIONS="${CONNECTIONS:-32}"
PG_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
REDIS="${REDIS_URL:-redis://127.0.0.1:6379}"
PORT="${PORT:-8190}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
if [ -n "${BIN:-}" ]; then
  bin=$BIN
elif [ "${PROFILE:-release}" = release ]; then
  cargo build --release -p users-example -q; bin=target/release/users
else
  cargo build -p users-example -q; bin=target/debug/users
fi
# PIN=1: the servers on core 0 and wrk on core 1, as load.sh's part 1 does.
server_cpu=(); client_cpu=()
if [ "${PIN:-0}" = 1 ] && command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  server_cpu=(taskset -c 0); client_cpu=(taskset -c 1)
fi
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
export PGOPTIONS="${PGOPTIONS:---client-min-messages=warning}"
pg_ok() { psql "$PG_URL" -qtAc 'select 1' >/dev/null 2>&1; }
redis_ok() { [ "$(redis-cli -u "$REDIS" ping 2>/dev/null)" = PONG ]; }

# name | DATABASE_URL | BEARER_STRATEGY | JWT_REVOCATION | REDIS_URL given (revocations go there)
configs=(
  "sqlite jwt (stateless)|sqlite://$work/a.db|jwt|off|no"
  "sqlite jwt + revocation (sqlite)|sqlite://$work/b.db|jwt|on|no"
  "sqlite database strategy|sqlite://$work/c.db|database|off|no"
)
if pg_ok; then
  schema="bench_$$"
  psql "$PG_URL" -qtAc "drop schema if exists $schema cascade; create schema $schema" >/dev/null
  trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"; psql "$PG_URL" -qtAc "drop schema if exists $schema cascade" >/dev/null 2>&1' EXIT
  sep='?'; [[ "$PG_URL" == *\?* ]] && sep='&'
  pg="${PG_URL}${sep}options[search_path]=$schema"
  configs+=("postgres jwt (stateless)|$pg|jwt|off|no" "postgres jwt + revocation (pg)|$pg|jwt|on|no"
    "postgres database strategy|$pg|database|off|no")
  if redis_ok; then
    configs+=("postgres jwt + revocation (redis)|$pg|jwt|on|yes" "postgres redis strategy|$pg|redis|off|yes")
  else
    echo "# Redis at $REDIS does not answer: its rows are skipped"
  fi
else
  echo "# PostgreSQL at $PG_URL does not answer: its rows are skipped"
fi

# Registers a new user on the server at port $1, logs it in, checks its token reads /users/me;
# prints the token, or fails.
token_of() {
  local email="bench-$RANDOM$RANDOM@example.com" token
  curl -s -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"bench-password\"}" \
    "localhost:$1/auth/register" >/dev/null
  token=$(curl -s -d "username=$email" -d password=bench-password "localhost:$1/auth/jwt/login" \
    | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
  [ -n "$token" ] || return 1
  [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "localhost:$1/users/me")" = 200 ] || return 1
  echo "$token"
}

# wrk's output on stdin -> "req/s p50 p99 errors" (errors is 0 or wrk's first error line).
wrk_stats() {
  awk '/Requests\/sec/ {rps = $2} $1 == "50%" {p50 = $2} $1 == "99%" {p99 = $2}
    /Non-2xx|Socket errors/ && !err {err = $0; gsub(" ", "_", err)}
    END {print rps, p50, p99, (err ? err : "0")}'
}
# wrk on GET /users/me of the server at port $1 with token $2 -> wrk_stats.
users_me() {
  "${client_cpu[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "Authorization: Bearer $2" \
    "http://127.0.0.1:$1/users/me" | wrk_stats
}

status=0
if [ "${ROWS:-1}" = 0 ]; then configs=(); fi
[ ${#configs[@]} = 0 ] || printf '%-36s %12s %10s %10s %8s\n' configuration "req/s" "p50" "p99" errors
for row in "${configs[@]}"; do
  IFS='|' read -r name url strategy revocation use_redis <<<"$row"
  redis_env=(-u REDIS_URL); [ "$use_redis" = yes ] && redis_env=(REDIS_URL="$REDIS")
  env "${redis_env[@]}" SECRET=bench-secret-bench-secret-0123456789ab DATABASE_URL="$url" PORT="$PORT" \
    BEARER_STRATEGY="$strategy" JWT_REVOCATION="$revocation" RUST_LOG=warn "${server_cpu[@]}" "$bin" >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 50); do curl -s "localhost:$PORT/x" >/dev/null 2>&1 && break; sleep 0.1; done
  if ! token=$(token_of "$PORT"); then
    echo "$name: the server did not serve /users/me (stderr below)" >&2; cat "$work/err" >&2; status=1
    kill "$pid"; wait "$pid" 2>/dev/null || true; continue
  fi
  read -r rps p50 p99 errors <<<"$(users_me "$PORT" "$token")"
  printf '%-36s %12s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p99" "${errors:0:8}"
  [ "$errors" = 0 ] || status=1
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

# The refresh rows: POST /auth/jwt/refresh, each wrk thread rotating a family of its own
# (benches/refresh.lua). name | DATABASE_URL | REDIS_URL given (the families go there)
CLIENTS="${REFRESH_CLIENTS:-4}"
refresh_configs=("sqlite refresh (families in sqlite)|sqlite://$work/r.db|no")
if pg_ok; then
  refresh_configs+=("postgres refresh (families in pg)|$pg|no")
  redis_ok && refresh_configs+=("postgres refresh (families in redis)|$pg|yes")
fi
if [ "${ROWS:-1}" = 0 ]; then refresh_configs=(); fi
for row in "${refresh_configs[@]}"; do
  IFS='|' read -r name url use_redis <<<"$row"
  redis_env=(-u REDIS_URL); [ "$use_redis" = yes ] && redis_env=(REDIS_URL="$REDIS")
  env -u BEARER_STRATEGY -u COOKIE_STRATEGY -u JWT_REVOCATION -u REFRESH_TOKEN_LIFETIME "${redis_env[@]}" \
    SECRET=bench-secret-bench-secret-0123456789ab DATABASE_URL="$url" PORT="$PORT" REFRESH_TOKENS=on RUST_LOG=warn "${server_cpu[@]}" "$bin" \
    >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 50); do curl -s "localhost:$PORT/x" >/dev/null 2>&1 && break; sleep 0.1; done
  email="bench-$RANDOM$RANDOM@example.com"
  curl -s -H 'content-type: application/json' -d "{\"email\":\"$email\",\"password\":\"bench-password\"}" \
    "localhost:$PORT/auth/register" >/dev/null
  : >"$work/refresh-tokens"
  for _ in $(seq 1 "$CLIENTS"); do
    login=$(curl -s -d "username=$email" -d password=bench-password "localhost:$PORT/auth/jwt/login")
    sed -n 's/.*"refresh_token":"\([^"]*\)".*/\1/p' <<<"$login" >>"$work/refresh-tokens"
  done
  if [ "$(grep -c . "$work/refresh-tokens")" != "$CLIENTS" ]; then
    echo "$name: the logins gave no refresh tokens (stderr below)" >&2; cat "$work/refresh-tokens" "$work/err" >&2; status=1
    kill "$pid"; wait "$pid" 2>/dev/null || true; continue
  fi
  read -r rps p50 p99 errors <<<"$(REFRESH_TOKENS_FILE="$work/refresh-tokens" "${client_cpu[@]}" \
    wrk -t"$CLIENTS" -c"$CLIENTS" -d"${DURATION}s" --latency -s benches/refresh.lua \
    "http://127.0.0.1:$PORT/auth/jwt/refresh" | wrk_stats)"
  printf '%-36s %12s %10s %10s %8s\n' "$name" "$rps" "$p50" "$p99" "${errors:0:8}"
  [ "$errors" = 0 ] || status=1
  kill "$pid"; wait "$pid" 2>/dev/null || true
done

# FastAPI Users itself: the same GET /users/me on SQLite, one uvicorn worker, against the SQLite +
# revocation configuration, both serving at once and measured in alternating rounds (ROUNDS, 5 by
# default); the ratio is the median of the rounds' ratios.
if [ "${FASTAPI_USERS:-1}" = 1 ]; then
  venv=target/fastapi-users-venv
  # uvicorn[standard]: uvloop and httptools, which uvicorn picks when present, as deployments do;
  # FastAPI Users serves about 10% more with them than on asyncio and h11.
  if ! "$venv/bin/python" -c 'import fastapi_users, fastapi_users_db_sqlalchemy, aiosqlite, uvicorn, multipart, uvloop, httptools' >/dev/null 2>&1; then
    echo "# installing fastapi-users 15.0.5, uvicorn[standard] and aiosqlite into $venv"
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
    "$venv/bin/pip" install -q 'fastapi-users[sqlalchemy]==15.0.5' aiosqlite 'uvicorn[standard]' python-multipart
  fi
  fu_port=$((PORT + 1)) our_port=$((PORT + 2))
  SECRET=bench-secret-bench-secret-0123456789ab DATABASE_PATH="$work/fastapi-users.db" "${server_cpu[@]}" \
    "$venv/bin/python" -m uvicorn --app-dir benches fastapi_users_app:app --port "$fu_port" --workers 1 \
    --log-level warning --no-access-log >"$work/fu-out" 2>"$work/fu-err" &
  env -u REDIS_URL SECRET=bench-secret-bench-secret-0123456789ab DATABASE_URL="sqlite://$work/vs.db" \
    PORT="$our_port" BEARER_STRATEGY=jwt JWT_REVOCATION=on RUST_LOG=warn "${server_cpu[@]}" "$bin" \
    >"$work/out" 2>"$work/err" &
  for port in "$fu_port" "$our_port"; do
    for _ in $(seq 1 100); do curl -s "localhost:$port/x" >/dev/null 2>&1 && break; sleep 0.1; done
  done
  if ! fu_token=$(token_of "$fu_port"); then
    echo "FastAPI Users did not serve /users/me (stderr below)" >&2; cat "$work/fu-err" >&2; status=1
  elif ! our_token=$(token_of "$our_port"); then
    echo "the users example did not serve /users/me (stderr below)" >&2; cat "$work/err" >&2; status=1
  else
    echo "== /users/me, SQLite + revocation against FastAPI Users 15.0.5 (uvicorn with uvloop and httptools, one worker, SQLite), alternating"
    printf '%-6s %12s %10s %12s %10s %8s\n' round "ours req/s" p99 "FU req/s" p99 ratio
    ratios=()
    for r in $(seq 1 "${ROUNDS:-5}"); do
      # The first to run alternates between rounds.
      if [ $((r % 2)) = 1 ]; then
        read -r ours _ ours99 e1 <<<"$(users_me "$our_port" "$our_token")"
        read -r theirs _ theirs99 e2 <<<"$(users_me "$fu_port" "$fu_token")"
      else
        read -r theirs _ theirs99 e2 <<<"$(users_me "$fu_port" "$fu_token")"
        read -r ours _ ours99 e1 <<<"$(users_me "$our_port" "$our_token")"
      fi
      [ "$e1" = 0 ] && [ "$e2" = 0 ] || { echo "errors: ours $e1, FastAPI Users $e2" >&2; status=1; }
      ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN {printf "%.1f", a / b}')
      ratios+=("$ratio")
      printf '%-6s %12s %10s %12s %10s %7sx\n' "$r" "$ours" "$ours99" "$theirs" "$theirs99" "$ratio"
    done
    median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
    echo "/users/me, SQLite + revocation / FastAPI Users: ${median}x (median of ${#ratios[@]} alternating rounds)"
  fi
  kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
fi
exit $status
