#!/usr/bin/env bash
# The browser console's tests (clients/console/test): headless Chromium (Debian's chromium package,
# installed when missing) driven over the DevTools protocol by `node --test`, against real nodes of
# the debug build: the demo page on an embedded node, and the admin page on two nodes sharing one
# Redis and one PostgreSQL. Uses the servers `make test` started (SWITCHBOARD_TEST_DATABASE_URL,
# SWITCHBOARD_TEST_REDIS_URL) or starts its own. Screenshots go to $SWITCHBOARD_TEST_OUTPUT
# (default .build/test-output/console).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! command -v chromium >/dev/null 2>&1; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing Debian's chromium package" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
  else
    echo "the console's tests need Chromium: install Debian's chromium package (as root: apt-get install chromium)" >&2
    exit 1
  fi
fi
command -v node >/dev/null 2>&1 || { echo "the console's tests need Node 20 or later on PATH" >&2; exit 1; }

work=$(mktemp -d /tmp/switchboard-console.XXXXXX)
chmod 755 "$work"
cleanup() {
  [[ -d $work/postgres ]] && bash scripts/postgres.sh stop "$work/postgres"
  [[ -d $work/redis ]] && bash scripts/redis.sh stop "$work/redis"
  rm -rf "$work"
}
trap cleanup EXIT
: "${SWITCHBOARD_TEST_DATABASE_URL:=$(bash scripts/postgres.sh start "$work/postgres")}"
: "${SWITCHBOARD_TEST_REDIS_URL:=$(bash scripts/redis.sh start "$work/redis")}"
# The two nodes' own database on that server.
database=sb_console_$$_$RANDOM
psql -q "$SWITCHBOARD_TEST_DATABASE_URL" -c "CREATE DATABASE $database" >/dev/null
export SWITCHBOARD_CONSOLE_DATABASE_URL=${SWITCHBOARD_TEST_DATABASE_URL/\/postgres\?//$database?}
export SWITCHBOARD_CONSOLE_REDIS_URL=$SWITCHBOARD_TEST_REDIS_URL
export SWITCHBOARD_TEST_OUTPUT=${SWITCHBOARD_TEST_OUTPUT:-$PWD/.build/test-output/console}

flags=()
[[ $(node -p 'typeof WebSocket') == function ]] || flags+=(--experimental-websocket)
node "${flags[@]}" --test clients/console/test/*.test.mjs
echo "screenshots: $SWITCHBOARD_TEST_OUTPUT"
