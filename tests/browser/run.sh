#!/usr/bin/env bash
# The real-Chromium tests: installs what they need when missing (Debian's chromium, Node and
# npm, playwright-core from the committed package-lock.json), builds the example binaries, runs
# `node --test`. Exits non-zero when a test fails. SCREENSHOTS=<folder> keeps screenshots.
set -euo pipefail
cd "$(dirname "$0")/../.."

apt_install() {
  apt-get install -y -q "$@" >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q "$@" >/dev/null; }
}
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  echo "== installing chromium"
  apt_install chromium chromium-driver
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "== installing nodejs and npm"
  apt_install nodejs npm
fi

# playwright-core never downloads a browser; it drives /usr/bin/chromium.
npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error
cargo build -q -p users-example -p login-example
node --test tests/browser/cookie_tossing.test.mjs
