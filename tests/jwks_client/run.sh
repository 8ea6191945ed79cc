#!/usr/bin/env bash
# A standard JWKS client verifies our tokens: installs what it needs when missing (Node and npm
# from Debian, jose from the committed package-lock.json), builds the users example, runs
# `node --test`. Exits non-zero when a test fails.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing nodejs and npm"
  apt-get install -y -q nodejs npm >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q nodejs npm >/dev/null; }
fi
npm ci --prefix tests/jwks_client --no-audit --no-fund --loglevel=error
cargo build -q -p users-example
node --test tests/jwks_client/jwks_client.test.mjs
