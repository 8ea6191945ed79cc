#!/usr/bin/env bash
# Every test, with the services they need: the README's test command, and `.ci/run`'s test step.
#
#   bash tests/run.sh            # all of them; the true passed / failed / ignored counts at the end
#   bash tests/run.sh --test sessions     # arguments go to `cargo test` (before its `--`)
#
# The PostgreSQL, Redis and FastAPI Users tests are `#[ignore = "needs …"]`: plain `cargo test`
# reports them as ignored, never as passed. This runs them (`--include-ignored`) against
# DATABASE_URL and REDIS_URL (default: this machine's PostgreSQL and Redis, started if down by
# `.ci/services`) and a venv with FastAPI Users 15.0.5 under target/ (made once from PyPI). With
# CI=true, any test still ignored fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
# tests/readme.rs runs the README's cURL flows with curl and jq.
for tool in curl jq; do
  if ! command -v "$tool" >/dev/null; then
    echo "== installing $tool"
    apt-get install -y -q "$tool" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$tool" >/dev/null; }
  fi
done
bash .ci/services

# FastAPI Users itself reads the tokens we issue (tests/fastapi_users_accepts.rs), from a venv of
# its own under target/ (made once; PyPI's fastapi-users 15.0.5 and its dependencies).
venv=target/fastapi-users-venv
if ! "$venv/bin/python" -c 'import fastapi_users' >/dev/null 2>&1; then
  echo "== installing fastapi-users 15.0.5 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'fastapi-users==15.0.5'
fi
export FASTAPI_USERS_PYTHON="${FASTAPI_USERS_PYTHON:-$PWD/$venv/bin/python}"

# The tests that run a server process take the example packages' binaries (target/debug/login,
# target/debug/users), which `cargo test` does not build.
echo "== cargo build -p login-example -p users-example"
cargo build -p login-example -p users-example
harness=(--include-ignored)
# Wycheproof's JWS vectors are not committed (no reachable registry ships them): without a copy,
# their test is filtered out, which the harness reports as such, never as passed.
wycheproof="${WYCHEPROOF_JWS:-tests/fixtures/wycheproof/json_web_signature_test.json}"
if [ ! -f "$wycheproof" ]; then
  echo "note: no Wycheproof JWS file at $wycheproof: wycheproof_json_web_signature_vectors is filtered out"
  harness+=(--skip wycheproof_json_web_signature_vectors)
fi
echo "== cargo test --workspace $* -- ${harness[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --workspace "$@" -- "${harness[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# Sum every harness's "test result:" line (unit, integration, doctests, trybuild): the true counts.
read -r passed failed ignored filtered < <(awk '/^test result:/ { p += $4; f += $6; i += $8; x += $12 } END { print p + 0, f + 0, i + 0, x + 0 }' "$log")
echo "tests: $passed passed, $failed failed, $ignored ignored, $filtered filtered out"
if [ "$passed" -eq 0 ]; then
  echo "no test result line: the summary cannot be trusted" >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then
  echo "cargo test failed (exit $status)" >&2
  exit "$status"
fi
if [ "${CI:-}" = true ] && [ "$ignored" -ne 0 ]; then
  echo "CI: $ignored test(s) were ignored; every service test must run here" >&2
  exit 1
fi
