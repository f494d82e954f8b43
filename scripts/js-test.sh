#!/usr/bin/env bash
# The JavaScript client's tests (clients/js/test) with Node's own test runner, against real nodes of
# the debug build (each test starts, restarts and removes its own). Needs Node 20 or later (its
# WebSocket; Debian 12's nodejs is 18, which has none): `make test` runs this.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v node >/dev/null 2>&1 || { echo "the JavaScript client's tests need Node 20 or later on PATH" >&2; exit 1; }
major=$(node -p 'process.versions.node.split(".")[0]')
((major >= 20)) || { echo "the JavaScript client's tests need Node 20 or later (found $(node --version))" >&2; exit 1; }
# Node 20 has WebSocket behind a flag; 22 and later have it on.
flags=()
[[ $(node -p 'typeof WebSocket') == function ]] || flags+=(--experimental-websocket)
cd clients/js
node "${flags[@]}" --test test/*.test.mjs
